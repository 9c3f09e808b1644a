//! Log compaction (Kafka's log cleaner, simplified): the pieces [`crate::PartitionLog::compact`]
//! puts together — the key → latest-offset map, the rewriting of one segment's batches keeping
//! only each key's latest record, the crash-safe swap of a cleaned segment file, and the
//! `cleaner-offset-checkpoint`.
//!
//! Owns the `.cleaned` / `.swap` file protocol: a cleaned segment is written to
//! `<base>.log.cleaned` and fsynced, renamed to `<base>.log.swap` (the commit point), its old
//! indexes are removed and the swap file is renamed over `<base>.log`. At open, `.cleaned` files
//! are deleted (the cleaning never committed) and `.swap` files are completed.
//!
//! Transactions (Kafka's `CleanedTransactionMetadata` and cleaner filter): aborted transactions'
//! batches are removed; a transaction marker stays while any batch of its transaction was in this
//! pass's input, and so does the marker that is the last batch of a producer still active at that
//! epoch (it carries the producer's last epoch; Kafka keeps it as an empty batch, Strom whole).
//! Any other marker is stamped with a KIP-534 delete horizon (`now + delete.retention.ms`, the
//! batch's base timestamp with attribute bit 6) and dropped by the first pass after the horizon;
//! a dropped ABORT marker takes its aborted-transaction index entry along (`log/compact.rs`).
//!
//! Deliberately not here: choosing which segments to clean and replacing them in the log (that is
//! `log/compact.rs`), producer state (compaction leaves it and its snapshots alone), keeping the
//! last data batch of an active producer as an empty batch (Kafka's `RETAIN_EMPTY`; a batch with
//! nothing left is dropped here), delete horizons on tombstones (they use the batch's max
//! timestamp), merging small cleaned segments into groups, and decoding batches
//! (`batch::decode_batch`, shared with the key check of appends).

use std::collections::{HashMap, HashSet};
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use kafka_protocol::records::{
    Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType as KTs,
};

use crate::batch::{self, BatchHeader};
use crate::checkpoint;
use crate::config::TimestampType;
use crate::segment::{segment_file, INDEX_EXT, LOG_EXT, TIME_INDEX_EXT};
use crate::txn_index::AbortedTxn;

/// Everything below this offset has been cleaned at least once.
pub(crate) const CLEANER_CHECKPOINT_FILE: &str = "cleaner-offset-checkpoint";
/// Suffix of a cleaned segment still being written.
pub(crate) const CLEANED_SUFFIX: &str = ".cleaned";
/// Suffix of a cleaned segment that is complete and must replace the original.
pub(crate) const SWAP_SUFFIX: &str = ".swap";

/// What one [`crate::PartitionLog::compact`] call did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompactionStats {
    /// Sealed segments rewritten.
    pub segments_cleaned: usize,
    /// Records read from the cleaned segments.
    pub records_read: u64,
    /// Records kept in them.
    pub records_kept: u64,
    /// Log-file bytes of the cleaned segments before and after.
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// True when the cleaner ran but found too little dirty data (`min.cleanable.dirty.ratio`) or
    /// nothing old enough (`min.compaction.lag.ms`).
    pub skipped: bool,
}

/// Key → offset of its latest record.
pub(crate) type OffsetMap = HashMap<Bytes, i64>;

fn invalid(msg: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

/// Which transactional batches compaction must not count (Kafka's cleaner with transactions): those of
/// aborted transactions, which are removed, and those at or past the first unstable offset, whose
/// transaction may still abort (so they may not shadow an older committed value of their key).
pub(crate) struct TxnFilter<'a> {
    pub(crate) aborted: &'a [AbortedTxn],
    pub(crate) first_unstable: i64,
}

impl TxnFilter<'_> {
    fn skip(&self, h: &BatchHeader) -> bool {
        h.is_transactional()
            && !h.is_control()
            && (h.base_offset >= self.first_unstable
                || self.aborted.iter().any(|t| {
                    t.producer_id == h.producer_id
                        && t.first_offset <= h.base_offset
                        && h.base_offset <= t.last_offset
                }))
    }
}

/// What the cleaner tracks about transaction markers over one pass, segment after segment (Kafka's
/// `CleanedTransactionMetadata`; see the module docs).
pub(crate) struct MarkerCleaning {
    /// Producers with a batch of their current transaction seen in this pass.
    with_data: HashSet<i64>,
    /// Base offsets of the markers to keep whatever happens: the last batch in the log of a
    /// producer still active at the marker's epoch.
    protected: HashSet<i64>,
    now_ms: i64,
    delete_retention_ms: i64,
    /// The latest horizon stamped on a marker, or still ahead on a kept one, in this pass.
    latest_horizon: Option<i64>,
}

impl MarkerCleaning {
    /// The latest delete horizon a kept marker carries after this pass (Kafka's
    /// `latestDeleteHorizon`).
    pub(crate) fn latest_horizon(&self) -> Option<i64> {
        self.latest_horizon
    }

    fn note_horizon(&mut self, horizon: i64) {
        self.latest_horizon = Some(self.latest_horizon.map_or(horizon, |h| h.max(horizon)));
    }

    /// `last_batches`: per producer the (base offset, is control, epoch) of its last batch in the
    /// whole log; `active_epoch`: the epoch of a producer the partition still knows.
    pub(crate) fn new(
        last_batches: &LastBatches,
        active_epoch: impl Fn(i64) -> Option<i16>,
        now_ms: i64,
        delete_retention_ms: i64,
    ) -> Self {
        let protected = last_batches
            .iter()
            .filter(|(pid, (_, control, epoch))| *control && active_epoch(**pid) == Some(*epoch))
            .map(|(_, (offset, _, _))| *offset)
            .collect();
        MarkerCleaning {
            with_data: HashSet::new(),
            protected,
            now_ms,
            delete_retention_ms: delete_retention_ms.max(0),
            latest_horizon: None,
        }
    }

    fn on_data(&mut self, h: &BatchHeader) {
        if h.is_transactional() {
            self.with_data.insert(h.producer_id);
        }
    }

    /// What becomes of control batch `h` (`bytes`): kept as is, rewritten with a delete
    /// horizon, or dropped (None).
    fn on_marker<'b>(
        &mut self,
        h: &BatchHeader,
        bytes: &'b [u8],
    ) -> Option<std::borrow::Cow<'b, [u8]>> {
        use std::borrow::Cow;
        let had_data = self.with_data.remove(&h.producer_id);
        if h.records_count > 0 && batch::parse_control_marker(h, bytes).is_none() {
            // Another control type: Kafka's cleaner keeps it.
            return Some(Cow::Borrowed(bytes));
        }
        if had_data || self.protected.contains(&h.base_offset) {
            return Some(Cow::Borrowed(bytes));
        }
        match h.delete_horizon_ms() {
            Some(horizon) if horizon <= self.now_ms => None,
            Some(horizon) => {
                self.note_horizon(horizon);
                Some(Cow::Borrowed(bytes))
            }
            None => {
                let horizon = self.now_ms.saturating_add(self.delete_retention_ms);
                Some(match batch::with_delete_horizon(h, bytes, horizon) {
                    Some(b) => {
                        self.note_horizon(horizon);
                        Cow::Owned(b)
                    }
                    None => Cow::Borrowed(bytes),
                })
            }
        }
    }
}

/// Per producer id: (base offset, is control, epoch) of its last batch.
pub(crate) type LastBatches = HashMap<i64, (i64, bool, i16)>;

/// Adds the keyed records of `segment_bytes` (whole batches) to `map`; later offsets win. Batches
/// `txns` skips do not count. Notes each producer's last batch in `last`.
pub(crate) fn add_to_offset_map(
    map: &mut OffsetMap,
    last: &mut LastBatches,
    segment_bytes: &[u8],
    txns: &TxnFilter<'_>,
) -> io::Result<()> {
    for item in batch::iter_batches(segment_bytes) {
        let (h, bytes) = item.map_err(invalid)?;
        if h.producer_id >= 0 {
            last.insert(
                h.producer_id,
                (h.base_offset, h.is_control(), h.producer_epoch),
            );
        }
        if h.is_control() || txns.skip(&h) {
            continue;
        }
        for record in batch::decode_batch(bytes)? {
            if let Some(key) = record.key {
                map.insert(key, record.offset);
            }
        }
    }
    Ok(())
}

/// The result of cleaning one segment's bytes.
pub(crate) struct Cleaned {
    pub(crate) bytes: Vec<u8>,
    pub(crate) records_read: u64,
    pub(crate) records_kept: u64,
    /// Offsets of the ABORT markers dropped: their aborted-transaction index entries must go
    /// too (Kafka's cleaner rewrites the index with the aborted transactions it keeps), or a
    /// read_committed consumer told about one would skip the producer's later batches while
    /// waiting for a marker that is gone.
    pub(crate) dropped_aborts: Vec<i64>,
}

/// Rewrites the batches of one segment keeping, per record, only the latest version of its key
/// (by `map`). Tombstones survive while their batch's max timestamp is newer than
/// `tombstone_horizon_ms`; keyless records are dropped. Unchanged batches are copied
/// byte-for-byte; changed ones are re-encoded with the same codec, producer id / epoch, base
/// sequence and timestamps, each record keeping its original offset, and a new CRC. Batches with
/// nothing left are dropped, and so are aborted transactions' batches. Control batches
/// (transaction markers) follow `markers` (see the module docs); call it with the pass's segments
/// in log order.
pub(crate) fn clean_segment(
    segment_bytes: &[u8],
    map: &OffsetMap,
    tombstone_horizon_ms: i64,
    txns: &TxnFilter<'_>,
    markers: &mut MarkerCleaning,
) -> io::Result<Cleaned> {
    let mut out = Vec::with_capacity(segment_bytes.len());
    let mut records_read = 0u64;
    let mut records_kept = 0u64;
    let mut dropped_aborts = Vec::new();
    for item in batch::iter_batches(segment_bytes) {
        let (h, bytes) = item.map_err(invalid)?;
        if h.is_control() {
            match markers.on_marker(&h, bytes) {
                Some(kept) => out.extend_from_slice(&kept),
                None => {
                    if batch::parse_control_marker(&h, bytes).is_some_and(|m| !m.commit) {
                        dropped_aborts.push(h.base_offset);
                    }
                }
            }
            continue;
        }
        markers.on_data(&h);
        let records = batch::decode_batch(bytes)?;
        if txns.skip(&h) {
            // An aborted transaction's batch goes whole (cleaned segments lie below the first unstable
            // offset, so nothing skipped here is still open).
            records_read += records.len() as u64;
            continue;
        }
        let total = records.len();
        records_read += total as u64;
        let keep_tombstones = h.max_timestamp > tombstone_horizon_ms;
        let kept: Vec<Record> = records
            .into_iter()
            .filter(|r| {
                let latest = r
                    .key
                    .as_ref()
                    .is_some_and(|k| map.get(k).is_none_or(|&o| o <= r.offset));
                latest && (r.value.is_some() || keep_tombstones)
            })
            .collect();
        records_kept += kept.len() as u64;
        if kept.len() == total {
            out.extend_from_slice(bytes);
        } else if !kept.is_empty() {
            out.extend_from_slice(&reencode(&h, &kept)?);
        }
    }
    Ok(Cleaned {
        bytes: out,
        records_read,
        records_kept,
        dropped_aborts,
    })
}

/// One new v2 batch of `records` (a subset of the batch `h`), same codec, same attributes.
fn reencode(h: &BatchHeader, records: &[Record]) -> io::Result<Vec<u8>> {
    let compression = match h.compression() {
        0 => kafka_protocol::records::Compression::None,
        1 => kafka_protocol::records::Compression::Gzip,
        2 => kafka_protocol::records::Compression::Snappy,
        3 => kafka_protocol::records::Compression::Lz4,
        4 => kafka_protocol::records::Compression::Zstd,
        c => return Err(invalid(format!("unknown compression codec {c}"))),
    };
    let log_append_time = h.timestamp_type() == TimestampType::LogAppendTime;
    // The encoder derives base sequence from the first record's sequence and offset, and splits
    // batches where `offset - sequence` changes; the decoder already gave every record
    // `base_sequence + offset_delta`, so the subset stays one batch with the original numbering.
    let records: Vec<Record> = records
        .iter()
        .cloned()
        .map(|mut r| {
            r.timestamp_type = KTs::Creation;
            r.sequence = if h.base_sequence < 0 {
                (r.offset - h.base_offset) as i32 - 1
            } else {
                h.base_sequence
                    .wrapping_add((r.offset - h.base_offset) as i32)
            };
            r
        })
        .collect();
    let mut buf: Vec<u8> = Vec::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .map_err(invalid)?;
    let one = {
        let mut batches = batch::iter_batches(&buf);
        matches!(
            (batches.next(), batches.next()),
            (Some(Ok((_, b))), None) if b.len() == buf.len()
        )
    };
    if !one {
        return Err(invalid("re-encoded records did not form exactly one batch"));
    }
    if h.base_sequence < 0 {
        // Keep "no sequence" as the producer sent it.
        buf[53..57].copy_from_slice(&(-1i32).to_be_bytes());
        batch::recompute_crc(&mut buf);
    }
    if log_append_time {
        batch::set_log_append_time(&mut buf, h.max_timestamp);
    }
    Ok(buf)
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Replaces the log file of segment `base` in `dir` with `bytes`, crash-safely (see the module
/// docs). The segment's index files are removed; the caller reopens the segment to rebuild them.
/// The new file gets `mtime_ms` as its modification time (Kafka does the same), so retention of a
/// segment the cleaner emptied, which has no record timestamp left, still sees the old age.
pub(crate) fn swap_in(dir: &Path, base: i64, bytes: &[u8], mtime_ms: i64) -> io::Result<()> {
    let log = segment_file(dir, base, LOG_EXT);
    let cleaned = with_suffix(&log, CLEANED_SUFFIX);
    let swap = with_suffix(&log, SWAP_SUFFIX);
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&cleaned)?;
        f.write_all(bytes)?;
        let mtime = UNIX_EPOCH + Duration::from_millis(u64::try_from(mtime_ms).unwrap_or(0));
        f.set_modified(mtime)?;
        f.sync_all()?;
    }
    fs::rename(&cleaned, &swap)?;
    checkpoint::sync_dir(dir)?;
    complete_swap(dir, base)
}

/// Second half of a swap: drops the old indexes and renames `<base>.log.swap` over the log file.
fn complete_swap(dir: &Path, base: i64) -> io::Result<()> {
    for ext in [INDEX_EXT, TIME_INDEX_EXT] {
        checkpoint::remove_if_exists(&segment_file(dir, base, ext))?;
    }
    let log = segment_file(dir, base, LOG_EXT);
    fs::rename(with_suffix(&log, SWAP_SUFFIX), &log)?;
    checkpoint::sync_dir(dir)
}

/// At open: deletes `.cleaned` leftovers and completes `.swap` files. Call before listing the
/// segments.
pub(crate) fn recover_leftovers(dir: &Path) -> io::Result<()> {
    let mut swaps = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(CLEANED_SUFFIX) {
            tracing::info!(file = %entry.path().display(), "removing unfinished cleaned segment");
            checkpoint::remove_if_exists(&entry.path())?;
        } else if let Some(stem) = name.strip_suffix(SWAP_SUFFIX) {
            let base = stem
                .strip_suffix(&format!(".{LOG_EXT}"))
                .and_then(|b| b.parse::<i64>().ok());
            match base {
                Some(base) => swaps.push(base),
                None => checkpoint::remove_if_exists(&entry.path())?,
            }
        }
    }
    for base in swaps {
        tracing::info!(dir = %dir.display(), base_offset = base, "completing interrupted segment swap");
        complete_swap(dir, base)?;
    }
    Ok(())
}

pub(crate) fn read_checkpoint(dir: &Path) -> i64 {
    match checkpoint::read_offset(&dir.join(CLEANER_CHECKPOINT_FILE)) {
        Ok(Some(o)) => o,
        Ok(None) => i64::MIN,
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "unreadable cleaner checkpoint; treating the log as dirty");
            i64::MIN
        }
    }
}

pub(crate) fn write_checkpoint(dir: &Path, offset: i64) -> io::Result<()> {
    checkpoint::write_offset(&dir.join(CLEANER_CHECKPOINT_FILE), offset)
}
