package io.strom.compat.clients;

import static io.strom.compat.clients.Strom.bootstrap;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.AlterConfigsOptions;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.DescribeConfigsOptions;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.InvalidConfigurationException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.protocol.Errors;
import org.apache.kafka.common.requests.AlterConfigsRequest;
import org.apache.kafka.common.requests.AlterConfigsResponse;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** DescribeConfigs, IncrementalAlterConfigs (AdminClient 4.4.0) and legacy AlterConfigs (API 33, raw: Admin 4.x dropped alterConfigs). */
class AdminConfigsTest {
    static Admin admin;

    @BeforeAll
    static void setUp() {
        admin = Strom.admin(bootstrap());
    }

    @AfterAll
    static void tearDown() {
        admin.close();
    }

    private static Config describe(ConfigResource r) throws Exception {
        return admin.describeConfigs(List.of(r)).all().get(30, TimeUnit.SECONDS).get(r);
    }

    private static void alter(ConfigResource r, AlterConfigOp... ops) throws Exception {
        admin.incrementalAlterConfigs(Map.of(r, List.of(ops))).all().get(30, TimeUnit.SECONDS);
    }

    private static AlterConfigOp op(String name, String value, AlterConfigOp.OpType type) {
        return new AlterConfigOp(new ConfigEntry(name, value), type);
    }

    @Test
    void describeTopicConfigs() throws Exception {
        String topic = Strom.topic("cfg-describe");
        Strom.createTopic(admin, topic, 1, 1, Map.of("retention.ms", "123456"));
        ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        Config c = admin.describeConfigs(List.of(r), new DescribeConfigsOptions().includeSynonyms(true).includeDocumentation(true))
                .all().get(30, TimeUnit.SECONDS).get(r);
        ConfigEntry retention = c.get("retention.ms");
        assertEquals("123456", retention.value());
        assertEquals(ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, retention.source());
        assertFalse(retention.isDefault());
        assertEquals(ConfigEntry.ConfigType.LONG, retention.type());
        assertTrue(retention.synonyms().size() >= 2, "topic value, then the broker default (log.retention.ms): " + retention.synonyms());
        assertEquals("retention.ms", retention.synonyms().get(0).name());
        ConfigEntry segment = c.get("segment.bytes");
        assertEquals("1073741824", segment.value());
        assertEquals(ConfigEntry.ConfigSource.DEFAULT_CONFIG, segment.source());
        assertTrue(segment.isDefault());
        assertNotNull(c.get("cleanup.policy"));
        assertEquals("delete", c.get("cleanup.policy").value());
        assertEquals(ConfigEntry.ConfigType.LIST, c.get("cleanup.policy").type());
        assertNotNull(c.get("min.insync.replicas"));
        assertNotNull(c.get("max.message.bytes"));
        assertTrue(c.entries().size() > 10, "all topic configs are described: " + c.entries().size());
        ExecutionException e = assertThrows(ExecutionException.class,
                () -> describe(new ConfigResource(ConfigResource.Type.TOPIC, Strom.topic("absent"))));
        assertInstanceOf(UnknownTopicOrPartitionException.class, e.getCause());
    }

    /** Broker resource "1": values and sources; settings left at Kafka's default are DEFAULT_CONFIG. */
    @Test
    void describeBrokerConfigs() throws Exception {
        ConfigResource broker = new ConfigResource(ConfigResource.Type.BROKER, "1");
        Config c = describe(broker);
        assertEquals("true", c.get("auto.create.topics.enable").value());
        assertEquals("1", c.get("num.partitions").value());
        assertEquals("0", c.get("group.initial.rebalance.delay.ms").value(), "run.sh sets it");
        assertEquals(ConfigEntry.ConfigSource.STATIC_BROKER_CONFIG, c.get("group.initial.rebalance.delay.ms").source());
        ConfigEntry segment = c.get("log.segment.bytes");
        assertEquals("1073741824", segment.value());
        assertEquals(ConfigEntry.ConfigSource.DEFAULT_CONFIG, segment.source(), "a setting left at its default: " + segment);
        assertTrue(segment.isDefault());
    }

    @Test
    void incrementalAlter() throws Exception {
        String topic = Strom.topic("cfg-alter");
        Strom.createTopic(admin, topic, 1);
        ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        alter(r, op("retention.ms", "86400000", AlterConfigOp.OpType.SET), op("max.message.bytes", "200000", AlterConfigOp.OpType.SET));
        Config c = describe(r);
        assertEquals("86400000", c.get("retention.ms").value());
        assertEquals(ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, c.get("retention.ms").source());
        assertEquals("200000", c.get("max.message.bytes").value());
        // DELETE goes back to the default
        alter(r, op("retention.ms", null, AlterConfigOp.OpType.DELETE));
        c = describe(r);
        assertEquals("604800000", c.get("retention.ms").value());
        assertEquals(ConfigEntry.ConfigSource.DEFAULT_CONFIG, c.get("retention.ms").source());
        assertEquals("200000", c.get("max.message.bytes").value(), "untouched key kept");
        // APPEND and SUBTRACT on a list config
        alter(r, op("cleanup.policy", "compact", AlterConfigOp.OpType.APPEND));
        assertEquals(List.of("delete", "compact"), List.of(describe(r).get("cleanup.policy").value().split(",")));
        alter(r, op("cleanup.policy", "delete", AlterConfigOp.OpType.SUBTRACT));
        assertEquals("compact", describe(r).get("cleanup.policy").value());
        // validateOnly changes nothing
        admin.incrementalAlterConfigs(Map.of(r, List.of(op("retention.ms", "1000", AlterConfigOp.OpType.SET))),
                new AlterConfigsOptions().validateOnly(true)).all().get(30, TimeUnit.SECONDS);
        assertEquals("604800000", describe(r).get("retention.ms").value());
    }

    /** SUBTRACT of the last cleanup policy leaves an empty list, which Kafka accepts (KIP-1030 style empty policy). */
    @Test
    void subtractLastCleanupPolicy() throws Exception {
        String topic = Strom.topic("cfg-empty-policy");
        Strom.createTopic(admin, topic, 1);
        ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        alter(r, op("cleanup.policy", "delete", AlterConfigOp.OpType.SUBTRACT));
        assertEquals("", describe(r).get("cleanup.policy").value());
    }

    @Test
    void invalidValues() throws Exception {
        String topic = Strom.topic("cfg-invalid");
        Strom.createTopic(admin, topic, 1);
        ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        ExecutionException e = assertThrows(ExecutionException.class, () -> alter(r, op("retention.ms", "not-a-number", AlterConfigOp.OpType.SET)));
        assertInstanceOf(InvalidConfigurationException.class, e.getCause());
        e = assertThrows(ExecutionException.class, () -> alter(r, op("no.such.config", "1", AlterConfigOp.OpType.SET)));
        assertInstanceOf(InvalidConfigurationException.class, e.getCause());
        e = assertThrows(ExecutionException.class, () -> alter(r, op("cleanup.policy", "bogus", AlterConfigOp.OpType.SET)));
        assertInstanceOf(InvalidConfigurationException.class, e.getCause());
        e = assertThrows(ExecutionException.class, () -> alter(new ConfigResource(ConfigResource.Type.TOPIC, Strom.topic("absent")),
                op("retention.ms", "1000", AlterConfigOp.OpType.SET)));
        assertInstanceOf(UnknownTopicOrPartitionException.class, e.getCause());
        assertEquals("604800000", describe(r).get("retention.ms").value(), "nothing changed");
    }

    /** Every topic compression.type Kafka accepts; the broker recompresses batches to it. */
    @Test
    void compressionTypes() throws Exception {
        String topic = Strom.topic("cfg-compression");
        Strom.createTopic(admin, topic, 1);
        ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        for (String codec : List.of("gzip", "snappy", "lz4", "zstd", "uncompressed", "producer")) {
            alter(r, op("compression.type", codec, AlterConfigOp.OpType.SET));
            assertEquals(codec, describe(r).get("compression.type").value());
        }
    }

    /**
     * Legacy AlterConfigs (API 33) replaces a resource's whole dynamic config: keys not in the request go back to their
     * defaults. Sent raw (the 4.x AdminClient only has incrementalAlterConfigs), answered per resource.
     */
    @Test
    void legacyAlterConfigs() throws Exception {
        String topic = Strom.topic("cfg-legacy");
        Strom.createTopic(admin, topic, 1, 1, Map.of("retention.ms", "1000000", "max.message.bytes", "300000"));
        ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        Collection<AlterConfigsRequest.ConfigEntry> entries = List.of(new AlterConfigsRequest.ConfigEntry("retention.ms", "2000000"));
        for (short version = 0; version <= 2; version++) {
            AlterConfigsResponse resp = (AlterConfigsResponse) RawWire.call(bootstrap(),
                    new AlterConfigsRequest.Builder(Map.of(r, new AlterConfigsRequest.Config(entries)), false), version);
            assertEquals(Map.of(r, Errors.NONE), Map.of(r, resp.errors().get(r).error()), "AlterConfigs v" + version);
        }
        Config c = describe(r);
        assertEquals("2000000", c.get("retention.ms").value());
        assertEquals("1048588", c.get("max.message.bytes").value(), "a key left out of a legacy AlterConfigs is reset");
        assertEquals(ConfigEntry.ConfigSource.DEFAULT_CONFIG, c.get("max.message.bytes").source());
        // invalid value: the resource's error, nothing changed
        AlterConfigsResponse bad = (AlterConfigsResponse) RawWire.call(bootstrap(), new AlterConfigsRequest.Builder(
                Map.of(r, new AlterConfigsRequest.Config(List.of(new AlterConfigsRequest.ConfigEntry("retention.ms", "x")))), false), (short) 2);
        assertEquals(Errors.INVALID_CONFIG, bad.errors().get(r).error());
        assertEquals("2000000", describe(r).get("retention.ms").value());
        // validate_only
        AlterConfigsResponse dry = (AlterConfigsResponse) RawWire.call(bootstrap(), new AlterConfigsRequest.Builder(
                Map.of(r, new AlterConfigsRequest.Config(List.of(new AlterConfigsRequest.ConfigEntry("retention.ms", "5")))), true), (short) 2);
        assertEquals(Errors.NONE, dry.errors().get(r).error());
        assertEquals("2000000", describe(r).get("retention.ms").value());
    }
}
