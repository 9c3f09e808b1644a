#!/usr/bin/env python3
"""compat/differential/differential.py KAFKA_PORT STROM_PORT EXPECTED OUTDIR
   compat/differential/differential.py --compare EXPECTED OUTDIR   (re-check a kept run against EXPECTED)

Runs one scripted sequence of admin and data requests (STEPS below) against Apache Kafka and against Strom, both
on 127.0.0.1, and compares the responses: error codes and every visible result, after normalising what differs
by nature (cluster and topic ids, member ids, hosts and ports, broker-assigned times, throttle times, error
messages). Requests are encoded with kafka-python 3.0.12's protocol classes (Kafka's JSON message schemas) at one
version per API: the highest that kafka-python, Kafka and Strom all support, so both brokers get the same bytes.

Every difference is a line "STEP/PATH: kafka=... strom=...". EXPECTED lists the known ones: lines
"PATTERN  reason" (a pattern over "STEP/PATH" in which only * is special and matches anything, two or more
spaces, then the reason; the first matching line wins). The run fails on any
difference no pattern covers; patterns that match nothing are reported (remove them). Writes kafka.json,
strom.json (normalised responses per step), raw-kafka.json / raw-strom.json (before normalisation, with error
messages) and differences.txt into OUTDIR. Last line: "differential: N steps, N same, N different (expected),
N unexpected".
"""

import base64
import json
import os
import re
import socket
import struct
import sys
import time
import uuid

from kafka.errors import for_code
from kafka.protocol import admin as A
from kafka.protocol import consumer as C
from kafka.protocol import metadata as M
from kafka.protocol import producer as P
from kafka.protocol.api_key import ApiKey
from kafka.record.default_records import DefaultRecordBatchBuilder
from kafka.record.memory_records import MemoryRecords
from kafka.record.util import calc_crc32c

REQUESTS = {}
for mod in (A, C, M, P):
    for name in dir(mod):
        if name.endswith("Request"):
            REQUESTS[name[: -len("Request")]] = (getattr(mod, name), getattr(mod, name[: -len("Request")] + "Response"))

ZERO_UUID = "AAAAAAAAAAAAAAAAAAAAAA"


def error_name(code):
    if not isinstance(code, int) or code == 0:
        return code
    cls = for_code(code)
    name = re.sub(r"Error$", "", cls.__name__)
    name = re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper()
    return f"{name}({code})"


def build(cls, fields, version):
    """A request (or nested struct) from plain dicts and lists."""
    kw = {}
    for key, val in fields.items():
        field = cls._struct.fields[key]
        if field.is_struct_array() and val is not None:
            val = [build(field.data_class, v, version) for v in val]
        elif field.is_struct() and val is not None:
            val = build(field.data_class, val, version)
        kw[key] = val
    return cls(version=version, **kw)


class Broker:
    def __init__(self, name, port):
        self.name = name
        self.port = port
        self.corr = 0
        self.sock = None
        self.connect()
        self.versions = {}
        resp = self.call_at("ApiVersions", 3, client_software_name="strom-differential", client_software_version="1")
        self.versions = {a["api_key"]: (a["min_version"], a["max_version"]) for a in resp["api_keys"]}

    def connect(self):
        if self.sock is not None:
            self.sock.close()
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)

    def recv(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError(f"{self.name} closed the connection")
            buf += chunk
        return buf

    def call_at(self, api, version, raw=False, **fields):
        req_cls, resp_cls = REQUESTS[api]
        req = build(req_cls, fields, version)
        self.corr += 1
        req.with_header(correlation_id=self.corr, client_id="strom-differential")
        self.sock.sendall(req.encode(version=version, header=True, framed=True))
        if not req.expect_response():
            return None
        size = struct.unpack(">i", self.recv(4))[0]
        resp = resp_cls.decode(self.recv(size), version=version, header=True)
        return resp if raw else resp.to_dict(json=False)


# ------------------------------------------------------------------------------------------------ normalisation

def decode_records(data, t0):
    if data is None:
        return None
    out = []
    recs = MemoryRecords(bytes(data))
    while True:
        batch = recs.next_batch()
        if batch is None:
            break
        b = {
            "base_offset": batch.base_offset,
            "last_offset_delta": getattr(batch, "last_offset_delta", None),
            "magic": batch.magic,
            "compression": batch.compression_type,
            "timestamp_type": batch.timestamp_type,
            "transactional": getattr(batch, "is_transactional", None),
            "control": getattr(batch, "is_control_batch", None),
            "producer_id": getattr(batch, "producer_id", None),
            "producer_epoch": getattr(batch, "producer_epoch", None),
            "base_sequence": getattr(batch, "base_sequence", None),
            "records_count": getattr(batch, "records_count", None),
            "records": [],
        }
        for r in batch:
            b["records"].append({
                "offset": r.offset,
                # a control record's (marker's) timestamp is the broker's clock when the coordinator wrote it
                "timestamp": "<broker-time>" if b["control"] else rel_time(r.timestamp, t0),
                "key": None if r.key is None else bytes(r.key).decode("latin-1"),
                "value": None if r.value is None else bytes(r.value).decode("latin-1"),
                "headers": [[k, None if v is None else bytes(v).decode("latin-1")] for k, v in r.headers],
            })
        out.append(b)
    return out


def rel_time(ts, t0):
    """Record timestamps the script set are kept relative to its base time; broker-assigned times are masked."""
    if not isinstance(ts, int) or ts < 0:
        return ts
    if abs(ts - t0) < 100 * 86_400_000:
        return f"T{ts - t0:+d}"
    return "<time>"


class Normaliser:
    def __init__(self, t0):
        self.t0 = t0
        self.members = {}
        self.producer_ids = {}  # broker-assigned producer id -> a name stable across brokers

    def member(self, mid):
        if not mid:
            return mid
        if mid not in self.members:
            self.members[mid] = f"<member-{len(self.members) + 1}>"
        return self.members[mid]

    def __call__(self, obj, key=None):
        if isinstance(obj, dict):
            out = {}
            for k, v in obj.items():
                if k in ("throttle_time_ms", "tags", "unknown_tags") or k.endswith("error_message"):
                    continue
                if k in ("cluster_id",) and v is not None:
                    out[k] = "<cluster-id>"
                elif k == "topic_id":
                    s = uuid_str(v)
                    out[k] = None if s is None else ("<zero-uuid>" if s == ZERO_UUID else "<topic-id>")
                elif k == "host":
                    out[k] = "<host>"
                elif k == "port":
                    out[k] = "<port>"
                elif k in ("member_id", "leader") and isinstance(v, str):
                    out[k] = self.member(v)
                elif k == "client_host":
                    out[k] = "<client-host>"
                elif k == "producer_id" and v in self.producer_ids and not obj.get("error_code"):
                    out[k] = self.producer_ids[v]
                elif k == "transaction_start_time_ms":
                    out[k] = "<time>" if v != -1 else v
                elif k == "records" and isinstance(v, (bytes, bytearray, memoryview)):
                    out[k] = decode_records(v, self.t0)
                    for b in out[k] or []:
                        b["producer_id"] = self.producer_ids.get(b["producer_id"], b["producer_id"])
                elif k in ("timestamp", "log_append_time_ms", "max_timestamp"):
                    out[k] = rel_time(v, self.t0)
                elif k == "value" and isinstance(v, str) and v.startswith("/"):
                    out[k] = "<path>"  # log.dirs
                elif k.endswith("error_code"):
                    out[k] = error_name(v)
                else:
                    out[k] = self(v, k)
            return out
        if isinstance(obj, list):
            return [self(v, key) for v in obj]
        if isinstance(obj, (bytes, bytearray, memoryview)):
            return "b64:" + base64.b64encode(bytes(obj)).decode()
        if isinstance(obj, uuid.UUID):
            return str(obj)
        return obj


def uuid_str(v):
    if v is None:
        return None
    if isinstance(v, uuid.UUID):
        return base64.urlsafe_b64encode(v.bytes).decode().rstrip("=")
    if isinstance(v, (bytes, bytearray)):
        return base64.urlsafe_b64encode(bytes(v)).decode().rstrip("=")
    return str(v)


def jsonable(obj):
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return "b64:" + base64.b64encode(bytes(obj)).decode()
    if isinstance(obj, uuid.UUID):
        return str(obj)
    return obj


# ------------------------------------------------------------------------------------------------ records

def batch(records, t0, producer=(-1, -1, -1), compression=0, transactional=False):
    """One v2 record batch: records are (key, value, timestamp offset from t0[, headers])."""
    b = DefaultRecordBatchBuilder(magic=2, compression_type=compression, is_transactional=transactional,
                                  producer_id=producer[0], producer_epoch=producer[1], base_sequence=producer[2],
                                  batch_size=1 << 20)
    for i, rec in enumerate(records):
        key, value, dt = rec[:3]
        headers = rec[3] if len(rec) > 3 else []
        b.append(i, timestamp=t0 + dt, key=key, value=value, headers=headers)
    return bytes(b.build())


# ------------------------------------------------------------------------------------------------ the sequence

class Run:
    """The sequence against one broker; versions is the common version per API name."""

    def __init__(self, broker, versions, t0):
        self.b = broker
        self.versions = versions
        self.t0 = t0
        self.results = {}
        self.raw = {}
        self.norm = Normaliser(t0)
        self.topic_ids = {}
        self.created = set()

    def v(self, api):
        return self.versions[api]

    def call(self, api, version=None, **fields):
        return self.b.call_at(api, self.v(api) if version is None else version, **fields)

    def record(self, step, value):
        self.raw[step] = jsonable(value)
        self.results[step] = self.norm(value)

    # -- helpers
    def create(self, name, partitions=1, rf=1, configs=None, validate_only=False, assignments=None):
        resp = self.call("CreateTopics", topics=[dict(
            name=name, num_partitions=partitions, replication_factor=rf, assignments=assignments or [],
            configs=[dict(name=k, value=v) for k, v in (configs or {}).items()])],
            timeout_ms=10000, validate_only=validate_only)
        if not validate_only:
            self.created.update(t["name"] for t in resp["topics"] if t["error_code"] == 0)
        return resp

    def metadata(self, topics, auto_create=False):
        return self.call("Metadata", topics=None if topics is None else [dict(name=t) for t in topics],
                         allow_auto_topic_creation=auto_create, include_topic_authorized_operations=False)

    def wait_topic(self, name, partitions=None):
        """Until Metadata shows the topic with a leader on every partition and the leader serves ListOffsets for
        each (creation is asynchronous in both; Kafka's Metadata can name a leader a moment before that leader
        has created its replica and answers NOT_LEADER_OR_FOLLOWER)."""
        for _ in range(150):
            md = self.metadata([name])
            t = md["topics"][0]
            if t["error_code"] == 0 and t["partitions"] and all(p["error_code"] == 0 and p["leader_id"] >= 0
                                                                for p in t["partitions"]):
                if partitions is None or len(t["partitions"]) == partitions:
                    lo = self.call("ListOffsets", replica_id=-1, isolation_level=0, topics=[dict(
                        name=name, partitions=[dict(partition_index=p["partition_index"], current_leader_epoch=-1,
                                                    timestamp=-1) for p in t["partitions"]])], timeout_ms=10000)
                    if all(p["error_code"] == 0 for p in lo["topics"][0]["partitions"]):
                        self.topic_ids[name] = t["topic_id"]
                        return md
            time.sleep(0.1)
        raise RuntimeError(f"{self.b.name}: topic {name} not ready")

    def wait_gone(self, name):
        for _ in range(100):
            if self.metadata([name])["topics"][0]["error_code"] != 0:
                return
            time.sleep(0.1)

    def produce(self, topic, records_bytes, partition=0, acks=-1):
        return self.call("Produce", transactional_id=None, acks=acks, timeout_ms=10000, topic_data=[dict(
            name=topic, partition_data=[dict(index=partition, records=records_bytes)])])

    def fetch(self, topic, offset, partition=0, max_bytes=1 << 20, isolation=0, topic_id=None, max_wait=0):
        tid = topic_id if topic_id is not None else self.topic_ids.get(topic, uuid.UUID(int=0))
        return self.call("Fetch", replica_id=-1, max_wait_ms=max_wait, min_bytes=1, max_bytes=50 << 20,
                         isolation_level=isolation, session_id=0, session_epoch=-1, topics=[dict(
                             topic=topic, topic_id=tid, partitions=[dict(
                                 partition=partition, current_leader_epoch=-1, fetch_offset=offset,
                                 last_fetched_epoch=-1, log_start_offset=-1, partition_max_bytes=max_bytes)])],
                         forgotten_topics_data=[], rack_id="")

    def list_offsets(self, topic, ts, partition=0, isolation=0, version=None):
        return self.call("ListOffsets", version=version, replica_id=-1, isolation_level=isolation, topics=[dict(
            name=topic, partitions=[dict(partition_index=partition, current_leader_epoch=-1, timestamp=ts)])],
            timeout_ms=10000)

    def describe_configs(self, rtype, name, keys=None, synonyms=False):
        return self.call("DescribeConfigs", resources=[dict(resource_type=rtype, resource_name=name,
                                                            configuration_keys=keys)],
                         include_synonyms=synonyms, include_documentation=False)

    def incremental(self, rtype, name, ops, validate_only=False):
        return self.call("IncrementalAlterConfigs", resources=[dict(
            resource_type=rtype, resource_name=name,
            configs=[dict(name=k, config_operation=op, value=v) for k, op, v in ops])], validate_only=validate_only)

    def topic_configs(self, name, keys, want):
        """Only the named keys' (value, source) of a topic: the visible result of an alter. Kafka's broker answers
        DescribeConfigs from its copy of the metadata, which follows the controller's commit by a few
        milliseconds, so this polls (up to 5 s) until the values are the ones Kafka's documentation leads one to
        expect (want), and records what it then sees."""
        for _ in range(50):
            resp = self.describe_configs(2, name, keys)
            res = resp["results"][0]
            got = {c["name"]: {"value": c["value"], "source": c["config_source"]} for c in res["configs"]}
            if all(got.get(k, {}).get("value") == v for k, v in want.items()):
                break
            time.sleep(0.1)
        return {"error_code": res["error_code"], "configs": got}


TOPIC, BROKER = 2, 4
SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3


def subscription(topics):
    return C.ConsumerProtocolSubscription(version=0, topics=topics, user_data=None).encode(version=0, header=True)


def assignment(parts):
    return C.ConsumerProtocolAssignment(version=0, assigned_partitions=[
        C.ConsumerProtocolAssignment.TopicPartition(version=0, topic=t, partitions=p) for t, p in parts],
        user_data=None).encode(version=0, header=True)


def sequence(r):
    """The scripted sequence. Every r.record(step, response) is compared between the brokers."""
    t0 = r.t0
    # ---- topics
    r.record("create.ok", r.create("diff-t1", 3))
    r.wait_topic("diff-t1", 3)
    r.record("create.exists", r.create("diff-t1", 3))
    for label, name in [("space", "a b"), ("empty", ""), ("dot", "."), ("dotdot", ".."), ("slash", "bad/name"),
                        ("long", "x" * 250), ("max_len", "y" * 249)]:
        r.record(f"create.name.{label}", r.create(name, 1))
    r.record("create.collision.first", r.create("diff.coll", 1))
    r.wait_topic("diff.coll")
    r.record("create.collision.second", r.create("diff_coll", 1))
    r.record("create.partitions.zero", r.create("diff-p0", 0))
    r.record("create.partitions.negative", r.create("diff-pneg", -5))
    r.record("create.partitions.default", r.create("diff-pdef", -1, -1))
    r.record("create.rf.zero", r.create("diff-rf0", 1, 0))
    r.record("create.rf.too_many", r.create("diff-rf3", 1, 3))
    r.record("create.rf.negative", r.create("diff-rfneg", 1, -2))
    r.record("create.assignment.ok", r.create("diff-asg", -1, -1, assignments=[
        dict(partition_index=0, broker_ids=[1]), dict(partition_index=1, broker_ids=[1])]))
    r.record("create.assignment.unknown_broker", r.create("diff-asg7", -1, -1, assignments=[
        dict(partition_index=0, broker_ids=[7])]))
    r.record("create.assignment.with_count", r.create("diff-asgc", 2, -1, assignments=[
        dict(partition_index=0, broker_ids=[1])]))
    r.record("create.assignment.gap", r.create("diff-asggap", -1, -1, assignments=[
        dict(partition_index=0, broker_ids=[1]), dict(partition_index=2, broker_ids=[1])]))
    for label, cfg in [("cleanup_policy", {"cleanup.policy": "foo"}), ("unknown_key", {"foo.bar": "1"}),
                       ("retention_ms_text", {"retention.ms": "abc"}), ("segment_bytes_small", {"segment.bytes": "10"}),
                       ("min_insync_zero", {"min.insync.replicas": "0"}),
                       ("timestamp_type", {"message.timestamp.type": "Foo"})]:
        r.record(f"create.config.{label}", r.create(f"diff-cfg-{label.replace('_', '-')}", 1, configs=cfg))
    for codec in ("gzip", "snappy", "lz4", "zstd", "uncompressed", "producer"):
        r.record(f"create.config.compression_{codec}", r.create(f"diff-comp-{codec}", 1,
                                                               configs={"compression.type": codec}))
    r.record("create.config.ok", r.create("diff-cfg-ok", 1, configs={
        "cleanup.policy": "compact,delete", "retention.ms": "3600000", "max.message.bytes": "2000"}))
    r.record("create.validate_only", r.create("diff-vo", 2, validate_only=True))
    r.record("create.validate_only.metadata", r.metadata(["diff-vo"]))
    r.record("create.duplicate_in_request", r.call("CreateTopics", topics=[
        dict(name="diff-dup", num_partitions=1, replication_factor=1, assignments=[], configs=[]),
        dict(name="diff-dup", num_partitions=1, replication_factor=1, assignments=[], configs=[])],
        timeout_ms=10000, validate_only=False))

    # ---- metadata
    r.record("metadata.topic", r.wait_topic("diff-t1", 3))
    r.record("metadata.unknown", r.metadata(["diff-nope"]))
    r.record("metadata.invalid_name.auto_create", r.metadata(["bad name"], auto_create=True))
    r.record("metadata.no_topics", r.metadata([]))
    for name in sorted(r.created):  # Metadata of all topics: only once every created topic is visible
        r.wait_topic(name)
    all_md = r.metadata(None)
    all_md["topics"] = sorted((t for t in all_md["topics"] if t["name"].startswith("diff")), key=lambda t: t["name"])
    r.record("metadata.all_diff_topics", all_md)
    first = r.metadata(["diff-auto"], auto_create=True)
    r.record("metadata.auto_create.first.error", {"error_code": first["topics"][0]["error_code"]})
    r.record("metadata.auto_create.later", r.wait_topic("diff-auto"))
    r.wait_topic("diff-pdef")
    r.record("metadata.default_partitions", r.metadata(["diff-pdef", "diff-asg"]))

    # ---- create partitions
    r.record("partitions.increase", r.call("CreatePartitions", topics=[dict(name="diff-t1", count=4, assignments=None)],
                                           timeout_ms=10000, validate_only=False))
    r.record("partitions.decrease", r.call("CreatePartitions", topics=[dict(name="diff-t1", count=2, assignments=None)],
                                           timeout_ms=10000, validate_only=False))
    r.record("partitions.same", r.call("CreatePartitions", topics=[dict(name="diff-t1", count=4, assignments=None)],
                                       timeout_ms=10000, validate_only=False))
    r.record("partitions.unknown_topic", r.call("CreatePartitions", topics=[
        dict(name="diff-nope", count=4, assignments=None)], timeout_ms=10000, validate_only=False))
    r.wait_topic("diff-t1", 4)

    # ---- configs
    r.record("configs.describe.topic_all", r.describe_configs(TOPIC, "diff-t1", None, synonyms=True))
    r.record("configs.describe.topic_keys", r.describe_configs(TOPIC, "diff-t1",
                                                               ["cleanup.policy", "retention.ms", "no.such.key"]))
    r.record("configs.describe.topic_empty_keys", r.describe_configs(TOPIC, "diff-t1", []))
    r.record("configs.describe.topic_created_with", r.describe_configs(TOPIC, "diff-cfg-ok", [
        "cleanup.policy", "retention.ms", "max.message.bytes", "segment.bytes"], synonyms=True))
    r.record("configs.describe.unknown_topic", r.describe_configs(TOPIC, "diff-nope", None))
    r.record("configs.describe.broker_keys", r.describe_configs(BROKER, "1", [
        "num.partitions", "log.retention.hours", "message.max.bytes", "auto.create.topics.enable",
        "group.initial.rebalance.delay.ms", "log.dirs", "compression.type"], synonyms=True))
    r.record("configs.describe.other_broker", r.describe_configs(BROKER, "99", ["num.partitions"]))
    r.record("configs.describe.broker_bad_name", r.describe_configs(BROKER, "abc", ["num.partitions"]))
    r.record("configs.alter.legacy", r.call("AlterConfigs", resources=[dict(
        resource_type=TOPIC, resource_name="diff-t1",
        configs=[dict(name="retention.ms", value="1000"), dict(name="cleanup.policy", value="compact")])],
        validate_only=False))
    keys = ["cleanup.policy", "retention.ms", "segment.bytes"]
    r.record("configs.alter.legacy.after", r.topic_configs("diff-t1", keys, {"retention.ms": "1000", "cleanup.policy": "compact"}))
    r.record("configs.alter.legacy.replaces", r.call("AlterConfigs", resources=[dict(
        resource_type=TOPIC, resource_name="diff-t1", configs=[dict(name="segment.bytes", value="1048576")])],
        validate_only=False))
    r.record("configs.alter.legacy.replaces.after", r.topic_configs("diff-t1", keys, {"segment.bytes": "1048576", "retention.ms": "604800000", "cleanup.policy": "delete"}))
    r.record("configs.alter.legacy.invalid", r.call("AlterConfigs", resources=[dict(
        resource_type=TOPIC, resource_name="diff-t1", configs=[dict(name="retention.ms", value="x")])],
        validate_only=False))
    r.record("configs.incremental.set", r.incremental(TOPIC, "diff-t1", [("cleanup.policy", SET, "compact")]))
    r.record("configs.incremental.append", r.incremental(TOPIC, "diff-t1", [("cleanup.policy", APPEND, "delete")]))
    r.record("configs.incremental.append.after", r.topic_configs("diff-t1", keys, {"cleanup.policy": "compact,delete"}))
    r.record("configs.incremental.append_again", r.incremental(TOPIC, "diff-t1", [("cleanup.policy", APPEND,
                                                                                   "delete")]))
    r.record("configs.incremental.append_again.after", r.topic_configs("diff-t1", keys, {"cleanup.policy": "compact,delete"}))
    r.record("configs.incremental.subtract", r.incremental(TOPIC, "diff-t1", [("cleanup.policy", SUBTRACT,
                                                                               "compact")]))
    r.record("configs.incremental.subtract.after", r.topic_configs("diff-t1", keys, {"cleanup.policy": "delete"}))
    r.record("configs.incremental.subtract_last", r.incremental(TOPIC, "diff-t1", [("cleanup.policy", SUBTRACT,
                                                                                    "delete")]))
    r.record("configs.incremental.subtract_last.after", r.topic_configs("diff-t1", keys, {"cleanup.policy": ""}))
    r.record("configs.incremental.subtract_absent", r.incremental(TOPIC, "diff-t1", [("cleanup.policy", SUBTRACT,
                                                                                      "compact")]))
    r.record("configs.incremental.delete", r.incremental(TOPIC, "diff-t1", [("cleanup.policy", DELETE, None),
                                                                            ("segment.bytes", DELETE, None)]))
    r.record("configs.incremental.delete.after", r.topic_configs("diff-t1", keys, {"cleanup.policy": "delete", "segment.bytes": "1073741824"}))
    r.record("configs.incremental.delete_unset", r.incremental(TOPIC, "diff-t1", [("retention.bytes", DELETE, None)]))
    r.record("configs.incremental.append_non_list", r.incremental(TOPIC, "diff-t1", [("retention.ms", APPEND, "5")]))
    r.record("configs.incremental.unknown_key", r.incremental(TOPIC, "diff-t1", [("foo.bar", SET, "1")]))
    r.record("configs.incremental.bad_value", r.incremental(TOPIC, "diff-t1", [("retention.ms", SET, "abc")]))
    r.record("configs.incremental.bad_operation", r.incremental(TOPIC, "diff-t1", [("retention.ms", 7, "5")]))
    r.record("configs.incremental.duplicate_key", r.incremental(TOPIC, "diff-t1", [("retention.ms", SET, "5"),
                                                                                   ("retention.ms", SET, "6")]))
    r.incremental(TOPIC, "diff-t1", [("retention.ms", DELETE, None)])  # whatever the step above did
    r.record("configs.incremental.validate_only", r.incremental(TOPIC, "diff-t1", [("retention.ms", SET, "7")],
                                                                validate_only=True))
    r.record("configs.incremental.validate_only.after", r.topic_configs("diff-t1", keys, {"retention.ms": "604800000"}))
    r.record("configs.incremental.unknown_topic", r.incremental(TOPIC, "diff-nope", [("retention.ms", SET, "5")]))
    r.record("configs.incremental.compression_gzip", r.incremental(TOPIC, "diff-t1", [("compression.type", SET,
                                                                                       "gzip")]))

    # ---- produce
    r.create("diff-p", 1)
    r.wait_topic("diff-p")
    r.record("produce.ok", r.produce("diff-p", batch([(b"k0", b"v0", 100), (b"k1", b"v1", 400),
                                                      (None, b"v2", 200, [("h", b"x")])], t0)))
    r.record("produce.ok.second", r.produce("diff-p", batch([(b"k3", b"v3", 300), (b"k4", None, 250)], t0)))
    r.record("produce.acks0", r.produce("diff-p", batch([(b"k5", b"v5", 500)], t0), acks=0))
    r.record("produce.acks1", r.produce("diff-p", batch([(b"k6", b"v6", 600)], t0), acks=1))
    # Requests that must fail go to their own topic: one a broker accepted by mistake would shift every later offset
    # of diff-p and turn one difference into dozens.
    r.create("diff-perr", 1)
    r.wait_topic("diff-perr")
    r.record("produce.acks_invalid", r.produce("diff-perr", batch([(b"kx", b"vx", 0)], t0), acks=2))
    r.record("produce.unknown_topic", r.produce("diff-nope", batch([(b"k", b"v", 0)], t0)))
    r.record("produce.unknown_partition", r.produce("diff-perr", batch([(b"k", b"v", 0)], t0), partition=5))
    bad = bytearray(batch([(b"k", b"v", 0)], t0))
    bad[-1] ^= 0xFF
    r.record("produce.bad_crc", r.produce("diff-perr", bytes(bad)))
    empty = bytearray(batch([(b"k", b"v", 0)], t0))
    r.record("produce.empty_records", r.produce("diff-perr", b""))
    # A batch header that says 0 records (and carries none), CRC recomputed.
    hdr = DefaultRecordBatchBuilder.HEADER_STRUCT.size
    empty = bytearray(empty[:hdr])
    struct.pack_into(">i", empty, 8, hdr - 12)
    struct.pack_into(">i", empty, hdr - 4, 0)
    struct.pack_into(">i", empty, 23, -1)  # last offset delta
    struct.pack_into(">I", empty, 17, calc_crc32c(bytes(empty[21:])))
    r.record("produce.zero_record_batch", r.produce("diff-perr", bytes(empty)))
    r.record("produce.errors.fetch", r.fetch("diff-perr", 0))
    r.create("diff-ts", 1)
    r.wait_topic("diff-ts")
    r.record("produce.timestamp_future", r.produce("diff-ts", batch([(b"ok", b"v", 0), (b"late", b"v", 7_200_000)], t0)))
    r.record("produce.timestamp_past_ok", r.produce("diff-ts", batch([(b"old", b"v", -30 * 86_400_000)], t0)))
    r.record("produce.timestamp.fetch", r.fetch("diff-ts", 0))
    r.create("diff-compact", 1, configs={"cleanup.policy": "compact"})
    r.wait_topic("diff-compact")
    r.record("produce.compacted_keyless", r.produce("diff-compact", batch([(b"k", b"v", 0), (None, b"v", 0)], t0)))
    r.record("produce.compacted_keyed", r.produce("diff-compact", batch([(b"k", b"v", 0), (b"k2", None, 0)], t0)))
    r.wait_topic("diff-cfg-ok")
    r.record("produce.too_large", r.produce("diff-cfg-ok", batch([(b"k", b"v" * 3000, 0)], t0)))
    r.create("diff-idem", 1)
    r.wait_topic("diff-idem")
    pid = (4242, 0, 0)
    idem = batch([(b"a", b"1", 0), (b"b", b"2", 0)], t0, producer=pid)
    r.record("produce.idempotent.first", r.produce("diff-idem", idem))
    r.record("produce.idempotent.duplicate", r.produce("diff-idem", idem))
    r.record("produce.idempotent.next", r.produce("diff-idem", batch([(b"c", b"3", 0)], t0, producer=(4242, 0, 2))))
    r.record("produce.idempotent.gap", r.produce("diff-idem", batch([(b"d", b"4", 0)], t0, producer=(4242, 0, 9))))
    r.record("produce.idempotent.unknown_pid_nonzero_seq", r.produce(
        "diff-idem", batch([(b"e", b"5", 0)], t0, producer=(777, 0, 5))))
    r.record("produce.idempotent.fetch", r.fetch("diff-idem", 0))
    for codec, label in ((1, "gzip"), (2, "snappy"), (3, "lz4"), (4, "zstd")):
        try:
            data = batch([(b"c%d" % i, b"value-" * 20, i) for i in range(5)], t0, compression=codec)
        except Exception as exc:  # codec library missing: the step is skipped on both brokers
            r.record(f"produce.compressed_{label}", {"skipped": str(type(exc).__name__)})
            continue
        r.record(f"produce.compressed_{label}", r.produce("diff-p", data))

    # ---- fetch
    r.record("fetch.from_zero", r.fetch("diff-p", 0))
    r.record("fetch.mid_batch", r.fetch("diff-p", 1))
    hw = r.list_offsets("diff-p", -1)["topics"][0]["partitions"][0]["offset"]
    r.record("fetch.at_hw", r.fetch("diff-p", hw))
    r.record("fetch.beyond_hw", r.fetch("diff-p", hw + 10))
    r.record("fetch.negative", r.fetch("diff-p", -1))
    r.record("fetch.unknown_partition", r.fetch("diff-p", 0, partition=7))
    r.record("fetch.unknown_topic_id", r.fetch("diff-nope", 0, topic_id=uuid.UUID(int=12345)))
    r.record("fetch.tiny_max_bytes", r.fetch("diff-p", 0, max_bytes=1))
    r.record("fetch.read_committed", r.fetch("diff-p", 3, isolation=1))
    r.record("fetch.compacted", r.fetch("diff-compact", 0))

    # ---- list offsets by time (records of diff-p: T+100, +400, +200 | +300, +250 | +500 | +600 | ... )
    for label, ts in [("latest", -1), ("earliest", -2), ("max_timestamp", -3), ("middle_150", t0 + 150),
                      ("exact_300", t0 + 300), ("after_all", t0 + 10_000_000), ("before_all", t0 - 40 * 86_400_000),
                      ("earliest_local", -4), ("latest_tiered", -5)]:
        r.record(f"list_offsets.{label}", r.list_offsets("diff-p", ts))
    r.record("list_offsets.unknown_topic", r.list_offsets("diff-nope", -1))
    r.record("list_offsets.unknown_partition", r.list_offsets("diff-p", -1, partition=9))
    r.record("list_offsets.read_committed", r.list_offsets("diff-p", -1, isolation=1))
    r.create("diff-empty", 1)
    r.wait_topic("diff-empty")
    for label, ts in [("latest", -1), ("earliest", -2), ("max_timestamp", -3), ("by_time", t0)]:
        r.record(f"list_offsets.empty.{label}", r.list_offsets("diff-empty", ts))
    r.record("list_offsets.one_batch_max_timestamp", r.list_offsets("diff-idem", -3))

    # ---- delete records
    def delete_records(topic, offset, partition=0):
        return r.call("DeleteRecords", topics=[dict(name=topic, partitions=[dict(partition_index=partition,
                                                                                 offset=offset)])],
                      timeout_ms=10000)
    r.record("delete_records.to_2", delete_records("diff-p", 2))
    r.record("delete_records.to_2.earliest", r.list_offsets("diff-p", -2))
    r.record("delete_records.to_2.fetch_below", r.fetch("diff-p", 0))
    r.record("delete_records.to_2.fetch_at", r.fetch("diff-p", 2))
    r.record("delete_records.backwards", delete_records("diff-p", 1))
    r.record("delete_records.beyond_hw", delete_records("diff-p", hw + 5))
    r.record("delete_records.unknown_topic", delete_records("diff-nope", 1))
    r.record("delete_records.unknown_partition", delete_records("diff-p", 1, partition=3))
    r.record("delete_records.to_hw_minus_one", delete_records("diff-p", -1))
    r.record("delete_records.to_hw_minus_one.earliest", r.list_offsets("diff-p", -2))
    r.record("delete_records.max_timestamp_after", r.list_offsets("diff-p", -3))

    # ---- groups (classic protocol, one member)
    g = "diff-g"
    first = r.call("FindCoordinator", key_type=0, coordinator_keys=[g, "diff-g2"])
    r.record("group.find_coordinator.first", first)
    for _ in range(150):  # Kafka creates __consumer_offsets on the first lookup and loads it: not available yet
        fc = r.call("FindCoordinator", key_type=0, coordinator_keys=[g, "diff-g2", "diff-simple", "diff-g3"])
        if all(c["error_code"] == 0 for c in fc["coordinators"]):
            break
        time.sleep(0.1)
    r.record("group.find_coordinator", fc)
    for group in (g, "diff-g2", "diff-simple", "diff-g3", "diff-nogroup"):
        # Kafka's coordinator loads each __consumer_offsets partition in the background after the lookup:
        # NOT_COORDINATOR / COORDINATOR_LOAD_IN_PROGRESS until then.
        for _ in range(150):
            d = r.call("DescribeGroups", groups=[group], include_authorized_operations=False)
            if d["groups"][0]["error_code"] not in (14, 15, 16):
                break
            time.sleep(0.1)
    proto = [dict(name="range", metadata=subscription(["diff-p"]))]

    def join(member_id="", session=10000, protocols=None, group=g, ptype="consumer"):
        return r.call("JoinGroup", group_id=group, session_timeout_ms=session, rebalance_timeout_ms=10000,
                      member_id=member_id, group_instance_id=None, protocol_type=ptype,
                      protocols=protocols if protocols is not None else proto, reason=None)
    j0 = join()
    r.record("group.join.no_member_id", j0)
    mid = j0["member_id"]
    j1 = join(mid)
    r.record("group.join.with_member_id", j1)
    gen = j1["generation_id"]
    r.record("group.join.session_too_small", join("", session=10))
    r.record("group.join.session_too_large", join("", session=100_000_000))
    r.record("group.join.inconsistent_protocol", join("", protocols=[dict(name="other", metadata=b"")]))
    r.record("group.join.empty_protocols", join("", protocols=[], group="diff-g3"))
    r.record("group.join.unknown_member", join("unknown-member"))

    def sync(member_id, generation, assignments, group=g):
        return r.call("SyncGroup", group_id=group, generation_id=generation, member_id=member_id,
                      group_instance_id=None, protocol_type="consumer", protocol_name="range",
                      assignments=assignments)
    r.record("group.sync.leader", sync(mid, gen, [dict(member_id=mid, assignment=assignment([("diff-p", [0])]))]))
    r.record("group.sync.bad_generation", sync(mid, gen + 5, []))
    r.record("group.sync.unknown_member", sync("nobody", gen, []))

    def heartbeat(member_id, generation, group=g):
        return r.call("Heartbeat", group_id=group, generation_id=generation, member_id=member_id,
                      group_instance_id=None)
    r.record("group.heartbeat.ok", heartbeat(mid, gen))
    r.record("group.heartbeat.bad_generation", heartbeat(mid, gen + 1))
    r.record("group.heartbeat.unknown_member", heartbeat("nobody", gen))
    r.record("group.heartbeat.unknown_group", heartbeat("nobody", 1, group="diff-nogroup"))

    def commit(member_id, generation, parts, group=g):
        return r.call("OffsetCommit", group_id=group, generation_id_or_member_epoch=generation, member_id=member_id,
                      group_instance_id=None, retention_time_ms=-1, topics=[dict(name=t, partitions=[dict(
                          partition_index=p, committed_offset=o, committed_leader_epoch=-1,
                          committed_metadata=md) for p, o, md in ps]) for t, ps in parts])
    r.record("group.commit.ok", commit(mid, gen, [("diff-p", [(0, 3, "meta")])]))
    r.record("group.commit.bad_generation", commit(mid, gen + 1, [("diff-p", [(0, 4, None)])]))
    r.record("group.commit.unknown_member", commit("nobody", gen, [("diff-p", [(0, 4, None)])]))
    r.record("group.commit.unknown_topic", commit(mid, gen, [("diff-nope", [(0, 1, None)])]))
    r.record("group.commit.unknown_partition", commit(mid, gen, [("diff-p", [(9, 1, None)])]))
    r.record("group.commit.metadata_too_large", commit(mid, gen, [("diff-p", [(0, 4, "m" * 5000)])]))
    r.record("group.commit.simple_group", commit("", -1, [("diff-p", [(0, 2, None)])], group="diff-simple"))
    r.record("group.commit.simple_group_on_active", commit("", -1, [("diff-p", [(0, 2, None)])]))

    def offset_fetch(group, topics):
        return r.call("OffsetFetch", groups=[dict(group_id=group, member_id=None, member_epoch=-1, topics=None if
                                                  topics is None else [dict(name=t, partition_indexes=p)
                                                                       for t, p in topics])],
                      require_stable=True)
    r.record("group.offset_fetch.partitions", offset_fetch(g, [("diff-p", [0, 1]), ("diff-nope", [0])]))
    r.record("group.offset_fetch.all", offset_fetch(g, None))
    r.record("group.offset_fetch.simple", offset_fetch("diff-simple", None))
    r.record("group.offset_fetch.unknown_group", offset_fetch("diff-nogroup", None))
    r.record("group.describe", r.call("DescribeGroups", groups=[g, "diff-simple", "diff-nogroup"],
                                      include_authorized_operations=False))
    lg = r.call("ListGroups", states_filter=[])
    lg["groups"] = sorted((x for x in lg["groups"] if x["group_id"].startswith("diff")), key=lambda x: x["group_id"])
    r.record("group.list", lg)
    r.record("group.offset_delete.subscribed", r.call("OffsetDelete", group_id=g, topics=[
        dict(name="diff-p", partitions=[dict(partition_index=0)])]))
    r.record("group.delete.non_empty", r.call("DeleteGroups", groups_names=[g]))
    r.record("group.leave.unknown_member", r.call("LeaveGroup", group_id=g, members=[
        dict(member_id="nobody", group_instance_id=None, reason=None)]))
    r.record("group.leave", r.call("LeaveGroup", group_id=g, members=[
        dict(member_id=mid, group_instance_id=None, reason="done")]))
    r.record("group.describe.after_leave", r.call("DescribeGroups", groups=[g], include_authorized_operations=False))
    r.record("group.offset_delete.after_leave", r.call("OffsetDelete", group_id=g, topics=[
        dict(name="diff-p", partitions=[dict(partition_index=0), dict(partition_index=5)])]))
    r.record("group.offset_fetch.after_offset_delete", offset_fetch(g, None))
    r.record("group.delete", r.call("DeleteGroups", groups_names=[g, "diff-nogroup", "diff-simple"]))
    r.record("group.describe.after_delete", r.call("DescribeGroups", groups=[g], include_authorized_operations=False))
    r.record("group.offset_fetch.after_delete", offset_fetch("diff-simple", None))

    # ---- transactions (KIP-98): coordinator lookup, InitProducerId, AddPartitionsToTxn v3 and EndTxn at the
    # versions a transaction.version 1 client uses (Produce v11: at v12+ Kafka with transaction.version 2 adds
    # the partition itself), Describe/ListTransactions, read_committed around the commit, bad input.
    tx = "diff-tx"
    r.record("txn.create_topic", r.create("diff-txn", 2))
    r.wait_topic("diff-txn", 2)
    for _ in range(300):  # both create __transaction_state on the first lookup and load it
        fc = r.call("FindCoordinator", key_type=1, coordinator_keys=[tx])
        if all(c["error_code"] == 0 for c in fc["coordinators"]):
            break
        time.sleep(0.1)
    r.record("txn.find_coordinator", fc)

    def init(txn_id, timeout_ms=60000, pid=-1, epoch=-1):
        for _ in range(300):
            resp = r.call("InitProducerId", transactional_id=txn_id, transaction_timeout_ms=timeout_ms,
                          producer_id=pid, producer_epoch=epoch)
            if resp["error_code"] not in (14, 15, 16, 51):  # loading, not available, not coordinator, concurrent
                return resp
            time.sleep(0.1)
        return resp
    ip = init(tx)
    pid, epoch = ip["producer_id"], ip["producer_epoch"]
    r.norm.producer_ids[pid] = "<txn-producer-id>"
    r.record("txn.init", ip)
    r.record("txn.init.timeout_too_large", init("diff-tx-big", timeout_ms=1_000_000_000))
    r.record("txn.init.empty_id", init(""))
    r.record("txn.init.unknown_producer_id", init(tx, pid=pid + 1000, epoch=0))

    def add(parts, p=pid, e=epoch, txn_id=tx):
        return r.call("AddPartitionsToTxn", version=3, v3_and_below_transactional_id=txn_id,
                      v3_and_below_producer_id=p, v3_and_below_producer_epoch=e,
                      v3_and_below_topics=[dict(name=t, partitions=ps) for t, ps in parts])
    r.record("txn.add_partitions.unknown_topic", add([("diff-txn", [0]), ("diff-nope", [0])]))
    r.record("txn.add_partitions.wrong_epoch", add([("diff-txn", [0])], e=epoch + 1))
    r.record("txn.add_partitions.unknown_id", add([("diff-txn", [0])], txn_id="diff-tx-none"))
    r.record("txn.add_partitions", add([("diff-txn", [0, 1])]))

    def produce_txn(records, seq):
        return r.call("Produce", version=min(11, r.v("Produce")), transactional_id=tx, acks=-1, timeout_ms=10000,
                      topic_data=[dict(name="diff-txn", partition_data=[dict(index=0, records=batch(
                          records, t0, producer=(pid, epoch, seq), transactional=True))])])
    r.record("txn.produce", produce_txn([(b"k", b"t1", 0), (b"k", b"t2", 0)], 0))
    r.record("txn.describe.ongoing", r.call("DescribeTransactions", transactional_ids=[tx, "diff-tx-none"]))

    def list_txns(**filters):
        lt = r.call("ListTransactions", state_filters=filters.get("states", []),
                    producer_id_filters=filters.get("pids", []), duration_filter=-1)
        lt["transaction_states"] = sorted((x for x in lt["transaction_states"]
                                           if x["transactional_id"].startswith("diff")),
                                          key=lambda x: x["transactional_id"])
        return lt
    r.record("txn.list", list_txns())
    r.record("txn.list.ongoing", list_txns(states=["Ongoing"]))
    r.record("txn.list.by_producer", list_txns(pids=[pid]))
    r.record("txn.fetch.read_committed.open", r.fetch("diff-txn", 0, isolation=1))
    r.record("txn.list_offsets.read_committed.open", r.list_offsets("diff-txn", -1, isolation=1))

    def end(commit, p=pid, e=epoch):
        return r.call("EndTxn", version=min(4, r.v("EndTxn")), transactional_id=tx, producer_id=p,
                      producer_epoch=e, committed=commit)
    r.record("txn.end.wrong_epoch", end(True, e=epoch + 1))
    r.record("txn.end.wrong_producer_id", end(True, p=pid + 1000))
    r.record("txn.end.commit", end(True))
    for _ in range(300):  # the markers are written after EndTxn is answered
        d = r.call("DescribeTransactions", transactional_ids=[tx])
        if d["transaction_states"][0]["transaction_state"] == "CompleteCommit":
            break
        time.sleep(0.1)
    r.record("txn.describe.committed", d)
    r.record("txn.fetch.read_committed.committed", r.fetch("diff-txn", 0, isolation=1))
    r.record("txn.list_offsets.read_committed.committed", r.list_offsets("diff-txn", -1, isolation=1))
    r.record("txn.end.no_transaction", end(False))
    r.record("txn.init.bump", init(tx, pid=pid, epoch=epoch))
    r.record("txn.end.fenced_epoch", end(True))

    # ---- delete topics
    r.record("delete_topics.ok", r.call("DeleteTopics", topics=[dict(name="diff-asg", topic_id=None)],
                                        topic_names=None, timeout_ms=10000))
    r.wait_gone("diff-asg")
    r.record("delete_topics.gone.metadata", r.metadata(["diff-asg"]))
    r.record("delete_topics.unknown", r.call("DeleteTopics", topics=[dict(name="diff-nope", topic_id=None)],
                                             topic_names=None, timeout_ms=10000))
    r.record("delete_topics.unknown_id", r.call("DeleteTopics", topics=[dict(name=None, topic_id=uuid.UUID(int=99))],
                                                topic_names=None, timeout_ms=10000))
    r.record("delete_topics.by_id", r.call("DeleteTopics", topics=[dict(name=None, topic_id=r.topic_ids["diff-empty"])],
                                           topic_names=None, timeout_ms=10000))
    r.record("delete_topics.internal", r.call("DeleteTopics", topics=[dict(name="__consumer_offsets", topic_id=None)],
                                              topic_names=None, timeout_ms=10000))
    r.wait_gone("diff-empty")
    r.record("delete_topics.recreate", r.create("diff-empty", 2))
    r.record("delete_topics.recreated.metadata", r.wait_topic("diff-empty", 2))


def run(broker, versions, t0):
    r = Run(broker, versions, t0)
    started = time.monotonic()
    try:
        sequence(r)
    except Exception as exc:  # the rest of the sequence can't be compared; the step that broke is named
        r.results["!aborted"] = f"{type(exc).__name__}: {exc}"
        r.raw["!aborted"] = r.results["!aborted"]
    r.elapsed = time.monotonic() - started
    return r


# ------------------------------------------------------------------------------------------------ comparison

def diff(a, b, path, out):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            if k not in a:
                out.append((f"{path}.{k}", "<absent>", b[k]))
            elif k not in b:
                out.append((f"{path}.{k}", a[k], "<absent>"))
            else:
                diff(a[k], b[k], f"{path}.{k}", out)
    elif isinstance(a, list) and isinstance(b, list):
        keyed = keyed_by(a, b)
        if keyed:
            ka = {x[keyed]: x for x in a}
            kb = {x[keyed]: x for x in b}
            for k in list(ka) + [k for k in kb if k not in ka]:
                diff(ka.get(k, "<absent>"), kb.get(k, "<absent>"), f"{path}[{k}]", out)
        elif len(a) != len(b):
            out.append((f"{path}.len", len(a), len(b)))
            for i in range(min(len(a), len(b))):
                diff(a[i], b[i], f"{path}[{i}]", out)
        else:
            for i in range(len(a)):
                diff(a[i], b[i], f"{path}[{i}]", out)
    elif a != b:
        out.append((path, a, b))


def keyed_by(a, b):
    """Lists of named things (configs, topics, api keys) are compared by name, so one missing entry is one
    difference rather than a shifted list."""
    items = a + b
    if not items or not all(isinstance(x, dict) for x in items):
        return None
    for key in ("name", "api_key", "group_id", "partition_index", "partition", "index"):
        if all(key in x and isinstance(x[key], (str, int)) for x in items):
            if len({x[key] for x in a}) == len(a) and len({x[key] for x in b}) == len(b):
                return key
    return None


def short(v):
    s = json.dumps(v, sort_keys=True, default=str)
    return s if len(s) <= 160 else s[:157] + "..."


def load_expected(path):
    rules = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = re.split(r"\s{2,}", line.strip(), maxsplit=1)
            if len(parts) != 2:
                raise SystemExit(f"{path}:{n}: expected 'PATTERN  reason'")
            regex = re.compile(".*".join(re.escape(s) for s in parts[0].split("*")))
            rules.append({"pattern": parts[0], "regex": regex, "reason": parts[1], "hits": 0, "line": n})
    return rules


def main():
    if sys.argv[1] == "--compare":  # --compare EXPECTED DIR: re-check a kept run's kafka.json / strom.json
        expected_path, outdir = sys.argv[2], sys.argv[3]
        results = {}
        for name in ("kafka", "strom"):
            with open(os.path.join(outdir, f"{name}.json")) as f:
                results[name] = json.load(f)
        return compare(results, expected_path, outdir)
    kafka_port, strom_port, expected_path, outdir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    kafka = Broker("kafka", kafka_port)
    strom = Broker("strom", strom_port)
    versions = {}
    for api, (req_cls, _) in REQUESTS.items():
        key = req_cls.API_KEY
        if key in kafka.versions and key in strom.versions:
            versions[api] = min(req_cls.max_version, kafka.versions[key][1], strom.versions[key][1])
    t0 = (int(time.time() * 1000) // 1000) * 1000
    runs = {}
    for b in (kafka, strom):
        runs[b.name] = run(b, versions, t0)
        print(f"differential: {b.name}: {len(runs[b.name].results)} steps in {runs[b.name].elapsed:.1f}s",
              file=sys.stderr)
    # ApiVersions: which APIs each broker serves and up to which version.
    api_names = {k.value: k.name for k in ApiKey}
    api_names.update({req.API_KEY: name for name, (req, _) in REQUESTS.items()})
    for b in (kafka, strom):
        runs[b.name].results = {"api_versions": [
            {"name": api_names.get(k, f"api-{k}"), "min": lo, "max": hi} for k, (lo, hi) in sorted(b.versions.items())],
            **runs[b.name].results}
    os.makedirs(outdir, exist_ok=True)
    for name, r in runs.items():
        with open(os.path.join(outdir, f"{name}.json"), "w") as f:
            json.dump(r.results, f, indent=1, sort_keys=False, default=str)
        with open(os.path.join(outdir, f"raw-{name}.json"), "w") as f:
            json.dump(r.raw, f, indent=1, default=str)

    return compare({name: r.results for name, r in runs.items()}, expected_path, outdir)


def compare(results, expected_path, outdir):
    rules = load_expected(expected_path)
    k, s = results["kafka"], results["strom"]
    steps = list(k) + [x for x in s if x not in k]
    same = expected = unexpected = 0
    lines = []
    for step in steps:
        out = []
        diff(k.get(step, "<absent>"), s.get(step, "<absent>"), "", out)
        out = [(f"{step}/{path.lstrip('.')}", kv, sv) for path, kv, sv in out]
        if not out:
            same += 1
            continue
        step_unexpected = False
        for path, kv, sv in out:
            rule = next((x for x in rules if x["regex"].fullmatch(path)), None)
            if rule:
                rule["hits"] += 1
                lines.append(f"expected    {path}: kafka={short(kv)} strom={short(sv)}  [{rule['reason']}]")
            else:
                step_unexpected = True
                lines.append(f"UNEXPECTED  {path}: kafka={short(kv)} strom={short(sv)}")
        if step_unexpected:
            unexpected += 1
        else:
            expected += 1
    with open(os.path.join(outdir, "differences.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    # The log names each unexpected difference; expected ones are summed up per expected.txt line (all of them
    # are in differences.txt).
    for line in lines:
        if line.startswith("UNEXPECTED"):
            print(line)
    for rule in rules:
        if rule["hits"]:
            print(f"expected    {rule['hits']:4d} x {rule['pattern']}  [{rule['reason']}]")
    for rule in rules:
        if rule["hits"] == 0:
            print(f"differential: expected.txt line {rule['line']} matched nothing (fixed? remove it): "
                  f"{rule['pattern']}")
    print(f"differential: {len(steps)} steps, {same} same, {expected} different (expected), {unexpected} unexpected")
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
