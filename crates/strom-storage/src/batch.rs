//! Kafka record batch v2 (magic 2): a zero-copy view of the 61-byte header, CRC32C checking,
//! splitting a buffer into batches, validating a producer's or a leader's batch, and the few in-place
//! rewrites the log makes (base offset, partition leader epoch, LogAppendTime).
//!
//! Records are decoded into objects (and decompressed) only by [`decode_batch`], with
//! kafka-protocol's codec, for the cleaner and ListOffsets. Everything else works on the bytes:
//! uncompressed records sections are walked ([`RecordIter`]) to validate their framing and to
//! find per-record timestamps and null keys. Not here: what to do with decoded records (the
//! cleaner's rewriting is `cleaner.rs`), the per-record checks and recompression of a producer's
//! batches (`validator.rs`).
//!
//! Layout (big-endian): baseOffset i64 @0, batchLength i32 @8, partitionLeaderEpoch i32 @12,
//! magic i8 @16, crc u32 @17 (CRC32C of bytes 21..end), attributes i16 @21, lastOffsetDelta i32 @23,
//! baseTimestamp i64 @27, maxTimestamp i64 @35, producerId i64 @43, producerEpoch i16 @51,
//! baseSequence i32 @53, recordsCount i32 @57, records @61.

use std::io;

use bytes::Bytes;
use kafka_protocol::records::{Record, RecordBatchDecoder};

use crate::config::TimestampType;
use crate::error::AppendError;

/// Size of the v2 batch header, up to and including `recordsCount`.
pub const HEADER_LEN: usize = 61;
/// Bytes before `partitionLeaderEpoch` that `batchLength` does not count (baseOffset + batchLength).
pub(crate) const LOG_OVERHEAD: usize = 12;
/// `partitionLeaderEpoch` sits between `batchLength` and `magic`, outside the CRC.
pub(crate) const LEADER_EPOCH_OFFSET: usize = 12;
const MAGIC_OFFSET: usize = 16;
const CRC_OFFSET: usize = 17;
const ATTRIBUTES_OFFSET: usize = 21;
const MAX_TIMESTAMP_OFFSET: usize = 35;
/// Attribute bit: timestamps are LogAppendTime.
const TIMESTAMP_TYPE_BIT: i16 = 1 << 3;
const TRANSACTIONAL_BIT: i16 = 1 << 4;
const CONTROL_BIT: i16 = 1 << 5;
/// KIP-534: the batch's base timestamp is the delete horizon the log cleaner set on it.
const DELETE_HORIZON_BIT: i16 = 1 << 6;
/// Highest compression codec id Kafka defines (zstd).
const MAX_CODEC: u8 = 4;

/// The fixed header of a v2 record batch, parsed by value from the first [`HEADER_LEN`] bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

fn array<const N: usize>(buf: &[u8], at: usize) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&buf[at..at + N]);
    a
}

fn corrupt(msg: impl Into<String>) -> AppendError {
    AppendError::CorruptMessage(msg.into())
}

impl BatchHeader {
    /// Parses the header at the start of `buf`. Checks the magic byte first (it sits at byte 16 in
    /// every message format, so old formats are reported as such), then that a full header is
    /// present and that `batchLength` covers at least the header. Does not require the whole batch
    /// to be in `buf` and does not check the CRC.
    pub fn parse(buf: &[u8]) -> Result<BatchHeader, AppendError> {
        if buf.len() <= MAGIC_OFFSET {
            return Err(corrupt(format!(
                "truncated batch header: {} bytes",
                buf.len()
            )));
        }
        let magic = buf[MAGIC_OFFSET] as i8;
        if magic != 2 {
            return Err(AppendError::UnsupportedMagic(magic));
        }
        if buf.len() < HEADER_LEN {
            return Err(corrupt(format!(
                "truncated batch header: {} bytes",
                buf.len()
            )));
        }
        let h = BatchHeader {
            base_offset: i64::from_be_bytes(array(buf, 0)),
            batch_length: i32::from_be_bytes(array(buf, 8)),
            partition_leader_epoch: i32::from_be_bytes(array(buf, 12)),
            magic,
            crc: u32::from_be_bytes(array(buf, CRC_OFFSET)),
            attributes: i16::from_be_bytes(array(buf, ATTRIBUTES_OFFSET)),
            last_offset_delta: i32::from_be_bytes(array(buf, 23)),
            base_timestamp: i64::from_be_bytes(array(buf, 27)),
            max_timestamp: i64::from_be_bytes(array(buf, MAX_TIMESTAMP_OFFSET)),
            producer_id: i64::from_be_bytes(array(buf, 43)),
            producer_epoch: i16::from_be_bytes(array(buf, 51)),
            base_sequence: i32::from_be_bytes(array(buf, 53)),
            records_count: i32::from_be_bytes(array(buf, 57)),
        };
        if (h.batch_length as i64) < (HEADER_LEN - LOG_OVERHEAD) as i64 {
            return Err(corrupt(format!(
                "batch length {} is smaller than the v2 header",
                h.batch_length
            )));
        }
        Ok(h)
    }

    /// Whole batch size in bytes: `batch_length + 12`.
    pub fn total_len(&self) -> usize {
        self.batch_length.max(0) as usize + LOG_OVERHEAD
    }

    pub fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }

    /// Compression codec id (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
    pub fn compression(&self) -> u8 {
        (self.attributes & 7) as u8
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_BIT != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_BIT != 0
    }

    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes & TIMESTAMP_TYPE_BIT != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    /// The delete horizon the log cleaner stamped on this batch (KIP-534: attribute bit 6 set, the
    /// base timestamp is the horizon), if any.
    pub fn delete_horizon_ms(&self) -> Option<i64> {
        (self.attributes & DELETE_HORIZON_BIT != 0).then_some(self.base_timestamp)
    }

    /// Last sequence number of the batch, wrapping from i32::MAX to 0 as Kafka does.
    pub(crate) fn last_sequence(&self) -> i32 {
        let last = i64::from(self.base_sequence) + i64::from(self.last_offset_delta);
        if last > i64::from(i32::MAX) {
            (last - i64::from(i32::MAX) - 1) as i32
        } else {
            last as i32
        }
    }
}

/// True when `batch` (exactly one whole batch) carries a correct CRC32C over bytes `[21..]`.
pub fn verify_crc(batch: &[u8]) -> bool {
    if batch.len() < HEADER_LEN {
        return false;
    }
    let stored = u32::from_be_bytes(array(batch, CRC_OFFSET));
    crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..]) == stored
}

/// Splits `buf` into whole batches. Yields an error (and then stops) for a bad header or a batch
/// that runs past the end of `buf`. Does not check CRCs.
pub fn iter_batches(buf: &[u8]) -> impl Iterator<Item = Result<(BatchHeader, &[u8]), AppendError>> {
    BatchIter { buf, done: false }
}

struct BatchIter<'a> {
    buf: &'a [u8],
    done: bool,
}

impl<'a> Iterator for BatchIter<'a> {
    type Item = Result<(BatchHeader, &'a [u8]), AppendError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.buf.is_empty() {
            return None;
        }
        let header = match BatchHeader::parse(self.buf) {
            Ok(h) => h,
            Err(e) => {
                self.done = true;
                return Some(Err(e));
            }
        };
        let len = header.total_len();
        if len > self.buf.len() {
            self.done = true;
            return Some(Err(corrupt(format!(
                "batch of {len} bytes truncated to {} bytes",
                self.buf.len()
            ))));
        }
        let (batch, rest) = self.buf.split_at(len);
        self.buf = rest;
        Some(Ok((header, batch)))
    }
}

/// The smallest and largest `timestampDelta` of an uncompressed batch's records, found by
/// [`validate`] while it walks them (so the timestamp checks of the append need no second walk).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeltaSpan {
    pub min: i64,
    pub max: i64,
}

/// Full producer-side validation of one whole batch (`batch.len() == header.total_len()`):
/// size limit, CRC, record count consistency, known codec, and for uncompressed batches the
/// framing of every record. Returns the span of the records' timestamp deltas for an
/// uncompressed batch, None for a compressed one (its records are not looked at here).
pub fn validate(
    header: &BatchHeader,
    batch: &[u8],
    max_message_bytes: u32,
) -> Result<Option<DeltaSpan>, AppendError> {
    if batch.len() > max_message_bytes as usize {
        return Err(AppendError::RecordTooLarge {
            size: batch.len(),
            max: max_message_bytes,
        });
    }
    validate_contents(header, batch, true)
}

/// Validation of one whole batch copied from a leader's log: as [`validate`] but with no size
/// limit, and since compacted batches may hold fewer records than their offset span, only
/// `lastOffsetDelta >= recordsCount - 1` is required.
pub(crate) fn validate_replicated(header: &BatchHeader, batch: &[u8]) -> Result<(), AppendError> {
    validate_contents(header, batch, false).map(|_| ())
}

/// CRC, record count against `lastOffsetDelta` (equal with `exact`, a client's batch, refused as
/// INVALID_RECORD otherwise; see [`AppendError::InvalidRecord`]), known codec, and the framing
/// of every record of an uncompressed batch (whose timestamp delta span it returns).
fn validate_contents(
    header: &BatchHeader,
    batch: &[u8],
    exact: bool,
) -> Result<Option<DeltaSpan>, AppendError> {
    if !verify_crc(batch) {
        return Err(corrupt("CRC32C mismatch"));
    }
    if exact {
        // A client's batch: Kafka's LogValidator answers INVALID_RECORD (which clients do not retry),
        // with no per-record errors, for an empty offset range, a records count below one, or a count
        // that does not match the offset range.
        if header.last_offset_delta < 0
            || header.records_count <= 0
            || header.last_offset_delta != header.records_count - 1
        {
            return Err(AppendError::InvalidRecord(Vec::new()));
        }
    } else if header.records_count < 0
        || header.last_offset_delta < 0
        || header.last_offset_delta < header.records_count - 1
    {
        return Err(corrupt(format!(
            "lastOffsetDelta {} does not match records count {}",
            header.last_offset_delta, header.records_count
        )));
    }
    if header.compression() > MAX_CODEC {
        return Err(corrupt(format!(
            "unknown compression codec {}",
            header.compression()
        )));
    }
    if header.compression() == 0 {
        let mut count: i64 = 0;
        let mut span = DeltaSpan {
            min: i64::MAX,
            max: i64::MIN,
        };
        for record in RecordIter::new(&batch[HEADER_LEN..]) {
            let record = record.map_err(corrupt)?;
            span.min = span.min.min(record.timestamp_delta);
            span.max = span.max.max(record.timestamp_delta);
            count += 1;
        }
        if count != i64::from(header.records_count) {
            return Err(corrupt(format!(
                "records section holds {count} records, header says {}",
                header.records_count
            )));
        }
        return Ok(Some(span));
    }
    Ok(None)
}

/// Writes `base_offset` into the batch header (bytes 0..8, not covered by the CRC).
pub(crate) fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    batch[0..8].copy_from_slice(&base_offset.to_be_bytes());
}

/// Writes `partitionLeaderEpoch` into the batch header (bytes 12..16, not covered by the CRC).
pub(crate) fn set_partition_leader_epoch(batch: &mut [u8], leader_epoch: i32) {
    batch[LEADER_EPOCH_OFFSET..LEADER_EPOCH_OFFSET + 4]
        .copy_from_slice(&leader_epoch.to_be_bytes());
}

/// Recomputes the CRC32C of one whole batch after an edit of its CRC-covered bytes.
pub(crate) fn recompute_crc(batch: &mut [u8]) {
    let crc = crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..]);
    batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Appends to `out` the batch `batch` (one whole batch) with `records` in place of its records
/// section, compressed with `codec`: the codec bits of the attributes, `batchLength` and the CRC
/// are rewritten, every other header field is kept (offsets, timestamps, producer fields, count).
pub(crate) fn write_with_records(out: &mut Vec<u8>, batch: &[u8], codec: u8, records: &[u8]) {
    let start = out.len();
    out.extend_from_slice(&batch[..HEADER_LEN]);
    out.extend_from_slice(records);
    let b = &mut out[start..];
    let length = i32::try_from(b.len() - LOG_OVERHEAD).unwrap_or(i32::MAX);
    b[8..12].copy_from_slice(&length.to_be_bytes());
    let attributes = (i16::from_be_bytes(array(b, ATTRIBUTES_OFFSET)) & !7) | i16::from(codec);
    b[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attributes.to_be_bytes());
    recompute_crc(b);
}

/// Marks the batch LogAppendTime with `max_timestamp = now_ms` and recomputes the CRC, as Kafka's
/// `DefaultRecordBatch.setMaxTimestamp` does.
pub(crate) fn set_log_append_time(batch: &mut [u8], now_ms: i64) {
    let attributes = i16::from_be_bytes(array(batch, ATTRIBUTES_OFFSET)) | TIMESTAMP_TYPE_BIT;
    batch[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attributes.to_be_bytes());
    batch[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8].copy_from_slice(&now_ms.to_be_bytes());
    let crc = crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..]);
    batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
}

/// A transaction marker: the single record of a control batch that ends a transaction (Kafka's
/// `EndTransactionMarker`; key = version 0 + type, ABORT 0 / COMMIT 1; value = version 0 +
/// coordinator epoch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlMarker {
    pub commit: bool,
    pub coordinator_epoch: i32,
}

/// Control record type of an aborted transaction's marker (Kafka `ControlRecordType.ABORT`).
const CONTROL_TYPE_ABORT: i16 = 0;
/// Control record type of a committed transaction's marker (Kafka `ControlRecordType.COMMIT`).
const CONTROL_TYPE_COMMIT: i16 = 1;

/// The transaction marker of one whole control batch, or None when `batch` is not a control batch,
/// holds no record (the cleaner emptied it) or holds another control type (e.g. KRaft's leader
/// change). Control batches are written uncompressed; a compressed one is decoded.
pub fn parse_control_marker(header: &BatchHeader, batch: &[u8]) -> Option<ControlMarker> {
    if !header.is_control() || header.records_count < 1 {
        return None;
    }
    let (key, value) = if header.compression() == 0 {
        let body = batch.get(HEADER_LEN..)?;
        let mut p = 0;
        read_varint(body, &mut p).ok()?; // record length
        p += 1; // attributes
        read_varlong(body, &mut p).ok()?; // timestamp delta
        read_varint(body, &mut p).ok()?; // offset delta
        let key_len = usize::try_from(read_varint(body, &mut p).ok()?).ok()?;
        let key = body.get(p..p + key_len)?.to_vec();
        p += key_len;
        let value_len = read_varint(body, &mut p).ok()?;
        let value = usize::try_from(value_len)
            .ok()
            .and_then(|n| body.get(p..p + n))
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        (key, value)
    } else {
        let record = decode_batch(batch).ok()?.into_iter().next()?;
        (
            record.key?.to_vec(),
            record.value.map(|v| v.to_vec()).unwrap_or_default(),
        )
    };
    if key.len() < 4 {
        return None;
    }
    let kind = i16::from_be_bytes([key[2], key[3]]);
    let commit = match kind {
        CONTROL_TYPE_ABORT => false,
        CONTROL_TYPE_COMMIT => true,
        _ => return None,
    };
    // A marker written without its value (never by Kafka) counts as coordinator epoch -1.
    let coordinator_epoch = if value.len() >= 6 {
        i32::from_be_bytes([value[2], value[3], value[4], value[5]])
    } else {
        -1
    };
    Some(ControlMarker {
        commit,
        coordinator_epoch,
    })
}

/// Encodes the control batch a partition leader appends for WriteTxnMarkers: transactional and
/// control attribute bits, `producer_id` / `producer_epoch`, no sequence, one uncompressed record
/// at offset delta 0 whose key is (version 0, ABORT or COMMIT) and value (version 0, coordinator
/// epoch), CreateTime `timestamp_ms`. Base offset and leader epoch are left 0 for the log to set.
pub fn encode_control_batch(
    producer_id: i64,
    producer_epoch: i16,
    marker: ControlMarker,
    timestamp_ms: i64,
) -> Vec<u8> {
    let kind = if marker.commit {
        CONTROL_TYPE_COMMIT
    } else {
        CONTROL_TYPE_ABORT
    };
    // Record body: attributes, timestampDelta 0, offsetDelta 0, key (4 bytes), value (6 bytes),
    // no headers; every varint here is one byte (zigzag: 4 -> 8, 6 -> 12, 16 -> 32).
    let mut record = vec![0u8, 0, 0, 8, 0, 0];
    record.extend_from_slice(&kind.to_be_bytes());
    record.push(12);
    record.extend_from_slice(&0i16.to_be_bytes());
    record.extend_from_slice(&marker.coordinator_epoch.to_be_bytes());
    record.push(0);
    let total = HEADER_LEN + 1 + record.len();
    let mut b = Vec::with_capacity(total);
    b.extend_from_slice(&0i64.to_be_bytes());
    b.extend_from_slice(&((total - LOG_OVERHEAD) as i32).to_be_bytes());
    b.extend_from_slice(&0i32.to_be_bytes());
    b.push(2);
    b.extend_from_slice(&0u32.to_be_bytes());
    b.extend_from_slice(&(TRANSACTIONAL_BIT | CONTROL_BIT).to_be_bytes());
    b.extend_from_slice(&0i32.to_be_bytes()); // lastOffsetDelta
    b.extend_from_slice(&timestamp_ms.to_be_bytes());
    b.extend_from_slice(&timestamp_ms.to_be_bytes());
    b.extend_from_slice(&producer_id.to_be_bytes());
    b.extend_from_slice(&producer_epoch.to_be_bytes());
    b.extend_from_slice(&(-1i32).to_be_bytes()); // baseSequence
    b.extend_from_slice(&1i32.to_be_bytes()); // recordsCount
    b.push((record.len() as u8) << 1);
    b.extend_from_slice(&record);
    recompute_crc(&mut b);
    b
}

/// `batch` (one whole uncompressed batch, e.g. a transaction marker) rewritten with the KIP-534
/// delete horizon `horizon_ms`, as Kafka's cleaner writes a marker whose transaction has no data
/// left: attribute bit 6 set, base timestamp = horizon, each record's timestamp delta re-encoded
/// against it (record timestamps, max timestamp, offsets and producer fields unchanged), new
/// length and CRC. None for a compressed batch or records that do not parse.
pub(crate) fn with_delete_horizon(
    h: &BatchHeader,
    batch: &[u8],
    horizon_ms: i64,
) -> Option<Vec<u8>> {
    if h.compression() != 0 {
        return None;
    }
    let body = batch.get(HEADER_LEN..)?;
    let mut records = Vec::with_capacity(body.len() + 8);
    let mut p = 0;
    for _ in 0..h.records_count.max(0) {
        let len = usize::try_from(read_varint(body, &mut p).ok()?).ok()?;
        let record = body.get(p..p + len)?;
        p += len;
        let mut q = 1; // attributes
        let delta = read_varlong(record, &mut q).ok()?;
        let timestamp = h.base_timestamp.checked_add(delta)?;
        let mut rewritten = vec![*record.first()?];
        write_varlong(&mut rewritten, timestamp.checked_sub(horizon_ms)?);
        rewritten.extend_from_slice(record.get(q..)?);
        write_varlong(&mut records, i64::try_from(rewritten.len()).ok()?);
        records.extend_from_slice(&rewritten);
    }
    if p != body.len() {
        return None;
    }
    let mut out = Vec::with_capacity(HEADER_LEN + records.len());
    out.extend_from_slice(&batch[..HEADER_LEN]);
    out.extend_from_slice(&records);
    let batch_length = i32::try_from(out.len() - LOG_OVERHEAD).ok()?;
    out[8..12].copy_from_slice(&batch_length.to_be_bytes());
    out[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2]
        .copy_from_slice(&(h.attributes | DELETE_HORIZON_BIT).to_be_bytes());
    out[27..35].copy_from_slice(&horizon_ms.to_be_bytes());
    recompute_crc(&mut out);
    Some(out)
}

/// Appends `v` as a zigzag varlong (a varint's encoding for values that fit 32 bits).
fn write_varlong(out: &mut Vec<u8>, v: i64) {
    let mut u = ((v << 1) ^ (v >> 63)) as u64;
    while u >= 0x80 {
        out.push((u as u8 & 0x7f) | 0x80);
        u >>= 7;
    }
    out.push(u as u8);
}

/// Decodes (and decompresses) one whole v2 batch.
pub(crate) fn decode_batch(bytes: &[u8]) -> io::Result<Vec<Record>> {
    let mut buf = Bytes::copy_from_slice(bytes);
    RecordBatchDecoder::decode(&mut buf)
        .map(|set| set.records)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
}

/// The fields of an uncompressed record the log needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RecordInfo {
    pub(crate) timestamp_delta: i64,
    pub(crate) offset_delta: i32,
    /// The key is null (length -1).
    pub(crate) key_null: bool,
}

/// Walks the records section of an uncompressed batch, checking each record's framing: varint
/// length, then attributes, timestampDelta, offsetDelta, key, value and headers filling exactly
/// that length.
pub(crate) struct RecordIter<'a> {
    buf: &'a [u8],
    pos: usize,
    failed: bool,
}

impl<'a> RecordIter<'a> {
    pub(crate) fn new(records_section: &'a [u8]) -> Self {
        RecordIter {
            buf: records_section,
            pos: 0,
            failed: false,
        }
    }

    fn parse_one(&mut self) -> Result<RecordInfo, String> {
        let len = read_varint(self.buf, &mut self.pos)?;
        if len < 0 {
            return Err(format!("negative record length {len}"));
        }
        let end = self
            .pos
            .checked_add(len as usize)
            .filter(|end| *end <= self.buf.len())
            .ok_or_else(|| format!("record of {len} bytes runs past the batch"))?;
        let body = &self.buf[self.pos..end];
        self.pos = end;
        let mut p = 1; // attributes (unused in v2)
        if body.is_empty() {
            return Err("empty record".to_string());
        }
        let timestamp_delta = read_varlong(body, &mut p)?;
        let offset_delta = read_varint(body, &mut p)?;
        let key_null = body.get(p) == Some(&1); // zigzag varint -1
        skip_bytes(body, &mut p, -1, "key")?;
        skip_bytes(body, &mut p, -1, "value")?;
        let headers = read_varint(body, &mut p)?;
        if headers < 0 {
            return Err(format!("negative header count {headers}"));
        }
        for _ in 0..headers {
            skip_bytes(body, &mut p, 0, "header key")?;
            skip_bytes(body, &mut p, -1, "header value")?;
        }
        if p != body.len() {
            return Err(format!("record length {len} but its fields take {p} bytes"));
        }
        Ok(RecordInfo {
            timestamp_delta,
            offset_delta,
            key_null,
        })
    }
}

impl Iterator for RecordIter<'_> {
    type Item = Result<RecordInfo, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.buf.len() {
            return None;
        }
        let r = self.parse_one();
        if r.is_err() {
            self.failed = true;
        }
        Some(r)
    }
}

/// Skips a varint-length-prefixed byte string; `min_len` is -1 where null is allowed, else 0.
#[inline]
fn skip_bytes(buf: &[u8], pos: &mut usize, min_len: i32, what: &str) -> Result<(), String> {
    let len = read_varint(buf, pos)?;
    if len < min_len {
        return Err(format!("invalid {what} length {len}"));
    }
    if len > 0 {
        let end = pos
            .checked_add(len as usize)
            .filter(|end| *end <= buf.len())
            .ok_or_else(|| format!("{what} of {len} bytes runs past the record"))?;
        *pos = end;
    }
    Ok(())
}

#[inline]
fn read_unsigned_varint(buf: &[u8], pos: &mut usize, max_bytes: u32) -> Result<u64, String> {
    // Most varints in a record (lengths, small deltas, header counts) fit in one byte: take that path without
    // the loop. This walk runs over every produced record, so it is on the produce hot path.
    if let Some(&b) = buf.get(*pos) {
        if b & 0x80 == 0 {
            *pos += 1;
            return Ok(u64::from(b));
        }
        // Two bytes: zigzag lengths of 64..8191 bytes (a 100-byte value, a 1 KiB record).
        if let Some(&b2) = buf.get(*pos + 1) {
            if b2 & 0x80 == 0 {
                *pos += 2;
                return Ok(u64::from(b & 0x7f) | (u64::from(b2) << 7));
            }
        }
    }
    read_unsigned_varint_slow(buf, pos, max_bytes)
}

#[cold]
fn read_unsigned_varint_slow(buf: &[u8], pos: &mut usize, max_bytes: u32) -> Result<u64, String> {
    let mut value: u64 = 0;
    for i in 0..max_bytes {
        let b = *buf.get(*pos).ok_or("truncated varint")?;
        *pos += 1;
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("varint too long".to_string())
}

/// Zigzag varint (Kafka `ByteUtils.readVarint`).
#[inline]
pub(crate) fn read_varint(buf: &[u8], pos: &mut usize) -> Result<i32, String> {
    let v = read_unsigned_varint(buf, pos, 5)?;
    if v > u64::from(u32::MAX) {
        return Err("varint overflows 32 bits".to_string());
    }
    let v = v as u32;
    Ok(((v >> 1) as i32) ^ -((v & 1) as i32))
}

/// Zigzag varlong (Kafka `ByteUtils.readVarlong`).
pub(crate) fn read_varlong(buf: &[u8], pos: &mut usize) -> Result<i64, String> {
    let v = read_unsigned_varint(buf, pos, 10)?;
    Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zigzag(v: i64) -> Vec<u8> {
        let mut u = ((v << 1) ^ (v >> 63)) as u64;
        let mut out = Vec::new();
        loop {
            if u < 0x80 {
                out.push(u as u8);
                return out;
            }
            out.push((u as u8 & 0x7f) | 0x80);
            u >>= 7;
        }
    }

    #[test]
    fn varints_round_trip() {
        for v in [
            0i64,
            1,
            -1,
            63,
            -64,
            64,
            300,
            i32::MAX as i64,
            i32::MIN as i64,
        ] {
            let b = zigzag(v);
            let mut p = 0;
            assert_eq!(read_varint(&b, &mut p).unwrap() as i64, v);
            assert_eq!(p, b.len());
        }
        for v in [i64::MAX, i64::MIN, 1 << 40] {
            let b = zigzag(v);
            let mut p = 0;
            assert_eq!(read_varlong(&b, &mut p).unwrap(), v);
        }
        let mut p = 0;
        assert!(read_varint(&[0x80, 0x80], &mut p).is_err());
        let mut p = 0;
        assert!(read_varint(&[0xff; 6], &mut p).is_err());
    }

    #[test]
    fn last_sequence_wraps_to_zero() {
        let mut h = BatchHeader {
            base_offset: 0,
            batch_length: 49,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: 2,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id: 1,
            producer_epoch: 0,
            base_sequence: i32::MAX - 1,
            records_count: 3,
        };
        assert_eq!(h.last_sequence(), 0);
        h.base_sequence = 5;
        assert_eq!(h.last_sequence(), 7);
    }

    #[test]
    fn control_batch_round_trip() {
        for commit in [true, false] {
            let marker = ControlMarker {
                commit,
                coordinator_epoch: 7,
            };
            let b = encode_control_batch(42, 3, marker, 1_700_000_000_000);
            let h = BatchHeader::parse(&b).unwrap();
            assert_eq!(h.total_len(), b.len());
            assert!(h.is_control() && h.is_transactional());
            assert_eq!(
                (h.producer_id, h.producer_epoch, h.base_sequence),
                (42, 3, -1)
            );
            validate(&h, &b, 1 << 20).unwrap();
            assert_eq!(parse_control_marker(&h, &b), Some(marker));
            // kafka-protocol's decoder reads it as Kafka's control record.
            let records = decode_batch(&b).unwrap();
            assert_eq!(records.len(), 1);
            assert!(records[0].control && records[0].transactional);
            let key = records[0].key.clone().unwrap();
            assert_eq!(&key[..], &[0, 0, 0, u8::from(commit)]);
        }
    }

    #[test]
    fn parse_rejects_short_and_old_magic() {
        assert!(matches!(
            BatchHeader::parse(&[0u8; 10]),
            Err(AppendError::CorruptMessage(_))
        ));
        let mut b = [0u8; 61];
        b[16] = 1;
        assert!(matches!(
            BatchHeader::parse(&b),
            Err(AppendError::UnsupportedMagic(1))
        ));
        b[16] = 2;
        // batch_length 0 is smaller than the header
        assert!(matches!(
            BatchHeader::parse(&b),
            Err(AppendError::CorruptMessage(_))
        ));
        b[8..12].copy_from_slice(&49i32.to_be_bytes());
        let h = BatchHeader::parse(&b).unwrap();
        assert_eq!(h.total_len(), 61);
    }
}
