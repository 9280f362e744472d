//! Retry behaviour against a scripted app: throttling, outages and the Retry-After header.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tenure_connectors::{ClientOptions, ConnectorError, ScimClient};
use tenure_core::Secret;

#[derive(Clone)]
struct Script {
    calls: Arc<AtomicUsize>,
    /// Responses for the first calls, then 200.
    failures: Vec<(StatusCode, Option<&'static str>)>,
}

async fn user(State(script): State<Script>, headers: HeaderMap) -> Response {
    let call = script.calls.fetch_add(1, Ordering::SeqCst);
    assert_eq!(headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()), Some("Bearer sekrit"));
    assert_eq!(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()), Some("application/scim+json"));
    if let Some((status, retry_after)) = script.failures.get(call).copied() {
        let body = format!(
            r#"{{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"{}","detail":"slow down"}}"#,
            status.as_u16()
        );
        let mut response = (status, [(header::CONTENT_TYPE, "application/scim+json")], body).into_response();
        if let Some(value) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, value.parse().expect("header value"));
        }
        return response;
    }
    let body = r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"u1","userName":"ann"}"#;
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/scim+json")], body).into_response()
}

async fn serve(failures: Vec<(StatusCode, Option<&'static str>)>) -> anyhow::Result<(String, Arc<AtomicUsize>)> {
    let calls = Arc::new(AtomicUsize::new(0));
    let app =
        Router::new().route("/v2/Users/{id}", get(user)).with_state(Script { calls: Arc::clone(&calls), failures });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}/v2", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((base, calls))
}

fn fast(max_retries: u32) -> ClientOptions {
    ClientOptions {
        max_retries,
        initial_backoff: Duration::from_millis(5),
        // `Retry-After: 1` would cost a second per retry; the cap keeps the test quick.
        max_retry_wait: Duration::from_millis(50),
        ..ClientOptions::default()
    }
}

#[tokio::test]
async fn throttled_requests_are_retried_until_they_succeed() -> anyhow::Result<()> {
    let (base, calls) =
        serve(vec![(StatusCode::TOO_MANY_REQUESTS, Some("0")), (StatusCode::TOO_MANY_REQUESTS, Some("1"))]).await?;
    let client = ScimClient::new(&base, Secret::new("sekrit"), fast(5))?;
    let started = std::time::Instant::now();
    let account = client.get_user("u1").await?.expect("found after retries");
    assert_eq!(account.user_name(), "ann");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert!(started.elapsed() < Duration::from_secs(1), "Retry-After is capped: {:?}", started.elapsed());
    Ok(())
}

#[tokio::test]
async fn retries_stop_after_max_retries() -> anyhow::Result<()> {
    let (base, calls) = serve(vec![(StatusCode::SERVICE_UNAVAILABLE, None); 10]).await?;
    let client = ScimClient::new(&base, Secret::new("sekrit"), fast(2))?;
    let err = client.get_user("u1").await.unwrap_err();
    assert!(matches!(err, ConnectorError::Status { status: 503, .. }), "{err}");
    assert!(err.is_retryable(), "still retryable later, by the caller");
    assert_eq!(calls.load(Ordering::SeqCst), 3, "one attempt and two retries");
    Ok(())
}

#[tokio::test]
async fn client_errors_are_not_retried() -> anyhow::Result<()> {
    let (base, calls) = serve(vec![(StatusCode::FORBIDDEN, None)]).await?;
    let client = ScimClient::new(&base, Secret::new("sekrit"), fast(5))?;
    let err = client.get_user("u1").await.unwrap_err();
    assert_eq!(err.status(), Some(403));
    assert!(!err.is_retryable());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    Ok(())
}

#[tokio::test]
async fn connection_failures_are_retryable_transport_errors() -> anyhow::Result<()> {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let client = ScimClient::new(&format!("http://127.0.0.1:{port}/v2"), Secret::new("sekrit"), fast(1))?;
    let err = client.get_user("u1").await.unwrap_err();
    assert!(matches!(err, ConnectorError::Transport { .. }), "{err}");
    assert!(err.is_retryable());
    Ok(())
}
