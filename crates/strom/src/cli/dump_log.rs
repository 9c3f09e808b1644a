//! `strom dump-log`, after `kafka-dump-log`: prints the record batches of one segment file (`<base>.log`),
//! optionally their records, and optionally checks the segment's `.index` and `.timeindex` against the batches.
//!
//! Reads files only (works on a stopped broker's data or a copy); never writes. Batch headers and CRCs come
//! from strom-storage's public `batch` module, records from kafka-protocol's decoder. The index entry formats
//! (big-endian: offset index = relative offset u32 + position u32; time index = timestamp i64 + relative
//! offset u32) are Kafka's and are read here directly.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use bytes::Bytes;
use kafka_protocol::records::RecordBatchDecoder;
use strom_storage::batch::{self, BatchHeader, HEADER_LEN};

/// Print a segment file's batches (and records), and check its indexes.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Segment file to read: `<partition dir>/<base offset>.log`.
    segment: PathBuf,

    /// Also decode and print every record (decompressing as needed).
    #[arg(long)]
    print_records: bool,

    /// Check that every `.index` entry points at a batch boundary with the right offset and every
    /// `.timeindex` entry at a batch holding that timestamp.
    #[arg(long)]
    verify_index: bool,
}

/// What the index check needs to know about one batch.
#[derive(Clone, Copy)]
struct BatchSpan {
    position: u64,
    base_offset: i64,
    last_offset: i64,
    max_timestamp: i64,
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match dump(&args, &mut out).and_then(|problems| {
        out.flush()?;
        Ok(problems)
    }) {
        Ok(problems) if problems.is_empty() => Ok(()),
        Ok(problems) => {
            for p in &problems {
                eprintln!("problem: {p}");
            }
            bail!("{} problem(s) found", problems.len())
        }
        // `strom dump-log … | head` is normal use: stop quietly when the reader goes away.
        Err(e)
            if e.downcast_ref::<io::Error>()
                .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe) =>
        {
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Writes the dump to `out` and returns the problems found (bad batches, CRC mismatches, index errors).
fn dump(args: &Args, out: &mut impl Write) -> anyhow::Result<Vec<String>> {
    let file =
        File::open(&args.segment).with_context(|| format!("opening {}", args.segment.display()))?;
    let size = file.metadata()?.len();
    writeln!(out, "Dumping {}", args.segment.display())?;
    let mut spans: Vec<BatchSpan> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    let mut pos: u64 = 0;
    let mut header_buf = [0u8; HEADER_LEN];
    while pos < size {
        let available = usize::try_from((size - pos).min(HEADER_LEN as u64))?;
        file.read_exact_at(&mut header_buf[..available], pos)?;
        let header = match BatchHeader::parse(&header_buf[..available]) {
            Ok(h) => h,
            Err(e) => {
                problems.push(format!(
                    "position {pos}: {e}; {} bytes left unread",
                    size - pos
                ));
                break;
            }
        };
        let len = header.total_len() as u64;
        if pos + len > size {
            problems.push(format!(
                "position {pos}: batch of {len} bytes runs past the end of the file ({} bytes left)",
                size - pos
            ));
            break;
        }
        let mut bytes = vec![0u8; usize::try_from(len)?];
        file.read_exact_at(&mut bytes, pos)?;
        let crc_valid = batch::verify_crc(&bytes);
        if !crc_valid {
            problems.push(format!(
                "position {pos}: CRC mismatch (base offset {})",
                header.base_offset
            ));
        }
        print_batch(out, &header, pos, crc_valid)?;
        if args.print_records {
            print_records(out, bytes)?;
        }
        spans.push(BatchSpan {
            position: pos,
            base_offset: header.base_offset,
            last_offset: header.last_offset(),
            max_timestamp: header.max_timestamp,
        });
        pos += len;
    }
    writeln!(out, "{} batches, {size} bytes", spans.len())?;

    if args.verify_index {
        let base = segment_base(&args.segment, &spans)?;
        problems.extend(verify_offset_index(
            out,
            &args.segment.with_extension("index"),
            base,
            &spans,
        )?);
        problems.extend(verify_time_index(
            out,
            &args.segment.with_extension("timeindex"),
            base,
            &spans,
        )?);
    }
    Ok(problems)
}

fn compression_name(codec: u8) -> &'static str {
    match codec {
        0 => "none",
        1 => "gzip",
        2 => "snappy",
        3 => "lz4",
        4 => "zstd",
        _ => "unknown",
    }
}

fn print_batch(
    out: &mut impl Write,
    h: &BatchHeader,
    position: u64,
    crc_valid: bool,
) -> io::Result<()> {
    writeln!(
        out,
        "baseOffset: {} lastOffset: {} count: {} baseSequence: {} lastSequence: {} producerId: {} \
         producerEpoch: {} partitionLeaderEpoch: {} isTransactional: {} isControl: {} position: {position} \
         {}: {} baseTimestamp: {} size: {} magic: {} compresscodec: {} crc: {} isvalid: {crc_valid}",
        h.base_offset,
        h.last_offset(),
        h.records_count,
        h.base_sequence,
        if h.base_sequence < 0 {
            -1
        } else {
            h.base_sequence.wrapping_add(h.last_offset_delta)
        },
        h.producer_id,
        h.producer_epoch,
        h.partition_leader_epoch,
        h.is_transactional(),
        h.is_control(),
        match h.timestamp_type() {
            strom_storage::TimestampType::CreateTime => "CreateTime",
            strom_storage::TimestampType::LogAppendTime => "LogAppendTime",
        },
        h.max_timestamp,
        h.base_timestamp,
        h.total_len(),
        h.magic,
        compression_name(h.compression()),
        h.crc,
    )
}

fn print_records(out: &mut impl Write, bytes: Vec<u8>) -> io::Result<()> {
    let mut buf = Bytes::from(bytes);
    match RecordBatchDecoder::decode(&mut buf) {
        Ok(set) => {
            for r in set.records {
                let key = r.key.as_deref().map(|k| k.escape_ascii().to_string());
                let value = r.value.as_deref().map(|v| v.escape_ascii().to_string());
                let headers: Vec<String> = r
                    .headers
                    .iter()
                    .map(|(k, v)| {
                        let v = v
                            .as_deref()
                            .map_or("null".to_string(), |v| v.escape_ascii().to_string());
                        format!("{}={v}", k.as_str())
                    })
                    .collect();
                writeln!(
                    out,
                    "| offset: {} timestamp: {} keySize: {} valueSize: {} sequence: {} headerKeys: [{}] key: {} payload: {}",
                    r.offset,
                    r.timestamp,
                    r.key.as_ref().map_or(-1, |k| k.len() as i64),
                    r.value.as_ref().map_or(-1, |v| v.len() as i64),
                    r.sequence,
                    headers.join(","),
                    key.as_deref().unwrap_or("null"),
                    value.as_deref().unwrap_or("null"),
                )?;
            }
            Ok(())
        }
        Err(e) => writeln!(out, "| cannot decode records: {e}"),
    }
}

/// The segment's base offset from its file name (`00000000000000001234.log`), else its first batch.
fn segment_base(path: &Path, spans: &[BatchSpan]) -> anyhow::Result<i64> {
    if let Some(base) = path
        .file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.parse::<i64>().ok())
    {
        return Ok(base);
    }
    match spans.first() {
        Some(s) => Ok(s.base_offset),
        None => bail!(
            "cannot tell the base offset of {}: no numeric file name and no batches",
            path.display()
        ),
    }
}

/// Reads a whole index file; `None` when it does not exist.
fn read_index(
    out: &mut impl Write,
    path: &Path,
    entry_size: usize,
) -> anyhow::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    match File::open(path) {
        Ok(mut f) => f.read_to_end(&mut bytes)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            writeln!(
                out,
                "{}: missing (rebuilt by the broker when it opens the log)",
                path.display()
            )?;
            return Ok(None);
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    if bytes.len() % entry_size != 0 {
        bail!(
            "{}: {} bytes is not a whole number of {entry_size}-byte entries",
            path.display(),
            bytes.len()
        );
    }
    Ok(Some(bytes))
}

fn be_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_be_bytes(a)
}

/// Every offset-index entry must name the position of a batch whose base offset is `base + relative offset`,
/// with both increasing.
fn verify_offset_index(
    out: &mut impl Write,
    path: &Path,
    base: i64,
    spans: &[BatchSpan],
) -> anyhow::Result<Vec<String>> {
    let Some(bytes) = read_index(out, path, 8)? else {
        return Ok(Vec::new());
    };
    let by_position: BTreeMap<u64, i64> =
        spans.iter().map(|s| (s.position, s.base_offset)).collect();
    let mut problems = Vec::new();
    let mut prev: Option<(u32, u32)> = None;
    for (i, e) in bytes.chunks_exact(8).enumerate() {
        let (rel, position) = (be_u32(e), be_u32(&e[4..]));
        let offset = base + i64::from(rel);
        if prev.is_some_and(|(r, p)| rel <= r || position <= p) {
            problems.push(format!(
                "{}: entry {i} ({offset} → {position}) does not increase",
                path.display()
            ));
        }
        match by_position.get(&u64::from(position)) {
            Some(&b) if b == offset => {}
            Some(&b) => problems.push(format!(
                "{}: entry {i} says offset {offset} is at position {position}, but the batch there starts at {b}",
                path.display()
            )),
            None => problems.push(format!(
                "{}: entry {i} ({offset} → {position}) is not a batch boundary",
                path.display()
            )),
        }
        prev = Some((rel, position));
    }
    writeln!(
        out,
        "{}: {} entries checked",
        path.display(),
        bytes.len() / 8
    )?;
    Ok(problems)
}

/// Every time-index entry must name an offset inside a batch whose max timestamp is the entry's timestamp
/// (the batch that first reached it), with timestamps increasing.
fn verify_time_index(
    out: &mut impl Write,
    path: &Path,
    base: i64,
    spans: &[BatchSpan],
) -> anyhow::Result<Vec<String>> {
    let Some(bytes) = read_index(out, path, 12)? else {
        return Ok(Vec::new());
    };
    let mut problems = Vec::new();
    let mut prev_ts: Option<i64> = None;
    for (i, e) in bytes.chunks_exact(12).enumerate() {
        let mut t = [0u8; 8];
        t.copy_from_slice(&e[..8]);
        let timestamp = i64::from_be_bytes(t);
        let offset = base + i64::from(be_u32(&e[8..]));
        if prev_ts.is_some_and(|p| timestamp <= p) {
            problems.push(format!(
                "{}: entry {i} (timestamp {timestamp}) does not increase",
                path.display()
            ));
        }
        let at = spans.partition_point(|s| s.last_offset < offset);
        match spans.get(at) {
            Some(s) if s.base_offset <= offset && s.max_timestamp == timestamp => {}
            Some(s) if s.base_offset <= offset => problems.push(format!(
                "{}: entry {i} (timestamp {timestamp} at offset {offset}) points into a batch with max timestamp {}",
                path.display(),
                s.max_timestamp
            )),
            _ => problems.push(format!(
                "{}: entry {i} (timestamp {timestamp}) names offset {offset}, which no batch holds",
                path.display()
            )),
        }
        prev_ts = Some(timestamp);
    }
    writeln!(
        out,
        "{}: {} entries checked",
        path.display(),
        bytes.len() / 12
    )?;
    Ok(problems)
}
