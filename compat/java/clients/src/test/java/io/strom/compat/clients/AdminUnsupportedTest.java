package io.strom.compat.clients;

import static io.strom.compat.clients.Strom.bootstrap;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.FeatureUpdate;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.RaftVoterEndpoint;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UpdateFeaturesOptions;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.errors.UnsupportedVersionException;
import org.apache.kafka.common.quota.ClientQuotaAlteration;
import org.apache.kafka.common.quota.ClientQuotaEntity;
import org.apache.kafka.common.quota.ClientQuotaFilter;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * AdminClient 4.4.0 calls whose APIs Strom does not advertise in ApiVersions: each must fail fast with
 * UnsupportedVersionException (inside the ExecutionException), never hang. The client checks the broker's ApiVersions
 * before sending, so a broker that leaves an API out of ApiVersions gets exactly this. When Strom starts serving one
 * of these APIs (security: issue 24), its test here fails and is replaced by a real test (as describeTransactions and
 * listTransactions were by TransactionsAdminTest).
 */
class AdminUnsupportedTest {
    static Admin admin;

    @BeforeAll
    static void setUp() {
        var p = Strom.adminProps(bootstrap());
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 20000);
        admin = Admin.create(p);
    }

    @AfterAll
    static void tearDown() {
        admin.close();
    }

    /** The future fails within 10 s, and its cause is UnsupportedVersionException. */
    private static void unsupported(KafkaFuture<?> future) throws Exception {
        long t0 = System.nanoTime();
        try {
            Object v = future.get(10, TimeUnit.SECONDS);
            fail("expected UnsupportedVersionException, the call succeeded: " + v);
        } catch (ExecutionException e) {
            assertInstanceOf(UnsupportedVersionException.class, e.getCause(), "cause: " + e.getCause());
        } catch (TimeoutException e) {
            fail("no answer within 10 s (expected UnsupportedVersionException at once)");
        }
        long ms = (System.nanoTime() - t0) / 1_000_000;
        assertTrue(ms < 10_000, "took " + ms + " ms");
    }

    private static final AclBinding ACL = new AclBinding(new ResourcePattern(ResourceType.TOPIC, "t", PatternType.LITERAL),
            new AccessControlEntry("User:alice", "*", AclOperation.READ, AclPermissionType.ALLOW));

    @Test
    void describeAcls() throws Exception {
        unsupported(admin.describeAcls(AclBindingFilter.ANY).values());
    }

    @Test
    void createAcls() throws Exception {
        unsupported(admin.createAcls(List.of(ACL)).all());
    }

    @Test
    void deleteAcls() throws Exception {
        unsupported(admin.deleteAcls(List.of(AclBindingFilter.ANY)).all());
    }

    @Test
    void describeUserScramCredentials() throws Exception {
        unsupported(admin.describeUserScramCredentials().all());
    }

    @Test
    void alterUserScramCredentials() throws Exception {
        unsupported(admin.alterUserScramCredentials(List.of(new UserScramCredentialUpsertion("alice",
                new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096), "secret"))).all());
    }

    @Test
    void createDelegationToken() throws Exception {
        unsupported(admin.createDelegationToken().delegationToken());
    }

    @Test
    void renewDelegationToken() throws Exception {
        unsupported(admin.renewDelegationToken(new byte[] {1, 2, 3}).expiryTimestamp());
    }

    @Test
    void expireDelegationToken() throws Exception {
        unsupported(admin.expireDelegationToken(new byte[] {1, 2, 3}).expiryTimestamp());
    }

    @Test
    void describeDelegationToken() throws Exception {
        unsupported(admin.describeDelegationToken().delegationTokens());
    }

    @Test
    void describeClientQuotas() throws Exception {
        unsupported(admin.describeClientQuotas(ClientQuotaFilter.all()).entities());
    }

    @Test
    void alterClientQuotas() throws Exception {
        ClientQuotaEntity entity = new ClientQuotaEntity(Map.of(ClientQuotaEntity.USER, "alice"));
        unsupported(admin.alterClientQuotas(List.of(new ClientQuotaAlteration(entity,
                List.of(new ClientQuotaAlteration.Op("producer_byte_rate", 1024.0))))).all());
    }

    @Test
    void updateFeatures() throws Exception {
        unsupported(admin.updateFeatures(Map.of("metadata.version", new FeatureUpdate((short) 1, FeatureUpdate.UpgradeType.UPGRADE)),
                new UpdateFeaturesOptions()).all());
    }

    @Test
    void unregisterBroker() throws Exception {
        unsupported(admin.unregisterBroker(42).all());
    }

    @Test
    void addRaftVoter() throws Exception {
        unsupported(admin.addRaftVoter(4, Uuid.randomUuid(), Set.of(new RaftVoterEndpoint("CONTROLLER", "127.0.0.1", 1))).all());
    }

    @Test
    void removeRaftVoter() throws Exception {
        unsupported(admin.removeRaftVoter(4, Uuid.randomUuid()).all());
    }

    @Test
    void listConfigResources() throws Exception {
        unsupported(admin.listConfigResources().all());
    }

    @Test
    void describeShareGroups() throws Exception {
        unsupported(admin.describeShareGroups(List.of("share-group")).all());
    }

    @Test
    void describeStreamsGroups() throws Exception {
        unsupported(admin.describeStreamsGroups(List.of("streams-group")).all());
    }

    @Test
    void listShareGroupOffsets() throws Exception {
        unsupported(admin.listShareGroupOffsets(Map.of("share-group",
                new org.apache.kafka.clients.admin.ListShareGroupOffsetsSpec())).all());
    }

    /** Control: the same admin client's served calls work (the failures above are per API, not a broken client). */
    @Test
    void servedCallStillWorks() throws Exception {
        String topic = Strom.topic("unsupported-control");
        admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get(30, TimeUnit.SECONDS);
        admin.alterConsumerGroupOffsets(Strom.topic("g-control"), Map.of(new TopicPartition(topic, 0), new OffsetAndMetadata(0)))
                .all().get(30, TimeUnit.SECONDS);
    }
}
