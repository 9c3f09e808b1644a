//! The `strom` binary: one executable for the broker and its tools. Parses the command line with clap and hands each
//! subcommand to its module under `cli/`; owns nothing else.

mod cli;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "strom",
    version,
    about = "Strom: a Kafka-compatible event streaming platform"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a broker (the default when no subcommand is given).
    Server(Box<cli::server::Args>),
    /// Create, list, describe, alter and delete topics.
    Topic(cli::topic::Args),
    /// Produce lines from stdin as records.
    Produce(cli::produce::Args),
    /// Consume records and print them.
    Consume(cli::consume::Args),
    /// Consumer groups: list, describe, delete, reset offsets.
    Group(cli::group::Args),
    /// Transactions: list, describe, describe producers, find and abort hanging ones (like kafka-transactions.sh).
    Txn(cli::txn::Args),
    /// Load tools: produce, consume and end-to-end latency against any Kafka-compatible broker.
    Perf(cli::perf::Args),
    /// Print the batches (and records) of a segment file and check its indexes.
    DumpLog(cli::dump_log::Args),
    /// Run a local N-node cluster (one `strom server` child process per node) until Ctrl-C.
    #[command(long_about = cli::dev_cluster::LONG_ABOUT)]
    DevCluster(cli::dev_cluster::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        None => runtime.block_on(cli::server::run(Box::default())),
        Some(Command::Server(args)) => runtime.block_on(cli::server::run(args)),
        Some(Command::Topic(args)) => runtime.block_on(cli::topic::run(args)),
        Some(Command::Produce(args)) => runtime.block_on(cli::produce::run(args)),
        Some(Command::Consume(args)) => runtime.block_on(cli::consume::run(args)),
        Some(Command::Group(args)) => runtime.block_on(cli::group::run(args)),
        Some(Command::Txn(args)) => runtime.block_on(cli::txn::run(args)),
        Some(Command::Perf(args)) => runtime.block_on(cli::perf::run(args)),
        Some(Command::DumpLog(args)) => cli::dump_log::run(args),
        Some(Command::DevCluster(args)) => runtime.block_on(cli::dev_cluster::run(args)),
    }
}
