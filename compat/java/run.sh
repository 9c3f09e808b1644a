#!/usr/bin/env bash
# The Java compat suites: standalone Maven projects under compat/java/ (Apache Kafka 4.4.0 artifacts from Maven
# Central, JUnit 5), each run with `mvn -B -q test` against real strom processes that this script starts.
#
#   compat/java/run.sh                  # every project: each compat/java/*/pom.xml, in name order
#   compat/java/run.sh clients          # only the named projects (directory names under compat/java/)
#   JAVA_TEST=AdminTopicsTest compat/java/run.sh clients   # a selection (surefire -Dtest); list coverage not checked
#
# The hook for a new project: a directory compat/java/NAME/ with a pom.xml, allow.txt and deny.txt. Nothing else
# to register. For each project, this script starts fresh brokers and runs its tests with:
#   STROM_BOOTSTRAP          one broker (node.id 1), host:port          (also -Dstrom.bootstrap)
#   STROM_CLUSTER_BOOTSTRAP  a 3-node cluster (`strom dev-cluster --nodes 3`), host:port,host:port,host:port
#                            (also -Dstrom.cluster.bootstrap); its nodes' data and logs under $STROM_CLUSTER_DIR
#   STROM_BIN                the broker binary, for a test that starts (and kills) brokers of its own
#   STROM_COMPAT_WORK        a scratch directory for the project (kept when the run fails)
# Both brokers use the settings below (rebalance delay 0, short group session minimum, 1 s KIP-848 heartbeat).
# Each test is "SimpleClassName#method" on the project's allow.txt (must pass) or deny.txt ("<id> <reason>"); the
# outcomes come from surefire's XML reports and check.py compares them with the lists.
#
# Last line: "java: N passed, N failed, N skipped" (totals over the projects run). Exit status non-zero when an
# allow-listed test did not pass, a test is on neither list, or a project did not build.
#
# Environment:
#   STROM_BIN               broker binary (default: target/debug/strom of this repo, built if missing)
#   JAVA_TEST               surefire -Dtest selection (e.g. ProducerTest or 'AdminTopicsTest#createsTopics')
#   JAVA_TOTAL_TIMEOUT      limit for one project's mvn run in seconds (default 900)
#   JAVA_MVN_ARGS           extra mvn arguments (e.g. -o, or -Dorg.slf4j.simpleLogger.defaultLogLevel=debug)
#   STROM_COMPAT_KEEP=1     keep the work dirs (broker data and logs, mvn output) even when the run passes
# The local Maven repository (~/.m2, or what -Dmaven.repo.local in JAVA_MVN_ARGS names) is the download cache.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
total_timeout=${JAVA_TOTAL_TIMEOUT:-900}
started=$(date +%s)

log() { echo "compat/java: $*" >&2; }

for tool in mvn java python3; do
    command -v "$tool" >/dev/null || { log "$tool is not installed"; exit 2; }
done

projects=()
if (($#)); then
    for p in "$@"; do
        [[ -f $here/$p/pom.xml ]] || { log "no project compat/java/$p (no pom.xml)"; exit 2; }
        projects+=("$p")
    done
else
    for pom in "$here"/*/pom.xml; do
        [[ -f $pom ]] && projects+=("$(basename "$(dirname "$pom")")")
    done
fi
((${#projects[@]})) || { log "no projects under $here"; exit 2; }

strom=${STROM_BIN:-${CARGO_TARGET_DIR:-$repo/target}/debug/strom}
if [[ ! -x $strom ]]; then
    if [[ -n ${STROM_BIN:-} ]]; then log "STROM_BIN=$STROM_BIN is not executable"; exit 2; fi
    log "building $strom"
    (cd "$repo" && cargo build -q -p strom)
fi
strom=$(cd "$(dirname "$strom")" && pwd)/$(basename "$strom")

# Broker settings for both the single broker and the cluster nodes (Kafka names): what Kafka's own integration
# tests configure so groups form without waiting (no initial rebalance delay, short minimum session timeout,
# 1 s KIP-848 heartbeat interval), and two __consumer_offsets partitions so the first group starts quickly.
settings=(
    group.initial.rebalance.delay.ms=0
    group.min.session.timeout.ms=1000
    group.consumer.heartbeat.interval.ms=1000
    group.consumer.session.timeout.ms=10000
    offsets.topic.num.partitions=2
    replica.lag.time.max.ms=5000
)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# A base port B with B..B+2 (clients) and B+100..B+102 (quorum) free, for dev-cluster's fixed layout.
free_cluster_base() {
    python3 - <<'PY'
import random, socket
for _ in range(200):
    base = random.randrange(20000, 40000)
    socks = []
    try:
        for p in [base, base + 1, base + 2, base + 100, base + 101, base + 102]:
            s = socket.socket()
            s.bind(("127.0.0.1", p))
            socks.append(s)
    except OSError:
        continue
    finally:
        for s in socks:
            s.close()
    print(base)
    break
PY
}

wait_port() {  # host:port pid log
    local hp=$1 pid=$2 logf=$3
    for _ in $(seq 200); do
        if python3 -c "import socket; socket.create_connection(('${hp%:*}', ${hp##*:}), 0.2)" 2>/dev/null; then
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then log "broker exited:"; tail -20 "$logf" >&2; return 1; fi
        sleep 0.1
    done
    log "$hp not listening after 20 s"; return 1
}

stop_pid() {
    local pid=$1
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 250); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid still running 25 s after SIGTERM; killing it"
        kill -9 "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

broker_pid=
cluster_pid=
work=
keep_all=
cleanup() {
    stop_pid "$broker_pid"; broker_pid=
    stop_pid "$cluster_pid"; cluster_pid=
}
trap cleanup EXIT
trap 'exit 130' INT TERM

totals=(0 0 0)
overall=0
for project in "${projects[@]}"; do
    dir=$here/$project
    work=$(mktemp -d "${TMPDIR:-/tmp}/strom-compat-java-$project.XXXXXX")
    t0=$(date +%s)

    # One broker.
    port=$(free_port)
    overrides=()
    for s in "${settings[@]}"; do overrides+=(--override "$s"); done
    "$strom" server --node-id 1 \
        --listeners "PLAINTEXT://127.0.0.1:$port" --advertised-listeners "PLAINTEXT://127.0.0.1:$port" \
        --log-dirs "$work/broker/data" "${overrides[@]}" >"$work/broker.log" 2>&1 &
    broker_pid=$!
    # A 3-node cluster (each node a broker and a quorum voter).
    base=$(free_cluster_base)
    "$strom" dev-cluster --nodes 3 --base-port "$base" --dir "$work/cluster" "${overrides[@]}" \
        >"$work/cluster.log" 2>&1 &
    cluster_pid=$!
    wait_port "127.0.0.1:$port" "$broker_pid" "$work/broker.log"
    for i in 0 1 2; do wait_port "127.0.0.1:$((base + i))" "$cluster_pid" "$work/cluster.log"; done
    bootstrap=127.0.0.1:$port
    cluster_bootstrap=127.0.0.1:$base,127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2))
    log "$project: broker $bootstrap (pid $broker_pid), cluster $cluster_bootstrap (pid $cluster_pid), work dir $work"

    mvn_args=(-B -q test -Dmaven.test.failure.ignore=true -Dsurefire.failIfNoSpecifiedTests=false
        "-Dstrom.bootstrap=$bootstrap" "-Dstrom.cluster.bootstrap=$cluster_bootstrap")
    if [[ -n ${JAVA_TEST:-} ]]; then mvn_args+=("-Dtest=$JAVA_TEST"); fi
    # shellcheck disable=SC2206
    mvn_args+=(${JAVA_MVN_ARGS:-})
    rm -rf "$dir/target/surefire-reports"
    set +e
    (cd "$dir" && STROM_BOOTSTRAP=$bootstrap STROM_CLUSTER_BOOTSTRAP=$cluster_bootstrap \
        STROM_CLUSTER_DIR=$work/cluster STROM_BIN=$strom STROM_COMPAT_WORK=$work \
        timeout -k 10 "$total_timeout" mvn "${mvn_args[@]}") >"$work/mvn.log" 2>&1
    rc=$?
    set -e
    if ((rc == 124 || rc == 137)); then log "$project: mvn hit the overall timeout of ${total_timeout}s"; fi
    if ! kill -0 "$broker_pid" 2>/dev/null; then
        log "$project: the broker died during the run:"; tail -20 "$work/broker.log" >&2
    fi
    if ! kill -0 "$cluster_pid" 2>/dev/null; then
        log "$project: the cluster stopped during the run:"; tail -20 "$work/cluster.log" >&2
    fi
    cleanup

    partial=()
    if [[ -n ${JAVA_TEST:-} ]]; then partial=(--partial); fi
    set +e
    counts=$(python3 "$here/check.py" "${partial[@]}" --name "$project" "$dir/target/surefire-reports" \
        "$dir/allow.txt" "$dir/deny.txt")
    status=$?
    set -e
    printf '%s\n' "$counts" | sed '$d'
    if [[ $(printf '%s\n' "$counts" | tail -1) =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped$ ]]; then
        totals=($((totals[0] + BASH_REMATCH[1])) $((totals[1] + BASH_REMATCH[2])) $((totals[2] + BASH_REMATCH[3])))
    else
        log "$project: check.py gave no counts"; status=1
    fi
    if ((rc != 0 && rc != 124 && rc != 137)) && [[ ! -d $dir/target/surefire-reports ]]; then
        log "$project: mvn failed (exit $rc) before running tests:"; tail -40 "$work/mvn.log" >&2; status=1
    fi
    if ((status != 0)); then overall=1; fi
    log "$(printf '%s\n' "$counts" | tail -1), wall time $(($(date +%s) - t0))s"
    if [[ ${STROM_COMPAT_KEEP:-} == 1 || $status != 0 ]]; then
        log "$project: kept $work (mvn.log, broker.log, cluster.log, cluster/node-*/strom.log)"
        log "$project: surefire reports and each test class's output: $dir/target/surefire-reports"
    else
        rm -rf "$work"
    fi
done

log "wall time $(($(date +%s) - started))s"
echo "java: ${totals[0]} passed, ${totals[1]} failed, ${totals[2]} skipped"
exit $overall
