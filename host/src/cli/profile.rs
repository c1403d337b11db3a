//! The profile a client command talks with: the server's URL, a key and
//! optionally an organisation, each from a flag, else the environment,
//! else a named profile of the profile file (TOML). The key is a [`Secret`]:
//! it has no `Display`, its `Debug` is redacted, and nothing prints it back.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use clap::Args;
use serde::{Deserialize, Serialize};

use super::error::{CliError, CliResult};

/// The options every command that talks to a server takes.
#[derive(Clone, Default, Args)]
pub struct ClientOpts {
    /// ScaiHub's base URL, e.g. http://127.0.0.1:8080 [env: SCAIHUB_URL].
    // Not `--url`: that is a webhook's own setting.
    #[arg(long, global = true, value_name = "URL", help_heading = "Server")]
    pub server: Option<String>,
    /// API key or access token [env: SCAIHUB_KEY]. Prefer the environment
    /// or the profile file: a flag shows in the process list.
    #[arg(long, global = true, value_name = "KEY", help_heading = "Server")]
    pub key: Option<String>,
    /// Organisation to act on; the key's own when absent [env: SCAIHUB_ORG].
    #[arg(long, global = true, value_name = "ORG_ID", help_heading = "Server")]
    pub org: Option<String>,
    /// Profile of the profile file to use; the file's `default` when
    /// absent [env: SCAIHUB_PROFILE].
    #[arg(long, global = true, value_name = "NAME", help_heading = "Server")]
    pub profile: Option<String>,
    /// The profile file (TOML) [env: SCAIHUB_CLI_CONFIG]; by default
    /// `cli.toml` in the user's config folder (~/.config/scaihub/ on Linux).
    #[arg(long, global = true, value_name = "PATH", help_heading = "Server")]
    pub cli_config: Option<PathBuf>,
    /// Print JSON for scripts instead of tables.
    #[arg(long, global = true, help_heading = "Output")]
    pub json: bool,
    /// Print each request, its answer's status and time to stderr (never the key).
    #[arg(short, long, global = true, help_heading = "Output")]
    pub verbose: bool,
    /// Seconds to wait for each answer.
    #[arg(
        long,
        global = true,
        default_value_t = 60,
        value_name = "SECS",
        help_heading = "Server"
    )]
    pub timeout_secs: u64,
}

impl fmt::Debug for ClientOpts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientOpts")
            .field("server", &self.server)
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .field("org", &self.org)
            .field("profile", &self.profile)
            .field("cli_config", &self.cli_config)
            .field("json", &self.json)
            .field("verbose", &self.verbose)
            .finish()
    }
}

/// A key: never displayed, redacted in `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }
    /// The value, for the `Authorization` header and the profile file only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where a setting came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Flag,
    Env(&'static str),
    File(PathBuf),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag => f.write_str("flag"),
            Source::Env(name) => write!(f, "env {name}"),
            Source::File(p) => write!(f, "file {}", p.display()),
        }
    }
}

/// A resolved profile.
#[derive(Clone)]
pub struct Profile {
    /// The profile of the file it was read from, if one was.
    pub name: Option<String>,
    pub url: url::Url,
    pub key: Secret,
    pub org: Option<String>,
    pub url_source: Source,
    pub key_source: Source,
    pub org_source: Option<Source>,
}

impl fmt::Debug for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Profile")
            .field("name", &self.name)
            .field("url", &self.url.as_str())
            .field("key", &self.key)
            .field("org", &self.org)
            .field("url_source", &self.url_source)
            .field("key_source", &self.key_source)
            .field("org_source", &self.org_source)
            .finish()
    }
}

/// One profile in the file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileProfile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
}

/// The profile file: `default = "name"` and `[profiles.name]` tables.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    #[serde(default)]
    pub profiles: BTreeMap<String, FileProfile>,
}

/// Reads the environment; a seam so tests can resolve without touching
/// the process's variables.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

/// The profile file's path and whether the caller named it (then it must exist).
pub fn file_path(opts: &ClientOpts, env: &dyn Env) -> Option<(PathBuf, bool)> {
    if let Some(p) = &opts.cli_config {
        return Some((p.clone(), true));
    }
    if let Some(p) = env.var("SCAIHUB_CLI_CONFIG") {
        return Some((p.into(), true));
    }
    use etcetera::BaseStrategy;
    etcetera::choose_base_strategy()
        .ok()
        .map(|s| (s.config_dir().join("scaihub").join("cli.toml"), false))
}

/// Reads the profile file; `None` when it is absent and was not asked for.
pub fn read_file(path: &Path, required: bool) -> CliResult<Option<ProfileFile>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(None),
        Err(e) => {
            return Err(CliError::usage(format!(
                "profile file {}: {e}",
                path.display()
            )));
        }
    };
    warn_if_readable_by_others(path);
    toml::from_str(&text).map(Some).map_err(|e| {
        // Only the line and the parser's message: toml's own rendering
        // quotes the offending line, which could be the key.
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
        let at = line.map(|l| format!(" line {l}:")).unwrap_or_default();
        CliError::usage(format!(
            "profile file {}:{at} {}",
            path.display(),
            e.message().trim()
        ))
    })
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        eprintln!(
            "warning: {} holds keys and is readable by other users; chmod 600 it",
            path.display()
        );
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_: &Path) {}

/// Resolves the profile: each setting from its flag, else the environment,
/// else the chosen profile of the file.
pub fn resolve(opts: &ClientOpts, env: &dyn Env) -> CliResult<Profile> {
    let located = file_path(opts, env);
    let file = match &located {
        Some((path, required)) => read_file(path, *required)?.map(|f| (path.clone(), f)),
        None => None,
    };
    let wanted = opts.profile.clone().or_else(|| env.var("SCAIHUB_PROFILE"));
    let (name, from_file, file_path) = match (&file, wanted) {
        (Some((path, f)), Some(name)) => match f.profiles.get(&name) {
            Some(p) => (Some(name), p.clone(), Some(path.clone())),
            None => {
                return Err(CliError::usage(format!(
                    "--profile: no profile {name:?} in {}",
                    path.display()
                )));
            }
        },
        (None, Some(name)) => {
            let where_ = located
                .map(|(p, _)| p.display().to_string())
                .unwrap_or_else(|| "the profile file".into());
            return Err(CliError::usage(format!(
                "--profile: no profile {name:?}: {where_} does not exist"
            )));
        }
        (Some((path, f)), None) => match &f.default {
            Some(name) => match f.profiles.get(name) {
                Some(p) => (Some(name.clone()), p.clone(), Some(path.clone())),
                None => {
                    return Err(CliError::usage(format!(
                        "profile file {}: default: no profile {name:?}",
                        path.display()
                    )));
                }
            },
            None => (None, FileProfile::default(), Some(path.clone())),
        },
        (None, None) => (None, FileProfile::default(), None),
    };
    let file_source = || Source::File(file_path.clone().unwrap_or_default());

    let (url_text, url_source) = pick(
        opts.server.clone(),
        "SCAIHUB_URL",
        env,
        from_file.url.clone(),
        &file_source,
    )
    .ok_or_else(|| {
        CliError::usage(
            "no server URL: pass --server, set SCAIHUB_URL, or add `url` to a profile of the profile file",
        )
    })?;
    let url = parse_url(&url_text).map_err(|why| {
        let setting = match &url_source {
            Source::Flag => "--server".to_string(),
            Source::Env(n) => (*n).to_string(),
            Source::File(p) => format!("url in {}", p.display()),
        };
        CliError::usage(format!("{setting}: {why}"))
    })?;
    let (key, key_source) = pick(
        opts.key.clone(),
        "SCAIHUB_KEY",
        env,
        from_file.key.map(|k| k.0),
        &file_source,
    )
    .ok_or_else(|| {
        CliError::usage(
            "no API key: set SCAIHUB_KEY, pass --key, or add `key` to a profile of the profile file",
        )
    })?;
    let org = pick(
        opts.org.clone(),
        "SCAIHUB_ORG",
        env,
        from_file.org.clone(),
        &file_source,
    );
    Ok(Profile {
        name,
        url,
        key: Secret(key.trim().to_string()),
        org_source: org.as_ref().map(|(_, s)| s.clone()),
        org: org.map(|(o, _)| o),
        url_source,
        key_source,
    })
}

fn pick(
    flag: Option<String>,
    env_name: &'static str,
    env: &dyn Env,
    file: Option<String>,
    file_source: &dyn Fn() -> Source,
) -> Option<(String, Source)> {
    flag.filter(|v| !v.is_empty())
        .map(|v| (v, Source::Flag))
        .or_else(|| env.var(env_name).map(|v| (v, Source::Env(env_name))))
        .or_else(|| file.filter(|v| !v.is_empty()).map(|v| (v, file_source())))
}

fn parse_url(text: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(text.trim()).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{text:?} must be an http or https URL"));
    }
    if url.host_str().is_none() {
        return Err(format!("{text:?} has no host"));
    }
    Ok(url)
}

/// Writes `profile` into the file under `name` (other profiles kept; the
/// first saved becomes the default), readable by the owner only.
pub fn save(path: &Path, name: &str, profile: &Profile) -> CliResult<()> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(CliError::usage("NAME: must be letters, digits, '-' or '_'"));
    }
    let mut file = read_file(path, false)?.unwrap_or_default();
    file.profiles.insert(
        name.to_string(),
        FileProfile {
            url: Some(profile.url.to_string()),
            key: Some(profile.key.clone()),
            org: profile.org.clone(),
        },
    );
    if file.default.is_none() {
        file.default = Some(name.to_string());
    }
    let text = toml::to_string(&file)
        .map_err(|e| CliError::failed(format!("cannot write the profile file: {e}")))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| CliError::usage(format!("{}: {e}", dir.display())))?;
    }
    write_private(path, text.as_bytes())
        .map_err(|e| CliError::usage(format!("{}: {e}", path.display())))
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // An existing file keeps its mode on open; narrow it too.
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    struct FakeEnv(HashMap<&'static str, String>);

    impl Env for FakeEnv {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).cloned()
        }
    }

    fn env(pairs: &[(&'static str, &str)]) -> FakeEnv {
        FakeEnv(pairs.iter().map(|(k, v)| (*k, v.to_string())).collect())
    }

    fn file(dir: &tempfile::TempDir, text: &str) -> PathBuf {
        let p = dir.path().join("cli.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    const TWO: &str = r#"
default = "prod"
[profiles.prod]
url = "https://hub.example.com"
key = "shk_prodkey"
org = "org_prod"
[profiles.dev]
url = "http://127.0.0.1:8080"
key = "shk_devkey"
"#;

    #[test]
    fn flag_beats_env_beats_file() {
        let dir = tempfile::tempdir().unwrap();
        let opts = ClientOpts {
            cli_config: Some(file(&dir, TWO)),
            server: Some("http://flag.example".into()),
            ..Default::default()
        };
        let p = resolve(&opts, &env(&[("SCAIHUB_KEY", "shk_envkey")])).unwrap();
        assert_eq!(p.url.as_str(), "http://flag.example/");
        assert_eq!(p.url_source, Source::Flag);
        assert_eq!(p.key.expose(), "shk_envkey");
        assert_eq!(p.key_source, Source::Env("SCAIHUB_KEY"));
        assert_eq!(p.org.as_deref(), Some("org_prod"));
        assert!(matches!(p.org_source, Some(Source::File(_))));
        assert_eq!(p.name.as_deref(), Some("prod"));
    }

    #[test]
    fn named_profile_replaces_the_default() {
        let dir = tempfile::tempdir().unwrap();
        let opts = ClientOpts {
            cli_config: Some(file(&dir, TWO)),
            ..Default::default()
        };
        let p = resolve(&opts, &env(&[("SCAIHUB_PROFILE", "dev")])).unwrap();
        assert_eq!(p.key.expose(), "shk_devkey");
        assert_eq!(p.org, None);
        let missing = ClientOpts {
            profile: Some("staging".into()),
            ..opts
        };
        let err = resolve(&missing, &env(&[])).unwrap_err();
        assert!(err.to_string().contains("--profile"), "{err}");
    }

    #[test]
    fn key_is_redacted_in_debug() {
        let dir = tempfile::tempdir().unwrap();
        let opts = ClientOpts {
            cli_config: Some(file(&dir, TWO)),
            key: Some("shk_flagkey".into()),
            ..Default::default()
        };
        let p = resolve(&opts, &env(&[])).unwrap();
        let shown = format!(
            "{p:?} {opts:?} {:?}",
            read_file(&dir.path().join("cli.toml"), true)
        );
        assert!(!shown.contains("shk_flagkey"), "{shown}");
        assert!(!shown.contains("shk_prodkey"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn broken_file_names_line_without_quoting_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = file(
            &dir,
            "[profiles.x]\nurl = \"http://a\"\nkey = shk_unquoted\n",
        );
        let opts = ClientOpts {
            cli_config: Some(path),
            ..Default::default()
        };
        let err = resolve(&opts, &env(&[])).unwrap_err().to_string();
        assert!(err.contains("line 3"), "{err}");
        assert!(!err.contains("shk_unquoted"), "{err}");
    }

    #[test]
    fn missing_settings_and_bad_url_name_the_setting() {
        let opts = ClientOpts {
            cli_config: Some("/nonexistent/scaihub-cli.toml".into()),
            ..Default::default()
        };
        let err = resolve(&opts, &env(&[])).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/scaihub-cli.toml"), "{err}");
        let none = tempfile::tempdir().unwrap();
        let opts = ClientOpts {
            cli_config: Some(file(&none, "")),
            ..Default::default()
        };
        let err = resolve(&opts, &env(&[("SCAIHUB_KEY", "k")])).unwrap_err();
        assert!(err.to_string().contains("SCAIHUB_URL"), "{err}");
        let err = resolve(
            &opts,
            &env(&[("SCAIHUB_URL", "ftp://x"), ("SCAIHUB_KEY", "k")]),
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("SCAIHUB_URL:"), "{err}");
        let err = resolve(&opts, &env(&[("SCAIHUB_URL", "http://x")])).unwrap_err();
        assert!(err.to_string().contains("SCAIHUB_KEY"), "{err}");
    }

    #[test]
    fn save_keeps_other_profiles_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = file(&dir, TWO);
        let opts = ClientOpts {
            cli_config: Some(path.clone()),
            server: Some("http://new.example:9000".into()),
            key: Some("shk_newkey".into()),
            ..Default::default()
        };
        let p = resolve(&opts, &env(&[])).unwrap();
        save(&path, "new", &p).unwrap();
        let f = read_file(&path, true).unwrap().unwrap();
        assert_eq!(f.default.as_deref(), Some("prod"));
        assert_eq!(f.profiles.len(), 3);
        assert_eq!(
            f.profiles["new"].key.as_ref().unwrap().expose(),
            "shk_newkey"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
