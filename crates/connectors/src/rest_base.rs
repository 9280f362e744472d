//! The base URL and HTTP client every vendor REST connector (Box, Dropbox, Microsoft Graph)
//! starts from: an http(s) base that is no cloud metadata address (the token would go there),
//! and a client that follows no redirect.

use reqwest::Url;

use crate::ConnectorError;
use crate::client::{ClientOptions, error_chain};

/// `base` checked and without a trailing slash, and the client; errors name it as `label`.
pub(crate) fn checked_base_and_client(
    base: &str,
    label: &str,
    options: &ClientOptions,
) -> Result<(Url, reqwest::Client), ConnectorError> {
    let mut url = Url::parse(base.trim()).map_err(|e| ConnectorError::Config(format!("{label} {base:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(ConnectorError::Config(format!("{label} {url} must be an http(s) URL")));
    }
    if tenure_sources::cloud_http::is_metadata_address(&url) {
        return Err(ConnectorError::Config(format!(
            "{label} {url}: a link-local or cloud metadata address is not allowed (the token would go there)"
        )));
    }
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty();
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = tenure_outbound::client_builder()
        .timeout(options.timeout)
        .connect_timeout(options.connect_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| ConnectorError::Config(format!("HTTP client: {}", error_chain(&e))))?;
    Ok((url, http))
}

/// `base/segments...`, each segment escaped (`base` was checked to be a base URL).
pub(crate) fn joined(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.extend(segments);
    }
    url
}
