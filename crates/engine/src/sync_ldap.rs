//! Reading an LDAP / Active Directory source: incremental from the stored cursor when there is
//! one, full otherwise (or when asked, or when the source says the cursor cannot be used).

use serde::{Deserialize, Serialize};
use tenure_core::import::{GroupChange, ImportBatch, ImportDelta, SyncScope};
use tenure_sources::ldap::delta::Incremental;
use tenure_sources::ldap::{self, LdapConfig};
use tenure_store::SourceRecord;

use crate::sync::Delivery;
use crate::{Engine, EngineError};

/// What `tenure source add ldap` stores: the connection and mapping, the scope and the guard.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapSourceConfig {
    pub ldap: LdapConfig,
    #[serde(default, skip_serializing_if = "SyncScope::is_unrestricted")]
    pub scope: SyncScope,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_share_percent: Option<u8>,
}

impl Engine {
    pub(crate) async fn read_ldap(
        &self,
        source: &SourceRecord,
        cursor: Option<&str>,
    ) -> Result<(Delivery, Option<String>), EngineError> {
        let name = source.name.clone();
        let config: LdapSourceConfig = serde_json::from_value(crate::kind_settings(&source.config))
            .map_err(|e| EngineError::SourceConfig { source_name: name.clone(), reason: e.to_string() })?;
        let failed =
            |error: ldap::LdapSourceError| EngineError::Source { source_name: name.clone(), error: error.into() };
        let Some(cursor) = cursor else {
            let read = ldap::read_full(&config.ldap).await.map_err(failed)?;
            return Ok((Delivery::Full(read.batch), Some(read.cursor.encode())));
        };
        let snapshot = self.store.source_snapshot(self.tenant, source.id).await?;
        match ldap::delta::read_incremental(&config.ldap, &snapshot, cursor).await.map_err(failed)? {
            Incremental::Delta { delta, .. } if regroups_scope(&config.scope, &snapshot, &delta) => {
                // The snapshot holds only people in scope. When groups the scope looks at are
                // re-nested or removed, people outside it may enter without any entry of theirs
                // changing, and the delta cannot name them: read everyone.
                tracing::info!(source = %name, "group nesting changed under a group-based scope: full LDAP read");
                let read = ldap::read_full(&config.ldap).await.map_err(failed)?;
                Ok((Delivery::Full(read.batch), Some(read.cursor.encode())))
            }
            Incremental::Delta { delta, cursor } => Ok((Delivery::Delta(delta), Some(cursor.encode()))),
            Incremental::Full { read, reason } => {
                tracing::info!(source = %name, %reason, "full LDAP read instead of an incremental one");
                Ok((Delivery::Full(read.batch), Some(read.cursor.encode())))
            }
        }
    }
}

/// Whether `delta` changes the nesting of groups the snapshot already has while the scope
/// selects people by group.
fn regroups_scope(scope: &SyncScope, snapshot: &ImportBatch, delta: &ImportDelta) -> bool {
    if scope.include_groups.is_empty() && scope.exclude_groups.is_empty() {
        return false;
    }
    delta.groups.iter().any(|change| match change {
        GroupChange::Upsert(group) => snapshot.groups.iter().any(|g| g.name == group.name),
        GroupChange::Remove { .. } => true,
        _ => false,
    })
}
