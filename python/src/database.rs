//! `Database`: one open keyspace, shared by every Python thread that holds it.
//!
//! Every engine call runs with the GIL released (`py.detach`), so threads
//! really run in parallel and a slow fsync does not stall the interpreter.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use fincaskv::command::{Ctx, Reply};
use fincaskv::keyspace::{KeyObserver, Keyspace};
use parking_lot::{Condvar, Mutex, RwLock};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::{convert, errors, options};

/// Wakes threads waiting for a change (the embedded blocking pops: BLPOP ...).
///
/// The keyspace calls it under its own lock for every modified key, so the
/// common case (nobody waiting) is one atomic increment and one atomic load;
/// the mutex and condvar are touched only while some thread waits.
#[derive(Default)]
struct ChangeSignal {
    /// Number of changes seen so far; waiters compare it with what they saw.
    version: AtomicU64,
    /// Threads inside `wait_change`.
    waiters: AtomicU64,
    /// Pairs with `changed`; guards nothing but the wait itself.
    lock: Mutex<()>,
    /// Signalled on a change while `waiters > 0`.
    changed: Condvar,
}

impl ChangeSignal {
    fn bump(&self) {
        self.version.fetch_add(1, Ordering::SeqCst);
        if self.waiters.load(Ordering::SeqCst) > 0 {
            // Taking the lock orders this notify after a waiter's check.
            let _guard = self.lock.lock();
            self.changed.notify_all();
        }
    }

    fn current(&self) -> u64 {
        self.version.load(Ordering::SeqCst)
    }

    /// Waits until the version differs from `seen` or `timeout` passes; returns the version.
    fn wait_change(&self, seen: u64, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let mut guard = self.lock.lock();
        while self.version.load(Ordering::SeqCst) == seen {
            if self.changed.wait_until(&mut guard, deadline).timed_out() {
                break;
            }
        }
        drop(guard);
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        self.current()
    }
}

impl KeyObserver for ChangeSignal {
    fn key_modified(&self, _db: usize, _key: &[u8]) {
        self.bump();
    }
    fn db_flushed(&self, _db: Option<usize>) {
        self.bump();
    }
    fn dbs_swapped(&self, _a: usize, _b: usize) {
        self.bump();
    }
}

/// What an open database holds. Shared (`Arc`) by calls in flight, so that
/// `close()` in one thread never frees what another thread is using: the
/// keyspace is dropped (and its directory lock released) by the last user.
struct Open {
    keyspace: Arc<Keyspace>,
    signal: Arc<ChangeSignal>,
    /// Dropping it stops the housekeeping thread.
    _housekeeper: Housekeeper,
}

/// A background thread that runs the active expiry cycle (as Redis's
/// `serverCron` does) and the merge trigger, holding only a weak reference.
struct Housekeeper {
    /// Closing the channel (dropping the sender) stops the thread.
    _stop: std::sync::mpsc::Sender<()>,
}

impl Housekeeper {
    fn start(keyspace: &Arc<Keyspace>, merge_check: Duration) -> Housekeeper {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let weak = Arc::downgrade(keyspace);
        let spawned = std::thread::Builder::new()
            .name("fincaskv-housekeeper".to_owned())
            .spawn(move || {
                let tick = Duration::from_millis(100);
                let mut last_merge_check = Instant::now();
                loop {
                    match stopped.recv_timeout(tick) {
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                        _ => return,
                    }
                    let Some(ks) = weak.upgrade() else { return };
                    ks.active_expire_cycle(now_ms());
                    if last_merge_check.elapsed() >= merge_check {
                        last_merge_check = Instant::now();
                        if ks.needs_merge() {
                            if let Err(e) = ks.merge() {
                                tracing::warn!(error = %e, "background merge failed");
                            }
                        }
                    }
                }
            });
        if let Err(e) = spawned {
            // Without it keys still expire when read; only the sweep and
            // the automatic merge are lost.
            tracing::warn!(error = %e, "cannot start the housekeeping thread");
        }
        Housekeeper { _stop: stop }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A random-enough seed per command (SPOP, SRANDMEMBER, RANDOMKEY ...):
/// splitmix64 over a per-process random start and a counter.
fn next_seed() -> u64 {
    static START: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let start = *START.get_or_init(|| RandomState::new().hash_one(0x5eed_u64));
    let mut z = start.wrapping_add(
        COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15),
    );
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// An embedded FincasKV database (the native half of `fincaskv.DB`).
#[pyclass(frozen, module = "fincaskv._native")]
pub struct Database {
    /// `None` once closed. A read lock is held only to clone the `Arc`.
    state: RwLock<Option<Arc<Open>>>,
    /// The directory, as given.
    path: PathBuf,
    /// Number of databases (SELECT indexes).
    databases: usize,
}

impl Database {
    fn open_state(&self, py: Python<'_>) -> PyResult<Arc<Open>> {
        self.state.read().clone().ok_or_else(|| errors::closed(py))
    }

    fn ctx(&self, py: Python<'_>, db: usize) -> PyResult<Ctx> {
        if db >= self.databases {
            return Err(errors::data_error(
                py,
                format!("database index {db} out of range (0..{})", self.databases),
            ));
        }
        Ok(Ctx::new(now_ms(), next_seed(), db))
    }
}

#[pymethods]
impl Database {
    /// Opens (creating if needed) the database in directory `path`.
    #[new]
    #[pyo3(signature = (path, options = None))]
    fn new(py: Python<'_>, path: PathBuf, options: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let parsed = options::parse(py, &path, options)?;
        let databases = parsed.config.databases;
        let merge_check = parsed.merge_check;
        let opened = py.detach(move || Keyspace::open(parsed.config));
        let keyspace = Arc::new(opened.map_err(|e| errors::engine_error(py, &e))?);
        let signal = Arc::new(ChangeSignal::default());
        keyspace.set_observer(signal.clone());
        let housekeeper = Housekeeper::start(&keyspace, merge_check);
        Ok(Database {
            state: RwLock::new(Some(Arc::new(Open {
                keyspace,
                signal,
                _housekeeper: housekeeper,
            }))),
            path,
            databases,
        })
    }

    /// Runs one command (`argv` = name and arguments) in database `db`.
    #[pyo3(signature = (db, argv, decode = false))]
    fn execute(
        &self,
        py: Python<'_>,
        db: usize,
        argv: &Bound<'_, PyAny>,
        decode: bool,
    ) -> PyResult<Py<PyAny>> {
        let argv = convert::argv(argv)?;
        let ctx = self.ctx(py, db)?;
        let open = self.open_state(py)?;
        let reply = py.detach(move || open.keyspace.execute(&ctx, &argv));
        convert::reply(py, &reply, decode)
    }

    /// `execute` as an asyncio awaitable (pyo3-async-runtimes): the command
    /// runs on the tokio runtime's blocking pool, the event loop never waits
    /// on the engine, and the result is converted when the future resolves.
    #[pyo3(signature = (db, argv, decode = false))]
    fn execute_async<'py>(
        &self,
        py: Python<'py>,
        db: usize,
        argv: &Bound<'_, PyAny>,
        decode: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let argv = convert::argv(argv)?;
        let ctx = self.ctx(py, db)?;
        let open = self.open_state(py)?;
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let reply = tokio::task::spawn_blocking(move || open.keyspace.execute(&ctx, &argv))
                .await
                .map_err(|e| {
                    pyo3::exceptions::PyRuntimeError::new_err(format!("engine task failed: {e}"))
                })?;
            Python::attach(|py| convert::reply(py, &reply, decode))
        })
    }

    /// Runs several commands as one atomic transaction (MULTI/EXEC): one
    /// result per command, error replies as exception instances in the list.
    /// With `replies=False` (a write batch) returns only the first error
    /// (an exception instance) or `None`.
    #[pyo3(signature = (db, commands, decode = false, replies = true))]
    fn execute_transaction(
        &self,
        py: Python<'_>,
        db: usize,
        commands: &Bound<'_, PyAny>,
        decode: bool,
        replies: bool,
    ) -> PyResult<Py<PyAny>> {
        let mut cmds: Vec<Vec<Bytes>> = Vec::with_capacity(commands.len().unwrap_or(8));
        for cmd in commands.try_iter()? {
            cmds.push(convert::argv(&cmd?)?);
        }
        let ctx = self.ctx(py, db)?;
        let open = self.open_state(py)?;
        let results = py.detach(move || open.keyspace.execute_transaction(&ctx, &cmds));
        if !replies {
            return match results.iter().find(|r| r.is_error()) {
                Some(Reply::Error(text)) => errors::reply_error_value(py, text),
                _ => Ok(py.None()),
            };
        }
        let out = PyList::empty(py);
        for r in &results {
            let item = match r {
                Reply::Error(text) => errors::reply_error_value(py, text)?,
                other => convert::reply(py, other, decode)?,
            };
            out.append(item)?;
        }
        Ok(out.into_any().unbind())
    }

    /// `GET key` without building an argv in Python.
    #[pyo3(signature = (db, key, decode = false))]
    fn get(
        &self,
        py: Python<'_>,
        db: usize,
        key: &Bound<'_, PyAny>,
        decode: bool,
    ) -> PyResult<Py<PyAny>> {
        let argv = [Bytes::from_static(b"GET"), convert::arg(key)?];
        let ctx = self.ctx(py, db)?;
        let open = self.open_state(py)?;
        let reply = py.detach(move || open.keyspace.execute(&ctx, &argv));
        convert::reply(py, &reply, decode)
    }

    /// `SET key value` without options; returns `True`.
    fn set(
        &self,
        py: Python<'_>,
        db: usize,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        let argv = [
            Bytes::from_static(b"SET"),
            convert::arg(key)?,
            convert::arg(value)?,
        ];
        let ctx = self.ctx(py, db)?;
        let open = self.open_state(py)?;
        let reply = py.detach(move || open.keyspace.execute(&ctx, &argv));
        match reply {
            Reply::Error(text) => Err(errors::reply_error(py, &text)),
            _ => Ok(true),
        }
    }

    /// A counter that changes whenever a key changes.
    fn version(&self, py: Python<'_>) -> PyResult<u64> {
        Ok(self.open_state(py)?.signal.current())
    }

    /// Waits (GIL released) until `version()` differs from `seen` or
    /// `timeout` seconds pass; returns the new version.
    fn wait_change(&self, py: Python<'_>, seen: u64, timeout: f64) -> PyResult<u64> {
        let open = self.open_state(py)?;
        let timeout = Duration::try_from_secs_f64(timeout.max(0.0))
            .unwrap_or(Duration::from_secs(u64::from(u32::MAX)));
        Ok(py.detach(move || open.signal.wait_change(seen, timeout)))
    }

    /// Compacts the data files now (rewrites live records, drops dead ones).
    fn merge(&self, py: Python<'_>) -> PyResult<()> {
        let open = self.open_state(py)?;
        py.detach(move || open.keyspace.merge())
            .map_err(|e| errors::engine_error(py, &e))
    }

    /// Writes a consistent copy of the database into the new directory
    /// `dest` while it stays open; returns (files linked, files copied, bytes).
    fn backup(&self, py: Python<'_>, dest: std::path::PathBuf) -> PyResult<(usize, usize, u64)> {
        let open = self.open_state(py)?;
        let report = py
            .detach(move || open.keyspace.backup(&dest))
            .map_err(|e| errors::engine_error(py, &e))?;
        Ok((report.files_linked, report.files_copied, report.bytes))
    }

    /// Flushes and fsyncs everything written so far.
    fn sync(&self, py: Python<'_>) -> PyResult<()> {
        let open = self.open_state(py)?;
        py.detach(move || open.keyspace.sync())
            .map_err(|e| errors::engine_error(py, &e))
    }

    /// Statistics of the keyspace and the storage engine, as a dict.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let open = self.open_state(py)?;
        let stats = py.detach(move || open.keyspace.stats());
        options::stats_dict(py, &stats)
    }

    /// Syncs and closes; later calls raise `ClosedError`. Closing twice is allowed.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let taken = self.state.write().take();
        if let Some(open) = taken {
            py.detach(move || {
                let synced = open.keyspace.sync();
                drop(open);
                synced
            })
            .map_err(|e| errors::engine_error(py, &e))?;
        }
        Ok(())
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.state.read().is_none()
    }

    /// The data directory.
    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// The number of databases (valid `db` indexes are `0..databases`).
    #[getter]
    fn databases(&self) -> usize {
        self.databases
    }
}
