//! What the IdP replay tests share: a `tenure serve` SCIM endpoint on port 0 over a fresh
//! database, and a replayer that sends one documented request form at a time (raw path and
//! query, as the IdP writes them), checks that it was accepted or answered with its RFC 7644
//! error, and counts the forms it replayed.

#![allow(dead_code)] // each replay file uses the part it needs

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tenure_store::{Store, TokenScope};
use tenure_testkit::{TestBackend, TestDb};

pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

pub struct Replayer {
    /// `http://127.0.0.1:PORT/scim/v2`
    pub base: String,
    token: String,
    http: reqwest::Client,
    pub store: Store,
    pub tenant: tenure_core::TenantId,
    /// Headers every request carries (the IdP's User-Agent).
    headers: Vec<(&'static str, String)>,
    /// The forms replayed, by their label.
    pub forms: Vec<String>,
    _stop: tokio::sync::oneshot::Sender<()>,
    _db: TestDb,
}

pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

/// What a form must be answered with.
pub enum Expect {
    /// This success status.
    Ok(u16),
    /// This RFC 7644 §3.12 error: status and `scimType` (when the RFC names one).
    Error(u16, Option<&'static str>),
}

impl Replayer {
    pub async fn start(backend: TestBackend, headers: Vec<(&'static str, String)>) -> anyhow::Result<Self> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let db = TestDb::new(backend).await?;
        let store = Store::connect_with_keys(
            db.url(),
            tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?,
        )
        .await?;
        let tenant = store.ensure_tenant("idp").await?;
        let token = tenure_server::tokens::generate();
        store.insert_token(tenant, TokenScope::Scim, &tenure_server::tokens::hash(&token), None).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}/scim/v2", listener.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(tenure_server::serve(listener, tenure_server::ServerState::new(store.clone()), async move {
            let _ = stopped.await;
        }));
        Ok(Self {
            base,
            token,
            http: reqwest::Client::new(),
            store,
            tenant,
            headers,
            forms: Vec::new(),
            _stop: stop,
            _db: db,
        })
    }

    /// Sends one documented form: `target` is the path and query after the base URL exactly as
    /// the IdP writes it (spaces and quotes included; only what a URL cannot hold is encoded).
    pub async fn form(
        &mut self,
        label: &str,
        method: Method,
        target: &str,
        body: Option<Value>,
        expect: Expect,
    ) -> anyhow::Result<Reply> {
        let url = format!("{}{}", self.base, encode_target(target));
        let mut request = self.http.request(method.clone(), &url).bearer_auth(&self.token);
        for (k, v) in &self.headers {
            request = request.header(*k, v.as_str());
        }
        if let Some(body) = &body {
            request = request.header("content-type", "application/scim+json").body(serde_json::to_vec(body)?);
        }
        let response = request.send().await?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await?;
        let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes)? };
        match expect {
            Expect::Ok(want) => {
                assert_eq!(status.as_u16(), want, "{label}: {method} {target} answered {status}: {body}");
            }
            Expect::Error(want, scim_type) => {
                assert_eq!(status.as_u16(), want, "{label}: {method} {target} answered {status}: {body}");
                assert_eq!(body["schemas"][0], ERROR, "{label}: not a SCIM error: {body}");
                assert_eq!(body["status"], want.to_string(), "{label}: {body}");
                if let Some(t) = scim_type {
                    assert_eq!(body["scimType"], t, "{label}: {body}");
                }
            }
        }
        self.forms.push(label.to_owned());
        Ok(Reply { status, body, headers })
    }

    /// A PatchOp request body.
    pub fn ops(operations: Value) -> Option<Value> {
        Some(serde_json::json!({"schemas": [PATCH_OP], "Operations": operations}))
    }
}

/// Encodes what a URL cannot carry (spaces, quotes) and keeps what the IdP sent otherwise (`%xx`
/// escapes, `+`, `&`, `=`).
fn encode_target(target: &str) -> String {
    let mut out = String::with_capacity(target.len());
    for c in target.chars() {
        match c {
            ' ' => out.push_str("%20"),
            '"' => out.push_str("%22"),
            '[' => out.push_str("%5B"),
            ']' => out.push_str("%5D"),
            c => out.push(c),
        }
    }
    out
}

pub fn id_of(reply: &Reply) -> String {
    reply.body["id"].as_str().unwrap_or_default().to_owned()
}
