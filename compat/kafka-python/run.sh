#!/usr/bin/env bash
# kafka-python 3.0.12's own integration tests (test/integration of its PyPI sdist) against one real Strom broker.
#
#   compat/kafka-python/run.sh [extra pytest args, e.g. -k test_group]
#
# Every collected test must be on allow.txt (must pass) or deny.txt (test id + reason); check.py compares the
# outcomes with the lists. Last line: "kafka-python: N passed, N failed, N skipped".
#
# Environment:
#   STROM_BIN                 broker binary (default: target/debug/strom of this repo, built if missing)
#   XDG_CACHE_HOME            the sdist and the pinned test requirements (requirements.txt) are kept in
#                             ${XDG_CACHE_HOME:-$HOME/.cache}/strom-compat/kafka-python-3.0.12
#   KP_TEST_TIMEOUT           per-test limit in seconds (pytest-timeout; default 30)
#   KP_TOTAL_TIMEOUT          limit for the whole pytest run in seconds (default 300)
#   STROM_COMPAT_KEEP=1       keep the work dir (broker data and log, pytest output) even when the run passes;
#                             a failing run always keeps it and prints its path
set -euo pipefail

VERSION=3.0.12
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/strom-compat/kafka-python-$VERSION
test_timeout=${KP_TEST_TIMEOUT:-30}
total_timeout=${KP_TOTAL_TIMEOUT:-300}
started=$(date +%s)

log() { echo "compat/kafka-python: $*" >&2; }

# 1. The sdist, once.
src=$cache/kafka_python-$VERSION
if [[ ! -f $src/.complete ]]; then
    log "fetching kafka-python $VERSION sdist into $cache"
    rm -rf "$src" "$cache/dl"
    mkdir -p "$cache/dl"
    python3 -m pip download -q --disable-pip-version-check --no-binary :all: --no-deps \
        "kafka-python==$VERSION" -d "$cache/dl"
    tar -xzf "$cache/dl/kafka_python-$VERSION.tar.gz" -C "$cache"
    touch "$src/.complete"
fi

# 2. The pinned test requirements, installed with pip --target into the cache (no venv module needed, and no change
#    to the system's site-packages), reinstalled when requirements.txt or the Python version changes. The suite
#    imports kafka from the sdist directory (its working directory comes first on sys.path), never an installed
#    kafka-python.
py=python3
req_sum=$(cat "$here/requirements.txt" <("$py" -c 'import sys; print(sys.version)') | sha256sum | cut -c1-16)
site=$cache/site-$req_sum
if [[ ! -f $site/.complete ]]; then
    log "installing test requirements into $site"
    rm -rf "$cache"/site-*
    "$py" -m pip install -q --disable-pip-version-check --root-user-action=ignore --no-warn-script-location \
        --target "$site" -r "$here/requirements.txt"
    touch "$site/.complete"
fi

# 3. A work copy of the sdist plus the two test-package files the sdist omits (shim/).
work=$(mktemp -d "${TMPDIR:-/tmp}/strom-compat-kafka-python.XXXXXX")
broker_pid=
status=1
cleanup() {
    if [[ -n $broker_pid ]] && kill -0 "$broker_pid" 2>/dev/null; then
        local t0=$SECONDS
        kill "$broker_pid" 2>/dev/null || true
        for _ in $(seq 200); do kill -0 "$broker_pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$broker_pid" 2>/dev/null; then
            log "broker still running 20s after SIGTERM; killing it"
            kill -9 "$broker_pid" 2>/dev/null || true
        elif ((SECONDS - t0 > 5)); then
            log "broker took $((SECONDS - t0))s to stop after SIGTERM"
        fi
        wait "$broker_pid" 2>/dev/null || true
    fi
    if [[ ${STROM_COMPAT_KEEP:-} == 1 || $status != 0 ]]; then
        log "kept $work (pytest.log: full output; broker.log; data/)"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cp -r "$src" "$work/kafka-python"
cp "$here"/shim/test/*.py "$work/kafka-python/test/"
mkdir -p "$work/kafka-root"  # the fixtures insist that KAFKA_ROOT exists, even for an external broker

# 4. The broker: node.id 0 (the suite's own fixture assumes broker 0), settings as the suite's
#    servers/resources/default/kafka.properties gives its Kafka brokers.
strom=${STROM_BIN:-${CARGO_TARGET_DIR:-$repo/target}/debug/strom}
if [[ ! -x $strom ]]; then
    if [[ -n ${STROM_BIN:-} ]]; then log "STROM_BIN=$STROM_BIN is not executable"; exit 2; fi
    log "building $strom"
    (cd "$repo" && cargo build -q -p strom)
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$strom" server \
    --node-id 0 \
    --listeners "PLAINTEXT://127.0.0.1:$port" \
    --advertised-listeners "PLAINTEXT://127.0.0.1:$port" \
    --log-dirs "$work/data" \
    --num-partitions 4 \
    --default-replication-factor 1 \
    --offsets-topic-replication-factor 1 \
    --offsets-topic-num-partitions 2 \
    --offsets-commit-timeout-ms 500 \
    --group-min-session-timeout-ms 1000 \
    --group-initial-rebalance-delay-ms 0 \
    --replica-lag-time-max-ms 1000 \
    >"$work/broker.log" 2>&1 &
broker_pid=$!
for _ in $(seq 100); do
    if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null; then break; fi
    if ! kill -0 "$broker_pid" 2>/dev/null; then log "broker exited:"; tail -20 "$work/broker.log" >&2; exit 2; fi
    sleep 0.1
done
log "strom ($strom) on 127.0.0.1:$port, pid $broker_pid, data in $work/data"

# 5. The suite. KAFKA_VERSION=4.0 is what kafka-python infers from Strom's ApiVersions (test_kafka_version_infer
#    checks that the two agree); it also fixes the clients' api_version, as for a real Kafka 4.0 broker.
#    Signal-based timeouts fail only the test that hangs (the thread method ends the whole run).
cd "$work/kafka-python"
set +e
KAFKA_URI="PLAINTEXT://127.0.0.1:$port" KAFKA_VERSION=4.0 KAFKA_ROOT="$work/kafka-root" \
STROM_COMPAT_OUTCOMES="$work/outcomes" STROM_COMPAT_COLLECTED="$work/collected" \
PYTHONPATH="$site:$here" PYTHONDONTWRITEBYTECODE=1 \
    timeout -k 10 "$total_timeout" "$py" -m pytest test/integration \
        -p outcomes_plugin -p no:cacheprovider \
        --timeout="$test_timeout" --timeout-method=signal \
        -o log_level=INFO -o console_output_style=classic -q -rfEs --durations=5 \
        "$@" >"$work/pytest.log" 2>&1
rc=$?
set -e
# An allow-listed test that failed is run again on its own, up to twice (a few tests at most): the suite has timing-sensitive
# tests (a consumer's first metadata round under a loaded 2-core CI machine), and a second failure is a real one.
# The retry's outcome is appended to the same outcomes file and wins; every retried test is named in the log, so
# a test that keeps needing it shows up.
for attempt in 1 2; do
    retry=$("$py" - "$work/collected" "$work/outcomes" "$here/allow.txt" <<'PY'
import sys
collected = {l.strip() for l in open(sys.argv[1]) if l.strip()} if __import__("os").path.exists(sys.argv[1]) else set()
outcomes = {}
try:
    for line in open(sys.argv[2]):
        o, _, t = line.strip().partition(" ")
        outcomes[t] = o
except FileNotFoundError:
    pass
allow = [l.strip() for l in open(sys.argv[3]) if l.strip() and not l.startswith("#")]
failed = [t for t in allow if t in collected and outcomes.get(t) != "passed"]
if 0 < len(failed) <= 3:
    print("\n".join(failed))
PY
    )
    [[ -n $retry && $rc != 124 && $rc != 137 ]] || break
    mapfile -t retry_ids <<<"$retry"
    log "retry $attempt of 2 (failed so far): ${retry_ids[*]}"
    set +e
    KAFKA_URI="PLAINTEXT://127.0.0.1:$port" KAFKA_VERSION=4.0 KAFKA_ROOT="$work/kafka-root" \
    STROM_COMPAT_OUTCOMES="$work/outcomes" \
    PYTHONPATH="$site:$here" PYTHONDONTWRITEBYTECODE=1 \
        timeout -k 10 "$total_timeout" "$py" -m pytest "${retry_ids[@]/#/test/integration/}" \
            -p outcomes_plugin -p no:cacheprovider \
            --timeout="$test_timeout" --timeout-method=signal \
            -o log_level=INFO -o console_output_style=classic -q -rfEs \
            >"$work/pytest-retry$attempt.log" 2>&1
    set -e
    log "retry outcomes: $(tail -n ${#retry_ids[@]} "$work/outcomes" | tr '\n' ';')"
done

# The summary (test ids with outcome, slowest tests) without the captured logs.
awk '/slowest .* durations/ {on=1} on && !/^$/ {print} on && / in [0-9.]+s( \(.*\))?$/ {exit}' "$work/pytest.log" || true
if ((rc == 124 || rc == 137)); then log "pytest hit the overall timeout of ${total_timeout}s"; fi
if [[ ! -s $work/collected ]]; then
    log "pytest collected nothing (exit $rc):"; tail -40 "$work/pytest.log" >&2; exit 1
fi
if ! kill -0 "$broker_pid" 2>/dev/null; then log "the broker died during the run:"; tail -40 "$work/broker.log" >&2; fi

set +e
partial=()
if (($#)); then partial=(--partial); fi
"$py" "$here/check.py" "${partial[@]}" "$work/collected" "$work/outcomes" "$here/allow.txt" "$here/deny.txt"
status=$?
set -e
log "wall time $(($(date +%s) - started))s"
exit $status
