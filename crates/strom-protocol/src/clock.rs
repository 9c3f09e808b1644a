//! The one wall-clock helper: Kafka timestamps (record timestamps, session deadlines, retention cut-offs) are
//! milliseconds since the Unix epoch. Pure state machines (the group coordinator, the controller) never call
//! this; the runtime around them reads the clock here and passes `now` in. It does not own monotonic time:
//! deadlines inside one process use `tokio::time::Instant`.

use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock milliseconds since the Unix epoch; 0 if the clock is set before 1970, `i64::MAX` past year
/// 292 million.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    #[test]
    fn now_is_after_2020() {
        // 2020-01-01T00:00:00Z; a clock earlier than this is a broken host, not a Kafka timestamp.
        assert!(super::now_ms() > 1_577_836_800_000);
    }
}
