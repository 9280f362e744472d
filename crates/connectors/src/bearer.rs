//! Where a client's bearer tokens come from when they are not one static token: an OAuth 2.0
//! token source (client credentials in `oauth.rs`, a user-consented grant refreshed in
//! `oauth_code.rs`). The SCIM client asks for a token per request and hands back one the app
//! refused (401), so the source can replace it once.

use std::future::Future;
use std::pin::Pin;

use tenure_core::Secret;

use crate::error::ConnectorError;

/// A boxed future: the trait is used as `dyn`, which `async fn` in traits does not allow.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub trait AccessTokens: Send + Sync + std::fmt::Debug {
    /// A token valid for a while yet.
    fn token(&self) -> BoxFuture<'_, Result<Secret, ConnectorError>>;
    /// The app answered 401 to `rejected`: do not hand it out again.
    fn reject<'a>(&'a self, rejected: &'a Secret) -> BoxFuture<'a, ()>;
}

impl AccessTokens for crate::oauth::TokenSource {
    fn token(&self) -> BoxFuture<'_, Result<Secret, ConnectorError>> {
        Box::pin(crate::oauth::TokenSource::token(self))
    }

    fn reject<'a>(&'a self, rejected: &'a Secret) -> BoxFuture<'a, ()> {
        Box::pin(crate::oauth::TokenSource::reject(self, rejected))
    }
}

/// Where a REST connector's (Box's, Dropbox's) bearer token comes from: one static token, or a
/// token source that can replace a token the app refused.
#[derive(Debug, Clone)]
pub(crate) enum Bearer {
    Static(Secret),
    Source(std::sync::Arc<dyn AccessTokens>),
}

impl Bearer {
    pub(crate) async fn token(&self) -> Result<Secret, ConnectorError> {
        match self {
            Self::Static(token) => Ok(token.clone()),
            Self::Source(source) => source.token().await,
        }
    }

    /// The app answered 401 to `token`: true when asking again may bring a new one (a source
    /// drops the refused token, so the next `token()` refreshes it); a static token stays refused.
    pub(crate) async fn refused(&self, token: &Secret) -> bool {
        match self {
            Self::Static(_) => false,
            Self::Source(source) => {
                source.reject(token).await;
                true
            }
        }
    }
}
