//! Listing and searching (RFC 7644 §3.4.2, §3.4.3): `GET /Users?filter=…` and `POST /.search`
//! share one request shape. Filters run in the database; a filter the store cannot run is a 400
//! `invalidFilter`, never an empty page (an empty page makes an IdP create a duplicate).

use std::collections::HashMap;

use serde_json::Value;
use tenure_scim::filter::Filter;
use tenure_scim::list::paging;
use tenure_scim::path::AttrPath;
use tenure_scim::projection::Projection;
use tenure_scim::schema::AttrType;
use tenure_scim::{ListResponse, ScimError, ScimType, parse_filter};
use tenure_store::{ScimKind, ScimQuery};

use super::resources::{Ctx, render, view, wants_members};

/// The most resources one page holds (advertised as `filter.maxResults`).
pub const PAGE_CAP: u64 = 200;

/// A list or search request, from query parameters or a SearchRequest body.
#[derive(Debug, Default)]
pub struct Search {
    pub filter: Option<String>,
    pub sort_by: Option<String>,
    pub sort_order: Option<String>,
    pub start_index: Option<i64>,
    pub count: Option<i64>,
    pub attributes: Option<String>,
    pub excluded: Option<String>,
}

fn invalid_value(detail: String) -> ScimError {
    ScimError::bad_request(ScimType::InvalidValue, detail)
}

fn int_param(name: &str, raw: &str) -> Result<i64, ScimError> {
    raw.trim().parse().map_err(|_| invalid_value(format!("{name} must be an integer, not {raw:?}")))
}

impl Search {
    pub fn from_query(params: &HashMap<String, String>) -> Result<Self, ScimError> {
        let get = |name: &str| params.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
        Ok(Self {
            filter: get("filter"),
            sort_by: get("sortBy"),
            sort_order: get("sortOrder"),
            start_index: get("startIndex").map(|v| int_param("startIndex", &v)).transpose()?,
            count: get("count").map(|v| int_param("count", &v)).transpose()?,
            attributes: get("attributes"),
            excluded: get("excludedAttributes"),
        })
    }

    /// A SearchRequest body: `attributes` as a list or a comma-separated string, paging as
    /// integers or numeric strings.
    pub fn from_body(body: &Value) -> Result<Self, ScimError> {
        let Value::Object(fields) = body else {
            return Err(ScimError::bad_request(ScimType::InvalidSyntax, "a SearchRequest must be a JSON object"));
        };
        let get = |name: &str| fields.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v);
        let text = |name: &str| -> Result<Option<String>, ScimError> {
            match get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(Value::Array(items)) => {
                    let parts: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
                    parts
                        .map(|p| Some(p.join(",")))
                        .ok_or_else(|| invalid_value(format!("{name} must be a list of strings")))
                }
                Some(_) => Err(invalid_value(format!("{name} must be a string"))),
            }
        };
        let int = |name: &str| -> Result<Option<i64>, ScimError> {
            match get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Number(n)) => {
                    n.as_i64().map(Some).ok_or_else(|| invalid_value(format!("{name} must be an integer")))
                }
                Some(Value::String(s)) => int_param(name, s).map(Some),
                Some(_) => Err(invalid_value(format!("{name} must be an integer"))),
            }
        };
        Ok(Self {
            filter: text("filter")?,
            sort_by: text("sortBy")?,
            sort_order: text("sortOrder")?,
            start_index: int("startIndex")?,
            count: int("count")?,
            attributes: text("attributes")?,
            excluded: text("excludedAttributes")?,
        })
    }
}

/// Rejects comparisons the database cannot make sense of: a number or boolean against a string
/// attribute (PostgreSQL would refuse the types, SQLite would compare apples and pears).
fn check_types(filter: &Filter, kind: ScimKind, parent: Option<&AttrPath>) -> Result<(), ScimError> {
    match filter {
        Filter::And(a, b) | Filter::Or(a, b) => {
            check_types(a, kind, parent)?;
            check_types(b, kind, parent)
        }
        Filter::Not(a) => check_types(a, kind, parent),
        Filter::Present(_) => Ok(()),
        Filter::ValuePath { path, filter } => check_types(filter, kind, Some(path)),
        Filter::Compare { path, value, .. } => {
            let full = match parent {
                Some(p) => AttrPath { urn: p.urn.clone(), name: p.name.clone(), sub: Some(path.name.clone()) },
                None => path.clone(),
            };
            let Some(resolved) = view(kind).resolve(&full) else { return Ok(()) };
            let def = resolved.target();
            let def = if def.is_complex() { def.sub_attribute("value").unwrap_or(def) } else { def };
            let textual =
                matches!(def.ty, AttrType::String | AttrType::Reference | AttrType::Binary | AttrType::DateTime);
            if textual && (value.is_number() || value.is_boolean()) {
                return Err(ScimError::bad_request(
                    ScimType::InvalidFilter,
                    format!("{full} is a string attribute; compare it with a quoted string"),
                ));
            }
            Ok(())
        }
    }
}

/// A parsed filter, checked against the resource type.
pub fn parse(kind: ScimKind, text: &str) -> Result<Filter, ScimError> {
    let filter = parse_filter(text)?;
    filter.validate(view(kind))?;
    check_types(&filter, kind, None)?;
    Ok(filter)
}

fn sort(search: &Search) -> Result<(Option<AttrPath>, bool), ScimError> {
    let sort_by = match search.sort_by.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => Some(AttrPath::parse(s).map_err(|e| invalid_value(format!("sortBy: {e}")))?),
        None => None,
    };
    let descending = match search.sort_order.as_deref().map(str::trim) {
        None | Some("") => false,
        Some(o) if o.eq_ignore_ascii_case("ascending") => false,
        Some(o) if o.eq_ignore_ascii_case("descending") => true,
        Some(o) => return Err(invalid_value(format!("sortOrder must be ascending or descending, not {o:?}"))),
    };
    Ok((sort_by, descending))
}

/// Runs a search on one resource type and renders the ListResponse.
pub async fn list(ctx: &Ctx, kind: ScimKind, search: &Search) -> Result<Value, ScimError> {
    let projection = Projection::parse(search.attributes.as_deref(), search.excluded.as_deref(), view(kind))?;
    let filter = search.filter.as_deref().filter(|f| !f.trim().is_empty()).map(|f| parse(kind, f)).transpose()?;
    let (sort_by, descending) = sort(search)?;
    let (start_index, count) = paging(search.start_index, search.count, PAGE_CAP);
    let query = ScimQuery {
        filter: filter.as_ref(),
        sort_by: sort_by.as_ref(),
        descending,
        start_index,
        count,
        with_members: kind == ScimKind::Group && wants_members(&projection),
    };
    let page = ctx.store.scim_query(ctx.tenant, kind, &query).await.map_err(super::errors::store_error)?;
    // A page of large groups is a lot of JSON to build: off the runtime.
    let ctx = ctx.clone();
    super::resources::off_runtime(move || {
        let resources: Vec<Value> =
            page.records.iter().map(|r| projection.apply(&render(&ctx, kind, r), view(kind))).collect();
        serde_json::to_value(ListResponse::new(page.total, start_index, resources))
            .map_err(|e| ScimError::new(500, None, format!("cannot render the list: {e}")))
    })
    .await
}

/// `POST /.search` at the root: Users, then Groups, paged as one list. A filter naming an
/// attribute only one type has matches nothing of the other type.
pub async fn search_all(ctx: &Ctx, search: &Search) -> Result<Value, ScimError> {
    let (start_index, count) = paging(search.start_index, search.count, PAGE_CAP);
    let mut total = 0u64;
    let mut resources = Vec::new();
    let mut first_error = None;
    let mut answered = false;
    let mut skip = start_index - 1;
    for kind in [ScimKind::User, ScimKind::Group] {
        // How many of this type exist and match, then the part of the page that falls in them.
        let counted = Search {
            filter: search.filter.clone(),
            sort_by: search.sort_by.clone(),
            sort_order: search.sort_order.clone(),
            start_index: Some(1),
            count: Some(0),
            attributes: search.attributes.clone(),
            excluded: search.excluded.clone(),
        };
        let n = match list(ctx, kind, &counted).await {
            Ok(v) => v.get("totalResults").and_then(Value::as_u64).unwrap_or(0),
            Err(e) if e.scim_type == Some(ScimType::InvalidFilter) => {
                first_error.get_or_insert(e);
                continue;
            }
            Err(e) => return Err(e),
        };
        answered = true;
        total += n;
        let room = count.saturating_sub(resources.len() as u64);
        if skip >= n {
            skip -= n;
            continue;
        }
        if room > 0 {
            let part = Search {
                start_index: Some(i64::try_from(skip + 1).unwrap_or(i64::MAX)),
                count: Some(i64::try_from(room).unwrap_or(i64::MAX)),
                ..counted
            };
            let page = list(ctx, kind, &part).await?;
            if let Some(Value::Array(items)) = page.get("Resources") {
                resources.extend(items.iter().cloned());
            }
        }
        skip = 0;
    }
    if !answered && let Some(e) = first_error {
        return Err(e);
    }
    serde_json::to_value(ListResponse::new(total, start_index, resources))
        .map_err(|e| ScimError::new(500, None, format!("cannot render the list: {e}")))
}
