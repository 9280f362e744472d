//! SCIM filter expressions (RFC 7644 §3.4.2.2): the AST, a parser ([`parse_filter`]), a printer
//! (`Display`, which round-trips through the parser) and an in-memory evaluator that takes
//! `caseExact` and attribute types from the schema registry.

pub(crate) mod eval;
pub(crate) mod parse;
mod print;

use serde_json::Value;

pub use crate::path::AttrPath;
pub use parse::{MAX_DEPTH, MAX_TERMS, parse_filter};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    pub const ALL: [CompareOp; 9] =
        [Self::Eq, Self::Ne, Self::Co, Self::Sw, Self::Ew, Self::Gt, Self::Ge, Self::Lt, Self::Le];

    /// Operators are case-insensitive (`EQ`, `Eq`).
    pub fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.as_str().eq_ignore_ascii_case(word))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Ne => "ne",
            Self::Co => "co",
            Self::Sw => "sw",
            Self::Ew => "ew",
            Self::Gt => "gt",
            Self::Ge => "ge",
            Self::Lt => "lt",
            Self::Le => "le",
        }
    }

    /// `gt ge lt le`: meaningless for booleans and binary (RFC 7644 §3.4.2.2).
    pub fn is_ordering(self) -> bool {
        matches!(self, Self::Gt | Self::Ge | Self::Lt | Self::Le)
    }

    /// `co sw ew`: substring matches.
    pub fn is_substring(self) -> bool {
        matches!(self, Self::Co | Self::Sw | Self::Ew)
    }
}

/// A parsed filter.
///
/// `emails[type eq "work"].value eq "x"` (a value path followed by a sub-attribute, which Entra ID
/// sends though RFC 7644's grammar lacks it) parses to
/// `ValuePath { emails, And(type eq "work", value eq "x") }`: both mean "one email is a work email
/// whose value is x", and the evaluator and SQL lowering then need only one form.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: Value,
    },
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `emails[type eq "work"]`: true when one element of the multi-valued attribute matches.
    /// Paths inside `filter` are relative to the element.
    ValuePath {
        path: AttrPath,
        filter: Box<Filter>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid filter at character {position}: {message}")]
pub struct FilterError {
    pub position: usize,
    pub message: String,
}

impl From<FilterError> for crate::path::PathError {
    fn from(e: FilterError) -> Self {
        Self { position: e.position, message: e.message }
    }
}

impl From<FilterError> for crate::ScimError {
    fn from(e: FilterError) -> Self {
        crate::ScimError::bad_request(crate::ScimType::InvalidFilter, e.to_string())
    }
}

impl Filter {
    pub fn compare(path: AttrPath, op: CompareOp, value: impl Into<Value>) -> Self {
        Self::Compare { path, op, value: value.into() }
    }

    pub fn and(self, other: Filter) -> Self {
        Self::And(Box::new(self), Box::new(other))
    }

    pub fn or(self, other: Filter) -> Self {
        Self::Or(Box::new(self), Box::new(other))
    }

    #[allow(clippy::should_implement_trait)]
    pub fn not(self) -> Self {
        Self::Not(Box::new(self))
    }
}
