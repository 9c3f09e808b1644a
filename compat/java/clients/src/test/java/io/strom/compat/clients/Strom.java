package io.strom.compat.clients;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The brokers this suite talks to (started by compat/java/run.sh) and small helpers shared by the test classes: client
 * configs, unique topic names, topic creation, reading back what was written, and running a Kafka CLI tool's main class
 * in a child JVM.
 */
final class Strom {
    private Strom() {}

    /** One broker (node.id 1): -Dstrom.bootstrap or STROM_BOOTSTRAP. */
    static String bootstrap() {
        return setting("strom.bootstrap", "STROM_BOOTSTRAP");
    }

    /** A 3-node cluster (each node a broker and a quorum voter): -Dstrom.cluster.bootstrap or STROM_CLUSTER_BOOTSTRAP. */
    static String clusterBootstrap() {
        return setting("strom.cluster.bootstrap", "STROM_CLUSTER_BOOTSTRAP");
    }

    private static String setting(String property, String env) {
        String v = System.getProperty(property);
        if (v == null || v.isEmpty()) v = System.getenv(env);
        if (v == null || v.isEmpty()) {
            throw new IllegalStateException("no broker address: set -D" + property + " or " + env + " (compat/java/run.sh does)");
        }
        return v;
    }

    /** A topic name no other test uses. */
    static String topic(String prefix) {
        return prefix + "-" + UUID.randomUUID().toString().substring(0, 8);
    }

    static Properties adminProps(String bootstrap) {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 15000);
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 30000);
        return p;
    }

    static Admin admin(String bootstrap) {
        return Admin.create(adminProps(bootstrap));
    }

    static Properties producerProps(String bootstrap) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 30000);
        p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 15000);
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 20000);
        return p;
    }

    static KafkaProducer<String, String> producer(String bootstrap, Object... overrides) {
        Properties p = producerProps(bootstrap);
        put(p, overrides);
        return new KafkaProducer<>(p);
    }

    /** A consumer without a group (for assign()), or in a group when GROUP_ID_CONFIG is among the overrides. */
    static KafkaConsumer<String, String> consumer(String bootstrap, Object... overrides) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.REQUEST_TIMEOUT_MS_CONFIG, 15000);
        p.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 30000);
        put(p, overrides);
        return new KafkaConsumer<>(p);
    }

    private static void put(Properties p, Object... kv) {
        if (kv.length % 2 != 0) throw new IllegalArgumentException("key/value pairs expected");
        for (int i = 0; i < kv.length; i += 2) p.put((String) kv[i], kv[i + 1]);
    }

    /** Creates a topic and waits until every partition has a leader in Metadata (describeTopics). */
    static void createTopic(Admin admin, String name, int partitions, int replicationFactor, Map<String, String> configs)
            throws Exception {
        NewTopic t = new NewTopic(name, partitions, (short) replicationFactor);
        if (configs != null) t.configs(configs);
        admin.createTopics(List.of(t)).all().get(30, TimeUnit.SECONDS);
        waitForLeaders(admin, name, partitions);
    }

    static void createTopic(Admin admin, String name, int partitions) throws Exception {
        createTopic(admin, name, partitions, 1, null);
    }

    static void waitForLeaders(Admin admin, String name, int partitions) throws Exception {
        waitUntil("topic " + name + " has " + partitions + " partitions with leaders", Duration.ofSeconds(30), () -> {
            try {
                TopicDescription d = admin.describeTopics(List.of(name)).allTopicNames().get(10, TimeUnit.SECONDS).get(name);
                return d.partitions().size() == partitions && d.partitions().stream().allMatch(p -> p.leader() != null && p.leader().id() >= 0);
            } catch (ExecutionException e) {
                return false;
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
    }

    static void waitUntil(String what, Duration timeout, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) fail("timed out after " + timeout.toSeconds() + " s waiting until " + what);
            Thread.sleep(100);
        }
    }

    /** Sends the records synchronously one after the other (acks=all unless overridden) and returns their metadata. */
    static List<RecordMetadata> produce(String bootstrap, List<ProducerRecord<String, String>> records) throws Exception {
        List<RecordMetadata> out = new ArrayList<>();
        try (KafkaProducer<String, String> p = producer(bootstrap, ProducerConfig.ACKS_CONFIG, "all")) {
            for (ProducerRecord<String, String> r : records) out.add(p.send(r).get(30, TimeUnit.SECONDS));
        }
        return out;
    }

    /** Values "v0".."v{n-1}" (key "k{i}") to one partition; returns the records' offsets. */
    static List<Long> produceValues(String bootstrap, String topic, int partition, int n) throws Exception {
        List<ProducerRecord<String, String>> records = new ArrayList<>();
        for (int i = 0; i < n; i++) records.add(new ProducerRecord<>(topic, partition, "k" + i, "v" + i));
        return produce(bootstrap, records).stream().map(RecordMetadata::offset).collect(Collectors.toList());
    }

    /** Reads exactly {@code n} records from the beginning of the given partitions (no group), failing after 30 s. */
    static List<ConsumerRecord<String, String>> readAll(String bootstrap, Collection<TopicPartition> partitions, int n,
                                                          Object... overrides) {
        try (KafkaConsumer<String, String> c = consumer(bootstrap, overrides)) {
            c.assign(partitions);
            c.seekToBeginning(partitions);
            return poll(c, n, Duration.ofSeconds(30));
        }
    }

    static List<ConsumerRecord<String, String>> readAll(String bootstrap, String topic, int partitions, int n) {
        List<TopicPartition> tps = new ArrayList<>();
        for (int i = 0; i < partitions; i++) tps.add(new TopicPartition(topic, i));
        return readAll(bootstrap, tps, n);
    }

    /** Polls until {@code n} records arrived (fails on timeout); then polls once more briefly and fails on extra records. */
    static List<ConsumerRecord<String, String>> poll(KafkaConsumer<String, String> c, int n, Duration timeout) {
        List<ConsumerRecord<String, String>> out = new ArrayList<>();
        long deadline = System.nanoTime() + timeout.toNanos();
        while (out.size() < n) {
            if (System.nanoTime() > deadline) fail("got " + out.size() + " of " + n + " records within " + timeout.toSeconds() + " s");
            for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) out.add(r);
        }
        for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(300))) out.add(r);
        assertEquals(n, out.size(), "records read (more than written?)");
        return out;
    }

    static Set<String> values(List<ConsumerRecord<String, String>> records) {
        return records.stream().map(ConsumerRecord::value).collect(Collectors.toSet());
    }

    // ---- CLI tools -------------------------------------------------------------------------------------------------

    record ToolResult(int exitCode, String stdout, String stderr) {
        ToolResult assertOk() {
            assertEquals(0, exitCode, "exit code; stdout:\n" + stdout + "\nstderr:\n" + stderr);
            return this;
        }

        List<String> lines() {
            return stdout.lines().filter(l -> !l.isBlank()).collect(Collectors.toList());
        }
    }

    /**
     * Runs a CLI tool's main class in a child JVM on this test run's classpath (the kafka-tools 4.4.0 jar and its
     * dependencies), as bin/kafka-*.sh would with `java -cp`, feeding {@code stdin} (may be null) and killing it after
     * {@code timeout}.
     */
    static ToolResult runTool(Duration timeout, String stdin, String mainClass, String... args) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(new File(System.getProperty("java.home"), "bin/java").getPath());
        cmd.add("-Xmx256m");
        cmd.add("-XX:TieredStopAtLevel=1");
        cmd.add("-XX:+UseSerialGC");
        cmd.add("-Dorg.slf4j.simpleLogger.defaultLogLevel=warn");
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(mainClass);
        cmd.addAll(List.of(args));
        Process proc = new ProcessBuilder(cmd).start();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        Thread tOut = pump(proc.getInputStream(), out);
        Thread tErr = pump(proc.getErrorStream(), err);
        try (OutputStream in = proc.getOutputStream()) {
            if (stdin != null) in.write(stdin.getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
            // the tool exited without reading stdin; its exit code and output tell why
        }
        boolean done = proc.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
        if (!done) {
            proc.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
        tOut.join(5000);
        tErr.join(5000);
        String o = out.toString(StandardCharsets.UTF_8);
        String e = err.toString(StandardCharsets.UTF_8);
        System.out.println("$ " + mainClass + " " + String.join(" ", args) + "\n[exit " + (done ? proc.exitValue() : "killed")
                + "]\n--- stdout\n" + o + "--- stderr\n" + e);
        assertTrue(done, mainClass + " did not finish within " + timeout.toSeconds() + " s; stdout:\n" + o + "\nstderr:\n" + e);
        return new ToolResult(proc.exitValue(), o, e);
    }

    static ToolResult runTool(String mainClass, String... args) throws Exception {
        return runTool(Duration.ofSeconds(60), null, mainClass, args);
    }

    private static Thread pump(InputStream in, ByteArrayOutputStream sink) {
        Thread t = new Thread(() -> {
            try (in) {
                in.transferTo(sink);
            } catch (IOException ignored) {
                // the process was killed
            }
        });
        t.setDaemon(true);
        t.start();
        return t;
    }
}
