//! The `storage` module: see docs/architecture.md.
