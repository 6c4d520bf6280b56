//! `fincaskv-server`: the FincasKV RESP server binary. Everything lives in
//! the library ([`fincaskv_server::run_cli`]) so that the Python package runs
//! the very same command line.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(fincaskv_server::run_cli(std::env::args_os()))
}
