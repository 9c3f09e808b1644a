#!/usr/bin/env bash
# The differential check: one scripted sequence of admin and data requests against Apache Kafka 4.4 and against
# Strom, responses compared (differential.py). Every difference must be listed in expected.txt with its reason.
#
#   compat/differential/run.sh
#
# Both brokers are started here, each fresh (temp data dir, free ports, node id 1, the same few settings):
#   - Kafka 4.4.0 in KRaft combined mode via bench/kafka/kafka.sh (the jars are copied once from Maven Central into
#     ${XDG_CACHE_HOME:-$HOME/.cache}/strom-bench/kafka-4.4.0, the cache bench/run.sh uses); needs java 17+ and mvn.
#   - Strom: STROM_BIN (default: target/debug/strom of this repo, built if missing).
# Requests are sent with kafka-python 3.0.12's protocol classes (pip-installed if missing).
# Environment: STROM_BIN; STROM_COMPAT_KEEP=1 keeps the work dir (broker logs, kafka.json / strom.json with the
# normalised responses per step, raw-*.json, differences.txt) even when the run passes; a failing run keeps it.
# Last line: "differential: N steps, N same, N different (expected), N unexpected".
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
started=$(date +%s)
log() { echo "compat/differential: $*" >&2; }

if ! python3 -c 'import kafka, sys; sys.exit(kafka.__version__ != "3.0.12")' 2>/dev/null; then
    log "installing kafka-python 3.0.12"
    python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore kafka-python==3.0.12
fi
# The Kafka jars (once; later runs find them in the cache).
"$repo/bench/kafka/kafka.sh" libs >/dev/null

work=$(mktemp -d "${TMPDIR:-/tmp}/strom-differential.XXXXXX")
pids=()
status=1
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do
        for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ ${STROM_COMPAT_KEEP:-} == 1 || $status != 0 ]]; then
        log "kept $work (differences.txt, kafka.json, strom.json, kafka.log, strom.log)"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
kafka_port=$(free_port)
kafka_cport=$(free_port)
strom_port=$(free_port)

# Settings both brokers get: no initial rebalance delay (a one-member group joins at once); everything else is
# each broker's default. Kafka without the distribution's optional sample settings, so that DescribeConfigs shows
# Kafka's defaults as DEFAULT_CONFIG, as Strom's.
common=(group.initial.rebalance.delay.ms=0)
KAFKA_MINIMAL_CONFIG=1 "$repo/bench/kafka/kafka.sh" start "$work/kafka" "$kafka_port" "$kafka_cport" "${common[@]}" \
    >"$work/kafka.log" 2>&1 &
pids+=($!)

strom=${STROM_BIN:-${CARGO_TARGET_DIR:-$repo/target}/debug/strom}
if [[ ! -x $strom ]]; then
    if [[ -n ${STROM_BIN:-} ]]; then log "STROM_BIN=$STROM_BIN is not executable"; exit 2; fi
    log "building $strom"
    (cd "$repo" && cargo build -q -p strom)
fi
overrides=()
for kv in "${common[@]}"; do overrides+=(--override "$kv"); done
"$strom" server --node-id 1 --listeners "PLAINTEXT://127.0.0.1:$strom_port" \
    --advertised-listeners "PLAINTEXT://127.0.0.1:$strom_port" --log-dirs "$work/strom-data" "${overrides[@]}" \
    >"$work/strom.log" 2>&1 &
pids+=($!)

# Both serve once they answer Metadata with a broker in it (bench/ready.py).
for port in "$kafka_port" "$strom_port"; do
    if ! python3 "$repo/bench/ready.py" "$port" 90 >/dev/null; then
        log "a broker did not come up on port $port:"
        tail -20 "$work/kafka.log" "$work/strom.log" >&2
        exit 2
    fi
done
log "kafka 4.4.0 on 127.0.0.1:$kafka_port, strom ($strom) on 127.0.0.1:$strom_port; up after $(($(date +%s) - started))s"

set +e
PYTHONDONTWRITEBYTECODE=1 timeout 180 python3 "$here/differential.py" "$kafka_port" "$strom_port" "$here/expected.txt" "$work"
status=$?
set -e
log "wall time $(($(date +%s) - started))s"
exit $status
