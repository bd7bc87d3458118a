//! Ruote's filter rules, over plain JSON (no flow needed).

use super::*;

fn filter(rules: Value, fields: Value) -> Result<Value, String> {
    let rules = rules.as_array().cloned().unwrap();
    let fields = fields.as_object().cloned().unwrap();
    match run(&rules, &fields, &fields) {
        Ok(f) => Ok(Value::Object(f)),
        Err(Problem::Deviations(d)) => Err(format!("invalid: {}", Value::Array(d))),
        Err(Problem::Bad(m)) => Err(format!("bad: {m}")),
        Err(Problem::Step(e)) => Err(format!("step: {e}")),
    }
}

fn valid(rules: Value, fields: Value) -> bool {
    filter(rules, fields).is_ok()
}

#[test]
fn validations() {
    assert!(valid(json!([{ "field": "x", "type": "string" }]), json!({ "x": "s" })));
    assert!(!valid(json!([{ "field": "x", "type": "string" }]), json!({ "x": 2 })));
    assert!(valid(json!([{ "field": "x", "type": "string,null" }]), json!({})));
    assert!(valid(json!([{ "field": "x", "t": "array<number>" }]), json!({ "x": [1, 2] })));
    assert!(!valid(json!([{ "field": "x", "t": "array<number>" }]), json!({ "x": [1, "a"] })));
    assert!(valid(json!([{ "field": "x", "t": "array<string>,array<number>" }]), json!({ "x": [1, 2] })));
    assert!(valid(json!([{ "field": "x", "t": "object<array<string>>" }]), json!({ "x": { "a": ["b"] } })));
    assert!(filter(json!([{ "field": "x", "t": "strnig" }]), json!({ "x": 1 })).unwrap_err().contains("unknown type"));
    assert!(valid(json!([{ "field": "x", "size": 4 }]), json!({ "x": "toto" })));
    assert!(valid(json!([{ "field": "x", "size": [2, 3] }]), json!({ "x": ["a", "b", "c"] })));
    assert!(!valid(json!([{ "field": "x", "size": "2," }]), json!({ "x": ["a"] })));
    assert!(valid(json!([{ "field": "x", "size": ",3" }]), json!({ "x": ["a"] })));
    assert!(!valid(json!([{ "field": "x", "size": 2 }]), json!({ "x": 3 })));
    assert!(valid(json!([{ "field": "x", "empty": true }]), json!({ "x": {} })));
    assert!(valid(json!([{ "field": "x", "in": "red, green" }]), json!({ "x": "green" })));
    assert!(!valid(json!([{ "field": "x", "in": ["red"] }]), json!({ "x": "green" })));
    assert!(valid(json!([{ "field": "x", "has": "a, b" }]), json!({ "x": { "a": 1, "b": 2 } })));
    assert!(valid(json!([{ "field": "x", "has": ["a"] }]), json!({ "x": ["a", "c"] })));
    assert!(valid(json!([{ "field": "x", "includes": 1 }]), json!({ "x": [1] })));
    assert!(valid(json!([{ "field": "x", "match": "1" }]), json!({ "x": 212 })));
    assert!(!valid(json!([{ "field": "x", "smatch": "1" }]), json!({ "x": 212 })));
    assert!(valid(json!([{ "field": "x", "is": [1, "a"] }]), json!({ "x": [1, "a"] })));
    assert!(!valid(json!([{ "field": "x", "valid": "false" }]), json!({ "x": 1 })));
    assert!(valid(json!([{ "field": "x" }]), json!({ "x": 1 })));
    assert!(!valid(json!([{ "field": "x" }]), json!({})));
    assert!(valid(json!([{ "field": "x|params.x", "type": "string" }]), json!({ "params": { "x": "in" } })));
    assert!(!valid(json!([{ "field": "x|y", "type": "string" }]), json!({})));
    assert!(valid(json!([{ "field": "/^a!/", "type": "number" }]), json!({ "a": { "x": 1, "y": 2 }, "b": "s" })));
    assert!(!valid(json!([{ "field": "/^a!/", "type": "number" }]), json!({ "a": { "x": 1, "y": "2" } })));
    // top-level or
    let rules = json!([{ "field": "x", "type": "string" }, { "field": "y", "type": "number" }, "or", { "field": "z", "type": "bool" }]);
    assert!(valid(rules.clone(), json!({ "x": "w", "y": 1 })));
    assert!(valid(rules.clone(), json!({ "x": -9, "z": false })));
    assert!(!valid(rules, json!({ "x": -9 })));
    assert_eq!(
        filter(json!([{ "field": "x", "type": "string" }]), json!({ "x": 1 })).unwrap_err(),
        r#"invalid: [[{"field":"x","type":"string"},"x",1]]"#
    );
}

#[test]
fn transformations() {
    let f = |rules, fields| filter(rules, fields).unwrap();
    assert_eq!(f(json!([{ "field": "x", "type": "string", "or": "z" }]), json!({ "x": 2 })), json!({ "x": "z" }));
    assert_eq!(f(json!([{ "field": "x", "or": "z" }]), json!({})), json!({ "x": "z" }));
    assert_eq!(f(json!([{ "field": "x", "default": 0 }]), json!({ "x": null })), json!({ "x": 0 }));
    assert_eq!(f(json!([{ "field": "x", "type": "string", "and": "z" }]), json!({ "x": "y" })), json!({ "x": "z" }));
    assert_eq!(f(json!([{ "field": "x", "type": "string", "and": "z" }]), json!({ "x": 1 })), json!({ "x": 1 }));
    assert_eq!(f(json!([{ "field": "x", "remove": true }]), json!({ "x": 1, "y": 2 })), json!({ "y": 2 }));
    assert_eq!(f(json!([{ "field": "a,b", "set": "-" }]), json!({})), json!({ "a": "-", "b": "-" }));
    assert_eq!(f(json!([{ "field": "x", "copy_to": "z" }]), json!({ "x": "y" })), json!({ "x": "y", "z": "y" }));
    assert_eq!(f(json!([{ "field": "x", "mv_to": "z" }]), json!({ "x": "y" })), json!({ "z": "y" }));
    assert_eq!(f(json!([{ "field": "z", "copy_from": "x" }]), json!({ "x": "y" })), json!({ "x": "y", "z": "y" }));
    assert_eq!(
        f(json!([{ "field": "/a!(.+)/", "copy_to": "b\\1" }]), json!({ "a": ["x", "y"] })),
        json!({ "a": ["x", "y"], "b0": "x", "b1": "y" })
    );
    assert_eq!(
        f(json!([{ "field": "x", "merge_to": "y" }]), json!({ "x": { "a": 1, "b": 2 }, "y": { "a": "A", "c": "C" } })),
        json!({ "x": { "a": 1, "b": 2 }, "y": { "a": 1, "b": 2, "c": "C" } })
    );
    assert_eq!(
        f(json!([{ "field": "x", "merge_to": "." }]), json!({ "x": { "a": 1, "b": 2 } })),
        json!({ "x": { "a": 1, "b": 2 }, "a": 1, "b": 2 })
    );
    assert_eq!(
        f(json!([{ "field": "x", "push_to": "l" }]), json!({ "x": 3, "l": [1] })),
        json!({ "x": 3, "l": [1, 3] })
    );
    assert_eq!(
        f(json!([{ "field": "x", "set": "X" }, { "field": "x", "copy_from": "~.x" }]), json!({ "x": 1 })),
        json!({ "x": 1 })
    );
    assert_eq!(
        f(
            json!([{ "field": "x", "set": "X" }, { "field": "y", "set": "Y" }, { "field": "/^.$/", "restore": true }]),
            json!({ "x": "a", "y": "a" })
        ),
        json!({ "x": "a", "y": "a" })
    );
    assert!(filter(json!([{ "field": "x", "frobnicate": 1 }]), json!({})).unwrap_err().contains("unknown rule"));
    assert!(filter(json!([{ "type": "string" }]), json!({})).unwrap_err().contains("needs a 'field'"));
}
