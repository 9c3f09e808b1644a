//! Multi-voter tests of `MetadataNode`: three nodes in one process on loopback ports, through
//! the real controller listener. Covers election and cluster id, proposals forwarded from
//! followers, leader failover, restart and catch-up, broker registration and fencing by
//! heartbeats, and hostile bytes on the controller port. Timings are shortened so the whole
//! file runs in seconds.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::error::MetadataError;
use crate::image::MetadataImage;
use crate::liveness::BrokerHeartbeat;
use crate::node::{MetadataNode, MetadataNodeConfig, Tuning};
use crate::record::{ConfigResource, MetadataRecord};

const WAIT: Duration = Duration::from_secs(15);

/// Free loopback ports: bind port 0, note it, let it go. A voter list must be known before
/// any node binds, so the ports cannot stay bound.
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<_> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

fn voters(ports: &[u16]) -> BTreeMap<u64, String> {
    (1..)
        .zip(ports)
        .map(|(id, port)| (id, format!("127.0.0.1:{port}")))
        .collect()
}

fn config(root: &Path, voters: &BTreeMap<u64, String>, id: u64) -> MetadataNodeConfig {
    let node_id = i32::try_from(id).unwrap();
    MetadataNodeConfig {
        voters: voters.clone(),
        controller_listen: Some(voters[&id].clone()),
        heartbeat_interval: Duration::from_millis(300),
        session_timeout: Duration::from_millis(2000),
        startup_timeout: WAIT,
        ..MetadataNodeConfig::new(
            id,
            root.join(format!("node-{id}")),
            BrokerHeartbeat {
                node_id,
                host: "127.0.0.1".to_string(),
                port: 19090 + node_id,
                rack: None,
                want_shutdown: false,
            },
        )
    }
}

/// Snapshots and purges after every few entries, so a node that was down catches up through
/// InstallSnapshot rather than the log.
fn tuning() -> Tuning {
    Tuning {
        snapshot_every: 3,
        logs_to_keep: 0,
        purge_batch: 1,
    }
}

async fn start(root: &Path, voters: &BTreeMap<u64, String>, id: u64) -> MetadataNode {
    MetadataNode::start_with(config(root, voters, id), tuning())
        .await
        .unwrap()
}

/// Waits until `check` holds for the node's image.
async fn wait_image(node: &MetadataNode, what: &str, check: impl Fn(&MetadataImage) -> bool) {
    let mut images = node.subscribe();
    let waited = tokio::time::timeout(WAIT, images.wait_for(|image| check(image))).await;
    assert!(
        matches!(waited, Ok(Ok(_))),
        "{what}: not reached, image {:?}",
        node.image()
    );
}

fn broker_config(node: i32, value: &str) -> MetadataRecord {
    MetadataRecord::AlterConfigs {
        resource: ConfigResource::Broker(node),
        set: BTreeMap::from([("log.retention.ms".to_string(), value.to_string())]),
        delete: Vec::new(),
    }
}

fn config_of(image: &MetadataImage, node: i32) -> Option<&str> {
    image
        .broker_configs
        .get(&node)
        .and_then(|c| c.get("log.retention.ms"))
        .map(String::as_str)
}

fn unfenced(image: &MetadataImage) -> Vec<i32> {
    image
        .brokers
        .values()
        .filter(|b| !b.fenced)
        .map(|b| b.node_id)
        .collect()
}

async fn leader_of(nodes: &[&MetadataNode]) -> usize {
    let begin = Instant::now();
    loop {
        let leaders: Vec<usize> = (0..nodes.len())
            .filter(|i| nodes[*i].is_controller())
            .collect();
        if let [leader] = leaders[..] {
            return leader;
        }
        assert!(begin.elapsed() < WAIT, "no single leader: {leaders:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_voters_elect_replicate_fail_over_and_catch_up() {
    let dir = tempfile::tempdir().unwrap();
    let voters = voters(&free_ports(3));
    let begin = Instant::now();
    let (a, b, c) = tokio::join!(
        start(dir.path(), &voters, 1),
        start(dir.path(), &voters, 2),
        start(dir.path(), &voters, 3),
    );
    let mut nodes = vec![a, b, c];
    tracing::info!(elapsed = ?begin.elapsed(), "three metadata nodes started");

    // One leader, one cluster id, every broker registered and unfenced everywhere.
    let leader = leader_of(&nodes.iter().collect::<Vec<_>>()).await;
    let cluster_id = nodes[0].image().cluster_id.clone();
    assert_eq!(cluster_id.len(), 22);
    let leader_id = i32::try_from(leader + 1).unwrap();
    for node in &nodes {
        wait_image(node, "brokers registered, controller known", |image| {
            image.cluster_id == cluster_id
                && unfenced(image) == [1, 2, 3]
                && image.controller_id == leader_id
        })
        .await;
    }

    // A proposal on a follower is forwarded, and visible on that follower when it returns.
    let follower = (leader + 1) % 3;
    let results = nodes[follower]
        .propose(vec![broker_config(1, "1000")])
        .await
        .unwrap();
    assert_eq!(results, vec![Ok(())]);
    assert_eq!(config_of(&nodes[follower].image(), 1), Some("1000"));
    for node in &nodes {
        wait_image(node, "forwarded proposal applied", |image| {
            config_of(image, 1) == Some("1000")
        })
        .await;
    }

    // Hostile bytes on a controller port close that connection and hurt nothing.
    let port = &voters[&u64::try_from(follower + 1).unwrap()];
    for garbage in [
        &[0xff, 0xff, 0xff, 0xff, 4, b'{'][..],
        &[0, 0, 0, 3, 1, b'{', b'x'],
        &[0, 0, 0, 2, 42, 0],
        b"GET / HTTP/1.1\r\n\r\n",
    ] {
        let mut stream = TcpStream::connect(port).await.unwrap();
        stream.write_all(garbage).await.unwrap();
        let mut rest = Vec::new();
        let read = tokio::time::timeout(WAIT, stream.read_to_end(&mut rest)).await;
        // Closed without a reply: EOF, or a reset when our bytes were left unread.
        assert!(
            read.is_ok() && rest.is_empty(),
            "{garbage:?}: {read:?} {rest:?}"
        );
    }

    // The leader stops: the other two elect a new one and take proposals; the stopped
    // broker's heartbeats stop, so it is fenced after the session timeout.
    let old = nodes.remove(leader);
    let stopped_id = leader_id;
    old.shutdown().await.unwrap();
    let old_last_log = old.raft().metrics().borrow().last_log_index;
    drop(old);
    let new_leader = leader_of(&nodes.iter().collect::<Vec<_>>()).await;
    for node in &nodes {
        let results = node
            .propose(vec![broker_config(stopped_id, "2000")])
            .await
            .unwrap();
        assert_eq!(results, vec![Ok(())]);
    }
    for node in &nodes {
        wait_image(node, "stopped broker fenced", |image| {
            image.brokers.get(&stopped_id).is_some_and(|b| b.fenced) && unfenced(image).len() == 2
        })
        .await;
    }
    let new_leader_id = nodes[new_leader].image().controller_id;
    assert_ne!(new_leader_id, stopped_id);

    // Restarted from its directory, it catches up with what was committed meanwhile and is
    // unfenced again by its own heartbeats.
    let leader_purged = nodes[new_leader].raft().metrics().borrow().purged;
    let restarted = start(dir.path(), &voters, u64::try_from(stopped_id).unwrap()).await;
    // The leader had purged its log past what the stopped node had, so the restarted node
    // can only have caught up through InstallSnapshot.
    assert!(
        leader_purged.map(|p| p.index) > old_last_log,
        "purged {leader_purged:?}, stopped node had {old_last_log:?}"
    );
    let image = restarted.image();
    assert_eq!(image.cluster_id, cluster_id);
    assert_eq!(config_of(&image, stopped_id), Some("2000"), "{image:?}");
    assert!(!image.brokers[&stopped_id].fenced);
    nodes.push(restarted);
    for node in &nodes {
        wait_image(node, "all unfenced again", |image| {
            unfenced(image) == [1, 2, 3]
        })
        .await;
    }
    let results = nodes[2]
        .propose(vec![broker_config(3, "3000")])
        .await
        .unwrap();
    assert_eq!(results, vec![Ok(())]);

    // Controlled shutdown of a follower: the controller answers ready, heartbeats stop.
    let follower = nodes.iter().position(|n| !n.is_controller()).unwrap();
    nodes[follower]
        .controlled_shutdown(Duration::from_secs(5))
        .await;

    for node in &nodes {
        node.shutdown().await.unwrap();
    }
    assert!(matches!(
        nodes[0].propose(vec![broker_config(1, "4")]).await,
        Err(MetadataError::Stopped(_))
    ));
    tracing::info!(elapsed = ?begin.elapsed(), "cluster test done");
}

#[tokio::test]
async fn voters_must_include_this_node_and_a_listener() {
    let dir = tempfile::tempdir().unwrap();
    let voters = voters(&free_ports(2));
    let mut cfg = config(dir.path(), &voters, 1);
    cfg.node_id = 7;
    assert!(matches!(
        MetadataNode::start(cfg).await,
        Err(MetadataError::Config(_))
    ));
    let mut cfg = config(dir.path(), &voters, 1);
    cfg.controller_listen = None;
    assert!(matches!(
        MetadataNode::start(cfg).await,
        Err(MetadataError::Config(_))
    ));
}
