//! Script plugins: an admin's JavaScript source, run by the script engine,
//! a component the project builds (`host/script-engine`, embedded by
//! `build.rs`) that exports both `filter` and `transform`. The source
//! travels to the engine inside the config string of each call, so a
//! script runs through the very call paths, sandbox, caps and slots of an
//! uploaded component; only the engine is compiled, once per process.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use wasmtime::component::Component;

use super::bindings::filter::FilterPre;
use super::bindings::transform::TransformPre;
use super::runtime::{CallError, Interpreted, Interpreter, Loaded, PluginKind, PluginRuntime};

/// The engine component (empty when this build could not make it).
static ENGINE_WASM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/script-engine.wasm"));

/// The engine's compiled artifact, once this process has compiled it: every
/// runtime of the process (tests start many) then deserialises it instead
/// of spending ~20 s and ~700 MiB compiling the same bytes again.
static COMPILED: Mutex<Option<Arc<Vec<u8>>>> = Mutex::new(None);

/// Largest script source accepted.
pub const MAX_SOURCE_BYTES: usize = 256 * 1024;

/// Why this build has no script engine, if it has none.
pub fn unavailable_reason() -> Option<&'static str> {
    ENGINE_WASM.is_empty().then(|| {
        option_env!("SCAIHUB_SCRIPT_ENGINE_MISSING").unwrap_or("the script engine was not built")
    })
}

/// Hex SHA-256 of the engine component: the key its artifact is kept under.
pub fn engine_sha256() -> &'static str {
    static SHA: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SHA.get_or_init(|| hex::encode(Sha256::digest(ENGINE_WASM)))
}

/// A script version ready to call: the engine running `source` as `kind`.
pub fn script_plugin(engine: Arc<Interpreter>, kind: PluginKind, source: &str) -> Loaded {
    let source: Arc<str> = source.into();
    Loaded::Interpreted(Interpreted {
        kind,
        interpreter: engine,
        config: Arc::new(move |config| {
            json!({"source": &*source, "config": plugin_config(config)}).to_string()
        }),
    })
}

/// A call that only compiles `source`, runs its top level and checks that
/// it defines the function `kind` needs (a `filter` call answering
/// `deliver`, or the error with its line).
pub fn script_checker(engine: Arc<Interpreter>, kind: PluginKind, source: &str) -> Loaded {
    let source: Arc<str> = source.into();
    Loaded::Interpreted(Interpreted {
        kind: PluginKind::Filter,
        interpreter: engine,
        config: Arc::new(move |_| json!({"source": &*source, "check": kind.as_str()}).to_string()),
    })
}

/// The plugin's own configuration as JSON (text that is not JSON is
/// passed as a string, for the script to judge).
fn plugin_config(config: &str) -> Value {
    match config.trim() {
        "" => Value::Null,
        text => serde_json::from_str(text).unwrap_or_else(|_| Value::String(config.into())),
    }
}

impl PluginRuntime {
    /// The engine from an artifact this host compiled earlier (kept in the
    /// store or this process); `None` when it no longer fits this engine.
    pub fn script_engine_from(&self, artifact: &[u8]) -> Option<Interpreter> {
        // SAFETY: only artifacts produced by `compile_script_engine` with a
        // wasmtime engine of this host are passed here (from our own store
        // or memory); wasmtime refuses ones built by another configuration.
        let component = unsafe { Component::deserialize(&self.engine, artifact) }.ok()?;
        self.prepare_script_engine(&component).ok()
    }

    /// The artifact compiled earlier in this process, if any.
    pub fn compiled_script_engine(&self) -> Option<Arc<Vec<u8>>> {
        COMPILED.lock().expect("engine cache lock").clone()
    }

    /// Compiles the engine (seconds of CPU: call it off the async workers)
    /// and answers it with its serialised artifact, to keep.
    pub fn compile_script_engine(&self) -> Result<(Interpreter, Arc<Vec<u8>>), CallError> {
        if let Some(reason) = unavailable_reason() {
            return Err(CallError::Unavailable(format!(
                "script plugins are not available in this build: {reason}"
            )));
        }
        let failed = |e: wasmtime::Error| CallError::Unavailable(format!("script engine: {e:#}"));
        // One compile at a time: a second caller waits and deserialises
        // the first one's artifact rather than compiling it alongside.
        static COMPILING: Mutex<()> = Mutex::new(());
        let _one = COMPILING.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(artifact) = self.compiled_script_engine()
            && let Some(engine) = self.script_engine_from(&artifact)
        {
            return Ok((engine, artifact));
        }
        let component = Component::new(&self.engine, ENGINE_WASM).map_err(failed)?;
        let artifact = Arc::new(component.serialize().map_err(failed)?);
        *COMPILED.lock().expect("engine cache lock") = Some(artifact.clone());
        Ok((
            self.prepare_script_engine(&component).map_err(failed)?,
            artifact,
        ))
    }

    fn prepare_script_engine(&self, component: &Component) -> wasmtime::Result<Interpreter> {
        let pre = self.linker.instantiate_pre(component)?;
        Ok(Interpreter {
            filter: FilterPre::new(pre.clone())?,
            transform: TransformPre::new(pre)?,
        })
    }

    /// Caches a loaded script version under its plugin id, like `load`.
    pub fn keep_loaded(&self, plugin_id: &str, loaded: Arc<Loaded>) {
        self.loaded
            .lock()
            .expect("plugin cache lock")
            .insert(plugin_id.to_string(), loaded);
    }

    /// The engine this runtime has loaded, if it has.
    pub fn script_engine_slot(&self) -> &tokio::sync::OnceCell<Arc<Interpreter>> {
        &self.interpreter
    }
}

/// Where in the admin's source an engine error happened: the engine ends
/// its messages with `(line N, column C)` or `(line N, at the end)`.
pub fn error_line(message: &str) -> Option<u32> {
    let at = message.rfind("(line ")?;
    let digits: String = message[at + 6..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_is_read_from_the_end_of_an_engine_message() {
        assert_eq!(
            error_line("failed: SyntaxError: missing ) (line 3, column 12)"),
            Some(3)
        );
        assert_eq!(
            error_line("failed: Error: (line 1) (line 14, at the end)"),
            Some(14)
        );
        assert_eq!(
            error_line("failed: the script defines no function filter"),
            None
        );
    }
}
