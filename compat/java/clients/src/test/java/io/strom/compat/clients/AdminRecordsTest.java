package io.strom.compat.clients;

import static io.strom.compat.clients.Strom.bootstrap;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.DeletedRecords;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.OffsetOutOfRangeException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** DeleteRecords and ListOffsets through the AdminClient 4.4.0. */
class AdminRecordsTest {
    static Admin admin;

    @BeforeAll
    static void setUp() {
        admin = Strom.admin(bootstrap());
    }

    @AfterAll
    static void tearDown() {
        admin.close();
    }

    private static long offset(TopicPartition tp, OffsetSpec spec) throws Exception {
        return admin.listOffsets(Map.of(tp, spec)).partitionResult(tp).get(30, TimeUnit.SECONDS).offset();
    }

    @Test
    void deleteRecords() throws Exception {
        String topic = Strom.topic("delrec");
        Strom.createTopic(admin, topic, 2);
        Strom.produceValues(bootstrap(), topic, 0, 20);
        Strom.produceValues(bootstrap(), topic, 1, 5);
        TopicPartition p0 = new TopicPartition(topic, 0), p1 = new TopicPartition(topic, 1);
        Map<TopicPartition, org.apache.kafka.common.KafkaFuture<DeletedRecords>> result = admin.deleteRecords(Map.of(
                p0, RecordsToDelete.beforeOffset(12), p1, RecordsToDelete.beforeOffset(-1))).lowWatermarks();
        assertEquals(12, result.get(p0).get(30, TimeUnit.SECONDS).lowWatermark());
        assertEquals(5, result.get(p1).get(30, TimeUnit.SECONDS).lowWatermark(), "-1 deletes up to the high watermark");
        assertEquals(12, offset(p0, OffsetSpec.earliest()));
        assertEquals(20, offset(p0, OffsetSpec.latest()));
        assertEquals(5, offset(p1, OffsetSpec.earliest()));
        List<ConsumerRecord<String, String>> rest = Strom.readAll(bootstrap(), List.of(p0), 8);
        assertEquals(12, rest.get(0).offset());
        assertEquals("v12", rest.get(0).value());
        // deleting below the current low watermark changes nothing; past the high watermark is OFFSET_OUT_OF_RANGE
        assertEquals(12, admin.deleteRecords(Map.of(p0, RecordsToDelete.beforeOffset(3))).lowWatermarks().get(p0)
                .get(30, TimeUnit.SECONDS).lowWatermark());
        ExecutionException e = assertThrows(ExecutionException.class,
                () -> admin.deleteRecords(Map.of(p0, RecordsToDelete.beforeOffset(21))).all().get(30, TimeUnit.SECONDS));
        assertInstanceOf(OffsetOutOfRangeException.class, e.getCause());
    }

    @Test
    void listOffsets() throws Exception {
        String topic = Strom.topic("listoff");
        Strom.createTopic(admin, topic, 1);
        TopicPartition tp = new TopicPartition(topic, 0);
        assertEquals(0, offset(tp, OffsetSpec.earliest()));
        assertEquals(0, offset(tp, OffsetSpec.latest()));
        Strom.produceValues(bootstrap(), topic, 0, 7);
        assertEquals(0, offset(tp, OffsetSpec.earliest()));
        assertEquals(7, offset(tp, OffsetSpec.latest()));
        assertEquals(0, offset(tp, OffsetSpec.earliestLocal()), "KIP-1005 earliest-local: no tiered storage, same as earliest");
        assertEquals(-1, offset(tp, OffsetSpec.latestTiered()), "KIP-1005 latest-tiered: nothing is tiered");
        assertEquals(-1, offset(tp, OffsetSpec.forTimestamp(System.currentTimeMillis() + 3_600_000)), "no record that late");
    }
}
