//! Apps and the assignments that grant them.

use tenure_core::*;

use crate::crypto::{Binding, StoredForm};
use crate::queue::DirtyMark;
use crate::row::*;
use crate::{Store, StoreError, now_ms};

/// An app with its credential. Kept apart from `App` so that the plain model, which is logged and
/// printed freely, never carries the secret.
#[derive(Debug, Clone)]
pub struct AppRecord {
    pub app: App,
    /// The bearer token, or the OAuth client secret when `auth` says OAuth.
    pub secret: Secret,
    pub auth: AppAuth,
    /// Grows with every change to the app's row: its ETag, and what edits compare and set.
    pub version: i64,
    /// Provisioning paused by an admin: nothing is planned or carried out, nothing deprovisioned.
    pub disabled: bool,
}

/// How Tenure authenticates to an app. The secret itself is kept apart, encrypted (see
/// `crypto`): this is the part that may be shown.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AppAuth {
    /// The secret is a static bearer token.
    #[default]
    Bearer,
    /// OAuth 2.0 client credentials (RFC 6749 §4.4); the secret is the client secret.
    OauthClientCredentials {
        token_url: String,
        client_id: String,
        scope: Option<String>,
        #[serde(default)]
        client_auth: OauthClientAuth,
        /// Form parameters the vendor's token endpoint wants besides the grant's (Box's client
        /// credentials grant: `box_subject_type` `enterprise`, `box_subject_id` the enterprise).
        #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
        token_params: std::collections::BTreeMap<String, String>,
    },
    /// OAuth 2.0 authorization code with PKCE (RFC 6749 §4.1, RFC 7636): an admin consents at
    /// the app's authorization server ("Verify"), and Tenure keeps the granted tokens (stored
    /// apart, see `oauth.rs`), refreshing them. The secret is the client secret.
    OauthAuthorizationCode {
        authorize_url: String,
        token_url: String,
        client_id: String,
        scope: Option<String>,
        #[serde(default)]
        client_auth: OauthClientAuth,
    },
}

impl AppAuth {
    /// The kind's name, as stored in the `kind` tag.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Bearer => "bearer",
            Self::OauthClientCredentials { .. } => "oauth_client_credentials",
            Self::OauthAuthorizationCode { .. } => "oauth_authorization_code",
        }
    }
}

/// Where the client credentials go in a token request (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OauthClientAuth {
    /// HTTP Basic, which every authorization server supports.
    #[default]
    Basic,
    /// `client_id` and `client_secret` in the form body.
    Body,
}

/// How many stored credentials are in each form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyStatus {
    /// Per form (plain, or sealed under a key id), the number of credentials.
    pub counts: std::collections::BTreeMap<StoredForm, usize>,
}

/// What `rotate_keys` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyRotation {
    /// Re-sealed under the current key (from plain or an older key).
    pub rotated: usize,
    /// Already under the current key.
    pub unchanged: usize,
}

/// App secrets are bound to their tenant and app: a sealed value moved to another row fails.
const APP_SECRET: &str = "apps.secret";

fn app_binding<'a>(tenant: &'a str, app: &'a str) -> Binding<'a> {
    Binding { purpose: APP_SECRET, tenant, row: app }
}

pub(crate) fn kind_text(kind: AppKind) -> &'static str {
    match kind {
        AppKind::Scim => "scim",
        AppKind::GoogleWorkspace => "google_workspace",
        AppKind::GithubOrg => "github_org",
        AppKind::Box => "box",
        AppKind::Dropbox => "dropbox",
        AppKind::M365 => "m365",
    }
}

pub(crate) fn target_parts(target: &AssignmentTarget) -> (&'static str, String) {
    match target {
        AssignmentTarget::Person(id) => ("person", id.to_string()),
        AssignmentTarget::Group(id) => ("group", id.to_string()),
        AssignmentTarget::OrgUnit(path) => ("org_unit", path.as_str().to_owned()),
        AssignmentTarget::Rule(rule) => ("rule", rule.to_string()),
    }
}

fn target_from_parts(kind: &str, raw: &str) -> Result<AssignmentTarget, StoreError> {
    let bad = |e: &dyn std::fmt::Display| StoreError::corrupt(format!("assignment target {kind}:{raw}: {e}"));
    Ok(match kind {
        "person" => AssignmentTarget::Person(raw.parse().map_err(|e| bad(&e))?),
        "group" => AssignmentTarget::Group(raw.parse().map_err(|e| bad(&e))?),
        "org_unit" => AssignmentTarget::OrgUnit(OrgUnitPath::parse(raw).map_err(|e| bad(&e))?),
        "rule" => AssignmentTarget::Rule(tenure_core::expr::Rule::parse(raw).map_err(|e| bad(&e))?),
        other => return Err(bad(&format!("unknown kind {other}"))),
    })
}

impl Store {
    pub async fn add_app(
        &self,
        tenant: TenantId,
        name: &str,
        kind: AppKind,
        base_url: &str,
        secret: &Secret,
        settings: &AppSettings,
    ) -> Result<App, StoreError> {
        self.add_app_with_auth(tenant, name, kind, base_url, &AppAuth::Bearer, secret, settings).await
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn add_app_with_auth(
        &self,
        tenant: TenantId,
        name: &str,
        kind: AppKind,
        base_url: &str,
        auth: &AppAuth,
        secret: &Secret,
        settings: &AppSettings,
    ) -> Result<App, StoreError> {
        let app = App {
            id: AppId::new(),
            name: name.to_owned(),
            kind,
            base_url: base_url.to_owned(),
            settings: settings.clone(),
        };
        let (tenant_text, app_text) = (tenant.to_string(), app.id.to_string());
        let sealed = self.seal_app_secret(&tenant_text, &app_text, name, secret)?;
        sqlx::query(
            "INSERT INTO apps (id, tenant_id, name, kind, base_url, secret, config, created_ms, auth) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&app_text)
        .bind(&tenant_text)
        .bind(name)
        .bind(kind_text(kind))
        .bind(base_url)
        .bind(sealed)
        .bind(to_json(settings))
        .bind(now_ms())
        .bind(auth_json(auth))
        .execute(&self.pool)
        .await
        .map_err(crate::error::on_unique(format!("app {name}")))?;
        // A new app's accounts are to be read and matched.
        self.mark_dirty(tenant, &[DirtyMark::app(app.id)]).await?;
        Ok(app)
    }

    pub async fn list_apps(&self, tenant: TenantId) -> Result<Vec<AppRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, kind, base_url, secret, config, auth, version, disabled FROM apps WHERE tenant_id = $1 \
             ORDER BY name",
        )
        .bind(tenant.to_string())
        .fetch_all(&self.pool)
        .await?;
        let tenant_text = tenant.to_string();
        rows.iter()
            .map(|r| {
                let kind = text(r, "kind")?;
                let (id, name) = (text(r, "id")?, text(r, "name")?);
                let secret = self
                    .keyring
                    .open(app_binding(&tenant_text, &id), &text(r, "secret")?)
                    .map_err(|source| StoreError::Credential { what: format!("app {name}"), source })?;
                let auth = match opt_text(r, "auth")? {
                    None => AppAuth::Bearer,
                    Some(raw) => serde_json::from_str(&raw)
                        .map_err(|e| StoreError::corrupt(format!("auth of app {name}: {e}")))?,
                };
                Ok(AppRecord {
                    app: App {
                        id: parsed(r, "id")?,
                        name: text(r, "name")?,
                        kind: match kind.as_str() {
                            "scim" => AppKind::Scim,
                            "google_workspace" => AppKind::GoogleWorkspace,
                            "github_org" => AppKind::GithubOrg,
                            "box" => AppKind::Box,
                            "dropbox" => AppKind::Dropbox,
                            "m365" => AppKind::M365,
                            other => return Err(StoreError::corrupt(format!("app kind {other}"))),
                        },
                        base_url: text(r, "base_url")?,
                        settings: json(r, "config")?,
                    },
                    secret,
                    auth,
                    version: int(r, "version")?,
                    disabled: int(r, "disabled")? != 0,
                })
            })
            .collect()
    }

    pub async fn app_by_id(&self, tenant: TenantId, id: AppId) -> Result<AppRecord, StoreError> {
        self.list_apps(tenant)
            .await?
            .into_iter()
            .find(|a| a.app.id == id)
            .ok_or_else(|| StoreError::NotFound(format!("app {id}")))
    }

    pub async fn app_by_name(&self, tenant: TenantId, name: &str) -> Result<AppRecord, StoreError> {
        self.list_apps(tenant)
            .await?
            .into_iter()
            .find(|a| a.app.name == name)
            .ok_or_else(|| StoreError::NotFound(format!("app {name}")))
    }

    /// Replaces an app's settings (e.g. with the capability profile `tenure app check` found).
    pub async fn set_app_settings(
        &self,
        tenant: TenantId,
        app: AppId,
        settings: &AppSettings,
    ) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE apps SET config = $1, version = version + 1 WHERE id = $2 AND tenant_id = $3")
            .bind(to_json(settings))
            .bind(app.to_string())
            .bind(tenant.to_string())
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("app {app}")));
        }
        Ok(())
    }

    /// Replaces an app's credentials (a rotated token).
    pub async fn set_app_secret(&self, tenant: TenantId, app: AppId, secret: &Secret) -> Result<(), StoreError> {
        let (tenant_text, app_text) = (tenant.to_string(), app.to_string());
        let sealed = self.seal_app_secret(&tenant_text, &app_text, &app_text, secret)?;
        let done = sqlx::query("UPDATE apps SET secret = $1, version = version + 1 WHERE id = $2 AND tenant_id = $3")
            .bind(sealed)
            .bind(&app_text)
            .bind(&tenant_text)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("app {app}")));
        }
        Ok(())
    }

    /// Assigns an app to a target, or excludes the target from it. Assigning the same target
    /// again is not an error: it replaces the earlier assignment's kind and parameters. Returns
    /// the assignment and whether it is new.
    pub async fn assign(
        &self,
        tenant: TenantId,
        app: AppId,
        target: &AssignmentTarget,
        exclude: bool,
        params: &AssignmentParams,
    ) -> Result<(Assignment, bool), StoreError> {
        let (kind, raw) = target_parts(target);
        let existed = self.list_assignments(tenant, app).await?.iter().any(|a| &a.target == target);
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO assignments (id, tenant_id, app_id, target_kind, target, created_ms, exclude, params) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (tenant_id, app_id, target_kind, target) DO UPDATE SET exclude = excluded.exclude, params = excluded.params",
        )
        .bind(AssignmentId::new().to_string())
        .bind(tenant.to_string())
        .bind(app.to_string())
        .bind(kind)
        .bind(&raw)
        .bind(now_ms())
        .bind(i64::from(exclude))
        .bind(to_json(params))
        .execute(&mut *tx)
        .await?;
        // The app's policy changed: plan it again, atomically with the change.
        crate::queue::mark_dirty_in(&mut tx, tenant, &[DirtyMark::app(app)]).await?;
        tx.commit().await?;
        let written = self
            .list_assignments(tenant, app)
            .await?
            .into_iter()
            .find(|a| &a.target == target)
            .ok_or_else(|| StoreError::NotFound("assignment just written".into()))?;
        Ok((written, !existed))
    }

    /// Removes an assignment; returns whether there was one.
    pub async fn unassign(&self, tenant: TenantId, app: AppId, target: &AssignmentTarget) -> Result<bool, StoreError> {
        let (kind, raw) = target_parts(target);
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(
            "DELETE FROM assignments WHERE tenant_id = $1 AND app_id = $2 AND target_kind = $3 AND target = $4",
        )
        .bind(tenant.to_string())
        .bind(app.to_string())
        .bind(kind)
        .bind(&raw)
        .execute(&mut *tx)
        .await?;
        crate::queue::mark_dirty_in(&mut tx, tenant, &[DirtyMark::app(app)]).await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn list_assignments(&self, tenant: TenantId, app: AppId) -> Result<Vec<Assignment>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, target_kind, target, exclude, params FROM assignments WHERE tenant_id = $1 AND app_id = $2 \
             ORDER BY created_ms, id",
        )
        .bind(tenant.to_string())
        .bind(app.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Assignment {
                    id: parsed(r, "id")?,
                    app_id: app,
                    target: target_from_parts(&text(r, "target_kind")?, &text(r, "target")?)?,
                    exclude: int(r, "exclude")? != 0,
                    params: json(r, "params")?,
                })
            })
            .collect()
    }
}

pub(crate) fn auth_json(auth: &AppAuth) -> Option<String> {
    match auth {
        AppAuth::Bearer => None,
        other => Some(to_json(other)),
    }
}

impl Store {
    pub(crate) fn seal_app_secret(
        &self,
        tenant: &str,
        app: &str,
        what: &str,
        secret: &Secret,
    ) -> Result<String, StoreError> {
        self.keyring
            .seal(app_binding(tenant, app), secret)
            .map(crate::crypto::Sealed::into_stored)
            .map_err(|source| StoreError::Credential { what: format!("app {what}"), source })
    }

    /// How many stored credentials, across every tenant, are plain or sealed under each key id.
    /// Decrypts nothing, so it also works when a key is missing.
    pub async fn key_status(&self) -> Result<KeyStatus, StoreError> {
        let rows = sqlx::query("SELECT name, secret FROM apps").fetch_all(&self.pool).await?;
        let mut status = KeyStatus::default();
        for r in &rows {
            let form = StoredForm::of(&text(r, "secret")?).map_err(|source| StoreError::Credential {
                what: format!("app {}", text(r, "name").unwrap_or_default()),
                source,
            })?;
            *status.counts.entry(form).or_default() += 1;
        }
        self.oauth_key_status(&mut status).await?;
        Ok(status)
    }

    /// Re-seals every stored credential, across every tenant, under the current master key, in
    /// one transaction: all of them or none. Running it again changes nothing.
    pub async fn rotate_keys(&self) -> Result<KeyRotation, StoreError> {
        let mut tx = self.write_tx().await?;
        let done = self.rotate_keys_in(&mut tx, false).await?;
        tx.commit().await?;
        tracing::info!(rotated = done.rotated, unchanged = done.unchanged, key = ?self.keyring.current_id(), "credentials re-sealed");
        Ok(done)
    }

    /// [`Store::rotate_keys`] with its audit entry (`keys.rotate`, in `tenant`'s log, its
    /// detail made from what was done and the key id) in the same transaction.
    pub async fn rotate_keys_audited(
        &self,
        tenant: TenantId,
        actor: &str,
        detail: impl FnOnce(&KeyRotation, &str) -> serde_json::Value,
    ) -> Result<KeyRotation, StoreError> {
        let mut tx = self.write_tx().await?;
        let done = self.rotate_keys_in(&mut tx, false).await?;
        let key = self.keyring.current_id().unwrap_or_default().to_owned();
        let detail = detail(&done, &key);
        crate::audit::insert_audit(&mut tx, tenant, actor, "keys.rotate", &key, None, None, &detail).await?;
        tx.commit().await?;
        tracing::info!(rotated = done.rotated, unchanged = done.unchanged, key = ?self.keyring.current_id(), "credentials re-sealed");
        Ok(done)
    }

    /// Re-seals what is not under the current key; with `only_plain`, only what an earlier
    /// version stored in plain text (rows under another key are left for `tenure keys rotate`).
    async fn rotate_keys_in(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        only_plain: bool,
    ) -> Result<KeyRotation, StoreError> {
        if self.keyring.current_id().is_none() {
            return Err(StoreError::NoMasterKey);
        }
        let rows = sqlx::query("SELECT tenant_id, id, name, secret FROM apps ORDER BY tenant_id, id")
            .fetch_all(&mut **tx)
            .await?;
        let mut done = KeyRotation::default();
        for r in &rows {
            let (tenant, id, name, stored) =
                (text(r, "tenant_id")?, text(r, "id")?, text(r, "name")?, text(r, "secret")?);
            if self.keyring.keeps(&stored, only_plain) {
                done.unchanged += 1;
                continue;
            }
            let credential = |source| StoreError::Credential { what: format!("app {name} (tenant {tenant})"), source };
            let secret = self.keyring.open_for_rotation(app_binding(&tenant, &id), &stored).map_err(credential)?;
            let sealed = self.keyring.seal(app_binding(&tenant, &id), &secret).map_err(credential)?.into_stored();
            // Compare-and-set: a secret replaced meanwhile must not be overwritten with the old one.
            let updated = sqlx::query("UPDATE apps SET secret = $1 WHERE id = $2 AND tenant_id = $3 AND secret = $4")
                .bind(sealed)
                .bind(&id)
                .bind(&tenant)
                .bind(&stored)
                .execute(&mut **tx)
                .await?;
            if updated.rows_affected() != 1 {
                return Err(StoreError::Concurrent(format!("the credential of app {name}")));
            }
            done.rotated += 1;
        }
        self.rotate_oauth_in(tx, &mut done, only_plain).await?;
        self.rotate_sources_in(tx, &mut done, only_plain).await?;
        crate::lifecycle::rotate_channels_in(&self.keyring, tx, &mut done, only_plain).await?;
        Ok(done)
    }

    /// Re-seals the secrets inside source settings (an LDAP bind password) under the current key.
    async fn rotate_sources_in(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        done: &mut KeyRotation,
        only_plain: bool,
    ) -> Result<(), StoreError> {
        let rows = sqlx::query("SELECT tenant_id, id, name, config FROM sources ORDER BY tenant_id, id")
            .fetch_all(&mut **tx)
            .await?;
        for r in &rows {
            let (tenant, id, name, raw) = (text(r, "tenant_id")?, text(r, "id")?, text(r, "name")?, text(r, "config")?);
            let stored: serde_json::Value = serde_json::from_str(&raw)
                .map_err(|e| StoreError::corrupt(format!("settings of source {name}: {e}")))?;
            if only_plain && !crate::sealed_config::has_plaintext(&stored) {
                continue;
            }
            let Some(resealed) = crate::sealed_config::reseal(&self.keyring, &tenant, &id, &name, &stored)? else {
                continue;
            };
            let updated =
                sqlx::query("UPDATE sources SET config = $1 WHERE id = $2 AND tenant_id = $3 AND config = $4")
                    .bind(resealed.to_string())
                    .bind(&id)
                    .bind(&tenant)
                    .bind(&raw)
                    .execute(&mut **tx)
                    .await?;
            if updated.rows_affected() != 1 {
                return Err(StoreError::Concurrent(format!("the settings of source {name}")));
            }
            done.rotated += 1;
        }
        Ok(())
    }

    /// At start, with a key configured: credentials an earlier version stored in plain text are
    /// sealed, in one transaction with a `keys.seal_plaintext` entry in every tenant's log.
    pub(crate) async fn seal_plaintext_at_start(&self) -> Result<(), StoreError> {
        if self.keyring.current_id().is_none() {
            return Ok(());
        }
        let status = self.key_status().await?;
        let plain_credentials = status.counts.get(&StoredForm::Plain).copied().unwrap_or(0);
        let sources = sqlx::query("SELECT config FROM sources").fetch_all(&self.pool).await?;
        let mut plain_sources = 0usize;
        for r in &sources {
            let value: serde_json::Value = serde_json::from_str(&text(r, "config")?).unwrap_or_default();
            plain_sources += usize::from(crate::sealed_config::has_plaintext(&value));
        }
        if plain_credentials + plain_sources == 0 {
            return Ok(());
        }
        let mut tx = self.write_tx().await?;
        let done = self.rotate_keys_in(&mut tx, true).await?;
        let key = self.keyring.current_id().unwrap_or_default().to_owned();
        let tenants = sqlx::query("SELECT id FROM tenants").fetch_all(&mut *tx).await?;
        let detail = serde_json::json!({
            "key": key, "plaintext_credentials": plain_credentials, "plaintext_source_settings": plain_sources,
            "resealed": done.rotated,
        });
        for r in &tenants {
            let tenant: TenantId = parsed(r, "id")?;
            crate::audit::insert_audit(&mut tx, tenant, "tenure", "keys.seal_plaintext", &key, None, None, &detail)
                .await?;
        }
        tx.commit().await?;
        tracing::warn!(
            plaintext_credentials = plain_credentials,
            plaintext_source_settings = plain_sources,
            key = %key,
            "credentials stored in plain text by an earlier version are now sealed"
        );
        Ok(())
    }
}
