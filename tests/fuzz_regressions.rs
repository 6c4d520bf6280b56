//! Replays every saved fuzz input (tests/fuzz_regressions/<target>/) through
//! the same entry points the cargo-fuzz targets use (`fincaskv::fuzzing`),
//! so that CI, which does not run the fuzzers, still runs every input that
//! once crashed and the seeds. See docs/architecture.md, "Fuzzing".

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_regressions")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("dir entry").path();
        let data = std::fs::read(&path).expect("read input");
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(outcome.is_ok(), "{} panics", path.display());
        n += 1;
    }
    assert!(n > 0, "no inputs in {}", dir.display());
}

/// One test per target, each replaying its own directory.
macro_rules! targets {
    ($($name:ident),*) => {$(
        #[test]
        fn $name() {
            replay(stringify!($name), fincaskv::fuzzing::$name);
        }
    )*};
}

targets!(resp, record, hint, recovery, command);
