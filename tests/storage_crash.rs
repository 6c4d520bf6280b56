//! Crash test (custom harness): this binary re-executes itself as a writer
//! child (`FINCASKV_CRASH_DIR` set) that writes with `fsync=always` from two
//! threads while a third merges in a loop, printing `ack <n>` after each
//! acknowledged write. The parent SIGKILLs it at random moments, reopens the
//! store, and checks that every acknowledged write is present and that no
//! batch is half visible.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use fincaskv::storage::{Engine, FsyncPolicy, Options, WriteBatch};
use rand::Rng;

const ROUNDS: u64 = 8;
const PER_THREAD: u64 = 1_000_000;

fn options(dir: &str) -> Options {
    Options::new(dir)
        .with_fsync(FsyncPolicy::Always)
        .with_max_file_size(16 * 1024)
        .with_merge_interval(None)
}

fn value(n: u64) -> Vec<u8> {
    format!("value-{n}-")
        .repeat(1 + (n % 7) as usize)
        .into_bytes()
}

/// n % 4 == 0: a batch of three keys `b{n}-{j}`; otherwise one key `k{n}`.
fn write(e: &Engine, n: u64) {
    if n % 4 == 0 {
        let mut b = WriteBatch::new();
        for j in 0..3 {
            b.put(format!("b{n}-{j}").as_bytes(), &value(n));
        }
        e.write(&b).expect("batch");
    } else {
        e.put(format!("k{n}").as_bytes(), &value(n)).expect("put");
    }
}

fn child(dir: &str, base: u64) {
    let e = Engine::open(options(dir)).expect("child open");
    let stdout = std::sync::Mutex::new(std::io::stdout());
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                e.merge().expect("merge");
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        for t in 0..2u64 {
            let (e, stdout) = (&e, &stdout);
            s.spawn(move || {
                for i in 0..PER_THREAD {
                    let n = base + t * PER_THREAD + i;
                    write(e, n);
                    let mut out = stdout.lock().expect("stdout");
                    writeln!(out, "ack {n}").expect("print");
                    out.flush().expect("flush");
                }
            });
        }
    });
}

fn check(dir: &str, acked: &[u64]) -> usize {
    let e = Engine::open(options(dir)).expect("reopen after kill");
    for &n in acked {
        if n % 4 == 0 {
            for j in 0..3 {
                let got = e.get(format!("b{n}-{j}").as_bytes()).expect("get");
                assert_eq!(
                    got.as_deref(),
                    Some(&value(n)[..]),
                    "acked batch {n} key {j} lost"
                );
            }
        } else {
            let got = e.get(format!("k{n}").as_bytes()).expect("get");
            assert_eq!(got.as_deref(), Some(&value(n)[..]), "acked write {n} lost");
        }
    }
    // No batch is half visible, acknowledged or not.
    let mut batches: BTreeMap<String, usize> = BTreeMap::new();
    let mut cursor = 0;
    loop {
        let (next, keys) = e.scan(cursor, 1000);
        for k in keys {
            let k = String::from_utf8_lossy(&k).into_owned();
            if let Some(rest) = k.strip_prefix('b') {
                if let Some((n, _)) = rest.split_once('-') {
                    *batches.entry(n.to_string()).or_default() += 1;
                }
            }
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
    for (n, count) in &batches {
        assert_eq!(*count, 3, "batch {n} is half visible");
    }
    e.len()
}

fn main() {
    if let Ok(dir) = std::env::var("FINCASKV_CRASH_DIR") {
        let base = std::env::var("FINCASKV_CRASH_BASE")
            .ok()
            .and_then(|b| b.parse().ok())
            .unwrap_or(0);
        child(&dir, base);
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().to_str().expect("utf-8 path").to_string();
    let exe = std::env::current_exe().expect("current exe");
    let mut rng = rand::thread_rng();
    let mut all_acked = Vec::new();
    for round in 0..ROUNDS {
        let mut child = Command::new(&exe)
            .env("FINCASKV_CRASH_DIR", &dir)
            .env("FINCASKV_CRASH_BASE", (round * 10 * PER_THREAD).to_string())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("child stdout");
        let mut lines = BufReader::new(stdout).lines();
        let kill_after = rng.gen_range(1..600);
        let mut acked: Vec<u64> = Vec::new();
        while acked.len() < kill_after {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(n) = line.strip_prefix("ack ").and_then(|n| n.parse().ok()) {
                        acked.push(n);
                    }
                }
                _ => break,
            }
        }
        child.kill().expect("SIGKILL child");
        // Acks printed before the kill are acknowledged writes too.
        for line in lines.map_while(Result::ok) {
            if let Some(n) = line.strip_prefix("ack ").and_then(|n| n.parse().ok()) {
                acked.push(n);
            }
        }
        let status = child.wait().expect("wait child");
        assert!(!status.success(), "the child was killed, not finished");
        all_acked.extend(acked.iter().copied());
        let keys = check(&dir, &all_acked);
        println!(
            "round {round}: killed after {} acks, {} acked in total, {keys} keys after reopen",
            acked.len(),
            all_acked.len()
        );
    }
    assert!(!all_acked.is_empty());
    println!("storage_crash: ok");
}
