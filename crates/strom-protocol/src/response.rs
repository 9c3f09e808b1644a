//! Response encoding: size prefix, response header (v0 or flexible v1 as the API version requires), body.
//! The kafka-protocol encoders already omit tagged fields that hold their default, which old librdkafka
//! (2.0.x, Debian 12's kcat) needs.
//!
//! Record bytes can travel by reference: a response built with [`placeholder`] bytes encodes to a frame with a
//! [`Gap`] where they go, which the connection fills straight from the segment file (sendfile), so fetched
//! records are never copied in user space.

use std::ops::Range;

use bytes::buf::UninitSlice;
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::buf::ByteBufMut;
use kafka_protocol::protocol::Encodable;

use crate::error::EncodeError;

/// Longest stand-in [`placeholder`] gives out.
pub const PLACEHOLDER_MAX: usize = 16 << 20;

/// Never read: encoding recognises slices of it by address and leaves a gap instead of copying them. Zeroed
/// static memory costs no resident memory while untouched.
static PLACEHOLDER: [u8; PLACEHOLDER_MAX] = [0; PLACEHOLDER_MAX];

/// Stand-in for `len` bytes (1..=PLACEHOLDER_MAX) that the writer supplies later: put it where record bytes
/// go, and [`encode_response`] reports a [`Gap`] for it.
pub fn placeholder(len: usize) -> Option<Bytes> {
    (len > 0 && len <= PLACEHOLDER_MAX).then(|| Bytes::from_static(&PLACEHOLDER[..len]))
}

/// `len` bytes the writer must send at position `at` of the encoded output (before the byte now at `at`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gap {
    pub at: usize,
    pub len: usize,
}

/// Appends one framed response to `out`; returns the gaps left for [`placeholder`] bytes, in encoding
/// order (the order of the partitions in the response), with `at` relative to the start of `out`.
pub fn encode_response(
    out: &mut BytesMut,
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &ResponseKind,
) -> Result<Vec<Gap>, EncodeError> {
    let start = out.len();
    let mut buf = GapBuf {
        out,
        gaps: Vec::new(),
    };
    let result = encode_at(&mut buf, start, api_key, version, correlation_id, body);
    let gaps = buf.gaps;
    match result {
        Ok(()) => Ok(gaps),
        Err(e) => {
            // Never leave half a response behind: the caller may still flush earlier responses.
            out.truncate(start);
            Err(e)
        }
    }
}

fn encode_at(
    buf: &mut GapBuf<'_>,
    start: usize,
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &ResponseKind,
) -> Result<(), EncodeError> {
    buf.put_i32(0);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    header
        .encode(buf, api_key.response_header_version(version))
        .map_err(EncodeError::codec)?;
    match body {
        // Only fetch responses carry placeholders; the enum's own encoder wants a plain BytesMut.
        ResponseKind::Fetch(fetch) => fetch.encode(buf, version),
        other => other.encode(buf.out, version),
    }
    .map_err(EncodeError::codec)?;
    let gap_bytes: usize = buf.gaps.iter().map(|g| g.len).sum();
    let size = i32::try_from(buf.out.len() - start - 4 + gap_bytes)
        .map_err(|_| EncodeError::TooLarge { what: "response" })?;
    buf.out[start..start + 4].copy_from_slice(&size.to_be_bytes());
    Ok(())
}

/// The output buffer, except that placeholder slices become gaps.
struct GapBuf<'a> {
    out: &'a mut BytesMut,
    gaps: Vec<Gap>,
}

// SAFETY: every method forwards to `BytesMut`'s sound implementation unchanged, except `put_slice`, which
// either forwards too or writes nothing (and so cannot break the capacity/initialisation contract).
#[allow(unsafe_code)]
unsafe impl BufMut for GapBuf<'_> {
    fn remaining_mut(&self) -> usize {
        self.out.remaining_mut()
    }

    unsafe fn advance_mut(&mut self, cnt: usize) {
        // SAFETY: the caller upholds `advance_mut`'s contract, which is the same for `BytesMut`.
        unsafe { self.out.advance_mut(cnt) }
    }

    fn chunk_mut(&mut self) -> &mut UninitSlice {
        self.out.chunk_mut()
    }

    fn put_slice(&mut self, src: &[u8]) {
        if !src.is_empty() && src.as_ptr() == PLACEHOLDER.as_ptr() {
            self.gaps.push(Gap {
                at: self.out.len(),
                len: src.len(),
            });
        } else {
            self.out.put_slice(src);
        }
    }
}

impl ByteBufMut for GapBuf<'_> {
    fn offset(&self) -> usize {
        self.out.offset()
    }

    fn seek(&mut self, offset: usize) {
        self.out.seek(offset);
    }

    fn range(&mut self, r: Range<usize>) -> &mut [u8] {
        self.out.range(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::ApiVersionsResponse;

    #[test]
    fn api_versions_v0_has_plain_header() {
        let mut out = BytesMut::new();
        let body = ResponseKind::ApiVersions(ApiVersionsResponse::default().with_error_code(35));
        let gaps = encode_response(&mut out, ApiKey::ApiVersions, 0, 9, &body).unwrap();
        // size=10: correlation id (4), error code (2), empty array (4).
        assert_eq!(out.as_ref(), &[0, 0, 0, 10, 0, 0, 0, 9, 0, 35, 0, 0, 0, 0]);
        assert!(gaps.is_empty());
    }

    /// A placeholder leaves a gap exactly where the same bytes would have been encoded, and the frame size
    /// counts them: filling the gap gives the ordinary encoding byte for byte.
    #[test]
    fn placeholder_records_leave_a_gap_the_size_counts() {
        use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
        use kafka_protocol::messages::FetchResponse;
        let records = Bytes::from(vec![7u8; 300]);
        let response = |records: Bytes| {
            ResponseKind::Fetch(FetchResponse::default().with_responses(vec![
                FetchableTopicResponse::default().with_partitions(vec![
                    PartitionData::default().with_records(Some(records.clone())),
                    PartitionData::default()
                        .with_partition_index(1)
                        .with_records(Some(records)),
                ]),
            ]))
        };
        let mut plain = BytesMut::new();
        let none =
            encode_response(&mut plain, ApiKey::Fetch, 12, 5, &response(records.clone())).unwrap();
        assert!(none.is_empty());
        let mut gapped = BytesMut::from(&b"earlier"[..]);
        let gaps = encode_response(
            &mut gapped,
            ApiKey::Fetch,
            12,
            5,
            &response(placeholder(300).unwrap()),
        )
        .unwrap();
        assert_eq!(gaps.len(), 2);
        let mut filled = Vec::new();
        let mut from = 7;
        for g in &gaps {
            filled.extend_from_slice(&gapped[from..g.at]);
            filled.extend_from_slice(&records);
            from = g.at;
        }
        filled.extend_from_slice(&gapped[from..]);
        assert_eq!(filled, plain.as_ref());
        assert!(placeholder(0).is_none());
        assert!(placeholder(PLACEHOLDER_MAX + 1).is_none());
    }
}
