//! Fuzz target `recovery`: see `fincaskv::fuzzing::recovery` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fincaskv::fuzzing::recovery(data));
