//! The partitions this broker hosts (Kafka's ReplicaManager, single-node form): a map from topic-partition to
//! its log, and the "data arrived" signal that wakes parked fetches. Owns no policy about topics; `broker.rs`
//! decides which partitions exist by reconciling with the metadata image.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use strom_storage::PartitionLog;
use tokio::sync::watch;
use uuid::Uuid;

/// One hosted partition. The log sits behind a plain mutex: appends and reads are short, synchronous page
/// cache operations, and no guard is ever held across an `.await`.
pub(crate) struct Partition {
    pub(crate) topic: String,
    pub(crate) index: i32,
    pub(crate) topic_id: Uuid,
    /// `None` once the partition was closed (shutdown) or deleted; requests then see it as gone.
    log: Mutex<Option<PartitionLog>>,
}

impl Partition {
    pub(crate) fn new(topic: String, index: i32, topic_id: Uuid, log: PartitionLog) -> Self {
        Self {
            topic,
            index,
            topic_id,
            log: Mutex::new(Some(log)),
        }
    }

    /// Locks the log. A poisoned lock (a panic while appending) still gives access: the log's own state is
    /// updated only after each write succeeds, so it stays consistent.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Option<PartitionLog>> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Removes the log for closing or deletion.
    pub(crate) fn take(&self) -> Option<PartitionLog> {
        self.lock().take()
    }
}

/// All hosted partitions, keyed topic → partition so a lookup on the produce/fetch path borrows the
/// request's topic name instead of allocating a key.
pub(crate) struct ReplicaManager {
    partitions: RwLock<HashMap<String, HashMap<i32, Arc<Partition>>>>,
    /// Bumped after every append; fetches waiting for min_bytes watch it.
    data_arrived: watch::Sender<u64>,
}

impl ReplicaManager {
    pub(crate) fn new() -> Self {
        let (data_arrived, _) = watch::channel(0);
        Self {
            partitions: RwLock::new(HashMap::new()),
            data_arrived,
        }
    }

    pub(crate) fn get(&self, topic: &str, index: i32) -> Option<Arc<Partition>> {
        let map = self.partitions.read().unwrap_or_else(|e| e.into_inner());
        map.get(topic)?.get(&index).cloned()
    }

    pub(crate) fn insert(&self, partition: Partition) {
        let mut map = self.partitions.write().unwrap_or_else(|e| e.into_inner());
        map.entry(partition.topic.clone())
            .or_default()
            .insert(partition.index, Arc::new(partition));
    }

    pub(crate) fn remove(&self, topic: &str, index: i32) -> Option<Arc<Partition>> {
        let mut map = self.partitions.write().unwrap_or_else(|e| e.into_inner());
        let partitions = map.get_mut(topic)?;
        let removed = partitions.remove(&index);
        if partitions.is_empty() {
            map.remove(topic);
        }
        removed
    }

    pub(crate) fn all(&self) -> Vec<Arc<Partition>> {
        let map = self.partitions.read().unwrap_or_else(|e| e.into_inner());
        map.values().flat_map(|p| p.values().cloned()).collect()
    }

    /// Wakes parked fetches; call after an append.
    pub(crate) fn notify_data_arrived(&self) {
        self.data_arrived.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.data_arrived.subscribe()
    }
}
