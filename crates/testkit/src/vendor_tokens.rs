//! The token endpoints of Box and Dropbox, as their fakes answer them, and the access tokens
//! those endpoints issue (short-lived, as each vendor's are).
//!
//! - Dropbox (<https://developers.dropbox.com/oauth-guide>,
//!   <https://dropbox.tech/developers/using-oauth-2-0-with-offline-access>,
//!   <https://www.dropbox.com/developers/documentation/http/documentation#oauth2-token>):
//!   `POST /oauth2/token`, form body, the app key and secret as HTTP Basic or as `client_id` /
//!   `client_secret`; `grant_type=refresh_token` with `refresh_token` answers
//!   `{"access_token", "token_type": "bearer", "expires_in": 14400}` without a new refresh token
//!   (Dropbox's refresh tokens do not rotate); a revoked one is 400 `{"error": "invalid_grant",
//!   "error_description": "refresh token is invalid or revoked"}`; a bad app key or secret is
//!   400 `invalid_client`. An API call with an expired token is 401 `{"error_summary":
//!   "expired_access_token/..", "error": {".tag": "expired_access_token"}}`, an unknown one 401
//!   `invalid_access_token`. `GET /oauth2/authorize` (`client_id`, `redirect_uri`, `state`,
//!   PKCE `code_challenge` with `code_challenge_method=S256`, `token_access_type`): the admin
//!   consents at once and is sent back with `code` and `state`; `grant_type=authorization_code`
//!   (`code`, `redirect_uri`, `code_verifier`) answers a refresh token only when the
//!   authorization asked for `token_access_type=offline`.
//! - Box (<https://developer.box.com/guides/authentication/client-credentials/>,
//!   <https://developer.box.com/reference/post-oauth2-token/>,
//!   <https://developer.box.com/guides/authentication/tokens/refresh/>,
//!   <https://developer.box.com/guides/api-calls/permissions-and-errors/common-errors/>):
//!   `POST /oauth2/token`, form body with `client_id` and `client_secret`;
//!   `grant_type=client_credentials` with `box_subject_type=enterprise` and `box_subject_id`
//!   the enterprise answers `{"access_token", "expires_in": 3600, "restricted_to": [],
//!   "token_type": "bearer"}` (60 minutes, no refresh token); a wrong subject is 400
//!   `invalid_grant` "Grant credentials are invalid", an app the admin has not authorized (or
//!   de-authorized) 400 `unauthorized_client`, a bad client 400 `invalid_client`.
//!   `grant_type=refresh_token` rotates: the answer carries a new refresh token and the old one
//!   is spent (400 `invalid_grant` "Invalid refresh token" if it comes back). An API call with
//!   an expired or unknown token is 401 without a body and `WWW-Authenticate: Bearer
//!   realm="Service", error="invalid_token", error_description="The access token provided is
//!   invalid."`. Box's authorization-code grant (`GET /oauth2/authorize`, then
//!   `grant_type=authorization_code`) always answers a refresh token
//!   (<https://developer.box.com/guides/authentication/oauth2/without-sdk/>).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::json;

pub const CLIENT_ID: &str = "vendor-app-client-id";
pub const CLIENT_SECRET: &str = "vendor-app-client-secret";

/// Which vendor's token endpoint and refusals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    Dropbox,
    Box,
}

/// What a presented access token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenCheck {
    Valid,
    Expired,
    Unknown,
}

struct RefreshEntry {
    /// Spent by a rotation (Box) or revoked (the admin unlinked the app).
    dead: bool,
}

struct Inner {
    lifetime: Duration,
    access: HashMap<String, Instant>,
    refresh: HashMap<String, RefreshEntry>,
    next: u64,
    issued: u64,
    refreshes: u64,
    /// Box: the enterprise the CCG may act for, and whether its admin authorized the app.
    enterprise: Option<String>,
    authorized: bool,
    /// Authorization codes not yet exchanged, each used once.
    codes: HashMap<String, PendingCode>,
}

struct PendingCode {
    redirect_uri: String,
    challenge: Option<String>,
    offline: bool,
}

/// The tokens one fake's authorization server has issued.
#[derive(Clone)]
pub struct Issuer {
    vendor: Vendor,
    inner: Arc<Mutex<Inner>>,
}

impl Issuer {
    pub fn new(vendor: Vendor) -> Self {
        let lifetime = match vendor {
            Vendor::Dropbox => Duration::from_secs(4 * 3600),
            Vendor::Box => Duration::from_secs(3600),
        };
        Self {
            vendor,
            inner: Arc::new(Mutex::new(Inner {
                lifetime,
                access: HashMap::new(),
                refresh: HashMap::new(),
                next: 0,
                issued: 0,
                refreshes: 0,
                enterprise: None,
                authorized: true,
                codes: HashMap::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn access_token(inner: &mut Inner, vendor: Vendor) -> String {
        inner.next += 1;
        inner.issued += 1;
        let token = match vendor {
            Vendor::Dropbox => format!("sl.fake-access-{}", inner.next),
            Vendor::Box => format!("box-fake-access-{}", inner.next),
        };
        let until = Instant::now() + inner.lifetime;
        inner.access.insert(token.clone(), until);
        token
    }

    fn refresh_token(inner: &mut Inner) -> String {
        inner.next += 1;
        let token = format!("fake-refresh-{}", inner.next);
        inner.refresh.insert(token.clone(), RefreshEntry { dead: false });
        token
    }

    /// What the admin's consent would have granted: an access token and a refresh token.
    pub fn consent(&self) -> (String, String) {
        let mut inner = self.lock();
        let access = Self::access_token(&mut inner, self.vendor);
        let refresh = Self::refresh_token(&mut inner);
        (access, refresh)
    }

    /// Box: the enterprise whose service account the client credentials grant stands for.
    pub fn set_enterprise(&self, id: &str) {
        self.lock().enterprise = Some(id.to_owned());
    }

    /// Box: the admin de-authorizes (false) or authorizes the app in the Admin Console.
    pub fn set_authorized(&self, authorized: bool) {
        self.lock().authorized = authorized;
    }

    /// Every access token issued so far expires now (as four hours, or one, would do).
    pub fn expire_access_tokens(&self) {
        let now = Instant::now();
        for until in self.lock().access.values_mut() {
            *until = now;
        }
    }

    /// The admin unlinks the app: every refresh token is refused from now on.
    pub fn revoke_refresh_tokens(&self) {
        for entry in self.lock().refresh.values_mut() {
            entry.dead = true;
        }
    }

    /// Access tokens issued (by consent, refresh or client credentials).
    pub fn issued(&self) -> u64 {
        self.lock().issued
    }

    /// Refresh-token grants answered with a token.
    pub fn refreshes(&self) -> u64 {
        self.lock().refreshes
    }

    pub fn check(&self, token: &str) -> TokenCheck {
        match self.lock().access.get(token) {
            Some(until) if Instant::now() < *until => TokenCheck::Valid,
            Some(_) => TokenCheck::Expired,
            None => TokenCheck::Unknown,
        }
    }

    /// The API's answer to a refused token, as the vendor documents it.
    pub fn refusal(&self, check: TokenCheck) -> Response {
        match self.vendor {
            Vendor::Dropbox => {
                let tag = if check == TokenCheck::Expired { "expired_access_token" } else { "invalid_access_token" };
                let body = json!({"error_summary": format!("{tag}/.."), "error": {".tag": tag}});
                (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response()
            }
            Vendor::Box => {
                let mut response = StatusCode::UNAUTHORIZED.into_response();
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(
                        "Bearer realm=\"Service\", error=\"invalid_token\", error_description=\"The access token provided is invalid.\"",
                    ),
                );
                response
            }
        }
    }

    /// `GET /oauth2/authorize`: the admin consents at once; a 302 back to `redirect_uri` with
    /// `code` and `state`. An unknown client or a missing redirect URI is a 400 page, never a
    /// redirect.
    pub fn authorize(&self, query: &HashMap<String, String>) -> Response {
        let (Some(client), Some(redirect)) = (query.get("client_id"), query.get("redirect_uri")) else {
            return (StatusCode::BAD_REQUEST, "missing client_id or redirect_uri").into_response();
        };
        if client != CLIENT_ID || query.get("response_type").map(String::as_str) != Some("code") {
            return (StatusCode::BAD_REQUEST, "invalid client_id or response_type").into_response();
        }
        let challenge = query.get("code_challenge").cloned();
        if challenge.is_some() && query.get("code_challenge_method").map(String::as_str) != Some("S256") {
            return (StatusCode::BAD_REQUEST, "code_challenge_method must be S256").into_response();
        }
        let offline = match self.vendor {
            Vendor::Dropbox => query.get("token_access_type").map(String::as_str) == Some("offline"),
            Vendor::Box => true,
        };
        let mut inner = self.lock();
        inner.next += 1;
        let code = format!("fake-code-{}", inner.next);
        inner.codes.insert(code.clone(), PendingCode { redirect_uri: redirect.clone(), challenge, offline });
        let mut back = match url::Url::parse(redirect) {
            Ok(url) => url,
            Err(_) => return (StatusCode::BAD_REQUEST, "redirect_uri is not a URL").into_response(),
        };
        back.query_pairs_mut().append_pair("code", &code);
        if let Some(state) = query.get("state") {
            back.query_pairs_mut().append_pair("state", state);
        }
        let mut response = StatusCode::FOUND.into_response();
        if let Ok(location) = HeaderValue::from_str(back.as_str()) {
            response.headers_mut().insert(header::LOCATION, location);
        }
        response
    }

    /// `POST /oauth2/token`.
    pub fn token_endpoint(&self, headers: &HeaderMap, body: &str) -> Response {
        let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
        let basic = crate::oauth_fake::basic_credentials(headers).flatten();
        let client = match (self.vendor, basic) {
            // Dropbox takes the app key and secret either way; Box only in the body.
            (Vendor::Dropbox, Some(pair)) => Some(pair),
            _ => form.get("client_id").cloned().zip(form.get("client_secret").cloned()),
        };
        if client.as_ref().is_none_or(|(id, secret)| id != CLIENT_ID || secret != CLIENT_SECRET) {
            let description = match self.vendor {
                Vendor::Dropbox => "Invalid client_id or client_secret",
                Vendor::Box => "The client credentials are invalid",
            };
            return oauth_error("invalid_client", description);
        }
        let mut inner = self.lock();
        match (self.vendor, form.get("grant_type").map(String::as_str)) {
            (_, Some("refresh_token")) => {
                let presented = form.get("refresh_token").cloned().unwrap_or_default();
                let alive = inner.refresh.get(&presented).is_some_and(|e| !e.dead);
                if !alive {
                    return match self.vendor {
                        Vendor::Dropbox => oauth_error("invalid_grant", "refresh token is invalid or revoked"),
                        Vendor::Box => oauth_error("invalid_grant", "Invalid refresh token"),
                    };
                }
                inner.refreshes += 1;
                let access = Self::access_token(&mut inner, self.vendor);
                let expires_in = inner.lifetime.as_secs();
                match self.vendor {
                    Vendor::Dropbox => {
                        no_store(json!({"access_token": access, "token_type": "bearer", "expires_in": expires_in}))
                    }
                    Vendor::Box => {
                        // Box's refresh tokens are single use: the answer carries the next one.
                        if let Some(entry) = inner.refresh.get_mut(&presented) {
                            entry.dead = true;
                        }
                        let next = Self::refresh_token(&mut inner);
                        no_store(json!({"access_token": access, "token_type": "bearer", "expires_in": expires_in,
                            "restricted_to": [], "refresh_token": next}))
                    }
                }
            }
            (_, Some("authorization_code")) => {
                let code = form.get("code").cloned().unwrap_or_default();
                let Some(pending) = inner.codes.remove(&code) else {
                    return oauth_error("invalid_grant", "code doesn't exist or has expired");
                };
                if form.get("redirect_uri") != Some(&pending.redirect_uri) {
                    return oauth_error("invalid_grant", "redirect_uri mismatch");
                }
                if let Some(challenge) = &pending.challenge {
                    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
                    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
                    if &base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref()) != challenge {
                        return oauth_error("invalid_grant", "invalid code verifier");
                    }
                }
                let access = Self::access_token(&mut inner, self.vendor);
                let expires_in = inner.lifetime.as_secs();
                let mut body = json!({"access_token": access, "token_type": "bearer", "expires_in": expires_in});
                if pending.offline {
                    body["refresh_token"] = json!(Self::refresh_token(&mut inner));
                }
                if self.vendor == Vendor::Box {
                    body["restricted_to"] = json!([]);
                }
                no_store(body)
            }
            (Vendor::Box, Some("client_credentials")) => {
                if !inner.authorized {
                    return oauth_error("unauthorized_client", "This app is not authorized by the enterprise admin.");
                }
                let subject = form.get("box_subject_type").map(String::as_str);
                let id = form.get("box_subject_id");
                if subject != Some("enterprise") || id.is_none() || id != inner.enterprise.as_ref() {
                    return oauth_error("invalid_grant", "Grant credentials are invalid");
                }
                let access = Self::access_token(&mut inner, self.vendor);
                let expires_in = inner.lifetime.as_secs();
                no_store(
                    json!({"access_token": access, "expires_in": expires_in, "restricted_to": [], "token_type": "bearer"}),
                )
            }
            (_, other) => oauth_error(
                "unsupported_grant_type",
                &format!("grant_type {:?} is not supported here", other.unwrap_or_default()),
            ),
        }
    }
}

fn oauth_error(error: &str, description: &str) -> Response {
    (StatusCode::BAD_REQUEST, axum::Json(json!({"error": error, "error_description": description}))).into_response()
}

fn no_store(body: serde_json::Value) -> Response {
    let mut response = axum::Json(body).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
