//! The `fincaskv._native` extension module: a thin PyO3 layer over the core.
//!
//! * [`database`]: `Database`, one open keyspace (GIL released around every
//!   engine call).
//! * [`convert`]: Python arguments -> argv, `Reply` -> Python objects.
//! * [`errors`]: the one place where failures become exceptions.
//! * [`options`]: `DB(path, **options)` parsing and `stats()`.
//! * [`server`]: `ServerHandle`, the RESP server inside the process.
//!
//! The redis-py-shaped API (command methods, response callbacks, pipelines,
//! the mapping face, asyncio) is Python, in `python/fincaskv/`.
#![deny(unsafe_code)]
#![warn(missing_docs)]
#![warn(clippy::unwrap_used)]

use pyo3::prelude::*;

mod convert;
mod database;
mod errors;
mod options;
mod server;

/// The native module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<database::Database>()?;
    m.add_class::<server::ServerHandle>()?;
    m.add("OPTION_NAMES", options::OPTION_NAMES.to_vec())?;
    m.add_function(wrap_pyfunction!(format_double, m)?)?;
    m.add_function(wrap_pyfunction!(run_cli, m)?)?;
    Ok(())
}

/// How a double reply reaches Python in RESP2 (`%.17g`, as Redis 7.0 prints
/// scores); exposed for the tests.
#[pyfunction]
#[pyo3(name = "_format_double")]
fn format_double(value: f64) -> String {
    convert::format_double(value)
}

/// Runs the `fincaskv-server` command line (the binary's own code, so the
/// flags and subcommands are the same) with the GIL released; returns the
/// exit code. `argv` starts with the program name.
#[pyfunction]
fn run_cli(py: Python<'_>, argv: Vec<String>) -> u8 {
    py.detach(move || fincaskv_server::run_cli(argv))
}
