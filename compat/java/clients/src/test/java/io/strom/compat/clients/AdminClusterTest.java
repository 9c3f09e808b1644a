package io.strom.compat.clients;

import static io.strom.compat.clients.Strom.bootstrap;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.DescribeReplicaLogDirsResult;
import org.apache.kafka.clients.admin.FeatureMetadata;
import org.apache.kafka.clients.admin.LogDirDescription;
import org.apache.kafka.clients.admin.QuorumInfo;
import org.apache.kafka.clients.admin.ReplicaInfo;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionReplica;
import org.apache.kafka.common.errors.ElectionNotNeededException;
import org.apache.kafka.common.errors.LogDirNotFoundException;
import org.apache.kafka.common.ElectionType;
import org.apache.kafka.common.errors.NoReassignmentInProgressException;
import org.apache.kafka.clients.admin.NewPartitionReassignment;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Cluster-level AdminClient 4.4.0 calls against one broker: DescribeCluster, DescribeLogDirs, DescribeQuorum,
 * ApiVersions features, and the replica calls that a single node answers (election not needed, no reassignment).
 */
class AdminClusterTest {
    static Admin admin;

    @BeforeAll
    static void setUp() {
        admin = Strom.admin(bootstrap());
    }

    @AfterAll
    static void tearDown() {
        admin.close();
    }

    @Test
    void describeCluster() throws Exception {
        DescribeClusterResult r = admin.describeCluster();
        Collection<Node> nodes = r.nodes().get(30, TimeUnit.SECONDS);
        assertEquals(1, nodes.size());
        Node n = nodes.iterator().next();
        assertEquals(1, n.id());
        assertEquals(bootstrap(), n.host() + ":" + n.port());
        String clusterId = r.clusterId().get(30, TimeUnit.SECONDS);
        assertNotNull(clusterId);
        assertEquals(22, clusterId.length(), "a base64 UUID, like Kafka's: " + clusterId);
        assertEquals(1, r.controller().get(30, TimeUnit.SECONDS).id());
        assertEquals(clusterId, admin.describeCluster().clusterId().get(30, TimeUnit.SECONDS), "stable");
    }

    @Test
    void describeLogDirs() throws Exception {
        String topic = Strom.topic("logdirs");
        Strom.createTopic(admin, topic, 2);
        Strom.produceValues(bootstrap(), topic, 0, 50);
        Map<String, LogDirDescription> dirs = admin.describeLogDirs(List.of(1)).allDescriptions().get(30, TimeUnit.SECONDS).get(1);
        assertEquals(1, dirs.size(), "one log dir: " + dirs.keySet());
        LogDirDescription d = dirs.values().iterator().next();
        assertTrue(d.error() == null, "no error: " + d.error());
        ReplicaInfo p0 = d.replicaInfos().get(new TopicPartition(topic, 0));
        ReplicaInfo p1 = d.replicaInfos().get(new TopicPartition(topic, 1));
        assertNotNull(p0, "partition 0 in " + d.replicaInfos().keySet());
        assertNotNull(p1);
        assertTrue(p0.size() > 50 * 4, "50 records take space: " + p0.size());
        assertEquals(0, p1.size(), "an empty partition");
        assertFalse(p0.isFuture());
        assertTrue(d.totalBytes().isPresent() && d.usableBytes().isPresent(), "v4 total/usable bytes: " + d);
        DescribeReplicaLogDirsResult rr = admin.describeReplicaLogDirs(List.of(new TopicPartitionReplica(topic, 0, 1)));
        DescribeReplicaLogDirsResult.ReplicaLogDirInfo info = rr.all().get(30, TimeUnit.SECONDS).get(new TopicPartitionReplica(topic, 0, 1));
        assertEquals(dirs.keySet().iterator().next(), info.getCurrentReplicaLogDir());
    }

    /**
     * AlterReplicaLogDirs (API 34) on a broker with one log dir: a move to the dir the replica is in is a no-op; a path
     * that is not one of log.dirs is LOG_DIR_NOT_FOUND. (Strom keeps all data in the first log dir and never moves a
     * replica between dirs.)
     */
    @Test
    void alterReplicaLogDirs() throws Exception {
        String topic = Strom.topic("movedir");
        Strom.createTopic(admin, topic, 1);
        TopicPartitionReplica r = new TopicPartitionReplica(topic, 0, 1);
        String dir = admin.describeReplicaLogDirs(List.of(r)).all().get(30, TimeUnit.SECONDS).get(r).getCurrentReplicaLogDir();
        admin.alterReplicaLogDirs(Map.of(r, dir)).all().get(30, TimeUnit.SECONDS);
        ExecutionException e = assertThrows(ExecutionException.class,
                () -> admin.alterReplicaLogDirs(Map.of(r, "/no/such/log/dir")).all().get(30, TimeUnit.SECONDS));
        assertInstanceOf(LogDirNotFoundException.class, e.getCause());
        assertEquals(dir, admin.describeReplicaLogDirs(List.of(r)).all().get(30, TimeUnit.SECONDS).get(r).getCurrentReplicaLogDir());
    }

    @Test
    void describeMetadataQuorum() throws Exception {
        QuorumInfo q = admin.describeMetadataQuorum().quorumInfo().get(30, TimeUnit.SECONDS);
        assertEquals(1, q.leaderId());
        assertTrue(q.leaderEpoch() >= 1, "epoch " + q.leaderEpoch());
        assertTrue(q.highWatermark() > 0, "the metadata log has records: " + q.highWatermark());
        assertEquals(1, q.voters().size());
        QuorumInfo.ReplicaState leader = q.voters().get(0);
        assertEquals(1, leader.replicaId());
        assertTrue(leader.logEndOffset() >= q.highWatermark());
        assertTrue(q.observers().isEmpty());
    }

    /** describeFeatures reads ApiVersions' feature fields: Kafka 4.x brokers finalize metadata.version. */
    @Test
    void describeFeatures() throws Exception {
        FeatureMetadata f = admin.describeFeatures().featureMetadata().get(30, TimeUnit.SECONDS);
        assertTrue(f.finalizedFeatures().containsKey("metadata.version"), "finalized: " + f.finalizedFeatures());
        assertTrue(f.supportedFeatures().containsKey("metadata.version"), "supported: " + f.supportedFeatures());
    }

    /** Preferred-leader election on a single node: the leader already is the preferred replica. */
    @Test
    void electLeadersNotNeeded() throws Exception {
        String topic = Strom.topic("elect1");
        Strom.createTopic(admin, topic, 1);
        TopicPartition tp = new TopicPartition(topic, 0);
        Map<TopicPartition, Optional<Throwable>> r = admin.electLeaders(ElectionType.PREFERRED, Set.of(tp)).partitions().get(30, TimeUnit.SECONDS);
        assertInstanceOf(ElectionNotNeededException.class, r.get(tp).orElseThrow());
    }

    @Test
    void noReassignments() throws Exception {
        String topic = Strom.topic("reassign1");
        Strom.createTopic(admin, topic, 1);
        TopicPartition tp = new TopicPartition(topic, 0);
        assertTrue(admin.listPartitionReassignments().reassignments().get(30, TimeUnit.SECONDS).isEmpty());
        Map<TopicPartition, Optional<NewPartitionReassignment>> cancel = Map.of(tp, Optional.empty());
        ExecutionException e = assertThrows(ExecutionException.class,
                () -> admin.alterPartitionReassignments(cancel).all().get(30, TimeUnit.SECONDS));
        assertInstanceOf(NoReassignmentInProgressException.class, e.getCause());
    }
}
