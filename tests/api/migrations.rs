//! The SQLite and PostgreSQL migrations are twins: after both have run, the
//! two databases have the same tables, columns (types mapped), primary keys,
//! indexes, unique, foreign-key and check constraints. A migration written
//! for one backend only, or a column typed or constrained differently, fails
//! here.

use std::collections::{BTreeMap, BTreeSet};

use monban::store::Db;
use sqlx::Row;

use crate::helpers::{Backend, TestDatabase};

/// What a column holds, in words both backends share.
fn type_class(declared: &str) -> String {
    match declared.to_ascii_uppercase().as_str() {
        // SQLite integers are 64-bit; PostgreSQL's are BIGINT.
        "INTEGER" | "BIGINT" => "integer",
        "TEXT" => "text",
        // PostgreSQL keeps JSON lists as JSONB, SQLite as TEXT.
        "JSONB" => "text",
        // UUIDs and hashes are BLOB in SQLite.
        "UUID" | "BYTEA" | "BLOB" => "bytes",
        "BOOLEAN" => "boolean",
        other => return format!("unmapped {other}"),
    }
    .to_owned()
}

/// Columns, referenced table, referenced columns, ON UPDATE, ON DELETE.
type ForeignKey = (Vec<String>, String, Vec<String>, String, String);

#[derive(Debug, PartialEq, Eq, Default)]
struct Table {
    /// Name, type class, NOT NULL, has a default; in declaration order.
    columns: Vec<(String, String, bool, bool)>,
    primary_key: Vec<String>,
    /// Indexes made by `CREATE INDEX`: name, unique, columns, partial.
    indexes: BTreeSet<(String, bool, Vec<String>, bool)>,
    /// The columns of each UNIQUE constraint (their index names differ).
    unique: BTreeSet<Vec<String>>,
    foreign_keys: BTreeSet<ForeignKey>,
    checks: usize,
}

type Schema = BTreeMap<String, Table>;

async fn sqlite_schema(pool: &sqlx::SqlitePool) -> Schema {
    let mut schema = Schema::new();
    let tables = sqlx::query(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for row in tables {
        let name: String = row.get("name");
        let sql: String = row.get("sql");
        let mut table = Table {
            checks: sql.to_ascii_uppercase().matches("CHECK").count(),
            ..Table::default()
        };
        let columns = sqlx::query(
            "SELECT name, type, \"notnull\" AS not_null, dflt_value IS NOT NULL AS has_default, pk \
             FROM pragma_table_info(?) ORDER BY cid",
        )
        .bind(&name)
        .fetch_all(pool)
        .await
        .unwrap();
        let mut primary_key = Vec::new();
        for c in columns {
            let pk: i64 = c.get("pk");
            let column: String = c.get("name");
            if pk > 0 {
                primary_key.push((pk, column.clone()));
            }
            // A PostgreSQL primary key is NOT NULL by definition.
            let not_null = c.get::<bool, _>("not_null") || pk > 0;
            table.columns.push((
                column,
                type_class(&c.get::<String, _>("type")),
                not_null,
                c.get("has_default"),
            ));
        }
        primary_key.sort();
        table.primary_key = primary_key.into_iter().map(|(_, c)| c).collect();
        let indexes =
            sqlx::query("SELECT name, \"unique\", origin, partial FROM pragma_index_list(?)")
                .bind(&name)
                .fetch_all(pool)
                .await
                .unwrap();
        for index in indexes {
            let index_name: String = index.get("name");
            let columns: Vec<String> = sqlx::query_scalar(
                "SELECT coalesce(name, '(expression)') FROM pragma_index_info(?) ORDER BY seqno",
            )
            .bind(&index_name)
            .fetch_all(pool)
            .await
            .unwrap();
            match index.get::<String, _>("origin").as_str() {
                "c" => {
                    table.indexes.insert((
                        index_name,
                        index.get("unique"),
                        columns,
                        index.get("partial"),
                    ));
                }
                "u" => {
                    table.unique.insert(columns);
                }
                _ => {}
            }
        }
        let keys = sqlx::query(
            "SELECT id, \"table\" AS target, \"from\" AS source, \"to\" AS referenced, \
             on_update, on_delete FROM pragma_foreign_key_list(?) ORDER BY id, seq",
        )
        .bind(&name)
        .fetch_all(pool)
        .await
        .unwrap();
        let mut by_id: BTreeMap<i64, ForeignKey> = BTreeMap::new();
        for key in keys {
            let entry = by_id.entry(key.get("id")).or_insert_with(|| {
                (
                    Vec::new(),
                    key.get("target"),
                    Vec::new(),
                    key.get("on_update"),
                    key.get("on_delete"),
                )
            });
            entry.0.push(key.get("source"));
            // An omitted column list references the primary key.
            let referenced: Option<String> = key.get("referenced");
            entry.2.push(referenced.unwrap_or_default());
        }
        table.foreign_keys = by_id.into_values().collect();
        schema.insert(name, table);
    }
    // Resolve references to a primary key written without its columns.
    let primary_keys: BTreeMap<String, Vec<String>> = schema
        .iter()
        .map(|(name, t)| (name.clone(), t.primary_key.clone()))
        .collect();
    for table in schema.values_mut() {
        table.foreign_keys = std::mem::take(&mut table.foreign_keys)
            .into_iter()
            .map(|(from, target, to, on_update, on_delete)| {
                let to = if to.iter().all(String::is_empty) {
                    primary_keys.get(&target).cloned().unwrap_or(to)
                } else {
                    to
                };
                (from, target, to, on_update, on_delete)
            })
            .collect();
    }
    schema
}

/// PostgreSQL's one-letter referential actions, in SQLite's words.
fn action(code: &str) -> String {
    match code {
        "a" => "NO ACTION",
        "r" => "RESTRICT",
        "c" => "CASCADE",
        "n" => "SET NULL",
        "d" => "SET DEFAULT",
        other => return format!("unknown {other}"),
    }
    .to_owned()
}

async fn postgres_schema(pool: &sqlx::PgPool) -> Schema {
    let mut schema = Schema::new();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE' \
         AND table_name <> '_sqlx_migrations'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    // The columns of a constraint or an index, in their order.
    let columns_of = |list: &str, relation: &str| {
        format!(
            "ARRAY(SELECT a.attname::text FROM unnest({list}) WITH ORDINALITY AS k(attnum, n) \
             JOIN pg_attribute a ON a.attrelid = {relation} AND a.attnum = k.attnum \
             ORDER BY k.n)"
        )
    };
    for name in tables {
        let mut table = Table::default();
        let columns = sqlx::query(
            "SELECT column_name::text AS name, data_type::text AS type, \
             is_nullable = 'NO' AS not_null, column_default IS NOT NULL AS has_default \
             FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 \
             ORDER BY ordinal_position",
        )
        .bind(&name)
        .fetch_all(pool)
        .await
        .unwrap();
        for c in columns {
            table.columns.push((
                c.get("name"),
                type_class(&c.get::<String, _>("type")),
                c.get("not_null"),
                c.get("has_default"),
            ));
        }
        let constraints = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT c.contype::text AS kind, {own} AS columns, \
             coalesce(f.relname::text, '') AS target, {referenced} AS referenced, \
             c.confupdtype::text AS on_update, c.confdeltype::text AS on_delete \
             FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid \
             JOIN pg_namespace ns ON ns.oid = t.relnamespace \
             LEFT JOIN pg_class f ON f.oid = c.confrelid \
             WHERE ns.nspname = 'public' AND t.relname = $1",
            own = columns_of("c.conkey", "c.conrelid"),
            referenced = columns_of("c.confkey", "c.confrelid"),
        )))
        .bind(&name)
        .fetch_all(pool)
        .await
        .unwrap();
        for c in constraints {
            let columns: Vec<String> = c.get("columns");
            match c.get::<String, _>("kind").as_str() {
                "p" => table.primary_key = columns,
                "u" => {
                    table.unique.insert(columns);
                }
                "f" => {
                    table.foreign_keys.insert((
                        columns,
                        c.get("target"),
                        c.get("referenced"),
                        action(&c.get::<String, _>("on_update")),
                        action(&c.get::<String, _>("on_delete")),
                    ));
                }
                "c" => table.checks += 1,
                // NOT NULL constraints (PostgreSQL 18) are in `columns`.
                _ => {}
            }
        }
        let indexes = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT i.relname::text AS name, ix.indisunique AS is_unique, {columns} AS columns, \
             ix.indpred IS NOT NULL AS partial \
             FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid \
             JOIN pg_class t ON t.oid = ix.indrelid \
             JOIN pg_namespace ns ON ns.oid = t.relnamespace \
             WHERE ns.nspname = 'public' AND t.relname = $1 \
             AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = ix.indexrelid)",
            columns = columns_of("ix.indkey::int2[]", "ix.indrelid"),
        )))
        .bind(&name)
        .fetch_all(pool)
        .await
        .unwrap();
        for index in indexes {
            table.indexes.insert((
                index.get("name"),
                index.get("is_unique"),
                index.get("columns"),
                index.get("partial"),
            ));
        }
        schema.insert(name, table);
    }
    schema
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_postgres_migrations_make_the_same_schema() {
    let Some(postgres) = TestDatabase::create(Backend::Postgres).await else {
        eprintln!("skipped: set TEST_POSTGRES_URL to compare with PostgreSQL");
        return;
    };
    let sqlite = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let (Db::Sqlite(lite), Db::Postgres(pg)) = (
        Db::connect(&sqlite.url).await.unwrap(),
        Db::connect(&postgres.url).await.unwrap(),
    ) else {
        panic!("the URLs name one backend each");
    };
    Db::Sqlite(lite.clone()).migrate().await.unwrap();
    Db::Postgres(pg.clone()).migrate().await.unwrap();
    let (lite_schema, pg_schema) = (sqlite_schema(&lite).await, postgres_schema(&pg).await);
    assert!(lite_schema.len() > 10, "{lite_schema:#?}");
    let names = |s: &Schema| s.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&lite_schema), names(&pg_schema), "the tables differ");
    for (name, lite_table) in &lite_schema {
        assert_eq!(
            lite_table, &pg_schema[name],
            "table {name} differs (left: SQLite, right: PostgreSQL)"
        );
    }
    // The comparison sees a difference: one more index on one side.
    sqlx::query("CREATE INDEX grants_extra ON grants (revoked_at)")
        .execute(&lite)
        .await
        .unwrap();
    assert_ne!(sqlite_schema(&lite).await["grants"], pg_schema["grants"]);
    pg.close().await;
}

/// `monban migrate --status` and `--dry-run` change nothing and say where
/// the database stands; a database migrated by a newer monban (a version
/// this build does not know) is refused with one line naming it.
async fn migrate_status_dry_run_and_newer(backend: crate::helpers::Backend) {
    use crate::helpers::{TestDatabase, free_port, run_cli};
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    // An SQLite database must exist to be looked at (an empty file is one).
    if let Some(path) = db.url.strip_prefix("sqlite://") {
        std::fs::File::create(path).unwrap();
    }
    let env = [("MONBAN_DATABASE_URL", db.url.as_str())];
    let status = |args: &[&str]| {
        let mut all = vec!["migrate", "--json"];
        all.extend_from_slice(args);
        run_cli(&all, &env, None).ok_json()
    };
    let fresh = status(&["--status"]);
    assert!(
        fresh["status"]["applied"].as_array().unwrap().is_empty(),
        "{fresh}"
    );
    let pending = fresh["status"]["pending"].as_array().unwrap().len();
    assert!(pending >= 14, "{fresh}");
    let dry = run_cli(&["migrate", "--dry-run"], &env, None);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(
        dry.stdout.contains("pending 0001 foundation"),
        "{}",
        dry.stdout
    );
    assert!(dry.stdout.contains("CREATE TABLE users"), "{}", dry.stdout);
    let still = status(&["--status"]);
    assert_eq!(
        still["status"]["pending"].as_array().unwrap().len(),
        pending,
        "a dry run applies nothing"
    );

    status(&[]);
    let done = status(&["--status"]);
    assert!(
        done["status"]["pending"].as_array().unwrap().is_empty(),
        "{done}"
    );
    assert_eq!(done["status"]["applied"].as_array().unwrap().len(), pending);

    // A newer monban's migration.
    let future = "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
                  VALUES (99990101, 'from the future', TRUE, $1, 0)";
    match backend {
        crate::helpers::Backend::Sqlite => {
            use sqlx::Connection;
            let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            sqlx::query(future)
                .bind(vec![0u8])
                .execute(&mut c)
                .await
                .unwrap();
        }
        crate::helpers::Backend::Postgres => {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::query(future)
                .bind(vec![0u8])
                .execute(&mut c)
                .await
                .unwrap();
        }
    }
    let newer = status(&["--status"]);
    assert_eq!(
        newer["status"]["unknown"],
        serde_json::json!([99990101]),
        "{newer}"
    );
    let listen = format!("127.0.0.1:{}", free_port());
    let serve = run_cli(
        &["serve"],
        &[
            ("MONBAN_DATABASE_URL", db.url.as_str()),
            ("MONBAN_LISTEN", &listen),
        ],
        None,
    );
    assert_ne!(serve.code, 0);
    let lines: Vec<&str> = serve.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {}", serve.stderr);
    assert!(
        lines[0].contains("99990101") && lines[0].contains("newer monban"),
        "{}",
        serve.stderr
    );
}

#[tokio::test]
async fn migrate_status_dry_run_and_newer_sqlite() {
    migrate_status_dry_run_and_newer(crate::helpers::Backend::Sqlite).await;
}

#[tokio::test]
async fn migrate_status_dry_run_and_newer_postgres() {
    migrate_status_dry_run_and_newer(crate::helpers::Backend::Postgres).await;
}
