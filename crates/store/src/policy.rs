//! Apps and the assignments that grant them.

use tenure_core::*;

use crate::queue::DirtyMark;
use crate::row::*;
use crate::{Store, StoreError, now_ms};

/// An app with its credential. Kept apart from `App` so that the plain model, which is logged and
/// printed freely, never carries the secret.
#[derive(Debug, Clone)]
pub struct AppRecord {
    pub app: App,
    pub secret: Secret,
}

fn kind_text(kind: AppKind) -> &'static str {
    match kind {
        AppKind::Scim => "scim",
    }
}

fn target_parts(target: &AssignmentTarget) -> (&'static str, String) {
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
        let app = App {
            id: AppId::new(),
            name: name.to_owned(),
            kind,
            base_url: base_url.to_owned(),
            settings: settings.clone(),
        };
        sqlx::query(
            "INSERT INTO apps (id, tenant_id, name, kind, base_url, secret, config, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(app.id.to_string())
        .bind(tenant.to_string())
        .bind(name)
        .bind(kind_text(kind))
        .bind(base_url)
        .bind(secret.expose())
        .bind(to_json(settings))
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .map_err(crate::error::on_unique(format!("app {name}")))?;
        // A new app's accounts are to be read and matched.
        self.mark_dirty(tenant, &[DirtyMark::app(app.id)]).await?;
        Ok(app)
    }

    pub async fn list_apps(&self, tenant: TenantId) -> Result<Vec<AppRecord>, StoreError> {
        let rows =
            sqlx::query("SELECT id, name, kind, base_url, secret, config FROM apps WHERE tenant_id = $1 ORDER BY name")
                .bind(tenant.to_string())
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| {
                let kind = text(r, "kind")?;
                Ok(AppRecord {
                    app: App {
                        id: parsed(r, "id")?,
                        name: text(r, "name")?,
                        kind: match kind.as_str() {
                            "scim" => AppKind::Scim,
                            other => return Err(StoreError::corrupt(format!("app kind {other}"))),
                        },
                        base_url: text(r, "base_url")?,
                        settings: json(r, "config")?,
                    },
                    secret: Secret::new(text(r, "secret")?),
                })
            })
            .collect()
    }

    pub async fn app_by_name(&self, tenant: TenantId, name: &str) -> Result<AppRecord, StoreError> {
        self.list_apps(tenant)
            .await?
            .into_iter()
            .find(|a| a.app.name == name)
            .ok_or_else(|| StoreError::NotFound(format!("app {name}")))
    }

    /// Replaces an app's credentials (a rotated token).
    pub async fn set_app_secret(&self, tenant: TenantId, app: AppId, secret: &Secret) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE apps SET secret = $1 WHERE id = $2 AND tenant_id = $3")
            .bind(secret.expose())
            .bind(app.to_string())
            .bind(tenant.to_string())
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
        let mut tx = self.pool.begin().await?;
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
        let mut tx = self.pool.begin().await?;
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
