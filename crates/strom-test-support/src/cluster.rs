//! `TestCluster`: N real `strom server` processes forming one cluster on loopback (combined broker + controller
//! nodes, a metadata quorum over their CONTROLLER listeners), each a [`TestBroker`] with its own free ports and
//! temporary data directory, plus the failure switches cluster tests need (kill -9, SIGTERM, restart on the same
//! ports and data, SIGSTOP/SIGCONT). Also the cluster-level questions tests ask over the Kafka protocol: who leads
//! a partition, the ISR, the controller, a group's coordinator.
//!
//! Like `TestBroker` it knows nothing of the broker's internals: everything goes through processes, the network and
//! the data directories.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::metadata::MetadataPartition;

use crate::broker::{free_port, ControllerListener, NodeSpec};
use crate::{kafka, wait_for, TestBroker};

/// How long from launch until every node serves and every broker is registered.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Broker settings that make failure detection quick enough for tests: a dead broker is fenced after 2 s, a stuck
/// follower leaves the ISR after 2 s, followers long-poll for 200 ms, and groups rebalance without delay. Every
/// topic (and `__consumer_offsets`) is replicated to all nodes by default. The caller's arguments come after these,
/// so a test can override any of them.
fn test_overrides(nodes: usize) -> Vec<String> {
    let settings = [
        ("broker.heartbeat.interval.ms", "250".to_string()),
        ("broker.session.timeout.ms", "2000".to_string()),
        ("replica.lag.time.max.ms", "2000".to_string()),
        ("replica.fetch.wait.max.ms", "200".to_string()),
        ("default.replication.factor", nodes.to_string()),
        ("offsets.topic.replication.factor", nodes.to_string()),
        ("group.initial.rebalance.delay.ms", "0".to_string()),
    ];
    settings
        .into_iter()
        .flat_map(|(k, v)| ["--override".to_string(), format!("{k}={v}")])
        .collect()
}

/// A running cluster of `strom` nodes with ids `1..=n`. Dropping it kills every node (SIGKILL, which also ends
/// SIGSTOPped ones) and deletes the data directories.
pub struct TestCluster {
    nodes: BTreeMap<i32, TestBroker>,
}

impl TestCluster {
    /// Starts `n` nodes of `bin` with free client and controller ports, the shared voter list, test timeouts (see
    /// [`test_overrides`]) and `extra_args` (passed to every node, after the defaults). Returns once every node's
    /// client port accepts connections, every node answers metadata, and metadata lists all `n` brokers.
    ///
    /// A node that exits while the cluster starts (a port taken between [`free_port`] and the bind, on the client
    /// or the controller listener, noticed late) makes the whole start begin again on fresh ports and directories,
    /// up to three attempts.
    pub fn start(bin: &Path, n: usize, extra_args: &[&str]) -> anyhow::Result<TestCluster> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut cluster = TestCluster::launch(bin, n, extra_args)?;
            let Err(e) = cluster.wait_for_brokers(n, START_TIMEOUT) else {
                return Ok(cluster);
            };
            let exited: Vec<i32> = cluster
                .nodes
                .iter_mut()
                .filter_map(|(&id, node)| (!node.is_running()).then_some(id))
                .collect();
            if exited.is_empty() || attempt >= 3 {
                return Err(e);
            }
            eprintln!(
                "strom cluster: node(s) {exited:?} exited during start (attempt {attempt}), retrying on new ports: {e:#}"
            );
        }
    }

    /// Like [`TestCluster::start`] but returns as soon as every node's client port accepts connections, without
    /// waiting for metadata or broker registration (for tests of start-up itself).
    pub fn launch(bin: &Path, n: usize, extra_args: &[&str]) -> anyhow::Result<TestCluster> {
        anyhow::ensure!(n >= 1, "a cluster needs at least one node");
        // Ports are free when picked but not reserved; if a node could not bind, start over with new ones.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match TestCluster::launch_once(bin, n, extra_args) {
                Ok(cluster) => return Ok(cluster),
                Err((e, true)) if attempt < 3 => {
                    eprintln!("strom cluster could not start all nodes (attempt {attempt}), retrying: {e:#}");
                }
                Err((e, _)) => return Err(e),
            }
        }
    }

    /// One attempt; the error says whether a node failed to bind a port or exited (worth retrying with other ports).
    fn launch_once(
        bin: &Path,
        n: usize,
        extra_args: &[&str],
    ) -> Result<TestCluster, (anyhow::Error, bool)> {
        let ids: Vec<i32> = (1..=n as i32).collect();
        let mut ports = Vec::new();
        for _ in 0..2 * n {
            ports.push(free_port().map_err(|e| (e, false))?);
        }
        let (client_ports, controller_ports) = ports.split_at(n);
        let quorum_voters = ids
            .iter()
            .zip(controller_ports)
            .map(|(id, port)| format!("{id}@127.0.0.1:{port}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut args = test_overrides(n);
        args.extend(extra_args.iter().map(|s| s.to_string()));

        // Every node is launched before any is waited for: a quorum member may not serve until its peers are up.
        let mut cluster = TestCluster {
            nodes: BTreeMap::new(),
        };
        for (i, &id) in ids.iter().enumerate() {
            let spec = NodeSpec {
                node_id: id,
                port: client_ports[i],
                controller: ControllerListener {
                    port: controller_ports[i],
                    quorum_voters: quorum_voters.clone(),
                },
                extra_args: &args,
            };
            let node = TestBroker::launch(bin, spec).map_err(|e| (e, false))?;
            cluster.nodes.insert(id, node);
        }
        let deadline = Instant::now() + START_TIMEOUT;
        for id in ids {
            let node = cluster.nodes.get_mut(&id).expect("launched above");
            if let Err(e) = node.wait_accepting(deadline) {
                // A node that could not bind, or that exited at all while its peers were starting: try again on
                // fresh ports (a port taken by another process can make a node exit with other messages too, e.g.
                // when its controller listener loses the race after its client listener won).
                let retry = cluster
                    .nodes
                    .values_mut()
                    .any(|n| n.failed_to_bind() || !n.is_running());
                return Err((e, retry));
            }
        }
        Ok(cluster)
    }

    /// Waits until every running node answers metadata and metadata (asked of the running nodes) lists at least
    /// `brokers` brokers.
    pub fn wait_for_brokers(&self, brokers: usize, timeout: Duration) -> anyhow::Result<()> {
        let bootstrap = self.bootstrap_live();
        wait_for(
            &format!("{brokers} brokers registered in the cluster"),
            timeout,
            || {
                let consumer: BaseConsumer = kafka::consumer_config(&bootstrap).create()?;
                let md = consumer.fetch_metadata(None, Duration::from_secs(5))?;
                Ok((md.brokers().len() >= brokers).then_some(()))
            },
        )
        .map_err(|e| self.with_logs(e))
    }

    /// Node ids, ascending (`1..=n`).
    pub fn ids(&self) -> Vec<i32> {
        self.nodes.keys().copied().collect()
    }

    /// `127.0.0.1:P1,127.0.0.1:P2,...`: every node, running or not. librdkafka copes with dead entries.
    pub fn bootstrap(&self) -> String {
        self.nodes
            .values()
            .map(TestBroker::bootstrap)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The bootstrap list of the nodes that are running and not paused. Prefer it for one-shot metadata lookups
    /// while a node is SIGSTOPped: a stopped process still completes TCP handshakes but never answers.
    pub fn bootstrap_live(&self) -> String {
        self.nodes
            .values()
            .filter(|n| n.pid().is_some() && !n.is_paused())
            .map(TestBroker::bootstrap)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The node with this id. Panics on an unknown id (a bug in the test).
    pub fn node(&self, id: i32) -> &TestBroker {
        self.nodes
            .get(&id)
            .unwrap_or_else(|| panic!("no node {id} in this cluster"))
    }

    /// The node with this id, mutably. Panics on an unknown id.
    pub fn node_mut(&mut self, id: i32) -> &mut TestBroker {
        self.nodes
            .get_mut(&id)
            .unwrap_or_else(|| panic!("no node {id} in this cluster"))
    }

    /// SIGKILL node `id` and reap it; its data directory is kept for `restart`.
    pub fn kill9(&mut self, id: i32) -> anyhow::Result<()> {
        self.node_mut(id)
            .kill9()
            .with_context(|| format!("kill -9 node {id}"))
    }

    /// SIGTERM node `id` (SIGCONT first if paused) and wait for a clean exit.
    pub fn stop(&mut self, id: i32) -> anyhow::Result<()> {
        self.node_mut(id)
            .stop()
            .with_context(|| format!("stopping node {id}"))
    }

    /// Stops every running node cleanly, in id order.
    pub fn stop_all(&mut self) -> anyhow::Result<()> {
        for id in self.ids() {
            if self.node_mut(id).is_running() {
                self.stop(id)?;
            }
        }
        Ok(())
    }

    /// Starts node `id` again on the same ports and data directory (kill -9 first if it is running) and waits until
    /// it answers metadata.
    pub fn restart(&mut self, id: i32) -> anyhow::Result<()> {
        self.node_mut(id)
            .restart()
            .with_context(|| format!("restarting node {id}"))
    }

    /// SIGSTOP node `id`.
    pub fn pause(&mut self, id: i32) -> anyhow::Result<()> {
        self.node_mut(id)
            .pause()
            .with_context(|| format!("pausing node {id}"))
    }

    /// SIGCONT node `id`.
    pub fn resume(&mut self, id: i32) -> anyhow::Result<()> {
        self.node_mut(id)
            .resume()
            .with_context(|| format!("resuming node {id}"))
    }

    /// The `--log-dirs` directory of node `id`.
    pub fn data_dir(&self, id: i32) -> PathBuf {
        self.node(id).data_dir()
    }

    /// `<data>/<topic>-<partition>` on node `id`.
    pub fn partition_dir(&self, id: i32, topic: &str, partition: i32) -> PathBuf {
        self.node(id).partition_dir(topic, partition)
    }

    /// Fails if any node's log shows a Rust panic.
    pub fn assert_no_panic(&self) {
        for node in self.nodes.values() {
            node.assert_no_panic();
        }
    }

    /// The last lines of every node's log, for failure messages.
    pub fn log_tails(&self, lines: usize) -> String {
        self.nodes
            .iter()
            .map(|(id, n)| format!("---- node {id} ----\n{}", n.log_tail(lines)))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn with_logs(&self, e: anyhow::Error) -> anyhow::Error {
        e.context(format!("cluster logs:\n{}", self.log_tails(40)))
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        // Each TestBroker's own Drop SIGKILLs its process (SIGKILL ends stopped processes too) and prints its log
        // tail when the test is failing.
        self.nodes.clear();
    }
}

/// Creates `name` with `partitions` partitions of `replication_factor` replicas and the given topic configs, and
/// waits until every partition has a leader and a full ISR.
pub fn create_replicated_topic(
    bootstrap: &str,
    name: &str,
    partitions: i32,
    replication_factor: i32,
    configs: &[(&str, &str)],
) -> anyhow::Result<()> {
    let admin = kafka::admin(bootstrap)?;
    let mut topic = NewTopic::new(
        name,
        partitions,
        TopicReplication::Fixed(replication_factor),
    );
    for &(k, v) in configs {
        topic = topic.set(k, v);
    }
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for r in kafka::block_on(admin.create_topics([&topic], &opts)).context("CreateTopics")? {
        if let Err((topic, code)) = r {
            bail!("creating topic {topic:?} failed: {code:?}");
        }
    }
    wait_for_full_isr(bootstrap, name, replication_factor, START_TIMEOUT)
}

/// Waits until every partition of `topic` has a leader and `isr_size` in-sync replicas.
pub fn wait_for_full_isr(
    bootstrap: &str,
    topic: &str,
    isr_size: i32,
    timeout: Duration,
) -> anyhow::Result<()> {
    crate::wait_until(
        &format!("every partition of {topic} to have a leader and {isr_size} in-sync replicas"),
        timeout,
        || {
            let consumer: BaseConsumer = kafka::consumer_config(bootstrap).create()?;
            let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(5))?;
            Ok(md.topics().iter().any(|t| {
                t.name() == topic
                    && t.error().is_none()
                    && !t.partitions().is_empty()
                    && t.partitions()
                        .iter()
                        .all(|p| p.leader() >= 0 && p.isr().len() == isr_size as usize)
            }))
        },
    )
}

/// Metadata of one partition, asked of `bootstrap`; `Ok(None)` while the topic or partition is not (yet) known.
fn partition_metadata<T>(
    bootstrap: &str,
    topic: &str,
    partition: i32,
    read: impl FnOnce(&MetadataPartition) -> T,
) -> anyhow::Result<Option<T>> {
    let consumer: BaseConsumer = kafka::consumer_config(bootstrap).create()?;
    let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(5))?;
    let Some(t) = md.topics().iter().find(|t| t.name() == topic) else {
        return Ok(None);
    };
    if t.error().is_some() {
        return Ok(None);
    }
    Ok(t.partitions()
        .iter()
        .find(|p| p.id() == partition)
        .map(read))
}

/// The leader of `topic`/`partition` per metadata; fails if there is none (-1) or the partition is unknown.
pub fn partition_leader(bootstrap: &str, topic: &str, partition: i32) -> anyhow::Result<i32> {
    match partition_metadata(bootstrap, topic, partition, MetadataPartition::leader)? {
        Some(leader) if leader >= 0 => Ok(leader),
        Some(_) => bail!("{topic}-{partition} has no leader"),
        None => bail!("{topic}-{partition} is not in metadata"),
    }
}

/// The in-sync replicas of `topic`/`partition` per metadata, sorted.
pub fn partition_isr(bootstrap: &str, topic: &str, partition: i32) -> anyhow::Result<Vec<i32>> {
    let mut isr = partition_metadata(bootstrap, topic, partition, |p| p.isr().to_vec())?
        .with_context(|| format!("{topic}-{partition} is not in metadata"))?;
    isr.sort_unstable();
    Ok(isr)
}

/// The assigned replicas of `topic`/`partition` per metadata, in assignment order (the first is the preferred
/// leader).
pub fn partition_replicas(
    bootstrap: &str,
    topic: &str,
    partition: i32,
) -> anyhow::Result<Vec<i32>> {
    partition_metadata(bootstrap, topic, partition, |p| p.replicas().to_vec())?
        .with_context(|| format!("{topic}-{partition} is not in metadata"))
}

/// Waits until `leader` of `topic`/`partition` is known and satisfies `accept`; returns it.
pub fn wait_for_leader(
    bootstrap: &str,
    topic: &str,
    partition: i32,
    timeout: Duration,
    mut accept: impl FnMut(i32) -> bool,
) -> anyhow::Result<i32> {
    wait_for(
        &format!("a suitable leader of {topic}-{partition}"),
        timeout,
        || {
            let leader = partition_leader(bootstrap, topic, partition)?;
            Ok(accept(leader).then_some(leader))
        },
    )
}

/// The controller id a Metadata response reports. Strom answers with the metadata quorum's current leader (the
/// active controller), or -1 while there is none.
pub fn controller_id(bootstrap: &str) -> anyhow::Result<i32> {
    kafka::block_on(async {
        let client = strom_client::Client::connect(bootstrap).await?;
        Ok(client.cached_metadata().controller_id)
    })
}

/// The coordinator of consumer group `group` (FindCoordinator), as a broker id.
pub fn group_coordinator(bootstrap: &str, group: &str) -> anyhow::Result<i32> {
    kafka::block_on(async {
        let mut client = strom_client::Client::connect(bootstrap).await?;
        Ok(client.find_coordinator(group).await?.node_id)
    })
}

/// The `__consumer_offsets` partition that holds `group`: Java's `abs(group.hashCode()) % partitions`, as Kafka
/// computes it (`Utils.abs` maps `i32::MIN` to 0).
pub fn offsets_partition_for(group: &str, partitions: i32) -> i32 {
    let hash = group
        .encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    abs % partitions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_partition_matches_java_hash_code() {
        // "group".hashCode() == 98629247 in Java; 98629247 % 50 == 47.
        assert_eq!(offsets_partition_for("group", 50), 47);
        // "".hashCode() == 0.
        assert_eq!(offsets_partition_for("", 50), 0);
        // "polygenelubricants".hashCode() == i32::MIN; Kafka's Utils.abs maps it to 0.
        assert_eq!(offsets_partition_for("polygenelubricants", 50), 0);
    }

    #[test]
    fn test_overrides_replicate_to_every_node() {
        let args = test_overrides(3).join(" ");
        assert!(
            args.contains("--override default.replication.factor=3"),
            "{args}"
        );
        assert!(
            args.contains("--override offsets.topic.replication.factor=3"),
            "{args}"
        );
        assert!(
            args.contains("--override replica.lag.time.max.ms=2000"),
            "{args}"
        );
    }
}
