//! How SCIM attributes map onto the store's tables, and filters lowered to SQL through that map.

use super::*;

/// Where user attributes live, for the filter lowering. The enterprise extension's attributes
/// have no columns: they are read from the stored resource's JSON, which needs the backend's
/// JSON syntax.
pub struct UserLayout {
    pub(super) backend: Backend,
}

impl UserLayout {
    /// The enterprise extension attribute (`employeeNumber`, `manager.value`, ...) read from the
    /// stored resource. Without an index, such a filter scans the tenant's users: IdPs filter on
    /// it only when an admin makes it a matching attribute.
    fn enterprise(&self, path: &AttrPath) -> Option<Mapped> {
        let name = path.name.as_str();
        let known = ["employeeNumber", "costCenter", "organization", "division", "department", "manager"];
        let name = known.iter().find(|k| k.eq_ignore_ascii_case(name))?;
        let sub = match (*name, path.sub.as_deref()) {
            ("manager", None) => Some("value"),
            ("manager", Some(s)) if s.eq_ignore_ascii_case("value") => Some("value"),
            ("manager", Some(s)) if s.eq_ignore_ascii_case("displayName") => Some("displayName"),
            (_, None) => None,
            _ => return None,
        };
        let urn = schemas::ENTERPRISE_USER;
        let expr = match (self.backend, sub) {
            (Backend::Sqlite, None) => format!("json_extract(r.resource, '$.\"{urn}\".{name}')"),
            (Backend::Sqlite, Some(sub)) => format!("json_extract(r.resource, '$.\"{urn}\".{name}.{sub}')"),
            (Backend::Postgres, None) => format!("(r.resource::jsonb -> '{urn}' ->> '{name}')"),
            (Backend::Postgres, Some(sub)) => format!("(r.resource::jsonb -> '{urn}' -> '{name}' ->> '{sub}')"),
        };
        Some(Mapped::Column(Column::new(expr)))
    }
}

/// Where group attributes live, for the filter lowering.
pub struct GroupLayout;

pub(super) fn lower_names(path: &AttrPath, core_urn: &str) -> Option<(String, Option<String>)> {
    if path.urn.as_deref().is_some_and(|u| !u.eq_ignore_ascii_case(core_urn)) {
        return None;
    }
    Some((path.name.to_ascii_lowercase(), path.sub.as_deref().map(str::to_ascii_lowercase)))
}

/// `id`, `externalId` and `meta.*` exist on both resource types.
pub(super) fn common(name: &str, sub: Option<&str>) -> Option<Mapped> {
    let column = match (name, sub) {
        ("id", None) => Column::new("r.id"),
        ("externalid", None) => Column::new("r.external_id"),
        ("meta", Some("created")) => Column::new("r.created_ms"),
        ("meta", Some("lastmodified")) => Column::new("r.modified_ms"),
        _ => return None,
    };
    Some(Mapped::Column(column))
}

pub(super) const EMAILS_CORRELATION: &str = "e.user_id = r.id";
pub(super) const MEMBERS_CORRELATION: &str = "m.group_id = r.id";

impl SqlMapping for UserLayout {
    fn map(&self, path: &AttrPath) -> Option<Mapped> {
        if path.urn.as_deref().is_some_and(|u| u.eq_ignore_ascii_case(schemas::ENTERPRISE_USER)) {
            return self.enterprise(path);
        }
        let (name, sub) = lower_names(path, schemas::USER)?;
        let emails = |column: Column| Mapped::Multi {
            table: SideTable {
                table: "scim_user_emails".to_owned(),
                alias: "e".to_owned(),
                correlation: EMAILS_CORRELATION.to_owned(),
            },
            column,
        };
        Some(match (name.as_str(), sub.as_deref()) {
            ("username", None) => Mapped::Column(Column::lowercased("r.user_name_lc")),
            ("displayname", None) => Mapped::Column(Column::new("r.display_name")),
            ("active", None) => Mapped::Column(Column::new("r.active")),
            ("emails", None | Some("value")) => emails(Column::lowercased("e.value_lc")),
            ("emails", Some("type")) => emails(Column::new("e.kind")),
            ("emails", Some("primary")) => emails(Column::new("e.is_primary")),
            (name, sub) => return common(name, sub),
        })
    }
}

impl SqlMapping for GroupLayout {
    fn map(&self, path: &AttrPath) -> Option<Mapped> {
        let (name, sub) = lower_names(path, schemas::GROUP)?;
        let members = |column: Column| Mapped::Multi {
            table: SideTable {
                table: "scim_members".to_owned(),
                alias: "m".to_owned(),
                correlation: MEMBERS_CORRELATION.to_owned(),
            },
            column,
        };
        Some(match (name.as_str(), sub.as_deref()) {
            ("displayname", None) => Mapped::Column(Column::lowercased("r.display_name_lc")),
            ("members", None | Some("value")) => members(Column::new("m.member_id")),
            ("members", Some("type")) => members(Column::new("m.member_type")),
            ("members", Some("display")) => members(Column::new("m.display")),
            (name, sub) => return common(name, sub),
        })
    }
}

/// A bound value, as the columns hold it: booleans are 0/1, timestamps epoch milliseconds.
pub(super) enum Bind {
    Text(String),
    Int(i64),
    Real(f64),
}

pub(super) fn bind_of(param: SqlParam) -> Bind {
    match param {
        SqlParam::Text(s) => Bind::Text(s),
        SqlParam::Integer(i) => Bind::Int(i),
        SqlParam::Real(r) => Bind::Real(r),
        SqlParam::Bool(b) => Bind::Int(i64::from(b)),
        SqlParam::Timestamp(t) => Bind::Int(t.unix_millis()),
    }
}

pub(super) type AnyQuery<'q> = sqlx::query::Query<'q, Any, sqlx::any::AnyArguments>;

pub(super) fn bind_all<'q>(mut query: AnyQuery<'q>, binds: &'q [Bind]) -> AnyQuery<'q> {
    for b in binds {
        query = match b {
            Bind::Text(s) => query.bind(s.as_str()),
            Bind::Int(i) => query.bind(*i),
            Bind::Real(r) => query.bind(*r),
        };
    }
    query
}

/// Lowers `filter` for `kind` into a condition whose parameters start at `$first`.
pub(super) fn lower(
    kind: ScimKind,
    filter: &Filter,
    first: usize,
    backend: Backend,
) -> Result<(String, Vec<Bind>), StoreError> {
    let registry = Registry::standard();
    let view =
        registry.resource_type(kind.name()).ok_or_else(|| StoreError::corrupt(format!("no {} schema", kind.name())))?;
    let mapping: &dyn SqlMapping = match kind {
        ScimKind::User => &UserLayout { backend },
        ScimKind::Group => &GroupLayout,
    };
    // Lowered for the backend's semantics (SQLite's LIKE ignores case, so case-exact substring
    // matches need another form there), then numbered `$n` as every statement of the store is.
    let dialect = match backend {
        Backend::Sqlite => Dialect::Sqlite,
        Backend::Postgres => Dialect::Postgres,
    };
    let lowered = SqlLowering::new(mapping, dialect)
        .with_schema(view)
        .first_param(first)
        .lower(filter)
        .map_err(|e| StoreError::InvalidFilter(e.to_string()))?;
    let mut sql = if dialect == Dialect::Sqlite { number_placeholders(&lowered.sql, first) } else { lowered.sql };
    // `EXISTS (SELECT 1 FROM side WHERE corr AND …)` is re-shaped as `r.id IN (SELECT …)`: SQLite
    // runs a correlated EXISTS once per resource row (a full scan of the tenant), while the IN
    // form seeks the side table's index and then the resources by id. The text replaced is the
    // mapping's own (filter values are parameters), so nothing from the request is rewritten.
    for (table, alias, key, correlation) in [
        ("scim_user_emails", "e", "user_id", EMAILS_CORRELATION),
        ("scim_members", "m", "group_id", MEMBERS_CORRELATION),
    ] {
        sql = sql.replace(
            &format!("EXISTS (SELECT 1 FROM {table} {alias} WHERE {correlation} AND "),
            &format!("r.id IN (SELECT {alias}.{key} FROM {table} {alias} WHERE "),
        );
    }
    Ok((sql, lowered.params.into_iter().map(bind_of).collect()))
}

/// Replaces each `?` of lowered SQL by `$first`, `$first+1`, …. The lowered text holds only the
/// mapping's expressions and keywords, never a value, so every `?` in it is a placeholder.
pub(super) fn number_placeholders(sql: &str, first: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = first;
    for c in sql.chars() {
        if c == '?' {
            out.push('$');
            out.push_str(&n.to_string());
            n += 1;
        } else {
            out.push(c);
        }
    }
    out
}

/// The column `sortBy` orders by; only single-valued attributes held in columns can.
pub(super) fn sort_column(kind: ScimKind, path: &AttrPath, backend: Backend) -> Result<String, StoreError> {
    let mapped = match kind {
        ScimKind::User => UserLayout { backend }.map(path),
        ScimKind::Group => GroupLayout.map(path),
    };
    match mapped {
        Some(Mapped::Column(c)) => Ok(c.expr),
        _ => Err(StoreError::InvalidSort(format!("cannot sort by {path}"))),
    }
}

pub(super) const RECORD_COLUMNS: &str = "r.id, r.resource, r.version, r.created_ms, r.modified_ms";

pub(super) fn record_from_row(row: &AnyRow) -> Result<ScimRecord, StoreError> {
    Ok(ScimRecord {
        id: text(row, "id")?,
        resource: json(row, "resource")?,
        version: text(row, "version")?,
        created_ms: int(row, "created_ms")?,
        modified_ms: int(row, "modified_ms")?,
    })
}
