//! Test helpers: build v2 batches with kafka-protocol's encoder, tamper with them by hand, open
//! logs with small limits, and read a whole log back as (offset, timestamp, value) records.

use std::path::Path;

use bytes::Bytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
    TimestampType as KTimestampType,
};
use strom_storage::{LogConfig, PartitionLog};

/// What to put in one batch.
#[derive(Clone, Debug)]
pub struct Spec {
    pub count: usize,
    /// Timestamp of the first record; record i gets `ts + i`.
    pub ts: i64,
    pub producer_id: i64,
    pub epoch: i16,
    pub seq: i32,
    pub compression: Compression,
    /// Values are `"{tag}-{i}"` padded to at least `value_len` bytes.
    pub tag: String,
    pub value_len: usize,
    pub transactional: bool,
}

impl Spec {
    pub fn new(count: usize, ts: i64, tag: &str) -> Spec {
        Spec {
            count,
            ts,
            producer_id: -1,
            epoch: -1,
            seq: -1,
            compression: Compression::None,
            tag: tag.to_string(),
            value_len: 0,
            transactional: false,
        }
    }

    /// A transactional batch of an idempotent producer.
    pub fn transactional(mut self, producer_id: i64, epoch: i16, seq: i32) -> Spec {
        self.transactional = true;
        self.idempotent(producer_id, epoch, seq)
    }

    pub fn idempotent(mut self, producer_id: i64, epoch: i16, seq: i32) -> Spec {
        self.producer_id = producer_id;
        self.epoch = epoch;
        self.seq = seq;
        self
    }

    pub fn compressed(mut self, c: Compression) -> Spec {
        self.compression = c;
        self
    }

    pub fn padded(mut self, value_len: usize) -> Spec {
        self.value_len = value_len;
        self
    }

    pub fn encode(&self) -> Vec<u8> {
        let records: Vec<Record> = (0..self.count)
            .map(|i| {
                let mut value = format!("{}-{i}", self.tag);
                while value.len() < self.value_len {
                    value.push('.');
                }
                Record {
                    transactional: self.transactional,
                    control: false,
                    delete_horizon: false,
                    partition_leader_epoch: 0,
                    producer_id: self.producer_id,
                    producer_epoch: self.epoch,
                    timestamp_type: KTimestampType::Creation,
                    offset: i as i64,
                    // The encoder starts a new batch when offset - sequence changes, so a
                    // non-idempotent batch (base sequence -1) needs sequences -1, 0, 1, ...
                    sequence: if self.seq < 0 {
                        i as i32 - 1
                    } else {
                        self.seq + i as i32
                    },
                    timestamp: self.ts + i as i64,
                    key: Some(Bytes::from(format!("k{i}"))),
                    value: Some(Bytes::from(value)),
                    headers: Default::default(),
                }
            })
            .collect();
        let mut buf = Vec::new();
        RecordBatchEncoder::encode(
            &mut buf,
            &records,
            &RecordEncodeOptions {
                version: 2,
                compression: self.compression,
            },
        )
        .unwrap();
        assert_eq!(
            strom_storage::batch::iter_batches(&buf).count(),
            1,
            "one batch"
        );
        buf
    }
}

/// An uncompressed batch of `count` records with timestamps `ts..ts+count`.
pub fn batch(count: usize, ts: i64, tag: &str) -> Vec<u8> {
    Spec::new(count, ts, tag).encode()
}

pub fn put_i32(b: &mut [u8], at: usize, v: i32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

/// Recomputes the CRC after a deliberate edit, so only the intended check fails.
pub fn fix_crc(b: &mut [u8]) {
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
}

/// A config with tiny segments and a dense index so tests cross boundaries.
pub fn small_config() -> LogConfig {
    LogConfig {
        segment_bytes: 1024,
        index_interval_bytes: 100,
        ..LogConfig::default()
    }
}

pub const NOW: i64 = 1_700_000_000_000;

pub fn open(dir: &Path, config: LogConfig, clean: bool) -> PartitionLog {
    PartitionLog::open(dir.to_path_buf(), config, NOW, clean).unwrap()
}

/// One decoded record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rec {
    pub offset: i64,
    pub timestamp: i64,
    pub value: String,
}

pub fn decode(bytes: &Bytes) -> Vec<Rec> {
    let mut buf = bytes.clone();
    let sets = RecordBatchDecoder::decode_all(&mut buf).unwrap();
    sets.into_iter()
        .flat_map(|s| s.records)
        .map(|r| Rec {
            offset: r.offset,
            timestamp: r.timestamp,
            value: String::from_utf8(r.value.unwrap().to_vec()).unwrap(),
        })
        .collect()
}

/// Reads the whole log with fetches of `max_bytes`, checking that each fetch starts with the
/// batch holding the requested offset.
pub fn read_all(log: &PartitionLog, max_bytes: usize) -> Vec<Rec> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let data = log.read(offset, max_bytes, i64::MAX, true).unwrap();
        let recs = decode(&data.records);
        assert!(!recs.is_empty(), "empty read at {offset}");
        assert!(
            recs[0].offset <= offset,
            "read at {offset} started at {}",
            recs[0].offset
        );
        out.extend(recs.into_iter().filter(|r| r.offset >= offset));
        offset = out.last().unwrap().offset + 1;
    }
    out
}

/// The values of a log in offset order.
pub fn values(log: &PartitionLog) -> Vec<String> {
    read_all(log, 4096).into_iter().map(|r| r.value).collect()
}

/// A one-line description of a log's bounds for data-driven assertions.
pub fn summary(log: &PartitionLog) -> String {
    format!(
        "start={} end={} segments={}",
        log.log_start_offset(),
        log.log_end_offset(),
        log.segment_count()
    )
}

/// Names of the files in a partition dir, sorted.
pub fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}
