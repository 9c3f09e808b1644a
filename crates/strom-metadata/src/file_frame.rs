//! On-disk framing shared by the metadata files: `[len: u32 LE][crc32c: u32 LE][json payload]`
//! frames, and whole-file replacement by write-to-temp + fsync + rename + fsync of the directory.
//! Owns no knowledge of what the payloads mean, and no network framing (net.rs frames the
//! CONTROLLER listener's messages; strom-protocol's frame.rs cuts Kafka requests).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::MetadataError;

/// Bytes before the payload: length then checksum.
pub(crate) const HEADER_LEN: usize = 8;

/// Refuses absurd lengths from a torn or garbage header instead of allocating them.
const MAX_FRAME_LEN: usize = 256 * 1024 * 1024;

/// Appends one frame holding `value` as JSON to `out`.
pub(crate) fn encode<T: Serialize>(value: &T, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    let payload = serde_json::to_vec(value)?;
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(())
}

/// What is at the start of a buffer.
#[derive(Debug)]
pub(crate) enum Decoded<T> {
    /// A whole, valid frame of this many bytes.
    Frame(T, usize),
    /// Nothing left.
    End,
    /// A frame cut short, failing its checksum or not parsing: the torn tail of a crashed write.
    Torn(String),
}

/// Decodes the frame at the start of `buf`.
pub(crate) fn decode<T: DeserializeOwned>(buf: &[u8]) -> Decoded<T> {
    if buf.is_empty() {
        return Decoded::End;
    }
    let Some((header, rest)) = buf.split_first_chunk::<HEADER_LEN>() else {
        return Decoded::Torn(format!("{} header bytes", buf.len()));
    };
    let [l0, l1, l2, l3, c0, c1, c2, c3] = *header;
    let len = u32::from_le_bytes([l0, l1, l2, l3]) as usize;
    let crc = u32::from_le_bytes([c0, c1, c2, c3]);
    if len > MAX_FRAME_LEN {
        return Decoded::Torn(format!("frame length {len} is implausible"));
    }
    let Some(payload) = rest.get(..len) else {
        return Decoded::Torn(format!("frame of {len} bytes has only {}", rest.len()));
    };
    if crc32c::crc32c(payload) != crc {
        return Decoded::Torn("checksum mismatch".to_string());
    }
    match serde_json::from_slice(payload) {
        Ok(value) => Decoded::Frame(value, HEADER_LEN + len),
        Err(e) => Decoded::Torn(format!("undecodable frame: {e}")),
    }
}

/// Replaces `path` with `bytes` so that a crash leaves either the old or the new file whole.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), MetadataError> {
    let tmp = path.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    };
    write().map_err(|e| MetadataError::io(&tmp, e))?;
    sync_parent(path)
}

/// Makes a rename or file creation in `path`'s directory durable.
pub(crate) fn sync_parent(path: &Path) -> Result<(), MetadataError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| MetadataError::io(dir, e))
}

/// Reads a file holding exactly one frame; `None` when it does not exist.
pub(crate) fn read_single<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, MetadataError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(MetadataError::io(path, e)),
    };
    match decode(&bytes) {
        Decoded::Frame(value, len) if len == bytes.len() => Ok(Some(value)),
        Decoded::Frame(..) => Err(MetadataError::corrupt(path, "trailing bytes")),
        Decoded::End => Err(MetadataError::corrupt(path, "empty file")),
        // Written atomically, so a bad frame here is damage, not a torn write.
        Decoded::Torn(reason) => Err(MetadataError::corrupt(path, reason)),
    }
}

/// Writes a file holding exactly one frame, atomically.
pub(crate) fn write_single<T: Serialize>(path: &Path, value: &T) -> Result<(), MetadataError> {
    let mut bytes = Vec::new();
    encode(value, &mut bytes).map_err(|e| MetadataError::corrupt(path, e.to_string()))?;
    write_atomically(path, &bytes)
}

/// Opens `path` for appending, creating it.
pub(crate) fn open_append(path: &Path) -> Result<File, MetadataError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(path)
        .map_err(|e| MetadataError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_detect_damage() {
        let mut buf = Vec::new();
        encode(&"hello", &mut buf).unwrap();
        let whole = buf.len();
        match decode::<String>(&buf) {
            Decoded::Frame(s, len) => assert_eq!((s.as_str(), len), ("hello", whole)),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decode::<String>(&buf[..whole - 1]),
            Decoded::Torn(_)
        ));
        assert!(matches!(decode::<String>(&buf[..3]), Decoded::Torn(_)));
        buf[HEADER_LEN + 1] ^= 0xff;
        assert!(matches!(decode::<String>(&buf), Decoded::Torn(_)));
        assert!(matches!(decode::<String>(&[]), Decoded::End));
    }
}
