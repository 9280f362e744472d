use serde_json::{Value, json};

use super::{PatchOp, apply_patch};
use crate::schema::Registry;
use crate::{ScimType, schemas};

const ENT: &str = schemas::ENTERPRISE_USER;

fn user() -> Value {
    json!({
        "schemas": [schemas::USER],
        "id": "u1",
        "userName": "ann",
        "name": {"givenName": "Ann", "familyName": "Lee"},
        "active": true,
        "emails": [
            {"value": "ann@home.example", "type": "home", "primary": true},
            {"value": "ann@example.com", "type": "work"}
        ],
        "meta": {"resourceType": "User", "version": "W/\"1\""}
    })
}

fn group() -> Value {
    json!({
        "schemas": [schemas::GROUP], "id": "g1", "displayName": "Eng",
        "members": [{"value": "a", "display": "A"}, {"value": "b"}, {"value": "c"}]
    })
}

fn patch(resource: &mut Value, ops: Value) -> Result<bool, crate::ScimError> {
    let registry = Registry::standard();
    let view = registry.view_for(resource).unwrap();
    let op: PatchOp = serde_json::from_value(json!({"schemas": [schemas::PATCH_OP], "Operations": ops})).unwrap();
    apply_patch(resource, &op.operations, view).map(|o| o.changed)
}

fn ok(mut resource: Value, ops: Value) -> Value {
    patch(&mut resource, ops.clone()).unwrap_or_else(|e| panic!("{ops}: {e}"));
    resource
}

fn fails(mut resource: Value, ops: Value) -> ScimType {
    let before = resource.clone();
    let err = patch(&mut resource, ops.clone()).expect_err(&ops.to_string());
    assert_eq!(resource, before, "a failed PATCH must leave the resource untouched");
    assert!(err.detail.as_deref().is_some_and(|d| !d.is_empty()));
    err.scim_type.unwrap()
}

#[test]
fn simple_attributes_and_entra_spellings() {
    let u = ok(user(), json!([{"op": "Replace", "path": "active", "value": "False"}]));
    assert_eq!(u["active"], false);
    let u = ok(
        user(),
        json!([{"op": "replace", "path": "displayName", "value": "Ann Lee"}, {"op": "Add", "path": "title", "value": "CTO"}]),
    );
    assert_eq!(u["displayName"], "Ann Lee");
    assert_eq!(u["title"], "CTO");
    let u = ok(user(), json!([{"op": "remove", "path": "name.familyName"}]));
    assert_eq!(u["name"], json!({"givenName": "Ann"}));
    let u = ok(user(), json!([{"op": "replace", "path": "NAME.GIVENNAME", "value": "Anne"}]));
    assert_eq!(u["name"]["givenName"], "Anne");
    let u =
        ok(user(), json!([{"op": "replace", "path": "name", "value": {"formatted": "Ann Lee", "familyName": null}}]));
    assert_eq!(u["name"], json!({"givenName": "Ann", "formatted": "Ann Lee"}));
    let u = ok(user(), json!([{"op": "replace", "path": "title", "value": null}]));
    assert!(u.get("title").is_none());
}

#[test]
fn path_less_values_okta_and_entra() {
    let u =
        ok(user(), json!([{"op": "replace", "value": {"active": false, "id": "ignored", "meta": {}, "schemas": []}}]));
    assert_eq!(u["active"], false);
    assert_eq!(u["id"], "u1");
    let u = ok(
        user(),
        json!([{"op": "Replace", "value": {
            "name.givenName": "Anne",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "42",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager": {"value": "m1", "$ref": null}
        }}]),
    );
    assert_eq!(u["name"]["givenName"], "Anne");
    assert_eq!(u[ENT]["employeeNumber"], "42");
    assert_eq!(u[ENT]["manager"], json!({"value": "m1"}));
    assert_eq!(u["schemas"], json!([schemas::USER, ENT]));
    let u =
        ok(user(), json!([{"op": "add", "value": {ENT: {"department": "Sales"}, "urn:x:vendor": {"seat": "pro"}}}]));
    assert_eq!(u[ENT]["department"], "Sales");
    assert_eq!(u["urn:x:vendor"]["seat"], "pro");
    let u = ok(u, json!([{"op": "replace", "path": "urn:x:vendor:seat", "value": "free"}]));
    assert_eq!(u["urn:x:vendor"]["seat"], "free");
}

#[test]
fn extensions_by_urn_path() {
    let u = ok(user(), json!([{"op": "add", "path": format!("{ENT}:manager.value"), "value": "m1"}]));
    assert_eq!(u[ENT]["manager"]["value"], "m1");
    let u = ok(u, json!([{"op": "add", "path": ENT, "value": {"costCenter": "4130"}}]));
    assert_eq!(u[ENT], json!({"manager": {"value": "m1"}, "costCenter": "4130"}));
    let u = ok(u, json!([{"op": "remove", "path": ENT}]));
    assert!(u.get(ENT).is_none());
    assert_eq!(u["schemas"], json!([schemas::USER]));
    let u = ok(
        user(),
        json!([{"op": "add", "path": format!("{ENT}:department"), "value": "X"}, {"op": "remove", "path": format!("{ENT}:department")}]),
    );
    assert!(u.get(ENT).is_none(), "an emptied extension goes away with its schema URN: {u}");
    let u = ok(user(), json!([{"op": "replace", "path": format!("{}:userName", schemas::USER), "value": "bob"}]));
    assert_eq!(u["userName"], "bob");
}

#[test]
fn multi_valued_with_filters() {
    let u =
        ok(user(), json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "new@example.com"}]));
    assert_eq!(u["emails"][1], json!({"value": "new@example.com", "type": "work"}));
    // Entra: the filter names an email that does not exist yet.
    let u = ok(user(), json!([{"op": "Add", "path": "emails[type eq \"other\"].value", "value": "o@x"}]));
    assert_eq!(u["emails"][2], json!({"type": "other", "value": "o@x"}));
    let u = ok(user(), json!([{"op": "remove", "path": "emails[type eq \"home\"]"}]));
    assert_eq!(u["emails"].as_array().unwrap().len(), 1);
    let u = ok(user(), json!([{"op": "remove", "path": "emails[type eq \"nope\"]"}]));
    assert_eq!(u["emails"].as_array().unwrap().len(), 2);
    let u = ok(
        user(),
        json!([{"op": "replace", "path": "emails[type eq \"work\"]", "value": {"value": "w@x", "type": "work"}}]),
    );
    assert_eq!(u["emails"][1], json!({"value": "w@x", "type": "work"}));
    let u = ok(user(), json!([{"op": "remove", "path": "emails[type eq \"work\"].type"}]));
    assert_eq!(u["emails"][1], json!({"value": "ann@example.com"}));
    assert_eq!(
        fails(user(), json!([{"op": "replace", "path": "emails[value co \"zzz\"]", "value": {"value": "x"}}])),
        ScimType::NoTarget
    );
}

#[test]
fn primary_is_unique() {
    let u = ok(user(), json!([{"op": "replace", "path": "emails[type eq \"work\"].primary", "value": "True"}]));
    assert_eq!(u["emails"][0]["primary"], false);
    assert_eq!(u["emails"][1]["primary"], true);
    let u = ok(user(), json!([{"op": "add", "path": "emails", "value": [{"value": "n@x", "primary": true}]}]));
    assert_eq!(u["emails"][0]["primary"], false);
    assert_eq!(u["emails"][2]["primary"], true);
}

#[test]
fn group_members() {
    let g =
        ok(group(), json!([{"op": "add", "path": "members", "value": [{"value": "d", "$ref": null}, {"value": "a"}]}]));
    let values: Vec<&str> = g["members"].as_array().unwrap().iter().filter_map(|m| m["value"].as_str()).collect();
    assert_eq!(values, ["a", "b", "c", "d"]);
    assert_eq!(g["members"][3], json!({"value": "d"}));
    let g = ok(group(), json!([{"op": "Remove", "path": "members", "value": [{"value": "a"}, {"value": "c"}]}]));
    assert_eq!(g["members"], json!([{"value": "b"}]));
    let g = ok(group(), json!([{"op": "remove", "path": "members[value eq \"b\"]"}]));
    assert_eq!(g["members"].as_array().unwrap().len(), 2);
    let g = ok(group(), json!([{"op": "remove", "path": "members"}]));
    assert!(g.get("members").is_none());
    let g = ok(group(), json!([{"op": "replace", "path": "members", "value": [{"value": "z"}]}]));
    assert_eq!(g["members"], json!([{"value": "z"}]));
    assert_eq!(
        fails(group(), json!([{"op": "replace", "path": "members[value eq \"a\"].value", "value": "q"}])),
        ScimType::Mutability
    );
}

#[test]
fn changed_reports_whether_anything_changed() {
    let mut u = user();
    assert!(!patch(&mut u, json!([{"op": "replace", "path": "active", "value": true}])).unwrap());
    assert!(
        !patch(
            &mut u,
            json!([{"op": "add", "path": "emails", "value": [{"value": "ann@example.com", "type": "work"}]}])
        )
        .unwrap()
    );
    assert!(!patch(&mut u, json!([{"op": "remove", "path": "title"}])).unwrap());
    assert!(patch(&mut u, json!([{"op": "replace", "path": "active", "value": false}])).unwrap());
    let mut g = group();
    assert!(!patch(&mut g, json!([{"op": "remove", "path": "members", "value": [{"value": "zz"}]}])).unwrap());
}

#[test]
fn errors_are_typed_and_atomic() {
    let cases = [
        (json!([{"op": "replace", "path": "id", "value": "x"}]), ScimType::Mutability),
        (json!([{"op": "replace", "path": "meta.version", "value": "x"}]), ScimType::Mutability),
        (json!([{"op": "add", "path": "groups", "value": [{"value": "g"}]}]), ScimType::Mutability),
        (json!([{"op": "replace", "path": "active", "value": "yes"}]), ScimType::InvalidValue),
        (json!([{"op": "replace", "path": "name", "value": "Ann"}]), ScimType::InvalidValue),
        (json!([{"op": "replace", "path": "name.nope", "value": "x"}]), ScimType::InvalidPath),
        (json!([{"op": "replace", "path": "userName[value eq \"x\"]", "value": "x"}]), ScimType::InvalidPath),
        (json!([{"op": "replace", "path": "emails[type eq", "value": "x"}]), ScimType::InvalidPath),
        (json!([{"op": "remove"}]), ScimType::NoTarget),
        (json!([{"op": "add", "path": "title"}]), ScimType::InvalidSyntax),
        (json!([{"op": "replace", "value": "x"}]), ScimType::InvalidValue),
        (json!([{"op": "remove", "path": "userName"}]), ScimType::InvalidValue),
        (
            json!([{"op": "replace", "path": "active", "value": false}, {"op": "replace", "path": "id", "value": "x"}]),
            ScimType::Mutability,
        ),
    ];
    for (ops, expected) in cases {
        assert_eq!(fails(user(), ops.clone()), expected, "{ops}");
    }
}

#[test]
fn unknown_attributes_are_kept_schemaless() {
    let u = ok(
        user(),
        json!([{"op": "add", "path": "customTags", "value": ["a"]}, {"op": "add", "path": "customTags", "value": ["b", "a"]}]),
    );
    assert_eq!(u["customTags"], json!(["a", "b"]));
    let u = ok(u, json!([{"op": "add", "path": "custom.flag", "value": true}]));
    assert_eq!(u["custom"], json!({"flag": true}));
}

#[test]
fn more_operations_than_the_cap_are_too_many() {
    let ops: Vec<Value> = (0..=super::MAX_OPERATIONS)
        .map(|i| json!({"op": "add", "path": "emails", "value": [{"value": format!("a{i}@example.com")}]}))
        .collect();
    let mut u = user();
    let err = patch(&mut u, Value::Array(ops)).unwrap_err();
    assert_eq!(err.scim_type, Some(ScimType::TooMany));
    assert!(err.detail.as_deref().unwrap_or("").contains("at most 1000 operations"), "{err:?}");
    assert_eq!(u, user(), "nothing applied");
}

/// The indexed path (consecutive adds and removes by value) gives what one operation at a time
/// gives: duplicates skipped, removals by value and by `[value eq]` (ignoring case for members),
/// the last added primary winning, and other attributes' operations in between seeing the
/// attribute as it stands.
#[test]
fn keyed_operations_in_bulk_match_one_at_a_time() {
    let ops = json!([
        {"op": "add", "path": "members", "value": [{"value": "d"}, {"value": "a"}]},
        {"op": "Add", "path": "members", "value": [{"value": "e", "display": "E"}]},
        {"op": "remove", "path": "members[value eq \"B\"]"},
        {"op": "replace", "path": "displayName", "value": "Engineering"},
        {"op": "Remove", "path": "members", "value": [{"value": "c", "$ref": null}]},
        {"op": "add", "path": "members", "value": [{"value": "c"}]},
        {"op": "remove", "path": "members[value eq \"nobody\"]"}
    ]);
    let bulk = ok(group(), ops.clone());
    let mut one_by_one = group();
    for op in ops.as_array().unwrap() {
        patch(&mut one_by_one, json!([op])).unwrap();
    }
    assert_eq!(bulk, one_by_one);
    let members: Vec<&str> = bulk["members"].as_array().unwrap().iter().map(|m| m["value"].as_str().unwrap()).collect();
    assert_eq!(members, ["a", "d", "e", "c"]);
    assert_eq!(bulk["displayName"], "Engineering");

    let emails = json!([
        {"op": "add", "path": "emails", "value": [{"value": "x@example.com", "type": "other", "primary": true}]},
        {"op": "add", "path": "emails", "value": [{"value": "ann@example.com", "type": "work"}]},
        {"op": "add", "path": "emails", "value": [{"value": "y@example.com", "type": "other"}]}
    ]);
    let bulk = ok(user(), emails.clone());
    let mut one_by_one = user();
    for op in emails.as_array().unwrap() {
        patch(&mut one_by_one, json!([op])).unwrap();
    }
    assert_eq!(bulk, one_by_one);
    let primaries: Vec<&str> = bulk["emails"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["primary"] == true)
        .map(|e| e["value"].as_str().unwrap())
        .collect();
    assert_eq!(primaries, ["x@example.com"], "{bulk}");
    assert_eq!(bulk["emails"].as_array().unwrap().len(), 4, "the work address is not added twice");
}

#[test]
fn keyed_operations_that_change_nothing_leave_the_resource_unchanged() {
    let mut g = group();
    let changed = patch(
        &mut g,
        json!([{"op": "add", "path": "members", "value": [{"value": "a"}]}, {"op": "remove", "path": "members[value eq \"z\"]"}]),
    )
    .unwrap();
    assert!(!changed);
    assert_eq!(g, group());
}
