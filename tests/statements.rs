//! Every statement the store runs (`mastermind::store::statements`: each
//! fixed text by name, each text built at run time in several shapes) is
//! prepared on a fresh migrated SQLite database and a fresh migrated
//! PostgreSQL database: a statement one database refuses (a dialect
//! difference, a column a migration renamed) fails here, by name, rather
//! than on the first request that runs it.

mod support;

use mastermind::store::{Backend, Statement, statements};
use sqlx::{Connection, Executor, SqlSafeStr};
use std::collections::BTreeSet;
use support::engine::{Db, Harness};

/// The statements `prepare` refused: name, text and the database's error.
fn refused(all: &[Statement], mut prepare: impl FnMut(&str) -> Result<(), String>) -> Vec<String> {
    all.iter().filter_map(|s| prepare(s.sql()).err().map(|e| format!("{}: {e}\n    {}", s.name(), s.sql()))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_statement_is_prepared_on_both_databases() {
    let sqlite = Harness::new(Db::Sqlite).await;
    let postgres = Harness::new(Db::Postgres).await;

    let lite_statements = statements(Backend::Sqlite);
    let path = sqlite.url.strip_prefix("sqlite:").unwrap();
    let conn = rusqlite::Connection::open(path).unwrap();
    let lite = refused(&lite_statements, |sql| conn.prepare(sql).map(drop).map_err(|e| e.to_string()));
    assert!(conn.prepare("SELECT no_such_column FROM jobs").is_err(), "preparing checks the columns");
    drop(conn);

    let pg_statements = statements(Backend::Postgres);
    let mut conn = sqlx::PgConnection::connect(&postgres.url).await.unwrap();
    let mut pg = Vec::new();
    for s in &pg_statements {
        if let Err(e) = conn.prepare(sqlx::AssertSqlSafe(s.sql().to_owned()).into_sql_str()).await {
            pg.push(format!("{}: {e}\n    {}", s.name(), s.sql()));
        }
    }
    let bogus = sqlx::AssertSqlSafe("SELECT no_such_column FROM jobs").into_sql_str();
    assert!(conn.prepare(bogus).await.is_err(), "preparing checks the columns");
    conn.close().await.unwrap();
    sqlite.finish().await;
    postgres.finish().await;

    eprintln!("prepared {} statements on SQLite, {} on PostgreSQL", lite_statements.len(), pg_statements.len());
    assert!(
        lite.is_empty() && pg.is_empty(),
        "SQLite refused {} statements:\n{}\nPostgreSQL refused {}:\n{}",
        lite.len(),
        lite.join("\n"),
        pg.len(),
        pg.join("\n")
    );
    // The catalogue covers the store: some of every kind, and the one
    // statement of each database's own.
    let names = |all: &[Statement]| all.iter().map(|s| s.name()).collect::<BTreeSet<_>>();
    let (lite_names, pg_names) = (names(&lite_statements), names(&pg_statements));
    assert!(lite_names.contains("store::sql::BEGIN_IMMEDIATE") && !pg_names.contains("store::sql::BEGIN_IMMEDIATE"));
    assert!(pg_names.contains("store::wakeup::NOTIFY") && !lite_names.contains("store::wakeup::NOTIFY"));
    assert!(pg_names.contains("store::batches::WRITE_GROUP") && lite_names.contains("store::batches::SET_JOB_STATE"));
    assert!(lite_names.contains("store::work::claim_dispatches_statement"), "{lite_names:?}");
    assert!(lite_names.len() > 80, "{} names", lite_names.len());
}

/// Values are bound, never spliced: every statement's markers run from
/// `$1` to its last without a gap (a builder that numbered its markers
/// wrong would leave one unbound or bind the wrong value).
#[test]
fn markers_are_numbered_without_gaps() {
    for s in statements(Backend::Postgres).iter().chain(&statements(Backend::Sqlite)) {
        let sql = s.sql();
        let markers: BTreeSet<usize> = sql
            .match_indices('$')
            .filter_map(|(i, _)| {
                let digits: String = sql[i + 1..].chars().take_while(char::is_ascii_digit).collect();
                digits.parse().ok()
            })
            .collect();
        let expected: BTreeSet<usize> = (1..=markers.last().copied().unwrap_or(0)).collect();
        assert_eq!(markers, expected, "{}: {sql}", s.name());
    }
}

#[test]
fn fixed_statements_have_distinct_names() {
    let all = statements(Backend::Postgres);
    let fixed: Vec<&str> = all.iter().map(|s| s.name()).filter(|n| !n.ends_with("_statement")).collect();
    let distinct: BTreeSet<&str> = fixed.iter().copied().collect();
    assert_eq!(fixed.len(), distinct.len(), "{fixed:?}");
}
