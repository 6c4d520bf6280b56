//! Frees values that left the keyspace. Small ones are freed on the spot;
//! big collections go to a background thread, so that DEL of a million
//! elements costs the caller O(1). Either way, the records that held the
//! value are reported to the log as dead bytes (the merge trigger).

use std::cell::RefCell;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;

use super::db::Db;
use super::value::{Value, DROP_INLINE_MAX};
use crate::storage::{DeadCache, Log};

/// What the background thread frees.
enum Garbage {
    /// One big value (DEL, overwrite, expiry).
    Value(Value),
    /// A whole database (FLUSHDB / FLUSHALL).
    Db(Db),
}

/// The background freeing thread and its queue.
pub(crate) struct Dropper {
    /// Queue to the thread; `None` if the thread could not be started (then
    /// everything is freed inline). Mutex-free: `Sender` is `Sync`.
    tx: Option<mpsc::Sender<Garbage>>,
    /// The log, for dead-byte accounting of values freed inline.
    log: Arc<Log>,
    /// Joined on drop, so that every dead byte is reported before the log closes.
    thread: Option<JoinHandle<()>>,
}

/// Reports every record of `value` as dead, one call per data file (a big
/// collection's records sit in few files).
fn report_dead(log: &Log, value: &Value) {
    let mut per_file: Vec<(u32, u64)> = Vec::new();
    value.for_each_location(&mut |loc| match per_file.last_mut() {
        Some((id, bytes)) if *id == loc.file_id => *bytes += u64::from(loc.len),
        _ => match per_file.iter_mut().find(|(id, _)| *id == loc.file_id) {
            Some((_, bytes)) => *bytes += u64::from(loc.len),
            None => per_file.push((loc.file_id, u64::from(loc.len))),
        },
    });
    for (id, bytes) in per_file {
        log.mark_dead_bytes(id, bytes);
    }
}

impl Dropper {
    /// Starts the thread.
    pub(crate) fn new(log: Arc<Log>) -> Dropper {
        let (tx, rx) = mpsc::channel::<Garbage>();
        let thread_log = Arc::clone(&log);
        let thread = std::thread::Builder::new()
            .name("fincaskv-dropper".to_owned())
            .spawn(move || {
                for garbage in rx {
                    match garbage {
                        Garbage::Value(value) => report_dead(&thread_log, &value),
                        Garbage::Db(db) => {
                            db.for_each_value(&mut |value| report_dead(&thread_log, value));
                        }
                    }
                }
            });
        match thread {
            Ok(handle) => Dropper {
                tx: Some(tx),
                log,
                thread: Some(handle),
            },
            Err(e) => {
                tracing::warn!("cannot start the dropper thread, freeing inline: {e}");
                Dropper {
                    tx: None,
                    log,
                    thread: None,
                }
            }
        }
    }

    /// Reports one record as dead bytes (through the state's cache of the
    /// last file counted into).
    pub(crate) fn mark_dead(&self, loc: crate::storage::Location, cache: &RefCell<DeadCache>) {
        self.log.mark_dead_cached(&mut cache.borrow_mut(), loc);
    }

    /// Frees `value` (big ones on the background thread).
    pub(crate) fn discard(&self, value: Value, cache: &RefCell<DeadCache>) {
        let value = if value.len() > DROP_INLINE_MAX {
            match &self.tx {
                Some(tx) => match tx.send(Garbage::Value(value)) {
                    Ok(()) => return,
                    Err(mpsc::SendError(Garbage::Value(v))) => v,
                    Err(mpsc::SendError(Garbage::Db(_))) => return,
                },
                None => value,
            }
        } else {
            value
        };
        let mut cache = cache.borrow_mut();
        value.for_each_location(&mut |loc| self.log.mark_dead_cached(&mut cache, loc));
    }

    /// Frees a whole database's entries (FLUSHDB / FLUSHALL) off this thread.
    pub(crate) fn discard_db(&self, db: Db) {
        let db = match &self.tx {
            Some(tx) => match tx.send(Garbage::Db(db)) {
                Ok(()) => return,
                Err(mpsc::SendError(Garbage::Db(d))) => d,
                Err(mpsc::SendError(Garbage::Value(_))) => return,
            },
            None => db,
        };
        db.for_each_value(&mut |value| report_dead(&self.log, value));
    }
}

impl Drop for Dropper {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(handle) = self.thread.take() {
            if handle.join().is_err() {
                tracing::warn!("the dropper thread panicked");
            }
        }
    }
}
