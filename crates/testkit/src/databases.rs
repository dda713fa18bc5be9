//! Fresh databases per test on each engine, created the cheap way for that engine.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use jiayou_store::Db;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, Statement};
use tokio::sync::OnceCell;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    MySql,
}

impl Backend {
    fn server_url(self) -> Option<String> {
        let var = match self {
            Backend::Sqlite => return None,
            Backend::Postgres => "JIAYOU_TEST_POSTGRES_URL",
            Backend::MySql => "JIAYOU_TEST_MYSQL_URL",
        };
        std::env::var(var).ok().filter(|v| !v.trim().is_empty())
    }
}

/// A database that lives as long as the test.
pub struct TestDatabase {
    url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    /// The temp dir holding the file; removed on drop.
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    /// Drop this PostgreSQL database (server URL, name).
    Postgres(String, String),
    /// Shared MariaDB database: nothing to drop per test.
    Shared,
}

impl TestDatabase {
    pub fn url(&self) -> &str {
        &self.url
    }

    pub async fn create(backend: Backend) -> Option<TestDatabase> {
        match backend {
            Backend::Sqlite => Some(sqlite().await),
            Backend::Postgres => Some(postgres(backend.server_url()?).await),
            Backend::MySql => Some(mysql(backend.server_url()?).await),
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Cleanup::Postgres(server, name) = &self.cleanup {
            let (server, name) = (server.clone(), name.clone());
            // Drop is synchronous; use a private runtime on a helper thread.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
                rt.block_on(async {
                    let admin = single(&server).await;
                    exec(&admin, &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await;
                    admin.close().await.ok()
                })
            })
            .join();
        }
    }
}

/// A fingerprint of the migration sources: a changed migration gets a new template.
fn schema_fingerprint() -> String {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../store/src/migration");
    let mut files: Vec<_> =
        std::fs::read_dir(&dir).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    files.sort();
    // FNV-1a: stable across Rust versions, unlike `DefaultHasher`.
    let mut h: u64 = 0xcbf29ce484222325;
    for f in files {
        for b in std::fs::read(&f).unwrap_or_default() {
            h = (h ^ u64::from(b)).wrapping_mul(0x100000001b3);
        }
    }
    format!("{:012x}", h & 0xffff_ffff_ffff)
}

fn next_name() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("jiayou_t_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

async fn single(url: &str) -> DatabaseConnection {
    let mut o = ConnectOptions::new(url);
    o.max_connections(1).min_connections(1).sqlx_logging(false);
    Database::connect(o).await.unwrap_or_else(|e| panic!("cannot reach test database server: {e}"))
}

async fn exec(conn: &DatabaseConnection, sql: &str) {
    conn.execute_raw(Statement::from_string(conn.get_database_backend(), sql.to_owned()))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn names(conn: &DatabaseConnection, sql: &str) -> Vec<String> {
    conn.query_all_raw(Statement::from_string(conn.get_database_backend(), sql.to_owned()))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .filter_map(|r| r.try_get_by_index::<String>(0).ok())
        .collect()
}

fn with_database(server: &str, name: &str) -> String {
    let mut u = url::Url::parse(server).expect("test database URL parses");
    u.set_path(&format!("/{name}"));
    u.to_string()
}

fn pid_alive(name: &str) -> bool {
    let pid = name.trim_start_matches("jiayou_t_").split('_').next().unwrap_or("");
    PathBuf::from(format!("/proc/{pid}")).exists()
}

// ---------- SQLite: copy a migrated template file ----------

async fn sqlite() -> TestDatabase {
    static TEMPLATE: OnceCell<(tempfile::TempDir, PathBuf)> = OnceCell::const_new();
    let (_, template) = TEMPLATE
        .get_or_init(|| async {
            let dir = tempfile::tempdir().expect("temp dir");
            let path = dir.path().join("template.db");
            let db = Db::connect(&format!("sqlite://{}?mode=rwc", path.display())).await.expect("template db");
            db.migrate().await.expect("migrate template");
            // Closing checkpoints the WAL into the main file, so a plain copy is complete.
            db.close().await.expect("close template");
            (dir, path)
        })
        .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("test.db");
    std::fs::copy(template, &path).expect("copy template");
    TestDatabase { url: format!("sqlite://{}?mode=rwc", path.display()), cleanup: Cleanup::Sqlite(dir) }
}

// ---------- PostgreSQL: CREATE DATABASE … TEMPLATE ----------

async fn postgres(server: String) -> TestDatabase {
    let template = format!("jiayou_tpl_{}", schema_fingerprint());
    let admin = single(&server).await;
    // One process at a time builds the template or clones it: PostgreSQL refuses to
    // clone a database that another session is connected to.
    exec(&admin, "SELECT pg_advisory_lock(7158242)").await;
    static SWEPT: OnceCell<()> = OnceCell::const_new();
    SWEPT
        .get_or_init(|| async {
            for old in names(&admin, "SELECT datname FROM pg_database WHERE datname LIKE 'jiayou\\_t\\_%'").await {
                if !pid_alive(&old) {
                    exec(&admin, &format!("DROP DATABASE IF EXISTS \"{old}\" WITH (FORCE)")).await;
                }
            }
        })
        .await;
    let exists =
        !names(&admin, &format!("SELECT datname FROM pg_database WHERE datname = '{template}'")).await.is_empty();
    if !exists {
        exec(&admin, &format!("CREATE DATABASE \"{template}\"")).await;
        let db = Db::connect(&with_database(&server, &template)).await.expect("connect template");
        db.migrate().await.expect("migrate template");
        db.close().await.expect("close template");
    }
    let name = next_name();
    exec(&admin, &format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\"")).await;
    exec(&admin, "SELECT pg_advisory_unlock(7158242)").await;
    admin.close().await.ok();
    TestDatabase { url: with_database(&server, &name), cleanup: Cleanup::Postgres(server, name) }
}

// ---------- MariaDB/MySQL: one migrated database per schema version ----------

async fn mysql(server: String) -> TestDatabase {
    let name = format!("jiayou_t_shared_{}", schema_fingerprint());
    static READY: OnceCell<()> = OnceCell::const_new();
    let url = with_database(&server, &name);
    READY
        .get_or_init(|| async {
            let admin = single(&server).await;
            // GET_LOCK belongs to the connection, hence the single-connection pool.
            exec(&admin, "SELECT GET_LOCK('jiayou_test_schema', 120)").await;
            let stale =
                "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'jiayou\\_t\\_shared\\_%'";
            for old in names(&admin, stale).await.into_iter().filter(|n| *n != name) {
                exec(&admin, &format!("DROP DATABASE IF EXISTS `{old}`")).await;
            }
            exec(
                &admin,
                &format!("CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin"),
            )
            .await;
            let db = Db::connect(&url).await.expect("connect shared test db");
            db.migrate().await.expect("migrate shared test db");
            db.close().await.expect("close");
            exec(&admin, "SELECT RELEASE_LOCK('jiayou_test_schema')").await;
            admin.close().await.ok();
        })
        .await;
    TestDatabase { url, cleanup: Cleanup::Shared }
}
