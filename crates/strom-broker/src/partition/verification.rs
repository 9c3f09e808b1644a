//! KIP-890 part 1 on the partition leader (Kafka's `UnifiedLog.maybeStartTransactionVerification`, its
//! `VerificationStateEntry` / `VerificationGuard`, and the check in its append): before the first transactional
//! batch of a producer's transaction is appended here, the transaction coordinator confirms that the partition
//! is in the transaction (`txn_verification.rs` asks it). The guard handed out when the check starts must still
//! be the producer's when the append happens, so a transaction that ended meanwhile (its marker clears the
//! guard) can never be reopened by a stale answer (the ABA case Kafka's guard exists for). A producer with an
//! open transaction in this partition, at the batch's epoch, needs no check: that is the hot path, one map
//! lookup under the log lock.
//!
//! The per-producer entries sit behind their own mutex, taken only while the log lock is held (log first), and
//! are dropped on the producer's next transactional append or marker, or after `producer.id.expiration.ms`'s
//! default when the producer never comes back.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::MutexGuard;

use strom_storage::AppendError;

use super::{Partition, PartitionError};

/// Kafka's `producer.id.expiration.ms` default: an entry of a check nobody followed up is dropped after it.
const ENTRY_EXPIRY_MS: i64 = 86_400_000;

/// Unique guards: one per started check (Kafka's `VerificationGuard` is a fresh object each time).
static NEXT_GUARD: AtomicU64 = AtomicU64::new(1);

/// The token a started check hands out; only the producer's current one lets its first batch in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct VerificationGuard(u64);

/// One producer's started check (Kafka's `VerificationStateEntry`): its guard, and the lowest sequence seen
/// while it waits, so a later batch cannot overtake an earlier one that is still being checked.
#[derive(Debug)]
pub(super) struct VerificationEntry {
    guard: VerificationGuard,
    created_ms: i64,
    lowest_sequence: i32,
    epoch: i16,
}

impl VerificationEntry {
    /// Kafka's `maybeUpdateLowestSequenceAndEpoch`.
    fn update(&mut self, sequence: i32, epoch: i16) {
        if epoch == self.epoch && sequence < self.lowest_sequence {
            self.lowest_sequence = sequence;
        }
        if epoch > self.epoch {
            self.epoch = epoch;
            self.lowest_sequence = sequence;
        }
    }
}

/// What the append of a transactional produce checks when verification is on: the producer of its
/// transactional batches, the first batch's sequence, and the guard its check started with (None when the
/// producer had an open transaction here, so no check was needed; the append then needs it still open).
#[derive(Clone, Copy, Debug)]
pub(crate) struct TxnAppendCheck {
    pub(crate) producer_id: i64,
    pub(crate) producer_epoch: i16,
    pub(crate) base_sequence: i32,
    pub(crate) guard: Option<VerificationGuard>,
}

impl Partition {
    fn verification(&self) -> MutexGuard<'_, HashMap<i64, VerificationEntry>> {
        self.verification.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts the check for a transactional batch of `producer_id` (Kafka's
    /// `maybeStartTransactionVerification`): None when the producer has an open transaction here at
    /// `producer_epoch` (nothing to check), else the guard the append must present. Only the leader checks.
    pub(crate) fn start_txn_verification(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
        now_ms: i64,
    ) -> Result<Option<VerificationGuard>, PartitionError> {
        let guard = self.lock();
        let log = guard.as_ref().ok_or(PartitionError::Closed)?;
        self.state().check_leader(-1)?;
        if log.has_ongoing_transaction(producer_id, producer_epoch) {
            return Ok(None);
        }
        let mut entries = self.verification();
        entries.retain(|_, e| now_ms - e.created_ms < ENTRY_EXPIRY_MS);
        let entry = entries
            .entry(producer_id)
            .or_insert_with(|| VerificationEntry {
                guard: VerificationGuard(NEXT_GUARD.fetch_add(1, Ordering::Relaxed)),
                created_ms: now_ms,
                lowest_sequence: base_sequence,
                epoch: producer_epoch,
            });
        entry.update(base_sequence, producer_epoch);
        Ok(Some(entry.guard))
    }

    /// The append-time half (Kafka's check in `analyzeAndValidateProducerState` and the lowest-sequence rule of
    /// `ProducerAppendInfo.checkSequence`), called with the log lock held: a batch with a higher sequence than
    /// one still being checked is OUT_OF_ORDER_SEQUENCE_NUMBER; without an open transaction, a batch whose
    /// guard is not the producer's current one is not in the transaction.
    pub(super) fn check_txn_append(
        &self,
        log: &strom_storage::PartitionLog,
        check: &TxnAppendCheck,
    ) -> Result<(), PartitionError> {
        let entries = self.verification();
        let entry = entries.get(&check.producer_id);
        if let Some(e) = entry {
            if check.base_sequence > e.lowest_sequence {
                return Err(PartitionError::Append {
                    error: AppendError::OutOfOrderSequence {
                        producer_id: check.producer_id,
                        expected: e.lowest_sequence,
                        got: check.base_sequence,
                    },
                    log_start_offset: log.log_start_offset(),
                });
            }
        }
        if log.has_ongoing_transaction(check.producer_id, check.producer_epoch) {
            return Ok(());
        }
        match (entry, check.guard) {
            (Some(e), Some(g)) if e.guard == g => Ok(()),
            _ => Err(PartitionError::NotInTransaction),
        }
    }

    /// A transactional batch or a marker of `producer_id` was appended: its check is over (Kafka's
    /// `clearVerificationStateEntry` in `updateProducers`). Called with the log lock held.
    pub(super) fn clear_txn_verification(&self, producer_id: i64) {
        let mut entries = self.verification();
        if !entries.is_empty() {
            entries.remove(&producer_id);
        }
    }
}
