//! The `--bootstrap-server` argument group every subcommand that talks to a broker flattens in (`topic`,
//! `produce`, `consume`, `group`, the `perf` tools), and the strom-client calls those subcommands share on top of
//! it: connecting, and looking up one partition offset. Knows nothing of any one subcommand.

use anyhow::Context;
use strom_client::Client;

/// Where the brokers are. `global` lets `topic` and `group` take it before or after their subcommand.
#[derive(clap::Args, Clone)]
pub(crate) struct BootstrapArgs {
    /// Broker(s) to bootstrap from: host:port[,host:port...].
    #[arg(
        long,
        global = true,
        env = "STROM_BOOTSTRAP_SERVER",
        default_value = "localhost:9092"
    )]
    pub(crate) bootstrap_server: String,
}

impl BootstrapArgs {
    /// A strom-client connected to the bootstrap servers, with the servers named in the error.
    pub(crate) async fn connect(&self) -> anyhow::Result<Client> {
        Client::connect(&self.bootstrap_server)
            .await
            .with_context(|| format!("connecting to {}", self.bootstrap_server))
    }
}

/// The offset ListOffsets gives for `timestamp` (or EARLIEST/LATEST) in `topic`-`partition`.
pub(crate) async fn list_offset(
    client: &mut Client,
    topic: &str,
    partition: i32,
    timestamp: i64,
) -> anyhow::Result<i64> {
    let listed = client
        .list_offsets(topic, partition, timestamp)
        .await
        .with_context(|| format!("listing offsets of {topic}-{partition}"))?;
    Ok(listed.offset)
}
