//! Coupons (C14): staff issue coupons to members, all or nothing; members see their
//! wallet of coupons. A coupon row is `available` until an order claims it (a
//! conditional update on `status`, in `crate::orders`); an available coupon past its
//! validity shows as `expired`.

use std::collections::{BTreeSet, HashSet};

use chrono::{DateTime, Utc};
use jiayou_domain::coupon::CouponRule;
use jiayou_domain::{FieldError, FieldErrorKind, field};
use jiayou_store::entity::{coupon, grade, member};
use jiayou_store::now_us;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, Select, Set};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{require_manage, require_read};
use crate::audit::AuditEntry;
use crate::chains::instant;
use crate::error::{Problems, internal};
use crate::members::MemberAuth;
use crate::paging::{self, Page, PageRequest};
use crate::{App, AppError, AppResult, Caller};

/// At most this many members per issue request.
pub const MAX_ISSUE_MEMBERS: usize = 500;
/// A coupon is valid for at most ten years.
const MAX_VALIDITY_US: i64 = 3_650 * 86_400 * 1_000_000;
/// At most this many grades on one coupon.
const MAX_GRADES: usize = 100;
const AVAILABLE: &str = "available";

/// Coupons to issue: one per member, the same coupon for each.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCoupons {
    /// 1–500 members of the chain (not deleted accounts); each gets one coupon.
    pub member_ids: Vec<i64>,
    /// Shown to the driver, at most 64 characters (满100减10, 95折券…).
    pub title: String,
    pub rule: CouponRule,
    /// Whether it may be combined with other coupons on one order (default false).
    #[serde(default)]
    pub stackable: bool,
    /// Grades it applies to (live grades of the chain); empty = every grade.
    #[serde(default)]
    pub grade_ids: Vec<i64>,
    /// First instant it may be used (RFC 3339); default now.
    pub valid_from: Option<DateTime<Utc>>,
    /// End of validity, exclusive (RFC 3339): after `valid_from`, in the future, at
    /// most ten years later.
    pub valid_until: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IssuedCoupons {
    pub issued: u64,
    /// In the order of `member_ids`.
    pub coupon_ids: Vec<i64>,
}

/// Where a coupon stands for the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CouponStatus {
    /// Not used and not past its validity (it may not be valid *yet*: see `valid_from`).
    Available,
    /// Claimed by an order.
    Used,
    /// Not used, and its validity has ended.
    Expired,
}

const STATUSES: [&str; 3] = ["available", "used", "expired"];

fn parse_status(s: Option<&str>) -> AppResult<Option<CouponStatus>> {
    match s.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some("available") => Ok(Some(CouponStatus::Available)),
        Some("used") => Ok(Some(CouponStatus::Used)),
        Some("expired") => Ok(Some(CouponStatus::Expired)),
        Some(_) => Err(field::unknown_value("status", &STATUSES).into()),
    }
}

/// Restricts `q` to coupons in `status` at `now`.
fn filter_status(q: Select<coupon::Entity>, status: Option<CouponStatus>, now: i64) -> Select<coupon::Entity> {
    match status {
        None => q,
        Some(CouponStatus::Available) => {
            q.filter(coupon::Column::Status.eq(AVAILABLE)).filter(coupon::Column::ValidUntilUs.gt(now))
        }
        Some(CouponStatus::Expired) => {
            q.filter(coupon::Column::Status.eq(AVAILABLE)).filter(coupon::Column::ValidUntilUs.lte(now))
        }
        Some(CouponStatus::Used) => q.filter(coupon::Column::Status.ne(AVAILABLE)),
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CouponFilter {
    /// Coupons of this member only.
    pub member_id: Option<i64>,
    /// `available`, `used` or `expired`.
    pub status: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MemberCouponFilter {
    /// `available`, `used` or `expired`; default all.
    pub status: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CouponView {
    pub id: i64,
    pub member_id: i64,
    pub title: String,
    pub rule: CouponRule,
    pub stackable: bool,
    /// Empty = every grade.
    pub grade_ids: Vec<i64>,
    pub valid_from: DateTime<Utc>,
    /// Exclusive.
    pub valid_until: DateTime<Utc>,
    pub status: CouponStatus,
    pub used_order_id: Option<i64>,
    pub used_at: Option<DateTime<Utc>>,
    /// `issued` (by staff) or `topup_bonus`.
    pub source: String,
    pub created_at: DateTime<Utc>,
}

impl CouponView {
    fn of(m: coupon::Model, now: i64) -> AppResult<CouponView> {
        let rule: CouponRule = serde_json::from_str(&m.rule)
            .map_err(|e| internal(format!("coupons row {} holds an unreadable rule: {e}", m.id)))?;
        let grade_ids: Vec<i64> = serde_json::from_str(&m.grade_ids)
            .map_err(|e| internal(format!("coupons row {} holds unreadable grade ids: {e}", m.id)))?;
        let status = if m.status != AVAILABLE {
            CouponStatus::Used
        } else if now >= m.valid_until_us {
            CouponStatus::Expired
        } else {
            CouponStatus::Available
        };
        Ok(CouponView {
            id: m.id,
            member_id: m.member_id,
            title: m.title,
            rule,
            stackable: m.stackable != 0,
            grade_ids,
            valid_from: instant(m.valid_from_us),
            valid_until: instant(m.valid_until_us),
            status,
            used_order_id: m.used_order_id,
            used_at: m.used_at_us.map(instant),
            source: m.source,
            created_at: instant(m.created_at_us),
        })
    }
}

/// The audit record of an issue: what was issued, to whom (member ids only).
#[derive(Serialize)]
struct IssueRecord<'a> {
    issued: usize,
    coupon_ids: &'a [i64],
    member_ids: &'a [i64],
    title: &'a str,
    rule: CouponRule,
    stackable: bool,
    grade_ids: &'a [i64],
    valid_from: DateTime<Utc>,
    valid_until: DateTime<Utc>,
}

impl App {
    /// Puts one coupon in a member's wallet inside `tx` and returns its id. The caller
    /// has validated everything (rule, title of at most 64 characters, validity, grades
    /// of the chain, the member); `source` is `issued`, `topup_bonus`, … (≤ 32 chars).
    #[allow(clippy::too_many_arguments)]
    pub async fn issue_coupon_in(
        &self,
        tx: &DatabaseTransaction,
        chain_id: i64,
        member_id: i64,
        title: &str,
        rule: CouponRule,
        stackable: bool,
        grade_ids: Vec<i64>,
        valid_from_us: i64,
        valid_until_us: i64,
        source: &str,
    ) -> AppResult<i64> {
        let rule_json = serde_json::to_string(&rule).map_err(|e| internal(format!("coupon rule as JSON: {e}")))?;
        let grades_json =
            serde_json::to_string(&grade_ids).map_err(|e| internal(format!("coupon grades as JSON: {e}")))?;
        let m = coupon::ActiveModel {
            chain_id: Set(chain_id),
            member_id: Set(member_id),
            title: Set(title.to_owned()),
            rule: Set(rule_json),
            stackable: Set(i32::from(stackable)),
            grade_ids: Set(grades_json),
            valid_from_us: Set(valid_from_us),
            valid_until_us: Set(valid_until_us),
            status: Set(AVAILABLE.to_owned()),
            used_order_id: Set(None),
            used_at_us: Set(None),
            source: Set(source.to_owned()),
            created_at_us: Set(now_us()),
            ..Default::default()
        }
        .insert(tx)
        .await?;
        Ok(m.id)
    }

    /// Issues the same coupon to each listed member of the chain: all or none, one
    /// audit row (`coupon.issue`).
    pub async fn issue_coupons(&self, caller: &Caller, chain_id: i64, cmd: NewCoupons) -> AppResult<IssuedCoupons> {
        require_manage(caller, chain_id)?;
        let now = now_us();
        let mut p = Problems::default();
        if cmd.member_ids.is_empty() {
            p.push(FieldError::new("member_ids", FieldErrorKind::Required));
        } else if cmd.member_ids.len() > MAX_ISSUE_MEMBERS {
            p.push(FieldError::new(
                "member_ids",
                FieldErrorKind::OutOfRange { min: "1".into(), max: MAX_ISSUE_MEMBERS.to_string() },
            ));
        }
        let mut seen = HashSet::new();
        for (i, id) in cmd.member_ids.iter().enumerate() {
            if !seen.insert(*id) {
                p.push(FieldError::new(
                    format!("member_ids[{i}]"),
                    FieldErrorKind::Conflict { reason: "会员重复".into() },
                ));
                break;
            }
        }
        let title = p.check(field::text("title", &cmd.title, 64));
        p.check(cmd.rule.validate());
        let from_us = cmd.valid_from.map_or(now, |t| t.timestamp_micros());
        let until_us = cmd.valid_until.timestamp_micros();
        if until_us <= from_us {
            p.push(FieldError::new(
                "valid_until",
                FieldErrorKind::Conflict { reason: "有效期结束时间必须晚于开始时间".into() },
            ));
        } else if until_us <= now {
            p.push(FieldError::new("valid_until", FieldErrorKind::Conflict { reason: "有效期已结束".into() }));
        } else if until_us - from_us > MAX_VALIDITY_US {
            p.push(FieldError::new("valid_until", FieldErrorKind::Conflict { reason: "有效期最长十年".into() }));
        }
        if !cmd.member_ids.is_empty() && cmd.member_ids.len() <= MAX_ISSUE_MEMBERS {
            let found: HashSet<i64> = member::Entity::find()
                .filter(member::Column::ChainId.eq(chain_id))
                .filter(member::Column::Id.is_in(cmd.member_ids.clone()))
                .filter(member::Column::ErasedAtUs.is_null())
                .all(self.db.reader())
                .await?
                .into_iter()
                .map(|m| m.id)
                .collect();
            for (i, id) in cmd.member_ids.iter().enumerate() {
                if !found.contains(id) {
                    p.push(FieldError::new(format!("member_ids[{i}]"), FieldErrorKind::NotFound));
                }
            }
        }
        let grade_ids = self.check_grades(&mut p, chain_id, &cmd.grade_ids).await?;
        p.finish()?;
        let Some(title) = title else { unreachable!("validated above") };

        let tx = self.db.begin().await?;
        let mut coupon_ids = Vec::with_capacity(cmd.member_ids.len());
        for &member_id in &cmd.member_ids {
            coupon_ids.push(
                self.issue_coupon_in(
                    &tx,
                    chain_id,
                    member_id,
                    &title,
                    cmd.rule,
                    cmd.stackable,
                    grade_ids.clone(),
                    from_us,
                    until_us,
                    "issued",
                )
                .await?,
            );
        }
        let record = IssueRecord {
            issued: coupon_ids.len(),
            coupon_ids: &coupon_ids,
            member_ids: &cmd.member_ids,
            title: &title,
            rule: cmd.rule,
            stackable: cmd.stackable,
            grade_ids: &grade_ids,
            valid_from: instant(from_us),
            valid_until: instant(until_us),
        };
        let entry = AuditEntry::chain(chain_id, "coupon.issue", "coupon")
            .target(coupon_ids[0])
            .after(crate::caller::snapshot(&record));
        self.commit_audited(tx, caller, entry).await?;
        Ok(IssuedCoupons { issued: coupon_ids.len() as u64, coupon_ids })
    }

    /// Checks that every id is a live grade of the chain (recording the others in `p`);
    /// answers them sorted, once each.
    async fn check_grades(&self, p: &mut Problems, chain_id: i64, ids: &[i64]) -> AppResult<Vec<i64>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        if ids.len() > MAX_GRADES {
            p.push(FieldError::new(
                "grade_ids",
                FieldErrorKind::OutOfRange { min: "0".into(), max: MAX_GRADES.to_string() },
            ));
            return Ok(Vec::new());
        }
        let live: HashSet<i64> = grade::Entity::find()
            .filter(grade::Column::ChainId.eq(chain_id))
            .filter(grade::Column::Id.is_in(ids.to_vec()))
            .filter(grade::Column::RetiredAtUs.is_null())
            .all(self.db.reader())
            .await?
            .into_iter()
            .map(|g| g.id)
            .collect();
        for (i, id) in ids.iter().enumerate() {
            if !live.contains(id) {
                p.push(FieldError::new(format!("grade_ids[{i}]"), FieldErrorKind::NotFound));
            }
        }
        Ok(ids.iter().copied().collect::<BTreeSet<_>>().into_iter().collect())
    }

    /// Coupons of a chain, for its staff: filter by member and status, paginated.
    pub async fn list_coupons(
        &self,
        caller: &Caller,
        chain_id: i64,
        f: &CouponFilter,
        req: &PageRequest,
    ) -> AppResult<Page<CouponView>> {
        require_read(caller, chain_id)?;
        let paging = req.validate(&["id", "created_at", "valid_until"]).map_err(AppError::Invalid)?;
        let status = parse_status(f.status.as_deref())?;
        let now = now_us();
        let mut q = coupon::Entity::find().filter(coupon::Column::ChainId.eq(chain_id));
        if let Some(m) = f.member_id {
            q = q.filter(coupon::Column::MemberId.eq(m));
        }
        q = filter_status(q, status, now);
        let page = paging::fetch(
            self.db.reader(),
            q,
            &paging,
            |f| match f {
                "created_at" => coupon::Column::CreatedAtUs,
                "valid_until" => coupon::Column::ValidUntilUs,
                _ => coupon::Column::Id,
            },
            coupon::Column::Id,
        )
        .await?;
        let items = page.items.into_iter().map(|m| CouponView::of(m, now)).collect::<AppResult<Vec<_>>>()?;
        Ok(Page { items, page: page.page, per_page: page.per_page, total: page.total })
    }

    /// The signed-in member's coupons: available ones soonest-expiring first, the others
    /// newest first.
    pub async fn member_coupons(&self, me: &MemberAuth, f: &MemberCouponFilter) -> AppResult<Vec<CouponView>> {
        let status = parse_status(f.status.as_deref())?;
        let now = now_us();
        let mut q = coupon::Entity::find()
            .filter(coupon::Column::MemberId.eq(me.member_id))
            .filter(coupon::Column::ChainId.eq(me.chain_id));
        q = filter_status(q, status, now);
        q = match status {
            Some(CouponStatus::Available) => {
                q.order_by_asc(coupon::Column::ValidUntilUs).order_by_asc(coupon::Column::Id)
            }
            _ => q.order_by_desc(coupon::Column::Id),
        };
        q.all(self.db.reader()).await?.into_iter().map(|m| CouponView::of(m, now)).collect()
    }
}
