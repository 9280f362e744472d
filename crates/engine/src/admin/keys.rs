//! Master keys: re-sealing every stored credential under the current key. Deployment-wide (it
//! touches every tenant's credentials), so only the operator's CLI runs it; the audit entry
//! goes to the tenant the CLI acts in, in the same transaction as the re-sealing.

use serde_json::json;
use tenure_store::KeyRotation;

use super::{Admin, Need};
use crate::EngineError;

impl Admin<'_> {
    pub async fn rotate_keys(&self) -> Result<KeyRotation, EngineError> {
        self.actor.require(Need::OrgAdmin)?;
        let actor = self.actor.name.clone();
        let done = self
            .store()
            .rotate_keys_audited(
                self.tenant(),
                &actor,
                |done, key| json!({"key_id": key, "rotated": done.rotated, "unchanged": done.unchanged}),
            )
            .await?;
        Ok(done)
    }
}
