//! How a refused form is shown: the role's refusal is the page's 403 (as the API answers it),
//! a refused field is said under that field, anything else at the top of the page.

use tenure_engine::EngineError;

use super::view::Failure;

/// A refusal a page shows: under `field` when the engine named one the form has.
#[derive(Debug, Clone, Default)]
pub struct Refusal {
    pub field: String,
    pub message: String,
}

impl Refusal {
    /// The message for `field`, if the refusal is about it.
    pub fn on(&self, field: &str) -> Option<&str> {
        (!self.message.is_empty() && self.field == field).then_some(self.message.as_str())
    }

    /// The message for the top of the page: a refusal no field of the form shows.
    pub fn general(&self, fields: &[&str]) -> Option<&str> {
        (!self.message.is_empty() && !fields.contains(&self.field.as_str())).then_some(self.message.as_str())
    }
}

/// Splits an engine error into the page's 403 or a refusal to show.
pub fn refusal(e: EngineError) -> Result<Refusal, Failure> {
    match e {
        e @ EngineError::Forbidden(_) => Err(e.into()),
        EngineError::BadField { field, message } => Ok(Refusal { field, message }),
        e => Ok(Refusal { field: String::new(), message: e.to_string() }),
    }
}

/// Where a refusal goes when the form has one field per `prefix.NAME` or `NAME`: `steps[2]`
/// is shown under `steps`.
pub fn field_root(field: &str) -> &str {
    let end = field.find(['[', '.']).unwrap_or(field.len());
    &field[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_field_is_shown_under_it_and_a_forbidden_one_is_403() {
        let r = refusal(EngineError::BadField { field: "reason".into(), message: "say why".into() }).unwrap();
        assert_eq!(r.on("reason"), Some("say why"));
        assert_eq!(r.general(&["reason"]), None);
        assert_eq!(r.general(&["email"]), Some("say why"));
        let f = refusal(EngineError::Forbidden("no".into())).unwrap_err();
        assert_eq!(f.status, axum::http::StatusCode::FORBIDDEN);
        assert_eq!(field_root("steps[2]"), "steps");
        assert_eq!(Refusal::default().general(&[]), None, "no refusal, nothing to say");
        assert_eq!(field_root("reason"), "reason");
    }
}
