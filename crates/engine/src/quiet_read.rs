//! Full reads made in a quiet moment that Tenure makes itself.
//!
//! A full read of an app's user list is refused when the list changes while it is read (its
//! `totalResults` moves between pages, twice over): a walk by `startIndex` over a moving list can
//! skip accounts, and planning from a list with gaps proposes creates (or, worse, losses) for
//! what it skipped. During a wave of joiners the writes that move the list are Tenure's own, so
//! every full reconciliation of a busy app failed until the wave ended. Such a read is made once
//! more with the app quiet: every node's workers claim nothing of the app (store `quiet.rs`),
//! the writes already in flight land, then the list is read. Writes wait seconds; the plan is
//! made from a list that holds still. Writes from outside Tenure are not held back: a list that
//! still moves is refused as before.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tenure_connectors::Connector;
use tenure_core::{AppId, RemoteAccount, RemoteGroup};

use crate::{Clock, Engine, EngineError, SystemClock};

/// How long one grant of quiet lasts; the reader renews it while it reads, so a reader that
/// died holds the app back at most this long.
const QUIET_FOR: Duration = Duration::from_secs(30);
const QUIET_RENEW: Duration = Duration::from_secs(10);
/// The longest wait for writes already claimed to land before reading anyway (a worker's batch
/// paced by the app's rate; a write that outlasts this is stuck, and the read may still hold).
const IN_FLIGHT_WAIT: Duration = Duration::from_secs(30);

impl Engine {
    /// The app's users (and its groups when `wants_groups`), read while Tenure sends it nothing.
    pub(crate) async fn read_quietly(
        &self,
        app: AppId,
        app_name: &str,
        client: Arc<dyn Connector>,
        wants_groups: bool,
    ) -> Result<(Vec<RemoteAccount>, Vec<RemoteGroup>), EngineError> {
        let reader = format!("{}/{}", self.node, uuid::Uuid::new_v4());
        self.store.hold_quiet(self.tenant, app, &reader, SystemClock.now_ms() + millis(QUIET_FOR)).await?;
        tracing::info!(app = %app_name, "its user list changed while read: reading it again with Tenure's writes held back");
        let renewer = {
            let (store, tenant, reader) = (self.store.clone(), self.tenant, reader.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(QUIET_RENEW).await;
                    let until = SystemClock.now_ms() + millis(QUIET_FOR);
                    if let Err(e) = store.hold_quiet(tenant, app, &reader, until).await {
                        tracing::warn!(error = %e, "cannot renew an app's quiet read");
                    }
                }
            })
        };
        let read = async {
            self.await_writes_landed(app, app_name).await?;
            let failed = |source| EngineError::Connector { app: app_name.to_owned(), source };
            let users = client.list_users().await.map_err(failed)?;
            let groups = if wants_groups { client.list_groups().await.map_err(failed)? } else { Vec::new() };
            Ok((users, groups))
        }
        .await;
        renewer.abort();
        if let Err(e) = self.store.end_quiet(self.tenant, app, &reader, SystemClock.now_ms()).await {
            // The grant lapses on its own within QUIET_FOR.
            tracing::warn!(app = %app_name, error = %e, "cannot end an app's quiet read");
        }
        read
    }

    /// Waits until no worker holds a claimed write to `app`, for at most [`IN_FLIGHT_WAIT`].
    async fn await_writes_landed(&self, app: AppId, app_name: &str) -> Result<(), EngineError> {
        let started = Instant::now();
        let mut poll = Duration::from_millis(20);
        while self.store.app_writes_in_flight(self.tenant, app, SystemClock.now_ms()).await? > 0 {
            if started.elapsed() >= IN_FLIGHT_WAIT {
                tracing::warn!(app = %app_name, "writes to the app still in flight; reading it anyway");
                break;
            }
            tokio::time::sleep(poll).await;
            poll = (poll * 2).min(Duration::from_millis(250));
        }
        Ok(())
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
