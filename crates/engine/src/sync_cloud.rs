//! Reading the cloud directory sources (Google Workspace, Microsoft Graph) for `sync`.

use serde::{Deserialize, Serialize};
use tenure_core::import::SyncScope;
use tenure_sources::cloud_http::HttpOptions;
use tenure_sources::google::{GoogleConfig, GoogleSource};
use tenure_sources::graph::{GraphConfig, GraphDelivery, GraphSource};
use tenure_sources::{CloudError, SourceError};
use tenure_store::SourceRecord;

use crate::sync::Delivery;
use crate::{Engine, EngineError};

/// What `tenure source add google` stores: how to reach the directory (a key file path, never
/// the key) and the settings every source has.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GoogleSourceConfig {
    #[serde(flatten)]
    pub google: GoogleConfig,
    #[serde(default, skip_serializing_if = "SyncScope::is_unrestricted")]
    pub scope: SyncScope,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_share_percent: Option<u8>,
}

/// What `tenure source add graph` stores: the app registration, where its secret or certificate
/// is (never the secret), and the settings every source has.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GraphSourceConfig {
    #[serde(flatten)]
    pub graph: GraphConfig,
    #[serde(default, skip_serializing_if = "SyncScope::is_unrestricted")]
    pub scope: SyncScope,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_share_percent: Option<u8>,
}

fn failed(source: &SourceRecord) -> impl Fn(CloudError) -> EngineError + '_ {
    move |e| EngineError::Source { source_name: source.name.clone(), error: SourceError::Cloud(e) }
}

fn config_error(source: &SourceRecord) -> impl Fn(serde_json::Error) -> EngineError + '_ {
    move |e| EngineError::SourceConfig { source_name: source.name.clone(), reason: e.to_string() }
}

impl Engine {
    /// Google has no delta listing: always a full delivery, and no cursor.
    pub(crate) async fn read_google(&self, source: &SourceRecord) -> Result<(Delivery, Option<String>), EngineError> {
        let config: GoogleSourceConfig =
            serde_json::from_value(crate::kind_settings(&source.config)).map_err(config_error(source))?;
        let google = GoogleSource::new(&config.google, HttpOptions::default()).map_err(failed(source))?;
        let batch = google.fetch().await.map_err(failed(source))?;
        Ok((Delivery::Full(batch), None))
    }

    /// A delta from the cursor when there is a usable one, else everything; the new cursor.
    pub(crate) async fn read_graph(
        &self,
        source: &SourceRecord,
        cursor: Option<&str>,
    ) -> Result<(Delivery, Option<String>), EngineError> {
        let config: GraphSourceConfig =
            serde_json::from_value(crate::kind_settings(&source.config)).map_err(config_error(source))?;
        let graph = GraphSource::new(&config.graph, HttpOptions::default()).map_err(failed(source))?;
        let pull = graph.pull(cursor).await.map_err(failed(source))?;
        if let Some(reason) = &pull.resync_reason {
            let detail = serde_json::json!({ "reason": reason });
            self.store.append_audit(self.tenant, "sync", "source.full_resync", &source.name, &detail).await?;
        }
        let delivery = match pull.delivery {
            GraphDelivery::Full(batch) => Delivery::Full(batch),
            GraphDelivery::Delta(delta) => Delivery::Delta(delta),
        };
        Ok((delivery, Some(pull.cursor)))
    }
}
