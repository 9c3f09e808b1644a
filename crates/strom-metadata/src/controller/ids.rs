//! Kafka's ids: random uuids as Kafka makes and prints them (`Uuid.randomUuid`,
//! `Uuid.toString`), the cluster id written once into a fresh metadata log, and fresh topic ids.
//! Owns no records: topics.rs puts a topic id into its CreateTopic record, the node proposes the
//! cluster id.

use uuid::Uuid;

use crate::image::MetadataImage;

/// A fresh cluster id in Kafka's form: a random uuid as 22 characters of unpadded base64-url.
pub(crate) fn new_cluster_id() -> String {
    kafka_uuid_string(random_kafka_uuid())
}

/// Kafka's `Uuid.toString`: unpadded base64-url of the 16 bytes.
fn kafka_uuid_string(id: Uuid) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(22);
    for chunk in id.as_bytes().chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        // A chunk of k bytes carries k + 1 base64 characters when unpadded.
        for i in 0..=chunk.len() {
            let sextet = (n >> (18 - 6 * i)) & 0x3f;
            out.push(char::from(ALPHABET[sextet as usize]));
        }
    }
    out
}

/// Kafka's `Uuid.randomUuid`: never nil and never printing with a leading '-', which would
/// look like a command-line flag.
fn random_kafka_uuid() -> Uuid {
    loop {
        let id = Uuid::new_v4();
        if !id.is_nil() && !kafka_uuid_string(id).starts_with('-') {
            return id;
        }
    }
}

/// A fresh topic id (Kafka's `Uuid.randomUuid`) that no topic in `image` has.
pub(super) fn new_topic_id(image: &MetadataImage) -> Uuid {
    loop {
        let id = random_kafka_uuid();
        if !image.topic_ids.contains_key(&id) {
            return id;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_uuid_strings() {
        assert_eq!(kafka_uuid_string(Uuid::nil()), "AAAAAAAAAAAAAAAAAAAAAA");
        // Kafka: Uuid.fromString("vDxTkf58SrW7xtxD4l5oJQ") round-trips this uuid.
        let id = Uuid::from_u128(0xbc3c_5391_fe7c_4ab5_bbc6_dc43_e25e_6825);
        assert_eq!(kafka_uuid_string(id), "vDxTkf58SrW7xtxD4l5oJQ");
        let cluster_id = new_cluster_id();
        assert_eq!(cluster_id.len(), 22);
        assert!(!cluster_id.starts_with('-'));
    }
}
