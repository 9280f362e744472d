//! Each source's part of the directory as its last import in this process left it, handed to
//! the next import so that re-importing a large export compares it in memory rather than reading
//! the source back from the database (`tenure_store::SourceState`).
//!
//! The database stays the truth: the store uses a kept state only while the tenant's directory
//! version is the one the state was made at, and reads the source again otherwise (another
//! process, node or SCIM push wrote the directory meanwhile). A state is taken out for the
//! import and put back only once the import committed, so a failed or refused import leaves
//! nothing behind, and two imports of one source at once simply read the database.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tenure_core::SourceId;
use tenure_store::SourceState;

#[derive(Default)]
pub(crate) struct ImportStates {
    states: Mutex<HashMap<SourceId, SourceState>>,
    /// Imports that had to read their source from the database (tests tell a reuse from a read).
    reads: AtomicU64,
}

impl ImportStates {
    pub(crate) fn take(&self, source: SourceId) -> Option<SourceState> {
        self.states.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(&source)
    }

    /// Keeps the state an import returned; `reused`: whether it used the one it was handed.
    pub(crate) fn keep(&self, source: SourceId, state: SourceState, reused: bool) {
        if !reused {
            self.reads.fetch_add(1, Ordering::Relaxed);
        }
        self.states.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(source, state);
    }

    /// Forgets a source's state (the source was removed).
    pub(crate) fn forget(&self, source: SourceId) {
        self.states.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(&source);
    }

    #[cfg(test)]
    pub(crate) fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests;
