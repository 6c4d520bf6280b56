#!/usr/bin/env bash
# Runs every FincasKV test on a fresh machine. It installs what the tests need
# (Debian packages redis-server and redis-tools, a Python venv with the pinned
# packages of tests/requirements.txt), then runs: cargo fmt --check, clippy,
# the Rust test suites, builds the Python wheel with maturin, installs it in the
# venv and runs pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

START=$SECONDS
step() { printf '\n==> [%dm%02ds] %s\n' $(((SECONDS - START) / 60)) $(((SECONDS - START) % 60)) "$*"; }

# --- system packages -------------------------------------------------------
need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need_apt+=(redis-tools)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)  # scripts/gen-test-certs.sh (TLS tests)
if [ ${#need_apt[@]} -gt 0 ]; then
  step "apt-get install ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
# The Debian package starts a system redis on 6379; the tests start their own.

# --- python venv -------------------------------------------------------------
VENV="${FINCASKV_VENV:-$ROOT/.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  step "creating venv $VENV"
  python3 -m venv "$VENV"
fi
step "pip install -r tests/requirements.txt"
"$VENV/bin/pip" install -q --disable-pip-version-check -r tests/requirements.txt

# --- rust --------------------------------------------------------------------
step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
# The `ci` profile (Cargo.toml) is release without LTO and debug info. The
# test build also builds the server binary (target/ci/fincaskv-server) that
# pytest runs: a separate `cargo build -p fincaskv-server` would rebuild most
# crates, because dev-dependencies change the features of shared ones.
step "cargo test (and the server binary)"
cargo test --locked --profile ci
test -x target/ci/fincaskv-server || { echo "cargo test did not build target/ci/fincaskv-server" >&2; exit 1; }

# --- python ------------------------------------------------------------------
step "maturin build + install wheel"
rm -rf target/wheels
"$VENV/bin/maturin" build --profile ci --locked -q -o target/wheels
"$VENV/bin/pip" install -q --force-reinstall --no-deps target/wheels/fincaskv-*.whl
step "wheel smoke test in a fresh venv (no test packages, no server binary)"
SMOKE=$(mktemp -d)
python3 -m venv "$SMOKE/venv"
"$SMOKE/venv/bin/pip" install -q --disable-pip-version-check --no-index --no-deps target/wheels/fincaskv-*.whl
"$SMOKE/venv/bin/fincaskv-server" --version
(cd "$SMOKE" && env -u FINCASKV_SERVER_BIN "$SMOKE/venv/bin/python" "$ROOT/scripts/wheel_smoke.py" "$SMOKE")
rm -rf "$SMOKE"

step "pytest"
export FINCASKV_SERVER_BIN="$ROOT/target/ci/fincaskv-server"
cd tests/python
"$VENV/bin/python" -m pytest -q -p no:cacheprovider --durations=15 "$@"
step "done"
