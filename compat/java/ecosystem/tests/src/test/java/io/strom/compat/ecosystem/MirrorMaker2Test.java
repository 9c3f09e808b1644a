package io.strom.compat.ecosystem;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.connect.mirror.RemoteClusterUtils;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * MirrorMaker 2 in dedicated mode ({@code org.apache.kafka.connect.mirror.MirrorMaker}, what
 * connect-mirror-maker.sh runs) between two independent Strom brokers, "src" and "tgt", replicating src -> tgt with
 * the default replication policy:
 * <ul>
 *   <li>topic {@code orders} (3 partitions) appears on tgt as {@code src.orders} with the same partitions, its
 *       {@code retention.ms} and every record, in order, per partition; records produced while MirrorMaker runs
 *       follow;
 *   <li>offset syncs ({@code mm2-offset-syncs.tgt.internal} on src) and checkpoints ({@code src.checkpoints.internal}
 *       on tgt) are written;
 *   <li>the offsets group {@code billing} committed on src (the log end of each partition) are translated:
 *       {@link RemoteClusterUtils#translateOffsets} on tgt answers them exactly for {@code src.orders} (the last
 *       offset sync is for the last record), and {@code sync.group.offsets.enabled} commits them to group
 *       {@code billing} on tgt; group {@code audit}'s mid-log offset translates to at most itself.
 * </ul>
 */
class MirrorMaker2Test {
    private static final String TOPIC = "orders";
    private static final String GROUP = "billing";
    private static final String AUDIT = "audit";
    private static final int PER_PARTITION = 100;
    /** A topic config of the source topic that MirrorMaker copies to the remote topic. */
    private static final String RETENTION_MS = "123456789";

    @Test
    @Timeout(300)
    void dedicatedModeReplicatesTopicsDataAndTranslatesOffsets() throws Exception {
        long t0 = System.nanoTime();
        Path work = TestSupport.workDir("mm2");
        try (StromCluster src = StromCluster.start("src", work);
                StromCluster tgt = StromCluster.start("tgt", work)) {
            TestSupport.createTopic(src.bootstrapServers(), TOPIC, 3, Map.of("retention.ms", RETENTION_MS));
            Map<Integer, List<String>> sent = new TreeMap<>();
            produce(src.bootstrapServers(), 0, PER_PARTITION, sent);
            // Group billing on src has read everything; group audit stopped in mid-log.
            Map<TopicPartition, OffsetAndMetadata> committed = new HashMap<>();
            for (int p = 0; p < 3; p++) {
                committed.put(new TopicPartition(TOPIC, p), new OffsetAndMetadata(PER_PARTITION));
            }
            Map<TopicPartition, OffsetAndMetadata> audit = Map.of(new TopicPartition(TOPIC, 0),
                    new OffsetAndMetadata(40));
            commit(src.bootstrapServers(), GROUP, committed);
            commit(src.bootstrapServers(), AUDIT, audit);

            Path props = work.resolve("mm2.properties");
            Files.writeString(props, String.join("\n",
                    "clusters=src,tgt",
                    "src.bootstrap.servers=" + src.bootstrapServers(),
                    "tgt.bootstrap.servers=" + tgt.bootstrapServers(),
                    "src->tgt.enabled=true",
                    "src->tgt.topics=" + TOPIC,
                    "src->tgt.groups=" + GROUP + "," + AUDIT,
                    "tgt->src.enabled=false",
                    "replication.factor=1",
                    "checkpoints.topic.replication.factor=1",
                    "heartbeats.topic.replication.factor=1",
                    "offset-syncs.topic.replication.factor=1",
                    "offset.storage.replication.factor=1",
                    "status.storage.replication.factor=1",
                    "config.storage.replication.factor=1",
                    "sync.topic.acls.enabled=false",
                    "sync.group.offsets.enabled=true",
                    "sync.group.offsets.interval.seconds=1",
                    "emit.checkpoints.interval.seconds=1",
                    "emit.heartbeats.interval.seconds=1",
                    "refresh.topics.interval.seconds=2",
                    "refresh.groups.interval.seconds=2",
                    "offset.lag.max=0",
                    // Offset syncs of records replicated without a sync are sent when the task commits, every
                    // offset.flush.interval.ms (default 60 s), a worker setting: given per target cluster.
                    "tgt.offset.flush.interval.ms=2000",
                    // the herder's plugin scan (MirrorMaker's own first scan ignores the setting)
                    "tgt.plugin.discovery=service_load",
                    "") + "\n");
            try (ChildJvm mm2 = ChildJvm.start("mirror-maker", work.resolve("mirror-maker.log"),
                    ChildJvm.Classpath.CONNECT, "org.apache.kafka.connect.mirror.MirrorMaker",
                    List.of(props.toString(), "--clusters", "tgt"))) {
                String remote = "src." + TOPIC;
                assertTrue(TestSupport.waitFor(Duration.ofSeconds(120),
                                () -> !mm2.isAlive() || topics(tgt).contains(remote)),
                        "no " + remote + " on tgt; tgt has " + topics(tgt) + "\n" + TestSupport.tail(mm2.log(), 40));
                assertTrue(mm2.isAlive(), mm2.describe() + " exited:\n" + TestSupport.tail(mm2.log(), 40));
                try (Admin admin = TestSupport.admin(tgt.bootstrapServers())) {
                    assertEquals(3, admin.describeTopics(List.of(remote)).allTopicNames().get().get(remote)
                            .partitions().size(), "partitions of " + remote);
                    org.apache.kafka.common.config.ConfigResource res = new org.apache.kafka.common.config
                            .ConfigResource(org.apache.kafka.common.config.ConfigResource.Type.TOPIC, remote);
                    assertEquals(RETENTION_MS, admin.describeConfigs(List.of(res)).all().get().get(res)
                            .get("retention.ms").value(), "retention.ms of " + remote + " (copied from src)");
                }
                assertMirrored(tgt, remote, sent, mm2);
                System.err.printf("mm2: %s mirrored after %.1f s%n", remote, (System.nanoTime() - t0) / 1e9);

                // Checkpoints and translated offsets.
                Map<TopicPartition, Long> want = new TreeMap<>(java.util.Comparator.comparing(TopicPartition::toString));
                committed.forEach((tp, om) -> want.put(new TopicPartition(remote, tp.partition()), om.offset()));
                Map<String, Map<TopicPartition, OffsetAndMetadata>> last = new HashMap<>();
                Properties tgtProps = new Properties();
                tgtProps.put("bootstrap.servers", tgt.bootstrapServers());
                Map<String, Object> tgtClient = new HashMap<>();
                tgtProps.forEach((k, v) -> tgtClient.put((String) k, v));
                boolean translated = TestSupport.waitFor(Duration.ofSeconds(90), () -> {
                    Map<TopicPartition, OffsetAndMetadata> t =
                            RemoteClusterUtils.translateOffsets(tgtClient, "src", GROUP, Duration.ofSeconds(10));
                    last.put("translated", t);
                    return t.size() == 3 && t.entrySet().stream()
                            .allMatch(e -> e.getValue().offset() == want.get(e.getKey()));
                });
                assertTrue(translated, "RemoteClusterUtils.translateOffsets(tgt, src, " + GROUP + ") answered "
                        + last.get("translated") + "; committed on src " + committed + "\n"
                        + TestSupport.tail(mm2.log(), 30));
                System.err.println("mm2: translated offsets " + last.get("translated") + " (committed on src "
                        + committed + ")");
                System.err.printf("mm2: offsets translated after %.1f s%n", (System.nanoTime() - t0) / 1e9);
                assertTrue(endOffsetSum(src, "mm2-offset-syncs.tgt.internal") > 0, "no offset syncs on src");
                assertTrue(endOffsetSum(tgt, "src.checkpoints.internal") > 0, "no checkpoints on tgt");
                assertTrue(endOffsetSum(tgt, "heartbeats") > 0, "no heartbeats on tgt");

                // sync.group.offsets.enabled: the group on tgt gets the translated offsets.
                assertTrue(TestSupport.waitFor(Duration.ofSeconds(60), () -> {
                    Map<TopicPartition, OffsetAndMetadata> g = groupOffsets(tgt, GROUP);
                    last.put("group", g);
                    return g.size() == 3 && g.entrySet().stream()
                            .allMatch(e -> e.getValue().offset() == want.get(e.getKey()));
                }), "group " + GROUP + " on tgt has " + last.get("group") + "\n" + TestSupport.tail(mm2.log(), 30));

                // A mid-log offset translates to at most the committed one (MirrorMaker keeps a sparse set of
                // offset syncs; a translated offset beyond the committed one would skip records), or not at all when
                // no sync at or below it is kept.
                Map<TopicPartition, OffsetAndMetadata> auditTranslated =
                        RemoteClusterUtils.translateOffsets(tgtClient, "src", AUDIT, Duration.ofSeconds(10));
                System.err.println("mm2: group audit committed offset 40 on orders-0, translated " + auditTranslated);
                assertTrue(auditTranslated.values().stream().allMatch(o -> o.offset() <= 40),
                        "group audit: offset 40 translated to " + auditTranslated);
                System.err.printf("mm2: group offsets synced after %.1f s%n", (System.nanoTime() - t0) / 1e9);
                // Records produced while MirrorMaker runs follow.
                produce(src.bootstrapServers(), PER_PARTITION, 20, sent);
                assertMirrored(tgt, remote, sent, mm2);
                assertTrue(mm2.stop(Duration.ofSeconds(60)), "MirrorMaker did not stop cleanly on SIGTERM");
            }
        }
        System.err.printf("mm2: %.1f s%n", (System.nanoTime() - t0) / 1e9);
    }

    private static void commit(String bootstrap, String group, Map<TopicPartition, OffsetAndMetadata> offsets) {
        try (KafkaConsumer<String, String> c = consumer(bootstrap, group)) {
            c.assign(offsets.keySet());
            c.commitSync(offsets);
        }
    }

    private static void produce(String bootstrap, int from, int count, Map<Integer, List<String>> sent)
            throws Exception {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        try (KafkaProducer<String, String> producer =
                new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
            for (int i = from; i < from + count; i++) {
                for (int part = 0; part < 3; part++) {
                    String value = "order-" + part + "-" + i;
                    producer.send(new ProducerRecord<>(TOPIC, part, "k" + i, value));
                    sent.computeIfAbsent(part, k -> new ArrayList<>()).add(value);
                }
            }
            producer.flush();
        }
    }

    /** Every partition of the remote topic holds exactly what was sent to the source partition, in order. */
    private static void assertMirrored(StromCluster tgt, String remote, Map<Integer, List<String>> sent, ChildJvm mm2)
            throws Exception {
        Map<Integer, List<String>> got = new TreeMap<>();
        try (KafkaConsumer<String, String> c = consumer(tgt.bootstrapServers(), null)) {
            List<TopicPartition> tps = List.of(0, 1, 2).stream().map(p -> new TopicPartition(remote, p))
                    .collect(Collectors.toList());
            c.assign(tps);
            c.seekToBeginning(tps);
            boolean all = TestSupport.waitFor(Duration.ofSeconds(90), () -> {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(500))) {
                    got.computeIfAbsent(r.partition(), k -> new ArrayList<>()).add(r.value());
                }
                return sent.keySet().stream()
                        .allMatch(p -> got.getOrDefault(p, List.of()).size() >= sent.get(p).size());
            });
            assertTrue(all, "records mirrored per partition: " + got.entrySet().stream()
                    .collect(Collectors.toMap(Map.Entry::getKey, e -> e.getValue().size())) + "\n"
                    + TestSupport.tail(mm2.log(), 30));
        }
        assertEquals(sent, got, "the records of " + remote + " on tgt");
    }

    private static KafkaConsumer<String, String> consumer(String bootstrap, String group) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        if (group != null) {
            p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        }
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        return new KafkaConsumer<>(p, new StringDeserializer(), new StringDeserializer());
    }

    private static Set<String> topics(StromCluster cluster) throws Exception {
        try (Admin admin = TestSupport.admin(cluster.bootstrapServers())) {
            return admin.listTopics().names().get();
        }
    }

    private static Map<TopicPartition, OffsetAndMetadata> groupOffsets(StromCluster cluster, String group)
            throws Exception {
        try (Admin admin = TestSupport.admin(cluster.bootstrapServers())) {
            return admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
        }
    }

    private static long endOffsetSum(StromCluster cluster, String topic) throws Exception {
        try (Admin admin = TestSupport.admin(cluster.bootstrapServers())) {
            if (!admin.listTopics().names().get().contains(topic)) {
                return -1;
            }
            int n = admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic).partitions().size();
            Map<TopicPartition, OffsetSpec> q = new HashMap<>();
            for (int p = 0; p < n; p++) {
                q.put(new TopicPartition(topic, p), OffsetSpec.latest());
            }
            return admin.listOffsets(q).all().get().values().stream().mapToLong(r -> r.offset()).sum();
        }
    }
}
