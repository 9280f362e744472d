//! Multi-row statements for imports. One statement per row costs a round trip (PostgreSQL) or a
//! VM start, a channel hop to sqlx's worker thread and a bind per row (SQLite); a 100,000-person
//! import then spends most of its time in that overhead. Rows are therefore sent many to a
//! statement (`VALUES (..), (..)`, `IN (..)`).
//!
//! The one place where the SQL text differs by backend is the placeholder: these statements are
//! written with `?` and numbered `$1, $2, ..` for PostgreSQL. SQLite gets the anonymous `?`,
//! because sqlx binds a numbered parameter by looking up its name, which SQLite finds by a linear
//! scan of the statement's parameters: quadratic in the statement's size, which made a
//! 100,000-person import take minutes with `$n` at 16,000 parameters a statement.

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, Transaction};

use crate::{Backend, StoreError};

/// Parameters per statement: below SQLite's limit (32,766 since 3.32) and PostgreSQL's (65,535),
/// and large enough that the per-statement overhead no longer shows.
const MAX_PARAMS: usize = 8_192;

/// One bound value.
pub(crate) enum Param<'a> {
    Str(Option<&'a str>),
    Owned(Option<String>),
    Int(i64),
    OptInt(Option<i64>),
}

impl Param<'_> {
    fn copy(&self) -> Param<'_> {
        match self {
            Self::Str(s) => Param::Str(*s),
            Self::Owned(s) => Param::Str(s.as_deref()),
            Self::Int(n) => Param::Int(*n),
            Self::OptInt(n) => Param::OptInt(*n),
        }
    }
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(s: &'a str) -> Self {
        Self::Str(Some(s))
    }
}

impl<'a> From<Option<&'a str>> for Param<'a> {
    fn from(s: Option<&'a str>) -> Self {
        Self::Str(s)
    }
}

impl From<String> for Param<'_> {
    fn from(s: String) -> Self {
        Self::Owned(Some(s))
    }
}

impl From<Option<String>> for Param<'_> {
    fn from(s: Option<String>) -> Self {
        Self::Owned(s)
    }
}

impl From<i64> for Param<'_> {
    fn from(n: i64) -> Self {
        Self::Int(n)
    }
}

fn bind<'q>(query: Query<'q, Any, AnyArguments>, param: Param<'q>) -> Query<'q, Any, AnyArguments> {
    match param {
        Param::Str(s) => query.bind(s),
        Param::Owned(s) => query.bind(s),
        Param::Int(n) => query.bind(n),
        Param::OptInt(n) => query.bind(n),
    }
}

/// The statement text for `backend`: `?` as written for SQLite, `$1, $2, ..` for PostgreSQL.
/// The statements here hold no string literal with a `?` in it.
fn for_backend(backend: Backend, sql: String) -> String {
    match backend {
        Backend::Sqlite => sql,
        Backend::Postgres => {
            let mut out = String::with_capacity(sql.len() + sql.len() / 2);
            let mut n = 0;
            for c in sql.chars() {
                if c == '?' {
                    n += 1;
                    out.push('$');
                    out.push_str(&n.to_string());
                } else {
                    out.push(c);
                }
            }
            out
        }
    }
}

async fn execute<'a>(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    sql: String,
    params: impl IntoIterator<Item = Param<'a>>,
) -> Result<(), StoreError> {
    let mut query = sqlx::query(sqlx::AssertSqlSafe(for_backend(backend, sql)));
    for p in params {
        query = bind(query, p);
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

/// Runs `{head}(?, ..), (?, ..){tail}` for every row: `fixed` binds the `?` in `head`, then
/// `row` pushes each item's `width` values. `head` ends where the rows begin (`... VALUES `, or
/// `... FROM (VALUES ` with `tail` closing it).
pub(crate) async fn insert<'a, T: 'a>(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    (head, tail): (&str, &str),
    fixed: &'a [Param<'a>],
    width: usize,
    items: impl IntoIterator<Item = &'a T>,
    row: impl Fn(&'a T, &mut Vec<Param<'a>>),
) -> Result<(), StoreError> {
    let per_statement = ((MAX_PARAMS - fixed.len()) / width).max(1);
    let mut items = items.into_iter().peekable();
    let mut one_row = String::from("(?");
    one_row.push_str(&",?".repeat(width - 1));
    one_row.push(')');
    while items.peek().is_some() {
        let mut params: Vec<Param<'a>> = Vec::with_capacity(fixed.len() + per_statement * width);
        params.extend(fixed.iter().map(|p| p.copy()));
        for item in items.by_ref().take(per_statement) {
            row(item, &mut params);
        }
        let rows = (params.len() - fixed.len()) / width;
        debug_assert_eq!(rows * width + fixed.len(), params.len(), "each row binds {width} values");
        let mut sql = String::with_capacity(head.len() + tail.len() + rows * (one_row.len() + 1));
        sql.push_str(head);
        for r in 0..rows {
            if r > 0 {
                sql.push(',');
            }
            sql.push_str(&one_row);
        }
        sql.push_str(tail);
        execute(tx, backend, sql, params).await?;
    }
    Ok(())
}

/// Runs `{head} IN (?, ..)` for chunks of `values`, after the `fixed` parameters of `head`.
pub(crate) async fn with_in_list<'a>(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    head: &str,
    fixed: &'a [Param<'a>],
    values: &'a [String],
) -> Result<(), StoreError> {
    for chunk in values.chunks(MAX_PARAMS - fixed.len()) {
        let mut sql = String::with_capacity(head.len() + chunk.len() * 2 + 8);
        sql.push_str(head);
        sql.push_str(" IN (?");
        sql.push_str(&",?".repeat(chunk.len() - 1));
        sql.push(')');
        let params = fixed.iter().map(|p| p.copy()).chain(chunk.iter().map(|v| Param::from(v.as_str())));
        execute(tx, backend, sql, params).await?;
    }
    Ok(())
}
