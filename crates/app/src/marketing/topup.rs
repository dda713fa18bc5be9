//! Top-up bonus rules (C12): 充500送50 (bonus balance), 充100送20积分 (points),
//! 充1000送50元加油券 (coupons). A top-up gets the live rule with the highest threshold
//! it reaches ([`best_topup_rule`]); the top-up itself (crate::wallet) applies it.
//!
//! The rule's coupon is stored in `coupon_rule` as the [`CouponRule`] JSON with one more
//! key, `title`: it still reads as a plain `CouponRule` (unknown keys are ignored).

use chrono::{DateTime, Utc};
use jiayou_domain::coupon::CouponRule;
use jiayou_domain::{FieldError, FieldErrorKind, field};
use jiayou_store::entity::topup_rule;
use jiayou_store::now_us;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, Set,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{require_manage, require_read};
use crate::audit::AuditEntry;
use crate::caller::snapshot;
use crate::chains::instant;
use crate::error::{Problems, internal};
use crate::members::MemberAuth;
use crate::{App, AppError, AppResult, Caller};

/// Largest threshold: ¥100,000.00.
const MAX_TOPUP_FEN: i64 = 10_000_000;
const MAX_BONUS_POINTS: i64 = 10_000_000;
const DAY_US: i64 = 86_400 * 1_000_000;

/// The coupons a top-up rule gives: `count` coupons valid `valid_days` days from the
/// top-up, for every grade, not stackable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopupCoupon {
    /// At most 64 characters (充值赠送加油券).
    pub title: String,
    pub rule: CouponRule,
    /// 1–10 coupons per top-up.
    pub count: i64,
    /// 1–3650 days from the top-up.
    pub valid_days: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTopupRule {
    /// At most 64 characters (充500送50).
    pub name: String,
    /// The rule applies to top-ups of at least this amount (1–10000000 fen); one live
    /// rule per amount.
    pub min_amount_fen: i64,
    /// Bonus balance given (kept apart from paid money), 0 up to `min_amount_fen`.
    #[serde(default)]
    pub bonus_fen: i64,
    /// Points given, 0–10000000.
    #[serde(default)]
    pub bonus_points: i64,
    /// Coupons given, if any. A rule gives at least one of bonus, points, coupons.
    pub coupon: Option<TopupCoupon>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TopupRuleView {
    pub id: i64,
    pub chain_id: i64,
    pub name: String,
    pub min_amount_fen: i64,
    pub bonus_fen: i64,
    pub bonus_points: i64,
    pub coupon: Option<TopupCoupon>,
    pub created_at: DateTime<Utc>,
    /// Set once retired: no longer applied to new top-ups.
    pub retired_at: Option<DateTime<Utc>>,
}

impl TopupRuleView {
    fn of(m: topup_rule::Model) -> AppResult<TopupRuleView> {
        let coupon = topup_coupon(&m)?;
        Ok(TopupRuleView {
            id: m.id,
            chain_id: m.chain_id,
            name: m.name,
            min_amount_fen: m.min_amount_fen,
            bonus_fen: m.bonus_fen,
            bonus_points: m.bonus_points,
            coupon,
            created_at: instant(m.created_at_us),
            retired_at: m.retired_at_us.map(instant),
        })
    }
}

/// The coupons a rule gives, if any.
pub fn topup_coupon(m: &topup_rule::Model) -> AppResult<Option<TopupCoupon>> {
    let Some(raw) = m.coupon_rule.as_deref() else { return Ok(None) };
    let bad = |e: serde_json::Error| internal(format!("topup_rules row {} holds an unreadable coupon: {e}", m.id));
    let value: serde_json::Value = serde_json::from_str(raw).map_err(bad)?;
    let title = value.get("title").and_then(|t| t.as_str()).unwrap_or("充值赠券").to_owned();
    let rule: CouponRule = serde_json::from_value(value).map_err(bad)?;
    Ok(Some(TopupCoupon { title, rule, count: m.coupon_count.into(), valid_days: m.coupon_valid_days.into() }))
}

/// The rule a top-up of `amount_fen` gets: among the live rules, the one with the
/// highest `min_amount_fen` not above the amount; of equal thresholds, the oldest (lowest
/// id). `None` when no rule is reached.
pub fn best_topup_rule(rules: &[topup_rule::Model], amount_fen: i64) -> Option<&topup_rule::Model> {
    rules
        .iter()
        .filter(|r| r.retired_at_us.is_none() && r.min_amount_fen <= amount_fen)
        .max_by(|a, b| a.min_amount_fen.cmp(&b.min_amount_fen).then(b.id.cmp(&a.id)))
}

fn validate_coupon(p: &mut Problems, c: &TopupCoupon) -> Option<String> {
    let title = p.check(field::text("coupon.title", &c.title, 64));
    p.check(c.rule.validate().map_err(|e| FieldError::new(format!("coupon.{}", e.field), e.kind)));
    p.check(field::int_range("coupon.count", c.count, 1, 10));
    p.check(field::int_range("coupon.valid_days", c.valid_days, 1, 3_650));
    title
}

impl App {
    /// The live rule a top-up of `amount_fen` in `chain_id` gets (see [`best_topup_rule`]),
    /// read through `conn` (the top-up's transaction, or the database).
    pub async fn topup_rule_for<C: ConnectionTrait>(
        &self,
        conn: &C,
        chain_id: i64,
        amount_fen: i64,
    ) -> AppResult<Option<topup_rule::Model>> {
        let reached = topup_rule::Entity::find()
            .filter(topup_rule::Column::ChainId.eq(chain_id))
            .filter(topup_rule::Column::RetiredAtUs.is_null())
            .filter(topup_rule::Column::MinAmountFen.lte(amount_fen))
            .all(conn)
            .await?;
        Ok(best_topup_rule(&reached, amount_fen).cloned())
    }

    /// Puts the coupons of `rule` (if it gives any) in the member's wallet inside `tx`,
    /// valid from now for the rule's number of days; source `topup_bonus`.
    pub async fn issue_topup_coupons_in(
        &self,
        tx: &DatabaseTransaction,
        rule: &topup_rule::Model,
        member_id: i64,
    ) -> AppResult<Vec<i64>> {
        let Some(c) = topup_coupon(rule)? else { return Ok(Vec::new()) };
        let now = now_us();
        let until = now + c.valid_days.clamp(1, 3_650) * DAY_US;
        let mut ids = Vec::new();
        for _ in 0..c.count.clamp(0, 10) {
            ids.push(
                self.issue_coupon_in(
                    tx,
                    rule.chain_id,
                    member_id,
                    &c.title,
                    c.rule,
                    false,
                    vec![],
                    now,
                    until,
                    "topup_bonus",
                )
                .await?,
            );
        }
        Ok(ids)
    }

    /// Creates a top-up bonus rule (audited `topup_rule.create`).
    pub async fn create_topup_rule(
        &self,
        caller: &Caller,
        chain_id: i64,
        cmd: NewTopupRule,
    ) -> AppResult<TopupRuleView> {
        require_manage(caller, chain_id)?;
        let mut p = Problems::default();
        let name = p.check(field::text("name", &cmd.name, 64));
        let min = p.check(field::int_range("min_amount_fen", cmd.min_amount_fen, 1, MAX_TOPUP_FEN));
        p.check(field::int_range("bonus_fen", cmd.bonus_fen, 0, min.unwrap_or(MAX_TOPUP_FEN)));
        p.check(field::int_range("bonus_points", cmd.bonus_points, 0, MAX_BONUS_POINTS));
        let coupon_title = cmd.coupon.as_ref().map(|c| validate_coupon(&mut p, c));
        if cmd.bonus_fen == 0 && cmd.bonus_points == 0 && cmd.coupon.is_none() {
            p.push(FieldError::new(
                "bonus_fen",
                FieldErrorKind::Conflict {
                    reason: "请至少设置一项赠送：赠送金额、积分或优惠券".into()
                },
            ));
        }
        p.finish()?;
        let Some(name) = name else { unreachable!("validated above") };
        self.get_chain_row(chain_id).await?;

        let coupon_json = match (&cmd.coupon, coupon_title.flatten()) {
            (Some(c), Some(title)) => {
                let mut v = serde_json::to_value(c.rule).map_err(|e| internal(format!("coupon rule as JSON: {e}")))?;
                v["title"] = serde_json::Value::String(title);
                Some(v.to_string())
            }
            _ => None,
        };
        let now = now_us();
        let tx = self.db.begin().await?;
        let clash = topup_rule::Entity::find()
            .filter(topup_rule::Column::ChainId.eq(chain_id))
            .filter(topup_rule::Column::RetiredAtUs.is_null())
            .filter(topup_rule::Column::MinAmountFen.eq(cmd.min_amount_fen))
            .one(&tx)
            .await?;
        if clash.is_some() {
            return Err(AppError::conflict(
                "duplicate",
                Some("min_amount_fen"),
                "已有相同起充金额的充值赠送规则，请先停用原规则",
            ));
        }
        let m = topup_rule::ActiveModel {
            chain_id: Set(chain_id),
            name: Set(name),
            min_amount_fen: Set(cmd.min_amount_fen),
            bonus_fen: Set(cmd.bonus_fen),
            bonus_points: Set(cmd.bonus_points),
            coupon_count: Set(cmd.coupon.as_ref().map_or(0, |c| c.count as i32)),
            coupon_valid_days: Set(cmd.coupon.as_ref().map_or(0, |c| c.valid_days as i32)),
            coupon_rule: Set(coupon_json),
            created_at_us: Set(now),
            retired_at_us: Set(None),
            ..Default::default()
        }
        .insert(&tx)
        .await?;
        let view = TopupRuleView::of(m)?;
        let entry =
            AuditEntry::chain(chain_id, "topup_rule.create", "topup_rule").target(view.id).after(snapshot(&view));
        self.commit_audited(tx, caller, entry).await?;
        Ok(view)
    }

    async fn live_topup_rules(&self, chain_id: i64) -> AppResult<Vec<TopupRuleView>> {
        topup_rule::Entity::find()
            .filter(topup_rule::Column::ChainId.eq(chain_id))
            .filter(topup_rule::Column::RetiredAtUs.is_null())
            .order_by_asc(topup_rule::Column::MinAmountFen)
            .order_by_asc(topup_rule::Column::Id)
            .all(self.db.reader())
            .await?
            .into_iter()
            .map(TopupRuleView::of)
            .collect()
    }

    /// The live top-up rules of a chain, lowest threshold first.
    pub async fn list_topup_rules(&self, caller: &Caller, chain_id: i64) -> AppResult<Vec<TopupRuleView>> {
        require_read(caller, chain_id)?;
        self.live_topup_rules(chain_id).await
    }

    /// The live top-up rules of the member's chain (so the app can show 充500送50).
    pub async fn member_topup_rules(&self, me: &MemberAuth) -> AppResult<Vec<TopupRuleView>> {
        self.live_topup_rules(me.chain_id).await
    }

    /// Retires a rule: new top-ups no longer get it (audited `topup_rule.retire`).
    /// Idempotent.
    pub async fn retire_topup_rule(&self, caller: &Caller, id: i64) -> AppResult<TopupRuleView> {
        caller.require_somewhere(jiayou_domain::access::Permission::MarketingManage)?;
        let row = topup_rule::Entity::find_by_id(id)
            .one(self.db.reader())
            .await?
            .ok_or(AppError::NotFound { entity: "topup_rule" })?;
        require_manage(caller, row.chain_id)?;
        if row.retired_at_us.is_some() {
            return TopupRuleView::of(row);
        }
        let before = TopupRuleView::of(row.clone())?;
        let chain_id = row.chain_id;
        let mut m = row.into_active_model();
        m.retired_at_us = Set(Some(now_us()));
        let tx = self.db.begin().await?;
        let view = TopupRuleView::of(m.update(&tx).await?)?;
        let entry = AuditEntry::chain(chain_id, "topup_rule.retire", "topup_rule")
            .target(id)
            .before(snapshot(&before))
            .after(snapshot(&view));
        self.commit_audited(tx, caller, entry).await?;
        Ok(view)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: i64, min: i64, retired: bool) -> topup_rule::Model {
        topup_rule::Model {
            id,
            chain_id: 1,
            name: format!("充{min}"),
            min_amount_fen: min,
            bonus_fen: min / 10,
            bonus_points: 0,
            coupon_rule: None,
            coupon_count: 0,
            coupon_valid_days: 0,
            created_at_us: 0,
            retired_at_us: retired.then_some(1),
        }
    }

    #[test]
    fn best_rule_is_the_highest_threshold_reached() {
        let rules =
            vec![rule(1, 10_000, false), rule(2, 50_000, false), rule(3, 100_000, true), rule(4, 30_000, false)];
        assert_eq!(best_topup_rule(&rules, 9_999), None);
        assert_eq!(best_topup_rule(&rules, 10_000).map(|r| r.id), Some(1));
        assert_eq!(best_topup_rule(&rules, 49_999).map(|r| r.id), Some(4));
        assert_eq!(best_topup_rule(&rules, 50_000).map(|r| r.id), Some(2));
        // The retired 100000 rule is never chosen.
        assert_eq!(best_topup_rule(&rules, 1_000_000).map(|r| r.id), Some(2));
        assert_eq!(best_topup_rule(&[], 1_000_000), None);
        // Equal thresholds: the oldest rule, whatever the order of the slice.
        let tie = vec![rule(9, 50_000, false), rule(7, 50_000, false), rule(8, 50_000, false)];
        assert_eq!(best_topup_rule(&tie, 60_000).map(|r| r.id), Some(7));
    }

    #[test]
    fn stored_coupon_reads_back_and_as_a_plain_rule() {
        let mut m = rule(1, 100_000, false);
        let r = CouponRule::Threshold { min_fen: 20_000, off_fen: 1_000 };
        let mut v = serde_json::to_value(r).unwrap();
        v["title"] = "充值赠券".into();
        m.coupon_rule = Some(v.to_string());
        m.coupon_count = 5;
        m.coupon_valid_days = 30;
        let c = topup_coupon(&m).unwrap().unwrap();
        assert_eq!(c, TopupCoupon { title: "充值赠券".into(), rule: r, count: 5, valid_days: 30 });
        let plain: CouponRule = serde_json::from_str(m.coupon_rule.as_deref().unwrap()).unwrap();
        assert_eq!(plain, r);
        assert_eq!(topup_coupon(&rule(2, 1, false)).unwrap(), None);
    }
}
