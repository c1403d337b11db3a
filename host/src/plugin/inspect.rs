//! The checks an upload gets before it is accepted, without compiling it:
//! wasmparser validates the component and reads its imports and exports
//! (milliseconds, where compiling a JavaScript component takes tens of
//! seconds). Compiling checks everything again, in full, with the
//! sandbox's own linker: these checks only let an upload fail at once,
//! with its reason, when it can.

use wasmparser::component_types::ComponentEntityType;
use wasmparser::types::TypesRef;
use wasmparser::{Encoding, Parser, Payload, Validator, WasmFeatures};

use super::{PluginKind, UploadError};

/// Parameters of each world's export, as `wit/hooks.wit` declares them.
fn params_of(kind: PluginKind) -> &'static [&'static str] {
    match kind {
        PluginKind::Filter => &["event", "config"],
        PluginKind::Transform => &["event", "request", "config"],
    }
}

/// Checks that `wasm` is a component within `max_bytes`, of the declared
/// world, importing only WASI, its export shaped like the world's.
pub fn inspect(wasm: &[u8], max_bytes: usize, declared: PluginKind) -> Result<(), UploadError> {
    if wasm.len() > max_bytes {
        return Err(UploadError::TooLarge(wasm.len(), max_bytes));
    }
    if !wasm.starts_with(b"\0asm") {
        return Err(UploadError::NotAComponent(
            "missing the \\0asm header".into(),
        ));
    }
    let imports = top_level_imports(wasm)?;
    // Every proposal on: wasmtime decides what it supports when it compiles;
    // this pass only catches what no engine would take.
    let types = Validator::new_with_features(WasmFeatures::all())
        .validate_all(wasm)
        .map_err(|e| UploadError::NotAComponent(e.message().to_string()))?;
    let found = world_of(types.as_ref())?;
    if found != declared {
        return Err(UploadError::WrongKind {
            declared: declared.as_str(),
            found: found.as_str(),
        });
    }
    let types_only = |name: &str| match types.as_ref().component_item_for_import(name) {
        Some(item) => match &item.ty {
            // An interface of types only (as `scaidrive:hooks/types`) needs nothing linked.
            ComponentEntityType::Instance(id) => types.as_ref()[*id]
                .exports
                .values()
                .all(|e| matches!(e.ty, ComponentEntityType::Type { .. })),
            ComponentEntityType::Type { .. } => true,
            _ => false,
        },
        None => false,
    };
    if let Some(other) = imports
        .iter()
        .find(|name| !name.starts_with("wasi:") && !types_only(name))
    {
        return Err(UploadError::Imports(format!(
            "`{other}` (only WASI interfaces are linked)"
        )));
    }
    check_export(types.as_ref(), found)
}

/// The names the component itself imports (not its nested modules' or
/// components'), and that it is a component at all.
fn top_level_imports(wasm: &[u8]) -> Result<Vec<String>, UploadError> {
    let mut names = Vec::new();
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(|e| UploadError::NotAComponent(e.message().to_string()))?;
        match payload {
            Payload::Version { encoding, .. } if depth == 0 && encoding != Encoding::Component => {
                return Err(UploadError::NotAComponent(
                    "a core module; build a component (wasm32-wasip2 or wasm-tools component new)"
                        .into(),
                ));
            }
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => {
                if depth == 0 {
                    break;
                }
                depth -= 1;
            }
            Payload::ComponentImportSection(section) if depth == 0 => {
                for import in section {
                    let import =
                        import.map_err(|e| UploadError::NotAComponent(e.message().to_string()))?;
                    names.push(import.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    Ok(names)
}

/// Which of our worlds the component exports: exactly one of them.
fn world_of(types: TypesRef<'_>) -> Result<PluginKind, UploadError> {
    let filter = types.component_item_for_export("filter").is_some();
    let transform = types.component_item_for_export("transform").is_some();
    match (filter, transform) {
        (true, false) => Ok(PluginKind::Filter),
        (false, true) => Ok(PluginKind::Transform),
        _ => Err(UploadError::NoWorld),
    }
}

/// The export is a function with the world's parameters and a result; its
/// full type is checked when it compiles.
fn check_export(types: TypesRef<'_>, kind: PluginKind) -> Result<(), UploadError> {
    let mismatch = |detail: String| UploadError::Exports {
        world: kind.as_str(),
        detail,
    };
    let item = types
        .component_item_for_export(kind.as_str())
        .ok_or(UploadError::NoWorld)?;
    let ComponentEntityType::Func(id) = &item.ty else {
        return Err(mismatch("it is not a function".into()));
    };
    let func = &types[*id];
    let found: Vec<&str> = func.params.iter().map(|(name, _)| name.as_str()).collect();
    let want = params_of(kind);
    if found != want {
        return Err(mismatch(format!(
            "its parameters are ({}), not ({})",
            found.join(", "),
            want.join(", ")
        )));
    }
    if func.result.is_none() {
        return Err(mismatch("it returns nothing, not a result".into()));
    }
    Ok(())
}
