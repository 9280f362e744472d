//! The Enterprise License Manager API in the Google Workspace fake: which users of the directory
//! hold which product SKU, as Google documents it.
//!
//! Contract followed (<https://developers.google.com/workspace/admin/licensing/reference/rest/v1/licenseAssignments>):
//! - listForProductAndSku `GET /apps/licensing/v1/product/{productId}/sku/{skuId}/users` with
//!   `customerId` (required: the customer id, or the primary domain older versions took),
//!   `maxResults` (1–1000, default 100) and `pageToken`; answers a LicenseAssignmentList
//!   `{kind: "licensing#licenseAssignmentList", etag, items, nextPageToken}`
//!   (<https://developers.google.com/workspace/admin/licensing/reference/rest/v1/licenseAssignments/listForProductAndSku>);
//! - get `GET …/product/{p}/sku/{s}/user/{userId}`: the LicenseAssignment, 404 `notFound` when
//!   the user does not hold that SKU;
//! - insert `POST …/product/{p}/sku/{s}/user` with `{"userId": primaryEmail}`
//!   (<https://developers.google.com/workspace/admin/licensing/reference/rest/v1/licenseAssignments/insert>);
//! - patch (and update) `PATCH …/product/{p}/sku/{s}/user/{userId}` with `{"skuId": new}`:
//!   reassigns to another SKU *of the same product*
//!   (<https://developers.google.com/workspace/admin/licensing/reference/rest/v1/licenseAssignments/patch>);
//! - delete `DELETE …/product/{p}/sku/{s}/user/{userId}`: revokes, 404 when not held;
//! - the LicenseAssignment resource: `kind` `licensing#licenseAssignment`, `etags`, `selfLink`,
//!   `userId` (the current primary email), `productId`, `skuId`, `skuName`, `productName`;
//! - scope `https://www.googleapis.com/auth/apps.licensing`; errors as Google's JSON error body;
//!   throttling as the Directory fake's (429 or 403 with `rateLimitExceeded`).
//!
//! The fake's choices where the documentation says nothing precise: inserting a SKU the user
//! holds is 409 `duplicate`; inserting one of a product the user holds another SKU of, or beyond
//! a SKU's [`LicenseSku::seats`], is 412 `conditionNotMet`; a user unknown to the directory is
//! 404; a user deleted from the directory loses their licenses; an unknown product or SKU is 400
//! `invalid`.

// Handlers return the early answer (an error, a throttle) as `Err(Response)`; its size is of no
// concern in a test fake.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::google_fake::{GoogleDirectory, Shared, Slot, admit_scoped, api_error, lock, parse_body, shared, text};

pub const SCOPE: &str = "https://www.googleapis.com/auth/apps.licensing";
pub const PRODUCT: &str = "Google-Apps";
pub const STARTER: &str = "1010020027";
pub const STANDARD: &str = "1010020028";
pub const PLUS: &str = "1010020025";
pub const VAULT_PRODUCT: &str = "Google-Vault";
pub const VAULT: &str = "Google-Vault";

/// A SKU the customer subscribes to.
#[derive(Debug, Clone)]
pub struct LicenseSku {
    pub product_id: String,
    pub sku_id: String,
    pub product_name: String,
    pub sku_name: String,
    /// Licenses bought; `None`: as many as assigned (a flexible plan).
    pub seats: Option<usize>,
}

#[derive(Debug)]
pub struct LicensingState {
    pub skus: Vec<LicenseSku>,
    /// `(user id, product id, sku id)`, in assignment order.
    pub assignments: Vec<(String, String, String)>,
    /// The impersonated admin lacks the License Management privilege: every call is 403.
    pub deny: bool,
    /// The client is not delegated the licensing scope: its token request is refused.
    pub scope_withheld: bool,
    /// This many licenseAssignments.get answers are 404 although the user holds the SKU: Google's
    /// License Manager is eventually consistent, so a read may miss a fresh assignment.
    pub stale_gets: u32,
    /// listForProductAndSku pages served.
    pub reads: u32,
    /// inserts, patches and deletes answered with success.
    pub writes: u32,
    etag: u64,
}

impl Default for LicensingState {
    /// The Business editions (one product) and Vault (another), as Google's "Products and SKUs"
    /// page names them (<https://developers.google.com/workspace/admin/licensing/v1/how-tos/products>).
    fn default() -> Self {
        let sku = |p: &str, s: &str, product: &str, name: &str| LicenseSku {
            product_id: p.into(),
            sku_id: s.into(),
            product_name: product.into(),
            sku_name: name.into(),
            seats: None,
        };
        Self {
            skus: vec![
                sku(PRODUCT, STARTER, "Google Workspace", "Google Workspace Business Starter"),
                sku(PRODUCT, STANDARD, "Google Workspace", "Google Workspace Business Standard"),
                sku(PRODUCT, PLUS, "Google Workspace", "Google Workspace Business Plus"),
                sku(VAULT_PRODUCT, VAULT, "Google Vault", "Google Vault"),
            ],
            assignments: Vec::new(),
            deny: false,
            scope_withheld: false,
            stale_gets: 0,
            reads: 0,
            writes: 0,
            etag: 0,
        }
    }
}

impl GoogleDirectory {
    /// Gives the user `key` (id or address) the SKU, as an admin would in the Admin console.
    pub fn assign_license(&mut self, key: &str, product: &str, sku: &str) {
        let id = self.user(key).map(|u| text(u, "id").to_owned()).expect("a user of the directory");
        self.licensing.assignments.push((id, product.to_owned(), sku.to_owned()));
    }

    /// The SKU ids the user `key` holds, in assignment order.
    pub fn licenses_of(&self, key: &str) -> Vec<String> {
        let Some(id) = self.user(key).map(|u| text(u, "id").to_owned()) else { return Vec::new() };
        self.licensing.assignments.iter().filter(|(u, _, _)| *u == id).map(|(_, _, s)| s.clone()).collect()
    }

    /// Assignments whose user is still in the directory (a deleted user's licenses are freed).
    fn live_assignments(&self) -> Vec<(String, String, String, String)> {
        self.licensing
            .assignments
            .iter()
            .filter_map(|(id, p, s)| {
                let email = self.users.iter().find(|u| text(u, "id") == id).map(|u| text(u, "primaryEmail"))?;
                Some((id.clone(), email.to_owned(), p.clone(), s.clone()))
            })
            .collect()
    }
}

fn resource(shared: &Shared, dir: &mut GoogleDirectory, email: &str, product: &str, sku: &str) -> Value {
    dir.licensing.etag += 1;
    let found = dir.licensing.skus.iter().find(|k| k.product_id == product && k.sku_id == sku);
    let (product_name, sku_name) = found.map(|k| (k.product_name.clone(), k.sku_name.clone())).unwrap_or_default();
    let base = shared.token_url.trim_end_matches("/token");
    json!({
        "kind": "licensing#licenseAssignment",
        "etags": format!("\"fake-etag-{}\"", dir.licensing.etag),
        "selfLink": format!("{base}/apps/licensing/v1/product/{product}/sku/{sku}/user/{email}"),
        "userId": email,
        "productId": product,
        "skuId": sku,
        "skuName": sku_name,
        "productName": product_name,
    })
}

/// Authentication, the licensing scope, throttling and the admin's privilege.
fn admit(shared: &Shared, headers: &HeaderMap) -> Result<(), Response> {
    admit_scoped(shared, headers, Some(SCOPE), |_| {})?;
    if lock(&shared.dir).licensing.deny {
        return Err(api_error(StatusCode::FORBIDDEN, "forbidden", "Not Authorized to access this resource/api"));
    }
    Ok(())
}

fn check_sku(dir: &GoogleDirectory, product: &str, sku: &str) -> Result<(), Response> {
    if dir.licensing.skus.iter().any(|k| k.product_id == product && k.sku_id == sku) {
        Ok(())
    } else {
        Err(api_error(StatusCode::BAD_REQUEST, "invalid", "Invalid productId or skuId"))
    }
}

fn not_held() -> Response {
    api_error(StatusCode::NOT_FOUND, "notFound", "User does not have a license for specified sku and product")
}

pub(crate) async fn list(
    State(slot): State<Slot>,
    Path((product, sku)): Path<(String, String)>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let shared = shared(&slot);
    if let Err(r) = admit(&shared, &headers) {
        return r;
    }
    let domain = crate::google_fake::ADMIN.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
    match query.get("customerId").map(String::as_str) {
        Some(c) if c == shared.customer_id || c.eq_ignore_ascii_case(domain) => {}
        _ => return api_error(StatusCode::BAD_REQUEST, "invalid", "Invalid customerId"),
    }
    let size = match query.get("maxResults").map(|v| v.parse::<usize>()) {
        None => 100,
        Some(Ok(n)) if (1..=1000).contains(&n) => n,
        Some(_) => return api_error(StatusCode::BAD_REQUEST, "invalid", "Invalid value for maxResults"),
    };
    let offset = match query.get("pageToken").map(|t| t.strip_prefix("lt-").and_then(|n| n.parse::<usize>().ok())) {
        None => 0,
        Some(Some(n)) => n,
        Some(None) => return api_error(StatusCode::BAD_REQUEST, "invalid", "Invalid page token"),
    };
    let mut dir = lock(&shared.dir);
    if let Err(r) = check_sku(&dir, &product, &sku) {
        return r;
    }
    dir.licensing.reads += 1;
    let holders: Vec<String> =
        dir.live_assignments().into_iter().filter(|(_, _, p, s)| *p == product && *s == sku).map(|a| a.1).collect();
    let end = (offset + size).min(holders.len());
    let items: Vec<Value> = holders
        .get(offset..end)
        .unwrap_or_default()
        .iter()
        .map(|email| resource(&shared, &mut dir, email, &product, &sku))
        .collect();
    let mut body = json!({"kind": "licensing#licenseAssignmentList", "etag": "\"fake-list\""});
    if !items.is_empty() {
        body["items"] = Value::Array(items);
    }
    if end < holders.len() {
        body["nextPageToken"] = json!(format!("lt-{end}"));
    }
    axum::Json(body).into_response()
}

/// The directory user `key` names (404 as Google answers an unknown user).
fn user_id(dir: &GoogleDirectory, key: &str) -> Result<(String, String), Response> {
    dir.user(key)
        .map(|u| (text(u, "id").to_owned(), text(u, "primaryEmail").to_owned()))
        .ok_or_else(|| api_error(StatusCode::NOT_FOUND, "notFound", "User does not exist."))
}

pub(crate) async fn get(
    State(slot): State<Slot>,
    Path((product, sku, user)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let shared = shared(&slot);
    if let Err(r) = admit(&shared, &headers) {
        return r;
    }
    let mut dir = lock(&shared.dir);
    if let Err(r) = check_sku(&dir, &product, &sku) {
        return r;
    }
    let (id, email) = match user_id(&dir, &user) {
        Ok(found) => found,
        Err(r) => return r,
    };
    if !dir.licensing.assignments.iter().any(|(u, p, s)| *u == id && *p == product && *s == sku) {
        return not_held();
    }
    if dir.licensing.stale_gets > 0 {
        dir.licensing.stale_gets -= 1;
        return not_held();
    }
    axum::Json(resource(&shared, &mut dir, &email, &product, &sku)).into_response()
}

pub(crate) async fn insert(
    State(slot): State<Slot>,
    Path((product, sku)): Path<(String, String)>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let shared = shared(&slot);
    if let Err(r) = admit(&shared, &headers) {
        return r;
    }
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(user) = body.get("userId").and_then(Value::as_str).filter(|u| !u.trim().is_empty()) else {
        return api_error(StatusCode::BAD_REQUEST, "required", "Required parameter: userId");
    };
    let mut dir = lock(&shared.dir);
    if let Err(r) = check_sku(&dir, &product, &sku) {
        return r;
    }
    let (id, email) = match user_id(&dir, user) {
        Ok(found) => found,
        Err(r) => return r,
    };
    let held: Vec<(String, String)> =
        dir.licensing.assignments.iter().filter(|(u, _, _)| *u == id).map(|(_, p, s)| (p.clone(), s.clone())).collect();
    if held.iter().any(|(p, s)| *p == product && *s == sku) {
        return api_error(
            StatusCode::CONFLICT,
            "duplicate",
            "User already has a license for the specified product and SKU",
        );
    }
    if held.iter().any(|(p, _)| *p == product) {
        return api_error(
            StatusCode::PRECONDITION_FAILED,
            "conditionNotMet",
            "User already has a license of another SKU of this product; reassign it instead",
        );
    }
    let seats = dir.licensing.skus.iter().find(|k| k.product_id == product && k.sku_id == sku).and_then(|k| k.seats);
    let used = dir.live_assignments().iter().filter(|(_, _, p, s)| *p == product && *s == sku).count();
    if seats.is_some_and(|n| used >= n) {
        return api_error(StatusCode::PRECONDITION_FAILED, "conditionNotMet", "Not enough licenses available");
    }
    dir.licensing.assignments.push((id, product.clone(), sku.clone()));
    dir.licensing.writes += 1;
    axum::Json(resource(&shared, &mut dir, &email, &product, &sku)).into_response()
}

pub(crate) async fn patch(
    State(slot): State<Slot>,
    Path((product, sku, user)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let shared = shared(&slot);
    if let Err(r) = admit(&shared, &headers) {
        return r;
    }
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut dir = lock(&shared.dir);
    if let Err(r) = check_sku(&dir, &product, &sku) {
        return r;
    }
    let (id, email) = match user_id(&dir, &user) {
        Ok(found) => found,
        Err(r) => return r,
    };
    let new = body.get("skuId").and_then(Value::as_str).unwrap_or(&sku).to_owned();
    if let Some(p) = body.get("productId").and_then(Value::as_str)
        && p != product
    {
        return api_error(StatusCode::BAD_REQUEST, "invalid", "A license can only be reassigned within its product");
    }
    if check_sku(&dir, &product, &new).is_err() {
        return api_error(StatusCode::BAD_REQUEST, "invalid", "A license can only be reassigned within its product");
    }
    let Some(index) = dir.licensing.assignments.iter().position(|(u, p, s)| *u == id && *p == product && *s == sku)
    else {
        return not_held();
    };
    dir.licensing.assignments[index].2 = new.clone();
    dir.licensing.writes += 1;
    axum::Json(resource(&shared, &mut dir, &email, &product, &new)).into_response()
}

pub(crate) async fn delete(
    State(slot): State<Slot>,
    Path((product, sku, user)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let shared = shared(&slot);
    if let Err(r) = admit(&shared, &headers) {
        return r;
    }
    let mut dir = lock(&shared.dir);
    if let Err(r) = check_sku(&dir, &product, &sku) {
        return r;
    }
    let (id, _) = match user_id(&dir, &user) {
        Ok(found) => found,
        Err(r) => return r,
    };
    let Some(index) = dir.licensing.assignments.iter().position(|(u, p, s)| *u == id && *p == product && *s == sku)
    else {
        return not_held();
    };
    dir.licensing.assignments.remove(index);
    dir.licensing.writes += 1;
    StatusCode::NO_CONTENT.into_response()
}
