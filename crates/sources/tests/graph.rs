//! The Microsoft Graph source against the fake Graph and identity platform.

use std::time::{Duration, Instant};

use serde_json::json;
use tenure_core::PersonStatus;
use tenure_core::Secret;
use tenure_core::import::{GroupChange, ImportBatch, ImportDelta, PersonChange};
use tenure_sources::CloudError;
use tenure_sources::cloud_http::HttpOptions;
use tenure_sources::graph::{AppCredentials, GraphConfig, GraphCredential, GraphDelivery, GraphPull, GraphSource};
use tenure_testkit::cloud_fake::{OTHER_KEY, TEST_CERT, TEST_KEY, fixture};
use tenure_testkit::graph_fake::{CLIENT_ID, CLIENT_SECRET, Expiry, GraphFake, TENANT};

fn config(fake: &GraphFake, credential: GraphCredential) -> GraphConfig {
    GraphConfig {
        tenant_id: TENANT.into(),
        client_id: CLIENT_ID.into(),
        credential,
        base_url: Some(fake.base_url()),
        token_url: Some(fake.token_url()),
    }
}

fn fast() -> HttpOptions {
    HttpOptions {
        initial_backoff: Duration::from_millis(5),
        max_retry_wait: Duration::from_secs(5),
        ..Default::default()
    }
}

/// A source authenticating with `secret` (the env-var indirection is the engine's business).
fn source_with_secret(fake: &GraphFake, secret: &str, options: HttpOptions) -> anyhow::Result<GraphSource> {
    let config = config(fake, GraphCredential::ClientSecretEnv("UNUSED".into()));
    let creds = AppCredentials::from_secret(TENANT, CLIENT_ID, Secret::new(secret), Some(&fake.token_url()))?;
    Ok(GraphSource::with_credentials(&config, creds, options)?)
}

fn source(fake: &GraphFake) -> anyhow::Result<GraphSource> {
    source_with_secret(fake, CLIENT_SECRET, fast())
}

fn user(id: &str, department: &str) -> serde_json::Value {
    json!({"userPrincipalName": format!("{id}@contoso.onmicrosoft.com"), "mail": format!("{id}@contoso.com"),
        "displayName": format!("User {id}"), "givenName": id, "surname": "Test", "department": department,
        "jobTitle": "Engineer", "employeeId": format!("E-{id}"), "accountEnabled": true})
}

/// Five people, a nested group, a disabled account, managers; small pages and split groups so
/// paging and merging are exercised on every pull.
fn populate(fake: &GraphFake) {
    let mut dir = fake.dir();
    dir.page_size = 3;
    dir.members_per_object = 2;
    for id in ["u1", "u2", "u3", "u4", "u5"] {
        dir.put_user(id, user(id, "Engineering"));
        if id != "u1" {
            dir.set_manager(id, Some("u1"));
        }
    }
    dir.set_user_prop("u3", "accountEnabled", json!(false));
    dir.put_group("gE", "Engineering");
    dir.put_group("gP", "Platform");
    dir.put_group("gS", "Sales");
    for (g, m, kind) in [
        ("gE", "u1", "user"),
        ("gE", "u2", "user"),
        ("gE", "gP", "group"),
        ("gP", "u3", "user"),
        ("gP", "u4", "user"),
        ("gS", "u5", "user"),
    ] {
        dir.add_member(g, m, kind);
    }
}

fn full(pull: GraphPull) -> (ImportBatch, String) {
    match pull.delivery {
        GraphDelivery::Full(batch) => (batch, pull.cursor),
        GraphDelivery::Delta(d) => panic!("expected a full delivery, got a delta {d:?}"),
    }
}

fn delta(pull: GraphPull) -> (ImportDelta, String) {
    match pull.delivery {
        GraphDelivery::Delta(d) => (d, pull.cursor),
        GraphDelivery::Full(_) => panic!("expected a delta, got a full delivery ({:?})", pull.resync_reason),
    }
}

/// A batch in a canonical order, to compare two ways of arriving at the same directory.
fn canonical(mut batch: ImportBatch) -> ImportBatch {
    batch.people.sort_by(|a, b| a.source_key.cmp(&b.source_key));
    for p in &mut batch.people {
        p.groups.sort();
    }
    batch.groups.sort_by(|a, b| a.name.cmp(&b.name));
    for g in &mut batch.groups {
        g.parents.sort();
    }
    batch
}

fn person<'a>(batch: &'a ImportBatch, key: &str) -> &'a tenure_core::import::ImportedPerson {
    batch.people.iter().find(|p| p.source_key == key).unwrap_or_else(|| panic!("{key} delivered"))
}

#[tokio::test]
async fn first_pull_is_a_full_snapshot() -> anyhow::Result<()> {
    let fake = GraphFake::start().await?;
    populate(&fake);
    let (batch, cursor) = full(source(&fake)?.pull(None).await?);
    assert_eq!(batch.people.len(), 5);
    let u2 = person(&batch, "u2");
    assert_eq!(u2.user_name, "u2@contoso.onmicrosoft.com");
    assert_eq!(u2.email, "u2@contoso.com");
    assert_eq!(u2.employee_id.as_deref(), Some("E-u2"));
    assert_eq!(u2.manager_key.as_deref(), Some("u1"));
    assert_eq!(u2.groups, ["Engineering"]);
    assert_eq!(person(&batch, "u3").status, PersonStatus::Suspended, "accountEnabled false");
    assert_eq!(person(&batch, "u3").groups, ["Platform"]);
    let platform = batch.groups.iter().find(|g| g.name == "Platform").expect("Platform");
    assert_eq!(platform.parents, ["Engineering"], "nested group");
    assert!(!cursor.is_empty());
    let counts = fake.dir().counts.clone();
    assert_eq!(counts.users_delta, 2, "5 users in pages of 3");
    assert_eq!(counts.token, 1);
    Ok(())
}

#[tokio::test]
async fn later_pulls_deliver_changes_that_rebuild_the_same_directory() -> anyhow::Result<()> {
    let fake = GraphFake::start().await?;
    populate(&fake);
    let graph = source(&fake)?;
    let (first, cursor) = full(graph.pull(None).await?);
    {
        let mut dir = fake.dir();
        dir.set_user_prop("u1", "department", json!("R&D"));
        dir.soft_delete_user("u2");
        dir.hard_delete_user("u3");
        dir.put_user("u6", user("u6", "Sales"));
        dir.add_member("gS", "u6", "user");
        dir.remove_member("gP", "u4");
        dir.add_member("gE", "u5", "user");
        dir.put_group("gN", "New");
        dir.add_member("gE", "gN", "group");
        dir.add_member("gN", "u5", "user");
    }
    let reads_before = fake.dir().counts.user_reads;
    let (changes, cursor) = delta(graph.pull(Some(&cursor)).await?);
    let mut upserted: Vec<(&str, Option<&str>, Vec<String>)> = Vec::new();
    let mut removed: Vec<&str> = Vec::new();
    for change in &changes.people {
        match change {
            PersonChange::Upsert { person, groups } => {
                let groups = groups.clone().expect("an upsert carries the person's direct groups");
                upserted.push((&person.source_key, person.department.as_deref(), groups));
            }
            PersonChange::Remove { source_key } => removed.push(source_key),
        }
    }
    upserted.sort();
    removed.sort();
    let names = |g: &[&str]| g.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        upserted,
        [
            ("u1", Some("R&D"), names(&["Engineering"])),
            // Unchanged, but moved between groups: read whole, in case that brings them into scope.
            ("u4", Some("Engineering"), names(&[])),
            ("u5", Some("Engineering"), names(&["Engineering", "New", "Sales"])),
            ("u6", Some("Sales"), names(&["Sales"])),
        ]
    );
    assert_eq!(removed, ["u2", "u3"], "soft and hard deletes both leave");
    let counts = fake.dir().counts.clone();
    assert_eq!((counts.user_reads - reads_before, counts.member_of_reads), (4, 4), "only those users are read");
    assert!(
        changes
            .groups
            .contains(&GroupChange::AddMembers { group: "Engineering".into(), person_keys: vec!["u5".into()] })
    );
    assert!(
        changes.groups.contains(&GroupChange::AddMembers { group: "Sales".into(), person_keys: vec!["u6".into()] })
    );
    assert!(
        changes
            .groups
            .contains(&GroupChange::RemoveMembers { group: "Platform".into(), person_keys: vec!["u4".into()] })
    );
    assert!(
        changes
            .groups
            .iter()
            .any(|c| matches!(c, GroupChange::Upsert(g) if g.name == "New" && g.parents == ["Engineering"]))
    );

    // The delta applied to the first snapshot is what a fresh full read sees.
    let mut rebuilt = first.clone();
    rebuilt.apply_delta(&changes)?;
    let (fresh, _) = full(source(&fake)?.pull(None).await?);
    assert_eq!(canonical(rebuilt.clone()).people, canonical(fresh.clone()).people);
    assert_eq!(canonical(rebuilt.clone()).groups, canonical(fresh).groups);

    // A deleted group: its members lose it, and nothing else is touched.
    fake.dir().delete_group("gP");
    let (changes, cursor) = delta(graph.pull(Some(&cursor)).await?);
    assert!(changes.people.is_empty());
    assert!(changes.groups.contains(&GroupChange::Remove { name: "Platform".into() }), "{changes:?}");
    rebuilt.apply_delta(&changes)?;
    assert!(rebuilt.people.iter().all(|p| !p.groups.contains(&"Platform".to_owned())));

    // Nothing changed: an empty delta, and the cursor still works.
    let (changes, _) = delta(graph.pull(Some(&cursor)).await?);
    assert!(changes.is_empty(), "{changes:?}");
    Ok(())
}

#[tokio::test]
async fn an_expired_delta_token_means_a_full_resync() -> anyhow::Result<()> {
    let fake = GraphFake::start().await?;
    populate(&fake);
    let graph = source(&fake)?;
    let (_, cursor) = full(graph.pull(None).await?);
    fake.dir().expire_delta_tokens(Expiry::Gone);
    let pull = graph.pull(Some(&cursor)).await?;
    let reason = pull.resync_reason.clone().expect("a resync says why");
    assert!(reason.contains("expired"), "{reason}");
    let (batch, cursor) = full(pull);
    assert_eq!(batch.people.len(), 5);
    // The new cursor works; and the 400 syncStateNotFound form is understood the same way.
    let (changes, cursor) = delta(graph.pull(Some(&cursor)).await?);
    assert!(changes.is_empty());
    fake.dir().expire_delta_tokens(Expiry::SyncStateNotFound);
    let pull = graph.pull(Some(&cursor)).await?;
    assert!(pull.resync_reason.as_deref().is_some_and(|r| r.contains("syncStateNotFound")), "{:?}", pull.resync_reason);
    // A cursor that is not one (an older format, a corrupted row) is not trusted either.
    let pull = graph.pull(Some("garbage")).await?;
    assert!(pull.resync_reason.is_some());
    let (_, cursor) = full(pull);
    // Nor is one whose links lead to another host (the base URL was changed since).
    let elsewhere = cursor.replace("127.0.0.1", "localhost");
    let pull = graph.pull(Some(&elsewhere)).await?;
    assert!(pull.resync_reason.as_deref().is_some_and(|r| r.contains("do not lead to")), "{:?}", pull.resync_reason);
    Ok(())
}

#[tokio::test]
async fn renamed_groups_and_changed_nesting_mean_a_full_resync() -> anyhow::Result<()> {
    let fake = GraphFake::start().await?;
    populate(&fake);
    let graph = source(&fake)?;
    let (_, cursor) = full(graph.pull(None).await?);
    fake.dir().put_group("gS", "Sales EMEA");
    let pull = graph.pull(Some(&cursor)).await?;
    assert!(pull.resync_reason.as_deref().is_some_and(|r| r.contains("renamed")), "{:?}", pull.resync_reason);
    let (batch, cursor) = full(pull);
    assert_eq!(person(&batch, "u5").groups, ["Sales EMEA"]);

    // Existing groups nesting differently may move whole subtrees in or out of a group-based
    // scope, with people the store does not hold: a full read, said so.
    fake.dir().add_member("gS", "gE", "group");
    let pull = graph.pull(Some(&cursor)).await?;
    assert!(pull.resync_reason.as_deref().is_some_and(|r| r.contains("nesting")), "{:?}", pull.resync_reason);
    let (batch, cursor) = full(pull);
    assert_eq!(
        batch.groups.iter().find(|g| g.name == "Engineering").map(|g| g.parents.clone()),
        Some(vec!["Sales EMEA".to_owned()])
    );
    fake.dir().delete_group("gE");
    let pull = graph.pull(Some(&cursor)).await?;
    assert!(
        pull.resync_reason.as_deref().is_some_and(|r| r.contains("nested in, was deleted")),
        "{:?}",
        pull.resync_reason
    );
    Ok(())
}

#[tokio::test]
async fn throttling_is_waited_out_as_retry_after_asks() -> anyhow::Result<()> {
    let fake = GraphFake::start().await?;
    populate(&fake);
    {
        let mut dir = fake.dir();
        dir.throttle.remaining = 2;
        dir.throttle.status = 429;
        dir.throttle.retry_after = Some(Duration::from_secs(1));
    }
    let started = Instant::now();
    let (batch, _) = full(source(&fake)?.pull(None).await?);
    assert_eq!(batch.people.len(), 5);
    // Correctness, not speed: the 5 ms backoff alone would not have waited a second.
    assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After honoured");
    let counts = fake.dir().counts.clone();
    assert_eq!(counts.throttled, 2);
    // 5 users in pages of 3: 2 pages; 3 groups split into 5 objects in pages of 3: 2 pages.
    assert_eq!(counts.users_delta + counts.groups_delta, 2 + 2 + 2, "each throttled page asked again once");
    Ok(())
}

#[tokio::test]
async fn endless_throttling_fails_after_bounded_attempts() -> anyhow::Result<()> {
    let fake = GraphFake::start().await?;
    populate(&fake);
    fake.dir().throttle = tenure_testkit::cloud_fake::Throttle { remaining: 1000, status: 429, retry_after: None };
    let options = HttpOptions { max_attempts: 4, ..fast() };
    let err = source_with_secret(&fake, CLIENT_SECRET, options)?.pull(None).await.unwrap_err();
    assert!(matches!(err, CloudError::Throttled { attempts: 4, .. }), "{err}");
    assert!(err.is_retryable());
    assert!(fake.dir().counts.throttled <= 8, "two walks, four attempts each at most");
    Ok(())
}

#[tokio::test]
async fn a_wrong_secret_is_a_clear_permanent_error() -> anyhow::Result<()> {
    let fake = GraphFake::start().await?;
    populate(&fake);
    let err = source_with_secret(&fake, "wrong", fast())?.pull(None).await.unwrap_err();
    assert!(
        matches!(&err, CloudError::Credentials { code, detail, .. } if code == "invalid_client" && detail.contains("AADSTS7000215")),
        "{err}"
    );
    assert!(!err.is_retryable());
    assert!(!err.to_string().contains("wrong"), "the secret is not in the message: {err}");
    let tokens = fake.dir().counts.token;
    assert!((1..=2).contains(&tokens), "not retried: {tokens}");
    Ok(())
}

#[tokio::test]
async fn certificate_credentials_sign_a_client_assertion() -> anyhow::Result<()> {
    let fake = GraphFake::start().await?;
    populate(&fake);
    let cert = GraphCredential::Certificate { certificate: fixture(TEST_CERT), private_key: fixture(TEST_KEY) };
    let (batch, _) = full(GraphSource::new(&config(&fake, cert), fast())?.pull(None).await?);
    assert_eq!(batch.people.len(), 5);

    // The registered certificate's thumbprint, but another key's signature.
    let wrong = GraphCredential::Certificate { certificate: fixture(TEST_CERT), private_key: fixture(OTHER_KEY) };
    let err = GraphSource::new(&config(&fake, wrong), fast())?.pull(None).await.unwrap_err();
    assert!(
        matches!(&err, CloudError::Credentials { code, detail, .. } if code == "invalid_client" && detail.contains("signature")),
        "{err}"
    );
    assert!(!err.is_retryable());

    // A missing secret variable is caught before any request.
    let missing = GraphCredential::ClientSecretEnv("TENURE_TEST_SURELY_UNSET_VARIABLE".into());
    let err = GraphSource::new(&config(&fake, missing), fast()).unwrap_err();
    assert!(err.to_string().contains("TENURE_TEST_SURELY_UNSET_VARIABLE"), "{err}");
    Ok(())
}

#[tokio::test]
async fn the_token_endpoint_rejects_a_tampered_assertion() -> anyhow::Result<()> {
    let fake = GraphFake::start().await?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let signer = tenure_sources::jwt::RsaSigner::from_pem(&std::fs::read(fixture(TEST_KEY))?, "test key")?;
    let x5t = tenure_sources::jwt::x5t_thumbprint(&std::fs::read(fixture(TEST_CERT))?, "cert")?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = json!({"aud": fake.token_url(), "iss": CLIENT_ID, "sub": CLIENT_ID, "jti": "1", "nbf": now, "iat": now, "exp": now + 300});
    let good = signer.sign(&[("x5t", &x5t)], &claims)?;
    let post = |assertion: String| {
        let url = fake.token_url();
        async move {
            let form = [
                ("client_id", CLIENT_ID),
                ("scope", "https://graph.microsoft.com/.default"),
                ("grant_type", "client_credentials"),
                ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                ("client_assertion", &assertion),
            ];
            let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
            let res = reqwest::Client::new()
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await?;
            anyhow::Ok((res.status().as_u16(), res.json::<serde_json::Value>().await?))
        }
    };
    let (status, body) = post(good.clone()).await?;
    assert_eq!(status, 200, "{body}");
    let parts: Vec<&str> = good.split('.').collect();
    let mut forged = claims.clone();
    forged["exp"] = json!(now + 86_400 * 365);
    let tampered = format!("{}.{}.{}", parts[0], tenure_sources::jwt::b64(forged.to_string().as_bytes()), parts[2]);
    let (status, body) = post(tampered).await?;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client", "{body}");
    Ok(())
}

/// Figures, not a test of speed: `cargo test -p tenure-sources --test graph -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "prints figures; run on demand"]
async fn figures_for_a_large_directory() -> anyhow::Result<()> {
    let people = 20_000;
    let fake = GraphFake::start().await?;
    {
        let mut dir = fake.dir();
        dir.page_size = 999; // Graph's largest delta page for users
        dir.members_per_object = 500;
        for g in 0..50 {
            dir.put_group(&format!("g{g}"), &format!("Group {g}"));
        }
        for i in 0..people {
            let id = format!("u{i:05}");
            dir.put_user(&id, user(&id, "Engineering"));
            dir.add_member(&format!("g{}", i % 50), &id, "user");
        }
    }
    let graph = source(&fake)?;
    let started = Instant::now();
    let (batch, cursor) = full(graph.pull(None).await?);
    let full_ms = started.elapsed().as_millis();
    assert_eq!(batch.people.len(), people);
    {
        let mut dir = fake.dir();
        for i in 0..100 {
            dir.set_user_prop(&format!("u{:05}", i * 7), "jobTitle", json!("Lead"));
        }
    }
    let started = Instant::now();
    let (changes, _) = delta(graph.pull(Some(&cursor)).await?);
    let delta_ms = started.elapsed().as_millis();
    assert_eq!(changes.people.len(), 100);
    println!(
        "{}",
        json!({"people": people, "full_ms": full_ms, "people_per_s": people as u128 * 1000 / full_ms.max(1),
            "delta_changes": 100, "delta_ms": delta_ms})
    );
    Ok(())
}
