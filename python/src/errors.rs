//! The one place where failures become Python exceptions.
//!
//! The exception classes are defined in Python (`fincaskv/exceptions.py`) so
//! that they can subclass the right builtins (`DataError` is a `ValueError`,
//! `StorageError` an `OSError`); this module only picks the class.
//!
//! Error *replies* are mapped as redis-py maps them (its `parse_error`): the
//! first word is the error code; `ERR`, `EXECABORT`, `OOM` and `NOSCRIPT` are stripped from
//! the message, other codes (`WRONGTYPE`, ...) stay in it.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyModule, PyType};

/// The `fincaskv.exceptions` module, imported once.
static EXCEPTIONS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// The exception class `name` of `fincaskv.exceptions`.
pub fn class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyType>> {
    let module =
        EXCEPTIONS.get_or_try_init(py, || py.import("fincaskv.exceptions").map(Bound::unbind))?;
    let cls = module.bind(py).getattr(name)?;
    Ok(cls.cast_into::<PyType>()?)
}

/// A `PyErr` of class `name` with message `msg`; if the class cannot be
/// found (a broken installation), the lookup error itself.
pub fn new_err(py: Python<'_>, name: &str, msg: impl Into<String>) -> PyErr {
    let msg: String = msg.into();
    match class(py, name) {
        Ok(cls) => PyErr::from_type(cls, (msg,)),
        Err(e) => e,
    }
}

/// The class name and message for an error reply text (`ERR ...`, `WRONGTYPE ...`).
pub fn classify_reply(text: &str) -> (&'static str, &str) {
    let code = text.split(' ').next().unwrap_or("");
    let rest = text.get(code.len() + 1..).unwrap_or("");
    match code {
        "ERR" => ("ResponseError", rest),
        "WRONGTYPE" => ("WrongTypeError", text),
        "EXECABORT" => ("ExecAbortError", rest),
        "OOM" => ("OutOfMemoryError", rest),
        "NOSCRIPT" => ("NoScriptError", rest),
        _ => ("ResponseError", text),
    }
}

/// The exception for an error reply.
pub fn reply_error(py: Python<'_>, text: &str) -> PyErr {
    let (name, msg) = classify_reply(text);
    new_err(py, name, msg)
}

/// The exception *instance* for an error reply (an element of a transaction's
/// result list, as redis-py stores it).
pub fn reply_error_value(py: Python<'_>, text: &str) -> PyResult<Py<PyAny>> {
    let err = reply_error(py, text);
    Ok(err.into_value(py).into_any())
}

/// Raised when a method is called on a closed database.
pub fn closed(py: Python<'_>) -> PyErr {
    new_err(py, "ClosedError", "the database is closed")
}

/// A `DataError` (bad argument).
pub fn data_error(py: Python<'_>, msg: impl Into<String>) -> PyErr {
    new_err(py, "DataError", msg)
}

/// Maps a keyspace / storage error.
pub fn engine_error(py: Python<'_>, err: &fincaskv::keyspace::Error) -> PyErr {
    use fincaskv::keyspace::Error as K;
    use fincaskv::storage::Error as S;
    let name = match err {
        K::Storage(S::Locked { .. }) => "LockedError",
        K::Storage(S::Corruption { .. }) => "CorruptionError",
        K::Storage(S::InvalidArgument(_)) | K::Config(_) => "DataError",
        _ => "StorageError",
    };
    new_err(py, name, err.to_string())
}
