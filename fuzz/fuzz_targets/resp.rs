//! Fuzz target `resp`: see `fincaskv::fuzzing::resp` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fincaskv::fuzzing::resp(data));
