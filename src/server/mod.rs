//! The `server` module: see docs/architecture.md.
