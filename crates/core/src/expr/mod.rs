//! The attribute-mapping and rule expression language.
//!
//! A mapping computes one app attribute from a person (`lower(concat(givenName, ".",
//! familyName))`); a rule decides whether a person matches (`department == "Sales" && title
//! starts_with "Account"`). Both are the same language: expressions are parsed and checked once,
//! when an admin saves them, into a compiled program whose evaluation is cheap (no re-parsing, no
//! regex compilation, no copies of values that pass through unchanged).
//!
//! ```text
//! expr    := and ("||" and)*
//! and     := unary ("&&" unary)*
//! unary   := "!" unary | compare
//! compare := primary [ op primary ]      op: == != starts_with ends_with contains matches in
//! primary := "text" | 'text' | NUMBER | true | false | null | "(" expr ")"
//!          | "[" expr, ... "]" | NAME "(" expr, ... ")" | NAME
//! ```
//!
//! Safety by construction: no loops, no recursion, no user-defined functions, no access to
//! anything but the person's attributes. The source is at most [`MAX_SOURCE_LEN`] bytes, nesting
//! at most [`MAX_DEPTH`] levels, and every value a function builds at most [`MAX_VALUE_LEN`]
//! bytes, so evaluation is bounded in time and memory whatever the admin writes.
//!
//! Missing values: an attribute that is absent or empty is *missing* (`null`). Functions pass it
//! through (`lower(null)` is `null`), `concat` is missing if any part is, `coalesce`/`default`
//! pick the first present value, and every comparison with a missing value is false (so `x != "a"`,
//! being `!(x == "a")`, is true). A mapping that evaluates to missing or empty clears the
//! attribute in the app.
//!
//! Case: comparisons are exact. An admin who needs case-insensitive matching writes
//! `lower(department) == "sales"` or `department matches "(?i)sales"`; comparing `lower(...)`
//! with a literal that has uppercase letters is refused when saved, since it never matches.
//! `matches` tests the whole value (the pattern is anchored), so `employeeId matches "[0-9]+"`
//! does not accept `"x1"`; `regex_replace` replaces every match anywhere.

mod compile;
pub(crate) mod diacritics;
mod error;
mod eval;
mod functions;
mod lexer;
mod mapping;
mod parser;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::model::Person;
use compile::Program;

pub use error::{EvalError, ExprError};
pub use mapping::{
    Apply, MappedAttribute, MappedValue, Mapping, MappingError, MappingEvalError, MappingSet, Phase, Rule,
};

/// Longest accepted expression source, in bytes.
pub const MAX_SOURCE_LEN: usize = 4096;
/// Deepest nesting of parentheses, calls, lists and `!`.
pub const MAX_DEPTH: usize = 32;
/// Longest value a function may build, in bytes.
pub const MAX_VALUE_LEN: usize = 4096;
/// `unique` tries the preferred candidate with the suffixes `2` up to this number.
pub const MAX_UNIQUE_SUFFIX: u32 = 999;

/// The attributes of a [`Person`] that expressions can read, besides `custom.<name>`.
pub const PERSON_ATTRIBUTES: &[&str] = &[
    "userName",
    "email",
    "givenName",
    "familyName",
    "displayName",
    "department",
    "title",
    "employeeId",
    "managerKey",
    "orgUnit",
    "status",
    "startDate",
    "leaveDate",
];

/// What an expression produces, known when it is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    Text,
    Bool,
    List,
}

/// The attribute names an expression may refer to; anything else is an `unknown attribute` error
/// when the expression is saved.
#[derive(Debug, Clone)]
pub struct Schema {
    names: Vec<String>,
    custom: bool,
}

impl Schema {
    /// A person's attributes ([`PERSON_ATTRIBUTES`]) and any `custom.<name>`.
    pub fn person() -> Self {
        Self::new(PERSON_ATTRIBUTES.iter().copied()).with_custom()
    }

    pub fn new<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Self {
        Self { names: names.into_iter().map(Into::into).collect(), custom: false }
    }

    /// Also accept `custom.<name>`: custom attributes differ per source, so any name is valid.
    pub fn with_custom(mut self) -> Self {
        self.custom = true;
        self
    }

    pub fn contains(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
            || (self.custom && name.strip_prefix("custom.").is_some_and(|rest| !rest.is_empty()))
    }

    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    pub(crate) fn allows_custom(&self) -> bool {
        self.custom
    }
}

/// Where an expression reads attributes from. An absent or empty attribute is missing.
pub trait Context {
    fn attribute(&self, name: &str) -> Option<Cow<'_, str>>;
}

/// People as the directory holds them and as a source delivers them share their field names; one
/// body serves both, so a sync-scope rule and an assignment rule read the same attributes.
macro_rules! person_context {
    ($ty:ty) => {
        impl Context for $ty {
            fn attribute(&self, name: &str) -> Option<Cow<'_, str>> {
                fn field(v: &Option<String>) -> Option<Cow<'_, str>> {
                    v.as_deref().map(Cow::Borrowed)
                }
                match name {
                    "userName" => Some(Cow::Borrowed(&self.user_name)),
                    "email" => Some(Cow::Borrowed(&self.email)),
                    "givenName" => field(&self.given_name),
                    "familyName" => field(&self.family_name),
                    // The source's value only; `Person::display`'s fallback is the admin's to
                    // write with coalesce, so the expression says what the app gets.
                    "displayName" => field(&self.display_name),
                    "department" => field(&self.department),
                    "title" => field(&self.title),
                    "employeeId" => field(&self.employee_id),
                    "managerKey" => field(&self.manager_key),
                    "orgUnit" => self.org_unit.as_ref().map(|o| Cow::Borrowed(o.as_str())),
                    "status" => Some(Cow::Borrowed(self.status.as_str())),
                    "startDate" => self.start_date.map(|d| Cow::Owned(d.to_string())),
                    "leaveDate" => self.leave_date.map(|d| Cow::Owned(d.to_string())),
                    _ => name
                        .strip_prefix("custom.")
                        .and_then(|key| self.custom.get(key))
                        .map(|v| Cow::Borrowed(v.as_str())),
                }
            }
        }
    };
}

person_context!(Person);
person_context!(crate::import::ImportedPerson);

impl Context for BTreeMap<String, String> {
    fn attribute(&self, name: &str) -> Option<Cow<'_, str>> {
        self.get(name).map(|v| Cow::Borrowed(v.as_str()))
    }
}

impl Context for HashMap<String, String> {
    fn attribute(&self, name: &str) -> Option<Cow<'_, str>> {
        self.get(name).map(|v| Cow::Borrowed(v.as_str()))
    }
}

/// The value of an expression for one person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value<'a> {
    Null,
    Text(Cow<'a, str>),
    Bool(bool),
    List(Vec<Cow<'a, str>>),
}

/// A parsed, checked and compiled expression. Cheap to clone (shared), `Send + Sync`, serialized
/// as its source text.
#[derive(Clone)]
pub struct Expr {
    inner: Arc<Inner>,
}

struct Inner {
    source: String,
    program: Program,
}

impl Expr {
    /// Parses and checks against the person attributes ([`Schema::person`]).
    pub fn parse(src: &str) -> Result<Self, ExprError> {
        Self::parse_with(src, &Schema::person())
    }

    pub fn parse_with(src: &str, schema: &Schema) -> Result<Self, ExprError> {
        if src.len() > MAX_SOURCE_LEN {
            let message = format!("expression too long: {} bytes, the limit is {MAX_SOURCE_LEN}", src.len());
            return Err(ExprError::new(src, MAX_SOURCE_LEN..src.len(), message));
        }
        let tokens = lexer::tokenize(src)?;
        let tree = parser::parse(src, &tokens)?;
        let program = compile::compile(src, schema, &tree)?;
        Ok(Self { inner: Arc::new(Inner { source: src.to_owned(), program }) })
    }

    pub fn source(&self) -> &str {
        &self.inner.source
    }

    pub fn value_type(&self) -> ValueType {
        self.inner.program.value_type()
    }

    /// True for `unique(...)`, whose value depends on which values are already taken.
    pub fn is_unique(&self) -> bool {
        matches!(self.inner.program, Program::Text(compile::Text::Unique(_)))
    }

    pub fn eval<'a, C: Context + ?Sized>(&'a self, ctx: &'a C) -> Result<Value<'a>, EvalError> {
        Ok(match &self.inner.program {
            Program::Text(t) => eval::text(t, ctx)?.map_or(Value::Null, Value::Text),
            Program::Cond(c) => Value::Bool(eval::cond(c, ctx)?),
            Program::List(l) => Value::List(eval::list(l, ctx)?),
        })
    }

    /// The value as text: `None` when missing. A condition gives `"true"`/`"false"` and a list
    /// its items joined by `,`, though mappings only accept text expressions.
    pub fn eval_text<'a, C: Context + ?Sized>(&'a self, ctx: &'a C) -> Result<Option<Cow<'a, str>>, EvalError> {
        match &self.inner.program {
            Program::Text(t) => eval::text(t, ctx),
            Program::Cond(c) => Ok(Some(Cow::Borrowed(if eval::cond(c, ctx)? { "true" } else { "false" }))),
            Program::List(l) => functions::join(&eval::list(l, ctx)?, ","),
        }
    }

    /// The value as a condition: text is true when present and non-empty.
    pub fn eval_bool<C: Context + ?Sized>(&self, ctx: &C) -> Result<bool, EvalError> {
        match &self.inner.program {
            Program::Cond(c) => eval::cond(c, ctx),
            Program::Text(t) => Ok(eval::text(t, ctx)?.is_some_and(|v| !v.is_empty())),
            Program::List(l) => Ok(!eval::list(l, ctx)?.is_empty()),
        }
    }

    /// Like [`Expr::eval_text`]; for `unique(c1, c2, ...)`, the first present candidate that is
    /// not taken, else the first present candidate with the suffixes `2`, `3`, … up to
    /// [`MAX_UNIQUE_SUFFIX`]: `first.last`, `first.last2`, `first.last3`. Other expressions never
    /// consult `is_taken`.
    pub fn eval_unique<'a, C: Context + ?Sized>(
        &'a self,
        ctx: &'a C,
        is_taken: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Option<Cow<'a, str>>, EvalError> {
        let Program::Text(compile::Text::Unique(candidates)) = &self.inner.program else {
            return self.eval_text(ctx);
        };
        let mut preferred = None;
        for candidate in candidates {
            let Some(value) = eval::text(candidate, ctx)?.filter(|v| !v.is_empty()) else { continue };
            if !is_taken(&value) {
                return Ok(Some(value));
            }
            preferred.get_or_insert(value);
        }
        let Some(base) = preferred else { return Ok(None) };
        let mut numbered = String::with_capacity(base.len() + 4);
        for n in 2..=MAX_UNIQUE_SUFFIX {
            numbered.clear();
            numbered.push_str(&base);
            numbered.push_str(&n.to_string());
            functions::check_len(numbered.len())?;
            if !is_taken(&numbered) {
                return Ok(Some(Cow::Owned(numbered)));
            }
        }
        Err(EvalError::UniqueExhausted { base: base.into_owned(), last: MAX_UNIQUE_SUFFIX })
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.source())
    }
}

impl fmt::Debug for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Expr({:?})", self.source())
    }
}

impl PartialEq for Expr {
    fn eq(&self, other: &Self) -> bool {
        self.source() == other.source()
    }
}

impl Eq for Expr {}

impl std::str::FromStr for Expr {
    type Err = ExprError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Expr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.source())
    }
}

impl<'de> Deserialize<'de> for Expr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let source = String::deserialize(deserializer)?;
        Self::parse(&source).map_err(serde::de::Error::custom)
    }
}
