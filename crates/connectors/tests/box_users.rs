//! The Box connector against the documented-behaviour fake of Box's users API
//! (`tenure_testkit::box_fake`): marker paging, lookups by login, the user life cycle
//! (create, update, deactivate, re-activate, delete), a taken login, 429 with retry-after, and a
//! refused token.

use std::time::Duration;

use tenure_connectors::{BoxUsers, ClientOptions, Connector, ConnectorError, DeleteMeaning, Operation};
use tenure_core::Secret;
use tenure_core::attributes::{self as attr, Attributes};
use tenure_testkit::box_fake::BoxFake;

const TOKEN: &str = "box-token";

fn options() -> ClientOptions {
    ClientOptions {
        // Small pages, so a handful of users spans several markers.
        page_size: 2,
        initial_backoff: Duration::from_millis(5),
        max_retry_wait: Duration::from_millis(50),
        ..ClientOptions::default()
    }
}

fn person(n: u32) -> Attributes {
    Attributes::from([
        (attr::USER_NAME, format!("user{n}@example.com")),
        (attr::EMAIL, format!("user{n}@example.com")),
        (attr::GIVEN_NAME, format!("Given{n}")),
        (attr::FAMILY_NAME, "Tester".to_owned()),
        (attr::TITLE, "Engineer".to_owned()),
    ])
}

#[tokio::test]
async fn lists_every_page_and_finds_by_login() -> anyhow::Result<()> {
    let fake = BoxFake::start(TOKEN).await?;
    for n in 0..5 {
        fake.add_user(&format!("user{n}@example.com"), &format!("User {n}"));
    }
    // A login that starts like another's: filter_term matches prefixes, the lookup exact logins.
    fake.add_user("user1@example.com.au", "Other");
    let client = BoxUsers::new(&fake.base_url(), Secret::new(TOKEN), options())?;
    let all = client.list_users().await?;
    assert_eq!(all.len(), 6, "three pages of two, by marker");
    let ids: std::collections::BTreeSet<_> = all.iter().map(|a| a.remote_id.clone()).collect();
    assert_eq!(ids.len(), 6, "nobody twice");
    let found = client.find_user(attr::USER_NAME, "USER1@example.com").await?.expect("user1");
    assert_eq!(found.email(), Some("user1@example.com"));
    assert!(client.find_user(attr::EMAIL, "nobody@example.com").await?.is_none());
    assert!(client.find_user(attr::EXTERNAL_ID, "p-1").await?.is_none(), "managed users have no external id");
    let d = client.describe();
    assert!(d.supports(Operation::Deactivate) && d.supports(Operation::Delete));
    assert_eq!(d.delete, DeleteMeaning::Permanent);
    Ok(())
}

#[tokio::test]
async fn a_user_lives_and_leaves_as_box_documents() -> anyhow::Result<()> {
    let fake = BoxFake::start(TOKEN).await?;
    let client = BoxUsers::new(&fake.base_url(), Secret::new(TOKEN), options())?;
    let created = client.create_user(&person(7)).await?;
    assert!(created.active);
    let stored = fake.user("user7@example.com").expect("created");
    assert_eq!((stored.name.as_str(), stored.job_title.as_str()), ("Given7 Tester", "Engineer"));

    // A taken login is a conflict the engine looks up and links.
    let again = client.create_user(&person(7)).await.expect_err("taken");
    assert!(again.is_conflict(), "{again}");

    client.update_user(&created.remote_id, &Attributes::from([(attr::TITLE, "Manager")])).await?;
    assert_eq!(fake.user("user7@example.com").map(|u| u.job_title), Some("Manager".into()));

    client.set_active(&created.remote_id, false).await?;
    assert_eq!(fake.user("user7@example.com").map(|u| u.status), Some("inactive".into()));
    let read = client.get_user(&created.remote_id).await?.expect("still there");
    assert!(!read.active);
    client.set_active(&created.remote_id, true).await?;
    assert_eq!(fake.user("user7@example.com").map(|u| u.status), Some("active".into()));

    client.delete_user(&created.remote_id).await?;
    assert!(fake.user("user7@example.com").is_none());
    assert!(client.get_user(&created.remote_id).await?.is_none());
    let gone = client.delete_user(&created.remote_id).await.expect_err("already gone");
    assert!(gone.is_not_found(), "{gone}");
    Ok(())
}

#[tokio::test]
async fn throttling_waits_as_asked_and_a_refused_token_is_final() -> anyhow::Result<()> {
    let fake = BoxFake::start(TOKEN).await?;
    fake.add_user("ann@example.com", "Ann");
    let client = BoxUsers::new(&fake.base_url(), Secret::new(TOKEN), options())?;
    fake.throttle(2, Duration::from_secs(1));
    let before = fake.request_count();
    let all = client.list_users().await?;
    assert_eq!(all.len(), 1);
    assert_eq!(fake.request_count() - before, 3, "two 429s, then the page");

    let refused = BoxUsers::new(&fake.base_url(), Secret::new("wrong"), options())?;
    let e = refused.list_users().await.expect_err("401");
    assert!(matches!(e, ConnectorError::Status { status: 401, .. }), "{e}");
    assert!(!e.is_retryable());
    Ok(())
}
