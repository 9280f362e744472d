use tenure_connectors::ConnectorError;
use tenure_core::import::DeltaError;
use tenure_sources::SourceError;
use tenure_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("app {app}: {source}")]
    Connector {
        app: String,
        #[source]
        source: ConnectorError,
    },
    #[error("source {source_name}: {error}")]
    Source {
        source_name: String,
        #[source]
        error: SourceError,
    },
    /// An incremental delivery that does not fit the last snapshot: nothing was applied.
    #[error("source {source_name}: the incremental changes could not be applied ({error}); run a full sync")]
    Delta {
        source_name: String,
        #[source]
        error: DeltaError,
    },
    #[error("source {source_name} is misconfigured: {reason}")]
    SourceConfig { source_name: String, reason: String },
    /// The source guard: an import that would make (nearly) everyone leave is not applied.
    #[error(
        "source {source_name} returned {got} people where the last sync had {previous}; not applied, since it \
         would make that many people leave at once (check the export; `tenure sync --force` if it is right)"
    )]
    SourceGuard { source_name: String, got: usize, previous: usize },
    #[error("{0} not found")]
    NotFound(String),
    /// Malformed input from the caller (a page size out of range, ...).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The request contradicts the current state (adopting an account linked to someone else).
    #[error("{0}")]
    Refused(String),
    /// The app is not set up for what was asked (e.g. an OAuth authorization of an app that
    /// uses a static token).
    #[error("app {app}: {reason}")]
    AppConfig { app: String, reason: String },
    /// Only a plan the deprovisioning guard held can be approved or rejected.
    #[error("plan {plan} is {status}, not held: only a plan the guard held can be approved or rejected")]
    NotHeld { plan: String, status: String },
    /// A worker task died (a panic): a bug in Tenure, not a problem with the input.
    #[error("internal error: {0}")]
    Internal(String),
    /// The actor's role does not allow this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// A field of a request that cannot be used; `field` names it as the request spells it.
    #[error("{field}: {message}")]
    BadField { field: String, message: String },
    /// An expression (a mapping, a rule) that does not parse or type-check, with where.
    #[error("{field}: {line}:{column}: {message}")]
    Expression { field: String, line: usize, column: usize, message: String, rendered: String },
}

impl EngineError {
    pub(crate) fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::BadField { field: field.into(), message: message.into() }
    }

    /// An expression error at `field`, with its line, column and a caret under the mistake.
    pub(crate) fn expression(field: impl Into<String>, source: &str, e: &tenure_core::expr::ExprError) -> Self {
        Self::Expression {
            field: field.into(),
            line: e.line,
            column: e.column,
            message: e.message.clone(),
            rendered: e.render(source),
        }
    }

    /// Whether running the same command again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Store(e) => e.is_retryable(),
            Self::Connector { source, .. } => source.is_retryable(),
            Self::Source { error, .. } => error.is_retryable(),
            Self::SourceConfig { .. }
            | Self::Delta { .. }
            | Self::SourceGuard { .. }
            | Self::NotFound(_)
            | Self::Invalid(_)
            | Self::Refused(_)
            | Self::AppConfig { .. }
            | Self::NotHeld { .. }
            | Self::Internal(_)
            | Self::Forbidden(_)
            | Self::BadField { .. }
            | Self::Expression { .. } => false,
        }
    }
}
