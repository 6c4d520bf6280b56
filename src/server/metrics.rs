//! Prometheus metrics over HTTP (`--metrics-addr HOST:PORT`).
//!
//! A deliberately small HTTP/1.1 responder: `GET /metrics` answers the
//! Prometheus text format (version 0.0.4), anything else 404 or 405; one
//! request per connection, requests larger than 8 KiB are refused. The
//! figures come from the counters the server keeps anyway (INFO stats and
//! commandstats, merged from the connections once per batch), so serving
//! metrics adds nothing to the command path but one histogram bucket
//! increment in a connection-local table.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::Shared;

/// Upper bounds (microseconds) of the per-command latency histogram buckets;
/// a last, implicit bucket is `+Inf`.
pub(crate) const LATENCY_BUCKETS_US: [u64; 10] = [
    10, 50, 100, 250, 500, 1_000, 5_000, 10_000, 100_000, 1_000_000,
];

/// Reads one counter of a command's statistics.
type StatField = fn(&super::CommandStat) -> u64;

/// Index of the histogram bucket for a command that took `usec`.
pub(crate) fn bucket_of(usec: u64) -> usize {
    LATENCY_BUCKETS_US
        .iter()
        .position(|&le| usec <= le)
        .unwrap_or(LATENCY_BUCKETS_US.len())
}

/// Serves `/metrics` on `listener` until the task is aborted.
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(10), answer(stream, &shared)).await;
        });
    }
}

async fn answer(mut stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > 8192 {
            return respond(&mut stream, "431 Request Header Fields Too Large", "").await;
        }
    }
    let line = buf.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (method, path) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let path = path.split(|&b| b == b'?').next().unwrap_or_default();
    match (method, path) {
        (b"GET", b"/metrics") => respond(&mut stream, "200 OK", &render(shared)).await,
        (_, b"/metrics") => respond(&mut stream, "405 Method Not Allowed", "").await,
        _ => respond(&mut stream, "404 Not Found", "try /metrics\n").await,
    }
}

async fn respond(stream: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Escapes a label value (backslash, quote, newline).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The metrics page.
pub(crate) fn render(shared: &Shared) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let stats = &shared.stats;

    let relaxed = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed) as f64;
    let scalars: [(&str, &str, &str, f64); 6] = [
        (
            "fincaskv_uptime_seconds",
            "gauge",
            "Seconds since the server started.",
            shared.started.elapsed().as_secs_f64(),
        ),
        (
            "fincaskv_connected_clients",
            "gauge",
            "Client connections open now.",
            shared.clients.lock().len() as f64,
        ),
        (
            "fincaskv_connections_received_total",
            "counter",
            "Client connections accepted.",
            relaxed(&stats.connections_received),
        ),
        (
            "fincaskv_rejected_connections_total",
            "counter",
            "Connections refused (maxclients).",
            relaxed(&stats.rejected_connections),
        ),
        (
            "fincaskv_net_input_bytes_total",
            "counter",
            "Bytes read from clients.",
            relaxed(&stats.net_input_bytes),
        ),
        (
            "fincaskv_net_output_bytes_total",
            "counter",
            "Bytes written to clients.",
            relaxed(&stats.net_output_bytes),
        ),
    ];
    for (name, kind, help, value) in scalars {
        family(&mut out, name, kind, help);
        let _ = writeln!(out, "{name} {value}");
    }

    // Per command: calls, failures, latency histogram (seconds).
    let mut commands: Vec<(&'static str, super::CommandStat)> = stats
        .commandstats
        .lock()
        .iter()
        .map(|(k, v)| (*k, *v))
        .collect();
    commands.sort_by_key(|(k, _)| *k);
    let per_command: [(&str, &str, StatField); 2] = [
        (
            "fincaskv_commands_total",
            "Commands executed, by command.",
            |s| s.calls,
        ),
        (
            "fincaskv_commands_failed_total",
            "Commands that replied an error, by command.",
            |s| s.failed,
        ),
    ];
    for (metric, help, get) in per_command {
        family(&mut out, metric, "counter", help);
        for (name, s) in &commands {
            let _ = writeln!(out, "{metric}{{cmd=\"{}\"}} {}", label(name), get(s));
        }
    }
    family(
        &mut out,
        "fincaskv_command_duration_seconds",
        "histogram",
        "Time spent executing commands, by command.",
    );
    for (name, s) in &commands {
        let name = label(name);
        let mut cumulative = 0u64;
        for (i, le) in LATENCY_BUCKETS_US.iter().enumerate() {
            cumulative += s.hist[i];
            let _ = writeln!(
                out,
                "fincaskv_command_duration_seconds_bucket{{cmd=\"{name}\",le=\"{}\"}} {cumulative}",
                *le as f64 / 1e6
            );
        }
        cumulative += s.hist[LATENCY_BUCKETS_US.len()];
        let _ = writeln!(
            out,
            "fincaskv_command_duration_seconds_bucket{{cmd=\"{name}\",le=\"+Inf\"}} {cumulative}"
        );
        let _ = writeln!(
            out,
            "fincaskv_command_duration_seconds_sum{{cmd=\"{name}\"}} {}",
            s.usec as f64 / 1e6
        );
        let _ = writeln!(
            out,
            "fincaskv_command_duration_seconds_count{{cmd=\"{name}\"}} {cumulative}"
        );
    }

    // Keyspace.
    family(&mut out, "fincaskv_keys", "gauge", "Keys, by database.");
    family(
        &mut out,
        "fincaskv_keys_with_expiry",
        "gauge",
        "Keys with a deadline, by database.",
    );
    let counts = shared.backend.key_counts();
    for (db, (keys, expires)) in counts.iter().enumerate() {
        if *keys > 0 {
            let _ = writeln!(out, "fincaskv_keys{{db=\"{db}\"}} {keys}");
            let _ = writeln!(out, "fincaskv_keys_with_expiry{{db=\"{db}\"}} {expires}");
        }
    }
    family(
        &mut out,
        "fincaskv_merges_total",
        "counter",
        "Merges (compactions) completed.",
    );
    let _ = writeln!(
        out,
        "fincaskv_merges_total {}",
        shared.merges_done.load(Ordering::Relaxed)
    );

    // Storage and cluster figures, as the backend reports them in INFO:
    // every numeric field becomes a gauge `fincaskv_<section>_<field>`.
    let mut sections = vec![("storage".to_owned(), shared.backend.persistence_info())];
    sections.extend(shared.backend.info_sections());
    for (section, fields) in sections {
        for (field, value) in fields {
            let Ok(v) = value.parse::<f64>() else {
                continue;
            };
            let name: String = format!("fincaskv_{section}_{field}")
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_lowercase()
                    } else {
                        '_'
                    }
                })
                .collect();
            family(
                &mut out,
                &name,
                "gauge",
                &format!("INFO {section} field {field}."),
            );
            let _ = writeln!(out, "{name} {v}");
        }
    }
    out
}
