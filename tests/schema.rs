//! One schema on two databases: `migrations/sqlite` and
//! `migrations/postgres` are kept by hand (the type names and a few
//! statements differ), so this test applies each to a fresh database and
//! compares what resulted — tables, columns (name, kind of type, nullable,
//! default or not), primary keys, indexes, unique and CHECK constraints,
//! foreign keys. A migration added to one side only fails here, with the
//! difference spelled out.

mod support;

use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet};
use support::engine::{Db, Harness};

/// A table as both databases can describe it.
#[derive(Debug, PartialEq, Eq)]
struct Table {
    /// name, kind of type, NOT NULL, has a default (autoincrement aside)
    columns: Vec<(String, &'static str, bool, bool)>,
    primary_key: Vec<String>,
    /// unique, columns; keyed by the index's name (`-` for the index a
    /// UNIQUE constraint made, whose name each database chooses)
    indexes: BTreeSet<(String, bool, Vec<String>)>,
    /// CHECK constraints, as their text with spaces and case normalized
    checks: BTreeSet<String>,
    /// columns, referenced table, referenced columns
    foreign_keys: BTreeSet<(Vec<String>, String, Vec<String>)>,
}

/// The kind of a column's type: what the data is, whatever each database
/// calls it.
fn kind(declared: &str) -> &'static str {
    let t = declared.to_ascii_lowercase();
    if t.contains("int") || t == "bigserial" || t == "serial" {
        "integer"
    } else if t.contains("char") || t.contains("text") || t.contains("clob") {
        "text"
    } else if t.contains("blob") || t == "bytea" {
        "bytes"
    } else if t.contains("real") || t.contains("double") || t.contains("float") || t.contains("numeric") {
        "real"
    } else if t.contains("bool") {
        "boolean"
    } else {
        "other"
    }
}

/// A CHECK's condition with whitespace, case, casts and parentheses
/// normalized: `state IN ('a', 'b')` on SQLite is
/// `((state = ANY (ARRAY['a'::text, 'b'::text])))` on PostgreSQL.
fn check_text(condition: &str) -> String {
    let lower = condition.to_ascii_lowercase().replace("::text", "").replace("[]", "");
    let values: Vec<&str> = lower.split('\'').skip(1).step_by(2).collect();
    let column: String =
        lower.trim_start_matches(['(', ' ']).chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
    format!("{column} in {values:?}")
}

async fn sqlite_schema(url: &str) -> BTreeMap<String, Table> {
    let pool = sqlx::SqlitePool::connect(url).await.unwrap();
    let mut schema = BTreeMap::new();
    let tables = sqlx::query(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table'
         AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%' ORDER BY name",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    for t in tables {
        let name: String = t.get("name");
        let sql: String = t.get("sql");
        let info = sqlx::query("SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?) ORDER BY cid")
            .bind(&name)
            .fetch_all(&pool)
            .await
            .unwrap();
        let mut primary_key: Vec<(i64, String)> = Vec::new();
        let mut columns = Vec::new();
        for c in &info {
            let column: String = c.get("name");
            let pk: i64 = c.get("pk");
            if pk > 0 {
                primary_key.push((pk, column.clone()));
            }
            let default: Option<String> = c.get("dflt_value");
            let not_null = c.get::<i64, _>("notnull") == 1 || pk > 0;
            columns.push((column, kind(&c.get::<String, _>("type")), not_null, default.is_some()));
        }
        primary_key.sort();
        let mut indexes = BTreeSet::new();
        let list = sqlx::query("SELECT name, \"unique\", origin FROM pragma_index_list(?)")
            .bind(&name)
            .fetch_all(&pool)
            .await
            .unwrap();
        for index in list {
            let origin: String = index.get("origin");
            if origin == "pk" {
                continue;
            }
            let index_name: String = index.get("name");
            let cols = sqlx::query("SELECT name FROM pragma_index_info(?) ORDER BY seqno")
                .bind(&index_name)
                .fetch_all(&pool)
                .await
                .unwrap()
                .iter()
                .map(|r| r.get::<String, _>("name"))
                .collect();
            let label = if origin == "u" { "-".to_owned() } else { index_name };
            indexes.insert((label, index.get::<i64, _>("unique") == 1, cols));
        }
        let mut foreign_keys = BTreeMap::<i64, (Vec<String>, String, Vec<String>)>::new();
        let fks =
            sqlx::query("SELECT id, \"table\", \"from\", \"to\" FROM pragma_foreign_key_list(?) ORDER BY id, seq")
                .bind(&name)
                .fetch_all(&pool)
                .await
                .unwrap();
        for fk in fks {
            let entry = foreign_keys.entry(fk.get("id")).or_insert_with(|| (Vec::new(), fk.get("table"), Vec::new()));
            entry.0.push(fk.get("from"));
            entry.2.push(fk.get("to"));
        }
        // SQLite keeps CHECKs only in the table's text.
        let checks = sql
            .match_indices("CHECK (")
            .map(|(at, _)| {
                let rest = &sql[at + "CHECK ".len()..];
                let mut depth = 0;
                let end = rest
                    .char_indices()
                    .find(|&(_, c)| {
                        depth += match c {
                            '(' => 1,
                            ')' => -1,
                            _ => 0,
                        };
                        depth == 0
                    })
                    .map_or(rest.len(), |(i, _)| i + 1);
                check_text(&rest[..end])
            })
            .collect();
        let table = Table {
            columns,
            primary_key: primary_key.into_iter().map(|(_, c)| c).collect(),
            indexes,
            checks,
            foreign_keys: foreign_keys.into_values().collect(),
        };
        schema.insert(name, table);
    }
    pool.close().await;
    schema
}

async fn postgres_schema(url: &str) -> BTreeMap<String, Table> {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let mut schema = BTreeMap::new();
    let tables = sqlx::query(
        "SELECT table_name::text AS name FROM information_schema.tables
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name NOT LIKE '_sqlx%'
         ORDER BY table_name",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    for t in tables {
        let name: String = t.get("name");
        let info = sqlx::query(
            "SELECT column_name::text AS name, data_type::text AS type, is_nullable::text AS nullable,
                    column_default::text AS dflt
             FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1
             ORDER BY ordinal_position",
        )
        .bind(&name)
        .fetch_all(&pool)
        .await
        .unwrap();
        let columns = info
            .iter()
            .map(|c| {
                let default: Option<String> = c.get("dflt");
                // BIGSERIAL's default is its sequence: SQLite's AUTOINCREMENT.
                let has_default = default.is_some_and(|d| !d.starts_with("nextval("));
                (
                    c.get::<String, _>("name"),
                    kind(&c.get::<String, _>("type")),
                    c.get::<String, _>("nullable") == "NO",
                    has_default,
                )
            })
            .collect();
        let indexes_rows = sqlx::query(
            "SELECT i.relname::text AS name, ix.indisunique AS uniq, ix.indisprimary AS prim,
                    EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = ix.indexrelid AND c.contype = 'u') AS from_unique,
                    ARRAY(SELECT a.attname::text FROM unnest(ix.indkey) WITH ORDINALITY k(n, o)
                          JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.n ORDER BY k.o) AS cols
             FROM pg_index ix JOIN pg_class t ON t.oid = ix.indrelid JOIN pg_class i ON i.oid = ix.indexrelid
             JOIN pg_namespace ns ON ns.oid = t.relnamespace
             WHERE ns.nspname = 'public' AND t.relname = $1",
        )
        .bind(&name)
        .fetch_all(&pool)
        .await
        .unwrap();
        let mut primary_key = Vec::new();
        let mut indexes = BTreeSet::new();
        for index in indexes_rows {
            let cols: Vec<String> = index.get("cols");
            if index.get::<bool, _>("prim") {
                primary_key = cols;
                continue;
            }
            let label = if index.get::<bool, _>("from_unique") { "-".to_owned() } else { index.get("name") };
            indexes.insert((label, index.get::<bool, _>("uniq"), cols));
        }
        let checks = sqlx::query(
            "SELECT pg_get_constraintdef(c.oid) AS def FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
             JOIN pg_namespace ns ON ns.oid = t.relnamespace
             WHERE ns.nspname = 'public' AND t.relname = $1 AND c.contype = 'c'",
        )
        .bind(&name)
        .fetch_all(&pool)
        .await
        .unwrap()
        .iter()
        .map(|r| check_text(r.get::<String, _>("def").trim_start_matches("CHECK ")))
        .collect();
        let foreign_keys = sqlx::query(
            "SELECT ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, o)
                          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.o) AS cols,
                    r.relname::text AS target,
                    ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, o)
                          JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.o) AS target_cols
             FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid JOIN pg_class r ON r.oid = c.confrelid
             JOIN pg_namespace ns ON ns.oid = t.relnamespace
             WHERE ns.nspname = 'public' AND t.relname = $1 AND c.contype = 'f'",
        )
        .bind(&name)
        .fetch_all(&pool)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get("cols"), r.get("target"), r.get("target_cols")))
        .collect();
        schema.insert(name, Table { columns, primary_key, indexes, checks, foreign_keys });
    }
    pool.close().await;
    schema
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_databases_get_the_same_schema() {
    let sqlite = Harness::new(Db::Sqlite).await;
    let postgres = Harness::new(Db::Postgres).await;
    let lite = sqlite_schema(&sqlite.url).await;
    let pg = postgres_schema(&postgres.url).await;
    sqlite.finish().await;
    postgres.finish().await;

    assert!(lite.contains_key("jobs") && lite.contains_key("events"), "tables read: {:?}", lite.keys());
    assert!(lite["jobs"].checks.iter().any(|c| c.starts_with("state in")), "the jobs.state CHECK is seen");
    assert!(lite["jobs"].columns.len() >= 13 && !lite["messages"].indexes.is_empty(), "{:?}", lite["jobs"]);
    assert_eq!(lite["expressions"].primary_key, ["job_id", "fei"]);
    let names: BTreeSet<_> = lite.keys().chain(pg.keys()).collect();
    let mut differences = Vec::new();
    for name in names {
        match (lite.get(name), pg.get(name)) {
            (Some(a), Some(b)) if a == b => {}
            (Some(a), Some(b)) => differences.push(format!("table {name}:\n  sqlite:   {a:?}\n  postgres: {b:?}")),
            (a, _) => {
                differences.push(format!("table {name} only on {}", if a.is_some() { "sqlite" } else { "postgres" }))
            }
        }
    }
    assert!(differences.is_empty(), "the two schemas differ:\n{}", differences.join("\n"));
}

#[test]
fn check_conditions_read_alike_on_both() {
    assert_eq!(
        check_text("(state IN ('pending', 'running'))"),
        check_text("((state = ANY (ARRAY['pending'::text, 'running'::text])))")
    );
}

/// A job stored before its definition tree moved out of its row
/// (`0010_job_definitions`) keeps the tree through the upgrade: a fresh
/// database migrated to 0009 gets a job the way that schema stored it,
/// then `Store::open` runs the rest, on both databases.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_stored_before_the_definitions_moved_keeps_its_tree() {
    sqlx::any::install_default_drivers();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let pg_name = format!("mm_test_{}", uuid::Uuid::now_v7().simple());
    let admin = sqlx::AnyPool::connect(&support::engine::postgres_admin_url()).await.expect("PostgreSQL for tests");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {pg_name}"))).execute(&admin).await.unwrap();
    let pg_url = format!("{}/{pg_name}", support::engine::postgres_admin_url().rsplit_once('/').unwrap().0);
    let databases = [
        (format!("sqlite://{}?mode=rwc", path.display()), format!("sqlite:{}", path.display()), Db::Sqlite),
        (pg_url.clone(), pg_url, Db::Postgres),
    ];
    let tree = serde_json::json!(["sequence", {}, [["noop_noop", {}, []]]]);
    for (raw_url, store_url, db) in databases {
        let raw = sqlx::AnyPool::connect(&raw_url).await.unwrap();
        match db {
            Db::Sqlite => sqlx::migrate!("../migrations/sqlite").run_to(9, &raw).await.unwrap(),
            Db::Postgres => sqlx::migrate!("../migrations/postgres").run_to(9, &raw).await.unwrap(),
        }
        // The tree's JSON has no quote of SQL's own: it is spliced.
        let insert = format!(
            "INSERT INTO jobs (id, tenant, name, definition, state, fields, created_at, updated_at)
             VALUES ('old-job', 'default', 'old', '{tree}', 'completed', '{{\"a\": 1}}', 1, 2)"
        );
        sqlx::query(sqlx::AssertSqlSafe(insert)).execute(&raw).await.unwrap();
        raw.close().await;

        let store = mastermind::store::Store::open(&store_url).await.unwrap();
        let job = store.job("old-job").await.unwrap().expect("the job is still there");
        assert_eq!((job.definition, job.fields["a"].clone()), (tree.clone(), serde_json::json!(1)), "{db:?}");
        let (definition, dry_run) = store.job_definition("old-job").await.unwrap().unwrap();
        assert_eq!((definition, dry_run), (tree.clone(), None), "{db:?}");
        store.close().await;
    }
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {pg_name} WITH (FORCE)")))
        .execute(&admin)
        .await
        .unwrap();
}
