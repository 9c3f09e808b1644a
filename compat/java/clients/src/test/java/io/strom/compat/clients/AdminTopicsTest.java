package io.strom.compat.clients;

import static io.strom.compat.clients.Strom.bootstrap;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.CreateTopicsOptions;
import org.apache.kafka.clients.admin.CreateTopicsResult;
import org.apache.kafka.clients.admin.DescribeTopicsOptions;
import org.apache.kafka.clients.admin.ListTopicsOptions;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.admin.TopicListing;
import org.apache.kafka.common.TopicCollection;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.errors.InvalidPartitionsException;
import org.apache.kafka.common.errors.InvalidReplicationFactorException;
import org.apache.kafka.common.errors.InvalidTopicException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicIdException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** AdminClient 4.4.0 topic calls: CreateTopics, DeleteTopics, Metadata (list), DescribeTopicPartitions, CreatePartitions. */
class AdminTopicsTest {
    static Admin admin;

    @BeforeAll
    static void setUp() {
        admin = Strom.admin(bootstrap());
    }

    @AfterAll
    static void tearDown() {
        admin.close();
    }

    private static <T extends Throwable> T cause(Class<T> type, org.junit.jupiter.api.function.Executable call) {
        ExecutionException e = assertThrows(ExecutionException.class, call);
        return assertInstanceOf(type, e.getCause(), "cause of " + e);
    }

    @Test
    void createDescribeDelete() throws Exception {
        String topic = Strom.topic("crud");
        CreateTopicsResult created = admin.createTopics(List.of(new NewTopic(topic, 3, (short) 1)
                .configs(Map.of("retention.ms", "3600000", "cleanup.policy", "compact"))));
        created.all().get(30, TimeUnit.SECONDS);
        Uuid id = created.topicId(topic).get();
        assertNotEquals(Uuid.ZERO_UUID, id);
        assertEquals(3, created.numPartitions(topic).get());
        assertEquals(1, created.replicationFactor(topic).get());
        Config cfg = created.config(topic).get();
        assertEquals("3600000", cfg.get("retention.ms").value());
        assertEquals("compact", cfg.get("cleanup.policy").value());
        Strom.waitForLeaders(admin, topic, 3);

        TopicDescription d = admin.describeTopics(List.of(topic)).allTopicNames().get(30, TimeUnit.SECONDS).get(topic);
        assertEquals(topic, d.name());
        assertEquals(id, d.topicId());
        assertFalse(d.isInternal());
        assertEquals(3, d.partitions().size());
        for (int p = 0; p < 3; p++) {
            TopicPartitionInfo info = d.partitions().get(p);
            assertEquals(p, info.partition());
            assertEquals(1, info.leader().id());
            assertEquals(List.of(info.leader()), info.replicas());
            assertEquals(List.of(info.leader()), info.isr());
        }

        Set<String> names = admin.listTopics().names().get(30, TimeUnit.SECONDS);
        assertTrue(names.contains(topic));
        TopicListing listing = admin.listTopics().namesToListings().get(30, TimeUnit.SECONDS).get(topic);
        assertEquals(id, listing.topicId());

        admin.deleteTopics(List.of(topic)).all().get(30, TimeUnit.SECONDS);
        Strom.waitUntil("deleted topic gone from listTopics", Duration.ofSeconds(30), () -> {
            try {
                return !admin.listTopics().names().get(10, TimeUnit.SECONDS).contains(topic);
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
        cause(UnknownTopicOrPartitionException.class, () -> admin.describeTopics(List.of(topic)).allTopicNames().get(30, TimeUnit.SECONDS));
    }

    /** describeTopics by topic id: Metadata v12 naming the topic by id (the 4.4 client sends name "" with the id). */
    @Test
    void describeById() throws Exception {
        String topic = Strom.topic("by-id");
        Uuid id = admin.createTopics(List.of(new NewTopic(topic, 2, (short) 1))).topicId(topic).get(30, TimeUnit.SECONDS);
        Strom.waitForLeaders(admin, topic, 2);
        TopicDescription byId = admin.describeTopics(TopicCollection.ofTopicIds(List.of(id))).allTopicIds().get(30, TimeUnit.SECONDS).get(id);
        assertEquals(topic, byId.name());
        assertEquals(id, byId.topicId());
        assertEquals(2, byId.partitions().size());
        Uuid unknown = Uuid.randomUuid();
        cause(UnknownTopicIdException.class,
                () -> admin.describeTopics(TopicCollection.ofTopicIds(List.of(unknown))).allTopicIds().get(30, TimeUnit.SECONDS));
    }

    @Test
    void deleteById() throws Exception {
        String topic = Strom.topic("del-id");
        Uuid id = admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).topicId(topic).get(30, TimeUnit.SECONDS);
        admin.deleteTopics(TopicCollection.ofTopicIds(List.of(id))).all().get(30, TimeUnit.SECONDS);
        cause(UnknownTopicIdException.class,
                () -> admin.deleteTopics(TopicCollection.ofTopicIds(List.of(id))).all().get(30, TimeUnit.SECONDS));
    }

    @Test
    void createErrors() throws Exception {
        String topic = Strom.topic("exists");
        Strom.createTopic(admin, topic, 1);
        cause(TopicExistsException.class, () -> admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get(30, TimeUnit.SECONDS));
        cause(InvalidTopicException.class,
                () -> admin.createTopics(List.of(new NewTopic("bad/name", 1, (short) 1))).all().get(30, TimeUnit.SECONDS));
        cause(InvalidReplicationFactorException.class,
                () -> admin.createTopics(List.of(new NewTopic(Strom.topic("rf3"), 1, (short) 3))).all().get(30, TimeUnit.SECONDS));
        cause(InvalidPartitionsException.class,
                () -> admin.createTopics(List.of(new NewTopic(Strom.topic("p0"), 0, (short) 1))).all().get(30, TimeUnit.SECONDS));
        cause(UnknownTopicOrPartitionException.class,
                () -> admin.deleteTopics(List.of(Strom.topic("never"))).all().get(30, TimeUnit.SECONDS));
    }

    /** validateOnly checks and answers like a real create (partitions, config) without creating anything. */
    @Test
    void validateOnly() throws Exception {
        String topic = Strom.topic("validate");
        CreateTopicsResult r = admin.createTopics(List.of(new NewTopic(topic, 5, (short) 1)), new CreateTopicsOptions().validateOnly(true));
        r.all().get(30, TimeUnit.SECONDS);
        assertEquals(5, r.numPartitions(topic).get());
        Thread.sleep(500);
        assertFalse(admin.listTopics().names().get(30, TimeUnit.SECONDS).contains(topic));
    }

    /** Defaults: num_partitions -1 and replication_factor -1 take the broker's num.partitions / default.replication.factor. */
    @Test
    void brokerDefaults() throws Exception {
        String topic = Strom.topic("defaults");
        CreateTopicsResult r = admin.createTopics(List.of(new NewTopic(topic, Optional.empty(), Optional.empty())));
        r.all().get(30, TimeUnit.SECONDS);
        assertEquals(1, r.numPartitions(topic).get(), "num.partitions default 1");
        assertEquals(1, r.replicationFactor(topic).get());
    }

    @Test
    void createPartitions() throws Exception {
        String topic = Strom.topic("grow");
        Strom.createTopic(admin, topic, 2);
        admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(5))).all().get(30, TimeUnit.SECONDS);
        Strom.waitForLeaders(admin, topic, 5);
        cause(InvalidPartitionsException.class,
                () -> admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(3))).all().get(30, TimeUnit.SECONDS));
        cause(InvalidPartitionsException.class,
                () -> admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(5))).all().get(30, TimeUnit.SECONDS));
        // an explicit assignment for the new partition (broker 1 is the only broker)
        admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(6, List.of(List.of(1))))).all().get(30, TimeUnit.SECONDS);
        Strom.waitForLeaders(admin, topic, 6);
        cause(UnknownTopicOrPartitionException.class,
                () -> admin.createPartitions(Map.of(Strom.topic("nope"), NewPartitions.increaseTo(2))).all().get(30, TimeUnit.SECONDS));
        // records go to the new partitions
        Strom.produceValues(bootstrap(), topic, 5, 3);
        assertEquals(3, Strom.readAll(bootstrap(), List.of(new org.apache.kafka.common.TopicPartition(topic, 5)), 3).size());
    }

    /** describeTopics uses DescribeTopicPartitions (KIP-966) with a cursor: a small page size still returns every partition. */
    @Test
    void describeTopicPartitionsPaging() throws Exception {
        String big = Strom.topic("paged");
        String small = Strom.topic("paged-small");
        Strom.createTopic(admin, big, 25);
        Strom.createTopic(admin, small, 2);
        Map<String, TopicDescription> ds = admin.describeTopics(List.of(big, small), new DescribeTopicsOptions().partitionSizeLimitPerResponse(7))
                .allTopicNames().get(30, TimeUnit.SECONDS);
        List<Integer> ids = new ArrayList<>();
        for (TopicPartitionInfo p : ds.get(big).partitions()) ids.add(p.partition());
        List<Integer> expected = new ArrayList<>();
        for (int i = 0; i < 25; i++) expected.add(i);
        assertEquals(expected, ids);
        assertEquals(2, ds.get(small).partitions().size());
    }

    /** listTopics hides internal topics unless asked; __consumer_offsets shows with listInternal once a group has committed. */
    @Test
    void listInternal() throws Exception {
        String topic = Strom.topic("internal");
        Strom.createTopic(admin, topic, 1);
        Strom.produceValues(bootstrap(), topic, 0, 1);
        String group = Strom.topic("g-internal");
        try (var c = Strom.consumer(bootstrap(), "group.id", group)) {
            var tp = new org.apache.kafka.common.TopicPartition(topic, 0);
            c.assign(List.of(tp));
            c.commitSync(Map.of(tp, new org.apache.kafka.clients.consumer.OffsetAndMetadata(1)));
        }
        assertFalse(admin.listTopics().names().get(30, TimeUnit.SECONDS).contains("__consumer_offsets"));
        Map<String, TopicListing> all = admin.listTopics(new ListTopicsOptions().listInternal(true)).namesToListings().get(30, TimeUnit.SECONDS);
        assertTrue(all.containsKey("__consumer_offsets"));
        assertTrue(all.get("__consumer_offsets").isInternal());
        TopicDescription d = admin.describeTopics(List.of("__consumer_offsets")).allTopicNames().get(30, TimeUnit.SECONDS).get("__consumer_offsets");
        assertTrue(d.isInternal());
        assertEquals(2, d.partitions().size(), "offsets.topic.num.partitions=2 (run.sh)");
    }
}
