//! Use-cases of jiayou. Each public function here is one thing a user or device can
//! do; it validates the command into domain values, owns the database transaction,
//! and returns a view. HTTP handlers call these and nothing below them.

pub mod chains;
pub mod demo;
pub mod equipment;
pub mod error;
pub mod finder;
pub mod grades;
pub mod paging;
pub mod prices;
pub mod stations;

use std::sync::Arc;

use jiayou_store::Db;
use jiayou_store::crypto::KeyRing;

pub use error::AppError;

/// Everything a use-case needs, cheap to clone (shared pools and keys).
#[derive(Clone)]
pub struct App {
    pub db: Db,
    pub keys: Arc<KeyRing>,
}

impl App {
    pub fn new(db: Db, keys: KeyRing) -> App {
        App { db, keys: Arc::new(keys) }
    }
}

pub type AppResult<T> = Result<T, AppError>;
