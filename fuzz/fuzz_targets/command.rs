//! Fuzz target `command`: see `fincaskv::fuzzing::command` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fincaskv::fuzzing::command(data));
