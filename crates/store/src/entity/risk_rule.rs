//! A chain's risk limits for one scope (S1 v1): member, plate or device.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "risk_rules")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub chain_id: i64,
    /// member, plate or device.
    pub scope: String,
    /// A single payment above this is held.
    pub max_single_fen: Option<i64>,
    /// More than this many payments within `window_minutes` are held.
    pub max_count: Option<i32>,
    pub window_minutes: Option<i32>,
    pub updated_at_us: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
