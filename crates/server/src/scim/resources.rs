//! The operations on Users and Groups, independent of HTTP so `/Bulk` runs the very same code:
//! validate with the schema, keep versions, write through the store (which updates the directory
//! in the same transaction), and render resources with their `meta`.

use serde_json::{Map, Value, json as json_value};
use tenure_core::{GroupId, PersonId, TenantId};
use tenure_scim::datetime::Timestamp;
use tenure_scim::etag::{etag, etag_matches};
use tenure_scim::patch::apply_patch;
use tenure_scim::projection::Projection;
use tenure_scim::schema::{Registry, ResourceView};
use tenure_scim::validate::{check_immutable, validate_resource};
use tenure_scim::{PatchOp, ScimError, ScimType, json};
use tenure_store::{NewAuditEntry, ScimKind, ScimRecord, ScimWrite, Store};

use super::errors::store_error;

/// How often a write without `If-Match` is retried when another write got in first (Entra sends
/// membership PATCHes for one group concurrently).
const WRITE_ATTEMPTS: usize = 8;

/// One request's view of the endpoint: the store, the tenant, the absolute base URL and the IdP
/// the audit log names (`scim:<token label>`).
#[derive(Clone)]
pub struct Ctx {
    pub store: Store,
    pub tenant: TenantId,
    pub base: String,
    pub actor: String,
}

/// A push's audit entry: what the store appends in the write's own transaction, so a SCIM write
/// and its entry are both kept or neither (a `/Bulk` request gets one per operation it applied).
struct Push {
    subject: String,
    detail: Value,
}

impl Push {
    fn new(method: &str, kind: ScimKind, id: &str) -> Self {
        let subject = format!("/{}/{id}", endpoint(kind));
        let detail = json_value!({"method": method, "path": subject, "resource": kind.name(), "id": id});
        Self { subject, detail }
    }

    fn entry<'a>(&'a self, ctx: &'a Ctx) -> NewAuditEntry<'a> {
        NewAuditEntry::new(&ctx.actor, "scim.push", &self.subject, &self.detail)
    }
}

pub fn view(kind: ScimKind) -> ResourceView<'static> {
    // Both resource types are part of the standard registry.
    match Registry::standard().resource_type(kind.name()) {
        Some(v) => v,
        None => unreachable!("the standard registry has User and Group"),
    }
}

pub fn endpoint(kind: ScimKind) -> &'static str {
    match kind {
        ScimKind::User => "Users",
        ScimKind::Group => "Groups",
    }
}

fn not_found(kind: ScimKind, id: &str) -> ScimError {
    ScimError::not_found(format!("{} {id} not found", kind.name()))
}

fn precondition_failed() -> ScimError {
    ScimError::new(412, None, "the resource changed: its version no longer matches If-Match")
}

fn millis_to_text(ms: i64) -> String {
    let nanos = u32::try_from(ms.rem_euclid(1000) * 1_000_000).unwrap_or(0);
    Timestamp { unix_seconds: ms.div_euclid(1000), nanos }.to_string()
}

/// The resource as the wire shows it (before projection): `id` first, then the stored
/// attributes, then `meta`.
pub fn render(ctx: &Ctx, kind: ScimKind, record: &ScimRecord) -> Value {
    let mut out = Map::new();
    out.insert("id".to_owned(), Value::String(record.id.clone()));
    if let Value::Object(fields) = &record.resource {
        for (k, v) in fields {
            out.insert(k.clone(), v.clone());
        }
    }
    if let Some(Value::Array(members)) = out.get_mut("members") {
        for m in members.iter_mut() {
            let (Some(id), Some(ty)) = (
                m.get("value").and_then(Value::as_str).map(str::to_owned),
                m.get("type").and_then(Value::as_str).map(str::to_owned),
            ) else {
                continue;
            };
            let path = if ty == "Group" { "Groups" } else { "Users" };
            if let Value::Object(fields) = m {
                fields.insert("$ref".to_owned(), Value::String(format!("{}/{path}/{id}", ctx.base)));
            }
        }
    }
    let mut meta = Map::new();
    meta.insert("resourceType".to_owned(), Value::String(kind.name().to_owned()));
    meta.insert("created".to_owned(), Value::String(millis_to_text(record.created_ms)));
    meta.insert("lastModified".to_owned(), Value::String(millis_to_text(record.modified_ms)));
    meta.insert("location".to_owned(), Value::String(location(ctx, kind, &record.id)));
    meta.insert("version".to_owned(), Value::String(record.version.clone()));
    out.insert("meta".to_owned(), Value::Object(meta));
    Value::Object(out)
}

pub fn location(ctx: &Ctx, kind: ScimKind, id: &str) -> String {
    format!("{}/{}/{id}", ctx.base, endpoint(kind))
}

/// Whether a read needs the group's members, given `attributes` / `excludedAttributes`.
pub fn wants_members(projection: &Projection) -> bool {
    let names = |list: &[tenure_scim::AttrPath]| list.iter().any(|p| p.name.eq_ignore_ascii_case("members"));
    if !projection.attributes.is_empty() {
        return names(&projection.attributes);
    }
    !projection.excluded.iter().any(|p| p.name.eq_ignore_ascii_case("members") && p.sub.is_none())
}

/// What the store keeps of a validated resource: no `id`, no `meta`, and never a password (Tenure
/// authenticates nobody with it, so it has no reason to hold one).
fn storable(mut resource: Value) -> Value {
    if let Value::Object(fields) = &mut resource {
        fields.retain(|k, _| {
            !(k.eq_ignore_ascii_case("id") || k.eq_ignore_ascii_case("meta") || k.eq_ignore_ascii_case("password"))
        });
    }
    resource
}

/// The body validated against the schema (off the runtime: a group body may list 100,000
/// members), as the store keeps it.
async fn validated(kind: ScimKind, body: &Value) -> Result<Value, ScimError> {
    let body = body.clone();
    off_runtime(move || Ok(storable(validate_resource(&body, view(kind))?))).await
}

fn version_of(id: &str, resource: &Value) -> String {
    let mut with_id = resource.clone();
    if let Value::Object(fields) = &mut with_id {
        fields.insert("id".to_owned(), Value::String(id.to_owned()));
    }
    etag(&with_id)
}

pub async fn get(ctx: &Ctx, kind: ScimKind, id: &str, with_members: bool) -> Result<ScimRecord, ScimError> {
    ctx.store
        .scim_get(ctx.tenant, kind, id, with_members)
        .await
        .map_err(store_error)?
        .ok_or_else(|| not_found(kind, id))
}

pub async fn create(ctx: &Ctx, kind: ScimKind, body: &Value) -> Result<ScimRecord, ScimError> {
    let resource = validated(kind, body).await?;
    let result = match kind {
        ScimKind::User => {
            let id = PersonId::new();
            let version = version_of(&id.to_string(), &resource);
            let person = tenure_sources::scim_push::person_from_user(&id.to_string(), &resource);
            let push = Push::new("POST", kind, &id.to_string());
            ctx.store.scim_create_user(ctx.tenant, id, &resource, &version, &person, &push.entry(ctx)).await
        }
        ScimKind::Group => {
            let id = GroupId::new();
            let version = version_of(&id.to_string(), &resource);
            let push = Push::new("POST", kind, &id.to_string());
            ctx.store.scim_create_group(ctx.tenant, id, &resource, &version, &push.entry(ctx)).await
        }
    };
    let record = result.map_err(store_error)?;
    tracing::info!(kind = kind.name(), id = %record.id, "SCIM resource created");
    Ok(record)
}

/// Writes `resource` over the stored one whose version is `expected` (`method`: the request's,
/// for the audit entry).
async fn write(
    ctx: &Ctx,
    method: &str,
    kind: ScimKind,
    id: &str,
    resource: &Value,
    expected: &str,
) -> Result<ScimWrite, ScimError> {
    let version = version_of(id, resource);
    let push = Push::new(method, kind, id);
    let result = match kind {
        ScimKind::User => {
            let person = tenure_sources::scim_push::person_from_user(id, resource);
            ctx.store.scim_update_user(ctx.tenant, id, resource, &version, expected, &person, &push.entry(ctx)).await
        }
        ScimKind::Group => {
            ctx.store.scim_update_group(ctx.tenant, id, resource, &version, expected, &push.entry(ctx)).await
        }
    };
    result.map_err(store_error)
}

/// PUT: replaces the resource (RFC 7644 §3.5.1); `immutable` attributes keep their value.
pub async fn replace(
    ctx: &Ctx,
    kind: ScimKind,
    id: &str,
    body: &Value,
    if_match: Option<&str>,
) -> Result<ScimRecord, ScimError> {
    let resource = validated(kind, body).await?;
    for _ in 0..WRITE_ATTEMPTS {
        let current = get(ctx, kind, id, true).await?;
        if if_match.is_some_and(|h| !etag_matches(h, &current.version)) {
            return Err(precondition_failed());
        }
        check_immutable(&current.resource, &resource, view(kind))?;
        match write(ctx, "PUT", kind, id, &resource, &current.version).await? {
            ScimWrite::Written(record) => return Ok(record),
            ScimWrite::NotFound => return Err(not_found(kind, id)),
            ScimWrite::Stale if if_match.is_some() => return Err(precondition_failed()),
            ScimWrite::Stale => continue,
        }
    }
    Err(ScimError::new(409, None, "the resource kept changing during the update; try again"))
}

/// PATCH (RFC 7644 §3.5.2): the operations apply to the stored resource atomically; a PATCH
/// that changes nothing keeps the version.
pub async fn patch(
    ctx: &Ctx,
    kind: ScimKind,
    id: &str,
    body: &Value,
    if_match: Option<&str>,
) -> Result<ScimRecord, ScimError> {
    // Counted before anything is copied or parsed: a request far beyond the cap costs nothing.
    let count = json::get_ci(body, "Operations").and_then(Value::as_array).map_or(0, Vec::len);
    if count > tenure_scim::patch::MAX_OPERATIONS {
        return Err(ScimError::bad_request(
            ScimType::TooMany,
            format!(
                "a PATCH request may hold at most {} operations (see /ServiceProviderConfig); this one holds {count}",
                tenure_scim::patch::MAX_OPERATIONS
            ),
        ));
    }
    let request: PatchOp = serde_json::from_value(body.clone())
        .map_err(|e| ScimError::bad_request(ScimType::InvalidSyntax, format!("not a PatchOp request: {e}")))?;
    let request = std::sync::Arc::new(request);
    for _ in 0..WRITE_ATTEMPTS {
        let current = get(ctx, kind, id, true).await?;
        if if_match.is_some_and(|h| !etag_matches(h, &current.version)) {
            return Err(precondition_failed());
        }
        let mut resource = current.resource.clone();
        if let Value::Object(fields) = &mut resource {
            fields.insert("id".to_owned(), Value::String(id.to_owned()));
        }
        let operations = request.clone();
        let (resource, outcome) = off_runtime(move || {
            let outcome = apply_patch(&mut resource, &operations.operations, view(kind))?;
            Ok((resource, outcome))
        })
        .await?;
        if !outcome.changed {
            return Ok(current);
        }
        let resource = storable(resource);
        if kind == ScimKind::User
            && json::get_ci(&resource, "userName").and_then(Value::as_str).is_none_or(str::is_empty)
        {
            return Err(ScimError::bad_request(ScimType::InvalidValue, "userName is required"));
        }
        match write(ctx, "PATCH", kind, id, &resource, &current.version).await? {
            ScimWrite::Written(record) => return Ok(record),
            ScimWrite::NotFound => return Err(not_found(kind, id)),
            ScimWrite::Stale if if_match.is_some() => return Err(precondition_failed()),
            ScimWrite::Stale => continue,
        }
    }
    Err(ScimError::new(409, None, "the resource kept changing during the update; try again"))
}

/// Runs CPU-bound request work (applying a PATCH, validating or rendering a large resource) on
/// the blocking pool, so one tenant's large request never holds a runtime worker that every other
/// request (and `/healthz`) needs.
pub async fn off_runtime<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ScimError> + Send + 'static,
) -> Result<T, ScimError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ScimError::new(500, None, format!("the request's work did not finish: {e}")))?
}

pub async fn delete(ctx: &Ctx, kind: ScimKind, id: &str, if_match: Option<&str>) -> Result<(), ScimError> {
    let expected = match if_match {
        Some(h) => {
            let current = get(ctx, kind, id, true).await?;
            if !etag_matches(h, &current.version) {
                return Err(precondition_failed());
            }
            Some(current.version)
        }
        None => None,
    };
    let push = Push::new("DELETE", kind, id);
    match ctx
        .store
        .scim_delete(ctx.tenant, kind, id, expected.as_deref(), &push.entry(ctx))
        .await
        .map_err(store_error)?
    {
        ScimWrite::Written(_) => {
            tracing::info!(kind = kind.name(), id, "SCIM resource deleted");
            Ok(())
        }
        ScimWrite::NotFound => Err(not_found(kind, id)),
        ScimWrite::Stale => Err(precondition_failed()),
    }
}
