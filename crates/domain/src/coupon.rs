//! Coupons (C14): 满减 (threshold), 折扣 (percent off), 每升立减 (per-unit off) and
//! 无门槛代金券 (a threshold coupon with no threshold). A coupon is a rule plus a validity
//! window, an optional list of grades and whether it stacks with others. Pure rules:
//! which coupons a member holds and their consumption live in `store`/`app`.

use serde::{Deserialize, Serialize};

use crate::field::{FieldError, FieldErrorKind};
use crate::fuel::mul_div_half_up;

/// How much a coupon takes off an order. Serialised with a `kind` tag so the API and
/// stored coupon templates read `{"kind": "threshold", "min_fen": 10000, "off_fen": 1000}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CouponRule {
    /// 满减: `off_fen` off when the gross is at least `min_fen`. `min_fen = 0` is a
    /// voucher without threshold (无门槛券 / gift voucher); otherwise `off_fen < min_fen`
    /// so that an order meeting the threshold is never free through the coupon alone.
    Threshold { min_fen: i64, off_fen: i64 },
    /// 折扣: `off_bp` basis points off the gross (500 = 5% off = 九五折), rounded half up
    /// to the fen, then capped at `max_off_fen` when given.
    Percent { off_bp: i64, max_off_fen: Option<i64> },
    /// 每升立减: `off_fen_per_unit` fen off per whole unit (litre, kg…) of the quantity,
    /// rounded half up; only when the quantity is at least `min_quantity` thousandths
    /// (0 = no minimum).
    PerUnit { off_fen_per_unit: i64, min_quantity: i64 },
}

impl CouponRule {
    /// Checks a rule as entered in the back office, naming the offending field
    /// (`rule.off_fen`, `rule.off_bp`…) so the form can point at it.
    pub fn validate(&self) -> Result<(), FieldError> {
        match *self {
            CouponRule::Threshold { min_fen, off_fen } => {
                non_negative("rule.min_fen", min_fen)?;
                positive("rule.off_fen", off_fen)?;
                if min_fen > 0 && off_fen >= min_fen {
                    return Err(FieldError::new(
                        "rule.off_fen",
                        FieldErrorKind::Conflict {
                            reason: "立减金额必须小于使用门槛（无门槛券请将门槛设为 0）".into(),
                        },
                    ));
                }
            }
            CouponRule::Percent { off_bp, max_off_fen } => {
                crate::field::int_range("rule.off_bp", off_bp, 1, 9_999)?;
                if let Some(max) = max_off_fen {
                    positive("rule.max_off_fen", max)?;
                }
            }
            CouponRule::PerUnit { off_fen_per_unit, min_quantity } => {
                positive("rule.off_fen_per_unit", off_fen_per_unit)?;
                non_negative("rule.min_quantity", min_quantity)?;
            }
        }
        Ok(())
    }

    /// The discount in fen this rule gives on an order of `gross_fen` for `quantity`
    /// thousandths of a unit. Always within `0..=gross_fen` (an invalid rule or a
    /// negative input gives 0, never a negative discount); 0 when the threshold or the
    /// minimum quantity is not met.
    pub fn discount(&self, gross_fen: i64, quantity: i64) -> i64 {
        if gross_fen <= 0 {
            return 0;
        }
        let off = match *self {
            CouponRule::Threshold { min_fen, off_fen } => {
                if gross_fen >= min_fen {
                    off_fen
                } else {
                    0
                }
            }
            CouponRule::Percent { off_bp, max_off_fen } => {
                let off = mul_div_half_up(gross_fen, off_bp.clamp(0, 10_000), 10_000);
                max_off_fen.map_or(off, |max| off.min(max))
            }
            CouponRule::PerUnit { off_fen_per_unit, min_quantity } => {
                if quantity <= 0 || quantity < min_quantity {
                    0
                } else {
                    mul_div_half_up(off_fen_per_unit, quantity, 1000)
                }
            }
        };
        off.clamp(0, gross_fen)
    }
}

fn positive(field: &'static str, v: i64) -> Result<(), FieldError> {
    crate::field::int_range(field, v, 1, i64::MAX).map(|_| ())
}

fn non_negative(field: &'static str, v: i64) -> Result<(), FieldError> {
    crate::field::int_range(field, v, 0, i64::MAX).map(|_| ())
}

/// One coupon in a member's wallet (or a template of them): its rule and usage rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Coupon {
    pub id: i64,
    pub rule: CouponRule,
    /// First microsecond (UTC, Unix epoch) the coupon may be used.
    pub valid_from_us: i64,
    /// End of validity, exclusive: usable while `valid_from_us <= now < valid_until_us`.
    pub valid_until_us: i64,
    /// Whether it may be combined with other coupons on one order.
    pub stackable: bool,
    /// Grades it applies to; empty means every grade.
    #[serde(default)]
    pub grade_ids: Vec<i64>,
}

impl Coupon {
    /// Checks a coupon (or template) as entered: a valid rule and a non-empty validity
    /// window.
    pub fn validate(&self) -> Result<(), FieldError> {
        self.rule.validate()?;
        if self.valid_until_us <= self.valid_from_us {
            return Err(FieldError::new(
                "valid_until_us",
                FieldErrorKind::Conflict { reason: "有效期结束时间必须晚于开始时间".into() },
            ));
        }
        Ok(())
    }

    /// Whether the coupon may be used at `now_us` on an order of `grade_id` (`None` for
    /// an order without a grade, e.g. the convenience store: only all-grade coupons
    /// apply). Thresholds are not checked here: see [`CouponRefusal::ThresholdNotMet`].
    pub fn usable(&self, now_us: i64, grade_id: Option<i64>) -> Result<(), CouponRefusal> {
        if now_us < self.valid_from_us {
            return Err(CouponRefusal::NotYetValid);
        }
        if now_us >= self.valid_until_us {
            return Err(CouponRefusal::Expired);
        }
        if !self.grade_ids.is_empty() && !grade_id.is_some_and(|g| self.grade_ids.contains(&g)) {
            return Err(CouponRefusal::WrongGrade);
        }
        Ok(())
    }
}

/// Why a coupon cannot be used on an order; each has a stable code for problem+json and
/// a zh-CN message for the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum CouponRefusal {
    #[error("coupon is not valid yet")]
    NotYetValid,
    #[error("coupon has expired")]
    Expired,
    #[error("coupon does not apply to this grade")]
    WrongGrade,
    /// A non-stackable coupon combined with any other coupon.
    #[error("coupon cannot be combined with other coupons")]
    NotStackable,
    /// The same coupon twice on one order.
    #[error("coupon used twice on one order")]
    Duplicate,
    /// The order does not reach the coupon's threshold or minimum quantity (its discount
    /// would be 0). [`crate::settlement::plan`] leaves such a coupon out of the plan; the
    /// app may answer with this instead of silently not applying it.
    #[error("order does not meet the coupon's threshold")]
    ThresholdNotMet,
}

impl CouponRefusal {
    /// Stable machine code for problem+json.
    pub fn code(self) -> &'static str {
        match self {
            CouponRefusal::NotYetValid => "coupon_not_yet_valid",
            CouponRefusal::Expired => "coupon_expired",
            CouponRefusal::WrongGrade => "coupon_wrong_grade",
            CouponRefusal::NotStackable => "coupon_not_stackable",
            CouponRefusal::Duplicate => "coupon_duplicate",
            CouponRefusal::ThresholdNotMet => "coupon_threshold_not_met",
        }
    }

    /// Message for the driver, zh-CN first (P4).
    pub fn message_zh(self) -> &'static str {
        match self {
            CouponRefusal::NotYetValid => "优惠券尚未到使用时间",
            CouponRefusal::Expired => "优惠券已过期",
            CouponRefusal::WrongGrade => "该优惠券不适用于所选油品",
            CouponRefusal::NotStackable => "该优惠券不可与其他优惠券同时使用",
            CouponRefusal::Duplicate => "同一张优惠券不能重复使用",
            CouponRefusal::ThresholdNotMet => "订单金额或数量未达到优惠券使用门槛",
        }
    }

    /// English message (P4: English second).
    pub fn message_en(self) -> &'static str {
        match self {
            CouponRefusal::NotYetValid => "The coupon is not valid yet",
            CouponRefusal::Expired => "The coupon has expired",
            CouponRefusal::WrongGrade => "The coupon does not apply to this grade",
            CouponRefusal::NotStackable => "The coupon cannot be combined with other coupons",
            CouponRefusal::Duplicate => "The same coupon cannot be used twice",
            CouponRefusal::ThresholdNotMet => "The order does not meet the coupon's threshold",
        }
    }
}

/// Checks the combination of coupons chosen for one order: no coupon twice, and a
/// non-stackable coupon only on its own (so at most one non-stackable per order).
/// Each coupon's own [`Coupon::usable`] is checked separately.
pub fn select(coupons: &[Coupon]) -> Result<(), CouponRefusal> {
    for (i, c) in coupons.iter().enumerate() {
        if coupons[..i].iter().any(|d| d.id == c.id) {
            return Err(CouponRefusal::Duplicate);
        }
    }
    if coupons.len() > 1 && coupons.iter().any(|c| !c.stackable) {
        return Err(CouponRefusal::NotStackable);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn coupon(id: i64, stackable: bool) -> Coupon {
        Coupon {
            id,
            rule: CouponRule::Threshold { min_fen: 10_000, off_fen: 1_000 },
            valid_from_us: 100,
            valid_until_us: 200,
            stackable,
            grade_ids: vec![],
        }
    }

    #[test]
    fn threshold_applies_from_the_minimum() {
        let r = CouponRule::Threshold { min_fen: 10_000, off_fen: 1_000 };
        assert_eq!(r.discount(9_999, 0), 0);
        assert_eq!(r.discount(10_000, 0), 1_000);
        assert_eq!(r.discount(50_000, 0), 1_000);
        let voucher = CouponRule::Threshold { min_fen: 0, off_fen: 2_000 };
        assert_eq!(voucher.discount(1_500, 0), 1_500);
        assert_eq!(voucher.discount(0, 0), 0);
        assert_eq!(voucher.discount(-5, 0), 0);
    }

    #[test]
    fn percent_rounds_half_up_then_caps() {
        let r = CouponRule::Percent { off_bp: 500, max_off_fen: None };
        assert_eq!(r.discount(10_000, 0), 500);
        assert_eq!(r.discount(10, 0), 1); // 0.5 fen → 1
        assert_eq!(r.discount(9, 0), 0); // 0.45 fen → 0
        let capped = CouponRule::Percent { off_bp: 1_000, max_off_fen: Some(800) };
        assert_eq!(capped.discount(5_000, 0), 500);
        assert_eq!(capped.discount(50_000, 0), 800);
    }

    #[test]
    fn per_unit_needs_the_minimum_quantity() {
        // ¥0.30 off per litre from 20 L.
        let r = CouponRule::PerUnit { off_fen_per_unit: 30, min_quantity: 20_000 };
        assert_eq!(r.discount(20_000, 19_990), 0);
        assert_eq!(r.discount(20_000, 25_350), 761); // 760.5 → 761
        assert_eq!(r.discount(500, 25_350), 500); // never more than the gross
        let any = CouponRule::PerUnit { off_fen_per_unit: 30, min_quantity: 0 };
        assert_eq!(any.discount(1_000, 0), 0);
        assert_eq!(any.discount(1_000, -10), 0);
    }

    #[test]
    fn validation_names_the_field() {
        let bad = |r: CouponRule| r.validate().unwrap_err().field.into_owned();
        assert_eq!(bad(CouponRule::Threshold { min_fen: 1_000, off_fen: 1_000 }), "rule.off_fen");
        assert_eq!(bad(CouponRule::Threshold { min_fen: 1_000, off_fen: 0 }), "rule.off_fen");
        assert_eq!(bad(CouponRule::Threshold { min_fen: -1, off_fen: 10 }), "rule.min_fen");
        assert_eq!(bad(CouponRule::Percent { off_bp: 0, max_off_fen: None }), "rule.off_bp");
        assert_eq!(bad(CouponRule::Percent { off_bp: 10_000, max_off_fen: None }), "rule.off_bp");
        assert_eq!(bad(CouponRule::Percent { off_bp: 500, max_off_fen: Some(0) }), "rule.max_off_fen");
        assert_eq!(bad(CouponRule::PerUnit { off_fen_per_unit: 0, min_quantity: 0 }), "rule.off_fen_per_unit");
        assert_eq!(bad(CouponRule::PerUnit { off_fen_per_unit: 5, min_quantity: -1 }), "rule.min_quantity");
        assert!(CouponRule::Threshold { min_fen: 0, off_fen: 500 }.validate().is_ok());
        assert!(CouponRule::Percent { off_bp: 9_999, max_off_fen: Some(1) }.validate().is_ok());
        let mut c = coupon(1, true);
        assert!(c.validate().is_ok());
        c.valid_until_us = c.valid_from_us;
        assert_eq!(c.validate().unwrap_err().field, "valid_until_us");
    }

    #[test]
    fn serde_shape_is_tagged_by_kind() {
        let r = CouponRule::Threshold { min_fen: 10_000, off_fen: 1_000 };
        assert_eq!(serde_json::to_value(r).unwrap(), json!({"kind": "threshold", "min_fen": 10000, "off_fen": 1000}));
        let p: CouponRule =
            serde_json::from_value(json!({"kind": "percent", "off_bp": 500, "max_off_fen": null})).unwrap();
        assert_eq!(p, CouponRule::Percent { off_bp: 500, max_off_fen: None });
        let u: CouponRule =
            serde_json::from_value(json!({"kind": "per_unit", "off_fen_per_unit": 30, "min_quantity": 0})).unwrap();
        assert_eq!(u, CouponRule::PerUnit { off_fen_per_unit: 30, min_quantity: 0 });
        assert!(serde_json::from_value::<CouponRule>(json!({"kind": "gift"})).is_err());
    }

    #[test]
    fn usable_checks_window_and_grade() {
        let mut c = coupon(1, true);
        assert_eq!(c.usable(99, None), Err(CouponRefusal::NotYetValid));
        assert_eq!(c.usable(100, None), Ok(()));
        assert_eq!(c.usable(199, None), Ok(()));
        assert_eq!(c.usable(200, None), Err(CouponRefusal::Expired));
        c.grade_ids = vec![92, 95];
        assert_eq!(c.usable(150, Some(95)), Ok(()));
        assert_eq!(c.usable(150, Some(0)), Err(CouponRefusal::WrongGrade));
        assert_eq!(c.usable(150, None), Err(CouponRefusal::WrongGrade));
    }

    #[test]
    fn select_allows_one_non_stackable_alone() {
        assert_eq!(select(&[]), Ok(()));
        assert_eq!(select(&[coupon(1, false)]), Ok(()));
        assert_eq!(select(&[coupon(1, true), coupon(2, true)]), Ok(()));
        assert_eq!(select(&[coupon(1, true), coupon(2, false)]), Err(CouponRefusal::NotStackable));
        assert_eq!(select(&[coupon(1, false), coupon(2, false)]), Err(CouponRefusal::NotStackable));
        assert_eq!(select(&[coupon(1, true), coupon(1, true)]), Err(CouponRefusal::Duplicate));
    }

    #[test]
    fn refusals_have_distinct_codes_and_chinese_messages() {
        let all = [
            CouponRefusal::NotYetValid,
            CouponRefusal::Expired,
            CouponRefusal::WrongGrade,
            CouponRefusal::NotStackable,
            CouponRefusal::Duplicate,
            CouponRefusal::ThresholdNotMet,
        ];
        let codes: std::collections::HashSet<_> = all.iter().map(|r| r.code()).collect();
        assert_eq!(codes.len(), all.len());
        assert!(all.iter().all(|r| r.code().starts_with("coupon_") && r.message_zh().contains("优惠券")));
    }

    fn any_rule() -> impl Strategy<Value = CouponRule> {
        prop_oneof![
            (any::<i64>(), any::<i64>()).prop_map(|(min_fen, off_fen)| CouponRule::Threshold { min_fen, off_fen }),
            (any::<i64>(), proptest::option::of(any::<i64>()))
                .prop_map(|(off_bp, max_off_fen)| CouponRule::Percent { off_bp, max_off_fen }),
            (any::<i64>(), any::<i64>())
                .prop_map(|(off_fen_per_unit, min_quantity)| CouponRule::PerUnit { off_fen_per_unit, min_quantity }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn discount_is_never_negative_nor_above_gross(rule in any_rule(), gross in any::<i64>(), q in any::<i64>()) {
            let d = rule.discount(gross, q);
            prop_assert!(d >= 0);
            prop_assert!(d <= gross.max(0));
        }

        #[test]
        fn valid_percent_discount_grows_with_gross(bp in 1i64..10_000, a in 0i64..1_000_000_000, b in 0i64..1_000_000_000) {
            let r = CouponRule::Percent { off_bp: bp, max_off_fen: None };
            prop_assert!(r.validate().is_ok());
            let (lo, hi) = (a.min(b), a.max(b));
            prop_assert!(r.discount(lo, 0) <= r.discount(hi, 0));
            prop_assert!(r.discount(hi, 0) <= hi);
        }

        #[test]
        fn rules_round_trip_through_json(rule in any_rule()) {
            let back: CouponRule = serde_json::from_value(serde_json::to_value(rule).unwrap()).unwrap();
            prop_assert_eq!(back, rule);
        }
    }
}
