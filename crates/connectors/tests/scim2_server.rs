//! The SCIM client against an independent implementation: the Python `scim2-server`, one process
//! per test.

use std::time::Duration;

use tenure_connectors::{ClientOptions, ConnectorError, ScimClient};
use tenure_core::Secret;
use tenure_core::attributes::{self as attr, Attributes};
use tenure_testkit::Scim2Server;

fn options() -> ClientOptions {
    ClientOptions {
        timeout: Duration::from_secs(10),
        initial_backoff: Duration::from_millis(20),
        max_retry_wait: Duration::from_millis(200),
        ..ClientOptions::default()
    }
}

async fn setup() -> anyhow::Result<(Scim2Server, ScimClient)> {
    let server = Scim2Server::start().await?;
    let client = ScimClient::new(server.base_url(), Secret::new(server.token()), options())?;
    Ok((server, client))
}

fn attrs(pairs: &[(&str, &str)]) -> Attributes {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn person(n: usize) -> Attributes {
    attrs(&[
        (attr::USER_NAME, &format!("user{n}@example.com")),
        (attr::EXTERNAL_ID, &format!("person-{n}")),
        (attr::GIVEN_NAME, "Ann"),
        (attr::FAMILY_NAME, &format!("Lee{n}")),
        (attr::DISPLAY_NAME, &format!("Ann Lee{n}")),
        (attr::EMAIL, &format!("user{n}@example.com")),
        (attr::TITLE, "Engineer"),
        (attr::DEPARTMENT, "R&D"),
        (attr::EMPLOYEE_NUMBER, &format!("{n}")),
    ])
}

#[tokio::test]
async fn create_round_trips_and_a_duplicate_is_a_conflict() -> anyhow::Result<()> {
    let (_server, client) = setup().await?;
    let sent = person(1);
    let created = client.create_user(&sent).await?;
    assert!(created.active);
    assert_eq!(created.attributes, sent);

    let listed = client.list_users().await?;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].remote_id, created.remote_id);
    assert_eq!(listed[0].attributes, sent, "what was sent comes back from a list");

    let mut dup = person(2);
    dup.insert(attr::USER_NAME, sent[attr::USER_NAME].clone());
    let err = client.create_user(&dup).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Conflict { .. }), "{err}");
    assert!(!err.is_retryable());
    assert_eq!(err.scim_type(), Some(tenure_scim::ScimType::Uniqueness));
    Ok(())
}

#[tokio::test]
async fn finds_users_by_external_id_user_name_and_email() -> anyhow::Result<()> {
    let (_server, client) = setup().await?;
    let ann = client.create_user(&person(1)).await?;
    client.create_user(&person(2)).await?;
    let tricky = attrs(&[(attr::USER_NAME, r#"q"u\ote"#), (attr::EXTERNAL_ID, "x-1")]);
    let quoted = client.create_user(&tricky).await?;

    let by_external = client.find_user(attr::EXTERNAL_ID, "person-1").await?.expect("found by externalId");
    assert_eq!(by_external.remote_id, ann.remote_id);
    let by_user_name = client.find_user(attr::USER_NAME, "user1@example.com").await?.expect("found by userName");
    assert_eq!(by_user_name.remote_id, ann.remote_id);
    let by_email = client.find_user(attr::EMAIL, "user1@example.com").await?.expect("found by email");
    assert_eq!(by_email.remote_id, ann.remote_id);
    let by_quoted = client.find_user(attr::USER_NAME, r#"q"u\ote"#).await?.expect("escaped value");
    assert_eq!(by_quoted.remote_id, quoted.remote_id);

    assert!(client.find_user(attr::EXTERNAL_ID, "person-9").await?.is_none());
    let err = client.find_user(attr::DEPARTMENT, "R&D").await.unwrap_err();
    assert!(matches!(err, ConnectorError::Ambiguous { count: 2, .. }), "{err}");
    Ok(())
}

#[tokio::test]
async fn lists_every_user_across_pages() -> anyhow::Result<()> {
    let server = Scim2Server::start().await?;
    let client =
        ScimClient::new(server.base_url(), Secret::new(server.token()), ClientOptions { page_size: 2, ..options() })?;
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(client.create_user(&person(n)).await?.remote_id);
    }
    let mut listed: Vec<String> = client.list_users().await?.into_iter().map(|a| a.remote_id).collect();
    listed.sort();
    ids.sort();
    assert_eq!(listed, ids);
    // The server logs each request once it has answered, hence the wait.
    let pages = server.requests_logged("GET /v2/Users?startIndex=", 4).await?;
    assert_eq!(pages, 4, "pages of 2, 2 and 1 users, and the empty one after:\n{}", server.stderr());
    Ok(())
}

#[tokio::test]
async fn updates_replace_add_and_remove_attributes() -> anyhow::Result<()> {
    let (_server, client) = setup().await?;
    let account = client.create_user(&person(1)).await?;
    let changes = attrs(&[
        (attr::GIVEN_NAME, "Annie"),
        (attr::DISPLAY_NAME, "Annie Lee"),
        (attr::EMAIL, "annie@example.com"),
        (attr::DEPARTMENT, "Ops"),
        (attr::EMPLOYEE_NUMBER, "77"),
        (attr::EXTERNAL_ID, "person-1b"),
        (attr::TITLE, ""),
    ]);
    client.update_user(&account.remote_id, &changes).await?;
    let after = client.get_user(&account.remote_id).await?.expect("still there");
    let mut expected = person(1);
    for (k, v) in &changes {
        if v.is_empty() {
            expected.remove(k);
        } else {
            expected.insert(k, v.clone());
        }
    }
    assert_eq!(after.attributes, expected);
    assert_eq!(after.email(), Some("annie@example.com"));

    // No work email to replace yet: the client falls back to adding one.
    let bare = client.create_user(&attrs(&[(attr::USER_NAME, "bare")])).await?;
    let changes = attrs(&[(attr::EMAIL, "bare@example.com"), (attr::FAMILY_NAME, "Bare"), (attr::DEPARTMENT, "Ops")]);
    client.update_user(&bare.remote_id, &changes).await?;
    let after = client.get_user(&bare.remote_id).await?.expect("still there");
    assert_eq!(after.email(), Some("bare@example.com"));
    assert_eq!(after.attributes[attr::FAMILY_NAME], "Bare");
    assert_eq!(after.attributes[attr::DEPARTMENT], "Ops");

    client.update_user(&bare.remote_id, &attrs(&[(attr::EMAIL, "")])).await?;
    assert_eq!(client.get_user(&bare.remote_id).await?.expect("still there").email(), None);

    let err = client.update_user(&bare.remote_id, &attrs(&[("nickName", "x")])).await.unwrap_err();
    assert!(matches!(err, ConnectorError::InvalidRequest(_)), "{err}");
    let err = client.update_user("no-such-user", &attrs(&[(attr::TITLE, "x")])).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    Ok(())
}

#[tokio::test]
async fn deactivates_and_reactivates() -> anyhow::Result<()> {
    let (_server, client) = setup().await?;
    let account = client.create_user(&person(1)).await?;
    client.set_active(&account.remote_id, false).await?;
    assert!(!client.get_user(&account.remote_id).await?.expect("exists").active);
    client.set_active(&account.remote_id, true).await?;
    let back = client.get_user(&account.remote_id).await?.expect("exists");
    assert!(back.active);
    assert_eq!(back.attributes, person(1), "toggling active touches nothing else");
    Ok(())
}

#[tokio::test]
async fn deleted_users_are_gone() -> anyhow::Result<()> {
    let (_server, client) = setup().await?;
    let account = client.create_user(&person(1)).await?;
    client.delete_user(&account.remote_id).await?;
    assert!(client.get_user(&account.remote_id).await?.is_none());
    assert!(client.list_users().await?.is_empty());
    let again = client.delete_user(&account.remote_id).await.unwrap_err();
    assert!(again.is_not_found(), "{again}");
    Ok(())
}

#[tokio::test]
async fn a_bad_token_is_a_non_retryable_401() -> anyhow::Result<()> {
    let server = Scim2Server::start().await?;
    let client = ScimClient::new(server.base_url(), Secret::new("wrong"), options())?;
    let err = client.list_users().await.unwrap_err();
    assert_eq!(err.status(), Some(401), "{err}");
    assert!(!err.is_retryable());
    assert!(!err.to_string().contains("wrong"), "the token must not leak into errors: {err}");
    Ok(())
}

/// Group membership changes go as diffs, chunked to the app's limit on members per request.
#[tokio::test]
async fn group_members_change_in_chunks_the_app_accepts() -> anyhow::Result<()> {
    let (server, client) = setup().await?;
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(client.create_user(&person(n)).await?.remote_id);
    }
    let capabilities =
        tenure_connectors::capabilities::Capabilities { max_members_per_request: Some(2), ..Default::default() };
    let client = client.with_capabilities(capabilities);
    let group = client.create_group("eng", &[]).await?;
    client.change_group_members(&group.remote_id, &ids, &[]).await?;
    let listed = client.list_groups().await?;
    let mut members = listed.iter().find(|g| g.name == "eng").expect("the group").members.clone();
    members.sort();
    let mut all = ids.clone();
    all.sort();
    assert_eq!(members, all);
    client.change_group_members(&group.remote_id, &[], &ids[..3]).await?;
    let listed = client.list_groups().await?;
    let mut left = listed.iter().find(|g| g.name == "eng").expect("the group").members.clone();
    left.sort();
    let mut kept = ids[3..].to_vec();
    kept.sort();
    assert_eq!(left, kept, "removed by a value filter");
    let patches = server.requests_logged("PATCH /v2/Groups/", 5).await?;
    assert_eq!(patches, 5, "3 adds of at most 2, then 2 removes:\n{}", server.stderr());
    Ok(())
}
