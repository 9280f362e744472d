//! Any bytes as a PatchOp body applied to a user: never panics, and a failure leaves the user
//! byte-identical.

use serde_json::json;
use tenure_scim::patch::apply_patch;
use tenure_scim::schema::Registry;
use tenure_scim::{PatchOp, schemas};

pub fn check(data: &[u8]) {
    let Ok(op) = serde_json::from_slice::<PatchOp>(data) else { return };
    let registry = Registry::standard();
    let Some(view) = registry.resource_type("User") else { return };
    let mut user = json!({
        "schemas": [schemas::USER],
        "id": "u1",
        "userName": "ann",
        "name": {"givenName": "Ann"},
        "emails": [{"value": "a@x", "type": "work", "primary": true}],
        schemas::ENTERPRISE_USER: {"department": "Sales"}
    });
    let before = user.to_string();
    if apply_patch(&mut user, &op.operations, view).is_err() {
        assert_eq!(user.to_string(), before);
    }
}
