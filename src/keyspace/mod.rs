//! The `keyspace` module: see docs/architecture.md.
