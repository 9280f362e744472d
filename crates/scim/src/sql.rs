//! Lowers a filter to a parameterised SQL condition for a store's `WHERE` clause. The store keeps
//! its own layout: it implements [`SqlMapping`] to say where each attribute lives, a column of the
//! resource row or a column of a side table for multi-valued attributes (lowered as `EXISTS`).
//! Values only ever travel as parameters; the SQL text holds the mapping's expressions and fixed
//! keywords, nothing from the filter.
//!
//! Absent and null are the same state in SCIM (RFC 7643 §2.5), so comparisons are written to
//! never yield SQL NULL: `not (title eq "x")` matches a user without a title, as the in-memory
//! evaluator does.

use std::fmt::Write;

use serde_json::Value;

use crate::datetime::Timestamp;
use crate::filter::{CompareOp, Filter};
use crate::json::parse_bool;
use crate::path::AttrPath;
use crate::schema::{AttrType, AttributeDef, ResourceView};
use crate::{ScimError, ScimType};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `?` placeholders.
    Sqlite,
    /// `$1, $2, ...` placeholders.
    Postgres,
}

/// A bound value. Timestamps stay typed so the store binds them the way its column holds them
/// (text, epoch milliseconds, `timestamptz`).
#[derive(Debug, Clone, PartialEq)]
pub enum SqlParam {
    Text(String),
    Integer(i64),
    Real(f64),
    Bool(bool),
    Timestamp(Timestamp),
}

/// A condition and its parameters, in placeholder order.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlFilter {
    pub sql: String,
    pub params: Vec<SqlParam>,
}

/// A SQL expression holding an attribute's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub expr: String,
    /// The store keeps this column lowercased (for a case-insensitive attribute), so comparisons
    /// lowercase only the parameter and an index on the column still serves them.
    pub lowercased: bool,
}

impl Column {
    pub fn new(expr: impl Into<String>) -> Self {
        Self { expr: expr.into(), lowercased: false }
    }

    pub fn lowercased(expr: impl Into<String>) -> Self {
        Self { expr: expr.into(), lowercased: true }
    }
}

/// A side table holding one row per value of a multi-valued attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SideTable {
    /// `user_emails` (or any `FROM` item).
    pub table: String,
    /// The alias the side table's column expressions use, e.g. `e`.
    pub alias: String,
    /// Ties a side row to the outer resource row, e.g. `e.resource_id = r.id`.
    pub correlation: String,
}

/// Where an attribute path lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mapped {
    Column(Column),
    /// A column of a side table: `emails.value` → `e.value` in `user_emails e`. For the bare
    /// attribute (`emails`), the column is the one `emails eq "x"` compares (its `value`).
    Multi {
        table: SideTable,
        column: Column,
    },
}

/// The store's layout. Paths arrive as the filter names them relative to the resource
/// (`userName`, `name.givenName`, `emails.type` for `emails[type ...]`, URN-qualified extension
/// paths); `None` means "cannot be filtered in SQL".
pub trait SqlMapping {
    fn map(&self, path: &AttrPath) -> Option<Mapped>;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SqlError {
    /// The mapping has no place for this attribute: answer `400 invalidFilter`, or filter in memory.
    #[error("attribute {path} cannot be used in a filter here")]
    Unmapped { path: String },
    #[error("{0}")]
    Unsupported(String),
}

impl From<SqlError> for ScimError {
    fn from(e: SqlError) -> Self {
        ScimError::bad_request(ScimType::InvalidFilter, e.to_string())
    }
}

/// Lowering settings: dialect, the schema (for `caseExact` and types) and where numbering starts.
pub struct SqlLowering<'a> {
    mapping: &'a dyn SqlMapping,
    dialect: Dialect,
    view: Option<ResourceView<'a>>,
    first_param: usize,
}

impl<'a> SqlLowering<'a> {
    pub fn new(mapping: &'a dyn SqlMapping, dialect: Dialect) -> Self {
        Self { mapping, dialect, view: None, first_param: 1 }
    }

    /// Attribute characteristics from the schema; without it, strings compare case-insensitively.
    pub fn with_schema(mut self, view: ResourceView<'a>) -> Self {
        self.view = Some(view);
        self
    }

    /// The number of the first `$n` placeholder (PostgreSQL), when the statement already has
    /// parameters before the filter (a tenant id, say).
    pub fn first_param(mut self, n: usize) -> Self {
        self.first_param = n.max(1);
        self
    }

    pub fn lower(&self, filter: &Filter) -> Result<SqlFilter, SqlError> {
        let mut out = Out { sql: String::new(), params: Vec::new(), lowering: self };
        out.filter(filter, None)?;
        Ok(SqlFilter { sql: out.sql, params: out.params })
    }

    fn def(&self, path: &AttrPath) -> Option<&'a AttributeDef> {
        let view = self.view?;
        let resolved = view.resolve(path)?;
        let def = resolved.target();
        // `emails eq "x"` compares the value sub-attribute.
        Some(if def.is_complex() { def.sub_attribute("value").unwrap_or(def) } else { def })
    }
}

/// Shorthand: lower with a schema, numbering from `$1`.
pub fn lower_filter(
    filter: &Filter,
    mapping: &dyn SqlMapping,
    view: ResourceView<'_>,
    dialect: Dialect,
) -> Result<SqlFilter, SqlError> {
    SqlLowering::new(mapping, dialect).with_schema(view).lower(filter)
}

struct Out<'l, 'a> {
    sql: String,
    params: Vec<SqlParam>,
    lowering: &'l SqlLowering<'a>,
}

/// Escapes LIKE wildcards with `\`, which every pattern declares with `ESCAPE '\'`.
pub fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl Out<'_, '_> {
    fn placeholder(&mut self, param: SqlParam) -> String {
        self.params.push(param);
        match self.lowering.dialect {
            Dialect::Sqlite => "?".to_owned(),
            Dialect::Postgres => format!("${}", self.lowering.first_param + self.params.len() - 1),
        }
    }

    /// `inside`: the side table of the enclosing value path, whose columns are used bare.
    fn filter(&mut self, filter: &Filter, inside: Option<(&AttrPath, &SideTable)>) -> Result<(), SqlError> {
        match filter {
            Filter::And(..) | Filter::Or(..) => {
                // A chain of one operator (`a or b or c ...`, a left-deep tree from the parser)
                // is written as a balanced tree: SQLite refuses expressions deeper than 1,000,
                // and a filter of 1,000 terms must not become a 500.
                let and = matches!(filter, Filter::And(..));
                let mut terms = Vec::new();
                chain(filter, and, &mut terms);
                self.balanced(&terms, if and { " AND " } else { " OR " }, inside)?;
            }
            Filter::Not(a) => {
                self.sql.push_str("NOT (");
                self.filter(a, inside)?;
                self.sql.push(')');
            }
            Filter::Present(path) => self.test(path, inside, None)?,
            Filter::Compare { path, op, value } => self.test(path, inside, Some((*op, value)))?,
            Filter::ValuePath { path, filter } => {
                if inside.is_some() {
                    return Err(SqlError::Unsupported("value filters cannot nest".to_owned()));
                }
                match self.lowering.mapping.map(&path.parent()) {
                    Some(Mapped::Multi { table, .. }) => {
                        let _ = write!(
                            self.sql,
                            "EXISTS (SELECT 1 FROM {} {} WHERE {} AND ",
                            table.table, table.alias, table.correlation
                        );
                        self.filter(filter, Some((path, &table)))?;
                        self.sql.push(')');
                    }
                    // A single-valued complex attribute stored in columns: `name[givenName eq "x"]`.
                    Some(Mapped::Column(_)) | None => {
                        let scoped = ScopedPaths { parent: path };
                        let rewritten = scoped.rewrite(filter)?;
                        self.filter(&rewritten, None)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn balanced(
        &mut self,
        terms: &[&Filter],
        word: &str,
        inside: Option<(&AttrPath, &SideTable)>,
    ) -> Result<(), SqlError> {
        match terms {
            [] => Ok(()),
            [one] => self.filter(one, inside),
            _ => {
                let (left, right) = terms.split_at(terms.len() / 2);
                self.sql.push('(');
                self.balanced(left, word, inside)?;
                self.sql.push_str(word);
                self.balanced(right, word, inside)?;
                self.sql.push(')');
                Ok(())
            }
        }
    }

    /// `pr` (no operator) or a comparison on one path.
    fn test(
        &mut self,
        path: &AttrPath,
        inside: Option<(&AttrPath, &SideTable)>,
        cmp: Option<(CompareOp, &Value)>,
    ) -> Result<(), SqlError> {
        let full = match inside {
            Some((parent, _)) => {
                if path.urn.is_some() || path.sub.is_some() {
                    return Err(SqlError::Unsupported(format!("{path}: inside a value filter name a sub-attribute")));
                }
                AttrPath { urn: parent.urn.clone(), name: parent.name.clone(), sub: Some(path.name.clone()) }
            }
            None => path.clone(),
        };
        let def = self.lowering.def(&full);
        let mapped = self.lowering.mapping.map(&full).ok_or_else(|| SqlError::Unmapped { path: full.to_string() })?;
        match (mapped, inside) {
            (Mapped::Column(column), _) => self.condition(&column, def, cmp, &full),
            (Mapped::Multi { table, column }, Some((_, outer))) if table == *outer => {
                self.condition(&column, def, cmp, &full)
            }
            (Mapped::Multi { .. }, Some(_)) => {
                Err(SqlError::Unsupported(format!("{full} lives in another table than its value filter")))
            }
            (Mapped::Multi { table, column }, None) => {
                let exists = |this: &mut Self, f: &mut dyn FnMut(&mut Self) -> Result<(), SqlError>| {
                    let _ = write!(
                        this.sql,
                        "EXISTS (SELECT 1 FROM {} {} WHERE {} AND ",
                        table.table, table.alias, table.correlation
                    );
                    f(this)?;
                    this.sql.push(')');
                    Ok::<(), SqlError>(())
                };
                match cmp {
                    // "Some value differs", or no value at all (absent counts as "not x").
                    Some((CompareOp::Ne, value)) if !value.is_null() => {
                        self.sql.push_str("(NOT ");
                        exists(self, &mut |this| this.present(&column, def))?;
                        self.sql.push_str(" OR ");
                        exists(self, &mut |this| this.condition(&column, def, cmp, &full))?;
                        self.sql.push(')');
                        Ok(())
                    }
                    Some((CompareOp::Eq, Value::Null)) => {
                        self.sql.push_str("NOT ");
                        exists(self, &mut |this| this.present(&column, def))
                    }
                    Some((CompareOp::Ne, Value::Null)) | None => exists(self, &mut |this| this.present(&column, def)),
                    Some(_) => exists(self, &mut |this| this.condition(&column, def, cmp, &full)),
                }
            }
        }
    }

    fn is_text(def: Option<&AttributeDef>) -> bool {
        def.is_some_and(|d| matches!(d.ty, AttrType::String | AttrType::Reference | AttrType::Binary))
    }

    fn present(&mut self, column: &Column, def: Option<&AttributeDef>) -> Result<(), SqlError> {
        if Self::is_text(def) {
            let _ = write!(self.sql, "({0} IS NOT NULL AND {0} <> '')", column.expr);
        } else {
            let _ = write!(self.sql, "{} IS NOT NULL", column.expr);
        }
        Ok(())
    }

    fn condition(
        &mut self,
        column: &Column,
        def: Option<&AttributeDef>,
        cmp: Option<(CompareOp, &Value)>,
        path: &AttrPath,
    ) -> Result<(), SqlError> {
        let Some((op, value)) = cmp else { return self.present(column, def) };
        let expr = &column.expr;
        match (op, value) {
            (CompareOp::Eq, Value::Null) => {
                let _ = write!(self.sql, "{expr} IS NULL");
                return Ok(());
            }
            (CompareOp::Ne, Value::Null) => {
                let _ = write!(self.sql, "{expr} IS NOT NULL");
                return Ok(());
            }
            (_, Value::Null) => {
                return Err(SqlError::Unsupported(format!(
                    "{path} {}: null only compares with eq and ne",
                    op.as_str()
                )));
            }
            _ => {}
        }
        let ty = def.map(|d| d.ty);
        let unsupported = |why: &str| SqlError::Unsupported(format!("{path} {}: {why}", op.as_str()));
        let (param, text) = match (ty, value) {
            (Some(AttrType::Boolean), v) => match v {
                Value::Bool(b) => (SqlParam::Bool(*b), false),
                Value::String(s) => {
                    (SqlParam::Bool(parse_bool(s).ok_or_else(|| unsupported("expected true or false"))?), false)
                }
                _ => return Err(unsupported("expected true or false")),
            },
            (Some(AttrType::DateTime), Value::String(s)) if !op.is_substring() => {
                (SqlParam::Timestamp(Timestamp::parse(s).ok_or_else(|| unsupported("expected a dateTime"))?), false)
            }
            (_, Value::String(s)) => (SqlParam::Text(s.clone()), true),
            (_, Value::Number(n)) => match n.as_i64() {
                Some(i) => (SqlParam::Integer(i), false),
                None => (SqlParam::Real(n.as_f64().unwrap_or(0.0)), false),
            },
            (_, Value::Bool(b)) => (SqlParam::Bool(*b), false),
            _ => return Err(unsupported("values are strings, numbers, booleans or null")),
        };
        if matches!(param, SqlParam::Bool(_)) && op != CompareOp::Eq && op != CompareOp::Ne {
            return Err(unsupported("booleans compare with eq and ne only"));
        }
        if op.is_substring() && !text {
            return Err(unsupported("co, sw and ew apply to strings"));
        }
        let case_exact = def.is_some_and(|d| d.case_exact || d.ty == AttrType::Binary);
        let (lhs, param) = match param {
            SqlParam::Text(s) if !case_exact => {
                let lhs = if column.lowercased { expr.clone() } else { format!("LOWER({expr})") };
                (lhs, SqlParam::Text(s.to_lowercase()))
            }
            other => (expr.clone(), other),
        };
        let sql_op = match op {
            CompareOp::Eq => "=",
            CompareOp::Ne => "<>",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Co | CompareOp::Sw | CompareOp::Ew => {
                let SqlParam::Text(s) = param else { return Err(unsupported("co, sw and ew apply to strings")) };
                return self.substring(expr, &lhs, op, s, case_exact);
            }
        };
        let ph = self.placeholder(param);
        if op == CompareOp::Ne {
            let _ = write!(self.sql, "({expr} IS NULL OR {lhs} <> {ph})");
        } else {
            let _ = write!(self.sql, "({expr} IS NOT NULL AND {lhs} {sql_op} {ph})");
        }
        Ok(())
    }

    fn substring(
        &mut self,
        expr: &str,
        lhs: &str,
        op: CompareOp,
        needle: String,
        case_exact: bool,
    ) -> Result<(), SqlError> {
        if needle.is_empty() {
            let _ = write!(self.sql, "{expr} IS NOT NULL");
            return Ok(());
        }
        // SQLite's LIKE ignores ASCII case, so a case-exact match there compares substrings.
        if case_exact && self.lowering.dialect == Dialect::Sqlite {
            let ph = self.placeholder(SqlParam::Text(needle.clone()));
            match op {
                CompareOp::Co => {
                    let _ = write!(self.sql, "({expr} IS NOT NULL AND instr({expr}, {ph}) > 0)");
                }
                CompareOp::Sw => {
                    let ph2 = self.placeholder(SqlParam::Text(needle));
                    let _ = write!(self.sql, "({expr} IS NOT NULL AND substr({expr}, 1, length({ph})) = {ph2})");
                }
                _ => {
                    let ph2 = self.placeholder(SqlParam::Text(needle));
                    let _ = write!(self.sql, "({expr} IS NOT NULL AND substr({expr}, -length({ph})) = {ph2})");
                }
            }
            return Ok(());
        }
        let escaped = escape_like(&needle);
        let pattern = match op {
            CompareOp::Co => format!("%{escaped}%"),
            CompareOp::Sw => format!("{escaped}%"),
            _ => format!("%{escaped}"),
        };
        let ph = self.placeholder(SqlParam::Text(pattern));
        let _ = write!(self.sql, "({expr} IS NOT NULL AND {lhs} LIKE {ph} ESCAPE '\\')");
        Ok(())
    }
}

/// The operands of a chain of `and` (or of `or`), in order, without recursing on the chain
/// itself (it may be 1,000 long).
fn chain<'f>(filter: &'f Filter, and: bool, out: &mut Vec<&'f Filter>) {
    let mut pending = vec![filter];
    while let Some(f) = pending.pop() {
        match f {
            Filter::And(a, b) if and => {
                pending.push(b);
                pending.push(a);
            }
            Filter::Or(a, b) if !and => {
                pending.push(b);
                pending.push(a);
            }
            other => out.push(other),
        }
    }
}

/// Rewrites `name[givenName eq "x"]`'s inner paths to `name.givenName` for column layouts.
struct ScopedPaths<'p> {
    parent: &'p AttrPath,
}

impl ScopedPaths<'_> {
    fn rewrite(&self, filter: &Filter) -> Result<Filter, SqlError> {
        let scope = |path: &AttrPath| -> Result<AttrPath, SqlError> {
            if path.urn.is_some() || path.sub.is_some() {
                return Err(SqlError::Unsupported(format!("{path}: inside a value filter name a sub-attribute")));
            }
            Ok(AttrPath { urn: self.parent.urn.clone(), name: self.parent.name.clone(), sub: Some(path.name.clone()) })
        };
        Ok(match filter {
            Filter::And(a, b) => Filter::And(Box::new(self.rewrite(a)?), Box::new(self.rewrite(b)?)),
            Filter::Or(a, b) => Filter::Or(Box::new(self.rewrite(a)?), Box::new(self.rewrite(b)?)),
            Filter::Not(a) => Filter::Not(Box::new(self.rewrite(a)?)),
            Filter::Present(p) => Filter::Present(scope(p)?),
            Filter::Compare { path, op, value } => {
                Filter::Compare { path: scope(path)?, op: *op, value: value.clone() }
            }
            Filter::ValuePath { .. } => return Err(SqlError::Unsupported("value filters cannot nest".to_owned())),
        })
    }
}

#[cfg(test)]
mod tests;
