//! The tenant-wide deprovisioning guard: its limits, as org admins set them, and the holds.

use serde::{Deserialize, Serialize};
use tenure_core::guard::GuardLimits;
use utoipa::ToSchema;

use super::{Admin, Need};
use crate::{EngineError, HoldView};

/// A change of the tenant-wide guard: what is given replaces the current value; `default`
/// goes back to the defaults (10%, 25 people, a day).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GuardSpec {
    #[serde(default)]
    pub max_percent: Option<u8>,
    #[serde(default)]
    pub max_count: Option<usize>,
    /// The window, in seconds.
    #[serde(default)]
    pub window_s: Option<u64>,
    #[serde(default)]
    pub default: bool,
}

/// The tenant-wide guard's limits in force, and the holds the actor may see.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GuardView {
    #[schema(value_type = Object)]
    pub global: GuardLimits,
    #[schema(value_type = Vec<Object>)]
    pub holds: Vec<HoldView>,
}

impl Admin<'_> {
    pub async fn guard(&self) -> Result<GuardView, EngineError> {
        self.actor.require(Need::TenantRead)?;
        let global = self.engine.global_guard().await?;
        let holds = self.holds().await?.into_iter().filter(|h| h.status == "held" || h.status == "approved").collect();
        Ok(GuardView { global, holds })
    }

    pub async fn set_guard(&self, spec: GuardSpec) -> Result<GuardView, EngineError> {
        self.actor.require(Need::OrgAdmin)?;
        let limits = if spec.default {
            if spec.max_percent.is_some() || spec.max_count.is_some() || spec.window_s.is_some() {
                return Err(EngineError::field("default", "either the defaults or limits, not both"));
            }
            None
        } else {
            if spec.max_percent.is_some_and(|p| p > 100) {
                return Err(EngineError::field("max_percent", "a percentage, 0 to 100"));
            }
            if spec.window_s == Some(0) {
                return Err(EngineError::field("window_s", "a window of at least one second"));
            }
            let current = self.engine.global_guard().await?;
            Some(GuardLimits {
                max_percent: spec.max_percent.unwrap_or(current.max_percent),
                max_count: spec.max_count.unwrap_or(current.max_count),
                window_s: spec.window_s.unwrap_or(current.window_s),
            })
        };
        self.engine.set_global_guard(limits, &self.actor.name).await?;
        self.guard().await
    }
}
