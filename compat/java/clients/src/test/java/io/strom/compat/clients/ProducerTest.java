package io.strom.compat.clients;

import static io.strom.compat.clients.Strom.bootstrap;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.utils.Utils;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** KafkaProducer 4.4.0 against one Strom broker: acks, idempotence, codecs, headers, partitioning; read back with a consumer. */
class ProducerTest {
    static Admin admin;

    @BeforeAll
    static void setUp() {
        admin = Strom.admin(bootstrap());
    }

    @AfterAll
    static void tearDown() {
        admin.close();
    }

    /** Sends n records to partition 0 with the given producer settings, then reads them back and compares. */
    private static List<RecordMetadata> roundTrip(String topic, int n, Object... producerOverrides) throws Exception {
        Strom.createTopic(admin, topic, 1);
        List<Future<RecordMetadata>> futures = new ArrayList<>();
        try (KafkaProducer<String, String> p = Strom.producer(bootstrap(), producerOverrides)) {
            for (int i = 0; i < n; i++) {
                futures.add(p.send(new ProducerRecord<>(topic, 0, "key-" + i, "value-" + i + "-" + "x".repeat(i % 50))));
            }
            p.flush();
        }
        List<RecordMetadata> metas = new ArrayList<>();
        for (Future<RecordMetadata> f : futures) metas.add(f.get(30, TimeUnit.SECONDS));
        List<ConsumerRecord<String, String>> read = Strom.readAll(bootstrap(), List.of(new TopicPartition(topic, 0)), n);
        for (int i = 0; i < n; i++) {
            ConsumerRecord<String, String> r = read.get(i);
            assertEquals(i, r.offset(), "offset of record " + i);
            assertEquals("key-" + i, r.key());
            assertEquals("value-" + i + "-" + "x".repeat(i % 50), r.value());
        }
        return metas;
    }

    @Test
    void acks0() throws Exception {
        List<RecordMetadata> metas = roundTrip(Strom.topic("acks0"), 200, ProducerConfig.ACKS_CONFIG, "0",
                ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "false");
        // acks=0: no answer, so the client knows no offset
        for (RecordMetadata m : metas) assertFalse(m.hasOffset(), "acks=0 metadata has no offset: " + m);
    }

    @Test
    void acks1() throws Exception {
        List<RecordMetadata> metas = roundTrip(Strom.topic("acks1"), 200, ProducerConfig.ACKS_CONFIG, "1",
                ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "false");
        for (int i = 0; i < metas.size(); i++) assertEquals(i, metas.get(i).offset());
    }

    @Test
    void acksAll() throws Exception {
        List<RecordMetadata> metas = roundTrip(Strom.topic("acksall"), 200, ProducerConfig.ACKS_CONFIG, "all",
                ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "false");
        for (int i = 0; i < metas.size(); i++) assertEquals(i, metas.get(i).offset());
    }

    /** Idempotent producer (InitProducerId, sequence numbers) with 5 requests in flight and small batches: no gap, no duplicate. */
    @Test
    void idempotent() throws Exception {
        List<RecordMetadata> metas = roundTrip(Strom.topic("idem"), 2000, ProducerConfig.ACKS_CONFIG, "all",
                ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true",
                ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, 5,
                ProducerConfig.BATCH_SIZE_CONFIG, 1024, ProducerConfig.LINGER_MS_CONFIG, 0);
        for (int i = 0; i < metas.size(); i++) assertEquals(i, metas.get(i).offset());
    }

    private static void codec(String codec) throws Exception {
        List<RecordMetadata> metas = roundTrip(Strom.topic("codec-" + codec), 500, ProducerConfig.COMPRESSION_TYPE_CONFIG, codec,
                ProducerConfig.LINGER_MS_CONFIG, 50, ProducerConfig.BATCH_SIZE_CONFIG, 64 * 1024);
        for (int i = 0; i < metas.size(); i++) assertEquals(i, metas.get(i).offset());
    }

    @Test
    void gzip() throws Exception {
        codec("gzip");
    }

    @Test
    void snappy() throws Exception {
        codec("snappy");
    }

    @Test
    void lz4() throws Exception {
        codec("lz4");
    }

    @Test
    void zstd() throws Exception {
        codec("zstd");
    }

    /** A topic with compression.type=zstd gets uncompressed batches; the broker recompresses them and consumers read them back. */
    @Test
    void topicCompressionType() throws Exception {
        String topic = Strom.topic("topic-zstd");
        Strom.createTopic(admin, topic, 1, 1, Map.of("compression.type", "zstd"));
        List<ProducerRecord<String, String>> records = new ArrayList<>();
        for (int i = 0; i < 100; i++) records.add(new ProducerRecord<>(topic, 0, "k" + i, "recompressed " + i));
        Strom.produce(bootstrap(), records);
        List<ConsumerRecord<String, String>> read = Strom.readAll(bootstrap(), topic, 1, 100);
        for (int i = 0; i < 100; i++) assertEquals("recompressed " + i, read.get(i).value());
    }

    @Test
    void headers() throws Exception {
        String topic = Strom.topic("headers");
        Strom.createTopic(admin, topic, 1);
        ProducerRecord<String, String> r = new ProducerRecord<>(topic, 0, "k", "v");
        r.headers().add("trace", "abc".getBytes(StandardCharsets.UTF_8));
        r.headers().add("trace", "def".getBytes(StandardCharsets.UTF_8)); // repeated keys are kept, in order
        r.headers().add("empty", new byte[0]);
        r.headers().add("null", null);
        r.headers().add("bin", new byte[] {0, (byte) 0xff, 7});
        ProducerRecord<String, String> plain = new ProducerRecord<>(topic, 0, "k2", "no headers");
        Strom.produce(bootstrap(), List.of(r, plain));
        List<ConsumerRecord<String, String>> read = Strom.readAll(bootstrap(), topic, 1, 2);
        Header[] h = read.get(0).headers().toArray();
        assertEquals(5, h.length);
        assertEquals(new RecordHeader("trace", "abc".getBytes(StandardCharsets.UTF_8)), h[0]);
        assertEquals(new RecordHeader("trace", "def".getBytes(StandardCharsets.UTF_8)), h[1]);
        assertEquals("empty", h[2].key());
        assertArrayEquals(new byte[0], h[2].value());
        assertEquals("null", h[3].key());
        assertNull(h[3].value());
        assertArrayEquals(new byte[] {0, (byte) 0xff, 7}, h[4].value());
        assertEquals(0, read.get(1).headers().toArray().length);
    }

    /** ProducerRecord with an explicit partition: the record lands there and nowhere else. */
    @Test
    void explicitPartition() throws Exception {
        String topic = Strom.topic("explicit");
        Strom.createTopic(admin, topic, 4);
        List<ProducerRecord<String, String>> records = new ArrayList<>();
        for (int i = 0; i < 40; i++) records.add(new ProducerRecord<>(topic, i % 4, "same-key", "p" + (i % 4) + "-" + i));
        List<RecordMetadata> metas = Strom.produce(bootstrap(), records);
        for (int i = 0; i < 40; i++) assertEquals(i % 4, metas.get(i).partition());
        for (int p = 0; p < 4; p++) {
            List<ConsumerRecord<String, String>> read = Strom.readAll(bootstrap(), List.of(new TopicPartition(topic, p)), 10);
            for (ConsumerRecord<String, String> rec : read) assertTrue(rec.value().startsWith("p" + p + "-"), rec.toString());
        }
    }

    /** Keyed records go to murmur2(key) % partitions (the default partitioner), the same key always to the same partition. */
    @Test
    void keyPartitioning() throws Exception {
        String topic = Strom.topic("keyed");
        Strom.createTopic(admin, topic, 6);
        List<ProducerRecord<String, String>> records = new ArrayList<>();
        for (int i = 0; i < 60; i++) records.add(new ProducerRecord<>(topic, "key-" + (i % 12), "v" + i));
        List<RecordMetadata> metas = Strom.produce(bootstrap(), records);
        Set<Integer> used = new HashSet<>();
        for (int i = 0; i < 60; i++) {
            byte[] key = ("key-" + (i % 12)).getBytes(StandardCharsets.UTF_8);
            int expected = Utils.toPositive(Utils.murmur2(key)) % 6;
            assertEquals(expected, metas.get(i).partition(), "partition of key-" + (i % 12));
            used.add(metas.get(i).partition());
        }
        assertTrue(used.size() > 1, "12 keys over 6 partitions use more than one");
        List<ConsumerRecord<String, String>> read = Strom.readAll(bootstrap(), topic, 6, 60);
        for (ConsumerRecord<String, String> r : read) {
            int expected = Utils.toPositive(Utils.murmur2(r.key().getBytes(StandardCharsets.UTF_8))) % 6;
            assertEquals(expected, r.partition());
        }
    }

    /**
     * Keyless records (KIP-480 sticky partitioning): a burst that fits one batch goes to one partition; a stream of
     * many batches moves on to other partitions once a batch is full.
     */
    @Test
    void stickyPartitioning() throws Exception {
        String topic = Strom.topic("sticky");
        Strom.createTopic(admin, topic, 4);
        List<Future<RecordMetadata>> burst = new ArrayList<>();
        try (KafkaProducer<String, String> p = Strom.producer(bootstrap(), ProducerConfig.LINGER_MS_CONFIG, 1000,
                ProducerConfig.BATCH_SIZE_CONFIG, 1 << 20)) {
            for (int i = 0; i < 20; i++) burst.add(p.send(new ProducerRecord<>(topic, null, "burst-" + i)));
            p.flush();
        }
        Set<Integer> burstPartitions = new HashSet<>();
        for (Future<RecordMetadata> f : burst) burstPartitions.add(f.get(30, TimeUnit.SECONDS).partition());
        assertEquals(1, burstPartitions.size(), "one batch, one partition: " + burstPartitions);

        List<Future<RecordMetadata>> stream = new ArrayList<>();
        try (KafkaProducer<String, String> p = Strom.producer(bootstrap(), ProducerConfig.LINGER_MS_CONFIG, 5,
                ProducerConfig.BATCH_SIZE_CONFIG, 512)) {
            for (int i = 0; i < 400; i++) stream.add(p.send(new ProducerRecord<>(topic, null, "stream-" + i + "-" + "y".repeat(100))));
            p.flush();
        }
        Map<Integer, Integer> perPartition = new HashMap<>();
        for (Future<RecordMetadata> f : stream) perPartition.merge(f.get(30, TimeUnit.SECONDS).partition(), 1, Integer::sum);
        assertTrue(perPartition.size() > 1, "many full batches spread over partitions: " + perPartition);
        Strom.readAll(bootstrap(), topic, 4, 420);
    }

    /** A record larger than the topic's max.message.bytes fails with RecordTooLargeException (MESSAGE_TOO_LARGE), not a hang. */
    @Test
    void recordTooLarge() throws Exception {
        String topic = Strom.topic("too-large");
        Strom.createTopic(admin, topic, 1, 1, Map.of("max.message.bytes", "10000"));
        try (KafkaProducer<String, String> p = Strom.producer(bootstrap(), ProducerConfig.MAX_REQUEST_SIZE_CONFIG, 1 << 20)) {
            ExecutionException e = assertThrows(ExecutionException.class,
                    () -> p.send(new ProducerRecord<>(topic, 0, "k", "z".repeat(50_000))).get(30, TimeUnit.SECONDS));
            assertInstanceOf(RecordTooLargeException.class, e.getCause());
            RecordMetadata ok = p.send(new ProducerRecord<>(topic, 0, "k", "small")).get(30, TimeUnit.SECONDS);
            assertEquals(0, ok.offset());
        }
    }
}
