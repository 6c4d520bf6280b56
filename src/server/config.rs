//! Server configuration: what the TOML file, the command line and
//! `CONFIG GET/SET` talk about.
//!
//! Option names are Redis's (kebab-case), in the TOML file as in `CONFIG
//! GET`. The storage options (`dir`, `fsync`, `index`, `databases`) are read
//! here too and handed to the keyspace by the binary; they cannot change at
//! runtime.

use std::path::PathBuf;

use serde::Deserialize;

/// Fsync policy as configured (`always`, `everysec`, `no`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FsyncSetting {
    /// Every write is fsynced before it is acknowledged (group commit).
    Always,
    /// Fsync once a second: a power loss may lose about a second of writes.
    #[default]
    Everysec,
    /// Never fsync explicitly; the OS decides.
    No,
}

impl FsyncSetting {
    /// The name used in the config file and `CONFIG GET appendfsync`.
    pub fn as_str(self) -> &'static str {
        match self {
            FsyncSetting::Always => "always",
            FsyncSetting::Everysec => "everysec",
            FsyncSetting::No => "no",
        }
    }

    /// Parses `always | everysec | no` (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "always" => Some(FsyncSetting::Always),
            "everysec" => Some(FsyncSetting::Everysec),
            "no" => Some(FsyncSetting::No),
            _ => None,
        }
    }
}

/// Every option of the server. `Default` gives the documented defaults
/// (`fincaskv.example.toml` lists each one with its default).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on. Default `127.0.0.1` (loopback only).
    pub bind: String,
    /// TCP port. Default 8911.
    pub port: u16,
    /// Data directory. Default `./fincaskv-data`.
    pub dir: PathBuf,
    /// Fsync policy of the storage log. Default `everysec`.
    pub fsync: FsyncSetting,
    /// Keydir index kind: `hash`, `btree` or `skiplist`. Default `hash`.
    pub index: String,
    /// Number of databases (SELECT 0..n-1). Default 16.
    pub databases: usize,
    /// Password required by AUTH / HELLO AUTH; empty = none. Default none.
    /// Settable at runtime.
    pub requirepass: String,
    /// File of ACL users (`user <name> <rules...>` lines), read at start
    /// and by ACL LOAD, written by ACL SAVE; empty = none (users live until
    /// the server stops). Default none. Read at start.
    pub aclfile: String,
    /// Entries ACL LOG keeps. Default 128. Settable.
    pub acllog_max_len: u64,
    /// Users declared in the config file, as Redis's `user` directives:
    /// each an ACL LIST line without its `user` keyword, e.g.
    /// `"alice on >secret ~* +@all"`. CONFIG REWRITE writes every user
    /// here when there is no `aclfile` (the two cannot be combined).
    /// Default none. Read at start.
    pub user: Vec<String>,
    /// Refuse clients from non-loopback addresses when bound to a public
    /// address without a password. Default true. Settable at runtime.
    pub protected_mode: bool,
    /// Maximum number of connected clients. Default 10000. Settable.
    pub maxclients: usize,
    /// Largest bulk string in a request, bytes. Default 512 MiB. Settable.
    pub proto_max_bulk_len: u64,
    /// Heap bytes in use (INFO's `used_memory`) above which commands that
    /// may add data are refused with Redis's OOM error; 0 = no limit.
    /// Units as Redis (`100mb`). Default 0. Settable.
    pub maxmemory: u64,
    /// Only `noeviction` (no key is ever evicted). Default `noeviction`.
    pub maxmemory_policy: String,
    /// Largest argument count of a request. Default 2147483647. Settable.
    pub proto_max_multibulk_len: u64,
    /// Largest unprocessed request data per client, bytes; a client over it is
    /// disconnected. Default 1 GiB. Settable.
    pub client_query_buffer_limit: u64,
    /// Largest pending output (pub/sub messages, MONITOR lines) of one
    /// client, bytes; a slower reader is disconnected. Default 32 MiB
    /// (Redis's pubsub class). Replies to requests are written before the
    /// next request is read, so they never pile up. Settable.
    pub client_output_buffer_limit: u64,
    /// Close a client idle for this many seconds; 0 = never. Default 0. Settable.
    pub timeout: u64,
    /// Background tasks per second (active expiry). Default 10. Settable.
    pub hz: u32,
    /// Commands slower than this many microseconds go to the slow log;
    /// negative disables it. Default 10000. Settable.
    pub slowlog_log_slower_than: i64,
    /// Length of the slow log. Default 128. Settable.
    pub slowlog_max_len: u64,
    /// Commands that take at least this many milliseconds are recorded
    /// by the latency monitor (LATENCY LATEST ...); 0 = off. Default 0.
    /// Settable.
    pub latency_monitor_threshold: u64,
    /// How often to check whether a merge is due, milliseconds; 0 disables
    /// automatic merge. Default 1000. Settable.
    pub merge_check_interval_ms: u64,
    /// Threads running connections (tokio workers); 0 = one per CPU core.
    /// Default 0. Read at start.
    pub worker_threads: usize,
    /// Log level of the binary (`error`, `warn`, `info`, `debug`, `trace`).
    /// Default `info`.
    pub loglevel: String,
    /// `host:port` of the Prometheus metrics endpoint (`GET /metrics`);
    /// empty = off. Default off. Read at start.
    pub metrics_addr: String,
    /// Length of the listen queue of the RESP port (Redis's `tcp-backlog`);
    /// the kernel caps it at `net.core.somaxconn`. Default 511. Read at start.
    pub tcp_backlog: u32,
    /// TLS port for clients (alongside `port`); 0 = no TLS. Default 0.
    /// Read at start.
    pub tls_port: u16,
    /// PEM certificate chain of the server (TLS port and `tls-cluster`).
    pub tls_cert_file: String,
    /// PEM private key of `tls-cert-file`.
    pub tls_key_file: String,
    /// PEM CA bundle that client (and peer) certificates must chain to.
    pub tls_ca_cert_file: String,
    /// Whether TLS clients must present a certificate signed by the CA:
    /// `yes` (Redis's default), `optional` or `no`. Read at start.
    pub tls_auth_clients: String,
    /// Encrypt and mutually authenticate the raft transport with the same
    /// certificate files (peers must present a certificate signed by the
    /// CA). Default false. Read at start.
    pub tls_cluster: bool,
    /// Keyspace notifications (Redis's `notify-keyspace-events`): the
    /// classes of events to publish (`g$lshzxetdnm`, `A` for all but `n`
    /// and `m`) and where (`K` keyspace channel, `E` keyevent channel).
    /// Default empty (off). Settable.
    pub notify_keyspace_events: String,
    /// The classes of `notify-keyspace-events` as set: its string as
    /// shown does not tell `n` apart when `A` is there (as in Redis).
    #[serde(skip)]
    pub notify_flags: u32,
    /// The file this configuration was read from (CONFIG REWRITE writes it).
    #[serde(skip)]
    pub config_file: Option<PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: "127.0.0.1".to_owned(),
            port: 8911,
            dir: PathBuf::from("./fincaskv-data"),
            fsync: FsyncSetting::Everysec,
            index: "hash".to_owned(),
            databases: 16,
            requirepass: String::new(),
            aclfile: String::new(),
            acllog_max_len: 128,
            user: Vec::new(),
            protected_mode: true,
            maxclients: 10_000,
            proto_max_bulk_len: 512 * 1024 * 1024,
            maxmemory: 0,
            maxmemory_policy: "noeviction".to_owned(),
            proto_max_multibulk_len: i32::MAX as u64,
            client_query_buffer_limit: 1024 * 1024 * 1024,
            client_output_buffer_limit: 32 * 1024 * 1024,
            timeout: 0,
            hz: 10,
            slowlog_log_slower_than: 10_000,
            slowlog_max_len: 128,
            latency_monitor_threshold: 0,
            merge_check_interval_ms: 1000,
            worker_threads: 0,
            loglevel: "info".to_owned(),
            metrics_addr: String::new(),
            tcp_backlog: 511,
            tls_port: 0,
            tls_cert_file: String::new(),
            tls_key_file: String::new(),
            tls_ca_cert_file: String::new(),
            tls_auth_clients: "yes".to_owned(),
            tls_cluster: false,
            notify_keyspace_events: String::new(),
            notify_flags: 0,
            config_file: None,
        }
    }
}

/// Names of every option, in the order CONFIG REWRITE writes them.
pub const OPTION_NAMES: &[&str] = &[
    "bind",
    "port",
    "dir",
    "fsync",
    "index",
    "databases",
    "requirepass",
    "aclfile",
    "acllog-max-len",
    "protected-mode",
    "maxclients",
    "maxmemory",
    "maxmemory-policy",
    "proto-max-bulk-len",
    "proto-max-multibulk-len",
    "client-query-buffer-limit",
    "client-output-buffer-limit",
    "timeout",
    "hz",
    "slowlog-log-slower-than",
    "slowlog-max-len",
    "latency-monitor-threshold",
    "notify-keyspace-events",
    "merge-check-interval-ms",
    "worker-threads",
    "loglevel",
    "metrics-addr",
    "tcp-backlog",
    "tls-port",
    "tls-cert-file",
    "tls-key-file",
    "tls-ca-cert-file",
    "tls-auth-clients",
    "tls-cluster",
];

/// Redis's `maxmemory-policy` values, in its error message's order; only
/// `noeviction` is accepted.
const EVICTION_POLICIES: &[&str] = &[
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
];

/// Read-only aliases that Redis clients ask for (redis-benchmark asks for
/// `save` and `appendonly`).
const COMPAT_NAMES: &[&str] = &["appendonly", "appendfsync", "save"];

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_owned()
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "yes" | "true" | "1" => Some(true),
        "no" | "false" | "0" => Some(false),
        _ => None,
    }
}

/// Parses a memory size as Redis does: `100`, `10kb`, `512mb`, `1gb`, `2k`, `3m`.
pub fn parse_memory(v: &str) -> Option<u64> {
    let v = v.to_ascii_lowercase();
    let (num, mul) = [
        ("gb", 1u64 << 30),
        ("mb", 1 << 20),
        ("kb", 1 << 10),
        ("g", 1_000_000_000),
        ("m", 1_000_000),
        ("k", 1_000),
        ("b", 1),
    ]
    .iter()
    .find_map(|(suf, mul)| v.strip_suffix(suf).map(|n| (n.to_owned(), *mul)))
    .unwrap_or((v.clone(), 1));
    num.parse::<u64>().ok()?.checked_mul(mul)
}

impl ServerConfig {
    /// The value of option `name` as CONFIG GET shows it.
    pub fn get(&self, name: &str) -> Option<String> {
        Some(match name {
            "bind" => self.bind.clone(),
            "port" => self.port.to_string(),
            "dir" => self.dir.display().to_string(),
            "fsync" | "appendfsync" => self.fsync.as_str().to_owned(),
            "index" => self.index.clone(),
            "databases" => self.databases.to_string(),
            "requirepass" => self.requirepass.clone(),
            "aclfile" => self.aclfile.clone(),
            "acllog-max-len" => self.acllog_max_len.to_string(),
            "protected-mode" => yes_no(self.protected_mode),
            "maxclients" => self.maxclients.to_string(),
            "proto-max-bulk-len" => self.proto_max_bulk_len.to_string(),
            "proto-max-multibulk-len" => self.proto_max_multibulk_len.to_string(),
            "client-query-buffer-limit" => self.client_query_buffer_limit.to_string(),
            "client-output-buffer-limit" => self.client_output_buffer_limit.to_string(),
            "timeout" => self.timeout.to_string(),
            "hz" => self.hz.to_string(),
            "slowlog-log-slower-than" => self.slowlog_log_slower_than.to_string(),
            "slowlog-max-len" => self.slowlog_max_len.to_string(),
            "latency-monitor-threshold" => self.latency_monitor_threshold.to_string(),
            "merge-check-interval-ms" => self.merge_check_interval_ms.to_string(),
            "notify-keyspace-events" => self.notify_keyspace_events.clone(),
            "worker-threads" => self.worker_threads.to_string(),
            "loglevel" => self.loglevel.clone(),
            "metrics-addr" => self.metrics_addr.clone(),
            "tcp-backlog" => self.tcp_backlog.to_string(),
            "tls-port" => self.tls_port.to_string(),
            "tls-cert-file" => self.tls_cert_file.clone(),
            "tls-key-file" => self.tls_key_file.clone(),
            "tls-ca-cert-file" => self.tls_ca_cert_file.clone(),
            "tls-auth-clients" => self.tls_auth_clients.clone(),
            "tls-cluster" => yes_no(self.tls_cluster),
            "appendonly" => "yes".to_owned(),
            "save" => String::new(),
            "maxmemory" => self.maxmemory.to_string(),
            "maxmemory-policy" => self.maxmemory_policy.clone(),
            _ => return None,
        })
    }

    /// Every (name, value) whose name matches the glob `pattern`.
    pub fn matching(&self, pattern: &[u8]) -> Vec<(String, String)> {
        OPTION_NAMES
            .iter()
            .chain(COMPAT_NAMES.iter())
            .filter(|n| super::pubsub::glob_match(pattern, n.as_bytes(), true))
            .filter_map(|n| self.get(n).map(|v| ((*n).to_owned(), v)))
            .collect()
    }

    /// Sets a runtime-settable option. The error is the text after
    /// `ERR CONFIG SET failed (possibly related to argument '<name>') - `.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let bad = || "argument couldn't be parsed into an integer".to_owned();
        match name {
            "requirepass" => self.requirepass = value.to_owned(),
            "acllog-max-len" => self.acllog_max_len = value.parse().map_err(|_| bad())?,
            "protected-mode" => {
                self.protected_mode =
                    parse_bool(value).ok_or_else(|| "argument must be 'yes' or 'no'".to_owned())?
            }
            "maxclients" => self.maxclients = value.parse().map_err(|_| bad())?,
            "proto-max-bulk-len" => {
                let v = parse_memory(value).ok_or_else(bad)?;
                if v < 1024 * 1024 {
                    return Err(
                        "argument must be between 1048576 and 9223372036854775807 inclusive"
                            .to_owned(),
                    );
                }
                self.proto_max_bulk_len = v;
            }
            "proto-max-multibulk-len" => {
                let v: u64 = value.parse().map_err(|_| bad())?;
                if v == 0 || v > i32::MAX as u64 {
                    return Err("argument must be between 1 and 2147483647 inclusive".to_owned());
                }
                self.proto_max_multibulk_len = v;
            }
            "client-query-buffer-limit" => {
                let v = parse_memory(value).ok_or_else(bad)?;
                if v < 1024 * 1024 {
                    return Err(
                        "argument must be between 1048576 and 9223372036854775807 inclusive"
                            .to_owned(),
                    );
                }
                self.client_query_buffer_limit = v;
            }
            "client-output-buffer-limit" => {
                self.client_output_buffer_limit = parse_memory(value).ok_or_else(bad)?
            }
            "timeout" => self.timeout = value.parse().map_err(|_| bad())?,
            "hz" => {
                let v: u32 = value.parse().map_err(|_| bad())?;
                self.hz = v.clamp(1, 500);
            }
            "slowlog-log-slower-than" => {
                self.slowlog_log_slower_than = value.parse().map_err(|_| bad())?
            }
            "slowlog-max-len" => self.slowlog_max_len = value.parse().map_err(|_| bad())?,
            "latency-monitor-threshold" => {
                let v: i64 = value.parse().map_err(|_| bad())?;
                self.latency_monitor_threshold = u64::try_from(v).map_err(|_| {
                    "argument must be between 0 and 9223372036854775807 inclusive".to_owned()
                })?;
            }
            "merge-check-interval-ms" => {
                self.merge_check_interval_ms = value.parse().map_err(|_| bad())?
            }
            "loglevel" => self.loglevel = value.to_owned(),
            "notify-keyspace-events" => {
                let flags = crate::keyspace::notify::parse_classes(value)
                    .ok_or_else(|| crate::keyspace::notify::INVALID_CLASSES.to_owned())?;
                self.notify_keyspace_events = crate::keyspace::notify::classes_string(flags);
                self.notify_flags = flags;
            }
            "maxmemory" => self.maxmemory = parse_memory(value).ok_or_else(bad)?,
            "maxmemory-policy" => {
                let v = value.to_ascii_lowercase();
                if v != "noeviction" {
                    return Err(if EVICTION_POLICIES.contains(&v.as_str()) {
                        format!("policy '{v}' is not supported: FincasKV evicts no keys; over maxmemory it refuses the commands that may add data (noeviction)")
                    } else {
                        format!(
                            "argument(s) must be one of the following: {}",
                            EVICTION_POLICIES.join(", ")
                        )
                    });
                }
                self.maxmemory_policy = v;
            }
            "save" | "appendonly" => {}
            _ => return Err("unsupported or read-only option".to_owned()),
        }
        Ok(())
    }

    /// Sets any option, including those read only at start (the command
    /// line and `fincaskv.Server(**options)` use it; CONFIG SET uses
    /// [`ServerConfig::set`]).
    pub fn set_startup(&mut self, name: &str, value: &str) -> Result<(), String> {
        let bad = || "argument couldn't be parsed into an integer".to_owned();
        match name {
            "tls-port" => self.tls_port = value.parse().map_err(|_| bad())?,
            "tcp-backlog" => self.tcp_backlog = value.parse().map_err(|_| bad())?,
            "metrics-addr" => self.metrics_addr = value.to_owned(),
            "aclfile" => self.aclfile = value.to_owned(),
            "worker-threads" => self.worker_threads = value.parse().map_err(|_| bad())?,
            "tls-cert-file" => self.tls_cert_file = value.to_owned(),
            "tls-key-file" => self.tls_key_file = value.to_owned(),
            "tls-ca-cert-file" => self.tls_ca_cert_file = value.to_owned(),
            "tls-auth-clients" => {
                crate::tls::ClientAuth::parse(value)
                    .ok_or_else(|| "argument must be 'yes', 'no' or 'optional'".to_owned())?;
                self.tls_auth_clients = value.to_ascii_lowercase();
            }
            "tls-cluster" => {
                self.tls_cluster =
                    parse_bool(value).ok_or_else(|| "argument must be 'yes' or 'no'".to_owned())?
            }
            _ => return self.set(name, value),
        }
        Ok(())
    }

    /// Checks what a config file set and derives what it cannot carry
    /// (the classes of `notify-keyspace-events`); call it after reading one.
    pub fn check_loaded(&mut self) -> Result<(), String> {
        let events = self.notify_keyspace_events.clone();
        self.set("notify-keyspace-events", &events)
            .map_err(|e| format!("notify-keyspace-events: {e}"))?;
        let policy = self.maxmemory_policy.clone();
        self.set("maxmemory-policy", &policy)
            .map_err(|e| format!("maxmemory-policy: {e}"))
    }

    /// `notify-keyspace-events` as [`crate::keyspace::notify`] flags.
    pub fn event_classes(&self) -> u32 {
        self.notify_flags
    }

    /// The TLS certificate files, if `tls-port` or `tls-cluster` asks for
    /// TLS (`None` otherwise). Errors say which option is missing.
    pub fn tls_files(&self) -> Result<Option<crate::tls::TlsFiles>, String> {
        if self.tls_port == 0 && !self.tls_cluster {
            return Ok(None);
        }
        if self.tls_cert_file.is_empty() || self.tls_key_file.is_empty() {
            return Err("tls-port and tls-cluster need tls-cert-file and tls-key-file".to_owned());
        }
        let client_auth = crate::tls::ClientAuth::parse(&self.tls_auth_clients)
            .ok_or_else(|| "tls-auth-clients must be 'yes', 'no' or 'optional'".to_owned())?;
        Ok(Some(crate::tls::TlsFiles {
            cert_file: PathBuf::from(&self.tls_cert_file),
            key_file: PathBuf::from(&self.tls_key_file),
            ca_cert_file: (!self.tls_ca_cert_file.is_empty())
                .then(|| PathBuf::from(&self.tls_ca_cert_file)),
            client_auth,
        }))
    }

    /// The configuration as a TOML document (what CONFIG REWRITE writes).
    pub fn to_toml(&self) -> String {
        let mut out = String::from(
            "# FincasKV configuration (written by CONFIG REWRITE).\n\
             # See fincaskv.example.toml for the meaning and default of each option.\n",
        );
        for name in OPTION_NAMES {
            let Some(value) = self.get(name) else {
                continue;
            };
            let numeric =
                !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit() || b == b'-');
            let toml_value = match *name {
                "protected-mode" | "tls-cluster" => (value == "yes").to_string(),
                "port"
                | "databases"
                | "maxclients"
                | "maxmemory"
                | "proto-max-bulk-len"
                | "proto-max-multibulk-len"
                | "client-query-buffer-limit"
                | "client-output-buffer-limit"
                | "timeout"
                | "hz"
                | "slowlog-log-slower-than"
                | "slowlog-max-len"
                | "acllog-max-len"
                | "latency-monitor-threshold"
                | "merge-check-interval-ms"
                | "worker-threads"
                | "tcp-backlog"
                | "tls-port"
                    if numeric =>
                {
                    value
                }
                _ => format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\"")),
            };
            out.push_str(&format!("{name} = {toml_value}\n"));
        }
        if !self.user.is_empty() {
            out.push_str("user = [\n");
            for u in &self.user {
                out.push_str(&format!(
                    "    \"{}\",\n",
                    u.replace('\\', "\\\\").replace('"', "\\\"")
                ));
            }
            out.push_str("]\n");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes() {
        assert_eq!(parse_memory("100"), Some(100));
        assert_eq!(parse_memory("1kb"), Some(1024));
        assert_eq!(parse_memory("512mb"), Some(512 << 20));
        assert_eq!(parse_memory("1GB"), Some(1 << 30));
        assert_eq!(parse_memory("2k"), Some(2000));
        assert_eq!(parse_memory("x"), None);
    }

    #[test]
    fn set_get_and_rewrite() {
        let mut c = ServerConfig::default();
        c.set("maxclients", "5").unwrap();
        assert_eq!(c.get("maxclients").as_deref(), Some("5"));
        assert!(c.set("maxclients", "x").is_err());
        assert!(c.set("port", "1").is_err());
        c.set("requirepass", "se\"cret").unwrap();
        let text = c.to_toml();
        assert!(text.contains("maxclients = 5\n"));
        assert!(text.contains("requirepass = \"se\\\"cret\"\n"));
        assert!(text.contains("protected-mode = true\n"));
        let names: Vec<String> = c
            .matching(b"slowlog-*")
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, vec!["slowlog-log-slower-than", "slowlog-max-len"]);
    }
}
