package io.strom.compat.clients;

import static io.strom.compat.clients.Strom.clusterBootstrap;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.LogDirDescription;
import org.apache.kafka.clients.admin.NewPartitionReassignment;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.PartitionReassignment;
import org.apache.kafka.clients.admin.QuorumInfo;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.ElectionType;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.errors.ElectionNotNeededException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * AdminClient 4.4.0 calls that need several brokers, against a 3-node Strom cluster (`strom dev-cluster --nodes 3`):
 * DescribeCluster, DescribeQuorum with three voters, ElectLeaders, AlterPartitionReassignments /
 * ListPartitionReassignments (moving replicas and changing the replication factor, with data), DescribeLogDirs on
 * every node.
 */
class AdminReplicationTest {
    static Admin admin;

    @BeforeAll
    static void setUp() throws Exception {
        admin = Strom.admin(clusterBootstrap());
        Strom.waitUntil("3 brokers in describeCluster", Duration.ofSeconds(60), () -> {
            try {
                return admin.describeCluster().nodes().get(10, TimeUnit.SECONDS).size() == 3;
            } catch (Exception e) {
                return false;
            }
        });
    }

    @AfterAll
    static void tearDown() {
        admin.close();
    }

    private static TopicPartitionInfo partition(String topic, int p) throws Exception {
        TopicDescription d = admin.describeTopics(List.of(topic)).allTopicNames().get(30, TimeUnit.SECONDS).get(topic);
        return d.partitions().get(p);
    }

    private static List<Integer> ids(Collection<Node> nodes) {
        return nodes.stream().map(Node::id).collect(Collectors.toList());
    }

    /** Creates a topic with an explicit assignment and waits until every partition's ISR is its full replica set. */
    private static void createAssigned(String topic, Map<Integer, List<Integer>> assignment) throws Exception {
        admin.createTopics(List.of(new NewTopic(topic, assignment))).all().get(30, TimeUnit.SECONDS);
        Strom.waitUntil("all replicas of " + topic + " in sync", Duration.ofSeconds(60), () -> {
            try {
                for (Map.Entry<Integer, List<Integer>> e : assignment.entrySet()) {
                    TopicPartitionInfo info = partition(topic, e.getKey());
                    if (info.leader() == null || info.isr().size() != e.getValue().size()) return false;
                }
                return true;
            } catch (Exception ex) {
                return false;
            }
        });
    }

    @Test
    void describeClusterAndQuorum() throws Exception {
        Collection<Node> nodes = admin.describeCluster().nodes().get(30, TimeUnit.SECONDS);
        assertEquals(Set.of(1, 2, 3), Set.copyOf(ids(nodes)));
        int controller = admin.describeCluster().controller().get(30, TimeUnit.SECONDS).id();
        assertTrue(Set.of(1, 2, 3).contains(controller));
        QuorumInfo q = admin.describeMetadataQuorum().quorumInfo().get(30, TimeUnit.SECONDS);
        assertEquals(Set.of(1, 2, 3), q.voters().stream().map(QuorumInfo.ReplicaState::replicaId).collect(Collectors.toSet()));
        assertTrue(Set.of(1, 2, 3).contains(q.leaderId()));
        assertTrue(q.highWatermark() > 0);
        for (QuorumInfo.ReplicaState v : q.voters()) {
            assertTrue(v.logEndOffset() > 0, "voter " + v.replicaId() + " has the metadata log: " + v);
        }
    }

    /**
     * Preferred-replica election: a reassignment that only reorders the replicas leaves the old leader in place; then
     * ElectLeaders(PREFERRED) moves leadership to the new first replica. A second election is not needed.
     */
    @Test
    void electPreferredLeader() throws Exception {
        String topic = Strom.topic("elect");
        createAssigned(topic, Map.of(0, List.of(1, 2, 3)));
        TopicPartition tp = new TopicPartition(topic, 0);
        assertEquals(1, partition(topic, 0).leader().id());
        Strom.produceValues(clusterBootstrap(), topic, 0, 20);
        admin.alterPartitionReassignments(Map.of(tp, Optional.of(new NewPartitionReassignment(List.of(2, 1, 3))))).all()
                .get(30, TimeUnit.SECONDS);
        Strom.waitUntil("replicas reordered to [2, 1, 3]", Duration.ofSeconds(60), () -> {
            try {
                return ids(partition(topic, 0).replicas()).equals(List.of(2, 1, 3));
            } catch (Exception e) {
                return false;
            }
        });
        Map<TopicPartition, Optional<Throwable>> r = admin.electLeaders(ElectionType.PREFERRED, Set.of(tp)).partitions().get(30, TimeUnit.SECONDS);
        assertEquals(Optional.empty(), r.get(tp), "election result");
        Strom.waitUntil("leader is 2", Duration.ofSeconds(30), () -> {
            try {
                return partition(topic, 0).leader().id() == 2;
            } catch (Exception e) {
                return false;
            }
        });
        r = admin.electLeaders(ElectionType.PREFERRED, Set.of(tp)).partitions().get(30, TimeUnit.SECONDS);
        assertInstanceOf(ElectionNotNeededException.class, r.get(tp).orElseThrow());
        r = admin.electLeaders(ElectionType.UNCLEAN, Set.of(tp)).partitions().get(30, TimeUnit.SECONDS);
        assertInstanceOf(ElectionNotNeededException.class, r.get(tp).orElseThrow(), "a live leader needs no unclean election");
        // the data is all there, read from the new leader
        List<ConsumerRecord<String, String>> read = Strom.readAll(clusterBootstrap(), List.of(tp), 20);
        assertEquals("v19", read.get(19).value());
        Strom.produceValues(clusterBootstrap(), topic, 0, 1);
    }

    /** Moving a replica to another broker (1 -> 2) and growing the replication factor (-> [2, 3, 1]), data intact. */
    @Test
    void reassignPartitions() throws Exception {
        String topic = Strom.topic("reassign");
        createAssigned(topic, Map.of(0, List.of(1), 1, List.of(3)));
        TopicPartition p0 = new TopicPartition(topic, 0);
        Strom.produceValues(clusterBootstrap(), topic, 0, 200);
        admin.alterPartitionReassignments(Map.of(p0, Optional.of(new NewPartitionReassignment(List.of(2))))).all().get(30, TimeUnit.SECONDS);
        Strom.waitUntil("partition 0 moved to broker 2", Duration.ofSeconds(60), () -> {
            try {
                TopicPartitionInfo i = partition(topic, 0);
                return ids(i.replicas()).equals(List.of(2)) && i.leader() != null && i.leader().id() == 2;
            } catch (Exception e) {
                return false;
            }
        });
        Strom.waitUntil("no reassignment in progress", Duration.ofSeconds(30), () -> {
            try {
                return admin.listPartitionReassignments(Set.of(p0)).reassignments().get(10, TimeUnit.SECONDS).isEmpty();
            } catch (Exception e) {
                return false;
            }
        });
        List<ConsumerRecord<String, String>> read = Strom.readAll(clusterBootstrap(), List.of(p0), 200);
        assertEquals("v0", read.get(0).value());
        assertEquals("v199", read.get(199).value());

        admin.alterPartitionReassignments(Map.of(p0, Optional.of(new NewPartitionReassignment(List.of(2, 3, 1))))).all().get(30, TimeUnit.SECONDS);
        Map<TopicPartition, PartitionReassignment> ongoing = admin.listPartitionReassignments().reassignments().get(30, TimeUnit.SECONDS);
        if (ongoing.containsKey(p0)) { // may already be done; while it runs it lists what is being added
            PartitionReassignment pr = ongoing.get(p0);
            assertTrue(Set.of(1, 2, 3).containsAll(pr.replicas()), pr.toString());
        }
        Strom.waitUntil("partition 0 on [2, 3, 1], all in sync", Duration.ofSeconds(60), () -> {
            try {
                TopicPartitionInfo i = partition(topic, 0);
                return ids(i.replicas()).equals(List.of(2, 3, 1)) && i.isr().size() == 3;
            } catch (Exception e) {
                return false;
            }
        });
        Strom.produceValues(clusterBootstrap(), topic, 0, 5);
        assertEquals(205, Strom.readAll(clusterBootstrap(), List.of(p0), 205).size());
        // partition 1 was not touched
        assertEquals(List.of(3), ids(partition(topic, 1).replicas()));
    }

    @Test
    void describeLogDirsAllBrokers() throws Exception {
        String topic = Strom.topic("logdirs3");
        createAssigned(topic, Map.of(0, List.of(1, 2, 3)));
        Strom.produceValues(clusterBootstrap(), topic, 0, 30);
        TopicPartition tp = new TopicPartition(topic, 0);
        Strom.waitUntil("every replica holds the 30 records", Duration.ofSeconds(60), () -> {
            try {
                Map<Integer, Map<String, LogDirDescription>> all = admin.describeLogDirs(List.of(1, 2, 3)).allDescriptions().get(10, TimeUnit.SECONDS);
                for (int b = 1; b <= 3; b++) {
                    long size = all.get(b).values().stream().filter(d -> d.replicaInfos().containsKey(tp))
                            .mapToLong(d -> d.replicaInfos().get(tp).size()).sum();
                    if (size <= 30 * 4) return false;
                }
                return true;
            } catch (Exception e) {
                return false;
            }
        });
    }
}
