//! Progress lines in the server log for long work: loading the data files at
//! start, merges, snapshot installs. Short work stays quiet; work that runs
//! longer than [`EVERY`] logs a line every [`EVERY`] (done, total, rate,
//! ETA) and a closing line.

use std::time::{Duration, Instant};

/// Interval between two progress lines.
pub const EVERY: Duration = Duration::from_secs(2);

/// Progress of one piece of work measured in bytes.
#[derive(Debug)]
pub struct ProgressLog {
    what: &'static str,
    total: u64,
    started: Instant,
    last: Instant,
    logged: bool,
}

const MIB: f64 = 1024.0 * 1024.0;

impl ProgressLog {
    /// Starts measuring `what` (e.g. "loading data files") of `total` bytes.
    pub fn new(what: &'static str, total: u64) -> ProgressLog {
        let now = Instant::now();
        ProgressLog {
            what,
            total,
            started: now,
            last: now,
            logged: false,
        }
    }

    /// Reports `done` bytes; logs a line if [`EVERY`] passed since the last
    /// one. `detail` (e.g. "12/40 files") is only built when a line is logged.
    pub fn update(&mut self, done: u64, detail: impl FnOnce() -> String) {
        let now = Instant::now();
        if now.duration_since(self.last) < EVERY {
            return;
        }
        self.last = now;
        self.logged = true;
        tracing::info!(
            "{}: {}",
            self.what,
            line(
                done,
                self.total,
                now.duration_since(self.started),
                &detail()
            )
        );
    }

    /// Ends the work: logs a summary if a progress line was logged (the work
    /// was long), else only at debug level.
    pub fn finish(&self, detail: impl FnOnce() -> String) {
        let took = self.started.elapsed();
        let text = format!(
            "{} done: {:.1} MiB in {:.1} s ({})",
            self.what,
            self.total as f64 / MIB,
            took.as_secs_f64(),
            detail()
        );
        if self.logged {
            tracing::info!("{text}");
        } else {
            tracing::debug!("{text}");
        }
    }
}

/// `37% (150.0 of 400.0 MiB, 75.0 MiB/s, ETA 3 s) <detail>`.
fn line(done: u64, total: u64, elapsed: Duration, detail: &str) -> String {
    let secs = elapsed.as_secs_f64().max(1e-3);
    let rate = done as f64 / secs;
    let pct = (done.min(total).saturating_mul(100))
        .checked_div(total)
        .unwrap_or(100);
    let eta = if rate > 0.0 {
        format!("{:.0} s", total.saturating_sub(done) as f64 / rate)
    } else {
        "unknown".to_owned()
    };
    format!(
        "{pct}% ({:.1} of {:.1} MiB, {:.1} MiB/s, ETA {eta}) {detail}",
        done as f64 / MIB,
        total as f64 / MIB,
        rate / MIB
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_line_shows_percent_rate_and_eta() {
        let l = line(150 << 20, 400 << 20, Duration::from_secs(2), "3/8 files");
        assert_eq!(l, "37% (150.0 of 400.0 MiB, 75.0 MiB/s, ETA 3 s) 3/8 files");
        assert!(line(0, 0, Duration::ZERO, "").starts_with("100% "));
        assert!(line(0, 10, Duration::from_secs(1), "").contains("ETA unknown"));
    }

    #[test]
    fn short_work_logs_nothing_until_every() {
        let mut p = ProgressLog::new("test", 100);
        let mut built = false;
        p.update(50, || {
            built = true;
            String::new()
        });
        assert!(!built, "a line was built before EVERY passed");
        assert!(!p.logged);
    }
}
