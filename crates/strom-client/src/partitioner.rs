//! Kafka's default key partitioner: `Utils.murmur2` and `toPositive(hash) % partitions`, bit-for-bit as in the Java
//! client so keyed records land where every other Kafka producer would put them. Keyless placement (round-robin,
//! sticky) is the caller's choice and lives in the CLI.

/// Kafka's murmur2 (seed `0x9747b28c`), as `org.apache.kafka.common.utils.Utils.murmur2`.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;

    // Java's int is 32 bits; u32 with wrapping arithmetic has the same bits.
    let mut h: u32 = SEED ^ (data.len() as u32);
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    // The Java switch falls through from case 3 to case 1.
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition Kafka's default partitioner picks for a non-null key: `toPositive(murmur2(key)) % num_partitions`.
/// Returns 0 when `num_partitions` is not positive, so callers need no special case for an empty topic.
pub fn partition_for_key(key: &[u8], num_partitions: i32) -> i32 {
    if num_partitions <= 0 {
        return 0;
    }
    (murmur2(key) & 0x7fff_ffff) % num_partitions
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vectors from Kafka's `UtilsTest.testMurmur2` (clients/src/test/java/org/apache/kafka/common/utils).
    #[test]
    fn murmur2_matches_kafka_vectors() {
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ];
        for (input, expected) in cases {
            assert_eq!(
                murmur2(input),
                expected,
                "murmur2({:?})",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn partition_for_key_is_to_positive_mod_n() {
        // toPositive(-790332482) = 1357151166; 1357151166 % 16 = 14.
        assert_eq!(partition_for_key(b"foobar", 16), 14);
        assert_eq!(partition_for_key(b"abc", 7), 479_470_107 % 7);
        for n in 1..50 {
            let p = partition_for_key(b"21", n);
            assert!((0..n).contains(&p));
        }
        assert_eq!(partition_for_key(b"x", 0), 0);
    }
}
