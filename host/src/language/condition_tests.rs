//! Tests for condition evaluation.

use serde_json::{Value, json};

use super::*;
use crate::language::dollar::ValueLookup;

fn check(condition: &str) -> Result<bool, ConditionError> {
    let fields = json!({
        "status": "in progress",
        "env": "prod",
        "count": 5,
        "small": "9",
        "big": "10",
        "ratio": 0.5,
        "yes": true,
        "no": false,
        "nothing": null,
        "blank": "",
        "empty_list": [],
        "empty_hash": {},
        "list": [1, 2],
        "name": "web-01",
        "word_false": "false",
        "which": "env",
    });
    let variables = json!({"threshold": 3, "pattern": "^web-"});
    evaluate(condition, &ValueLookup { fields: &fields, variables: &variables })
}

fn yes(condition: &str) {
    assert_eq!(check(condition), Ok(true), "{condition}");
}

fn no(condition: &str) {
    assert_eq!(check(condition), Ok(false), "{condition}");
}

#[test]
fn equality() {
    yes("${env} == prod");
    yes("${env} == 'prod'");
    yes("${f:env} == \"prod\"");
    no("${env} == staging");
    yes("${env} != staging");
    yes("${status} == in progress");
    yes("'${status}' == 'in progress'");
    yes("${count} == 5.0");
    yes("${count} == ${v:threshold} || ${count} == 5");
    yes("${yes} == true");
    yes("${nothing} == nil");
    // Ruote: a quoted string is text, a number is a number.
    no("${count} == '5'");
    yes("${count} != '5'");
    no("3 == '3'");
    yes("'3' == '3'");
    yes("${small} == 9");
    // A missing value reads as empty: the comparison is false.
    no("${f:${v:nope}} == x");
    yes("${f:${v:nope}} == x || true");
}

#[test]
fn numeric_and_string_ordering() {
    yes("${count} > 3");
    yes("${count} >= 5");
    no("${count} < 5");
    yes("${count} <= 5");
    yes("${small} < ${big}"); // numeric: "9" < "10" as strings would be false
    yes("${ratio} < 1");
    yes("-1 < 0");
    yes("abc < abd");
    yes("${env} > abc");
    // `inf` and `nan` are not numbers here, so these compare as text.
    yes("inf > 1");
    yes("nan == nan");
}

#[test]
fn regex_matching() {
    yes("${name} =~ /^web-\\d+$/");
    yes("${name} =~ ^web");
    yes("${name} =~ '/WEB/i'");
    yes("${name} =~ /WEB/i");
    no("${name} =~ /^db/");
    yes("${name} =~ ${v:pattern}");
    yes("${name} =~ /${v:pattern}/");
    yes("a/b =~ /a\\/b/");
    no("a == /a/"); // a slash-delimited word is only a regex after `=~`
    assert!(matches!(check("${name} =~ /(/"), Err(ConditionError::Regex { .. })));
    assert!(matches!(check("${name} =~ /x/q"), Err(ConditionError::Regex { .. })));
}

#[test]
fn is_set_allows_missing_fields() {
    yes("${env} is set");
    no("${missing} is set");
    yes("${missing} is not set");
    no("${env} is not set");
    yes("${nothing} is set");
    yes("${f:${which}} is set");
    no("${f:${missing}} is set");
    yes("${missing} is set || ${env} == prod");
    no("${missing} is set && ${missing} > 3");
}

#[test]
fn is_empty_and_null() {
    for field in ["missing", "blank", "empty_list", "empty_hash", "nothing"] {
        yes(&format!("${{{field}}} is empty"));
    }
    for field in ["env", "list", "count", "no"] {
        yes(&format!("${{{field}}} is not empty"));
    }
    yes("${nothing} is null");
    no("${blank} is null");
    yes("${env} is not null");
    no("${missing} is null");
}

#[test]
fn boolean_logic_and_precedence() {
    yes("true");
    no("false");
    yes("!false");
    yes("not false");
    yes("true || false && false");
    no("(true || false) && false");
    yes("${env} == prod and ${count} > 3");
    yes("${env} == dev or ${count} > 3");
    no("not (${env} == prod)");
    yes("!(${count} < 1) && !${blank}");
}

#[test]
fn bare_values_follow_ruote_truth() {
    yes("${env}");
    no("${blank}");
    no("${word_false}");
    no("${nothing}");
    no("${no}");
    yes("${yes}");
    no("${empty_list}");
    yes("${list}");
    yes("${count}");
    no("nil");
    no("null");
    no("");
    no("   ");
    yes("$f:list");
}

#[test]
fn missing_values_read_as_empty_as_in_ruote() {
    // An empty left side makes a comparison false, whatever the operator.
    no("${missing} == 1");
    no("${missing} != 1");
    no("${missing} < 1");
    no("${blank} == x");
    no("${missing}");
    no("${v:nope}");
    yes("!${missing}");
    // Other errors in dollar notation still are errors.
    assert!(matches!(check("${x:y} == 1"), Err(ConditionError::Dollar(DollarError::UnknownPrefix { .. }))));
}

#[test]
fn syntax_errors() {
    for (condition, message) in [
        ("${a} ==", "expected a value at the end"),
        ("(${env} == prod", "missing `)`"),
        ("${env} == prod)", "unexpected `)`"),
        ("${env} is", "expected `set`, `empty` or `null` after `is`"),
        ("${env} is full", "expected `set`, `empty` or `null` after `is`"),
        ("${env} = prod", "unexpected `=`; compare with `==`"),
        ("${env == prod", "unterminated `${`"),
        ("'abc", "unterminated string starting with '"),
        ("${env} =~ /abc", "unterminated regular expression"),
        ("&& x", "expected a value, found `&&`"),
    ] {
        match check(condition) {
            Err(ConditionError::Syntax { message: got, .. }) => {
                assert_eq!(got, message, "{condition}")
            }
            other => panic!("{condition}: expected a syntax error, got {other:?}"),
        }
    }
    let deep = format!("{}true{}", "(".repeat(1000), ")".repeat(1000));
    assert!(matches!(check(&deep), Err(ConditionError::Syntax { .. })));
    let long_chain = "${count} > 1 && ".repeat(50_000) + "true";
    assert_eq!(check(&long_chain), Ok(true));
    let nots = "!".repeat(10_000) + "true";
    assert!(matches!(check(&nots), Err(ConditionError::Syntax { .. })));
}

#[test]
fn values_as_conditions() {
    let fields = json!({"x": 1});
    let lookup = ValueLookup { fields: &fields, variables: &Value::Null };
    assert_eq!(evaluate_value(&json!(true), &lookup), Ok(true));
    assert_eq!(evaluate_value(&json!(false), &lookup), Ok(false));
    assert_eq!(evaluate_value(&Value::Null, &lookup), Ok(false));
    assert_eq!(evaluate_value(&json!("${x} == 1"), &lookup), Ok(true));
    assert_eq!(evaluate_value(&json!([1]), &lookup), Ok(true));
}

#[test]
fn random_conditions_never_panic() {
    const PIECES: &[&str] = &[
        "${", "}", "x", " ", "==", "=~", "/", "'", "\"", "(", ")", "!", "is", "not", "set", "&&", "||", "and", "<",
        ">=", "\\", "é", "$f:", "empty", "1", "=",
    ];
    let fields = json!({"x": [1]});
    let lookup = ValueLookup { fields: &fields, variables: &Value::Null };
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    for _ in 0..3_000 {
        let mut text = String::new();
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        for i in 0..(state % 16) {
            let index = (state.rotate_left(i as u32 * 5) % PIECES.len() as u64) as usize;
            text.push_str(PIECES[index]);
        }
        let _ = evaluate(&text, &lookup);
    }
}
