#!/usr/bin/env python3
"""bench/report.py RAW.jsonl MACHINE.json: turns bench/run.sh's raw results into the Markdown table of
BENCHMARKS.md: medians over the runs for Strom, Apache Kafka (its JIT-warmed second pass) and Tansu, the
Strom/Kafka and Strom/Tansu ratios, the issue's target and whether Strom meets it; Kafka's JIT warm-up (first
pass against second, per round); followed by the machine limits measured in the same run. Reads files only."""

import json
import statistics
import sys


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def median(rows, workload, broker, get):
    vals = []
    for r in rows:
        if r.get("workload") == workload and r.get("broker") == broker and not r.get("failed"):
            try:
                vals.append(get(r))
            except (KeyError, TypeError, ZeroDivisionError):
                pass
    return (statistics.median(vals), len(vals)) if vals else (None, 0)


def fmt(v, digits):
    if v is None:
        return "—"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}"


def main():
    rows = load(sys.argv[1])
    with open(sys.argv[2]) as f:
        machine = json.load(f)

    # (label, workload, getter, digits, target description, target check on Strom's value and Tansu's)
    per_100mb = lambda r: r["broker_cpu_s"] / (r["bytes"] / 1e8)
    metrics = [
        ("produce 1M×100 B, acks=1, 1 partition: records/s", "produce_1m_acks1_p1", lambda r: r["records_per_sec"], 0,
         "≥ Tansu", lambda s, t: t is None or s >= t),
        ("… broker CPU-s", "produce_1m_acks1_p1", lambda r: r["broker_cpu_s"], 3, "≤ 0.10", lambda s, t: s <= 0.10),
        ("… of which kernel (stime)", "produce_1m_acks1_p1", lambda r: r["broker_sys_s"], 3, "", None),
        ("… p99 send→ack latency ms", "produce_1m_acks1_p1", lambda r: r["latency_ms"]["p99"], 1, "", None),
        ("… broker peak RSS MB", "produce_1m_acks1_p1", lambda r: r["broker_peak_rss_kb"] / 1024, 1, "≤ 100",
         lambda s, t: s <= 100),
        ("produce 1M×100 B, acks=all, 1 partition: records/s", "produce_1m_acksall_p1",
         lambda r: r["records_per_sec"], 0, "≥ Tansu", lambda s, t: t is None or s >= t),
        ("… broker CPU-s", "produce_1m_acksall_p1", lambda r: r["broker_cpu_s"], 3, "≤ 0.10", lambda s, t: s <= 0.10),
        ("produce 1M×100 B, acks=1, 8 partitions: records/s", "produce_1m_acks1_p8", lambda r: r["records_per_sec"], 0,
         "≥ Tansu", lambda s, t: t is None or s >= t),
        ("… broker CPU-s", "produce_1m_acks1_p8", lambda r: r["broker_cpu_s"], 3, "≤ 0.10", lambda s, t: s <= 0.10),
        ("produce 1M×100 B, acks=all, 8 partitions: records/s", "produce_1m_acksall_p8",
         lambda r: r["records_per_sec"], 0, "≥ Tansu", lambda s, t: t is None or s >= t),
        ("… broker CPU-s", "produce_1m_acksall_p8", lambda r: r["broker_cpu_s"], 3, "≤ 0.10", lambda s, t: s <= 0.10),
        ("produce 200k×1 KiB, acks=1: MB/s", "produce_200k_1k", lambda r: r["mb_per_sec"], 1, "≥ 1.5× Tansu",
         lambda s, t: t is None or s >= 1.5 * t),
        ("… broker CPU-s", "produce_200k_1k", lambda r: r["broker_cpu_s"], 3, "≤ 0.15", lambda s, t: s <= 0.15),
        ("… of which kernel (stime)", "produce_200k_1k", lambda r: r["broker_sys_s"], 3, "", None),
        ("consume 1M×100 B (1 partition): records/s", "consume_1m", lambda r: r["records_per_sec"], 0, "≥ 2.5 M",
         lambda s, t: s >= 2.5e6),
        ("… broker CPU-s per 100 MB", "consume_1m", per_100mb, 3, "≤ 0.05", lambda s, t: s <= 0.05),
        ("… of which kernel (stime)", "consume_1m", lambda r: r["broker_sys_s"] / (r["bytes"] / 1e8), 3, "", None),
        ("consume 1M×100 B (8 partitions): records/s", "consume_1m_p8", lambda r: r["records_per_sec"], 0, "≥ 2.5 M",
         lambda s, t: s >= 2.5e6),
        ("… broker CPU-s per 100 MB", "consume_1m_p8", per_100mb, 3, "≤ 0.05", lambda s, t: s <= 0.05),
        ("consume 200k×1 KiB: MB/s", "consume_200k_1k", lambda r: r["mb_per_sec"], 1, "", None),
        ("… broker CPU-s per 100 MB", "consume_200k_1k", per_100mb, 3, "≤ 0.05", lambda s, t: s <= 0.05),
        ("e2e 10k/s, linger.ms=1: p50 ms", "e2e_linger1", lambda r: r["e2e_latency_ms"]["p50"], 2, "≤ 2",
         lambda s, t: s <= 2),
        ("… p99 ms", "e2e_linger1", lambda r: r["e2e_latency_ms"]["p99"], 2, "≤ 5", lambda s, t: s <= 5),
        ("… p99.9 ms", "e2e_linger1", lambda r: r["e2e_latency_ms"]["p999"], 2, "", None),
        ("… broker CPU-s", "e2e_linger1", lambda r: r["broker_cpu_s"], 3, "", None),
        ("e2e 10k/s, linger.ms=0: p50 ms", "e2e_linger0", lambda r: r["e2e_latency_ms"]["p50"], 2, "", None),
        ("… p99 ms", "e2e_linger0", lambda r: r["e2e_latency_ms"]["p99"], 2, "", None),
        ("… p99.9 ms", "e2e_linger0", lambda r: r["e2e_latency_ms"]["p999"], 2, "", None),
        ("… broker CPU-s", "e2e_linger0", lambda r: r["broker_cpu_s"], 3, "", None),
        ("idle RSS MB", "idle", lambda r: r["rss_kb"] / 1024, 1, "≤ 30", lambda s, t: s <= 30),
        ("start-up: exec until Metadata is served, s", "idle", lambda r: r["startup_s"], 3, "", None),
        ("… broker CPU-s until then", "idle", lambda r: r["startup_cpu_s"], 3, "", None),
    ]

    # WORKLOADS=txn runs only the transactions comparison: the suite's tables are left out, not printed empty.
    suite_ran = any(r.get("workload") == "produce_1m_acks1_p1" for r in rows)
    if not suite_ran:
        metrics = [m for m in metrics if m[1] == "idle"]
    runs = max((r.get("rep", 0) for r in rows), default=0)
    brokers = [b for b in ("strom", "kafka", "tansu") if any(r.get("broker") == b for r in rows)]
    names = {"strom": "Strom", "kafka": "Kafka", "tansu": "Tansu"}
    order = [b for b in ("strom", "tansu", "kafka") if b in brokers]
    print(f"Medians of {runs} runs per broker, interleaved {', '.join(names[b] for b in order)}, "
          f"{names[order[0]]}, …" + (" Kafka: the second (JIT-warmed) pass of each round." if "kafka" in brokers else "")
          + "\n")
    others = [b for b in brokers if b != "strom"]
    print("| metric | " + " | ".join(names[b] for b in brokers) + " | "
          + " | ".join(f"Strom/{names[b]}" for b in others) + " | target | met |")
    print("|---|" + "---:|" * (len(brokers) + len(others)) + "---|---|")
    for label, workload, get, digits, target, check in metrics:
        vals = {b: median(rows, workload, b, get)[0] for b in brokers}
        s, t = vals.get("strom"), vals.get("tansu")
        ratios = [f"{s / vals[b]:.2f}" if s is not None and vals[b] else "—" for b in others]
        met = ""
        if check is not None and s is not None:
            met = "yes" if check(s, t) else "**no**"
        print(f"| {label} | " + " | ".join(fmt(vals[b], digits) for b in brokers) + " | " + " | ".join(ratios)
              + f" | {target} | {met} |")

    # Strom only: targets Tansu has no counterpart for (durable mode, a replicated cluster, 10,000 partitions,
    # restart after kill -9). Each row: label, value, digits, target, met (None: no target).
    def strom(workload, get):
        return median(rows, workload, "strom", get)[0]

    def ratio_of(a, b):
        return a / b if a is not None and b else None

    rps = lambda r: r["records_per_sec"]
    durable = strom("produce_1m_acksall_p1_durable", rps)
    durable_ratio = ratio_of(durable, strom("produce_1m_acksall_p1", rps))
    e2e_c = lambda q: strom("e2e_cluster_rf3", lambda r: r["e2e_latency_ms"][q])
    keyed_p1 = strom("produce_1m_keyed_p1", rps)
    keyed_p10k = strom("produce_1m_keyed_p10k", rps)
    keyed_ratio = ratio_of(keyed_p10k, keyed_p1)
    idle_10k = strom("p10k_idle", lambda r: r["rss_kb"] / 1024)
    peak_10k = strom("produce_1m_keyed_p10k", lambda r: r["broker_peak_rss_kb"] / 1024)
    restart = [r for r in rows if r.get("workload") == "restart_kill9"]
    restart = restart[-1] if restart else {}
    serve_s = restart.get("serve_s")
    acked, after = restart.get("acked"), restart.get("after")

    def at_most(v, limit):
        return None if v is None else v <= limit

    def at_least(v, limit):
        return None if v is None else v >= limit

    extra = [
        ("durable mode (write.caching=false), acks=all, 1M×100 B, 1 partition: records/s", durable, 0, "", None),
        ("… / the same with write caching", durable_ratio, 2, "≥ 0.70", at_least(durable_ratio, 0.70)),
        ("… broker CPU-s", strom("produce_1m_acksall_p1_durable", lambda r: r["broker_cpu_s"]), 3, "", None),
        ("3-node cluster, RF 3, min.insync 2, acks=all, e2e 10k/s linger.ms=1: p50 ms", e2e_c("p50"), 2, "", None),
        ("… p99 ms", e2e_c("p99"), 2, "≤ 10", at_most(e2e_c("p99"), 10)),
        ("… p99.9 ms", e2e_c("p999"), 2, "", None),
        ("… CPU-s of the three brokers", strom("e2e_cluster_rf3", lambda r: r["broker_cpu_s"]), 3, "", None),
        ("create a 10,000-partition topic: seconds", strom("p10k_idle", lambda r: r["create_s"]), 2, "", None),
        ("… broker RSS with 10,000 partitions, idle MB", idle_10k, 1, "≤ 1024", at_most(idle_10k, 1024)),
        ("keyed produce 1M×100 B, acks=1, 1 partition: records/s", keyed_p1, 0, "", None),
        ("keyed produce 1M×100 B, acks=1, 10,000 partitions: records/s", keyed_p10k, 0, "", None),
        ("… / 1 partition", keyed_ratio, 2, "≥ 0.50", at_least(keyed_ratio, 0.50)),
        ("… broker CPU-s", strom("produce_1m_keyed_p10k", lambda r: r["broker_cpu_s"]), 3, "", None),
        ("… broker peak RSS MB", peak_10k, 1, "≤ 1024", at_most(peak_10k, 1024)),
        ("restart after kill -9: GB of logs", None if "log_bytes" not in restart else restart["log_bytes"] / 1e9, 1,
         "", None),
        ("… seconds from exec until a new consumer has its first record", serve_s, 2, "≤ 5", at_most(serve_s, 5)),
        ("… acknowledged records before the kill", acked, 0, "", None),
        ("… of them missing after the restart", None if acked is None or after is None else max(acked - after, 0), 0,
         "0", None if acked is None or after is None else (acked > 0 and after >= acked)),
    ]
    if not suite_ran:
        extra = []
    else:
        print("\nStrom only (no Tansu or Kafka counterpart here), medians of the same runs:\n")
        print("| metric | Strom | target | met |")
        print("|---|---:|---|---|")
    for label, v, digits, target, ok in extra:
        met = "" if ok is None else ("yes" if ok else "**no**")
        print(f"| {label} | {fmt(v, digits)} | {target} | {met} |")

    # Per round: the medians hide how much one round can differ from the next on a noisy VM.
    per_round = [
        ("produce 1M×100 B acks=1, 1 p", "produce_1m_acks1_p1"),
        ("produce 1M×100 B acks=all, 1 p", "produce_1m_acksall_p1"),
        ("produce 1M×100 B acks=1, 8 p", "produce_1m_acks1_p8"),
        ("produce 1M×100 B acks=all, 8 p", "produce_1m_acksall_p8"),
        ("produce 200k×1 KiB", "produce_200k_1k"),
        ("consume 1M×100 B, 1 p", "consume_1m"),
        ("consume 1M×100 B, 8 p", "consume_1m_p8"),
    ]
    def rounds(workload, broker, cell):
        got = sorted(
            (r["rep"], r) for r in rows
            if r.get("workload") == workload and r.get("broker") == broker and not r.get("failed")
        )
        return " · ".join(cell(r) for _, r in got) or "—"

    mb_cpu = lambda r: f"{r['mb_per_sec']:.0f}, {r['broker_cpu_s']:.2f}"
    if not suite_ran:
        per_round = []
    else:
        print(f"\nPer round: MB/s and broker CPU-s, rounds 1…{runs}:\n")
        print("| workload | " + " | ".join(names[b] for b in brokers) + " |")
        print("|---|" + "---|" * len(brokers))
    for label, workload in per_round:
        print(f"| {label} | " + " | ".join(rounds(workload, b, mb_cpu) for b in brokers) + " |")

    # Kafka's JIT: every round starts a new JVM that runs the suite twice; the first pass includes the
    # compilation of the hot paths (C1, then C2), the second runs on compiled code.
    if suite_ran and any(r.get("broker") == "kafka-cold" for r in rows):
        e2e_cell = lambda r: f"{r['e2e_latency_ms']['p50']:.2f} / {r['e2e_latency_ms']['p99']:.2f}, {r['broker_cpu_s']:.2f}"
        jit = per_round + [("e2e 10k/s linger.ms=1: p50 / p99 ms, CPU-s", "e2e_linger1"),
                           ("e2e 10k/s linger.ms=0: p50 / p99 ms, CPU-s", "e2e_linger0")]
        print(f"\nKafka JIT warm-up, rounds 1…{runs} (a new JVM each round): first pass (JIT-cold) and second pass "
              "(warmed) in the same JVM; MB/s and broker CPU-s unless stated:\n")
        print("| workload | Kafka, first pass | Kafka, second pass | first/second: MB/s or p99, CPU-s (medians) |")
        print("|---|---|---|---:|")
        cpu = lambda r: r["broker_cpu_s"]

        def ratio(workload, get):
            c, _ = median(rows, workload, "kafka-cold", get)
            w, _ = median(rows, workload, "kafka", get)
            return f"{c / w:.2f}" if c is not None and w else "—"
        for label, workload in jit:
            cell = e2e_cell if workload.startswith("e2e") else mb_cpu
            speed = (lambda r: r["e2e_latency_ms"]["p99"]) if workload.startswith("e2e") else (lambda r: r["mb_per_sec"])
            print(f"| {label} | {rounds(workload, 'kafka-cold', cell)} | {rounds(workload, 'kafka', cell)} | "
                  f"{ratio(workload, speed)}, {ratio(workload, cpu)} |")

    transactions(rows, brokers, names)

    def show(key, unit):
        v = machine.get(key)
        return "not measured" if v is None else f"{v:,} {unit}"

    if all(machine.get(k) is None for k in ("dd_write_mb_s", "dd_fdatasync_mb_s", "loopback_mb_s", "crc32c_mb_s")):
        return
    print("\nMachine limits, measured in the same run:\n")
    print(f"- cores: {machine.get('cores')}, kernel {machine.get('kernel')}")
    print(f"- sequential write, 512 MiB `dd` (page cache), first run: {show('dd_write_first_mb_s', 'MB/s')}, "
          f"best of two: {show('dd_write_mb_s', 'MB/s')}")
    print(f"- guest free page reporting: {machine.get('page_reporting', 'not recorded')}")
    print(f"- sequential write, 512 MiB `dd conv=fdatasync`: {show('dd_fdatasync_mb_s', 'MB/s')}")
    print(f"- loopback TCP, `iperf3` 3 s: {show('loopback_mb_s', 'MB/s')}")
    print(f"- CRC32C + batch header walk, 1 MB batch (criterion): {show('crc32c_mb_s', 'MB/s')}")

    s, _ = median(rows, "produce_200k_1k", "strom", lambda r: r["mb_per_sec"] * 1.048576)
    c, _ = median(rows, "consume_200k_1k", "strom", lambda r: r["mb_per_sec"] * 1.048576)
    # Produced bytes cross loopback and are written to the page cache; consumed bytes are read from the page
    # cache (not measured here) and cross loopback.
    for name, v, limits in (
        ("produce 200k×1 KiB", s, (("loopback_mb_s", "loopback TCP"), ("dd_write_mb_s", "page-cache write"))),
        ("consume 200k×1 KiB", c, (("loopback_mb_s", "loopback TCP"),)),
    ):
        parts = []
        for key, label in limits:
            if v is not None and machine.get(key):
                parts.append(f"{100 * v / machine[key]:.0f}% of {label}")
        if parts:
            print(f"- Strom {name}: {', '.join(parts)}")


def transactions(rows, brokers, names):
    """Issue 22's targets: the transactional producer against the idempotent one and read_committed against
    read_uncommitted, as ratios taken within each round (both sides ran back to back on the same broker), then
    the median over the rounds; absolute figures are medians too. Broker CPU per 1M records."""
    brokers = [b for b in brokers if b != "tansu"]
    if not any(r.get("workload") == "produce_1m_txn_p1" for r in rows):
        return

    def by_rep(workload, broker, get):
        out = {}
        for r in rows:
            if r.get("workload") == workload and r.get("broker") == broker and not r.get("failed"):
                try:
                    out[r["rep"]] = get(r)
                except (KeyError, TypeError, ZeroDivisionError):
                    pass
        return out

    def med(d):
        return statistics.median(d.values()) if d else None

    def ratio(num, den, broker, get):
        a, b = by_rep(num, broker, get), by_rep(den, broker, get)
        return med({k: a[k] / b[k] for k in a if k in b and b[k]})

    rps = lambda r: r["records_per_sec"]
    cpu_per_1m = lambda r: r["broker_cpu_s"] / (r["records"] / 1e6)
    # label, value(broker), digits, target, check(Strom's value)
    table = [
        ("idempotent produce 1M×100 B, acks=all, 1 partition: records/s",
         lambda b: med(by_rep("produce_1m_idem_p1", b, rps)), 0, "", None),
        ("transactional produce, 1,000 records per transaction: records/s",
         lambda b: med(by_rep("produce_1m_txn_p1", b, rps)), 0, "", None),
        ("… transactional / idempotent (per round)",
         lambda b: ratio("produce_1m_txn_p1", "produce_1m_idem_p1", b, rps), 2, "≥ 0.80", lambda v: v >= 0.80),
        ("… commit_transaction p50 ms (after the flush)",
         lambda b: med(by_rep("produce_1m_txn_p1", b, lambda r: r["commit_ms"]["p50"])), 2, "", None),
        ("broker CPU-s per 1M records, idempotent",
         lambda b: med(by_rep("produce_1m_idem_p1", b, cpu_per_1m)), 3, "", None),
        ("broker CPU-s per 1M records, transactional",
         lambda b: med(by_rep("produce_1m_txn_p1", b, cpu_per_1m)), 3, "", None),
        ("… transactional / idempotent (per round)",
         lambda b: ratio("produce_1m_txn_p1", "produce_1m_idem_p1", b, cpu_per_1m), 2, "≤ 1.5", lambda v: v <= 1.5),
        ("consume that topic, read_uncommitted: records/s",
         lambda b: med(by_rep("consume_1m_txn_uncommitted", b, rps)), 0, "", None),
        ("consume that topic, read_committed: records/s",
         lambda b: med(by_rep("consume_1m_txn_committed", b, rps)), 0, "", None),
        ("… read_committed / read_uncommitted (per round)",
         lambda b: ratio("consume_1m_txn_committed", "consume_1m_txn_uncommitted", b, rps), 2, "≥ 0.90",
         lambda v: v >= 0.90),
        ("broker CPU-s per 1M records, read_uncommitted",
         lambda b: med(by_rep("consume_1m_txn_uncommitted", b, cpu_per_1m)), 3, "", None),
        ("broker CPU-s per 1M records, read_committed",
         lambda b: med(by_rep("consume_1m_txn_committed", b, cpu_per_1m)), 3, "", None),
    ]
    others = [b for b in brokers if b != "strom"]
    print("\nTransactions (issue 22), medians over the rounds; ratios within each round, then their median:\n")
    print("| metric | " + " | ".join(names[b] for b in brokers) + " | "
          + " | ".join(f"Strom/{names[b]}" for b in others) + " | target | met |")
    print("|---|" + "---:|" * (len(brokers) + len(others)) + "---|---|")
    for label, get, digits, target, check in table:
        vals = {b: get(b) for b in brokers}
        s = vals.get("strom")
        ratios = [f"{s / vals[b]:.2f}" if s is not None and vals[b] else "—" for b in others]
        met = "" if check is None or s is None else ("yes" if check(s) else "**no**")
        print(f"| {label} | " + " | ".join(fmt(vals[b], digits) for b in brokers) + " | " + " | ".join(ratios)
              + f" | {target} | {met} |")


if __name__ == "__main__":
    main()
