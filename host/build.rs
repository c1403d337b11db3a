//! Build steps: migrations are embedded, and the script engine (the
//! JavaScript component that runs script plugins) is built from
//! `script-engine/` when node is here.
use std::collections::hash_map::DefaultHasher;
use std::env;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn main() {
    // The migrations are embedded by `sqlx::migrate!`; a migration file added
    // or changed must rebuild the crate, which cargo only knows when told.
    println!("cargo:rerun-if-changed=migrations");
    script_engine();
}

/// Writes `$OUT_DIR/script-engine.wasm`, which `plugin/script.rs` embeds:
/// the engine component, or an empty file (and the reason in
/// `SCAIHUB_SCRIPT_ENGINE_MISSING`) when it cannot be built here. A build
/// is kept under a hash of its inputs, so an unchanged engine is not built
/// again (it takes npm ci and ~20-90 s of componentize-js).
fn script_engine() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let repo = manifest.join("..");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets it"));
    let dest = out.join("script-engine.wasm");
    for var in ["SCAIHUB_SCRIPT_ENGINE", "SCAIHUB_REQUIRE_NODE"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let required = env::var("SCAIHUB_REQUIRE_NODE").is_ok_and(|v| v == "1");

    // A packager without node can hand in an engine built elsewhere.
    if let Some(prebuilt) = env::var_os("SCAIHUB_SCRIPT_ENGINE") {
        println!("cargo:rerun-if-changed={}", Path::new(&prebuilt).display());
        fs::copy(&prebuilt, &dest).expect("SCAIHUB_SCRIPT_ENGINE names a readable file");
        return;
    }

    let inputs = [
        manifest.join("script-engine/engine.js"),
        manifest.join("script-engine/build.mjs"),
        repo.join("wit/hooks.wit"),
        repo.join("sdk/js/package-lock.json"),
        repo.join("sdk/js/lib"),
    ];
    let mut hasher = DefaultHasher::new();
    for input in &inputs {
        println!("cargo:rerun-if-changed={}", input.display());
        hash_path(input, &mut hasher);
    }
    let cached = cache_dir(&out).join(format!("script-engine-{:016x}.wasm", hasher.finish()));
    if !cached.exists()
        && let Err(reason) = build_engine(&repo, &manifest, &cached)
    {
        if required {
            panic!("SCAIHUB_REQUIRE_NODE=1 but the script engine was not built: {reason}");
        }
        println!("cargo:warning=script plugins are not available in this build: {reason}");
        println!("cargo:rustc-env=SCAIHUB_SCRIPT_ENGINE_MISSING={reason}");
        fs::write(&dest, b"").expect("OUT_DIR is writable");
        return;
    }
    fs::copy(&cached, &dest).expect("OUT_DIR is writable");
}

/// Where built engines are kept: `target/script-engine`, shared by every
/// profile and feature set (each has its own `OUT_DIR`, and the engine is
/// the same for all); `OUT_DIR` itself when the target folder is not
/// where cargo usually puts it.
fn cache_dir(out: &Path) -> PathBuf {
    // OUT_DIR is <target>/<profile>/build/<crate>-<hash>/out.
    match out.ancestors().nth(4) {
        Some(target) if target.join("CACHEDIR.TAG").exists() => {
            let dir = target.join("script-engine");
            match fs::create_dir_all(&dir) {
                Ok(()) => dir,
                Err(_) => out.to_path_buf(),
            }
        }
        _ => out.to_path_buf(),
    }
}

fn build_engine(repo: &Path, manifest: &Path, output: &Path) -> Result<(), String> {
    let node_ok = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !node_ok {
        return Err("node was not found when it was built".into());
    }
    let sdk = repo.join("sdk/js");
    if !sdk.join("node_modules").exists() {
        // The pinned packages, exactly as sdk/js/package-lock.json says.
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&sdk)
            .stdout(Stdio::null())
            .status()
            .map_err(|e| format!("npm could not run: {e}"))?;
        if !status.success() {
            return Err("npm ci in sdk/js failed".into());
        }
    }
    // Written aside and renamed: two builds (two profiles) may race here.
    let partial = output.with_extension(format!("{}.partial", std::process::id()));
    let result = Command::new("node")
        .arg(manifest.join("script-engine/build.mjs"))
        .arg(&partial)
        .output()
        .map_err(|e| format!("node could not run: {e}"))?;
    if !result.status.success() {
        let stderr = String::from_utf8_lossy(&result.stderr);
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
        return Err(format!(
            "building the engine failed: {}",
            last.unwrap_or("no message")
        ));
    }
    fs::rename(&partial, output).map_err(|e| e.to_string())
}

/// Hashes a file's bytes, or a folder's files in name order.
fn hash_path(path: &Path, hasher: &mut DefaultHasher) {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = fs::read_dir(path)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        entries.sort();
        for entry in entries {
            entry.file_name().hash(hasher);
            hash_path(&entry, hasher);
        }
    } else {
        fs::read(path).unwrap_or_default().hash(hasher);
    }
}
