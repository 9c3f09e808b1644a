//! The Kafka wire format as Strom speaks it: size-limited framing, request header + body decoding and response
//! encoding, built on the `kafka-protocol` crate. No I/O and no tokio: callers hand in bytes and get bytes back,
//! so the same code serves the broker, the client and the fuzz targets.

pub mod clock;
pub mod error;
pub mod frame;
pub mod request;
pub mod response;

pub use error::{DecodeError, FrameError};
pub use frame::FrameDecoder;
pub use kafka_protocol;
pub use request::{decode_request, Decoded, Request};
pub use response::{encode_response, placeholder, Gap};
