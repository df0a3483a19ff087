//! `startup::revert` against a real Postgres: the last applied migration is reverted with
//! its `.down.sql`; one without a down file, or edited since it ran, is refused with
//! nothing reverted (where sqlx's own `undo` would skip it and revert an earlier one); a
//! down that fails reverts nothing.

mod support;

use std::path::PathBuf;

use apiforge_runtime::startup;
use sqlx::migrate::Migrator;
use support::TestDb;

/// A folder of migration files (removed on drop).
struct Folder(PathBuf);

impl Folder {
    fn new(files: &[(&str, &str)]) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("apiforge_revert_{}_{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let folder = Folder(dir);
        for (name, sql) in files {
            folder.write(name, sql);
        }
        folder
    }

    fn write(&self, name: &str, sql: &str) {
        std::fs::write(self.0.join(name), sql).expect("write a migration");
    }

    async fn migrator(&self) -> Migrator {
        Migrator::new(self.0.as_path()).await.expect("migrations")
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const INIT: (&str, &str) = ("0001_init.sql", "CREATE TABLE t (id integer);");
const INDEX_UP: (&str, &str) = ("0002_index.up.sql", "CREATE INDEX t_id_idx ON t (id);");
const INDEX_DOWN: (&str, &str) = ("0002_index.down.sql", "DROP INDEX t_id_idx;");

async fn versions(db: &TestDb) -> Vec<i64> {
    sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
        .fetch_all(&db.pool)
        .await
        .expect("versions")
}

async fn has_index(db: &TestDb) -> bool {
    sqlx::query_scalar("SELECT to_regclass('t_id_idx') IS NOT NULL")
        .fetch_one(&db.pool)
        .await
        .expect("to_regclass")
}

#[tokio::test]
async fn the_last_migration_is_reverted_with_its_down_file() {
    let db = TestDb::new().await;
    let folder = Folder::new(&[INIT, INDEX_UP, INDEX_DOWN]);
    let migrator = folder.migrator().await;
    startup::migrate(&db.pool, &migrator)
        .await
        .expect("migrate");
    assert!(has_index(&db).await);

    let done = startup::revert(&db.pool, &migrator).await.expect("revert");
    assert_eq!(
        done,
        "reverted migrations/0002_index.up.sql with migrations/0002_index.down.sql"
    );
    assert!(!has_index(&db).await);
    assert_eq!(versions(&db).await, [1]);

    // 0001_init.sql has no down file.
    let refused = startup::revert(&db.pool, &migrator)
        .await
        .expect_err("no down file")
        .to_string();
    assert!(
        refused
            .starts_with("migrations/0001_init.sql, the last migration applied, has no down file")
            && refused.contains("Nothing was reverted"),
        "{refused}"
    );
    assert_eq!(versions(&db).await, [1]);
}

#[tokio::test]
async fn a_last_migration_without_a_down_file_is_never_skipped() {
    let db = TestDb::new().await;
    let folder = Folder::new(&[
        INIT,
        INDEX_UP,
        INDEX_DOWN,
        ("0003_column.sql", "ALTER TABLE t ADD COLUMN c integer;"),
    ]);
    let migrator = folder.migrator().await;
    startup::migrate(&db.pool, &migrator)
        .await
        .expect("migrate");
    let refused = startup::revert(&db.pool, &migrator)
        .await
        .expect_err("0003 has no down file")
        .to_string();
    assert!(
        refused.starts_with(
            "migrations/0003_column.sql, the last migration applied, has no down file"
        ),
        "{refused}"
    );
    // 0002 was not reverted in its place.
    assert!(has_index(&db).await);
    assert_eq!(versions(&db).await, [1, 2, 3]);
}

#[tokio::test]
async fn an_edited_or_failing_migration_is_not_reverted() {
    let db = TestDb::new().await;
    let folder = Folder::new(&[INIT, INDEX_UP, INDEX_DOWN]);
    startup::migrate(&db.pool, &folder.migrator().await)
        .await
        .expect("migrate");

    // Edited since it ran: its down may not undo what ran.
    folder.write("0002_index.up.sql", "CREATE INDEX t_id_idx ON t (id DESC);");
    let refused = startup::revert(&db.pool, &folder.migrator().await)
        .await
        .expect_err("edited")
        .to_string();
    assert!(
        refused.starts_with("migrations/0002_index.up.sql was edited after it was applied"),
        "{refused}"
    );
    folder.write(INDEX_UP.0, INDEX_UP.1);

    // A down that fails (here: on purpose) rolls back whole.
    folder.write("0002_index.down.sql", "DROP INDEX t_id_idx; SELECT 1 / 0;");
    let failed = startup::revert(&db.pool, &folder.migrator().await)
        .await
        .expect_err("division by zero")
        .to_string();
    assert!(
        failed.starts_with(
            "reverting migrations/0002_index.up.sql failed in migrations/0002_index.down.sql: "
        ) && failed.contains("division by zero")
            && failed.contains("nothing of it was applied"),
        "{failed}"
    );
    assert!(has_index(&db).await);
    assert_eq!(versions(&db).await, [1, 2]);
}
