//! Per chain: the order payment instruments are applied in, points rates, hold and payment windows, plate-pay limit.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "payment_policies")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The chain (one row per chain; absent = defaults).
    pub chain_id: i64,
    /// `jiayou_domain::settlement::PaymentPolicy` as JSON.
    pub policy: String,
    /// How long a pre-order holds its nozzle before it expires unpaid.
    pub hold_seconds: i32,
    /// How long an authorised (paid) pre-order waits for the pump before it is refunded.
    pub pay_window_seconds: i32,
    /// Largest sale plate pay charges without the driver (larger ones fall back).
    pub autopay_max_fen: i64,
    pub updated_at_us: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
