//! A classic group member's session ends at its deadline, as Kafka's timers end it, also for the requests that
//! look at the group in between two ticks of the coordinator's timer task (every 100 ms). Split from
//! `groups.rs`, whose member helpers it uses.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use strom_test_support::kafka;
use strom_test_support::wait_for;

use crate::groups::{member_config, produce, GROUP_ARGS};
use crate::util::{create_topic, start_broker};

/// A session ends at its deadline, as Kafka's timers end it: a static member closes (no LeaveGroup), and a
/// DeleteGroups sent just past its session's deadline deletes the group, while one sent before it answers
/// NON_EMPTY_GROUP. librdkafka's 0081 DescribeConsumerGroups sub-test deletes its groups exactly one session
/// after closing their static members.
#[test]
fn delete_groups_just_after_a_static_members_session_ran_out_deletes_the_group() {
    let mut args = GROUP_ARGS.to_vec();
    args.extend(["--group-min-session-timeout-ms", "1000"]);
    let broker = start_broker(&args);
    let topic = "static-expiry";
    create_topic(&broker, topic, 1, &[]);
    let bootstrap = broker.bootstrap();
    produce(&bootstrap, topic, 1, 1);
    let session = Duration::from_millis(3000);
    let member: BaseConsumer = member_config(
        &bootstrap,
        "static-expiry",
        &[
            ("group.instance.id", "instance-a"),
            ("session.timeout.ms", "3000"),
            ("heartbeat.interval.ms", "1000"),
        ],
    )
    .create()
    .expect("static member");
    member.subscribe(&[topic]).unwrap();
    let record = wait_for(
        "the member reads the record",
        Duration::from_secs(30),
        || {
            Ok(match member.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => Some(m.detach()),
                _ => None,
            })
        },
    )
    .unwrap();
    // The commit restarts the member's session (as in Kafka) right before the close, so its deadline is
    // within a few milliseconds of `closed + session`.
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset(
            topic,
            record.partition(),
            Offset::Offset(record.offset() + 1),
        )
        .unwrap();
    member.commit(&offsets, CommitMode::Sync).unwrap();
    drop(member);
    let closed = Instant::now();

    let admin = kafka::admin(&bootstrap).unwrap();
    let delete = || {
        let opts = rdkafka::admin::AdminOptions::new();
        let results = kafka::block_on(admin.delete_groups(&["static-expiry"], &opts)).unwrap();
        assert_eq!(results.len(), 1);
        results.into_iter().next().unwrap()
    };
    assert!(
        matches!(&delete(), Err((_, RDKafkaErrorCode::NonEmptyGroup))),
        "the member's session is still running"
    );
    // 20 ms past the deadline: the timer task ticks every 100 ms, so without expiring sessions at request time
    // the group would usually still hold the member.
    let due = closed + session + Duration::from_millis(20);
    strom_test_support::pause(due.saturating_duration_since(Instant::now()));
    assert_eq!(delete(), Ok("static-expiry".to_string()));
    broker.assert_no_panic();
}
