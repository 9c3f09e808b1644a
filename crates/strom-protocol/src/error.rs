//! Errors of the wire layer. Every decoding one is connection-fatal: Kafka closes a connection whose frame it
//! cannot parse, and so do we. Encoding errors are ours (a field the chosen version cannot carry, a frame over
//! the i32 size limit, an empty record batch); the caller decides whether the connection survives them.
//! Per-partition problems are error codes inside responses, not these.

use thiserror::Error;

/// The length prefix of a frame cannot be honoured.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("frame size {size} is negative")]
    NegativeSize { size: i32 },
    #[error("frame size {size} exceeds the limit of {max} bytes (socket.request.max.bytes)")]
    TooLarge { size: usize, max: usize },
}

/// A complete frame whose contents are not a request we can read.
#[derive(Debug, Error)]
pub enum DecodeError {
    #[error("request of {len} bytes is too short for a request header")]
    TooShort { len: usize },
    #[error("unknown api key {api_key}")]
    UnknownApiKey { api_key: i16 },
    #[error("api key {api_key} version {api_version} is not supported")]
    UnsupportedVersion { api_key: i16, api_version: i16 },
    #[error("malformed request header: {0}")]
    Header(String),
    #[error("malformed {api} v{version} request body: {reason}")]
    Body {
        api: &'static str,
        version: i16,
        reason: String,
    },
}

/// A message, frame or record batch that cannot be encoded.
#[derive(Debug, Error)]
pub enum EncodeError {
    /// The kafka-protocol codec refused (for example a non-default field the version cannot carry). Displays the
    /// codec's own message only: callers add what they were encoding.
    #[error("{reason}")]
    Codec { reason: String },
    /// The encoded bytes do not fit a frame's or a batch's i32 length.
    #[error("{what} larger than 2 GiB")]
    TooLarge { what: &'static str },
    /// A v2 record batch holds at least one record.
    #[error("a record batch needs at least one record")]
    EmptyBatch,
}

impl EncodeError {
    /// Wraps a codec error (kafka-protocol's `anyhow::Error`, or any other message).
    pub(crate) fn codec(err: impl std::fmt::Display) -> Self {
        EncodeError::Codec {
            reason: format!("{err:#}"),
        }
    }
}
