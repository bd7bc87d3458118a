//! Checks a component before anything runs: that it is a component, that
//! it imports only what the participant world offers, that it exports
//! `describe` and `invoke` with the right types.

use super::error::LoadError;
use wasmtime::Engine;
use wasmtime::component::Component;
use wasmtime::component::types::ComponentItem;

/// Import prefixes a participant may use: its own contract and WASI 0.2
/// (which the host links with no files, no sockets and no environment).
const ALLOWED_IMPORTS: &[&str] = &["mastermind:participant/", "wasi:"];

/// Rejects bytes that are not a component before compiling anything.
pub(crate) fn check_bytes(bytes: &[u8], max_bytes: usize) -> Result<(), LoadError> {
    if bytes.len() > max_bytes {
        return Err(LoadError::TooLarge { size: bytes.len(), max: max_bytes });
    }
    if wasmtime::wasmparser::Parser::is_core_wasm(bytes) {
        return Err(LoadError::CoreModule);
    }
    if !wasmtime::wasmparser::Parser::is_component(bytes) {
        let what = if bytes.len() < 8 { "too short".to_owned() } else { "bad magic number or version".to_owned() };
        return Err(LoadError::NotWasm(what));
    }
    Ok(())
}

/// Rejects a compiled component whose imports fall outside the world.
pub(crate) fn check_imports(engine: &Engine, component: &Component) -> Result<(), LoadError> {
    for (name, item) in component.component_type().imports(engine) {
        let allowed = ALLOWED_IMPORTS.iter().any(|p| name.starts_with(p));
        if !allowed || !matches!(item.ty, ComponentItem::ComponentInstance(_)) {
            return Err(LoadError::UnknownImport(name.to_owned()));
        }
    }
    Ok(())
}
