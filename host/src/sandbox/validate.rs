//! Checks a component before anything runs: that it is a component, that
//! it imports only what the participant world offers, that it exports
//! `describe` and `invoke` with the right types.

use super::error::LoadError;
use wasmtime::Engine;
use wasmtime::component::Component;
use wasmtime::component::types::ComponentItem;

/// The WASI 0.2 packages the host links: clocks and random for use, the
/// rest present so toolchains' adapters link, but with no files, sockets or
/// environment granted; `wasi:http` sends through the `http` capability.
const WASI_PACKAGES: &[&str] = &["io", "clocks", "random", "cli", "filesystem", "sockets", "http"];

/// Of `wasi:http`, what a participant may import: it makes requests, it
/// does not serve them.
const WASI_HTTP_INTERFACES: &[&str] = &["types", "outgoing-handler"];

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

/// Rejects a compiled component whose imports fall outside the world,
/// naming the first such import and why.
pub(crate) fn check_imports(engine: &Engine, component: &Component) -> Result<(), LoadError> {
    for (name, item) in component.component_type().imports(engine) {
        let refused = |why: String| LoadError::UnknownImport { import: name.to_owned(), why };
        if !matches!(item.ty, ComponentItem::ComponentInstance(_)) {
            return Err(refused("only interfaces may be imported, not single functions, types or modules".into()));
        }
        if let Err(why) = import_allowed(name) {
            return Err(refused(why));
        }
    }
    Ok(())
}

/// Whether an interface import (`wasi:http/types@0.2.10`) is one the host
/// links, and if not, why.
fn import_allowed(name: &str) -> Result<(), String> {
    let (path, version) = name.split_once('@').unwrap_or((name, ""));
    let (package, interface) = path.split_once('/').unwrap_or((path, ""));
    if package == "mastermind:participant" {
        return Ok(());
    }
    let Some(wasi) = package.strip_prefix("wasi:") else {
        return Err(format!(
            "the package `{package}` is not offered to participants (they may import mastermind:participant/* and WASI 0.2)"
        ));
    };
    if !WASI_PACKAGES.contains(&wasi) {
        return Err(format!("this host does not offer `{package}` (WASI 0.2 offered: {})", WASI_PACKAGES.join(", ")));
    }
    if !version.starts_with("0.2.") {
        let version = if version.is_empty() { "no version" } else { version };
        return Err(format!("this host offers {package} 0.2.x, not {version}"));
    }
    if wasi == "http" && !WASI_HTTP_INTERFACES.contains(&interface) {
        return Err(format!(
            "of wasi:http a participant may import only {} (it sends requests; it does not serve them)",
            WASI_HTTP_INTERFACES.join(" and ")
        ));
    }
    Ok(())
}

/// The imports and exports the component declares at its top level,
/// checked from the bytes before anything is compiled: an import outside
/// the world, or no `describe` or `invoke` export, is refused in
/// milliseconds. [`check_imports`] and the linker check the compiled
/// component's types again; this only answers an upload sooner.
pub(crate) fn check_declared_world(bytes: &[u8]) -> Result<(), LoadError> {
    use wasmtime::wasmparser::{ComponentExternalKind, ComponentTypeRef, Parser, Payload, TypeBounds};
    let invalid = |e: wasmtime::wasmparser::BinaryReaderError| LoadError::Invalid(e.to_string());
    let (mut depth, mut exports) = (0usize, Vec::new());
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(invalid)? {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    let import = import.map_err(invalid)?;
                    // A type bound by equality (wit-component imports a
                    // world's `use`d types so) names a type, not a
                    // capability: the compiled component's imports leave it out.
                    if matches!(import.ty, ComponentTypeRef::Type(TypeBounds::Eq(_))) {
                        continue;
                    }
                    let name = import.name.name;
                    let refused = |why: String| LoadError::UnknownImport { import: name.to_owned(), why };
                    if !matches!(import.ty, ComponentTypeRef::Instance(_)) {
                        return Err(refused(
                            "only interfaces may be imported, not single functions, types or modules".into(),
                        ));
                    }
                    import_allowed(name).map_err(refused)?;
                }
            }
            Payload::ComponentExportSection(reader) if depth == 0 => {
                for export in reader {
                    let export = export.map_err(invalid)?;
                    if export.kind == ComponentExternalKind::Func {
                        exports.push(export.name.name.to_owned());
                    }
                }
            }
            _ => {}
        }
    }
    let missing: Vec<&str> = ["describe", "invoke"].into_iter().filter(|f| !exports.iter().any(|e| e == f)).collect();
    if !missing.is_empty() {
        return Err(LoadError::WrongWorld(format!("it exports no function {}", missing.join(" or "))));
    }
    Ok(())
}

/// How many core instances instantiating the component creates, nested
/// components included (once per time each is instantiated): what the
/// pooling allocator reserves a slot for on every call.
///
/// Counted from the bytes, before compiling, so that a component over the
/// limit is refused in milliseconds with an error naming the limit rather
/// than after seconds of Cranelift (a componentize-py component is 18 MB).
/// Instances made from exports allocate nothing and are not counted.
pub(crate) fn count_core_instances(bytes: &[u8]) -> Result<u32, LoadError> {
    use wasmtime::wasmparser::{
        ComponentAlias, ComponentExternalKind, ComponentInstance, ComponentOuterAliasKind, ComponentTypeRef, Instance,
        Parser, Payload,
    };
    let invalid = |e: wasmtime::wasmparser::BinaryReaderError| LoadError::Invalid(e.to_string());
    let mut stack: Vec<Frame> = Vec::new();
    let mut total = 0;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(invalid)?;
        let in_component = matches!(stack.last(), Some(Frame::Component { .. }));
        match payload {
            Payload::Version { .. } if stack.is_empty() => stack.push(Frame::component()),
            Payload::ModuleSection { .. } => stack.push(Frame::Module),
            Payload::ComponentSection { .. } => stack.push(Frame::component()),
            Payload::End(_) => {
                if let Some(Frame::Component { instances, .. }) = stack.pop() {
                    match stack.last_mut() {
                        Some(Frame::Component { components, .. }) => components.push(instances),
                        _ => total = instances,
                    }
                }
            }
            _ if !in_component => {}
            Payload::InstanceSection(reader) => {
                for instance in reader {
                    if let Instance::Instantiate { .. } = instance.map_err(invalid)? {
                        Frame::add(&mut stack, 1);
                    }
                }
            }
            Payload::ComponentInstanceSection(reader) => {
                for instance in reader {
                    if let ComponentInstance::Instantiate { component_index, .. } = instance.map_err(invalid)? {
                        let nested = Frame::component_count(&stack, 0, component_index);
                        Frame::add(&mut stack, nested);
                    }
                }
            }
            Payload::ComponentImportSection(reader) => {
                for import in reader {
                    if let ComponentTypeRef::Component(_) = import.map_err(invalid)?.ty {
                        Frame::define(&mut stack, 0);
                    }
                }
            }
            Payload::ComponentExportSection(reader) => {
                for export in reader {
                    let export = export.map_err(invalid)?;
                    if export.kind == ComponentExternalKind::Component {
                        let count = Frame::component_count(&stack, 0, export.index);
                        Frame::define(&mut stack, count);
                    }
                }
            }
            Payload::ComponentAliasSection(reader) => {
                for alias in reader {
                    match alias.map_err(invalid)? {
                        ComponentAlias::InstanceExport { kind: ComponentExternalKind::Component, .. } => {
                            Frame::define(&mut stack, 0)
                        }
                        ComponentAlias::Outer { kind: ComponentOuterAliasKind::Component, count, index } => {
                            let outer = Frame::component_count(&stack, count, index);
                            Frame::define(&mut stack, outer);
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok(total)
}

/// One level of nesting while counting core instances.
enum Frame {
    /// A core module: nothing in it instantiates anything.
    Module,
    /// A component: the core instances it creates (nested instantiations
    /// included), and its component index space, each entry what one
    /// instantiation of that component creates (an imported component is
    /// the importer's to size: it counts nothing here).
    Component { instances: u32, components: Vec<u32> },
}

impl Frame {
    fn component() -> Frame {
        Frame::Component { instances: 0, components: Vec::new() }
    }

    fn add(stack: &mut [Frame], n: u32) {
        if let Some(Frame::Component { instances, .. }) = stack.last_mut() {
            *instances = instances.saturating_add(n);
        }
    }

    fn define(stack: &mut [Frame], count: u32) {
        if let Some(Frame::Component { components, .. }) = stack.last_mut() {
            components.push(count);
        }
    }

    /// Component `index` of the component `outer` levels up (0: this one).
    fn component_count(stack: &[Frame], outer: u32, index: u32) -> u32 {
        let level = stack.len().checked_sub(1 + outer as usize);
        match level.map(|i| &stack[i]) {
            Some(Frame::Component { components, .. }) => components.get(index as usize).copied().unwrap_or(0),
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{check_declared_world, count_core_instances};
    use crate::sandbox::LoadError;

    #[test]
    fn declared_imports_and_exports_are_checked_from_the_bytes() {
        let check = |wat: &str| check_declared_world(&wat::parse_str(wat).unwrap());
        let Err(LoadError::WrongWorld(why)) = check("(component)") else { panic!("an empty component passed") };
        assert_eq!(why, "it exports no function describe or invoke");
        // Refused as the compiled check refuses it, with the same reason.
        let Err(LoadError::UnknownImport { import, why }) =
            check(r#"(component (import "evil:net/raw-socket" (instance)))"#)
        else {
            panic!("a foreign import passed")
        };
        assert_eq!((import.as_str(), why), ("evil:net/raw-socket", super::import_allowed(&import).unwrap_err()));
        let Err(LoadError::UnknownImport { why, .. }) =
            check(r#"(component (import "wasi:http/incoming-handler@0.2.0" (instance)))"#)
        else {
            panic!("a server's wasi:http import passed")
        };
        assert!(why.contains("it does not serve them"), "{why}");
        // Nested components' own imports and exports are theirs, not the participant's.
        let world = r#"(component (import "wasi:cli/stdout@0.2.0" (instance))
            (component $inner (import "anything" (func)))
            (core module $m (func (export "f")))
            (core instance $i (instantiate $m))
            (func $f (canon lift (core func $i "f")))
            (export "describe" (func $f)) (export "invoke" (func $f)))"#;
        check(world).unwrap();
        // A world's `use`d types are imported as types bound by equality
        // (the built-in campfire does); a fresh resource is not a type name.
        let types = r#"(component (import "mastermind:participant/types" (instance $t (export "d" (type (sub resource)))))
            (alias export $t "d" (type $d))
            (import "description" (type (eq $d)))
            (core module $m (func (export "f")))
            (core instance $i (instantiate $m))
            (func $f (canon lift (core func $i "f")))
            (export "describe" (func $f)) (export "invoke" (func $f)))"#;
        check(types).unwrap();
        let Err(LoadError::UnknownImport { import, .. }) = check(&types.replace("(eq $d)", "(sub resource)")) else {
            panic!("an imported resource passed")
        };
        assert_eq!(import, "description");
    }

    fn count(wat: &str) -> u32 {
        count_core_instances(&wat::parse_str(wat).unwrap()).unwrap()
    }

    #[test]
    fn core_instances_are_counted_through_nested_components() {
        assert_eq!(count("(component)"), 0);
        // Two instantiations of a module; an instance of exports is free.
        assert_eq!(
            count(
                "(component (core module $m) (core instance (instantiate $m)) (core instance (instantiate $m))
                 (core instance))"
            ),
            2
        );
        // A nested component of 3 instantiated twice, another never: 1 + 2 × 3.
        let nested = "(component $c (core module $m) (core instance (instantiate $m))
                        (core instance (instantiate $m)) (core instance (instantiate $m)))";
        assert_eq!(
            count(&format!(
                "(component (core module $m) (core instance (instantiate $m)) {nested}
                   (component $unused (core module $n) (core instance (instantiate $n)))
                   (instance (instantiate $c)) (instance (instantiate $c)))"
            )),
            7
        );
        // What the sandbox's pool counts agrees: wasmtime refuses the same
        // component under a limit of 6 and takes it under 7.
        let bytes = wat::parse_str(format!(
            "(component (core module $m) (core instance (instantiate $m)) {nested}
               (instance (instantiate $c)) (instance (instantiate $c)))"
        ))
        .unwrap();
        for (max, ok) in [(6, false), (7, true)] {
            let mut pool = wasmtime::PoolingAllocationConfig::new();
            pool.max_core_instances_per_component(max)
                .max_memory_size(1 << 20)
                .total_memories(8)
                .total_tables(8)
                .total_core_instances(16);
            let mut config = wasmtime::Config::new();
            config.memory_reservation(1 << 20).allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
            let engine = wasmtime::Engine::new(&config).unwrap();
            let compiled = wasmtime::component::Component::new(&engine, &bytes);
            assert_eq!(compiled.is_ok(), ok, "max {max}: {:?}", compiled.err());
        }
    }
}
