//! The `cluster` module: see docs/architecture.md.
