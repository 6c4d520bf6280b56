//! `ServerHandle`: the RESP server (`fincaskv::server::run`) inside the Python
//! process, on a tokio runtime of its own in a background thread.
//!
//! The listener is bound before `new` returns, so `port` is known at once and
//! a client can connect immediately. `stop()` (or a client's SHUTDOWN) ends
//! the server: it stops accepting, lets connections finish, fsyncs, and the
//! data directory is released when the thread has joined.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;

use fincaskv::keyspace::{Config as KeyspaceConfig, Keyspace};
use fincaskv::server::{self, Backend, FsyncSetting, KeyspaceBackend, ServerConfig};
use fincaskv::storage::{self, FsyncPolicy, IndexKind};
use parking_lot::Mutex;
use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use tokio::sync::oneshot;

use crate::errors;

/// A running server. Dropping it stops the server.
struct Running {
    /// Completing it asks the server to shut down.
    stop: Option<oneshot::Sender<()>>,
    /// The thread that owns the runtime; joined by `stop()`.
    thread: Option<JoinHandle<Result<(), String>>>,
}

impl Running {
    /// Asks for shutdown and waits for the thread; returns the server's result.
    fn shutdown(&mut self) -> Result<(), String> {
        if let Some(stop) = self.stop.take() {
            // The server may have stopped already (SHUTDOWN): then nobody listens.
            let _ = stop.send(());
        }
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err("the server thread panicked".to_owned())),
            None => Ok(()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// A RESP server running in this process (the native half of `fincaskv.Server`).
#[pyclass(frozen, module = "fincaskv._native")]
pub struct ServerHandle {
    /// `None` once stopped; the mutex serialises `stop()` calls.
    running: Mutex<Option<Running>>,
    /// The address actually bound.
    addr: SocketAddr,
    /// The data directory.
    dir: PathBuf,
}

fn to_policy(f: FsyncSetting) -> FsyncPolicy {
    match f {
        FsyncSetting::Always => FsyncPolicy::Always,
        FsyncSetting::Everysec => FsyncPolicy::EverySec,
        FsyncSetting::No => FsyncPolicy::No,
    }
}

/// Builds the server configuration: the TOML file `conf` (if any), then the
/// options (names as in the file, `_` or `-`), then `dir`, `host`, `port`
/// where given.
fn build_config(
    py: Python<'_>,
    conf: Option<PathBuf>,
    dir: Option<PathBuf>,
    host: Option<String>,
    port: Option<u16>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<ServerConfig> {
    let mut cfg = match conf {
        Some(path) => {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                errors::new_err(
                    py,
                    "StorageError",
                    format!("cannot read config file {}: {e}", path.display()),
                )
            })?;
            let mut cfg: ServerConfig = toml::from_str(&text).map_err(|e| {
                errors::data_error(py, format!("invalid config file {}: {e}", path.display()))
            })?;
            cfg.config_file = Some(path);
            cfg.check_loaded().map_err(|e| errors::data_error(py, e))?;
            cfg
        }
        None => ServerConfig::default(),
    };
    if let Some(options) = options {
        for (key, value) in options.iter() {
            let name = key.extract::<String>()?.replace('_', "-");
            let text = if let Ok(b) = value.extract::<bool>() {
                if b { "yes" } else { "no" }.to_owned()
            } else {
                value.str()?.to_cow()?.into_owned()
            };
            match name.as_str() {
                "fsync" | "appendfsync" => {
                    cfg.fsync = FsyncSetting::parse(&text).ok_or_else(|| {
                        errors::data_error(
                            py,
                            format!("fsync must be 'always', 'everysec' or 'no', got {text:?}"),
                        )
                    })?;
                }
                "index" => cfg.index = text,
                "databases" => {
                    cfg.databases = text.parse().map_err(|_| {
                        errors::data_error(
                            py,
                            format!("databases must be an integer, got {text:?}"),
                        )
                    })?
                }
                "loglevel" => cfg.loglevel = text,
                "bind" | "port" | "dir" => {
                    return Err(PyTypeError::new_err(format!(
                        "give {name} as an argument of Server(), not as an option"
                    )))
                }
                other => cfg
                    .set_startup(other, &text)
                    .map_err(|e| errors::data_error(py, format!("option {other}: {e}")))?,
            }
        }
    }
    cfg.index
        .parse::<IndexKind>()
        .map_err(|e| errors::data_error(py, e))?;
    // Bad certificate files fail here, as a DataError, not in the server thread.
    if let Some(files) = cfg.tls_files().map_err(|e| errors::data_error(py, e))? {
        files.acceptor().map_err(|e| errors::data_error(py, e))?;
    }
    if let Some(dir) = dir {
        cfg.dir = dir;
    }
    if let Some(host) = host {
        cfg.bind = host;
    }
    if let Some(port) = port {
        cfg.port = port;
    }
    Ok(cfg)
}

/// Opens the keyspace of `cfg` as the binary does (the server decides when to merge).
fn open_keyspace(cfg: &ServerConfig) -> Result<Keyspace, fincaskv::keyspace::Error> {
    let storage_opts = storage::Options::new(cfg.dir.clone())
        .with_fsync(to_policy(cfg.fsync))
        .with_index(cfg.index.parse::<IndexKind>().unwrap_or(IndexKind::Hash))
        .with_merge_interval(None);
    let mut ks_cfg = KeyspaceConfig::new(storage_opts);
    ks_cfg.databases = cfg.databases;
    Keyspace::open(ks_cfg)
}

#[pymethods]
impl ServerHandle {
    /// Opens `dir`, binds `host:port` (0 = a free port) and starts serving.
    /// `None` for `dir`, `host` or `port` keeps the config file's value (or
    /// the server's default).
    #[new]
    #[pyo3(signature = (dir = None, host = None, port = None, options = None, conf = None))]
    fn new(
        py: Python<'_>,
        dir: Option<PathBuf>,
        host: Option<String>,
        port: Option<u16>,
        options: Option<&Bound<'_, PyDict>>,
        conf: Option<PathBuf>,
    ) -> PyResult<Self> {
        let cfg = build_config(py, conf, dir, host, port, options)?;
        let dir = cfg.dir.clone();
        let opened = py.detach(|| open_keyspace(&cfg));
        let keyspace = Arc::new(opened.map_err(|e| errors::engine_error(py, &e))?);
        let listeners = fincaskv::server::bind_all(&cfg, &fincaskv::command::lookup)
            .map_err(|e| errors::new_err(py, "ConnectionError", e.to_string()))?;
        let addr = listeners
            .resp
            .local_addr()
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fincaskv-server")
            .enable_all()
            .build()
            .map_err(|e| PyRuntimeError::new_err(format!("cannot start the runtime: {e}")))?;
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("fincaskv-server-main".to_owned())
            .spawn(move || -> Result<(), String> {
                let backend = Arc::new(KeyspaceBackend::new(
                    keyspace.clone(),
                    cfg.fsync == FsyncSetting::Always,
                ));
                let backend: Arc<dyn Backend> = backend;
                let result = runtime.block_on(async move {
                    server::run_with(cfg, backend, listeners, async {
                        let _ = stop_rx.await;
                    })
                    .await
                    .map_err(|e| format!("server error: {e}"))
                });
                // Connections are gone; the runtime's tasks too once it drops.
                drop(runtime);
                drop(keyspace);
                result
            })
            .map_err(|e| PyRuntimeError::new_err(format!("cannot start the server thread: {e}")))?;
        Ok(ServerHandle {
            running: Mutex::new(Some(Running {
                stop: Some(stop_tx),
                thread: Some(thread),
            })),
            addr,
            dir,
        })
    }

    /// The port the server listens on.
    #[getter]
    fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The host the server listens on.
    #[getter]
    fn host(&self) -> String {
        self.addr.ip().to_string()
    }

    /// The data directory.
    #[getter]
    fn dir(&self) -> PathBuf {
        self.dir.clone()
    }

    /// Whether the server still runs (false after `stop()` or a client's SHUTDOWN).
    #[getter]
    fn running(&self) -> bool {
        match &*self.running.lock() {
            Some(r) => r.thread.as_ref().is_some_and(|t| !t.is_finished()),
            None => false,
        }
    }

    /// Stops the server (connections finish their command, data is fsynced,
    /// the directory is released) and waits for it. Stopping twice is allowed.
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        let taken = self.running.lock().take();
        if let Some(mut running) = taken {
            py.detach(move || running.shutdown())
                .map_err(|e| errors::new_err(py, "StorageError", e))?;
        }
        Ok(())
    }

    /// Waits up to `timeout` seconds (forever if `None`) for the server to
    /// stop by itself (a client's SHUTDOWN); returns whether it stopped.
    #[pyo3(signature = (timeout = None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> bool {
        let deadline = timeout.map(|t| {
            std::time::Instant::now()
                + std::time::Duration::try_from_secs_f64(t.max(0.0))
                    .unwrap_or(std::time::Duration::MAX)
        });
        py.detach(|| loop {
            if !self.running() {
                return true;
            }
            if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        })
    }
}
