//! What admins save: an app's attribute mappings ([`MappingSet`]) and assignment rules
//! ([`Rule`]), both checked for the right type of expression when they are built.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::error::{EvalError, ExprError};
use super::{Context, Expr, Schema, ValueType};

/// When a mapped attribute is written to the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Apply {
    /// On create and on every update: the app follows the directory.
    #[default]
    Always,
    /// Only when the account is created; afterwards the app (or its user) owns the value, e.g. a
    /// generated userName or an initial display name users may change.
    OnCreate,
}

/// Whether the account is being created or already exists in the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Create,
    Update,
}

/// One app attribute computed from a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mapping {
    pub target: String,
    pub expr: Expr,
    #[serde(default)]
    pub apply: Apply,
}

impl Mapping {
    /// Parses `src` and checks it produces text.
    pub fn new(target: impl Into<String>, src: &str, apply: Apply) -> Result<Self, MappingError> {
        Self::with_schema(target, src, apply, &Schema::person())
    }

    pub fn with_schema(
        target: impl Into<String>,
        src: &str,
        apply: Apply,
        schema: &Schema,
    ) -> Result<Self, MappingError> {
        let target = target.into();
        match Expr::parse_with(src, schema) {
            Ok(expr) => Ok(Self { target, expr, apply }),
            Err(source) => Err(MappingError::Expr { target, source }),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error("mapping for '{target}': {source}")]
    Expr {
        target: String,
        #[source]
        source: ExprError,
    },
    #[error("a mapping needs a target attribute name")]
    EmptyTarget,
    /// Target names compare case-insensitively, as SCIM attribute names do.
    #[error("'{0}' is mapped more than once")]
    DuplicateTarget(String),
    /// Recomputing a unique value on update would see the account's own value as taken and
    /// rename it.
    #[error("mapping for '{0}' generates a unique value, so it must apply on create only")]
    UniqueNotOnCreate(String),
}

/// A validated list of mappings: text expressions, one per target.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "Vec<Mapping>", into = "Vec<Mapping>")]
pub struct MappingSet {
    mappings: Vec<Mapping>,
}

/// The value a mapping gives an attribute. An attribute with no mapping is not managed and
/// appears in no output at all; `Clear` means the app's value must be removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MappedValue<'a> {
    Set(Cow<'a, str>),
    Clear,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedAttribute<'a> {
    pub target: &'a str,
    pub value: MappedValue<'a>,
    pub apply: Apply,
}

/// An evaluation error, with the mapping it happened in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mapping for '{target}': {error}")]
pub struct MappingEvalError {
    pub target: String,
    #[source]
    pub error: EvalError,
}

impl MappingSet {
    pub fn new(mappings: Vec<Mapping>) -> Result<Self, MappingError> {
        for (i, mapping) in mappings.iter().enumerate() {
            if mapping.target.trim().is_empty() {
                return Err(MappingError::EmptyTarget);
            }
            if mappings[..i].iter().any(|m| m.target.eq_ignore_ascii_case(&mapping.target)) {
                return Err(MappingError::DuplicateTarget(mapping.target.clone()));
            }
            if mapping.expr.value_type() != ValueType::Text {
                let src = mapping.expr.source();
                let what = match mapping.expr.value_type() {
                    ValueType::Bool => "a condition (true/false); use if(condition, \"yes\", \"no\")",
                    _ => "a list; use join(list, \",\")",
                };
                let source =
                    ExprError::new(src, 0..src.len(), format!("a mapping must produce text, but this is {what}"));
                return Err(MappingError::Expr { target: mapping.target.clone(), source });
            }
            if mapping.expr.is_unique() && mapping.apply != Apply::OnCreate {
                return Err(MappingError::UniqueNotOnCreate(mapping.target.clone()));
            }
        }
        Ok(Self { mappings })
    }

    pub fn mappings(&self) -> &[Mapping] {
        &self.mappings
    }

    /// The attributes for `phase`, in mapping order. On update, `OnCreate` mappings are not
    /// evaluated: the app owns those values once the account exists. Nothing counts as taken for
    /// `unique` mappings; see [`MappingSet::evaluate_unique`].
    pub fn evaluate<'a, C: Context + ?Sized>(
        &'a self,
        ctx: &'a C,
        phase: Phase,
    ) -> Result<Vec<MappedAttribute<'a>>, MappingEvalError> {
        self.evaluate_unique(ctx, phase, &mut |_, _| false)
    }

    /// Like [`MappingSet::evaluate`], asking `is_taken(target, candidate)` for `unique` mappings.
    pub fn evaluate_unique<'a, C: Context + ?Sized>(
        &'a self,
        ctx: &'a C,
        phase: Phase,
        is_taken: &mut dyn FnMut(&str, &str) -> bool,
    ) -> Result<Vec<MappedAttribute<'a>>, MappingEvalError> {
        let mut out = Vec::with_capacity(self.mappings.len());
        for mapping in &self.mappings {
            if phase == Phase::Update && mapping.apply == Apply::OnCreate {
                continue;
            }
            let target = mapping.target.as_str();
            let value = mapping
                .expr
                .eval_unique(ctx, &mut |candidate| is_taken(target, candidate))
                .map_err(|error| MappingEvalError { target: target.to_owned(), error })?;
            let value = match value {
                Some(v) if !v.is_empty() => MappedValue::Set(v),
                _ => MappedValue::Clear,
            };
            out.push(MappedAttribute { target, value, apply: mapping.apply });
        }
        Ok(out)
    }
}

impl TryFrom<Vec<Mapping>> for MappingSet {
    type Error = MappingError;

    fn try_from(mappings: Vec<Mapping>) -> Result<Self, Self::Error> {
        Self::new(mappings)
    }
}

impl From<MappingSet> for Vec<Mapping> {
    fn from(set: MappingSet) -> Self {
        set.mappings
    }
}

/// A boolean expression over a person's attributes, for assignment rules and scopes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Rule(Expr);

impl Rule {
    pub fn parse(src: &str) -> Result<Self, ExprError> {
        Self::parse_with(src, &Schema::person())
    }

    pub fn parse_with(src: &str, schema: &Schema) -> Result<Self, ExprError> {
        let expr = Expr::parse_with(src, schema)?;
        if expr.value_type() != ValueType::Bool {
            let what = if expr.value_type() == ValueType::Text { "text" } else { "a list" };
            let message = format!(
                "a rule must be a condition, but this is {what}; compare it, e.g. department == \"Sales\", or test it with present(...)"
            );
            return Err(ExprError::new(src, 0..src.len(), message));
        }
        Ok(Self(expr))
    }

    pub fn expr(&self) -> &Expr {
        &self.0
    }

    pub fn evaluate<C: Context + ?Sized>(&self, ctx: &C) -> Result<bool, EvalError> {
        self.0.eval_bool(ctx)
    }

    /// Whether the person matches. A rule that cannot be evaluated (a value over the length
    /// limit) does not match: an assignment is granted only on a definite yes.
    pub fn matches<C: Context + ?Sized>(&self, ctx: &C) -> bool {
        self.evaluate(ctx).unwrap_or(false)
    }
}

impl TryFrom<String> for Rule {
    type Error = ExprError;

    fn try_from(src: String) -> Result<Self, Self::Error> {
        Self::parse(&src)
    }
}

impl From<Rule> for String {
    fn from(rule: Rule) -> Self {
        rule.0.source().to_owned()
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.source())
    }
}
