//! The client against apps that page or filter wrongly (the sandbox's `Misbehaviour`): every
//! mode either reads the whole list (correctly, page by page or by userName partitions) or fails
//! with an error naming the app's fault. Never a partial list taken as complete.

use std::time::Duration;

use tenure_connectors::capabilities::{Capabilities, FilterSupport};
use tenure_connectors::{ClientOptions, Connector, ConnectorError, ScimClient, UserQuery};
use tenure_core::Secret;
use tenure_core::attributes::{self as attr, Attributes};
use tenure_sandbox::{Misbehaviour, Profile, SandboxApp, SandboxOptions};

const TOKEN: &str = "paging-token";
const FIRST: [&str; 9] = ["ann", "Bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan"];
const LAST: [&str; 5] = ["smith", "jones", "okafor", "muller", "tanaka"];

/// 45 users with names like people's (they share no long prefix), one in upper case.
async fn app_with_45_users() -> anyhow::Result<(SandboxApp, Vec<String>)> {
    let options = SandboxOptions { rate_limit_per_sec: None, ..SandboxOptions::new(Profile::Notion, TOKEN) };
    let app = SandboxApp::spawn(options).await?;
    let client = client(&app, 20)?;
    let mut names = Vec::new();
    for first in FIRST {
        for last in LAST {
            let name = format!("{first}.{last}@example.com");
            let mut attrs = Attributes::new();
            attrs.insert(attr::USER_NAME, name.as_str());
            attrs.insert(attr::EMAIL, name.as_str());
            client.create_user(&attrs).await?;
            names.push(name);
        }
    }
    names.sort();
    Ok((app, names))
}

fn client(app: &SandboxApp, page_size: u32) -> anyhow::Result<ScimClient> {
    let options =
        ClientOptions { max_retries: 0, initial_backoff: Duration::from_millis(10), page_size, ..Default::default() };
    Ok(ScimClient::new(&app.base_url(), Secret::new(TOKEN), options)?)
}

fn names(accounts: &[tenure_core::RemoteAccount]) -> Vec<String> {
    let mut names: Vec<String> = accounts.iter().map(|a| a.user_name().to_owned()).collect();
    names.sort();
    names
}

fn paging_fault(result: Result<Vec<tenure_core::RemoteAccount>, ConnectorError>, expected: &str) {
    match result {
        Err(e @ ConnectorError::Paging { .. }) => {
            assert!(e.to_string().contains(expected), "{e} should name {expected:?}");
            assert!(!e.is_retryable(), "the app's fault stays until the app is fixed");
        }
        Err(e) => panic!("expected a paging fault naming {expected:?}, got {e}"),
        Ok(list) => panic!("expected a paging fault naming {expected:?}, got a list of {}", list.len()),
    }
}

/// An app that does not filter: no partitioned read is possible, so the walk's fault stands.
fn unfiltered(client: ScimClient) -> ScimClient {
    client.with_capabilities(Capabilities { filter: FilterSupport::Refused, ..Capabilities::default() })
}

#[tokio::test]
async fn a_correct_app_and_a_silent_count_cap_are_read_whole() -> anyhow::Result<()> {
    let (app, all) = app_with_45_users().await?;
    assert_eq!(names(&client(&app, 20)?.list_users().await?), all);
    // Asked for 100, served 20 without a word: each page starts where the last one ended.
    app.set_misbehaviour(Misbehaviour { silent_count_cap: Some(20), ..Default::default() });
    let before = app.request_count();
    assert_eq!(names(&unfiltered(client(&app, 100)?).list_users().await?), all);
    assert_eq!(app.request_count() - before, 4, "45 users in pages of 20: three pages, and one past the end");
    app.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn an_app_ignoring_start_index_is_a_fault_or_read_by_partitions() -> anyhow::Result<()> {
    let (app, all) = app_with_45_users().await?;
    // The acceptance case: the first 20 users whatever startIndex asks.
    app.set_misbehaviour(Misbehaviour { ignore_start_index: true, silent_count_cap: Some(20), ..Default::default() });
    paging_fault(unfiltered(client(&app, 100)?).list_users().await, "ignores startIndex");
    // Where the app filters, each userName prefix fits a page, and the partitions add up.
    assert_eq!(names(&client(&app, 100)?.list_users().await?), all);
    // ... unless it ignores filters as well: then nothing can be trusted.
    app.set_misbehaviour(Misbehaviour {
        ignore_start_index: true,
        silent_count_cap: Some(20),
        ignore_filters: true,
        ..Default::default()
    });
    paging_fault(client(&app, 100)?.list_users().await, "does not match");
    app.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn an_app_that_calls_its_first_page_everything_is_caught() -> anyhow::Result<()> {
    let (app, _) = app_with_45_users().await?;
    // The first 20 whatever startIndex asks, and totalResults 20: the pages seem to add up.
    app.set_misbehaviour(Misbehaviour {
        ignore_start_index: true,
        silent_count_cap: Some(20),
        total_results_offset: -25,
        ..Default::default()
    });
    paging_fault(unfiltered(client(&app, 20)?).list_users().await, "ignores startIndex");
    app.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_repeated_page_is_a_fault_naming_the_id() -> anyhow::Result<()> {
    let (app, all) = app_with_45_users().await?;
    app.set_misbehaviour(Misbehaviour { repeat_page: true, ..Default::default() });
    paging_fault(unfiltered(client(&app, 20)?).list_users().await, "repeats resources across pages");
    assert_eq!(names(&client(&app, 20)?.list_users().await?), all, "partitions fit the first page");
    app.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_lying_total_is_a_fault_either_way() -> anyhow::Result<()> {
    let (app, _) = app_with_45_users().await?;
    app.set_misbehaviour(Misbehaviour { total_results_offset: 10, ..Default::default() });
    paging_fault(unfiltered(client(&app, 20)?).list_users().await, "end after 45 of the 55");
    // Every partition lies too: they never add up, and the walk's fault is reported with it.
    paging_fault(client(&app, 20)?.list_users().await, "end after 45 of the 55");
    app.set_misbehaviour(Misbehaviour { total_results_offset: -10, ..Default::default() });
    paging_fault(unfiltered(client(&app, 20)?).list_users().await, "totalResults says 35");
    paging_fault(client(&app, 20)?.list_users().await, "userName prefixes");
    app.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn every_filtering_path_survives_an_app_that_ignores_filters() -> anyhow::Result<()> {
    let (app, _) = app_with_45_users().await?;
    app.set_misbehaviour(Misbehaviour { ignore_filters: true, ..Default::default() });
    let client = client(&app, 20)?;
    // Lookup before create: the unrelated users the app sends back are not taken for a match.
    let found = client.find_user("userName", "grace.okafor@example.com").await?.expect("found by listing");
    assert_eq!(found.user_name(), "grace.okafor@example.com");
    assert!(client.find_user("userName", "nobody@example.com").await?.is_none());
    // Search in the live list: only matching accounts, counted as such.
    let page = client.list_users_page(&UserQuery { start_index: 1, count: 10, search: Some("tanaka".into()) }).await?;
    assert_eq!(page.total, Some(9));
    assert!(page.accounts.iter().all(|a| a.user_name().contains("tanaka")), "{:?}", names(&page.accounts));
    // Group member lookups read groups whole; a group filter the app ignores changes nothing.
    let group = client.create_group("eng", std::slice::from_ref(&found.remote_id)).await?;
    let groups = client.list_groups().await?;
    assert_eq!(
        groups.iter().find(|g| g.remote_id == group.remote_id).map(|g| g.members.clone()),
        Some(vec![found.remote_id])
    );
    app.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_page_of_the_live_list_that_is_not_the_one_asked_for_is_not_shown() -> anyhow::Result<()> {
    let (app, _) = app_with_45_users().await?;
    app.set_misbehaviour(Misbehaviour { ignore_start_index: true, silent_count_cap: Some(20), ..Default::default() });
    let client = unfiltered(client(&app, 100)?);
    let asked = UserQuery { start_index: 21, count: 20, search: None };
    match client.list_users_page(&asked).await {
        Err(e) => assert!(e.is_paging_fault(), "{e}"),
        Ok(page) => panic!("page 21 of an app that ignores startIndex was shown: {:?}", names(&page.accounts)),
    }
    app.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_list_that_grows_while_read_is_list_changing_without_partitions() -> anyhow::Result<()> {
    let (app, _) = app_with_45_users().await?;
    // Each page takes 100 ms while another writer creates a user every 20 ms.
    app.set_misbehaviour(Misbehaviour { slow_list: Some(Duration::from_millis(100)), ..Default::default() });
    let writer = {
        let client = client(&app, 20)?;
        tokio::spawn(async move {
            for n in 0.. {
                let name = format!("zz{n:04}@example.com");
                let mut attrs = Attributes::new();
                attrs.insert(attr::USER_NAME, name.as_str());
                if client.create_user(&attrs).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let before = app.request_count();
    // The app filters, yet the read is not partitioned: partitions would race the same writes.
    let read = client(&app, 20)?.list_users().await;
    writer.abort();
    let _ = writer.await;
    // Every request but the writer's creates (one may have been cut off mid-flight).
    let reads = (app.request_count() - before).saturating_sub(app.user_count() as u64 - 45);
    match read {
        Err(e) => {
            assert!(e.is_list_changing() && e.is_paging_fault(), "{e}");
            assert!(e.to_string().contains("changed"), "{e}");
        }
        Ok(list) => panic!("a list that grew under every walk was taken as complete: {}", list.len()),
    }
    // Two walks of a few pages each; partitions would have sent one request per character.
    assert!(reads < 30, "{reads} list requests");
    app.shutdown().await;
    Ok(())
}
