//! Tenure's domain model and reconciler. Nothing in this crate performs I/O or reads a clock:
//! callers pass in the directory, the policy, what the apps hold and today's date, and get a plan.

pub mod account_class;
pub mod attributes;
pub mod capabilities;
pub mod expr;
pub mod guard;
pub mod ids;
pub mod import;
pub mod licenses;
pub mod model;
pub mod money;
pub mod plan;
pub mod reconcile;
pub mod roles;
pub mod rules;
pub mod window;

pub use account_class::AccountClass;
pub use ids::*;
pub use model::*;
pub use plan::*;
pub use roles::Role;
pub use window::RequestWindow;
