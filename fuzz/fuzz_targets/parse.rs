//! Any input: parsing never panics, errors render, and whatever parses
//! survives the JSON round trip, dollar substitution and conditions.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mastermind_fuzz::language::{self, dollar, json};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match language::parse("fuzz.mm", text) {
        Ok(definition) => {
            let stored = json::definition_to_json(&definition);
            let back = json::definition_from_json(&stored).expect("a parsed definition reads back from JSON");
            assert_eq!(back.root.name, definition.root.name);
            let lookup = dollar::ValueLookup { fields: &Value::Null, variables: &Value::Null };
            for (_, v) in &definition.root.attrs {
                let _ = dollar::substitute_value(v, &lookup);
            }
            let _ = language::condition::evaluate(text, &lookup);
        }
        Err(errors) => {
            let _ = errors.to_string();
        }
    }
    let _ = json::definition_from_json_str(text);
    let _ = language::attributes::parse_on_error(text);
    let _ = language::attributes::parse_duration(text);
});
