package io.strom.compat.clients;

import static io.strom.compat.clients.Strom.bootstrap;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListTransactionsOptions;
import org.apache.kafka.clients.admin.TransactionDescription;
import org.apache.kafka.clients.admin.TransactionListing;
import org.apache.kafka.clients.admin.TransactionState;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TransactionalIdNotFoundException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Admin.describeTransactions (FindCoordinator TRANSACTION + DescribeTransactions) and Admin.listTransactions
 * (ListTransactions to every broker) against a transaction the Java producer holds open and then commits.
 */
class TransactionsAdminTest {
    static Admin admin;

    @BeforeAll
    static void setUp() {
        admin = Strom.admin(bootstrap());
    }

    @AfterAll
    static void tearDown() {
        admin.close();
    }

    private static TransactionDescription describe(String id) throws Exception {
        return admin.describeTransactions(List.of(id)).description(id).get(30, TimeUnit.SECONDS);
    }

    private static boolean listed(String id, TransactionState state) throws Exception {
        var options = new ListTransactionsOptions().filterStates(List.of(state));
        return admin.listTransactions(options).all().get(30, TimeUnit.SECONDS).stream()
                .map(TransactionListing::transactionalId).anyMatch(id::equals);
    }

    @Test
    void describeAndListTransactions() throws Exception {
        String topic = Strom.topic("txn-admin");
        Strom.createTopic(admin, topic, 2);
        String id = Strom.topic("tx-admin");
        try (KafkaProducer<String, String> p = Strom.producer(bootstrap(), ProducerConfig.TRANSACTIONAL_ID_CONFIG, id,
                ProducerConfig.MAX_BLOCK_MS_CONFIG, 10000, ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, 45000)) {
            p.initTransactions();
            TransactionDescription empty = describe(id);
            assertEquals(TransactionState.EMPTY, empty.state());
            assertEquals(45000, empty.transactionTimeoutMs());
            assertTrue(empty.topicPartitions().isEmpty(), empty.toString());
            assertFalse(empty.transactionStartTimeMs().isPresent(), empty.toString());

            p.beginTransaction();
            p.send(new ProducerRecord<>(topic, 0, "k", "a"));
            p.send(new ProducerRecord<>(topic, 1, "k", "b"));
            p.flush();
            TransactionDescription open = describe(id);
            assertEquals(TransactionState.ONGOING, open.state());
            assertEquals(empty.producerId(), open.producerId());
            assertEquals(Set.of(new TopicPartition(topic, 0), new TopicPartition(topic, 1)), open.topicPartitions());
            assertTrue(open.transactionStartTimeMs().isPresent(), open.toString());
            assertTrue(listed(id, TransactionState.ONGOING), "ongoing transaction not listed");

            p.commitTransaction();
            // The markers are written after EndTxn is answered: CompleteCommit follows PrepareCommit.
            long deadline = System.currentTimeMillis() + 30_000;
            TransactionDescription done = describe(id);
            while (done.state() != TransactionState.COMPLETE_COMMIT && System.currentTimeMillis() < deadline) {
                Thread.sleep(100);
                done = describe(id);
            }
            assertEquals(TransactionState.COMPLETE_COMMIT, done.state());
            assertTrue(done.topicPartitions().isEmpty(), done.toString());
            assertFalse(listed(id, TransactionState.ONGOING), "committed transaction still listed as ongoing");
            assertTrue(listed(id, TransactionState.COMPLETE_COMMIT), "committed transaction not listed");
        }
    }

    @Test
    void describeUnknownTransactionalId() {
        String id = Strom.topic("tx-unknown");
        ExecutionException e = assertThrows(ExecutionException.class, () -> describe(id));
        assertInstanceOf(TransactionalIdNotFoundException.class, e.getCause(), "cause: " + e.getCause());
    }
}
