//! Admins and tokens: who administers the tenant and with which role, the API tokens and whom
//! they act as. Org admins add and remove admins, create tokens (shown once) and revoke them.

use askama::Template;
use axum::Form;
use axum::extract::Path;
use axum::http::StatusCode;
use serde::Deserialize;
use tenure_core::{Role, Secret};
use tenure_engine::admin::views::{AdminView, TokenView};
use tenure_engine::admin::{AdminChange, NewAdmin, NewToken};

use super::auth::Signed;
use super::view::{Failure, Nav, Notice, PageResult, render, segment, when};

pub struct AdminLine {
    pub email: String,
    pub role: String,
    pub apps: String,
    pub password: bool,
    pub remove_href: String,
    pub role_href: String,
    pub password_href: String,
    /// Every role, the admin's own marked.
    pub roles: Vec<(&'static str, bool)>,
}

pub struct TokenLine {
    pub id: String,
    pub scope: String,
    pub label: String,
    pub admin: String,
    pub created: String,
    pub expires: String,
    pub last_used: String,
}

#[derive(Template)]
#[template(path = "console/admins.html")]
struct AdminsPage {
    nav: Nav,
    notice: Option<Notice>,
    admins: Vec<AdminLine>,
    tokens: Vec<TokenLine>,
    /// A token just created: shown this once.
    created_token: Option<String>,
}

fn admin_line(a: AdminView) -> AdminLine {
    AdminLine {
        remove_href: format!("/admins/{}/remove", segment(&a.email)),
        role_href: format!("/admins/{}/role", segment(&a.email)),
        password_href: format!("/admins/{}/password", segment(&a.email)),
        roles: Role::ALL.iter().map(|r| (r.as_str(), *r == a.role)).collect(),
        email: a.email,
        role: a.role.to_string(),
        apps: a.apps.join(", "),
        password: a.has_password,
    }
}

fn token_line(t: TokenView) -> TokenLine {
    TokenLine {
        id: t.id.to_string(),
        scope: t.scope,
        label: t.label.unwrap_or_default(),
        admin: t.admin.unwrap_or_default(),
        created: when(Some(t.created_ms)),
        expires: t.expires_ms.map_or_else(|| "never".into(), |ms| when(Some(ms))),
        last_used: when(t.last_used_ms),
    }
}

pub async fn page(signed: Signed) -> PageResult {
    admins_page(&signed, None, None).await
}

async fn admins_page(signed: &Signed, notice: Option<Notice>, created_token: Option<String>) -> PageResult {
    let admin = signed.admin();
    let admins = admin.admins().await?.into_iter().map(admin_line).collect();
    let tokens = admin.tokens().await?.into_iter().map(token_line).collect();
    Ok(render(&AdminsPage { nav: signed.nav("admins"), notice, admins, tokens, created_token }))
}

/// A refusal of the role is the page's 403; any other problem is said on the page.
async fn after(signed: &Signed, outcome: Result<String, tenure_engine::EngineError>) -> PageResult {
    match outcome {
        Ok(done) => admins_page(signed, Notice::ok(done), None).await,
        Err(e @ tenure_engine::EngineError::Forbidden(_)) => Err(e.into()),
        Err(e) => admins_page(signed, Notice::error(e.to_string()), None).await,
    }
}

#[derive(Debug, Deserialize)]
pub struct AddAdmin {
    email: String,
    role: String,
    #[serde(default)]
    apps: String,
    #[serde(default)]
    password: String,
}

pub async fn add(signed: Signed, Form(form): Form<AddAdmin>) -> PageResult {
    let role: Role = form
        .role
        .parse()
        .map_err(|_| Failure::new(StatusCode::BAD_REQUEST, format!("role {:?}: not a role", form.role)))?;
    let spec = NewAdmin {
        email: form.email.clone(),
        role,
        apps: form.apps.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect(),
        password: Some(form.password).filter(|p| !p.is_empty()).map(Secret::new),
    };
    let outcome = signed.admin().add_admin(spec).await.map(|a| format!("{} added as {}.", a.email, a.role));
    after(&signed, outcome).await
}

#[derive(Debug, Deserialize)]
pub struct ChangeRole {
    role: String,
    #[serde(default)]
    apps: String,
}

pub async fn change_role(signed: Signed, Path(email): Path<String>, Form(form): Form<ChangeRole>) -> PageResult {
    let role: Role = form
        .role
        .parse()
        .map_err(|_| Failure::new(StatusCode::BAD_REQUEST, format!("role {:?}: not a role", form.role)))?;
    let apps: Vec<String> = form.apps.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect();
    let change = AdminChange { role: Some(role), apps: (!apps.is_empty()).then_some(apps), ..Default::default() };
    let outcome = signed.admin().change_admin(&email, change).await.map(|a| format!("{} is now {}.", a.email, a.role));
    after(&signed, outcome).await
}

#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    password: String,
    /// `set` or `clear`.
    what: String,
}

/// Sets an admin's console password (12+ characters, argon2id) or clears it (tokens only then);
/// either ends their console sessions.
pub async fn password(signed: Signed, Path(email): Path<String>, Form(form): Form<PasswordForm>) -> PageResult {
    let change = match form.what.as_str() {
        "set" => AdminChange { password: Some(Secret::new(form.password)), ..Default::default() },
        "clear" => AdminChange { clear_password: true, ..Default::default() },
        other => return Err(Failure::new(StatusCode::BAD_REQUEST, format!("{other:?}: set or clear"))),
    };
    let cleared = change.clear_password;
    let outcome = signed.admin().change_admin(&email, change).await.map(|a| {
        if cleared {
            format!("{}'s password cleared: they sign in with tokens only.", a.email)
        } else {
            format!("{}'s password set.", a.email)
        }
    });
    after(&signed, outcome).await
}

pub async fn remove(signed: Signed, Path(email): Path<String>) -> PageResult {
    let outcome = signed.admin().remove_admin(&email).await.map(|a| format!("{} removed.", a.email));
    after(&signed, outcome).await
}

#[derive(Debug, Deserialize)]
pub struct CreateToken {
    #[serde(default)]
    label: String,
    #[serde(default)]
    admin: String,
    #[serde(default)]
    scope: String,
}

pub async fn create_token(signed: Signed, Form(form): Form<CreateToken>) -> PageResult {
    let spec = NewToken {
        scope: Some(form.scope).filter(|s| !s.is_empty()),
        admin: Some(form.admin.trim().to_owned()).filter(|s| !s.is_empty()),
        label: Some(form.label).filter(|s| !s.trim().is_empty()),
        expires_in_s: None,
    };
    match signed.admin().create_token(spec).await {
        Ok(created) => {
            admins_page(&signed, Notice::ok("Token created: copy it now, it is not shown again."), Some(created.token))
                .await
        }
        Err(e) => after(&signed, Err(e)).await,
    }
}

pub async fn revoke_token(signed: Signed, Path(id): Path<String>) -> PageResult {
    let id = id.parse().map_err(|_| Failure::new(StatusCode::NOT_FOUND, format!("token {id} not found")))?;
    let outcome = signed.admin().revoke_token(id).await.map(|t| format!("Token {} revoked.", t.id));
    after(&signed, outcome).await
}
