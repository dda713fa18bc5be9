//! The one migration set. It runs unchanged on SQLite, PostgreSQL and MariaDB/MySQL;
//! where the engines differ (binary columns, collation) the helpers below branch on the
//! backend, so each migration reads as a schema, not as three dialects.
//!
//! Conventions, fixed here for every later table:
//! - ids are BIGINT auto-increment;
//! - instants are BIGINT microseconds since the Unix epoch, UTC (`*_at_us`): exact on all
//!   three engines (MariaDB's `timestamp` silently corrupts values outside 1970–2038);
//! - money is BIGINT fen, quantities BIGINT thousandths of the grade's unit;
//! - personal data lives only in `sealed` columns (see `crate::crypto`) with a `*_bidx`
//!   blind-index column beside it when exact lookups are needed;
//! - "retired" rows keep their history; a nullable `active_*` column carries the
//!   uniqueness of live rows only (NULLs never collide in a unique index on any engine).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

mod m0001_platform;
mod m0002_identity;
mod m0003_audit;
mod m0004_members;
mod m0005_money;
mod m0006_channels;
mod m0007_inventory;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_platform::Migration),
            Box::new(m0002_identity::Migration),
            Box::new(m0003_audit::Migration),
            Box::new(m0004_members::Migration),
            Box::new(m0005_money::Migration),
            Box::new(m0006_channels::Migration),
            Box::new(m0007_inventory::Migration),
        ]
    }
}

/// The engine a migration runs on, with what the DDL helpers need to know about it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Engine {
    pub backend: DbBackend,
    /// MySQL family only: a binary, NO PAD collation, so unique keys compare exactly as
    /// on the other engines. MariaDB calls it `utf8mb4_nopad_bin`; MySQL 8 and TiDB
    /// call it `utf8mb4_0900_bin` (their `utf8mb4_bin` ignores trailing spaces).
    pub collation: Option<&'static str>,
}

impl Engine {
    pub async fn detect(m: &SchemaManager<'_>) -> Result<Engine, DbErr> {
        let backend = m.get_database_backend();
        let collation = if backend == DbBackend::MySql {
            let row = m
                .get_connection()
                .query_one_raw(sea_orm_migration::sea_orm::Statement::from_string(backend, "SELECT VERSION()"))
                .await?;
            let version: String = row.map(|r| r.try_get_by_index(0)).transpose()?.unwrap_or_default();
            Some(if version.contains("MariaDB") { "utf8mb4_nopad_bin" } else { "utf8mb4_0900_bin" })
        } else {
            None
        };
        Ok(Engine { backend, collation })
    }
}

/// `BIGINT` auto-increment primary key named `id`.
pub(crate) fn id() -> ColumnDef {
    ColumnDef::new("id").big_integer().not_null().auto_increment().primary_key().to_owned()
}

pub(crate) fn big(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).big_integer().not_null().to_owned()
}

pub(crate) fn big_null(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).big_integer().null().to_owned()
}

pub(crate) fn int(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).integer().not_null().to_owned()
}

pub(crate) fn int_null(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).integer().null().to_owned()
}

pub(crate) fn string(name: &'static str, len: u32) -> ColumnDef {
    ColumnDef::new(name).string_len(len).not_null().to_owned()
}

pub(crate) fn string_null(name: &'static str, len: u32) -> ColumnDef {
    ColumnDef::new(name).string_len(len).null().to_owned()
}

pub(crate) fn text(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).text().not_null().to_owned()
}

/// Nullable text that may exceed 64 KiB (JSON documents): MariaDB's `text` stops at
/// 64 KiB, so it gets `longtext`; the others' `text` has no such limit.
pub(crate) fn long_text_null(engine: Engine, name: &'static str) -> ColumnDef {
    let mut c = ColumnDef::new(name);
    match engine.backend {
        DbBackend::MySql => c.custom("longtext"),
        _ => c.text(),
    };
    c.null().to_owned()
}

/// An encrypted personal-data column (AES-256-GCM, see `crate::crypto`). MariaDB's
/// `blob` stops at 64 KiB, so it gets `longblob`; the others have no such limit.
pub(crate) fn sealed(engine: Engine, name: &'static str, nullable: bool) -> ColumnDef {
    let mut c = ColumnDef::new(name);
    match engine.backend {
        DbBackend::MySql => c.custom("longblob"),
        _ => c.blob(),
    };
    if nullable {
        c.null()
    } else {
        c.not_null()
    };
    c.to_owned()
}

/// A table with the engine options every table gets: on MySQL/MariaDB InnoDB with a
/// binary NO PAD collation, so that unique keys compare exactly as on the other engines
/// (the default collation is case- and trailing-space-insensitive).
pub(crate) fn table(engine: Engine, name: &'static str) -> TableCreateStatement {
    let mut t = Table::create();
    t.table(name);
    if let Some(collation) = engine.collation {
        t.engine("InnoDB").character_set("utf8mb4").collate(collation);
    }
    t
}

pub(crate) fn fk(from: &'static str, col: &'static str, to: &'static str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{from}_{col}"))
        .from(from, col)
        .to(to, "id")
        .on_delete(ForeignKeyAction::Restrict)
        .on_update(ForeignKeyAction::Restrict)
        .to_owned()
}

pub(crate) fn index(
    name: &'static str,
    table: &'static str,
    cols: &[&'static str],
    unique: bool,
) -> IndexCreateStatement {
    let mut i = Index::create();
    i.name(name).table(table);
    for c in cols {
        i.col(*c);
    }
    if unique {
        i.unique();
    }
    i.to_owned()
}
