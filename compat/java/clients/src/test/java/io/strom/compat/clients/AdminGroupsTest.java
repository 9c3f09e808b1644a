package io.strom.compat.clients;

import static io.strom.compat.clients.Strom.bootstrap;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ClassicGroupDescription;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.ListConsumerGroupOffsetsSpec;
import org.apache.kafka.clients.admin.ListGroupsOptions;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.MemberToRemove;
import org.apache.kafka.clients.admin.RemoveMembersFromConsumerGroupOptions;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.GroupType;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.GroupIdNotFoundException;
import org.apache.kafka.common.errors.GroupNotEmptyException;
import org.apache.kafka.common.errors.GroupSubscribedToTopicException;
import org.apache.kafka.common.errors.UnknownMemberIdException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Consumer-group admin calls (AdminClient 4.4.0): ListGroups, DescribeGroups / ConsumerGroupDescribe, OffsetFetch,
 * OffsetCommit (alter), OffsetDelete, DeleteGroups, LeaveGroup (remove members).
 */
class AdminGroupsTest {
    static Admin admin;

    @BeforeAll
    static void setUp() {
        admin = Strom.admin(bootstrap());
    }

    @AfterAll
    static void tearDown() {
        admin.close();
    }

    private static KafkaConsumer<String, String> member(String group, String topic, String instanceId) {
        Object[] o = instanceId == null
                ? new Object[] {ConsumerConfig.GROUP_ID_CONFIG, group, ConsumerConfig.GROUP_PROTOCOL_CONFIG, "classic",
                        ConsumerConfig.CLIENT_ID_CONFIG, "member-of-" + group}
                : new Object[] {ConsumerConfig.GROUP_ID_CONFIG, group, ConsumerConfig.GROUP_PROTOCOL_CONFIG, "classic",
                        ConsumerConfig.CLIENT_ID_CONFIG, "member-of-" + group, ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, instanceId};
        KafkaConsumer<String, String> c = Strom.consumer(bootstrap(), o);
        c.subscribe(List.of(topic));
        return c;
    }

    /** Polls until the member has an assignment (joined and synced). */
    private static void joined(KafkaConsumer<String, String> c) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (c.assignment().isEmpty()) {
            if (System.nanoTime() > deadline) throw new AssertionError("no assignment in 30 s");
            c.poll(Duration.ofMillis(100));
        }
    }

    private static Map<TopicPartition, OffsetAndMetadata> offsets(String group) throws Exception {
        return admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS);
    }

    @Test
    void listAndDescribe() throws Exception {
        String topic = Strom.topic("grp");
        Strom.createTopic(admin, topic, 2);
        String group = Strom.topic("g-describe");
        try (KafkaConsumer<String, String> c = member(group, topic, null)) {
            joined(c);
            Strom.produceValues(bootstrap(), topic, 0, 5);
            Strom.poll(c, 5, Duration.ofSeconds(30));
            c.commitSync();

            Collection<GroupListing> all = admin.listGroups().all().get(30, TimeUnit.SECONDS);
            GroupListing l = all.stream().filter(g -> g.groupId().equals(group)).findFirst().orElseThrow(() -> new AssertionError(all.toString()));
            assertEquals(Optional.of(GroupType.CLASSIC), l.type());
            assertEquals("consumer", l.protocol());
            assertEquals(Optional.of(GroupState.STABLE), l.groupState());
            Collection<GroupListing> stable = admin.listGroups(ListGroupsOptions.forConsumerGroups().inGroupStates(Set.of(GroupState.STABLE)))
                    .all().get(30, TimeUnit.SECONDS);
            assertTrue(stable.stream().anyMatch(g -> g.groupId().equals(group)));
            Collection<GroupListing> empty = admin.listGroups(ListGroupsOptions.forConsumerGroups().inGroupStates(Set.of(GroupState.EMPTY)))
                    .all().get(30, TimeUnit.SECONDS);
            assertFalse(empty.stream().anyMatch(g -> g.groupId().equals(group)), "filtered by state");
            assertTrue(admin.listConsumerGroups().all().get(30, TimeUnit.SECONDS).stream().anyMatch(g -> g.groupId().equals(group)));

            ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group)).all().get(30, TimeUnit.SECONDS).get(group);
            assertEquals(GroupState.STABLE, d.groupState());
            assertEquals(GroupType.CLASSIC, d.type());
            assertFalse(d.isSimpleConsumerGroup());
            assertEquals(1, d.coordinator().id());
            assertEquals(1, d.members().size());
            MemberDescription m = d.members().iterator().next();
            assertEquals("member-of-" + group, m.clientId());
            assertTrue(m.host().contains("127.0.0.1"), "host: " + m.host());
            assertEquals(Set.of(new TopicPartition(topic, 0), new TopicPartition(topic, 1)), m.assignment().topicPartitions());

            ClassicGroupDescription cd = admin.describeClassicGroups(List.of(group)).all().get(30, TimeUnit.SECONDS).get(group);
            assertEquals("consumer", cd.protocol());
            assertEquals("range", cd.protocolData());
            assertEquals(1, cd.members().size());

            assertEquals(5, offsets(group).get(new TopicPartition(topic, 0)).offset());
            // listConsumerGroupOffsets for some partitions only
            Map<TopicPartition, OffsetAndMetadata> some = admin.listConsumerGroupOffsets(Map.of(group,
                    new ListConsumerGroupOffsetsSpec().topicPartitions(List.of(new TopicPartition(topic, 0))))).partitionsToOffsetAndMetadata(group)
                    .get(30, TimeUnit.SECONDS);
            assertEquals(Set.of(new TopicPartition(topic, 0)), some.keySet());
        }
        // after the member left: EMPTY, offsets kept
        Strom.waitUntil("group empty", Duration.ofSeconds(30), () -> {
            try {
                return admin.describeConsumerGroups(List.of(group)).all().get(10, TimeUnit.SECONDS).get(group).groupState() == GroupState.EMPTY;
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
        assertEquals(5, offsets(group).get(new TopicPartition(topic, 0)).offset());
        // Kafka 4.x: ConsumerGroupDescribe, then DescribeGroups v6 (KIP-1043), both GROUP_ID_NOT_FOUND
        ExecutionException e = assertThrows(ExecutionException.class,
                () -> admin.describeConsumerGroups(List.of(Strom.topic("g-unknown"))).all().get(30, TimeUnit.SECONDS));
        assertInstanceOf(GroupIdNotFoundException.class, e.getCause());
    }

    @Test
    void alterAndDeleteOffsets() throws Exception {
        String topic = Strom.topic("grp-off");
        Strom.createTopic(admin, topic, 2);
        Strom.produceValues(bootstrap(), topic, 0, 10);
        Strom.produceValues(bootstrap(), topic, 1, 10);
        String group = Strom.topic("g-alter");
        TopicPartition p0 = new TopicPartition(topic, 0), p1 = new TopicPartition(topic, 1);
        // alter on a group that does not exist yet creates its offsets (a simple consumer group)
        admin.alterConsumerGroupOffsets(group, Map.of(p0, new OffsetAndMetadata(4, "meta"), p1, new OffsetAndMetadata(9)))
                .all().get(30, TimeUnit.SECONDS);
        Map<TopicPartition, OffsetAndMetadata> o = offsets(group);
        assertEquals(4, o.get(p0).offset());
        assertEquals("meta", o.get(p0).metadata());
        assertEquals(9, o.get(p1).offset());
        // a consumer of the group starts there
        try (KafkaConsumer<String, String> c = Strom.consumer(bootstrap(), ConsumerConfig.GROUP_ID_CONFIG, group)) {
            c.assign(List.of(p0, p1));
            assertEquals(6 + 1, Strom.poll(c, 7, Duration.ofSeconds(30)).size());
        }
        admin.deleteConsumerGroupOffsets(group, Set.of(p1)).all().get(30, TimeUnit.SECONDS);
        o = offsets(group);
        assertEquals(Set.of(p0), o.entrySet().stream().filter(e -> e.getValue() != null).map(Map.Entry::getKey).collect(Collectors.toSet()));

        // with an active member subscribed to the topic: altering fails (UNKNOWN_MEMBER_ID) and deleting offsets too
        try (KafkaConsumer<String, String> c = member(group, topic, null)) {
            joined(c);
            ExecutionException e = assertThrows(ExecutionException.class, () -> admin.alterConsumerGroupOffsets(group,
                    Map.of(p0, new OffsetAndMetadata(1))).all().get(30, TimeUnit.SECONDS));
            assertInstanceOf(UnknownMemberIdException.class, e.getCause(), "Kafka: a non-empty group refuses admin offset commits");
            e = assertThrows(ExecutionException.class, () -> admin.deleteConsumerGroupOffsets(group, Set.of(p0)).all().get(30, TimeUnit.SECONDS));
            assertInstanceOf(GroupSubscribedToTopicException.class, e.getCause());
        }
    }

    @Test
    void deleteGroups() throws Exception {
        String topic = Strom.topic("grp-del");
        Strom.createTopic(admin, topic, 1);
        String group = Strom.topic("g-delete");
        try (KafkaConsumer<String, String> c = member(group, topic, null)) {
            joined(c);
            c.commitSync(Map.of(new TopicPartition(topic, 0), new OffsetAndMetadata(0)));
            ExecutionException e = assertThrows(ExecutionException.class, () -> admin.deleteConsumerGroups(List.of(group)).all().get(30, TimeUnit.SECONDS));
            assertInstanceOf(GroupNotEmptyException.class, e.getCause());
        }
        admin.deleteConsumerGroups(List.of(group)).all().get(30, TimeUnit.SECONDS);
        assertFalse(admin.listGroups().all().get(30, TimeUnit.SECONDS).stream().anyMatch(g -> g.groupId().equals(group)));
        assertTrue(offsets(group).isEmpty(), "offsets deleted with the group");
        ExecutionException e = assertThrows(ExecutionException.class, () -> admin.deleteConsumerGroups(List.of(group)).all().get(30, TimeUnit.SECONDS));
        assertInstanceOf(GroupIdNotFoundException.class, e.getCause());
    }

    /** removeMembersFromConsumerGroup: a static member by its group.instance.id, and all members at once. */
    @Test
    void removeMembers() throws Exception {
        String topic = Strom.topic("grp-remove");
        Strom.createTopic(admin, topic, 1);
        String group = Strom.topic("g-remove");
        try (KafkaConsumer<String, String> c = member(group, topic, "static-1")) {
            joined(c);
            admin.removeMembersFromConsumerGroup(group, new RemoveMembersFromConsumerGroupOptions(List.of(new MemberToRemove("static-1"))))
                    .all().get(30, TimeUnit.SECONDS);
            ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group)).all().get(30, TimeUnit.SECONDS).get(group);
            assertTrue(d.members().isEmpty(), "removed: " + d);
            ExecutionException e = assertThrows(ExecutionException.class, () -> admin.removeMembersFromConsumerGroup(group,
                    new RemoveMembersFromConsumerGroupOptions(List.of(new MemberToRemove("no-such-instance")))).all().get(30, TimeUnit.SECONDS));
            assertInstanceOf(UnknownMemberIdException.class, e.getCause());
        }
        String group2 = Strom.topic("g-remove-all");
        try (KafkaConsumer<String, String> c1 = member(group2, topic, null)) {
            joined(c1);
            admin.removeMembersFromConsumerGroup(group2, new RemoveMembersFromConsumerGroupOptions()).all().get(30, TimeUnit.SECONDS);
            assertTrue(admin.describeConsumerGroups(List.of(group2)).all().get(30, TimeUnit.SECONDS).get(group2).members().isEmpty());
        }
    }
}
