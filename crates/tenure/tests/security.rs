//! Security on a default install (no key, no database configured): a credential leaves no
//! trace in the database files, and every spelling of a metadata or link-local address is
//! refused when an app is added.

use std::path::Path;
use std::process::Output;

struct DefaultInstall {
    home: tempfile::TempDir,
}

impl DefaultInstall {
    fn new() -> anyhow::Result<Self> {
        Ok(Self { home: tempfile::tempdir()? })
    }

    fn data_dir(&self) -> std::path::PathBuf {
        self.home.path().join("tenure")
    }

    async fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, &[]).await
    }

    async fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_tenure"))
            .args(args)
            .envs(env.iter().copied())
            .env("XDG_DATA_HOME", self.home.path())
            .env("HOME", self.home.path())
            .env_remove("TENURE_DATABASE_URL")
            .env_remove("TENURE_DATABASE_URL_FILE")
            .env_remove("TENURE_MASTER_KEYS")
            .env_remove("TENURE_MASTER_KEY_FILE")
            .env_remove("TENURE_CONFIG")
            .env_remove("TENURE_APP_TOKEN")
            .env_remove("TENURE_OUTBOUND_DENY_PRIVATE")
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .expect("run tenure")
    }
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    for entry in std::fs::read_dir(dir).expect("data directory") {
        let path = entry.expect("entry").path();
        if path.is_file() {
            let bytes = std::fs::read(&path).expect("read");
            if bytes.windows(needle.len()).any(|w| w == needle) {
                hits.push(path.display().to_string());
            }
        }
    }
    hits
}

#[tokio::test]
async fn an_app_token_leaves_no_trace_in_the_database_files_of_a_default_install() -> anyhow::Result<()> {
    let install = DefaultInstall::new()?;
    let token = "xoxp-acceptance-token-7d1c0ffee";
    let token_file = install.home.path().join("slack.token");
    std::fs::write(&token_file, token)?;
    let out =
        install.run(&["app", "add", "scim", "slack", "--base-url", "http://127.0.0.1:9/scim/v2", "--token-file"]).await;
    assert!(!out.status.success(), "--token-file needs its value");
    let out = install
        .run(&[
            "app",
            "add",
            "scim",
            "slack",
            "--base-url",
            "http://127.0.0.1:9/scim/v2",
            "--token-file",
            token_file.to_str().expect("utf-8 path"),
        ])
        .await;
    assert!(out.status.success(), "{}", text(&out));
    // A second credential given on the command line works, with a warning.
    let out = install
        .run(&["app", "add", "scim", "notion", "--base-url", "http://127.0.0.1:9/scim/v2", "--token", token])
        .await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("warning: --token"), "{}", text(&out));
    let listed = install.run(&["app", "list", "--json"]).await;
    assert!(listed.status.success(), "{}", text(&listed));

    let data = install.data_dir();
    let key_file = data.join("master.key");
    assert!(key_file.is_file(), "a key was generated into {}", data.display());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key_file)?.permissions().mode() & 0o777, 0o600);
    }
    let names: Vec<String> = std::fs::read_dir(&data)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    assert!(names.iter().any(|n| n == "tenure.db"), "{names:?}");
    // The database, its WAL and shared memory: no trace of the token.
    assert_eq!(files_containing(&data, token.as_bytes()), Vec::<String>::new());
    // And the key itself is never printed.
    let key_text = std::fs::read_to_string(&key_file)?;
    let key_b64 = key_text
        .lines()
        .find(|l| !l.starts_with('#'))
        .and_then(|l| l.split_once(':'))
        .map(|(_, k)| k.trim().to_owned());
    let key_b64 = key_b64.expect("the key file holds ID:KEY");
    assert!(!text(&out).contains(&key_b64) && !text(&listed).contains(&key_b64));
    Ok(())
}

#[tokio::test]
async fn every_ssrf_form_is_refused_when_an_app_is_added() -> anyhow::Result<()> {
    let install = DefaultInstall::new()?;
    let token_file = install.home.path().join("t.token");
    std::fs::write(&token_file, "tok")?;
    let token_file = token_file.to_str().expect("utf-8 path");
    for (i, url) in [
        "http://169.254.169.254/scim/v2",
        "http://[::ffff:169.254.169.254]/",
        "http://[::ffff:a9fe:a9fe]/",
        "http://[::169.254.169.254]/",
        "http://metadata.google.internal./",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://metadata/",
        "http://[fd00:ec2::254]/",
        "http://100.100.100.200/",
        "http://2852039166/",
        "http://0251.0376.0251.0376/",
        "http://0xa9fea9fe/",
        "http://169.254.1.1/",
        "http://[fe80::1%25eth0]/",
        "http://[fe80::1]/",
    ]
    .into_iter()
    .enumerate()
    {
        let name = format!("app{i}");
        let out = install.run(&["app", "add", "scim", &name, "--base-url", url, "--token-file", token_file]).await;
        let said = text(&out);
        assert!(!out.status.success(), "{url} was accepted: {said}");
        assert!(said.contains("metadata") || said.contains("link-local") || said.contains("base URL"), "{url}: {said}");
    }
    // An OAuth token endpoint is held to the same policy.
    let out = install
        .run_with(
            &[
                "app",
                "add",
                "scim",
                "oauth",
                "--base-url",
                "http://127.0.0.1:9/scim/v2",
                "--oauth-token-url",
                "http://[::ffff:169.254.169.254]/token",
                "--client-id",
                "c",
                "--client-secret-env",
                "OAUTH_SECRET",
            ],
            &[("OAUTH_SECRET", "s3cret")],
        )
        .await;
    assert!(!out.status.success() && text(&out).contains("metadata"), "{}", text(&out));
    let listed = install.run(&["app", "list", "--json"]).await;
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&listed.stdout)?, serde_json::json!([]));
    Ok(())
}
