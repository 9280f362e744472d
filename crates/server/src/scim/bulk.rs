//! `/Bulk` (RFC 7644 §3.7): operations run one by one through the same code as the single-resource
//! endpoints. `bulkId:x` references (in a path or anywhere in `data`) resolve to the id the
//! operation with that `bulkId` created; an operation whose reference is not resolved yet waits
//! for a later pass, so operations may come in any order. `failOnErrors` stops after that many
//! errors. Each operation commits on its own, as the RFC allows.

use std::collections::HashMap;

use serde_json::{Map, Value, json};
use tenure_scim::{ScimError, ScimType};
use tenure_store::ScimKind;

use super::resources::{self, Ctx, endpoint, location};

pub const MAX_OPERATIONS: usize = 1000;
pub const MAX_PAYLOAD: usize = 1_048_576;
const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

struct Operation {
    method: String,
    bulk_id: Option<String>,
    path: String,
    data: Option<Value>,
    version: Option<String>,
}

fn invalid(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request(ScimType::InvalidSyntax, detail)
}

fn parse(body: &Value) -> Result<(Vec<Operation>, Option<u64>), ScimError> {
    let Value::Object(fields) = body else { return Err(invalid("a BulkRequest must be a JSON object")) };
    let get = |name: &str| fields.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v);
    let fail_on_errors = match get("failOnErrors") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        Some(_) => return Err(invalid("failOnErrors must be an integer")),
    };
    let Some(Value::Array(items)) = get("Operations") else { return Err(invalid("Operations must be a list")) };
    if items.len() > MAX_OPERATIONS {
        return Err(ScimError::new(413, None, format!("at most {MAX_OPERATIONS} operations per bulk request")));
    }
    let mut ops = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let text = |name: &str| item.get(name).and_then(Value::as_str).map(str::to_owned);
        let method = text("method").ok_or_else(|| invalid(format!("operation {}: method is required", i + 1)))?;
        let path = text("path").ok_or_else(|| invalid(format!("operation {}: path is required", i + 1)))?;
        ops.push(Operation {
            method,
            bulk_id: text("bulkId"),
            path,
            data: item.get("data").cloned(),
            version: text("version"),
        });
    }
    Ok((ops, fail_on_errors))
}

/// The `bulkId:x` references a value holds.
fn references(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => {
            if let Some(id) = s.strip_prefix("bulkId:") {
                out.push(id.to_owned());
            }
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, out)),
        Value::Object(fields) => fields.values().for_each(|v| references(v, out)),
        _ => {}
    }
}

fn resolve(value: &Value, ids: &HashMap<String, String>) -> Value {
    match value {
        Value::String(s) => match s.strip_prefix("bulkId:").and_then(|b| ids.get(b)) {
            Some(id) => Value::String(id.clone()),
            None => value.clone(),
        },
        Value::Array(items) => Value::Array(items.iter().map(|v| resolve(v, ids)).collect()),
        Value::Object(fields) => {
            Value::Object(fields.iter().map(|(k, v)| (k.clone(), resolve(v, ids))).collect::<Map<_, _>>())
        }
        other => other.clone(),
    }
}

/// Every `bulkId` an operation refers to (in its path or its data).
fn referenced(op: &Operation) -> Vec<String> {
    let mut refs = Vec::new();
    references(&Value::String(op.path.rsplit('/').next().unwrap_or_default().to_owned()), &mut refs);
    if let Some(data) = &op.data {
        references(data, &mut refs);
    }
    refs.sort();
    refs.dedup();
    refs
}

/// `/Users`, `/Groups/abc` → the resource type and the id, if any.
fn target(path: &str) -> Result<(ScimKind, Option<&str>), ScimError> {
    let trimmed = path.trim().trim_start_matches('/');
    let (head, id) = match trimmed.split_once('/') {
        Some((h, id)) => (h, Some(id).filter(|s| !s.is_empty())),
        None => (trimmed, None),
    };
    let kind = if head.eq_ignore_ascii_case("Users") {
        ScimKind::User
    } else if head.eq_ignore_ascii_case("Groups") {
        ScimKind::Group
    } else {
        return Err(ScimError::bad_request(ScimType::InvalidPath, format!("unknown bulk path {path:?}")));
    };
    Ok((kind, id))
}

/// The result of one operation: status, and the location and version of what it wrote.
async fn run(
    ctx: &Ctx,
    op: &Operation,
    ids: &HashMap<String, String>,
) -> Result<(u16, Option<(ScimKind, String, String)>), ScimError> {
    let path = match resolve(&Value::String(op.path.clone()), ids) {
        Value::String(p) => p,
        _ => op.path.clone(),
    };
    let path = match path.rsplit_once('/') {
        Some((head, last)) => match last.strip_prefix("bulkId:").and_then(|b| ids.get(b)) {
            Some(id) => format!("{head}/{id}"),
            None => path.clone(),
        },
        None => path,
    };
    let data = op.data.as_ref().map(|d| resolve(d, ids));
    let (kind, id) = target(&path)?;
    let need_data = || data.as_ref().ok_or_else(|| invalid(format!("{} {path}: data is required", op.method)));
    let need_id = || id.ok_or_else(|| invalid(format!("{} needs a path with an id", op.method)));
    let if_match = op.version.as_deref();
    match op.method.to_ascii_uppercase().as_str() {
        "POST" => {
            if id.is_some() {
                return Err(invalid("POST goes to /Users or /Groups"));
            }
            let record = resources::create(ctx, kind, need_data()?).await?;
            Ok((201, Some((kind, record.id, record.version))))
        }
        "PUT" => {
            let record = resources::replace(ctx, kind, need_id()?, need_data()?, if_match).await?;
            Ok((200, Some((kind, record.id, record.version))))
        }
        "PATCH" => {
            let record = resources::patch(ctx, kind, need_id()?, need_data()?, if_match).await?;
            Ok((200, Some((kind, record.id, record.version))))
        }
        "DELETE" => {
            resources::delete(ctx, kind, need_id()?, if_match).await?;
            Ok((204, None))
        }
        other => Err(ScimError::new(405, None, format!("method {other} is not supported in a bulk request"))),
    }
}

/// Runs a BulkRequest whose size was already checked; returns the BulkResponse.
pub async fn bulk(ctx: &Ctx, body: &Value) -> Result<Value, ScimError> {
    let (ops, fail_on_errors) = parse(body)?;
    let mut ids: HashMap<String, String> = HashMap::new();
    let mut results: Vec<Option<Value>> = vec![None; ops.len()];
    let mut errors = 0u64;
    let mut pending: Vec<usize> = (0..ops.len()).collect();
    // Each operation's references, found once: a request whose operations come in reverse order
    // of their references takes a pass per operation, and scanning every operation's data on
    // every pass would make a 1 MB request cost a gigabyte of JSON walking.
    let refs: Vec<Vec<String>> = ops.iter().map(referenced).collect();
    'passes: loop {
        let mut progressed = false;
        let mut waiting = Vec::new();
        for &i in &pending {
            let op = &ops[i];
            if !refs[i].iter().all(|r| ids.contains_key(r)) {
                waiting.push(i);
                continue;
            }
            progressed = true;
            let mut out = Map::new();
            out.insert("method".to_owned(), json!(op.method));
            if let Some(b) = &op.bulk_id {
                out.insert("bulkId".to_owned(), json!(b));
            }
            match run(ctx, op, &ids).await {
                Ok((status, written)) => {
                    if let Some((kind, id, version)) = written {
                        out.insert("location".to_owned(), json!(location(ctx, kind, &id)));
                        out.insert("version".to_owned(), json!(version));
                        if let Some(b) = &op.bulk_id {
                            ids.insert(b.clone(), id);
                        }
                    } else if let Ok((kind, Some(id))) = target(&op.path) {
                        out.insert("location".to_owned(), json!(format!("{}/{}/{id}", ctx.base, endpoint(kind))));
                    }
                    out.insert("status".to_owned(), json!(status.to_string()));
                }
                Err(e) => {
                    errors += 1;
                    out.insert("status".to_owned(), json!(e.status.to_string()));
                    out.insert("response".to_owned(), serde_json::to_value(&e).unwrap_or(Value::Null));
                }
            }
            results[i] = Some(Value::Object(out));
            if fail_on_errors.is_some_and(|limit| limit > 0 && errors >= limit) {
                break 'passes;
            }
        }
        pending = waiting;
        if pending.is_empty() || !progressed {
            break;
        }
    }
    // What is still waiting refers to a bulkId no operation created.
    for i in pending {
        if results[i].is_some() || fail_on_errors.is_some_and(|limit| limit > 0 && errors >= limit) {
            continue;
        }
        let op = &ops[i];
        let missing = refs[i].iter().filter(|r| !ids.contains_key(*r)).cloned().collect::<Vec<_>>().join(", ");
        let e = ScimError::bad_request(ScimType::InvalidValue, format!("unresolved bulkId reference(s): {missing}"));
        let mut out = Map::new();
        out.insert("method".to_owned(), json!(op.method));
        if let Some(b) = &op.bulk_id {
            out.insert("bulkId".to_owned(), json!(b));
        }
        out.insert("status".to_owned(), json!("400"));
        out.insert("response".to_owned(), serde_json::to_value(&e).unwrap_or(Value::Null));
        results[i] = Some(Value::Object(out));
    }
    let operations: Vec<Value> = results.into_iter().flatten().collect();
    Ok(json!({"schemas": [BULK_RESPONSE], "Operations": operations}))
}
