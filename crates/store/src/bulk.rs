//! Multi-row statements for imports. One statement per row costs a round trip (PostgreSQL) or a
//! VM start and a bind per row (SQLite); a 100,000-person import then spends most of its time in
//! that overhead. Rows are therefore sent many to a statement, in the dialect both backends
//! share (`VALUES (..), (..)`, `IN (..)`, `$n` parameters).

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, Transaction};

use crate::StoreError;

/// Parameters per statement: below SQLite's limit (32,766 since 3.32) and PostgreSQL's (65,535),
/// and large enough that the per-statement overhead no longer shows.
const MAX_PARAMS: usize = 16_000;

/// One bound value.
pub(crate) enum Param<'a> {
    Str(Option<&'a str>),
    Owned(Option<String>),
    Int(i64),
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
    }
}

/// `head VALUES ($1, .., $width), (..) tail` for every row, `row` pushing each item's `width`
/// parameters.
pub(crate) async fn insert<'a, T: 'a>(
    tx: &mut Transaction<'_, Any>,
    head: &str,
    tail: &str,
    width: usize,
    items: impl IntoIterator<Item = &'a T>,
    row: impl Fn(&'a T, &mut Vec<Param<'a>>),
) -> Result<(), StoreError> {
    let per_statement = (MAX_PARAMS / width).max(1);
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        let mut params = Vec::with_capacity(per_statement * width);
        for item in items.by_ref().take(per_statement) {
            row(item, &mut params);
        }
        debug_assert_eq!(params.len() % width, 0, "each row binds {width} values");
        let rows = params.len() / width;
        let mut sql = String::with_capacity(head.len() + tail.len() + rows * width * 6);
        sql.push_str(head);
        sql.push_str(" VALUES ");
        for r in 0..rows {
            if r > 0 {
                sql.push(',');
            }
            sql.push('(');
            for c in 0..width {
                if c > 0 {
                    sql.push(',');
                }
                sql.push('$');
                sql.push_str(&(r * width + c + 1).to_string());
            }
            sql.push(')');
        }
        sql.push(' ');
        sql.push_str(tail);
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for p in params {
            query = bind(query, p);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// `head IN ($k, ..)` for chunks of `values`, after the `fixed` leading parameters (`$1..$k-1`)
/// that every chunk binds again.
pub(crate) async fn with_in_list<'a>(
    tx: &mut Transaction<'_, Any>,
    head: &str,
    fixed: &[Param<'a>],
    values: &'a [String],
) -> Result<(), StoreError> {
    for chunk in values.chunks(MAX_PARAMS - fixed.len()) {
        let mut sql = String::with_capacity(head.len() + chunk.len() * 7 + 8);
        sql.push_str(head);
        sql.push_str(" IN (");
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push(',');
            }
            sql.push('$');
            sql.push_str(&(fixed.len() + i + 1).to_string());
        }
        sql.push(')');
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for p in fixed {
            query = bind(
                query,
                match p {
                    Param::Str(s) => Param::Str(*s),
                    Param::Owned(s) => Param::Owned(s.clone()),
                    Param::Int(n) => Param::Int(*n),
                },
            );
        }
        for v in chunk {
            query = query.bind(v.as_str());
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}
