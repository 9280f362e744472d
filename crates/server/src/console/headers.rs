//! Security headers on every console response, and the console's assets, compiled into the
//! binary: htmx (vendored from its npm package, see `assets/console/README.md`) and the
//! stylesheet. Nothing is loaded from elsewhere, and the policy says so.

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::ServerState;

/// No inline script or style, nothing from another origin, forms post only here, no framing.
pub const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                          connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

pub const HTMX_PATH: &str = "/console/assets/htmx-2.0.11.min.js";
pub const CSS_PATH: &str = "/console/assets/console.css";

const HTMX: &[u8] = include_bytes!("../../assets/console/htmx.min.js");
const CSS: &[u8] = include_bytes!("../../assets/console/console.css");

pub async fn secure(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Pages show who has access to what: never kept by a browser or a proxy.
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

pub fn asset_routes() -> Router<ServerState> {
    Router::new()
        // The file name carries htmx's version, so it may be kept for a year.
        .route(
            HTMX_PATH,
            get(|| async { asset("text/javascript; charset=utf-8", "public, max-age=31536000, immutable", HTMX) }),
        )
        .route(CSS_PATH, get(|| async { asset("text/css; charset=utf-8", "public, max-age=3600", CSS) }))
}

fn asset(content_type: &'static str, cache: &'static str, body: &'static [u8]) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, cache)], body).into_response()
}
