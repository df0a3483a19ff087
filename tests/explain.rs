//! `apiforge explain` against the real Postgres: a table with an index on one filter
//! column and none on the other must flag exactly the unindexed one.

use std::process::{Command, Output};

use sqlx::{Connection, Executor, PgConnection};

const ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A fresh database, dropped on drop.
struct TestDb {
    name: String,
    url: String,
    rt: tokio::runtime::Runtime,
}

impl TestDb {
    fn new(ddl: &str) -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!("apiforge_test_explain_{}_{nanos}", std::process::id());
        let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
        rt.block_on(async {
            let mut admin = PgConnection::connect(ADMIN_URL).await.unwrap();
            admin
                .execute(format!("CREATE DATABASE {name}").as_str())
                .await
                .unwrap();
            let mut conn = PgConnection::connect(&url).await.unwrap();
            conn.execute(ddl).await.unwrap();
        });
        Self { name, url, rt }
    }

    fn exec(&self, sql: &str) {
        self.rt.block_on(async {
            let mut conn = PgConnection::connect(&self.url).await.unwrap();
            conn.execute(sql).await.unwrap();
        });
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        self.rt.block_on(async {
            if let Ok(mut admin) = PgConnection::connect(ADMIN_URL).await {
                let _ = admin
                    .execute(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name).as_str())
                    .await;
            }
        });
    }
}

const SPEC: &str = "name: shop
resources:
  products:
    fields:
      id: { type: bigserial, primary_key: true }
      name: { type: string }
      category: { type: string }
      created_at: { type: timestamp, default: now, readonly: true }
    indexes: [[category], [created_at]]
    filters: [category, name]
    sort: { default: -created_at, allowed: [created_at] }
";

/// The schema the spec describes: `name` is a filter without an index.
const DDL: &str = "
CREATE TABLE products (
  id bigserial PRIMARY KEY,
  name text NOT NULL,
  category text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX products_category_idx ON products (category);
CREATE INDEX products_created_at_idx ON products (created_at);
INSERT INTO products (name, category)
  SELECT 'p' || g, 'c' || (g % 10) FROM generate_series(1, 200) g;
ANALYZE products;
";

fn explain(url: &str, spec: &str, extra: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("apiforge.yaml");
    std::fs::write(&path, spec).unwrap();
    Command::new(env!("CARGO_BIN_EXE_apiforge"))
        .args(["explain", "--database-url", url, "--spec"])
        .arg(&path)
        .args(extra)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn flags_the_unindexed_filter_and_only_it() {
    let db = TestDb::new(DDL);
    for extra in [&[][..], &["--analyze"][..]] {
        let out = explain(&db.url, SPEC, extra);
        let report = text(&out);
        assert_eq!(out.status.code(), Some(1), "{report}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let warnings: Vec<&str> = stdout
            .lines()
            .filter(|l| l.starts_with("WARNING"))
            .collect();
        assert_eq!(warnings.len(), 1, "{report}");
        assert!(
            warnings[0].starts_with("WARNING products.list?name:"),
            "{report}"
        );
        assert!(
            warnings[0].ends_with("add to resources.products.indexes: [name, created_at]"),
            "{report}"
        );
        // The indexed filter and the get route use their indexes.
        let row = |shape: &str| {
            stdout
                .lines()
                .find(|l| l.starts_with(&format!("{shape} ")))
                .unwrap_or_else(|| panic!("no row {shape}: {report}"))
        };
        assert!(
            row("products.list?category").contains("products_category_idx"),
            "{report}"
        );
        assert!(row("products.list?category").ends_with("ok"), "{report}");
        assert!(row("products.get").contains("products_pkey"), "{report}");
        assert!(
            row("products.list.-created_at").contains("products_created_at_idx"),
            "{report}"
        );
    }

    // With the index the warning named, every shape passes.
    db.exec("CREATE INDEX products_name_created_at_idx ON products (name, created_at)");
    let out = explain(&db.url, SPEC, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("WARNING"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_sort_without_an_index_is_flagged() {
    let db = TestDb::new(DDL);
    let spec = SPEC
        .replace("filters: [category, name]", "filters: [category]")
        .replace("allowed: [created_at]", "allowed: [created_at, name]");
    let out = explain(&db.url, &spec, &[]);
    let report = text(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        report.contains("WARNING products.list.name: Seq Scan on products for sort `name`; add to resources.products.indexes: [name]"),
        "{report}"
    );
}

#[test]
fn missing_schema_or_database_is_bad_input() {
    let db = TestDb::new("SELECT 1");
    let out = explain(&db.url, SPEC, &[]);
    let report = text(&out);
    assert_eq!(out.status.code(), Some(2), "{report}");
    assert!(
        report.contains("relation \"products\" does not exist"),
        "{report}"
    );
    assert!(report.contains("is the database migrated"), "{report}");

    let out = explain("postgres://postgres@127.0.0.1:1/nothing", SPEC, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("cannot connect to the database"),
        "{}",
        text(&out)
    );
}
