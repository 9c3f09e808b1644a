//! Crashes and damaged logs. kill -9 while a producer streams must not lose any write the broker acknowledged
//! (acks=1: the leader has it, and a process crash does not lose the page cache). A segment whose tail is garbage,
//! a torn batch, or a batch with a bad CRC is truncated to its last valid batch on restart, and appends continue
//! from there.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::message::Message;
use rdkafka::producer::{Producer, PurgeConfig};
use strom_test_support::kafka::{self, Record, TestProducer};
use strom_test_support::{pause, wait_for, TestBroker};

use crate::util::{create_topic, start_broker};

/// A producer thread streams acks=1 writes; the broker is SIGKILLed mid-stream and restarted. Every acknowledged
/// record is then read back at its acknowledged offset, and offsets are contiguous from 0 in each partition.
#[test]
fn acknowledged_writes_survive_kill9() {
    let mut broker = start_broker(&[]);
    let topic = "crash";
    create_topic(&broker, topic, 3, &[]);
    let producer = Arc::new(
        TestProducer::with(
            &broker.bootstrap(),
            &[
                ("acks", "1"),
                ("enable.idempotence", "false"),
                ("linger.ms", "2"),
                ("message.timeout.ms", "15000"),
            ],
        )
        .unwrap(),
    );
    let history = producer.history();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let producer = producer.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let key = format!("k{}", i % 100);
                let value = format!("crash-{i:09}");
                producer
                    .send(
                        &Record::new(topic)
                            .key(key.as_bytes())
                            .value(value.as_bytes()),
                    )
                    .unwrap();
                i += 1;
                if i.is_multiple_of(50) {
                    // Keep the stream steady rather than flooding librdkafka's queue.
                    pause(Duration::from_millis(1));
                }
            }
            i
        })
    };

    wait_for(
        "5000 acknowledged writes before the crash",
        Duration::from_secs(120),
        || Ok((history.len() >= 5000).then_some(())),
    )
    .unwrap();
    broker.kill9().unwrap();
    stop.store(true, Ordering::SeqCst);
    let sent = writer.join().expect("writer thread");
    // Whatever was in flight when the broker died is unacknowledged: drop it rather than let it reach the
    // restarted broker (those writes would be legitimate, but this test is about the crash).
    producer
        .inner()
        .purge(PurgeConfig::default().queue().inflight());
    let producer = Arc::into_inner(producer).expect("writer thread released the producer");
    drop(producer);
    let acked = history.len();
    assert!(acked >= 5000);

    broker.restart().unwrap();
    let read = kafka::consume_to_end(&broker.bootstrap(), topic, Duration::from_secs(120)).unwrap();
    history.check(&read).unwrap();
    eprintln!(
        "crash test: sent {sent}, acknowledged {acked}, read back {} after restart",
        read.len()
    );
    broker.assert_no_panic();
}

/// SIGTERM: the broker exits with status 0, and after a restart every record is there and appends continue.
#[test]
fn clean_shutdown_keeps_everything() {
    let mut broker = start_broker(&[]);
    let topic = "graceful";
    create_topic(&broker, topic, 2, &[]);
    let producer = TestProducer::with(
        &broker.bootstrap(),
        &[("acks", "all"), ("enable.idempotence", "true")],
    )
    .unwrap();
    for i in 0..1000 {
        let (key, value) = (format!("k{}", i % 10), format!("graceful-{i:04}"));
        producer
            .send(
                &Record::new(topic)
                    .key(key.as_bytes())
                    .value(value.as_bytes()),
            )
            .unwrap();
    }
    producer.flush(Duration::from_secs(60)).unwrap();
    assert_eq!(producer.succeeded(), 1000, "{:?}", producer.failures());
    drop(producer);
    broker.stop().unwrap();

    broker.restart().unwrap();
    let read = kafka::consume_to_end(&broker.bootstrap(), topic, Duration::from_secs(60)).unwrap();
    assert_eq!(read.len(), 1000);
    let producer = TestProducer::with(&broker.bootstrap(), &[("acks", "all")]).unwrap();
    let history = producer.history();
    let outcome = producer
        .send_sync(&Record::new(topic).key(b"k0").value(b"after restart"))
        .unwrap();
    let (partition, offset) = outcome.unwrap();
    let records_before = read.iter().filter(|m| m.partition() == partition).count() as i64;
    assert_eq!(
        offset, records_before,
        "the first append after a clean restart continues the log"
    );
    drop(producer);
    let read = kafka::consume_to_end(&broker.bootstrap(), topic, Duration::from_secs(60)).unwrap();
    assert_eq!(read.len(), 1001);
    history.check(&read).unwrap();
    broker.assert_no_panic();
}

#[derive(Clone, Copy, Debug)]
enum Corruption {
    /// Bytes that are not a batch at all appended after the last batch.
    GarbageTail,
    /// The first part of a batch (a write torn by the crash) appended after the last batch.
    TornBatch,
    /// One byte inside the last batch's records flipped, so its CRC no longer matches.
    FlippedByteInLastBatch,
}

#[test]
fn garbage_after_last_batch_is_truncated_on_restart() {
    corrupt_tail_then_restart(Corruption::GarbageTail);
}

#[test]
fn torn_batch_at_tail_is_truncated_on_restart() {
    corrupt_tail_then_restart(Corruption::TornBatch);
}

#[test]
fn batch_with_bad_crc_at_tail_is_truncated_on_restart() {
    corrupt_tail_then_restart(Corruption::FlippedByteInLastBatch);
}

/// Writes 20 records in a few batches, kills the broker, damages the tail of the newest segment, restarts, and
/// checks: the broker comes up, every record before the damage is readable, the log end offset is the end of the
/// last intact batch, and the next produce gets exactly that offset.
fn corrupt_tail_then_restart(corruption: Corruption) {
    let mut broker = start_broker(&[]);
    let topic = "torn";
    create_topic(&broker, topic, 1, &[]);
    let producer =
        TestProducer::with(&broker.bootstrap(), &[("acks", "all"), ("linger.ms", "0")]).unwrap();
    let values: Vec<String> = (0..20).map(|i| format!("record-{i:02}")).collect();
    for chunk in values.chunks(4) {
        for v in chunk {
            producer
                .send(&Record::new(topic).partition(0).value(v.as_bytes()))
                .unwrap();
        }
        producer.flush(Duration::from_secs(60)).unwrap();
    }
    assert_eq!(producer.succeeded(), 20, "{:?}", producer.failures());
    drop(producer);
    broker.kill9().unwrap();

    let segment = newest_segment(&broker, topic, 0);
    let bytes = std::fs::read(&segment).unwrap();
    let batches = walk_batches(&bytes, &segment);
    let last = *batches.last().expect("the segment holds batches");
    assert_eq!(
        last.next_offset(),
        20,
        "the newest segment should end with offset 19: {batches:?}"
    );

    let expected_log_end = match corruption {
        Corruption::GarbageTail => {
            let garbage: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(37) ^ 0xa5).collect();
            append(&segment, &garbage);
            20
        }
        Corruption::TornBatch => {
            // The next batch would start at offset 20; keep its header (with a plausible length) and lose the rest.
            let mut torn = bytes[last.start..last.end].to_vec();
            torn[..8].copy_from_slice(&20_i64.to_be_bytes());
            torn.truncate(torn.len() - 7);
            append(&segment, &torn);
            20
        }
        Corruption::FlippedByteInLastBatch => {
            let mut damaged = bytes.clone();
            damaged[last.end - 1] ^= 0xff;
            std::fs::write(&segment, &damaged).unwrap();
            last.base_offset
        }
    };

    broker
        .restart()
        .unwrap_or_else(|e| panic!("{corruption:?}: broker did not restart: {e:#}"));
    let (low, high) = kafka::watermarks(&broker.bootstrap(), topic, 0).unwrap();
    assert_eq!(
        (low, high),
        (0, expected_log_end),
        "{corruption:?}: watermarks after recovery"
    );

    let read = kafka::consume_all(
        &broker.bootstrap(),
        topic,
        expected_log_end as usize,
        Duration::from_secs(60),
    )
    .unwrap_or_else(|e| panic!("{corruption:?}: {e:#}"));
    for (i, m) in read.iter().enumerate() {
        assert_eq!(m.offset(), i as i64, "{corruption:?}");
        assert_eq!(
            m.payload(),
            Some(values[i].as_bytes()),
            "{corruption:?}: record {i}"
        );
    }

    let producer =
        TestProducer::with(&broker.bootstrap(), &[("acks", "all"), ("linger.ms", "0")]).unwrap();
    let outcome = producer
        .send_sync(&Record::new(topic).partition(0).value(b"after recovery"))
        .unwrap();
    assert_eq!(
        outcome.unwrap(),
        (0, expected_log_end),
        "{corruption:?}: first append after recovery"
    );
    let read = kafka::consume_all(
        &broker.bootstrap(),
        topic,
        expected_log_end as usize + 1,
        Duration::from_secs(60),
    )
    .unwrap();
    let last_read = read.last().unwrap();
    assert_eq!(
        (last_read.offset(), last_read.payload()),
        (expected_log_end, Some(&b"after recovery"[..]))
    );
    broker.assert_no_panic();
}

/// Byte range and offsets of one record batch in a segment file (Kafka's v2 on-disk format).
#[derive(Clone, Copy, Debug)]
struct BatchPos {
    start: usize,
    end: usize,
    base_offset: i64,
    last_offset_delta: i32,
}

impl BatchPos {
    fn next_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta) + 1
    }
}

/// Walks the segment as back-to-back batches: baseOffset i64, batchLength i32 (bytes after this field), then
/// partitionLeaderEpoch i32, magic i8, crc u32, attributes i16, lastOffsetDelta i32 at byte 23.
fn walk_batches(bytes: &[u8], path: &Path) -> Vec<BatchPos> {
    let mut batches = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        assert!(
            pos + 27 <= bytes.len(),
            "{}: partial batch header at byte {pos}",
            path.display()
        );
        let base_offset = i64::from_be_bytes(bytes[pos..pos + 8].try_into().unwrap());
        let length = i32::from_be_bytes(bytes[pos + 8..pos + 12].try_into().unwrap());
        assert!(
            length >= 49,
            "{}: batch at byte {pos} has length {length}",
            path.display()
        );
        assert_eq!(
            bytes[pos + 16],
            2,
            "{}: batch at byte {pos} is not magic v2",
            path.display()
        );
        let end = pos + 12 + length as usize;
        assert!(
            end <= bytes.len(),
            "{}: batch at byte {pos} runs past the end of the file",
            path.display()
        );
        let last_offset_delta = i32::from_be_bytes(bytes[pos + 23..pos + 27].try_into().unwrap());
        batches.push(BatchPos {
            start: pos,
            end,
            base_offset,
            last_offset_delta,
        });
        pos = end;
    }
    batches
}

/// The `.log` file with the highest base offset in `<data>/<topic>-<partition>/`.
fn newest_segment(broker: &TestBroker, topic: &str, partition: i32) -> PathBuf {
    let dir = broker.partition_dir(topic, partition);
    let mut logs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    let newest = logs
        .pop()
        .unwrap_or_else(|| panic!("no .log segment in {}", dir.display()));
    let stem = newest.file_stem().unwrap().to_string_lossy().into_owned();
    assert!(
        stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()),
        "segment name {stem:?} is not 20 digits"
    );
    newest
}

fn append(path: &Path, bytes: &[u8]) {
    let mut f = OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(bytes).unwrap();
    f.sync_all().unwrap();
}
