//! Persistence of jiayou: the one migration set for SQLite, PostgreSQL and
//! MariaDB/MySQL, SeaORM entities, the connection rules of each engine, and the
//! encrypted column type for personal data.

pub mod crypto;
pub mod db;
pub mod entity;
pub mod error;
pub mod migration;

pub use db::{Db, now_us};
pub use error::StoreError;
pub use sea_orm;
