use super::*;

fn pool(app: &str, tier: Option<&str>, seats: u64, cost: &str, period: Period) -> LicensePool {
    LicensePool {
        app: app.into(),
        tier: tier.map(str::to_owned),
        seats,
        cost_per_seat: cost.parse().expect("amount"),
        currency: "EUR".parse().expect("currency"),
        period,
        renews: None,
        owner: None,
        unused_days: 90,
        freed_to: FreedTo::Line,
    }
}

fn count(tier: Option<&str>, class: AccountClass, active: bool, accounts: u64) -> SeatCount {
    SeatCount { tier: tier.map(str::to_owned), class: Some(class), active, accounts, ..SeatCount::default() }
}

fn money(s: &str) -> Money {
    s.parse().expect("amount")
}

#[test]
fn leavers_unmanaged_accounts_and_free_seats_are_waste() {
    let usage = AppUsage {
        app: "slack".into(),
        counts: vec![
            count(None, AccountClass::Managed, true, 8),
            count(None, AccountClass::LeftButActive, true, 2),
            count(None, AccountClass::Unmanaged, true, 1),
            count(None, AccountClass::KnownExternal, true, 1),
            count(None, AccountClass::Deactivated, false, 3),
        ],
        unread: None,
    };
    let report = report("live", &[pool("slack", None, 15, "4", Period::Month)], &[usage]);
    let slack = &report.apps[0].figures;
    assert_eq!((slack.seats, slack.used, slack.free, slack.wasted), (15, 12, 3, 6));
    assert_eq!(slack.monthly_cost, money("60"));
    assert_eq!(slack.reclaimable_monthly, money("24"));
    assert_eq!(slack.wasted_by_reason["left_but_active"], Waste { seats: 2, monthly_cost: money("8") });
    assert_eq!(slack.wasted_by_reason["unmanaged"].seats, 1);
    assert_eq!(slack.wasted_by_reason["unused_seats"].seats, 3);
    assert!(!slack.over_allocated);
    assert_eq!(report.totals[0].figures, *slack);
    let json = serde_json::to_value(&report).expect("json");
    assert_eq!(json["apps"][0]["wasted"], 6);
    assert_eq!(json["apps"][0]["monthly_cost"], 60.0);
    assert_eq!(json["apps"][0]["tiers"][0]["tier"], serde_json::Value::Null);
    assert_eq!(json["totals"][0]["currency"], "EUR");
}

#[test]
fn tiers_take_their_accounts_and_yearly_prices_are_divided_by_twelve() {
    let mut business = count(Some("business"), AccountClass::Managed, true, 9);
    business.activity_known = 9;
    business.unused = [4, 2, 1];
    let usage = AppUsage {
        app: "jira".into(),
        counts: vec![
            business,
            count(Some("enterprise"), AccountClass::Managed, true, 6),
            count(Some("pro"), AccountClass::Managed, true, 2),
            count(Some("enterprise"), AccountClass::InactiveButLicensed, false, 1),
        ],
        unread: None,
    };
    let mut business_pool = pool("jira", Some("business"), 10, "12.5", Period::Month);
    business_pool.unused_days = 60;
    let pools = [business_pool, pool("jira", Some("enterprise"), 5, "100", Period::Year)];
    let report = report("live", &pools, &[usage]);
    let jira = &report.apps[0];
    let tier = |name: &str| jira.tiers.iter().find(|t| t.tier.as_deref() == Some(name)).expect(name);
    let b = &tier("business").figures;
    assert_eq!((b.used, b.free, b.wasted), (9, 1, 3), "2 unused for 60 days and 1 free seat");
    assert_eq!(b.unused_for_days["30"], 4);
    assert_eq!(b.monthly_cost, money("125"));
    let e = &tier("enterprise").figures;
    assert_eq!((e.used, e.free, e.over_allocated), (7, 0, true));
    assert_eq!(e.monthly_cost, money("41.67"), "5 x 100 a year");
    assert_eq!(e.wasted_by_reason["inactive_but_licensed"].monthly_cost, money("8.33"));
    let pro = tier("pro");
    assert!(!pro.pooled && pro.figures.over_allocated && pro.figures.monthly_cost == Money::ZERO);
    assert!(tier("business").pooled);
    assert_eq!((jira.figures.seats, jira.figures.used), (15, 18));
    assert_eq!(jira.figures.monthly_cost, money("166.67"));
    assert!(jira.figures.over_allocated);
}

#[test]
fn an_untiered_pool_takes_every_tier_without_its_own() {
    let usage = AppUsage {
        app: "zoom".into(),
        counts: vec![
            count(Some("licensed"), AccountClass::Managed, true, 3),
            count(None, AccountClass::Managed, true, 2),
        ],
        unread: None,
    };
    let report = report("stored", &[pool("zoom", None, 5, "15.99", Period::Month)], &[usage]);
    let zoom = &report.apps[0];
    assert_eq!(zoom.tiers.len(), 1);
    assert_eq!((zoom.figures.used, zoom.figures.wasted), (5, 0));
    assert_eq!(zoom.figures.monthly_cost, money("79.95"));
}
