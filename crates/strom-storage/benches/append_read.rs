//! Criterion micro-benchmarks of the partition log's hot paths: batch validation (header walk + CRC32C, which is
//! also this machine's CRC32C speed), `PartitionLog::append` of 1 MB batches of 100-byte records, the offset
//! index lookup behind a fetch, and the read path returning 1 MB of stored batches.
//!
//! Measures strom-storage alone, on a temp dir (page cache, no fsync); whole-system numbers come from
//! `strom perf` and `bench/run.sh`. Quick smoke run for CI: `cargo bench -p strom-storage --bench append_read
//! -- --test` (each benchmark once).

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use strom_storage::{batch, LogConfig, PartitionLog};

/// Records of this value size fill the benchmark batches.
const RECORD_SIZE: usize = 100;
/// 9,000 records of 100 bytes make a batch just under 1 MiB (each record adds ~9 bytes of framing).
const RECORDS_PER_MB: usize = 9_000;
const NOW_MS: i64 = 1_700_000_000_000;

/// One uncompressed v2 batch of `count` keyless records of `RECORD_SIZE` bytes.
fn batch_of(count: usize) -> Vec<u8> {
    let value = Bytes::from(vec![b'x'; RECORD_SIZE]);
    let records: Vec<Record> = (0..count)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The encoder starts a new batch when offset - sequence changes; base sequence -1.
            sequence: i as i32 - 1,
            timestamp: NOW_MS + i as i64,
            key: None,
            value: Some(value.clone()),
            headers: Default::default(),
        })
        .collect();
    let mut buf = Vec::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .expect("encoding a batch");
    buf
}

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 256 * 1024 * 1024,
        ..LogConfig::default()
    }
}

fn open_log(dir: &std::path::Path) -> PartitionLog {
    PartitionLog::open(dir.to_path_buf(), config(), NOW_MS, true).expect("opening the log")
}

fn validate(c: &mut Criterion) {
    let mb = batch_of(RECORDS_PER_MB);
    let mut g = c.benchmark_group("validate");
    g.throughput(Throughput::Bytes(mb.len() as u64));
    g.bench_function("header_walk_and_crc32c_1mb", |b| {
        b.iter(|| {
            for item in batch::iter_batches(black_box(&mb)) {
                let (_, bytes) = item.expect("a whole batch");
                assert!(batch::verify_crc(bytes));
            }
        })
    });
    // What the produce path runs on every batch: CRC plus the framing walk over all 9,000 records.
    let header = batch::BatchHeader::parse(&mb).expect("a batch header");
    g.bench_function("full_validation_1mb", |b| {
        b.iter(|| batch::validate(&header, black_box(&mb), u32::MAX).expect("a valid batch"))
    });
    g.finish();
}

fn append(c: &mut Criterion) {
    let mb = batch_of(RECORDS_PER_MB);
    let mut g = c.benchmark_group("append");
    g.throughput(Throughput::Bytes(mb.len() as u64));
    // Validation, offset assignment, the copy and the write to the page cache; a fresh log every 128 MB keeps
    // the temp dir small, and the reopen is outside the timed region.
    g.bench_function("partition_log_append_1mb", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0;
            while done < iters {
                let dir = tempfile::tempdir().expect("a temp dir");
                let mut log = open_log(dir.path());
                let round = (iters - done).min(128);
                let start = Instant::now();
                for _ in 0..round {
                    black_box(log.append(&mb, NOW_MS).expect("append"));
                }
                total += start.elapsed();
                done += round;
            }
            total
        })
    });
    g.finish();
}

fn read(c: &mut Criterion) {
    let mut g = c.benchmark_group("read");
    // 64 MB of 1 MB batches: a fetch of 1 MB from a random batch.
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut log = open_log(dir.path());
    let mb = batch_of(RECORDS_PER_MB);
    for _ in 0..64 {
        log.append(&mb, NOW_MS).expect("append");
    }
    let end = log.log_end_offset();
    g.throughput(Throughput::Bytes(mb.len() as u64));
    let mut at: i64 = 0;
    g.bench_function("read_1mb", |b| {
        b.iter(|| {
            at = (at + 7 * RECORDS_PER_MB as i64 + 13) % end;
            let data = log.read(at, 1024 * 1024, i64::MAX, true).expect("read");
            black_box(data.records.len())
        })
    });

    // 20,000 batches of 10 records (~1.3 KB each): many index entries, so the lookup is index floor + a header
    // scan from the indexed position; the read returns just the one small batch.
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut log = open_log(dir.path());
    let small = batch_of(10);
    for _ in 0..20_000 {
        log.append(&small, NOW_MS).expect("append");
    }
    let end = log.log_end_offset();
    g.throughput(Throughput::Elements(1));
    let mut at: i64 = 0;
    g.bench_function("index_lookup_and_read_one_batch", |b| {
        b.iter(|| {
            at = (at + 7_919) % end;
            let data = log.read(at, 1, i64::MAX, true).expect("read");
            black_box(data.records.len())
        })
    });
    g.bench_function("offset_for_timestamp", |b| {
        b.iter(|| {
            black_box(
                log.offset_for_timestamp(black_box(NOW_MS + 5))
                    .expect("lookup"),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, validate, append, read);
criterion_main!(benches);
