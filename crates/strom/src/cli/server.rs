//! `strom server`: builds the broker configuration from defaults, an optional TOML file, `STROM_*`
//! environment variables and flags (in that order of precedence, lowest first), binds the listener and
//! runs the broker until SIGINT/SIGTERM. Every broker setting is also a flag spelled with dashes
//! (`log.dirs` → `--log-dirs`) and an env var (`STROM_LOG_DIRS`).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::{Arg, ArgAction, ArgMatches, Command, FromArgMatches};
use strom_broker::{Broker, BrokerConfig};
use tracing::{info, warn};

/// Parsed `strom server` arguments: the config file and every setting given as flag or env var.
#[derive(Debug, Default)]
pub(crate) struct Args {
    config: Option<PathBuf>,
    settings: Vec<(String, String)>,
}

fn flag_name(key: &str) -> String {
    key.replace('.', "-")
}

fn env_name(key: &str) -> String {
    format!(
        "STROM_{}",
        key.replace(['.', '-'], "_").to_ascii_uppercase()
    )
}

impl clap::Args for Args {
    fn augment_args(cmd: Command) -> Command {
        let mut cmd = cmd
            .about("Run a broker. With no settings: node 1 on 0.0.0.0:9092, advertised as localhost:9092, data in ./strom-data")
            .arg(
                Arg::new("config")
                    .long("config")
                    .short('c')
                    .env("STROM_CONFIG")
                    .value_name("FILE")
                    .help("TOML file with Kafka-named settings (see strom.example.toml)"),
            )
            .arg(
                Arg::new("override")
                    .long("override")
                    .value_name("KEY=VALUE")
                    .action(ArgAction::Append)
                    .help("Set any broker setting by its Kafka name, like kafka-server-start --override"),
            );
        for key in BrokerConfig::KEYS {
            cmd = cmd.arg(
                Arg::new(key.name)
                    .long(flag_name(key.name))
                    .env(env_name(key.name))
                    .value_name("VALUE")
                    .help(format!(
                        "{} [Kafka `{}`, default: {}]",
                        key.doc, key.name, key.default
                    )),
            );
        }
        cmd
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

impl FromArgMatches for Args {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut args = Args {
            config: matches.get_one::<String>("config").map(PathBuf::from),
            settings: Vec::new(),
        };
        for key in BrokerConfig::KEYS {
            if let Some(v) = matches.get_one::<String>(key.name) {
                args.settings.push((key.name.to_string(), v.clone()));
            }
        }
        for item in matches.get_many::<String>("override").into_iter().flatten() {
            let Some((k, v)) = item.split_once('=') else {
                return Err(clap::Error::raw(
                    clap::error::ErrorKind::InvalidValue,
                    format!("--override expects KEY=VALUE, got `{item}`\n"),
                ));
            };
            args.settings
                .push((k.trim().to_string(), v.trim().to_string()));
        }
        Ok(args)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

/// Flattens a TOML document into Kafka-style dotted keys: `[log] dirs = "x"` and `"log.dirs" = "x"` both
/// give `log.dirs`.
fn flatten_toml(
    prefix: &str,
    value: &toml::Value,
    out: &mut Vec<(String, String)>,
) -> anyhow::Result<()> {
    match value {
        toml::Value::Table(table) => {
            for (k, v) in table {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten_toml(&key, v, out)?;
            }
        }
        toml::Value::String(s) => out.push((prefix.to_string(), s.clone())),
        toml::Value::Integer(i) => out.push((prefix.to_string(), i.to_string())),
        toml::Value::Boolean(b) => out.push((prefix.to_string(), b.to_string())),
        toml::Value::Float(f) => out.push((prefix.to_string(), f.to_string())),
        toml::Value::Array(items) => {
            let parts: Vec<String> = items
                .iter()
                .map(|i| match i {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            out.push((prefix.to_string(), parts.join(",")));
        }
        toml::Value::Datetime(d) => bail!("`{prefix}`: dates are not a broker setting ({d})"),
    }
    Ok(())
}

/// Builds the configuration: defaults, then the file, then env vars and flags.
pub(crate) fn load_config(args: &Args) -> anyhow::Result<BrokerConfig> {
    let mut config = BrokerConfig::default();
    if let Some(path) = &args.config {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let doc: toml::Value =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        let mut entries = Vec::new();
        flatten_toml("", &doc, &mut entries)?;
        for (k, v) in entries {
            config
                .set(&k, &v)
                .with_context(|| format!("in {}", path.display()))?;
        }
    }
    for (k, v) in &args.settings {
        config.set(k, v)?;
    }
    Ok(config)
}

pub(crate) async fn run(args: Box<Args>) -> anyhow::Result<()> {
    let started = Instant::now();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn")),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let config = load_config(&args)?;
    if config.explicit.contains("transaction.apis.enable") {
        warn!("`transaction.apis.enable` is deprecated and ignored: the transaction APIs are always served");
    }
    let listener = config
        .broker_listener()?
        .context("no client listener configured (every listener is a controller listener)")?;
    let socket = tokio::net::TcpListener::bind((listener.host.as_str(), listener.port))
        .await
        .with_context(|| format!("binding {}:{}", listener.host, listener.port))?;
    let broker = Broker::start(config).await?;
    info!(
        node_id = broker.node_id(),
        listener = %format!("{}://{}:{}", listener.name, listener.host, listener.port),
        startup_ms = started.elapsed().as_millis() as u64,
        "strom broker started"
    );
    strom_broker::run(socket, broker, shutdown_signal()).await;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    info!("shutdown signal received");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_flags() {
        let dir = std::env::temp_dir().join(format!("strom-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.toml");
        std::fs::write(
            &path,
            "\"node.id\" = 3\n[log]\ndirs = \"/tmp/x\"\nretention.ms = 1000\n",
        )
        .unwrap();
        let args = Args {
            config: Some(path),
            settings: vec![("node.id".into(), "4".into())],
        };
        let c = load_config(&args).unwrap();
        assert_eq!(c.node_id, 4);
        assert_eq!(c.log_dirs, "/tmp/x");
        assert_eq!(c.log_retention_ms, 1000);
        assert_eq!(env_name("log.dirs"), "STROM_LOG_DIRS");
        assert_eq!(
            flag_name("auto.create.topics.enable"),
            "auto-create-topics-enable"
        );
    }
}
