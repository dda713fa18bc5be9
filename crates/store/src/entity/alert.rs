//! Abnormal situations for staff (B3): inconsistent sales now, more with B3.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "alerts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub chain_id: i64,
    pub station_id: Option<i64>,
    pub kind: String,
    pub severity: String,
    pub order_id: Option<i64>,
    pub pump_sale_id: Option<i64>,
    /// JSON facts, no personal data.
    pub detail: String,
    /// open, acknowledged, resolved.
    pub status: String,
    pub created_at_us: i64,
    pub acknowledged_by: Option<i64>,
    pub acknowledged_at_us: Option<i64>,
    pub resolved_at_us: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
