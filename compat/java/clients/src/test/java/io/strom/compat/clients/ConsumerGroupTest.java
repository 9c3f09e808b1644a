package io.strom.compat.clients;

import static io.strom.compat.clients.Strom.bootstrap;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.GroupType;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * KafkaConsumer 4.4.0 in groups against one Strom broker: the classic protocol (JoinGroup/SyncGroup/Heartbeat) with the
 * range and cooperative-sticky assignors, and the KIP-848 protocol (group.protocol=consumer, ConsumerGroupHeartbeat)
 * with the broker's assignors. Two members share a 4-partition topic; every record is consumed exactly once.
 */
class ConsumerGroupTest {
    static Admin admin;

    @BeforeAll
    static void setUp() {
        admin = Strom.admin(bootstrap());
    }

    @AfterAll
    static void tearDown() {
        admin.close();
    }

    /** Records what a member is assigned and what it gives up, rebalance by rebalance. */
    static final class Listener implements ConsumerRebalanceListener {
        final Set<TopicPartition> owned = ConcurrentHashMap.newKeySet();
        final List<Set<TopicPartition>> revocations = new CopyOnWriteArrayList<>();

        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
            if (!partitions.isEmpty()) revocations.add(new HashSet<>(partitions));
            owned.removeAll(partitions);
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
            owned.addAll(partitions);
        }

        @Override
        public void onPartitionsLost(Collection<TopicPartition> partitions) {
            owned.removeAll(partitions);
        }
    }

    private static String topicWithRecords(String prefix, int partitions, int perPartition) throws Exception {
        String topic = Strom.topic(prefix);
        Strom.createTopic(admin, topic, partitions);
        for (int p = 0; p < partitions; p++) Strom.produceValues(bootstrap(), topic, p, perPartition);
        return topic;
    }

    /** Polls both consumers until each owns {@code each} partitions and together all; collects what they read. */
    private static void pollUntilBalanced(List<KafkaConsumer<String, String>> consumers, List<Listener> listeners, int each,
                                          int total, Map<String, Integer> seen) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (true) {
            for (KafkaConsumer<String, String> c : consumers) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(100))) {
                    seen.merge(r.topic() + "/" + r.partition() + "/" + r.offset(), 1, Integer::sum);
                }
            }
            Set<TopicPartition> union = new HashSet<>();
            boolean balanced = true;
            for (Listener l : listeners) {
                balanced &= l.owned.size() == each;
                union.addAll(l.owned);
            }
            if (balanced && union.size() == total) return;
            if (System.nanoTime() > deadline) {
                throw new AssertionError("no balanced assignment within 60 s: " + listeners.stream().map(l -> l.owned.toString())
                        .collect(Collectors.joining(" | ")));
            }
        }
    }

    /** Keeps polling all consumers until {@code n} distinct records have been read; fails on a duplicate. */
    private static void pollUntilRead(List<KafkaConsumer<String, String>> consumers, Map<String, Integer> seen, int n) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (seen.size() < n) {
            if (System.nanoTime() > deadline) throw new AssertionError("read " + seen.size() + " of " + n + " records in 30 s");
            for (KafkaConsumer<String, String> c : consumers) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(100))) {
                    seen.merge(r.topic() + "/" + r.partition() + "/" + r.offset(), 1, Integer::sum);
                }
            }
        }
    }

    private static KafkaConsumer<String, String> classic(String group, String assignor, Listener l, String topic) {
        KafkaConsumer<String, String> c = Strom.consumer(bootstrap(), ConsumerConfig.GROUP_ID_CONFIG, group,
                ConsumerConfig.GROUP_PROTOCOL_CONFIG, "classic",
                ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, assignor,
                ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, 6000, ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, 500,
                ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "true", ConsumerConfig.AUTO_COMMIT_INTERVAL_MS_CONFIG, 200);
        c.subscribe(List.of(topic), l);
        return c;
    }

    /** Range assignor: with two members and 4 partitions, the first member (by member id) gets 0-1, the other 2-3. */
    @Test
    void classicRangeAssignor() throws Exception {
        String topic = topicWithRecords("range", 4, 25);
        String group = Strom.topic("g-range");
        Listener l1 = new Listener(), l2 = new Listener();
        Map<String, Integer> seen = new ConcurrentHashMap<>();
        try (KafkaConsumer<String, String> c1 = classic(group, RangeAssignor.class.getName(), l1, topic);
             KafkaConsumer<String, String> c2 = classic(group, RangeAssignor.class.getName(), l2, topic)) {
            pollUntilBalanced(List.of(c1, c2), List.of(l1, l2), 2, 4, seen);
            pollUntilRead(List.of(c1, c2), seen, 100);
            for (Listener l : List.of(l1, l2)) {
                Set<Integer> ps = l.owned.stream().map(TopicPartition::partition).collect(Collectors.toSet());
                assertTrue(ps.equals(Set.of(0, 1)) || ps.equals(Set.of(2, 3)), "range assignment is contiguous: " + ps);
            }
            ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group)).all().get(30, TimeUnit.SECONDS).get(group);
            assertEquals(GroupType.CLASSIC, d.type());
            assertEquals("range", d.partitionAssignor());
            assertEquals(GroupState.STABLE, d.groupState());
            assertEquals(2, d.members().size());
            c1.commitSync();
            c2.commitSync();
        }
        seen.values().forEach(v -> assertEquals(1, v, "each record once: " + seen));
        assertEquals(100, seen.size());
        Map<TopicPartition, OffsetAndMetadata> committed = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata()
                .get(30, TimeUnit.SECONDS);
        for (int p = 0; p < 4; p++) assertEquals(25, committed.get(new TopicPartition(topic, p)).offset(), "committed offset of " + p);
    }

    /**
     * Cooperative-sticky: the first member owns all 4 partitions; when the second joins, the first gives up only the 2
     * that move (incremental, KIP-429) and keeps the rest throughout; no record is read twice.
     */
    @Test
    void classicCooperativeSticky() throws Exception {
        String topic = topicWithRecords("coop", 4, 25);
        String group = Strom.topic("g-coop");
        Listener l1 = new Listener(), l2 = new Listener();
        Map<String, Integer> seen = new ConcurrentHashMap<>();
        try (KafkaConsumer<String, String> c1 = classic(group, CooperativeStickyAssignor.class.getName(), l1, topic)) {
            pollUntilBalanced(List.of(c1), List.of(l1), 4, 4, seen);
            pollUntilRead(List.of(c1), seen, 100);
            c1.commitSync();
            Set<TopicPartition> before = new HashSet<>(l1.owned);
            try (KafkaConsumer<String, String> c2 = classic(group, CooperativeStickyAssignor.class.getName(), l2, topic)) {
                pollUntilBalanced(List.of(c1, c2), List.of(l1, l2), 2, 4, seen);
                assertEquals(1, l1.revocations.size(), "one incremental revocation: " + l1.revocations);
                assertEquals(2, l1.revocations.get(0).size(), "only the moved partitions are revoked: " + l1.revocations);
                assertTrue(before.containsAll(l1.owned));
                assertEquals(Collections.emptySet(), intersection(l1.owned, l2.owned));
                for (int p = 0; p < 4; p++) Strom.produceValues(bootstrap(), topic, p, 5);
                pollUntilRead(List.of(c1, c2), seen, 120);
                ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group)).all().get(30, TimeUnit.SECONDS).get(group);
                assertEquals("cooperative-sticky", d.partitionAssignor());
                assertEquals(2, d.members().size());
            }
        }
        seen.values().forEach(v -> assertEquals(1, v, "each record once"));
        assertEquals(120, seen.size());
    }

    private static Set<TopicPartition> intersection(Set<TopicPartition> a, Set<TopicPartition> b) {
        Set<TopicPartition> s = new HashSet<>(a);
        s.retainAll(b);
        return s;
    }

    private static KafkaConsumer<String, String> kip848(String group, String remoteAssignor, Listener l, String topic) {
        List<Object> o = new ArrayList<>(List.of(ConsumerConfig.GROUP_ID_CONFIG, group, ConsumerConfig.GROUP_PROTOCOL_CONFIG, "consumer"));
        if (remoteAssignor != null) o.addAll(List.of(ConsumerConfig.GROUP_REMOTE_ASSIGNOR_CONFIG, remoteAssignor));
        KafkaConsumer<String, String> c = Strom.consumer(bootstrap(), o.toArray());
        c.subscribe(List.of(topic), l);
        return c;
    }

    private void kip848Group(String remoteAssignor) throws Exception {
        String topic = topicWithRecords("kip848", 4, 25);
        String group = Strom.topic("g-848");
        Listener l1 = new Listener(), l2 = new Listener();
        Map<String, Integer> seen = new ConcurrentHashMap<>();
        try (KafkaConsumer<String, String> c1 = kip848(group, remoteAssignor, l1, topic);
             KafkaConsumer<String, String> c2 = kip848(group, remoteAssignor, l2, topic)) {
            pollUntilBalanced(List.of(c1, c2), List.of(l1, l2), 2, 4, seen);
            pollUntilRead(List.of(c1, c2), seen, 100);
            c1.commitSync();
            c2.commitSync();
            ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group)).all().get(30, TimeUnit.SECONDS).get(group);
            assertEquals(GroupType.CONSUMER, d.type());
            assertEquals(GroupState.STABLE, d.groupState());
            assertEquals(2, d.members().size());
            if (remoteAssignor != null) assertEquals(remoteAssignor, d.partitionAssignor());
            Set<TopicPartition> described = new HashSet<>();
            for (MemberDescription m : d.members()) described.addAll(m.assignment().topicPartitions());
            assertEquals(4, described.size(), "members' assignments cover the topic: " + d);
        }
        seen.values().forEach(v -> assertEquals(1, v, "each record once"));
        Map<TopicPartition, OffsetAndMetadata> committed = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata()
                .get(30, TimeUnit.SECONDS);
        for (int p = 0; p < 4; p++) assertEquals(25, committed.get(new TopicPartition(topic, p)).offset(), "committed offset of " + p);
    }

    /** KIP-848 consumer group with the broker's default assignor. */
    @Test
    void consumerProtocol() throws Exception {
        kip848Group(null);
    }

    /** KIP-848 consumer group asking for the broker's range assignor (group.remote.assignor). */
    @Test
    void consumerProtocolRangeAssignor() throws Exception {
        kip848Group("range");
    }

    /** A member leaving (close) hands its partitions to the remaining member, which reads on from the committed offsets. */
    @Test
    void memberLeavesClassic() throws Exception {
        String topic = topicWithRecords("leave", 2, 10);
        String group = Strom.topic("g-leave");
        Listener l1 = new Listener(), l2 = new Listener();
        Map<String, Integer> seen = new ConcurrentHashMap<>();
        try (KafkaConsumer<String, String> c1 = classic(group, RangeAssignor.class.getName(), l1, topic)) {
            try (KafkaConsumer<String, String> c2 = classic(group, RangeAssignor.class.getName(), l2, topic)) {
                pollUntilBalanced(List.of(c1, c2), List.of(l1, l2), 1, 2, seen);
                pollUntilRead(List.of(c1, c2), seen, 20);
                c1.commitSync();
                c2.commitSync();
            }
            pollUntilBalanced(List.of(c1), List.of(l1), 2, 2, seen);
            for (int p = 0; p < 2; p++) Strom.produceValues(bootstrap(), topic, p, 3);
            pollUntilRead(List.of(c1), seen, 26);
        }
        seen.values().forEach(v -> assertEquals(1, v, "each record once: " + seen));
    }

    /**
     * subscribe(Pattern): the classic protocol matches the regex in the client against Metadata; the KIP-848 protocol
     * sends it to the broker (ConsumerGroupHeartbeat SubscribedTopicRegex, RE2J syntax), which resolves it. Both pick up
     * the two matching topics, not the third, and a matching topic created after the subscription.
     */
    private void regexSubscription(String protocol) throws Exception {
        String prefix = "rx" + java.util.UUID.randomUUID().toString().substring(0, 6);
        String a = prefix + "-a", b = prefix + "-b", other = "other-" + prefix;
        for (String t : List.of(a, b, other)) {
            Strom.createTopic(admin, t, 1);
            Strom.produceValues(bootstrap(), t, 0, 3);
        }
        String group = Strom.topic("g-regex-" + protocol);
        Listener l = new Listener();
        Map<String, Integer> seen = new ConcurrentHashMap<>();
        try (KafkaConsumer<String, String> c = Strom.consumer(bootstrap(), ConsumerConfig.GROUP_ID_CONFIG, group,
                ConsumerConfig.GROUP_PROTOCOL_CONFIG, protocol, ConsumerConfig.METADATA_MAX_AGE_CONFIG, 1000,
                // the classic default (range, eager) revokes everything when the late topic joins: auto-commit
                // commits before that, so the partitions kept resume where they were
                ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "true")) {
            c.subscribe(java.util.regex.Pattern.compile(prefix + "-.*"), l);
            pollUntilRead(List.of(c), seen, 6);
            assertTrue(seen.keySet().stream().allMatch(k -> k.startsWith(prefix + "-")), "only matching topics: " + seen.keySet());
            String late = prefix + "-late";
            Strom.createTopic(admin, late, 1);
            Strom.produceValues(bootstrap(), late, 0, 2);
            pollUntilRead(List.of(c), seen, 8);
            assertEquals(Set.of(a, b, late), l.owned.stream().map(TopicPartition::topic).collect(Collectors.toSet()));
        }
        seen.values().forEach(v -> assertEquals(1, v, "each record once"));
    }

    @Test
    void regexSubscriptionClassic() throws Exception {
        regexSubscription("classic");
    }

    @Test
    void regexSubscriptionConsumerProtocol() throws Exception {
        regexSubscription("consumer");
    }
}
