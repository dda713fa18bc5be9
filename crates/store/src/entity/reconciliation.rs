//! One day of one channel merchant's statement compared with our ledger.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "reconciliations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub chain_id: i64,
    pub channel: String,
    pub merchant_id: String,
    /// YYYY-MM-DD, China time (the channels' business day).
    pub bill_date: String,
    /// running, matched (no difference), differences, failed.
    pub status: String,
    pub ours_count: i64,
    pub ours_fen: i64,
    pub theirs_count: i64,
    pub theirs_fen: i64,
    pub difference_count: i64,
    /// JSON list of the differences.
    pub differences: Option<String>,
    pub error: Option<String>,
    pub started_at_us: i64,
    pub finished_at_us: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
