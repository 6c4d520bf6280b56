//! `Database`: one open keyspace, shared by every Python thread that holds it.
//!
//! Every engine call that may wait (for a lock, a system call, a disk) runs
//! with the GIL released (`py.detach`), so threads really run in parallel
//! and a slow fsync does not stall the interpreter. GET and plain SET first
//! try the engine's non-blocking path with the GIL held (`run_quick`).

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use fincaskv::command::{Ctx, Reply};
use fincaskv::keyspace::{KeyObserver, Keyspace, Presence};
use parking_lot::{Condvar, Mutex, RwLock};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyTuple};

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
    /// Called under the keyspace lock for every change. While nobody
    /// watches this is one load: the version moves only while a watcher
    /// is registered (see [`ChangeSignal::watch`]).
    fn bump(&self) {
        if self.waiters.load(Ordering::SeqCst) > 0 {
            self.version.fetch_add(1, Ordering::SeqCst);
            // Taking the lock orders this notify after a waiter's check.
            let _guard = self.lock.lock();
            self.changed.notify_all();
        }
    }

    /// Registers a watcher and returns the version. Every change made
    /// after this call moves the version until the matching `unwatch`.
    ///
    /// Why no change is missed: the watcher registers before it runs its
    /// command under the keyspace lock, and a writer reads `waiters` under
    /// that lock, so a change the command did not see is made by a writer
    /// that sees the registration and moves the version.
    fn watch(&self) -> u64 {
        self.waiters.fetch_add(1, Ordering::SeqCst);
        self.current()
    }

    /// Ends one `watch`.
    fn unwatch(&self) {
        self.waiters.fetch_sub(1, Ordering::SeqCst);
    }

    fn current(&self) -> u64 {
        self.version.load(Ordering::SeqCst)
    }

    /// Waits until the version differs from `seen` or `timeout` passes;
    /// returns the version. Only meaningful between `watch` and `unwatch`.
    fn wait_change(&self, seen: u64, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        let mut guard = self.lock.lock();
        while self.version.load(Ordering::SeqCst) == seen {
            if self.changed.wait_until(&mut guard, deadline).timed_out() {
                break;
            }
        }
        drop(guard);
        self.current()
    }
}

impl KeyObserver for ChangeSignal {
    fn key_modified(&self, _db: usize, _key: &[u8]) {
        self.bump();
    }
    fn db_flushed(&self, _db: Option<usize>, _presence: &dyn Fn(usize, &[u8]) -> Presence) {
        self.bump();
    }
    fn dbs_swapped(&self, _a: usize, _b: usize, _presence: &dyn Fn(usize, &[u8]) -> Presence) {
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
    /// The open state, shared: for calls that may run long (merge, backup,
    /// waits, futures), so that `close()` never waits for them.
    fn open_state(&self, py: Python<'_>) -> PyResult<Arc<Open>> {
        self.state.read().clone().ok_or_else(|| errors::closed(py))
    }

    /// Runs `f` on the open state with the GIL released, holding the state's
    /// read lock instead of a clone of the `Arc` (two atomic operations
    /// fewer per call: this is every short command's path). The lock is
    /// taken and released only while the GIL is released, as `close()`
    /// takes the write lock, so no thread ever waits for the lock while
    /// holding the GIL (which the holder may need to return).
    /// Runs one command, without releasing the GIL when it can: the
    /// engine is first asked to run it only if it will neither wait for a
    /// lock nor make a system call on the log ([`Keyspace::try_execute`]:
    /// a GET, or a SET copied into the mapped log); otherwise (a lock
    /// held, `fsync = always`, the log's window to move on, a closing
    /// database) it runs with the GIL released. Releasing and retaking the
    /// GIL costs more than a whole cached GET (~15 % of a SET's time).
    fn run_quick(&self, py: Python<'_>, ctx: &Ctx, argv: &[Bytes]) -> PyResult<Reply> {
        let log_bytes = argv.iter().map(|a| a.len()).sum::<usize>() + 64;
        if let Some(state) = self.state.try_read() {
            if let Some(reply) = state
                .as_ref()
                .and_then(|open| open.keyspace.try_execute(ctx, argv, log_bytes))
            {
                return Ok(reply);
            }
        }
        self.detached(py, |open| open.keyspace.execute(ctx, argv))
    }

    fn detached<R: Send>(&self, py: Python<'_>, f: impl FnOnce(&Open) -> R + Send) -> PyResult<R> {
        py.detach(|| self.state.read().as_deref().map(f))
            .ok_or_else(|| errors::closed(py))
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
        let reply = self.detached(py, |open| open.keyspace.execute(&ctx, &argv))?;
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
        let results = self.detached(py, |open| open.keyspace.execute_transaction(&ctx, &cmds))?;
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
        let reply = self.run_quick(py, &ctx, &argv)?;
        convert::reply(py, &reply, decode)
    }

    /// `SET name value`, bound by `fincaskv.DB` as the instance's `set`
    /// (`functools.partial(native.set, db, owner)`): without options it
    /// runs here and returns `True`; with any option it calls
    /// `fincaskv.db._set_with_options(owner, name, value, *args, **kwargs)`,
    /// redis-py's full `set`, where `owner` is a weak reference to the
    /// `fincaskv.DB` (a strong one would be a cycle through the instance).
    #[pyo3(signature = (db, owner, name, value, *args, **kwargs))]
    #[allow(clippy::too_many_arguments, reason = "the Python signature")]
    fn set(
        &self,
        py: Python<'_>,
        db: usize,
        owner: &Bound<'_, PyAny>,
        name: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        if !args.is_empty() || kwargs.is_some_and(|k| !k.is_empty()) {
            static SLOW: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
            let slow = SLOW.import(py, "fincaskv.db", "_set_with_options")?;
            let mut all = vec![owner.clone(), name.clone(), value.clone()];
            all.extend(args.iter());
            return Ok(slow.call(PyTuple::new(py, all)?, kwargs)?.unbind());
        }
        let argv = [
            Bytes::from_static(b"SET"),
            convert::arg(name)?,
            convert::arg(value)?,
        ];
        let ctx = self.ctx(py, db)?;
        match self.run_quick(py, &ctx, &argv)? {
            Reply::Error(text) => Err(errors::reply_error(py, &text)),
            _ => Ok(pyo3::types::PyBool::new(py, true)
                .to_owned()
                .into_any()
                .unbind()),
        }
    }

    /// A counter that moves whenever a key changes while a watcher is
    /// registered (`watch()` ... `unwatch()`).
    fn version(&self, py: Python<'_>) -> PyResult<u64> {
        Ok(self.open_state(py)?.signal.current())
    }

    /// Registers a watcher (a blocking pop about to wait): from now on every
    /// change moves `version()`. Returns the version. Pair with `unwatch()`.
    fn watch(&self, py: Python<'_>) -> PyResult<u64> {
        Ok(self.open_state(py)?.signal.watch())
    }

    /// Ends one `watch()`. Does nothing on a closed database.
    fn unwatch(&self) {
        if let Some(open) = self.state.read().as_ref() {
            open.signal.unwatch();
        }
    }

    /// Waits (GIL released) until `version()` differs from `seen` or
    /// `timeout` seconds pass; returns the new version. Call it between
    /// `watch()` and `unwatch()`.
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
        self.detached(py, |open| open.keyspace.sync())?
            .map_err(|e| errors::engine_error(py, &e))
    }

    /// Statistics of the keyspace and the storage engine, as a dict.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let stats = self.detached(py, |open| open.keyspace.stats())?;
        options::stats_dict(py, &stats)
    }

    /// Syncs and closes; later calls raise `ClosedError`. Closing twice is allowed.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let taken = py.detach(|| self.state.write().take());
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
