//! Money given back for an order: by staff, underfill (预付退差), cancellation or a late channel success.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "refunds")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub chain_id: i64,
    pub order_id: i64,
    pub out_refund_no: String,
    pub amount_fen: i64,
    pub reason: String,
    /// staff, underfill, cancel, expire, late_payment.
    pub kind: String,
    /// pending (channel part in flight) or succeeded.
    pub status: String,
    /// JSON [[tender, fen], …]: how it went back.
    pub lines: String,
    pub staff_id: Option<i64>,
    pub points_reversed: i64,
    pub created_at_us: i64,
    pub settled_at_us: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
