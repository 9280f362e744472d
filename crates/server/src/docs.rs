//! The rendered API reference at `/api/docs/`: Swagger UI, its assets compiled into the binary
//! (`assets/swagger-ui/`, see its README), reading `/api/v1/openapi.json`. No CDN: the page
//! loads nothing from elsewhere, and its Content-Security-Policy says so.

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::ServerState;

const BUNDLE: &[u8] = include_bytes!("../assets/swagger-ui/swagger-ui-bundle.js");
const STYLE: &[u8] = include_bytes!("../assets/swagger-ui/swagger-ui.css");

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Tenure admin API</title>
<link rel="stylesheet" href="/api/docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/api/docs/swagger-ui-bundle.js"></script>
<script src="/api/docs/init.js"></script>
</body>
</html>
"#;

/// Kept out of the page so the policy needs no inline script.
const INIT: &str = "window.ui = SwaggerUIBundle({ url: '/api/v1/openapi.json', dom_id: '#swagger-ui', \
                    deepLinking: true, validatorUrl: null });\n";

/// Swagger UI draws with inline styles and loads images from data URLs; nothing from elsewhere.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                      connect-src 'self'; font-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

pub fn routes() -> Router<ServerState> {
    Router::new()
        .route("/api/docs", get(|| async { Redirect::permanent("/api/docs/") }))
        .route("/api/docs/", get(|| async { asset("text/html; charset=utf-8", PAGE.as_bytes()) }))
        .route("/api/docs/init.js", get(|| async { asset("text/javascript; charset=utf-8", INIT.as_bytes()) }))
        .route("/api/docs/swagger-ui-bundle.js", get(|| async { asset("text/javascript; charset=utf-8", BUNDLE) }))
        .route("/api/docs/swagger-ui.css", get(|| async { asset("text/css; charset=utf-8", STYLE) }))
}

fn asset(content_type: &'static str, body: &'static [u8]) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}
