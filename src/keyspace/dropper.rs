//! Frees values that left the keyspace. Small ones are freed on the spot;
//! big collections go to a background thread, so that DEL of a million
//! elements costs the caller O(1). Either way, the records that held the
//! value are reported to the log as dead bytes (the merge trigger).

use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;

use super::value::{Value, DROP_INLINE_MAX};
use crate::storage::Log;

/// The background freeing thread and its queue.
pub(crate) struct Dropper {
    /// Queue to the thread; `None` if the thread could not be started (then
    /// everything is freed inline). Mutex-free: `Sender` is `Sync`.
    tx: Option<mpsc::Sender<Value>>,
    /// The log, for dead-byte accounting of values freed inline.
    log: Arc<Log>,
    /// Joined on drop, so that every dead byte is reported before the log closes.
    thread: Option<JoinHandle<()>>,
}

impl Dropper {
    /// Starts the thread.
    pub(crate) fn new(log: Arc<Log>) -> Dropper {
        let (tx, rx) = mpsc::channel::<Value>();
        let thread_log = Arc::clone(&log);
        let thread = std::thread::Builder::new()
            .name("fincaskv-dropper".to_owned())
            .spawn(move || {
                for value in rx {
                    value.for_each_location(&mut |loc| thread_log.mark_dead(loc));
                    drop(value);
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

    /// Reports one record as dead bytes.
    pub(crate) fn mark_dead(&self, loc: crate::storage::Location) {
        self.log.mark_dead(loc);
    }

    /// Frees `value` (big ones on the background thread).
    pub(crate) fn discard(&self, value: Value) {
        let value = if value.len() > DROP_INLINE_MAX {
            match &self.tx {
                Some(tx) => match tx.send(value) {
                    Ok(()) => return,
                    Err(mpsc::SendError(v)) => v,
                },
                None => value,
            }
        } else {
            value
        };
        value.for_each_location(&mut |loc| self.log.mark_dead(loc));
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
