//! Loading one segment from disk (Kafka's `LogSegment.recover` and the index sanity checks of
//! `LogLoader`): trusting its index files when they agree with the log file, rebuilding them from
//! batch headers when they do not, and in recovery mode CRC-checking every batch and cutting the
//! file at the first torn or corrupt one; plus the sequential header scans the log replays at open
//! (producer state, leader epochs) and the fsync that makes a recovered segment durable.
//!
//! Part of [`Segment`]'s `impl`, split from `segment/mod.rs` deliberately: reading a segment back
//! after a crash is a job of its own, separate from appending to and reading from a live one.
//! This file imports from `mod.rs`; `mod.rs` imports nothing from here (it only calls the methods
//! defined here). Not here: which segments to recover (the log's recovery point, `log/open.rs`).

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use super::{segment_file, LoadMode, Loaded, Segment, INDEX_EXT, LOG_EXT, TIME_INDEX_EXT};
use crate::batch::{self, BatchHeader, ControlMarker, HEADER_LEN};
use crate::index::{Index, OffsetEntry, TimeEntry};

/// Read-ahead of the sequential scans done at open.
const SCAN_BUFFER: usize = 1 << 20;

enum Scanned {
    Batch(BatchHeader),
    End,
    Invalid(String),
}

/// Sequential reader of whole batches from a segment file, used only at open.
struct Scanner<'a> {
    reader: BufReader<&'a File>,
    pos: u64,
    end: u64,
    buf: Vec<u8>,
}

impl<'a> Scanner<'a> {
    fn new(file: &'a File, start: u64, end: u64) -> io::Result<Self> {
        let mut reader = BufReader::with_capacity(SCAN_BUFFER, file);
        reader.seek(SeekFrom::Start(start))?;
        Ok(Scanner {
            reader,
            pos: start,
            end,
            buf: Vec::new(),
        })
    }

    /// The batch at `self.pos`; with `verify`, its CRC is checked too.
    fn next(&mut self, verify: bool) -> io::Result<Scanned> {
        let remaining = self.end - self.pos;
        if remaining == 0 {
            return Ok(Scanned::End);
        }
        if remaining < HEADER_LEN as u64 {
            return Ok(Scanned::Invalid(format!(
                "{remaining} trailing bytes, less than a batch header"
            )));
        }
        let mut hdr = [0u8; HEADER_LEN];
        self.reader.read_exact(&mut hdr)?;
        let h = match BatchHeader::parse(&hdr) {
            Ok(h) => h,
            Err(e) => return Ok(Scanned::Invalid(e.to_string())),
        };
        let len = h.total_len() as u64;
        if len > remaining {
            return Ok(Scanned::Invalid(format!(
                "batch of {len} bytes but only {remaining} bytes left in the file"
            )));
        }
        // Control batches are read whole: their marker feeds producer state.
        if verify || h.is_control() {
            self.buf.clear();
            self.buf.extend_from_slice(&hdr);
            self.buf.resize(len as usize, 0);
            self.reader.read_exact(&mut self.buf[HEADER_LEN..])?;
            if verify && !batch::verify_crc(&self.buf) {
                return Ok(Scanned::Invalid("CRC32C mismatch".to_string()));
            }
        } else {
            self.reader
                .seek_relative((len - HEADER_LEN as u64) as i64)?;
        }
        self.pos += len;
        Ok(Scanned::Batch(h))
    }
}

impl Segment {
    /// Opens an existing segment. `next_base` is the base offset of the following segment (None
    /// for the last one, whose end is found by scanning).
    pub(crate) fn open(
        dir: &Path,
        base_offset: i64,
        next_base: Option<i64>,
        mode: LoadMode,
        index_interval: u32,
    ) -> io::Result<Loaded> {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(segment_file(dir, base_offset, LOG_EXT))?;
        let size = file.metadata()?.len();
        let mut seg = Segment::new(dir, base_offset, file, size);
        let truncated_bytes = match mode {
            LoadMode::Recover => seg.scan_from(0, true, next_base, index_interval)?,
            LoadMode::Trust => {
                if seg.load_indexes(next_base)? {
                    match next_base {
                        Some(nb) => {
                            seg.next_offset = nb;
                            None
                        }
                        None => {
                            // Only the batches after the last index entry are unknown; their
                            // lengths must still fit the file.
                            let start = seg.offset_index.last().map_or(0, |e| e.position);
                            let cut =
                                seg.scan_from(u64::from(start), false, None, index_interval)?;
                            if cut.is_some() && start > 0 {
                                // The loaded indexes may point into the cut tail: rebuild them.
                                seg.scan_from(0, false, None, index_interval)?;
                            }
                            cut
                        }
                    }
                } else {
                    tracing::info!(segment = %seg.log_path().display(), "rebuilding segment indexes");
                    seg.scan_from(0, false, next_base, index_interval)?
                }
            }
        };
        Ok(Loaded {
            segment: seg,
            truncated_bytes,
        })
    }

    /// Walks batches from `start` (a batch boundary) to the end of the file, updating indexes and
    /// bounds; truncates the file at the first invalid batch. Returns the number of bytes cut.
    pub(super) fn scan_from(
        &mut self,
        start: u64,
        verify: bool,
        next_base: Option<i64>,
        index_interval: u32,
    ) -> io::Result<Option<u64>> {
        let file_len = self.size;
        self.bytes_since_index = 0;
        let mut expected_min = self.base_offset;
        if start > 0 {
            expected_min = self.header_at(start)?.base_offset;
        } else {
            self.reset();
        }
        let mut scanner = Scanner::new(&self.file, start, file_len)?;
        let mut batches = Vec::new();
        let invalid_at = loop {
            let pos = scanner.pos;
            match scanner.next(verify)? {
                Scanned::End => break None,
                Scanned::Invalid(reason) => break Some((pos, reason)),
                Scanned::Batch(h) => {
                    if h.base_offset < expected_min || h.last_offset_delta < 0 {
                        break Some((pos, format!("offset {} goes backwards", h.base_offset)));
                    }
                    if next_base.is_some_and(|nb| h.last_offset() >= nb) {
                        break Some((pos, "batch overlaps the next segment".to_string()));
                    }
                    expected_min = h.last_offset() + 1;
                    batches.push((pos, h));
                }
            }
        };
        drop(scanner);
        for (pos, h) in batches {
            self.track(pos, &h, index_interval);
        }
        match invalid_at {
            None => {
                self.size = file_len;
                Ok(None)
            }
            Some((pos, reason)) => {
                tracing::warn!(
                    segment = %self.log_path().display(),
                    position = pos,
                    truncated_bytes = file_len - pos,
                    %reason,
                    "truncating invalid tail of segment"
                );
                self.file.set_len(pos)?;
                self.size = pos;
                Ok(Some(file_len - pos))
            }
        }
    }

    /// Forgets everything derived from the log file, before a scan from position 0.
    fn reset(&mut self) {
        self.next_offset = self.base_offset;
        self.max_timestamp = -1;
        self.offset_of_max_timestamp = self.base_offset;
        self.offset_index = Index::new();
        self.time_index = Index::new();
        self.bytes_since_index = 0;
    }

    /// Loads and checks the index files against the log file. False when either is missing or
    /// inconsistent (then both are rebuilt).
    fn load_indexes(&mut self, next_base: Option<i64>) -> io::Result<bool> {
        let Some(offsets) =
            Index::<OffsetEntry>::load(&segment_file(&self.dir, self.base_offset, INDEX_EXT))?
        else {
            return Ok(false);
        };
        let Some(times) =
            Index::<TimeEntry>::load(&segment_file(&self.dir, self.base_offset, TIME_INDEX_EXT))?
        else {
            return Ok(false);
        };
        let limit = next_base.map_or(i64::MAX, |nb| nb - self.base_offset);
        let mut prev: Option<OffsetEntry> = None;
        for e in offsets.entries() {
            let increasing =
                prev.is_none_or(|p| e.rel_offset > p.rel_offset && e.position > p.position);
            if !increasing
                || u64::from(e.position) + HEADER_LEN as u64 > self.size
                || i64::from(e.rel_offset) >= limit
            {
                return Ok(false);
            }
            prev = Some(*e);
        }
        if let Some(last) = offsets.last() {
            match self.header_at(u64::from(last.position)) {
                Ok(h) if h.base_offset == self.base_offset + i64::from(last.rel_offset) => {}
                _ => return Ok(false),
            }
        }
        let mut prev: Option<TimeEntry> = None;
        for e in times.entries() {
            let increasing =
                prev.is_none_or(|p| e.timestamp > p.timestamp && e.rel_offset >= p.rel_offset);
            if !increasing || i64::from(e.rel_offset) >= limit {
                return Ok(false);
            }
            prev = Some(*e);
        }
        if let Some(last) = times.last() {
            self.max_timestamp = last.timestamp;
            self.offset_of_max_timestamp = self.base_offset + i64::from(last.rel_offset);
        }
        self.offset_index = offsets;
        self.time_index = times;
        Ok(true)
    }

    /// Visits the header of every batch whose base offset is >= `offset`, in order, with the
    /// transaction marker of a control batch.
    pub(crate) fn headers_from(
        &self,
        offset: i64,
        f: &mut dyn FnMut(&BatchHeader, Option<ControlMarker>),
    ) -> io::Result<()> {
        let Some((start, _)) = self.find_batch(offset)? else {
            return Ok(());
        };
        let mut scanner = Scanner::new(&self.file, start, self.size)?;
        loop {
            match scanner.next(false)? {
                Scanned::Batch(h) => {
                    if h.base_offset >= offset {
                        let marker = batch::parse_control_marker(&h, &scanner.buf);
                        f(&h, marker);
                    }
                }
                Scanned::End => return Ok(()),
                Scanned::Invalid(reason) => {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, reason))
                }
            }
        }
    }

    /// Makes a segment just verified by recovery durable — log file and rebuilt indexes — so the
    /// recovery point can move past it.
    pub(crate) fn sync_recovered(&mut self) -> io::Result<()> {
        // The final time entry a sealed segment needs; harmless (just the max so far) if this
        // segment stays active.
        self.maybe_append_time_entry();
        self.file.sync_data()?;
        self.persist_indexes(true)
    }
}
