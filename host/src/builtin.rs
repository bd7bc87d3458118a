//! The participants built from `plugins/` and embedded in the binary. They
//! run through the same sandbox, contract and grant checks as uploads.

/// (name, component bytes) of every built-in participant.
pub static BUILTINS: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/builtins.rs"));

/// The component bytes of the built-in participant built from `plugins/NAME`.
pub fn get(name: &str) -> Option<&'static [u8]> {
    BUILTINS.iter().find(|(n, _)| *n == name).map(|(_, bytes)| *bytes)
}
