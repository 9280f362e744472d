//! The filter examples of RFC 7644 §3.4.2.2 and the PATCH examples of §3.5.2.1–3, run through the
//! public API as a server would.

use serde_json::{Value, json};
use tenure_scim::patch::apply_patch;
use tenure_scim::schema::Registry;
use tenure_scim::{PatchOp, ScimType, parse_filter, schemas};

const ENTERPRISE_USER_URN: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn bjensen() -> Value {
    json!({
        "schemas": [schemas::USER, schemas::ENTERPRISE_USER],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "userName": "bjensen",
        "name": {"familyName": "O'Malley", "givenName": "Barbara"},
        "userType": "Employee",
        "title": "Tour Guide",
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "ims": [{"value": "someaimhandle", "type": "aim"}],
        "addresses": [{"type": "work", "streetAddress": "100 Universal City Plaza", "locality": "Hollywood", "primary": true}],
        "x509Certificates": [{"value": "MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAwTjELMAkGA1UEBhMCVVMx"}],
        "meta": {"resourceType": "User", "lastModified": "2011-05-13T04:42:34Z"},
        schemas::ENTERPRISE_USER: {"employeeNumber": "701984"}
    })
}

#[test]
fn section_3_4_2_2_filter_examples() {
    let examples = [
        (r#"userName eq "bjensen""#, true),
        (r#"name.familyName co "O'Malley""#, true),
        (r#"userName sw "J""#, false),
        (r#"userName sw "B""#, true),
        (r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "b""#, true),
        ("title pr", true),
        (r#"meta.lastModified gt "2011-05-13T04:42:34Z""#, false),
        (r#"meta.lastModified ge "2011-05-13T04:42:34Z""#, true),
        (r#"meta.lastModified lt "2011-05-13T04:42:34Z""#, false),
        (r#"meta.lastModified le "2011-05-13T04:42:34Z""#, true),
        (r#"title pr and userType eq "Employee""#, true),
        (r#"title pr or userType eq "Intern""#, true),
        (r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#, true),
        (r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#, true),
        (r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#, false),
        (r#"userType eq "Employee" and (emails.type eq "work")"#, true),
        (r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#, true),
        (r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#, true),
        (r#"ims[type eq "xmpp" and value co "@foo.com"]"#, false),
        (r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984""#, true),
    ];
    let registry = Registry::core();
    let view = registry.resource_type("User").unwrap();
    for (text, expected) in examples {
        let filter = parse_filter(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert!(filter.validate(view).is_ok(), "{text}");
        assert_eq!(filter.matches_in(&bjensen(), view), expected, "{text}");
        assert_eq!(parse_filter(&filter.to_string()).unwrap(), filter, "{text} round-trips");
    }
}

fn apply(resource: &mut Value, body: Value) -> Result<bool, tenure_scim::ScimError> {
    let registry = Registry::standard();
    let view = registry.view_for(resource).unwrap();
    let op: PatchOp = serde_json::from_value(body).unwrap();
    apply_patch(resource, &op.operations, view).map(|o| o.changed)
}

fn group() -> Value {
    json!({
        "schemas": [schemas::GROUP],
        "id": "e9e30dba-f08f-4109-8486-d5c6a331660a",
        "displayName": "Tour Guides",
        "members": [
            {"value": "2819c223-7f76-453a-919d-413861904646", "display": "Babs Jensen"},
            {"value": "902c246b-6245-4190-8e05-00816be7344a", "display": "Mandy Pepperidge"}
        ],
        "meta": {"resourceType": "Group"}
    })
}

#[test]
fn section_3_5_2_1_add() {
    let mut g = group();
    apply(
        &mut g,
        json!({"schemas": [schemas::PATCH_OP], "Operations": [{
            "op": "add", "path": "members",
            "value": [{"display": "James Smith", "$ref": "https://example.com/v2/Users/08e1d05d", "value": "08e1d05d"}]
        }]}),
    )
    .unwrap();
    assert_eq!(g["members"].as_array().unwrap().len(), 3);
    assert_eq!(g["members"][2]["$ref"], "https://example.com/v2/Users/08e1d05d");

    let mut u = bjensen();
    apply(&mut u, json!({"schemas": [schemas::PATCH_OP], "Operations": [{
        "op": "add", "value": {"emails": [{"value": "babs@jensen.org", "type": "home"}, {"value": "b@new.org", "type": "other"}], "nickname": "Babs"}
    }]}))
    .unwrap();
    assert_eq!(u["emails"].as_array().unwrap().len(), 3, "an identical value is not added twice");
    assert_eq!(u["nickName"], "Babs");
}

#[test]
fn section_3_5_2_2_remove() {
    let mut g = group();
    apply(
        &mut g,
        json!({"Operations": [{"op": "remove", "path": "members[value eq \"2819c223-7f76-453a-919d-413861904646\"]"}]}),
    )
    .unwrap();
    assert_eq!(g["members"].as_array().unwrap().len(), 1);

    let mut g = group();
    apply(&mut g, json!({"Operations": [{"op": "remove", "path": "members"}]})).unwrap();
    assert!(g.get("members").is_none());

    let mut u = bjensen();
    apply(
        &mut u,
        json!({"Operations": [{"op": "remove", "path": "emails[type eq \"work\" and value ew \"example.com\"]"}]}),
    )
    .unwrap();
    assert_eq!(u["emails"], json!([{"value": "babs@jensen.org", "type": "home"}]));

    let mut u = bjensen();
    apply(&mut u, json!({"Operations": [{"op": "remove", "path": "x509Certificates[value eq \"MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAwTjELMAkGA1UEBhMCVVMx\"]"}]})).unwrap();
    assert!(u.get("x509Certificates").is_none());

    let mut g = group();
    apply(
        &mut g,
        json!({"Operations": [
            {"op": "remove", "path": "members[value eq \"2819c223-7f76-453a-919d-413861904646\"]"},
            {"op": "add", "path": "members", "value": [{"display": "James Smith", "value": "08e1d05d"}]}
        ]}),
    )
    .unwrap();
    let ids: Vec<&str> = g["members"].as_array().unwrap().iter().filter_map(|m| m["value"].as_str()).collect();
    assert_eq!(ids, ["902c246b-6245-4190-8e05-00816be7344a", "08e1d05d"]);

    let mut u = bjensen();
    let before = u.clone();
    let err = apply(&mut u, json!({"Operations": [{"op": "remove"}]})).unwrap_err();
    assert_eq!(err.scim_type, Some(ScimType::NoTarget));
    assert_eq!(u, before);
}

#[test]
fn section_3_5_2_3_replace() {
    let mut g = group();
    apply(
        &mut g,
        json!({"Operations": [{"op": "replace", "path": "members", "value": [
            {"display": "Babs Jensen", "value": "2819c223"}, {"display": "James Smith", "value": "08e1d05d"}
        ]}]}),
    )
    .unwrap();
    assert_eq!(g["members"].as_array().unwrap().len(), 2);
    assert_eq!(g["members"][1]["value"], "08e1d05d");

    let mut u = bjensen();
    apply(&mut u, json!({"Operations": [{"op": "replace", "path": "addresses[type eq \"work\"]", "value": {
        "type": "work", "streetAddress": "911 Universal City Plaza", "locality": "Hollywood", "region": "CA",
        "postalCode": "91608", "country": "US", "formatted": "911 Universal City Plaza\nHollywood, CA 91608 US", "primary": true
    }}]}))
    .unwrap();
    assert_eq!(u["addresses"][0]["streetAddress"], "911 Universal City Plaza");
    assert_eq!(u["addresses"][0]["postalCode"], "91608");

    let mut u = bjensen();
    apply(&mut u, json!({"Operations": [{"op": "replace", "path": "addresses[type eq \"work\"].streetAddress", "value": "1010 Broadway Ave"}]})).unwrap();
    assert_eq!(u["addresses"][0]["streetAddress"], "1010 Broadway Ave");
    assert_eq!(u["addresses"][0]["locality"], "Hollywood");

    let mut u = bjensen();
    apply(&mut u, json!({"Operations": [{"op": "replace", "value": {
        "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true}, {"value": "babs@jensen.org", "type": "home"}],
        "nickname": "Babs"
    }}]}))
    .unwrap();
    assert_eq!(u["nickName"], "Babs");
    assert_eq!(u["emails"].as_array().unwrap().len(), 2);
}

#[test]
fn entra_and_okta_requests() {
    let mut u = bjensen();
    let changed = apply(
        &mut u,
        json!({"schemas": [schemas::PATCH_OP], "Operations": [
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "barbara@example.com"},
            {"op": "Replace", "path": "name.givenName", "value": "Babs"},
            {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": "26118915-6090-4610-87e4-49d8ca9f808d"},
            {"op": "Replace", "path": "active", "value": "False"}
        ]}),
    );
    // Entra sends the complex `manager` as the manager's id alone: it is taken as its `value`.
    assert!(changed.expect("Entra's plain manager id is accepted"));
    assert_eq!(u[ENTERPRISE_USER_URN]["manager"]["value"], "26118915-6090-4610-87e4-49d8ca9f808d", "{u}");
    assert_eq!((u["name"]["givenName"].clone(), u["active"].clone()), (json!("Babs"), json!(false)));
    let mut u = bjensen();
    let changed = apply(&mut u, json!({"Operations": [
        {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "barbara@example.com"},
        {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": {"value": "26118915"}},
        {"op": "Replace", "path": "active", "value": "False"}
    ]}))
    .unwrap();
    assert!(changed);
    assert_eq!(u["emails"][0]["value"], "barbara@example.com");
    assert_eq!(u[schemas::ENTERPRISE_USER]["manager"]["value"], "26118915");
    assert_eq!(u["active"], false);

    let mut u = bjensen();
    apply(&mut u, json!({"Operations": [{"op": "replace", "value": {"active": false}}]})).unwrap();
    assert_eq!(u["active"], false);
    assert!(!apply(&mut u, json!({"Operations": [{"op": "replace", "value": {"active": false}}]})).unwrap());
}
