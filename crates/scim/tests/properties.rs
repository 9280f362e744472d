//! Property tests: the filter printer round-trips, parsers never panic, a failed PATCH leaves the
//! resource byte-identical, and PATCH never panics whatever it is given.

use proptest::prelude::*;
use serde_json::{Value, json};
use tenure_scim::filter::{AttrPath, CompareOp, Filter};
use tenure_scim::patch::apply_patch;
use tenure_scim::schema::Registry;
use tenure_scim::{PatchOperation, PatchPath, PatchVerb, parse_filter, schemas};

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("userName".to_owned()),
        Just("emails".to_owned()),
        Just("value".to_owned()),
        Just("$ref".to_owned()),
        // Keywords are legal attribute names; the parser must tell them apart by position.
        Just("not".to_owned()),
        Just("and".to_owned()),
        Just("pr".to_owned()),
        "[a-zA-Z][a-zA-Z0-9_-]{0,8}",
    ]
}

fn attr_path() -> impl Strategy<Value = AttrPath> {
    let urn = prop_oneof![
        4 => Just(None),
        1 => Just(Some(schemas::ENTERPRISE_USER.to_owned())),
        1 => Just(Some("urn:x:vendor".to_owned())),
    ];
    (urn, name(), proptest::option::of(name())).prop_map(|(urn, name, sub)| AttrPath { urn, name, sub })
}

fn literal() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<String>().prop_map(Value::String),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ]
}

fn op() -> impl Strategy<Value = CompareOp> {
    proptest::sample::select(CompareOp::ALL.to_vec())
}

fn leaf() -> impl Strategy<Value = Filter> {
    prop_oneof![
        (attr_path(), op(), literal()).prop_map(|(path, op, value)| Filter::Compare { path, op, value }),
        attr_path().prop_map(Filter::Present),
    ]
}

fn logic(inner: impl Strategy<Value = Filter> + Clone) -> impl Strategy<Value = Filter> {
    prop_oneof![
        (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))),
        (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
        inner.prop_map(|a| Filter::Not(Box::new(a))),
    ]
}

/// Filters as the parser produces them: value paths hold no value paths and name no sub-attribute.
fn filter() -> impl Strategy<Value = Filter> {
    let element = leaf().prop_recursive(3, 12, 2, logic);
    let value_path =
        (attr_path(), element).prop_map(|(path, f)| Filter::ValuePath { path: path.parent(), filter: Box::new(f) });
    prop_oneof![3 => leaf(), 1 => value_path].prop_recursive(4, 24, 2, logic)
}

fn user() -> Value {
    json!({
        "schemas": [schemas::USER],
        "id": "u1",
        "userName": "ann",
        "name": {"givenName": "Ann"},
        "active": true,
        "emails": [{"value": "a@x", "type": "work", "primary": true}, {"value": "b@x", "type": "home"}],
        "meta": {"resourceType": "User"},
        schemas::ENTERPRISE_USER: {"department": "Sales"},
        "urn:x:vendor": {"seat": "pro"}
    })
}

fn patch_path() -> impl Strategy<Value = Option<String>> {
    let known = proptest::sample::select(vec![
        "userName",
        "active",
        "title",
        "id",
        "meta",
        "meta.version",
        "name",
        "name.givenName",
        "name.nope",
        "emails",
        "emails.value",
        "emails[type eq \"work\"]",
        "emails[type eq \"work\"].value",
        "emails[type eq \"work\"].primary",
        "emails[value co \"x\"]",
        "emails[type eq \"other\"].value",
        "groups",
        "members",
        "nickName",
        "customThing",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        "urn:x:vendor:seat",
        "userName[value eq 1]",
        "emails[",
        "",
        "a.b.c",
    ])
    .prop_map(|p| Some(p.to_owned()));
    prop_oneof![4 => known, 1 => Just(None), 1 => any::<String>().prop_map(Some)]
}

fn patch_value() -> impl Strategy<Value = Option<Value>> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(Value::from),
        proptest::sample::select(vec!["True", "false", "x", "work", "2011-05-13T04:42:34Z", ""]).prop_map(Value::from),
    ];
    let value = leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(
                proptest::sample::select(vec![
                    "value",
                    "type",
                    "primary",
                    "givenName",
                    "active",
                    "name.givenName",
                    "id",
                    "schemas",
                    "$ref",
                    "display",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
                    "urn:x:vendor",
                ])
                .prop_map(str::to_owned),
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    proptest::option::of(value)
}

fn operation() -> impl Strategy<Value = PatchOperation> {
    let verb = proptest::sample::select(vec![PatchVerb::Add, PatchVerb::Remove, PatchVerb::Replace]);
    (verb, patch_path(), patch_value()).prop_map(|(op, path, value)| PatchOperation { op, path, value })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn printer_round_trips(f in filter()) {
        let printed = f.to_string();
        let parsed = parse_filter(&printed);
        prop_assert_eq!(parsed.as_ref(), Ok(&f), "printed as {}", printed);
    }

    #[test]
    fn parsers_never_panic(text in any::<String>()) {
        let _ = parse_filter(&text);
        let _ = PatchPath::parse(&text);
        let _ = AttrPath::parse(&text);
    }

    #[test]
    fn filter_like_text_never_panics(text in r#"[a-zA-Z\.:\[\]\(\)" ]{0,40}( eq | co | pr| and | or |not \()[a-zA-Z0-9\.:\[\]\(\)" ]{0,40}"#) {
        if let Ok(f) = parse_filter(&text) {
            let _ = f.matches(&user());
            prop_assert_eq!(parse_filter(&f.to_string()), Ok(f));
        }
    }

    #[test]
    fn failed_patch_leaves_the_resource_byte_identical(ops in proptest::collection::vec(operation(), 1..5)) {
        let registry = Registry::standard();
        let view = registry.resource_type("User").unwrap();
        let mut resource = user();
        let before = serde_json::to_string(&resource).unwrap();
        match apply_patch(&mut resource, &ops, view) {
            Err(_) => prop_assert_eq!(serde_json::to_string(&resource).unwrap(), before),
            Ok(outcome) => {
                prop_assert!(resource.is_object());
                if !outcome.changed {
                    prop_assert_eq!(serde_json::to_string(&resource).unwrap(), before);
                }
                // Applying the same operations again never panics either.
                let _ = apply_patch(&mut resource, &ops, view);
            }
        }
    }

    #[test]
    fn group_patches_never_panic(ops in proptest::collection::vec(operation(), 1..5)) {
        let registry = Registry::standard();
        let view = registry.resource_type("Group").unwrap();
        let mut group = json!({"schemas": [schemas::GROUP], "displayName": "g", "members": [{"value": "a"}]});
        let _ = apply_patch(&mut group, &ops, view);
    }
}
