//! Dev-only support for Strom's end-to-end tests: real `strom` broker processes (spawn, SIGKILL, SIGTERM, SIGSTOP,
//! restart on the same port and data directory), multi-node clusters of them, rdkafka client helpers with
//! test-friendly settings, Kafka's murmur2 partitioner, checkers for acknowledged writes, for reads during
//! failures and for transactional histories, and raw Kafka wire frames for hostile-input tests.
//!
//! It deliberately knows nothing of the broker's internals: everything goes through the network or the data
//! directory on disk, exactly as a user's client or an operator would see it.

pub mod broker;
pub mod checker;
pub mod cluster;
pub mod history;
pub mod kafka;
pub mod txn_checker;
pub mod wire;

pub use broker::TestBroker;
pub use checker::ReadWriteChecker;
pub use cluster::TestCluster;
pub use history::AckHistory;
/// Kafka's keyed partitioner (murmur2), checked against Kafka's own test vectors in strom-client.
pub use strom_client::{murmur2, partition_for_key};
pub use txn_checker::TxnChecker;

use std::time::{Duration, Instant};

/// Polls `condition` until it returns `Some`, or fails after `timeout` with `what` in the message. Tests use this
/// instead of fixed sleeps, so a slow CI machine only makes them slower, never flaky.
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut condition: impl FnMut() -> anyhow::Result<Option<T>>,
) -> anyhow::Result<T> {
    let deadline = Instant::now() + timeout;
    let mut last_error = None;
    loop {
        match condition() {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => {}
            Err(e) => last_error = Some(e),
        }
        if Instant::now() >= deadline {
            return Err(match last_error {
                Some(e) => e.context(format!("timed out after {timeout:?} waiting for {what}")),
                None => anyhow::anyhow!("timed out after {timeout:?} waiting for {what}"),
            });
        }
        pause(Duration::from_millis(50));
    }
}

/// Polls `condition` until it returns `true`, or fails after `timeout` with `what` in the message (and the last
/// error `condition` returned, if any). [`wait_for`] for conditions without a value.
pub fn wait_until(
    what: &str,
    timeout: Duration,
    mut condition: impl FnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    wait_for(what, timeout, || Ok(condition()?.then_some(())))
}

/// Blocks the current (non-async) test thread. The workspace disallows `std::thread::sleep` because it would stall a
/// tokio worker; the harness is synchronous and never runs inside a runtime, so here it is the right tool.
#[allow(clippy::disallowed_methods)]
pub fn pause(duration: Duration) {
    std::thread::sleep(duration);
}
