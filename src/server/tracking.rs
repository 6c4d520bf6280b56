//! Server-assisted client-side caching (`CLIENT TRACKING`), as Redis 7.0.
//!
//! A tracking client in the default mode is told when a key it read
//! changes: after each read-only command its keys go in a table (key name
//! -> client ids; the database is not part of it, as in Redis), and the
//! keyspace's change hook ([`super::notifier::Notifier::key_modified`])
//! sends `invalidate [key]` to every client that read the key and forgets
//! the entry (they read it again to be told again). `OPTIN` tracks only the
//! command after `CLIENT CACHING yes`, `OPTOUT` every command but the one
//! after `CLIENT CACHING no`. In `BCAST` mode nothing is remembered: every
//! changed key that starts with one of the client's prefixes (none = every
//! key) is sent. `NOLOOP` skips the changes the client made itself (the
//! connection names itself for the duration of its command,
//! [`with_current_client`]; in a cluster a write is applied elsewhere, so
//! a client there hears about its own writes). A flush sends `invalidate`
//! with a null to every tracking client.
//!
//! Messages: a RESP3 client gets a push `>2 invalidate [keys]`; with
//! `REDIRECT id` they go to that client instead: as a push if it speaks
//! RESP3, as a `message` of the `__redis__:invalidate` channel if it speaks
//! RESP2 and is subscribed to something (Redis's rule); a RESP2 client
//! without a redirect is tracked but told nothing. A redirect to a client
//! that went away is reported with `tracking-redir-broken` (RESP3) each
//! time a message cannot go.
//!
//! In BCAST mode the changed keys are gathered per prefix and sent by
//! [`Tracking::flush_bcast`], one message per prefix with its keys in
//! byte order (a NOLOOP client's own changes left out), as Redis sends
//! them before it sleeps: a connection flushes after each batch of
//! commands it read, and the active expiry task after each round (changes
//! no client made: expiry, entries a cluster node applies).
//!
//! Differences from Redis: Redis gathers the BCAST keys of a whole
//! event-loop turn (every client's commands), we those of one client's
//! batch; keys read by a script are not tracked.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

use super::client::{ClientHandle, PushSender};
use crate::command::Reply;

thread_local! {
    /// The client whose command runs on this thread (0: none).
    static CURRENT: Cell<u64> = const { Cell::new(0) };
}

/// Runs `f` (a client's command) with `client` named as the one making
/// the changes it makes (for NOLOOP).
pub(crate) fn with_current_client<R>(client: u64, f: impl FnOnce() -> R) -> R {
    /// Puts the previous client back, also when `f` unwinds.
    struct Restore(u64);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(CURRENT.with(|c| c.replace(client)));
    f()
}

/// The options of `CLIENT TRACKING on`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Options {
    /// Client id to send the messages to (0: the client itself).
    pub redirect: u64,
    pub bcast: bool,
    pub prefixes: Vec<Bytes>,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
}

/// One tracking client.
struct Tracker {
    client: Arc<ClientHandle>,
    /// Its own push queue (for `tracking-redir-broken`, or the messages
    /// themselves without a redirect).
    sender: PushSender,
    /// The redirect target, looked up when tracking was turned on.
    target: Option<Arc<ClientHandle>>,
    opts: Options,
    /// `CLIENT CACHING yes|no` for the next command.
    caching: Option<bool>,
    /// The redirect target is gone.
    broken: bool,
}

/// What `CLIENT TRACKINGINFO` shows.
pub(crate) struct Info {
    pub flags: Vec<&'static str>,
    pub redirect: i64,
    pub prefixes: Vec<Bytes>,
}

#[derive(Default)]
struct Inner {
    clients: HashMap<u64, Tracker>,
    /// Default-mode table: key -> clients that read it.
    keys: HashMap<Bytes, HashSet<u64>>,
    /// BCAST keys changed since the last flush: prefix -> key -> the
    /// client that changed it last (0: none), in byte order (Redis's
    /// radix trees).
    bcast_keys: BTreeMap<Bytes, BTreeMap<Bytes, u64>>,
}

/// Every tracking client of a server (`Notifier::tracking`).
#[derive(Default)]
pub struct Tracking {
    /// Number of tracking clients: the change hook returns at once at 0.
    active: AtomicUsize,
    inner: Mutex<Inner>,
    /// `bcast_keys` holds keys: a flush has work.
    bcast_pending: AtomicBool,
}

impl std::fmt::Debug for Tracking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracking")
            .field("active", &self.active.load(Ordering::Relaxed))
            .finish()
    }
}

/// Whether one of two prefixes starts the other (Redis refuses those
/// within one client).
fn overlap(a: &[u8], b: &[u8]) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

impl Tracking {
    /// Number of tracking clients (INFO `tracking_clients`).
    pub(crate) fn clients(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    /// Keys in the default-mode table (INFO `tracking_total_keys`).
    pub(crate) fn total_keys(&self) -> usize {
        self.inner.lock().keys.len()
    }

    /// `CLIENT TRACKING on ...` (`target`: the redirect client, looked up
    /// by the caller, which also checked that PREFIX comes with BCAST).
    /// Turning it on again replaces the options and adds prefixes; the mode
    /// cannot switch. Checks and errors in Redis 7.0's order and words.
    pub(crate) fn enable(
        &self,
        client: &Arc<ClientHandle>,
        sender: PushSender,
        target: Option<Arc<ClientHandle>>,
        mut opts: Options,
    ) -> Result<(), String> {
        let mut inner = self.inner.lock();
        let old = inner.clients.get(&client.id);
        if old.is_some_and(|t| t.opts.bcast != opts.bcast) {
            return Err("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.".to_owned());
        }
        if opts.bcast && (opts.optin || opts.optout) {
            return Err("ERR OPTIN and OPTOUT are not compatible with BCAST".to_owned());
        }
        if opts.optin && opts.optout {
            return Err("ERR You can't specify both OPTIN mode and OPTOUT mode".to_owned());
        }
        if old.is_some_and(|t| (opts.optin && t.opts.optout) || (opts.optout && t.opts.optin)) {
            return Err("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.".to_owned());
        }
        let existing = old.map(|t| t.opts.prefixes.clone()).unwrap_or_default();
        for (i, p) in opts.prefixes.iter().enumerate() {
            let clash = |what: &str, q: &Bytes| {
                format!(
                    "ERR Prefix '{}' overlaps with {what} '{}'. Prefixes for a single client must not overlap.",
                    String::from_utf8_lossy(p),
                    String::from_utf8_lossy(q)
                )
            };
            if let Some(q) = existing.iter().find(|q| overlap(p, q)) {
                return Err(clash("an existing prefix", q));
            }
            if let Some(q) = opts.prefixes[i + 1..].iter().find(|q| overlap(p, q)) {
                return Err(clash("another provided prefix", q));
            }
        }
        if opts.bcast && opts.prefixes.is_empty() {
            // Every key: Redis's empty prefix.
            opts.prefixes.push(Bytes::new());
        }
        let mut prefixes = existing;
        for p in std::mem::take(&mut opts.prefixes) {
            if !prefixes.contains(&p) {
                prefixes.push(p);
            }
        }
        let caching = old.and_then(|t| t.caching);
        let tracker = Tracker {
            client: client.clone(),
            sender,
            target,
            opts: Options { prefixes, ..opts },
            caching,
            broken: false,
        };
        client
            .tracking
            .store(tracker.flags_bits(), Ordering::Relaxed);
        client
            .redir
            .store(tracker.opts.redirect as i64, Ordering::Relaxed);
        if inner.clients.insert(client.id, tracker).is_none() {
            self.active.fetch_add(1, Ordering::Release);
        }
        Ok(())
    }

    /// `CLIENT TRACKING off`, RESET, a closed connection.
    pub(crate) fn disable(&self, client: &ClientHandle) {
        if self.inner.lock().clients.remove(&client.id).is_some() {
            self.active.fetch_sub(1, Ordering::Release);
        }
        client.tracking.store(0, Ordering::Relaxed);
        client.redir.store(-1, Ordering::Relaxed);
    }

    /// `CLIENT TRACKINGINFO` (and GETREDIR from its `redirect`).
    pub(crate) fn info(&self, id: u64) -> Info {
        let inner = self.inner.lock();
        let Some(t) = inner.clients.get(&id) else {
            return Info {
                flags: vec!["off"],
                redirect: -1,
                prefixes: Vec::new(),
            };
        };
        let mut flags = vec!["on"];
        let o = &t.opts;
        for (on, name) in [
            (o.bcast, "bcast"),
            (o.optin, "optin"),
            (o.optout, "optout"),
            (t.caching == Some(true), "caching-yes"),
            (t.caching == Some(false), "caching-no"),
            (o.noloop, "noloop"),
            (t.broken, "broken_redirect"),
        ] {
            if on {
                flags.push(name);
            }
        }
        Info {
            flags,
            redirect: o.redirect as i64,
            prefixes: o.prefixes.clone(),
        }
    }

    /// `CLIENT CACHING yes|no`.
    /// `answer` is its argument, lower-cased (anything but yes / no is a
    /// syntax error, checked after tracking is, as Redis does).
    pub(crate) fn caching(&self, id: u64, answer: &str) -> Result<(), &'static str> {
        let mut inner = self.inner.lock();
        let Some(t) = inner.clients.get_mut(&id) else {
            return Err("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled");
        };
        let yes = match answer {
            "yes" => true,
            "no" => false,
            _ => return Err("ERR syntax error"),
        };
        if yes && !t.opts.optin {
            return Err(
                "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            );
        }
        if !yes && !t.opts.optout {
            return Err(
                "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            );
        }
        t.caching = Some(yes);
        Ok(())
    }

    /// After a command of tracking client `id`: a read-only command's
    /// `keys` are remembered (default mode, as OPTIN / OPTOUT and CLIENT
    /// CACHING allow); CLIENT CACHING's choice lasts one command unless
    /// `keep` (a CLIENT command, a command inside MULTI).
    pub(crate) fn after_command(&self, id: u64, readonly: bool, keep: bool, keys: &[&Bytes]) {
        let mut inner = self.inner.lock();
        let Some(t) = inner.clients.get_mut(&id) else {
            return;
        };
        let caching = if keep { t.caching } else { t.caching.take() };
        let remember = readonly
            && !t.opts.bcast
            && if t.opts.optin {
                caching == Some(true)
            } else if t.opts.optout {
                caching != Some(false)
            } else {
                true
            };
        if remember {
            for k in keys {
                match inner.keys.get_mut(k.as_ref()) {
                    Some(readers) => {
                        readers.insert(id);
                    }
                    None => {
                        let readers = HashSet::from([id]);
                        inner.keys.insert(crate::keyspace::keep(k), readers);
                    }
                }
            }
        }
    }

    /// Hook: `key` changed (in any database).
    pub(crate) fn key_modified(&self, key: &[u8]) {
        if self.active.load(Ordering::Acquire) == 0 {
            return;
        }
        let current = CURRENT.with(Cell::get);
        let mut inner = self.inner.lock();
        let readers = inner.keys.remove(key).unwrap_or_default();
        let Inner {
            clients,
            bcast_keys,
            ..
        } = &mut *inner;
        for (id, t) in clients.iter_mut() {
            if t.opts.bcast {
                for p in t.opts.prefixes.iter().filter(|p| key.starts_with(p)) {
                    bcast_keys
                        .entry(p.clone())
                        .or_default()
                        .insert(Bytes::copy_from_slice(key), current);
                    self.bcast_pending.store(true, Ordering::Release);
                }
            } else if readers.contains(id) && !(t.opts.noloop && *id == current) {
                let keys = Reply::Array(vec![Reply::Bulk(Bytes::copy_from_slice(key))]);
                t.send(keys, key.len() + 32);
            }
        }
    }

    /// Sends the BCAST keys gathered since the last call: for each prefix
    /// (in byte order) that has keys, one `invalidate` with them to every
    /// client of that prefix, without the keys a NOLOOP client changed
    /// itself. Cheap when nothing is pending.
    pub(crate) fn flush_bcast(&self) {
        // Every connection calls this after every batch: a plain load
        // first, so that the usual "nothing pending" writes no shared line.
        if !self.bcast_pending.load(Ordering::Acquire)
            || !self.bcast_pending.swap(false, Ordering::AcqRel)
        {
            return;
        }
        let mut inner = self.inner.lock();
        let pending = std::mem::take(&mut inner.bcast_keys);
        for (prefix, keys) in &pending {
            for (id, t) in inner.clients.iter_mut() {
                if !t.opts.bcast || !t.opts.prefixes.contains(prefix) {
                    continue;
                }
                let mine = |by: &u64| t.opts.noloop && by == id;
                let list: Vec<Reply> = keys
                    .iter()
                    .filter(|(_, by)| !mine(by))
                    .map(|(k, _)| Reply::Bulk(k.clone()))
                    .collect();
                if list.is_empty() {
                    continue;
                }
                let size = keys.keys().map(|k| k.len() + 16).sum::<usize>() + 16;
                t.send(Reply::Array(list), size);
            }
        }
    }

    /// Hook: a database (or all) was flushed: every tracking client hears
    /// `invalidate` with a null, and the table is emptied.
    pub(crate) fn flushed(&self) {
        if self.active.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut inner = self.inner.lock();
        inner.keys.clear();
        for t in inner.clients.values_mut() {
            t.send(Reply::Nil, 32);
        }
    }
}

impl Tracker {
    /// The CLIENT LIST flags of this tracker ([`ClientHandle::tracking`]).
    fn flags_bits(&self) -> u8 {
        let mut bits = super::client::TRACKING_ON;
        if self.opts.bcast {
            bits |= super::client::TRACKING_BCAST;
        }
        if self.broken {
            bits |= super::client::TRACKING_BROKEN;
        }
        bits
    }

    /// Sends `invalidate <keys>` where it goes (see the module doc).
    fn send(&mut self, keys: Reply, size: usize) {
        let target = match &self.target {
            None => &self.client,
            Some(t) if !t.killed.load(Ordering::Acquire) => t,
            Some(_) => {
                // Said each time a message cannot go, as Redis does.
                self.broken = true;
                self.client
                    .tracking
                    .store(self.flags_bits(), Ordering::Relaxed);
                if self.client.resp.load(Ordering::Relaxed) >= 3 {
                    self.sender.send(
                        Reply::Push(vec![
                            Reply::bulk(Bytes::from_static(b"tracking-redir-broken")),
                            Reply::Integer(self.opts.redirect as i64),
                        ]),
                        48,
                    );
                }
                return;
            }
        };
        let push = if target.resp.load(Ordering::Relaxed) >= 3 {
            Reply::Push(vec![Reply::bulk(Bytes::from_static(b"invalidate")), keys])
        } else if self.target.is_some() && target.is_subscriber() {
            Reply::Push(vec![
                Reply::bulk(Bytes::from_static(b"message")),
                Reply::bulk(Bytes::from_static(b"__redis__:invalidate")),
                keys,
            ])
        } else {
            // RESP2 without a subscribed redirect: nothing can be sent.
            return;
        };
        let sender = if self.target.is_some() {
            target.push.lock().clone()
        } else {
            Some(self.sender.clone())
        };
        if let Some(s) = sender {
            s.send(push, size);
        }
    }
}
