//! A payment a risk rule held for review; staff release or refund it.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "risk_holds")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub chain_id: i64,
    pub station_id: Option<i64>,
    pub order_id: i64,
    /// The rule's scope that fired: member, plate or device.
    pub scope: String,
    /// What the rule saw (zh-CN), for the reviewer.
    pub reason: String,
    /// pending, released or refunded.
    pub status: String,
    pub created_at_us: i64,
    pub decided_at_us: Option<i64>,
    pub decided_by: Option<i64>,
    pub note: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
