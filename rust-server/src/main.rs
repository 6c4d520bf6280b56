//! `fincaskv-server`: the FincasKV RESP server binary.

fn main() {
    println!("fincaskv-server {}", env!("CARGO_PKG_VERSION"));
}
