//! The latency monitor (`LATENCY LATEST | HISTORY | RESET | GRAPH |
//! DOCTOR`) and Redis 7.0's per-command latency histograms (`LATENCY
//! HISTOGRAM`), with Redis's reply shapes and texts.
//!
//! The monitor keeps, per event, the last [`HISTORY_LEN`] seconds that saw
//! a spike (one sample per second: the worst of that second) and the all
//! time maximum, as Redis's `latency.c` does. A command is a spike when it
//! takes at least `latency-monitor-threshold` milliseconds (0 = off); the
//! events recorded here are `command` and `fast-command` (a command flagged
//! `fast`). Blocking commands are left out: their time includes the wait.
//!
//! The histograms are Redis's HDR histogram read with its logarithmic
//! iterator (first bucket 1024 ns, factor 2, two significant digits): the
//! bucket of a call is the first `k` with `ns < 1032 * 2^k`, reported as
//! `(1032 * 2^k - 1) / 1000` microseconds. Counting one integer per bucket
//! gives the same replies without the HDR library.

use std::fmt::Write as _;

use bytes::Bytes;

use crate::command::Reply;

/// Samples kept per event (Redis's `LATENCY_TS_LEN`).
pub(crate) const HISTORY_LEN: usize = 160;

/// Buckets of a command's latency histogram: calls up to 1000 s (Redis's
/// `LATENCY_HISTOGRAM_MAX_VALUE`, 10^12 ns) land in one of them.
pub(crate) const HISTOGRAM_BUCKETS: usize = 31;

/// Width of the graph (Redis's `LATENCY_GRAPH_COLS`).
const GRAPH_COLS: usize = 80;

/// The histogram bucket of a call that took `usec` microseconds.
pub(crate) fn histogram_bucket(usec: u64) -> usize {
    // Redis records microseconds * 1000 (at least 1 ns).
    let ns = usec.saturating_mul(1000).max(1);
    (0..HISTOGRAM_BUCKETS)
        .find(|&k| ns < 1032u64 << k)
        .unwrap_or(HISTOGRAM_BUCKETS - 1)
}

/// The value (microseconds) Redis reports for histogram bucket `k`.
fn bucket_usec(k: usize) -> i64 {
    (((1032u64 << k) - 1) / 1000) as i64
}

/// A command's histogram as LATENCY HISTOGRAM replies it: a map of `calls`
/// and `histogram_usec` (bucket -> cumulative count, only where it grows).
pub(crate) fn histogram_reply(buckets: &[u64; HISTOGRAM_BUCKETS]) -> Reply {
    let mut cumulative = 0u64;
    let mut points = Vec::new();
    for (k, &n) in buckets.iter().enumerate() {
        if n == 0 {
            continue;
        }
        cumulative += n;
        points.push((
            Reply::Integer(bucket_usec(k)),
            Reply::Integer(cumulative as i64),
        ));
    }
    Reply::Map(vec![
        (
            Reply::bulk(Bytes::from_static(b"calls")),
            Reply::Integer(cumulative as i64),
        ),
        (
            Reply::bulk(Bytes::from_static(b"histogram_usec")),
            Reply::Map(points),
        ),
    ])
}

#[derive(Clone, Copy, Default)]
struct Sample {
    /// Unix time in seconds; 0 = an empty slot.
    time: u64,
    /// Milliseconds.
    latency: u64,
}

/// One event's samples: a ring of [`HISTORY_LEN`] seconds.
struct TimeSeries {
    /// The next slot to write.
    idx: usize,
    /// All time maximum, milliseconds.
    max: u64,
    samples: Box<[Sample; HISTORY_LEN]>,
}

impl TimeSeries {
    fn new() -> Self {
        TimeSeries {
            idx: 0,
            max: 0,
            samples: Box::new([Sample::default(); HISTORY_LEN]),
        }
    }

    /// The samples, oldest first.
    fn in_order(&self) -> impl Iterator<Item = Sample> + '_ {
        (0..HISTORY_LEN)
            .map(move |j| self.samples[(self.idx + j) % HISTORY_LEN])
            .filter(|s| s.time != 0)
    }

    fn last(&self) -> Sample {
        self.samples[(self.idx + HISTORY_LEN - 1) % HISTORY_LEN]
    }
}

/// The events and their samples. Owned by `Shared` behind a mutex that is
/// taken only when a spike is recorded or a LATENCY command runs.
#[derive(Default)]
pub(crate) struct LatencyMonitor {
    /// Events in the order they first happened (a handful at most).
    events: Vec<(String, TimeSeries)>,
}

impl LatencyMonitor {
    /// Records a spike of `latency_ms` for `event` at `now` (Unix seconds).
    pub fn add_sample(&mut self, event: &str, latency_ms: u64, now: u64) {
        let ts = match self.events.iter().position(|(e, _)| e == event) {
            Some(i) => &mut self.events[i].1,
            None => {
                self.events.push((event.to_owned(), TimeSeries::new()));
                &mut self.events.last_mut().expect("just pushed").1
            }
        };
        ts.max = ts.max.max(latency_ms);
        let prev = (ts.idx + HISTORY_LEN - 1) % HISTORY_LEN;
        if ts.samples[prev].time == now {
            ts.samples[prev].latency = ts.samples[prev].latency.max(latency_ms);
            return;
        }
        ts.samples[ts.idx] = Sample {
            time: now,
            latency: latency_ms,
        };
        ts.idx = (ts.idx + 1) % HISTORY_LEN;
    }

    /// Forgets `event` (case-insensitively, as Redis), or every event;
    /// returns how many were dropped.
    pub fn reset(&mut self, event: Option<&[u8]>) -> i64 {
        let before = self.events.len();
        self.events
            .retain(|(e, _)| event.is_some_and(|want| !e.as_bytes().eq_ignore_ascii_case(want)));
        (before - self.events.len()) as i64
    }

    fn find(&self, event: &[u8]) -> Option<&(String, TimeSeries)> {
        self.events.iter().find(|(e, _)| e.as_bytes() == event)
    }

    /// LATENCY LATEST: `[event, time, latest ms, max ms]` per event.
    pub fn latest(&self) -> Reply {
        Reply::Array(
            self.events
                .iter()
                .map(|(event, ts)| {
                    let last = ts.last();
                    Reply::Array(vec![
                        Reply::bulk(Bytes::copy_from_slice(event.as_bytes())),
                        Reply::Integer(last.time as i64),
                        Reply::Integer(last.latency as i64),
                        Reply::Integer(ts.max as i64),
                    ])
                })
                .collect(),
        )
    }

    /// LATENCY HISTORY: `[time, ms]` per sample, oldest first (an empty
    /// array for an unknown event).
    pub fn history(&self, event: &[u8]) -> Reply {
        Reply::Array(self.find(event).map_or_else(Vec::new, |(_, ts)| {
            ts.in_order()
                .map(|s| {
                    Reply::Array(vec![
                        Reply::Integer(s.time as i64),
                        Reply::Integer(s.latency as i64),
                    ])
                })
                .collect()
        }))
    }

    /// LATENCY GRAPH: Redis's ASCII sparkline of the event, or its error
    /// for an event without samples.
    pub fn graph(&self, event: &[u8], now: u64) -> Reply {
        let Some((name, ts)) = self.find(event) else {
            return Reply::Error(format!(
                "ERR No samples available for event '{}'",
                String::from_utf8_lossy(event)
            ));
        };
        let samples: Vec<(f64, String)> = ts
            .in_order()
            .map(|s| {
                let elapsed = now.saturating_sub(s.time);
                let label = if elapsed < 60 {
                    format!("{elapsed}s")
                } else if elapsed < 3600 {
                    format!("{}m", elapsed / 60)
                } else if elapsed < 86400 {
                    format!("{}h", elapsed / 3600)
                } else {
                    format!("{}d", elapsed / 86400)
                };
                (s.latency as f64, label)
            })
            .collect();
        let high = ts.in_order().map(|s| s.latency).max().unwrap_or(0);
        let low = ts.in_order().map(|s| s.latency).min().unwrap_or(0);
        let mut out = format!(
            "{name} - high {high} ms, low {low} ms (all time high {} ms)\n",
            ts.max
        );
        out.push_str(&"-".repeat(GRAPH_COLS));
        out.push('\n');
        sparkline(&mut out, &samples, GRAPH_COLS, 4);
        Reply::Verbatim(Bytes::from(out))
    }

    /// LATENCY DOCTOR: Redis's report for the events recorded here.
    pub fn doctor(&self, threshold_ms: u64, slowlog_us: i64, now: u64) -> Reply {
        Reply::Verbatim(Bytes::from(self.report(threshold_ms, slowlog_us, now)))
    }

    fn report(&self, threshold_ms: u64, slowlog_us: i64, now: u64) -> String {
        if self.events.is_empty() && threshold_ms == 0 {
            return "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n".to_owned();
        }
        let mut report = String::new();
        let (mut slowlog_enabled, mut slowlog_tuning) = (false, false);
        let (mut slowlog_inspect, mut scheduler, mut large_objects) = (false, false, false);
        let mut advices = 0;
        for (n, (event, ts)) in self.events.iter().enumerate() {
            if n == 0 {
                report.push_str("Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n");
            }
            let samples: Vec<u64> = ts.in_order().map(|s| s.latency).collect();
            let count = samples.len() as u64;
            let avg = samples.iter().sum::<u64>().checked_div(count).unwrap_or(0);
            let mad = samples
                .iter()
                .map(|&l| l.abs_diff(avg))
                .sum::<u64>()
                .checked_div(count)
                .unwrap_or(0);
            let oldest = ts.in_order().map(|s| s.time).min().unwrap_or(now);
            let period = now.saturating_sub(oldest).max(1);
            let _ = write!(
                report,
                "{}. {event}: {count} latency spikes (average {avg}ms, mean deviation {mad}ms, period {:.2} sec). Worst all time event {}ms.",
                n + 1,
                period as f64 / count.max(1) as f64,
                ts.max
            );
            if event.eq_ignore_ascii_case("command") {
                if slowlog_us < 0 {
                    slowlog_enabled = true;
                    advices += 1;
                } else if (slowlog_us / 1000) as u64 > threshold_ms {
                    slowlog_tuning = true;
                    advices += 1;
                }
                slowlog_inspect = true;
                large_objects = true;
                advices += 2;
            }
            if event.eq_ignore_ascii_case("fast-command") {
                scheduler = true;
                advices += 1;
            }
            report.push('\n');
        }
        if self.events.is_empty() && advices == 0 {
            report.push_str("Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n");
            return report;
        }
        if advices == 0 {
            report.push_str("\nWhile there are latency events logged, I'm not able to suggest any easy fix. Please use the Redis community to get some help, providing this report in your help request.\n");
            return report;
        }
        report.push_str("\nI have a few advices for you:\n\n");
        if slowlog_enabled {
            let _ = writeln!(report, "- There are latency issues with potentially slow commands you are using. Try to enable the Slow Log Redis feature using the command 'CONFIG SET slowlog-log-slower-than {}'. If the Slow log is disabled Redis is not able to log slow commands execution for you.", threshold_ms.saturating_mul(1000));
        }
        if slowlog_tuning {
            let _ = writeln!(report, "- Your current Slow Log configuration only logs events that are slower than your configured latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than {}'.", threshold_ms.saturating_mul(1000));
        }
        if slowlog_inspect {
            report.push_str("- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n");
        }
        if scheduler {
            report.push_str("- The system is slow to execute Redis code paths not containing system calls. This usually means the system does not provide Redis CPU time to run for long periods. You should try to:\n  1) Lower the system load.\n  2) Use a computer / VM just for Redis if you are running other software in the same system.\n  3) Check if you have a \"noisy neighbour\" problem.\n  4) Check with 'redis-cli --intrinsic-latency 100' what is the intrinsic latency in your system.\n  5) Check if the problem is allocator-related by recompiling Redis with MALLOC=libc, if you are using Jemalloc. However this may create fragmentation problems.\n");
        }
        if large_objects {
            report.push_str("- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.\n");
        }
        report
    }
}

/// Redis's `sparklineRender` with `SPARKLINE_FILL`: `rows` rows of `_o#|`
/// per `columns` samples, then each sample's label written downwards.
fn sparkline(out: &mut String, samples: &[(f64, String)], columns: usize, rows: usize) {
    let min = samples.iter().map(|s| s.0).fold(f64::INFINITY, f64::min);
    let max = samples
        .iter()
        .map(|s| s.0)
        .fold(f64::NEG_INFINITY, f64::max);
    for (n, chunk) in samples.chunks(columns).enumerate() {
        if n != 0 {
            out.push('\n');
        }
        sparkline_range(out, chunk, min, max, rows);
    }
}

fn sparkline_range(out: &mut String, samples: &[(f64, String)], min: f64, max: f64, rows: usize) {
    const FILL: [char; 3] = ['_', 'o', '#'];
    let relmax = if max - min == 0.0 { 1.0 } else { max - min };
    let steps = (FILL.len() * rows) as i64;
    let labels = samples.iter().any(|s| !s.1.is_empty());
    let mut row = 0;
    loop {
        let mut line = vec![' '; samples.len()];
        let mut more = false;
        for (j, (value, label)) in samples.iter().enumerate() {
            if row < rows {
                let step = (((value - min) * steps as f64) / relmax) as i64;
                let step = step.clamp(0, steps - 1);
                let charidx = step - ((rows - row - 1) * FILL.len()) as i64;
                more = true;
                if (0..FILL.len() as i64).contains(&charidx) {
                    line[j] = FILL[charidx as usize];
                } else if charidx >= FILL.len() as i64 {
                    line[j] = '|';
                }
            } else {
                // One blank row between the graph and the labels.
                if labels && row - rows < 1 {
                    more = true;
                    break;
                }
                if let Some(c) = label.as_bytes().get(row - rows - 1) {
                    more = true;
                    line[j] = char::from(*c);
                }
            }
        }
        if !more {
            break;
        }
        row += 1;
        out.extend(line);
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_as_redis() {
        // Redis reports a 20 us SET in its 33 us bucket.
        assert_eq!(bucket_usec(histogram_bucket(20)), 33);
        assert_eq!(bucket_usec(histogram_bucket(0)), 1);
        assert_eq!(bucket_usec(histogram_bucket(1)), 1);
        assert_eq!(bucket_usec(histogram_bucket(2)), 2);
        assert_eq!(bucket_usec(histogram_bucket(16)), 16);
        assert_eq!(bucket_usec(histogram_bucket(17)), 33);
        assert_eq!(histogram_bucket(u64::MAX), HISTOGRAM_BUCKETS - 1);
    }

    #[test]
    fn one_sample_per_second_and_a_ring_of_160() {
        let mut m = LatencyMonitor::default();
        m.add_sample("command", 10, 100);
        m.add_sample("command", 20, 100);
        m.add_sample("command", 5, 100);
        let Reply::Array(h) = m.history(b"command") else {
            panic!("array")
        };
        assert_eq!(h.len(), 1);
        for t in 0..200 {
            m.add_sample("command", 1, 1000 + t);
        }
        let Reply::Array(h) = m.history(b"command") else {
            panic!("array")
        };
        assert_eq!(h.len(), HISTORY_LEN);
        assert!(matches!(&h[0], Reply::Array(s) if s[0] == Reply::Integer(1040)));
        assert_eq!(m.reset(Some(b"COMMAND")), 1);
        assert_eq!(m.reset(None), 0);
    }

    #[test]
    fn graph_of_one_sample_as_redis() {
        let mut m = LatencyMonitor::default();
        m.add_sample("command", 20, 1000);
        let Reply::Verbatim(g) = m.graph(b"command", 1001) else {
            panic!("verbatim")
        };
        let expected = format!(
            "command - high 20 ms, low 20 ms (all time high 20 ms)\n{}\n \n \n \n_\n \n1\ns\n",
            "-".repeat(80)
        );
        assert_eq!(&g[..], expected.as_bytes());
        assert!(m.graph(b"COMMAND", 1001).is_error());
    }
}
