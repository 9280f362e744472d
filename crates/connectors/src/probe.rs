//! Finding out what a SCIM app really supports before the first sync: what it says about itself
//! (`/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas`, RFC 7644 §4) and how it actually
//! behaves, since many apps announce features they lack or lack the discovery endpoints.
//!
//! The probe only reads, with one exception that cannot change anything: a PATCH on a user id
//! that cannot exist, to tell "no PATCH" (501/405) from "PATCH, but no such user" (404). Checking
//! PATCH path forms and ETag enforcement needs a real user to change, so it happens only when the
//! admin asks for it (`write`): the probe then creates one clearly named user, changes it, and
//! deletes it.
//!
//! Contracts: RFC 7644 (https://www.rfc-editor.org/rfc/rfc7644) §4 discovery, §3.4.2.2
//! filtering, §3.4.2.4 paging, §3.5.2 PATCH, §3.12 501 for unsupported operations, §3.14 ETags;
//! RFC 7643 (https://www.rfc-editor.org/rfc/rfc7643) §5 ServiceProviderConfig attributes.

use rand::Rng;
use reqwest::Method;
use reqwest::header::ETAG;
use serde::Serialize;
use serde_json::{Value, json};
use tenure_core::capabilities::{Capabilities, FilterSupport, Probed};
use tenure_scim::{ListResponse, PatchOp, PatchOperation, PatchVerb};
use url::Url;

use crate::client::{ScimClient, parse_json};
use crate::error::ConnectorError;

/// How many users the probe asks for in one page, to find the app's cap.
pub const PAGE_SIZE_ASKED: u32 = 1000;
/// The prefix of every name the probe makes up, so an admin can tell its traces from real users.
pub const PROBE_PREFIX: &str = "tenure-probe-";

#[derive(Debug, Clone, Copy, Default)]
pub struct ProbeOptions {
    /// Create, change and delete one probe user to check PATCH path forms and ETags.
    pub write: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProbeReport {
    pub capabilities: Capabilities,
    /// Why the app cannot be provisioned at all (credentials refused, no `/Users`); empty when it
    /// can.
    pub blockers: Vec<String>,
    /// What the probe saw along the way.
    pub observations: Vec<String>,
}

impl ProbeReport {
    pub fn provisionable(&self) -> bool {
        self.blockers.is_empty()
    }
}

/// A failure that ends the probe: nothing else can be learnt from an app that refuses us.
fn blocking(e: &ConnectorError) -> Option<String> {
    // A vendor's documented "an admin must act" answer (a plan without SCIM, SSO not enabled) or
    // a withdrawn OAuth consent says what to do better than any status would.
    if matches!(e, ConnectorError::Vendor { .. } | ConnectorError::Reauthorize { .. }) {
        return Some(e.to_string());
    }
    match e.status() {
        Some(401) | Some(403) => Some(format!("the app refused the credentials: {e}")),
        _ if matches!(e, ConnectorError::Transport { .. }) => Some(format!("the app cannot be reached: {e}")),
        _ => None,
    }
}

/// Unsupported operation (RFC 7644 §3.12: 501), or a method the endpoint does not allow.
fn unsupported(e: &ConnectorError) -> bool {
    matches!(e.status(), Some(501) | Some(405))
}

fn random_suffix() -> String {
    let n: u64 = rand::rng().random();
    format!("{n:016x}")
}

struct Probe<'a> {
    client: &'a ScimClient,
    caps: Capabilities,
    blockers: Vec<String>,
    observations: Vec<String>,
}

impl ScimClient {
    /// Probes the app. Never fails: what goes wrong is reported as a blocker or an observation.
    pub async fn probe(&self, options: ProbeOptions) -> ProbeReport {
        let mut probe = Probe {
            client: self,
            caps: Capabilities {
                probed_at: time::OffsetDateTime::now_utc()
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
                ..Capabilities::default()
            },
            blockers: Vec::new(),
            observations: Vec::new(),
        };
        // Each step returns `None` once a blocker makes further requests pointless.
        let _ = probe.run(options).await;
        ProbeReport { capabilities: probe.caps, blockers: probe.blockers, observations: probe.observations }
    }

    fn endpoint(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.extend(segments);
        }
        url
    }

    async fn get_json(&self, url: &Url, query: &[(&str, String)]) -> Result<(Value, Option<String>), ConnectorError> {
        let answer = self.send_full(Method::GET, url, query, None, None).await?;
        let etag = answer.headers.get(ETAG).and_then(|v| v.to_str().ok()).map(str::to_owned);
        Ok((parse_json(&Method::GET, url, &answer.body)?, etag))
    }
}

impl Probe<'_> {
    fn note(&mut self, text: impl Into<String>) {
        let text = text.into();
        tracing::debug!(observation = %text, "probe");
        self.observations.push(text);
    }

    /// Records `e` as a blocker when it is one; `None` then stops the probe.
    fn check(&mut self, e: &ConnectorError) -> Option<()> {
        match blocking(e) {
            Some(text) => {
                self.blockers.push(text);
                None
            }
            None => Some(()),
        }
    }

    async fn run(&mut self, options: ProbeOptions) -> Option<()> {
        self.discovery().await?;
        let sample = self.users().await?;
        self.page_size().await?;
        self.filters(sample.as_ref()).await?;
        self.paging().await?;
        self.patch_endpoint().await?;
        self.etag(sample.as_ref()).await?;
        if options.write {
            self.write_probe().await?;
        } else {
            self.note("PATCH path forms and ETag enforcement not tested (needs --write-probe)");
        }
        Some(())
    }

    /// RFC 7644 §4: the three discovery endpoints. Missing ones are noted, not fatal.
    async fn discovery(&mut self) -> Option<()> {
        let url = self.client.endpoint(&["ServiceProviderConfig"]);
        match self.client.get_json(&url, &[]).await {
            Ok((spc, _)) => {
                self.caps.discovery.service_provider_config = true;
                let supported = |key: &str| spc.get(key).and_then(|f| f.get("supported")).and_then(Value::as_bool);
                self.caps.patch.advertised = supported("patch");
                if supported("filter") == Some(false) {
                    self.note("/ServiceProviderConfig says filtering is not supported");
                }
                if let Some(max) = spc.pointer("/filter/maxResults").and_then(Value::as_u64) {
                    self.caps.max_page_size = u32::try_from(max).ok().filter(|m| *m > 0);
                }
                // RFC 9865 §4: `pagination` says which methods the app offers and its page cap.
                self.caps.cursor_pagination =
                    spc.pointer("/pagination/cursor").and_then(Value::as_bool).unwrap_or(false);
                if let Some(max) = spc.pointer("/pagination/maxPageSize").and_then(Value::as_u64) {
                    let max = u32::try_from(max).ok().filter(|m| *m > 0);
                    self.caps.max_page_size = match (self.caps.max_page_size, max) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                }
                if supported("bulk") == Some(true) {
                    self.caps.bulk_max_operations =
                        spc.pointer("/bulk/maxOperations").and_then(Value::as_u64).and_then(|m| u32::try_from(m).ok());
                }
                if supported("etag") == Some(false) {
                    self.caps.etag = Probed::No;
                }
            }
            Err(e) => {
                self.check(&e)?;
                self.note(format!("no usable /ServiceProviderConfig ({e}); features are found by trying them"));
            }
        }
        let url = self.client.endpoint(&["ResourceTypes"]);
        match self.client.get_json(&url, &[]).await {
            Ok((types, _)) => {
                self.caps.discovery.resource_types = true;
                let endpoints: Vec<String> = resources(&types)
                    .iter()
                    .filter_map(|t| t.get("endpoint").and_then(Value::as_str).map(str::to_owned))
                    .collect();
                if !endpoints.iter().any(|e| e.trim_start_matches('/') == "Users") {
                    self.note(format!("/ResourceTypes lists no /Users endpoint (it lists {endpoints:?})"));
                }
                if !endpoints.iter().any(|e| e.trim_start_matches('/') == "Groups") {
                    self.note("/ResourceTypes lists no /Groups endpoint: groups cannot be pushed");
                }
            }
            Err(e) => {
                self.check(&e)?;
                self.note(format!("no usable /ResourceTypes ({e})"));
            }
        }
        let url = self.client.endpoint(&["Schemas"]);
        match self.client.get_json(&url, &[]).await {
            Ok(_) => self.caps.discovery.schemas = true,
            Err(e) => {
                self.check(&e)?;
                self.note(format!("no usable /Schemas ({e})"));
            }
        }
        Some(())
    }

    /// `/Users` must list; one user (if any) is kept to test lookups with.
    async fn users(&mut self) -> Option<Option<Value>> {
        let url = self.client.users_url(None);
        let query = [("startIndex", "1".to_owned()), ("count", "1".to_owned())];
        let page = match self.client.get_json(&url, &query).await {
            Ok((page, _)) => page,
            Err(e) => {
                self.check(&e)?;
                self.blockers.push(format!("the app does not list users: {e}"));
                return None;
            }
        };
        let list = match serde_json::from_value::<ListResponse<Value>>(page) {
            Ok(list) => list,
            Err(e) => {
                self.blockers.push(format!("GET {url} did not answer with a SCIM list: {e}"));
                return None;
            }
        };
        if list.resources.len() > 1 {
            self.note(format!("count=1 returned {} users: the app ignores count", list.resources.len()));
        }
        if list.resources.is_empty() {
            self.note("the app has no users yet: lookups and ETags cannot be confirmed on a real user");
        }
        Some(list.resources.into_iter().find(|u| u.get("id").and_then(Value::as_str).is_some()))
    }

    /// Asks for [`PAGE_SIZE_ASKED`] users: fewer back while more exist is the app's cap.
    async fn page_size(&mut self) -> Option<()> {
        let url = self.client.users_url(None);
        let query = [("startIndex", "1".to_owned()), ("count", PAGE_SIZE_ASKED.to_string())];
        let list = match self.client.get_json(&url, &query).await {
            Ok((page, _)) => serde_json::from_value::<ListResponse<Value>>(page).ok(),
            Err(e) => {
                self.check(&e)?;
                self.note(format!("count={PAGE_SIZE_ASKED} refused ({e}); pages capped at the client's default"));
                self.cap_page_size(100);
                return Some(());
            }
        };
        let Some(list) = list else {
            self.note(format!("count={PAGE_SIZE_ASKED} did not answer with a SCIM list"));
            return Some(());
        };
        let returned = list.resources.len() as u64;
        if returned < u64::from(PAGE_SIZE_ASKED) && list.total_results > returned && returned > 0 {
            self.note(format!(
                "asked for {PAGE_SIZE_ASKED} users, got {returned} of {}: pages capped at {returned}",
                list.total_results
            ));
            self.cap_page_size(u32::try_from(returned).unwrap_or(PAGE_SIZE_ASKED));
        }
        Some(())
    }

    fn cap_page_size(&mut self, cap: u32) {
        self.caps.max_page_size = Some(self.caps.max_page_size.map_or(cap, |m| m.min(cap)));
    }

    /// A filter that matches nothing must return nothing; one on a known user must return it.
    async fn filters(&mut self, sample: Option<&Value>) -> Option<()> {
        let url = self.client.users_url(None);
        let nobody = format!("userName eq \"{PROBE_PREFIX}nobody-{}\"", random_suffix());
        self.caps.filter = match self.client.get_json(&url, &[("filter", nobody.clone())]).await {
            Ok((page, _)) => {
                let count = resources(&page).len();
                if count == 0 {
                    FilterSupport::Unverified
                } else {
                    self.note(format!("filter {nobody} returned {count} users"));
                    FilterSupport::Ignored
                }
            }
            Err(e) => {
                self.check(&e)?;
                self.note(format!("filter {nobody} refused: {e}"));
                FilterSupport::Refused
            }
        };
        let Some(sample) = sample.filter(|_| self.caps.filter == FilterSupport::Unverified) else {
            return Some(());
        };
        let id = sample.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
        let email = sample
            .get("emails")
            .and_then(Value::as_array)
            .and_then(|list| list.iter().find_map(|e| e.get("value").and_then(Value::as_str)))
            .map(str::to_owned);
        let checks = [
            ("userName", sample.get("userName").and_then(Value::as_str).map(str::to_owned)),
            ("externalId", sample.get("externalId").and_then(Value::as_str).map(str::to_owned)),
            ("emails.value", email),
        ];
        for (path, value) in checks {
            let Some(value) = value.filter(|v| !v.is_empty()) else { continue };
            let filter = format!("{path} eq {}", Value::String(value));
            let found = match self.client.get_json(&url, &[("filter", filter.clone())]).await {
                Ok((page, _)) => {
                    resources(&page).iter().any(|u| u.get("id").and_then(Value::as_str) == Some(id.as_str()))
                }
                Err(e) => {
                    self.check(&e)?;
                    self.note(format!("filter {filter} refused: {e}"));
                    false
                }
            };
            if !found {
                self.note(format!("filter {filter} did not find the user it matches"));
            }
            self.caps.filter_by.insert(path.to_owned(), if found { Probed::Yes } else { Probed::No });
        }
        if self.caps.filter_by.get("userName") == Some(&Probed::Yes) {
            self.caps.filter = FilterSupport::Works;
        }
        Some(())
    }

    /// Reads the whole user list with every page checked, in pages small enough that an app
    /// holding more than one user is read in at least two; where that fails, tries reading it by
    /// `userName` prefixes. Reads only.
    async fn paging(&mut self) -> Option<()> {
        if self.caps.cursor_pagination {
            self.note("paging by cursor: startIndex paging not checked");
            return Some(());
        }
        let url = self.client.users_url(None);
        let total = match self.client.get_json(&url, &[("count", "0".to_owned())]).await {
            Ok((page, _)) => page.get("totalResults").and_then(Value::as_u64),
            Err(e) => {
                self.check(&e)?;
                None
            }
        };
        let cap = self.caps.max_page_size.unwrap_or(100).clamp(1, 100);
        let page_size = match total {
            Some(t) if t >= 2 => cap.min(u32::try_from(t.div_ceil(2)).unwrap_or(cap)),
            Some(_) => {
                self.note("paging not checked: the app holds fewer than two users");
                return Some(());
            }
            None => cap,
        };
        let walker = self.client.clone().without_capabilities().with_page_size(page_size);
        match walker.list_checked(&url).await {
            Ok(all) => {
                self.caps.paging.checked = if all.len() as u32 > page_size { Probed::Yes } else { Probed::Unknown };
                if self.caps.paging.checked == Probed::Yes {
                    self.note(format!("paging checked: {} users in pages of {page_size} added up", all.len()));
                }
            }
            Err(ConnectorError::Paging { fault, .. }) => {
                self.note(format!("paging broken in pages of {page_size}: {fault}"));
                self.caps.paging.checked = Probed::No;
                self.caps.paging.fault = Some(fault);
                let partitioner = walker.with_capabilities(self.caps.clone());
                self.caps.paging.partitioned = if !self.caps.filters_on("userName") {
                    self.note("the app does not filter on userName: its list cannot be read by partitions");
                    Probed::No
                } else {
                    match partitioner.list_partitioned(&url, "userName").await {
                        Ok(all) => {
                            self.note(format!(
                                "{} users read by userName prefixes, each partition adding up",
                                all.len()
                            ));
                            Probed::Yes
                        }
                        Err(e) => {
                            self.check(&e)?;
                            self.note(format!("reading by userName prefixes failed too: {e}"));
                            Probed::No
                        }
                    }
                };
            }
            Err(e) => {
                self.check(&e)?;
                self.note(format!("paging not checked: {e}"));
            }
        }
        Some(())
    }

    /// A PATCH on an id no app can hold: 404 says PATCH is there, 501/405 that it is not.
    async fn patch_endpoint(&mut self) -> Option<()> {
        let Ok(url) = self.client.user_url(&format!("{PROBE_PREFIX}missing-{}", random_suffix())) else {
            return Some(());
        };
        let body = PatchOp::new(vec![PatchOp::replace("active", Value::Bool(true))]);
        let payload = serde_json::to_vec(&body).unwrap_or_default();
        let seen = match self.client.send_full(Method::PATCH, &url, &[], Some(payload), None).await {
            // A SCIM "no such resource" carries an error body; a bare 404 may just as well be a
            // route the app does not have.
            Err(ConnectorError::NotFound { detail: Some(_), .. }) => Probed::Yes,
            Err(e) if e.is_not_found() => {
                self.note(format!("PATCH on a missing user answered a bare 404 ({e}); PATCH support unknown"));
                Probed::Unknown
            }
            Err(e) if unsupported(&e) => {
                self.note(format!("PATCH refused: {e}"));
                Probed::No
            }
            Err(e) => {
                self.check(&e)?;
                self.note(format!("PATCH on a missing user answered {e}; PATCH support unknown"));
                Probed::Unknown
            }
            Ok(_) => {
                self.note("PATCH on a missing user succeeded; PATCH support unknown");
                Probed::Unknown
            }
        };
        // An app that says it has no PATCH is believed unless a real PATCH proves otherwise.
        self.caps.patch.supported = match (seen, self.caps.patch.advertised) {
            (Probed::Yes, Some(false)) => {
                self.note("/ServiceProviderConfig says PATCH is not supported; updates will use PUT");
                Probed::No
            }
            (Probed::Unknown, Some(false)) => Probed::No,
            (seen, _) => seen,
        };
        Some(())
    }

    /// Versions on a real user (RFC 7644 §3.14: `ETag` header and `meta.version`).
    async fn etag(&mut self, sample: Option<&Value>) -> Option<()> {
        if self.caps.etag == Probed::No {
            return Some(());
        }
        let Some(id) = sample.and_then(|s| s.get("id")).and_then(Value::as_str) else {
            return Some(());
        };
        let Ok(url) = self.client.user_url(id) else { return Some(()) };
        match self.client.get_json(&url, &[]).await {
            Ok((user, header)) => {
                let version =
                    header.or_else(|| user.pointer("/meta/version").and_then(Value::as_str).map(str::to_owned));
                self.caps.etag = if version.is_some() { Probed::Yes } else { Probed::No };
            }
            Err(e) => {
                self.check(&e)?;
                self.note(format!("GET {url} failed: {e}"));
            }
        }
        Some(())
    }

    /// Creates a probe user, tries the PATCH forms Tenure sends and a stale `If-Match`, and
    /// deletes the user whatever happened.
    async fn write_probe(&mut self) -> Option<()> {
        let name = format!("{PROBE_PREFIX}{}", random_suffix());
        let user = json!({
            "schemas": [tenure_scim::schemas::USER],
            "userName": name,
            "externalId": name,
            "displayName": "Tenure capability probe (safe to delete)",
            "emails": [{"value": format!("{name}@probe.invalid"), "type": "work", "primary": true}],
            "active": false,
        });
        let url = self.client.users_url(None);
        let payload = serde_json::to_vec(&user).unwrap_or_default();
        let created = match self.client.send_full(Method::POST, &url, &[], Some(payload), None).await {
            Ok(answer) => parse_json::<Value>(&Method::POST, &url, &answer.body).ok(),
            Err(e) => {
                self.check(&e)?;
                self.note(format!("write probe: creating {name} failed: {e}"));
                return Some(());
            }
        };
        let Some(id) = created.as_ref().and_then(|c| c.get("id")).and_then(Value::as_str).map(str::to_owned) else {
            self.note(format!("write probe: the app created {name} but returned no id; delete it by hand"));
            return Some(());
        };
        self.note(format!("write probe: created user {name} (id {id})"));
        let outcome = self.exercise(&id, &name).await;
        match self.client.user_url(&id) {
            Ok(user_url) => match self.client.send_full(Method::DELETE, &user_url, &[], None, None).await {
                Ok(_) => self.note(format!("write probe: deleted user {name}")),
                Err(e) => {
                    self.note(format!("write probe: could not delete user {name} (id {id}): {e}; delete it by hand"))
                }
            },
            Err(e) => self.note(format!("write probe: {e}")),
        }
        outcome
    }

    async fn exercise(&mut self, id: &str, name: &str) -> Option<()> {
        let url = self.client.user_url(id).ok()?;
        let new_email = format!("{name}-2@probe.invalid");
        let forms = [
            (
                "value-filter path",
                PatchOp::replace("emails[type eq \"work\"].value", Value::String(new_email.clone())),
                "/emails/0/value",
                Value::String(new_email),
            ),
            (
                "no-path value map",
                PatchOperation {
                    op: PatchVerb::Replace,
                    path: None,
                    value: Some(json!({"displayName": "Tenure capability probe 2 (safe to delete)"})),
                },
                "/displayName",
                Value::String("Tenure capability probe 2 (safe to delete)".into()),
            ),
        ];
        for (index, (label, operation, pointer, expected)) in forms.into_iter().enumerate() {
            let payload = serde_json::to_vec(&PatchOp::new(vec![operation])).unwrap_or_default();
            let result = match self.client.send_full(Method::PATCH, &url, &[], Some(payload), None).await {
                Ok(_) => match self.client.get_json(&url, &[]).await {
                    Ok((user, _)) if user.pointer(pointer) == Some(&expected) => Probed::Yes,
                    Ok(_) => {
                        self.note(format!("PATCH with a {label} was accepted but changed nothing"));
                        Probed::No
                    }
                    Err(e) => {
                        self.check(&e)?;
                        Probed::Unknown
                    }
                },
                Err(e) => {
                    self.check(&e)?;
                    self.note(format!("PATCH with a {label} failed: {e}"));
                    Probed::No
                }
            };
            if result == Probed::Yes {
                self.caps.patch.supported = Probed::Yes;
            }
            if index == 0 {
                self.caps.patch.value_filter_path = result;
            } else {
                self.caps.patch.no_path_value_map = result;
            }
        }
        if self.caps.etag != Probed::No {
            // RFC 7644 §3.14: a stale If-Match must be answered 412.
            let user = self.client.get_json(&url, &[]).await.ok().map(|(u, _)| u)?;
            let payload = serde_json::to_vec(&user).unwrap_or_default();
            let stale = "W/\"tenure-probe-stale\"";
            self.caps.etag = match self.client.send_full(Method::PUT, &url, &[], Some(payload), Some(stale)).await {
                Err(e) if e.status() == Some(412) => Probed::Yes,
                Err(e) => {
                    self.check(&e)?;
                    self.note(format!("PUT with a stale If-Match answered {e}; ETags not relied on"));
                    Probed::No
                }
                Ok(_) => {
                    self.note("PUT with a stale If-Match succeeded: the app does not check ETags");
                    Probed::No
                }
            };
        }
        Some(())
    }
}

fn resources(list: &Value) -> &[Value] {
    list.get("Resources").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default()
}
