//! One module per subcommand. Each exposes `Args` (clap) and `async fn run(args) -> anyhow::Result<()>`.

pub(crate) mod consume;
pub(crate) mod produce;
pub(crate) mod server;
pub(crate) mod topic;
