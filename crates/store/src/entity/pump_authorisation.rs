//! A paid pre-order waiting for its pump.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "pump_authorisations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub chain_id: i64,
    pub station_id: i64,
    pub nozzle_id: i64,
    pub order_id: i64,
    pub preset_amount_fen: Option<i64>,
    pub preset_quantity: Option<i64>,
    pub unit_price_fen: i64,
    pub price_version: i64,
    /// pending, used, cancelled.
    pub status: String,
    pub expires_at_us: i64,
    pub created_at_us: i64,
    pub updated_at_us: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
