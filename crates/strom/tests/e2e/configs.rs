//! Topic and broker configs over raw Kafka requests against a real broker: DescribeConfigs of the BROKER
//! resource reports values nobody set as DEFAULT_CONFIG and values set by flag as STATIC_BROKER_CONFIG;
//! `cleanup.policy` accepts the empty list (IncrementalAlterConfigs SUBTRACT of the last policy,
//! AlterConfigs with an empty value), as Kafka 4.2 does.

use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use strom_test_support::TestBroker;

use crate::util::{call, create_topic, start_broker};

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
const STATIC_BROKER_CONFIG: i8 = 4;
const DEFAULT_CONFIG: i8 = 5;
const TOPIC_CONFIG: i8 = 1;
const SUBTRACT: i8 = 3;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// (value, source) of each named config of one resource.
fn describe(
    broker: &TestBroker,
    resource_type: i8,
    name: &str,
    keys: &[&str],
) -> Vec<(Option<String>, i8)> {
    let request = DescribeConfigsRequest::default().with_resources(vec![
        describe_configs_request::DescribeConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(s(name))
            .with_configuration_keys(Some(keys.iter().map(|k| s(k)).collect())),
    ]);
    let response: DescribeConfigsResponse = call(broker, ApiKey::DescribeConfigs, 4, &request);
    let result = &response.results[0];
    assert_eq!(result.error_code, 0, "{:?}", result.error_message);
    keys.iter()
        .map(|k| {
            let c = result
                .configs
                .iter()
                .find(|c| c.name.as_str() == *k)
                .unwrap_or_else(|| panic!("{k} not described"));
            (c.value.as_ref().map(|v| v.to_string()), c.config_source)
        })
        .collect()
}

#[test]
fn broker_configs_nobody_set_are_default_config() {
    let broker = start_broker(&["--log-retention-ms", "3600000"]);
    let got = describe(
        &broker,
        RESOURCE_BROKER,
        &broker.node_id().to_string(),
        &[
            "log.retention.ms",
            "node.id",
            "log.segment.bytes",
            "num.partitions",
        ],
    );
    assert_eq!(got[0], (Some("3600000".into()), STATIC_BROKER_CONFIG));
    assert_eq!(
        got[1],
        (Some(broker.node_id().to_string()), STATIC_BROKER_CONFIG)
    );
    assert_eq!(got[2].1, DEFAULT_CONFIG, "log.segment.bytes: {got:?}");
    assert_eq!(got[3], (Some("1".into()), DEFAULT_CONFIG));
    broker.assert_no_panic();
}

#[test]
fn cleanup_policy_may_be_an_empty_list() {
    let broker = start_broker(&[]);
    create_topic(
        &broker,
        "empty-policy",
        1,
        &[("cleanup.policy", "compact,delete")],
    );
    create_topic(&broker, "empty-policy-legacy", 1, &[]);

    let subtract = |value: &str| {
        let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
            incremental_alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(RESOURCE_TOPIC)
                .with_resource_name(s("empty-policy"))
                .with_configs(vec![
                    incremental_alter_configs_request::AlterableConfig::default()
                        .with_name(s("cleanup.policy"))
                        .with_config_operation(SUBTRACT)
                        .with_value(Some(s(value))),
                ]),
        ]);
        let response: IncrementalAlterConfigsResponse =
            call(&broker, ApiKey::IncrementalAlterConfigs, 1, &request);
        let r = &response.responses[0];
        (
            r.error_code,
            r.error_message.as_ref().map(|m| m.to_string()),
        )
    };
    assert_eq!(subtract("compact"), (0, None));
    assert_eq!(
        describe(&broker, RESOURCE_TOPIC, "empty-policy", &["cleanup.policy"]),
        [(Some("delete".into()), TOPIC_CONFIG)]
    );
    // Subtracting the last policy leaves the empty list, which Kafka accepts.
    assert_eq!(subtract("delete"), (0, None));
    assert_eq!(
        describe(&broker, RESOURCE_TOPIC, "empty-policy", &["cleanup.policy"]),
        [(Some(String::new()), TOPIC_CONFIG)]
    );

    // The legacy AlterConfigs with `cleanup.policy=` too.
    let request = AlterConfigsRequest::default().with_resources(vec![
        alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(RESOURCE_TOPIC)
            .with_resource_name(s("empty-policy-legacy"))
            .with_configs(vec![alter_configs_request::AlterableConfig::default()
                .with_name(s("cleanup.policy"))
                .with_value(Some(s("")))]),
    ]);
    let response: AlterConfigsResponse = call(&broker, ApiKey::AlterConfigs, 2, &request);
    let r = &response.responses[0];
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    assert_eq!(
        describe(
            &broker,
            RESOURCE_TOPIC,
            "empty-policy-legacy",
            &["cleanup.policy"]
        ),
        [(Some(String::new()), TOPIC_CONFIG)]
    );
    broker.assert_no_panic();
}

/// DescribeConfigs with `configuration_keys` null or an empty list answers every config of the resource, as
/// Kafka's ConfigHelper does (the Java AdminClient sends null; other clients send an empty list); a list
/// with names answers those only. Broker settings are read-only (Strom has no dynamic broker configs).
#[test]
fn describe_configs_null_or_empty_keys_mean_all() {
    let broker = start_broker(&[]);
    create_topic(&broker, "all-configs", 1, &[("retention.ms", "1234")]);
    let node = broker.node_id().to_string();
    let names = |resource_type: i8, name: &str, keys: Option<Vec<StrBytes>>| {
        let request = DescribeConfigsRequest::default().with_resources(vec![
            describe_configs_request::DescribeConfigsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(s(name))
                .with_configuration_keys(keys),
        ]);
        let response: DescribeConfigsResponse = call(&broker, ApiKey::DescribeConfigs, 4, &request);
        let result = &response.results[0];
        assert_eq!(result.error_code, 0, "{:?}", result.error_message);
        result
            .configs
            .iter()
            .map(|c| (c.name.to_string(), c.read_only))
            .collect::<Vec<_>>()
    };
    for (resource_type, name, expected) in [
        (RESOURCE_TOPIC, "all-configs", "retention.ms"),
        (RESOURCE_BROKER, node.as_str(), "log.retention.ms"),
    ] {
        let all = names(resource_type, name, None);
        assert!(all.len() > 20, "{all:?}");
        assert!(all.iter().any(|(n, _)| n == expected));
        assert_eq!(
            names(resource_type, name, Some(vec![])),
            all,
            "empty list = null"
        );
        let one = names(resource_type, name, Some(vec![s(expected)]));
        assert_eq!(one.len(), 1);
        // Topic configs are alterable; broker settings are static in Strom.
        assert_eq!(one[0].1, resource_type == RESOURCE_BROKER);
    }
}
