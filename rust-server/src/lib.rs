//! `fincaskv-server`: the FincasKV RESP server command line, as a library.
//!
//! The binary (`src/main.rs`) and the Python package (`python -m fincaskv`,
//! the wheel's `fincaskv-server` console script) both call [`run_cli`], so
//! they accept exactly the same arguments. A thin shell around the core: it reads the TOML config file and the
//! command line (flags win), sets up logging, opens the keyspace, binds the
//! listener and hands everything to `fincaskv::server::run`, with SIGINT /
//! SIGTERM as the shutdown future. `fincaskv-server check [--repair] DIR`
//! checks (and salvages) a data directory.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use clap::{Parser, Subcommand, ValueEnum};
use fincaskv::cluster::{ClusterBackend, ClusterConfig};
use fincaskv::keyspace::{Config as KeyspaceConfig, Keyspace};
use fincaskv::server::{self, Backend, FsyncSetting, KeyspaceBackend, ServerConfig};
use fincaskv::storage::{self, FsyncPolicy, IndexKind};
use tracing_subscriber::EnvFilter;

mod tools;

/// Command line. Every flag overrides the same option of the config file.
#[derive(Debug, Parser)]
#[command(
    name = "fincaskv-server",
    version,
    about = "FincasKV: a persistent, Redis-compatible key/value server"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// TOML config file (see fincaskv.example.toml).
    #[arg(long = "conf", value_name = "PATH")]
    conf: Option<PathBuf>,
    /// TCP port [default: 8911].
    #[arg(long)]
    port: Option<u16>,
    /// Data directory [default: ./fincaskv-data].
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1].
    #[arg(long)]
    bind: Option<String>,
    /// Fsync policy [default: everysec].
    #[arg(long, value_enum)]
    fsync: Option<FsyncArg>,
    /// Password for AUTH.
    #[arg(long)]
    requirepass: Option<String>,
    /// ACL users file, read at start and by ACL LOAD, written by ACL SAVE.
    #[arg(long, value_name = "PATH")]
    aclfile: Option<String>,
    /// Number of databases [default: 16].
    #[arg(long)]
    databases: Option<usize>,
    /// Keydir index kind: hash, btree or skiplist [default: hash].
    #[arg(long)]
    index: Option<String>,
    /// Maximum number of clients [default: 10000].
    #[arg(long)]
    maxclients: Option<usize>,
    /// Protected mode: yes or no [default: yes].
    #[arg(long, value_name = "yes|no")]
    protected_mode: Option<String>,
    /// Threads serving connections; 0 = one per core [default: 0].
    #[arg(long)]
    worker_threads: Option<usize>,
    /// Log level: error, warn, info, debug, trace [default: info].
    #[arg(long)]
    loglevel: Option<String>,
    /// Keyspace notifications, as Redis's notify-keyspace-events (e.g.
    /// `KEA`) [default: none].
    #[arg(long)]
    notify_keyspace_events: Option<String>,
    /// Prometheus metrics endpoint HOST:PORT (GET /metrics) [default: off].
    #[arg(long, value_name = "HOST:PORT")]
    metrics_addr: Option<String>,
    #[command(flatten)]
    tls: TlsArgs,
    #[command(flatten)]
    cluster: ClusterArgs,
}

/// TLS flags, named as Redis names them.
#[derive(Debug, clap::Args)]
struct TlsArgs {
    /// TLS port for clients, beside --port [default: 0 = off].
    #[arg(long)]
    tls_port: Option<u16>,
    /// PEM certificate chain of this server.
    #[arg(long, value_name = "PATH")]
    tls_cert_file: Option<String>,
    /// PEM private key of --tls-cert-file.
    #[arg(long, value_name = "PATH")]
    tls_key_file: Option<String>,
    /// PEM CA bundle client and peer certificates must chain to.
    #[arg(long, value_name = "PATH")]
    tls_ca_cert_file: Option<String>,
    /// Client certificates: yes (required), optional or no [default: yes].
    #[arg(long, value_name = "yes|optional|no")]
    tls_auth_clients: Option<String>,
    /// TLS with client certificates on the raft transport [default: no].
    #[arg(long, value_name = "yes|no")]
    tls_cluster: Option<String>,
}

/// Raft cluster flags (see `fincaskv::cluster`).
#[derive(Debug, clap::Args)]
struct ClusterArgs {
    /// This node's cluster name (with --raft-addr: start as CLUSTER INIT would).
    #[arg(long)]
    node_id: Option<String>,
    /// This node's raft (peer) listener address, host:port.
    #[arg(long)]
    raft_addr: Option<String>,
    /// Listen for peers here instead of at --raft-addr (which stays the
    /// address peers dial: a node behind NAT or a proxy).
    #[arg(long, value_name = "HOST:PORT")]
    raft_bind: Option<String>,
    /// Raft address of a cluster member to ask to add this node.
    #[arg(long)]
    join: Option<String>,
    /// Raft heartbeat interval in ms [default: 50].
    #[arg(long, value_name = "MS")]
    raft_heartbeat_ms: Option<u64>,
    /// Raft election timeout in ms; each node draws its own in [MS, 2*MS];
    /// failover takes about 3-4 times MS [default: 200].
    #[arg(long, value_name = "MS")]
    raft_election_timeout_ms: Option<u64>,
    /// Upper end of the election timeout draw, ms; also the leader lease a
    /// follower waits out before campaigning, so failover takes about
    /// MAX + a draw in [MS, MAX] [default: 2*MS].
    #[arg(long, value_name = "MS")]
    raft_election_timeout_max_ms: Option<u64>,
    /// Shared secret peers must present [default: empty].
    #[arg(long)]
    cluster_secret: Option<String>,
    /// How reads are served: linearizable (confirmed by the leader) or
    /// local (this node's state, possibly stale) [default: linearizable].
    #[arg(long, value_enum)]
    cluster_read_mode: Option<ReadModeArg>,
    /// Followers answer keyed writes and linearizable reads with
    /// `-MOVED <slot> <leader>` (as Redis Cluster does) instead of
    /// forwarding them; `CLUSTER SLOTS` shows the leader as the primary of
    /// every slot. For cluster-aware clients (`redis-cli -c`, RedisCluster).
    #[arg(long)]
    cluster_redirect: bool,
    /// The address clients reach this node at, as `-MOVED` and `CLUSTER
    /// SLOTS` name it [default: the --raft-addr host with --port].
    #[arg(long, value_name = "HOST:PORT")]
    cluster_announce_addr: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ReadModeArg {
    Linearizable,
    Local,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FsyncArg {
    Always,
    Everysec,
    No,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Writes every key of a data directory as JSON lines or RESP commands.
    Dump {
        /// Output format: jsonl (one object per key) or resp (a command
        /// stream for `redis-cli --pipe` or `load`).
        #[arg(long, value_enum, default_value = "jsonl")]
        format: tools::DumpFormat,
        /// Output file [default: standard output].
        #[arg(short = 'o', long)]
        output: Option<PathBuf>,
        /// Leave Bloom filters out (for a Redis without RedisBloom).
        #[arg(long)]
        no_bloom: bool,
        /// The data directory (no server may hold it).
        dir: PathBuf,
    },
    /// Loads a dump (JSON lines or RESP, detected) into a data directory.
    Load {
        /// The data directory (created if needed; no server may hold it).
        dir: PathBuf,
        /// The dump file; `-` for standard input.
        file: PathBuf,
    },
    /// Merges (compacts) a data directory offline.
    Merge {
        /// The data directory (no server may hold it).
        dir: PathBuf,
    },
    /// Checks a data directory; with --repair, salvages every valid record.
    Check {
        /// Rewrite damaged files keeping every valid record.
        #[arg(long)]
        repair: bool,
        /// The data directory.
        dir: PathBuf,
    },
}

/// Runs the server command line: `args` is the whole argv, program name
/// first. Parses flags (printing help or a usage error as clap does), runs
/// a subcommand or the server until SIGINT / SIGTERM / SHUTDOWN, and
/// returns the process exit code (0 success, 1 failure, 2 usage error).
pub fn run_cli<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    match &cli.command {
        Some(Command::Check { repair, dir }) => {
            init_logging("info");
            return check(dir, *repair);
        }
        Some(cmd) => {
            init_logging("warn");
            return run_tool(cmd);
        }
        None => {}
    }
    let config = match load_config(&cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("fincaskv-server: {e}");
            return 2;
        }
    };
    init_logging(&config.loglevel);
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if config.worker_threads > 0 {
        builder.worker_threads(config.worker_threads);
    }
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("fincaskv-server: cannot start the runtime: {e}");
            return 1;
        }
    };
    match runtime.block_on(serve(config, &cli.cluster)) {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("fincaskv-server: {e}");
            1
        }
    }
}

/// Reads the config file (if any) and applies the flags on top.
fn load_config(cli: &Cli) -> Result<ServerConfig, String> {
    let mut cfg = match &cli.conf {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
            let mut cfg: ServerConfig = toml::from_str(&text)
                .map_err(|e| format!("invalid config file {}: {e}", path.display()))?;
            cfg.config_file = Some(path.clone());
            cfg
        }
        None => ServerConfig::default(),
    };
    if let Some(p) = cli.port {
        cfg.port = p;
    }
    if let Some(d) = &cli.dir {
        cfg.dir = d.clone();
    }
    if let Some(b) = &cli.bind {
        cfg.bind = b.clone();
    }
    if let Some(f) = cli.fsync {
        cfg.fsync = match f {
            FsyncArg::Always => FsyncSetting::Always,
            FsyncArg::Everysec => FsyncSetting::Everysec,
            FsyncArg::No => FsyncSetting::No,
        };
    }
    if let Some(p) = &cli.requirepass {
        cfg.requirepass = p.clone();
    }
    if let Some(p) = &cli.aclfile {
        cfg.aclfile = p.clone();
    }
    if let Some(n) = cli.databases {
        cfg.databases = n;
    }
    if let Some(i) = &cli.index {
        cfg.index = i.clone();
    }
    if let Some(n) = cli.maxclients {
        cfg.maxclients = n;
    }
    if let Some(p) = &cli.protected_mode {
        cfg.set("protected-mode", p)
            .map_err(|e| format!("--protected-mode: {e}"))?;
    }
    if let Some(n) = cli.worker_threads {
        cfg.worker_threads = n;
    }
    if let Some(l) = &cli.loglevel {
        cfg.loglevel = l.clone();
    }
    if let Some(a) = &cli.metrics_addr {
        cfg.metrics_addr = a.clone();
    }
    let t = &cli.tls;
    let tls_flags = [
        ("tls-port", t.tls_port.map(|p| p.to_string())),
        ("tls-cert-file", t.tls_cert_file.clone()),
        ("tls-key-file", t.tls_key_file.clone()),
        ("tls-ca-cert-file", t.tls_ca_cert_file.clone()),
        ("tls-auth-clients", t.tls_auth_clients.clone()),
        ("tls-cluster", t.tls_cluster.clone()),
    ];
    for (name, value) in tls_flags {
        if let Some(v) = value {
            cfg.set_startup(name, &v)
                .map_err(|e| format!("--{name}: {e}"))?;
        }
    }
    if let Some(events) = &cli.notify_keyspace_events {
        cfg.notify_keyspace_events = events.clone();
    }
    cfg.check_loaded()?;
    cfg.tls_files()?;
    cfg.index.parse::<IndexKind>()?;
    Ok(cfg)
}

fn init_logging(level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only for a terminal: log files and pipes get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

async fn serve(config: ServerConfig, cluster_args: &ClusterArgs) -> Result<(), String> {
    let fsync = match config.fsync {
        FsyncSetting::Always => FsyncPolicy::Always,
        FsyncSetting::Everysec => FsyncPolicy::EverySec,
        FsyncSetting::No => FsyncPolicy::No,
    };
    let storage_opts = storage::Options::new(config.dir.clone())
        .with_fsync(fsync)
        .with_index(config.index.parse::<IndexKind>()?)
        // The server decides when to merge (merge-check-interval-ms).
        .with_merge_interval(None);
    let mut ks_cfg = KeyspaceConfig::new(storage_opts);
    ks_cfg.databases = config.databases;
    // Every node of a cluster shares the secret, so every replica orders
    // collection members alike (SPOP picks the same member on each) and a
    // client cannot predict the hashes.
    let secret = cluster_args.cluster_secret.as_deref().unwrap_or_default();
    fincaskv::keyspace::set_order_secret(secret.as_bytes())?;
    let load_started = Instant::now();
    let dir = config.dir.clone();
    let keyspace = tokio::task::spawn_blocking(move || Keyspace::open(ks_cfg))
        .await
        .map_err(|e| format!("opening the keyspace failed: {e}"))?
        .map_err(|e| format!("cannot open data directory {}: {e}", dir.display()))?;
    let keyspace = Arc::new(keyspace);
    let load_ms = load_started.elapsed().as_millis() as u64;
    let backend = Arc::new(KeyspaceBackend::new(
        keyspace.clone(),
        config.fsync == FsyncSetting::Always,
    ));
    let keys: u64 = backend.key_counts().iter().map(|(k, _)| k).sum();

    // Cluster mode hooks in here: CLUSTER commands, raft routing.
    let mut cluster_cfg = ClusterConfig::new(config.dir.join("cluster"));
    cluster_cfg.node_name = cluster_args.node_id.clone();
    cluster_cfg.raft_addr = cluster_args.raft_addr.clone();
    cluster_cfg.raft_bind = cluster_args.raft_bind.clone();
    if let Some(ms) = cluster_args.raft_heartbeat_ms {
        cluster_cfg.heartbeat_ms = ms;
    }
    if let Some(ms) = cluster_args.raft_election_timeout_ms {
        cluster_cfg.election_timeout_ms = ms;
    }
    cluster_cfg.election_timeout_max_ms = cluster_args.raft_election_timeout_max_ms;
    if let Some(max) = cluster_cfg.election_timeout_max_ms {
        if max <= cluster_cfg.election_timeout_ms {
            return Err(format!(
                "--raft-election-timeout-max-ms ({max}) must be greater than --raft-election-timeout-ms ({})",
                cluster_cfg.election_timeout_ms
            ));
        }
    }
    if cluster_cfg.heartbeat_ms == 0 || cluster_cfg.election_timeout_ms <= cluster_cfg.heartbeat_ms
    {
        return Err(format!(
            "--raft-election-timeout-ms ({}) must be greater than --raft-heartbeat-ms ({}), which must not be 0",
            cluster_cfg.election_timeout_ms, cluster_cfg.heartbeat_ms
        ));
    }
    cluster_cfg.join = cluster_args.join.clone();
    cluster_cfg.local_reads = matches!(cluster_args.cluster_read_mode, Some(ReadModeArg::Local));
    cluster_cfg.redirect = cluster_args.cluster_redirect;
    if let Some(addr) = &cluster_args.cluster_announce_addr {
        let port = addr
            .rsplit_once(':')
            .filter(|(host, _)| !host.is_empty())
            .and_then(|(_, port)| port.parse::<u16>().ok());
        if port.is_none() {
            return Err(format!(
                "--cluster-announce-addr takes HOST:PORT, not '{addr}'"
            ));
        }
    }
    cluster_cfg.announce = cluster_args.cluster_announce_addr.clone();
    cluster_cfg.client_port = config.port;
    cluster_cfg.secret = cluster_args.cluster_secret.clone().unwrap_or_default();
    if config.tls_cluster {
        let files = config
            .tls_files()?
            .ok_or("tls-cluster needs the TLS files")?;
        cluster_cfg.tls = Some(fincaskv::tls::PeerTls::new(&files)?);
    }
    // Every start-up check (the users, the cluster settings) is done by
    // now; the TLS and metrics listeners first, the RESP port last: a
    // server that fails to start must not have accepted a client.
    let lookup = |name: &[u8]| {
        fincaskv::cluster::backend::node_lookup(name).or_else(|| backend.lookup(name))
    };
    let listeners = server::bind_all(&config, &lookup).map_err(|e| e.to_string())?;
    let local = listeners.resp.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        addr = %local,
        pid = std::process::id(),
        dir = %config.dir.display(),
        fsync = config.fsync.as_str(),
        keys,
        load_ms,
        "fincaskv-server ready to accept connections"
    );
    println!(
        "fincaskv-server {} listening on {} (pid {}, data dir {}, fsync {}, {} keys loaded in {} ms)",
        env!("CARGO_PKG_VERSION"),
        local,
        std::process::id(),
        config.dir.display(),
        config.fsync.as_str(),
        keys,
        load_ms
    );
    let cluster = ClusterBackend::new(backend, keyspace.clone(), cluster_cfg);
    cluster
        .boot()
        .await
        .map_err(|e| format!("cannot start the cluster node: {e}"))?;
    let backend: Arc<dyn Backend> = cluster.clone();
    server::run_with(config, backend, listeners, shutdown_signal())
        .await
        .map_err(|e| format!("server error: {e}"))?;
    cluster.shutdown().await;
    drop(cluster);
    // Every connection is gone; dropping the last handle closes the log
    // and releases the directory lock.
    drop(keyspace);
    tracing::info!("fincaskv-server stopped");
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("SIGINT received"),
        _ = term => tracing::info!("SIGTERM received"),
    }
}

/// `dump`, `load`, `merge`: prints the summary on stderr (stdout may carry
/// the dump) and returns the exit code.
fn run_tool(cmd: &Command) -> u8 {
    let started = Instant::now();
    let result = match cmd {
        Command::Dump {
            format,
            output,
            no_bloom,
            dir,
        } => {
            let mut out: Box<dyn std::io::Write> = match output {
                Some(path) => match std::fs::File::create(path) {
                    Ok(f) => Box::new(f),
                    Err(e) => {
                        eprintln!("cannot create {}: {e}", path.display());
                        return 1;
                    }
                },
                None => Box::new(std::io::stdout().lock()),
            };
            tools::dump(dir, *format, *no_bloom, &mut out).map(|s| {
                format!(
                    "{}: dumped {} keys ({} bytes) in {:.1} s{}",
                    dir.display(),
                    s.keys,
                    s.bytes,
                    started.elapsed().as_secs_f64(),
                    if s.skipped > 0 {
                        format!("; {} Bloom filters left out (--no-bloom)", s.skipped)
                    } else {
                        String::new()
                    }
                )
            })
        }
        Command::Load { dir, file } => {
            let input: Result<Box<dyn std::io::Read>, String> = if file.as_os_str() == "-" {
                Ok(Box::new(std::io::stdin().lock()))
            } else {
                std::fs::File::open(file)
                    .map(|f| Box::new(f) as Box<dyn std::io::Read>)
                    .map_err(|e| format!("cannot open {}: {e}", file.display()))
            };
            input
                .and_then(|mut input| tools::load(dir, &mut input))
                .map(|s| {
                    format!(
                        "{}: loaded {} keys ({} commands) in {:.1} s",
                        dir.display(),
                        s.keys,
                        s.commands,
                        started.elapsed().as_secs_f64()
                    )
                })
        }
        Command::Merge { dir } => tools::merge(dir),
        Command::Check { .. } => unreachable!("handled by run_cli"),
    };
    match result {
        Ok(summary) => {
            eprintln!("{summary}");
            0
        }
        Err(e) => {
            eprintln!("fincaskv-server: {e}");
            1
        }
    }
}

fn check(dir: &std::path::Path, repair: bool) -> u8 {
    if repair {
        match storage::repair(dir) {
            Ok(report) => {
                println!(
                    "{}: repaired: {} files scanned, {} rewritten, {} records kept, {} records dropped, {} damaged bytes skipped",
                    dir.display(),
                    report.files_scanned,
                    report.files_rewritten,
                    report.records_kept,
                    report.records_dropped,
                    report.bytes_skipped
                );
                0
            }
            Err(e) => {
                eprintln!("repair of {} failed: {e}", dir.display());
                1
            }
        }
    } else {
        if !dir.is_dir() {
            eprintln!("{}: no such directory", dir.display());
            return 1;
        }
        // A check is an open that replays everything (read-only in effect).
        match Keyspace::open(KeyspaceConfig::new(
            storage::Options::new(dir).with_merge_interval(None),
        )) {
            Ok(ks) => {
                let keys: usize = ks.stats().keys.iter().map(|(k, _)| k).sum();
                println!("{}: OK ({keys} keys)", dir.display());
                0
            }
            Err(e) => {
                eprintln!("{}: {e}", dir.display());
                eprintln!(
                    "run `fincaskv-server check --repair {}` to salvage every valid record",
                    dir.display()
                );
                1
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_is_the_defaults() {
        let text = include_str!("../../fincaskv.example.toml");
        let parsed: ServerConfig = toml::from_str(text).expect("example parses");
        assert_eq!(parsed, ServerConfig::default());
        // Every option is documented in the example file.
        for name in server::OPTION_NAMES {
            assert!(
                text.lines().any(|l| l.starts_with(&format!("{name} = "))),
                "{name} missing from fincaskv.example.toml"
            );
        }
    }

    #[test]
    fn config_rewrite_output_parses_back() {
        let mut cfg = ServerConfig::default();
        cfg.set("maxclients", "7").expect("set");
        cfg.set("requirepass", "a \"quoted\" pass").expect("set");
        let mut parsed: ServerConfig = toml::from_str(&cfg.to_toml()).expect("rewrite parses");
        parsed.config_file = cfg.config_file.clone();
        assert_eq!(parsed, cfg);
    }

    #[test]
    fn flags_override_the_file() {
        let dir = std::env::temp_dir().join(format!("fincaskv-conf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("c.toml");
        std::fs::write(
            &path,
            "port = 1234\nbind = \"0.0.0.0\"\nfsync = \"always\"\n",
        )
        .expect("write");
        let cli = Cli::parse_from([
            "fincaskv-server",
            "--conf",
            path.to_str().expect("utf-8 path"),
            "--port",
            "4321",
        ]);
        let cfg = load_config(&cli).expect("config");
        assert_eq!(cfg.port, 4321);
        assert_eq!(cfg.bind, "0.0.0.0");
        assert_eq!(cfg.fsync, FsyncSetting::Always);
        assert_eq!(cfg.config_file.as_deref(), Some(path.as_path()));
        let bad = dir.join("bad.toml");
        std::fs::write(&bad, "no-such-option = 1\n").expect("write");
        let cli = Cli::parse_from(["fincaskv-server", "--conf", bad.to_str().expect("utf-8")]);
        assert!(load_config(&cli).is_err());
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
