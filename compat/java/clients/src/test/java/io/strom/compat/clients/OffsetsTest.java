package io.strom.compat.clients;

import static io.strom.compat.clients.Strom.bootstrap;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.NoOffsetForPartitionException;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Offsets with KafkaConsumer 4.4.0: commit/fetch (OffsetCommit/OffsetFetch), seek, position, ListOffsets by time. */
class OffsetsTest {
    static Admin admin;

    @BeforeAll
    static void setUp() {
        admin = Strom.admin(bootstrap());
    }

    @AfterAll
    static void tearDown() {
        admin.close();
    }

    /** commitSync with metadata, then committed() from another consumer of the group, and a new member resumes there. */
    @Test
    void commitAndFetch() throws Exception {
        String topic = Strom.topic("commit");
        Strom.createTopic(admin, topic, 2);
        Strom.produceValues(bootstrap(), topic, 0, 10);
        Strom.produceValues(bootstrap(), topic, 1, 10);
        String group = Strom.topic("g-commit");
        TopicPartition p0 = new TopicPartition(topic, 0), p1 = new TopicPartition(topic, 1);
        try (KafkaConsumer<String, String> c = Strom.consumer(bootstrap(), ConsumerConfig.GROUP_ID_CONFIG, group)) {
            c.assign(List.of(p0, p1));
            assertEquals(Map.of(), nonNull(c.committed(java.util.Set.of(p0, p1), Duration.ofSeconds(20))), "nothing committed yet");
            c.commitSync(Map.of(p0, new OffsetAndMetadata(7, "seven"), p1, new OffsetAndMetadata(3, Optional.empty(), "")),
                    Duration.ofSeconds(20));
        }
        try (KafkaConsumer<String, String> c = Strom.consumer(bootstrap(), ConsumerConfig.GROUP_ID_CONFIG, group)) {
            Map<TopicPartition, OffsetAndMetadata> got = c.committed(java.util.Set.of(p0, p1), Duration.ofSeconds(20));
            assertEquals(7, got.get(p0).offset());
            assertEquals("seven", got.get(p0).metadata());
            assertEquals(3, got.get(p1).offset());
            c.assign(List.of(p0, p1));
            List<ConsumerRecord<String, String>> rest = Strom.poll(c, 3 + 7, Duration.ofSeconds(30));
            assertEquals(3, rest.stream().filter(r -> r.partition() == 0).count());
            assertEquals(7, rest.stream().filter(r -> r.partition() == 0).mapToLong(ConsumerRecord::offset).min().getAsLong());
            assertEquals(3, rest.stream().filter(r -> r.partition() == 1).mapToLong(ConsumerRecord::offset).min().getAsLong());
            assertEquals(10, c.position(p0));
            // asynchronous commit of the current positions, with its callback
            CompletableFuture<Map<TopicPartition, OffsetAndMetadata>> done = new CompletableFuture<>();
            c.commitAsync((offsets, e) -> {
                if (e != null) done.completeExceptionally(e);
                else done.complete(offsets);
            });
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (!done.isDone() && System.nanoTime() < deadline) c.poll(Duration.ofMillis(100));
            assertEquals(10, done.get(1, TimeUnit.SECONDS).get(p0).offset());
        }
        Map<TopicPartition, OffsetAndMetadata> viaAdmin = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata()
                .get(30, TimeUnit.SECONDS);
        assertEquals(10, viaAdmin.get(p0).offset());
        assertEquals(10, viaAdmin.get(p1).offset());
    }

    private static Map<TopicPartition, OffsetAndMetadata> nonNull(Map<TopicPartition, OffsetAndMetadata> m) {
        Map<TopicPartition, OffsetAndMetadata> out = new HashMap<>();
        m.forEach((k, v) -> {
            if (v != null) out.put(k, v);
        });
        return out;
    }

    /** seek, seekToBeginning, seekToEnd, position; auto.offset.reset=none without a committed offset throws. */
    @Test
    void seekAndPosition() throws Exception {
        String topic = Strom.topic("seek");
        Strom.createTopic(admin, topic, 1);
        Strom.produceValues(bootstrap(), topic, 0, 20);
        TopicPartition tp = new TopicPartition(topic, 0);
        try (KafkaConsumer<String, String> c = Strom.consumer(bootstrap())) {
            c.assign(List.of(tp));
            c.seek(tp, 12);
            List<ConsumerRecord<String, String>> rs = Strom.poll(c, 8, Duration.ofSeconds(30));
            assertEquals(12, rs.get(0).offset());
            assertEquals("v12", rs.get(0).value());
            assertEquals(20, c.position(tp));
            c.seekToBeginning(List.of(tp));
            assertEquals(0, c.position(tp, Duration.ofSeconds(20)));
            c.seekToEnd(List.of(tp));
            assertEquals(20, c.position(tp, Duration.ofSeconds(20)));
            c.seek(tp, new OffsetAndMetadata(5));
            assertEquals("v5", Strom.poll(c, 15, Duration.ofSeconds(30)).get(0).value());
            assertEquals(Map.of(tp, 0L), c.beginningOffsets(List.of(tp), Duration.ofSeconds(20)));
            assertEquals(Map.of(tp, 20L), c.endOffsets(List.of(tp), Duration.ofSeconds(20)));
        }
        try (KafkaConsumer<String, String> c = Strom.consumer(bootstrap(), ConsumerConfig.GROUP_ID_CONFIG, Strom.topic("g-none"),
                ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "none")) {
            c.assign(List.of(tp));
            assertThrows(NoOffsetForPartitionException.class, () -> c.poll(Duration.ofSeconds(10)));
        }
    }

    /** offsetsForTimes (ListOffsets by timestamp): the first record at or after the time; null after the last. */
    @Test
    void offsetsForTimes() throws Exception {
        String topic = Strom.topic("times");
        Strom.createTopic(admin, topic, 1);
        long t0 = System.currentTimeMillis() - 60_000;
        List<ProducerRecord<String, String>> records = new ArrayList<>();
        for (int i = 0; i < 10; i++) records.add(new ProducerRecord<>(topic, 0, t0 + i * 1000L, "k" + i, "v" + i));
        Strom.produce(bootstrap(), records);
        TopicPartition tp = new TopicPartition(topic, 0);
        try (KafkaConsumer<String, String> c = Strom.consumer(bootstrap())) {
            Map<TopicPartition, OffsetAndTimestamp> exact = c.offsetsForTimes(Map.of(tp, t0 + 3000), Duration.ofSeconds(20));
            assertEquals(3, exact.get(tp).offset());
            assertEquals(t0 + 3000, exact.get(tp).timestamp());
            Map<TopicPartition, OffsetAndTimestamp> between = c.offsetsForTimes(Map.of(tp, t0 + 4500), Duration.ofSeconds(20));
            assertEquals(5, between.get(tp).offset());
            assertEquals(t0 + 5000, between.get(tp).timestamp());
            Map<TopicPartition, OffsetAndTimestamp> first = c.offsetsForTimes(Map.of(tp, 0L), Duration.ofSeconds(20));
            assertEquals(0, first.get(tp).offset());
            Map<TopicPartition, OffsetAndTimestamp> after = c.offsetsForTimes(Map.of(tp, t0 + 100_000), Duration.ofSeconds(20));
            assertNull(after.get(tp), "no record at or after that time");
            // seek to the offset found, read from there
            c.assign(List.of(tp));
            c.seek(tp, between.get(tp).offset());
            ConsumerRecord<String, String> r = Strom.poll(c, 5, Duration.ofSeconds(30)).get(0);
            assertEquals("v5", r.value());
            assertEquals(t0 + 5000, r.timestamp());
        }
    }

    /**
     * ListOffsets MAX_TIMESTAMP (KIP-734) through the AdminClient: three records in one batch with timestamps +100,
     * +400, +200 give the offset of the record carrying +400 (offset 1), as Kafka 3.8+ answers.
     */
    @Test
    void maxTimestamp() throws Exception {
        String topic = Strom.topic("maxts");
        Strom.createTopic(admin, topic, 1);
        long t0 = System.currentTimeMillis() - 60_000;
        TopicPartition tp = new TopicPartition(topic, 0);
        try (KafkaProducer<String, String> p = Strom.producer(bootstrap(), ProducerConfig.LINGER_MS_CONFIG, 1000)) {
            p.send(new ProducerRecord<>(topic, 0, t0 + 100, "a", "a"));
            p.send(new ProducerRecord<>(topic, 0, t0 + 400, "b", "b"));
            p.send(new ProducerRecord<>(topic, 0, t0 + 200, "c", "c"));
            p.flush();
        }
        ListOffsetsResult.ListOffsetsResultInfo max = admin.listOffsets(Map.of(tp, OffsetSpec.maxTimestamp())).partitionResult(tp)
                .get(30, TimeUnit.SECONDS);
        assertEquals(t0 + 400, max.timestamp());
        assertEquals(1, max.offset());
        assertEquals(0, admin.listOffsets(Map.of(tp, OffsetSpec.earliest())).partitionResult(tp).get(30, TimeUnit.SECONDS).offset());
        assertEquals(3, admin.listOffsets(Map.of(tp, OffsetSpec.latest())).partitionResult(tp).get(30, TimeUnit.SECONDS).offset());
        ListOffsetsResult.ListOffsetsResultInfo byTime = admin.listOffsets(Map.of(tp, OffsetSpec.forTimestamp(t0 + 150)))
                .partitionResult(tp).get(30, TimeUnit.SECONDS);
        assertEquals(1, byTime.offset(), "first record with timestamp >= t0+150 is offset 1 (t0+400)");
        assertTrue(byTime.leaderEpoch().isPresent(), "leader epoch of the found record: " + byTime);
    }

    /** Auto-commit: offsets are committed on close without an explicit commit. */
    @Test
    void autoCommitOnClose() throws Exception {
        String topic = Strom.topic("autocommit");
        Strom.createTopic(admin, topic, 1);
        Strom.produceValues(bootstrap(), topic, 0, 15);
        String group = Strom.topic("g-auto");
        try (KafkaConsumer<String, String> c = Strom.consumer(bootstrap(), ConsumerConfig.GROUP_ID_CONFIG, group,
                ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "true", ConsumerConfig.AUTO_COMMIT_INTERVAL_MS_CONFIG, 60000)) {
            c.subscribe(List.of(topic));
            Strom.poll(c, 15, Duration.ofSeconds(30));
        }
        Map<TopicPartition, OffsetAndMetadata> committed = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata()
                .get(30, TimeUnit.SECONDS);
        assertEquals(15, committed.get(new TopicPartition(topic, 0)).offset());
        assertTrue(committed.get(new TopicPartition(topic, 0)).leaderEpoch().isPresent(), "leader epoch committed: " + committed);
    }
}
