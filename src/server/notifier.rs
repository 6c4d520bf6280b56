//! Key-change notifications: WATCH and blocking pops.
//!
//! The keyspace tells the [`Notifier`] (its `KeyObserver`) about every
//! modified key, under the keyspace lock, so the hook must be quick and must
//! never call back into the keyspace: it marks watching transactions dirty and
//! queues keys that blocked clients wait on. The *unblocker* task then serves
//! the blocked clients of each ready key in the order they blocked
//! (first-blocked-first-served), executing their pop on their behalf outside
//! the keyspace lock and handing the reply over a oneshot channel.
//!
//! No polling: a blocked client sleeps on its channel (or its timeout).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::{oneshot, Notify};

use super::Backend;
use crate::command::{Ctx, Reply};
use crate::keyspace::{notify, Presence};

/// One client's WATCH of one key.
struct Watch {
    /// The client's flag (set: EXEC fails).
    flag: WatchFlag,
    /// The key was absent or past its deadline when watched (Redis 7.0's
    /// `watchedKey.expired`): its removal by expiry, or a flush or swap
    /// that leaves it absent or expired, is no change.
    expired: bool,
}

impl Watch {
    fn touch(&self) {
        self.flag.store(true, Ordering::Release);
    }
}

/// A transaction's WATCH flag: set when any watched key changes.
pub(crate) type WatchFlag = Arc<AtomicBool>;

/// One blocked command waiting for its keys.
#[derive(Debug)]
pub(crate) struct Waiter {
    pub db: usize,
    pub argv: Vec<Bytes>,
    pub keys: Vec<Bytes>,
    slot: Mutex<Slot>,
}

#[derive(Debug, Default)]
struct Slot {
    /// Present while nobody is executing for this waiter.
    tx: Option<oneshot::Sender<Reply>>,
    /// The waiter gave up (timeout); whoever holds `tx` answers with null.
    timed_out: bool,
    /// The unblocker found the slot busy: retry the keys when it is released.
    missed: bool,
}

/// Is this reply "nothing to pop" (the non-blocking form of a timeout)?
pub(crate) fn is_null(reply: &Reply) -> bool {
    matches!(reply, Reply::Nil | Reply::NilArray)
}

/// Watched keys and blocked clients, told about changes by the keyspace.
///
/// Shared (`Arc`) by the keyspace (as its observer), every connection and the
/// unblocker task. One mutex guards both maps: the hook takes it briefly and
/// skips it entirely while nobody watches or blocks (`interest == 0`), which
/// keeps plain writes cheap.
#[derive(Default)]
pub struct Notifier {
    /// Number of registered watches + blocked waiters.
    interest: AtomicUsize,
    inner: Mutex<Inner>,
    /// Wakes the unblocker when `ready` gained keys.
    ready_signal: Notify,
    /// Every client write runs holding this shared; EXEC with watched keys
    /// holds it exclusively while it checks the keys and runs, so no write
    /// of another client lands between the check and the transaction (the
    /// atomicity Redis gets from being single-threaded). Lock order: gate,
    /// then the keyspace's own lock; nothing takes the gate inside.
    pub(crate) exec_gate: parking_lot::RwLock<()>,
    /// CLIENT TRACKING clients, told about changed keys by the same hooks.
    pub(crate) tracking: super::tracking::Tracking,
    /// Who is subscribed to what (the server's PUBLISH and SUBSCRIBE use
    /// it too): keyspace notifications are published here.
    pub(crate) pubsub: Arc<super::pubsub::PubSub>,
    /// `notify-keyspace-events` as [`notify`] flags; 0 unless `K` or `E`
    /// is set with some class.
    event_classes: AtomicU32,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("interest", &self.interest.load(Ordering::Relaxed))
            .finish()
    }
}

#[derive(Default)]
struct Inner {
    watched: HashMap<usize, HashMap<Bytes, Vec<Watch>>>,
    blocked: HashMap<usize, HashMap<Bytes, VecDeque<Arc<Waiter>>>>,
    ready: Vec<(usize, Bytes)>,
    blocked_clients: usize,
}

impl Notifier {
    /// A notifier with nothing registered.
    pub fn new() -> Self {
        Notifier::default()
    }

    /// Applies `notify-keyspace-events` ([`notify`] flags): which events
    /// the keyspace reports from now on.
    pub fn set_event_classes(&self, flags: u32) {
        let wanted = if flags & (notify::KEYSPACE | notify::KEYEVENT) == 0 {
            0
        } else {
            flags
        };
        self.event_classes.store(wanted, Ordering::Relaxed);
    }

    /// The classes of events wanted now (0: none).
    pub fn event_classes(&self) -> u32 {
        self.event_classes.load(Ordering::Relaxed)
    }

    /// Hook: publishes keyspace notification `event` on `key` of `db`, as
    /// Redis's `notifyKeyspaceEvent`: the event on
    /// `__keyspace@<db>__:<key>` (`K`), the key on
    /// `__keyevent@<db>__:<event>` (`E`).
    pub fn key_event(&self, db: usize, event: &str, key: &[u8]) {
        let flags = self.event_classes();
        let name = Bytes::copy_from_slice(event.as_bytes());
        if flags & notify::KEYSPACE != 0 {
            let mut channel = format!("__keyspace@{db}__:").into_bytes();
            channel.extend_from_slice(key);
            self.pubsub.publish(&Bytes::from(channel), &name);
        }
        if flags & notify::KEYEVENT != 0 {
            let channel = Bytes::from(format!("__keyevent@{db}__:{event}"));
            self.pubsub.publish(&channel, &Bytes::copy_from_slice(key));
        }
    }

    /// Number of clients blocked right now (INFO `blocked_clients`).
    pub fn blocked_clients(&self) -> usize {
        self.inner.lock().blocked_clients
    }

    /// Hook: `key` in `db` was written or deleted (expiry is
    /// [`Notifier::key_expired`]).
    pub fn key_modified(&self, db: usize, key: &[u8]) {
        self.key_changed(db, key, |w| w.touch());
    }

    /// Hook: `key` in `db` was removed because its deadline passed. A
    /// WATCH made when it was already absent or expired sees no change
    /// (and a later write to it is one).
    pub fn key_expired(&self, db: usize, key: &[u8]) {
        self.key_changed(db, key, |w| {
            if w.expired {
                // Gone now: the next write is a change.
                w.expired = false;
            } else {
                w.touch();
            }
        });
    }

    /// A change of `key` in `db`: tracking hears it, `watch` sees each
    /// WATCH of it, and the clients blocked on it look again.
    fn key_changed(&self, db: usize, key: &[u8], mut watch: impl FnMut(&mut Watch)) {
        self.tracking.key_modified(key);
        if self.interest.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut inner = self.inner.lock();
        if let Some(watches) = inner.watched.get_mut(&db).and_then(|m| m.get_mut(key)) {
            watches.iter_mut().for_each(&mut watch);
        }
        self.wake_blocked(inner, db, key);
    }

    /// Queues the clients blocked on `key` of `db` to look again.
    fn wake_blocked(&self, mut inner: parking_lot::MutexGuard<'_, Inner>, db: usize, key: &[u8]) {
        let ready_key = inner
            .blocked
            .get(&db)
            .and_then(|m| m.get_key_value(key))
            .map(|(k, _)| k.clone());
        if let Some(k) = ready_key {
            inner.ready.push((db, k));
            drop(inner);
            self.ready_signal.notify_one();
        }
    }

    /// Hook: `db` (or every db when None) is about to be flushed;
    /// `presence` says how it holds each key. As Redis 7.0, a WATCH breaks
    /// only when the flush removes its key, and not when that key was
    /// already absent or expired when watched.
    pub fn db_flushed(&self, db: Option<usize>, presence: &dyn Fn(usize, &[u8]) -> Presence) {
        self.tracking.flushed();
        if self.interest.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut inner = self.inner.lock();
        for (d, keys) in inner.watched.iter_mut() {
            if db.map_or(true, |x| x == *d) {
                for (key, watches) in keys.iter_mut() {
                    if presence(*d, key) != Presence::Absent {
                        watches.iter_mut().for_each(|w| replaced(w, None));
                    }
                }
            }
        }
    }

    /// Hook: databases `a` and `b` are about to be swapped; `presence`
    /// says how each holds a key. As Redis 7.0, a WATCH on either breaks
    /// when either database holds its key (even the same value), except
    /// that an absent or expired key replaced by an absent or expired one
    /// is no change.
    pub fn dbs_swapped(&self, a: usize, b: usize, presence: &dyn Fn(usize, &[u8]) -> Presence) {
        if self.interest.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut inner = self.inner.lock();
        for (d, other) in [(a, b), (b, a)] {
            if let Some(keys) = inner.watched.get_mut(&d) {
                for (key, watches) in keys.iter_mut() {
                    let (was, becomes) = (presence(d, key), presence(other, key));
                    if was == Presence::Absent && becomes == Presence::Absent {
                        continue;
                    }
                    for w in watches.iter_mut() {
                        if !w.expired && was == Presence::Absent && becomes == Presence::Expired {
                            // An absent key replaced by an expired one.
                            w.expired = true;
                        } else {
                            replaced(w, Some(becomes));
                        }
                    }
                }
            }
            let ready: Vec<(usize, Bytes)> = inner
                .blocked
                .get(&d)
                .map(|m| m.keys().map(|k| (d, k.clone())).collect())
                .unwrap_or_default();
            inner.ready.extend(ready);
        }
        drop(inner);
        self.ready_signal.notify_one();
    }

    /// WATCH: `flag` is set when `key` in `db` changes. The key counts as
    /// absent or expired (see [`Watch`]) until [`Notifier::watched_live`]
    /// says otherwise: WATCH looks at the key after registering (so that
    /// no write slips between), and that look may remove it if expired.
    pub(crate) fn watch(&self, db: usize, key: Bytes, flag: &WatchFlag) {
        let mut inner = self.inner.lock();
        inner
            .watched
            .entry(db)
            .or_default()
            .entry(key)
            .or_default()
            .push(Watch {
                flag: flag.clone(),
                expired: true,
            });
        self.interest.fetch_add(1, Ordering::AcqRel);
    }

    /// WATCH found `key` in `db` live: its removal by expiry (or a flush)
    /// is a change for `flag`.
    pub(crate) fn watched_live(&self, db: usize, key: &[u8], flag: &WatchFlag) {
        let mut inner = self.inner.lock();
        let watches = inner.watched.get_mut(&db).and_then(|m| m.get_mut(key));
        for w in watches.into_iter().flatten() {
            if Arc::ptr_eq(&w.flag, flag) {
                w.expired = false;
            }
        }
    }

    /// UNWATCH of the given keys registered with `flag`.
    pub(crate) fn unwatch(&self, keys: &[(usize, Bytes)], flag: &WatchFlag) {
        if keys.is_empty() {
            return;
        }
        let mut inner = self.inner.lock();
        for (db, key) in keys {
            let Some(m) = inner.watched.get_mut(db) else {
                continue;
            };
            if let Some(v) = m.get_mut(key) {
                let before = v.len();
                v.retain(|w| !Arc::ptr_eq(&w.flag, flag));
                let removed = before - v.len();
                self.interest.fetch_sub(removed, Ordering::AcqRel);
                if v.is_empty() {
                    m.remove(key);
                }
            }
            if m.is_empty() {
                inner.watched.remove(db);
            }
        }
    }

    /// Registers a blocked command. The caller keeps the sender while it
    /// makes its first attempt and then [`Notifier::park`]s it.
    pub(crate) fn block(&self, db: usize, argv: Vec<Bytes>, keys: Vec<Bytes>) -> Arc<Waiter> {
        let waiter = Arc::new(Waiter {
            db,
            argv,
            keys,
            slot: Mutex::new(Slot::default()),
        });
        let mut inner = self.inner.lock();
        for key in &waiter.keys {
            inner
                .blocked
                .entry(db)
                .or_default()
                .entry(key.clone())
                .or_default()
                .push_back(waiter.clone());
        }
        inner.blocked_clients += 1;
        self.interest.fetch_add(1, Ordering::AcqRel);
        waiter
    }

    /// Hands the waiter's reply channel to the unblocker. If a change was
    /// missed while the caller was executing, the keys are served again.
    pub(crate) fn park(&self, waiter: &Arc<Waiter>, tx: oneshot::Sender<Reply>) {
        let missed = {
            let mut slot = waiter.slot.lock();
            slot.tx = Some(tx);
            std::mem::take(&mut slot.missed)
        };
        if missed {
            self.requeue(waiter);
        }
    }

    fn requeue(&self, waiter: &Waiter) {
        let mut inner = self.inner.lock();
        for k in &waiter.keys {
            inner.ready.push((waiter.db, k.clone()));
        }
        drop(inner);
        self.ready_signal.notify_one();
    }

    /// Removes a waiter from every queue (served, timed out, or disconnected).
    pub(crate) fn unblock(&self, waiter: &Arc<Waiter>) {
        let mut inner = self.inner.lock();
        let mut found = false;
        if let Some(m) = inner.blocked.get_mut(&waiter.db) {
            for key in &waiter.keys {
                if let Some(q) = m.get_mut(key) {
                    let before = q.len();
                    q.retain(|w| !Arc::ptr_eq(w, waiter));
                    found |= q.len() != before;
                    if q.is_empty() {
                        m.remove(key);
                    }
                }
            }
            if m.is_empty() {
                inner.blocked.remove(&waiter.db);
            }
        }
        if found {
            inner.blocked_clients -= 1;
            self.interest.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// The waiter's timeout fired. Returns true if it timed out (nobody is
    /// serving it: it has been removed); false if the unblocker is executing
    /// for it right now and will send the reply (a value or null).
    pub(crate) fn time_out(&self, waiter: &Arc<Waiter>) -> bool {
        let had_tx = {
            let mut slot = waiter.slot.lock();
            slot.timed_out = true;
            slot.tx.take().is_some()
        };
        if had_tx {
            self.unblock(waiter);
        }
        had_tx
    }

    /// The unblocker task: serves ready keys, for the life of the server.
    pub(crate) async fn run_unblocker(self: Arc<Self>, backend: Arc<dyn Backend>) {
        loop {
            self.ready_signal.notified().await;
            loop {
                let ready = std::mem::take(&mut self.inner.lock().ready);
                if ready.is_empty() {
                    break;
                }
                let mut seen: Vec<(usize, Bytes)> = Vec::with_capacity(ready.len());
                for (db, key) in ready {
                    if seen.iter().any(|(d, k)| *d == db && *k == key) {
                        continue;
                    }
                    self.serve_key(backend.as_ref(), db, &key).await;
                    seen.push((db, key));
                }
            }
        }
    }

    /// Serves the waiters of one key in blocking order until one finds
    /// nothing to pop. In cluster mode the pop is a replicated write (the
    /// backend routes it through raft; a follower forwards it), awaited
    /// here, so blocked clients are served in order on every node.
    async fn serve_key(&self, backend: &dyn Backend, db: usize, key: &Bytes) {
        loop {
            let front = {
                let inner = self.inner.lock();
                inner
                    .blocked
                    .get(&db)
                    .and_then(|m| m.get(key))
                    .and_then(|q| q.front().cloned())
            };
            let Some(waiter) = front else {
                return;
            };
            let tx = {
                let mut slot = waiter.slot.lock();
                match slot.tx.take() {
                    Some(tx) => tx,
                    None => {
                        // Its connection is executing its own attempt; it
                        // looks again when it parks.
                        slot.missed = true;
                        return;
                    }
                }
            };
            if tx.is_closed() {
                self.unblock(&waiter);
                continue;
            }
            let ctx = Ctx::new(super::now_ms(), rand::random(), waiter.db);
            let spec = waiter
                .argv
                .first()
                .and_then(|n| backend.lookup(&n.to_ascii_lowercase()));
            let routed = spec.and_then(|spec| backend.route(&ctx, spec, &waiter.argv, false));
            let reply = match routed {
                Some(fut) => fut.await,
                None => {
                    let _shared = self.exec_gate.read();
                    backend.execute(&ctx, &waiter.argv)
                }
            };
            if is_null(&reply) {
                let mut slot = waiter.slot.lock();
                if !slot.timed_out {
                    slot.tx = Some(tx);
                    return;
                }
                drop(slot);
                self.unblock(&waiter);
                let _ = tx.send(reply);
                return;
            }
            self.unblock(&waiter);
            // The receiver may have gone (disconnect at this instant): the
            // value is then lost, as for a client that dies mid-reply.
            let _ = tx.send(reply);
        }
    }
}

/// A flush (`becomes`: `None`) or a swap (`Some`: how the other database
/// holds the key) replaces the content of a watched key that was there
/// before or is there after (Redis 7.0's `touchAllWatchedKeysInDb`).
fn replaced(w: &mut Watch, becomes: Option<Presence>) {
    if w.expired {
        match becomes {
            // An expired (or absent) key is gone: no change, and a
            // later write is one.
            None | Some(Presence::Absent) => w.expired = false,
            Some(Presence::Expired) => {}
            Some(Presence::Live) => w.touch(),
        }
    } else {
        w.touch();
    }
}
