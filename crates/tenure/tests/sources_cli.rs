//! CSV sources through the binary: `source add` with format options, `source set`, `sync`
//! reporting every problem of a bad export and its progress lines, and `bench import` at a small
//! size (that it works and prints its figures; no timing is asserted).

use std::path::Path;
use std::process::Output;

struct Env {
    dir: tempfile::TempDir,
    url: String,
}

impl Env {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        Self { dir, url }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn write(&self, name: &str, content: impl AsRef<[u8]>) -> String {
        std::fs::write(self.dir.path().join(name), content).unwrap();
        self.path(name)
    }

    fn run(&self, args: &[&str]) -> Output {
        tenure(args, &self.url, self.dir.path())
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "tenure {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn sync_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["sync", "--json"])).unwrap()
    }

    fn source_config(&self) -> serde_json::Value {
        let list: serde_json::Value = serde_json::from_str(&self.ok(&["source", "list", "--json"])).unwrap();
        list[0]["config"].clone()
    }
}

fn tenure(args: &[&str], database_url: &str, home: &Path) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_tenure"))
        .args(args)
        .env("TENURE_DATABASE_URL", database_url)
        .env("TENURE_MASTER_KEYS", tenure_testkit::TEST_MASTER_KEYS)
        .env("XDG_DATA_HOME", home)
        .env_remove("TENURE_CONFIG")
        .env_remove("TENURE_LOG")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run tenure")
}

#[test]
fn format_options_at_add_and_every_setting_changeable_with_source_set() {
    let env = Env::new();
    // Windows-1252, semicolons, German dates, a differently named key column.
    let file = env.write(
        "people.csv",
        b"Personalnummer;email;family_name;start_date;department\nP1;a@x.io;M\xfcller;01.02.2024;Sales\nP2;b@x.io;Schr\xf6der;;Support\n",
    );
    env.ok(&[
        "source",
        "add",
        "csv",
        "hr",
        "--file",
        &file,
        "--column",
        "employee_id=Personalnummer",
        "--encoding",
        "windows-1252",
        "--date-format",
        "DD.MM.YYYY",
    ]);
    assert_eq!(env.sync_json()[0]["created"], 2);

    // Scope by department, a guard share, an explicit delimiter.
    let out = env.ok(&[
        "source",
        "set",
        "hr",
        "--include-department",
        "Sales",
        "--guard-min-share",
        "60",
        "--delimiter",
        ";",
    ]);
    assert!(out.contains("updated source hr"), "{out}");
    let config = env.source_config();
    assert_eq!(config["scope"]["include_departments"], serde_json::json!(["Sales"]));
    assert_eq!(config["min_share_percent"], 60);
    assert_eq!(
        config["format"],
        serde_json::json!({"delimiter": "semicolon", "encoding": "windows-1252", "date_format": "DD.MM.YYYY"})
    );
    assert_eq!(config["mapping"]["employee_id"], "Personalnummer", "the mapping is kept");
    // Scoping out one of two people is below the 60% share: refused, then forced.
    let refused = env.run(&["sync"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("returned 1 people where the last sync had 2"));
    env.ok(&["sync", "--force"]);

    // Back to the defaults, one by one.
    env.ok(&["source", "set", "hr", "--clear-scope", "--no-guard-min-share", "--delimiter", "auto"]);
    let config = env.source_config();
    assert!(config.get("scope").is_none() && config.get("min_share_percent").is_none(), "{config}");
    assert_eq!(config["format"].get("delimiter"), None);
    assert_eq!(env.ok(&["source", "set", "hr"]).trim(), "source hr: nothing to change");

    // A wrong encoding setting shows in the error; the right one fixes it.
    env.ok(&["source", "set", "hr", "--encoding", "utf-8"]);
    let bad = env.run(&["sync"]);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("line 2: column \"family_name\" is not valid UTF-8"), "{err}");
    env.ok(&["source", "set", "hr", "--encoding", "iso-8859-1"]);
    assert_eq!(env.sync_json()[0]["unchanged"], 1);

    // Unknown sources, flags and values are refused clearly.
    let out = env.run(&["source", "set", "nope", "--delimiter", ";"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no source named \"nope\""));
    let out = env.run(&["source", "set", "hr", "--delimiter", ":"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown delimiter"));
    let out = env.run(&["source", "set", "hr", "--date-format", "DD.MM"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("YYYY is missing"));
    let out = env.run(&["source", "set", "hr", "--column", "emial=x"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field \"emial\""));

    // The sync interval: set, kept by another change, refused when too short.
    let out = env.ok(&["source", "set", "hr", "--sync-every", "5m"]);
    assert!(out.contains("syncs it every 300s"), "{out}");
    env.ok(&["source", "set", "hr", "--delimiter", ";"]);
    assert_eq!(env.source_config()["sync_every_s"], 300);
    let out = env.run(&["source", "set", "hr", "--sync-every", "10s"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 30s"), "{out:?}");
    assert_eq!(env.source_config()["sync_every_s"], 300);
}

#[test]
fn a_bad_export_lists_every_problem_and_progress_is_plain_lines_off_a_terminal() {
    let env = Env::new();
    let file = env.write("people.csv", "employee_id,email\nE1,a@x.io\nE2,nope\nE1,c@x.io\n,d@x.io\n");
    env.ok(&["source", "add", "csv", "hr", "--file", &file]);
    let out = env.run(&["sync"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert!(lines[0].ends_with("people.csv: line 3: invalid email \"nope\": it has no '@'"), "{err}");
    assert!(lines[1].ends_with("line 4: duplicate employee_id \"E1\" (first seen on line 2)"), "{err}");
    assert!(lines[2].ends_with("line 5: empty employee_id"), "{err}");
    assert_eq!(lines[3], "error: source hr: 3 problems (listed above); nothing was imported", "{err}");

    env.write("people.csv", "employee_id,email\nE1,a@x.io\n");
    let out = env.run(&["sync", "--json"]);
    assert!(out.status.success());
    assert!(out.stderr.is_empty(), "--json keeps stderr quiet: {}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report[0]["created"], 1);

    // Several sources: a plain line as each starts.
    let other = env.write(
        "other.csv",
        "employee_id,email
X1,x@y.io
",
    );
    env.ok(&["source", "add", "csv", "other", "--file", &other]);
    let out = env.run(&["sync"]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().collect::<Vec<_>>(), ["syncing hr (1/2)", "syncing other (2/2)"], "{err}");
}

#[test]
fn a_watched_directory_is_read_by_a_one_shot_sync() {
    let env = Env::new();
    let file = env.write("people.csv", "employee_id,email\nE1,a@x.io\n");
    std::fs::create_dir(env.dir.path().join("drop")).unwrap();
    env.ok(&["source", "add", "csv", "hr", "--file", &file, "--watch-dir", &env.path("drop")]);
    let dropped = env.write("drop/export.csv", "employee_id,email\nE1,a@x.io\nE2,b@x.io\n");
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(10);
    std::fs::File::options().write(true).open(&dropped).unwrap().set_modified(old).unwrap();
    assert_eq!(env.sync_json()[0]["created"], 2);
    assert!(!Path::new(&dropped).exists());
    assert_eq!(std::fs::read_dir(env.dir.path().join("drop/processed")).unwrap().count(), 1);
    assert!(std::fs::read_to_string(&file).unwrap().contains("b@x.io"), "the drop became the current file");
}

#[test]
fn a_source_fed_only_by_uploads_or_drops_may_name_a_file_that_does_not_exist_yet() {
    let env = Env::new();
    std::fs::create_dir(env.dir.path().join("drop")).unwrap();
    let out =
        env.run(&["source", "add", "csv", "hr", "--file", &env.path("current.csv"), "--watch-dir", &env.path("drop")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist yet"));
    // Nothing imported yet: the sync says which file is missing.
    let out = env.run(&["sync"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("current.csv"));
    let dropped = env.write("drop/first.csv", "employee_id,email\nE1,a@x.io\n");
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(10);
    std::fs::File::options().write(true).open(&dropped).unwrap().set_modified(old).unwrap();
    assert_eq!(env.sync_json()[0]["created"], 1);
    assert!(Path::new(&env.path("current.csv")).exists());
    let out = env.run(&["source", "add", "csv", "x", "--file", &env.path("no/such/dir.csv")]);
    assert!(!out.status.success());
}

#[test]
fn bench_import_runs_at_a_small_size_and_ends_with_its_figures() {
    let env = Env::new();
    let out = tenure(&["bench", "import", "--people", "300"], "", env.dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().expect("a JSON line");
    let figures: serde_json::Value = serde_json::from_str(last).unwrap();
    assert_eq!(figures["people"], 300);
    assert_eq!(figures["incremental_changes"], 100);
    assert_eq!(figures["backend"], "sqlite");
    for key in ["elapsed_ms", "people_per_s", "incremental_ms", "parse_ms"] {
        assert!(figures[key].as_f64().is_some_and(|v| v > 0.0), "{key}: {figures}");
    }
}
