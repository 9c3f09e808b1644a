#!/usr/bin/env bash
# confluent-kafka-python 2.12.2's own integration tests (tests/integration of its source at tag v2.12.2) against one
# real Strom broker, with the PyPI wheel confluent-kafka==2.12.2 (it bundles librdkafka 2.12).
#
#   compat/confluent-kafka-python/run.sh [extra pytest args, e.g. -k cooperative]
#
# Every collected test must be on allow.txt (must pass) or deny.txt (test id + reason); ../kafka-python/check.py
# compares the outcomes with the lists. Last line: "confluent-kafka-python: N passed, N failed, N skipped".
#
# The suite's source: the PyPI sdist leaves tests/ out (its MANIFEST.in prunes them), so the only registry route is
# Debian's source package python-confluent-kafka 2.12.2-2 (sid), fetched with `apt-get source` through a private apt
# configuration kept in the cache (the system's apt sources are not touched). If that fails, CKPY_SOURCE may name a
# source tree of the same tag (a directory holding tests/integration and pyproject.toml).
#
# Environment:
#   STROM_BIN                 broker binary (default: target/debug/strom of this repo, built if missing)
#   XDG_CACHE_HOME            the source, the apt lists and the pinned requirements (requirements.txt) are kept in
#                             ${XDG_CACHE_HOME:-$HOME/.cache}/strom-compat/confluent-kafka-python-2.12.2
#   CKPY_SOURCE               a source tree of tag v2.12.2 to use instead of Debian's source package
#   CKPY_TEST_TIMEOUT         per-test limit in seconds (pytest-timeout; default 30)
#   CKPY_TOTAL_TIMEOUT        limit for the whole pytest run in seconds (default 300)
#   STROM_COMPAT_KEEP=1       keep the work dir (broker data and log, pytest output) even when the run passes;
#                             a failing run always keeps it and prints its path
set -euo pipefail

VERSION=2.12.2
DEB_VERSION=2.12.2-2
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
common=$repo/compat/kafka-python  # check.py and outcomes_plugin.py, shared with the kafka-python suite
cache=${XDG_CACHE_HOME:-$HOME/.cache}/strom-compat/confluent-kafka-python-$VERSION
test_timeout=${CKPY_TEST_TIMEOUT:-30}
total_timeout=${CKPY_TOTAL_TIMEOUT:-300}
started=$(date +%s)

log() { echo "compat/confluent-kafka-python: $*" >&2; }

# 1. The suite's source, once.
src=$cache/source
if [[ -n ${CKPY_SOURCE:-} ]]; then
    src=$CKPY_SOURCE
    log "using the source tree CKPY_SOURCE=$src"
elif [[ ! -f $src/.complete ]]; then
    log "fetching Debian source package python-confluent-kafka $DEB_VERSION into $cache"
    apt=$cache/apt
    rm -rf "$apt" "$src"
    mkdir -p "$apt/lists/partial" "$apt/parts" "$apt/dl"
    echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian sid main" \
        >"$apt/sources.list"
    aptopts=(-q -o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=$apt/parts"
        -o "Dir::State::Lists=$apt/lists" -o "APT::Sandbox::User=root")
    apt-get "${aptopts[@]}" update >"$apt/update.log" 2>&1 || { cat "$apt/update.log" >&2; exit 2; }
    if ! (cd "$apt/dl" && apt-get "${aptopts[@]}" source --download-only "python-confluent-kafka=$DEB_VERSION") \
        >"$apt/source.log" 2>&1; then
        grep -E '^(E|W):' "$apt/source.log" >&2 || cat "$apt/source.log" >&2
        log "could not fetch the suite's source (Debian python-confluent-kafka $DEB_VERSION); set CKPY_SOURCE"
        exit 2
    fi
    mkdir -p "$src"
    tar -xf "$apt/dl/python-confluent-kafka_$VERSION.orig.tar.xz" -C "$src" --strip-components=1
    rm -rf "$apt"
    touch "$src/.complete"
fi
if [[ ! -d $src/tests/integration || ! -f $src/pyproject.toml ]]; then
    log "$src has no tests/integration or pyproject.toml"; exit 2
fi

# 2. The client wheel and the pinned test requirements, installed with pip --target into the cache (no venv, no
#    change to the system's site-packages), reinstalled when requirements.txt or the Python version changes.
py=python3
req_sum=$(cat "$here/requirements.txt" <("$py" -c 'import sys; print(sys.version)') | sha256sum | cut -c1-16)
site=$cache/site-$req_sum
if [[ ! -f $site/.complete ]]; then
    log "installing confluent-kafka $VERSION and the test requirements into $site"
    rm -rf "$cache"/site-*
    "$py" -m pip install -q --disable-pip-version-check --root-user-action=ignore --no-warn-script-location \
        --only-binary confluent-kafka --target "$site" -r "$here/requirements.txt"
    touch "$site/.complete"
fi

# 3. A work copy of the tests (not the source's src/: the suite must import the installed wheel).
work=$(mktemp -d "${TMPDIR:-/tmp}/strom-compat-confluent-kafka-python.XXXXXX")
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
mkdir -p "$work/suite"
cp -r "$src/tests" "$src/pyproject.toml" "$work/suite/"

# 4. The broker, configured as the suite's own cluster (trivup's KafkaBrokerApp: num.partitions=3, auto-create on,
#    replication factor 1, Kafka's defaults for the group settings). The tests use no fixed broker id.
strom=${STROM_BIN:-${CARGO_TARGET_DIR:-$repo/target}/debug/strom}
if [[ ! -x $strom ]]; then
    if [[ -n ${STROM_BIN:-} ]]; then log "STROM_BIN=$STROM_BIN is not executable"; exit 2; fi
    log "building $strom"
    (cd "$repo" && cargo build -q -p strom)
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$strom" server \
    --node-id 1 \
    --listeners "PLAINTEXT://127.0.0.1:$port" \
    --advertised-listeners "PLAINTEXT://127.0.0.1:$port" \
    --log-dirs "$work/data" \
    --num-partitions 3 \
    --auto-create-topics-enable true \
    --default-replication-factor 1 \
    --offsets-topic-replication-factor 1 \
    >"$work/broker.log" 2>&1 &
broker_pid=$!
for _ in $(seq 100); do
    if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null; then break; fi
    if ! kill -0 "$broker_pid" 2>/dev/null; then log "broker exited:"; tail -20 "$work/broker.log" >&2; exit 2; fi
    sleep 0.1
done
log "strom ($strom) on 127.0.0.1:$port, pid $broker_pid, data in $work/data"

# 5. The suite. BROKERS makes its kafka_cluster fixture a ByoFixture on the given bootstrap servers (no trivup
#    cluster). Tests on deny.txt with "[not run]" are skipped by outcomes_plugin instead of run. Signal-based timeouts
#    fail only the test that hangs.
run_pytest() {
    local logfile=$1
    shift
    BROKERS="127.0.0.1:$port" \
    STROM_COMPAT_PREFIX=tests/integration/ STROM_COMPAT_DENY="$here/deny.txt" \
    STROM_COMPAT_OUTCOMES="$work/outcomes" \
    PYTHONPATH="$site:$common" PYTHONDONTWRITEBYTECODE=1 \
        timeout -k 10 "$total_timeout" "$py" -m pytest "$@" \
            -p outcomes_plugin -p no:cacheprovider \
            --timeout="$test_timeout" --timeout-method=signal \
            -o console_output_style=classic -q -rfE >"$logfile" 2>&1
}
cd "$work/suite"
set +e
STROM_COMPAT_COLLECTED="$work/collected" run_pytest "$work/pytest.log" tests/integration --durations=5 "$@"
rc=$?
set -e
# An allow-listed test that failed is run again on its own, once (at most three such tests): the group tests are
# timing-sensitive on a loaded 2-core machine, and a second failure is a real one. The log names every retried test.
retry=$("$py" - "$work/collected" "$work/outcomes" "$here/allow.txt" <<'PY'
import os, sys
collected = {l.strip() for l in open(sys.argv[1]) if l.strip()} if os.path.exists(sys.argv[1]) else set()
outcomes = {}
if os.path.exists(sys.argv[2]):
    for line in open(sys.argv[2]):
        o, _, t = line.strip().partition(" ")
        outcomes[t] = o
allow = [l.strip() for l in open(sys.argv[3]) if l.strip() and not l.startswith("#")]
failed = [t for t in allow if t in collected and outcomes.get(t) != "passed"]
if 0 < len(failed) <= 3:
    print("\n".join(failed))
PY
)
if [[ -n $retry && $rc != 124 && $rc != 137 ]]; then
    mapfile -t retry_ids <<<"$retry"
    log "retrying (failed in the full run): ${retry_ids[*]}"
    set +e
    run_pytest "$work/pytest-retry.log" "${retry_ids[@]/#/tests/integration/}"
    set -e
    log "retry outcomes: $(tail -n ${#retry_ids[@]} "$work/outcomes" | tr '\n' ';')"
fi

awk '/slowest .* durations/ {on=1} on && !/^$/ {print} on && / in [0-9.]+s( \(.*\))?$/ {exit}' "$work/pytest.log" || true
if ((rc == 124 || rc == 137)); then log "pytest hit the overall timeout of ${total_timeout}s"; fi
if [[ ! -s $work/collected ]]; then
    log "pytest collected nothing (exit $rc):"; tail -40 "$work/pytest.log" >&2; exit 1
fi
if ! kill -0 "$broker_pid" 2>/dev/null; then log "the broker died during the run:"; tail -40 "$work/broker.log" >&2; fi

set +e
partial=()
if (($#)); then partial=(--partial); fi
"$py" "$common/check.py" --name confluent-kafka-python "${partial[@]}" \
    "$work/collected" "$work/outcomes" "$here/allow.txt" "$here/deny.txt"
status=$?
set -e
log "wall time $(($(date +%s) - started))s"
exit $status
