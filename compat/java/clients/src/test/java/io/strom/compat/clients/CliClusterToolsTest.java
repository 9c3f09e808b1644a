package io.strom.compat.clients;

import static io.strom.compat.clients.Strom.clusterBootstrap;
import static io.strom.compat.clients.Strom.runTool;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartitionInfo;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The CLI tools that need several brokers, against the 3-node Strom cluster: kafka-reassign-partitions.sh (--generate,
 * --execute, --verify, --list) and kafka-leader-election.sh (preferred election).
 */
class CliClusterToolsTest {
    static Admin admin;
    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

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
        return admin.describeTopics(List.of(topic)).allTopicNames().get(30, TimeUnit.SECONDS).get(topic).partitions().get(p);
    }

    private static List<Integer> ids(List<Node> nodes) {
        return nodes.stream().map(Node::id).collect(Collectors.toList());
    }

    private static void waitFor(String what, String topic, int p, java.util.function.Predicate<TopicPartitionInfo> ok) throws Exception {
        Strom.waitUntil(what, Duration.ofSeconds(60), () -> {
            try {
                return ok.test(partition(topic, p));
            } catch (Exception e) {
                return false;
            }
        });
    }

    @Test
    void reassignPartitions() throws Exception {
        String topic = Strom.topic("cli-reassign");
        admin.createTopics(List.of(new NewTopic(topic, Map.of(0, List.of(1), 1, List.of(2))))).all().get(30, TimeUnit.SECONDS);
        waitFor("leaders", topic, 1, i -> i.leader() != null);
        Strom.produceValues(clusterBootstrap(), topic, 0, 50);
        String tool = "org.apache.kafka.tools.reassign.ReassignPartitionsCommand";

        Path topics = tmp.resolve("topics.json");
        Files.writeString(topics, "{\"topics\": [{\"topic\": \"" + topic + "\"}], \"version\": 1}");
        Strom.ToolResult gen = runTool(tool, "--bootstrap-server", clusterBootstrap(), "--generate", "--topics-to-move-json-file",
                topics.toString(), "--broker-list", "2,3").assertOk();
        assertTrue(gen.stdout().contains("Current partition replica assignment"), gen.stdout());
        assertTrue(gen.stdout().contains("Proposed partition reassignment configuration"), gen.stdout());
        List<String> jsonLines = gen.lines().stream().filter(l -> l.startsWith("{")).toList();
        assertEquals(2, jsonLines.size(), gen.stdout());
        JsonNode current = JSON.readTree(jsonLines.get(0));
        assertEquals(2, current.path("partitions").size());
        JsonNode proposed = JSON.readTree(jsonLines.get(1));
        for (JsonNode p : proposed.path("partitions")) {
            for (JsonNode r : p.path("replicas")) assertTrue(r.asInt() == 2 || r.asInt() == 3, "proposal uses brokers 2,3: " + proposed);
        }

        Path plan = tmp.resolve("plan.json");
        Files.writeString(plan, "{\"version\": 1, \"partitions\": [{\"topic\": \"" + topic + "\", \"partition\": 0, \"replicas\": [3, 2], "
                + "\"log_dirs\": [\"any\", \"any\"]}]}");
        Strom.ToolResult exec = runTool(tool, "--bootstrap-server", clusterBootstrap(), "--execute", "--reassignment-json-file", plan.toString())
                .assertOk();
        assertTrue(exec.stdout().contains("Successfully started partition reassignment for " + topic + "-0"), exec.stdout());
        waitFor("partition 0 on [3, 2] in sync", topic, 0, i -> ids(i.replicas()).equals(List.of(3, 2)) && i.isr().size() == 2);
        Strom.ToolResult list = runTool(tool, "--bootstrap-server", clusterBootstrap(), "--list").assertOk();
        assertTrue(list.stdout().contains("No partition reassignments found."), list.stdout());
        assertEquals(50, Strom.readAll(clusterBootstrap(), List.of(new org.apache.kafka.common.TopicPartition(topic, 0)), 50).size());
    }

    /** Moves partition 0 of a new topic from broker 1 to [3, 2] with --execute (and optional extra arguments). */
    private String executePlan(String prefix, String... extra) throws Exception {
        String topic = Strom.topic(prefix);
        admin.createTopics(List.of(new NewTopic(topic, Map.of(0, List.of(1))))).all().get(30, TimeUnit.SECONDS);
        waitFor("leader", topic, 0, i -> i.leader() != null);
        Strom.produceValues(clusterBootstrap(), topic, 0, 20);
        Path plan = tmp.resolve(prefix + "-plan.json");
        Files.writeString(plan, "{\"version\": 1, \"partitions\": [{\"topic\": \"" + topic + "\", \"partition\": 0, \"replicas\": [3, 2]}]}");
        List<String> args = new java.util.ArrayList<>(List.of("--bootstrap-server", clusterBootstrap(), "--execute", "--reassignment-json-file",
                plan.toString()));
        args.addAll(List.of(extra));
        Strom.ToolResult exec = runTool("org.apache.kafka.tools.reassign.ReassignPartitionsCommand", args.toArray(String[]::new)).assertOk();
        assertTrue(exec.stdout().contains("Successfully started partition reassignment for " + topic + "-0"), exec.stdout());
        return topic;
    }

    /**
     * --verify after the move: reports completion, then clears the throttles it may have set (IncrementalAlterConfigs
     * DELETE of the broker-level *.replication.throttled.rate keys and the topic-level *.throttled.replicas keys).
     */
    @Test
    void reassignVerify() throws Exception {
        String topic = executePlan("cli-verify");
        Path plan = tmp.resolve("cli-verify-plan.json");
        waitFor("partition 0 on [3, 2] in sync", topic, 0, i -> ids(i.replicas()).equals(List.of(3, 2)) && i.isr().size() == 2);
        Strom.ToolResult verify = null;
        for (int attempt = 0; attempt < 20; attempt++) {
            verify = runTool("org.apache.kafka.tools.reassign.ReassignPartitionsCommand", "--bootstrap-server", clusterBootstrap(), "--verify",
                    "--reassignment-json-file", plan.toString()).assertOk();
            if (verify.stdout().contains("Reassignment of partition " + topic + "-0 is completed.")) break;
            Thread.sleep(1000);
        }
        assertTrue(verify.stdout().contains("Reassignment of partition " + topic + "-0 is completed."), verify.stdout());
        assertTrue(verify.stdout().contains("Clearing broker-level throttles on brokers"), verify.stdout());
    }

    /** --execute --throttle: sets leader/follower.replication.throttled.rate on the brokers and *.throttled.replicas on the topic. */
    @Test
    void reassignWithThrottle() throws Exception {
        String topic = executePlan("cli-throttle", "--throttle", "50000000");
        waitFor("partition 0 on [3, 2] in sync", topic, 0, i -> ids(i.replicas()).equals(List.of(3, 2)) && i.isr().size() == 2);
    }

    @Test
    void leaderElection() throws Exception {
        String topic = Strom.topic("cli-elect");
        admin.createTopics(List.of(new NewTopic(topic, Map.of(0, List.of(1, 2, 3))))).all().get(30, TimeUnit.SECONDS);
        waitFor("all in sync, leader 1", topic, 0, i -> i.leader() != null && i.leader().id() == 1 && i.isr().size() == 3);
        admin.alterPartitionReassignments(Map.of(new org.apache.kafka.common.TopicPartition(topic, 0),
                java.util.Optional.of(new org.apache.kafka.clients.admin.NewPartitionReassignment(List.of(3, 1, 2))))).all().get(30, TimeUnit.SECONDS);
        waitFor("replicas [3, 1, 2]", topic, 0, i -> ids(i.replicas()).equals(List.of(3, 1, 2)));
        String tool = "org.apache.kafka.tools.LeaderElectionCommand";
        Strom.ToolResult r = runTool(tool, "--bootstrap-server", clusterBootstrap(), "--election-type", "preferred", "--topic", topic,
                "--partition", "0").assertOk();
        assertTrue(r.stdout().contains("Successfully completed leader election (PREFERRED) for partitions " + topic + "-0"), r.stdout());
        waitFor("leader 3", topic, 0, i -> i.leader() != null && i.leader().id() == 3);
        Strom.ToolResult again = runTool(tool, "--bootstrap-server", clusterBootstrap(), "--election-type", "preferred", "--topic", topic,
                "--partition", "0").assertOk();
        assertTrue(again.stdout().contains("Valid replica already elected for partitions " + topic + "-0"), again.stdout());
    }
}
