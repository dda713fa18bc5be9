//! Events written in the transaction of the change; publishers and pollers read them.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub chain_id: i64,
    pub station_id: Option<i64>,
    pub member_id: Option<i64>,
    pub order_id: Option<i64>,
    /// order.paid, order.completed, nozzle.status, …
    pub topic: String,
    pub payload: String,
    pub created_at_us: i64,
    pub published_at_us: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
