//! FincasKV: a persistent, Redis-compatible key/value store.
//!
//! The crate is organised in rooms with few doors (see `docs/architecture.md`):
//!
//! * [`storage`]: the Bitcask engine. Append-only segment files, the record
//!   codec, the writer with group commit, the in-memory keydir, hint files,
//!   merge and recovery. It knows bytes, not Redis types.
//! * [`keyspace`]: the Redis data model (strings, lists, hashes, sets, sorted
//!   sets, bloom filters, expiry) over the storage log. It knows types, not the
//!   network.
//! * [`command`]: the command table and the one execute path
//!   (`argv -> typed command -> keyspace -> Reply`) shared by the RESP server,
//!   the Python binding and the Raft state machine.
//! * [`resp`]: the RESP2/RESP3 codec facade.
//! * [`server`]: the tokio RESP server.
//! * [`cluster`]: Raft replication (openraft).
#![deny(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

pub mod alloc;
pub mod cluster;
pub mod command;
#[doc(hidden)]
pub mod fuzzing;
pub mod keyspace;
mod prefetch;
pub mod progress;
pub mod resp;
pub mod server;
pub mod storage;
pub mod tls;
