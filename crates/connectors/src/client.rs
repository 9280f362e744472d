//! The SCIM 2.0 client (RFC 7644) Tenure provisions apps with.

use std::collections::HashSet;
use std::time::Duration;

use rand::Rng;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, IF_MATCH, RETRY_AFTER, USER_AGENT};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tenure_core::attributes::{self as attr, Attributes};
use tenure_core::capabilities::Capabilities;
use tenure_core::{RemoteAccount, Secret};
use tenure_scim::{ListResponse, PatchOp, PatchOperation, PatchVerb, SCIM_MEDIA_TYPE, ScimType, parse_filter};
use url::Url;

use crate::error::{ConnectorError, TransportKind};
use crate::mapping::{self, EMAIL_TYPE};

#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// For a whole request, response body included.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Retries after the first attempt, for transport errors, 408, 429 and 5xx.
    pub max_retries: u32,
    /// `count` asked for when listing users.
    pub page_size: u32,
    /// First backoff; doubled on each retry, with jitter.
    pub initial_backoff: Duration,
    /// Upper bound on any single wait, the app's `Retry-After` included, so a misbehaving app
    /// cannot stall a sync for hours.
    pub max_retry_wait: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_retries: 5,
            page_size: 100,
            initial_backoff: Duration::from_millis(500),
            max_retry_wait: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ScimClient {
    http: reqwest::Client,
    /// Without a trailing slash, so endpoint segments can be appended.
    pub(crate) base: Url,
    token: Secret,
    pub(crate) options: ClientOptions,
    /// Paces every request to the app, shared with whatever else talks to it.
    limiter: Option<std::sync::Arc<crate::RateLimiter>>,
    /// Bearer tokens from the app's OAuth authorization server, in place of `token`.
    oauth: Option<std::sync::Arc<dyn crate::bearer::AccessTokens>>,
    /// What the app was probed to support; `None` assumes the RFC's full feature set.
    pub(crate) capabilities: Option<std::sync::Arc<Capabilities>>,
    /// What DELETE does in this app: RFC 7644 §3.6 removes the resource, but vendors differ.
    pub(crate) delete_meaning: crate::DeleteMeaning,
    /// The app's vendor, whose documented errors become [`ConnectorError::Vendor`]; `None`
    /// recognises any profiled vendor's.
    vendor: Option<crate::vendor::Vendor>,
    /// Paces of the group endpoints alone (reads, writes), where the vendor documents lower
    /// limits for them than for users (Miro). Per client, so per process: not shared between
    /// nodes as the app's own limiter is.
    group_limiters: [Option<std::sync::Arc<crate::RateLimiter>>; 2],
}

/// A successful answer: its headers (ETag, ...) and body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// Longest slice of an error body kept in an error message.
const MAX_DETAIL: usize = 500;

impl ScimClient {
    pub fn new(base_url: &str, token: Secret, options: ClientOptions) -> Result<Self, ConnectorError> {
        let base =
            Url::parse(base_url.trim()).map_err(|e| ConnectorError::Config(format!("base URL {base_url:?}: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(ConnectorError::Config(format!("base URL {base_url:?} must be an http(s) URL")));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(ConnectorError::Config(format!("base URL {base_url:?} must not have a query or fragment")));
        }
        if tenure_sources::cloud_http::is_metadata_address(&base) {
            return Err(ConnectorError::Config(format!(
                "base URL {base_url:?}: a link-local or cloud metadata address is not allowed (the app's token would go there)"
            )));
        }
        let mut base = base;
        base.path_segments_mut().map_err(|_| ConnectorError::Config(format!("base URL {base_url:?}")))?.pop_if_empty();
        if options.page_size == 0 {
            return Err(ConnectorError::Config("page_size must be at least 1".into()));
        }
        // The address policy, and no redirects: one would replay a POST as a GET and may carry
        // the token elsewhere; a SCIM endpoint that redirects is misconfigured and should say so.
        let http = tenure_outbound::client_builder()
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .build()
            .map_err(|e| ConnectorError::Config(format!("HTTP client: {}", error_chain(&e))))?;
        Ok(Self {
            http,
            base,
            token,
            options,
            limiter: None,
            group_limiters: [None, None],
            capabilities: None,
            oauth: None,
            delete_meaning: crate::DeleteMeaning::Permanent,
            vendor: None,
        })
    }

    /// Reads the app's errors as `vendor` documents them, and takes its documented DELETE
    /// meaning.
    pub fn with_vendor(mut self, vendor: crate::vendor::Vendor) -> Self {
        self.vendor = Some(vendor);
        self.delete_meaning = vendor.delete_meaning();
        let (reads, writes) = vendor.entry().group_paces();
        let limiter = |per_second: f64| std::sync::Arc::new(crate::RateLimiter::new(per_second, 1));
        self.group_limiters = [reads.map(limiter), writes.map(limiter)];
        self
    }

    /// The group endpoints' own pace for a request, if it is one of theirs and the vendor
    /// documents one.
    fn group_limiter(&self, method: &Method, url: &Url) -> Option<&crate::RateLimiter> {
        let base = self.base.path().trim_end_matches('/');
        let rest = url.path().strip_prefix(base)?;
        if rest != "/Groups" && !rest.starts_with("/Groups/") {
            return None;
        }
        let index = usize::from(*method != Method::GET);
        self.group_limiters[index].as_deref()
    }

    /// Sends every request through `limiter` (and tells it when the app says 429).
    pub fn with_rate_limiter(mut self, limiter: std::sync::Arc<crate::RateLimiter>) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// Adapts the client to the app's probed profile: pages no larger than the app serves,
    /// lookups by listing where it cannot filter, GET + PUT where it has no PATCH, `If-Match`
    /// where it versions resources.
    pub fn with_capabilities(mut self, capabilities: Capabilities) -> Self {
        if let Some(max) = capabilities.max_page_size.filter(|m| *m > 0) {
            self.options.page_size = self.options.page_size.min(max);
        }
        self.capabilities = Some(std::sync::Arc::new(capabilities));
        self
    }

    /// Forgets the probed profile (the probe checks the app as it answers, not as last probed).
    pub(crate) fn without_capabilities(mut self) -> Self {
        self.capabilities = None;
        self
    }

    /// Asks for pages of at most `page_size` users (at least one).
    pub fn with_page_size(mut self, page_size: u32) -> Self {
        self.options.page_size = page_size.max(1);
        self
    }

    pub fn capabilities(&self) -> Option<&Capabilities> {
        self.capabilities.as_deref()
    }

    /// Authenticates with access tokens from `source` (OAuth 2.0 client credentials) instead
    /// of the static token.
    pub fn with_oauth(self, source: std::sync::Arc<crate::oauth::TokenSource>) -> Self {
        self.with_access_tokens(source)
    }

    /// Authenticates with access tokens from `source` (any OAuth grant) instead of the static
    /// token.
    pub fn with_access_tokens(mut self, source: std::sync::Arc<dyn crate::bearer::AccessTokens>) -> Self {
        self.oauth = Some(source);
        self
    }

    pub fn base_url(&self) -> &str {
        self.base.as_str()
    }

    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// Every user in the app, every page checked (see [`crate::paging`]): a list that does not
    /// add up is [`ConnectorError::Paging`], or, where the app filters on `userName`, read again
    /// by `userName` prefixes.
    pub async fn list_users(&self) -> Result<Vec<RemoteAccount>, ConnectorError> {
        let url = self.users_url(None);
        self.list_all(&url, Some("userName"), |raw| self.account_from_raw(&Method::GET, &url, raw)).await
    }

    /// Every resource behind a list endpoint: by cursor where the app pages that way, otherwise
    /// by `startIndex` with every page checked, and by `partition_by` prefixes where that walk
    /// fails.
    pub(crate) async fn list_all<T>(
        &self,
        url: &Url,
        partition_by: Option<&str>,
        parse: impl Fn(Value) -> Result<T, ConnectorError>,
    ) -> Result<Vec<T>, ConnectorError> {
        if self.capabilities.as_ref().is_some_and(|c| c.cursor_pagination) {
            let id_of = |raw: &Value| raw.get("id").map(Value::to_string).unwrap_or_default();
            let keep = |raw: Value| Ok::<Value, ConnectorError>(raw);
            return self.list_by_cursor(url, &keep, &id_of).await?.into_iter().map(parse).collect();
        }
        let raw = match partition_by {
            Some(attribute) => self.list_checked_or_partitioned(url, attribute).await?,
            None => self.list_checked(url).await?,
        };
        raw.into_iter().map(parse).collect()
    }

    /// Cursor paging (RFC 9865 §2): `cursor` empty for the first page, then each page's
    /// `nextCursor` until a page has none. A cursor the app no longer accepts (expired, 400
    /// `invalidCursor`) restarts the walk once from the first page, keeping what was read; a
    /// cursor handed out twice ends the walk rather than loop.
    async fn list_by_cursor<T>(
        &self,
        url: &Url,
        parse: &impl Fn(Value) -> Result<T, ConnectorError>,
        id_of: &impl Fn(&T) -> String,
    ) -> Result<Vec<T>, ConnectorError> {
        let count = self.options.page_size.to_string();
        let mut seen = HashSet::new();
        let mut all = Vec::new();
        let mut cursors_seen = HashSet::new();
        let mut cursor = String::new();
        let mut restarted = false;
        loop {
            let query = [("cursor", cursor.clone()), ("count", count.clone())];
            let body = match self.send(Method::GET, url, &query, None).await {
                Ok(body) => body,
                Err(e) if !cursor.is_empty() && !restarted && invalid_cursor(&e) => {
                    tracing::warn!(url = %url, error = %e, "the app refused its own cursor; listing again from the start");
                    restarted = true;
                    cursors_seen.clear();
                    cursor.clear();
                    continue;
                }
                Err(e) => return Err(e),
            };
            let page: CursorPage = parse_json(&Method::GET, url, &body)?;
            for raw in page.resources {
                let item = parse(raw)?;
                if seen.insert(id_of(&item)) {
                    all.push(item);
                }
            }
            match page.next_cursor.filter(|c| !c.is_empty()) {
                Some(next) if cursors_seen.insert(next.clone()) => cursor = next,
                Some(_) => {
                    tracing::warn!(url = %url, "the app handed out a cursor twice; stopping the listing there");
                    break;
                }
                None => break,
            }
        }
        Ok(all)
    }

    /// `None` when the app answers 404.
    pub async fn get_user(&self, remote_id: &str) -> Result<Option<RemoteAccount>, ConnectorError> {
        let url = self.user_url(remote_id)?;
        let body = match self.send(Method::GET, &url, &[], None).await {
            Err(ConnectorError::NotFound { .. }) => return Ok(None),
            other => other?,
        };
        let raw: Value = parse_json(&Method::GET, &url, &body)?;
        self.account_from_raw(&Method::GET, &url, raw).map(Some)
    }

    /// The one user whose `attribute` equals `value` (`attribute eq "value"`). `attribute` is a
    /// Tenure attribute name (`userName`, `externalId`, `email`, ...), translated to its SCIM
    /// path, or else a SCIM attribute path used as is. Several matches are an error: linking the
    /// wrong account is worse than linking none. The filter is also applied locally to what comes
    /// back, so a server that ignores filters cannot hand us an unrelated user.
    ///
    /// Where the app cannot filter (its profile says so, it refuses the filter, or it answers with
    /// users the filter does not match) every user is listed and matched here. A failed listing
    /// is an error, never "not found": the caller would create a duplicate.
    pub async fn find_user(&self, attribute: &str, value: &str) -> Result<Option<RemoteAccount>, ConnectorError> {
        let path = match mapping::filter_path(attribute) {
            Some(p) => p,
            None if is_attr_path(attribute) => attribute.to_owned(),
            None => {
                return Err(ConnectorError::InvalidRequest(format!("{attribute:?} is not a SCIM attribute path")));
            }
        };
        let filter_text = format!("{path} eq {}", quote(value));
        let filter = parse_filter(&filter_text)
            .map_err(|e| ConnectorError::InvalidRequest(format!("filter {filter_text}: {e}")))?;
        let url = self.users_url(None);
        let by_filter = self.capabilities.as_ref().is_none_or(|c| c.filters_on(&path));
        if by_filter {
            match self.send(Method::GET, &url, &[("filter", filter_text.clone())], None).await {
                Ok(body) => {
                    let page: ListResponse<Value> = parse_json(&Method::GET, &url, &body)?;
                    let returned = page.resources.len();
                    let matching: Vec<Value> = page.resources.into_iter().filter(|r| filter.matches(r)).collect();
                    if matching.len() == returned {
                        return self.one_of(&url, filter_text, matching);
                    }
                    // A page of unrelated users means the filter was ignored; a match may sit on a
                    // later page, so only a full listing can say "not found".
                    tracing::warn!(
                        url = %url,
                        filter = %filter_text,
                        unrelated = returned - matching.len(),
                        "the app ignored the filter; looking the user up in a full listing"
                    );
                }
                Err(e) if filter_refused(&e) => {
                    tracing::warn!(url = %url, filter = %filter_text, error = %e, "the app refused the filter; looking the user up in a full listing");
                }
                Err(e) => return Err(e),
            }
        }
        let everyone = self.list_all(&url, Some("userName"), Ok).await?;
        let matching = everyone.into_iter().filter(|r| filter.matches(r)).collect();
        self.one_of(&url, filter_text, matching)
    }

    fn one_of(
        &self,
        url: &Url,
        filter_text: String,
        mut matching: Vec<Value>,
    ) -> Result<Option<RemoteAccount>, ConnectorError> {
        match matching.len() {
            0 => Ok(None),
            1 => self.account_from_raw(&Method::GET, url, matching.remove(0)).map(Some),
            count => Err(ConnectorError::Ambiguous { filter: filter_text, count }),
        }
    }

    /// Creates an active user. A 409 (userName or externalId taken) is
    /// [`ConnectorError::Conflict`], so the caller can find the existing account and link it.
    pub async fn create_user(&self, attributes: &Attributes) -> Result<RemoteAccount, ConnectorError> {
        self.create_user_with(attributes, true).await
    }

    /// Creates a user active or not: `active: false` in the POST itself (RFC 7643 §4.1.1: a
    /// client may set `active` when it creates the resource), for an account prepared ahead of
    /// its person's start date. The account returned says what the app made; a provider that
    /// ignored `active` shows it active, and the caller disables it then.
    pub async fn create_user_with(
        &self,
        attributes: &Attributes,
        active: bool,
    ) -> Result<RemoteAccount, ConnectorError> {
        if attributes.get(attr::USER_NAME).is_none_or(|v| v.is_empty()) {
            return Err(ConnectorError::InvalidRequest("a user needs a non-empty userName".into()));
        }
        let mut user = mapping::user_from_attributes(attributes);
        user.active = active;
        let payload = serde_json::to_vec(&user).map_err(|e| ConnectorError::InvalidRequest(e.to_string()))?;
        let url = self.users_url(None);
        let body = self.send(Method::POST, &url, &[], Some(payload)).await?;
        let raw: Value = parse_json(&Method::POST, &url, &body)?;
        self.account_from_raw(&Method::POST, &url, raw)
    }

    /// Applies `changes` with one PATCH of minimal operations: `replace` for a value, `remove` for
    /// an empty one. Every name must be an attribute Tenure manages; an unknown one is an error
    /// rather than silently skipped, since a skipped change would be planned again on every sync.
    pub async fn update_user(&self, remote_id: &str, changes: &Attributes) -> Result<(), ConnectorError> {
        if self.capabilities.as_ref().is_some_and(|c| c.without_patch()) {
            return self.replace_user(remote_id, |user| crate::put::apply_changes(user, changes)).await;
        }
        let email_value_path = mapping::scim_path(attr::EMAIL).unwrap_or_default();
        let mut operations = Vec::with_capacity(changes.len());
        let mut new_email = None;
        for (name, value) in changes.iter() {
            let path = mapping::scim_path(name)
                .ok_or_else(|| ConnectorError::InvalidRequest(format!("attribute {name:?} has no SCIM mapping")))?;
            if value.is_empty() {
                // Removing only `.value` would leave a work email without an address.
                let path = if name == attr::EMAIL { format!("emails[type eq \"{EMAIL_TYPE}\"]") } else { path };
                operations.push(PatchOperation { op: PatchVerb::Remove, path: Some(path), value: None });
            } else {
                if name == attr::EMAIL {
                    new_email = Some(value.clone());
                }
                let wire = mapping::list_value(name, value).unwrap_or_else(|| Value::String(value.clone()));
                operations.push(PatchOp::replace(&path, wire));
            }
        }
        if operations.is_empty() {
            return Ok(());
        }
        let first = self.patch(remote_id, operations.clone()).await;
        match (first, new_email) {
            // RFC 7644 §3.5.2.3: a value filter matching nothing is 400 noTarget. The user has no
            // work email yet, so add one; `primary` on the added value demotes any other.
            (Err(e), Some(email)) if e.status() == Some(400) && e.scim_type() == Some(ScimType::NoTarget) => {
                tracing::debug!(remote_id, "no work email to replace; adding one");
                let add = PatchOperation {
                    op: PatchVerb::Add,
                    path: Some("emails".into()),
                    value: Some(json!([{ "value": email, "type": EMAIL_TYPE, "primary": true }])),
                };
                let retried = operations
                    .into_iter()
                    .map(|op| if op.path.as_deref() == Some(email_value_path.as_str()) { add.clone() } else { op })
                    .collect();
                self.patch(remote_id, retried).await
            }
            (result, _) => result,
        }
    }

    pub async fn set_active(&self, remote_id: &str, active: bool) -> Result<(), ConnectorError> {
        if self.capabilities.as_ref().is_some_and(|c| c.without_patch()) {
            return self
                .replace_user(remote_id, |user| {
                    crate::put::set_active(user, active);
                    Ok(())
                })
                .await;
        }
        self.patch(remote_id, vec![PatchOp::replace("active", Value::Bool(active))]).await
    }

    /// A user that is already gone is [`ConnectorError::NotFound`]; callers that want deletion to
    /// be idempotent can treat it as success.
    pub async fn delete_user(&self, remote_id: &str) -> Result<(), ConnectorError> {
        let url = self.user_url(remote_id)?;
        self.send(Method::DELETE, &url, &[], None).await.map(drop)
    }

    /// 200 with the resource and 204 without a body are both success; the body is not needed.
    async fn patch(&self, remote_id: &str, operations: Vec<PatchOperation>) -> Result<(), ConnectorError> {
        let url = self.user_url(remote_id)?;
        let payload =
            serde_json::to_vec(&PatchOp::new(operations)).map_err(|e| ConnectorError::InvalidRequest(e.to_string()))?;
        self.send(Method::PATCH, &url, &[], Some(payload)).await.map(drop)
    }

    pub(crate) fn users_url(&self, id: Option<&str>) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.push("Users");
            if let Some(id) = id {
                segments.push(id);
            }
        }
        url
    }

    pub(crate) fn user_url(&self, remote_id: &str) -> Result<Url, ConnectorError> {
        if !is_path_segment(remote_id) {
            return Err(ConnectorError::InvalidRequest(format!(
                "remote id {remote_id:?} cannot name a resource in a URL path (empty, \".\" or \"..\" would address another one)"
            )));
        }
        Ok(self.users_url(Some(remote_id)))
    }

    pub(crate) fn account_from_raw(
        &self,
        method: &Method,
        url: &Url,
        raw: Value,
    ) -> Result<RemoteAccount, ConnectorError> {
        let invalid = |message: String| ConnectorError::InvalidResponse {
            method: method.to_string(),
            url: url.to_string(),
            message,
        };
        let user = mapping::parse_user(raw).map_err(invalid)?;
        mapping::account_from_user(&user).map_err(|e| match e {
            ConnectorError::InvalidResponse { message, .. } => invalid(message),
            other => other,
        })
    }

    /// Sends with retries: transport errors, 408, 429 and 5xx are retried up to `max_retries`
    /// times, waiting as `Retry-After` asks or with exponential backoff and jitter, never longer
    /// than `max_retry_wait`.
    pub(crate) async fn send(
        &self,
        method: Method,
        url: &Url,
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> Result<Vec<u8>, ConnectorError> {
        self.send_full(method, url, query, body, None).await.map(|r| r.body)
    }

    /// [`send`](Self::send), keeping the response headers, with an optional `If-Match`.
    pub(crate) async fn send_full(
        &self,
        method: Method,
        url: &Url,
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
        if_match: Option<&str>,
    ) -> Result<Answer, ConnectorError> {
        let mut retries = 0;
        let mut refreshed = false;
        loop {
            if let Some(limiter) = &self.limiter {
                limiter.acquire().await?;
            }
            if let Some(limiter) = self.group_limiter(&method, url) {
                limiter.acquire().await?;
            }
            let result = match self.bearer().await {
                Ok(token) => {
                    let result = self.attempt(&method, url, query, body.as_ref(), if_match, &token).await;
                    // An OAuth token the app refuses may have been revoked early: one new token,
                    // once per request, before the 401 stands.
                    if let (Err(e), Some(oauth), false) = (&result, &self.oauth, refreshed)
                        && e.status() == Some(401)
                    {
                        refreshed = true;
                        oauth.reject(&token).await;
                        tracing::debug!(%method, url = %url, "the app refused the OAuth access token; fetching a new one");
                        continue;
                    }
                    result
                }
                Err(e) => Err(e),
            };
            if let (Err(e), Some(limiter)) = (&result, &self.limiter)
                && e.status() == Some(429)
            {
                limiter.hold_off(self.retry_wait(e, 0));
            }
            match result {
                Err(e) if e.is_retryable() && retries < self.options.max_retries => {
                    let wait = self.retry_wait(&e, retries);
                    retries += 1;
                    // Throttling is the app working as documented; anything else is worth a warning.
                    if e.status() == Some(429) {
                        tracing::debug!(%method, url = %url, retry = retries, wait_ms = wait.as_millis() as u64, "throttled by the app; waiting");
                    } else {
                        tracing::warn!(
                            %method,
                            url = %url,
                            retry = retries,
                            max_retries = self.options.max_retries,
                            wait_ms = wait.as_millis() as u64,
                            error = %e,
                            "SCIM request failed; retrying"
                        );
                    }
                    tokio::time::sleep(wait).await;
                }
                other => return other,
            }
        }
    }

    fn retry_wait(&self, error: &ConnectorError, retries: u32) -> Duration {
        retry_wait(&self.options, error, retries)
    }

    async fn bearer(&self) -> Result<Secret, ConnectorError> {
        match &self.oauth {
            Some(source) => source.token().await,
            None => Ok(self.token.clone()),
        }
    }

    async fn attempt(
        &self,
        method: &Method,
        url: &Url,
        query: &[(&str, String)],
        body: Option<&Vec<u8>>,
        if_match: Option<&str>,
        token: &Secret,
    ) -> Result<Answer, ConnectorError> {
        let mut request = self
            .http
            .request(method.clone(), url.clone())
            .bearer_auth(token.expose())
            .header(ACCEPT, SCIM_MEDIA_TYPE)
            .header(USER_AGENT, concat!("tenure/", env!("CARGO_PKG_VERSION")));
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request.header(CONTENT_TYPE, SCIM_MEDIA_TYPE).body(body.clone());
        }
        if let Some(tag) = if_match {
            request = request.header(IF_MATCH, tag);
        }
        tenure_outbound::check_url_host(url).map_err(|r| ConnectorError::Config(r.to_string()))?;
        let response = request.send().await.map_err(|e| transport_error(method, url, &e))?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let headers = response.headers().clone();
        let bytes = match tenure_outbound::read_body(response, tenure_outbound::MAX_RESPONSE_BODY).await {
            Ok(bytes) => bytes,
            Err(tenure_outbound::BodyError::Http(e)) => return Err(transport_error(method, url, &e)),
            Err(too_large) => {
                return Err(ConnectorError::InvalidResponse {
                    method: method.to_string(),
                    url: url.to_string(),
                    message: too_large.to_string(),
                });
            }
        };
        if status.is_success() {
            return Ok(Answer { headers, body: bytes.to_vec() });
        }
        let error = status_error(method, url, status, retry_after, &bytes);
        Err(match self.vendor {
            Some(vendor) => vendor.translate_error(error),
            None => crate::vendor::Vendor::translate_any(error),
        })
    }
}

/// How long to wait before retry number `retries + 1`: what the app asked for, else exponential
/// backoff with jitter, never longer than `max_retry_wait`. Shared by every HTTP connector.
pub(crate) fn retry_wait(options: &ClientOptions, error: &ConnectorError, retries: u32) -> Duration {
    let cap = options.max_retry_wait;
    if let Some(asked) = error.retry_after() {
        return asked.min(cap);
    }
    let exp = options.initial_backoff.saturating_mul(2u32.saturating_pow(retries)).min(cap);
    // Half fixed, half random: spreads out clients that failed together without ever
    // retrying immediately.
    let half = exp / 2;
    let jitter_ms = rand::rng().random_range(0..=half.as_millis() as u64);
    half + Duration::from_millis(jitter_ms)
}

/// The app does not filter (RFC 7644 §3.12: 501 for an unsupported operation) or cannot parse
/// this filter (§3.4.2.2: 400 `invalidFilter`).
/// A page of a cursor-paged listing (RFC 9865 §3).
#[derive(serde::Deserialize)]
struct CursorPage {
    #[serde(rename = "Resources", default)]
    resources: Vec<Value>,
    #[serde(rename = "nextCursor", default)]
    next_cursor: Option<String>,
}

/// RFC 9865 §2.2: an unknown or expired cursor is 400 with `scimType` `invalidCursor` or
/// `expiredCursor`, types `tenure-scim` does not name, so the error's text is what tells.
fn invalid_cursor(e: &ConnectorError) -> bool {
    e.status() == Some(400) && e.to_string().to_lowercase().contains("cursor")
}

pub(crate) fn filter_refused(e: &ConnectorError) -> bool {
    e.status() == Some(501) || (e.status() == Some(400) && e.scim_type() == Some(ScimType::InvalidFilter))
}

/// A SCIM string literal: JSON string rules (RFC 7644 §3.4.2.2), so `"` and `\` are escaped.
pub(crate) fn quote(value: &str) -> String {
    Value::String(value.to_owned()).to_string()
}

/// Keeps caller-supplied attribute names from smuggling filter syntax into the query.
fn is_attr_path(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '.' | '_' | '-' | '$'))
}

pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    method: &Method,
    url: &Url,
    body: &[u8],
) -> Result<T, ConnectorError> {
    serde_json::from_slice(body).map_err(|e| ConnectorError::InvalidResponse {
        method: method.to_string(),
        url: url.to_string(),
        message: if body.is_empty() { "empty body".to_owned() } else { format!("{e}: {}", snippet(body)) },
    })
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(MAX_DETAIL) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// Whether an id from an app can go into a URL path as one segment: the URL library drops `.`
/// and `..` segments (so `PATCH /Users/..` would reach `/Users`), and an empty one names the
/// collection. Other characters, `/` included, are percent-encoded when pushed.
pub(crate) fn is_path_segment(id: &str) -> bool {
    !matches!(id, "" | "." | "..")
}

fn transport_error(method: &Method, url: &Url, e: &reqwest::Error) -> ConnectorError {
    if e.is_builder() {
        return ConnectorError::InvalidRequest(error_chain(e));
    }
    if let Some(refused) = tenure_outbound::refusal_in(e) {
        return ConnectorError::Config(refused.to_string());
    }
    let kind = if e.is_timeout() {
        TransportKind::Timeout
    } else if e.is_connect() {
        TransportKind::Connect
    } else {
        TransportKind::Io
    };
    ConnectorError::Transport { kind, method: method.to_string(), url: url.to_string(), message: error_chain(e) }
}

/// Reads the app's SCIM error leniently: servers send `status` as a string or a number, some omit
/// it, and a proxy in front may answer with HTML.
fn status_error(
    method: &Method,
    url: &Url,
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
) -> ConnectorError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let scim_type = parsed
        .as_ref()
        .and_then(|v| v.get("scimType"))
        .and_then(|t| serde_json::from_value::<ScimType>(t.clone()).ok());
    // Slack answers in its own shape, `{"Errors": {"description": "plus_teams_only", "code": 403}}`
    // (https://api.slack.com/scim#errors), not RFC 7644's `detail`.
    let slack_description = parsed
        .as_ref()
        .and_then(|v| v.get("Errors"))
        .and_then(|e| e.get("description").or_else(|| e.get(0).and_then(|first| first.get("description"))))
        .and_then(Value::as_str);
    let detail = match parsed.as_ref().and_then(|v| v.get("detail")).and_then(Value::as_str).or(slack_description) {
        Some(d) => Some(d.to_owned()),
        None if body.iter().all(u8::is_ascii_whitespace) => None,
        None => Some(snippet(body)),
    };
    let (method, url) = (method.to_string(), url.to_string());
    match status {
        StatusCode::NOT_FOUND => ConnectorError::NotFound { method, url, detail },
        StatusCode::CONFLICT => ConnectorError::Conflict { method, url, scim_type, detail },
        _ => ConnectorError::Status { method, url, status: status.as_u16(), scim_type, detail, retry_after },
    }
}

/// `Retry-After` as delay-seconds or an HTTP-date (RFC 9110 §10.2.3); a date in the past is no
/// wait at all.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let raw = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    parse_retry_after(raw, time::OffsetDateTime::now_utc())
}

fn parse_retry_after(raw: &str, now: time::OffsetDateTime) -> Option<Duration> {
    if let Ok(seconds) = raw.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    // IMF-fixdate is RFC 2822 syntax with the obsolete "GMT" zone, which the parser accepts.
    let at = time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc2822).ok()?;
    Some((at - now).try_into().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_ids_that_would_address_another_resource_are_refused() {
        let client = ScimClient::new("http://127.0.0.1:9/scim/v2", Secret::new("t"), ClientOptions::default()).unwrap();
        for id in ["", ".", ".."] {
            assert!(matches!(client.user_url(id), Err(ConnectorError::InvalidRequest(_))), "{id:?}");
        }
        assert_eq!(client.user_url("a/../b").unwrap().as_str(), "http://127.0.0.1:9/scim/v2/Users/a%2F..%2Fb");
        assert_eq!(client.user_url("...").unwrap().as_str(), "http://127.0.0.1:9/scim/v2/Users/...");
    }

    /// Miro documents its group endpoints apart: GET Groups 5 and a PATCH group above 500 bytes
    /// 5 per 30 s, against 200 for the user endpoints
    /// (https://developers.miro.com/reference/rate-limits).
    #[test]
    fn miro_group_requests_are_paced_apart_from_user_requests() {
        let miro: crate::vendor::Vendor = "miro".parse().unwrap();
        let client = ScimClient::new("http://127.0.0.1:9/api/v1/scim", Secret::new("t"), ClientOptions::default())
            .unwrap()
            .with_vendor(miro);
        let url = |path: &str| Url::parse(&format!("http://127.0.0.1:9/api/v1/scim{path}")).unwrap();
        let per_30s = |l: Option<&crate::RateLimiter>| l.map(|l| (l.per_second() * 30.0).round() as u32);
        assert_eq!(per_30s(client.group_limiter(&Method::GET, &url("/Groups"))), Some(5));
        assert_eq!(per_30s(client.group_limiter(&Method::GET, &url("/Groups/g1"))), Some(5));
        assert_eq!(per_30s(client.group_limiter(&Method::PATCH, &url("/Groups/g1"))), Some(5));
        assert!(client.group_limiter(&Method::GET, &url("/Users")).is_none());
        assert!(client.group_limiter(&Method::PATCH, &url("/Users/u1")).is_none());
        assert!(client.group_limiter(&Method::GET, &url("/GroupsX")).is_none());
        // Reads and writes each have their own pace.
        let reads = client.group_limiter(&Method::GET, &url("/Groups")).map(|l| l as *const _);
        let writes = client.group_limiter(&Method::PATCH, &url("/Groups/g1")).map(|l| l as *const _);
        assert_ne!(reads, writes);
        // A vendor that documents no group limits has none.
        let slack = ScimClient::new("http://127.0.0.1:9/scim/v2", Secret::new("t"), ClientOptions::default())
            .unwrap()
            .with_vendor(crate::vendor::Vendor::Slack);
        assert!(slack.group_limiter(&Method::GET, &Url::parse("http://127.0.0.1:9/scim/v2/Groups").unwrap()).is_none());
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let now = time::macros::datetime!(1994-11-06 08:49:30 UTC);
        assert_eq!(parse_retry_after("0", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }

    #[test]
    fn filter_values_are_json_string_literals() {
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
        let text = format!("userName eq {}", quote(r#"q"u\ote"#));
        match parse_filter(&text).unwrap() {
            tenure_scim::Filter::Compare { value, .. } => assert_eq!(value, r#"q"u\ote"#),
            other => panic!("{other:?}"),
        }
        assert!(is_attr_path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"));
        assert!(!is_attr_path(r#"userName eq "x" or userName"#));
    }

    #[test]
    fn error_bodies_are_read_leniently() {
        let url = Url::parse("http://app/v2/Users").unwrap();
        let e = status_error(
            &Method::POST,
            &url,
            StatusCode::CONFLICT,
            None,
            br#"{"status":409,"scimType":"uniqueness","detail":"taken"}"#,
        );
        assert!(e.is_conflict());
        assert_eq!(e.scim_type(), Some(ScimType::Uniqueness));
        let e = status_error(
            &Method::GET,
            &url,
            StatusCode::BAD_GATEWAY,
            Some(Duration::ZERO),
            b"<html>bad gateway</html>",
        );
        assert!(e.is_retryable());
        assert!(e.to_string().contains("502: <html>bad gateway</html>"), "{e}");
        let e = status_error(
            &Method::GET,
            &url,
            StatusCode::FORBIDDEN,
            None,
            br#"{"Errors":{"description":"plus_teams_only","code":403}}"#,
        );
        assert!(e.to_string().ends_with("403: plus_teams_only"), "Slack's error shape is read: {e}");
        let e = status_error(&Method::GET, &url, StatusCode::UNAUTHORIZED, None, b"");
        assert!(!e.is_retryable());
        assert_eq!(e.status(), Some(401));
    }

    #[test]
    fn base_url_is_validated_and_normalised() {
        let c = ScimClient::new("https://app.example/scim/v2/", Secret::new("t"), ClientOptions::default()).unwrap();
        assert_eq!(c.users_url(Some("a/b")).as_str(), "https://app.example/scim/v2/Users/a%2Fb");
        assert!(ScimClient::new("ftp://x", Secret::new("t"), ClientOptions::default()).is_err());
        assert!(ScimClient::new("not a url", Secret::new("t"), ClientOptions::default()).is_err());
        for metadata in ["http://169.254.169.254/latest", "http://[fe80::1]/scim", "http://metadata.google.internal/x"]
        {
            let refused = ScimClient::new(metadata, Secret::new("t"), ClientOptions::default());
            assert!(matches!(refused, Err(ConnectorError::Config(m)) if m.contains("metadata")), "{metadata}");
        }
        let zero = ClientOptions { page_size: 0, ..ClientOptions::default() };
        assert!(ScimClient::new("http://x", Secret::new("t"), zero).is_err());
        assert!(!format!("{c:?}").contains("\"t\""), "the token must not appear in Debug output");
    }

    #[test]
    fn backoff_grows_and_respects_the_cap() {
        let options = ClientOptions {
            initial_backoff: Duration::from_millis(100),
            max_retry_wait: Duration::from_millis(1000),
            ..ClientOptions::default()
        };
        let c = ScimClient::new("http://x", Secret::new("t"), options).unwrap();
        let e = ConnectorError::Transport {
            kind: TransportKind::Connect,
            method: "GET".into(),
            url: "http://x".into(),
            message: "refused".into(),
        };
        for retries in 0..10 {
            let w = c.retry_wait(&e, retries);
            let exp = Duration::from_millis(100 * 2u64.pow(retries)).min(Duration::from_millis(1000));
            assert!(w >= exp / 2 && w <= exp, "{retries}: {w:?}");
        }
        let asked = ConnectorError::Status {
            method: "GET".into(),
            url: "u".into(),
            status: 429,
            scim_type: None,
            detail: None,
            retry_after: Some(Duration::from_secs(3600)),
        };
        assert_eq!(c.retry_wait(&asked, 0), Duration::from_millis(1000));
    }
}
