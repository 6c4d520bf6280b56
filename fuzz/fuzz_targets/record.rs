//! Fuzz target `record`: see `fincaskv::fuzzing::record` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fincaskv::fuzzing::record(data));
