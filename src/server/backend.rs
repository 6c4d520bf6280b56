//! The keyspace as the server's [`Backend`].

use std::sync::Arc;

use bytes::Bytes;

use super::{Backend, Notifier};
use crate::command::{self, CommandSpec, Ctx, Reply};
use crate::keyspace::{KeyObserver, Keyspace, Presence};

impl KeyObserver for Notifier {
    fn key_modified(&self, db: usize, key: &[u8]) {
        Notifier::key_modified(self, db, key);
    }

    fn key_expired(&self, db: usize, key: &[u8]) {
        Notifier::key_expired(self, db, key);
    }

    fn db_flushed(&self, db: Option<usize>, presence: &dyn Fn(usize, &[u8]) -> Presence) {
        Notifier::db_flushed(self, db, presence);
    }

    fn dbs_swapped(&self, a: usize, b: usize, presence: &dyn Fn(usize, &[u8]) -> Presence) {
        Notifier::dbs_swapped(self, a, b, presence);
    }

    fn event_classes(&self) -> u32 {
        Notifier::event_classes(self)
    }

    fn key_event(&self, db: usize, event: &str, key: &[u8]) {
        Notifier::key_event(self, db, event, key);
    }
}

/// A [`Keyspace`] served by the RESP server.
pub struct KeyspaceBackend {
    keyspace: Arc<Keyspace>,
    /// `fsync = always`: writes wait for their fsync, so the server runs
    /// them on the blocking pool where many can share one group commit.
    sync_writes: bool,
}

impl KeyspaceBackend {
    /// Wraps a keyspace; `fsync_always` tells whether writes wait for fsync.
    pub fn new(keyspace: Arc<Keyspace>, fsync_always: bool) -> Self {
        KeyspaceBackend {
            keyspace,
            sync_writes: fsync_always,
        }
    }

    /// The wrapped keyspace.
    pub fn keyspace(&self) -> &Arc<Keyspace> {
        &self.keyspace
    }
}

impl Backend for KeyspaceBackend {
    fn execute(&self, ctx: &Ctx, argv: &[Bytes]) -> Reply {
        self.keyspace.execute(ctx, argv)
    }

    fn execute_transaction(&self, ctx: &Ctx, cmds: &[Vec<Bytes>]) -> Vec<Reply> {
        self.keyspace.execute_transaction(ctx, cmds)
    }

    fn set_observer(&self, notifier: Arc<Notifier>) {
        self.keyspace.set_observer(notifier);
    }

    fn databases(&self) -> usize {
        self.keyspace.databases()
    }

    fn active_expire_cycle(&self, now_ms: u64) {
        self.keyspace.active_expire_cycle(now_ms);
    }

    fn needs_merge(&self) -> bool {
        self.keyspace.needs_merge()
    }

    fn digest(&self) -> Option<[u8; 20]> {
        Some(self.keyspace.digest())
    }

    fn merge(&self) -> Result<(), String> {
        self.keyspace.merge().map_err(|e| e.to_string())
    }

    fn sync(&self) -> Result<(), String> {
        self.keyspace.sync().map_err(|e| e.to_string())
    }

    fn backup(&self, dest: &std::path::Path) -> Result<String, String> {
        let r = self.keyspace.backup(dest).map_err(|e| e.to_string())?;
        Ok(format!(
            "backup written to {}: {} files linked, {} copied, {} bytes",
            r.dir.display(),
            r.files_linked,
            r.files_copied,
            r.bytes
        ))
    }

    fn lookup_stats(&self) -> crate::keyspace::LookupStats {
        self.keyspace.stats().lookups
    }

    fn reset_lookup_stats(&self) {
        self.keyspace.reset_lookup_stats();
    }

    fn key_counts(&self) -> Vec<(u64, u64)> {
        self.keyspace
            .stats()
            .keys
            .iter()
            .map(|(k, e)| (*k as u64, *e as u64))
            .collect()
    }

    fn lookup(&self, name: &[u8]) -> Option<&'static CommandSpec> {
        command::lookup(name)
    }

    fn table(&self) -> &'static [CommandSpec] {
        command::table()
    }

    fn sync_writes(&self) -> bool {
        self.sync_writes
    }

    fn persistence_info(&self) -> Vec<(String, String)> {
        let s = self.keyspace.stats().storage;
        vec![
            ("data_files".into(), s.files.to_string()),
            ("disk_bytes".into(), s.disk_bytes.to_string()),
            ("live_bytes".into(), s.live_bytes.to_string()),
            ("dead_bytes".into(), s.dead_bytes.to_string()),
            ("value_cache_bytes".into(), s.cache_bytes.to_string()),
            ("storage_merges".into(), s.merges.to_string()),
            ("fsyncs".into(), s.fsyncs.to_string()),
            ("fsync_micros_total".into(), s.fsync_micros.to_string()),
            ("fsync_micros_max".into(), s.fsync_max_micros.to_string()),
        ]
    }
}
