//! The Google Workspace source against the fake Admin SDK and token endpoint.

use std::time::{Duration, Instant};

use serde_json::json;
use tenure_core::PersonStatus;
use tenure_core::import::ImportBatch;
use tenure_sources::CloudError;
use tenure_sources::cloud_http::HttpOptions;
use tenure_sources::google::{GoogleConfig, GoogleSource};
use tenure_testkit::cloud_fake::{OTHER_KEY, TEST_KEY, fixture};
use tenure_testkit::google_fake::{ADMIN, GoogleFake, GoogleGroup};

struct Setup {
    fake: GoogleFake,
    _dir: tempfile::TempDir,
    config: GoogleConfig,
}

async fn setup_with_key(key: &str) -> anyhow::Result<Setup> {
    let fake = GoogleFake::start().await?;
    let dir = tempfile::tempdir()?;
    let key_file = dir.path().join("sa.json");
    std::fs::write(&key_file, fake.key_file_json(&std::fs::read_to_string(fixture(key))?))?;
    let config = GoogleConfig {
        key_file,
        admin: ADMIN.into(),
        customer: "my_customer".into(),
        base_url: Some(fake.base_url()),
        token_url: None, // the key file's token_uri points at the fake
    };
    Ok(Setup { fake, _dir: dir, config })
}

async fn setup() -> anyhow::Result<Setup> {
    setup_with_key(TEST_KEY).await
}

fn fast() -> HttpOptions {
    HttpOptions {
        initial_backoff: Duration::from_millis(5),
        max_retry_wait: Duration::from_secs(5),
        ..Default::default()
    }
}

fn user(id: &str, email: &str) -> serde_json::Value {
    json!({"kind": "admin#directory#user", "id": id, "primaryEmail": email, "orgUnitPath": "/",
        "name": {"givenName": id, "familyName": "Test", "fullName": format!("{id} Test")},
        "suspended": false, "archived": false})
}

fn group(id: &str, email: &str, members: &[(&str, &str)]) -> GoogleGroup {
    GoogleGroup {
        id: id.into(),
        email: email.into(),
        members: members.iter().map(|(m, t)| ((*m).into(), (*t).into())).collect(),
    }
}

fn person<'a>(batch: &'a ImportBatch, key: &str) -> &'a tenure_core::import::ImportedPerson {
    batch.people.iter().find(|p| p.source_key == key).unwrap_or_else(|| panic!("{key} delivered"))
}

fn parents(batch: &ImportBatch, name: &str) -> Vec<String> {
    batch.groups.iter().find(|g| g.name == name).map(|g| g.parents.clone()).unwrap_or_else(|| panic!("group {name}"))
}

#[tokio::test]
async fn full_sync_maps_attributes_managers_nested_groups_and_suspension() -> anyhow::Result<()> {
    let s = setup().await?;
    {
        let mut dir = s.fake.dir();
        let mut ann = user("100", "ann@example.com");
        ann["orgUnitPath"] = json!("/Eng/Platform");
        ann["organizations"] = json!([{"department": "Old", "title": "Intern"},
            {"primary": true, "department": "Engineering", "title": "SRE"}]);
        ann["relations"] = json!([{"type": "manager", "value": "boss@example.com"}]);
        ann["externalIds"] = json!([{"type": "organization", "value": "E-100"}]);
        let mut bob = user("200", "bob@example.com");
        bob["suspended"] = json!(true);
        let mut cy = user("300", "cy@example.com");
        cy["archived"] = json!(true);
        dir.users = vec![ann, bob, cy, user("900", "boss@example.com")];
        dir.groups = vec![
            group("g-eng", "eng@example.com", &[("100", "USER"), ("g-plat", "GROUP"), ("ext-1", "EXTERNAL")]),
            group("g-plat", "platform@example.com", &[("200", "USER")]),
            group("g-all", "all@example.com", &[("C0test", "CUSTOMER")]),
        ];
    }
    let batch = GoogleSource::new(&s.config, fast())?.fetch().await?;
    assert_eq!(batch.people.len(), 4);
    let ann = person(&batch, "100");
    assert_eq!(ann.email, "ann@example.com");
    assert_eq!(ann.user_name, "ann@example.com");
    assert_eq!(ann.given_name.as_deref(), Some("100"));
    assert_eq!(ann.display_name.as_deref(), Some("100 Test"));
    assert_eq!(ann.department.as_deref(), Some("Engineering"), "the primary organization wins");
    assert_eq!(ann.title.as_deref(), Some("SRE"));
    assert_eq!(ann.employee_id.as_deref(), Some("E-100"));
    assert_eq!(ann.manager_key.as_deref(), Some("900"), "the manager's email resolved to their id");
    assert_eq!(ann.org_unit.as_ref().map(|o| o.as_str()), Some("/Eng/Platform"));
    assert_eq!(ann.status, PersonStatus::Active);
    assert_eq!(ann.groups, ["all@example.com", "eng@example.com"]);
    assert_eq!(person(&batch, "200").status, PersonStatus::Suspended, "suspended");
    assert_eq!(person(&batch, "300").status, PersonStatus::Suspended, "archived");
    assert_eq!(person(&batch, "200").groups, ["all@example.com", "platform@example.com"]);
    assert_eq!(parents(&batch, "platform@example.com"), ["eng@example.com"], "nested group");
    assert!(parents(&batch, "eng@example.com").is_empty());
    let counts = s.fake.dir().counts.clone();
    assert_eq!(counts.token, 1, "one token serves the whole sync");
    assert_eq!(counts.members, 3, "one members.list per group");
    Ok(())
}

#[tokio::test]
async fn pages_through_users_groups_and_members() -> anyhow::Result<()> {
    let s = setup().await?;
    {
        let mut dir = s.fake.dir();
        dir.users = (0..23).map(|i| user(&format!("u{i:02}"), &format!("u{i:02}@example.com"))).collect();
        let members: Vec<(String, String)> = (0..9).map(|i| (format!("u{i:02}"), "USER".to_owned())).collect();
        dir.groups = (0..5)
            .map(|i| GoogleGroup { id: format!("g{i}"), email: format!("g{i}@example.com"), members: vec![] })
            .collect();
        dir.groups[0].members = members;
    }
    let options = HttpOptions { page_size: Some(4), ..fast() };
    let batch = GoogleSource::new(&s.config, options)?.fetch().await?;
    assert_eq!(batch.people.len(), 23);
    assert_eq!(batch.groups.len(), 5);
    let in_g0 = batch.people.iter().filter(|p| p.groups.contains(&"g0@example.com".to_owned())).count();
    assert_eq!(in_g0, 9, "members from all three pages");
    let counts = s.fake.dir().counts.clone();
    assert_eq!(counts.users, 6, "23 users in pages of 4");
    assert_eq!(counts.groups, 2, "5 groups in pages of 4");
    assert_eq!(counts.members, 3 + 4, "9 members in pages of 4, then one page per empty group");
    Ok(())
}

#[tokio::test]
async fn throttling_is_waited_out_as_retry_after_asks() -> anyhow::Result<()> {
    let s = setup().await?;
    {
        let mut dir = s.fake.dir();
        dir.users = vec![user("1", "a@example.com")];
        dir.throttle.remaining = 2;
        dir.throttle.status = 403;
        dir.throttle.retry_after = Some(Duration::from_secs(1));
    }
    let started = Instant::now();
    let batch = GoogleSource::new(&s.config, fast())?.fetch().await?;
    assert_eq!(batch.people.len(), 1);
    // A correctness check, not a speed goal: the two throttled answers each asked for a second,
    // which the 5 ms backoff alone would not have waited.
    assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After honoured");
    let counts = s.fake.dir().counts.clone();
    assert_eq!(counts.throttled, 2);
    assert_eq!(counts.users + counts.groups, 2 + 2, "each list once, plus one retry per throttled answer");
    Ok(())
}

#[tokio::test]
async fn endless_throttling_fails_the_sync_after_bounded_attempts() -> anyhow::Result<()> {
    let s = setup().await?;
    {
        let mut dir = s.fake.dir();
        dir.users = vec![user("1", "a@example.com")];
        dir.throttle.remaining = 1000;
        dir.throttle.status = 429;
        dir.throttle_reason = "quotaExceeded".into();
    }
    let options = HttpOptions { max_attempts: 3, ..fast() };
    let err = GoogleSource::new(&s.config, options)?.fetch().await.unwrap_err();
    assert!(matches!(&err, CloudError::Throttled { reason, attempts: 3, .. } if reason == "quotaExceeded"), "{err}");
    assert!(err.is_retryable(), "a later run may get through");
    let throttled = s.fake.dir().counts.throttled;
    assert!(throttled <= 6, "users and groups lists, 3 attempts each at most; saw {throttled}");
    Ok(())
}

#[tokio::test]
async fn a_key_the_account_does_not_have_is_a_clear_permanent_error() -> anyhow::Result<()> {
    let s = setup_with_key(OTHER_KEY).await?;
    s.fake.dir().users = vec![user("1", "a@example.com")];
    let err = GoogleSource::new(&s.config, fast())?.fetch().await.unwrap_err();
    match &err {
        CloudError::Credentials { code, detail, .. } => {
            assert_eq!(code, "invalid_grant");
            assert!(detail.contains("Signature"), "{detail}");
        }
        other => panic!("expected a credentials error, got {other}"),
    }
    assert!(!err.is_retryable());
    let tokens = s.fake.dir().counts.token;
    assert!((1..=2).contains(&tokens), "not retried (at most one try for each of the two lists racing): {tokens}");
    Ok(())
}

#[tokio::test]
async fn an_admin_without_delegation_is_refused() -> anyhow::Result<()> {
    let mut s = setup().await?;
    s.config.admin = "someone@example.com".into();
    let err = GoogleSource::new(&s.config, fast())?.fetch().await.unwrap_err();
    assert!(matches!(&err, CloudError::Credentials { code, .. } if code == "invalid_grant"), "{err}");
    s.config.admin = "not-an-email".into();
    let err = GoogleSource::new(&s.config, fast()).unwrap_err();
    assert!(err.to_string().contains("not an email address"), "{err}");
    Ok(())
}

#[tokio::test]
async fn the_token_endpoint_rejects_a_tampered_assertion() -> anyhow::Result<()> {
    let s = setup().await?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let signer = tenure_sources::jwt::RsaSigner::from_pem(&std::fs::read(fixture(TEST_KEY))?, "test key")?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = json!({"iss": tenure_testkit::google_fake::CLIENT_EMAIL, "sub": ADMIN,
        "scope": tenure_sources::google::auth::SCOPES, "aud": s.fake.token_url(), "iat": now, "exp": now + 600});
    let good = signer.sign(&[], &claims)?;
    let post = |assertion: String| {
        let url = s.fake.token_url();
        async move {
            let body =
                format!("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={assertion}");
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
    // Same signature, claims swapped for another admin's.
    let parts: Vec<&str> = good.split('.').collect();
    let mut forged = claims.clone();
    forged["sub"] = json!("ceo@example.com");
    let tampered = format!("{}.{}.{}", parts[0], tenure_sources::jwt::b64(forged.to_string().as_bytes()), parts[2]);
    let (status, body) = post(tampered).await?;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant", "{body}");
    Ok(())
}

#[tokio::test]
async fn a_403_that_is_not_a_rate_limit_is_not_retried() -> anyhow::Result<()> {
    let s = setup().await?;
    {
        let mut dir = s.fake.dir();
        dir.users = vec![user("1", "a@example.com")];
        dir.throttle.remaining = 1000;
        dir.throttle.status = 403;
        dir.throttle_reason = "forbidden".into();
    }
    let err = GoogleSource::new(&s.config, fast())?.fetch().await.unwrap_err();
    assert!(matches!(&err, CloudError::Denied { status: 403, .. }), "{err}");
    assert!(!err.is_retryable(), "missing permissions need an admin, not another try");
    let refused = s.fake.dir().counts.throttled;
    assert!((1..=2).contains(&refused), "one answer per list, no retries: {refused}");
    Ok(())
}
