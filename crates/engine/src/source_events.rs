//! Sources as events: Google Workspace push channels (`users.watch`) and Microsoft Graph change
//! notifications (subscriptions on users and groups) make `serve` sync a cloud source within
//! seconds of a change, instead of at its next scheduled sync (which stays, as the safety net
//! for a notification lost on the way).
//!
//! - [`Engine::keep_source_channels`] opens a channel per watched resource of every Google and
//!   Graph source, at `{public URL}/hooks/google/{tenant}` or `/hooks/graph/{tenant}`, each with
//!   a random secret (Google's channel token, Graph's `clientState`) stored only as its SHA-256;
//!   renews each before it runs out (Graph: `PATCH` of its expiry; Google: a new channel, then
//!   the old one stopped, since Google channels cannot be extended); and forgets the channels of
//!   sources that are gone (their credentials went with them, so the service's side runs out by
//!   itself, and its notifications find no channel). `serve` runs it every minute
//!   ([`Engine::run_source_events`]).
//! - The webhook routes hand a notification to [`Engine::google_notification`] or
//!   [`Engine::graph_notifications`], which check the channel id and secret against the store
//!   and ask for a sync of that source ([`Engine::sync_soon`]): notifications arriving while it
//!   runs make one more sync after it, never one each.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use serde::Serialize;
use serde_json::Value;
use sha2::Digest;
use tenure_core::SourceId;
use tenure_sources::cloud_http::HttpOptions;
use tenure_sources::google::GoogleSource;
use tenure_sources::graph::GraphSource;
use tenure_store::{SourceChannel, SourceRecord};
use tokio::sync::watch;

use crate::{Engine, EngineError, GoogleSourceConfig, GraphSourceConfig, SyncOptions};

/// Where Google sends a tenant's notifications, below the public URL (then `/{tenant}`).
pub const GOOGLE_HOOK_PATH: &str = "/hooks/google";
/// Where Graph sends them (then `/{tenant}`).
pub const GRAPH_HOOK_PATH: &str = "/hooks/graph";

/// Quiet time between a notification and the sync it starts: a burst of changes is one sync.
const SETTLE: Duration = Duration::from_millis(300);

#[derive(Debug, Clone)]
pub struct ChannelOptions {
    /// Whether channels are opened at all (`serve` opens them when given `--public-url`: the
    /// address it makes up for itself on loopback is not one Google or Graph can reach).
    pub enabled: bool,
    /// How often channels are looked at (opened, renewed, closed).
    pub check_every: Duration,
    /// A channel with less than this left is renewed.
    pub renew_before: Duration,
    /// The life asked for a Google channel.
    pub google_ttl: Duration,
    /// The life asked for a Graph subscription (Graph allows up to 29 days on users and groups).
    pub graph_lifetime: Duration,
}

impl Default for ChannelOptions {
    fn default() -> Self {
        Self {
            enabled: true,
            check_every: Duration::from_secs(60),
            renew_before: Duration::from_secs(3600),
            google_ttl: Duration::from_secs(6 * 3600),
            graph_lifetime: Duration::from_secs(2 * 24 * 3600),
        }
    }
}

/// What one look at the channels did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ChannelsKept {
    pub opened: usize,
    pub renewed: usize,
    pub closed: usize,
    /// Channels that could not be opened or renewed now (logged; tried again at the next look).
    pub failed: usize,
}

/// What became of a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notified {
    /// A sync of the source follows.
    Sync,
    /// Valid, but nothing to do (Google's `sync` message on a new channel).
    Ignored,
    /// No such channel, or the wrong secret: nothing is done.
    Refused,
}

/// Sources with a notified sync running: `true` when another notification came meanwhile.
pub(crate) type EventSyncs = Arc<Mutex<HashMap<SourceId, bool>>>;

fn secret_hash(secret: &str) -> String {
    sha2::Sha256::digest(secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn new_secret() -> String {
    let bytes: [u8; 24] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares without returning early on the first difference.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The resources a source kind watches; empty for kinds without events.
fn resources(kind: &str) -> &'static [&'static str] {
    match kind {
        "google" => tenure_sources::google::watch::USER_EVENTS,
        "graph" => tenure_sources::graph::subscriptions::RESOURCES,
        _ => &[],
    }
}

/// A source's connection, for its channels.
enum Client {
    Google(GoogleSource),
    Graph(GraphSource),
}

fn client(source: &SourceRecord) -> Result<Client, EngineError> {
    let settings = crate::kind_settings(&source.config);
    let bad = |reason: String| EngineError::SourceConfig { source_name: source.name.clone(), reason };
    let failed = |e: tenure_sources::CloudError| EngineError::Source {
        source_name: source.name.clone(),
        error: tenure_sources::SourceError::Cloud(e),
    };
    match source.kind.as_str() {
        "google" => {
            let config: GoogleSourceConfig = serde_json::from_value(settings).map_err(|e| bad(e.to_string()))?;
            Ok(Client::Google(GoogleSource::new(&config.google, HttpOptions::default()).map_err(failed)?))
        }
        "graph" => {
            let config: GraphSourceConfig = serde_json::from_value(settings).map_err(|e| bad(e.to_string()))?;
            Ok(Client::Graph(GraphSource::new(&config.graph, HttpOptions::default()).map_err(failed)?))
        }
        other => Err(bad(format!("a {other} source has no event channels"))),
    }
}

impl Engine {
    /// The address a source kind's notifications come to, when `serve` has a public URL.
    fn hook_address(&self, kind: &str) -> Option<String> {
        let public = self.public_url.as_deref()?;
        let path = match kind {
            "google" => GOOGLE_HOOK_PATH,
            "graph" => GRAPH_HOOK_PATH,
            _ => return None,
        };
        Some(format!("{public}{path}/{}", self.tenant))
    }

    /// Opens, renews and closes the tenant's event channels (see the module's comment). Without
    /// a public URL nothing is opened: Google and Graph could not reach `serve`.
    pub async fn keep_source_channels(&self, options: &ChannelOptions) -> Result<ChannelsKept, EngineError> {
        let mut kept = ChannelsKept::default();
        let sources = self.store.list_sources(self.tenant).await?;
        let channels = self.store.source_channels(self.tenant).await?;
        let now = self.now_ms();
        let mut wanted: HashSet<(SourceId, &str)> = HashSet::new();
        for source in &sources {
            let Some(address) = self.hook_address(&source.kind) else { continue };
            let mut connection = None;
            for resource in resources(&source.kind) {
                wanted.insert((source.id, resource));
                let current = channels.iter().find(|c| c.source_id == source.id && c.resource == *resource);
                let fresh = current.is_some_and(|c| {
                    c.address == address && c.expires_ms - now > options.renew_before.as_millis() as i64
                });
                if fresh {
                    continue;
                }
                if connection.is_none() {
                    match client(source) {
                        Ok(c) => connection = Some(c),
                        Err(e) => {
                            tracing::warn!(source = %source.name, error = %e, "cannot open event channels now");
                            kept.failed += 1;
                            break;
                        }
                    }
                }
                let Some(connection) = connection.as_ref() else { break };
                match self.renew_or_open(source, connection, resource, current, &address, options).await {
                    Ok(renewed) => {
                        if renewed {
                            kept.renewed += 1;
                        } else {
                            kept.opened += 1;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(source = %source.name, resource, error = %e, "cannot open an event channel now; polling covers the source");
                        kept.failed += 1;
                    }
                }
            }
        }
        // Channels of sources that are gone are forgotten; those of a source that is still there
        // (its kind's channels changed) are closed first.
        for channel in channels.iter().filter(|c| !wanted.contains(&(c.source_id, c.resource.as_str()))) {
            if let Some(source) = sources.iter().find(|s| s.id == channel.source_id)
                && let Ok(connection) = client(source)
            {
                close(&connection, channel).await;
            }
            self.store.remove_source_channel(self.tenant, &channel.channel_id).await?;
            kept.closed += 1;
        }
        Ok(kept)
    }

    /// Renews `current` where the service allows it (Graph), else opens a new channel and closes
    /// the old one. Returns whether it was a renewal.
    async fn renew_or_open(
        &self,
        source: &SourceRecord,
        connection: &Client,
        resource: &str,
        current: Option<&SourceChannel>,
        address: &str,
        options: &ChannelOptions,
    ) -> Result<bool, EngineError> {
        let failed = |e: tenure_sources::CloudError| EngineError::Source {
            source_name: source.name.clone(),
            error: tenure_sources::SourceError::Cloud(e),
        };
        if let (Client::Graph(graph), Some(channel)) = (connection, current)
            && channel.address == address
        {
            match graph.renew(&channel.channel_id, options.graph_lifetime).await {
                Ok(expires_ms) => {
                    let renewed = SourceChannel { expires_ms, ..channel.clone() };
                    self.store.save_source_channel(self.tenant, &renewed).await?;
                    tracing::info!(source = %source.name, resource, "event subscription renewed");
                    return Ok(true);
                }
                // Gone on Graph's side (expired, deleted): subscribe anew below.
                Err(e) => tracing::info!(source = %source.name, resource, error = %e, "cannot renew; subscribing anew"),
            }
        }
        let secret = new_secret();
        let opened = match connection {
            Client::Google(google) => {
                let id = uuid::Uuid::new_v4().to_string();
                let channel =
                    google.watch_users(resource, &id, address, &secret, options.google_ttl).await.map_err(failed)?;
                SourceChannel {
                    channel_id: channel.id,
                    source_id: source.id,
                    resource: resource.to_owned(),
                    secret_hash: secret_hash(&secret),
                    resource_id: Some(channel.resource_id),
                    address: address.to_owned(),
                    expires_ms: channel.expiration_ms,
                }
            }
            Client::Graph(graph) => {
                let subscription =
                    graph.subscribe(resource, address, &secret, options.graph_lifetime).await.map_err(failed)?;
                SourceChannel {
                    channel_id: subscription.id,
                    source_id: source.id,
                    resource: resource.to_owned(),
                    secret_hash: secret_hash(&secret),
                    resource_id: None,
                    address: address.to_owned(),
                    expires_ms: subscription.expiration_ms,
                }
            }
        };
        self.store.save_source_channel(self.tenant, &opened).await?;
        tracing::info!(source = %source.name, resource, channel = %opened.channel_id, "event channel opened");
        if let Some(old) = current {
            close(connection, old).await;
            self.store.remove_source_channel(self.tenant, &old.channel_id).await?;
        }
        Ok(false)
    }

    /// Keeps the channels every `check_every` until `shutdown`.
    pub async fn run_source_events(&self, options: ChannelOptions, mut shutdown: watch::Receiver<bool>) {
        if !options.enabled {
            return;
        }
        loop {
            if *shutdown.borrow() {
                return;
            }
            // Channels live in the store, so whichever node holds the duty keeps them all and any
            // node answers their notifications.
            let duty = match self.hold_duty(crate::nodes::SOURCE_EVENTS).await {
                Ok(duty) => duty,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot take the source event channels' duty");
                    None
                }
            };
            let kept = match duty {
                Some(_duty) => self.keep_source_channels(&options).await,
                None => Ok(Default::default()),
            };
            match kept {
                Ok(kept) if kept.opened + kept.renewed + kept.closed + kept.failed > 0 => {
                    tracing::info!(?kept, "source event channels")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "cannot keep the source event channels"),
            }
            tokio::select! {
                _ = shutdown.changed() => {}
                () = tokio::time::sleep(options.check_every) => {}
            }
        }
    }

    /// A Google push notification: its channel id, token and resource state
    /// (`X-Goog-Channel-ID`, `X-Goog-Channel-Token`, `X-Goog-Resource-State`).
    pub async fn google_notification(
        &self,
        channel_id: &str,
        token: Option<&str>,
        state: &str,
    ) -> Result<Notified, EngineError> {
        // The first message of every channel says only that it works; it may arrive before the
        // channel is stored, and it starts nothing, so it needs no check.
        if state == "sync" {
            return Ok(Notified::Ignored);
        }
        let Some(channel) = self.store.source_channel(self.tenant, channel_id).await? else {
            return Ok(Notified::Refused);
        };
        if !token.is_some_and(|t| same(&secret_hash(t), &channel.secret_hash)) {
            tracing::warn!(channel = channel_id, "a Google notification with the wrong channel token; ignored");
            return Ok(Notified::Refused);
        }
        self.sync_soon(channel.source_id);
        Ok(Notified::Sync)
    }

    /// A Graph change notification collection (`{"value": [...]}`): every item naming one of the
    /// tenant's subscriptions with its `clientState` asks for a sync of its source. How many did.
    pub async fn graph_notifications(&self, body: &Value) -> Result<usize, EngineError> {
        let items = body.get("value").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        let mut sources = HashSet::new();
        for item in items {
            let text = |key: &str| item.get(key).and_then(Value::as_str);
            let Some(id) = text("subscriptionId") else { continue };
            let Some(channel) = self.store.source_channel(self.tenant, id).await? else { continue };
            if !text("clientState").is_some_and(|s| same(&secret_hash(s), &channel.secret_hash)) {
                tracing::warn!(subscription = id, "a Graph notification with the wrong clientState; ignored");
                continue;
            }
            sources.insert(channel.source_id);
        }
        for source in &sources {
            self.sync_soon(*source);
        }
        Ok(sources.len())
    }

    /// Syncs the source shortly, off the caller's task; a sync already running for it is
    /// followed by one more instead of a second one at the same time.
    pub fn sync_soon(&self, source: SourceId) {
        {
            let mut running = self.event_syncs.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(again) = running.get_mut(&source) {
                *again = true;
                return;
            }
            running.insert(source, false);
        }
        let engine = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(SETTLE).await;
                engine.notified_sync(source).await;
                let mut running = engine.event_syncs.lock().unwrap_or_else(|p| p.into_inner());
                if running.get(&source) == Some(&true) {
                    running.insert(source, false);
                    continue;
                }
                running.remove(&source);
                return;
            }
        });
    }

    async fn notified_sync(&self, id: SourceId) {
        let source = match self.store.list_sources(self.tenant).await {
            Ok(sources) => sources.into_iter().find(|s| s.id == id),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the notified source; its scheduled sync covers it");
                return;
            }
        };
        let Some(source) = source else { return };
        match self.sync_source(&source, SyncOptions::default()).await {
            Ok(report) => {
                tracing::info!(source = %source.name, people = report.people, incremental = report.incremental, "sync on notification")
            }
            Err(e) => {
                tracing::warn!(source = %source.name, error = %e, "sync on notification failed; the scheduled sync retries")
            }
        }
    }
}

async fn close(connection: &Client, channel: &SourceChannel) {
    let result = match connection {
        Client::Google(google) => match &channel.resource_id {
            Some(resource_id) => google.stop_channel(&channel.channel_id, resource_id).await,
            None => Ok(()),
        },
        Client::Graph(graph) => graph.unsubscribe(&channel.channel_id).await,
    };
    if let Err(e) = result {
        // It runs out by itself; its notifications find no channel and are refused.
        tracing::info!(channel = %channel.channel_id, error = %e, "could not close an event channel");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_by_their_hash() {
        let secret = new_secret();
        assert_eq!(secret.len(), 48);
        assert!(same(&secret_hash(&secret), &secret_hash(&secret)));
        assert!(!same(&secret_hash(&secret), &secret_hash("guess")));
        assert!(!same("ab", "abc"));
    }
}
