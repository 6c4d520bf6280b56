//! Raft replication of the keyspace (openraft 0.9, `storage-v2`).
//!
//! Split by audience (docs/architecture.md, "Cluster"):
//!
//! * [`log_store`]: the raft log in its own segment files (CRC per entry,
//!   fsynced before `LogFlushed`, the leader's own entries in parallel with
//!   their replication behind a durable watermark), the vote, purge;
//! * [`state_machine`]: the keyspace as the state machine: each entry is a
//!   normalised command applied with the leader's `Ctx`; the last applied log
//!   id lives in the keyspace's own log (same batch as the data); snapshots
//!   are point-in-time copies of the keyspace;
//! * [`network`]: the peer transport (length-prefixed bincode frames over TCP,
//!   authenticated with the shared cluster secret) and its RPC server;
//! * [`node`]: a running node: CLUSTER commands, proposing writes,
//!   linearizable reads, forwarding from followers to the leader;
//! * [`backend`]: the server's `Backend` in cluster mode;
//! * [`slots`]: Redis Cluster hash slots for the redirect mode.
#![allow(
    clippy::result_large_err,
    reason = "openraft's StorageError / RaftError are the traits' error types"
)]

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::command::Reply;

pub use backend::ClusterBackend;
pub use node::{ClusterConfig, ClusterNode};

pub mod backend;
pub mod log_store;
pub mod network;
pub mod node;
pub mod packed;
pub mod prevote;
pub mod slots;
pub mod state_machine;
#[cfg(test)]
mod tests;

/// A node's identity and raft address, as stored in the membership.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// The name given to `CLUSTER INIT` / `CLUSTER JOIN` (e.g. `node1`).
    pub name: String,
    /// `host:port` of the node's raft (peer) listener.
    pub raft_addr: String,
}

impl NodeInfo {
    /// Checks a name and address a user gave (CLUSTER INIT / JOIN, the
    /// startup flags): a name is 1-64 letters, digits, `-`, `_` or `.`; an
    /// address is `host:port` with a port number. Neither is ever used to
    /// build a file path; this keeps logs, INFO and CLUSTER MEMBERS sane.
    pub fn validate(&self) -> Result<(), String> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !name_ok {
            return Err(format!(
                "invalid node name {:?}: use 1-64 letters, digits, '-', '_' or '.'",
                self.name
            ));
        }
        let addr_ok = self.raft_addr.len() <= 255
            && self.raft_addr.rsplit_once(':').is_some_and(|(host, port)| {
                !host.is_empty()
                    && port.parse::<u16>().is_ok_and(|p| p > 0)
                    && host
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-.[]:".contains(&b))
            });
        if !addr_ok {
            return Err(format!(
                "invalid raft address {:?}: expected host:port",
                self.raft_addr
            ));
        }
        Ok(())
    }
}

impl fmt::Display for NodeInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.name, self.raft_addr)
    }
}

/// The raft node id of a node name: the number itself when the name is a
/// decimal number, else a 64-bit FNV-1a hash of the name.
pub fn node_id(name: &str) -> u64 {
    if let Ok(n) = name.parse::<u64>() {
        return n;
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// A replicated command: what a raft log entry carries.
///
/// Commands are normalised by the proposer (see [`state_machine::normalise`]):
/// relative TTLs are absolute deadlines, and `now_ms` / `rng_seed` are the
/// proposer's, so that every replica computes the same result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// One command on database `db`.
    Command {
        /// Logical database.
        db: usize,
        /// The proposer's clock.
        now_ms: u64,
        /// Seed for random choices (SPOP, ...).
        rng_seed: u64,
        /// The normalised argv. `Bytes` (serialised as bincode bytes: the
        /// same encoding as the `Vec<u8>` it was up to format 2) in an
        /// `Arc` (serialised as the sequence a `Vec` is): the copies openraft
        /// makes of an entry (for each follower, for apply) only count
        /// references.
        argv: Arc<[Bytes]>,
    },
    /// MULTI/EXEC as one entry.
    Transaction {
        /// Logical database at EXEC.
        db: usize,
        /// The proposer's clock.
        now_ms: u64,
        /// Seed for random choices.
        rng_seed: u64,
        /// The normalised commands.
        cmds: Vec<Vec<Bytes>>,
    },
    /// One round of active expiry at the leader's time.
    ExpireCycle {
        /// The leader's clock.
        now_ms: u64,
    },
    /// Requests submitted together (a pipeline's writes, a forwarded
    /// batch); the replies are concatenated (see
    /// `state_machine::reply_count`). Shared (serialised as a `Vec`) for
    /// the same reason as `argv`. The proposer packs them into
    /// [`Request::Packed`] for the log; entries of this form are still
    /// read (logs written before format 3) and applied.
    Batch(Arc<[Request]>),
    /// Requests proposed together (group commit: one entry, one fsync),
    /// in the compact form of [`packed`]; replies as for `Batch`.
    Packed(packed::Packed),
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Request::Command { argv, .. } => {
                let name = argv
                    .first()
                    .map(|n| String::from_utf8_lossy(n).into_owned());
                write!(f, "command {}", name.unwrap_or_default())
            }
            Request::Transaction { cmds, .. } => write!(f, "transaction of {}", cmds.len()),
            Request::ExpireCycle { now_ms } => write!(f, "expire cycle at {now_ms}"),
            Request::Batch(v) => write!(f, "batch of {}", v.len()),
            Request::Packed(p) => write!(f, "batch of {}", p.len()),
        }
    }
}

/// The result of applying one entry: one reply per command (empty for
/// blank, membership and expiry entries).
///
/// The replies stay [`Reply`]s (the leader hands them to its clients as
/// they are); openraft wants the type serialisable, which goes through
/// [`WireReply`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Response {
    /// The replies.
    pub replies: Vec<Reply>,
}

impl Serialize for Response {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let wire: Vec<WireReply> = self.replies.iter().map(WireReply::from).collect();
        wire.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Response {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wire = Vec::<WireReply>::deserialize(d)?;
        Ok(Response {
            replies: wire.into_iter().map(Reply::from).collect(),
        })
    }
}

/// [`Reply`] in a serialisable shape (the peer transport and forwarding).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs, reason = "mirrors command::Reply variant by variant")]
pub enum WireReply {
    Simple(String),
    Error(String),
    Integer(i64),
    Bulk(Vec<u8>),
    Nil,
    Array(Vec<WireReply>),
    NilArray,
    Map(Vec<(WireReply, WireReply)>),
    Set(Vec<WireReply>),
    Double(f64),
    Bool(bool),
    Verbatim(Vec<u8>),
    Push(Vec<WireReply>),
    Pairs(Vec<WireReply>),
    HumanDouble(Vec<u8>),
    PairMap(Vec<(WireReply, WireReply)>),
}

impl From<&Reply> for WireReply {
    fn from(r: &Reply) -> Self {
        let many = |v: &[Reply]| v.iter().map(WireReply::from).collect();
        match r {
            Reply::Simple(s) => WireReply::Simple(s.to_string()),
            Reply::Error(s) => WireReply::Error(s.clone()),
            Reply::Integer(i) => WireReply::Integer(*i),
            Reply::Bulk(b) => WireReply::Bulk(b.to_vec()),
            Reply::Nil => WireReply::Nil,
            Reply::Array(v) => WireReply::Array(many(v)),
            Reply::NilArray => WireReply::NilArray,
            Reply::Map(v) => WireReply::Map(v.iter().map(|(k, v)| (k.into(), v.into())).collect()),
            Reply::Set(v) => WireReply::Set(many(v)),
            Reply::Double(d) => WireReply::Double(*d),
            Reply::Bool(b) => WireReply::Bool(*b),
            Reply::Verbatim(b) => WireReply::Verbatim(b.to_vec()),
            Reply::Push(v) => WireReply::Push(many(v)),
            Reply::Pairs(v) => WireReply::Pairs(many(v)),
            Reply::HumanDouble(b) => WireReply::HumanDouble(b.to_vec()),
            Reply::PairMap(v) => {
                WireReply::PairMap(v.iter().map(|(k, v)| (k.into(), v.into())).collect())
            }
        }
    }
}

impl From<WireReply> for Reply {
    fn from(r: WireReply) -> Self {
        let many = |v: Vec<WireReply>| v.into_iter().map(Reply::from).collect();
        match r {
            WireReply::Simple(s) => Reply::Simple(s.into()),
            WireReply::Error(s) => Reply::Error(s),
            WireReply::Integer(i) => Reply::Integer(i),
            WireReply::Bulk(b) => Reply::Bulk(b.into()),
            WireReply::Nil => Reply::Nil,
            WireReply::Array(v) => Reply::Array(many(v)),
            WireReply::NilArray => Reply::NilArray,
            WireReply::Map(v) => {
                Reply::Map(v.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
            }
            WireReply::Set(v) => Reply::Set(many(v)),
            WireReply::Double(d) => Reply::Double(d),
            WireReply::Bool(b) => Reply::Bool(b),
            WireReply::Verbatim(b) => Reply::Verbatim(b.into()),
            WireReply::Push(v) => Reply::Push(many(v)),
            WireReply::Pairs(v) => Reply::Pairs(many(v)),
            WireReply::HumanDouble(b) => Reply::HumanDouble(b.into()),
            WireReply::PairMap(v) => {
                Reply::PairMap(v.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
            }
        }
    }
}

openraft::declare_raft_types!(
    /// FincasKV's openraft type configuration.
    pub TypeConfig:
        D = Request,
        R = Response,
        NodeId = u64,
        Node = NodeInfo,
        SnapshotData = tokio::fs::File,
);

/// Runs short blocking work inline on the async worker: a raft log append
/// with its fdatasync (~0.1 ms) or the apply of one group of commands.
/// `block_in_place` for these cost more than the work: each call hands the
/// worker's queue to another thread (measured under `redis-benchmark -c 50`
/// on a 3-node cluster: 6 threads per node, ~11k context switches per 100k
/// SETs per thread). Long work (snapshots) uses [`blocking`].
pub(crate) fn inline<T>(f: impl FnOnce() -> T) -> T {
    f()
}

/// Runs long blocking work (snapshot build and install) from async code:
/// off the async worker on a multi-thread runtime, inline on a
/// current-thread one (unit tests).
pub(crate) fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// The raft handle type.
pub type Raft = openraft::Raft<TypeConfig>;
/// A raft log entry.
pub type Entry = openraft::Entry<TypeConfig>;
/// A raft log id.
pub type LogId = openraft::LogId<u64>;
/// A storage error.
pub type StorageError = openraft::StorageError<u64>;
