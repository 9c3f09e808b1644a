package io.strom.compat.clients;

import static io.strom.compat.clients.Strom.bootstrap;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Transactions (issue 22): a transactional producer commits one transaction and aborts another; a read_committed
 * consumer sees only the committed records, a read_uncommitted one sees both. Deny-listed until Strom serves
 * transactions: then these pass and move to allow.txt. max.block.ms bounds the wait for a transaction coordinator.
 */
class TransactionsTest {
    static Admin admin;

    @BeforeAll
    static void setUp() {
        admin = Strom.admin(bootstrap());
    }

    @AfterAll
    static void tearDown() {
        admin.close();
    }

    private static KafkaProducer<String, String> transactional(String id) {
        return Strom.producer(bootstrap(), ProducerConfig.TRANSACTIONAL_ID_CONFIG, id, ProducerConfig.MAX_BLOCK_MS_CONFIG, 10000,
                ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, 30000);
    }

    @Test
    void readCommitted() throws Exception {
        String topic = Strom.topic("txn");
        Strom.createTopic(admin, topic, 1);
        try (KafkaProducer<String, String> p = transactional(Strom.topic("tx"))) {
            p.initTransactions();
            p.beginTransaction();
            for (int i = 0; i < 5; i++) p.send(new ProducerRecord<>(topic, 0, "k", "committed-" + i));
            p.commitTransaction();
            p.beginTransaction();
            for (int i = 0; i < 5; i++) p.send(new ProducerRecord<>(topic, 0, "k", "aborted-" + i));
            p.flush();
            p.abortTransaction();
            p.beginTransaction();
            p.send(new ProducerRecord<>(topic, 0, "k", "committed-last"));
            p.commitTransaction();
        }
        TopicPartition tp = new TopicPartition(topic, 0);
        // committed: 5 + 1 data records; the control records (markers) take offsets too but are never returned
        List<ConsumerRecord<String, String>> committed = Strom.readAll(bootstrap(), List.of(tp), 6,
                ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        for (int i = 0; i < 5; i++) assertEquals("committed-" + i, committed.get(i).value());
        assertEquals("committed-last", committed.get(5).value());
        List<ConsumerRecord<String, String>> all = Strom.readAll(bootstrap(), List.of(tp), 11,
                ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_uncommitted");
        assertEquals(5, all.stream().filter(r -> r.value().startsWith("aborted-")).count());
    }

    /** An open transaction holds back read_committed consumers at the last stable offset until it commits. */
    @Test
    void lastStableOffset() throws Exception {
        String topic = Strom.topic("lso");
        Strom.createTopic(admin, topic, 1);
        TopicPartition tp = new TopicPartition(topic, 0);
        Strom.produceValues(bootstrap(), topic, 0, 3);
        try (KafkaProducer<String, String> p = transactional(Strom.topic("tx-lso"));
             KafkaConsumer<String, String> c = Strom.consumer(bootstrap(), ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed")) {
            p.initTransactions();
            p.beginTransaction();
            p.send(new ProducerRecord<>(topic, 0, "k", "open"));
            p.flush();
            c.assign(List.of(tp));
            c.seekToBeginning(List.of(tp));
            Strom.poll(c, 3, Duration.ofSeconds(30)); // only the 3 non-transactional records, not "open"
            assertEquals(3, c.endOffsets(List.of(tp)).get(tp), "read_committed end offset is the LSO");
            p.commitTransaction();
            assertEquals("open", Strom.poll(c, 1, Duration.ofSeconds(30)).get(0).value());
        }
    }

    /** sendOffsetsToTransaction (AddOffsetsToTxn + TxnOffsetCommit): the group's offset is committed with the transaction. */
    @Test
    void offsetsInTransaction() throws Exception {
        String topic = Strom.topic("txn-offsets");
        Strom.createTopic(admin, topic, 1);
        String group = Strom.topic("g-txn");
        TopicPartition tp = new TopicPartition(topic, 0);
        try (KafkaProducer<String, String> p = transactional(Strom.topic("tx-off"));
             KafkaConsumer<String, String> c = Strom.consumer(bootstrap(), ConsumerConfig.GROUP_ID_CONFIG, group)) {
            p.initTransactions();
            p.beginTransaction();
            p.send(new ProducerRecord<>(topic, 0, "k", "v"));
            p.sendOffsetsToTransaction(Map.of(tp, new OffsetAndMetadata(42)), c.groupMetadata());
            p.commitTransaction();
        }
        Map<TopicPartition, OffsetAndMetadata> offsets = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata()
                .get(30, TimeUnit.SECONDS);
        assertEquals(42, offsets.get(tp).offset());
    }

    /**
     * Admin.fenceProducers (FindCoordinator TRANSACTION + InitProducerId): bumps the epoch of a transactional id. With
     * transaction.version 2 the fenced producer sends no AddPartitionsToTxn: its Produce v12 is refused by the partition
     * leader, whose add to the transaction the coordinator answers PRODUCER_FENCED, passed on as INVALID_PRODUCER_EPOCH
     * (Kafka's AddPartitionsToTxnManager), so the commit fails with InvalidProducerEpochException, as against Kafka 4.4
     * (checked); at transaction.version 1 it is AddPartitionsToTxn's ProducerFencedException (Kafka's own
     * TransactionsTest accepts either from a fenced producer).
     */
    @Test
    void fenceProducers() throws Exception {
        String id = Strom.topic("tx-fence");
        try (KafkaProducer<String, String> p = transactional(id)) {
            p.initTransactions();
            admin.fenceProducers(List.of(id)).all().get(30, TimeUnit.SECONDS);
            p.beginTransaction();
            p.send(new ProducerRecord<>(Strom.topic("fenced"), "k", "v"));
            org.apache.kafka.common.KafkaException e =
                    org.junit.jupiter.api.Assertions.assertThrows(org.apache.kafka.common.KafkaException.class, p::commitTransaction);
            org.junit.jupiter.api.Assertions.assertTrue(
                    e instanceof org.apache.kafka.common.errors.InvalidProducerEpochException
                            || e instanceof org.apache.kafka.common.errors.ProducerFencedException,
                    e::toString);
        }
    }
}
