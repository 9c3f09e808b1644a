//! One module per subcommand. Each exposes `Args` (clap) and `async fn run(args) -> anyhow::Result<()>`
//! (`dump_log::run` is synchronous: it only reads files). `bootstrap` is the one shared piece: the
//! `--bootstrap-server` flag and the strom-client connection behind it.

pub(crate) mod bootstrap;
pub(crate) mod consume;
pub(crate) mod dev_cluster;
pub(crate) mod dump_log;
pub(crate) mod group;
pub(crate) mod perf;
pub(crate) mod produce;
pub(crate) mod server;
pub(crate) mod topic;
pub(crate) mod txn;
