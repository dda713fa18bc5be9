//! One attempt to take money from outside the wallet: a channel payment, cash, card or a payment code.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "payments")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub chain_id: i64,
    pub order_id: i64,
    /// channel, cash, card, payment_code.
    pub method: String,
    /// The channel adapter name.
    pub channel: Option<String>,
    /// Our id at the channel; unique.
    pub out_trade_no: Option<String>,
    pub transaction_id: Option<String>,
    pub amount_fen: i64,
    /// Cash handed over (change = received − amount).
    pub received_fen: Option<i64>,
    /// Bank-card terminal reference.
    pub reference: Option<String>,
    /// What the payer's client needs to pay (channel answer), JSON.
    pub pay_params: Option<String>,
    /// pending, succeeded, failed, closed.
    pub status: String,
    /// When the settle job asks the channel next (pending only).
    pub next_query_at_us: Option<i64>,
    pub query_attempts: i32,
    /// Lease of the server settling it.
    pub claimed_until_us: Option<i64>,
    pub created_at_us: i64,
    pub updated_at_us: i64,
    pub settled_at_us: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
