//! `strom dev-cluster`: runs an N-node Strom cluster on this machine for development, each node a separate
//! `strom server` child process (this same executable) with its own ports, data directory and log file. Owns
//! the children's command lines, their lifetime and the shutdown (SIGTERM, then SIGKILL after a grace period); it
//! knows nothing of what the nodes do once started.
//!
//! Node i (1-based) gets client port `base + i - 1`, controller port `base + 100 + i - 1`, data in `DIR/node-i/data`
//! and its log in `DIR/node-i/strom.log`. The data survives, so running the command again restarts the same
//! cluster; delete DIR (or pick another) to start fresh, and keep `--nodes` the same for one DIR.

use std::fs::OpenOptions;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::process::{Child, Command};

/// Client ports are `base..base+nodes`, controller ports `base+100..`: at most 100 nodes keep the ranges apart.
const CONTROLLER_PORT_OFFSET: u16 = 100;
/// How long nodes get to shut down cleanly after SIGTERM before they are killed.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// How often the supervisor looks for children that exited on their own.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// `strom dev-cluster --help`: what the command does, beyond the one-line summary in `main.rs`.
pub(crate) const LONG_ABOUT: &str = "Run a local N-node cluster for development: one `strom server` child process \
per node, all on 127.0.0.1, each node a broker and a voter of the metadata quorum. Node i (1-based) serves clients on \
BASE_PORT+i-1 and the quorum on BASE_PORT+100+i-1; its data is in DIR/node-i/data and its log in \
DIR/node-i/strom.log. Topics and __consumer_offsets are replicated to min(3, N) nodes by default \
(default.replication.factor, offsets.topic.replication.factor) with min.insync.replicas=1; --override changes these \
or any other setting on every node.

Prints the bootstrap list and each node's id, ports, pid and log, then runs until Ctrl-C or SIGTERM, which stops \
every node cleanly (SIGTERM, then SIGKILL after 10 s; a second Ctrl-C kills at once). A node that exits on its own \
is reported and the others keep running. Data is kept: running the command again restarts the same cluster; delete \
DIR to start fresh.";

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Number of nodes (each a broker and a metadata-quorum voter).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=100))]
    nodes: u16,

    /// Client port of node 1; node i listens on BASE_PORT+i-1, its controller on BASE_PORT+100+i-1.
    #[arg(long, default_value_t = 19092)]
    base_port: u16,

    /// Directory for the nodes' data and logs (DIR/node-i).
    #[arg(long, default_value = "strom-dev-cluster")]
    dir: PathBuf,

    /// A broker setting for every node, KEY=VALUE with Kafka's name (repeatable), e.g.
    /// --override min.insync.replicas=2.
    #[arg(long = "override", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    overrides: Vec<(String, String)>,
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("expected KEY=VALUE, got `{s}`"))?;
    let k = k.trim();
    if k.is_empty() {
        return Err(format!("expected KEY=VALUE, got `{s}`"));
    }
    Ok((k.to_string(), v.trim().to_string()))
}

/// One node's fixed addresses and paths.
#[derive(Debug, Clone, PartialEq, Eq)]
struct NodePlan {
    id: u16,
    client_port: u16,
    controller_port: u16,
    dir: PathBuf,
}

impl NodePlan {
    fn log_path(&self) -> PathBuf {
        self.dir.join("strom.log")
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }
}

/// The nodes' ports and directories, checking that every port fits in u16.
fn plan(args: &Args) -> anyhow::Result<Vec<NodePlan>> {
    let last_controller_port =
        u32::from(args.base_port) + u32::from(CONTROLLER_PORT_OFFSET) + u32::from(args.nodes) - 1;
    if last_controller_port > u32::from(u16::MAX) {
        bail!(
            "--base-port {} is too high for {} nodes: controller ports would reach {last_controller_port}",
            args.base_port,
            args.nodes
        );
    }
    Ok((1..=args.nodes)
        .map(|id| NodePlan {
            id,
            client_port: args.base_port + id - 1,
            controller_port: args.base_port + CONTROLLER_PORT_OFFSET + id - 1,
            dir: args.dir.join(format!("node-{id}")),
        })
        .collect())
}

/// The settings every node gets beyond its own listeners: replication defaults for the cluster size, then the
/// user's overrides (which replace a default of the same name).
fn cluster_settings(nodes: u16, overrides: &[(String, String)]) -> Vec<(String, String)> {
    let replication = nodes.min(3).to_string();
    let mut settings: Vec<(String, String)> = [
        ("default.replication.factor", replication.as_str()),
        ("offsets.topic.replication.factor", replication.as_str()),
        ("min.insync.replicas", "1"),
    ]
    .into_iter()
    .filter(|(k, _)| !overrides.iter().any(|(o, _)| o == k))
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    settings.extend(overrides.iter().cloned());
    settings
}

/// `strom server` arguments for one node.
fn server_args(node: &NodePlan, voters: &str, settings: &[(String, String)]) -> Vec<String> {
    let client = format!("PLAINTEXT://127.0.0.1:{}", node.client_port);
    let mut args = vec![
        "server".to_string(),
        "--node-id".to_string(),
        node.id.to_string(),
        "--listeners".to_string(),
        format!("{client},CONTROLLER://127.0.0.1:{}", node.controller_port),
        "--advertised-listeners".to_string(),
        client,
        "--controller-quorum-voters".to_string(),
        voters.to_string(),
        "--log-dirs".to_string(),
        node.data_dir().display().to_string(),
    ];
    for (k, v) in settings {
        args.push("--override".to_string());
        args.push(format!("{k}={v}"));
    }
    args
}

/// A node's child process, `None` once it has exited and been reaped.
struct RunningNode {
    plan: NodePlan,
    child: Option<Child>,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let plan = plan(&args)?;
    // Fail before starting anything if a port is taken (most often: another dev cluster is still running).
    for node in &plan {
        for port in [node.client_port, node.controller_port] {
            TcpListener::bind(("127.0.0.1", port)).with_context(|| {
                format!(
                    "port {port} (node {}) is not free; pick another --base-port",
                    node.id
                )
            })?;
        }
    }
    let voters = plan
        .iter()
        .map(|n| format!("{}@127.0.0.1:{}", n.id, n.controller_port))
        .collect::<Vec<_>>()
        .join(",");
    let settings = cluster_settings(args.nodes, &args.overrides);
    let exe = std::env::current_exe().context("locating the strom executable")?;

    let mut nodes = Vec::new();
    for node in &plan {
        // Once started, children are never left behind: a failure starting a later node drops (and so kills) the
        // earlier ones through kill_on_drop.
        let child = spawn_node(&exe, node, &voters, &settings)?;
        nodes.push(RunningNode {
            plan: node.clone(),
            child: Some(child),
        });
    }

    let bootstrap = plan
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.client_port))
        .collect::<Vec<_>>()
        .join(",");
    println!(
        "strom dev-cluster: {} node(s), data in {}",
        plan.len(),
        args.dir.display()
    );
    println!("bootstrap servers: {bootstrap}");
    for node in &nodes {
        let pid = node.child.as_ref().and_then(Child::id).unwrap_or(0);
        println!(
            "  node {}  client 127.0.0.1:{}  controller 127.0.0.1:{}  pid {pid}  log {}",
            node.plan.id,
            node.plan.client_port,
            node.plan.controller_port,
            node.plan.log_path().display()
        );
    }
    println!("Ctrl-C stops every node.");

    supervise(&mut nodes, &bootstrap).await;
    shutdown(&mut nodes).await;
    Ok(())
}

/// Starts one node with stdout and stderr appended to its log.
fn spawn_node(
    exe: &Path,
    node: &NodePlan,
    voters: &str,
    settings: &[(String, String)],
) -> anyhow::Result<Child> {
    std::fs::create_dir_all(node.data_dir())
        .with_context(|| format!("creating {}", node.data_dir().display()))?;
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(node.log_path())
        .with_context(|| format!("opening {}", node.log_path().display()))?;
    let args = server_args(node, voters, settings);
    writeln!(
        log,
        "==== strom dev-cluster: starting node {}: {} {}",
        node.id,
        exe.display(),
        args.join(" ")
    )?;
    let mut cmd = Command::new(exe);
    cmd.args(&args)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        // Own process group: the terminal's Ctrl-C reaches only this supervisor, which then stops the nodes in
        // order and reports each exit, instead of every node racing to shut down on its own.
        .process_group(0)
        // If the supervisor dies by a panic or an error return, the nodes go with it.
        .kill_on_drop(true);
    cmd.spawn()
        .with_context(|| format!("starting node {} ({})", node.id, exe.display()))
}

/// Runs until Ctrl-C or SIGTERM, reporting nodes that exit on their own and, once, when every node accepts
/// client connections.
async fn supervise(nodes: &mut [RunningNode], bootstrap: &str) {
    let mut term = terminate_signal();
    let mut ticker = tokio::time::interval(POLL_INTERVAL);
    let started = Instant::now();
    let mut announced_ready = false;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {
                println!("\nCtrl-C: stopping every node (Ctrl-C again to kill them at once)");
                return;
            }
            _ = recv(&mut term) => {
                println!("SIGTERM: stopping every node");
                return;
            }
            _ = ticker.tick() => {
                reap_exited(nodes, "exited on its own");
                if nodes.iter().all(|n| n.child.is_none()) {
                    println!("every node has exited; see the logs");
                    return;
                }
                if !announced_ready && all_accepting(nodes).await {
                    announced_ready = true;
                    println!(
                        "all nodes listen for clients after {:.1}s: --bootstrap-server {bootstrap}",
                        started.elapsed().as_secs_f64()
                    );
                }
            }
        }
    }
}

/// True when every running node's client port accepts a TCP connection.
async fn all_accepting(nodes: &[RunningNode]) -> bool {
    for node in nodes.iter().filter(|n| n.child.is_some()) {
        let connect = tokio::net::TcpStream::connect(("127.0.0.1", node.plan.client_port));
        match tokio::time::timeout(Duration::from_millis(200), connect).await {
            Ok(Ok(_)) => {}
            _ => return false,
        }
    }
    true
}

/// Reaps and reports every node that has exited.
fn reap_exited(nodes: &mut [RunningNode], how: &str) {
    for node in nodes.iter_mut() {
        let Some(child) = node.child.as_mut() else {
            continue;
        };
        match child.try_wait() {
            Ok(Some(status)) => {
                report_exit(&node.plan, status, how);
                node.child = None;
            }
            Ok(None) => {}
            Err(e) => {
                println!("node {}: cannot query its status: {e}", node.plan.id);
                node.child = None;
            }
        }
    }
}

fn report_exit(node: &NodePlan, status: ExitStatus, how: &str) {
    println!(
        "node {} {how} ({}); log: {}",
        node.id,
        describe_status(status),
        node.log_path().display()
    );
}

fn describe_status(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => status.to_string(),
    }
}

/// SIGTERM to every running node, then waits up to [`STOP_GRACE`] for all to exit; SIGKILLs the rest (or all
/// at once on a second Ctrl-C).
async fn shutdown(nodes: &mut [RunningNode]) {
    for node in nodes.iter_mut() {
        let Some(child) = node.child.as_mut() else {
            continue;
        };
        // Only a child not yet reaped is signalled, so its pid cannot belong to another process.
        if let Some(pid) = child.id() {
            if let Err(e) = send_sigterm(pid) {
                println!("node {}: SIGTERM failed: {e}", node.plan.id);
            }
        }
    }
    let deadline = tokio::time::Instant::now() + STOP_GRACE;
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    let mut kill_now = false;
    loop {
        reap_exited(nodes, "stopped");
        if nodes.iter().all(|n| n.child.is_none()) {
            println!("all nodes stopped");
            return;
        }
        if kill_now || tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::select! {
            _ = tokio::signal::ctrl_c() => kill_now = true,
            _ = ticker.tick() => {}
        }
    }
    for node in nodes.iter_mut() {
        let Some(mut child) = node.child.take() else {
            continue;
        };
        println!("node {}: still running, sending SIGKILL", node.plan.id);
        let _ = child.start_kill();
        match child.wait().await {
            Ok(status) => report_exit(&node.plan, status, "killed"),
            Err(e) => println!("node {}: waiting after SIGKILL failed: {e}", node.plan.id),
        }
    }
}

/// SIGTERM as a stream; `None` if the handler cannot be installed (then only Ctrl-C stops the cluster).
fn terminate_signal() -> Option<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok()
}

async fn recv(signal: &mut Option<tokio::signal::unix::Signal>) {
    match signal {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

#[allow(unsafe_code)]
fn send_sigterm(pid: u32) -> std::io::Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(std::io::Error::other)?;
    // SAFETY: kill(2) has no memory-safety preconditions; `pid` is our own child, not yet reaped, so the id cannot
    // have been reused by another process.
    let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn args(argv: &[&str]) -> Args {
        Cli::try_parse_from(std::iter::once("dev-cluster").chain(argv.iter().copied()))
            .expect("valid arguments")
            .args
    }

    #[test]
    fn nodes_get_consecutive_client_and_controller_ports() {
        let nodes = plan(&args(&["--nodes", "3", "--dir", "/tmp/c"])).unwrap();
        assert_eq!(
            nodes[2],
            NodePlan {
                id: 3,
                client_port: 19094,
                controller_port: 19194,
                dir: PathBuf::from("/tmp/c/node-3"),
            }
        );
        assert!(plan(&args(&["--nodes", "10", "--base-port", "65500"])).is_err());
        assert!(Cli::try_parse_from(["dev-cluster", "--nodes", "0"]).is_err());
    }

    #[test]
    fn server_args_carry_listeners_voters_and_settings() {
        let a = args(&["--nodes", "3", "--override", "min.insync.replicas=2"]);
        let nodes = plan(&a).unwrap();
        let settings = cluster_settings(a.nodes, &a.overrides);
        let argv = server_args(
            &nodes[1],
            "1@127.0.0.1:19192,2@127.0.0.1:19193,3@127.0.0.1:19194",
            &settings,
        )
        .join(" ");
        assert_eq!(
            argv,
            "server --node-id 2 --listeners PLAINTEXT://127.0.0.1:19093,CONTROLLER://127.0.0.1:19193 \
             --advertised-listeners PLAINTEXT://127.0.0.1:19093 \
             --controller-quorum-voters 1@127.0.0.1:19192,2@127.0.0.1:19193,3@127.0.0.1:19194 \
             --log-dirs strom-dev-cluster/node-2/data \
             --override default.replication.factor=3 --override offsets.topic.replication.factor=3 \
             --override min.insync.replicas=2"
        );
    }

    #[test]
    fn replication_defaults_follow_cluster_size() {
        let settings = cluster_settings(1, &[]);
        assert!(settings.contains(&("default.replication.factor".into(), "1".into())));
        assert!(settings.contains(&("min.insync.replicas".into(), "1".into())));
        let settings = cluster_settings(5, &[]);
        assert!(settings.contains(&("offsets.topic.replication.factor".into(), "3".into())));
    }
}
