//! `fincaskv-server`: the FincasKV RESP server binary. Everything lives in
//! the library ([`fincaskv_server::run_cli`]) so that the Python package runs
//! the very same command line.

use std::process::ExitCode;

/// Counts the heap in use for INFO's `used_memory` and `maxmemory`.
#[global_allocator]
static ALLOC: fincaskv::alloc::CountingAlloc = fincaskv::alloc::CountingAlloc;

fn main() -> ExitCode {
    ExitCode::from(fincaskv_server::run_cli(std::env::args_os()))
}
