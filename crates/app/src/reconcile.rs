//! The channels' side of the books (C3): the daily reconciliation of each channel
//! merchant's statement (WeChat's trade bill, Alipay's 业务明细) against our payments and
//! refunds, and the notifications parked for staff (an unknown order, a wrong amount or
//! merchant).
//!
//! A day is the channels' business day, China time. Our payments carry the channel's own
//! success time (`settled_at_us`), so a payment falls on the same day on both sides.
//! Refunds carry the time we learnt they succeeded; a refund we settled in the first
//! [`REFUND_GRACE_US`] of a day may be on the previous day's statement, so it is matched
//! from the statement's side only.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone, Utc};
use jiayou_domain::access::{Permission, Target};
use jiayou_domain::settlement::{Tender, TenderPart};
use jiayou_integrations::pay::{PaymentChannel, StatementKind, StatementLine};
use jiayou_store::entity::{chain, channel_notification, payment, reconciliation, refund};
use jiayou_store::now_us;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::chains::instant;
use crate::channels::codes_of;
use crate::error::{field_conflict, internal};
use crate::{App, AppError, AppResult, Caller};

/// Refunds we settled this soon after midnight may be on the previous day's statement.
pub const REFUND_GRACE_US: i64 = 10 * 60 * 1_000_000;

/// One thing the two sides disagree on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Difference {
    /// `missing_ours`: on the statement, unknown here (or not succeeded here: see
    /// `our_status`); `missing_channel`: succeeded here, not on the statement;
    /// `amount_mismatch`: both have it, amounts differ.
    pub kind: String,
    /// payment or refund.
    pub item: String,
    pub out_trade_no: String,
    pub out_refund_no: Option<String>,
    pub transaction_id: Option<String>,
    pub ours_fen: Option<i64>,
    pub theirs_fen: Option<i64>,
    /// Our status of the payment or refund, when we have it.
    pub our_status: Option<String>,
    pub order_id: Option<i64>,
}

/// One merchant's statement of one day against our books.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReconciliationView {
    pub id: i64,
    pub chain_id: i64,
    pub channel: String,
    pub merchant_id: String,
    /// YYYY-MM-DD, China time.
    pub bill_date: String,
    /// matched, differences, failed (the statement could not be read: see `error`).
    pub status: String,
    /// Our succeeded payments minus refunds of that day: count and fen.
    pub ours_count: i64,
    pub ours_fen: i64,
    pub theirs_count: i64,
    pub theirs_fen: i64,
    pub difference_count: i64,
    pub differences: Vec<Difference>,
    pub error: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// Reconcile one channel for one day.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReconcileRequest {
    /// `wechat`, `alipay` or `sandbox`.
    pub channel: String,
    /// YYYY-MM-DD (China time), before today.
    pub date: NaiveDate,
}

/// A notification parked for staff, or already resolved.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ParkedNotification {
    pub id: i64,
    pub chain_id: Option<i64>,
    pub channel: String,
    /// payment or refund.
    pub kind: String,
    pub out_trade_no: Option<String>,
    pub out_refund_no: Option<String>,
    pub amount_fen: i64,
    /// parked (no such payment here) or mismatch (amount, currency or merchant differ).
    pub outcome: String,
    /// The verified (decrypted) notification as received.
    pub body: Option<String>,
    pub received_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<i64>,
    pub resolution: Option<String>,
}

/// What staff did about a parked notification (1–200 characters).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Resolution {
    pub resolution: String,
}

fn china() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// [start, end) of `date` in China time, as µs since the epoch.
pub fn china_day_us(date: NaiveDate) -> (i64, i64) {
    let start = china()
        .from_local_datetime(&date.and_hms_opt(0, 0, 0).expect("midnight exists"))
        .single()
        .expect("a fixed offset has no gaps")
        .timestamp_micros();
    (start, start + 86_400_000_000)
}

/// Today in China time.
pub fn china_today(now_us: i64) -> NaiveDate {
    instant(now_us).with_timezone(&china()).date_naive()
}

/// The channel part of a refund (balance parts never reach the channel).
fn channel_part(r: &refund::Model) -> i64 {
    let lines: Vec<TenderPart> = serde_json::from_str(&r.lines).unwrap_or_default();
    lines.iter().filter(|l| matches!(l.tender, Tender::Channel | Tender::PaymentCode)).map(|l| l.fen).sum()
}

fn view(m: &reconciliation::Model) -> ReconciliationView {
    ReconciliationView {
        id: m.id,
        chain_id: m.chain_id,
        channel: m.channel.clone(),
        merchant_id: m.merchant_id.clone(),
        bill_date: m.bill_date.clone(),
        status: m.status.clone(),
        ours_count: m.ours_count,
        ours_fen: m.ours_fen,
        theirs_count: m.theirs_count,
        theirs_fen: m.theirs_fen,
        difference_count: m.difference_count,
        differences: m.differences.as_deref().and_then(|d| serde_json::from_str(d).ok()).unwrap_or_default(),
        error: m.error.clone(),
        started_at: instant(m.started_at_us),
        finished_at: m.finished_at_us.map(instant),
    }
}

fn parked_view(m: &channel_notification::Model) -> ParkedNotification {
    ParkedNotification {
        id: m.id,
        chain_id: m.chain_id,
        channel: m.channel.clone(),
        kind: m.kind.clone(),
        out_trade_no: m.out_trade_no.clone(),
        out_refund_no: m.out_refund_no.clone(),
        amount_fen: m.amount_fen,
        outcome: m.outcome.clone(),
        body: m.body.clone(),
        received_at: instant(m.received_at_us),
        resolved_at: m.resolved_at_us.map(instant),
        resolved_by: m.resolved_by,
        resolution: m.resolution.clone(),
    }
}

impl App {
    /// Reconciles `channel` for `date` for every merchant of the chain on it (one per
    /// sub-merchant in service-provider mode). Running it again replaces the result.
    pub async fn reconcile(
        &self,
        caller: &Caller,
        chain_id: i64,
        cmd: ReconcileRequest,
    ) -> AppResult<Vec<ReconciliationView>> {
        caller.require(Permission::PayReconcile, Target::Chain(chain_id))?;
        let c = self.get_chain_row(chain_id).await?;
        if cmd.date >= china_today(now_us()) {
            return Err(field_conflict("date", "只能对账今天以前的日期（渠道次日出账单）").into());
        }
        if !self.pay.serves_chain(&c.code, Some(&cmd.channel)) {
            return Err(field_conflict("channel", format!("本连锁未开通该支付渠道：{}", cmd.channel)).into());
        }
        let mut out = Vec::new();
        for channel in self.pay.instances_for_chain(&c.code, &cmd.channel) {
            out.push(self.reconcile_merchant(&c, channel, cmd.date).await?);
        }
        Ok(out)
    }

    /// The reconciliations of a chain, newest day first; filters by channel and day.
    pub async fn reconciliations(
        &self,
        caller: &Caller,
        chain_id: i64,
        channel: Option<&str>,
        date: Option<NaiveDate>,
    ) -> AppResult<Vec<ReconciliationView>> {
        caller.require(Permission::PayReconcile, Target::Chain(chain_id))?;
        let mut q = reconciliation::Entity::find().filter(reconciliation::Column::ChainId.eq(chain_id));
        if let Some(ch) = channel {
            q = q.filter(reconciliation::Column::Channel.eq(ch));
        }
        if let Some(d) = date {
            q = q.filter(reconciliation::Column::BillDate.eq(d.format("%Y-%m-%d").to_string()));
        }
        let rows = q
            .order_by_desc(reconciliation::Column::BillDate)
            .order_by_asc(reconciliation::Column::Id)
            .limit(200)
            .all(self.db.reader())
            .await?;
        Ok(rows.iter().map(view).collect())
    }

    pub async fn reconciliation(&self, caller: &Caller, id: i64) -> AppResult<ReconciliationView> {
        caller.require_somewhere(Permission::PayReconcile)?;
        let m = reconciliation::Entity::find_by_id(id)
            .one(self.db.reader())
            .await?
            .ok_or(AppError::NotFound { entity: "reconciliation" })?;
        caller.require(Permission::PayReconcile, Target::Chain(m.chain_id))?;
        Ok(view(&m))
    }

    /// Compares one merchant's statement of `date` with our books and stores the result.
    async fn reconcile_merchant(
        &self,
        c: &chain::Model,
        channel: Arc<dyn PaymentChannel>,
        date: NaiveDate,
    ) -> AppResult<ReconciliationView> {
        let bill_date = date.format("%Y-%m-%d").to_string();
        let started = now_us();
        let row = self.claim_reconciliation(c.id, channel.as_ref(), &bill_date, started).await?;
        let mut am: reconciliation::ActiveModel = row.into();
        match channel.statement(date).await {
            Err(e) => {
                tracing::warn!(channel = channel.name(), %bill_date, error = %e, "statement not available");
                am.status = Set("failed".into());
                am.error = Set(Some(format!("{}: {}", e.code(), e).chars().take(400).collect()));
            }
            Ok(lines) => {
                let r = self.compare(c, channel.as_ref(), date, &lines).await?;
                am.status = Set(if r.differences.is_empty() { "matched" } else { "differences" }.into());
                am.ours_count = Set(r.ours_count);
                am.ours_fen = Set(r.ours_fen);
                am.theirs_count = Set(lines.len() as i64);
                am.theirs_fen = Set(lines
                    .iter()
                    .map(|l| if l.kind == StatementKind::Refund { -l.amount_fen } else { l.amount_fen })
                    .sum());
                am.difference_count = Set(r.differences.len() as i64);
                am.differences = Set(Some(serde_json::to_string(&r.differences).map_err(|e| internal(e.to_string()))?));
                am.error = Set(None);
            }
        }
        am.finished_at_us = Set(Some(now_us()));
        let saved = am.update(self.db.writer()).await?;
        Ok(view(&saved))
    }

    /// The day's row, new or reset for a rerun. The unique key (chain, channel,
    /// merchant, day) makes two servers' daily jobs meet on one row.
    async fn claim_reconciliation(
        &self,
        chain_id: i64,
        channel: &dyn PaymentChannel,
        bill_date: &str,
        now: i64,
    ) -> AppResult<reconciliation::Model> {
        let find = || {
            reconciliation::Entity::find()
                .filter(reconciliation::Column::ChainId.eq(chain_id))
                .filter(reconciliation::Column::Channel.eq(channel.name()))
                .filter(reconciliation::Column::MerchantId.eq(channel.merchant_id()))
                .filter(reconciliation::Column::BillDate.eq(bill_date))
        };
        if let Some(existing) = find().one(self.db.writer()).await? {
            let mut am: reconciliation::ActiveModel = existing.into();
            am.status = Set("running".into());
            am.started_at_us = Set(now);
            am.finished_at_us = Set(None);
            return Ok(am.update(self.db.writer()).await?);
        }
        let inserted = reconciliation::ActiveModel {
            chain_id: Set(chain_id),
            channel: Set(channel.name().to_owned()),
            merchant_id: Set(channel.merchant_id().to_owned()),
            bill_date: Set(bill_date.to_owned()),
            status: Set("running".into()),
            ours_count: Set(0),
            ours_fen: Set(0),
            theirs_count: Set(0),
            theirs_fen: Set(0),
            difference_count: Set(0),
            started_at_us: Set(now),
            ..Default::default()
        }
        .insert(self.db.writer())
        .await
        .map_err(AppError::from);
        match inserted {
            Ok(m) => Ok(m),
            // Another server inserted it a moment ago: use that row.
            Err(AppError::Conflict { .. }) => {
                find().one(self.db.writer()).await?.ok_or_else(|| internal("reconciliation row vanished"))
            }
            Err(e) => Err(e),
        }
    }

    async fn compare(
        &self,
        c: &chain::Model,
        channel: &dyn PaymentChannel,
        date: NaiveDate,
        lines: &[StatementLine],
    ) -> AppResult<Comparison> {
        let (start, end) = china_day_us(date);
        let db = self.db.reader();
        // Which of our stations this merchant serves, by the registry's own choice.
        let mut merchant_of_station: HashMap<Option<i64>, bool> = HashMap::new();
        let mut ours_here = async |station_id: Option<i64>| -> AppResult<bool> {
            if let Some(v) = merchant_of_station.get(&station_id) {
                return Ok(*v);
            }
            let (chain_code, station_code) = codes_of(db, c.id, station_id).await?;
            let here = self
                .pay
                .pick(&chain_code, &station_code, Some(channel.name()))
                .is_some_and(|p| p.merchant_id() == channel.merchant_id());
            merchant_of_station.insert(station_id, here);
            Ok(here)
        };
        let order_station = async |order_id: i64| -> AppResult<Option<i64>> {
            Ok(jiayou_store::entity::order::Entity::find_by_id(order_id).one(db).await?.and_then(|o| o.station_id))
        };

        let mut differences = Vec::new();
        let (mut ours_count, mut ours_fen) = (0i64, 0i64);
        // 1. Our payments of the day, through this channel and merchant.
        let payments = payment::Entity::find()
            .filter(payment::Column::ChainId.eq(c.id))
            .filter(payment::Column::Channel.eq(channel.name()))
            .filter(payment::Column::Status.eq("succeeded"))
            .filter(payment::Column::SettledAtUs.gte(start))
            .filter(payment::Column::SettledAtUs.lt(end))
            .all(db)
            .await?;
        let theirs_payments: HashMap<&str, &StatementLine> =
            lines.iter().filter(|l| l.kind == StatementKind::Payment).map(|l| (l.out_trade_no.as_str(), l)).collect();
        for p in &payments {
            if !ours_here(order_station(p.order_id).await?).await? {
                continue;
            }
            ours_count += 1;
            ours_fen += p.amount_fen;
            let no = p.out_trade_no.clone().unwrap_or_default();
            match theirs_payments.get(no.as_str()) {
                None => differences.push(Difference {
                    kind: "missing_channel".into(),
                    item: "payment".into(),
                    out_trade_no: no,
                    out_refund_no: None,
                    transaction_id: p.transaction_id.clone(),
                    ours_fen: Some(p.amount_fen),
                    theirs_fen: None,
                    our_status: Some(p.status.clone()),
                    order_id: Some(p.order_id),
                }),
                Some(l) if l.amount_fen != p.amount_fen => differences.push(Difference {
                    kind: "amount_mismatch".into(),
                    item: "payment".into(),
                    out_trade_no: no,
                    out_refund_no: None,
                    transaction_id: Some(l.transaction_id.clone()),
                    ours_fen: Some(p.amount_fen),
                    theirs_fen: Some(l.amount_fen),
                    our_status: Some(p.status.clone()),
                    order_id: Some(p.order_id),
                }),
                Some(_) => {}
            }
        }
        // 2. The statement's payments we do not have as succeeded (on any day: the
        // channel's day is the authority here).
        for l in lines.iter().filter(|l| l.kind == StatementKind::Payment) {
            let ours =
                payment::Entity::find().filter(payment::Column::OutTradeNo.eq(l.out_trade_no.as_str())).one(db).await?;
            if let Some(p) = &ours
                && p.chain_id != c.id
            {
                continue; // a deployment-wide merchant's payment of another chain
            }
            if ours.as_ref().is_some_and(|p| p.status == "succeeded") {
                continue; // matched above, or settled on our side on another day: fine
            }
            differences.push(Difference {
                kind: "missing_ours".into(),
                item: "payment".into(),
                out_trade_no: l.out_trade_no.clone(),
                out_refund_no: None,
                transaction_id: Some(l.transaction_id.clone()),
                ours_fen: ours.as_ref().map(|p| p.amount_fen),
                theirs_fen: Some(l.amount_fen),
                our_status: ours.as_ref().map(|p| p.status.clone()),
                order_id: ours.as_ref().map(|p| p.order_id),
            });
        }
        // 3. Refunds: ours of the day with a channel part, then the statement's.
        let refunds = refund::Entity::find()
            .filter(refund::Column::ChainId.eq(c.id))
            .filter(refund::Column::Status.eq("succeeded"))
            .filter(refund::Column::SettledAtUs.gte(start))
            .filter(refund::Column::SettledAtUs.lt(end))
            .all(db)
            .await?;
        let theirs_refunds: HashMap<&str, &StatementLine> = lines
            .iter()
            .filter(|l| l.kind == StatementKind::Refund)
            .filter_map(|l| l.out_refund_no.as_deref().map(|n| (n, l)))
            .collect();
        for r in &refunds {
            let fen = channel_part(r);
            if fen == 0 {
                continue;
            }
            let Some(p) = payment::Entity::find()
                .filter(payment::Column::OrderId.eq(r.order_id))
                .filter(payment::Column::Channel.eq(channel.name()))
                .filter(payment::Column::Status.eq("succeeded"))
                .one(db)
                .await?
            else {
                continue;
            };
            if !ours_here(order_station(r.order_id).await?).await? {
                continue;
            }
            ours_count += 1;
            ours_fen -= fen;
            let theirs = theirs_refunds.get(r.out_refund_no.as_str());
            let settled = r.settled_at_us.unwrap_or(start);
            let kind = match theirs {
                None if settled < start + REFUND_GRACE_US => continue, // maybe yesterday's statement
                None => "missing_channel",
                Some(l) if l.amount_fen != fen => "amount_mismatch",
                Some(_) => continue,
            };
            differences.push(Difference {
                kind: kind.into(),
                item: "refund".into(),
                out_trade_no: p.out_trade_no.clone().unwrap_or_default(),
                out_refund_no: Some(r.out_refund_no.clone()),
                transaction_id: p.transaction_id.clone(),
                ours_fen: Some(fen),
                theirs_fen: theirs.map(|l| l.amount_fen),
                our_status: Some(r.status.clone()),
                order_id: Some(r.order_id),
            });
        }
        for l in lines.iter().filter(|l| l.kind == StatementKind::Refund) {
            let no = l.out_refund_no.clone().unwrap_or_default();
            let ours = refund::Entity::find().filter(refund::Column::OutRefundNo.eq(no.as_str())).one(db).await?;
            if let Some(r) = &ours
                && (r.chain_id != c.id || r.status == "succeeded")
            {
                continue;
            }
            differences.push(Difference {
                kind: "missing_ours".into(),
                item: "refund".into(),
                out_trade_no: l.out_trade_no.clone(),
                out_refund_no: Some(no),
                transaction_id: Some(l.transaction_id.clone()),
                ours_fen: ours.as_ref().map(channel_part),
                theirs_fen: Some(l.amount_fen),
                our_status: ours.as_ref().map(|r| r.status.clone()),
                order_id: ours.as_ref().map(|r| r.order_id),
            });
        }
        Ok(Comparison { ours_count, ours_fen, differences })
    }

    /// The daily job: once China time is past 10:00 (both channels have cut yesterday's
    /// bill by then), reconcile yesterday for every chain and merchant that has no result
    /// yet, or whose statement could not be read an hour ago. Returns how many ran.
    pub async fn reconcile_due(&self, now: i64) -> AppResult<u32> {
        if self.pay.is_empty() {
            return Ok(0);
        }
        let local = instant(now).with_timezone(&china());
        if local.time() < chrono::NaiveTime::from_hms_opt(10, 0, 0).expect("10:00 exists") {
            return Ok(0);
        }
        let Some(yesterday) = local.date_naive().pred_opt() else { return Ok(0) };
        let bill_date = yesterday.format("%Y-%m-%d").to_string();
        let mut ran = 0;
        for c in chain::Entity::find().all(self.db.reader()).await? {
            for name in self.pay.names() {
                for channel in self.pay.instances_for_chain(&c.code, name) {
                    let done = reconciliation::Entity::find()
                        .filter(reconciliation::Column::ChainId.eq(c.id))
                        .filter(reconciliation::Column::Channel.eq(name))
                        .filter(reconciliation::Column::MerchantId.eq(channel.merchant_id()))
                        .filter(reconciliation::Column::BillDate.eq(bill_date.as_str()))
                        .filter(
                            Condition::any()
                                .add(reconciliation::Column::Status.ne("failed"))
                                .add(reconciliation::Column::StartedAtUs.gt(now - 3_600_000_000)),
                        )
                        .one(self.db.reader())
                        .await?;
                    if done.is_none() {
                        self.reconcile_merchant(&c, channel, yesterday).await?;
                        ran += 1;
                    }
                }
            }
        }
        Ok(ran)
    }

    /// Notifications parked for staff in a chain (and those of deployment-wide merchants
    /// that matched no order): unresolved by default, newest first.
    pub async fn parked_notifications(
        &self,
        caller: &Caller,
        chain_id: i64,
        include_resolved: bool,
    ) -> AppResult<Vec<ParkedNotification>> {
        caller.require(Permission::PayReconcile, Target::Chain(chain_id))?;
        let mut q = channel_notification::Entity::find()
            .filter(channel_notification::Column::Outcome.is_in(["parked", "mismatch"]))
            .filter(
                Condition::any()
                    .add(channel_notification::Column::ChainId.eq(chain_id))
                    .add(channel_notification::Column::ChainId.is_null()),
            );
        if !include_resolved {
            q = q.filter(channel_notification::Column::ResolvedAtUs.is_null());
        }
        let rows = q.order_by_desc(channel_notification::Column::Id).limit(200).all(self.db.reader()).await?;
        Ok(rows.iter().map(parked_view).collect())
    }

    /// Records what staff did about a parked notification (audited
    /// `pay_notification.resolve`). Resolving twice is a conflict.
    pub async fn resolve_notification(
        &self,
        caller: &Caller,
        chain_id: i64,
        id: i64,
        cmd: Resolution,
    ) -> AppResult<ParkedNotification> {
        caller.require(Permission::PayReconcile, Target::Chain(chain_id))?;
        let text = cmd.resolution.trim();
        if text.is_empty() || text.chars().count() > 200 {
            return Err(field_conflict("resolution", "处理说明为 1–200 个字").into());
        }
        let tx = sea_orm::TransactionTrait::begin(self.db.writer()).await?;
        let visible = Condition::any()
            .add(channel_notification::Column::ChainId.eq(chain_id))
            .add(channel_notification::Column::ChainId.is_null());
        let n = channel_notification::Entity::find_by_id(id)
            .filter(visible)
            .filter(channel_notification::Column::Outcome.is_in(["parked", "mismatch"]))
            .one(&tx)
            .await?
            .ok_or(AppError::NotFound { entity: "notification" })?;
        let done = channel_notification::Entity::update_many()
            .col_expr(channel_notification::Column::ResolvedAtUs, Expr::value(now_us()))
            .col_expr(channel_notification::Column::ResolvedBy, Expr::value(caller.staff_id()))
            .col_expr(channel_notification::Column::Resolution, Expr::value(text.to_owned()))
            .filter(channel_notification::Column::Id.eq(n.id))
            .filter(channel_notification::Column::ResolvedAtUs.is_null())
            .exec(&tx)
            .await?;
        if done.rows_affected != 1 {
            return Err(AppError::conflict("notification_resolved", None, "该通知已处理"));
        }
        let entry = crate::audit::AuditEntry::chain(chain_id, "pay_notification.resolve", "pay_notification")
            .target(n.id)
            .after(serde_json::json!({"channel": n.channel, "out_trade_no": n.out_trade_no, "resolution": text}));
        self.commit_audited(tx, caller, entry).await?;
        let n = channel_notification::Entity::find_by_id(id)
            .one(self.db.writer())
            .await?
            .ok_or(AppError::NotFound { entity: "notification" })?;
        Ok(parked_view(&n))
    }
}

struct Comparison {
    ours_count: i64,
    ours_fen: i64,
    differences: Vec<Difference>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_china_day_starts_at_16_00_utc_the_day_before() {
        let (start, end) = china_day_us(NaiveDate::from_ymd_opt(2026, 11, 21).unwrap());
        assert_eq!(instant(start).to_rfc3339(), "2026-11-20T16:00:00+00:00");
        assert_eq!(end - start, 86_400_000_000);
        assert_eq!(china_today(start), NaiveDate::from_ymd_opt(2026, 11, 21).unwrap());
        assert_eq!(china_today(start - 1), NaiveDate::from_ymd_opt(2026, 11, 20).unwrap());
    }
}
