//! Tests for the text parser (kept apart so `parser.rs` stays readable).

use serde_json::{Value, json};

use super::*;

/// The seed's definition, verbatim (its trailing space included).
const SEED: &str = include_str!("../../../examples/create_and_destroy_ec2_server.mm");

fn ok(source: &str) -> Definition {
    match parse("test.mm", source) {
        Ok(definition) => definition,
        Err(errors) => panic!("unexpected errors:\n{errors}"),
    }
}

fn err(source: &str) -> ParseErrors {
    match parse("test.mm", source) {
        Ok(definition) => panic!("expected errors, got {definition:?}"),
        Err(errors) => errors,
    }
}

fn attr_keys(node: &Node) -> Vec<&str> {
    node.attrs.iter().map(|(k, _)| k.as_str()).collect()
}

#[test]
fn seed_example_parses_into_four_steps() {
    let def = ok(SEED);
    assert_eq!(def.name, None);
    assert_eq!(def.root.name, "sequence");
    let steps = &def.root.children;
    let names: Vec<&str> = steps.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["create_ec2_server", "notify_campfire", "destroy_ec2_server", "notify_campfire"]);
    let create = &steps[0];
    assert_eq!(
        attr_keys(create),
        ["image_id", "flavor_id", "key_name", "region", "availability_zone", "groups", "tags"]
    );
    assert_eq!(create.attr_str("image_id"), Some("${image_id}"));
    assert_eq!(create.attr_str("groups"), Some("$f:groups"));
    assert_eq!(create.attr_str("tags"), Some("$f:tags"));
    assert!(create.args.is_empty());
    assert_eq!(steps[1].attr_str("message"), Some("${instance_id} created!"));
    assert_eq!(attr_keys(&steps[2]), ["instance_id", "region"]);
    assert_eq!(steps[3].attr_str("message"), Some("${instance_id} destroyed!"));

    assert_eq!(create.span, Span { line: 1, column: 1, offset: 0, len: 17 });
    assert_eq!((steps[1].span.line, steps[1].span.column), (10, 1));
    assert_eq!((steps[2].span.line, steps[3].span.line), (12, 14));
}

#[test]
fn single_statement_is_still_wrapped_in_a_sequence() {
    let def = ok("participant 'alice'");
    assert_eq!(def.root.name, "sequence");
    assert_eq!(def.root.children.len(), 1);
    assert_eq!(def.root.children[0].first_arg_str(), Some("alice"));
}

#[test]
fn empty_source_is_an_empty_sequence() {
    let def = ok("  # nothing here\n\n");
    assert!(def.root.children.is_empty());
}

#[test]
fn both_attribute_styles_and_parentheses() {
    let def = ok("participant 'alice', :task => 'review', 'prio' => 2, \"x\" => nil, due: true\n\
                  participant('bob', :task => 'x',\n   timeout: '1h')\n\
                  participant(\n  'carol',\n)\n\
                  noop()");
    let a = &def.root.children[0];
    assert_eq!(a.args, vec![json!("alice")]);
    assert_eq!(
        a.attrs,
        vec![
            ("task".to_string(), json!("review")),
            ("prio".to_string(), json!(2)),
            ("x".to_string(), Value::Null),
            ("due".to_string(), json!(true)),
        ]
    );
    let b = &def.root.children[1];
    assert_eq!(b.first_arg_str(), Some("bob"));
    assert_eq!(attr_keys(b), ["task", "timeout"]);
    assert_eq!(def.root.children[2].first_arg_str(), Some("carol"));
    assert_eq!(def.root.children[3].name, "noop");
}

#[test]
fn values_of_every_kind() {
    let def = ok("set f: [1, -2_000, 2.5, 'a', \"b\", :sym, true, false, nil, [], {}]");
    assert_eq!(
        def.root.children[0].attr("f"),
        Some(&json!([1, -2000, 2.5, "a", "b", "sym", true, false, null, [], {}]))
    );
}

#[test]
fn symbols_become_strings() {
    let def = ok("participant :alice, :task => :review");
    let node = &def.root.children[0];
    assert_eq!(node.args, vec![json!("alice")]);
    assert_eq!(node.attr_str("task"), Some("review"));
}

#[test]
fn hashes_and_arrays_across_lines() {
    let def = ok("create_server tags: {\n  'Name' => \"web\",\n  role: 'db',\n},\n  \
                  groups: [\n  'a',\n  'b',\n  ],\n  nested: { list: [{ k: 1 }] }\n\
                  next_step");
    let node = &def.root.children[0];
    let tags = node.attr("tags").unwrap();
    assert_eq!(tags, &json!({"Name": "web", "role": "db"}));
    let keys: Vec<&String> = tags.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["Name", "role"], "hash keys keep source order");
    assert_eq!(node.attr("groups"), Some(&json!(["a", "b"])));
    assert_eq!(node.attr("nested"), Some(&json!({"list": [{"k": 1}]})));
    assert_eq!(def.root.children[1].name, "next_step");
}

#[test]
fn comments_are_ignored_but_not_inside_strings() {
    let def = ok("# header\nnotify message: 'a # b' # trailing\n# end");
    assert_eq!(def.root.children.len(), 1);
    assert_eq!(def.root.children[0].attr_str("message"), Some("a # b"));
}

#[test]
fn semicolons_separate_statements() {
    let def = ok("a; b 1; c");
    let names: Vec<&str> = def.root.children.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
}

#[test]
fn nested_blocks() {
    let def = ok("concurrence :count => 1 do
  participant 'alice'
  sequence do
    participant 'bob'
  end
end
cursor do
  participant 'review'
  rewind
  jump to: 'review'
  _if '${x} == 1' do
    _break
  end
end
sequence do participant 'inline' end");
    let concurrence = &def.root.children[0];
    assert_eq!(concurrence.attr("count"), Some(&json!(1)));
    assert_eq!(concurrence.children.len(), 2);
    assert_eq!(concurrence.children[1].children[0].first_arg_str(), Some("bob"));
    let cursor = &def.root.children[1];
    let names: Vec<&str> = cursor.children.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["participant", "rewind", "jump", "_if"]);
    assert_eq!(cursor.children[2].attr_str("to"), Some("review"));
    assert_eq!(cursor.children[3].children[0].name, "_break");
    assert_eq!(def.root.children[2].children[0].first_arg_str(), Some("inline"));
}

#[test]
fn ruby_keywords_are_plain_names() {
    let def = ok("if '${a}' do\n  redo\nend\nunless '${b}'\nbreak\n_unless '${c}'\n_redo");
    let names: Vec<&str> = def.root.children.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["if", "unless", "break", "_unless", "_redo"]);
    assert_eq!(def.root.children[0].children[0].name, "redo");
}

#[test]
fn define_wrappers_name_the_definition() {
    let def = ok("define 'deploy' do\n  participant 'a'\n  define 'sub' do\n    b\n  end\nend\n");
    assert_eq!(def.name.as_deref(), Some("deploy"));
    assert_eq!(def.root.name, "sequence");
    assert_eq!(def.root.children.len(), 2);
    assert_eq!(def.root.children[1].name, "define", "nested defines stay as nodes");
    assert_eq!(def.root.children[1].first_arg_str(), Some("sub"));

    let def = ok("process_definition :name => 'x', on_error: 'pass' do\n  a\nend");
    assert_eq!(def.name.as_deref(), Some("x"));
    assert_eq!(def.root.attr_str("on_error"), Some("pass"));

    let def = ok("Ruote.process_definition :name => 'ruote' do\n  sequence do\n    a\n  end\nend");
    assert_eq!(def.name.as_deref(), Some("ruote"));
    assert_eq!(def.root.children[0].name, "sequence");

    let def = ok("workflow_definition do\nend");
    assert_eq!(def.name, None);
    assert!(def.root.children.is_empty());
}

#[test]
fn define_among_other_statements_is_a_node() {
    let def = ok("define 'sub' do\n  a\nend\nsubprocess 'sub'");
    assert_eq!(def.name, None);
    assert_eq!(def.root.children.len(), 2);
    assert_eq!(def.root.children[0].name, "define");
}

#[test]
fn bad_define_name_is_an_error() {
    let errors = err("define 42 do\n  a\nend");
    assert!(errors.diagnostics[0].message.contains("must be a string"));
}

#[test]
fn repeated_key_is_an_error() {
    let errors = err("participant 'a', task: 'x',\n  :task => 'y'");
    assert_eq!(errors.diagnostics.len(), 1);
    let d = &errors.diagnostics[0];
    assert_eq!(d.message, "attribute `task` is given twice");
    assert_eq!((d.span.line, d.span.column), (2, 3));
    assert!(d.help.as_deref().unwrap().contains("line 1, column 18"));

    let errors = err("set f: { a: 1, 'a' => 2 }");
    assert_eq!(errors.diagnostics[0].message, "hash key `a` is given twice");
}

#[test]
fn missing_value_renders_with_caret() {
    let source = "create image_id: 'x',\n  flavor: 'y',\n  region: ,\n  zone: 'z'\n";
    let errors = err(source);
    assert_eq!(errors.diagnostics.len(), 1);
    let expected = "\
error: expected a value after `region`, found `,`
 --> deploy.mm:3:11
  |
3 |   region: ,
  |           ^ here
";
    let mut errors = errors;
    errors.file_name = "deploy.mm".into();
    assert_eq!(errors.to_string(), expected);
}

#[test]
fn several_errors_are_reported_at_once() {
    let source = "a key: ,\nb 'ok'\nc 'x' 'y'\nd do\n  e :k => \n  f\nend\ng @\n";
    let errors = err(source);
    let found: Vec<(u32, &str)> = errors.diagnostics.iter().map(|d| (d.span.line, d.message.as_str())).collect();
    assert_eq!(
        found,
        vec![
            (1, "expected a value after `key`, found `,`"),
            (3, "expected `,` before a string"),
            (5, "expected a value after `k`, found end of line"),
            (8, "unexpected character `@`"),
        ]
    );
    let text = errors.to_string();
    assert_eq!(text.matches("error:").count(), 4, "{text}");
    assert!(text.contains("8 | g @"), "{text}");
}

#[test]
fn errors_inside_a_broken_statements_block_are_still_found() {
    let errors = err("a 'x' 'y' do\n  b ,\nend\nc");
    let lines: Vec<u32> = errors.diagnostics.iter().map(|d| d.span.line).collect();
    assert_eq!(lines, [1, 2]);
}

#[test]
fn error_count_is_capped() {
    let source = "a ?\n".repeat(100);
    let errors = err(&source);
    assert_eq!(errors.diagnostics.len(), MAX_ERRORS);
    assert!(errors.truncated);
    assert!(errors.to_string().contains("stopped after 20 errors"));
}

#[test]
fn structural_errors() {
    let cases: &[(&str, &str, (u32, u32))] = &[
        ("sequence do\n  a\n", "missing `end` for the `do` on line 1", (3, 1)),
        ("a\nend", "`end` without a matching `do`", (2, 1)),
        ("a 'x\n", "unterminated string starting at line 1, column 3", (1, 3)),
        ("a [1, 2", "expected `,` or `]`, found end of input", (1, 8)),
        ("a { 'k' 1 }", "expected `=>` after the hash key, found a number", (1, 9)),
        ("a 1 => 2", "attribute keys must be strings or symbols, found a number", (1, 3)),
        ("a { 1 => 2 }", "hash keys must be strings or symbols", (1, 5)),
        ("foo.bar 1", "method calls are not supported", (1, 4)),
        ("a b", "expected an argument, found `b`", (1, 3)),
        ("a 'x',\n", "expected an argument, found end of input", (2, 1)),
        ("'x'", "expected a statement name, found a string", (1, 1)),
        ("a('x' 'y')", "expected `,` or `)`, found a string", (1, 7)),
        ("a x = 1", "expected an argument, found `x`", (1, 3)),
    ];
    for (source, message, (line, column)) in cases {
        let errors = err(source);
        let d = &errors.diagnostics[0];
        assert_eq!(&d.message, message, "for {source:?}");
        assert_eq!((d.span.line, d.span.column), (*line, *column), "for {source:?}");
    }
}

#[test]
fn forgotten_trailing_comma_gets_a_hint() {
    let errors = err("create a: 1\n  b: 2\n");
    let d = &errors.diagnostics[0];
    assert_eq!(d.message, "expected a statement name, found `b:`");
    assert!(d.help.as_deref().unwrap().contains("end that line with `,`"));
}

#[test]
fn bare_word_gets_quoting_help() {
    let errors = err("participant alice");
    assert_eq!(errors.diagnostics[0].help.as_deref(), Some("to pass text, quote it: 'alice'"));
}

#[test]
fn nesting_at_the_limit_is_accepted() {
    let source = format!("a x: {}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
    ok(&source);
    let blocks = format!("{}{}", "s do\n".repeat(MAX_DEPTH), "end\n".repeat(MAX_DEPTH));
    ok(&blocks);
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    for source in [
        format!("a x: {}", "[".repeat(10_000)),
        format!("a x: {}", "{ a: ".repeat(10_000)),
        format!("a x: {}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1)),
        "s do\n".repeat(10_000),
        format!("{}{}", "s do\n".repeat(10_000), "end\n".repeat(10_000)),
        format!("a x: {}", "{ k: [".repeat(5_000)),
    ] {
        let errors = err(&source);
        assert!(errors.diagnostics.iter().any(|d| d.message.contains("nesting is deeper than 256")), "{errors}");
        assert!(errors.diagnostics.len() <= MAX_ERRORS);
    }
}

#[test]
fn deep_block_error_is_reported_once_and_parsing_goes_on() {
    let source = format!("{}{}bad ,\n", "s do\n".repeat(300), "end\n".repeat(300));
    let errors = err(&source);
    let messages: Vec<&str> = errors.diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(messages, ["nesting is deeper than 256 levels", "expected an argument, found `,`"]);
}

#[test]
fn large_flat_input_parses_quickly() {
    let source = "participant 'alice', task: 'x', n: [1, 2, 3]\n".repeat(20_000);
    let start = std::time::Instant::now();
    let def = ok(&source);
    assert_eq!(def.root.children.len(), 20_000);
    assert!(start.elapsed().as_secs() < 10);
    let long_line = format!("a x: [{}]", "1, ".repeat(100_000));
    ok(&long_line);
}

#[test]
fn crlf_sources_parse() {
    let def = ok("a x: 1,\r\n  y: 2\r\nb\r\n");
    assert_eq!(def.root.children.len(), 2);
    assert_eq!(attr_keys(&def.root.children[0]), ["x", "y"]);
}

/// xorshift64*, enough to generate varied inputs without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[test]
fn random_input_never_panics() {
    const PIECES: &[&str] = &[
        "a", "do", "end", " ", "\n", ",", ":", "=>", "'", "\"", "[", "]", "{", "}", "(", ")", "#", "\\", "1", "-", ".",
        "_if", "k:", ":s", "${x}", "é", "\r", ";", "Ruote.", "define", "\\u", "=begin\n", "\n=end", "1e", "_",
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..3_000 {
        let len = (rng.next() % 64) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse("fuzz.mm", &text).map_err(|e| e.to_string());

        let pieces = (rng.next() % 40) as usize;
        let text: String = (0..pieces).map(|_| PIECES[(rng.next() % PIECES.len() as u64) as usize]).collect();
        let _ = parse("fuzz.mm", &text).map_err(|e| e.to_string());
    }
}

#[test]
fn ruby_word_lists_are_arrays_of_text() {
    let d = ok("set 'f:l' => %w[ a b  c ]\nset 'f:m' => %w(x), n: %w<>");
    assert_eq!(d.root.children[0].attrs[0].1, json!(["a", "b", "c"]));
    assert_eq!(d.root.children[1].attrs[0].1, json!(["x"]));
    assert_eq!(d.root.children[1].attrs[1].1, json!([]));
    let e = err("set 'f:l' => %w[ a b\nnoop");
    assert!(e.to_string().contains("`%w` list without its closing `]`"), "{e}");
}

#[test]
fn an_unclosed_bracket_is_shown_where_it_was_opened() {
    let source = "echo_echo message: 'x', list: ['a', 'b',\n  'c'\nmark_tester name: 'next'\n";
    let e = err(source);
    let text = e.to_string();
    assert!(text.contains("this `[` (line 1) is never closed"), "{text}");
    assert!(text.contains("test.mm:3:"), "{text}");
}

#[test]
fn ruby_ranges_and_regular_expressions() {
    let d =
        ok("iterator on: (2..5).to_a do\n  noop\nend\nset 'f:l' => (0...3).to_a\non_error /unknown\\/x/i => 'pass'");
    assert_eq!(d.root.children[0].attrs[0].1, json!([2, 3, 4, 5]));
    assert_eq!(d.root.children[1].attrs[0].1, json!([0, 1, 2]));
    assert_eq!(attr_keys(&d.root.children[2]), ["/unknown\\/x/i"]);
    // Parentheses that are not a range are still call parentheses.
    let d = ok("echo('hello')");
    assert_eq!(d.root.children[0].args, [json!("hello")]);
    assert!(err("set 'f:l' => (1..100000).to_a").to_string().contains("a range of more than 10000 numbers"));
    assert!(err("on_error /open").to_string().contains("without its closing `/`"));
}

#[test]
fn one_line_blocks() {
    let d = ok("sequence do; alpha; bravo; end\ncharly");
    assert_eq!(d.root.children.len(), 2);
    assert_eq!(d.root.children[0].children.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["alpha", "bravo"]);
}
