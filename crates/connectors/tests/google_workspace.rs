//! The Google Workspace connector against the documented-behaviour fake of the Directory API
//! (`tenure_testkit::google_fake`): paging, lookups, the user lifecycle, group push, conflicts,
//! throttling and refused credentials; and licenses through the License Manager fake
//! (`tenure_testkit::google_licensing_fake`): tiers read per SKU over pages, assigned on create,
//! moved within a product, swapped across products, removed, and License Manager's refusals.

use std::time::Duration;

use serde_json::Value;
use tenure_connectors::{ClientOptions, Connector, ConnectorError, DeleteMeaning, GoogleWorkspace, Operation};
use tenure_core::attributes::{self as attr, Attributes};
use tenure_core::{GoogleWorkspaceTarget, Secret};
use tenure_testkit::cloud_fake::{TEST_KEY, Throttle, fixture};
use tenure_testkit::google_fake::{ADMIN, GoogleFake};
use tenure_testkit::google_licensing_fake::{PRODUCT, STANDARD, STARTER, VAULT, VAULT_PRODUCT};

struct Setup {
    fake: GoogleFake,
    google: GoogleWorkspace,
}

fn target(fake: &GoogleFake, admin: &str) -> GoogleWorkspaceTarget {
    GoogleWorkspaceTarget {
        domain: "example.com".into(),
        customer: "my_customer".into(),
        admin: admin.into(),
        token_url: Some(fake.token_url()),
        org_unit_path: Some("/Staff".into()),
        change_password_at_next_login: false,
        transfer_drive_to: None,
        license_skus: Vec::new(),
    }
}

fn options() -> ClientOptions {
    ClientOptions {
        // Small pages, so a handful of users spans several.
        page_size: 2,
        initial_backoff: Duration::from_millis(5),
        max_retry_wait: Duration::from_millis(50),
        ..ClientOptions::default()
    }
}

async fn setup() -> anyhow::Result<Setup> {
    let fake = GoogleFake::start().await?;
    let key = Secret::new(fake.key_file_json(&std::fs::read_to_string(fixture(TEST_KEY))?));
    let google = GoogleWorkspace::new(&fake.base_url(), &target(&fake, ADMIN), &key, options())?;
    Ok(Setup { fake, google })
}

fn person(n: u32) -> Attributes {
    Attributes::from([
        (attr::USER_NAME, format!("user{n}@example.com")),
        (attr::EXTERNAL_ID, format!("p-{n}")),
        (attr::GIVEN_NAME, format!("Given{n}")),
        (attr::FAMILY_NAME, "Tester".to_owned()),
        (attr::DISPLAY_NAME, format!("Given{n} Tester")),
        (attr::EMAIL, format!("user{n}@example.com")),
        (attr::TITLE, "Engineer".to_owned()),
        (attr::DEPARTMENT, "R&D".to_owned()),
    ])
}

#[tokio::test]
async fn describes_suspend_and_a_permanent_delete() -> anyhow::Result<()> {
    let s = setup().await?;
    let d = s.google.describe();
    assert_eq!(d.kind, "google_workspace");
    assert_eq!(d.delete, DeleteMeaning::Permanent);
    assert!(d.supports(Operation::Deactivate) && d.supports(Operation::GroupMembership));
    assert!(!d.supports(Operation::Licenses));
    Ok(())
}

#[tokio::test]
async fn creates_pages_finds_updates_suspends_and_deletes() -> anyhow::Result<()> {
    let s = setup().await?;
    let mut created = Vec::new();
    for n in 1..=5 {
        let account = s.google.create_user(&person(n)).await?;
        assert_eq!(
            account.attributes,
            person(n).into_iter().chain([("orgUnitPath".into(), "/Staff".into())]).collect::<Attributes>()
        );
        created.push(account);
    }
    {
        let dir = s.fake.dir();
        let stored = dir.user("user1@example.com").expect("created in the fake");
        assert_eq!(stored["orgUnitPath"], "/Staff", "placed in the configured org unit");
        assert!(stored.get("password").is_none());
    }
    let users_before = s.fake.dir().counts.users;
    let all = s.google.list_users().await?;
    assert_eq!(all.len(), 5);
    assert_eq!(s.fake.dir().counts.users - users_before, 3, "five users in pages of two");

    let by_external = s.google.find_user(attr::EXTERNAL_ID, "p-3").await?.expect("found by externalId");
    assert_eq!(by_external.remote_id, created[2].remote_id);
    let by_name = s.google.find_user(attr::USER_NAME, "USER4@example.com").await?.expect("found by userName");
    assert_eq!(by_name.remote_id, created[3].remote_id);
    assert!(s.google.find_user(attr::EXTERNAL_ID, "p-99").await?.is_none());
    assert!(s.google.find_user(attr::USER_NAME, "nobody@example.com").await?.is_none());
    // An address the search syntax cannot quote is matched in a full listing.
    assert!(s.google.find_user(attr::EMAIL, "o'neil@example.com").await?.is_none());

    let id = created[0].remote_id.clone();
    let changes = Attributes::from([
        (attr::TITLE, ""),
        (attr::DEPARTMENT, "Ops"),
        (attr::EMAIL, "first.user@example.org"),
        (attr::USER_NAME, "first.user@example.com"),
    ]);
    s.google.update_user(&id, &changes).await?;
    let read = s.google.get_user(&id).await?.expect("still there");
    assert_eq!(read.user_name(), "first.user@example.com");
    assert_eq!(read.email(), Some("first.user@example.org"));
    assert_eq!(read.attributes.get(attr::DEPARTMENT).map(String::as_str), Some("Ops"));
    assert!(read.attributes.get(attr::TITLE).is_none());
    let by_email = s.google.find_user(attr::EMAIL, "first.user@example.org").await?.expect("found by work email");
    assert_eq!(by_email.remote_id, id);
    // The old address is an alias now: a userName lookup by it is not this account's userName.
    assert!(s.google.find_user(attr::USER_NAME, "user1@example.com").await?.is_none());

    s.google.set_active(&id, false).await?;
    assert!(!s.google.get_user(&id).await?.expect("suspended, not gone").active);
    assert_eq!(s.fake.dir().user(&id).map(|u| u["suspended"].clone()), Some(Value::Bool(true)));
    s.google.set_active(&id, true).await?;
    assert!(s.google.get_user(&id).await?.expect("back").active);

    s.google.delete_user(&id).await?;
    assert!(s.google.get_user(&id).await?.is_none());
    assert_eq!(s.fake.dir().deleted.len(), 1, "deleted users are kept restorable");
    assert!(s.google.delete_user(&id).await.unwrap_err().is_not_found());
    Ok(())
}

#[tokio::test]
async fn a_taken_address_is_a_conflict_and_missing_names_never_reach_google() -> anyhow::Result<()> {
    let s = setup().await?;
    s.google.create_user(&person(1)).await?;
    let mut again = person(1);
    again.insert(attr::EXTERNAL_ID, "p-other");
    let err = s.google.create_user(&again).await.unwrap_err();
    assert!(err.is_conflict(), "{err}");

    let writes = s.fake.dir().counts.writes;
    let mut nameless = person(2);
    nameless.remove(attr::FAMILY_NAME);
    let err = s.google.create_user(&nameless).await.unwrap_err();
    assert!(matches!(err, ConnectorError::InvalidRequest(_)), "{err}");
    assert_eq!(s.fake.dir().counts.writes, writes, "refused before any request");
    let err = s.google.update_user("nope", &Attributes::from([(attr::TITLE, "x")])).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    Ok(())
}

#[tokio::test]
async fn throttling_is_retried_with_backoff() -> anyhow::Result<()> {
    let s = setup().await?;
    // Google throttles with 403 and a rate-limit reason, not only 429.
    s.fake.dir().throttle = Throttle { remaining: 2, status: 403, retry_after: None };
    let account = s.google.create_user(&person(1)).await?;
    assert_eq!(s.fake.dir().counts.throttled, 2);
    assert!(s.fake.dir().user(&account.remote_id).is_some());

    // Throttled for longer than the retries last: a retryable error for the queue.
    s.fake.dir().throttle = Throttle { remaining: 100, status: 429, retry_after: None };
    let err = s.google.get_user(&account.remote_id).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert_eq!(err.status(), Some(429));
    Ok(())
}

#[tokio::test]
async fn a_revoked_access_token_is_replaced_once() -> anyhow::Result<()> {
    let s = setup().await?;
    s.google.create_user(&person(1)).await?;
    let tokens = s.fake.dir().counts.token;
    s.fake.revoke_tokens();
    assert_eq!(s.google.list_users().await?.len(), 1);
    assert_eq!(s.fake.dir().counts.token, tokens + 1, "one new token, then the request went through");
    Ok(())
}

#[tokio::test]
async fn a_refused_service_account_is_a_credentials_error() -> anyhow::Result<()> {
    let s = setup().await?;
    let key = Secret::new(s.fake.key_file_json(&std::fs::read_to_string(fixture(TEST_KEY))?));
    let wrong_admin =
        GoogleWorkspace::new(&s.fake.base_url(), &target(&s.fake, "someone@example.com"), &key, options())?;
    let err = wrong_admin.list_users().await.unwrap_err();
    assert_eq!(err.status(), Some(401), "{err}");
    assert!(!err.is_retryable());
    assert!(!err.to_string().contains("PRIVATE KEY"), "{err}");
    let err = GoogleWorkspace::new(&s.fake.base_url(), &target(&s.fake, ADMIN), &Secret::new("{not json"), options())
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Config(_)), "{err}");
    Ok(())
}

#[tokio::test]
async fn pushes_groups_as_membership_diffs() -> anyhow::Result<()> {
    let s = setup().await?;
    let mut ids = Vec::new();
    for n in 1..=3 {
        ids.push(s.google.create_user(&person(n)).await?.remote_id);
    }
    let group = s.google.create_group("engineering", &ids[..2]).await?;
    assert_eq!(group.name, "engineering");
    assert!(s.fake.dir().groups.iter().any(|g| g.email == "engineering@example.com" && g.members.len() == 2));
    assert!(s.google.create_group("engineering", &[]).await.unwrap_err().is_conflict());
    assert!(matches!(s.google.create_group("Eng Team", &[]).await, Err(ConnectorError::InvalidRequest(_))));

    // Adding a member already there and removing one already gone are the wanted state.
    s.google.change_group_members(&group.remote_id, &[ids[2].clone(), ids[0].clone()], &[ids[1].clone()]).await?;
    s.google.change_group_members(&group.remote_id, &[], &[ids[1].clone()]).await?;
    // More groups, one with more members than a page holds, each listed with its own members.
    s.google.create_group("everyone", &ids).await?;
    s.google.create_group("design@example.org", &ids[1..2]).await?;
    let listed = s.google.list_groups().await?;
    let by_name: std::collections::BTreeMap<String, Vec<String>> = listed
        .into_iter()
        .map(|g| {
            let mut members = g.members;
            members.sort();
            (g.name, members)
        })
        .collect();
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(by_name["engineering"], sorted(vec![ids[0].clone(), ids[2].clone()]));
    assert_eq!(by_name["everyone"], sorted(ids.clone()));
    assert_eq!(by_name["design@example.org"], vec![ids[1].clone()], "another domain's group keeps its domain");
    assert_eq!(by_name.len(), 3);
    Ok(())
}

const SKUS: &str = "Google-Apps:1010020027=Business Starter,Google-Apps:1010020028=Business Standard,\
                    Google-Vault:Google-Vault=Vault";

/// A connector managing the Business Starter and Standard SKUs and Vault.
fn licensed(s: &Setup) -> anyhow::Result<GoogleWorkspace> {
    let key = Secret::new(s.fake.key_file_json(&std::fs::read_to_string(fixture(TEST_KEY))?));
    let mut target = target(&s.fake, ADMIN);
    target.license_skus =
        tenure_connectors::google_workspace::licensing::parse_skus(SKUS).map_err(anyhow::Error::msg)?;
    Ok(GoogleWorkspace::new(&s.fake.base_url(), &target, &key, options())?)
}

fn license(account: &tenure_core::RemoteAccount) -> Option<&str> {
    account.attributes.get(attr::LICENSE).map(String::as_str)
}

#[tokio::test]
async fn licenses_are_read_per_sku_assigned_moved_and_removed() -> anyhow::Result<()> {
    let s = setup().await?;
    let google = licensed(&s)?;
    assert!(google.describe().supports(Operation::Licenses));
    let mut ids = Vec::new();
    for n in 1..=5 {
        ids.push(google.create_user(&person(n)).await?.remote_id);
    }
    {
        let mut dir = s.fake.dir();
        for n in 1..=3 {
            dir.assign_license(&format!("user{n}@example.com"), PRODUCT, STARTER);
        }
        dir.assign_license("user4@example.com", PRODUCT, STANDARD);
        // A SKU Tenure does not manage is neither read nor touched.
        dir.assign_license("user5@example.com", PRODUCT, tenure_testkit::google_licensing_fake::PLUS);
    }
    let reads = s.fake.dir().licensing.reads;
    let all = google.list_users().await?;
    let tiers: std::collections::BTreeMap<&str, Option<&str>> =
        all.iter().map(|a| (a.user_name(), license(a))).collect();
    assert_eq!(tiers["user1@example.com"], Some("Business Starter"));
    assert_eq!(tiers["user4@example.com"], Some("Business Standard"));
    assert_eq!(tiers["user5@example.com"], None);
    // Three Starter holders in pages of two, one Standard, no Vault: four pages.
    assert_eq!(s.fake.dir().licensing.reads - reads, 4);
    assert_eq!(license(&google.get_user(&ids[3]).await?.expect("there")), Some("Business Standard"));
    let found = google.find_user(attr::EXTERNAL_ID, "p-2").await?.expect("found");
    assert_eq!(license(&found), Some("Business Starter"));

    // A new user with a license: created, then licensed.
    let mut sixth = person(6);
    sixth.insert(attr::LICENSE, "Business Standard");
    let created = google.create_user(&sixth).await?;
    assert_eq!(license(&created), Some("Business Standard"));
    assert_eq!(s.fake.dir().licenses_of("user6@example.com"), [STANDARD]);

    // Within a product the SKU is moved (one patch); across products added, then revoked.
    let writes = s.fake.dir().licensing.writes;
    google.update_user(&ids[0], &Attributes::from([(attr::LICENSE, "Business Standard")])).await?;
    assert_eq!(s.fake.dir().licenses_of("user1@example.com"), [STANDARD]);
    assert_eq!(s.fake.dir().licensing.writes - writes, 1, "one patch");
    google.update_user(&ids[0], &Attributes::from([(attr::LICENSE, "Vault"), (attr::TITLE, "Lead")])).await?;
    assert_eq!(s.fake.dir().licenses_of("user1@example.com"), [VAULT]);
    assert_eq!(s.fake.dir().user(&ids[0]).expect("there")["organizations"][0]["title"], "Lead");
    // Asking again for what is held writes nothing.
    let writes = s.fake.dir().licensing.writes;
    google.update_user(&ids[0], &Attributes::from([(attr::LICENSE, "Vault")])).await?;
    assert_eq!(s.fake.dir().licensing.writes, writes);

    // Removed; removing again, or from a user without one, is done.
    google.update_user(&ids[0], &Attributes::from([(attr::LICENSE, "")])).await?;
    assert!(s.fake.dir().licenses_of("user1@example.com").is_empty());
    google.update_user(&ids[0], &Attributes::from([(attr::LICENSE, "")])).await?;
    // Not the unmanaged Plus SKU.
    google.update_user(&ids[4], &Attributes::from([(attr::LICENSE, "")])).await?;
    assert_eq!(s.fake.dir().licenses_of("user5@example.com"), [tenure_testkit::google_licensing_fake::PLUS]);

    // License Manager reads lag behind (eventual consistency): the get says "not held", the
    // insert answers 409 duplicate, a second look finds it held: done, not an error.
    s.fake.dir().licensing.stale_gets = 1;
    google.update_user(&ids[1], &Attributes::from([(attr::LICENSE, "Business Starter")])).await?;
    assert_eq!(s.fake.dir().licenses_of("user2@example.com"), [STARTER]);

    // A tier the app does not manage is refused before any request; so is any license on an
    // app without SKUs.
    let writes = s.fake.dir().counts.writes;
    let err = google.update_user(&ids[1], &Attributes::from([(attr::LICENSE, "Enterprise")])).await.unwrap_err();
    assert!(matches!(&err, ConnectorError::InvalidRequest(m) if m.contains("Business Starter")), "{err}");
    let err = s.google.update_user(&ids[1], &Attributes::from([(attr::LICENSE, "Vault")])).await.unwrap_err();
    assert!(matches!(&err, ConnectorError::Unsupported { operation } if operation.contains("--license-skus")), "{err}");
    let mut unlicensable = person(7);
    unlicensable.insert(attr::LICENSE, "Enterprise");
    assert!(google.create_user(&unlicensable).await.is_err());
    assert_eq!(s.fake.dir().counts.writes, writes, "nothing was written");
    assert!(s.fake.dir().user("user7@example.com").is_none());
    Ok(())
}

#[tokio::test]
async fn license_manager_refusals_and_throttling() -> anyhow::Result<()> {
    let s = setup().await?;
    let google = licensed(&s)?;
    let id = google.create_user(&person(1)).await?.remote_id;
    s.fake.dir().assign_license("user1@example.com", VAULT_PRODUCT, VAULT);

    // Throttled with 429 rateLimitExceeded: waited out.
    s.fake.dir().throttle_reason = "rateLimitExceeded".into();
    s.fake.dir().throttle = Throttle { remaining: 1, status: 429, retry_after: None };
    let throttled = s.fake.dir().counts.throttled;
    assert_eq!(license(&google.list_users().await?[0]), Some("Vault"));
    assert_eq!(s.fake.dir().counts.throttled - throttled, 1);

    // The admin lacks the License Management privilege: 403, not retried, saying what to fix.
    s.fake.dir().licensing.deny = true;
    let err = google.list_users().await.unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("apps.licensing") && err.to_string().contains("Not Authorized"), "{err}");
    assert!(!err.to_string().contains("admin.directory.group"), "not the Directory API's advice: {err}");
    let err = google.update_user(&id, &Attributes::from([(attr::LICENSE, "")])).await.unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");
    s.fake.dir().licensing.deny = false;

    // The licensing scope not delegated: the token is refused, and the error names the scope.
    s.fake.dir().licensing.scope_withheld = true;
    let fresh = licensed(&s)?;
    let err = fresh.list_users().await.unwrap_err();
    assert_eq!(err.status(), Some(401), "{err}");
    assert!(err.to_string().contains("apps.licensing") && err.to_string().contains("unauthorized_client"), "{err}");
    assert!(!err.to_string().contains("admin.directory.group"), "{err}");
    // An app that manages no license never asks for the scope.
    assert_eq!(s.google.list_users().await?.len(), 1);
    Ok(())
}
