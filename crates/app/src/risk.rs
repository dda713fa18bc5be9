//! Risk rules, first version (S1): a chain's limits per member, plate and device, the
//! check every payment passes before it proceeds, and the review of the payments a rule
//! held. The rules themselves are `jiayou_domain::risk`; here they meet the database.

use chrono::{DateTime, Utc};
use jiayou_domain::access::{Permission, Target};
use jiayou_domain::order::{OrderEvent, OrderKind, OrderStatus};
use jiayou_domain::risk::{self, Hit, Observation, RiskRule, RiskScope};
use jiayou_domain::settlement::TenderPart;
use jiayou_store::entity::{order, pump_sale, risk_hold, risk_rule};
use jiayou_store::now_us;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::audit::{Actor, AuditEntry};
use crate::chains::instant;
use crate::error::internal;
use crate::orders::settle::order_entry;
use crate::orders::{emit, lock, parse_status, plan_of, transition};
use crate::{App, AppError, AppResult, Caller};

/// A chain's rule for one scope, as staff see and set it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RiskRuleView {
    pub scope: RiskScope,
    /// A single payment above this (fen) is held.
    pub max_single_fen: Option<i64>,
    /// More than `max_count` payments within `window_minutes` are held.
    pub max_count: Option<i64>,
    pub window_minutes: Option<i64>,
    pub updated_at: DateTime<Utc>,
}

/// The limits of one scope; at least one. `max_count` and `window_minutes` go together.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RiskRuleChange {
    /// 1–100000000 fen.
    pub max_single_fen: Option<i64>,
    /// 1–10000 payments …
    pub max_count: Option<i64>,
    /// … within 1–44640 minutes (31 days).
    pub window_minutes: Option<i64>,
}

/// A payment held for review.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RiskHoldView {
    pub id: i64,
    pub order_id: i64,
    pub order_no: String,
    pub station_id: Option<i64>,
    pub kind: OrderKind,
    /// Money taken and held.
    pub paid_fen: i64,
    pub scope: RiskScope,
    /// What the rule saw (zh-CN).
    pub reason: String,
    /// pending, released or refunded.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decided_by: Option<i64>,
    pub note: Option<String>,
}

/// A reviewer's decision; the note is kept with the hold and in the audit log.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldDecision {
    /// 0–200 characters.
    #[serde(default)]
    pub note: String,
}

fn rule_view(m: &risk_rule::Model) -> AppResult<RiskRuleView> {
    Ok(RiskRuleView {
        scope: RiskScope::parse(&m.scope).ok_or_else(|| internal(format!("risk rule scope {:?}", m.scope)))?,
        max_single_fen: m.max_single_fen,
        max_count: m.max_count.map(i64::from),
        window_minutes: m.window_minutes.map(i64::from),
        updated_at: instant(m.updated_at_us),
    })
}

fn domain_rule(m: &risk_rule::Model) -> Option<RiskRule> {
    let scope = RiskScope::parse(&m.scope)?;
    RiskRule::parse(scope, m.max_single_fen, m.max_count.map(i64::from), m.window_minutes.map(i64::from)).ok()
}

impl App {
    pub async fn risk_rules(&self, caller: &Caller, chain_id: i64) -> AppResult<Vec<RiskRuleView>> {
        caller.require(Permission::RiskManage, Target::Chain(chain_id))?;
        self.get_chain_row(chain_id).await?;
        let rows = risk_rule::Entity::find()
            .filter(risk_rule::Column::ChainId.eq(chain_id))
            .order_by_asc(risk_rule::Column::Id)
            .all(self.db.reader())
            .await?;
        rows.iter().map(rule_view).collect()
    }

    /// Sets the rule of `scope` (audited `risk_rule.set`).
    pub async fn set_risk_rule(
        &self,
        caller: &Caller,
        chain_id: i64,
        scope: RiskScope,
        cmd: RiskRuleChange,
    ) -> AppResult<RiskRuleView> {
        caller.require(Permission::RiskManage, Target::Chain(chain_id))?;
        RiskRule::parse(scope, cmd.max_single_fen, cmd.max_count, cmd.window_minutes).map_err(AppError::Invalid)?;
        self.get_chain_row(chain_id).await?;
        let now = now_us();
        let tx = self.db.begin().await?;
        let find = || {
            risk_rule::Entity::find()
                .filter(risk_rule::Column::ChainId.eq(chain_id))
                .filter(risk_rule::Column::Scope.eq(scope.as_str()))
        };
        let before = find().one(&tx).await?;
        // In range (checked above), so the counts fit an i32.
        let (count, window) = (cmd.max_count.map(|c| c as i32), cmd.window_minutes.map(|w| w as i32));
        let saved = match &before {
            Some(b) => {
                let mut am: risk_rule::ActiveModel = b.clone().into();
                am.max_single_fen = Set(cmd.max_single_fen);
                am.max_count = Set(count);
                am.window_minutes = Set(window);
                am.updated_at_us = Set(now);
                am.update(&tx).await?
            }
            None => {
                risk_rule::ActiveModel {
                    chain_id: Set(chain_id),
                    scope: Set(scope.as_str().to_owned()),
                    max_single_fen: Set(cmd.max_single_fen),
                    max_count: Set(count),
                    window_minutes: Set(window),
                    updated_at_us: Set(now),
                    ..Default::default()
                }
                .insert(&tx)
                .await?
            }
        };
        let after = rule_view(&saved)?;
        let mut entry = AuditEntry::chain(chain_id, "risk_rule.set", "risk_rule")
            .target(saved.id)
            .after(serde_json::json!({"scope": scope.as_str(), "max_single_fen": cmd.max_single_fen,
                "max_count": cmd.max_count, "window_minutes": cmd.window_minutes}));
        if let Some(b) = &before {
            entry = entry.before(serde_json::json!({"max_single_fen": b.max_single_fen, "max_count": b.max_count,
                "window_minutes": b.window_minutes}));
        }
        self.commit_audited(tx, caller, entry).await?;
        Ok(after)
    }

    /// Removes the rule of `scope` (audited `risk_rule.delete`); 404 when there is none.
    pub async fn delete_risk_rule(&self, caller: &Caller, chain_id: i64, scope: RiskScope) -> AppResult<()> {
        caller.require(Permission::RiskManage, Target::Chain(chain_id))?;
        let tx = self.db.begin().await?;
        let gone = risk_rule::Entity::delete_many()
            .filter(risk_rule::Column::ChainId.eq(chain_id))
            .filter(risk_rule::Column::Scope.eq(scope.as_str()))
            .exec(&tx)
            .await?;
        if gone.rows_affected == 0 {
            return Err(AppError::NotFound { entity: "risk_rule" });
        }
        let entry = AuditEntry::chain(chain_id, "risk_rule.delete", "risk_rule")
            .after(serde_json::json!({"scope": scope.as_str()}));
        self.commit_audited(tx, caller, entry).await
    }

    /// The first rule payment `m` (about to be paid with `amount_fen` of money) breaks.
    /// Counter sales are not checked: a cashier is there.
    pub(crate) async fn risk_check(
        &self,
        tx: &DatabaseTransaction,
        m: &order::Model,
        kind: OrderKind,
        amount_fen: i64,
    ) -> AppResult<Option<Hit>> {
        if kind == OrderKind::Counter {
            return Ok(None);
        }
        let rules: Vec<RiskRule> = risk_rule::Entity::find()
            .filter(risk_rule::Column::ChainId.eq(m.chain_id))
            .all(tx)
            .await?
            .iter()
            .filter_map(domain_rule)
            .collect();
        if rules.is_empty() {
            return Ok(None);
        }
        let now = now_us();
        let since = |scope: RiskScope| {
            rules
                .iter()
                .find(|r| r.scope == scope)
                .and_then(|r| r.frequency)
                .map(|(_, min)| now - i64::from(min) * 60_000_000)
        };
        let ruled = |scope: RiskScope| rules.iter().any(|r| r.scope == scope);
        let paid_orders = |since: i64| {
            order::Entity::find()
                .filter(order::Column::ChainId.eq(m.chain_id))
                .filter(order::Column::PaidAtUs.gte(since))
                .filter(order::Column::Id.ne(m.id))
        };
        let mut observed = Vec::new();
        if let Some(member_id) = m.member_id
            && ruled(RiskScope::Member)
        {
            let recent = match since(RiskScope::Member) {
                Some(s) => paid_orders(s).filter(order::Column::MemberId.eq(member_id)).count(tx).await?,
                None => 0,
            };
            observed.push(Observation { scope: RiskScope::Member, amount_fen, recent_count: recent as u32 });
        }
        let sale = match m.pump_sale_id {
            Some(id) => pump_sale::Entity::find_by_id(id).one(tx).await?,
            None => None,
        };
        if let Some(sale) = sale {
            let sales_since = |since: i64| {
                pump_sale::Entity::find()
                    .select_only()
                    .column(pump_sale::Column::Id)
                    .filter(pump_sale::Column::ChainId.eq(m.chain_id))
                    .filter(pump_sale::Column::ReportedAtUs.gte(since))
            };
            if let Some(bidx) = sale.plate_bidx.clone()
                && ruled(RiskScope::Plate)
            {
                let recent = match since(RiskScope::Plate) {
                    Some(s) => {
                        let ids: Vec<i64> =
                            sales_since(s).filter(pump_sale::Column::PlateBidx.eq(bidx)).into_tuple().all(tx).await?;
                        paid_orders(s).filter(order::Column::PumpSaleId.is_in(ids)).count(tx).await?
                    }
                    None => 0,
                };
                observed.push(Observation { scope: RiskScope::Plate, amount_fen, recent_count: recent as u32 });
            }
            if ruled(RiskScope::Device) {
                let recent = match since(RiskScope::Device) {
                    Some(s) => {
                        let ids: Vec<i64> = sales_since(s)
                            .filter(pump_sale::Column::DeviceId.eq(sale.device_id))
                            .into_tuple()
                            .all(tx)
                            .await?;
                        paid_orders(s).filter(order::Column::PumpSaleId.is_in(ids)).count(tx).await?
                    }
                    None => 0,
                };
                observed.push(Observation { scope: RiskScope::Device, amount_fen, recent_count: recent as u32 });
            }
        }
        Ok(risk::evaluate(&rules, &observed))
    }

    /// Records the hold of `m` (already moved to held) and tells staff.
    pub(crate) async fn hold_for_review(
        &self,
        tx: &DatabaseTransaction,
        m: &order::Model,
        hit: Hit,
        actor: &Actor,
    ) -> AppResult<()> {
        let h = risk_hold::ActiveModel {
            chain_id: Set(m.chain_id),
            station_id: Set(m.station_id),
            order_id: Set(m.id),
            scope: Set(hit.scope.as_str().to_owned()),
            reason: Set(hit.reason_zh.chars().take(200).collect()),
            status: Set("pending".into()),
            created_at_us: Set(now_us()),
            ..Default::default()
        }
        .insert(tx)
        .await?;
        crate::orders::device::raise_alert(
            tx,
            m.chain_id,
            m.station_id,
            "risk_hold",
            "warning",
            Some(m.id),
            m.pump_sale_id,
            serde_json::json!({"hold_id": h.id, "scope": hit.scope.as_str(), "paid_fen": m.paid_fen}),
        )
        .await?;
        emit(tx, m, "order.held").await?;
        self.audit(tx, actor, order_entry(m, "order.hold")).await
    }

    /// Held payments of a chain, newest first; `status` filters (pending by default).
    pub async fn risk_holds(
        &self,
        caller: &Caller,
        chain_id: i64,
        status: Option<&str>,
    ) -> AppResult<Vec<RiskHoldView>> {
        caller.require(Permission::RiskManage, Target::Chain(chain_id))?;
        let status = status.unwrap_or("pending");
        if !["pending", "released", "refunded"].contains(&status) {
            return Err(crate::error::field_conflict("status", "状态只能是 pending、released 或 refunded").into());
        }
        let holds = risk_hold::Entity::find()
            .filter(risk_hold::Column::ChainId.eq(chain_id))
            .filter(risk_hold::Column::Status.eq(status))
            .order_by_desc(risk_hold::Column::Id)
            .limit(200)
            .all(self.db.reader())
            .await?;
        let ids: Vec<i64> = holds.iter().map(|h| h.order_id).collect();
        let orders = order::Entity::find().filter(order::Column::Id.is_in(ids)).all(self.db.reader()).await?;
        holds
            .iter()
            .map(|h| {
                let o = orders.iter().find(|o| o.id == h.order_id).ok_or_else(|| internal("held order vanished"))?;
                hold_view(h, o)
            })
            .collect()
    }

    /// Lets a held payment proceed: the pump is authorised (prepay), the sale completed
    /// with its points (post-pay), the top-up credited. Audited `order.release`.
    pub async fn release_hold(&self, caller: &Caller, hold_id: i64, cmd: HoldDecision) -> AppResult<RiskHoldView> {
        self.decide_hold(caller, hold_id, cmd, true).await
    }

    /// Gives all of a held payment back the way it came (balance, coupons, points,
    /// channel). Audited `order.refund_held`.
    pub async fn refund_hold(&self, caller: &Caller, hold_id: i64, cmd: HoldDecision) -> AppResult<RiskHoldView> {
        self.decide_hold(caller, hold_id, cmd, false).await
    }

    async fn decide_hold(
        &self,
        caller: &Caller,
        hold_id: i64,
        cmd: HoldDecision,
        release: bool,
    ) -> AppResult<RiskHoldView> {
        if cmd.note.chars().count() > 200 {
            return Err(crate::error::field_conflict("note", "备注最多 200 个字").into());
        }
        caller.require_somewhere(Permission::RiskManage)?;
        let h = risk_hold::Entity::find_by_id(hold_id)
            .one(self.db.reader())
            .await?
            .ok_or(AppError::NotFound { entity: "risk_hold" })?;
        caller.require(Permission::RiskManage, Target::Chain(h.chain_id))?;
        let policy = self.payment_policy(h.chain_id).await?;
        let tx = self.db.begin().await?;
        let m = lock(&tx, h.order_id).await?;
        // The hold row is claimed with a conditional update: two reviewers, one decision.
        let claimed = risk_hold::Entity::update_many()
            .col_expr(risk_hold::Column::Status, Expr::value(if release { "released" } else { "refunded" }))
            .col_expr(risk_hold::Column::DecidedAtUs, Expr::value(now_us()))
            .col_expr(risk_hold::Column::DecidedBy, Expr::value(caller.staff_id()))
            .col_expr(risk_hold::Column::Note, Expr::value(Some(cmd.note.clone()).filter(|n| !n.is_empty())))
            .filter(risk_hold::Column::Id.eq(h.id))
            .filter(risk_hold::Column::Status.eq("pending"))
            .exec(&tx)
            .await?;
        let (kind, status) = parse_status(&m)?;
        if claimed.rows_affected != 1 || status != OrderStatus::Held {
            return Err(AppError::conflict("hold_decided", None, "该笔支付已审核处理"));
        }
        let actor = caller.actor();
        let m = if release {
            let m =
                transition(&tx, &m, OrderEvent::Release { dispensed: kind != OrderKind::Prepay }, Default::default())
                    .await?;
            let m = self.paid_effects(&tx, m, &policy, &actor).await?;
            self.audit(&tx, &actor, order_entry(&m, "order.release")).await?;
            m
        } else {
            let plan = plan_of(&m)?.ok_or_else(|| internal("held order without a plan"))?;
            let lines: Vec<TenderPart> = plan.tenders.iter().filter(|t| t.fen > 0).copied().collect();
            let reason = "风控审核未通过，原路退款";
            self.refund_lines(&tx, &m, &lines, "risk_refund", reason, caller.staff_id(), 0).await?;
            let coupons: Vec<i64> = plan.coupon_lines.iter().map(|l| l.coupon_id).collect();
            self.release_instruments(&tx, &m, &coupons, plan.points_used).await?;
            let am =
                order::ActiveModel { refunded_fen: Set(m.refunded_fen + plan.money_paid_fen()), ..Default::default() };
            let m = transition(&tx, &m, OrderEvent::Refund { full: true }, am).await?;
            self.release_nozzle(&tx, &m).await?;
            emit(&tx, &m, "order.refunded").await?;
            self.audit(&tx, &actor, order_entry(&m, "order.refund_held")).await?;
            m
        };
        tx.commit().await?;
        self.dispatch_refunds().await;
        let h = risk_hold::Entity::find_by_id(hold_id)
            .one(self.db.writer())
            .await?
            .ok_or(AppError::NotFound { entity: "risk_hold" })?;
        hold_view(&h, &m)
    }
}

fn hold_view(h: &risk_hold::Model, o: &order::Model) -> AppResult<RiskHoldView> {
    let (kind, _) = parse_status(o)?;
    Ok(RiskHoldView {
        id: h.id,
        order_id: h.order_id,
        order_no: o.order_no.clone(),
        station_id: h.station_id,
        kind,
        paid_fen: o.paid_fen,
        scope: RiskScope::parse(&h.scope).ok_or_else(|| internal(format!("hold scope {:?}", h.scope)))?,
        reason: h.reason.clone(),
        status: h.status.clone(),
        created_at: instant(h.created_at_us),
        decided_at: h.decided_at_us.map(instant),
        decided_by: h.decided_by,
        note: h.note.clone(),
    })
}
