//! Log compaction: a `cleanup.policy=compact` topic with tiny segments, written as 50 rounds of the keys k0..k9
//! with increasing values. The broker's cleaner (run in the retention loop, every 200 ms here) rewrites the sealed
//! segments until only the latest value of each key is left there; a consumer reading from the beginning then sees
//! fewer records than were produced, offsets strictly increasing (with gaps), and the last value of every key.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::message::Message;
use strom_test_support::kafka::{self, Record, TestProducer};
use strom_test_support::wait_for;

use crate::util::{create_topic, start_broker};

const KEYS: usize = 10;
const ROUNDS: usize = 50;

#[test]
fn compacted_topic_keeps_the_latest_value_of_each_key() {
    let broker = start_broker(&["--log-retention-check-interval-ms", "200"]);
    let topic = "compacted";
    create_topic(
        &broker,
        topic,
        1,
        &[
            ("cleanup.policy", "compact"),
            ("segment.bytes", "1024"),
            ("min.cleanable.dirty.ratio", "0.01"),
        ],
    );
    let producer =
        TestProducer::with(&broker.bootstrap(), &[("acks", "all"), ("linger.ms", "0")]).unwrap();
    for round in 0..ROUNDS {
        for k in 0..KEYS {
            let key = format!("k{k}");
            let value = format!("k{k}-v{round:02} padding padding");
            producer
                .send(
                    &Record::new(topic)
                        .partition(0)
                        .key(key.as_bytes())
                        .value(value.as_bytes()),
                )
                .unwrap();
        }
        producer.flush(Duration::from_secs(30)).unwrap();
    }
    assert_eq!(producer.failed(), 0, "{:?}", producer.failures());
    let total = KEYS * ROUNDS;
    let (_, high) = kafka::watermarks(&broker.bootstrap(), topic, 0).unwrap();
    assert_eq!(high, total as i64);

    let read = wait_for(
        "the cleaner to shrink the log",
        Duration::from_secs(60),
        || {
            let read = kafka::consume_to_end(&broker.bootstrap(), topic, Duration::from_secs(30))?;
            Ok((read.len() < total).then_some(read))
        },
    )
    .unwrap();

    let mut latest: BTreeMap<String, String> = BTreeMap::new();
    let mut last_offset = -1;
    for m in &read {
        assert!(
            m.offset() > last_offset,
            "offsets must strictly increase: {} after {last_offset}",
            m.offset()
        );
        last_offset = m.offset();
        let key = String::from_utf8(m.key().unwrap().to_vec()).unwrap();
        let value = String::from_utf8(m.payload().unwrap().to_vec()).unwrap();
        assert!(value.starts_with(&format!("{key}-v")), "{key} => {value}");
        latest.insert(key, value);
    }
    assert_eq!(
        last_offset,
        high - 1,
        "the newest record is never compacted away"
    );
    assert_eq!(latest.len(), KEYS, "every key keeps a record: {latest:?}");
    for k in 0..KEYS {
        assert_eq!(
            latest.get(&format!("k{k}")).map(String::as_str),
            Some(format!("k{k}-v{:02} padding padding", ROUNDS - 1).as_str()),
            "latest value of k{k}"
        );
    }
    let (low, high_after) = kafka::watermarks(&broker.bootstrap(), topic, 0).unwrap();
    assert_eq!(
        (low, high_after),
        (0, high),
        "compaction moves neither log start nor log end"
    );
    broker.assert_no_panic();
}
