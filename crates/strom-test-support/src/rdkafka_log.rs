//! librdkafka's log lines (rdkafka hands them to the `log` crate) printed to stderr with a timestamp, for the
//! occasional post-mortem with librdkafka's `debug` contexts switched on. Installed at most once per process.

use std::sync::Once;
use std::time::{SystemTime, UNIX_EPOCH};

struct Stderr;

impl log::Log for Stderr {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }

    fn log(&self, record: &log::Record) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        eprintln!(
            "[{}.{:03} {} {}] {}",
            now.as_secs(),
            now.subsec_millis(),
            record.level(),
            record.target(),
            record.args()
        );
    }

    fn flush(&self) {}
}

/// Sends every log record of this process to stderr from now on.
pub(crate) fn to_stderr() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if log::set_logger(&Stderr).is_ok() {
            log::set_max_level(log::LevelFilter::Debug);
        }
    });
}
