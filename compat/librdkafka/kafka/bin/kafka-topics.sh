#!/usr/bin/env python3
"""Stand-in for Apache Kafka's bin/kafka-topics.sh, for the librdkafka tests that shell out to it (KAFKA_PATH).

Only what those tests use (0045, 0052, 0077), done with real Kafka admin requests through kafka-python's
KafkaAdminClient, as kafka-topics.sh does them with the Java AdminClient:
  --bootstrap-server HOST:PORT --create --topic T [--partitions N] [--replication-factor R] [--config K=V ...]
  --bootstrap-server HOST:PORT --alter --topic T --partitions N
  --bootstrap-server HOST:PORT --delete --topic T
Exit status 1 (with the error) when the broker refuses, like the real tool.
"""

import argparse
import sys

from kafka.admin import KafkaAdminClient, NewPartitions, NewTopic


def main():
    p = argparse.ArgumentParser(prog="kafka-topics.sh")
    p.add_argument("--bootstrap-server", required=True)
    action = p.add_mutually_exclusive_group(required=True)
    action.add_argument("--create", action="store_true")
    action.add_argument("--alter", action="store_true")
    action.add_argument("--delete", action="store_true")
    p.add_argument("--topic", required=True)
    p.add_argument("--partitions", type=int)
    p.add_argument("--replication-factor", type=int)
    p.add_argument("--config", action="append", default=[])
    a = p.parse_args()

    admin = KafkaAdminClient(bootstrap_servers=a.bootstrap_server, client_id="kafka-topics-shim",
                             request_timeout_ms=30000)
    try:
        if a.create:
            configs = dict(c.split("=", 1) for c in a.config)
            admin.create_topics([NewTopic(a.topic, a.partitions or -1, a.replication_factor or -1,
                                          topic_configs=configs)], timeout_ms=30000)
            print("Created topic %s." % a.topic)
        elif a.alter:
            if a.partitions is None:
                p.error("--alter needs --partitions")
            admin.create_partitions({a.topic: NewPartitions(a.partitions)}, timeout_ms=30000)
        else:
            admin.delete_topics([a.topic], timeout_ms=30000)
    except Exception as e:  # the broker's refusal (kafka.errors.*) or a connection failure, as the tool reports it
        print("Error while executing topic command : %s" % e, file=sys.stderr)
        return 1
    finally:
        admin.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
