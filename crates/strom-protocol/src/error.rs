//! Errors of the wire layer. Every one of them is connection-fatal: Kafka closes a connection whose frame it
//! cannot parse, and so do we. Per-partition problems are error codes inside responses, not these.

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
