//! Size-prefixed framing: a big-endian i32 length, then that many bytes. Splits frames off a read buffer
//! without copying; refuses a length above the configured limit before any of the body is buffered, so a
//! client announcing 2 GB costs us nothing. The same size rule ([`check_frame_size`]) serves the client, which
//! reads one response at a time straight off its socket. Writing frames is `request::encode_request_frame` and
//! `response::encode_response`.

use bytes::{Buf, Bytes, BytesMut};

use crate::error::FrameError;

/// Cuts complete frames off the front of a connection's read buffer.
#[derive(Debug, Clone, Copy)]
pub struct FrameDecoder {
    max_size: usize,
}

impl FrameDecoder {
    /// `max_size` is Kafka's `socket.request.max.bytes` (default 100 MiB).
    pub fn new(max_size: usize) -> Self {
        Self { max_size }
    }

    /// Returns the next complete frame (without its length prefix), `None` when more bytes are needed, or an
    /// error when the announced length is unacceptable; the caller should then close the connection.
    pub fn decode(&self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        if buf.len() < 4 {
            return Ok(None);
        }
        let size = check_frame_size(
            i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]),
            self.max_size,
        )?;
        if buf.len() < 4 + size {
            // Reserve once for the whole frame so large produce requests do not regrow the buffer repeatedly.
            buf.reserve(4 + size - buf.len());
            return Ok(None);
        }
        buf.advance(4);
        Ok(Some(buf.split_to(size).freeze()))
    }
}

/// The body length a frame's size prefix announces, or why it cannot be honoured (negative, or above `max`).
pub fn check_frame_size(size: i32, max: usize) -> Result<usize, FrameError> {
    let Ok(len) = usize::try_from(size) else {
        return Err(FrameError::NegativeSize { size });
    };
    if len > max {
        return Err(FrameError::TooLarge { size: len, max });
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &[u8], max: usize) -> String {
        let mut buf = BytesMut::from(input);
        match FrameDecoder::new(max).decode(&mut buf) {
            Ok(Some(frame)) => format!("frame={:?} rest={}", frame.as_ref(), buf.len()),
            Ok(None) => format!("incomplete rest={}", buf.len()),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn frames() {
        assert_eq!(check(&[0, 0], 10), "incomplete rest=2");
        assert_eq!(check(&[0, 0, 0, 2, 7], 10), "incomplete rest=5");
        assert_eq!(check(&[0, 0, 0, 2, 7, 8, 9], 10), "frame=[7, 8] rest=1");
        assert_eq!(check(&[0, 0, 0, 0], 10), "frame=[] rest=0");
        assert_eq!(
            check(&[0x7f, 0xff, 0xff, 0xff], 100),
            "error: frame size 2147483647 exceeds the limit of 100 bytes (socket.request.max.bytes)"
        );
        assert_eq!(
            check(&[0xff, 0xff, 0xff, 0xfe], 100),
            "error: frame size -2 is negative"
        );
    }
}
