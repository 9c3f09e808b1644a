#!/usr/bin/env bash
# librdkafka 2.0.2's own regression suite (tests/ of Debian bookworm's librdkafka source package) against real Strom
# brokers.
#
#   compat/librdkafka/run.sh              # every broker test
#   compat/librdkafka/run.sh 0081 0113    # only these test numbers (the lists' coverage isn't checked)
#
# Each test number runs in its own test-runner process (TESTS=<number> test-runner -L) with a wall limit, up to
# LRK_JOBS at a time; every test that talks to a broker must be on allow.txt (must pass) or deny.txt (test name +
# reason); suite.py compares the outcomes with the lists. Last line: "librdkafka: N passed, N failed, N skipped".
#
# Environment:
#   STROM_BIN                 broker binary (default: target/debug/strom of this repo, built if missing)
#   XDG_CACHE_HOME            source and build are kept in ${XDG_CACHE_HOME:-$HOME/.cache}/strom-compat/librdkafka-2.0.2
#   LRK_JOBS                  test processes at a time (default 3)
#   LRK_TEST_TIMEOUT          wall limit per test process in seconds (default 300)
#   TEST_DEBUG                librdkafka debug contexts for every client (e.g. cgrp,protocol), see tests/README.md
#   STROM_COMPAT_KEEP=1       keep the work dir (brokers' data and logs, one log per test) even when the run passes;
#                             a failing run always keeps it and prints its path
set -euo pipefail

VERSION=2.0.2
DEB_VERSION=2.0.2-1
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/strom-compat/librdkafka-$VERSION
jobs=${LRK_JOBS:-3}
test_timeout=${LRK_TEST_TIMEOUT:-300}
started=$(date +%s)

log() { echo "compat/librdkafka: $*" >&2; }

# 1. The source (Debian's package, its patches applied by dpkg-source) and the build, once. Bookworm's image has no
#    deb-src entry; one with the same mirror and suites as debian.sources is added for apt-get source.
#    The build is the minimum: no SSL, SASL, libcurl or zstd (the tests needing them are deny-listed), builtin lz4
#    and snappy, zlib; RapidJSON (header-only, rapidjson-dev) lets the tests that check the statistics JSON run.
#    The cache is rebuilt when these options change.
configure_args=(--disable-ssl --disable-gssapi --disable-curl --disable-zstd --disable-lz4-ext --enable-zlib)
build_id="librdkafka $DEB_VERSION: ${configure_args[*]}; rapidjson $([[ -f /usr/include/rapidjson/schema.h ]] && echo yes || echo no)"
src=$cache/src
if [[ $(cat "$cache/.complete" 2>/dev/null) != "$build_id" ]]; then
    if ! apt-cache showsrc librdkafka 2>/dev/null | grep -qx "Version: $DEB_VERSION"; then
        log "adding a deb-src entry (/etc/apt/sources.list.d/strom-compat-deb-src.sources)"
        cat >/etc/apt/sources.list.d/strom-compat-deb-src.sources <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
        apt-get update -qq
    fi
    log "fetching librdkafka $DEB_VERSION source into $cache"
    rm -rf "$cache"
    mkdir -p "$cache/dl"
    (cd "$cache/dl" && apt-get source -qq --download-only "librdkafka=$DEB_VERSION")
    # apt checked the files against the signed Release file; dpkg-source's own .dsc signature check has no keyring.
    dpkg-source -x "$cache/dl/librdkafka_$DEB_VERSION.dsc" "$src" >"$cache/unpack.log" 2>&1 \
        || { cat "$cache/unpack.log" >&2; exit 2; }
    log "building librdkafka and tests/test-runner (a few minutes; log: $cache/build.log)"
    (cd "$src" && ./configure "${configure_args[@]}" && make -j2 libs && make -j2 -C tests build) \
        >"$cache/build.log" 2>&1 || { tail -30 "$cache/build.log" >&2; log "build failed"; exit 2; }
    echo "$build_id" >"$cache/.complete"
fi
tests_dir=$src/tests

# kafka-python for kafka/bin/kafka-topics.sh, the stand-in for Kafka's tool that a few tests run (KAFKA_PATH),
# unless it is importable already (.ci/run installs it).
if ! python3 -c 'import kafka' 2>/dev/null; then
    site=$cache/site-kafka-python
    if [[ ! -f $site/.complete ]]; then
        log "installing kafka-python into $site"
        rm -rf "$site"
        python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore --no-warn-script-location \
            --target "$site" kafka-python==3.0.12
        touch "$site/.complete"
    fi
    export PYTHONPATH=$site${PYTHONPATH:+:$PYTHONPATH}
fi
export LD_LIBRARY_PATH=$src/src:$src/src-cpp${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

# 2. Which processes to run: "<number> <scenario>" for every test number with a broker test in that scenario.
mapfile -t all_runs < <(python3 "$here/suite.py" list "$tests_dir/test.c" | awk '{print $1, $3}' | sort -u)
# The slowest numbers first (durations of a run on 2 busy cores), so that none of them is left running alone at
# the end: the deny-listed ones that hang until the runner's own timeout, then the slow passing ones.
slow=(0045 0113 0061 0129 0076 0091 0094 0055 0077 0026 0122 0033 0018 0093)
mapfile -t all_runs < <(
    for r in "${all_runs[@]}"; do
        rank=${#slow[@]}
        for i in "${!slow[@]}"; do [[ ${r%% *} == "${slow[$i]}" ]] && rank=$i; done
        printf '%03d %s\n' "$rank" "$r"
    done | sort -s -k1,1n | cut -d' ' -f2-
)
runs=()
if (($#)); then
    for r in "${all_runs[@]}"; do
        for n in "$@"; do [[ ${r%% *} == "$n" ]] && runs+=("$r"); done
    done
    ((${#runs[@]})) || { log "no broker test numbered $*"; exit 2; }
else
    runs=("${all_runs[@]}")
fi

# 3. The brokers: the suite's "default" scenario (tests/scenarios/default.json: auto-create on, 4 partitions) and,
#    for the few tests that need it, "noautocreate" (auto-create off). One broker each, node id 1, plain TCP.
work=$(mktemp -d "${TMPDIR:-/tmp}/strom-compat-librdkafka.XXXXXX")
declare -A broker_pid=() broker_port=()
status=1
cleanup() {
    local s
    for s in "${!broker_pid[@]}"; do
        local pid=${broker_pid[$s]}
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            if kill -0 "$pid" 2>/dev/null; then
                log "broker $s still running 20s after SIGTERM; killing it"
                kill -9 "$pid" 2>/dev/null || true
            fi
            wait "$pid" 2>/dev/null || true
        fi
    done
    if [[ ${STROM_COMPAT_KEEP:-} == 1 || $status != 0 ]]; then
        log "kept $work (logs/<number>-<scenario>.log: each test's output; broker-<scenario>.log; data-<scenario>/)"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

strom=${STROM_BIN:-${CARGO_TARGET_DIR:-$repo/target}/debug/strom}
if [[ ! -x $strom ]]; then
    if [[ -n ${STROM_BIN:-} ]]; then log "STROM_BIN=$STROM_BIN is not executable"; exit 2; fi
    log "building $strom"
    (cd "$repo" && cargo build -q -p strom)
fi
start_broker() {
    local scenario=$1 autocreate=$2 port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    # Kafka's defaults plus what the suite's scenarios (tests/scenarios/*.json, trivup clusters) set:
    # num.partitions=4 and auto-create per scenario, 1 replica (one broker). group.min.session.timeout.ms is lowered
    # for the few sub-tests that ask for session.timeout.ms=5000 (0081, 0113). group.initial.rebalance.delay.ms
    # stays at Kafka's 3 s: tests such as 0102 and 0118 subscribe two consumers but poll them one after the
    # other, and count on both joining the group's first generation.
    "$strom" server \
        --node-id 1 \
        --listeners "PLAINTEXT://127.0.0.1:$port" \
        --advertised-listeners "PLAINTEXT://127.0.0.1:$port" \
        --log-dirs "$work/data-$scenario" \
        --num-partitions 4 \
        --auto-create-topics-enable "$autocreate" \
        --default-replication-factor 1 \
        --offsets-topic-replication-factor 1 \
        --group-min-session-timeout-ms 1000 \
        >"$work/broker-$scenario.log" 2>&1 &
    broker_pid[$scenario]=$!
    broker_port[$scenario]=$port
    echo "$port" >"$work/port-$scenario"
    for _ in $(seq 100); do
        if python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null; then
            break
        fi
        if ! kill -0 "${broker_pid[$scenario]}" 2>/dev/null; then
            log "broker ($scenario) exited:"; tail -20 "$work/broker-$scenario.log" >&2; exit 2
        fi
        sleep 0.1
    done
    # test.conf as tests/test.conf.example describes it; random topic names keep parallel tests apart.
    cat >"$work/test-$scenario.conf" <<EOF
bootstrap.servers=127.0.0.1:$port
test.topic.random=true
EOF
    log "strom ($strom) for scenario $scenario on 127.0.0.1:$port, pid ${broker_pid[$scenario]}"
}
start_broker default true
if printf '%s\n' "${runs[@]}" | grep -q ' noautocreate$'; then start_broker noautocreate false; fi

# 4. The tests, LRK_JOBS processes at a time. TEST_KAFKA_VERSION=4.0.0 is the version Strom's ApiVersions answer
#    matches (Kafka 4.0's request versions); the runner skips tests meant for other versions. -L: no local tests
#    (they run without a broker). Not -Q (quick mode): it skips every sub-test not marked SUB_TEST_QUICK, which is
#    most of them.
# Each process runs in its own directory under cwd/, next to a src link: tests open ../src/statistics_schema.json.
mkdir -p "$work/logs" "$work/results" "$work/cwd"
ln -s "$src/src" "$work/cwd/src"
run_one() {
    local num=$1 scenario=$2 t0=$SECONDS rc
    local name=$num-$scenario
    mkdir -p "$work/cwd/$name"
    # A subshell that outlives test-runner, so a failing test's abort() is reported in its log, not here.
    (
        set +e
        cd "$work/cwd/$name" || exit 2
        # Without CI in the environment: librdkafka's latency test (0055, allow-listed) skips itself on CI.
        env -u CI RDKAFKA_TEST_CONF="$work/test-$scenario.conf" TEST_KAFKA_VERSION=4.0.0 \
            BROKERS="127.0.0.1:$(cat "$work/port-$scenario")" KAFKA_PATH="$here/kafka" \
            TESTS=$num TEST_REPORT="$work/results/$name.json" \
            timeout -k 10 "$test_timeout" "$tests_dir/test-runner" -L -s "$scenario"
        echo "exit status $?"
    ) >"$work/logs/$name.log" 2>&1
    rc=$(sed -n 's/^exit status //p' "$work/logs/$name.log" | tail -1)
    echo "${rc:-2}" >"$work/results/$name.rc"
    local res
    res=$(python3 -c 'import json,sys
try: t=json.load(open(sys.argv[1], errors="replace"))["tests"]
except Exception: sys.exit()
print(" ".join("%s=%s" % (k, v["state"]) for k, v in t.items() if k.startswith(sys.argv[2]) and v["state"] != "SKIPPED"))' \
        "$work/results/$name.json" "$num" 2>/dev/null || true)
    if ((rc == 124 || rc == 137)) && ((SECONDS - t0 >= test_timeout)); then res+=" (wall limit ${test_timeout}s)"; fi
    echo "compat/librdkafka: $name: exit $rc, $((SECONDS - t0))s ${res}" >&2
}
export -f run_one
export work test_timeout tests_dir here
set +e
printf '%s\n' "${runs[@]}" | xargs -P "$jobs" -L 1 bash -c 'run_one "$0" "$1"'
set -e

# An allow-listed test that failed runs once more on its own (at most three numbers: more failures are not timing);
# the retry's outcome counts and is logged, so a test that keeps needing it is visible.
mapfile -t retry < <(python3 "$here/suite.py" failed "$tests_dir/test.c" "$work/results" "$here/allow.txt")
if ((${#retry[@]} > 0 && ${#retry[@]} <= 3)); then
    for r in "${retry[@]}"; do
        log "retrying $r"
        mv "$work/logs/${r/ /-}.log" "$work/logs/${r/ /-}.first.log"
        run_one $r
    done
fi

for s in "${!broker_pid[@]}"; do
    if ! kill -0 "${broker_pid[$s]}" 2>/dev/null; then
        log "the $s broker died during the run:"; tail -40 "$work/broker-$s.log" >&2
    fi
done

set +e
partial=()
if (($#)); then partial=(--partial); fi
python3 "$here/suite.py" check "${partial[@]}" "$tests_dir/test.c" "$work/results" "$here/allow.txt" "$here/deny.txt"
status=$?
set -e
log "wall time $(($(date +%s) - started))s"
exit $status
