//! Risk rules, first version (S1): per chain and per scope (the member, the licence
//! plate, the forecourt device a sale came through), a ceiling on a single payment and
//! a limit on how many payments may fall within a time window. A payment that breaks a
//! rule is not refused — the money is taken — but *held*: the order waits for a staff
//! member to release it (it proceeds) or refund it. Pure rules; counting recent
//! payments is the app's job.

use serde::{Deserialize, Serialize};

use crate::field::{self, FieldError, FieldErrorKind};
use crate::grade::str_enum;
use crate::money::Fen;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RiskScope {
    /// The member paying (app payments, top-ups, plate pay).
    Member,
    /// The licence plate of a plate-pay sale.
    Plate,
    /// The pump controller that reported the sale.
    Device,
}

str_enum!(RiskScope {
    Member => "member",
    Plate => "plate",
    Device => "device",
});

impl RiskScope {
    pub fn name_zh(self) -> &'static str {
        match self {
            RiskScope::Member => "会员",
            RiskScope::Plate => "车牌",
            RiskScope::Device => "设备",
        }
    }
}

/// The limits of one scope. Either limit may be absent; the frequency limit needs both
/// its count and its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskRule {
    pub scope: RiskScope,
    pub max_single_fen: Option<i64>,
    /// (most payments, within this many minutes), this one included.
    pub frequency: Option<(u32, u32)>,
}

/// Ceiling of a single-payment limit: 1,000,000 yuan.
pub const MAX_SINGLE_FEN: i64 = 100_000_000;
/// The longest window: 31 days.
pub const MAX_WINDOW_MINUTES: u32 = 31 * 24 * 60;

impl RiskRule {
    /// Checks the raw settings; every problem at once.
    pub fn parse(
        scope: RiskScope,
        max_single_fen: Option<i64>,
        max_count: Option<i64>,
        window_minutes: Option<i64>,
    ) -> Result<RiskRule, Vec<FieldError>> {
        let mut problems = Vec::new();
        let mut check = |r: Result<i64, FieldError>| r.map_err(|e| problems.push(e)).ok();
        if let Some(v) = max_single_fen {
            check(field::int_range("max_single_fen", v, 1, MAX_SINGLE_FEN));
        }
        let frequency = match (max_count, window_minutes) {
            (None, None) => None,
            (Some(c), Some(w)) => {
                let c = check(field::int_range("max_count", c, 1, 10_000));
                let w = check(field::int_range("window_minutes", w, 1, MAX_WINDOW_MINUTES as i64));
                c.zip(w).map(|(c, w)| (c as u32, w as u32))
            }
            (Some(_), None) => {
                problems.push(FieldError::new("window_minutes", FieldErrorKind::Required));
                None
            }
            (None, Some(_)) => {
                problems.push(FieldError::new("max_count", FieldErrorKind::Required));
                None
            }
        };
        if max_single_fen.is_none() && max_count.is_none() && window_minutes.is_none() {
            problems.push(FieldError::new("max_single_fen", FieldErrorKind::Required));
        }
        if problems.is_empty() { Ok(RiskRule { scope, max_single_fen, frequency }) } else { Err(problems) }
    }
}

/// What the app saw of one scope for the payment being made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    pub scope: RiskScope,
    pub amount_fen: i64,
    /// Payments of this scope within the rule's window *before* this one.
    pub recent_count: u32,
}

/// A rule that fired, with the reviewer's explanation (zh-CN).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub scope: RiskScope,
    pub reason_zh: String,
}

/// The first rule the payment breaks, if any, checking scopes in the order observed.
pub fn evaluate(rules: &[RiskRule], observed: &[Observation]) -> Option<Hit> {
    for o in observed {
        let Some(rule) = rules.iter().find(|r| r.scope == o.scope) else { continue };
        if let Some(max) = rule.max_single_fen
            && o.amount_fen > max
        {
            return Some(Hit {
                scope: o.scope,
                reason_zh: format!("{}单笔金额 {} 超过上限 {}", o.scope.name_zh(), Fen(o.amount_fen), Fen(max)),
            });
        }
        if let Some((max_count, minutes)) = rule.frequency
            && o.recent_count + 1 > max_count
        {
            return Some(Hit {
                scope: o.scope,
                reason_zh: format!(
                    "{} {} 分钟内第 {} 笔支付，超过上限 {} 笔",
                    o.scope.name_zh(),
                    minutes,
                    o.recent_count + 1,
                    max_count
                ),
            });
        }
    }
    None
}

/// The message a driver sees on a held payment.
pub const HELD_MESSAGE_ZH: &str = "支付已受理，订单触发风控规则，正在等待工作人员审核；审核不通过将原路退款";

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(scope: RiskScope, max: Option<i64>, freq: Option<(u32, u32)>) -> RiskRule {
        RiskRule { scope, max_single_fen: max, frequency: freq }
    }

    #[test]
    fn a_single_payment_above_the_ceiling_is_held() {
        let rules = [rule(RiskScope::Member, Some(100_000), None)];
        let at = |amount_fen| Observation { scope: RiskScope::Member, amount_fen, recent_count: 0 };
        assert_eq!(evaluate(&rules, &[at(100_000)]), None, "the ceiling itself is allowed");
        let hit = evaluate(&rules, &[at(100_001)]).unwrap();
        assert_eq!(hit.scope, RiskScope::Member);
        assert_eq!(hit.reason_zh, "会员单笔金额 ¥1000.01 超过上限 ¥1000.00");
    }

    #[test]
    fn the_payment_past_the_count_in_the_window_is_held() {
        let rules = [rule(RiskScope::Plate, None, Some((3, 60)))];
        let seen = |recent_count| Observation { scope: RiskScope::Plate, amount_fen: 100, recent_count };
        assert_eq!(evaluate(&rules, &[seen(2)]), None, "the third is allowed");
        assert_eq!(evaluate(&rules, &[seen(3)]).unwrap().reason_zh, "车牌 60 分钟内第 4 笔支付，超过上限 3 笔");
    }

    #[test]
    fn only_the_scopes_observed_and_ruled_count() {
        let rules = [rule(RiskScope::Device, Some(1), None)];
        let member = Observation { scope: RiskScope::Member, amount_fen: 1_000_000, recent_count: 99 };
        assert_eq!(evaluate(&rules, &[member]), None, "no member rule");
        let device = Observation { scope: RiskScope::Device, amount_fen: 2, recent_count: 0 };
        assert_eq!(evaluate(&rules, &[member, device]).unwrap().scope, RiskScope::Device);
    }

    #[test]
    fn settings_are_checked_all_at_once() {
        assert!(RiskRule::parse(RiskScope::Member, Some(100), Some(5), Some(60)).is_ok());
        let errs = RiskRule::parse(RiskScope::Member, Some(0), Some(5), None).unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.to_string()).collect();
        assert_eq!(fields, ["max_single_fen", "window_minutes"]);
        assert!(RiskRule::parse(RiskScope::Member, None, None, None).is_err(), "a rule limits something");
        assert!(RiskRule::parse(RiskScope::Member, None, Some(1), Some(MAX_WINDOW_MINUTES as i64 + 1)).is_err());
    }
}
