//! Fuzz target: arbitrary bytes as a connection's input stream. Frames are cut with the broker's size-limited
//! `FrameDecoder`, and each frame goes through `decode_request` with every version kafka-protocol knows marked as
//! supported, so every codec is reachable. Nothing may panic or allocate beyond the frame; errors are fine.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use strom_protocol::kafka_protocol::messages::ApiKey;
use strom_protocol::{decode_request, FrameDecoder};

fuzz_target!(|data: &[u8]| {
    let decoder = FrameDecoder::new(1 << 20);
    let mut buf = BytesMut::from(data);
    while let Ok(Some(frame)) = decoder.decode(&mut buf) {
        let _ = decode_request(frame, |key: ApiKey| {
            let range = key.valid_versions();
            Some((range.min, range.max))
        });
    }
});
