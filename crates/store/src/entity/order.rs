//! An order: a fueling, a counter sale or a top-up, with its status (see `jiayou_domain::order`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "orders")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub chain_id: i64,
    /// NULL for top-ups (chain-wide).
    pub station_id: Option<i64>,
    /// Shown to people and sent to channels as out_trade_no prefix.
    pub order_no: String,
    pub kind: String,
    pub status: String,
    pub member_id: Option<i64>,
    pub nozzle_id: Option<i64>,
    pub grade_id: Option<i64>,
    pub pump_sale_id: Option<i64>,
    /// The station price version this order used (rule 6).
    pub price_version: Option<i64>,
    pub unit_price_fen: Option<i64>,
    /// list or member.
    pub price_kind: Option<String>,
    pub requested_amount_fen: Option<i64>,
    pub requested_quantity: Option<i64>,
    /// Value of the goods at the unit price used.
    pub gross_fen: i64,
    /// Member price difference and coupons.
    pub discount_fen: i64,
    pub points_used: i64,
    pub points_fen: i64,
    /// gross − discount − points: what money must cover.
    pub payable_fen: i64,
    /// Money taken (balance, channel, cash, card, payment code).
    pub paid_fen: i64,
    pub refunded_fen: i64,
    pub points_earned: i64,
    pub dispensed_quantity: Option<i64>,
    pub dispensed_amount_fen: Option<i64>,
    /// `jiayou_domain::settlement::Plan` JSON: how it was paid, for refunds.
    pub plan: Option<String>,
    /// Store goods of a counter sale (JSON).
    pub items: Option<String>,
    /// Promotions applied, with versions (B2, later).
    pub promotion_versions: Option<String>,
    /// Where the driver came from (D, later).
    pub acquisition_channel: Option<String>,
    /// C7, later.
    pub reservation_id: Option<i64>,
    pub hold_expires_at_us: Option<i64>,
    pub cashier_staff_id: Option<i64>,
    pub attendant_staff_id: Option<i64>,
    pub topup_rule_id: Option<i64>,
    /// Bumped on every change; updates are conditional on it.
    pub version: i64,
    pub created_at_us: i64,
    pub updated_at_us: i64,
    pub paid_at_us: Option<i64>,
    pub completed_at_us: Option<i64>,
    pub closed_at_us: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
