//! The Dropbox connector against the documented-behaviour fake of Dropbox's team members API
//! (`tenure_testkit::dropbox_fake`): cursor paging, lookups by email and external id, the member
//! life cycle (add, profile change, suspend keeping data, unsuspend, remove with the keep-or-wipe
//! choice and its asynchronous job), a member already on the team, 429 with Retry-After, and a
//! refused token.

use std::time::Duration;

use tenure_connectors::dropbox::RemoveChoice;
use tenure_connectors::{ClientOptions, Connector, ConnectorError, DeleteMeaning, Dropbox};
use tenure_core::Secret;
use tenure_core::attributes::{self as attr, Attributes};
use tenure_testkit::dropbox_fake::DropboxFake;

const TOKEN: &str = "dropbox-token";

fn options() -> ClientOptions {
    ClientOptions {
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
        (attr::EXTERNAL_ID, format!("p-{n}")),
    ])
}

#[tokio::test]
async fn lists_every_page_by_cursor_and_finds_members() -> anyhow::Result<()> {
    let fake = DropboxFake::start(TOKEN).await?;
    for n in 0..5 {
        fake.add_member(&format!("user{n}@example.com"), "active");
    }
    fake.add_member("gone@example.com", "removed");
    let client = Dropbox::new(&fake.base_url(), Secret::new(TOKEN), options())?;
    let all = client.list_users().await?;
    assert_eq!(all.len(), 5, "three pages by cursor, removed members left out");
    let found = client.find_user(attr::EMAIL, "USER3@example.com").await?.expect("user3");
    assert_eq!(found.email(), Some("user3@example.com"));
    assert!(client.find_user(attr::USER_NAME, "nobody@example.com").await?.is_none());
    assert!(client.get_user("dbmid:9999").await?.is_none());
    assert_eq!(client.describe().delete, DeleteMeaning::Permanent);
    Ok(())
}

#[tokio::test]
async fn a_member_lives_and_leaves_as_dropbox_documents() -> anyhow::Result<()> {
    let fake = DropboxFake::start(TOKEN).await?;
    let client = Dropbox::new(&fake.base_url(), Secret::new(TOKEN), options())?;
    let added = client.create_user(&person(4)).await?;
    assert!(added.active, "an invited member holds its access");
    assert_eq!(fake.member("user4@example.com").map(|m| m.status), Some("invited".into()));
    let by_external = client.find_user(attr::EXTERNAL_ID, "p-4").await?.expect("by external id");
    assert_eq!(by_external.remote_id, added.remote_id);
    let again = client.create_user(&person(4)).await.expect_err("already on the team");
    assert!(again.is_conflict(), "{again}");

    // An invited member cannot be suspended (Dropbox answers suspend_inactive_user).
    let e = client.set_active(&added.remote_id, false).await.expect_err("invited");
    assert!(
        matches!(&e, ConnectorError::Status { status: 409, detail: Some(d), .. } if d.starts_with("suspend_inactive_user")),
        "{e}"
    );
    fake.join("user4@example.com");

    client.update_user(&added.remote_id, &Attributes::from([(attr::FAMILY_NAME, "Married")])).await?;
    assert_eq!(fake.member("user4@example.com").map(|m| m.surname), Some("Married".into()));
    client.set_active(&added.remote_id, false).await?;
    assert_eq!(fake.member("user4@example.com").map(|m| m.status), Some("suspended".into()));
    assert!(!client.get_user(&added.remote_id).await?.expect("still a member").active);
    client.set_active(&added.remote_id, true).await?;
    assert_eq!(fake.member("user4@example.com").map(|m| m.status), Some("active".into()));

    // Removal keeps the files by default, and waits for Dropbox's asynchronous job.
    client.delete_user(&added.remote_id).await?;
    assert_eq!(fake.member("user4@example.com").map(|m| m.status), Some("removed".into()));
    let removal = &fake.removals()[0];
    assert_eq!((removal["wipe_data"].as_bool(), removal["keep_account"].as_bool()), (Some(false), Some(true)));
    assert!(client.get_user(&added.remote_id).await?.is_none());
    let gone = client.delete_user(&added.remote_id).await.expect_err("already removed");
    assert!(gone.is_not_found(), "{gone}");

    // Wiping is an explicit choice.
    let wiping = client.clone().with_remove_choice(RemoveChoice::Wipe);
    let other = fake.add_member("user5@example.com", "active");
    wiping.delete_user(&other).await?;
    assert_eq!(fake.removals()[1]["wipe_data"], true);
    Ok(())
}

#[tokio::test]
async fn throttling_waits_as_asked_and_a_refused_token_is_final() -> anyhow::Result<()> {
    let fake = DropboxFake::start(TOKEN).await?;
    fake.add_member("ann@example.com", "active");
    let client = Dropbox::new(&fake.base_url(), Secret::new(TOKEN), options())?;
    fake.throttle(2, Duration::from_secs(1));
    let before = fake.request_count();
    assert_eq!(client.list_users().await?.len(), 1);
    assert_eq!(fake.request_count() - before, 3, "two 429s, then the page");
    let refused = Dropbox::new(&fake.base_url(), Secret::new("wrong"), options())?;
    let e = refused.list_users().await.expect_err("401");
    assert!(matches!(e, ConnectorError::Status { status: 401, .. }) && !e.is_retryable(), "{e}");
    Ok(())
}
