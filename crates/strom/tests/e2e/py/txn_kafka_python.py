"""kafka-python's transactional producer against a broker (issue 22), run by txn_exactly_once.rs.

Usage: python3 txn_kafka_python.py BOOTSTRAP

Checks, each printed as PASS/FAIL: commit and abort; a read_committed consumer sees exactly the committed
records in order and read_uncommitted sees all of them; end offsets (KafkaConsumer.end_offsets) and admin
ListOffsets under both isolation levels, with and without an open transaction; zombie fencing; and
consume-transform-produce with send_offsets_to_transaction (one batch aborted and redone). Prints
"COMMITTED-VALUES v,v,..." (topic py-txn, partition 0, in order) for the caller to read back with another client,
and last "txn_kafka_python: N passed, N failed, 0 skipped"; exits non-zero if any check failed.
"""

import sys
import traceback

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic, OffsetSpec
from kafka.errors import KafkaError
from kafka.protocol.consumer.offsets import IsolationLevel
from kafka.structs import OffsetAndMetadata

BOOTSTRAP = sys.argv[1]
results = {"passed": 0, "failed": 0}


def check(name, ok, detail=""):
    if ok:
        results["passed"] += 1
        print("PASS", name, flush=True)
    else:
        results["failed"] += 1
        print("FAIL", name, detail, flush=True)


def producer(txn_id):
    p = KafkaProducer(bootstrap_servers=BOOTSTRAP, transactional_id=txn_id, linger_ms=5,
                      transaction_timeout_ms=60000)
    p.init_transactions()
    return p


def read(topic, partitions, isolation, expected):
    """Values of every record of `topic` from the beginning, per partition in offset order."""
    c = KafkaConsumer(bootstrap_servers=BOOTSTRAP, isolation_level=isolation, enable_auto_commit=False,
                      consumer_timeout_ms=3000)
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    c.assign(tps)
    c.seek_to_beginning()
    got = []
    for m in c:
        got.append((m.partition, m.key.decode() if m.key else None, m.value.decode()))
    c.close()
    if len(got) < expected:
        print("read", topic, isolation, "got", len(got), "of", expected, flush=True)
    return got


def end_offsets(topic, partitions, isolation):
    c = KafkaConsumer(bootstrap_servers=BOOTSTRAP, isolation_level=isolation)
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    ends = c.end_offsets(tps)
    c.close()
    return [ends[tp] for tp in tps]


def admin_latest(admin, topic, partitions, isolation):
    specs = {TopicPartition(topic, p): OffsetSpec.LATEST for p in range(partitions)}
    got = admin.list_partition_offsets(specs, isolation_level=isolation)
    return [got[TopicPartition(topic, p)].offset for p in range(partitions)]


def commit_and_abort(admin):
    topic = "py-txn"
    p = producer("py-txn-1")
    committed, sent = [], []
    for rnd, commit in [(0, True), (1, False), (2, True), (3, False), (4, True)]:
        p.begin_transaction()
        for i in range(8):
            v = "r%d-%d" % (rnd, i)
            p.send(topic, key=b"k", value=v.encode(), partition=0)
            sent.append(v)
            if commit:
                committed.append(v)
        if commit:
            p.commit_transaction()
        else:
            p.flush()
            p.abort_transaction()
    print("COMMITTED-VALUES " + ",".join(committed), flush=True)
    rc = [v for (_, _, v) in read(topic, 1, "read_committed", len(committed))]
    check("read_committed sees exactly the committed records in order", rc == committed, rc)
    ru = [v for (_, _, v) in read(topic, 1, "read_uncommitted", len(sent))]
    check("read_uncommitted sees every record in order", ru == sent, ru)

    lso = end_offsets(topic, 1, "read_committed")
    hw = end_offsets(topic, 1, "read_uncommitted")
    check("no open transaction: end_offsets read_committed == read_uncommitted", lso == hw, (lso, hw))
    # 40 records and 5 control markers (3 COMMIT, 2 ABORT).
    check("the high watermark counts records and markers", hw == [len(sent) + 5], hw)

    # An open transaction holds the LSO (read_committed end offset) at its first record.
    p.begin_transaction()
    for i in range(3):
        p.send(topic, key=b"k", value=b"open-%d" % i, partition=0)
    p.flush()
    lso_open = end_offsets(topic, 1, "read_committed")
    hw_open = end_offsets(topic, 1, "read_uncommitted")
    check("open transaction: end_offsets read_committed is the LSO", lso_open == hw and hw_open == [hw[0] + 3],
          (lso_open, hw_open))
    a_rc = admin_latest(admin, topic, 1, IsolationLevel.READ_COMMITTED)
    a_ru = admin_latest(admin, topic, 1, IsolationLevel.READ_UNCOMMITTED)
    check("open transaction: admin ListOffsets latest under both isolation levels", a_rc == lso_open and a_ru == hw_open,
          (a_rc, a_ru))
    rc_open = [v for (_, _, v) in read(topic, 1, "read_committed", len(committed))]
    check("open transaction: read_committed still sees only the committed records", rc_open == committed, rc_open)
    p.abort_transaction()
    lso_end = end_offsets(topic, 1, "read_committed")
    hw_end = end_offsets(topic, 1, "read_uncommitted")
    check("after the abort: LSO == high watermark, past the ABORT marker", lso_end == hw_end == [hw_open[0] + 1],
          (lso_end, hw_end))
    check("after the abort: admin ListOffsets read_committed == read_uncommitted",
          admin_latest(admin, topic, 1, IsolationLevel.READ_COMMITTED)
          == admin_latest(admin, topic, 1, IsolationLevel.READ_UNCOMMITTED) == hw_end)
    p.close()


def zombie_fencing():
    topic = "py-zombie"
    zombie = producer("py-zombie")
    zombie.begin_transaction()
    for i in range(5):
        zombie.send(topic, value=b"zombie-before-%d" % i, partition=0)
    zombie.flush()
    fresh = producer("py-zombie")  # bumps the epoch, aborts the zombie's open transaction
    fresh.begin_transaction()
    for i in range(5):
        fresh.send(topic, value=b"fresh-%d" % i, partition=0)
    fresh.commit_transaction()
    fenced = None
    try:
        for i in range(5):
            zombie.send(topic, value=b"zombie-after-%d" % i, partition=0)
        zombie.flush()
        zombie.commit_transaction()
    except KafkaError as e:
        fenced = e
    # kafka-python answers the broker's INVALID_PRODUCER_EPOCH on the zombie's produce with an epoch bump and then
    # refuses the commit (IllegalState "BUMPING_PRODUCER_EPOCH to COMMITTING_TRANSACTION"), against Apache Kafka
    # 4.4 as against Strom: what matters is that the commit fails and nothing of the zombie becomes visible.
    check("the zombie's commit fails", fenced is not None, repr(fenced))
    rc = [v for (_, _, v) in read(topic, 1, "read_committed", 5)]
    check("none of the zombie's writes are visible", rc == ["fresh-%d" % i for i in range(5)], rc)
    fresh.close()
    try:
        zombie.close(timeout=5)
    except KafkaError:
        pass


def consume_transform_produce():
    src, dst, group, n = "py-ctp-in", "py-ctp-out", "py-ctp", 60
    plain = KafkaProducer(bootstrap_servers=BOOTSTRAP, enable_idempotence=True)
    for i in range(n):
        plain.send(src, key=b"k%d" % i, value=b"%d" % i)
    plain.flush()
    plain.close()
    consumer = KafkaConsumer(src, bootstrap_servers=BOOTSTRAP, group_id=group, isolation_level="read_committed",
                             enable_auto_commit=False, auto_offset_reset="earliest")
    p = producer("py-ctp-app")
    done, batches, aborted = 0, 0, False
    for _ in range(200):
        if done >= n:
            break
        polled = consumer.poll(timeout_ms=500, max_records=10)
        records = [m for ms in polled.values() for m in ms]
        if not records:
            continue
        p.begin_transaction()
        offsets = {}
        for m in records:
            p.send(dst, key=b"%d@%d" % (m.partition, m.offset), value=b"%d" % (int(m.value) * 2))
            offsets[TopicPartition(m.topic, m.partition)] = OffsetAndMetadata(m.offset + 1, "", -1)
        p.send_offsets_to_transaction(offsets, consumer.group_metadata())
        if batches == 2 and not aborted:
            # Abort one batch (its records in the log first): neither its output nor its offsets count; rewind
            # to the committed offsets.
            p.flush()
            p.abort_transaction()
            aborted = True
            for tp in offsets:
                committed = consumer.committed(tp)
                consumer.seek(tp, committed if committed is not None else 0)
            continue
        p.commit_transaction()
        batches += 1
        done += len(records)
    check("consume-transform-produce consumed the input", done == n, done)
    out = read(dst, 2, "read_committed", n)
    keys = sorted(k for (_, k, _) in out)
    check("each input's result exactly once", len(out) == n and len(set(keys)) == n, (len(out), len(set(keys))))
    check("results are the transformed values", all(int(v) % 2 == 0 for (_, _, v) in out))
    partitions = consumer.partitions_for_topic(src)
    tps = [TopicPartition(src, q) for q in sorted(partitions)]
    ends = consumer.end_offsets(tps)
    committed = {tp: consumer.committed(tp) for tp in tps}
    check("the group's committed offsets are the input's end offsets", committed == ends, (committed, ends))
    all_out = read(dst, 2, "read_uncommitted", n)
    check("the aborted batch's records are in the log for read_uncommitted", len(all_out) > n, len(all_out))
    consumer.close()
    p.close()


def main():
    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    admin.create_topics([NewTopic("py-txn", 1, 1), NewTopic("py-zombie", 1, 1), NewTopic("py-ctp-in", 2, 1),
                         NewTopic("py-ctp-out", 2, 1)])
    for step in (commit_and_abort, zombie_fencing, consume_transform_produce):
        try:
            step(admin) if step is commit_and_abort else step()
        except Exception:  # a step that raises counts as a failed check, and the others still run
            traceback.print_exc()
            check(step.__name__ + " ran without an exception", False)
    admin.close()
    print("txn_kafka_python: %d passed, %d failed, 0 skipped" % (results["passed"], results["failed"]), flush=True)
    sys.exit(1 if results["failed"] else 0)


if __name__ == "__main__":
    main()
