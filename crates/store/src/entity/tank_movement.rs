//! Append-only movements of a tank's book stock (sales now; deliveries with B4).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tank_movements")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tank_id: i64,
    pub station_id: i64,
    /// sale, delivery, adjust.
    pub kind: String,
    /// Signed thousandths: a sale is negative.
    pub quantity: i64,
    pub pump_sale_id: Option<i64>,
    pub created_at_us: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
