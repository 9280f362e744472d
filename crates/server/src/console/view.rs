//! What every page shares: the navigation (who is signed in, what they may open, the form
//! token), rendering a template, failures as pages, and how times and counts are written.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use tenure_engine::admin::Need;
use tenure_engine::{Actor, EngineError};

use crate::api::ApiError;

/// The navigation bar and the form token of the signed-in admin.
#[derive(Debug, Clone)]
pub struct Nav {
    pub email: String,
    pub role: String,
    pub csrf: String,
    pub current: &'static str,
    /// The directory, sources, queue (org admins and auditors).
    pub tenant_read: bool,
    pub audit: bool,
    /// Changes outside one app: sources, admins, tokens.
    pub org_admin: bool,
    /// Reports across apps: licenses.
    pub reports: bool,
}

impl Nav {
    pub fn new(actor: &Actor, csrf: &str, current: &'static str) -> Self {
        Self {
            email: actor.name.clone(),
            role: actor.role.to_string(),
            csrf: csrf.to_owned(),
            current,
            tenant_read: actor.allows(Need::TenantRead),
            audit: actor.allows(Need::Audit),
            org_admin: actor.allows(Need::OrgAdmin),
            reports: actor.allows(Need::Reports),
        }
    }

    /// `class="current"` for the section shown.
    pub fn here(&self, section: &str) -> &'static str {
        if self.current == section { "current" } else { "" }
    }
}

pub fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "console: a template failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "the page could not be rendered").into_response()
        }
    }
}

pub type PageResult = Result<Response, Failure>;

/// A failure shown as a page, with the status the API would answer for the same refusal.
#[derive(Debug)]
pub struct Failure {
    pub status: StatusCode,
    pub message: String,
}

impl Failure {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }
}

impl From<EngineError> for Failure {
    fn from(e: EngineError) -> Self {
        let api = ApiError::from(e);
        Self { status: api.status, message: api.body.error }
    }
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage<'a> {
    status: u16,
    reason: &'a str,
    message: &'a str,
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let page = ErrorPage {
            status: self.status.as_u16(),
            reason: self.status.canonical_reason().unwrap_or("Error"),
            message: &self.message,
        };
        let mut response = render(&page);
        *response.status_mut() = self.status;
        response
    }
}

/// `2026-12-06 06:30 UTC`, or `never`.
pub fn when(ms: Option<i64>) -> String {
    let Some(ms) = ms else { return "never".into() };
    let Ok(at) = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) else {
        return ms.to_string();
    };
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    at.format(&format).unwrap_or_else(|_| ms.to_string())
}

/// A value as its JSON spelling (`google_workspace`), for enums serialised as words.
pub fn word<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// A path segment with the characters that would end or change it escaped.
pub fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A note shown once at the top of a page after a form's work (or its refusal).
#[derive(Debug, Clone, Default)]
pub struct Notice {
    pub ok: bool,
    pub text: String,
}

impl Notice {
    pub fn ok(text: impl Into<String>) -> Option<Self> {
        Some(Self { ok: true, text: text.into() })
    }

    pub fn error(text: impl Into<String>) -> Option<Self> {
        Some(Self { ok: false, text: text.into() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_segments_are_written_for_people() {
        assert_eq!(when(Some(0)), "1970-01-01 00:00 UTC");
        assert_eq!(when(None), "never");
        assert_eq!(segment("a b/c@x.com"), "a%20b%2Fc@x.com");
    }
}
