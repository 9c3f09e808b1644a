package io.strom.compat.ecosystem;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Kafka Connect in distributed mode ({@code org.apache.kafka.connect.cli.ConnectDistributed} in a child JVM) with
 * its config, offset and status topics on one Strom broker: a FileStreamSource connector reads a file into a topic
 * and a FileStreamSink connector writes the topic to another file.
 *
 * <p>What Connect guarantees without exactly-once source support (the default,
 * {@code exactly.once.source.support=disabled}) is at-least-once delivery: a worker that crashes re-sends source
 * records read after the last offset flush and re-delivers sink records consumed after the last offset commit. A
 * worker stopped cleanly commits both on shutdown, so nothing is repeated. The test checks:
 * <ol>
 *   <li>the REST API: the root resource, GET /connectors, connector and task status, GET offsets;
 *   <li>200 lines reach the sink file exactly once and in order;
 *   <li>a clean restart (SIGTERM) with 200 lines appended while the worker is down: the new worker reads its
 *       connectors back from the config topic and resumes from the committed offsets, so the sink holds all 400
 *       lines exactly once, in order;
 *   <li>a crash (SIGKILL) while lines are appended, then a restart: every source line is in the sink at least once,
 *       in order of first appearance, and nothing else is;
 *   <li>DELETE of a connector (a tombstone in the config topic): it is gone from GET /connectors.
 * </ol>
 */
class ConnectDistributedTest {
    private static final String TOPIC = "connect-lines";
    private static final ObjectMapper JSON = new ObjectMapper();
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @Test
    @Timeout(300)
    void fileSourceToFileSinkThroughStromSurvivesWorkerRestarts() throws Exception {
        long t0 = System.nanoTime();
        Path work = TestSupport.workDir("connect");
        Path source = work.resolve("source.txt");
        Path sink = work.resolve("sink.txt");
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < 600; i++) {
            lines.add(String.format("line-%04d %s", i, "x".repeat(i % 17)));
        }
        Files.write(source, lines.subList(0, 200), StandardCharsets.UTF_8);
        try (StromCluster cluster = StromCluster.start("connect", work)) {
            TestSupport.createTopic(cluster.bootstrapServers(), TOPIC, 1, Map.of());
            int restPort = StromCluster.freePort();
            Path props = work.resolve("worker.properties");
            Files.writeString(props, String.join("\n",
                    "bootstrap.servers=" + cluster.bootstrapServers(),
                    "group.id=strom-connect",
                    "key.converter=org.apache.kafka.connect.storage.StringConverter",
                    "value.converter=org.apache.kafka.connect.storage.StringConverter",
                    "config.storage.topic=connect-configs",
                    "offset.storage.topic=connect-offsets",
                    "status.storage.topic=connect-status",
                    "config.storage.replication.factor=1",
                    "offset.storage.replication.factor=1",
                    "status.storage.replication.factor=1",
                    "offset.storage.partitions=5",
                    "status.storage.partitions=1",
                    "offset.flush.interval.ms=1000",
                    "session.timeout.ms=6000",
                    "heartbeat.interval.ms=1000",
                    "scheduled.rebalance.max.delay.ms=3000",
                    "listeners=http://127.0.0.1:" + restPort,
                    "rest.advertised.host.name=127.0.0.1",
                    "rest.advertised.port=" + restPort,
                    "plugin.discovery=service_load",
                    "consumer.session.timeout.ms=6000",
                    "consumer.heartbeat.interval.ms=1000",
                    "") + "\n");
            String base = "http://127.0.0.1:" + restPort;

            // 1. First worker, the REST API, both connectors, 200 lines.
            ChildJvm worker = startWorker(work, props, 1);
            try {
                awaitRest(worker, base);
                JsonNode root = getJson(base + "/");
                assertTrue(root.path("version").asText().startsWith("4."), "GET / answered " + root);
                assertEquals(0, getJson(base + "/connectors").size(), "GET /connectors before any was created");
                putConnector(base, "file-source", Map.of(
                        "connector.class", "org.apache.kafka.connect.file.FileStreamSourceConnector",
                        "tasks.max", "1", "file", source.toString(), "topic", TOPIC));
                putConnector(base, "file-sink", Map.of(
                        "connector.class", "org.apache.kafka.connect.file.FileStreamSinkConnector",
                        "tasks.max", "1", "file", sink.toString(), "topics", TOPIC));
                awaitRunning(base, "file-source", worker);
                awaitRunning(base, "file-sink", worker);
                Set<String> names = new TreeSet<>();
                getJson(base + "/connectors").forEach(n -> names.add(n.asText()));
                assertEquals(Set.of("file-sink", "file-source"), names, "GET /connectors");
                awaitSink(sink, lines.subList(0, 200), worker);
                assertEquals(lines.subList(0, 200), sinkLines(sink), "sink after the first 200 lines");
                // The source task's committed offset (KIP-875 GET offsets): the byte position of the file's end.
                long size = Files.size(source);
                assertTrue(TestSupport.waitFor(Duration.ofSeconds(30), () -> sourcePosition(base) == size),
                        "GET /connectors/file-source/offsets: position " + sourcePosition(base) + ", file size "
                                + size);

                // 2. Clean stop, 200 lines appended while no worker runs, a new worker.
                assertTrue(worker.stop(Duration.ofSeconds(60)), "the worker did not stop cleanly on SIGTERM");
                append(source, lines.subList(200, 400));
                worker = startWorker(work, props, 2);
                awaitRest(worker, base);
                awaitRunning(base, "file-source", worker);
                awaitRunning(base, "file-sink", worker);
                awaitSink(sink, lines.subList(0, 400), worker);
                Thread.sleep(2000); // a repeat would show up within the offset flush interval
                assertEquals(lines.subList(0, 400), sinkLines(sink),
                        "sink after a clean restart: every line exactly once, in order");

                // 3. A crash (SIGKILL) while lines are being appended, then a new worker.
                for (int i = 400; i < 500; i++) {
                    append(source, lines.subList(i, i + 1));
                    Thread.sleep(10);
                }
                worker.kill();
                append(source, lines.subList(500, 600));
                worker = startWorker(work, props, 3);
                awaitRest(worker, base);
                awaitRunning(base, "file-source", worker);
                awaitRunning(base, "file-sink", worker);
                awaitSink(sink, lines, worker);
                List<String> got = sinkLines(sink);
                Set<String> known = new HashSet<>(lines);
                List<String> unknown = got.stream().filter(l -> !known.contains(l)).toList();
                assertEquals(List.of(), unknown, "sink lines that no source line has");
                assertEquals(lines, new ArrayList<>(new LinkedHashSet<>(got)),
                        "sink after a crash: every line at least once, in order of first appearance");
                System.err.printf("connect: %d source lines, %d sink lines (%d repeated after the SIGKILL)%n",
                        lines.size(), got.size(), got.size() - lines.size());
                JsonNode status = getJson(base + "/connectors/file-sink/status");
                assertEquals("RUNNING", status.path("tasks").path(0).path("state").asText(), status.toString());

                // 4. DELETE a connector: a tombstone in the compacted config topic.
                HttpResponse<String> deleted = http.send(HttpRequest.newBuilder(URI.create(base
                        + "/connectors/file-source")).DELETE().timeout(Duration.ofSeconds(30)).build(),
                        HttpResponse.BodyHandlers.ofString());
                assertEquals(204, deleted.statusCode(), "DELETE /connectors/file-source: " + deleted.body());
                assertTrue(TestSupport.waitFor(Duration.ofSeconds(30),
                        () -> get(base + "/connectors/file-source/status").statusCode() == 404),
                        "file-source still has a status after DELETE");
                Set<String> left = new TreeSet<>();
                getJson(base + "/connectors").forEach(n -> left.add(n.asText()));
                assertEquals(Set.of("file-sink"), left, "GET /connectors after DELETE of file-source");
            } finally {
                worker.close();
            }
        }
        System.err.printf("connect: %.1f s%n", (System.nanoTime() - t0) / 1e9);
    }

    private static ChildJvm startWorker(Path work, Path props, int n) throws IOException {
        return ChildJvm.start("connect-worker-" + n, work.resolve("connect-worker-" + n + ".log"),
                ChildJvm.Classpath.CONNECT,
                "org.apache.kafka.connect.cli.ConnectDistributed", List.of(props.toString()));
    }

    private void awaitRest(ChildJvm worker, String base) throws Exception {
        assertTrue(TestSupport.waitFor(Duration.ofSeconds(90), () -> {
            if (!worker.isAlive()) {
                return true;
            }
            try {
                return get(base + "/connectors").statusCode() == 200;
            } catch (IOException e) {
                return false;
            }
        }), worker.describe() + ": REST API not up:\n" + TestSupport.tail(worker.log(), 30));
        assertTrue(worker.isAlive(), worker.describe() + " exited:\n" + TestSupport.tail(worker.log(), 40));
    }

    private void putConnector(String base, String name, Map<String, String> config) throws Exception {
        String body = JSON.writeValueAsString(config);
        List<String> answers = new ArrayList<>();
        // The worker answers 409 while it is joining its group or rebalancing: retry.
        assertTrue(TestSupport.waitFor(Duration.ofSeconds(60), () -> {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + "/connectors/" + name
                            + "/config")).header("Content-Type", "application/json")
                    .PUT(HttpRequest.BodyPublishers.ofString(body)).timeout(Duration.ofSeconds(30)).build(),
                    HttpResponse.BodyHandlers.ofString());
            String answer = r.statusCode() + " " + r.body();
            if (answers.isEmpty() || !answers.get(answers.size() - 1).equals(answer)) {
                answers.add(answer);
            }
            return r.statusCode() == 201 || r.statusCode() == 200;
        }), "PUT /connectors/" + name + "/config answered (distinct answers in order) " + answers);
    }

    private void awaitRunning(String base, String name, ChildJvm worker) throws Exception {
        Map<String, String> last = new HashMap<>();
        assertTrue(TestSupport.waitFor(Duration.ofSeconds(90), () -> {
            HttpResponse<String> r = get(base + "/connectors/" + name + "/status");
            last.put("status", r.statusCode() + " " + r.body());
            if (r.statusCode() != 200) {
                return false;
            }
            JsonNode s = JSON.readTree(r.body());
            return "RUNNING".equals(s.path("connector").path("state").asText())
                    && s.path("tasks").size() == 1
                    && "RUNNING".equals(s.path("tasks").path(0).path("state").asText());
        }), "GET /connectors/" + name + "/status: " + last + "\n" + TestSupport.tail(worker.log(), 30));
    }

    private static void awaitSink(Path sink, List<String> expected, ChildJvm worker) throws Exception {
        Set<String> want = new HashSet<>(expected);
        assertTrue(TestSupport.waitFor(Duration.ofSeconds(90), () -> new HashSet<>(sinkLines(sink)).containsAll(want)),
                "the sink file does not hold the " + expected.size() + " lines (it has " + sinkLines(sink).size()
                        + ")\n" + TestSupport.tail(worker.log(), 30));
    }

    private long sourcePosition(String base) throws Exception {
        HttpResponse<String> r = get(base + "/connectors/file-source/offsets");
        if (r.statusCode() != 200) {
            return -1;
        }
        JsonNode offsets = JSON.readTree(r.body()).path("offsets");
        return offsets.size() == 1 ? offsets.path(0).path("offset").path("position").asLong(-1) : -1;
    }

    /** The sink file's complete lines (a line still being written has no newline yet). */
    private static List<String> sinkLines(Path sink) throws IOException {
        if (!Files.exists(sink)) {
            return List.of();
        }
        String text = Files.readString(sink);
        int end = text.lastIndexOf('\n');
        return end < 0 ? List.of() : List.of(text.substring(0, end).split("\n", -1));
    }

    private static void append(Path file, List<String> lines) throws IOException {
        Files.write(file, lines, StandardCharsets.UTF_8, StandardOpenOption.APPEND);
    }

    private HttpResponse<String> get(String url) throws IOException, InterruptedException {
        return http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(30)).GET().build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private JsonNode getJson(String url) throws Exception {
        HttpResponse<String> r = get(url);
        assertEquals(200, r.statusCode(), "GET " + url + ": " + r.body());
        return JSON.readTree(r.body());
    }
}
