//! `tenure bench plan`: plans a generated organization of the requested size, in memory, and
//! prints its figures as one JSON line. No database and no network: it measures the reconciler.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Instant;

use tenure_core::attributes::default_mapping;
use tenure_core::reconcile::{AppState, DirectoryIndex, Prepared, ineligibility, plan_apps};
use tenure_core::*;

use crate::cli::{BenchPhase, BenchPlanArgs};

/// A small deterministic generator: the bench must be reproducible, not random-quality.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

struct Org {
    people: Vec<Person>,
    groups: Vec<Group>,
    apps: Vec<App>,
    assignments: Vec<Vec<Assignment>>,
}

const NESTING_LEVELS: usize = 5;

fn generate(args: &BenchPlanArgs) -> anyhow::Result<Org> {
    let mut rng = SplitMix(args.seed);
    let source = SourceId::new();
    let org_units: Vec<OrgUnitPath> = (0..5)
        .flat_map(|d| (0..10).map(move |t| format!("/Division{d}/Team{t}")))
        .map(|p| OrgUnitPath::parse(&p))
        .collect::<Result<_, _>>()?;
    let people: Vec<Person> = (0..args.people)
        .map(|i| Person {
            id: PersonId::new(),
            source_id: source,
            source_key: format!("E{i}"),
            user_name: format!("person{i}@bench.example"),
            email: format!("person{i}@bench.example"),
            given_name: Some(format!("Given{i}")),
            family_name: Some(format!("Family{}", i % 997)),
            display_name: None,
            department: Some(format!("Department{}", i % 40)),
            title: Some(format!("Title{}", i % 25)),
            employee_id: Some(format!("E{i}")),
            manager_key: (i > 0).then(|| format!("E{}", i / 8)),
            org_unit: Some(org_units[rng.below(org_units.len())].clone()),
            status: if rng.below(100) == 0 { PersonStatus::Suspended } else { PersonStatus::Active },
            start_date: None,
            leave_date: None,
            custom: BTreeMap::new(),
        })
        .collect();

    // Groups in NESTING_LEVELS levels; each group below the top is nested in one group of the
    // level above. People are direct members of three groups of the lowest level.
    let group_count = args.groups as usize;
    let per_level = (group_count / NESTING_LEVELS).max(1);
    let mut groups: Vec<Group> = (0..group_count)
        .map(|i| Group {
            id: GroupId::new(),
            source_id: source,
            name: format!("group{i}"),
            members: vec![],
            member_groups: vec![],
        })
        .collect();
    for i in per_level..groups.len() {
        let level = (i / per_level).min(NESTING_LEVELS - 1);
        let parent = (level - 1) * per_level + rng.below(per_level);
        let child = groups[i].id;
        groups[parent].member_groups.push(child);
    }
    let leaves_from = (NESTING_LEVELS - 1) * per_level;
    let leaves = groups.len().saturating_sub(leaves_from).max(1);
    for person in &people {
        for _ in 0..3 {
            let g = (leaves_from + rng.below(leaves)).min(groups.len() - 1);
            groups[g].members.push(person.id);
        }
    }

    // Each app: one division (about a fifth of everyone) and two groups of the second level.
    let mut apps = Vec::with_capacity(args.apps);
    let mut assignments = Vec::with_capacity(args.apps);
    for a in 0..args.apps {
        let app = App {
            id: AppId::new(),
            name: format!("app{a}"),
            kind: AppKind::Scim,
            base_url: format!("https://app{a}.bench.example/scim/v2"),
            settings: AppSettings::default(),
        };
        let mut list = vec![Assignment::grant(
            app.id,
            AssignmentTarget::OrgUnit(OrgUnitPath::parse(&format!("/Division{}", a % 5))?),
        )];
        for _ in 0..2 {
            let g = (per_level + rng.below(per_level)).min(groups.len() - 1);
            list.push(Assignment::grant(app.id, AssignmentTarget::Group(groups[g].id)));
        }
        apps.push(app);
        assignments.push(list);
    }
    Ok(Org { people, groups, apps, assignments })
}

/// What each app holds: an up-to-date, linked account for `converged_pct` % of the people it
/// should have, nothing for the rest.
fn observe(
    org: &Org,
    converged_pct: usize,
    today: time::Date,
) -> (Vec<Vec<RemoteAccount>>, Vec<Vec<AccountLink>>, usize) {
    let dir = DirectoryIndex::new(&org.people, &org.groups);
    let mut rng = SplitMix(7);
    let mut observed = Vec::with_capacity(org.apps.len());
    let mut links = Vec::with_capacity(org.apps.len());
    let mut desired_total = 0;
    for (app, assignments) in org.apps.iter().zip(&org.assignments) {
        let mut accounts = Vec::new();
        let mut app_links = Vec::new();
        for pid in dir.grants(assignments).keys() {
            let Some(person) = dir.person(*pid) else { continue };
            if ineligibility(person, today).is_some() {
                continue;
            }
            desired_total += 1;
            if rng.below(100) >= converged_pct {
                continue;
            }
            // As an app reports it: no empty values, and one allocation per account for the list.
            let mut attributes = default_mapping(person, app.settings.user_name);
            attributes.retain(|_, v| !v.is_empty());
            attributes.shrink_to_fit();
            let remote_id = format!("{}-{}", app.name, person.source_key);
            accounts.push(RemoteAccount { remote_id: remote_id.clone(), active: true, attributes });
            app_links.push(AccountLink {
                app_id: app.id,
                remote_id,
                person_id: person.id,
                origin: AccountOrigin::Created,
                deactivated_on: None,
                granted_by: None,
            });
        }
        observed.push(accounts);
        links.push(app_links);
    }
    (observed, links, desired_total)
}

/// Plans every app; returns (ops, milliseconds).
fn plan_all(org: &Org, observed: &[Vec<RemoteAccount>], links: &[Vec<AccountLink>], today: time::Date) -> (usize, f64) {
    let started = Instant::now();
    let dir = DirectoryIndex::new(&org.people, &org.groups);
    let states = app_states(org, observed, links);
    let ops = plan_apps(&dir, &states, today).iter().map(|p| p.ops.len()).sum();
    (ops, started.elapsed().as_secs_f64() * 1000.0)
}

fn app_states<'a>(
    org: &'a Org,
    observed: &'a [Vec<RemoteAccount>],
    links: &'a [Vec<AccountLink>],
) -> Vec<AppState<'a>> {
    org.apps
        .iter()
        .enumerate()
        .map(|(i, app)| AppState {
            app,
            assignments: &org.assignments[i],
            links: &links[i],
            observed: &observed[i],
            groups: &[],
        })
        .collect()
}

/// Incremental planning: one person's title changes; every app is asked what that means for
/// them. The apps are prepared once, as a long-running engine keeps them. Returns the median
/// and 99th percentile in microseconds, and the operations planned (one update per app that
/// holds the person's account).
fn incremental(
    org: &Org,
    observed: &[Vec<RemoteAccount>],
    links: &[Vec<AccountLink>],
    today: time::Date,
) -> (f64, f64, usize) {
    let dir = DirectoryIndex::new(&org.people, &org.groups);
    let states = app_states(org, observed, links);
    let prepared: Vec<Prepared<'_>> = states.iter().map(|s| Prepared::new(&dir, s)).collect();
    let mut rng = SplitMix(99);
    let mut samples = Vec::with_capacity(INCREMENTAL_SAMPLES);
    let mut ops = 0;
    for _ in 0..INCREMENTAL_SAMPLES {
        let mut changed = org.people[rng.below(org.people.len())].clone();
        changed.title = Some(format!("Promoted {}", rng.next()));
        let started = Instant::now();
        for app in &prepared {
            ops += app.plan_person(&dir, &changed, today).ops.len();
        }
        samples.push(started.elapsed().as_secs_f64() * 1e6);
    }
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99), ops)
}

const INCREMENTAL_SAMPLES: usize = 1000;

/// Peak resident memory of this process so far (Linux), in MiB.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some((kb / 1024.0).round())
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// The converged phase: a full plan against apps that hold 99% of what they should, then
/// incremental plans. Its process's peak memory is the figure the goal is about.
fn converged(args: &BenchPlanArgs) -> anyhow::Result<serde_json::Value> {
    let today = tenure_engine::today();
    let generated = Instant::now();
    let org = generate(args)?;
    let (observed, links, accounts) = observe(&org, 99, today);
    eprintln!(
        "generated {} people, {} groups, {} apps, {accounts} desired accounts in {:.0} ms",
        org.people.len(),
        org.groups.len(),
        org.apps.len(),
        generated.elapsed().as_secs_f64() * 1000.0
    );
    let (ops, plan_ms) = plan_all(&org, &observed, &links, today);
    eprintln!("full plan, 99% converged: {ops} ops in {plan_ms:.0} ms");
    let (median_us, p99_us, incremental_ops) = incremental(&org, &observed, &links, today);
    eprintln!(
        "incremental plan of one changed person across {} apps: median {median_us:.1} µs, p99 {p99_us:.1} µs",
        org.apps.len()
    );
    Ok(serde_json::json!({
        "people": org.people.len(),
        "groups": org.groups.len(),
        "apps": org.apps.len(),
        "accounts": accounts,
        "ops": ops,
        "plan_ms": round1(plan_ms),
        "incremental_us": round1(median_us),
        "incremental_p99_us": round1(p99_us),
        "incremental_ops": incremental_ops,
        "peak_rss_mb": peak_rss_mb(),
    }))
}

/// The initial phase: the same organization against empty apps (first provisioning).
fn initial(args: &BenchPlanArgs) -> anyhow::Result<serde_json::Value> {
    let today = tenure_engine::today();
    let org = generate(args)?;
    let empty_observed = vec![Vec::new(); org.apps.len()];
    let empty_links = vec![Vec::new(); org.apps.len()];
    let (initial_ops, initial_plan_ms) = plan_all(&org, &empty_observed, &empty_links, today);
    eprintln!("full plan, nothing provisioned: {initial_ops} ops in {initial_plan_ms:.0} ms");
    Ok(serde_json::json!({
        "initial_ops": initial_ops,
        "initial_plan_ms": round1(initial_plan_ms),
        "initial_peak_rss_mb": peak_rss_mb(),
    }))
}

/// Runs each phase in a process of its own, so each peak-memory figure is that phase's alone,
/// and prints one JSON line with every figure.
pub fn run(args: BenchPlanArgs) -> anyhow::Result<ExitCode> {
    if let Some(phase) = args.phase {
        let figures = match phase {
            BenchPhase::Converged => converged(&args)?,
            BenchPhase::Initial => initial(&args)?,
        };
        println!("{figures}");
        return Ok(ExitCode::SUCCESS);
    }
    let exe = std::env::current_exe()?;
    let mut merged = serde_json::Map::new();
    for phase in ["converged", "initial"] {
        let output = std::process::Command::new(&exe)
            .args(["bench", "plan", "--phase", phase])
            .args(["--people", &args.people.to_string(), "--groups", &args.groups.to_string()])
            .args(["--apps", &args.apps.to_string(), "--seed", &args.seed.to_string()])
            .stderr(std::process::Stdio::inherit())
            .output()?;
        if !output.status.success() {
            anyhow::bail!("bench phase {phase} failed ({})", output.status);
        }
        let line = String::from_utf8_lossy(&output.stdout);
        let figures: serde_json::Value = serde_json::from_str(line.trim())?;
        if let serde_json::Value::Object(map) = figures {
            merged.extend(map);
        }
    }
    println!("{}", serde_json::Value::Object(merged));
    Ok(ExitCode::SUCCESS)
}
