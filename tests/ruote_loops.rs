//! Ruote's functional tests for the looping and waiting expressions
//! (`test/functional/eft_*.rb` in jmettraux/ruote: cursor, iterator, loop,
//! concurrent_iterator, command, ref, wait; so far cursor), translated as in `ruote.rs`:
//! each case keeps Ruote's definition (in this language), and what Ruote
//! asserts. Ruote's catch-all participants become the tester's `mark` action
//! (it appends `name` to the field `trail`) or `echo`; the Ruby participants
//! that set `__command__` become `set_tester __command__: [...]`. Every case
//! runs on SQLite and on PostgreSQL.

mod support;

use support::engine::{Db, Harness, assert_trace, on_both};

// eft_14_cursor: 11 of 27 so far — test_empty_cursor, test_cursor,
// test_skip, test_break, test_stop, test_over, test_jump_to_tag,
// test_rewind_if, test_jump_to, test_jump_to_participant_name,
// test_jump_to_participant_ref_name (Ruby participants become subprocesses
// and `inc`/`_if`). test_jump_to_variable_tag differs (the jump to a
// computed tag is ignored); the rest are not translated yet.
on_both!(eft_14_cursor, |h| {
    // test_empty_cursor, test_cursor
    assert_trace(h, "cursor do\nend", &[]).await;
    assert_trace(h, "cursor do\n  echo 'a'\n  echo 'b'\nend", &["a", "b"]).await;
    // test_skip
    assert_trace(h, "cursor do\n  echo 'a'\n  skip 1\n  echo 'b'\n  echo 'c'\nend", &["a", "c"]).await;
    // test_break, test_stop, test_over
    for command in ["_break", "stop", "over"] {
        assert_trace(h, &format!("cursor do\n  echo 'a'\n  {command}\n  echo 'b'\nend"), &["a"]).await;
    }
    // test_jump_to_tag
    let source = "cursor do\n  echo 'a'\n  jump to: 'ctag'\n  echo 'b'\n  echo 'c', tag: 'ctag'\nend";
    assert_trace(h, source, &["a", "c"]).await;
    // test_rewind_if: Ruby's alpha (here a sequence, the cursor's only
    // child, as alpha was) counts, and asks for a rewind below 5.
    let source = "sequence do
  set f: 'counter', val: 0
  set f: 'rewind', val: false
  cursor rewind_if: '${f:rewind}' do
    sequence do
      echo 'a'
      inc 'f:counter'
      _if '${f:counter} < 5' do
        set 'f:rewind' => true
        set 'f:rewind' => false
      end
    end
  end
end";
    assert_trace(h, source, &["a"; 5]).await;
    // test_jump_to: the participants are subprocesses, the jump names one.
    let source = "cursor do
  author
  reviewer
  jump to: 'author', if: '${not_ok}'
  publisher
end
define 'author' do
  echo 'a'
  inc 'f:count'
end
define 'reviewer' do
  echo 'r'
  _if '${f:count} < 3' do
    set 'f:not_ok' => true
    set 'f:not_ok' => false
  end
end
define 'publisher' do
  echo 'p'
end";
    assert_trace(h, source, &["a", "r", "a", "r", "a", "r", "p"]).await;
    // test_jump_to_participant_name, test_jump_to_participant_ref_name
    let subs = "\ndefine 'a' do\n  echo 'a'\nend\ndefine 'b' do\n  echo 'b'\nend\ndefine 'c' do\n  echo 'c'\nend";
    let source =
        format!("cursor do\n  participant 'a'\n  jump to: 'c'\n  participant 'b'\n  participant 'c'\nend{subs}");
    assert_trace(h, &source, &["a", "c"]).await;
    let source = format!(
        "cursor do\n  participant ref: 'a'\n  jump to: 'c'\n  participant ref: 'b'\n  participant ref: 'c'\nend{subs}"
    );
    assert_trace(h, &source, &["a", "c"]).await;
});
