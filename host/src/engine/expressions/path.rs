//! Dotted paths into workitem fields, as Ruote's `Ruote.lookup`/`set`/`unset`
//! read them: `customer.address.street` walks hashes by key and arrays by
//! index (`hosts.0`). Used by `save`, `restore` and `filter`.

use crate::model::Fields;
use serde_json::Value;

/// The value at `path`: a top-level key spelled with dots first, then the
/// dotted walk.
pub(crate) fn get(fields: &Fields, path: &str) -> Option<Value> {
    if let Some(v) = fields.get(path) {
        return Some(v.clone());
    }
    let (head, rest) = path.split_once('.')?;
    crate::language::dollar::lookup_path(fields.get(head)?, rest)
}

/// Sets the value at `path`, creating missing hashes on the way (an array
/// index may also be one past the end: the value is appended).
pub(crate) fn set(fields: &mut Fields, path: &str, value: Value) -> Result<(), String> {
    let segments: Vec<&str> = path.split('.').collect();
    let not_a_path = || format!("'{path}' is not a field path");
    if segments.iter().any(|s| s.is_empty()) {
        return Err(not_a_path());
    }
    let Some((first, rest)) = segments.split_first() else { return Err(not_a_path()) };
    if rest.is_empty() {
        fields.insert((*first).to_owned(), value);
        return Ok(());
    }
    let slot = fields.entry((*first).to_owned()).or_insert(Value::Null);
    set_in(slot, path, 1, rest, value)
}

/// Walks one segment down from `slot` (reached by the first `depth`
/// segments of `path`), one level per call, so each level borrows only
/// the one below it.
fn set_in(slot: &mut Value, path: &str, depth: usize, segments: &[&str], value: Value) -> Result<(), String> {
    let Some((segment, rest)) = segments.split_first() else {
        *slot = value;
        return Ok(());
    };
    let so_far = || path.split('.').take(depth).collect::<Vec<_>>().join(".");
    if slot.is_null() {
        *slot = Value::Object(Fields::new());
    }
    let child = match slot {
        Value::Object(map) => map.entry((*segment).to_owned()).or_insert(Value::Null),
        Value::Array(items) => {
            let len = items.len();
            let missing = || format!("'{}' has no element {segment}", so_far());
            let index = index_of(segment, len + 1).ok_or_else(missing)?;
            if index == len {
                items.push(Value::Null);
            }
            items.get_mut(index).ok_or_else(missing)?
        }
        other => return Err(format!("cannot set '{path}': '{}' is {}", so_far(), describe(other))),
    };
    set_in(child, path, depth + 1, rest, value)
}

/// Removes the value at `path`, if there is one.
pub(crate) fn remove(fields: &mut Fields, path: &str) -> Option<Value> {
    if let Some(v) = fields.remove(path) {
        return Some(v);
    }
    let (parent, last) = path.rsplit_once('.')?;
    let mut current = fields.get_mut(parent.split('.').next()?)?;
    for segment in parent.split('.').skip(1) {
        current = match current {
            Value::Object(map) => map.get_mut(segment)?,
            Value::Array(items) => {
                let len = items.len();
                items.get_mut(index_of(segment, len)?)?
            }
            _ => return None,
        };
    }
    match current {
        Value::Object(map) => map.remove(last),
        Value::Array(items) => {
            let index = index_of(last, items.len())?;
            Some(items.remove(index))
        }
        _ => None,
    }
}

/// An array index below `bound`.
fn index_of(segment: &str, bound: usize) -> Option<usize> {
    segment.parse::<usize>().ok().filter(|i| *i < bound)
}

fn describe(v: &Value) -> &'static str {
    crate::language::tree::describe_value(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(v: Value) -> Fields {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn gets_sets_and_removes_along_paths() {
        let mut f = fields(json!({ "h": {}, "a": [1, 2], "s": "x" }));
        set(&mut f, "h.deep.x", json!(1)).unwrap();
        set(&mut f, "a.1", json!(20)).unwrap();
        set(&mut f, "a.2", json!(30)).unwrap();
        set(&mut f, "new.one", json!(true)).unwrap();
        assert_eq!(
            Value::Object(f.clone()),
            json!({ "h": { "deep": { "x": 1 } }, "a": [1, 20, 30], "s": "x", "new": { "one": true } })
        );
        assert_eq!(get(&f, "h.deep.x"), Some(json!(1)));
        assert_eq!(get(&f, "a.0"), Some(json!(1)));
        assert!(set(&mut f, "s.x", json!(1)).unwrap_err().contains("'s' is"));
        assert!(set(&mut f, "a.9", json!(1)).is_err());
        assert!(set(&mut f, "a..b", json!(1)).is_err());
        assert_eq!(remove(&mut f, "h.deep.x"), Some(json!(1)));
        assert_eq!(remove(&mut f, "a.0"), Some(json!(1)));
        assert_eq!(remove(&mut f, "nope.x"), None);
        assert_eq!(Value::Object(f), json!({ "h": { "deep": {} }, "a": [20, 30], "s": "x", "new": { "one": true } }));
    }
}
