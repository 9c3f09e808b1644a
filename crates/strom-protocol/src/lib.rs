//! The Kafka wire format as Strom speaks it: size-limited framing, request header + body decoding and response
//! encoding for the broker, request framing for the client, Kafka's API names and the one v2 record-batch
//! encoder, built on the `kafka-protocol` crate. No I/O and no tokio: callers hand in bytes and get bytes back,
//! so the same code serves the broker, the client and the fuzz targets.

pub mod clock;
pub mod error;
pub mod frame;
pub mod records;
pub mod request;
pub mod response;

pub use error::{DecodeError, EncodeError, FrameError};
pub use frame::{check_frame_size, FrameDecoder};
pub use kafka_protocol;
pub use request::{api_name, decode_request, encode_request_frame, Decoded, Request};
pub use response::{encode_response, placeholder, Gap};

use kafka_protocol::protocol::StrBytes;

/// A Kafka string field holding a copy of `s` (kafka-protocol's `StrBytes` owns its bytes).
pub fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}
