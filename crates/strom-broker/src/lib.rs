//! The Strom broker: the one crate that knows both the wire and the disk. It accepts connections, decodes
//! requests (strom-protocol), dispatches each to its handler under `api/`, and serves them from the partition
//! logs (strom-storage) and the metadata image (strom-metadata). Nothing depends on this crate but the binary.

pub mod broker;
pub mod config;
mod connection;
mod dispatch;
mod dynamic_broker_config;
mod error_code;
mod group_coordinator;
mod partition;
mod periodic;
mod producer_id;
mod replica_fetcher;
pub mod server;
pub mod topic_config;
mod txn_coordinator;
mod txn_verification;

mod api;

pub use broker::{Broker, BrokerError};
pub use config::{BrokerConfig, ConfigError};
pub use server::run;
