//! Adding an app of a kind other than SCIM from the console: Microsoft 365 (an Entra app
//! registration), Google Workspace (a service account with domain-wide delegation), Box and
//! Dropbox (OAuth: Box's client credentials or, as Dropbox always, the authorization-code flow,
//! which the form starts once the app is added), a GitHub organization, and a manual app worked
//! by its owner. Each form fills the engine's `NewApp` as `tenure app add KIND` does; the engine
//! checks every field, and a refused one is said under it. Secrets typed are never drawn back.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use tenure_engine::admin::{GithubSpec, GoogleSpec, Need, NewApp, NewAppKind, OauthSpec, SettingsSpec};

use super::apps::{self, AppQuery, Shown};
use super::auth::Signed;
use super::forms::{Refusal, refusal};
use super::view::{Failure, Nav, Notice, PageResult, render};

/// The kinds this form adds, as their paths spell them, with what people call them.
pub const KINDS: [(&str, &str); 6] = [
    ("m365", "Microsoft 365"),
    ("google", "Google Workspace"),
    ("box", "Box"),
    ("dropbox", "Dropbox"),
    ("github", "GitHub organization"),
    ("manual", "Manual app"),
];

fn kind_of(path: &str) -> Result<(NewAppKind, &'static str, &'static str), Failure> {
    let kind = match path {
        "m365" => NewAppKind::M365,
        "google" => NewAppKind::GoogleWorkspace,
        "box" => NewAppKind::Box,
        "dropbox" => NewAppKind::Dropbox,
        "github" => NewAppKind::GithubOrg,
        "manual" => NewAppKind::Manual,
        other => {
            return Err(Failure::new(
                StatusCode::NOT_FOUND,
                format!(
                    "{other:?}: not a kind the console adds (m365, google, box, dropbox, github, manual; SCIM at /apps/new)"
                ),
            ));
        }
    };
    let (key, label) = KINDS.iter().find(|(k, _)| *k == path).copied().unwrap_or(("", ""));
    Ok((kind, key, label))
}

/// The form's fields as typed. Secrets (`client_secret`, `service_account_key`, `token`) are
/// read but never drawn back into the page.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct KindForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub api_url: String,
    #[serde(default)]
    pub tenant_id: String,
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub client_secret: String,
    #[serde(default)]
    pub token_url: String,
    /// Box: `authorization_code` or `client_credentials`.
    #[serde(default)]
    pub flow: String,
    #[serde(default)]
    pub box_enterprise_id: String,
    #[serde(default)]
    pub scope: String,
    #[serde(default)]
    pub domain: String,
    #[serde(default)]
    pub admin_email: String,
    #[serde(default)]
    pub service_account_key: String,
    #[serde(default)]
    pub customer: String,
    #[serde(default)]
    pub org_unit: String,
    #[serde(default)]
    pub org: String,
    #[serde(default)]
    pub token: String,
    #[serde(default)]
    pub owner: String,
    #[serde(default)]
    pub dry_run: String,
}

impl KindForm {
    /// What may be drawn back: everything but the secrets.
    fn shown(mut self) -> Self {
        self.client_secret.clear();
        self.service_account_key.clear();
        self.token.clear();
        self
    }
}

#[derive(Template)]
#[template(path = "console/app_new_kind.html")]
struct KindPage {
    nav: Nav,
    notice: Option<Notice>,
    kind: &'static str,
    label: &'static str,
    form: KindForm,
    error: Refusal,
    kinds: [(&'static str, &'static str); 6],
}

impl KindPage {
    fn err(&self, field: &str) -> Option<&str> {
        self.error.on(field)
    }
}

fn kind_page(signed: &Signed, kind: &str, form: KindForm, error: Refusal) -> PageResult {
    signed.actor.require(Need::OrgAdmin)?;
    let (_, kind, label) = kind_of(kind)?;
    let notice = error.general(FIELDS).map(|m| Notice::error(m.to_owned())).unwrap_or_default();
    Ok(render(&KindPage { nav: signed.nav("apps"), notice, kind, label, form: form.shown(), error, kinds: KINDS }))
}

/// Every field the forms have: a refusal naming another is said at the top.
const FIELDS: &[&str] = &[
    "name",
    "api_url",
    "tenant_id",
    "client_id",
    "client_secret",
    "token_url",
    "flow",
    "box_enterprise_id",
    "scope",
    "domain",
    "admin_email",
    "service_account_key",
    "customer",
    "org_unit",
    "org",
    "token",
    "owner",
];

/// The form field an engine field is: `oauth.client_secret` → `client_secret`,
/// `settings.tenant_id` → `tenant_id`, `base_url` → `api_url`.
fn form_field(engine_field: &str) -> String {
    let last = engine_field.rsplit('.').next().unwrap_or(engine_field);
    match last {
        "base_url" => "api_url".into(),
        "authorize_url" => "flow".into(),
        other => other.to_owned(),
    }
}

pub async fn form(signed: Signed, Path(kind): Path<String>) -> PageResult {
    let mut form = KindForm::default();
    if kind == "box" {
        form.flow = "authorization_code".into();
    }
    kind_page(&signed, &kind, form, Refusal::default())
}

fn text(value: &str) -> Option<String> {
    Some(value.trim().to_owned()).filter(|v| !v.is_empty())
}

fn spec(kind: NewAppKind, form: &KindForm) -> NewApp {
    let mut settings = SettingsSpec { dry_run: (!form.dry_run.is_empty()).then_some(true), ..Default::default() };
    let oauth = |flow: Option<String>| OauthSpec {
        token_url: text(&form.token_url),
        client_id: form.client_id.trim().to_owned(),
        client_secret: form.client_secret.trim().to_owned(),
        scope: text(&form.scope),
        client_auth: None,
        flow,
        authorize_url: None,
        zoom_account_id: None,
        box_enterprise_id: text(&form.box_enterprise_id),
    };
    let mut spec = NewApp {
        name: form.name.trim().to_owned(),
        kind,
        base_url: text(&form.api_url),
        token: None,
        oauth: None,
        google: None,
        github: None,
        owner: None,
        settings: SettingsSpec::default(),
        disabled: false,
    };
    match kind {
        NewAppKind::M365 => {
            settings.tenant_id = Some(form.tenant_id.trim().to_owned());
            spec.oauth = Some(oauth(None));
        }
        NewAppKind::GoogleWorkspace => {
            spec.google = Some(GoogleSpec {
                domain: form.domain.trim().to_owned(),
                admin_email: form.admin_email.trim().to_owned(),
                service_account_key: form.service_account_key.trim().to_owned(),
                customer: text(&form.customer),
                token_url: text(&form.token_url),
                org_unit: text(&form.org_unit),
                change_password_at_next_login: false,
            });
        }
        NewAppKind::Box => {
            let flow =
                if form.flow.trim() == "client_credentials" { "client_credentials" } else { "authorization_code" };
            spec.oauth = Some(oauth(Some(flow.to_owned())));
        }
        NewAppKind::Dropbox => spec.oauth = Some(oauth(Some("authorization_code".to_owned()))),
        NewAppKind::GithubOrg => {
            spec.github = Some(GithubSpec { org: form.org.trim().to_owned(), reinvite_after_days: None });
            spec.token = Some(form.token.trim().to_owned());
        }
        NewAppKind::Manual => spec.owner = Some(form.owner.trim().to_owned()),
        NewAppKind::Scim => {}
    }
    spec.settings = settings;
    spec
}

/// Adds the app; an OAuth authorization-code app then starts its flow, so the admin consents
/// next (or is told how, when the server does not know its public URL).
pub async fn create(
    State(state): State<crate::ServerState>,
    signed: Signed,
    Path(kind): Path<String>,
    Form(form): Form<KindForm>,
) -> PageResult {
    let (new_kind, key, _) = kind_of(&kind)?;
    if key == "box" && form.flow.trim() == "client_credentials" && form.box_enterprise_id.trim().is_empty() {
        signed.actor.require(Need::OrgAdmin)?;
        let error = Refusal {
            field: "box_enterprise_id".into(),
            message: "Box's client credentials grant needs the enterprise id".into(),
        };
        return kind_page(&signed, key, form, error);
    }
    let app = match signed.admin().create_app(spec(new_kind, &form)).await {
        Ok(app) => app,
        Err(e) => {
            let mut r = refusal(e)?;
            r.field = form_field(&r.field);
            return kind_page(&signed, key, form, r);
        }
    };
    let consent = matches!(app.auth, tenure_store::AppAuth::OauthAuthorizationCode { .. });
    let mut shown = Shown::default();
    let added = format!("{} added ({}).", app.name, super::view::word(&app.kind));
    if !consent {
        shown.notice = Notice::ok(format!("{added} Verify the connection, then assign it to people."));
    } else if let Some(public) = state.public_url.as_deref() {
        let redirect_uri = format!("{}{}", public.trim_end_matches('/'), crate::oauth::CALLBACK_PATH);
        match signed.admin().authorize_app(&app.name, &redirect_uri).await {
            Ok(start) => {
                shown.notice = Notice::ok(format!(
                    "{added} Consent at the app's authorization server within {} minutes; it sends you back here.",
                    start.expires_in_s / 60
                ));
                shown.authorize_url = Some(start.authorize_url);
            }
            Err(e) => {
                shown.notice =
                    Notice::error(format!("{added} The authorization could not start: {}", refusal(e)?.message))
            }
        }
    } else {
        shown.notice = Notice::ok(format!(
            "{added} It needs an admin's consent: start the server with --public-url, then Authorize below."
        ));
    }
    apps::app_page_shown(&signed, &app.name, "provisioning", &AppQuery::default(), shown).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_fields_are_the_forms_fields_and_secrets_are_not_drawn_back() {
        assert_eq!(form_field("oauth.client_secret"), "client_secret");
        assert_eq!(form_field("settings.tenant_id"), "tenant_id");
        assert_eq!(form_field("google.service_account_key"), "service_account_key");
        assert_eq!(form_field("base_url"), "api_url");
        let typed =
            KindForm { client_secret: "s3cret".into(), token: "t".into(), name: "box".into(), ..Default::default() };
        let shown = typed.shown();
        assert!(shown.client_secret.is_empty() && shown.token.is_empty() && shown.name == "box");
        assert!(kind_of("zoom").is_err());
    }
}
