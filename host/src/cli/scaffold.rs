//! `scaihub plugin new`: writes a plugin project (Rust, TypeScript or
//! Python; a filter or a transform) from templates embedded in the binary
//! (`host/templates/plugin-new/`). The project depends on the SDK of a
//! ScaiHub checkout by path, so it builds as is.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use serde_json::json;

use super::error::{CliError, CliResult};
use super::output::Output;
use super::sandbox::Kind;

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The project's and plugin's name: a lowercase letter, then up to 63
    /// lowercase letters, digits, '-' or '_'.
    name: String,
    /// The language to write it in.
    #[arg(long)]
    lang: Lang,
    /// A filter (deliver or skip) or a transform (rewrite the request).
    #[arg(long, default_value = "filter")]
    kind: Kind,
    /// Where to write it; ./NAME when absent. Must not exist, or be empty.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// The ScaiHub checkout whose SDK the project uses [env: SCAIHUB_REPO];
    /// the checkout this binary was built from when absent.
    #[arg(long, value_name = "DIR")]
    repo: Option<PathBuf>,
}

/// A plugin language.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Lang {
    Rust,
    #[value(alias = "typescript")]
    Ts,
    #[value(alias = "py")]
    Python,
}

type Template = (&'static str, &'static str);

const EVENT: Template = (
    "event.json",
    include_str!("../../templates/plugin-new/common/event.json.tmpl"),
);

const RUST: &[Template] = &[
    (
        "Cargo.toml",
        include_str!("../../templates/plugin-new/rust/Cargo.toml.tmpl"),
    ),
    (
        "README.md",
        include_str!("../../templates/plugin-new/rust/README.md.tmpl"),
    ),
    (
        ".gitignore",
        include_str!("../../templates/plugin-new/rust/gitignore.tmpl"),
    ),
];
const RUST_FILTER: &[Template] = &[(
    "src/lib.rs",
    include_str!("../../templates/plugin-new/rust/filter.rs.tmpl"),
)];
const RUST_TRANSFORM: &[Template] = &[(
    "src/lib.rs",
    include_str!("../../templates/plugin-new/rust/transform.rs.tmpl"),
)];

const TS: &[Template] = &[
    (
        "package.json",
        include_str!("../../templates/plugin-new/ts/package.json.tmpl"),
    ),
    (
        ".npmrc",
        include_str!("../../templates/plugin-new/ts/npmrc.tmpl"),
    ),
    (
        "tsconfig.json",
        include_str!("../../templates/plugin-new/ts/tsconfig.json.tmpl"),
    ),
    (
        "README.md",
        include_str!("../../templates/plugin-new/ts/README.md.tmpl"),
    ),
    (
        ".gitignore",
        include_str!("../../templates/plugin-new/ts/gitignore.tmpl"),
    ),
];
const TS_FILTER: &[Template] = &[
    (
        "src/plugin.ts",
        include_str!("../../templates/plugin-new/ts/filter.ts.tmpl"),
    ),
    (
        "test/plugin.test.ts",
        include_str!("../../templates/plugin-new/ts/filter.test.ts.tmpl"),
    ),
];
const TS_TRANSFORM: &[Template] = &[
    (
        "src/plugin.ts",
        include_str!("../../templates/plugin-new/ts/transform.ts.tmpl"),
    ),
    (
        "test/plugin.test.ts",
        include_str!("../../templates/plugin-new/ts/transform.test.ts.tmpl"),
    ),
];

const PYTHON: &[Template] = &[
    (
        "setup.sh",
        include_str!("../../templates/plugin-new/python/setup.sh.tmpl"),
    ),
    (
        "README.md",
        include_str!("../../templates/plugin-new/python/README.md.tmpl"),
    ),
    (
        ".gitignore",
        include_str!("../../templates/plugin-new/python/gitignore.tmpl"),
    ),
];
const PYTHON_FILTER: &[Template] = &[
    (
        "{{module}}.py",
        include_str!("../../templates/plugin-new/python/filter.py.tmpl"),
    ),
    (
        "test_{{module}}.py",
        include_str!("../../templates/plugin-new/python/filter_test.py.tmpl"),
    ),
];
const PYTHON_TRANSFORM: &[Template] = &[
    (
        "{{module}}.py",
        include_str!("../../templates/plugin-new/python/transform.py.tmpl"),
    ),
    (
        "test_{{module}}.py",
        include_str!("../../templates/plugin-new/python/transform_test.py.tmpl"),
    ),
];

impl Lang {
    /// The SDK folder this language's projects depend on, in a checkout.
    fn sdk(self) -> &'static str {
        match self {
            Lang::Rust => "sdk",
            Lang::Ts => "sdk/js",
            Lang::Python => "sdk/python",
        }
    }

    /// A file that shows the SDK is there.
    fn sdk_marker(self) -> &'static str {
        match self {
            Lang::Rust => "sdk/Cargo.toml",
            Lang::Ts => "sdk/js/package.json",
            Lang::Python => "sdk/python/pyproject.toml",
        }
    }

    fn templates(self, kind: Kind) -> Vec<Template> {
        let (base, own): (&[Template], &[Template]) = match (self, kind) {
            (Lang::Rust, Kind::Filter) => (RUST, RUST_FILTER),
            (Lang::Rust, Kind::Transform) => (RUST, RUST_TRANSFORM),
            (Lang::Ts, Kind::Filter) => (TS, TS_FILTER),
            (Lang::Ts, Kind::Transform) => (TS, TS_TRANSFORM),
            (Lang::Python, Kind::Filter) => (PYTHON, PYTHON_FILTER),
            (Lang::Python, Kind::Transform) => (PYTHON, PYTHON_TRANSFORM),
        };
        base.iter().chain(own).copied().chain([EVENT]).collect()
    }
}

pub fn run(args: &NewArgs, out: Output) -> CliResult<()> {
    check_name(&args.name)?;
    let repo = repo(args)?;
    if !repo.join(args.lang.sdk_marker()).is_file() {
        return Err(CliError::usage(format!(
            "--repo: {} has no {} (the {:?} SDK); pass --repo (or SCAIHUB_REPO) with a ScaiHub checkout that has it",
            repo.display(),
            args.lang.sdk(),
            args.lang
        )));
    }
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.exists()
        && std::fs::read_dir(&dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(CliError::usage(format!(
            "--dir: {} exists and is not empty",
            dir.display()
        )));
    }
    let kind = match args.kind {
        Kind::Filter => "filter",
        Kind::Transform => "transform",
    };
    let sdk = repo.join(args.lang.sdk());
    let sdk_text = sdk.to_string_lossy().into_owned();
    let module = args.name.replace('-', "_");
    let vars: Vec<(&str, String)> = vec![
        ("{{name}}", args.name.clone()),
        ("{{module}}", module.clone()),
        ("{{kind}}", kind.to_string()),
        ("{{sdk_toml}}", escape_quoted(&sdk_text)),
        ("{{sdk_json}}", escape_quoted(&sdk_text)),
        ("{{repo_sh}}", shell_quote(&repo.to_string_lossy())),
        (
            "{{config}}",
            match args.kind {
                Kind::Filter => r#"{"actions": ["share."]}"#,
                Kind::Transform => r#"{"label": "acme"}"#,
            }
            .to_string(),
        ),
    ];
    let render = |text: &str| {
        vars.iter()
            .fold(text.to_string(), |t, (k, v)| t.replace(k, v))
    };
    let mut written = Vec::new();
    for (path, text) in args.lang.templates(args.kind) {
        let target = dir.join(render(path));
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| CliError::usage(format!("--dir: {}: {e}", parent.display())))?;
        }
        std::fs::write(&target, render(text))
            .map_err(|e| CliError::usage(format!("--dir: {}: {e}", target.display())))?;
        written.push(render(path));
    }
    #[cfg(unix)]
    if matches!(args.lang, Lang::Python) {
        use std::os::unix::fs::PermissionsExt;
        let script = dir.join("setup.sh");
        let _ = std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755));
    }
    let summary = json!({
        "dir": dir.display().to_string(),
        "lang": format!("{:?}", args.lang).to_lowercase(),
        "kind": kind,
        "sdk": sdk_text,
        "files": written,
    });
    out.show(&summary, |_| {
        println!(
            "made {} ({:?} {kind}) in {}; see its README.md",
            args.name,
            args.lang,
            dir.display()
        );
    });
    Ok(())
}

fn check_name(name: &str) -> CliResult<()> {
    let mut chars = name.chars();
    let ok = name.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(CliError::usage(format!(
            "NAME: {name:?} must be a lowercase letter, then up to 63 lowercase letters, digits, '-' or '_'"
        )))
    }
}

/// The checkout: `--repo`, else `SCAIHUB_REPO`, else the one this binary
/// was built from (if it is still there), made absolute.
fn repo(args: &NewArgs) -> CliResult<PathBuf> {
    let given = args
        .repo
        .clone()
        .or_else(|| std::env::var_os("SCAIHUB_REPO").map(PathBuf::from));
    let path = match given {
        Some(p) => p,
        None => {
            let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
            if !built.join("sdk").is_dir() {
                return Err(CliError::usage(
                    "--repo: give the path of a ScaiHub checkout (or set SCAIHUB_REPO)",
                ));
            }
            built
        }
    };
    std::fs::canonicalize(&path)
        .map_err(|e| CliError::usage(format!("--repo: {}: {e}", path.display())))
}

/// For a double-quoted TOML or JSON string.
fn escape_quoted(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// One single-quoted shell word.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_be_lowercase_identifiers() {
        assert!(check_name("only-contributors").is_ok());
        assert!(check_name("pii_redact2").is_ok());
        for bad in ["", "1st", "Upper", "has space", "dot.ted", &"a".repeat(65)] {
            let err = check_name(bad).unwrap_err();
            assert!(err.to_string().starts_with("NAME"), "{bad}: {err}");
        }
    }

    #[test]
    fn every_language_and_kind_has_its_files() {
        for lang in [Lang::Rust, Lang::Ts, Lang::Python] {
            for kind in [Kind::Filter, Kind::Transform] {
                let files: Vec<&str> = lang.templates(kind).iter().map(|(p, _)| *p).collect();
                assert!(files.contains(&"README.md"), "{lang:?} {kind:?}");
                assert!(files.contains(&"event.json"), "{lang:?} {kind:?}");
            }
        }
    }

    #[test]
    fn quoting_survives_awkward_paths() {
        assert_eq!(escape_quoted(r#"C:\a "b""#), r#"C:\\a \"b\""#);
        assert_eq!(shell_quote("/it's here"), r"'/it'\''s here'");
    }
}
