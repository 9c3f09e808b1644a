//! Property test: any sequence of batch sizes, appended over small segments, reads back from any
//! offset as the contiguous records from the batch holding that offset; also after a crash reopen.

use proptest::prelude::*;
use strom_storage::LogConfig;

use crate::common::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn append_then_read_from_random_offsets(
        sizes in prop::collection::vec((1usize..8, 0usize..300), 1..40),
        reads in prop::collection::vec((any::<prop::sample::Index>(), 1usize..3000), 1..20),
        segment_bytes in 600u64..5000,
        index_interval_bytes in 0u32..1000,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig { segment_bytes, index_interval_bytes, ..LogConfig::default() };
        let mut log = open(dir.path(), config.clone(), false);
        let mut expected = Vec::new();
        for (i, (count, pad)) in sizes.iter().enumerate() {
            let b = Spec::new(*count, NOW, &format!("b{i}")).padded(*pad).encode();
            log.append(&b, NOW).unwrap();
            for j in 0..*count {
                let mut v = format!("b{i}-{j}");
                while v.len() < *pad { v.push('.'); }
                expected.push(v);
            }
        }
        prop_assert_eq!(log.log_end_offset(), expected.len() as i64);
        for reopen in [false, true] {
            if reopen {
                drop(log);
                log = open(dir.path(), config.clone(), false);
            }
            for (index, max_bytes) in &reads {
                let offset = index.index(expected.len()) as i64;
                let data = log.read(offset, *max_bytes, i64::MAX, true).unwrap();
                let recs = decode(&data.records);
                prop_assert!(!recs.is_empty());
                prop_assert!(recs[0].offset <= offset);
                prop_assert!(data.records.len() <= *max_bytes || recs.iter().all(|r| r.value.starts_with(&recs[0].value[..recs[0].value.find('-').unwrap()])));
                for (k, r) in recs.iter().enumerate() {
                    prop_assert_eq!(r.offset, recs[0].offset + k as i64);
                    prop_assert_eq!(&r.value, &expected[r.offset as usize]);
                }
                prop_assert!(recs.last().unwrap().offset >= offset);
            }
        }
    }
}
