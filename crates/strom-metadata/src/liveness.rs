//! Broker liveness at the active controller (Kafka's `BrokerHeartbeatManager` and the periodic
//! duties of `QuorumController`): broker sessions, fencing on expiry, unfencing on return,
//! controlled shutdown, reassignment completion and the automatic preferred-leader rebalance.
//! Pure: no clock (time comes in as `now_ms`), no sockets, no proposing. Every call returns the
//! records to propose, computed from the image; records carry the expected partition epoch, so
//! a proposal that raced with another is rejected on apply instead of clobbering it. The
//! session state is soft: a new controller starts every session afresh (`become_controller`).

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::controller::{
    controlled_shutdown_records, fence_broker_records, leaderless_records,
    preferred_leader_records, reassignment_progress_records, unfence_broker_records,
};
use crate::image::MetadataImage;
use crate::record::MetadataRecord;

/// A broker's heartbeat to the active controller (Kafka's BrokerRegistration and
/// BrokerHeartbeat folded into one): who it is, where it listens, and whether it wants to shut
/// down.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BrokerHeartbeat {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
    /// Kafka's `wantShutDown`: the broker is in controlled shutdown.
    pub want_shutdown: bool,
}

/// The controller's answer to a heartbeat.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct HeartbeatReply {
    /// Kafka's `isFenced`: the broker is fenced in the image the reply was computed from. An
    /// unfence proposed by this heartbeat shows in the reply to a later one.
    pub(crate) fenced: bool,
    /// Kafka's `shouldShutDown`: the broker leads nothing any more and may stop.
    pub(crate) shutdown_ready: bool,
}

/// Settings of the liveness duties (Kafka names in the docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LivenessConfig {
    /// Kafka `broker.session.timeout.ms`: an unfenced broker not heard from for longer is
    /// fenced.
    pub(crate) session_timeout_ms: i64,
    /// Kafka `unclean.leader.election.enable`, the broker default a topic config overrides.
    pub(crate) unclean_default: bool,
    /// Kafka `auto.leader.rebalance.enable`.
    pub(crate) auto_leader_rebalance: bool,
    /// Kafka `leader.imbalance.check.interval.seconds`, in milliseconds.
    pub(crate) leader_imbalance_check_interval_ms: i64,
}

/// Broker sessions as the active controller sees them.
#[derive(Clone, Debug)]
pub(crate) struct Liveness {
    config: LivenessConfig,
    /// When each broker was last heard from (or when this node became controller).
    last_seen_ms: HashMap<i32, i64>,
    /// Brokers in controlled shutdown: they are given no leadership until they heartbeat
    /// without `want_shutdown`.
    shutting_down: BTreeSet<i32>,
    /// When the next preferred-leader rebalance is due.
    next_rebalance_ms: i64,
}

impl Liveness {
    pub(crate) fn new(config: LivenessConfig) -> Liveness {
        Liveness {
            config,
            last_seen_ms: HashMap::new(),
            shutting_down: BTreeSet::new(),
            next_rebalance_ms: i64::MIN,
        }
    }

    /// Called when this node becomes the active controller: every registered broker gets a
    /// fresh session (last seen = now), so a new controller fences nobody before a full
    /// session timeout has passed.
    pub(crate) fn become_controller(&mut self, image: &MetadataImage, now_ms: i64) {
        self.last_seen_ms = image.brokers.keys().map(|&id| (id, now_ms)).collect();
        self.shutting_down.clear();
        self.next_rebalance_ms =
            now_ms.saturating_add(self.config.leader_imbalance_check_interval_ms);
    }

    /// A heartbeat arrived. Returns the records to propose and the reply.
    ///
    /// - An unknown broker, or one whose endpoint changed, is registered (which unfences it),
    ///   and leaderless partitions it can lead get it as leader.
    /// - A known fenced broker that does not want to shut down is unfenced the same way.
    /// - `want_shutdown`: first its leadership and isr places move away
    ///   (`controlled_shutdown_records`); once the image shows nothing left to move, it is
    ///   fenced and told `shutdown_ready`. It stays fenced until it heartbeats again without
    ///   `want_shutdown`.
    pub(crate) fn heartbeat(
        &mut self,
        image: &MetadataImage,
        heartbeat: &BrokerHeartbeat,
        now_ms: i64,
    ) -> (Vec<MetadataRecord>, HeartbeatReply) {
        let node = heartbeat.node_id;
        let known = image.brokers.get(&node);
        let fenced = known.is_none_or(|b| b.fenced);
        if node < 0 {
            // Kafka broker ids are non-negative; such a broker is never registered.
            let reply = HeartbeatReply {
                fenced: true,
                shutdown_ready: heartbeat.want_shutdown,
            };
            return (Vec::new(), reply);
        }
        self.last_seen_ms.insert(node, now_ms);

        if heartbeat.want_shutdown {
            self.shutting_down.insert(node);
            if fenced {
                // Unknown or already fenced: it leads nothing this controller would move.
                let reply = HeartbeatReply {
                    fenced: true,
                    shutdown_ready: true,
                };
                return (Vec::new(), reply);
            }
            let excluded = self.excluded();
            let moves = controlled_shutdown_records(image, node, &excluded);
            if !moves.is_empty() {
                let reply = HeartbeatReply {
                    fenced: false,
                    shutdown_ready: false,
                };
                return (moves, reply);
            }
            let records = fence_broker_records(image, node, self.config.unclean_default, &excluded);
            let reply = HeartbeatReply {
                fenced: false,
                shutdown_ready: true,
            };
            return (records, reply);
        }

        self.shutting_down.remove(&node);
        let excluded = self.excluded();
        let same_endpoint = known.is_some_and(|b| {
            b.host == heartbeat.host && b.port == heartbeat.port && b.rack == heartbeat.rack
        });
        let records = if !same_endpoint {
            let mut records = vec![MetadataRecord::RegisterBroker {
                node_id: node,
                host: heartbeat.host.clone(),
                port: heartbeat.port,
                rack: heartbeat.rack.clone(),
            }];
            records.extend(leaderless_records(
                image,
                Some(node),
                self.config.unclean_default,
                &excluded,
            ));
            records
        } else if fenced {
            unfence_broker_records(image, node, self.config.unclean_default, &excluded)
        } else {
            Vec::new()
        };
        let reply = HeartbeatReply {
            fenced,
            shutdown_ready: false,
        };
        (records, reply)
    }

    /// Periodic duties, in order, each seeing the effect of the ones before: fence unfenced
    /// brokers whose session expired (`fence_broker_records`), elect leaders for leaderless
    /// partitions that have an eligible replica, complete reassignments whose new replicas
    /// caught up, and, when enabled and due, elect preferred leaders. Computed from the image
    /// alone, so once the records are applied a tick proposes nothing more for that state.
    pub(crate) fn tick(&mut self, image: &MetadataImage, now_ms: i64) -> Vec<MetadataRecord> {
        let mut batch = Batch::new(image);
        let unclean = self.config.unclean_default;

        // A broker registered through another controller's term has no session here yet.
        for &id in image.brokers.keys() {
            self.last_seen_ms.entry(id).or_insert(now_ms);
        }
        let expired: Vec<i32> = image
            .brokers
            .values()
            .filter(|b| !b.fenced)
            .filter(|b| {
                self.last_seen_ms.get(&b.node_id).is_some_and(|&seen| {
                    now_ms.saturating_sub(seen) > self.config.session_timeout_ms
                })
            })
            .map(|b| b.node_id)
            .collect();
        // Expired brokers are never elected in place of one another.
        let mut excluded = self.excluded();
        excluded.extend(&expired);
        for &id in &expired {
            let records = fence_broker_records(batch.image(), id, unclean, &excluded);
            batch.extend(records);
        }

        let records = leaderless_records(batch.image(), None, unclean, &excluded);
        batch.extend(records);
        let records = reassignment_progress_records(batch.image(), &excluded);
        batch.extend(records);

        if self.config.auto_leader_rebalance && now_ms >= self.next_rebalance_ms {
            self.next_rebalance_ms =
                now_ms.saturating_add(self.config.leader_imbalance_check_interval_ms.max(0));
            let records = preferred_leader_records(batch.image(), &excluded);
            batch.extend(records);
        }
        batch.records
    }

    /// Brokers no election may pick: those in controlled shutdown.
    fn excluded(&self) -> Vec<i32> {
        self.shutting_down.iter().copied().collect()
    }
}

/// Records of one tick, and the image as it will be once they apply, so each duty builds on
/// the previous ones (a second expired broker sees the partitions the first one lost). The
/// image is cloned only once a duty has something to change.
struct Batch<'a> {
    base: &'a MetadataImage,
    next: Option<MetadataImage>,
    records: Vec<MetadataRecord>,
}

impl<'a> Batch<'a> {
    fn new(base: &'a MetadataImage) -> Batch<'a> {
        Batch {
            base,
            next: None,
            records: Vec::new(),
        }
    }

    fn image(&self) -> &MetadataImage {
        self.next.as_ref().unwrap_or(self.base)
    }

    /// Keeps the records that apply to the image so far and applies them; one that does not
    /// apply would be rejected after proposing too, so it is dropped here.
    fn extend(&mut self, records: Vec<MetadataRecord>) {
        if records.is_empty() {
            return;
        }
        let next = self.next.get_or_insert_with(|| self.base.clone());
        for record in records {
            if next.apply(&record).is_ok() {
                self.records.push(record);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::controller::{alter_partition_records, AlterPartitionRequest};
    use crate::image::PartitionImage;

    const SESSION: i64 = 10_000;
    const REBALANCE: i64 = 30_000;

    fn new_liveness() -> Liveness {
        Liveness::new(LivenessConfig {
            session_timeout_ms: SESSION,
            unclean_default: false,
            auto_leader_rebalance: true,
            leader_imbalance_check_interval_ms: REBALANCE,
        })
    }

    fn heartbeat(node_id: i32) -> BrokerHeartbeat {
        BrokerHeartbeat {
            node_id,
            host: "localhost".to_string(),
            port: 9092 + node_id,
            rack: None,
            want_shutdown: false,
        }
    }

    fn shutdown(node_id: i32) -> BrokerHeartbeat {
        BrokerHeartbeat {
            want_shutdown: true,
            ..heartbeat(node_id)
        }
    }

    /// Applies what a call proposed, as the node would; every record must apply.
    fn apply(image: &mut MetadataImage, records: &[MetadataRecord]) {
        for record in records {
            image
                .apply(record)
                .unwrap_or_else(|e| panic!("{record:?}: {e}"));
        }
    }

    /// Heartbeats, applies the records, returns the reply.
    fn beat(
        liveness: &mut Liveness,
        image: &mut MetadataImage,
        b: &BrokerHeartbeat,
        now: i64,
    ) -> HeartbeatReply {
        let (records, reply) = liveness.heartbeat(image, b, now);
        apply(image, &records);
        reply
    }

    /// Leader, isr, replicas of one partition of topic "t", as one line.
    fn show(image: &MetadataImage, partition: i32) -> String {
        let p = image.partition("t", partition).unwrap();
        format!(
            "leader={} isr={:?} replicas={:?}",
            p.leader, p.isr, p.replicas
        )
    }

    /// Topic "t" with partition i on `replicas[i]`, isr all, leader the first.
    fn create_t(image: &mut MetadataImage, replicas: &[&[i32]]) {
        let partitions = (0..)
            .zip(replicas)
            .map(|(partition, r)| PartitionImage {
                partition,
                replicas: r.to_vec(),
                isr: r.to_vec(),
                leader: r[0],
                leader_epoch: 0,
                partition_epoch: 0,
                adding_replicas: Vec::new(),
                removing_replicas: Vec::new(),
            })
            .collect();
        image
            .apply(&MetadataRecord::CreateTopic {
                name: "t".to_string(),
                topic_id: uuid::Uuid::from_u128(7),
                configs: BTreeMap::new(),
                partitions,
            })
            .unwrap();
    }

    fn grow_isr(image: &mut MetadataImage, partition: i32, isr: &[i32]) {
        let p = image.partition("t", partition).unwrap();
        let record = alter_partition_records(
            image,
            &AlterPartitionRequest {
                topic_id: uuid::Uuid::from_u128(7),
                partition,
                leader_id: p.leader,
                leader_epoch: p.leader_epoch,
                partition_epoch: p.partition_epoch,
                new_isr: isr.to_vec(),
            },
        )
        .unwrap();
        apply(image, &[record]);
    }

    fn isrs_never_empty(image: &MetadataImage) {
        for (_, p) in image.all_partitions() {
            assert!(!p.isr.is_empty(), "{p:?}");
        }
    }

    #[test]
    fn transcript_sessions_fencing_rebalance_and_shutdown() {
        let mut liveness = new_liveness();
        let mut image = MetadataImage::default();
        liveness.become_controller(&image, 0);

        // Three brokers register with their first heartbeat.
        for id in [1, 2, 3] {
            let (records, reply) = liveness.heartbeat(&image, &heartbeat(id), 0);
            assert!(
                matches!(records[..], [MetadataRecord::RegisterBroker { node_id, .. }] if node_id == id)
            );
            assert_eq!(
                reply,
                HeartbeatReply {
                    fenced: true,
                    shutdown_ready: false
                }
            );
            apply(&mut image, &records);
        }
        assert_eq!(image.live_brokers(), vec![1, 2, 3]);
        let (records, reply) = liveness.heartbeat(&image, &heartbeat(1), 1_000);
        assert!(records.is_empty());
        assert!(!reply.fenced);
        create_t(&mut image, &[&[1, 2, 3], &[2, 3, 1], &[2], &[3, 2]]);

        // Everyone heartbeats: nothing to do.
        for id in [1, 2, 3] {
            beat(&mut liveness, &mut image, &heartbeat(id), 5_000);
        }
        assert!(liveness.tick(&image, 6_000).is_empty());

        // Broker 2 falls silent; at 15_001 its session (last seen 5_000) has expired.
        for id in [1, 3] {
            beat(&mut liveness, &mut image, &heartbeat(id), 14_000);
        }
        assert!(liveness.tick(&image, 15_000).is_empty());
        let records = liveness.tick(&image, 15_001);
        assert_eq!(records[0], MetadataRecord::FenceBroker { node_id: 2 });
        apply(&mut image, &records);
        assert!(!image.alive(2));
        assert_eq!(show(&image, 0), "leader=1 isr=[1, 3] replicas=[1, 2, 3]");
        assert_eq!(show(&image, 1), "leader=3 isr=[3, 1] replicas=[2, 3, 1]");
        assert_eq!(show(&image, 2), "leader=-1 isr=[2] replicas=[2]");
        assert_eq!(show(&image, 3), "leader=3 isr=[3] replicas=[3, 2]");
        isrs_never_empty(&image);
        // Applied: the next tick proposes nothing again.
        assert!(liveness.tick(&image, 15_500).is_empty());

        // Broker 2 returns: unfenced, and it leads its leaderless partition again.
        let (records, reply) = liveness.heartbeat(&image, &heartbeat(2), 20_000);
        assert!(
            reply.fenced,
            "still fenced in the image the reply was computed from"
        );
        assert_eq!(records[0], MetadataRecord::UnfenceBroker { node_id: 2 });
        apply(&mut image, &records);
        assert_eq!(show(&image, 2), "leader=2 isr=[2] replicas=[2]");
        assert!(!beat(&mut liveness, &mut image, &heartbeat(2), 20_500).fenced);

        // It catches up on t-1 and t-3; the due rebalance gives t-1 back to its preferred
        // leader (t-3's preferred leader, 3, leads already).
        grow_isr(&mut image, 1, &[3, 1, 2]);
        grow_isr(&mut image, 3, &[3, 2]);
        for id in [1, 2, 3] {
            beat(&mut liveness, &mut image, &heartbeat(id), 29_000);
        }
        assert!(
            liveness.tick(&image, 29_500).is_empty(),
            "rebalance not yet due"
        );
        let records = liveness.tick(&image, 30_000);
        assert_eq!(records.len(), 1, "{records:?}");
        apply(&mut image, &records);
        assert_eq!(show(&image, 1), "leader=2 isr=[3, 1, 2] replicas=[2, 3, 1]");
        for id in [1, 2, 3] {
            beat(&mut liveness, &mut image, &heartbeat(id), 59_000);
        }
        assert!(
            liveness.tick(&image, 60_000).is_empty(),
            "rebalanced already"
        );

        // Controlled shutdown of 2: leadership and isr places move first, then it is fenced.
        for id in [1, 3] {
            beat(&mut liveness, &mut image, &heartbeat(id), 61_000);
        }
        let (records, reply) = liveness.heartbeat(&image, &shutdown(2), 61_000);
        assert_eq!(
            reply,
            HeartbeatReply {
                fenced: false,
                shutdown_ready: false
            }
        );
        assert!(!records.is_empty());
        apply(&mut image, &records);
        assert_eq!(show(&image, 1), "leader=3 isr=[3, 1] replicas=[2, 3, 1]");
        assert_eq!(show(&image, 2), "leader=-1 isr=[2] replicas=[2]");
        assert_eq!(show(&image, 3), "leader=3 isr=[3] replicas=[3, 2]");
        assert!(image.partitions_led_by(2).is_empty());
        // While it shuts down, the tick does not hand it the leaderless t-2 back.
        assert!(liveness.tick(&image, 65_000).is_empty());
        let (records, reply) = liveness.heartbeat(&image, &shutdown(2), 65_500);
        assert_eq!(records, vec![MetadataRecord::FenceBroker { node_id: 2 }]);
        assert!(reply.shutdown_ready);
        apply(&mut image, &records);
        let (records, reply) = liveness.heartbeat(&image, &shutdown(2), 66_000);
        assert!(records.is_empty());
        assert_eq!(
            reply,
            HeartbeatReply {
                fenced: true,
                shutdown_ready: true
            }
        );
        isrs_never_empty(&image);

        // Fenced and silent: no expiry to act on.
        for id in [1, 3] {
            beat(&mut liveness, &mut image, &heartbeat(id), 100_000);
        }
        assert!(liveness.tick(&image, 100_000).is_empty());

        // It restarts on a new port: re-registered (unfenced) and leads t-2 again.
        let moved = BrokerHeartbeat {
            port: 19092,
            ..heartbeat(2)
        };
        let (records, _) = liveness.heartbeat(&image, &moved, 101_000);
        assert!(matches!(
            records[0],
            MetadataRecord::RegisterBroker { port: 19092, .. }
        ));
        apply(&mut image, &records);
        assert!(image.alive(2));
        assert_eq!(image.brokers[&2].port, 19092);
        assert_eq!(show(&image, 2), "leader=2 isr=[2] replicas=[2]");
    }

    #[test]
    fn two_brokers_expiring_together_chain_their_records() {
        let mut liveness = new_liveness();
        let mut image = MetadataImage::default();
        for id in [1, 2, 3] {
            beat(&mut liveness, &mut image, &heartbeat(id), 0);
        }
        create_t(&mut image, &[&[2, 3, 1], &[3, 2]]);
        beat(&mut liveness, &mut image, &heartbeat(1), 9_000);
        let records = liveness.tick(&image, 10_001);
        apply(&mut image, &records);
        assert_eq!(image.live_brokers(), vec![1]);
        // Never elected one expiring broker in place of the other.
        assert_eq!(show(&image, 0), "leader=1 isr=[1] replicas=[2, 3, 1]");
        assert_eq!(show(&image, 1), "leader=-1 isr=[3] replicas=[3, 2]");
        isrs_never_empty(&image);
        assert!(liveness.tick(&image, 10_002).is_empty());
    }

    #[test]
    fn new_controller_gives_fresh_sessions() {
        let mut liveness = new_liveness();
        let mut image = MetadataImage::default();
        for id in [1, 2] {
            beat(&mut liveness, &mut image, &heartbeat(id), 0);
        }
        // A new controller at 50_000 has not heard from anyone yet: no one is fenced before a
        // full session passes.
        let mut next = new_liveness();
        next.become_controller(&image, 50_000);
        assert!(next.tick(&image, 55_000).is_empty());
        beat(&mut next, &mut image, &heartbeat(1), 58_000);
        let records = next.tick(&image, 60_001);
        assert_eq!(records, vec![MetadataRecord::FenceBroker { node_id: 2 }]);
        // A negative id is never registered.
        let (records, reply) = next.heartbeat(&image, &heartbeat(-1), 60_002);
        assert!(records.is_empty() && reply.fenced);
    }
}
