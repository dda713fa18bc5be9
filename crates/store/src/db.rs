//! Connecting to the three engines with the settings the money path needs.
//!
//! SQLite: WAL, `synchronous=FULL` and a busy timeout on *every* connection (they are
//! connection settings), and all writes funnelled through a single writer connection:
//! separate writer connections were measured here causing 1–2.5 s lock-wait spikes.
//! Write transactions start with `BEGIN IMMEDIATE` so a read-then-write never fails
//! half-way with "database is locked". PostgreSQL and MySQL use one pool for both.

use std::str::FromStr;
use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;

use crate::migration::Migrator;

/// The database handle: a writer for transactions, a reader pool for queries. On
/// PostgreSQL and MySQL both are the same pool.
#[derive(Clone, Debug)]
pub struct Db {
    write: DatabaseConnection,
    read: DatabaseConnection,
}

/// Current time as microseconds since the Unix epoch, the storage format of instants.
pub fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

impl Db {
    /// Connects to `url` (`sqlite://path?mode=rwc`, `postgres://…`, `mysql://…`).
    /// Creates the parent directory of an SQLite file.
    pub async fn connect(url: &str) -> Result<Db, DbErr> {
        if url.starts_with("sqlite:") {
            Self::connect_sqlite(url).await
        } else {
            let mut opts = ConnectOptions::new(url);
            opts.max_connections(32).min_connections(1).acquire_timeout(Duration::from_secs(10)).sqlx_logging(false);
            let conn = Database::connect(opts).await?;
            Ok(Db { write: conn.clone(), read: conn })
        }
    }

    async fn connect_sqlite(url: &str) -> Result<Db, DbErr> {
        // Validate the URL once with sqlx's own parser so the error names the problem.
        let base =
            SqliteConnectOptions::from_str(url).map_err(|e| DbErr::Custom(format!("invalid SQLite URL: {e}")))?;
        if let Some(parent) = std::path::Path::new(base.get_filename()).parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)
                .map_err(|e| DbErr::Custom(format!("cannot create {}: {e}", parent.display())))?;
        }
        let pool = |max: u32| {
            let mut opts = ConnectOptions::new(url);
            opts.max_connections(max)
                .min_connections(1)
                .acquire_timeout(Duration::from_secs(30))
                .sqlx_logging(false)
                .map_sqlx_sqlite_opts(|o| {
                    o.create_if_missing(true)
                        .journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Full)
                        .busy_timeout(Duration::from_secs(10))
                        .foreign_keys(true)
                });
            opts
        };
        let write = Database::connect(pool(1)).await?;
        let read = Database::connect(pool(8)).await?;
        Ok(Db { write, read })
    }

    pub fn backend(&self) -> DbBackend {
        self.write.get_database_backend()
    }

    /// For queries that only read.
    pub fn reader(&self) -> &DatabaseConnection {
        &self.read
    }

    /// The writer connection, for single statements outside a transaction.
    pub fn writer(&self) -> &DatabaseConnection {
        &self.write
    }

    /// Starts a write transaction: `BEGIN IMMEDIATE` on SQLite, READ COMMITTED-compatible
    /// defaults elsewhere (the money path uses conditional updates, not stricter levels).
    pub async fn begin(&self) -> Result<DatabaseTransaction, DbErr> {
        self.write
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await
    }

    /// Applies every pending migration.
    pub async fn migrate(&self) -> Result<(), DbErr> {
        Migrator::up(&self.write, None).await
    }

    /// Names of applied migrations, oldest first.
    pub async fn applied_migrations(&self) -> Result<Vec<String>, DbErr> {
        Ok(Migrator::get_applied_migrations(&self.write).await?.into_iter().map(|m| m.name().to_owned()).collect())
    }

    /// Cheap round trip for readiness probes.
    pub async fn ping(&self) -> Result<(), DbErr> {
        self.read.ping().await
    }

    pub async fn close(self) -> Result<(), DbErr> {
        self.write.close().await?;
        self.read.close().await
    }
}
