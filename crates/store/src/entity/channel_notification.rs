//! Every verified channel notification and what was done with it; unknown orders stay parked for staff.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "channel_notifications")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub channel: String,
    /// payment or refund.
    pub kind: String,
    pub out_trade_no: Option<String>,
    pub out_refund_no: Option<String>,
    pub amount_fen: i64,
    /// applied, duplicate, parked, refunded_late, mismatch.
    pub outcome: String,
    /// The verified, decrypted notification.
    pub body: Option<String>,
    pub received_at_us: i64,
    /// The payment's chain, or the chain of the instance that verified it; `None` for a
    /// deployment-wide instance and an unknown order.
    pub chain_id: Option<i64>,
    /// Staff looked at a parked notification and said what was done.
    pub resolved_at_us: Option<i64>,
    pub resolved_by: Option<i64>,
    pub resolution: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
