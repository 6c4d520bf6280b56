//! The `resp` module: see docs/architecture.md.
