//! Conversions between Python objects and the core's argv / `Reply`.
//!
//! Arguments are encoded as redis-py's `Encoder` does it: `bytes` (and other
//! buffers) as they are, `str` as UTF-8, `int` as its decimal text, `float` as
//! its `repr`; anything else (a `bool`, `None`, a dict ...) is a `DataError`.
//!
//! Replies are presented as a RESP2 connection presents them to redis-py
//! (redis-py 8 speaks RESP2 unless told otherwise), so that the response
//! callbacks in Python are redis-py's: status lines and bulk strings become
//! `bytes` (`str` when decoding), maps become flat lists, sets become lists,
//! doubles become their Redis text (`%.17g`), booleans become 0/1, and both
//! nulls become `None`.

use bytes::Bytes;
use fincaskv::command::Reply;
use pyo3::exceptions::PyUnicodeDecodeError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyFloat, PyInt, PyList, PyMemoryView, PyString, PyTuple};

use crate::errors;

/// Encodes one argument.
pub fn arg(obj: &Bound<'_, PyAny>) -> PyResult<Bytes> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Bytes::copy_from_slice(b.as_bytes()));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        let text = s.to_cow()?;
        return Ok(Bytes::copy_from_slice(text.as_bytes()));
    }
    // bool is a subclass of int: redis-py refuses it, so do we.
    if obj.is_instance_of::<pyo3::types::PyBool>() {
        return Err(invalid_input(obj));
    }
    if let Ok(i) = obj.cast::<PyInt>() {
        if let Ok(v) = i.extract::<i64>() {
            return Ok(Bytes::from(v.to_string()));
        }
        let text = i.str()?;
        return Ok(Bytes::copy_from_slice(text.to_cow()?.as_bytes()));
    }
    if obj.is_instance_of::<PyFloat>() {
        let text = obj.repr()?;
        return Ok(Bytes::copy_from_slice(text.to_cow()?.as_bytes()));
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(Bytes::from(b.to_vec()));
    }
    if obj.is_instance_of::<PyMemoryView>() {
        let raw = obj.call_method0("tobytes")?;
        let b = raw.cast::<PyBytes>()?;
        return Ok(Bytes::copy_from_slice(b.as_bytes()));
    }
    Err(invalid_input(obj))
}

fn invalid_input(obj: &Bound<'_, PyAny>) -> PyErr {
    let type_name = obj
        .get_type()
        .name()
        .and_then(|n| n.to_cow().map(|c| c.into_owned()))
        .unwrap_or_else(|_| "object".to_owned());
    errors::data_error(
        obj.py(),
        format!(
            "Invalid input of type: '{type_name}'. Convert to a bytes, string, int or float first."
        ),
    )
}

/// Encodes a whole argv (a tuple, a list, or any iterable of arguments).
pub fn argv(seq: &Bound<'_, PyAny>) -> PyResult<Vec<Bytes>> {
    let mut out;
    if let Ok(t) = seq.cast::<PyTuple>() {
        out = Vec::with_capacity(t.len());
        for item in t.iter() {
            out.push(arg(&item)?);
        }
    } else if let Ok(l) = seq.cast::<PyList>() {
        out = Vec::with_capacity(l.len());
        for item in l.iter() {
            out.push(arg(&item)?);
        }
    } else {
        out = Vec::with_capacity(seq.len().unwrap_or(4));
        for item in seq.try_iter()? {
            out.push(arg(&item?)?);
        }
    }
    if out.is_empty() {
        return Err(errors::data_error(seq.py(), "empty command"));
    }
    Ok(out)
}

/// A bulk string as `bytes`, or as `str` when decoding (strict UTF-8).
pub fn bulk(py: Python<'_>, data: &[u8], decode: bool) -> PyResult<Py<PyAny>> {
    if decode {
        match std::str::from_utf8(data) {
            Ok(text) => Ok(PyString::new(py, text).into_any().unbind()),
            Err(e) => Err(PyErr::from_value(
                PyUnicodeDecodeError::new_utf8(py, data, e)?.into_any(),
            )),
        }
    } else {
        Ok(PyBytes::new(py, data).into_any().unbind())
    }
}

/// Converts a reply. An error reply at the top is raised; one nested in an
/// array becomes an exception instance in the list.
pub fn reply(py: Python<'_>, r: &Reply, decode: bool) -> PyResult<Py<PyAny>> {
    match r {
        Reply::Error(text) => Err(errors::reply_error(py, text)),
        other => value(py, other, decode),
    }
}

fn value(py: Python<'_>, r: &Reply, decode: bool) -> PyResult<Py<PyAny>> {
    Ok(match r {
        Reply::Simple(s) => bulk(py, s.as_bytes(), decode)?,
        Reply::Error(text) => errors::reply_error_value(py, text)?,
        Reply::Integer(i) => i.into_pyobject(py)?.into_any().unbind(),
        Reply::Bulk(b) | Reply::Verbatim(b) | Reply::HumanDouble(b) => bulk(py, b, decode)?,
        Reply::Nil | Reply::NilArray => py.None(),
        Reply::Array(items) | Reply::Set(items) | Reply::Push(items) | Reply::Pairs(items) => {
            list(py, items, decode)?
        }
        Reply::PairMap(pairs) => {
            let out = PyList::empty(py);
            for (k, v) in pairs {
                let pair = PyList::empty(py);
                pair.append(value(py, k, decode)?)?;
                pair.append(value(py, v, decode)?)?;
                out.append(pair)?;
            }
            out.into_any().unbind()
        }
        Reply::Map(pairs) => {
            let out = PyList::empty(py);
            for (k, v) in pairs {
                out.append(value(py, k, decode)?)?;
                out.append(value(py, v, decode)?)?;
            }
            out.into_any().unbind()
        }
        Reply::Double(d) => bulk(py, format_double(*d).as_bytes(), decode)?,
        Reply::Bool(b) => i64::from(*b).into_pyobject(py)?.into_any().unbind(),
    })
}

fn list(py: Python<'_>, items: &[Reply], decode: bool) -> PyResult<Py<PyAny>> {
    let out = PyList::empty(py);
    for item in items {
        out.append(value(py, item, decode)?)?;
    }
    Ok(out.into_any().unbind())
}

/// Formats a double as Redis 7.0 does in RESP2 (`%.17g`, `inf`, `-inf`, `nan`).
pub fn format_double(d: f64) -> String {
    if d.is_nan() {
        return "nan".to_owned();
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    if d == 0.0 {
        return if d.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    const PRECISION: i32 = 17;
    // `{:.16e}` rounds to 17 significant digits, as %g does before choosing a style.
    let sci = format!("{:.*e}", (PRECISION - 1) as usize, d);
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (sci.as_str(), 0),
    };
    if !(-4..PRECISION).contains(&exp) {
        let m = trim_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (PRECISION - 1 - exp).max(0) as usize;
        trim_zeros(&format!("{d:.decimals$}")).to_owned()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}
