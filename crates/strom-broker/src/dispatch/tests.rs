//! Drives every served API at every served version through a real broker on a temp dir and encodes the
//! response at that version. The codecs refuse fields a version does not have, so this is what keeps a
//! handler from answering some client version with a closed connection.
use super::*;
use bytes::BytesMut;
use strom_protocol::kafka_protocol::messages::*;
use strom_protocol::kafka_protocol::protocol::StrBytes;
use strom_protocol::kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// Every served range lies within what the codec knows, and ApiVersions advertises itself.
#[test]
fn served_versions_are_within_what_the_codec_knows() {
    for (key, versions) in SUPPORTED {
        let codec = key.valid_versions();
        assert!(
            codec.min <= *versions.start() && *versions.end() <= codec.max,
            "{key:?} {versions:?} vs {codec}"
        );
    }
    let ResponseKind::ApiVersions(table) = api::api_versions::unsupported_version(SUPPORTED) else {
        panic!("not an ApiVersions response");
    };
    assert!(table
        .api_keys
        .iter()
        .any(|v| v.api_key == ApiKey::ApiVersions as i16));
}

/// One uncompressed v2 batch of one record (also used by other modules' tests).
pub(crate) fn batch() -> bytes::Bytes {
    let record = Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: 1_700_000_000_000,
        key: Some(bytes::Bytes::from_static(b"k")),
        value: Some(bytes::Bytes::from_static(b"v")),
        headers: Default::default(),
    };
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        [&record],
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .unwrap();
    buf.freeze()
}

fn request(key: ApiKey, version: i16, topic_id: uuid::Uuid) -> RequestKind {
    let t = || TopicName(s("t"));
    match key {
        ApiKey::Produce => RequestKind::Produce(
            ProduceRequest::default()
                .with_acks(1)
                .with_timeout_ms(1000)
                .with_topic_data(vec![produce_request::TopicProduceData::default()
                    .with_name(t())
                    .with_topic_id(topic_id)
                    .with_partition_data(vec![
                        produce_request::PartitionProduceData::default()
                            .with_index(0)
                            .with_records(Some(batch())),
                        produce_request::PartitionProduceData::default()
                            .with_index(9)
                            .with_records(Some(batch())),
                    ])]),
        ),
        ApiKey::Fetch => RequestKind::Fetch(
            FetchRequest::default()
                .with_max_bytes(1 << 20)
                .with_replica_id(BrokerId(-1))
                .with_topics(vec![fetch_request::FetchTopic::default()
                    .with_topic(t())
                    .with_topic_id(topic_id)
                    .with_partitions(vec![
                        fetch_request::FetchPartition::default()
                            .with_partition(0)
                            .with_partition_max_bytes(1 << 20),
                        fetch_request::FetchPartition::default()
                            .with_partition(0)
                            .with_fetch_offset(1 << 40)
                            .with_partition_max_bytes(1 << 20),
                    ])]),
        ),
        ApiKey::ListOffsets => {
            RequestKind::ListOffsets(ListOffsetsRequest::default().with_topics(vec![
                list_offsets_request::ListOffsetsTopic::default()
                    .with_name(t())
                    .with_partitions(
                        [-1i64, -2, -3, 0, 1_700_000_000_000]
                            .iter()
                            .map(|&ts| {
                                list_offsets_request::ListOffsetsPartition::default()
                                    .with_partition_index(0)
                                    .with_timestamp(ts)
                            })
                            .collect(),
                    ),
            ]))
        }
        ApiKey::OffsetForLeaderEpoch => RequestKind::OffsetForLeaderEpoch(
            OffsetForLeaderEpochRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_topics(vec![
                    offset_for_leader_epoch_request::OffsetForLeaderTopic::default()
                        .with_topic(t())
                        .with_partitions(vec![
                            offset_for_leader_epoch_request::OffsetForLeaderPartition::default()
                                .with_partition(0)
                                .with_leader_epoch(0),
                            offset_for_leader_epoch_request::OffsetForLeaderPartition::default()
                                .with_partition(7)
                                .with_leader_epoch(0),
                        ]),
                ]),
        ),
        ApiKey::Metadata => {
            RequestKind::Metadata(MetadataRequest::default().with_topics(Some(vec![
                metadata_request::MetadataRequestTopic::default().with_name(Some(t())),
                metadata_request::MetadataRequestTopic::default()
                    .with_name(Some(TopicName(s("bad/name")))),
            ])))
        }
        ApiKey::ApiVersions => RequestKind::ApiVersions(ApiVersionsRequest::default()),
        ApiKey::CreateTopics => {
            RequestKind::CreateTopics(CreateTopicsRequest::default().with_topics(vec![
                create_topics_request::CreatableTopic::default()
                    .with_name(TopicName(s(&format!("new-{version}"))))
                    .with_num_partitions(1)
                    .with_replication_factor(1),
                create_topics_request::CreatableTopic::default()
                    .with_name(t())
                    .with_num_partitions(1)
                    .with_replication_factor(1),
            ]))
        }
        ApiKey::DeleteTopics => RequestKind::DeleteTopics(
            DeleteTopicsRequest::default()
                .with_topic_names(vec![
                    TopicName(s(&format!("new-{version}"))),
                    TopicName(s("missing")),
                ])
                .with_topics(vec![
                    delete_topics_request::DeleteTopicState::default()
                        .with_name(Some(TopicName(s(&format!("new-{version}"))))),
                    delete_topics_request::DeleteTopicState::default()
                        .with_name(Some(TopicName(s("missing")))),
                ]),
        ),
        ApiKey::DeleteRecords => {
            RequestKind::DeleteRecords(DeleteRecordsRequest::default().with_topics(vec![
                delete_records_request::DeleteRecordsTopic::default()
                    .with_name(t())
                    .with_partitions(vec![
                        delete_records_request::DeleteRecordsPartition::default()
                            .with_partition_index(0)
                            .with_offset(0),
                    ]),
            ]))
        }
        ApiKey::InitProducerId => RequestKind::InitProducerId(InitProducerIdRequest::default()),
        ApiKey::DescribeConfigs => RequestKind::DescribeConfigs(
            DescribeConfigsRequest::default()
                .with_include_synonyms(true)
                .with_include_documentation(true)
                .with_resources(vec![
                    describe_configs_request::DescribeConfigsResource::default()
                        .with_resource_type(2)
                        .with_resource_name(s("t")),
                    describe_configs_request::DescribeConfigsResource::default()
                        .with_resource_type(4)
                        .with_resource_name(s("1")),
                ]),
        ),
        ApiKey::AlterConfigs => {
            RequestKind::AlterConfigs(AlterConfigsRequest::default().with_resources(vec![
                alter_configs_request::AlterConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(s("t"))
                    .with_configs(vec![alter_configs_request::AlterableConfig::default()
                        .with_name(s("retention.ms"))
                        .with_value(Some(s("86400000")))]),
            ]))
        }
        ApiKey::CreatePartitions => {
            RequestKind::CreatePartitions(CreatePartitionsRequest::default().with_topics(vec![
                create_partitions_request::CreatePartitionsTopic::default()
                    .with_name(t())
                    .with_count(1),
            ]))
        }
        ApiKey::IncrementalAlterConfigs => RequestKind::IncrementalAlterConfigs(
            IncrementalAlterConfigsRequest::default().with_resources(vec![
                incremental_alter_configs_request::AlterConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(s("t"))
                    .with_configs(vec![
                        incremental_alter_configs_request::AlterableConfig::default()
                            .with_name(s("retention.ms"))
                            .with_value(Some(s("3600000"))),
                    ]),
            ]),
        ),
        ApiKey::DescribeCluster => RequestKind::DescribeCluster(DescribeClusterRequest::default()),
        // v6 asks for a transaction coordinator, which creates `__transaction_state`.
        ApiKey::FindCoordinator => RequestKind::FindCoordinator(
            FindCoordinatorRequest::default()
                .with_key_type(if version == 6 { 1 } else { 0 })
                .with_key(s("g"))
                .with_coordinator_keys(vec![s("g"), s("tx")]),
        ),
        // One group per version so every join completes at once (single member, no initial delay); from
        // v5 the member is static, which skips MEMBER_ID_REQUIRED and answers with the member list.
        ApiKey::JoinGroup => RequestKind::JoinGroup(
            JoinGroupRequest::default()
                .with_group_id(GroupId(s(&format!("g-{version}"))))
                .with_session_timeout_ms(10_000)
                .with_rebalance_timeout_ms(10_000)
                .with_group_instance_id((version >= 5).then(|| s("instance")))
                .with_protocol_type(s("consumer"))
                .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default(
                )
                .with_name(s("range"))
                .with_metadata(bytes::Bytes::from_static(b"x"))]),
        ),
        ApiKey::SyncGroup => RequestKind::SyncGroup(
            SyncGroupRequest::default()
                .with_group_id(GroupId(s(&format!("g-{version}"))))
                .with_generation_id(1)
                .with_member_id(s("unknown")),
        ),
        ApiKey::Heartbeat => RequestKind::Heartbeat(
            HeartbeatRequest::default()
                .with_group_id(GroupId(s("g-0")))
                .with_generation_id(1)
                .with_member_id(s("unknown")),
        ),
        ApiKey::LeaveGroup => RequestKind::LeaveGroup(
            LeaveGroupRequest::default()
                .with_group_id(GroupId(s("g-1")))
                .with_member_id(s("unknown"))
                .with_members(vec![leave_group_request::MemberIdentity::default()
                    .with_member_id(s("unknown"))
                    .with_group_instance_id(Some(s("instance")))]),
        ),
        ApiKey::OffsetCommit => RequestKind::OffsetCommit(
            OffsetCommitRequest::default()
                .with_group_id(GroupId(s(&format!("simple-{version}"))))
                .with_topics(vec![
                    offset_commit_request::OffsetCommitRequestTopic::default()
                        .with_name(t())
                        .with_partitions(vec![
                            offset_commit_request::OffsetCommitRequestPartition::default()
                                .with_partition_index(0)
                                .with_committed_offset(1),
                            offset_commit_request::OffsetCommitRequestPartition::default()
                                .with_partition_index(9)
                                .with_committed_offset(1),
                        ]),
                ]),
        ),
        ApiKey::OffsetFetch => RequestKind::OffsetFetch(
            OffsetFetchRequest::default()
                .with_group_id(GroupId(s("simple-2")))
                .with_topics(Some(vec![
                    offset_fetch_request::OffsetFetchRequestTopic::default()
                        .with_name(t())
                        .with_partition_indexes(vec![0, 1]),
                ]))
                .with_groups(vec![
                    offset_fetch_request::OffsetFetchRequestGroup::default()
                        .with_group_id(GroupId(s("simple-2"))),
                    offset_fetch_request::OffsetFetchRequestGroup::default()
                        .with_group_id(GroupId(s("missing")))
                        .with_topics(Some(vec![
                            offset_fetch_request::OffsetFetchRequestTopics::default()
                                .with_name(t())
                                .with_partition_indexes(vec![0]),
                        ])),
                ]),
        ),
        ApiKey::ListGroups => RequestKind::ListGroups(
            ListGroupsRequest::default().with_states_filter(if version >= 4 {
                vec![s("Stable"), s("Empty")]
            } else {
                Vec::new()
            }),
        ),
        ApiKey::DescribeGroups => RequestKind::DescribeGroups(
            DescribeGroupsRequest::default()
                .with_groups(vec![GroupId(s("g-5")), GroupId(s("missing"))])
                .with_include_authorized_operations(version >= 3),
        ),
        ApiKey::DeleteGroups => {
            RequestKind::DeleteGroups(DeleteGroupsRequest::default().with_groups_names(vec![
                GroupId(s(&format!("simple-{}", version + 2))),
                GroupId(s("g-5")),
                GroupId(s("missing")),
            ]))
        }
        ApiKey::OffsetDelete => RequestKind::OffsetDelete(
            OffsetDeleteRequest::default()
                .with_group_id(GroupId(s("simple-9")))
                .with_topics(vec![
                    offset_delete_request::OffsetDeleteRequestTopic::default()
                        .with_name(t())
                        .with_partitions(vec![
                            offset_delete_request::OffsetDeleteRequestPartition::default()
                                .with_partition_index(0),
                        ]),
                ]),
        ),
        // A KIP-848 join per version; the member then owns both partitions of "t".
        ApiKey::ConsumerGroupHeartbeat => RequestKind::ConsumerGroupHeartbeat(
            ConsumerGroupHeartbeatRequest::default()
                .with_group_id(GroupId(s(&format!("cg-{version}"))))
                .with_member_id(s(&format!("member-{version}")))
                .with_member_epoch(0)
                .with_rebalance_timeout_ms(10_000)
                .with_subscribed_topic_names(Some(vec![t()]))
                .with_server_assignor(Some(s("range")))
                .with_topic_partitions(Some(Vec::new())),
        ),
        ApiKey::ConsumerGroupDescribe => RequestKind::ConsumerGroupDescribe(
            ConsumerGroupDescribeRequest::default()
                .with_group_ids(vec![
                    GroupId(s("cg-0")),
                    GroupId(s("g-5")),
                    GroupId(s("missing")),
                ])
                .with_include_authorized_operations(version >= 1),
        ),
        // v0 can only ask for a preferred election; from v1 each version asks for one kind, on
        // named partitions (one known, one unknown) and then on all partitions.
        ApiKey::ElectLeaders => RequestKind::ElectLeaders(
            ElectLeadersRequest::default()
                .with_election_type(if version >= 1 { (version - 1) as i8 } else { 0 })
                .with_topic_partitions((version != 1).then(|| {
                    vec![elect_leaders_request::TopicPartitions::default()
                        .with_topic(t())
                        .with_partitions(vec![0, 9])]
                })),
        ),
        // Partition 0 moves to broker 1, where it already is (no-op); partition 1 to an unknown
        // broker; partition 1 again is a duplicate; v1 also refuses a replication-factor change.
        ApiKey::AlterPartitionReassignments => RequestKind::AlterPartitionReassignments(
            AlterPartitionReassignmentsRequest::default()
                .with_allow_replication_factor_change(version == 0)
                .with_topics(vec![
                    alter_partition_reassignments_request::ReassignableTopic::default()
                        .with_name(t())
                        .with_partitions(vec![
                            alter_partition_reassignments_request::ReassignablePartition::default()
                                .with_partition_index(0)
                                .with_replicas(Some(vec![BrokerId(1)])),
                            alter_partition_reassignments_request::ReassignablePartition::default()
                                .with_partition_index(1)
                                .with_replicas(Some(vec![BrokerId(1), BrokerId(7)])),
                            alter_partition_reassignments_request::ReassignablePartition::default()
                                .with_partition_index(1)
                                .with_replicas(None),
                        ]),
                    alter_partition_reassignments_request::ReassignableTopic::default()
                        .with_name(TopicName(s("missing")))
                        .with_partitions(vec![
                            alter_partition_reassignments_request::ReassignablePartition::default()
                                .with_partition_index(0)
                                .with_replicas(None),
                        ]),
                ]),
        ),
        ApiKey::ListPartitionReassignments => RequestKind::ListPartitionReassignments(
            ListPartitionReassignmentsRequest::default().with_topics(Some(vec![
                list_partition_reassignments_request::ListPartitionReassignmentsTopics::default()
                    .with_name(t())
                    .with_partition_indexes(vec![0, 1]),
            ])),
        ),
        // Both topics, one partition per page, from a cursor at partition 1 of "t"; then a missing topic.
        ApiKey::DescribeTopicPartitions => RequestKind::DescribeTopicPartitions(
            DescribeTopicPartitionsRequest::default()
                .with_topics(
                    ["t", "missing", "bad/name"]
                        .map(|n| {
                            describe_topic_partitions_request::TopicRequest::default()
                                .with_name(TopicName(s(n)))
                        })
                        .to_vec(),
                )
                .with_response_partition_limit(1)
                .with_cursor(Some(
                    describe_topic_partitions_request::Cursor::default()
                        .with_topic_name(t())
                        .with_partition_index(1),
                )),
        ),
        ApiKey::DescribeLogDirs => RequestKind::DescribeLogDirs(DescribeLogDirsRequest::default()),
        ApiKey::AlterReplicaLogDirs => {
            RequestKind::AlterReplicaLogDirs(AlterReplicaLogDirsRequest::default().with_dirs(vec![
                alter_replica_log_dirs_request::AlterReplicaLogDir::default()
                    .with_path(s("/nonexistent"))
                    .with_topics(vec![
                        alter_replica_log_dirs_request::AlterReplicaLogDirTopic::default()
                            .with_name(t())
                            .with_partitions(vec![0, 9]),
                    ]),
            ]))
        }
        ApiKey::DescribeQuorum => {
            RequestKind::DescribeQuorum(DescribeQuorumRequest::default().with_topics(vec![
                describe_quorum_request::TopicData::default()
                    .with_topic_name(TopicName(s("__cluster_metadata")))
                    .with_partitions(vec![describe_quorum_request::PartitionData::default()]),
            ]))
        }
        // A hosted partition, a partition the topic does not have, a missing topic and an invalid name.
        ApiKey::DescribeProducers => RequestKind::DescribeProducers(
            DescribeProducersRequest::default().with_topics(
                [
                    ("t", vec![0, 9]),
                    ("missing", vec![0]),
                    ("bad/name", vec![0]),
                ]
                .map(|(n, partitions)| {
                    describe_producers_request::TopicRequest::default()
                        .with_name(TopicName(s(n)))
                        .with_partition_indexes(partitions)
                })
                .to_vec(),
            ),
        ),
        // Transactions: the id is not known here, so the answers are the
        // coordinator's errors (NOT_COORDINATOR before `__transaction_state` exists), in every version's
        // layout.
        ApiKey::AddPartitionsToTxn => {
            let topics = vec![
                add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                    .with_name(t())
                    .with_partitions(vec![0, 9]),
            ];
            RequestKind::AddPartitionsToTxn(if version < 4 {
                AddPartitionsToTxnRequest::default()
                    .with_v3_and_below_transactional_id(TransactionalId(s("tx")))
                    .with_v3_and_below_producer_id(ProducerId(1))
                    .with_v3_and_below_topics(topics)
            } else {
                AddPartitionsToTxnRequest::default().with_transactions(vec![
                    add_partitions_to_txn_request::AddPartitionsToTxnTransaction::default()
                        .with_transactional_id(TransactionalId(s("tx")))
                        .with_producer_id(ProducerId(1))
                        .with_verify_only(version == 5)
                        .with_topics(topics),
                ])
            })
        }
        ApiKey::AddOffsetsToTxn => RequestKind::AddOffsetsToTxn(
            AddOffsetsToTxnRequest::default()
                .with_transactional_id(TransactionalId(s("tx")))
                .with_group_id(GroupId(s("g"))),
        ),
        ApiKey::EndTxn => RequestKind::EndTxn(
            EndTxnRequest::default()
                .with_transactional_id(TransactionalId(s("tx")))
                .with_committed(true),
        ),
        ApiKey::DescribeTransactions => RequestKind::DescribeTransactions(
            DescribeTransactionsRequest::default()
                .with_transactional_ids(vec![TransactionalId(s("tx")), TransactionalId(s(""))]),
        ),
        ApiKey::ListTransactions => RequestKind::ListTransactions(
            ListTransactionsRequest::default()
                .with_state_filters(vec![s("Ongoing"), s("Nope")])
                .with_duration_filter(if version >= 1 { 1000 } else { -1 })
                .with_transactional_id_pattern((version >= 2).then(|| s("tx-.*"))),
        ),
        ApiKey::WriteTxnMarkers => {
            RequestKind::WriteTxnMarkers(WriteTxnMarkersRequest::default().with_markers(vec![
                write_txn_markers_request::WritableTxnMarker::default()
                    .with_producer_id(ProducerId(1))
                    .with_transaction_result(true)
                    .with_topics(vec![
                        write_txn_markers_request::WritableTxnMarkerTopic::default()
                            .with_name(TopicName(s("no-such-topic")))
                            .with_partition_indexes(vec![0]),
                    ]),
            ]))
        }
        ApiKey::TxnOffsetCommit => RequestKind::TxnOffsetCommit(
            TxnOffsetCommitRequest::default()
                .with_transactional_id(TransactionalId(s("tx")))
                .with_group_id(GroupId(s("g")))
                .with_topics(vec![
                    txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                        .with_name(TopicName(s("no-such-topic")))
                        .with_partitions(vec![
                            txn_offset_commit_request::TxnOffsetCommitRequestPartition::default(),
                        ]),
                ]),
        ),
        other => panic!("test has no request for {other:?}"),
    }
}

#[tokio::test]
async fn every_served_api_version_is_dispatched_and_encodes() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::BrokerConfig::default();
    config
        .set("log.dirs", dir.path().to_str().unwrap())
        .unwrap();
    config.set("group.initial.rebalance.delay.ms", "0").unwrap();
    config.set("offsets.topic.num.partitions", "3").unwrap();
    config
        .set("transaction.state.log.num.partitions", "2")
        .unwrap();
    let broker = Broker::start(config).await.unwrap();
    let topic = strom_metadata::NewTopic {
        name: "t".into(),
        num_partitions: 2,
        replication_factor: 1,
        assignments: Default::default(),
        configs: Default::default(),
    };
    let topic_id = broker.create_topic(&topic).await.unwrap();
    let mut encoded = 0;
    for (key, versions) in SUPPORTED {
        for version in versions.clone() {
            let header = RequestHeader::default()
                .with_request_api_key(*key as i16)
                .with_request_api_version(version)
                .with_correlation_id(1);
            let req = Request {
                header,
                api_key: *key,
                body: request(*key, version, topic_id),
            };
            let response = handle(&broker, req, None)
                .await
                .unwrap_or_else(|e| panic!("{key:?} v{version}: {e}"));
            let (response, _files) =
                response.unwrap_or_else(|| panic!("{key:?} v{version}: no response"));
            let mut out = BytesMut::new();
            strom_protocol::encode_response(&mut out, *key, version, 1, &response)
                .unwrap_or_else(|e| panic!("{key:?} v{version} does not encode: {e}"));
            encoded += 1;
        }
    }
    assert!(encoded > 60, "only {encoded} api versions exercised");
    broker.shutdown().await;
}
