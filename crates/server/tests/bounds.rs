//! Bounded work per SCIM request, over HTTP on both backends: PATCH beyond its advertised cap is
//! 400 `tooMany` (the cap is in `/ServiceProviderConfig`), a filter of 1,000 terms is answered
//! (it used to exceed SQLite's expression depth and answer 500) and one more is 400
//! `invalidFilter` naming the limit; a group PATCH answers 200 with the group as projected, or
//! 204 when the client prefers it. Times are measured by `tenure bench scim-bounds`, not here.

mod replay;

use replay::{Expect, GROUP, Replayer, USER, id_of};
use reqwest::Method;
use serde_json::{Value, json};
use tenure_testkit::TestBackend;

async fn bounds(backend: TestBackend) -> anyhow::Result<()> {
    let mut r = Replayer::start(backend, Vec::new()).await?;
    let spc = r.form("discovery", Method::GET, "/ServiceProviderConfig", None, Expect::Ok(200)).await?;
    let limits = &spc.body["urn:tenure:params:scim:schemas:extension:limits:2.0:ServiceProviderConfig"];
    assert_eq!(
        (limits["patchMaxOperations"].clone(), limits["filterMaxTerms"].clone()),
        (json!(1000), json!(1000)),
        "{}",
        spc.body
    );
    assert!(spc.body["schemas"].to_string().contains("limits"), "{}", spc.body);

    let u = r
        .form(
            "user",
            Method::POST,
            "/Users",
            Some(json!({"schemas": [USER], "userName": "ann@example.com"})),
            Expect::Ok(201),
        )
        .await?;
    let id = id_of(&u);
    let adds = |n: usize| -> Value {
        Value::Array(
            (0..n)
                .map(|i| json!({"op": "add", "path": "emails", "value": [{"value": format!("a{i}@example.com")}]}))
                .collect(),
        )
    };
    let refused = r
        .form(
            "20,000 operations",
            Method::PATCH,
            &format!("/Users/{id}"),
            Replayer::ops(adds(20_000)),
            Expect::Error(400, Some("tooMany")),
        )
        .await?;
    assert!(refused.body["detail"].as_str().unwrap_or("").contains("at most 1000"), "{}", refused.body);
    let done = r
        .form("1,000 operations", Method::PATCH, &format!("/Users/{id}"), Replayer::ops(adds(1_000)), Expect::Ok(200))
        .await?;
    assert_eq!(done.body["emails"].as_array().map(Vec::len), Some(1_000));

    let terms = |n: usize| (0..n).map(|i| format!("userName eq \"u{i}@example.com\"")).collect::<Vec<_>>().join(" or ");
    let many = r
        .form(
            "filter of 1,000 terms",
            Method::GET,
            &format!("/Users?filter={}", terms(999) + " or userName eq \"ann@example.com\""),
            None,
            Expect::Ok(200),
        )
        .await?;
    assert_eq!(many.body["totalResults"], 1, "{}", many.body);
    let over = r
        .form(
            "filter of 1,001 terms",
            Method::GET,
            &format!("/Users?filter={}", terms(1_001)),
            None,
            Expect::Error(400, Some("invalidFilter")),
        )
        .await?;
    assert!(over.body["detail"].as_str().unwrap_or("").contains("1000"), "{}", over.body);

    let g = r
        .form(
            "group",
            Method::POST,
            "/Groups",
            Some(json!({"schemas": [GROUP], "displayName": "eng", "members": [{"value": id}]})),
            Expect::Ok(201),
        )
        .await?;
    let gid = id_of(&g);
    let rename = json!([{"op": "replace", "path": "displayName", "value": "engineering"}]);
    let full = r
        .form(
            "group PATCH, no preference",
            Method::PATCH,
            &format!("/Groups/{gid}"),
            Replayer::ops(rename.clone()),
            Expect::Ok(200),
        )
        .await?;
    assert_eq!(full.body["members"][0]["value"], id.as_str(), "{}", full.body);
    let slim = r
        .form(
            "group PATCH without members",
            Method::PATCH,
            &format!("/Groups/{gid}?excludedAttributes=members"),
            Replayer::ops(rename.clone()),
            Expect::Ok(200),
        )
        .await?;
    assert!(slim.body.get("members").is_none() && slim.body["displayName"] == "engineering", "{}", slim.body);
    let mut minimal = Replayer::start(backend, vec![("prefer", "return=minimal".to_owned())]).await?;
    let g = minimal
        .form(
            "group",
            Method::POST,
            "/Groups",
            Some(json!({"schemas": [GROUP], "displayName": "ops"})),
            Expect::Ok(201),
        )
        .await?;
    let none = minimal
        .form(
            "group PATCH, return=minimal",
            Method::PATCH,
            &format!("/Groups/{}", id_of(&g)),
            Replayer::ops(rename),
            Expect::Ok(204),
        )
        .await?;
    assert!(none.headers.get("etag").is_some());
    Ok(())
}

#[tokio::test]
async fn bounds_on_sqlite() -> anyhow::Result<()> {
    bounds(TestBackend::Sqlite).await
}

#[tokio::test]
async fn bounds_on_postgres() -> anyhow::Result<()> {
    bounds(TestBackend::Postgres).await
}
