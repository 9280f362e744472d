//! Settings resolved from flags, then `TENURE_*` variables (both through clap), then the config
//! file, then defaults.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::cli::{GlobalArgs, LogFormat};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    database_url: Option<String>,
    data_dir: Option<PathBuf>,
    tenant: Option<String>,
    listen: Option<String>,
    log_format: Option<LogFormat>,
}

pub struct Settings {
    /// `None`: the embedded default in the data directory, created only when a command needs the
    /// database (`demo` and `bench` never do).
    database_url: Option<String>,
    pub data_dir: PathBuf,
    pub tenant: String,
    /// From the config file; `serve --listen` and `TENURE_LISTEN` override it.
    pub listen: Option<String>,
    pub log_format: LogFormat,
}

pub const DEFAULT_TENANT: &str = "default";

impl Settings {
    pub fn resolve(args: &GlobalArgs) -> anyhow::Result<Self> {
        let file = match &args.config {
            Some(path) => {
                let raw = std::fs::read_to_string(path).with_context(|| format!("config file {}", path.display()))?;
                toml::from_str::<FileConfig>(&raw).with_context(|| format!("config file {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let data_dir = args.data_dir.clone().or(file.data_dir).unwrap_or_else(default_data_dir);
        let database_url = match args.database_url.clone().filter(|s| !s.is_empty()) {
            Some(url) => Some(url),
            None => secret_from_file("TENURE_DATABASE_URL_FILE")?.or(file.database_url),
        };
        Ok(Self {
            database_url,
            data_dir,
            tenant: args.tenant.clone().or(file.tenant).unwrap_or_else(|| DEFAULT_TENANT.to_owned()),
            listen: file.listen,
            log_format: args.log_format.or(file.log_format).unwrap_or(LogFormat::Text),
        })
    }
}

impl Settings {
    /// The database URL only when one is configured (no embedded default).
    pub fn explicit_database_url(&self) -> Option<String> {
        self.database_url.clone()
    }

    pub fn database_url(&self) -> anyhow::Result<String> {
        match &self.database_url {
            Some(url) => Ok(url.clone()),
            None => sqlite_url_in(&self.data_dir),
        }
    }
}

/// Reads a secret from the file a `*_FILE` variable names, as container secrets are mounted.
pub fn secret_from_file(var: &str) -> anyhow::Result<Option<String>> {
    match std::env::var_os(var) {
        Some(path) if !path.is_empty() => {
            let raw =
                std::fs::read_to_string(&path).with_context(|| format!("{var}={}", Path::new(&path).display()))?;
            let value = raw.trim().to_owned();
            if value.is_empty() {
                bail!("{var}: {} is empty", Path::new(&path).display());
            }
            Ok(Some(value))
        }
        _ => Ok(None),
    }
}

fn default_data_dir() -> PathBuf {
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(xdg).join("tenure");
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(home) => PathBuf::from(home).join(".local/share/tenure"),
        None => PathBuf::from("tenure-data"),
    }
}

/// The embedded default: `tenure.db` in the data directory, which is created if needed.
pub fn sqlite_url_in(dir: &Path) -> anyhow::Result<String> {
    std::fs::create_dir_all(dir).with_context(|| format!("data directory {}", dir.display()))?;
    Ok(format!("sqlite://{}", dir.join("tenure.db").display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(config: &Path) -> GlobalArgs {
        GlobalArgs {
            config: Some(config.to_owned()),
            database_url: None,
            data_dir: None,
            tenant: None,
            log_format: None,
        }
    }

    #[test]
    fn flags_and_environment_win_over_the_file_which_wins_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tenure.toml");
        std::fs::write(&file, "database_url = \"postgres://u@h/db\"\ntenant = \"acme\"\nlog_format = \"json\"\n")
            .unwrap();
        let from_file = Settings::resolve(&args(&file)).unwrap();
        assert_eq!(from_file.database_url().unwrap(), "postgres://u@h/db");
        assert_eq!(from_file.tenant, "acme");
        assert_eq!(from_file.log_format, LogFormat::Json);

        // clap has already merged flags and TENURE_* variables into these fields.
        let mut overridden = args(&file);
        overridden.tenant = Some("other".into());
        overridden.database_url = Some("sqlite:///tmp/x.db".into());
        let s = Settings::resolve(&overridden).unwrap();
        assert_eq!((s.tenant.as_str(), s.database_url().unwrap().as_str()), ("other", "sqlite:///tmp/x.db"));
    }

    #[test]
    fn the_default_database_is_sqlite_in_the_data_directory() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("empty.toml");
        std::fs::write(&file, "").unwrap();
        let mut a = args(&file);
        a.data_dir = Some(dir.path().join("data"));
        let s = Settings::resolve(&a).unwrap();
        assert_eq!(s.database_url().unwrap(), format!("sqlite://{}", dir.path().join("data/tenure.db").display()));
        assert!(dir.path().join("data").is_dir());
        assert_eq!(s.tenant, DEFAULT_TENANT);
    }

    #[test]
    fn unknown_keys_in_the_file_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "databse_url = \"x\"\n").unwrap();
        let err = Settings::resolve(&args(&file)).err().expect("rejected");
        assert!(format!("{err:#}").contains("databse_url"), "{err:#}");
    }
}
