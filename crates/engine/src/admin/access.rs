//! Who may administer the tenant: admins (email, role, apps, optional password) and the API
//! tokens that act as them.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use serde::Deserialize;
use serde_json::json;
use tenure_core::{AppId, Role, Secret, TokenId};
use tenure_store::{AdminRecord, AuditRecord, TokenScope};
use utoipa::ToSchema;

use super::views::{AdminView, TokenCreated, TokenView};
use super::{Admin, Need};
use crate::EngineError;

/// A new admin.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAdmin {
    pub email: String,
    #[schema(value_type = String, example = "auditor")]
    pub role: Role,
    /// An app admin's apps, by name.
    #[serde(default)]
    pub apps: Vec<String>,
    /// Hashed with argon2id; never stored or logged as given.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub password: Option<Secret>,
}

/// A change to an admin: only what is given changes.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminChange {
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub role: Option<Role>,
    #[serde(default)]
    pub apps: Option<Vec<String>>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub password: Option<Secret>,
    /// Removes the admin's password (they then sign in with tokens only).
    #[serde(default)]
    pub clear_password: bool,
}

/// A new API token.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// `admin` (the default) or `scim`.
    #[serde(default)]
    pub scope: Option<String>,
    /// The admin the token acts as (its role); without one, an admin token acts as an org admin.
    #[serde(default)]
    pub admin: Option<String>,
    #[serde(default)]
    pub label: Option<String>,
    /// Seconds until the token stops working.
    #[serde(default)]
    pub expires_in_s: Option<u64>,
}

/// An argon2id PHC string for a password.
pub fn hash_password(password: &Secret) -> Result<String, EngineError> {
    Argon2::default()
        .hash_password(password.expose().as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| EngineError::Internal(format!("hashing a password: {e}")))
}

/// Whether `password` matches a stored argon2id hash.
pub fn verify_password(password: &Secret, hash: &str) -> bool {
    PasswordHash::new(hash)
        .is_ok_and(|parsed| Argon2::default().verify_password(password.expose().as_bytes(), &parsed).is_ok())
}

const MIN_PASSWORD: usize = 12;

fn check_password(password: &Secret) -> Result<(), EngineError> {
    let n = password.expose().chars().count();
    if n < MIN_PASSWORD {
        return Err(EngineError::field("password", format!("at least {MIN_PASSWORD} characters ({n} given)")));
    }
    if n > 1024 {
        return Err(EngineError::field("password", "at most 1024 characters"));
    }
    Ok(())
}

fn check_email(email: &str) -> Result<String, EngineError> {
    let email = email.trim().to_lowercase();
    let ok = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if !ok {
        return Err(EngineError::field("email", format!("{email:?} is not an email address")));
    }
    Ok(email)
}

fn entry<'a>(
    actor: &'a super::Actor,
    action: &'a str,
    subject: &'a str,
    detail: &'a serde_json::Value,
) -> AuditRecord<'a> {
    AuditRecord { actor: &actor.name, action, subject, person: None, app: None, detail }
}

impl Admin<'_> {
    /// App names to ids; an app admin must name at least one, the other roles none.
    async fn app_ids(&self, role: Role, names: &[String]) -> Result<Vec<AppId>, EngineError> {
        match (role, names.is_empty()) {
            (Role::AppAdmin, true) => {
                return Err(EngineError::field("apps", "an app admin administers at least one app"));
            }
            (Role::AppAdmin, false) => {}
            (_, false) => {
                return Err(EngineError::field("apps", format!("only app admins have apps (this is a {role})")));
            }
            (_, true) => return Ok(Vec::new()),
        }
        let apps = self.store().list_apps(self.tenant()).await?;
        let mut ids = Vec::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            let app = apps
                .iter()
                .find(|a| a.app.name == *name)
                .ok_or_else(|| EngineError::field(format!("apps[{i}]"), format!("no app named {name:?}")))?;
            if !ids.contains(&app.app.id) {
                ids.push(app.app.id);
            }
        }
        Ok(ids)
    }

    async fn admin_view(&self, admin: &AdminRecord) -> Result<AdminView, EngineError> {
        let apps = self.store().list_apps(self.tenant()).await?;
        Ok(AdminView {
            id: admin.id,
            email: admin.email.clone(),
            role: admin.role,
            apps: admin
                .apps
                .iter()
                .filter_map(|id| apps.iter().find(|a| a.app.id == *id))
                .map(|a| a.app.name.clone())
                .collect(),
            has_password: admin.has_password,
            created_ms: admin.created_ms,
            updated_ms: admin.updated_ms,
        })
    }

    pub async fn admins(&self) -> Result<Vec<AdminView>, EngineError> {
        self.actor.require(Need::TenantRead)?;
        let mut out = Vec::new();
        for admin in self.store().list_admins(self.tenant()).await? {
            out.push(self.admin_view(&admin).await?);
        }
        Ok(out)
    }

    pub async fn add_admin(&self, spec: NewAdmin) -> Result<AdminView, EngineError> {
        self.actor.require(Need::OrgAdmin)?;
        let email = check_email(&spec.email)?;
        let apps = self.app_ids(spec.role, &spec.apps).await?;
        let hash = match &spec.password {
            Some(p) => {
                check_password(p)?;
                Some(hash_password(p)?)
            }
            None => None,
        };
        let mut tx = self.store().begin().await?;
        let admin = tx.insert_admin(self.tenant(), &email, spec.role, &apps, hash.as_deref()).await?;
        let detail = json!({"email": email, "role": spec.role, "apps": spec.apps, "password": spec.password.is_some()});
        tx.audit(self.tenant(), entry(self.actor, "admin.add", &email, &detail)).await?;
        tx.commit().await?;
        self.admin_view(&admin).await
    }

    async fn existing_admin(&self, email: &str) -> Result<AdminRecord, EngineError> {
        self.store()
            .admin_by_email(self.tenant(), email)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("admin {}", email.trim())))
    }

    /// Changes an admin's role, apps or password; never demotes the last org admin.
    pub async fn change_admin(&self, email: &str, change: AdminChange) -> Result<AdminView, EngineError> {
        self.actor.require(Need::OrgAdmin)?;
        let admin = self.existing_admin(email).await?;
        let role = change.role.unwrap_or(admin.role);
        let apps = match (&change.apps, role) {
            (Some(names), _) => self.app_ids(role, names).await?,
            (None, Role::AppAdmin) if admin.role == Role::AppAdmin => admin.apps.clone(),
            (None, Role::AppAdmin) => {
                return Err(EngineError::field("apps", "an app admin administers at least one app"));
            }
            (None, _) => Vec::new(),
        };
        if change.password.is_some() && change.clear_password {
            return Err(EngineError::field("clear_password", "give a password or clear it, not both"));
        }
        let hash = match &change.password {
            Some(p) => {
                check_password(p)?;
                Some(Some(hash_password(p)?))
            }
            None if change.clear_password => Some(None),
            None => None,
        };
        let mut tx = self.store().begin().await?;
        if admin.role == Role::OrgAdmin && role != Role::OrgAdmin && tx.org_admin_count(self.tenant()).await? <= 1 {
            return Err(EngineError::Refused(format!("{} is the last org admin; make another one first", admin.email)));
        }
        let updated =
            tx.update_admin(self.tenant(), admin.id, role, &apps, hash.as_ref().map(|h| h.as_deref())).await?;
        let detail = json!({
            "email": admin.email, "role": {"before": admin.role, "after": role},
            "apps": change.apps, "password": if change.password.is_some() { "set" } else if change.clear_password { "cleared" } else { "unchanged" },
        });
        tx.audit(self.tenant(), entry(self.actor, "admin.change", &admin.email, &detail)).await?;
        tx.commit().await?;
        self.admin_view(&updated).await
    }

    /// Removes an admin and their tokens; never the last org admin.
    pub async fn remove_admin(&self, email: &str) -> Result<AdminView, EngineError> {
        self.actor.require(Need::OrgAdmin)?;
        let admin = self.existing_admin(email).await?;
        let view = self.admin_view(&admin).await?;
        let mut tx = self.store().begin().await?;
        if admin.role == Role::OrgAdmin && tx.org_admin_count(self.tenant()).await? <= 1 {
            return Err(EngineError::Refused(format!("{} is the last org admin and cannot be removed", admin.email)));
        }
        tx.delete_admin(self.tenant(), admin.id).await?;
        let detail = json!({"email": admin.email, "role": admin.role});
        tx.audit(self.tenant(), entry(self.actor, "admin.remove", &admin.email, &detail)).await?;
        tx.commit().await?;
        Ok(view)
    }

    pub async fn tokens(&self) -> Result<Vec<TokenView>, EngineError> {
        self.actor.require(Need::TenantRead)?;
        Ok(self.store().list_tokens(self.tenant()).await?.into_iter().map(TokenView::from).collect())
    }

    /// A new token, returned once (only its hash is stored).
    pub async fn create_token(&self, spec: NewToken) -> Result<TokenCreated, EngineError> {
        self.actor.require(Need::OrgAdmin)?;
        let scope = match spec.scope.as_deref() {
            None | Some("admin") => TokenScope::Admin,
            Some("scim") => TokenScope::Scim,
            Some(other) => return Err(EngineError::field("scope", format!("{other:?}: use admin or scim"))),
        };
        let admin = match &spec.admin {
            Some(_) if scope == TokenScope::Scim => {
                return Err(EngineError::field(
                    "admin",
                    "a SCIM token belongs to the IdP that pushes, not to an admin",
                ));
            }
            Some(email) => Some(
                self.store()
                    .admin_by_email(self.tenant(), email)
                    .await?
                    .ok_or_else(|| EngineError::field("admin", format!("no admin {}", email.trim())))?,
            ),
            None => None,
        };
        let label = spec.label.as_deref().map(str::trim).filter(|l| !l.is_empty());
        if label.is_some_and(|l| l.len() > 100 || l.chars().any(char::is_control)) {
            return Err(EngineError::field("label", "at most 100 characters, no control characters"));
        }
        let now = crate::audit_query::now_ms();
        let expires_ms = match spec.expires_in_s {
            Some(0) => return Err(EngineError::field("expires_in_s", "at least 1 second")),
            Some(s) => Some(
                i64::try_from(s)
                    .ok()
                    .and_then(|s| s.checked_mul(1000))
                    .and_then(|ms| now.checked_add(ms))
                    .ok_or_else(|| EngineError::field("expires_in_s", "too far in the future"))?,
            ),
            None => None,
        };
        let token = crate::tokens::generate();
        let mut tx = self.store().begin().await?;
        let id = tx
            .insert_token(
                self.tenant(),
                scope,
                &crate::tokens::hash(&token),
                label,
                admin.as_ref().map(|a| a.id),
                expires_ms,
            )
            .await?;
        let detail = json!({
            "token_id": id, "scope": scope.as_str(), "label": label,
            "admin": admin.as_ref().map(|a| &a.email), "expires_ms": expires_ms,
        });
        tx.audit(self.tenant(), entry(self.actor, "token.create", scope.as_str(), &detail)).await?;
        tx.commit().await?;
        Ok(TokenCreated {
            info: TokenView {
                id,
                scope: scope.as_str().to_owned(),
                label: label.map(str::to_owned),
                admin: admin.map(|a| a.email),
                created_ms: now,
                expires_ms,
                last_used_ms: None,
            },
            token,
        })
    }

    pub async fn revoke_token(&self, id: TokenId) -> Result<TokenView, EngineError> {
        self.actor.require(Need::OrgAdmin)?;
        let token = self
            .store()
            .list_tokens(self.tenant())
            .await?
            .into_iter()
            .find(|t| t.id == id)
            .ok_or_else(|| EngineError::NotFound(format!("token {id}")))?;
        let mut tx = self.store().begin().await?;
        tx.delete_token(self.tenant(), id).await?;
        let detail = json!({"token_id": id, "scope": token.scope.as_str(), "label": token.label, "admin": token.admin});
        tx.audit(self.tenant(), entry(self.actor, "token.revoke", &id.to_string(), &detail)).await?;
        tx.commit().await?;
        Ok(token.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let password = Secret::new("correct horse battery");
        let hash = hash_password(&password).unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password(&password, &hash));
        assert!(!verify_password(&Secret::new("wrong horse battery"), &hash));
        assert!(!verify_password(&password, "not a hash"));
        assert!(check_password(&Secret::new("short")).is_err());
    }

    #[test]
    fn emails_are_checked_and_lowercased() {
        assert_eq!(check_email(" Ada@Example.COM ").unwrap(), "ada@example.com");
        for bad in ["", "ada", "@x.com", "ada@x", "a b@x.com"] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }
}
