package io.strom.compat.clients;

import static io.strom.compat.clients.Strom.bootstrap;
import static io.strom.compat.clients.Strom.runTool;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Kafka 4.4.0's CLI tools (main classes of kafka-tools, what bin/kafka-*.sh run) in a child JVM against one Strom
 * broker; each tool's normal use, its output parsed and the effect checked with the AdminClient or a consumer.
 */
class CliToolsTest {
    static Admin admin;
    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    @BeforeAll
    static void setUp() {
        admin = Strom.admin(bootstrap());
    }

    @AfterAll
    static void tearDown() {
        admin.close();
    }

    private static long endOffset(TopicPartition tp) throws Exception {
        return admin.listOffsets(Map.of(tp, OffsetSpec.latest())).partitionResult(tp).get(30, TimeUnit.SECONDS).offset();
    }

    /** kafka-topics.sh: --create, --list, --describe, --alter --partitions, --delete. */
    @Test
    void kafkaTopics() throws Exception {
        String topic = Strom.topic("cli-topics");
        String tool = "org.apache.kafka.tools.TopicCommand";
        runTool(tool, "--bootstrap-server", bootstrap(), "--create", "--topic", topic, "--partitions", "3",
                "--replication-factor", "1", "--config", "retention.ms=7200000").assertOk();
        Strom.waitForLeaders(admin, topic, 3);
        assertTrue(runTool(tool, "--bootstrap-server", bootstrap(), "--list").assertOk().lines().contains(topic));
        Strom.ToolResult d = runTool(tool, "--bootstrap-server", bootstrap(), "--describe", "--topic", topic).assertOk();
        assertTrue(d.stdout().matches("(?s).*Topic: " + Pattern.quote(topic) + "\\s+TopicId: \\S+\\s+PartitionCount: 3\\s+ReplicationFactor: 1\\s+Configs: .*retention.ms=7200000.*"),
                d.stdout());
        for (int p = 0; p < 3; p++) {
            assertTrue(d.stdout().matches("(?s).*Topic: " + Pattern.quote(topic) + "\\s+Partition: " + p + "\\s+Leader: 1\\s+Replicas: 1\\s+Isr: 1.*"), d.stdout());
        }
        runTool(tool, "--bootstrap-server", bootstrap(), "--alter", "--topic", topic, "--partitions", "5").assertOk();
        Strom.waitForLeaders(admin, topic, 5);
        Strom.ToolResult dup = runTool(tool, "--bootstrap-server", bootstrap(), "--create", "--topic", topic, "--partitions", "1");
        assertEquals(1, dup.exitCode());
        assertTrue(dup.stdout().contains("already exists") || dup.stderr().contains("already exists"), dup.stderr());
        runTool(tool, "--bootstrap-server", bootstrap(), "--delete", "--topic", topic).assertOk();
        Strom.waitUntil("topic deleted", Duration.ofSeconds(30), () -> {
            try {
                return !admin.listTopics().names().get(10, TimeUnit.SECONDS).contains(topic);
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
    }

    /** kafka-configs.sh: --alter --add-config / --delete-config on a topic, --describe (topic and broker). */
    @Test
    void kafkaConfigs() throws Exception {
        String topic = Strom.topic("cli-configs");
        Strom.createTopic(admin, topic, 1);
        String tool = "org.apache.kafka.tools.ConfigCommand";
        runTool(tool, "--bootstrap-server", bootstrap(), "--alter", "--entity-type", "topics", "--entity-name", topic,
                "--add-config", "retention.ms=5000000,max.message.bytes=500000").assertOk();
        Config c = admin.describeConfigs(List.of(new ConfigResource(ConfigResource.Type.TOPIC, topic))).all().get(30, TimeUnit.SECONDS)
                .values().iterator().next();
        assertEquals("5000000", c.get("retention.ms").value());
        assertEquals("500000", c.get("max.message.bytes").value());
        Strom.ToolResult d = runTool(tool, "--bootstrap-server", bootstrap(), "--describe", "--entity-type", "topics", "--entity-name", topic).assertOk();
        assertTrue(d.stdout().contains("Dynamic configs for topic " + topic + " are:"), d.stdout());
        assertTrue(d.stdout().contains("retention.ms=5000000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=5000000"), d.stdout());
        runTool(tool, "--bootstrap-server", bootstrap(), "--alter", "--entity-type", "topics", "--entity-name", topic,
                "--delete-config", "retention.ms").assertOk();
        d = runTool(tool, "--bootstrap-server", bootstrap(), "--describe", "--entity-type", "topics", "--entity-name", topic).assertOk();
        assertFalse(d.stdout().contains("retention.ms="), d.stdout());
        assertTrue(d.stdout().contains("max.message.bytes=500000"), d.stdout());
        Strom.ToolResult all = runTool(tool, "--bootstrap-server", bootstrap(), "--describe", "--entity-type", "brokers", "--entity-name", "1", "--all")
                .assertOk();
        assertTrue(all.stdout().contains("All configs for broker 1 are:"), all.stdout());
        assertTrue(all.stdout().contains("num.partitions=1"), all.stdout());
    }

    /** kafka-console-producer.sh (keys parsed from stdin) and kafka-console-consumer.sh (keys printed, --max-messages). */
    @Test
    void consoleProducerAndConsumer() throws Exception {
        String topic = Strom.topic("cli-console");
        Strom.createTopic(admin, topic, 1);
        String input = "k1:hello\nk2:world\nk3:with spaces and : colon\n";
        runTool(Duration.ofSeconds(60), input, "org.apache.kafka.tools.ConsoleProducer", "--bootstrap-server", bootstrap(), "--topic", topic,
                "--reader-property", "parse.key=true", "--reader-property", "key.separator=:", "--request-required-acks", "all").assertOk();
        List<ConsumerRecord<String, String>> read = Strom.readAll(bootstrap(), topic, 1, 3);
        assertEquals("k1", read.get(0).key());
        assertEquals("hello", read.get(0).value());
        assertEquals("k3", read.get(2).key());
        assertEquals("with spaces and : colon", read.get(2).value());

        Strom.ToolResult out = runTool(Duration.ofSeconds(60), null, "org.apache.kafka.tools.consumer.ConsoleConsumer", "--bootstrap-server", bootstrap(),
                "--topic", topic, "--from-beginning", "--max-messages", "3", "--formatter-property", "print.key=true",
                "--formatter-property", "key.separator=|", "--group", Strom.topic("g-console")).assertOk();
        assertEquals(List.of("k1|hello", "k2|world", "k3|with spaces and : colon"), out.lines());
        assertTrue(out.stderr().contains("Processed a total of 3 messages"), out.stderr());
        // one partition, an offset: --partition 0 --offset 1
        out = runTool(Duration.ofSeconds(60), null, "org.apache.kafka.tools.consumer.ConsoleConsumer", "--bootstrap-server", bootstrap(),
                "--topic", topic, "--partition", "0", "--offset", "1", "--max-messages", "2").assertOk();
        assertEquals(List.of("world", "with spaces and : colon"), out.lines());
    }

    private static final Pattern DESCRIBE_ROW = Pattern.compile("(?m)^(\\S+)\\s+(\\S+)\\s+(\\d+)\\s+(\\S+)\\s+(\\d+)\\s+(\\S+)\\s+.*$");

    /** kafka-consumer-groups.sh: --list, --describe (offsets and lag), --reset-offsets --to-earliest/--to-offset --execute, --delete. */
    @Test
    void consumerGroups() throws Exception {
        String topic = Strom.topic("cli-groups");
        Strom.createTopic(admin, topic, 2);
        Strom.produceValues(bootstrap(), topic, 0, 10);
        Strom.produceValues(bootstrap(), topic, 1, 4);
        String group = Strom.topic("g-cli");
        TopicPartition p0 = new TopicPartition(topic, 0), p1 = new TopicPartition(topic, 1);
        try (var c = Strom.consumer(bootstrap(), ConsumerConfig.GROUP_ID_CONFIG, group)) {
            c.assign(List.of(p0, p1));
            c.commitSync(Map.of(p0, new OffsetAndMetadata(3), p1, new OffsetAndMetadata(4)));
        }
        String tool = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand";
        assertTrue(runTool(tool, "--bootstrap-server", bootstrap(), "--list").assertOk().lines().contains(group));
        Strom.ToolResult d = runTool(tool, "--bootstrap-server", bootstrap(), "--describe", "--group", group).assertOk();
        assertTrue((d.stdout() + d.stderr()).contains("Consumer group '" + group + "' has no active members."), d.stderr());
        Map<Integer, long[]> rows = describeRows(d.stdout(), group, topic);
        assertEquals(2, rows.size(), d.stdout());
        assertEquals(List.of(3L, 10L, 7L), List.of(rows.get(0)[0], rows.get(0)[1], rows.get(0)[2]), "p0 current, log-end, lag");
        assertEquals(List.of(4L, 4L, 0L), List.of(rows.get(1)[0], rows.get(1)[1], rows.get(1)[2]), "p1 current, log-end, lag");

        Strom.ToolResult dry = runTool(tool, "--bootstrap-server", bootstrap(), "--reset-offsets", "--group", group, "--topic", topic,
                "--to-earliest", "--dry-run").assertOk();
        assertTrue(dry.stdout().contains("NEW-OFFSET"), dry.stdout());
        assertEquals(3, admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS).get(p0).offset(),
                "dry run changes nothing");
        runTool(tool, "--bootstrap-server", bootstrap(), "--reset-offsets", "--group", group, "--topic", topic, "--to-earliest", "--execute").assertOk();
        Map<TopicPartition, OffsetAndMetadata> o = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS);
        assertEquals(0, o.get(p0).offset());
        assertEquals(0, o.get(p1).offset());
        runTool(tool, "--bootstrap-server", bootstrap(), "--reset-offsets", "--group", group, "--topic", topic + ":0", "--to-offset", "6", "--execute").assertOk();
        assertEquals(6, admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS).get(p0).offset());
        Strom.ToolResult shifted = runTool(tool, "--bootstrap-server", bootstrap(), "--reset-offsets", "--group", group, "--all-topics",
                "--shift-by", "2", "--execute").assertOk();
        o = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS);
        assertEquals(8, o.get(p0).offset(), shifted.stdout());
        assertEquals(2, o.get(p1).offset(), shifted.stdout());
        Strom.ToolResult del = runTool(tool, "--bootstrap-server", bootstrap(), "--delete", "--group", group).assertOk();
        assertTrue(del.stdout().contains("Deletion of requested consumer groups ('" + group + "') was successful."), del.stdout());
        assertFalse(runTool(tool, "--bootstrap-server", bootstrap(), "--list").assertOk().lines().contains(group));
    }

    /** partition -> {current offset, log-end offset, lag} from --describe's table. */
    private static Map<Integer, long[]> describeRows(String out, String group, String topic) {
        Map<Integer, long[]> rows = new java.util.HashMap<>();
        Matcher m = DESCRIBE_ROW.matcher(out);
        while (m.find()) {
            if (!m.group(1).equals(group) || !m.group(2).equals(topic)) continue;
            rows.put(Integer.parseInt(m.group(3)), new long[] {Long.parseLong(m.group(4)), Long.parseLong(m.group(5)), Long.parseLong(m.group(6))});
        }
        return rows;
    }

    /** kafka-producer-perf-test.sh then kafka-consumer-perf-test.sh over the same 20000 records. */
    @Test
    void perfTests() throws Exception {
        String topic = Strom.topic("cli-perf");
        Strom.createTopic(admin, topic, 2);
        Strom.ToolResult p = runTool(Duration.ofSeconds(120), null, "org.apache.kafka.tools.ProducerPerformance", "--topic", topic,
                "--num-records", "20000", "--record-size", "100", "--throughput", "-1", "--bootstrap-server", bootstrap(),
                "--producer-props", "acks=all", "linger.ms=5", "compression.type=lz4").assertOk();
        Matcher m = Pattern.compile("(?m)^20000 records sent, [0-9.]+ records/sec .*ms avg latency").matcher(p.stdout());
        assertTrue(m.find(), p.stdout());
        assertEquals(20000, endOffset(new TopicPartition(topic, 0)) + endOffset(new TopicPartition(topic, 1)));

        Strom.ToolResult c = runTool(Duration.ofSeconds(120), null, "org.apache.kafka.tools.ConsumerPerformance", "--bootstrap-server", bootstrap(),
                "--topic", topic, "--num-records", "20000", "--timeout", "60000", "--group", Strom.topic("g-perf")).assertOk();
        List<String> lines = c.lines();
        assertTrue(lines.get(0).startsWith("start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg"), c.stdout());
        String[] fields = lines.get(1).split(",\\s*");
        assertEquals(20000, Long.parseLong(fields[4]), "data.consumed.in.nMsg: " + lines.get(1));
    }

    private static List<JsonNode> jsonLines(String out) throws Exception {
        List<JsonNode> nodes = new ArrayList<>();
        for (String l : out.lines().toList()) {
            if (l.startsWith("{")) nodes.add(JSON.readTree(l));
        }
        return nodes;
    }

    /** kafka-verifiable-producer.sh and kafka-verifiable-consumer.sh (the system tests' JSON event streams). */
    @Test
    void verifiableProducerAndConsumer() throws Exception {
        String topic = Strom.topic("cli-verifiable");
        Strom.createTopic(admin, topic, 2);
        Strom.ToolResult p = runTool(Duration.ofSeconds(90), null, "org.apache.kafka.tools.VerifiableProducer", "--bootstrap-server", bootstrap(),
                "--topic", topic, "--max-messages", "200", "--acks", "-1").assertOk();
        List<JsonNode> events = jsonLines(p.stdout());
        long ok = events.stream().filter(e -> e.path("name").asText().equals("producer_send_success")).count();
        long failed = events.stream().filter(e -> e.path("name").asText().equals("producer_send_error")).count();
        assertEquals(200, ok, p.stdout());
        assertEquals(0, failed);
        JsonNode data = events.stream().filter(e -> e.path("name").asText().equals("tool_data")).findFirst().orElseThrow();
        assertEquals(200, data.path("acked").asLong(), data.toString());

        for (String protocol : List.of("classic", "consumer")) {
            String group = Strom.topic("g-verifiable-" + protocol);
            Strom.ToolResult c = runTool(Duration.ofSeconds(90), null, "org.apache.kafka.tools.VerifiableConsumer", "--bootstrap-server", bootstrap(),
                    "--topic", topic, "--group-id", group, "--group-protocol", protocol, "--max-messages", "200", "--reset-policy", "earliest").assertOk();
            List<JsonNode> ce = jsonLines(c.stdout());
            long consumed = ce.stream().filter(e -> e.path("name").asText().equals("records_consumed")).mapToLong(e -> e.path("count").asLong()).sum();
            assertEquals(200, consumed, protocol + ": " + c.stdout());
            assertTrue(ce.stream().anyMatch(e -> e.path("name").asText().equals("partitions_assigned")), c.stdout());
            assertTrue(ce.stream().filter(e -> e.path("name").asText().equals("offsets_committed")).allMatch(e -> e.path("success").asBoolean()),
                    c.stdout());
            Map<TopicPartition, OffsetAndMetadata> committed = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata()
                    .get(30, TimeUnit.SECONDS);
            long sum = committed.values().stream().mapToLong(OffsetAndMetadata::offset).sum();
            assertEquals(200, sum, protocol + " committed: " + committed);
        }
    }

    /** kafka-get-offsets.sh: latest (-1), earliest (-2) and by timestamp. */
    @Test
    void getOffsets() throws Exception {
        String topic = Strom.topic("cli-offsets");
        Strom.createTopic(admin, topic, 2);
        Strom.produceValues(bootstrap(), topic, 0, 7);
        Strom.produceValues(bootstrap(), topic, 1, 2);
        String tool = "org.apache.kafka.tools.GetOffsetShell";
        assertEquals(List.of(topic + ":0:7", topic + ":1:2"),
                runTool(tool, "--bootstrap-server", bootstrap(), "--topic", topic, "--time", "-1").assertOk().lines());
        assertEquals(List.of(topic + ":0:0", topic + ":1:0"),
                runTool(tool, "--bootstrap-server", bootstrap(), "--topic", topic, "--time", "earliest").assertOk().lines());
        assertEquals(List.of(topic + ":1:2"),
                runTool(tool, "--bootstrap-server", bootstrap(), "--topic-partitions", topic + ":1", "--time", "latest").assertOk().lines());
    }

    /** kafka-delete-records.sh with an offset JSON file. */
    @Test
    void deleteRecords() throws Exception {
        String topic = Strom.topic("cli-delrec");
        Strom.createTopic(admin, topic, 1);
        Strom.produceValues(bootstrap(), topic, 0, 10);
        Path json = tmp.resolve("offsets.json");
        Files.writeString(json, "{\"partitions\": [{\"topic\": \"" + topic + "\", \"partition\": 0, \"offset\": 6}], \"version\": 1}");
        Strom.ToolResult r = runTool("org.apache.kafka.tools.DeleteRecordsCommand", "--bootstrap-server", bootstrap(),
                "--offset-json-file", json.toString()).assertOk();
        assertTrue(r.stdout().matches("(?s).*partition: " + Pattern.quote(topic) + "-0\\s+low_watermark: 6.*"), r.stdout());
        TopicPartition tp = new TopicPartition(topic, 0);
        assertEquals(6, admin.listOffsets(Map.of(tp, OffsetSpec.earliest())).partitionResult(tp).get(30, TimeUnit.SECONDS).offset());
    }

    /** kafka-log-dirs.sh --describe: JSON with every partition's size in the broker's log dir. */
    @Test
    void logDirs() throws Exception {
        String topic = Strom.topic("cli-logdirs");
        Strom.createTopic(admin, topic, 2);
        Strom.produceValues(bootstrap(), topic, 0, 25);
        Strom.ToolResult r = runTool("org.apache.kafka.tools.LogDirsCommand", "--bootstrap-server", bootstrap(), "--describe",
                "--topic-list", topic, "--broker-list", "1").assertOk();
        String json = r.lines().stream().filter(l -> l.startsWith("{")).findFirst().orElseThrow(() -> new AssertionError(r.stdout()));
        JsonNode root = JSON.readTree(json);
        JsonNode broker = root.path("brokers").get(0);
        assertEquals(1, broker.path("broker").asInt());
        JsonNode dir = broker.path("logDirs").get(0);
        assertTrue(dir.path("error").isNull(), dir.toString());
        Map<String, Long> sizes = new java.util.HashMap<>();
        for (JsonNode p : dir.path("partitions")) sizes.put(p.path("partition").asText(), p.path("size").asLong());
        assertEquals(2, sizes.size(), "only the listed topic's partitions: " + sizes);
        assertTrue(sizes.get(topic + "-0") > 25 * 4, sizes.toString());
        assertEquals(0L, sizes.get(topic + "-1"));
    }

    /** kafka-metadata-quorum.sh describe --status / --replication (DescribeQuorum). */
    @Test
    void metadataQuorum() throws Exception {
        Strom.ToolResult s = runTool("org.apache.kafka.tools.MetadataQuorumCommand", "--bootstrap-server", bootstrap(), "describe", "--status").assertOk();
        assertTrue(s.stdout().matches("(?s).*LeaderId:\\s+1\\n.*"), s.stdout());
        assertTrue(s.stdout().matches("(?s).*CurrentVoters:\\s+\\[\\{\"id\": 1.*"), s.stdout());
        Strom.ToolResult r = runTool("org.apache.kafka.tools.MetadataQuorumCommand", "--bootstrap-server", bootstrap(), "describe", "--replication")
                .assertOk();
        assertTrue(r.stdout().matches("(?s).*\\n1\\s+\\S+\\s+\\d+\\s+0\\s+.*Leader.*"), r.stdout());
    }

    /** kafka-transactions.sh list (ListTransactions, issue 22): an empty table from a broker with no transactions. */
    @Test
    void transactionsList() throws Exception {
        Strom.ToolResult r = runTool("org.apache.kafka.tools.TransactionsCommand", "--bootstrap-server", bootstrap(), "list").assertOk();
        assertTrue(r.lines().get(0).matches("TransactionalId\\s+Coordinator\\s+ProducerId\\s+TransactionState.*"), r.stdout());
    }
}
