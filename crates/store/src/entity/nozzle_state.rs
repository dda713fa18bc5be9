//! Live state of a nozzle and who holds it. Holds are conditional updates.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "nozzle_states")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub nozzle_id: i64,
    pub station_id: i64,
    /// idle, lifted, fuelling, finished.
    pub status: String,
    pub held_order_id: Option<i64>,
    pub hold_expires_at_us: Option<i64>,
    pub totalizer: i64,
    pub updated_at_us: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
