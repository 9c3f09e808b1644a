//! One segment: `<20-digit base offset>.log` holding v2 batches byte-for-byte, plus its sparse
//! `.index` and `.timeindex`. [`ActiveSegment`] is the only one that can be appended to; sealing it
//! ([`ActiveSegment::seal`]) fsyncs everything and yields a read-only [`SealedSegment`].
//!
//! Owns appending, segment-local lookups (offset → batch position, timestamp → offset), keeping
//! the indexes up to date as batches arrive, truncation and deletion of a segment's files.
//! Loading a segment from disk (trusting its indexes or rebuilding them, CRC-verifying and
//! truncating a torn tail in recovery mode) is `load.rs`, which holds the rest of [`Segment`]'s
//! `impl`: that split is deliberate (recovery after a crash vs. the live segment), and `load.rs`
//! imports from this file, never the other way. Knows nothing of other segments, producer state
//! or checkpoints: that is PartitionLog's job. Owned by one PartitionLog, never shared across
//! tasks.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use bytes::Bytes;

use crate::batch::{decode_batch, BatchHeader, RecordIter, HEADER_LEN, LOG_OVERHEAD};
use crate::checkpoint;
use crate::config::TimestampType;
use crate::index::{Index, OffsetEntry, TimeEntry, TimestampOffset};

mod load;

pub(crate) const LOG_EXT: &str = "log";
pub(crate) const INDEX_EXT: &str = "index";
pub(crate) const TIME_INDEX_EXT: &str = "timeindex";
/// The aborted-transaction index (`txn_index.rs`), created on the segment's first abort.
pub(crate) const TXN_INDEX_EXT: &str = "txnindex";
/// Read size when walking headers from an index entry to the wanted batch (a little more than
/// the default index interval, so usually one read).
const HEADER_CHUNK: u64 = 8 * 1024;

pub(crate) fn segment_file(dir: &Path, base_offset: i64, ext: &str) -> PathBuf {
    dir.join(format!("{base_offset:020}.{ext}"))
}

/// How far to trust a segment's files when opening it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LoadMode {
    /// Clean shutdown, or data below the recovery point: use the index files when they are
    /// consistent with the log file; otherwise rebuild them from batch headers.
    Trust,
    /// Data beyond the recovery point after a crash: CRC-check every batch, rebuild the indexes and
    /// truncate at the first torn or corrupt batch.
    Recover,
}

/// State shared by active and sealed segments.
#[derive(Debug)]
pub(crate) struct Segment {
    base_offset: i64,
    dir: PathBuf,
    /// Shared with the [`FileSlice`]s of fetches in flight, which send from it after the log's lock is released.
    file: Arc<File>,
    /// Bytes of valid batches in the file (the file is never longer after open).
    size: u64,
    /// Offset after the last batch; `base_offset` when empty.
    next_offset: i64,
    /// Largest batch max timestamp, -1 when none.
    max_timestamp: i64,
    /// Last offset of the first batch that reached `max_timestamp`.
    offset_of_max_timestamp: i64,
    offset_index: Index<OffsetEntry>,
    time_index: Index<TimeEntry>,
    /// Bytes appended since the last offset-index entry.
    bytes_since_index: u64,
}

/// Result of opening a segment.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub(crate) segment: Segment,
    /// Bytes cut off the end of the log file (torn or corrupt tail).
    pub(crate) truncated_bytes: Option<u64>,
}

impl Segment {
    fn new(dir: &Path, base_offset: i64, file: File, size: u64) -> Segment {
        Segment {
            base_offset,
            dir: dir.to_path_buf(),
            file: Arc::new(file),
            size,
            next_offset: base_offset,
            max_timestamp: -1,
            offset_of_max_timestamp: base_offset,
            offset_index: Index::new(),
            time_index: Index::new(),
            bytes_since_index: 0,
        }
    }

    /// Creates an empty segment; fails if its file already exists.
    pub(crate) fn create(dir: &Path, base_offset: i64) -> io::Result<Segment> {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create_new(true)
            .open(segment_file(dir, base_offset, LOG_EXT))?;
        Ok(Segment::new(dir, base_offset, file, 0))
    }

    pub(crate) fn base_offset(&self) -> i64 {
        self.base_offset
    }

    pub(crate) fn next_offset(&self) -> i64 {
        self.next_offset
    }

    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    pub(crate) fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }

    fn log_path(&self) -> PathBuf {
        segment_file(&self.dir, self.base_offset, LOG_EXT)
    }

    /// Accounts for the batch `h` (offsets already assigned) stored at `pos`: bounds, max
    /// timestamp and, every `index_interval` bytes, an offset-index and time-index entry pointing
    /// at it (Kafka `LogSegment.append`).
    fn track(&mut self, pos: u64, h: &BatchHeader, index_interval: u32) {
        if h.max_timestamp > self.max_timestamp {
            self.max_timestamp = h.max_timestamp;
            self.offset_of_max_timestamp = h.last_offset();
        }
        if self.bytes_since_index > u64::from(index_interval) {
            let rel = (h.base_offset - self.base_offset) as u32;
            let position = pos as u32;
            if self
                .offset_index
                .last()
                .is_none_or(|e| rel > e.rel_offset && position > e.position)
            {
                self.offset_index.push(OffsetEntry {
                    rel_offset: rel,
                    position,
                });
            }
            self.maybe_append_time_entry();
            self.bytes_since_index = 0;
        }
        self.bytes_since_index += h.total_len() as u64;
        self.next_offset = h.last_offset() + 1;
    }

    fn maybe_append_time_entry(&mut self) {
        let last_ts = self.time_index.last().map_or(-1, |e| e.timestamp);
        if self.max_timestamp > last_ts {
            self.time_index.push(TimeEntry {
                timestamp: self.max_timestamp,
                rel_offset: (self.offset_of_max_timestamp - self.base_offset) as u32,
            });
        }
    }

    fn persist_indexes(&mut self, sync: bool) -> io::Result<()> {
        self.offset_index
            .persist(&segment_file(&self.dir, self.base_offset, INDEX_EXT), sync)?;
        self.time_index.persist(
            &segment_file(&self.dir, self.base_offset, TIME_INDEX_EXT),
            sync,
        )
    }

    fn header_at(&self, pos: u64) -> io::Result<BatchHeader> {
        let mut buf = [0u8; HEADER_LEN];
        self.file.read_exact_at(&mut buf, pos)?;
        BatchHeader::parse(&buf).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: bad batch at position {pos}: {e}",
                    self.log_path().display()
                ),
            )
        })
    }

    /// A second handle on the log file (for an fsync outside the log's lock).
    pub(crate) fn clone_file(&self) -> io::Result<File> {
        self.file.try_clone()
    }

    /// Position and header of the first batch whose last offset is >= `offset`.
    fn find_batch(&self, offset: i64) -> io::Result<Option<(u64, BatchHeader)>> {
        if offset >= self.next_offset {
            return Ok(None);
        }
        let rel = offset.saturating_sub(self.base_offset);
        let mut pos = self
            .offset_index
            .floor(|e| i64::from(e.rel_offset) <= rel)
            .map_or(0, |e| u64::from(e.position));
        // Headers between two index entries are read in chunks rather than one pread each.
        let mut chunk: Vec<u8> = Vec::new();
        let mut chunk_start = pos;
        while pos < self.size {
            let at = (pos - chunk_start) as usize;
            if at + HEADER_LEN > chunk.len() {
                let len = (self.size - pos).min(HEADER_CHUNK) as usize;
                if len < HEADER_LEN {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "{}: torn batch at position {pos}",
                            self.log_path().display()
                        ),
                    ));
                }
                chunk.resize(len, 0);
                self.file.read_exact_at(&mut chunk, pos)?;
                chunk_start = pos;
                continue;
            }
            let h = BatchHeader::parse(&chunk[at..]).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{}: bad batch at position {pos}: {e}",
                        self.log_path().display()
                    ),
                )
            })?;
            if h.last_offset() >= offset {
                return Ok(Some((pos, h)));
            }
            pos += h.total_len() as u64;
        }
        Ok(None)
    }

    /// Where the whole batches from the one containing `offset` lie in the log file (see
    /// `PartitionLog::read_slice`); nothing is copied, only batch headers are read to find the end.
    /// None when this segment holds nothing at or after `offset`.
    pub(crate) fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        max_offset: i64,
        min_one: bool,
    ) -> io::Result<Option<FileSlice>> {
        let Some((start, first)) = self.find_batch(offset)? else {
            return Ok(None);
        };
        if first.base_offset >= max_offset {
            return Ok(Some(self.slice(start, 0)));
        }
        let first_len = first.total_len() as u64;
        let want = (max_bytes as u64).min(self.size - start);
        if want < first_len {
            return Ok(Some(self.slice(start, if min_one { first_len } else { 0 })));
        }
        let limit = start + want;
        if limit == self.size && self.next_offset <= max_offset {
            // The rest of the segment, all below max_offset: the usual read at the tail.
            return Ok(Some(self.slice(start, want)));
        }
        // Keep whole batches below max_offset; the limit may fall mid-batch.
        let mut end = start + first_len;
        let mut chunk: Vec<u8> = Vec::new();
        let mut chunk_start = end;
        while end + LOG_OVERHEAD as u64 <= limit {
            if end + LOG_OVERHEAD as u64 > chunk_start + chunk.len() as u64 {
                chunk.resize((limit - end).min(HEADER_CHUNK) as usize, 0);
                self.file.read_exact_at(&mut chunk, end)?;
                chunk_start = end;
            }
            let at = (end - chunk_start) as usize;
            let mut base = [0u8; 8];
            base.copy_from_slice(&chunk[at..at + 8]);
            let mut len = [0u8; 4];
            len.copy_from_slice(&chunk[at + 8..at + 12]);
            let total = i32::from_be_bytes(len).max(0) as u64 + LOG_OVERHEAD as u64;
            if i64::from_be_bytes(base) >= max_offset || end + total > limit {
                break;
            }
            end += total;
        }
        Ok(Some(self.slice(start, end - start)))
    }

    fn slice(&self, position: u64, len: u64) -> FileSlice {
        FileSlice {
            file: self.file.clone(),
            position,
            len: len as usize,
        }
    }

    /// ListOffsets MAX_TIMESTAMP within this segment (Kafka 3.8+): the offset of the first record
    /// carrying the segment's max timestamp, found by walking the records of the batch that first
    /// reached it (LogAppendTime records all carry it: the batch's first record). The batch's last
    /// offset if no record matches.
    pub(crate) fn offset_of_max_timestamp_record(&self) -> io::Result<i64> {
        let Some((pos, h)) = self.find_batch(self.offset_of_max_timestamp)? else {
            return Ok(self.offset_of_max_timestamp);
        };
        let append_time = h.timestamp_type() == TimestampType::LogAppendTime;
        let mut buf = vec![0u8; h.total_len()];
        self.file.read_exact_at(&mut buf, pos)?;
        if h.compression() == 0 {
            for record in RecordIter::new(&buf[HEADER_LEN..]) {
                let record = record.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                if append_time || h.base_timestamp + record.timestamp_delta == self.max_timestamp {
                    return Ok(h.base_offset + i64::from(record.offset_delta));
                }
            }
        } else {
            for record in decode_batch(&buf)? {
                if append_time || record.timestamp == self.max_timestamp {
                    return Ok(record.offset);
                }
            }
        }
        Ok(h.last_offset())
    }

    /// Earliest record at or after `log_start` with timestamp >= `ts` in this segment.
    pub(crate) fn find_timestamp(
        &self,
        ts: i64,
        log_start: i64,
    ) -> io::Result<Option<TimestampOffset>> {
        if self.max_timestamp < ts || self.next_offset <= log_start {
            return Ok(None);
        }
        // Batches before the one that first reached an indexed timestamp <= ts all have smaller
        // max timestamps, so the scan can start at that batch.
        let from = self
            .time_index
            .floor(|e| e.timestamp <= ts)
            .map_or(self.base_offset, |e| {
                self.base_offset + i64::from(e.rel_offset)
            })
            .max(log_start);
        let Some((mut pos, _)) = self.find_batch(from)? else {
            return Ok(None);
        };
        let mut buf = Vec::new();
        while pos < self.size {
            let h = self.header_at(pos)?;
            let len = h.total_len();
            if h.last_offset() >= log_start && h.max_timestamp >= ts {
                if h.compression() == 0 && h.timestamp_type() == TimestampType::CreateTime {
                    buf.resize(len, 0);
                    self.file.read_exact_at(&mut buf, pos)?;
                    for record in RecordIter::new(&buf[HEADER_LEN..]) {
                        let record =
                            record.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                        let offset = h.base_offset + i64::from(record.offset_delta);
                        let timestamp = h.base_timestamp + record.timestamp_delta;
                        if offset >= log_start && timestamp >= ts {
                            return Ok(Some(TimestampOffset { timestamp, offset }));
                        }
                    }
                } else {
                    // Compressed records are not decompressed, and LogAppendTime records all
                    // carry the batch's max timestamp.
                    return Ok(Some(TimestampOffset {
                        timestamp: h.max_timestamp,
                        offset: h.base_offset.max(log_start),
                    }));
                }
            }
            pos += len as u64;
        }
        Ok(None)
    }

    /// The timestamp time-based retention compares: the newest record timestamp, or the file's
    /// modification time when no batch carries a timestamp (Kafka `largestTimestamp`).
    pub(crate) fn retention_timestamp(&self) -> io::Result<i64> {
        if self.max_timestamp >= 0 {
            return Ok(self.max_timestamp);
        }
        let modified = self.file.metadata()?.modified()?;
        Ok(modified
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64))
    }

    /// The whole log file (for the cleaner, which rewrites sealed segments).
    pub(crate) fn read_all(&self) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; self.size as usize];
        self.file.read_exact_at(&mut buf, 0)?;
        Ok(buf)
    }

    /// Moves `next_offset` up to `next` (the following segment's base): a cleaned segment may end
    /// with a gap, but the log's segments stay contiguous.
    pub(crate) fn extend_next_offset(&mut self, next: i64) {
        if next > self.next_offset {
            self.next_offset = next;
        }
    }

    /// Removes the segment's files.
    pub(crate) fn delete(self) -> io::Result<()> {
        self.delete_files()
    }

    /// Unlinks the segment's files while this handle stays usable (the open file lives on until
    /// dropped), so a log can delete a segment before it lets go of it.
    pub(crate) fn delete_files(&self) -> io::Result<()> {
        for ext in [LOG_EXT, INDEX_EXT, TIME_INDEX_EXT, TXN_INDEX_EXT] {
            checkpoint::remove_if_exists(&segment_file(&self.dir, self.base_offset, ext))?;
        }
        Ok(())
    }

    /// Cuts the segment before the batch holding `offset` (the whole batch goes, Kafka
    /// semantics), or before the first batch above `offset` in a compacted gap. Bounds, max
    /// timestamp and indexes are rebuilt by a header scan of what is left, so they equal what a
    /// reopen would find (a cleaned segment's extended `next_offset` falls back to its last
    /// batch); the log file is fsynced and the indexes rewritten and fsynced, so stale entries
    /// pointing past the cut never survive a crash.
    pub(crate) fn truncate_to(&mut self, offset: i64, index_interval: u32) -> io::Result<()> {
        let cut = self.find_batch(offset)?.map_or(self.size, |(pos, _)| pos);
        if cut < self.size {
            self.file.set_len(cut)?;
            self.size = cut;
        }
        // Invalid batches left behind would be cut (and logged) by the scan, as at open.
        self.scan_from(0, false, None, index_interval)?;
        self.file.sync_data()?;
        self.persist_indexes(true)
    }
}

/// The segment that takes appends: the last one of a log.
#[derive(Debug)]
pub(crate) struct ActiveSegment {
    seg: Segment,
    /// Time `segment.ms` counts from: creation time, or the first batch's timestamp when the
    /// segment was reopened (Kafka `rollingBasedTimestamp`).
    roll_basis_ms: i64,
}

impl ActiveSegment {
    pub(crate) fn create(dir: &Path, base_offset: i64, now_ms: i64) -> io::Result<Self> {
        Ok(ActiveSegment {
            seg: Segment::create(dir, base_offset)?,
            roll_basis_ms: now_ms,
        })
    }

    pub(crate) fn from_loaded(seg: Segment, now_ms: i64) -> io::Result<Self> {
        let roll_basis_ms = roll_basis(&seg, now_ms)?;
        Ok(ActiveSegment { seg, roll_basis_ms })
    }

    /// See [`Segment::truncate_to`]; `segment.ms` then counts as for a reopened segment.
    pub(crate) fn truncate_to(
        &mut self,
        offset: i64,
        index_interval: u32,
        now_ms: i64,
    ) -> io::Result<()> {
        self.seg.truncate_to(offset, index_interval)?;
        self.roll_basis_ms = roll_basis(&self.seg, now_ms)?;
        Ok(())
    }

    pub(crate) fn segment(&self) -> &Segment {
        &self.seg
    }

    /// Whether a write of `incoming` bytes ending at offset `last_offset` must go to a new
    /// segment: size or age limits (Kafka `segment.bytes` / `segment.ms`), or the u32 relative
    /// offsets and positions of the indexes would overflow. An empty segment never rolls.
    pub(crate) fn should_roll(
        &self,
        incoming: u64,
        last_offset: i64,
        segment_bytes: u64,
        segment_ms: i64,
        now_ms: i64,
    ) -> bool {
        if self.seg.size == 0 {
            return false;
        }
        let new_size = self.seg.size + incoming;
        new_size > segment_bytes
            || now_ms.saturating_sub(self.roll_basis_ms) > segment_ms
            || new_size > u64::from(u32::MAX)
            || last_offset - self.seg.base_offset > i64::from(u32::MAX)
    }

    /// Appends `bytes` (whole batches, offsets assigned, as described by `headers` with their
    /// positions inside `bytes`) with one write. On a failed write the file is cut back so the
    /// segment stays consistent.
    /// Appends `len` bytes given as `parts` (one write call for the common case; the slices are consumed).
    pub(crate) fn append(
        &mut self,
        parts: &mut [io::IoSlice<'_>],
        len: usize,
        headers: &[(usize, BatchHeader)],
        index_interval: u32,
    ) -> io::Result<()> {
        let start = self.seg.size;
        if let Err(e) = write_all_vectored(&self.seg.file, parts) {
            if let Err(e2) = self.seg.file.set_len(start) {
                tracing::error!(error = %e2, "could not cut back a failed segment append");
            }
            return Err(e);
        }
        for (pos, h) in headers {
            self.seg.track(start + *pos as u64, h, index_interval);
        }
        self.seg.size = start + len as u64;
        Ok(())
    }

    /// fsyncs the log file and writes + fsyncs the indexes.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.seg.file.sync_data()?;
        self.seg.persist_indexes(true)
    }

    /// Writes the final time-index entry and fsyncs everything: the fallible half of sealing, done
    /// while the segment is still the log's active one so a failure leaves the log usable.
    pub(crate) fn prepare_seal(&mut self) -> io::Result<()> {
        self.seg.maybe_append_time_entry();
        self.flush()
    }

    /// No more appends. Call [`ActiveSegment::prepare_seal`] first.
    pub(crate) fn seal(self) -> SealedSegment {
        SealedSegment { seg: self.seg }
    }
}

/// Time `segment.ms` counts from for a segment that becomes active with data in it: its first
/// batch's max timestamp when plausible, else `now_ms`.
fn roll_basis(seg: &Segment, now_ms: i64) -> io::Result<i64> {
    if seg.size == 0 {
        return Ok(now_ms);
    }
    let ts = seg.header_at(0)?.max_timestamp;
    Ok(if (0..=now_ms).contains(&ts) {
        ts
    } else {
        now_ms
    })
}

/// A read-only segment (every segment but the last).
#[derive(Debug)]
pub(crate) struct SealedSegment {
    seg: Segment,
}

impl SealedSegment {
    /// A segment loaded from disk that is not the last one: completes and writes its indexes if
    /// they were rebuilt.
    pub(crate) fn from_loaded(mut seg: Segment) -> io::Result<Self> {
        seg.maybe_append_time_entry();
        seg.persist_indexes(false)?;
        Ok(SealedSegment { seg })
    }

    pub(crate) fn segment(&self) -> &Segment {
        &self.seg
    }

    pub(crate) fn into_segment(self) -> Segment {
        self.seg
    }
}

/// `Write::write_all_vectored` (unstable in std): writes every slice, retrying partial writes.
fn write_all_vectored(mut file: &File, mut parts: &mut [io::IoSlice<'_>]) -> io::Result<()> {
    io::IoSlice::advance_slices(&mut parts, 0);
    while !parts.is_empty() {
        match file.write_vectored(parts) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "segment write returned 0",
                ))
            }
            Ok(n) => io::IoSlice::advance_slices(&mut parts, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Whole batches of a segment, located but not read: sent with `sendfile` (or read with
/// [`FileSlice::read_to_bytes`]) after the log's lock is released. The file handle keeps the data
/// readable if the segment is deleted meanwhile; a truncation meanwhile makes the file shorter than
/// the slice, which the reader sees as an unexpected end of file.
#[derive(Clone, Debug)]
pub struct FileSlice {
    file: Arc<File>,
    position: u64,
    len: usize,
}

impl FileSlice {
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Position of the first byte in the file.
    pub fn position(&self) -> u64 {
        self.position
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copies the bytes into memory (for callers that need them, not a socket).
    pub fn read_to_bytes(&self) -> io::Result<Bytes> {
        if self.len == 0 {
            return Ok(Bytes::new());
        }
        let mut buf = vec![0u8; self.len];
        self.file.read_exact_at(&mut buf, self.position)?;
        Ok(Bytes::from(buf))
    }
}
