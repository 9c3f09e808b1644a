//! `TestBroker`: one real `strom server` process on a free loopback port with its own temporary data directory.
//! Owns the child process and the directory; it does not know how the broker lays out its files beyond the
//! Kafka-compatible `<topic>-<partition>/<base offset>.log` names that the crash tests poke at.
//!
//! The process is always started with the same port, data directory and arguments, so `restart` after `kill9`
//! looks to clients exactly like a broker coming back after a crash. A broker may also be one node of a
//! [`crate::TestCluster`]: then it has its own node id, a CONTROLLER listener and the cluster's voter list, and the
//! cluster launches all nodes before waiting for any (a node of a quorum may not serve until its peers are up).

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::{kafka, pause};

/// How long a broker may take from spawn to answering a metadata request. Generous: a debug build on a loaded
/// 2-core CI machine that is also compiling can be slow to start.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a SIGTERM'd broker may take to shut down cleanly.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// A running (or killed, awaiting restart) `strom server` process.
pub struct TestBroker {
    bin: PathBuf,
    node_id: i32,
    port: u16,
    /// Set for a node of a cluster: its CONTROLLER listener port and the cluster's `controller.quorum.voters`.
    controller: Option<ControllerListener>,
    extra_args: Vec<String>,
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// True between `pause` (SIGSTOP) and `resume` (SIGCONT).
    paused: bool,
}

/// The metadata-quorum side of a cluster node.
#[derive(Clone, Debug)]
pub(crate) struct ControllerListener {
    pub(crate) port: u16,
    pub(crate) quorum_voters: String,
}

/// What `TestBroker::launch` needs to start one node of a cluster.
pub(crate) struct NodeSpec<'a> {
    pub(crate) node_id: i32,
    pub(crate) port: u16,
    pub(crate) controller: ControllerListener,
    pub(crate) extra_args: &'a [String],
}

/// `STROM_TEST_KEEP_DIRS=1` keeps every broker's data directory and log after the test, for post-mortems
/// (`strom dump-log`); the path is printed when the broker starts.
fn keep_dirs() -> bool {
    std::env::var_os("STROM_TEST_KEEP_DIRS").is_some_and(|v| v != "0")
}

impl TestBroker {
    /// Spawns `bin server` on a free port with a fresh data directory and waits until it serves metadata.
    pub fn start(bin: &Path, extra_args: &[&str]) -> anyhow::Result<TestBroker> {
        // The port is free when we pick it but not reserved: another test's client may take it as its ephemeral
        // local port before the broker binds. Then the broker fails with EADDRINUSE and we try another port.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let dir = tempfile::Builder::new()
                .prefix("strom-e2e-")
                .disable_cleanup(keep_dirs())
                .tempdir()?;
            std::fs::create_dir_all(dir.path().join("data"))?;
            let mut broker = TestBroker {
                bin: bin.to_path_buf(),
                node_id: 1,
                port: free_port()?,
                controller: None,
                extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
                dir,
                child: None,
                paused: false,
            };
            match broker.spawn() {
                Ok(()) => return Ok(broker),
                Err(e) if attempt < 3 && broker.failed_to_bind() => {
                    eprintln!(
                        "strom broker could not bind port {} (attempt {attempt}), retrying: {e:#}",
                        broker.port
                    );
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Spawns one node of a cluster in a fresh temporary directory without waiting for it to serve; the cluster
    /// calls [`TestBroker::wait_ready`] once every node is launched.
    pub(crate) fn launch(bin: &Path, spec: NodeSpec<'_>) -> anyhow::Result<TestBroker> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("strom-cluster-node{}-", spec.node_id))
            .disable_cleanup(keep_dirs())
            .tempdir()?;
        std::fs::create_dir_all(dir.path().join("data"))?;
        let mut broker = TestBroker {
            bin: bin.to_path_buf(),
            node_id: spec.node_id,
            port: spec.port,
            controller: Some(spec.controller),
            extra_args: spec.extra_args.to_vec(),
            dir,
            child: None,
            paused: false,
        };
        broker.launch_process()?;
        Ok(broker)
    }

    /// The broker's `node.id` (1 for a stand-alone broker).
    pub fn node_id(&self) -> i32 {
        self.node_id
    }

    /// The client (PLAINTEXT) port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The CONTROLLER listener port of a cluster node; `None` for a stand-alone broker.
    pub fn controller_port(&self) -> Option<u16> {
        self.controller.as_ref().map(|c| c.port)
    }

    /// `127.0.0.1:PORT`, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The directory passed as `--log-dirs`.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `<data>/<topic>-<partition>`, the partition's log directory.
    pub fn partition_dir(&self, topic: &str, partition: i32) -> PathBuf {
        self.data_dir().join(format!("{topic}-{partition}"))
    }

    /// The broker's combined stdout and stderr, across restarts.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("broker.log")
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Resident set size of the broker process in KiB, from `/proc/<pid>/status`.
    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        let pid = self.pid().context("broker is not running")?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .context("no VmRSS in /proc/<pid>/status")
    }

    /// True while the process is stopped by [`TestBroker::pause`].
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// True if the process has not exited (it is reaped if it has).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// SIGKILL, then reap. The data directory is kept for `restart`.
    pub fn kill9(&mut self) -> anyhow::Result<()> {
        let mut child = self.child.take().context("broker is not running")?;
        // `Child::kill` sends SIGKILL on Unix: no chance for the broker to flush or close files. SIGKILL also ends a
        // stopped (paused) process.
        child.kill()?;
        child.wait()?;
        self.paused = false;
        Ok(())
    }

    /// SIGSTOP: the process freezes without closing anything. Its sockets stay open, so peers and clients see a
    /// broker that accepts connections but never answers, like a long GC pause or a hung machine.
    pub fn pause(&mut self) -> anyhow::Result<()> {
        let pid = self.pid().context("broker is not running")?;
        send_signal(pid, libc::SIGSTOP)?;
        self.paused = true;
        Ok(())
    }

    /// SIGCONT after [`TestBroker::pause`].
    pub fn resume(&mut self) -> anyhow::Result<()> {
        let pid = self.pid().context("broker is not running")?;
        send_signal(pid, libc::SIGCONT)?;
        self.paused = false;
        Ok(())
    }

    /// SIGTERM, wait for a clean exit and fail unless the exit status is success.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        if self.paused {
            // A stopped process leaves SIGTERM pending until it runs again.
            self.resume()?;
        }
        let mut child = self.child.take().context("broker is not running")?;
        send_signal(child.id(), libc::SIGTERM)?;
        let status = wait_timeout(&mut child, STOP_TIMEOUT)?;
        match status {
            Some(status) if status.success() => Ok(()),
            Some(status) => bail!(
                "broker exited with {status} after SIGTERM; log tail:\n{}",
                self.log_tail(60)
            ),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "broker did not exit within {STOP_TIMEOUT:?} of SIGTERM; log tail:\n{}",
                    self.log_tail(60)
                )
            }
        }
    }

    /// Starts the broker again with the same port, data directory and arguments. Kills it first if it is running.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        if self.child.is_some() {
            self.kill9()?;
        }
        self.spawn()
    }

    /// Everything the broker printed so far, across restarts.
    pub fn log_contents(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = File::open(self.log_path()) {
            let mut bytes = Vec::new();
            let _ = f.read_to_end(&mut bytes);
            s = String::from_utf8_lossy(&bytes).into_owned();
        }
        s
    }

    /// The last `lines` lines of the broker log, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log_contents();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Fails if the broker log shows a Rust panic.
    pub fn assert_no_panic(&self) {
        let log = self.log_contents();
        if let Some(pos) = log.find("panicked") {
            let start = log[..pos].rfind('\n').map_or(0, |i| i + 1);
            let end = (pos + 2000).min(log.len());
            let end = (end..=log.len())
                .find(|&i| log.is_char_boundary(i))
                .unwrap_or(log.len());
            panic!("broker log contains a panic:\n{}", &log[start..end]);
        }
    }

    /// True if the broker log says a listener could not bind its port (another process took it after
    /// [`free_port`] released it).
    pub(crate) fn failed_to_bind(&self) -> bool {
        self.log_contents()
            .to_lowercase()
            .contains("address already in use")
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        self.launch_process()?;
        self.wait_ready()
    }

    /// Starts the process with this broker's port, directory and arguments, without waiting for it.
    fn launch_process(&mut self) -> anyhow::Result<()> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())?;
        let client_listener = format!("PLAINTEXT://127.0.0.1:{}", self.port);
        let listeners = match &self.controller {
            Some(c) => format!("{client_listener},CONTROLLER://127.0.0.1:{}", c.port),
            None => client_listener.clone(),
        };
        let data_dir = self.data_dir();
        if keep_dirs() {
            eprintln!(
                "node {} keeps its data in {}",
                self.node_id,
                data_dir.display()
            );
        }
        let mut cmd = Command::new(&self.bin);
        cmd.arg("server")
            .arg("--listeners")
            .arg(&listeners)
            .arg("--advertised-listeners")
            .arg(&client_listener)
            .arg("--log-dirs")
            .arg(&data_dir)
            .arg("--node-id")
            .arg(self.node_id.to_string());
        if let Some(c) = &self.controller {
            cmd.arg("--controller-quorum-voters").arg(&c.quorum_voters);
        }
        cmd.args(&self.extra_args)
            .env("RUST_LOG", "info")
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let child = cmd
            .spawn()
            .with_context(|| format!("spawning {}", self.bin.display()))?;
        self.child = Some(child);
        self.paused = false;
        Ok(())
    }

    /// Waits until the client port accepts connections, failing early with the log if the process exits.
    pub(crate) fn wait_accepting(&mut self, deadline: Instant) -> anyhow::Result<()> {
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    self.child = None;
                    bail!(
                        "broker {} exited during startup with {status}; log:\n{}",
                        self.node_id,
                        self.log_tail(80)
                    );
                }
            }
            if TcpStream::connect_timeout(&self.addr(), Duration::from_millis(500)).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "broker {} did not accept connections on {} within {START_TIMEOUT:?}; log:\n{}",
                    self.node_id,
                    self.bootstrap(),
                    self.log_tail(80)
                );
            }
            pause(Duration::from_millis(50));
        }
    }

    /// Waits until the port accepts connections and librdkafka can fetch metadata (which implies an ApiVersions
    /// round trip), failing early with the log if the process exits.
    pub(crate) fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        self.wait_accepting(deadline)?;
        let consumer: BaseConsumer = kafka::consumer_config(&self.bootstrap()).create()?;
        let mut last_error = None;
        while Instant::now() < deadline {
            match consumer.fetch_metadata(None, Duration::from_secs(5)) {
                Ok(md) if !md.brokers().is_empty() => {
                    // Make sure it was our broker that answered, not another one that holds the port.
                    if let Some(status) = self
                        .child
                        .as_mut()
                        .map(Child::try_wait)
                        .transpose()?
                        .flatten()
                    {
                        self.child = None;
                        bail!(
                            "broker exited during startup with {status}; log:\n{}",
                            self.log_tail(80)
                        );
                    }
                    return Ok(());
                }
                Ok(_) => last_error = Some("metadata listed no brokers".to_string()),
                Err(e) => last_error = Some(e.to_string()),
            }
            pause(Duration::from_millis(100));
        }
        bail!(
            "broker on {} accepted connections but metadata did not work within {START_TIMEOUT:?}: {}; log:\n{}",
            self.bootstrap(),
            last_error.unwrap_or_default(),
            self.log_tail(80)
        )
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGKILL ends a paused (SIGSTOPped) process too; no SIGCONT needed.
            let _ = child.kill();
            let _ = child.wait();
        }
        // The temporary directory (and the log in it) is deleted right after this, so a failing test shows the
        // broker's last words here.
        if std::thread::panicking() {
            eprintln!(
                "---- strom broker log ({}), last 100 lines ----\n{}\n---- end of broker log ----",
                self.bootstrap(),
                self.log_tail(100)
            );
        }
    }
}

/// A port that was free a moment ago: bind port 0 on loopback, read the port, release it.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

fn wait_timeout(child: &mut Child, timeout: Duration) -> anyhow::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        pause(Duration::from_millis(20));
    }
}

#[allow(unsafe_code)]
fn send_signal(pid: u32, signal: libc::c_int) -> anyhow::Result<()> {
    let pid = libc::pid_t::try_from(pid)?;
    // SAFETY: kill(2) has no memory-safety preconditions; `pid` is our own child, not yet reaped, so the id cannot
    // have been reused by another process.
    let rc = unsafe { libc::kill(pid, signal) };
    if rc != 0 {
        bail!(
            "kill({pid}, {signal}) failed: {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}
