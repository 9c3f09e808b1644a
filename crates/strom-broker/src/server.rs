//! The accept loop. `run` takes an already-bound listener and a shutdown future (so tests bind port 0), spawns
//! one task per connection, and on shutdown stops accepting, tells connections to finish, waits for them
//! briefly, then shuts the broker down (logs flushed and closed, clean-shutdown marker written).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use crate::broker::Broker;
use crate::connection;

/// Serves connections until `shutdown` resolves, then stops the broker cleanly.
pub async fn run(listener: TcpListener, broker: Arc<Broker>, shutdown: impl Future<Output = ()>) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    debug!(%peer, "connection accepted");
                    connections.spawn(connection::serve(stream, Arc::clone(&broker), stop_rx.clone()));
                }
                // Running out of file descriptors must not end the broker: back off and keep serving.
                Err(e) => {
                    warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            () = &mut shutdown => break,
        }
    }
    // Leaderships move away while open connections are still served (Kafka's controlled shutdown).
    broker.prepare_shutdown().await;
    info!("shutting down: closing {} connections", connections.len());
    let _ = stop_tx.send(true);
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(5), drain)
        .await
        .is_err()
    {
        warn!("connections did not finish in 5 s; aborting them");
        connections.abort_all();
    }
    broker.shutdown().await;
}
