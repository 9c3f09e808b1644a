//! Time-based retention: with tiny segments and `retention.ms=1000`, the broker's periodic check deletes segments
//! whose newest record is older than a second, the log start offset (low watermark) moves up, the files go from
//! disk, and a consumer asking for offset 0 is reset to the new log start.
//!
//! Records are stamped (CreateTime) either well in the past, so their segments expire at the first check, or ten
//! minutes ahead, so theirs never expire during the test: the log start offset then settles at a fixed point and the
//! test can compare it with what a consumer receives without racing the retention thread.

use std::time::Duration;

use rdkafka::message::Message;
use rdkafka::Offset;
use strom_test_support::kafka::{self, Record, TestProducer};
use strom_test_support::{pause, wait_for};

use crate::util::{create_topic, now_ms, start_broker};

const OLD_RECORDS: i64 = 150;
const FRESH_RECORDS: i64 = 50;

#[test]
fn expired_segments_are_deleted_and_consumers_reset_to_log_start() {
    let broker = start_broker(&[
        "--log-retention-check-interval-ms",
        "200",
        "--log-segment-delete-delay-ms",
        "0",
    ]);
    let topic = "retained";
    create_topic(
        &broker,
        topic,
        1,
        &[("internal.segment.bytes", "1024"), ("retention.ms", "1000")],
    );
    let producer =
        TestProducer::with(&broker.bootstrap(), &[("acks", "all"), ("linger.ms", "0")]).unwrap();

    let old = now_ms() - 60_000;
    let fresh = now_ms() + 600_000;
    for i in 0..OLD_RECORDS + FRESH_RECORDS {
        let ts = if i < OLD_RECORDS { old + i } else { fresh + i };
        let value = format!("retention record {i:04} padding padding padding padding");
        // One record per batch, so segments roll every ~10 records and retention has many segments to choose from.
        let outcome = producer
            .send_sync(
                &Record::new(topic)
                    .partition(0)
                    .value(value.as_bytes())
                    .timestamp(ts),
            )
            .unwrap();
        assert_eq!(outcome.unwrap(), (0, i), "record {i}");
    }
    let mut low = wait_for(
        "retention to move the log start offset",
        Duration::from_secs(60),
        || {
            let (low, _) = kafka::watermarks(&broker.bootstrap(), topic, 0)?;
            Ok((low > 0).then_some(low))
        },
    )
    .unwrap();
    // Retention may still be deleting expired segments; the log start settles at the first segment holding a record
    // stamped in the future. Settled means unchanged across five retention intervals.
    let low = wait_for(
        "the log start offset to settle",
        Duration::from_secs(60),
        || {
            pause(Duration::from_secs(1));
            let (now, _) = kafka::watermarks(&broker.bootstrap(), topic, 0)?;
            let settled = now == low;
            low = now;
            Ok(settled.then_some(now))
        },
    )
    .unwrap();
    assert!(
        low > 0 && low <= OLD_RECORDS,
        "log start offset {low} should be in (0, {OLD_RECORDS}]"
    );
    let (_, high) = kafka::watermarks(&broker.bootstrap(), topic, 0).unwrap();
    assert_eq!(
        high,
        OLD_RECORDS + FRESH_RECORDS,
        "retention must not change the log end offset"
    );
    // Retention deletes whole segments, so the log starts where the oldest remaining segment does, and nothing
    // below it stays on disk. (Kafka renames a deleted segment to `.log.deleted` at once and removes it after
    // file.delete.delay.ms, 0 here; either way no `.log` file below the log start remains.)
    let dir = broker.partition_dir(topic, 0);
    let bases = wait_for(
        "segment files below the log start offset to leave the disk",
        Duration::from_secs(30),
        || {
            let bases = segment_base_offsets(&dir);
            Ok(bases.iter().all(|&b| b >= low).then_some(bases))
        },
    )
    .unwrap();
    assert_eq!(
        bases.first(),
        Some(&low),
        "the oldest remaining segment must start at the log start offset"
    );
    assert!(
        bases.len() > 2,
        "internal.segment.bytes=1024 should have rolled several segments for the fresh records: {bases:?}"
    );

    let consumer = kafka::assigned_consumer(
        &broker.bootstrap(),
        topic,
        &[(0, Offset::Offset(0))],
        &[("auto.offset.reset", "earliest")],
    )
    .unwrap();
    let expected = (high - low) as usize;
    let read = kafka::poll_until(&consumer, Duration::from_secs(60), |got| {
        got.len() >= expected
    })
    .unwrap();
    assert_eq!(
        read[0].offset(),
        low,
        "a consumer reset to earliest must start at the log start offset"
    );
    for (i, m) in read.iter().enumerate() {
        let offset = low + i as i64;
        assert_eq!(m.offset(), offset);
        assert_eq!(
            m.payload(),
            Some(
                format!("retention record {offset:04} padding padding padding padding").as_bytes()
            )
        );
    }
    let (low_after, _) = kafka::watermarks(&broker.bootstrap(), topic, 0).unwrap();
    assert_eq!(
        low_after, low,
        "segments holding future-stamped records must not expire"
    );
    broker.assert_no_panic();
}

/// Base offsets of the `<20 digits>.log` files in a partition directory, ascending.
fn segment_base_offsets(dir: &std::path::Path) -> Vec<i64> {
    let mut bases: Vec<i64> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().ok()?;
            name.strip_suffix(".log")?.parse().ok()
        })
        .collect();
    bases.sort_unstable();
    bases
}
