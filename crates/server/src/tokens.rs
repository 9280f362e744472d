//! Token generation and hashing live in the engine (`tenure_engine::tokens`), which the CLI
//! shares; re-exported here for the server's callers.

pub use tenure_engine::tokens::{generate, hash};
