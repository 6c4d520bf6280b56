//! `DB(path, **options)`: option parsing and the `stats()` dict.
//!
//! The option names are the ones documented on `fincaskv.DB`; each maps to
//! one field of `storage::Options` / `keyspace::Config`, whose documented
//! defaults apply when an option is not given.

use std::path::Path;
use std::time::Duration;

use fincaskv::keyspace::{Config, KeyspaceStats};
use fincaskv::storage::{FsyncPolicy, IndexKind, Options};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::errors;

/// Every option `DB(path, **options)` accepts.
pub const OPTION_NAMES: &[&str] = &[
    "fsync",
    "index",
    "cache_size",
    "max_file_size",
    "merge_ratio",
    "merge_min_dead_bytes",
    "merge_interval",
    "max_key_len",
    "max_value_len",
    "databases",
];

/// How often the housekeeping thread checks the merge trigger when the
/// options do not say (the storage default).
const DEFAULT_MERGE_CHECK: Duration = Duration::from_secs(60);

/// The parsed options.
pub struct Parsed {
    /// What `Keyspace::open` gets.
    pub config: Config,
    /// How often to check `needs_merge` (`Duration::MAX`: never).
    pub merge_check: Duration,
}

/// Parses the options dict (`None` = every default).
pub fn parse(py: Python<'_>, path: &Path, options: Option<&Bound<'_, PyDict>>) -> PyResult<Parsed> {
    let mut storage = Options::new(path);
    let mut databases: Option<usize> = None;
    let mut merge_check = storage.merge_interval.unwrap_or(Duration::MAX);
    if let Some(options) = options {
        for (key, value) in options.iter() {
            let name: String = key.extract()?;
            match name.as_str() {
                "fsync" => {
                    let text: String = value.extract()?;
                    storage.fsync = match text.to_ascii_lowercase().as_str() {
                        "always" => FsyncPolicy::Always,
                        "everysec" => FsyncPolicy::EverySec,
                        "no" => FsyncPolicy::No,
                        _ => {
                            return Err(errors::data_error(
                                py,
                                format!("fsync must be 'always', 'everysec' or 'no', got {text:?}"),
                            ))
                        }
                    };
                }
                "index" => {
                    let text: String = value.extract()?;
                    storage.index = text.parse::<IndexKind>().map_err(|_| {
                        errors::data_error(
                            py,
                            format!("index must be 'hash', 'btree' or 'skiplist', got {text:?}"),
                        )
                    })?;
                }
                "cache_size" => storage.cache_bytes = value.extract()?,
                "max_file_size" => storage.max_file_size = value.extract()?,
                "merge_ratio" => storage.merge_ratio = value.extract()?,
                "merge_min_dead_bytes" => storage.merge_min_dead_bytes = value.extract()?,
                "merge_interval" => {
                    let secs: Option<f64> = value.extract()?;
                    storage.merge_interval = match secs {
                        Some(s) if s > 0.0 => {
                            Some(Duration::try_from_secs_f64(s).map_err(|e| {
                                errors::data_error(py, format!("merge_interval: {e}"))
                            })?)
                        }
                        _ => None,
                    };
                    merge_check = storage.merge_interval.unwrap_or(Duration::MAX);
                }
                "max_key_len" => storage.max_key_len = value.extract()?,
                "max_value_len" => storage.max_value_len = value.extract()?,
                "databases" => databases = Some(value.extract()?),
                other => {
                    return Err(PyTypeError::new_err(format!(
                        "unknown option {other:?}; the options are: {}",
                        OPTION_NAMES.join(", ")
                    )))
                }
            }
        }
    }
    if merge_check == Duration::MAX && storage.merge_interval.is_some() {
        merge_check = DEFAULT_MERGE_CHECK;
    }
    // The housekeeping thread decides when to merge (as the server does).
    storage.merge_interval = None;
    let mut config = Config::new(storage);
    if let Some(n) = databases {
        config.databases = n;
    }
    Ok(Parsed {
        config,
        merge_check,
    })
}

/// `stats()` as a dict.
pub fn stats_dict<'py>(py: Python<'py>, stats: &KeyspaceStats) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    let per_db = PyList::empty(py);
    let mut total_keys = 0usize;
    let mut total_expires = 0usize;
    for (keys, expires) in &stats.keys {
        let d = PyDict::new(py);
        d.set_item("keys", keys)?;
        d.set_item("expires", expires)?;
        per_db.append(d)?;
        total_keys += keys;
        total_expires += expires;
    }
    out.set_item("keys", total_keys)?;
    out.set_item("expires", total_expires)?;
    out.set_item("databases", per_db)?;
    let s = &stats.storage;
    out.set_item("files", s.files)?;
    out.set_item("disk_bytes", s.disk_bytes)?;
    out.set_item("live_bytes", s.live_bytes)?;
    out.set_item("dead_bytes", s.dead_bytes)?;
    out.set_item("cache_bytes", s.cache_bytes)?;
    out.set_item("merges", s.merges)?;
    Ok(out)
}
