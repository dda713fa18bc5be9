//! A sale as the pump reported it. Immutable; the order it became is linked.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "pump_sales")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub chain_id: i64,
    pub station_id: i64,
    pub device_id: i64,
    /// The device's own id of the sale: a second report collides.
    pub device_sale_id: String,
    pub nozzle_id: i64,
    pub grade_id: i64,
    pub tank_id: i64,
    pub amount_fen: i64,
    pub quantity: i64,
    pub unit_price_fen: i64,
    pub totalizer: i64,
    pub attendant_staff_id: Option<i64>,
    /// Blind index of the reported plate.
    pub plate_bidx: Option<String>,
    pub authorisation_id: Option<i64>,
    pub order_id: Option<i64>,
    /// SPEC tolerance; 0 raised an alert.
    pub consistent: i32,
    pub reported_at_us: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
