use super::*;

#[test]
fn every_file_of_the_directory_is_compiled_in() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .expect("catalog directory")
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_suffix(".toml")).map(str::to_owned))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = files::FILES.iter().map(|(n, _)| (*n).to_owned()).collect();
    listed.sort();
    assert_eq!(on_disk, listed, "list every catalog file in catalog/files.rs");
}

/// Every entry parses; every required fact is there, known or written "unknown"; every known
/// fact cites a source with an address.
#[test]
fn every_entry_parses_and_every_fact_has_a_source() {
    for (file, text) in files::FILES {
        let entry = parse(file, text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(entry.problems(), Vec::<String>::new(), "{file}");
        for fact in entry.facts() {
            for key in fact.sources {
                let url = &entry.sources[key].url;
                assert!(url.starts_with("http"), "{file}: {}: {url}", fact.field);
            }
        }
        assert!(!entry.docs().is_empty(), "{file}");
    }
    let catalog = catalog();
    let main = catalog.entries().iter().filter(|e| !e.reserve).count();
    assert!(main >= 25, "{main} entries");
}

#[test]
fn a_required_fact_left_out_is_refused() {
    let (_, slack) = files::FILES.iter().find(|(n, _)| *n == "slack").expect("slack");
    let without: String =
        slack.split("\n[").filter(|section| !section.starts_with("delete]")).collect::<Vec<_>>().join("\n[");
    let e = parse("slack", &without).expect_err("delete is required");
    assert!(e.to_string().contains("delete"), "{e}");
}

#[test]
fn a_known_fact_without_a_source_is_refused() {
    let (_, asana) = files::FILES.iter().find(|(n, _)| *n == "asana").expect("asana");
    let text = asana.replace(
        "value = \"unsupported\"\nnote = \"reactivating users is not supported\"\nsources = [\"AS2\"]",
        "value = \"unsupported\"",
    );
    let entry = parse("asana", &text).expect("parses");
    let problems = entry.problems();
    assert!(problems.iter().any(|p| p.starts_with("reactivate: a documented value needs a source")), "{problems:?}");
    let text = asana.replace("sources = [\"AS4\"]", "sources = [\"AS9\"]");
    let problems = parse("asana", &text).expect("parses").problems();
    assert!(problems.iter().any(|p| p.contains("\"AS9\" is not in [sources]")), "{problems:?}");
    assert!(problems.iter().any(|p| p == "source AS4 is cited by no fact"), "{problems:?}");
}

#[test]
fn unknown_is_explicit_and_nothing_else_is_taken_for_it() {
    let (_, zoom) = files::FILES.iter().find(|(n, _)| *n == "zoom").expect("zoom");
    let entry = parse("zoom", zoom).expect("zoom");
    assert_eq!(entry.delete.value, Known::Unknown);
    let text = zoom.replacen("[delete]\nvalue = \"unknown\"", "[delete]\nvalue = \"maybe\"", 1);
    let e = parse("zoom", &text).expect_err("an unknown word is no value");
    assert!(e.to_string().contains("maybe"), "{e}");
}

#[test]
fn the_reference_facts_drive_the_engine_readings() {
    let c = catalog();
    let get = |n: &str| c.get(n).unwrap_or_else(|| panic!("{n}"));
    // Salesforce: DELETE only deactivates.
    assert_eq!(get("salesforce").delete_meaning(), DeleteMeaning::Deactivates);
    assert!(!get("salesforce").delete_irreversible());
    // GitHub EMU: permanent; Asana: no way back, deactivation included.
    assert!(get("github").delete_irreversible() && !get("github").deactivate_irreversible());
    assert!(get("asana").delete_irreversible() && get("asana").deactivate_irreversible());
    assert_eq!(get("asana").reactivates(), Some(false));
    assert_eq!(get("slack").reactivates(), Some(true));
    assert_eq!(get("datadog").reactivates(), None);
    // Figma and Asana leave accounts out of their lists.
    assert!(get("figma").list_partial() && get("asana").list_partial() && !get("slack").list_partial());
    // Canva: pages of 10, one create a second, no DELETE.
    let canva = get("canva");
    assert_eq!(canva.max_page_size(), 10);
    // One create a second paces creates alone: updates and deactivations are not held to it.
    let limits = canva.documented_limits().expect("canva");
    assert_eq!((limits.per_second, limits.creates_per_second), (None, Some(1.0)));
    assert!(!canva.delete_supported());
    // Adobe's list lock-out is not what paces its writes: 10 actions a minute do; it sets the
    // least time between two full reads instead (page 0 at most 12 times a day: 2 hours).
    let adobe = get("adobe").documented_limits().and_then(|l| l.per_second).expect("adobe");
    assert!((adobe * 60.0 - 10.0).abs() < 1e-9, "{adobe}");
    assert_eq!(get("adobe").min_list_interval_s(), Some(7200));
    assert_eq!(get("slack").min_list_interval_s(), None);
    // DocuSign: 500 per 30 s paces its requests, and 3,000 an hour is a budget over the hour,
    // not spread into a rate of one request every 1.2 s.
    let docusign = get("docusign").documented_limits().expect("docusign");
    assert!((docusign.per_second.expect("rate") * 30.0 - 500.0).abs() < 1e-6, "{docusign:?}");
    assert_eq!(docusign.windows, vec![tenure_core::RequestWindow::hourly(3000)]);
    // HubSpot's day, GitHub's hour (its only documented limit: no rate beside it).
    let hubspot = get("hubspot").documented_limits().expect("hubspot");
    assert_eq!(hubspot.windows, vec![tenure_core::RequestWindow::daily(250_000)]);
    assert_eq!(hubspot.per_second, Some(10.0));
    let github = get("github").documented_limits().expect("github");
    assert_eq!((github.per_second, github.windows.clone()), (None, vec![tenure_core::RequestWindow::hourly(1000)]));
    // Adobe's 12 a day applies to reading the list from the start, not to every request.
    assert!(get("adobe").documented_limits().is_some_and(|l| l.windows.is_empty()));
    // Required values: Salesforce's profile entitlement, Airtable's enterprise domains.
    let rule = |app: &str, kind: RuleKind| get(app).rules.iter().find(|r| r.rule == kind).cloned();
    let profile = rule("salesforce", RuleKind::Required).expect("salesforce needs a profile");
    assert_eq!(profile.attribute, "license");
    let domains = rule("airtable", RuleKind::EmailDomainIn).expect("airtable's domains");
    assert_eq!((domains.attribute.as_str(), domains.list.as_deref()), ("userName", Some("verified_domains")));
    assert!(get("salesforce").app_rules().iter().all(|r| r.sources.is_empty()));
    assert!(!get("adobe").is_scim() && !get("dropbox").is_scim() && get("asana").is_scim());
    assert_eq!(get("salesforce").base_url_parameters(), vec!["my_domain"]);
    assert_eq!(get("jira").name, "atlassian");
    assert!(c.get("teams").is_none());
}

#[test]
fn a_name_two_entries_claim_is_refused() {
    let (_, slack) = files::FILES.iter().find(|(n, _)| *n == "slack").expect("slack");
    let twin = slack.replace("name = \"slack\"", "name = \"slack-twin\"\naliases = [\"slack\"]");
    let e = Catalog::load(&[("slack", slack), ("slack-twin", &twin)]).expect_err("clash");
    assert!(e.to_string().contains("\"slack\" also names"), "{e}");
}

#[test]
fn a_broken_rule_is_refused_at_load() {
    let (_, salesforce) = files::FILES.iter().find(|(n, _)| *n == "salesforce").expect("salesforce");
    let text = salesforce.replace("rule = \"required\"", "rule = \"max-len\"");
    let problems = parse("salesforce", &text).expect("parses").problems();
    assert!(problems.iter().any(|p| p == "rule max-len on license: needs max"), "{problems:?}");
    let text = salesforce.replace("sources = [\"SF5\", \"SF6\"]", "sources = [\"SF5\", \"SF99\"]");
    let problems = parse("salesforce", &text).expect("parses").problems();
    assert!(problems.iter().any(|p| p.starts_with("rules: source \"SF99\"")), "{problems:?}");
    let text = salesforce.replace("rule = \"required\"", "rule = \"unique\"");
    assert!(parse("salesforce", &text).is_err(), "a rule outside the vocabulary");
}
