//! Fuzz target `hint`: see `fincaskv::fuzzing::hint` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fincaskv::fuzzing::hint(data));
