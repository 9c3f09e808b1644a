package io.strom.compat.ecosystem;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.LongDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.StreamsConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Kafka Streams' word count (Kafka's WordCountDemo topology, {@link WordCountApp}) as two instances in two JVMs
 * with one application.id, against one Strom broker. The input is 3,000 generated lines; the reference is the count
 * of each word in them. The output topic's last value per word is the application's final count.
 *
 * <ul>
 *   <li>at_least_once, no crash: the final counts equal the reference.
 *   <li>at_least_once, one instance killed (SIGKILL) mid-run: no word is lost (every final count is at least the
 *       reference). Over-counting is allowed: records processed after the last commit of the killed instance are
 *       processed again by the survivor, and their counts were already in the changelog.
 *   <li>exactly_once_v2, one instance killed mid-run: the final counts equal the reference (transactions: the
 *       killed instance's open transactions are aborted and its tasks' input is processed again by the survivor).
 * </ul>
 */
class StreamsWordCountTest {
    private static final int LINES = 3000;
    private static final int WORDS_PER_LINE = 6;
    private static final String INPUT = "wordcount-input";
    private static final String OUTPUT = "wordcount-output";

    @Test
    @Timeout(240)
    void atLeastOnceTwoInstancesExactCounts() throws Exception {
        run("alos-nokill", StreamsConfig.AT_LEAST_ONCE, false, Expect.EXACT, Duration.ofSeconds(90));
    }

    @Test
    @Timeout(240)
    void atLeastOnceOneInstanceKilledLosesNoWord() throws Exception {
        run("alos-kill", StreamsConfig.AT_LEAST_ONCE, true, Expect.AT_LEAST, Duration.ofSeconds(90));
    }

    @Test
    @Timeout(240)
    void exactlyOnceV2OneInstanceKilledExactCounts() throws Exception {
        run("eos-kill", StreamsConfig.EXACTLY_ONCE_V2, true, Expect.EXACT, Duration.ofSeconds(90));
    }

    private enum Expect { EXACT, AT_LEAST }

    private static void run(String name, String guarantee, boolean kill, Expect expect, Duration limit)
            throws Exception {
        long t0 = System.nanoTime();
        Path work = TestSupport.workDir("streams-" + name);
        List<String> lines = lines(new Random(42));
        Map<String, Long> reference = new TreeMap<>();
        for (String line : lines) {
            for (String w : line.split(" ")) {
                reference.merge(w, 1L, Long::sum);
            }
        }
        try (StromCluster cluster = StromCluster.start("streams", work)) {
            String bootstrap = cluster.bootstrapServers();
            TestSupport.createTopic(bootstrap, INPUT, 4, Map.of());
            TestSupport.createTopic(bootstrap, OUTPUT, 4, Map.of());
            String appId = "wordcount-" + name;
            List<String> args = List.of(bootstrap, appId, guarantee, work.resolve("state").toString(), INPUT, OUTPUT);
            try (ChildJvm a = ChildJvm.start("streams-a", work.resolve("streams-a.log"), ChildJvm.Classpath.STREAMS,
                            WordCountApp.class.getName(), withState(args, work, "a"));
                    ChildJvm b = ChildJvm.start("streams-b", work.resolve("streams-b.log"), ChildJvm.Classpath.STREAMS,
                            WordCountApp.class.getName(), withState(args, work, "b"));
                    OutputReader out = new OutputReader(bootstrap)) {
                for (ChildJvm inst : List.of(a, b)) {
                    assertTrue(TestSupport.waitFor(limit, () -> inst.logContains("-> RUNNING") || !inst.isAlive()),
                            inst.describe() + " did not reach RUNNING:\n" + TestSupport.tail(inst.log(), 20)
                                    + "\nits log's last lines about transactions:\n"
                                    + TestSupport.grep(inst.log(), "transactions", 3));
                    assertTrue(inst.isAlive(), inst.describe() + " exited:\n" + TestSupport.tail(inst.log(), 30));
                }
                // The input, 30 lines every 100 ms, from a thread: the kill lands while both instances work.
                AtomicInteger sent = new AtomicInteger();
                AtomicReference<Exception> produceError = new AtomicReference<>();
                Thread producer = new Thread(() -> produce(bootstrap, lines, sent, produceError), "input-producer");
                producer.start();
                if (kill) {
                    assertTrue(TestSupport.waitFor(limit, () -> sent.get() >= LINES / 3 && out.poll().size() > 0),
                            "no word counted after " + sent.get() + " lines were sent");
                    b.kill();
                    System.err.println(name + ": killed " + b.describe() + " after " + sent.get() + " lines sent, "
                            + out.poll().values().stream().mapToLong(Long::longValue).sum() + " words counted");
                }
                producer.join(120_000);
                assertFalse(producer.isAlive(), "the input producer did not finish");
                if (produceError.get() != null) {
                    throw produceError.get();
                }
                boolean done = TestSupport.waitFor(limit.plusSeconds(30), () -> {
                    Map<String, Long> now = out.poll();
                    return expect == Expect.EXACT ? now.equals(reference) : atLeast(now, reference);
                });
                Map<String, Long> result = out.poll();
                String summary = summary(reference, result);
                System.err.println(name + ": " + summary);
                assertTrue(done, name + ": final counts do not " + (expect == Expect.EXACT ? "equal" : "cover")
                        + " the reference: " + summary + "\ninstance a:\n" + TestSupport.tail(a.log(), 20));
                if (expect == Expect.EXACT) {
                    // Nothing more may arrive: no late duplicate.
                    Thread.sleep(2000);
                    assertEquals(reference, out.poll(), name + ": counts changed after reaching the reference");
                }
                assertTrue(a.isAlive(), a.describe() + " died:\n" + TestSupport.tail(a.log(), 30));
                assertEquals(!kill, b.isAlive());
            }
        }
        System.err.printf("%s: %.1f s%n", name, (System.nanoTime() - t0) / 1e9);
    }

    private static List<String> withState(List<String> args, Path work, String instance) {
        List<String> copy = new ArrayList<>(args);
        copy.set(3, work.resolve("state-" + instance).toString());
        return copy;
    }

    private static List<String> lines(Random random) {
        List<String> vocabulary = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            vocabulary.add("w" + Integer.toString(i * 7919 % 1000, 36) + (char) ('a' + i % 26));
        }
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < LINES; i++) {
            List<String> words = new ArrayList<>();
            for (int j = 0; j < WORDS_PER_LINE; j++) {
                words.add(vocabulary.get(random.nextInt(vocabulary.size())));
            }
            lines.add(String.join(" ", words));
        }
        return lines;
    }

    private static void produce(String bootstrap, List<String> lines, AtomicInteger sent,
            AtomicReference<Exception> error) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.LINGER_MS_CONFIG, 5);
        try (KafkaProducer<String, String> producer =
                new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
            for (int i = 0; i < lines.size(); i++) {
                producer.send(new ProducerRecord<>(INPUT, "line-" + i, lines.get(i))).get();
                if (i % 30 == 29) {
                    sent.set(i + 1);
                    Thread.sleep(100);
                }
            }
            producer.flush();
            sent.set(lines.size());
        } catch (Exception e) {
            error.set(e);
        }
    }

    private static boolean atLeast(Map<String, Long> counts, Map<String, Long> reference) {
        return reference.entrySet().stream().allMatch(e -> counts.getOrDefault(e.getKey(), 0L) >= e.getValue())
                && reference.keySet().containsAll(counts.keySet());
    }

    private static String summary(Map<String, Long> reference, Map<String, Long> result) {
        long refTotal = reference.values().stream().mapToLong(Long::longValue).sum();
        long total = result.values().stream().mapToLong(Long::longValue).sum();
        List<String> differ = reference.keySet().stream()
                .filter(w -> !reference.get(w).equals(result.get(w)))
                .map(w -> w + "=" + result.get(w) + "(ref " + reference.get(w) + ")")
                .collect(Collectors.toList());
        return String.format("%d words in the reference (%d occurrences), %d words counted (%d occurrences), "
                + "%d differ%s", reference.size(), refTotal, result.size(), total, differ.size(),
                differ.isEmpty() ? "" : ": " + differ.subList(0, Math.min(10, differ.size())));
    }

    /** The output topic read from the start with read_committed; the last value of each word. */
    private static final class OutputReader implements AutoCloseable {
        private final KafkaConsumer<String, Long> consumer;
        private final Map<String, Long> last = new HashMap<>();
        private boolean assigned;

        OutputReader(String bootstrap) {
            Properties p = new Properties();
            p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
            p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
            consumer = new KafkaConsumer<>(p, new StringDeserializer(), new LongDeserializer());
        }

        Map<String, Long> poll() {
            if (!assigned) {
                List<PartitionInfo> parts = consumer.partitionsFor(OUTPUT);
                List<TopicPartition> tps = parts.stream().map(i -> new TopicPartition(OUTPUT, i.partition()))
                        .collect(Collectors.toList());
                consumer.assign(tps);
                consumer.seekToBeginning(tps);
                assigned = true;
            }
            for (ConsumerRecord<String, Long> r : consumer.poll(Duration.ofMillis(200))) {
                last.put(r.key(), r.value());
            }
            return new TreeMap<>(last);
        }

        @Override
        public void close() {
            consumer.close(Duration.ofSeconds(5));
        }
    }
}
