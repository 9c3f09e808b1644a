package io.strom.compat.clients;

import static io.strom.compat.clients.Strom.bootstrap;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ProducerState;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * DescribeProducers (KIP-664) through the AdminClient 4.4.0: served and advertised whatever the transaction
 * settings, as Kafka serves it; an idempotent producer's id, epoch and last sequence, no open transaction.
 */
class DescribeProducersTest {
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
    void describesTheIdempotentProducerOfAPartition() throws Exception {
        String topic = Strom.topic("producers");
        Strom.createTopic(admin, topic, 1);
        try (KafkaProducer<String, String> p = Strom.producer(bootstrap(), ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true)) {
            for (int i = 0; i < 5; i++) p.send(new ProducerRecord<>(topic, 0, "k" + i, "v" + i)).get(30, TimeUnit.SECONDS);
        }
        TopicPartition tp = new TopicPartition(topic, 0);
        List<ProducerState> producers = admin.describeProducers(List.of(tp)).partitionResult(tp)
                .get(30, TimeUnit.SECONDS).activeProducers();
        assertEquals(1, producers.size(), producers.toString());
        ProducerState state = producers.get(0);
        assertTrue(state.producerId() >= 0, state.toString());
        assertEquals(0, state.producerEpoch());
        assertEquals(4, state.lastSequence(), "one sequence per record");
        assertTrue(state.lastTimestamp() > 0, state.toString());
        assertTrue(state.coordinatorEpoch().isEmpty(), "no transaction marker yet");
        assertTrue(state.currentTransactionStartOffset().isEmpty(), "no open transaction");
    }
}
