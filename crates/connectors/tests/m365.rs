//! The Microsoft 365 connector against the fake Graph target (`tenure_testkit::m365_fake`),
//! which follows Graph's documented contracts: client credentials at the identity platform's
//! token endpoint, `@odata.nextLink` paging, `$filter` on userPrincipalName, create / update /
//! disable / delete, `assignLicense` with `consumedUnits` per SKU, the refusal of a license
//! without `usageLocation`, 404 `Request_ResourceNotFound`, and 429 with `Retry-After`; Entra
//! groups (listed with their members over pages, created as security groups, members added and
//! removed with a duplicate add and a missing removal taken as done); group-based licensing
//! (`licenseAssignmentStates`: a license a group gives is counted, marked, and taken away by
//! leaving the group, or refused naming a group Graph cannot change); several SKUs per user (a
//! tier and add-ons: with the app's managed SKUs named, a tier change leaves the add-ons alone).

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tenure_connectors::oauth::{ClientAuth, OAuthConfig, TokenSource};
use tenure_connectors::{ClientOptions, Connector, ConnectorError, DeleteMeaning, M365, Operation, m365};
use tenure_core::Secret;
use tenure_core::attributes::{self as attr, Attributes};
use tenure_testkit::m365_fake::{self, E3_SKU, E5_SKU, M365Fake};

fn options() -> ClientOptions {
    ClientOptions {
        page_size: 2,
        initial_backoff: Duration::from_millis(5),
        max_retry_wait: Duration::from_secs(3),
        ..ClientOptions::default()
    }
}

fn client(fake: &M365Fake, secret: &str) -> anyhow::Result<M365> {
    let config =
        OAuthConfig::new(&fake.token_url(), m365_fake::CLIENT_ID, Secret::new(secret), Some(m365_fake::SCOPE))?
            .with_client_auth(ClientAuth::Body);
    let tokens = Arc::new(TokenSource::new(config, Duration::from_secs(10))?);
    Ok(M365::new(&fake.base_url(), tokens, options())?)
}

fn person(n: u32) -> Attributes {
    Attributes::from([
        (attr::USER_NAME, format!("user{n}@contoso.example")),
        (attr::EMAIL, format!("user{n}@contoso.example")),
        (attr::GIVEN_NAME, format!("Given{n}")),
        (attr::FAMILY_NAME, "Tester".to_owned()),
    ])
}

#[tokio::test]
async fn lists_over_several_pages_and_finds_by_user_principal_name() -> anyhow::Result<()> {
    let fake = M365Fake::start().await?;
    {
        let mut t = fake.tenant();
        t.add_sku(E3_SKU, "SPE_E3", 10);
        for n in 0..5 {
            t.put_user(&format!("user{n}@contoso.example"), json!({"usageLocation": "DE"}));
        }
        t.put_user("o'brien@contoso.example", json!({"assignedLicenses": [{"skuId": E3_SKU}]}));
    }
    let client = client(&fake, m365_fake::CLIENT_SECRET)?;
    let all = client.list_users().await?;
    assert_eq!(all.len(), 6);
    assert_eq!(fake.tenant().counts.list, 3, "three pages of $top=2 linked by @odata.nextLink");
    let licensed = client.find_user(attr::USER_NAME, "O'Brien@contoso.example").await?.expect("found, quote doubled");
    assert_eq!(licensed.attributes.get(attr::LICENSE).map(String::as_str), Some("SPE_E3"), "named by part number");
    assert!(client.find_user(attr::USER_NAME, "nobody@contoso.example").await?.is_none());
    assert!(client.find_user(attr::EXTERNAL_ID, "p-1").await?.is_none(), "Graph holds no externalId");
    assert!(client.get_user("no-such-id").await?.is_none(), "404 Request_ResourceNotFound is none");
    assert_eq!(client.describe().delete, DeleteMeaning::Permanent);
    Ok(())
}

#[tokio::test]
async fn a_user_is_created_licensed_disabled_unlicensed_and_deleted() -> anyhow::Result<()> {
    let fake = M365Fake::start().await?;
    fake.tenant().add_sku(E3_SKU, "SPE_E3", 1);
    fake.tenant().add_sku(E5_SKU, "SPE_E5", 5);
    let client = client(&fake, m365_fake::CLIENT_SECRET)?.with_usage_location(Some("fr".into()));
    let mut attrs = person(1);
    attrs.insert(attr::LICENSE, "SPE_E3");
    let created = client.create_user(&attrs).await?;
    assert_eq!(created.attributes.get(attr::LICENSE).map(String::as_str), Some("SPE_E3"));
    {
        let t = fake.tenant();
        let user = t.by_upn("user1@contoso.example").expect("created");
        assert_eq!(user["mailNickname"], "user1");
        assert_eq!(user["usageLocation"], "FR", "the app's usage location, since the person gave none");
        assert_eq!(user["displayName"], "Given1 Tester");
        assert_eq!(t.consumed(E3_SKU), 1);
    }
    // The one E3 seat is taken: a second person's license is refused, the account still made.
    let mut second = person(2);
    second.insert(attr::LICENSE, "SPE_E3");
    let made = client.create_user(&second).await?;
    assert!(made.attributes.get(attr::LICENSE).is_none(), "created without the license Graph refused");
    let err = client
        .update_user(&made.remote_id, &Attributes::from([(attr::LICENSE, "SPE_E3")]))
        .await
        .expect_err("no free seat");
    assert!(err.to_string().contains("does not have any available licenses"), "{err}");
    // Changing tier swaps the SKU; an unknown tier names the tenant's SKUs.
    let id = created.remote_id.clone();
    client.update_user(&id, &Attributes::from([(attr::LICENSE, "spe_e5"), (attr::TITLE, "Engineer")])).await?;
    assert_eq!(fake.tenant().licenses_of("user1@contoso.example"), vec![E5_SKU.to_owned()]);
    let user = client.get_user(&id).await?.expect("there");
    assert_eq!(user.attributes.get(attr::TITLE).map(String::as_str), Some("Engineer"));
    let unknown = client.update_user(&id, &Attributes::from([(attr::LICENSE, "VISIO")])).await.expect_err("unknown");
    assert!(unknown.to_string().contains("SPE_E3, SPE_E5"), "{unknown}");
    // Disable, enable, remove the license, delete.
    client.set_active(&id, false).await?;
    assert!(!client.get_user(&id).await?.expect("there").active);
    client.set_active(&id, true).await?;
    client.update_user(&id, &Attributes::from([(attr::LICENSE, "")])).await?;
    assert!(fake.tenant().licenses_of("user1@contoso.example").is_empty());
    let skus = client.subscribed_skus().await?;
    assert!(skus.iter().all(|s| s.consumed == 0), "{skus:?}");
    client.delete_user(&id).await?;
    assert!(fake.tenant().deleted.contains_key(&id), "in deleted items, restorable for 30 days");
    assert!(client.delete_user(&id).await.expect_err("gone").is_not_found());
    // A taken userPrincipalName is a conflict (the engine then looks the account up).
    let again = client.create_user(&person(2)).await.expect_err("taken");
    assert!(again.is_conflict(), "{again}");
    Ok(())
}

#[tokio::test]
async fn a_license_without_usage_location_is_refused_with_the_fix() -> anyhow::Result<()> {
    let fake = M365Fake::start().await?;
    fake.tenant().add_sku(E3_SKU, "SPE_E3", 5);
    let id = fake.tenant().put_user("nowhere@contoso.example", json!({}));
    let client = client(&fake, m365_fake::CLIENT_SECRET)?;
    let err = client.update_user(&id, &Attributes::from([(attr::LICENSE, "SPE_E3")])).await.expect_err("no location");
    let text = err.to_string();
    assert!(text.contains("invalid usage location") && text.contains("usage_location"), "{text}");
    // The person's country, mapped to usageLocation, is set before the license.
    client.update_user(&id, &Attributes::from([(attr::LICENSE, "SPE_E3"), ("usageLocation", "nl")])).await?;
    assert_eq!(fake.tenant().licenses_of("nowhere@contoso.example"), vec![E3_SKU.to_owned()]);
    assert_eq!(fake.tenant().users[&id]["usageLocation"], "NL");
    Ok(())
}

#[tokio::test]
async fn throttling_is_waited_out_for_as_long_as_retry_after_says() -> anyhow::Result<()> {
    let fake = M365Fake::start().await?;
    fake.tenant().put_user("a@contoso.example", json!({}));
    let client = client(&fake, m365_fake::CLIENT_SECRET)?;
    client.list_users().await?;
    fake.tenant().throttle =
        tenure_testkit::cloud_fake::Throttle { remaining: 2, status: 429, retry_after: Some(Duration::from_secs(1)) };
    let started = std::time::Instant::now();
    let all = client.list_users().await?;
    assert_eq!(all.len(), 1);
    assert_eq!(fake.tenant().counts.throttled, 2);
    assert!(started.elapsed() >= Duration::from_secs(2), "waited Retry-After twice: {:?}", started.elapsed());
    // 503 with Retry-After likewise.
    fake.tenant().throttle =
        tenure_testkit::cloud_fake::Throttle { remaining: 1, status: 503, retry_after: Some(Duration::from_secs(0)) };
    assert_eq!(client.list_users().await?.len(), 1);
    assert_eq!(fake.tenant().counts.throttled, 3);
    Ok(())
}

#[tokio::test]
async fn a_wrong_client_secret_is_an_oauth_error_naming_aadsts() -> anyhow::Result<()> {
    let fake = M365Fake::start().await?;
    let client = client(&fake, "wrong")?;
    match client.list_users().await {
        Err(e @ ConnectorError::OAuth { .. }) => assert!(e.to_string().contains("AADSTS7000215"), "{e}"),
        other => panic!("{other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn groups_are_listed_made_and_changed_over_pages_idempotently() -> anyhow::Result<()> {
    let fake = M365Fake::start().await?;
    let ids: Vec<String> = {
        let mut t = fake.tenant();
        let ids = (0..25).map(|n| t.put_user(&format!("user{n}@contoso.example"), json!({}))).collect();
        t.put_group("Engineering", &[]);
        t.put_group("Sales", &[]);
        t.put_group("Finance", &[]);
        t.add_to_group("Sales", "user1@contoso.example");
        t.add_to_group("Sales", "user2@contoso.example");
        t.add_to_group("Sales", "user3@contoso.example");
        ids
    };
    let client = client(&fake, m365_fake::CLIENT_SECRET)?;
    let described = client.describe();
    assert!(described.supports(Operation::Groups) && described.supports(Operation::GroupMembership));
    let groups = client.list_groups().await?;
    let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["Engineering", "Sales", "Finance"]);
    let sales = groups.iter().find(|g| g.name == "Sales").expect("sales");
    assert_eq!(sales.members, ids[1..4].to_vec(), "three members over two pages of $top=2");
    // Two pages of groups, and per group its member pages (one, two, one).
    assert_eq!(fake.tenant().counts.group_reads, 2 + 4);

    // A new security group with 25 members: 20 bound in the create, 5 added after.
    let made = client.create_group("Platform Team", &ids).await?;
    {
        let t = fake.tenant();
        let group = t.group_by_name("Platform Team").expect("made");
        assert_eq!(
            (group.mail_enabled, group.security_enabled, group.mail_nickname.as_str()),
            (false, true, "PlatformTeam")
        );
        assert_eq!(group.members.len(), 25);
        assert_eq!(group.id, made.remote_id);
        assert_eq!(t.counts.member_changes, 5, "past Graph's 20 references per request");
    }

    // Adding a member already there (400 "…already exist") and removing one who is not (404)
    // are done already; a throttled request on the way is waited out.
    let sales_id = sales.remote_id.clone();
    fake.tenant().throttle =
        tenure_testkit::cloud_fake::Throttle { remaining: 1, status: 429, retry_after: Some(Duration::from_secs(0)) };
    client
        .change_group_members(&sales_id, &[ids[1].clone(), ids[9].clone()], &[ids[2].clone(), ids[20].clone()])
        .await?;
    assert_eq!(fake.tenant().counts.throttled, 1);
    assert_eq!(
        fake.tenant().members_of("Sales"),
        ["user1@contoso.example", "user3@contoso.example", "user9@contoso.example"]
    );
    // A group that is no more is an error for an add, never a silent success.
    let gone = client.change_group_members("no-such-group", &[ids[0].clone()], &[]).await.expect_err("no group");
    assert!(gone.is_not_found(), "{gone}");
    // Graph will not change a dynamic group's members: its refusal comes back.
    fake.tenant().group_by_name_mut("Finance").expect("finance").group_types = vec!["DynamicMembership".into()];
    let finance = groups.iter().find(|g| g.name == "Finance").expect("finance").remote_id.clone();
    let refused = client.change_group_members(&finance, &[ids[0].clone()], &[]).await.expect_err("dynamic");
    assert!(refused.to_string().contains("dynamic group") && !refused.is_retryable(), "{refused}");
    Ok(())
}

#[tokio::test]
async fn a_license_a_group_gives_is_read_as_such_and_taken_by_leaving_the_group() -> anyhow::Result<()> {
    let fake = M365Fake::start().await?;
    let (e3_group, dynamic) = {
        let mut t = fake.tenant();
        t.add_sku(E3_SKU, "SPE_E3", 3);
        t.add_sku(E5_SKU, "SPE_E5", 3);
        for (upn, direct) in [("ann", true), ("bob", false), ("cy", false)] {
            let licenses = if direct { json!([{"skuId": E3_SKU}]) } else { json!([]) };
            t.put_user(&format!("{upn}@contoso.example"), json!({"usageLocation": "DE", "assignedLicenses": licenses}));
        }
        let e3_group = t.put_group("E3 users", &[E3_SKU]);
        t.put_group("Unlicensed", &[]);
        let dynamic = t.put_group("All staff E5", &[E5_SKU]);
        t.group_by_name_mut("All staff E5").expect("made").group_types = vec!["DynamicMembership".into()];
        t.add_to_group("E3 users", "bob@contoso.example");
        t.add_to_group("All staff E5", "cy@contoso.example");
        (e3_group, dynamic)
    };
    let client = client(&fake, m365_fake::CLIENT_SECRET)?;
    let source = |a: &tenure_core::RemoteAccount| {
        (a.attributes.get(attr::LICENSE).cloned(), a.attributes.get(m365::LICENSE_SOURCE).cloned())
    };
    let all = client.list_users().await?;
    let by = |name: &str| all.iter().find(|a| a.user_name().starts_with(name)).expect(name);
    assert_eq!(source(by("ann")), (Some("SPE_E3".into()), Some("direct".into())));
    assert_eq!(source(by("bob")), (Some("SPE_E3".into()), Some(format!("group:{e3_group}"))), "counted as used");
    assert_eq!(source(by("cy")), (Some("SPE_E5".into()), Some(format!("group:{dynamic}"))));
    let skus = client.subscribed_skus().await?;
    assert!(skus.iter().all(|s| s.consumed == if s.part_number == "SPE_E3" { 2 } else { 1 }), "{skus:?}");
    // The groups that give licenses, by Graph's advanced query (ConsistencyLevel: eventual).
    let licensing: Vec<String> = client.licensing_groups().await?.into_iter().map(|g| g.name).collect();
    assert_eq!(licensing, ["E3 users", "All staff E5"]);
    // Without `ConsistencyLevel: eventual` that query is refused, as Graph documents.
    let http = reqwest::Client::new();
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", m365_fake::CLIENT_ID),
        ("client_secret", m365_fake::CLIENT_SECRET),
        ("scope", m365_fake::SCOPE),
    ];
    let body: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
    let token: serde_json::Value = http
        .post(fake.token_url())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await?
        .json()
        .await?;
    let plain = http
        .get(format!("{}/groups", fake.base_url()))
        .query(&[("$filter", "assignedLicenses/$count ne 0"), ("$count", "true")])
        .bearer_auth(token["access_token"].as_str().unwrap_or_default())
        .send()
        .await?;
    assert_eq!(plain.status(), 400);
    let body: serde_json::Value = plain.json().await?;
    assert_eq!(body["error"]["code"], "Request_UnsupportedQuery", "{body}");

    // Removing Bob's license takes him out of the group that gives it (Graph refuses
    // removeLicense on it).
    let bob = by("bob").remote_id.clone();
    client.update_user(&bob, &Attributes::from([(attr::LICENSE, "")])).await?;
    assert!(fake.tenant().members_of("E3 users").is_empty());
    assert!(fake.tenant().licenses_of("bob@contoso.example").is_empty());
    assert_eq!(fake.tenant().counts.assign_license, 0, "nothing direct to remove");
    client.update_user(&bob, &Attributes::from([(attr::LICENSE, "")])).await?;

    // Cy's license comes from a dynamic group: refused for good, naming the group, nothing changed.
    let cy = by("cy").remote_id.clone();
    let refused = client.update_user(&cy, &Attributes::from([(attr::LICENSE, "")])).await.expect_err("dynamic");
    let text = refused.to_string();
    assert!(text.contains("\"All staff E5\"") && text.contains(&dynamic) && text.contains("membership rule"), "{text}");
    assert!(text.contains("SPE_E5") && !refused.is_retryable(), "{text}");
    assert_eq!(fake.tenant().licenses_of("cy@contoso.example"), vec![E5_SKU.to_owned()]);

    // A change of tier away from a group's license: the new one directly, out of the group.
    fake.tenant().add_to_group("E3 users", "bob@contoso.example");
    client.update_user(&bob, &Attributes::from([(attr::LICENSE, "SPE_E5")])).await?;
    assert!(fake.tenant().members_of("E3 users").is_empty());
    assert_eq!(fake.tenant().licenses_of("bob@contoso.example"), vec![E5_SKU.to_owned()]);
    let bob_now = client.get_user(&bob).await?.expect("there");
    assert_eq!(source(&bob_now), (Some("SPE_E5".into()), Some("direct".into())));
    // Ann holds E3 directly and from the group: the tier she is given is already hers.
    fake.tenant().add_to_group("E3 users", "ann@contoso.example");
    let ann = by("ann").remote_id.clone();
    let before = fake.tenant().counts.assign_license;
    client.update_user(&ann, &Attributes::from([(attr::LICENSE, "SPE_E3")])).await?;
    assert_eq!(fake.tenant().counts.assign_license, before, "nothing to change");
    assert_eq!(fake.tenant().members_of("E3 users"), ["ann@contoso.example"]);
    // A group giving an add-on is the admin's: a new tier replaces the one shown (E3, direct
    // and from its group) and leaves the add-on's group alone.
    const VISIO: &str = "c5928f49-12ba-48f7-ada3-0d743a3601d5";
    {
        let mut t = fake.tenant();
        t.add_sku(VISIO, "VISIOCLIENT", 3);
        t.put_group("Visio add-on", &[VISIO]);
        t.put_group("E5 add-on", &[E5_SKU]);
        t.add_to_group("E5 add-on", "ann@contoso.example");
    }
    assert_eq!(source(&client.get_user(&ann).await?.expect("there")).0.as_deref(), Some("SPE_E3"));
    client.update_user(&ann, &Attributes::from([(attr::LICENSE, "VISIOCLIENT")])).await?;
    let t = fake.tenant();
    assert_eq!(t.members_of("E5 add-on"), ["ann@contoso.example"], "the add-on's group kept");
    assert!(t.members_of("E3 users").is_empty(), "the replaced tier's group left");
    let mut held = t.licenses_of("ann@contoso.example");
    held.sort();
    assert_eq!(held, [E5_SKU, VISIO], "E3 gone, Visio direct, E5 from its group");
    Ok(())
}

/// `AAD_PREMIUM` (Entra ID P1), an add-on an admin gives by hand beside the tier.
const AAD_PREMIUM: &str = "078d2b04-f1bd-4111-bbd4-b4b1b354cef4";

#[tokio::test]
async fn an_add_on_beside_the_tier_is_read_apart_and_left_alone_by_a_tier_change() -> anyhow::Result<()> {
    let fake = M365Fake::start().await?;
    let (ada, bo) = {
        let mut t = fake.tenant();
        t.add_sku(E3_SKU, "ENTERPRISEPACK", 5);
        t.add_sku(E5_SKU, "SPE_E5", 5);
        t.add_sku(AAD_PREMIUM, "AAD_PREMIUM", 5);
        let both = json!({"usageLocation": "DE", "assignedLicenses": [{"skuId": AAD_PREMIUM}, {"skuId": E3_SKU}]});
        (t.put_user("ada@contoso.example", both.clone()), t.put_user("bo@contoso.example", both))
    };
    let held = |upn: &str| {
        let mut skus = fake.tenant().licenses_of(upn);
        skus.sort();
        skus
    };
    let license = |a: &tenure_core::RemoteAccount| a.attributes.get(attr::LICENSE).cloned();
    let every = |a: &tenure_core::RemoteAccount| a.attributes.get(m365::LICENSES_HELD).cloned();

    // Without the list the tier is the first SKU by part number: the add-on (kept for apps added
    // before the list existed); every SKU is shown either way.
    let plain = client(&fake, m365_fake::CLIENT_SECRET)?;
    let read = plain.get_user(&ada).await?.expect("there");
    assert_eq!(license(&read).as_deref(), Some("AAD_PREMIUM"));
    assert_eq!(every(&read).as_deref(), Some("AAD_PREMIUM,ENTERPRISEPACK"));
    // A tier change without the list removes only the tier it replaces, never another SKU; one
    // the user holds already removes nothing.
    plain.update_user(&ada, &Attributes::from([(attr::LICENSE, "ENTERPRISEPACK")])).await?;
    assert_eq!(held("ada@contoso.example"), [E3_SKU, AAD_PREMIUM], "the add-on the admin gave stays");
    // An add-on sorting after the tier: the change replaces the tier and keeps the add-on.
    const POWER_BI_PRO: &str = "f8a1db68-be16-40ed-86d5-cb42ce701560";
    let cy = {
        let mut t = fake.tenant();
        t.add_sku(POWER_BI_PRO, "POWER_BI_PRO", 5);
        let both = json!({"usageLocation": "DE", "assignedLicenses": [{"skuId": E3_SKU}, {"skuId": POWER_BI_PRO}]});
        t.put_user("cy@contoso.example", both)
    };
    plain.update_user(&cy, &Attributes::from([(attr::LICENSE, "SPE_E5")])).await?;
    assert_eq!(held("cy@contoso.example"), [E5_SKU, POWER_BI_PRO], "E3 replaced, Power BI kept");

    // With the list, the tier is the managed SKU the user holds.
    let managed = || -> anyhow::Result<M365> {
        Ok(client(&fake, m365_fake::CLIENT_SECRET)?.with_license_skus(vec!["ENTERPRISEPACK".into(), "SPE_E5".into()]))
    };
    let client = managed()?;
    let read = client.get_user(&ada).await?.expect("there");
    assert_eq!(license(&read).as_deref(), Some("ENTERPRISEPACK"), "the add-on is not the tier");
    assert_eq!(read.attributes.get(m365::LICENSE_SOURCE).map(String::as_str), Some("direct"));
    assert_eq!(every(&read).as_deref(), Some("AAD_PREMIUM,ENTERPRISEPACK"));
    let listed = client.list_users().await?;
    assert!(
        listed.iter().filter(|a| a.remote_id != cy).all(|a| license(a).as_deref() == Some("ENTERPRISEPACK")),
        "{listed:?}"
    );
    // A tier change swaps managed SKUs only.
    client.update_user(&ada, &Attributes::from([(attr::LICENSE, "SPE_E5")])).await?;
    assert_eq!(held("ada@contoso.example"), [E5_SKU, AAD_PREMIUM], "E3 swapped for E5, the add-on kept");
    // A tier outside the list is refused for good before any request (a fresh client has not
    // even asked for a token).
    let fresh = managed()?;
    let before = fake.tenant().counts.token;
    let change = Attributes::from([(attr::LICENSE, "AAD_PREMIUM"), (attr::TITLE, "Analyst")]);
    let refused = fresh.update_user(&ada, &change).await.expect_err("unmanaged");
    let text = refused.to_string();
    assert!(text.contains("\"AAD_PREMIUM\"") && text.contains("ENTERPRISEPACK, SPE_E5"), "{text}");
    assert!(!refused.is_retryable(), "{text}");
    assert_eq!(fake.tenant().counts.token, before, "no request sent, not even the title's");
    assert!(fake.tenant().by_upn("ada@contoso.example").is_some_and(|u| u["jobTitle"].is_null()));
    // Removing the license (a leaver under remove-license) takes every SKU, the add-on too.
    client.update_user(&bo, &Attributes::from([(attr::LICENSE, "")])).await?;
    assert!(held("bo@contoso.example").is_empty(), "a leaver needs no SKU");
    let gone = client.get_user(&bo).await?.expect("there");
    assert_eq!((license(&gone), every(&gone)), (None, None));
    Ok(())
}
