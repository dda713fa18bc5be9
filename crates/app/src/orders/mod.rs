//! Orders and the money path (C2, C3, C12, C14, B10, F1).
//!
//! - [`member`]: what a driver does in the app: pre-order (the nozzle is held), pay with
//!   coupons, points, balance and the channel, claim an open sale, cancel, top up.
//! - [`device`]: what pump controllers report: nozzle status and sales; they fetch
//!   authorisations and prices. A sale deducts tank stock and becomes (or completes) an
//!   order; a plate with auto-pay is charged from the balance at once.
//! - [`counter`]: the cashier's till (B10): cash, card, payment code, member balance.
//! - [`settle`]: the one place money is applied: payment success in one transaction,
//!   reversals, refunds, notifications from the channel and the jobs that settle what a
//!   timeout or a crash left open.
//! - [`staff`]: order search, detail, receipts and staff refunds.
//!
//! Statuses change only through [`jiayou_domain::order::OrderStatus::apply`] and a
//! conditional update on the order's `version` ([`save`]), so two servers, a device and a
//! notification racing on one order cannot both move it.

pub mod counter;
pub mod device;
pub mod member;
pub mod settle;
pub mod staff;

use chrono::{DateTime, Utc};
use jiayou_domain::order::{OrderEvent, OrderKind, OrderStatus};
use jiayou_domain::settlement::Plan;
use jiayou_store::entity::{order, outbox_event, payment, station_price};
use jiayou_store::now_us;
use rand::Rng;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::chains::instant;
use crate::error::internal;
use crate::{AppError, AppResult};

/// An order as the driver, the cashier and the console see it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OrderView {
    pub id: i64,
    pub order_no: String,
    pub kind: OrderKind,
    pub status: OrderStatus,
    /// A zh-CN sentence saying what the status means for the driver.
    pub status_message: String,
    pub chain_id: i64,
    pub station_id: Option<i64>,
    pub member_id: Option<i64>,
    pub nozzle_id: Option<i64>,
    pub grade_id: Option<i64>,
    /// Fen per whole unit, and the station price version it came from.
    pub unit_price_fen: Option<i64>,
    pub price_version: Option<i64>,
    /// `list` or `member`.
    pub price_kind: Option<String>,
    pub requested_amount_fen: Option<i64>,
    pub requested_quantity: Option<i64>,
    /// Value of the goods at the unit price used.
    pub gross_fen: i64,
    /// Coupons.
    pub discount_fen: i64,
    pub points_used: i64,
    pub points_fen: i64,
    /// What money must cover: gross − discount − points.
    pub payable_fen: i64,
    pub paid_fen: i64,
    pub refunded_fen: i64,
    pub points_earned: i64,
    pub dispensed_quantity: Option<i64>,
    pub dispensed_amount_fen: Option<i64>,
    /// How it was paid, once paid (or while a channel payment is pending).
    pub plan: Option<Plan>,
    /// Store goods of a counter sale.
    pub items: Option<Vec<GoodsItem>>,
    /// The channel payment in flight or done, when there is one.
    pub payment: Option<PaymentView>,
    pub hold_expires_at: Option<DateTime<Utc>>,
    /// Bumped on every change: poll `GET …/orders/{id}?after_version=` to wait for one.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
}

/// A line of store goods at the counter.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GoodsItem {
    /// 1–40 characters: 矿泉水 550ml.
    pub name: String,
    pub unit_price_fen: i64,
    /// Whole pieces, 1–999.
    pub count: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PaymentView {
    pub method: String,
    /// `wechat`, `alipay` or `sandbox`, for channel payments and payment codes.
    pub channel: Option<String>,
    pub out_trade_no: Option<String>,
    pub amount_fen: i64,
    /// pending, succeeded, failed, closed.
    pub status: String,
    /// For the driver's client: how to pay. WeChat Pay: the `wx.requestPayment`
    /// parameters (`appId`, `timeStamp`, `nonceStr`, `package`, `signType`, `paySign`);
    /// Alipay: `pay_url` (H5 cashier) or `tradeNO` (mini-program); the sandbox:
    /// `confirm_url` and `cashier_url`.
    pub pay_params: Option<serde_json::Value>,
}

impl From<&payment::Model> for PaymentView {
    fn from(p: &payment::Model) -> Self {
        PaymentView {
            method: p.method.clone(),
            channel: p.channel.clone(),
            out_trade_no: p.out_trade_no.clone(),
            amount_fen: p.amount_fen,
            status: p.status.clone(),
            pay_params: p.pay_params.as_deref().and_then(|s| serde_json::from_str(s).ok()),
        }
    }
}

pub(crate) fn status_message(kind: OrderKind, status: OrderStatus) -> &'static str {
    match (kind, status) {
        (OrderKind::Prepay, OrderStatus::AwaitingPayment) => "已为您锁定油枪，请在规定时间内完成支付",
        (_, OrderStatus::AwaitingPayment) => "待支付",
        (_, OrderStatus::Authorised) => "支付成功，油枪已授权，请提枪加油",
        (OrderKind::Topup, OrderStatus::Completed) => "充值成功",
        (_, OrderStatus::Completed) => "支付完成，感谢您的光临",
        (_, OrderStatus::Cancelled) => "订单已取消，已付款项将原路退回",
        (_, OrderStatus::Expired) => "订单已超时关闭，已付款项将原路退回",
        (_, OrderStatus::Refunded) => "订单已全额退款",
        (_, OrderStatus::Held) => jiayou_domain::risk::HELD_MESSAGE_ZH,
    }
}

pub(crate) fn parse_status(m: &order::Model) -> AppResult<(OrderKind, OrderStatus)> {
    let kind = OrderKind::parse(&m.kind).ok_or_else(|| internal(format!("order {} kind {:?}", m.id, m.kind)))?;
    let status =
        OrderStatus::parse(&m.status).ok_or_else(|| internal(format!("order {} status {:?}", m.id, m.status)))?;
    Ok((kind, status))
}

pub(crate) fn plan_of(m: &order::Model) -> AppResult<Option<Plan>> {
    m.plan.as_deref().map(serde_json::from_str).transpose().map_err(|e| internal(format!("order {} plan: {e}", m.id)))
}

pub(crate) fn view(m: &order::Model, payment: Option<&payment::Model>) -> AppResult<OrderView> {
    let (kind, status) = parse_status(m)?;
    Ok(OrderView {
        id: m.id,
        order_no: m.order_no.clone(),
        kind,
        status,
        status_message: status_message(kind, status).to_owned(),
        chain_id: m.chain_id,
        station_id: m.station_id,
        member_id: m.member_id,
        nozzle_id: m.nozzle_id,
        grade_id: m.grade_id,
        unit_price_fen: m.unit_price_fen,
        price_version: m.price_version,
        price_kind: m.price_kind.clone(),
        requested_amount_fen: m.requested_amount_fen,
        requested_quantity: m.requested_quantity,
        gross_fen: m.gross_fen,
        discount_fen: m.discount_fen,
        points_used: m.points_used,
        points_fen: m.points_fen,
        payable_fen: m.payable_fen,
        paid_fen: m.paid_fen,
        refunded_fen: m.refunded_fen,
        points_earned: m.points_earned,
        dispensed_quantity: m.dispensed_quantity,
        dispensed_amount_fen: m.dispensed_amount_fen,
        plan: plan_of(m)?,
        items: m.items.as_deref().and_then(|s| serde_json::from_str(s).ok()),
        payment: payment.map(PaymentView::from),
        hold_expires_at: m.hold_expires_at_us.map(instant),
        version: m.version,
        created_at: instant(m.created_at_us),
        paid_at: m.paid_at_us.map(instant),
        completed_at: m.completed_at_us.map(instant),
        closed_at: m.closed_at_us.map(instant),
    })
}

/// The order's latest channel payment (the one a driver is paying or paid with).
pub(crate) async fn latest_payment(db: &impl ConnectionTrait, order_id: i64) -> AppResult<Option<payment::Model>> {
    Ok(payment::Entity::find()
        .filter(payment::Column::OrderId.eq(order_id))
        .order_by_desc(payment::Column::Id)
        .one(db)
        .await?)
}

pub(crate) async fn view_of(db: &impl ConnectionTrait, m: &order::Model) -> AppResult<OrderView> {
    let p = latest_payment(db, m.id).await?;
    view(m, p.as_ref())
}

/// Views of a page of orders with one query for all their payments (not one per order).
pub(crate) async fn views_of(db: &impl ConnectionTrait, rows: &[order::Model]) -> AppResult<Vec<OrderView>> {
    let payments = payment::Entity::find()
        .filter(payment::Column::OrderId.is_in(rows.iter().map(|m| m.id)))
        .order_by_desc(payment::Column::Id)
        .all(db)
        .await?;
    rows.iter().map(|m| view(m, payments.iter().find(|p| p.order_id == m.id))).collect()
}

/// Reads an order for change. On PostgreSQL/MySQL the row stays locked until `tx` ends,
/// which orders concurrent writers of one order; [`save`] re-checks the version anyway.
pub(crate) async fn lock(tx: &DatabaseTransaction, id: i64) -> AppResult<order::Model> {
    order::Entity::find_by_id(id).lock_exclusive().one(tx).await?.ok_or(AppError::NotFound { entity: "order" })
}

/// Moves `m` by `event` and writes every changed column of `am`, conditional on the
/// version read; returns the saved row. The only way an order's status changes.
pub(crate) async fn transition(
    tx: &DatabaseTransaction,
    m: &order::Model,
    event: OrderEvent,
    mut am: order::ActiveModel,
) -> AppResult<order::Model> {
    let (_, status) = parse_status(m)?;
    let next = status.apply(event).map_err(|e| AppError::conflict(e.code(), None, e.message_zh()))?;
    let now = now_us();
    am.status = Set(next.as_str().to_owned());
    match next {
        // A held payment was paid when it was held; its release keeps that instant.
        OrderStatus::Authorised | OrderStatus::Held if m.paid_at_us.is_none() => am.paid_at_us = Set(Some(now)),
        OrderStatus::Completed if m.completed_at_us.is_none() => {
            am.completed_at_us = Set(Some(now));
            if m.paid_at_us.is_none() {
                am.paid_at_us = Set(Some(now));
            }
        }
        OrderStatus::Cancelled | OrderStatus::Expired | OrderStatus::Refunded => am.closed_at_us = Set(Some(now)),
        _ => {}
    }
    save(tx, m, am).await
}

/// Writes `am` over `m` if nobody changed `m` since it was read (version check).
pub(crate) async fn save(
    tx: &DatabaseTransaction,
    m: &order::Model,
    mut am: order::ActiveModel,
) -> AppResult<order::Model> {
    am.id = sea_orm::ActiveValue::Unchanged(m.id);
    am.version = Set(m.version + 1);
    am.updated_at_us = Set(now_us());
    let r = order::Entity::update_many()
        .set(am)
        .filter(order::Column::Id.eq(m.id))
        .filter(order::Column::Version.eq(m.version))
        .exec(tx)
        .await?;
    if r.rows_affected != 1 {
        return Err(AppError::conflict("order_changed", None, "订单状态已变化，请刷新后重试"));
    }
    order::Entity::find_by_id(m.id).one(tx).await?.ok_or_else(|| internal("order vanished"))
}

/// A new order number: `JY` + UTC date and time to the second + 6 random digits
/// (22 characters), so channel ids `<order_no>P<n>` / `<order_no>R<n>` fit in 32.
pub(crate) fn new_order_no() -> String {
    let n: u32 = rand::rng().random_range(0..1_000_000);
    format!("JY{}{n:06}", Utc::now().format("%y%m%d%H%M%S"))
}

/// An event for the live board and the driver's app, committed with the change.
pub(crate) async fn emit(tx: &DatabaseTransaction, m: &order::Model, topic: &str) -> AppResult<()> {
    let payload = serde_json::json!({
        "order_id": m.id, "order_no": m.order_no, "kind": m.kind, "status": m.status,
        "station_id": m.station_id, "nozzle_id": m.nozzle_id, "payable_fen": m.payable_fen,
        "paid_fen": m.paid_fen, "refunded_fen": m.refunded_fen, "version": m.version,
    });
    outbox_event::ActiveModel {
        chain_id: Set(m.chain_id),
        station_id: Set(m.station_id),
        member_id: Set(m.member_id),
        order_id: Set(Some(m.id)),
        topic: Set(topic.to_owned()),
        payload: Set(payload.to_string()),
        created_at_us: Set(now_us()),
        published_at_us: Set(None),
        ..Default::default()
    }
    .insert(tx)
    .await?;
    Ok(())
}

/// The station's current price row for a grade, if it has one.
pub(crate) async fn station_price_of(
    db: &impl ConnectionTrait,
    station_id: i64,
    grade_id: i64,
) -> AppResult<Option<station_price::Model>> {
    Ok(station_price::Entity::find()
        .filter(station_price::Column::StationId.eq(station_id))
        .filter(station_price::Column::GradeId.eq(grade_id))
        .one(db)
        .await?)
}

/// A member takes a sale the pump made at the list price: the member price of the same
/// price version applies when it is lower (a price changed since then does not).
/// Sets the price columns of `am` and returns the gross the member owes.
pub(crate) async fn member_reprice(
    db: &impl ConnectionTrait,
    m: &order::Model,
    am: &mut order::ActiveModel,
) -> AppResult<i64> {
    let (Some(station), Some(grade), Some(q)) = (m.station_id, m.grade_id, m.dispensed_quantity) else {
        return Ok(m.gross_fen);
    };
    let Some(p) = station_price_of(db, station, grade).await?.filter(|p| Some(p.version) == m.price_version) else {
        return Ok(m.gross_fen);
    };
    if p.member_price_fen >= m.unit_price_fen.unwrap_or(0) {
        return Ok(m.gross_fen);
    }
    let gross = jiayou_domain::fuel::amount_for_quantity(q, p.member_price_fen);
    am.unit_price_fen = Set(Some(p.member_price_fen));
    am.price_kind = Set(Some("member".into()));
    am.gross_fen = Set(gross);
    am.payable_fen = Set(gross);
    Ok(gross)
}

/// Bumps the order's version without other change (a payment row changed under it), so
/// pollers waiting on the version wake up.
pub(crate) async fn touch(tx: &DatabaseTransaction, order_id: i64) -> AppResult<()> {
    order::Entity::update_many()
        .col_expr(order::Column::Version, Expr::col(order::Column::Version).add(1))
        .filter(order::Column::Id.eq(order_id))
        .exec(tx)
        .await?;
    Ok(())
}

use sea_orm::sea_query::ExprTrait as _;
