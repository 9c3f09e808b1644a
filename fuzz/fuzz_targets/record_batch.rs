//! Fuzz target: arbitrary bytes as the records section of a Produce request or the tail of a segment file. The
//! storage crate's batch splitter and CRC check (what the broker runs on every append and on recovery) and
//! kafka-protocol's full record decoder (decompression included) must reject garbage without panicking.

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use strom_protocol::kafka_protocol::records::RecordBatchDecoder;
use strom_storage::batch::{iter_batches, verify_crc};

fuzz_target!(|data: &[u8]| {
    for batch in iter_batches(data) {
        let Ok((header, bytes)) = batch else { break };
        let _ = verify_crc(bytes);
        let _ = (
            header.last_offset(),
            header.compression(),
            header.is_control(),
        );
    }
    let mut buf = Bytes::copy_from_slice(data);
    let _ = RecordBatchDecoder::decode(&mut buf);
});
