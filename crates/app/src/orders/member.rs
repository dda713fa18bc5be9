//! What a driver does in the app: pre-order a nozzle, pay, claim a sale the pump already
//! reported, cancel, follow the order, top up the balance.

use std::time::Duration;

use jiayou_domain::coupon::{self, Coupon};
use jiayou_domain::fuel;
use jiayou_domain::order::{OrderEvent, OrderKind, OrderStatus};
use jiayou_domain::settlement::{self, ExternalTender, Request, Tender, Wallet};
use jiayou_domain::{FieldError, FieldErrorKind, field};
use jiayou_integrations::pay::{CreatePayment, Payer, PaymentState};
use jiayou_store::entity::{coupon as coupon_row, nozzle, order, payment, station_price};
use jiayou_store::now_us;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::settle::{FIRST_QUERY_AFTER_US, coupon_of};
use super::{OrderView, lock, new_order_no, parse_status, save, view, view_of};
use crate::audit::Actor;
use crate::error::{Problems, field_conflict, internal};
use crate::idempotency::IdemRequest;
use crate::members::MemberAuth;
use crate::paging::Page;
use crate::wallet;
use crate::{App, AppError, AppResult};

/// Largest single order or top-up: ¥50,000. Catches yuan typed as fen.
pub const MAX_ORDER_FEN: i64 = 5_000_000;
/// Largest preset quantity: 2,000 units (a truck's tanks).
pub const MAX_ORDER_QUANTITY: i64 = 2_000_000;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPreorder {
    pub station_id: i64,
    pub nozzle_id: i64,
    /// Fuel for this much money (fen). Give this or `quantity`.
    pub amount_fen: Option<i64>,
    /// This much fuel, in thousandths of the grade's unit (30 L = 30000).
    pub quantity: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayOrder {
    /// Coupons of the member's wallet to use (see the stacking rules).
    #[serde(default)]
    pub coupon_ids: Vec<i64>,
    /// Most points to redeem; absent = as many as the policy allows, 0 = none.
    pub points: Option<i64>,
    /// Use the stored balance (default true).
    #[serde(default = "yes")]
    pub use_balance: bool,
    /// Pay what is left through the payment channel (default true). When false and the
    /// balance does not cover the rest, the answer is `insufficient_balance`.
    #[serde(default = "yes")]
    pub use_channel: bool,
    /// Which channel (`wechat`, `alipay`, `sandbox`); absent = the chain's default. The
    /// mini-program sends `wechat`, the H5 app what the driver chose.
    pub channel: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimSale {
    pub station_id: i64,
    /// The number painted on the nozzle (scanned from its code).
    pub nozzle_number: i32,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTopup {
    pub amount_fen: i64,
    /// As for [`PayOrder::channel`].
    pub channel: Option<String>,
}

impl App {
    /// Pre-order (C2): holds the nozzle for the policy's hold time at the member price.
    pub async fn member_preorder(
        &self,
        me: &MemberAuth,
        cmd: NewPreorder,
        idem: Option<&IdemRequest>,
    ) -> AppResult<OrderView> {
        let mut p = Problems::default();
        match (cmd.amount_fen, cmd.quantity) {
            (Some(a), None) => _ = p.check(field::int_range("amount_fen", a, 100, MAX_ORDER_FEN)),
            (None, Some(q)) => _ = p.check(field::int_range("quantity", q, 1_000, MAX_ORDER_QUANTITY)),
            _ => p.push(field_conflict("amount_fen", "请填写加油金额或加油量（二选一）")),
        }
        p.finish()?;
        let st = self.live_station(cmd.station_id).await?;
        if st.chain_id != me.chain_id {
            return Err(AppError::NotFound { entity: "station" });
        }
        let nz = nozzle::Entity::find_by_id(cmd.nozzle_id)
            .one(self.db.reader())
            .await?
            .filter(|n| n.station_id == st.id && n.retired_at_us.is_none())
            .ok_or_else(|| FieldError::new("nozzle_id", FieldErrorKind::NotFound))?;
        let price = current_price(self, st.id, nz.grade_id).await?;
        let unit = price.member_price_fen;
        let (gross, quantity) = match (cmd.amount_fen, cmd.quantity) {
            (Some(a), _) => (a, fuel::quantity_for_amount(a, unit, fuel::DEFAULT_VOLUME_STEP)),
            (_, Some(q)) => (fuel::amount_for_quantity(q, unit), q),
            _ => unreachable!("validated above"),
        };
        if gross > MAX_ORDER_FEN {
            return Err(field_conflict("quantity", "超出允许范围").into());
        }
        let policy = self.payment_policy(me.chain_id).await?;
        // The nozzle's state row exists before the racing transactions start: creating it
        // inside them made MySQL's insert locks deadlock under 50 concurrent drivers.
        let ensure = self.db.begin().await?;
        self.nozzle_state(&ensure, &nz).await?;
        ensure.commit().await?;
        let now = now_us();
        let tx = self.db.begin().await?;
        let m = order::ActiveModel {
            chain_id: Set(me.chain_id),
            station_id: Set(Some(st.id)),
            order_no: Set(new_order_no()),
            kind: Set(OrderKind::Prepay.as_str().into()),
            status: Set(OrderStatus::AwaitingPayment.as_str().into()),
            member_id: Set(Some(me.member_id)),
            nozzle_id: Set(Some(nz.id)),
            grade_id: Set(Some(nz.grade_id)),
            price_version: Set(Some(price.version)),
            unit_price_fen: Set(Some(unit)),
            price_kind: Set(Some(if unit < price.list_price_fen { "member" } else { "list" }.into())),
            requested_amount_fen: Set(cmd.amount_fen),
            requested_quantity: Set(cmd.quantity.or(Some(quantity))),
            gross_fen: Set(gross),
            payable_fen: Set(gross),
            hold_expires_at_us: Set(Some(now + policy.hold_seconds * 1_000_000)),
            ..blank_order(now)
        }
        .insert(&tx)
        .await?;
        self.hold_nozzle(&tx, &m).await?;
        super::emit(&tx, &m, "order.created").await?;
        let v = view(&m, None)?;
        self.finish_idem(&tx, idem, 201, &v).await?;
        tx.commit().await?;
        Ok(v)
    }

    /// Pays an order awaiting payment with coupons, points, balance and the channel, in
    /// the policy's order (C3). Covered without the channel: paid now. Otherwise the
    /// answer carries the channel's `pay_params` and the order is paid when the channel
    /// says so (notification, or the settle job's query).
    pub async fn member_pay(
        &self,
        me: &MemberAuth,
        order_id: i64,
        cmd: PayOrder,
        idem: Option<&IdemRequest>,
    ) -> AppResult<OrderView> {
        if cmd.coupon_ids.len() > 5 {
            return Err(field_conflict("coupon_ids", "每单最多使用 5 张优惠券").into());
        }
        if let Some(points) = cmd.points {
            field::int_range("points", points, 0, i64::MAX)?;
        }
        let policy_view = self.payment_policy(me.chain_id).await?;
        let policy = &policy_view.policy;
        let tx = self.db.begin().await?;
        let m = lock(&tx, order_id).await?;
        if m.member_id != Some(me.member_id) {
            return Err(AppError::NotFound { entity: "order" });
        }
        let (kind, status) = parse_status(&m)?;
        status
            .apply(OrderEvent::Paid { dispensed: kind != OrderKind::Prepay })
            .map_err(|e| AppError::conflict(e.code(), None, e.message_zh()))?;
        if m.plan.is_some() {
            // A channel payment is already under way for it: show it again.
            let v = view_of(&tx, &m).await?;
            return Ok(v);
        }
        let channel = match cmd.use_channel {
            true => self.pick_app_channel(&tx, m.chain_id, m.station_id, me.member_id, cmd.channel.as_deref()).await?,
            false => None,
        };
        let coupons = self.usable_coupons(&tx, me, &m, &cmd.coupon_ids).await?;
        let w = wallet::lock(&tx, m.chain_id, me.member_id).await?;
        let request = Request {
            gross_fen: m.gross_fen,
            quantity: m.dispensed_quantity.or(m.requested_quantity).unwrap_or(0),
            coupons,
            max_points: cmd.points,
            use_balance: cmd.use_balance,
            channel: channel.is_some().then_some(ExternalTender::Channel),
        };
        let wallet = Wallet { paid_fen: w.paid_fen, bonus_fen: w.bonus_fen, points: w.points };
        let plan = settlement::plan(policy, &wallet, &request).map_err(|s| {
            if cmd.use_channel && channel.is_none() {
                AppError::NotConfigured("payment")
            } else {
                AppError::conflict(s.code(), None, s.message_zh())
            }
        })?;
        self.take_plan(&tx, &m, &plan).await?;
        let am = order::ActiveModel {
            plan: Set(Some(serde_json::to_string(&plan).map_err(|e| internal(e.to_string()))?)),
            discount_fen: Set(plan.coupon_fen),
            points_used: Set(plan.points_used),
            points_fen: Set(plan.points_fen),
            payable_fen: Set(plan.payable_fen),
            ..Default::default()
        };
        let m = save(&tx, &m, am).await?;
        let channel_fen = plan.tender_fen(Tender::Channel);
        if channel_fen == 0 {
            let m = self.mark_paid(&tx, &m, &policy_view, &Actor::member(me.member_id, me.ip.clone())).await?;
            let v = view_of(&tx, &m).await?;
            self.finish_idem(&tx, idem, 200, &v).await?;
            tx.commit().await?;
            return Ok(v);
        }
        let (channel, payer) = channel.ok_or_else(|| internal("a channel part without a channel"))?;
        let p = self.open_channel_payment(&tx, &m, channel_fen, channel.name()).await?;
        tx.commit().await?;
        self.create_at_channel(&m, p, payer, idem).await
    }

    /// Inserts the pending channel payment of `m` (its out_trade_no is `<order_no>P<n>`).
    pub(crate) async fn open_channel_payment(
        &self,
        tx: &DatabaseTransaction,
        m: &order::Model,
        amount_fen: i64,
        channel: &str,
    ) -> AppResult<payment::Model> {
        let seq = payment::Entity::find().filter(payment::Column::OrderId.eq(m.id)).count(tx).await? + 1;
        let now = now_us();
        Ok(payment::ActiveModel {
            chain_id: Set(m.chain_id),
            order_id: Set(m.id),
            method: Set("channel".into()),
            channel: Set(Some(channel.to_owned())),
            out_trade_no: Set(Some(format!("{}P{seq}", m.order_no))),
            amount_fen: Set(amount_fen),
            status: Set("pending".into()),
            next_query_at_us: Set(Some(now + FIRST_QUERY_AFTER_US)),
            query_attempts: Set(0),
            created_at_us: Set(now),
            updated_at_us: Set(now),
            ..Default::default()
        }
        .insert(tx)
        .await?)
    }

    /// Opens `p` at the channel (after the commit that recorded it) and answers with the
    /// order. A refusal undoes the plan; an unknown outcome (timeout) leaves the payment
    /// pending for the settle job, and the driver sees "confirming".
    pub(crate) async fn create_at_channel(
        &self,
        m: &order::Model,
        p: payment::Model,
        payer: Payer,
        idem: Option<&IdemRequest>,
    ) -> AppResult<OrderView> {
        let channel = self.channel_of_payment(self.db.reader(), &p).await?;
        let out = p.out_trade_no.clone().ok_or_else(|| internal("channel payment without out_trade_no"))?;
        self.faults.hit("pay.before_channel")?;
        let hold = m.hold_expires_at_us.unwrap_or(now_us() + 900_000_000);
        let req = CreatePayment {
            out_trade_no: out.clone(),
            amount_fen: p.amount_fen,
            description: describe(m),
            notify_url: self.pay.notify_url(channel.name()),
            payer,
            expires_at: crate::chains::instant(hold),
        };
        let actor = Actor::system(format!("channel:{}", channel.name()));
        match channel.create(req).await {
            Ok(created) => {
                self.faults.hit("pay.after_channel")?;
                let tx = self.db.begin().await?;
                if let Some(params) = &created.pay_params {
                    payment::Entity::update_many()
                        .col_expr(payment::Column::PayParams, sea_orm::sea_query::Expr::value(params.to_string()))
                        .filter(payment::Column::Id.eq(p.id))
                        .exec(&tx)
                        .await?;
                    super::touch(&tx, m.id).await?;
                }
                let fresh = order::Entity::find_by_id(m.id).one(&tx).await?.ok_or_else(|| internal("order gone"))?;
                let v = view_of(&tx, &fresh).await?;
                if matches!(created.status, PaymentState::Pending) {
                    self.finish_idem(&tx, idem, 200, &v).await?;
                }
                tx.commit().await?;
                if !matches!(created.status, PaymentState::Pending) {
                    // A payment code answers at once: apply it like a notification.
                    self.apply_channel_state(&out, &created.status, &actor).await?;
                    let v = self.order_view_by_id(m.id).await?;
                    self.finish_idem_alone(idem, 200, &v).await?;
                    return Ok(v);
                }
                self.faults.hit("pay.after_commit")?;
                Ok(v)
            }
            Err(e) if e.is_unknown_outcome() => {
                tracing::warn!(error = %e, out_trade_no = %out, "channel create: outcome unknown; the settle job will ask");
                let v = self.order_view_by_id(m.id).await?;
                self.finish_idem_alone(idem, 200, &v).await?;
                Ok(v)
            }
            Err(e) => {
                let failed = PaymentState::Failed { code: e.code().to_owned(), message: e.to_string() };
                self.apply_channel_state(&out, &failed, &actor).await?;
                Err(AppError::Channel { code: e.code().to_owned(), message_zh: e.message_zh().to_owned() })
            }
        }
    }

    pub(crate) async fn order_view_by_id(&self, id: i64) -> AppResult<OrderView> {
        let m =
            order::Entity::find_by_id(id).one(self.db.writer()).await?.ok_or(AppError::NotFound { entity: "order" })?;
        view_of(self.db.writer(), &m).await
    }

    /// The coupons `ids` of the member, locked, checked usable for order `m`.
    async fn usable_coupons(
        &self,
        tx: &DatabaseTransaction,
        me: &MemberAuth,
        m: &order::Model,
        ids: &[i64],
    ) -> AppResult<Vec<Coupon>> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let rows = coupon_row::Entity::find()
            .filter(coupon_row::Column::Id.is_in(ids.iter().copied()))
            .filter(coupon_row::Column::MemberId.eq(me.member_id))
            .lock_exclusive()
            .all(tx)
            .await?;
        let refuse = |code: &'static str, msg: &str| AppError::conflict(code, Some("coupon_ids"), msg);
        let mut coupons = vec![];
        for id in ids {
            let row = rows
                .iter()
                .find(|r| r.id == *id)
                .ok_or_else(|| FieldError::new("coupon_ids", FieldErrorKind::NotFound))?;
            if row.status != "available" {
                return Err(refuse("coupon_used", "优惠券已使用"));
            }
            let c = coupon_of(row)?;
            c.usable(now_us(), m.grade_id).map_err(|r| refuse(r.code(), r.message_zh()))?;
            coupons.push(c);
        }
        coupon::select(&coupons).map_err(|r| refuse(r.code(), r.message_zh()))?;
        Ok(coupons)
    }

    /// Pay after fueling: the member takes the nozzle's open sale (scanned code) and
    /// gets the member price on it.
    pub async fn member_claim(
        &self,
        me: &MemberAuth,
        cmd: ClaimSale,
        idem: Option<&IdemRequest>,
    ) -> AppResult<OrderView> {
        let st = self.live_station(cmd.station_id).await?;
        if st.chain_id != me.chain_id {
            return Err(AppError::NotFound { entity: "station" });
        }
        let nz = nozzle::Entity::find()
            .filter(nozzle::Column::StationId.eq(st.id))
            .filter(nozzle::Column::ActiveNumber.eq(cmd.nozzle_number))
            .one(self.db.reader())
            .await?
            .ok_or_else(|| FieldError::new("nozzle_number", FieldErrorKind::NotFound))?;
        let tx = self.db.begin().await?;
        let open = self
            .open_sale(&tx, nz.id)
            .await?
            .ok_or_else(|| AppError::conflict("no_open_sale", Some("nozzle_number"), "该油枪没有待支付的加油记录"))?;
        let m = lock(&tx, open.id).await?;
        match m.member_id {
            Some(id) if id == me.member_id => {}
            Some(_) => return Err(AppError::conflict("sale_claimed", Some("nozzle_number"), "该笔加油已由他人认领")),
            None => {}
        }
        let m = if m.member_id.is_none() && m.plan.is_none() {
            let mut am = order::ActiveModel { member_id: Set(Some(me.member_id)), ..Default::default() };
            super::member_reprice(&tx, &m, &mut am).await?;
            save(&tx, &m, am).await?
        } else {
            m
        };
        let v = view_of(&tx, &m).await?;
        self.finish_idem(&tx, idem, 200, &v).await?;
        tx.commit().await?;
        Ok(v)
    }

    /// The driver gives up: before paying, the hold ends; after paying (before fuel),
    /// everything goes back the way it came.
    pub async fn member_cancel(
        &self,
        me: &MemberAuth,
        order_id: i64,
        idem: Option<&IdemRequest>,
    ) -> AppResult<OrderView> {
        let tx = self.db.begin().await?;
        let m = lock(&tx, order_id).await?;
        if m.member_id != Some(me.member_id) {
            return Err(AppError::NotFound { entity: "order" });
        }
        let (kind, status) = parse_status(&m)?;
        if !matches!(kind, OrderKind::Prepay | OrderKind::Topup) {
            return Err(AppError::conflict("order_not_cancellable", None, "已加油的订单不能取消，请支付或联系收银员"));
        }
        if status == OrderStatus::Authorised && self.nozzle_busy(&tx, &m).await? {
            return Err(AppError::conflict("nozzle_in_use", None, "油枪正在加油，不能取消"));
        }
        let m = self.unwind(&tx, &m, OrderEvent::Cancel, &Actor::member(me.member_id, me.ip.clone())).await?;
        let v = view_of(&tx, &m).await?;
        self.finish_idem(&tx, idem, 200, &v).await?;
        tx.commit().await?;
        self.dispatch_refunds().await;
        Ok(v)
    }

    /// One of the member's orders. With `after_version`, waits (up to 25 s) until the
    /// order's version is higher: the mini-program long-polls this instead of SSE.
    pub async fn member_order(
        &self,
        me: &MemberAuth,
        order_id: i64,
        after_version: Option<i64>,
    ) -> AppResult<OrderView> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(25);
        loop {
            let m = order::Entity::find_by_id(order_id)
                .one(self.db.reader())
                .await?
                .filter(|o| o.member_id == Some(me.member_id))
                .ok_or(AppError::NotFound { entity: "order" })?;
            if after_version.is_none_or(|v| m.version > v) || tokio::time::Instant::now() >= deadline {
                return view_of(self.db.reader(), &m).await;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The member's orders, newest first.
    pub async fn member_orders(&self, me: &MemberAuth, page: u64, per_page: u64) -> AppResult<Page<OrderView>> {
        let per_page = per_page.clamp(1, 100);
        let q = order::Entity::find()
            .filter(order::Column::MemberId.eq(me.member_id))
            .order_by_desc(order::Column::Id)
            .paginate(self.db.reader(), per_page);
        let total = q.num_items().await?;
        let rows = q.fetch_page(page.max(1) - 1).await?;
        let items = super::views_of(self.db.reader(), &rows).await?;
        Ok(Page { items, page: page.max(1), per_page, total })
    }

    /// Top-up (C12) through the channel; the bonus rule in force is fixed now and
    /// credited with the money.
    pub async fn member_topup(
        &self,
        me: &MemberAuth,
        cmd: NewTopup,
        idem: Option<&IdemRequest>,
    ) -> AppResult<OrderView> {
        field::int_range("amount_fen", cmd.amount_fen, 100, MAX_ORDER_FEN)?;
        let (channel, payer) = self
            .pick_app_channel(self.db.reader(), me.chain_id, None, me.member_id, cmd.channel.as_deref())
            .await?
            .ok_or(AppError::NotConfigured("payment"))?;
        let policy = self.payment_policy(me.chain_id).await?;
        let rule = self.topup_rule_for(self.db.reader(), me.chain_id, cmd.amount_fen).await?;
        let now = now_us();
        let tx = self.db.begin().await?;
        let plan = settlement::Plan {
            gross_fen: cmd.amount_fen,
            payable_fen: cmd.amount_fen,
            tenders: vec![settlement::TenderPart { tender: Tender::Channel, fen: cmd.amount_fen }],
            ..Default::default()
        };
        let m = order::ActiveModel {
            chain_id: Set(me.chain_id),
            order_no: Set(new_order_no()),
            kind: Set(OrderKind::Topup.as_str().into()),
            status: Set(OrderStatus::AwaitingPayment.as_str().into()),
            member_id: Set(Some(me.member_id)),
            gross_fen: Set(cmd.amount_fen),
            payable_fen: Set(cmd.amount_fen),
            plan: Set(Some(serde_json::to_string(&plan).map_err(|e| internal(e.to_string()))?)),
            topup_rule_id: Set(rule.map(|r| r.id)),
            hold_expires_at_us: Set(Some(now + policy.pay_window_seconds * 1_000_000)),
            ..blank_order(now)
        }
        .insert(&tx)
        .await?;
        let p = self.open_channel_payment(&tx, &m, cmd.amount_fen, channel.name()).await?;
        super::emit(&tx, &m, "order.created").await?;
        tx.commit().await?;
        self.create_at_channel(&m, p, payer, idem).await
    }

    /// Records the response of an idempotent call inside its transaction.
    pub(crate) async fn finish_idem(
        &self,
        tx: &DatabaseTransaction,
        idem: Option<&IdemRequest>,
        status: u16,
        v: &impl serde::Serialize,
    ) -> AppResult<()> {
        if let Some(r) = idem {
            let body = serde_json::to_value(v).map_err(|e| internal(e.to_string()))?;
            self.idem_finish_in(tx, r, status, &body).await?;
        }
        Ok(())
    }

    pub(crate) async fn finish_idem_alone(
        &self,
        idem: Option<&IdemRequest>,
        status: u16,
        v: &impl serde::Serialize,
    ) -> AppResult<()> {
        if idem.is_some() {
            let tx = self.db.begin().await?;
            self.finish_idem(&tx, idem, status, v).await?;
            tx.commit().await?;
        }
        Ok(())
    }
}

/// The station's current price for a grade, or a clear refusal when it has none.
pub(crate) async fn current_price(app: &App, station_id: i64, grade_id: i64) -> AppResult<station_price::Model> {
    super::station_price_of(app.db.reader(), station_id, grade_id)
        .await?
        .ok_or_else(|| AppError::conflict("no_price", Some("grade_id"), "该油品尚未定价，暂不能下单"))
}

/// Every column of a new order that is not about what is sold.
pub(crate) fn blank_order(now: i64) -> order::ActiveModel {
    order::ActiveModel {
        discount_fen: Set(0),
        points_used: Set(0),
        points_fen: Set(0),
        paid_fen: Set(0),
        refunded_fen: Set(0),
        points_earned: Set(0),
        version: Set(1),
        created_at_us: Set(now),
        updated_at_us: Set(now),
        ..Default::default()
    }
}

/// What the payer sees at the channel: 加油 92# ¥200.00 / 储值充值 ¥500.00.
fn describe(m: &order::Model) -> String {
    let amount = jiayou_domain::Fen(m.payable_fen);
    match m.kind.as_str() {
        "topup" => format!("储值充值 {amount}"),
        "counter" if m.nozzle_id.is_none() => format!("便利店商品 {amount}"),
        _ => format!("加油 {amount} 订单{}", m.order_no),
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AutopayChange {
    /// Charge the balance automatically when a pump reports this plate (无感支付).
    pub enabled: bool,
}

/// A nozzle as the driver sees it before picking one (C2).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PublicNozzleStatus {
    pub nozzle_id: i64,
    pub number: i32,
    pub grade_id: i64,
    /// idle, lifted, fuelling, finished.
    pub status: String,
    /// Reserved by a driver's pre-order right now.
    pub held: bool,
}

impl App {
    pub async fn member_set_autopay(
        &self,
        me: &MemberAuth,
        vehicle_id: i64,
        cmd: AutopayChange,
    ) -> AppResult<AutopayChange> {
        use jiayou_store::entity::vehicle;
        let r = vehicle::Entity::update_many()
            .col_expr(vehicle::Column::AutopayEnabledAtUs, sea_orm::sea_query::Expr::value(cmd.enabled.then(now_us)))
            .col_expr(vehicle::Column::UpdatedAtUs, sea_orm::sea_query::Expr::value(now_us()))
            .filter(vehicle::Column::Id.eq(vehicle_id))
            .filter(vehicle::Column::MemberId.eq(me.member_id))
            .filter(vehicle::Column::DeletedAtUs.is_null())
            .exec(self.db.writer())
            .await?;
        if r.rows_affected != 1 {
            return Err(AppError::NotFound { entity: "vehicle" });
        }
        tracing::info!(member_id = me.member_id, vehicle_id, enabled = cmd.enabled, "plate pay changed");
        Ok(cmd)
    }

    pub async fn public_nozzle_status(&self, station_id: i64) -> AppResult<Vec<PublicNozzleStatus>> {
        use jiayou_store::entity::nozzle_state;
        let st = self.live_station(station_id).await?;
        let nozzles = nozzle::Entity::find()
            .filter(nozzle::Column::StationId.eq(st.id))
            .filter(nozzle::Column::RetiredAtUs.is_null())
            .order_by_asc(nozzle::Column::Number)
            .all(self.db.reader())
            .await?;
        let states = nozzle_state::Entity::find()
            .filter(nozzle_state::Column::StationId.eq(st.id))
            .all(self.db.reader())
            .await?;
        let now = now_us();
        Ok(nozzles
            .iter()
            .map(|n| {
                let s = states.iter().find(|s| s.nozzle_id == n.id);
                PublicNozzleStatus {
                    nozzle_id: n.id,
                    number: n.number,
                    grade_id: n.grade_id,
                    status: s.map_or("idle".into(), |s| s.status.clone()),
                    held: s.is_some_and(|s| s.held_order_id.is_some() && s.hold_expires_at_us.is_some_and(|h| h > now)),
                }
            })
            .collect())
    }
}
