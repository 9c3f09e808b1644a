//! Everything that can go wrong in strom-client, as one `thiserror` enum. Owns the mapping from a Kafka error code
//! to `ClientError::Kafka` (names come from `kafka_protocol::ResponseError`); does not decide retry policy beyond
//! reporting whether an error is retriable.

use kafka_protocol::ResponseError;

/// Errors returned by [`crate::Client`] and [`crate::Connection`].
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The bootstrap string could not be parsed (`host:port[,host:port...]`).
    #[error("invalid bootstrap servers {input:?}: {reason}")]
    InvalidBootstrap { input: String, reason: String },

    /// No bootstrap server accepted a connection.
    #[error("could not connect to any bootstrap server ({attempts}): {last}")]
    NoBootstrapReachable {
        attempts: String,
        last: Box<ClientError>,
    },

    /// TCP connect failed.
    #[error("connect to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },

    /// Reading or writing an established connection failed.
    #[error("I/O on connection to {addr}: {source}")]
    Io {
        addr: String,
        source: std::io::Error,
    },

    /// The broker closed the connection before answering.
    #[error("connection to {addr} closed by the broker")]
    ConnectionClosed { addr: String },

    /// No response arrived within the request timeout.
    #[error("request {api} to {addr} timed out after {timeout_ms} ms")]
    Timeout {
        api: &'static str,
        addr: String,
        timeout_ms: u64,
    },

    /// A response frame announced an impossible size.
    #[error("response frame from {addr} has invalid size {size}")]
    InvalidFrameSize { addr: String, size: i32 },

    /// The response carried a correlation id other than the one we sent.
    #[error("correlation id mismatch from {addr}: sent {expected}, received {received}")]
    CorrelationMismatch {
        addr: String,
        expected: i32,
        received: i32,
    },

    /// kafka-protocol could not encode a request.
    #[error("encode {what}: {message}")]
    Encode { what: &'static str, message: String },

    /// kafka-protocol could not decode a response or record batch.
    #[error("decode {what}: {message}")]
    Decode { what: &'static str, message: String },

    /// The broker does not support any version of an API that this client implements.
    #[error("broker {addr} supports no version of {api} that this client implements")]
    UnsupportedApi { api: &'static str, addr: String },

    /// A feature needs a newer API version than the broker offers (for example ListOffsets max-timestamp).
    #[error("{what} needs {api} v{needed}+, broker supports up to v{available}")]
    VersionTooOld {
        what: &'static str,
        api: &'static str,
        needed: i16,
        available: i16,
    },

    /// The broker answered with a non-zero Kafka error code.
    #[error("{name} (code {code}){}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Kafka {
        code: i16,
        name: String,
        message: Option<String>,
    },

    /// A partition has no leader in the cached metadata, or the leader is not among the known brokers.
    #[error("no leader known for {topic}-{partition}")]
    NoLeader { topic: String, partition: i32 },

    /// The response did not mention the topic or partition we asked about.
    #[error("response is missing {what}")]
    MissingInResponse { what: String },

    /// Something the caller passed in is not acceptable (empty record list, bad partition count...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl ClientError {
    /// Builds `ClientError::Kafka` for a non-zero code, or returns `Ok(())` for code 0.
    pub fn check(code: i16, message: Option<&str>) -> Result<(), ClientError> {
        match ResponseError::try_from_code(code) {
            None => Ok(()),
            Some(err) => Err(ClientError::Kafka {
                code,
                name: kafka_error_name(err),
                message: message.map(str::to_owned),
            }),
        }
    }

    /// The Kafka error code, when this is a `Kafka` error.
    pub fn kafka_code(&self) -> Option<i16> {
        match self {
            ClientError::Kafka { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// True when the broker said the requested offset is outside the log (OFFSET_OUT_OF_RANGE).
    pub fn is_offset_out_of_range(&self) -> bool {
        self.kafka_code() == Some(ResponseError::OffsetOutOfRange.code())
    }

    /// True when the broker said the group does not exist (GROUP_ID_NOT_FOUND).
    pub fn is_group_not_found(&self) -> bool {
        self.kafka_code() == Some(ResponseError::GroupIdNotFound.code())
    }

    /// True for Kafka errors the protocol marks retriable, and for transport failures (the request may be
    /// retried on a fresh connection). Note a retried produce may duplicate records.
    pub fn is_retriable(&self) -> bool {
        match self {
            ClientError::Kafka { code, .. } => {
                ResponseError::try_from_code(*code).is_some_and(|e| e.is_retriable())
            }
            ClientError::Connect { .. }
            | ClientError::Io { .. }
            | ClientError::ConnectionClosed { .. }
            | ClientError::Timeout { .. }
            | ClientError::NoBootstrapReachable { .. }
            | ClientError::NoLeader { .. } => true,
            _ => false,
        }
    }

    /// True when cached metadata (leaders, partitions) is probably stale after this error.
    pub(crate) fn invalidates_metadata(&self) -> bool {
        const STALE: [ResponseError; 5] = [
            ResponseError::UnknownTopicOrPartition,
            ResponseError::LeaderNotAvailable,
            ResponseError::NotLeaderOrFollower,
            ResponseError::FencedLeaderEpoch,
            ResponseError::UnknownTopicId,
        ];
        match self {
            ClientError::Kafka { code, .. } => STALE.iter().any(|e| e.code() == *code),
            ClientError::NoLeader { .. } => true,
            _ => false,
        }
    }

    /// True when the connection that produced this error can no longer be trusted (framing state unknown).
    pub(crate) fn poisons_connection(&self) -> bool {
        matches!(
            self,
            ClientError::Io { .. }
                | ClientError::ConnectionClosed { .. }
                | ClientError::Timeout { .. }
                | ClientError::InvalidFrameSize { .. }
                | ClientError::CorrelationMismatch { .. }
                | ClientError::Decode { .. }
        )
    }

    /// An equivalent error for reporting one failure per partition (`io::Error` is not `Clone`, so I/O errors
    /// keep their kind and message).
    pub(crate) fn duplicate(&self) -> ClientError {
        let io = |e: &std::io::Error| std::io::Error::new(e.kind(), e.to_string());
        match self {
            ClientError::InvalidBootstrap { input, reason } => ClientError::InvalidBootstrap {
                input: input.clone(),
                reason: reason.clone(),
            },
            ClientError::NoBootstrapReachable { attempts, last } => {
                ClientError::NoBootstrapReachable {
                    attempts: attempts.clone(),
                    last: Box::new(last.duplicate()),
                }
            }
            ClientError::Connect { addr, source } => ClientError::Connect {
                addr: addr.clone(),
                source: io(source),
            },
            ClientError::Io { addr, source } => ClientError::Io {
                addr: addr.clone(),
                source: io(source),
            },
            ClientError::ConnectionClosed { addr } => {
                ClientError::ConnectionClosed { addr: addr.clone() }
            }
            ClientError::Timeout {
                api,
                addr,
                timeout_ms,
            } => ClientError::Timeout {
                api,
                addr: addr.clone(),
                timeout_ms: *timeout_ms,
            },
            ClientError::InvalidFrameSize { addr, size } => ClientError::InvalidFrameSize {
                addr: addr.clone(),
                size: *size,
            },
            ClientError::CorrelationMismatch {
                addr,
                expected,
                received,
            } => ClientError::CorrelationMismatch {
                addr: addr.clone(),
                expected: *expected,
                received: *received,
            },
            ClientError::Encode { what, message } => ClientError::Encode {
                what,
                message: message.clone(),
            },
            ClientError::Decode { what, message } => ClientError::Decode {
                what,
                message: message.clone(),
            },
            ClientError::UnsupportedApi { api, addr } => ClientError::UnsupportedApi {
                api,
                addr: addr.clone(),
            },
            ClientError::VersionTooOld {
                what,
                api,
                needed,
                available,
            } => ClientError::VersionTooOld {
                what,
                api,
                needed: *needed,
                available: *available,
            },
            ClientError::Kafka {
                code,
                name,
                message,
            } => ClientError::Kafka {
                code: *code,
                name: name.clone(),
                message: message.clone(),
            },
            ClientError::NoLeader { topic, partition } => ClientError::NoLeader {
                topic: topic.clone(),
                partition: *partition,
            },
            ClientError::MissingInResponse { what } => {
                ClientError::MissingInResponse { what: what.clone() }
            }
            ClientError::InvalidArgument(what) => ClientError::InvalidArgument(what.clone()),
        }
    }

    pub(crate) fn decode(what: &'static str, err: impl std::fmt::Display) -> Self {
        ClientError::Decode {
            what,
            message: err.to_string(),
        }
    }

    pub(crate) fn encode(what: &'static str, err: impl std::fmt::Display) -> Self {
        ClientError::Encode {
            what,
            message: err.to_string(),
        }
    }
}

/// Kafka's own spelling of an error (`UNKNOWN_TOPIC_OR_PARTITION`), derived from kafka-protocol's variant name.
pub(crate) fn kafka_error_name(err: ResponseError) -> String {
    if let ResponseError::Unknown(code) = err {
        return format!("UNKNOWN_ERROR_CODE_{code}");
    }
    let camel = err.to_string();
    let mut out = String::with_capacity(camel.len() + 8);
    for (i, ch) in camel.chars().enumerate() {
        if ch.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(ch.to_ascii_uppercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_names_match_java_spelling() {
        let name = |code| ResponseError::try_from_code(code).map(kafka_error_name);
        assert_eq!(name(3).as_deref(), Some("UNKNOWN_TOPIC_OR_PARTITION"));
        assert_eq!(name(1).as_deref(), Some("OFFSET_OUT_OF_RANGE"));
        assert_eq!(name(36).as_deref(), Some("TOPIC_ALREADY_EXISTS"));
        assert_eq!(name(-1).as_deref(), Some("UNKNOWN_SERVER_ERROR"));
        assert_eq!(name(9999).as_deref(), Some("UNKNOWN_ERROR_CODE_9999"));
        assert_eq!(name(0), None);
    }

    #[test]
    fn check_maps_codes() {
        assert!(ClientError::check(0, None).is_ok());
        let err = ClientError::check(36, Some("exists")).unwrap_err();
        assert_eq!(err.to_string(), "TOPIC_ALREADY_EXISTS (code 36): exists");
        assert!(ClientError::check(1, None)
            .unwrap_err()
            .is_offset_out_of_range());
        assert!(ClientError::check(6, None)
            .unwrap_err()
            .invalidates_metadata());
    }
}
