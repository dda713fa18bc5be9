//! Append-only money and points movements. Never updated or deleted.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ledger_entries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub chain_id: i64,
    pub station_id: Option<i64>,
    pub member_id: Option<i64>,
    pub order_id: Option<i64>,
    pub refund_id: Option<i64>,
    /// balance_paid, balance_bonus, points, channel, cash, card, payment_code.
    pub account: String,
    /// topup, bonus, spend, refund, earn, redeem, reverse, payment.
    pub kind: String,
    /// Signed: positive into the account. Fen, or points for `points`.
    pub amount: i64,
    pub created_at_us: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
