//! The one background-task loop of the broker (Kafka's `KafkaScheduler.schedule`): run a step every
//! `period`, and also whenever an optional [`Notify`] fires, until shutdown. Used by the broker's retention,
//! flush and ISR tasks and the group coordinator's timer. What each step does stays with its owner.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

/// Spawns `step` to run at once and then every `period` (a late tick is delayed, never bunched), and also each
/// time `wake` is notified, until `stop` changes or its sender is dropped. Steps never overlap.
pub(crate) fn spawn_periodic<F, Fut>(
    name: &'static str,
    period: Duration,
    wake: Option<Arc<Notify>>,
    mut stop: watch::Receiver<bool>,
    mut step: F,
) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => step().await,
                () = notified(wake.as_deref()) => step().await,
                _ = stop.changed() => break,
            }
        }
        tracing::debug!(task = name, "background task stopped");
    })
}

/// Resolves when `wake` is notified; never without one.
async fn notified(wake: Option<&Notify>) {
    match wake {
        Some(wake) => wake.notified().await,
        None => std::future::pending().await,
    }
}
