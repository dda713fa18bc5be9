//! Where money is applied. Everything here runs inside the caller's transaction except
//! the calls to the payment channel, which happen after a commit (never while a row is
//! locked) and whose outcome is applied by a later transaction; a timeout or a crash in
//! between leaves a `pending` payment or refund that [`App::run_jobs`] settles.
//!
//! On payment success, one transaction: the order moves, ledger rows, coupons consumed,
//! points earned, audit row, outbox event (issue 4, point 6).

use jiayou_domain::coupon::Coupon;
use jiayou_domain::order::{OrderEvent, OrderKind, OrderStatus};
use jiayou_domain::settlement::{self, PaymentPolicy, Plan, Tender, TenderPart};
use jiayou_integrations::pay::{Notification, PaymentState, RefundRequest, RefundState};
use jiayou_store::entity::{
    chain, channel_notification, coupon, order, payment, pump_authorisation, refund, topup_rule,
};
use jiayou_store::now_us;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde::Serialize;
use utoipa::ToSchema;

use super::{emit, lock, parse_status, plan_of, save, transition};
use crate::audit::{Actor, AuditEntry};
use crate::error::internal;
use crate::marketing::PaymentPolicyView;
use crate::wallet::{self, Movement, Pots};
use crate::{App, AppError, AppResult};

/// How long a channel payment may stay unsettled before the job asks the channel.
pub(crate) const FIRST_QUERY_AFTER_US: i64 = 10_000_000;

impl App {
    /// Takes the wallet and coupon parts of `plan` for order `m` (conditional updates:
    /// a concurrent spend of the same balance or coupon makes this fail, moving nothing).
    pub(crate) async fn take_plan(&self, tx: &DatabaseTransaction, m: &order::Model, plan: &Plan) -> AppResult<()> {
        let Some(member_id) = m.member_id else {
            if plan.balance_fen() > 0 || plan.points_used > 0 || !plan.coupon_lines.is_empty() {
                return Err(internal("wallet instruments on an order without a member"));
            }
            return Ok(());
        };
        let mv = Movement {
            chain_id: m.chain_id,
            station_id: m.station_id,
            member_id,
            order_id: Some(m.id),
            refund_id: None,
            kind: "spend",
        };
        let pots = Pots {
            paid_fen: plan.tender_fen(Tender::BalancePaid),
            bonus_fen: plan.tender_fen(Tender::BalanceBonus),
            points: plan.points_used,
        };
        wallet::debit(tx, mv, pots).await?;
        let now = now_us();
        for line in &plan.coupon_lines {
            let r = coupon::Entity::update_many()
                .col_expr(coupon::Column::Status, Expr::value("used"))
                .col_expr(coupon::Column::UsedOrderId, Expr::value(m.id))
                .col_expr(coupon::Column::UsedAtUs, Expr::value(now))
                .filter(coupon::Column::Id.eq(line.coupon_id))
                .filter(coupon::Column::MemberId.eq(member_id))
                .filter(coupon::Column::Status.eq("available"))
                .exec(tx)
                .await?;
            if r.rows_affected != 1 {
                return Err(AppError::conflict("coupon_used", Some("coupon_ids"), "优惠券已被使用"));
            }
        }
        Ok(())
    }

    /// The order is fully covered: move it (authorised for a prepayment, completed
    /// otherwise) with everything that goes with it, in `tx`.
    pub(crate) async fn mark_paid(
        &self,
        tx: &DatabaseTransaction,
        m: &order::Model,
        policy: &PaymentPolicyView,
        actor: &Actor,
    ) -> AppResult<order::Model> {
        let (kind, _) = parse_status(m)?;
        let plan = plan_of(m)?.ok_or_else(|| internal("paying an order without a plan"))?;
        let am = order::ActiveModel { paid_fen: Set(plan.money_paid_fen()), ..Default::default() };
        if let Some(hit) = self.risk_check(tx, m, kind, plan.money_paid_fen()).await? {
            let m = transition(tx, m, OrderEvent::Hold, am).await?;
            self.hold_for_review(tx, &m, hit, actor).await?;
            return Ok(m);
        }
        let m = transition(tx, m, OrderEvent::Paid { dispensed: kind != OrderKind::Prepay }, am).await?;
        self.paid_effects(tx, m, policy, actor).await
    }

    /// What follows a payment once it may proceed (at once, or when staff release a
    /// held one): the pump authorised, the top-up credited, points earned.
    pub(crate) async fn paid_effects(
        &self,
        tx: &DatabaseTransaction,
        mut m: order::Model,
        policy: &PaymentPolicyView,
        actor: &Actor,
    ) -> AppResult<order::Model> {
        let (kind, _) = parse_status(&m)?;
        let dispensed = kind != OrderKind::Prepay;
        match kind {
            OrderKind::Prepay => self.authorise_pump(tx, &m, policy).await?,
            OrderKind::Topup => self.credit_topup(tx, &m).await?,
            OrderKind::Postpay | OrderKind::Counter => m = self.earn_points(tx, &m, &policy.policy).await?,
        }
        emit(tx, &m, if dispensed { "order.completed" } else { "order.paid" }).await?;
        let entry = order_entry(&m, if dispensed { "order.complete" } else { "order.pay" });
        self.audit(tx, actor, entry).await?;
        Ok(m)
    }

    /// Points earned on the money of a completed order (C5), credited to the member.
    pub(crate) async fn earn_points(
        &self,
        tx: &DatabaseTransaction,
        m: &order::Model,
        policy: &PaymentPolicy,
    ) -> AppResult<order::Model> {
        let (Some(member_id), Some(plan)) = (m.member_id, plan_of(m)?) else { return Ok(m.clone()) };
        let earned = settlement::points_earned(policy, plan.money_paid_fen());
        if earned <= 0 {
            return Ok(m.clone());
        }
        let mv = Movement {
            chain_id: m.chain_id,
            station_id: m.station_id,
            member_id,
            order_id: Some(m.id),
            refund_id: None,
            kind: "earn",
        };
        wallet::credit(tx, mv, Pots { points: earned, ..Default::default() }).await?;
        save(tx, m, order::ActiveModel { points_earned: Set(earned), ..Default::default() }).await
    }

    /// A paid top-up: the money, then the bonus of the rule in force (C12).
    async fn credit_topup(&self, tx: &DatabaseTransaction, m: &order::Model) -> AppResult<()> {
        let member_id = m.member_id.ok_or_else(|| internal("top-up without a member"))?;
        let mv = |kind| Movement {
            chain_id: m.chain_id,
            station_id: None,
            member_id,
            order_id: Some(m.id),
            refund_id: None,
            kind,
        };
        wallet::credit(tx, mv("topup"), Pots { paid_fen: m.gross_fen, ..Default::default() }).await?;
        let Some(rule_id) = m.topup_rule_id else { return Ok(()) };
        let rule =
            topup_rule::Entity::find_by_id(rule_id).one(tx).await?.ok_or_else(|| internal("top-up rule gone"))?;
        wallet::credit(tx, mv("bonus"), Pots { paid_fen: 0, bonus_fen: rule.bonus_fen, points: rule.bonus_points })
            .await?;
        self.issue_topup_coupons_in(tx, &rule, member_id).await?;
        Ok(())
    }

    /// Money goes back: `lines` (from the domain's refund allocation) are applied in
    /// `tx`. Balance parts return to the wallet now; channel and payment-code parts
    /// become a pending refund sent to the channel after commit ([`App::dispatch_refunds`]);
    /// cash and card are recorded as handed back by the cashier.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn refund_lines(
        &self,
        tx: &DatabaseTransaction,
        m: &order::Model,
        lines: &[TenderPart],
        kind: &str,
        reason: &str,
        staff_id: Option<i64>,
        points_reversed: i64,
    ) -> AppResult<Option<refund::Model>> {
        let total: i64 = lines.iter().map(|l| l.fen).sum();
        if total == 0 && points_reversed == 0 {
            return Ok(None);
        }
        let seq = refund::Entity::find().filter(refund::Column::OrderId.eq(m.id)).count(tx).await? + 1;
        let external = lines.iter().any(|l| matches!(l.tender, Tender::Channel | Tender::PaymentCode) && l.fen > 0);
        let now = now_us();
        let r = refund::ActiveModel {
            chain_id: Set(m.chain_id),
            order_id: Set(m.id),
            out_refund_no: Set(format!("{}R{seq}", m.order_no)),
            amount_fen: Set(total),
            reason: Set(reason.chars().take(200).collect()),
            kind: Set(kind.to_owned()),
            status: Set(if external { "pending" } else { "succeeded" }.to_owned()),
            lines: Set(serde_json::to_string(lines).map_err(|e| internal(e.to_string()))?),
            staff_id: Set(staff_id),
            points_reversed: Set(points_reversed),
            created_at_us: Set(now),
            settled_at_us: Set(if external { None } else { Some(now) }),
            ..Default::default()
        }
        .insert(tx)
        .await?;
        let mut pots = Pots::default();
        for l in lines.iter().filter(|l| l.fen > 0) {
            match l.tender {
                Tender::BalancePaid => pots.paid_fen += l.fen,
                Tender::BalanceBonus => pots.bonus_fen += l.fen,
                t => {
                    wallet::entry(
                        tx,
                        m.chain_id,
                        m.station_id,
                        m.member_id,
                        Some(m.id),
                        Some(r.id),
                        t.as_str(),
                        "refund",
                        -l.fen,
                    )
                    .await?
                }
            }
        }
        if let Some(member_id) = m.member_id {
            let mv = Movement {
                chain_id: m.chain_id,
                station_id: m.station_id,
                member_id,
                order_id: Some(m.id),
                refund_id: Some(r.id),
                kind: "refund",
            };
            wallet::credit(tx, mv, pots).await?;
            if points_reversed > 0 {
                // Earned points go back out; never below zero (they may be spent already).
                let w = wallet::lock(tx, m.chain_id, member_id).await?;
                let take = points_reversed.min(w.points);
                wallet::debit(tx, Movement { kind: "reverse", ..mv }, Pots { points: take, ..Default::default() })
                    .await?;
            }
        } else if pots.paid_fen + pots.bonus_fen > 0 {
            return Err(internal("balance refund on an order without a member"));
        }
        Ok(Some(r))
    }

    /// Gives coupons of `ids` back to the wallet and the points back to the member.
    pub(crate) async fn release_instruments(
        &self,
        tx: &DatabaseTransaction,
        m: &order::Model,
        coupon_ids: &[i64],
        points: i64,
    ) -> AppResult<()> {
        if !coupon_ids.is_empty() {
            coupon::Entity::update_many()
                .col_expr(coupon::Column::Status, Expr::value("available"))
                .col_expr(coupon::Column::UsedOrderId, Expr::value(Option::<i64>::None))
                .col_expr(coupon::Column::UsedAtUs, Expr::value(Option::<i64>::None))
                .filter(coupon::Column::Id.is_in(coupon_ids.iter().copied()))
                .filter(coupon::Column::UsedOrderId.eq(m.id))
                .exec(tx)
                .await?;
        }
        if let (Some(member_id), true) = (m.member_id, points > 0) {
            let mv = Movement {
                chain_id: m.chain_id,
                station_id: m.station_id,
                member_id,
                order_id: Some(m.id),
                refund_id: None,
                kind: "refund",
            };
            wallet::credit(tx, mv, Pots { points, ..Default::default() }).await?;
        }
        Ok(())
    }

    /// Cancels or expires `m` (`event` is Cancel or Expire), giving back everything that
    /// was taken: balance, coupons, points, and channel money already received. A channel
    /// payment still pending is marked closed here and closed at the channel after commit;
    /// if it succeeds anyway, [`App::apply_channel_state`] refunds it (C3).
    pub(crate) async fn unwind(
        &self,
        tx: &DatabaseTransaction,
        m: &order::Model,
        event: OrderEvent,
        actor: &Actor,
    ) -> AppResult<order::Model> {
        let plan = plan_of(m)?;
        let payments = payment::Entity::find().filter(payment::Column::OrderId.eq(m.id)).all(tx).await?;
        let mut lines = vec![];
        if let Some(plan) = &plan {
            for part in &plan.tenders {
                // Only the money that actually arrived goes back.
                let received = part.tender.is_balance()
                    || payments.iter().any(|p| p.status == "succeeded" && p.tender() == part.tender);
                if received && part.fen > 0 {
                    lines.push(*part);
                }
            }
        }
        for p in payments.iter().filter(|p| p.status == "pending") {
            let mut am = p.clone().into_active_model();
            am.status = Set("closed".into());
            am.next_query_at_us = Set(Some(now_us()));
            am.updated_at_us = Set(now_us());
            am.update(tx).await?;
        }
        let kind = if event == OrderEvent::Cancel { "cancel" } else { "expire" };
        let reason = if event == OrderEvent::Cancel { "订单取消" } else { "订单超时关闭" };
        let coupons: Vec<i64> = plan.iter().flat_map(|p| p.coupon_lines.iter().map(|l| l.coupon_id)).collect();
        self.refund_lines(tx, m, &lines, kind, reason, None, 0).await?;
        self.release_instruments(tx, m, &coupons, plan.as_ref().map_or(0, |p| p.points_used)).await?;
        let refunded: i64 = lines.iter().map(|l| l.fen).sum();
        let am = order::ActiveModel { refunded_fen: Set(m.refunded_fen + refunded), ..Default::default() };
        let m = transition(tx, m, event, am).await?;
        self.release_nozzle(tx, &m).await?;
        pump_authorisation::Entity::update_many()
            .col_expr(pump_authorisation::Column::Status, Expr::value("cancelled"))
            .col_expr(pump_authorisation::Column::UpdatedAtUs, Expr::value(now_us()))
            .filter(pump_authorisation::Column::OrderId.eq(m.id))
            .filter(pump_authorisation::Column::Status.eq("pending"))
            .exec(tx)
            .await?;
        emit(tx, &m, if event == OrderEvent::Cancel { "order.cancelled" } else { "order.expired" }).await?;
        self.audit(
            tx,
            actor,
            order_entry(&m, if event == OrderEvent::Cancel { "order.cancel" } else { "order.expire" }),
        )
        .await?;
        Ok(m)
    }

    /// Applies what the channel says about payment `out_trade_no` (from a verified
    /// notification or a query), exactly once however often and in whatever order it
    /// arrives (money-path rule 4).
    pub async fn apply_channel_state(
        &self,
        out_trade_no: &str,
        state: &PaymentState,
        actor: &Actor,
    ) -> AppResult<ChannelOutcome> {
        let tx = self.db.begin().await?;
        let find = || payment::Entity::find().filter(payment::Column::OutTradeNo.eq(out_trade_no));
        let Some(order_id) = find().one(&tx).await?.map(|p| p.order_id) else {
            return Ok(ChannelOutcome::Unknown);
        };
        // Locks in the order every use-case takes them: the order, then its payments
        // (a cancellation racing a notification must not deadlock).
        let m = lock(&tx, order_id).await?;
        let p = find().lock_exclusive().one(&tx).await?.ok_or_else(|| internal("payment vanished"))?;
        let now = now_us();
        let outcome = match state {
            PaymentState::Succeeded { transaction_id, amount_fen, paid_at } => {
                if *amount_fen != p.amount_fen {
                    return Ok(ChannelOutcome::Mismatch);
                }
                if p.status == "succeeded" {
                    return Ok(ChannelOutcome::Duplicate);
                }
                // A payment we had given up on (failed, or closed with its order) whose
                // success arrives after all: the order no longer counts on it.
                let was_pending = p.status == "pending";
                let mut am = p.clone().into_active_model();
                am.status = Set("succeeded".into());
                am.transaction_id = Set(Some(transaction_id.clone()));
                // The channel's own success time: the day it falls on is the day of the
                // channel's statement (see `crate::reconcile`).
                am.settled_at_us = Set(Some(paid_at.timestamp_micros()));
                am.next_query_at_us = Set(None);
                am.updated_at_us = Set(now);
                let p = am.update(&tx).await?;
                wallet::entry(
                    &tx,
                    m.chain_id,
                    m.station_id,
                    m.member_id,
                    Some(m.id),
                    None,
                    &p.method_account(),
                    "payment",
                    p.amount_fen,
                )
                .await?;
                let (_, status) = parse_status(&m)?;
                if status == OrderStatus::AwaitingPayment && was_pending {
                    self.faults.hit("settle.before_commit")?;
                    let policy = self.payment_policy(m.chain_id).await?;
                    self.mark_paid(&tx, &m, &policy, actor).await?;
                    ChannelOutcome::Applied
                } else {
                    // Paid for an order that is closed (or paid otherwise): never keep it.
                    let lines = [TenderPart { tender: p.tender(), fen: p.amount_fen }];
                    self.refund_lines(&tx, &m, &lines, "late_payment", "订单已关闭，款项原路退回", None, 0).await?;
                    save(
                        &tx,
                        &m,
                        order::ActiveModel { refunded_fen: Set(m.refunded_fen + p.amount_fen), ..Default::default() },
                    )
                    .await?;
                    self.audit(&tx, actor, order_entry(&m, "order.refund_late_payment")).await?;
                    ChannelOutcome::RefundedLate
                }
            }
            PaymentState::Closed | PaymentState::Failed { .. } | PaymentState::NotFound => {
                if p.status != "pending" {
                    return Ok(ChannelOutcome::Duplicate);
                }
                let mut am = p.clone().into_active_model();
                am.status = Set("failed".into());
                am.next_query_at_us = Set(None);
                am.updated_at_us = Set(now);
                am.update(&tx).await?;
                // The driver may pay again until the hold runs out; what the plan took from
                // the wallet goes back now.
                self.revert_plan(&tx, &m).await?;
                ChannelOutcome::Failed
            }
            PaymentState::Pending => return Ok(ChannelOutcome::Pending),
        };
        tx.commit().await?;
        self.dispatch_refunds().await;
        Ok(outcome)
    }

    /// Undoes an unpaid plan (the channel part failed): wallet parts and coupons back,
    /// the order awaits payment again.
    pub(crate) async fn revert_plan(&self, tx: &DatabaseTransaction, m: &order::Model) -> AppResult<()> {
        let (_, status) = parse_status(m)?;
        let Some(plan) = plan_of(m)? else { return Ok(()) };
        if status != OrderStatus::AwaitingPayment {
            return Ok(());
        }
        let lines: Vec<TenderPart> = plan.tenders.iter().filter(|t| t.tender.is_balance()).copied().collect();
        self.refund_lines(tx, m, &lines, "payment_failed", "支付未成功，已退回", None, 0).await?;
        let coupons: Vec<i64> = plan.coupon_lines.iter().map(|l| l.coupon_id).collect();
        self.release_instruments(tx, m, &coupons, plan.points_used).await?;
        let am = order::ActiveModel {
            plan: Set(None),
            discount_fen: Set(0),
            points_used: Set(0),
            points_fen: Set(0),
            payable_fen: Set(m.gross_fen),
            ..Default::default()
        };
        let m = save(tx, m, am).await?;
        emit(tx, &m, "order.payment_failed").await
    }

    /// Verifies and applies a notification from the payment channel. Every verified
    /// notification is recorded with what was done; an unknown order is parked.
    pub async fn handle_pay_notification(
        &self,
        channel_name: &str,
        headers: &axum::http::HeaderMap,
        body: &[u8],
    ) -> AppResult<ChannelOutcome> {
        let crate::channels::Verified { notification: n, channel, chain: chain_code } = self
            .pay
            .verify(channel_name, headers, body, chrono::Utc::now())
            .map_err(|e| AppError::Unauthenticated { code: e.code(), message_zh: e.message_zh().into() })?;
        let actor = Actor::system(format!("channel:{}", channel.name()));
        let (kind, out_trade_no, out_refund_no, amount, outcome) = match &n {
            Notification::Payment { out_trade_no, amount_fen, currency, state, merchant_id, .. } => {
                let outcome = if currency != jiayou_integrations::pay::CURRENCY
                    || !self.paid_to_the_right_merchant(out_trade_no, channel_name, merchant_id).await?
                {
                    ChannelOutcome::Mismatch
                } else {
                    self.apply_channel_state(out_trade_no, state, &actor).await?
                };
                ("payment", Some(out_trade_no.clone()), None, *amount_fen, outcome)
            }
            Notification::Refund { out_trade_no, out_refund_no, refund_fen, state, .. } => {
                let outcome = self.apply_refund_state(out_refund_no, state).await?;
                ("refund", Some(out_trade_no.clone()), Some(out_refund_no.clone()), *refund_fen, outcome)
            }
        };
        if matches!(outcome, ChannelOutcome::Mismatch | ChannelOutcome::Unknown) {
            tracing::warn!(
                channel = channel_name,
                ?out_trade_no,
                outcome = outcome.as_str(),
                "notification parked for staff"
            );
        }
        let chain_id = self.notification_chain(out_trade_no.as_deref(), chain_code.as_deref()).await?;
        channel_notification::ActiveModel {
            chain_id: Set(chain_id),
            channel: Set(channel.name().to_owned()),
            kind: Set(kind.to_owned()),
            out_trade_no: Set(out_trade_no),
            out_refund_no: Set(out_refund_no),
            amount_fen: Set(amount),
            outcome: Set(outcome.as_str().to_owned()),
            body: Set(Some(String::from_utf8_lossy(body).into_owned())),
            received_at_us: Set(now_us()),
            ..Default::default()
        }
        .insert(self.db.writer())
        .await?;
        Ok(outcome)
    }

    /// Whether a notification's merchant is the one the payment was made to (in
    /// service-provider mode, the station's sub-merchant). An unknown payment passes:
    /// it is parked as unknown anyway.
    async fn paid_to_the_right_merchant(
        &self,
        out_trade_no: &str,
        channel: &str,
        merchant_id: &str,
    ) -> AppResult<bool> {
        let Some(p) =
            payment::Entity::find().filter(payment::Column::OutTradeNo.eq(out_trade_no)).one(self.db.reader()).await?
        else {
            return Ok(true);
        };
        if p.channel.as_deref() != Some(channel) {
            tracing::error!(out_trade_no, channel, "notification from another channel than the payment's");
            return Ok(false);
        }
        let ours = self.channel_of_payment(self.db.reader(), &p).await?;
        if ours.merchant_id() != merchant_id {
            tracing::error!(
                out_trade_no,
                merchant_id,
                expected = ours.merchant_id(),
                "notification for another merchant"
            );
            return Ok(false);
        }
        Ok(true)
    }

    /// The chain a notification belongs to: its payment's, else the chain of the
    /// instance that verified it (a deployment-wide instance: none).
    async fn notification_chain(&self, out_trade_no: Option<&str>, chain_code: Option<&str>) -> AppResult<Option<i64>> {
        if let Some(no) = out_trade_no
            && let Some(p) =
                payment::Entity::find().filter(payment::Column::OutTradeNo.eq(no)).one(self.db.reader()).await?
        {
            return Ok(Some(p.chain_id));
        }
        let Some(code) = chain_code else { return Ok(None) };
        Ok(chain::Entity::find().filter(chain::Column::Code.eq(code)).one(self.db.reader()).await?.map(|c| c.id))
    }

    async fn apply_refund_state(&self, out_refund_no: &str, state: &RefundState) -> AppResult<ChannelOutcome> {
        let RefundState::Succeeded { .. } = state else { return Ok(ChannelOutcome::Pending) };
        let r = refund::Entity::update_many()
            .col_expr(refund::Column::Status, Expr::value("succeeded"))
            .col_expr(refund::Column::SettledAtUs, Expr::value(now_us()))
            .filter(refund::Column::OutRefundNo.eq(out_refund_no))
            .filter(refund::Column::Status.eq("pending"))
            .exec(self.db.writer())
            .await?;
        Ok(if r.rows_affected == 1 { ChannelOutcome::Applied } else { ChannelOutcome::Duplicate })
    }

    /// Sends pending refunds' channel parts to the channel. Safe to repeat: the channel
    /// refunds once per `out_refund_no`.
    pub async fn dispatch_refunds(&self) {
        if self.pay.is_empty() {
            return;
        }
        let pending = match refund::Entity::find()
            .filter(refund::Column::Status.eq("pending"))
            .order_by_asc(refund::Column::Id)
            .limit(50)
            .all(self.db.reader())
            .await
        {
            Ok(p) => p,
            Err(e) => return tracing::warn!(error = %e, "reading pending refunds"),
        };
        for r in pending {
            let lines: Vec<TenderPart> = serde_json::from_str(&r.lines).unwrap_or_default();
            let fen: i64 =
                lines.iter().filter(|l| matches!(l.tender, Tender::Channel | Tender::PaymentCode)).map(|l| l.fen).sum();
            let Ok(Some(p)) = payment::Entity::find()
                .filter(payment::Column::OrderId.eq(r.order_id))
                .filter(payment::Column::Status.eq("succeeded"))
                .filter(payment::Column::OutTradeNo.is_not_null())
                .one(self.db.reader())
                .await
            else {
                continue;
            };
            let channel = match self.channel_of_payment(self.db.reader(), &p).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, refund = r.id, "no channel instance for the payment; refund waits");
                    continue;
                }
            };
            let req = RefundRequest {
                out_trade_no: p.out_trade_no.clone().unwrap_or_default(),
                out_refund_no: r.out_refund_no.clone(),
                refund_fen: fen,
                total_fen: p.amount_fen,
                reason: r.reason.clone(),
                notify_url: self.pay.notify_url(channel.name()),
            };
            match channel.refund(req).await {
                Ok(state) => {
                    if let Err(e) = self.apply_refund_state(&r.out_refund_no, &state).await {
                        tracing::warn!(error = %e, refund = r.id, "recording refund");
                    }
                }
                Err(e) => tracing::warn!(error = %e, refund = r.id, "channel refund failed; retried by the job"),
            }
        }
    }

    /// One round of the money jobs; every server may run it (each step claims its rows
    /// with a conditional update). Returns what it did, for logs and tests.
    pub async fn run_jobs(&self, now_us: i64) -> AppResult<JobReport> {
        let mut report = JobReport::default();
        // 1. Channel payments nobody heard back about: ask the channel.
        let due = payment::Entity::find()
            .filter(payment::Column::Status.is_in(["pending", "closed"]))
            .filter(payment::Column::NextQueryAtUs.lte(now_us))
            .limit(100)
            .all(self.db.reader())
            .await?;
        for p in due {
            if let Some(out) = p.out_trade_no.clone()
                && let Ok(channel) = self.channel_of_payment(self.db.reader(), &p).await
            {
                // Claim: push the next query out so a second server skips it.
                let claimed = payment::Entity::update_many()
                    .col_expr(payment::Column::NextQueryAtUs, Expr::value(now_us + backoff_us(p.query_attempts)))
                    .col_expr(payment::Column::QueryAttempts, Expr::value(p.query_attempts + 1))
                    .filter(payment::Column::Id.eq(p.id))
                    .filter(payment::Column::NextQueryAtUs.eq(p.next_query_at_us))
                    .exec(self.db.writer())
                    .await?;
                if claimed.rows_affected != 1 {
                    continue;
                }
                let actor = Actor::system("job:settle");
                if p.status == "closed" {
                    // Closed on our side (order cancelled/expired): close at the channel too;
                    // if it was paid meanwhile, the refund path takes over.
                    match channel.close(&out).await {
                        Ok(()) => {
                            payment::Entity::update_many()
                                .col_expr(payment::Column::NextQueryAtUs, Expr::value(Option::<i64>::None))
                                .filter(payment::Column::Id.eq(p.id))
                                .exec(self.db.writer())
                                .await?;
                        }
                        Err(_) => {
                            if let Ok(state @ PaymentState::Succeeded { .. }) = channel.query(&out).await {
                                self.apply_channel_state(&out, &state, &actor).await?;
                                report.refunded_late += 1;
                            }
                        }
                    }
                    continue;
                }
                match channel.query(&out).await {
                    Ok(state) => {
                        let past_hold = order::Entity::find_by_id(p.order_id)
                            .one(self.db.reader())
                            .await?
                            .and_then(|o| o.hold_expires_at_us)
                            .is_some_and(|h| h <= now_us);
                        let state = match state {
                            // Never reached the channel (create timed out early): give up
                            // once the hold is over.
                            PaymentState::NotFound if !past_hold => continue,
                            PaymentState::Pending if past_hold => {
                                let _ = channel.close(&out).await;
                                channel.query(&out).await.unwrap_or(PaymentState::Pending)
                            }
                            s => s,
                        };
                        match self.apply_channel_state(&out, &state, &actor).await? {
                            ChannelOutcome::Applied => report.settled += 1,
                            ChannelOutcome::Failed => report.failed += 1,
                            ChannelOutcome::RefundedLate => report.refunded_late += 1,
                            _ => {}
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, payment = p.id, "channel query failed; retried later"),
                }
            }
        }
        // 2. Holds and payment windows that ran out.
        let expired = order::Entity::find()
            .filter(
                order::Column::Status.is_in([OrderStatus::AwaitingPayment.as_str(), OrderStatus::Authorised.as_str()]),
            )
            .filter(order::Column::Kind.is_in([OrderKind::Prepay.as_str(), OrderKind::Topup.as_str()]))
            .filter(order::Column::HoldExpiresAtUs.lte(now_us))
            .limit(100)
            .all(self.db.reader())
            .await?;
        for o in expired {
            let tx = self.db.begin().await?;
            let m = lock(&tx, o.id).await?;
            if m.version != o.version {
                continue; // changed meanwhile; the next round looks again
            }
            // A channel payment still in flight is settled first (step 1 above).
            let in_flight = payment::Entity::find()
                .filter(payment::Column::OrderId.eq(m.id))
                .filter(payment::Column::Status.eq("pending"))
                .count(&tx)
                .await?;
            if in_flight > 0 && m.status == OrderStatus::AwaitingPayment.as_str() {
                continue;
            }
            self.unwind(&tx, &m, OrderEvent::Expire, &Actor::system("job:expire")).await?;
            tx.commit().await?;
            report.expired += 1;
        }
        // 3. Refunds whose channel part has not gone through.
        self.dispatch_refunds().await;
        report.idempotency_purged = self.idem_purge(now_us).await?;
        report.device_nonces_purged = self.purge_device_nonces(now_us).await?;
        // 4. Alerts only time shows (unanswered payments, stuck nozzles, refund spikes…).
        match self.scan_alerts(now_us, false).await {
            Ok(n) => report.alerts_raised = n,
            Err(e) => tracing::warn!(error = %e, "alert scan failed; retried later"),
        }
        // 5. Yesterday's statements, once a day (a failure is logged, never blocks the rest).
        match self.reconcile_due(now_us).await {
            Ok(n) => report.reconciled = n,
            Err(e) => tracing::warn!(error = %e, "daily reconciliation failed; retried later"),
        }
        Ok(report)
    }
}

fn backoff_us(attempts: i32) -> i64 {
    // 10 s, 20 s, 40 s … capped at 10 minutes.
    (FIRST_QUERY_AFTER_US << attempts.clamp(0, 6)).min(600_000_000)
}

/// What applying a channel message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChannelOutcome {
    Applied,
    /// Already applied: acknowledged, no effect.
    Duplicate,
    /// Paid for a closed order: refunded automatically.
    RefundedLate,
    /// The payment failed or closed; the order's plan was undone.
    Failed,
    Pending,
    /// No such payment here: parked for staff (reconciliation).
    Unknown,
    /// The amount or currency differs from ours: nothing applied, parked for staff.
    Mismatch,
}

impl ChannelOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelOutcome::Applied => "applied",
            ChannelOutcome::Duplicate => "duplicate",
            ChannelOutcome::RefundedLate => "refunded_late",
            ChannelOutcome::Failed => "failed",
            ChannelOutcome::Pending => "pending",
            ChannelOutcome::Unknown => "parked",
            ChannelOutcome::Mismatch => "mismatch",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct JobReport {
    pub settled: u32,
    pub failed: u32,
    pub expired: u32,
    pub refunded_late: u32,
    pub idempotency_purged: u64,
    pub device_nonces_purged: u64,
    pub reconciled: u32,
    pub alerts_raised: u32,
}

/// The audit row of an order's money event (amounts and ids only: no personal data).
pub(crate) fn order_entry(m: &order::Model, action: &'static str) -> AuditEntry {
    let after = serde_json::json!({
        "order_no": m.order_no, "status": m.status, "gross_fen": m.gross_fen, "payable_fen": m.payable_fen,
        "paid_fen": m.paid_fen, "refunded_fen": m.refunded_fen, "points_earned": m.points_earned,
    });
    match m.station_id {
        Some(s) => AuditEntry::station(m.chain_id, s, action, "order"),
        None => AuditEntry::chain(m.chain_id, action, "order"),
    }
    .target(m.id)
    .after(after)
}

/// The domain's coupon of a stored row.
pub(crate) fn coupon_of(c: &coupon::Model) -> AppResult<Coupon> {
    Ok(Coupon {
        id: c.id,
        rule: serde_json::from_str(&c.rule).map_err(|e| internal(format!("coupon {} rule: {e}", c.id)))?,
        valid_from_us: c.valid_from_us,
        valid_until_us: c.valid_until_us,
        stackable: c.stackable != 0,
        grade_ids: serde_json::from_str(&c.grade_ids).unwrap_or_default(),
    })
}

pub(crate) trait PaymentExt {
    fn tender(&self) -> Tender;
    fn method_account(&self) -> String;
}

impl PaymentExt for payment::Model {
    fn tender(&self) -> Tender {
        match self.method.as_str() {
            "cash" => Tender::Cash,
            "card" => Tender::Card,
            "payment_code" => Tender::PaymentCode,
            _ => Tender::Channel,
        }
    }

    fn method_account(&self) -> String {
        self.tender().as_str().to_owned()
    }
}
