//! How an order's gross amount is covered (C3, C12): coupons, points, stored-value
//! balance (paid money and bonus money kept apart) and finally outside money (WeChat
//! Pay/Alipay online, or cash/card/payment code at the counter), in the order a chain
//! configures. Also the two ways money goes back: the automatic refund of an unused
//! prepayment (预付退差, [`resettle`]) and a staff refund ([`allocate_refund`]); both give
//! money back the way it was paid, the instrument applied last first.
//!
//! Pure arithmetic: the app performs the deductions as conditional updates and writes
//! the ledger rows (ARCHITECTURE "Rules of the money path"); this module only decides
//! the amounts, and its invariants are property-tested below.
//!
//! Every money part of an order is a [`TenderPart`] in [`Plan::tenders`], in the order it
//! was applied. Refund logic works on that list alone, so an order paid at the counter
//! (balance + cash, say) is refunded by the same code as an online one.

use serde::{Deserialize, Serialize};

use crate::coupon::Coupon;
use crate::field::{FieldError, FieldErrorKind, int_range};
use crate::fuel::{mul_div_ceil, mul_div_floor};
use crate::grade::str_enum;
use crate::money::Fen;

/// A step of the payment policy: the kinds of value that can cover an order, in the
/// order a chain chooses (SPEC C3: "the order of methods is a configurable policy").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Instrument {
    /// The coupons the driver chose.
    Coupon,
    /// Points redeemed as money (积分抵扣).
    Points,
    /// Stored-value balance, paid and bonus money together (储值余额).
    Balance,
    /// Outside money: a payment channel online, or the counter's cash/card/payment code.
    /// When absent from the policy, whatever the other steps leave is a [`Shortfall`].
    Channel,
}

str_enum!(Instrument { Coupon => "coupon", Points => "points", Balance => "balance", Channel => "channel" });

/// One kind of money that paid (part of) an order, as recorded for refunds: each is
/// refunded to where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Tender {
    /// An online payment channel (WeChat Pay, Alipay): refunded through the channel.
    Channel,
    /// The paid (real money) part of the stored-value balance.
    BalancePaid,
    /// The bonus part of the stored-value balance (充500送50's 50): no points earned on it.
    BalanceBonus,
    /// Cash at the counter.
    Cash,
    /// Bank card at the counter (POS terminal).
    Card,
    /// A payment code scanned at the counter (付款码).
    PaymentCode,
}

str_enum!(Tender {
    Channel => "channel",
    BalancePaid => "balance_paid",
    BalanceBonus => "balance_bonus",
    Cash => "cash",
    Card => "card",
    PaymentCode => "payment_code",
});

impl Tender {
    /// Part of the stored-value balance: refunded to the member's balance, and the two
    /// balance parts are refunded together in proportion.
    pub fn is_balance(self) -> bool {
        matches!(self, Tender::BalancePaid | Tender::BalanceBonus)
    }

    /// Whether money paid this way earns points (C5): all real money does, bonus balance
    /// does not (it was a gift).
    pub fn earns_points(self) -> bool {
        self != Tender::BalanceBonus
    }

    /// Label for receipts and the back office.
    pub fn label_zh(self) -> &'static str {
        match self {
            Tender::Channel => "在线支付",
            Tender::BalancePaid => "储值余额（本金）",
            Tender::BalanceBonus => "储值余额（赠送）",
            Tender::Cash => "现金",
            Tender::Card => "银行卡",
            Tender::PaymentCode => "付款码",
        }
    }
}

/// What covers the [`Instrument::Channel`] step of an order: outside money only, so a
/// balance tender can never be asked to pay "the rest".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExternalTender {
    Channel,
    Cash,
    Card,
    PaymentCode,
}

str_enum!(ExternalTender { Channel => "channel", Cash => "cash", Card => "card", PaymentCode => "payment_code" });

impl From<ExternalTender> for Tender {
    fn from(t: ExternalTender) -> Tender {
        match t {
            ExternalTender::Channel => Tender::Channel,
            ExternalTender::Cash => Tender::Cash,
            ExternalTender::Card => Tender::Card,
            ExternalTender::PaymentCode => Tender::PaymentCode,
        }
    }
}

/// A chain's payment policy (C3): the order in which instruments cover an order, and
/// the points rates. Missing JSON fields take their defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct PaymentPolicy {
    /// Instruments in the order they are applied; each at most once. Default
    /// `[coupon, points, balance, channel]`. An instrument not listed is never used.
    pub order: Vec<Instrument>,
    /// Points earned per whole yuan paid with money (paid balance, channel, counter
    /// money; not bonus balance, coupons or points). Default 1.
    pub points_earn_per_yuan: i64,
    /// Points that make one yuan when redeemed. Default 100 (1 point = 1 fen).
    pub points_per_yuan: i64,
    /// At most this share of the gross, in basis points, may be paid with points.
    /// Default 5000 (50%).
    pub points_cap_bp: i64,
}

impl Default for PaymentPolicy {
    fn default() -> Self {
        Self {
            order: vec![Instrument::Coupon, Instrument::Points, Instrument::Balance, Instrument::Channel],
            points_earn_per_yuan: 1,
            points_per_yuan: 100,
            points_cap_bp: 5_000,
        }
    }
}

impl PaymentPolicy {
    /// Largest accepted `points_earn_per_yuan`: far beyond any real scheme, and keeps
    /// typos (an extra zero or three) out.
    pub const MAX_EARN_PER_YUAN: i64 = 10_000;
    /// Largest accepted `points_per_yuan`.
    pub const MAX_POINTS_PER_YUAN: i64 = 1_000_000;

    /// Checks a policy as entered in the back office: each instrument at most once, at
    /// least one money instrument (balance or channel, otherwise no ordinary order
    /// could ever be paid), rates in range.
    pub fn validate(&self) -> Result<(), FieldError> {
        for (i, inst) in self.order.iter().enumerate() {
            if self.order[..i].contains(inst) {
                return Err(FieldError::new(
                    format!("order[{i}]"),
                    FieldErrorKind::Conflict { reason: format!("支付方式 {} 重复", inst.as_str()).into() },
                ));
            }
        }
        if !self.order.iter().any(|i| matches!(i, Instrument::Balance | Instrument::Channel)) {
            return Err(FieldError::new(
                "order",
                FieldErrorKind::Conflict {
                    reason: "至少需要包含余额（balance）或渠道支付（channel）之一".into()
                },
            ));
        }
        int_range("points_earn_per_yuan", self.points_earn_per_yuan, 0, Self::MAX_EARN_PER_YUAN)?;
        int_range("points_per_yuan", self.points_per_yuan, 1, Self::MAX_POINTS_PER_YUAN)?;
        int_range("points_cap_bp", self.points_cap_bp, 0, 10_000)?;
        Ok(())
    }

    /// The steps in order, each once even if an unvalidated policy repeats one.
    fn steps(&self) -> impl Iterator<Item = Instrument> + '_ {
        self.order.iter().enumerate().filter(|(i, inst)| !self.order[..*i].contains(*inst)).map(|(_, inst)| *inst)
    }

    fn cap_bp(&self) -> i64 {
        self.points_cap_bp.clamp(0, 10_000)
    }

    fn points_rate(&self) -> i64 {
        self.points_per_yuan.max(1)
    }
}

/// What the member has to pay with (C12: bonus money kept apart from paid money).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Wallet {
    pub paid_fen: i64,
    pub bonus_fen: i64,
    pub points: i64,
}

/// What the driver asks for on one order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The order's amount before any discount, in fen.
    pub gross_fen: i64,
    /// Quantity in thousandths of the grade's unit (for per-unit coupons); 0 without.
    pub quantity: i64,
    /// The coupons chosen, already checked with [`Coupon::usable`] and
    /// [`crate::coupon::select`]; applied in this order.
    pub coupons: Vec<Coupon>,
    /// Most points the driver wants to redeem; `None` = as many as the policy allows.
    pub max_points: Option<i64>,
    /// Whether the stored-value balance may be used.
    pub use_balance: bool,
    /// Who pays what the earlier steps leave: `Some(Channel)` online, `Some(Cash)` etc.
    /// at the counter, `None` when nothing may (then the rest is a [`Shortfall`]).
    pub channel: Option<ExternalTender>,
}

/// One coupon's share of an order's discount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CouponLine {
    pub coupon_id: i64,
    pub fen: i64,
}

/// One money part of an order: how much was paid with one tender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TenderPart {
    pub tender: Tender,
    pub fen: i64,
}

/// How one order is covered. Invariant (for plans made by [`plan`] and [`resettle`]):
/// `gross_fen = coupon_fen + points_fen + payable_fen` and `payable_fen` = the sum of
/// `tenders`; every amount is ≥ 0. Stored with the order (as JSON, say) because refunds
/// need it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Plan {
    pub gross_fen: i64,
    /// Sum of `coupon_lines`.
    pub coupon_fen: i64,
    /// Coupons that gave a discount (> 0). Consume exactly these; a requested coupon
    /// missing here gave nothing (threshold not met, or the policy has no coupon step)
    /// and stays in the wallet.
    pub coupon_lines: Vec<CouponLine>,
    /// Points to deduct from the member.
    pub points_used: i64,
    /// Fen those points cover.
    pub points_fen: i64,
    /// Money parts in the order they were applied (policy order; the balance as
    /// `balance_paid` then `balance_bonus`); parts of 0 are left out. Refunds take from
    /// the end of this list first.
    pub tenders: Vec<TenderPart>,
    /// What is paid with money: `gross − coupons − points`.
    pub payable_fen: i64,
}

impl Plan {
    /// Total paid with one tender (0 when not used).
    pub fn tender_fen(&self, tender: Tender) -> i64 {
        sum_of(&self.tenders, tender)
    }

    /// Total taken from the stored-value balance (paid + bonus).
    pub fn balance_fen(&self) -> i64 {
        self.tender_fen(Tender::BalancePaid) + self.tender_fen(Tender::BalanceBonus)
    }

    /// The money that earns points: everything in `tenders` except bonus balance.
    /// Pass it to [`points_earned`] and, as `paid_total`, to [`points_to_reverse`].
    pub fn money_paid_fen(&self) -> i64 {
        points_base_fen(&self.tenders)
    }
}

/// Sum of the parts that earn points (all but [`Tender::BalanceBonus`]): the base of
/// [`points_earned`] and [`points_to_reverse`], for a plan's tenders or for refunds.
pub fn points_base_fen(parts: &[TenderPart]) -> i64 {
    parts.iter().filter(|p| p.tender.earns_points()).map(|p| p.fen).sum()
}

fn sum_of(parts: &[TenderPart], tender: Tender) -> i64 {
    parts.iter().filter(|p| p.tender == tender).map(|p| p.fen).sum()
}

/// The order cannot be fully covered with what the driver allowed and the policy
/// offers (the channel step absent or not allowed, and the balance too small).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("insufficient balance: {missing_fen} fen missing")]
pub struct Shortfall {
    pub missing_fen: i64,
}

impl Shortfall {
    /// Stable machine code for problem+json.
    pub fn code(&self) -> &'static str {
        "insufficient_balance"
    }

    /// Message for the driver, zh-CN first (P4).
    pub fn message_zh(&self) -> String {
        format!("余额不足，还差 {}，请选择其他支付方式或充值", Fen(self.missing_fen))
    }

    /// English message (P4: English second).
    pub fn message_en(&self) -> String {
        format!("Insufficient balance: {} missing", Fen(self.missing_fen))
    }
}

/// Splits `spend` fen of balance between the paid and bonus pots in proportion to them,
/// so bonus money is neither used up first (unfair to the chain) nor last (unfair to the
/// driver): `bonus_part = floor(spend × bonus / (paid + bonus))`, the rest from paid,
/// adjusted so that neither part exceeds its pot. Negative pots count as 0 and `spend`
/// is clamped to `0..=paid + bonus`. Returns `(paid_part, bonus_part)`.
pub fn split_balance(spend_fen: i64, paid_fen: i64, bonus_fen: i64) -> (i64, i64) {
    let (paid, bonus) = (paid_fen.max(0), bonus_fen.max(0));
    let total = paid.saturating_add(bonus);
    let spend = spend_fen.clamp(0, total);
    if spend == 0 {
        return (0, 0);
    }
    let mut bonus_part = saturating_mul_div_floor(spend, bonus, paid as i128 + bonus as i128);
    let mut paid_part = spend - bonus_part;
    if paid_part > paid {
        paid_part = paid;
        bonus_part = spend - paid;
    }
    (paid_part, bonus_part)
}

/// `a × b / d` floored for non-negative inputs where `d` may exceed `i64`.
fn saturating_mul_div_floor(a: i64, b: i64, d: i128) -> i64 {
    crate::fuel::saturate(a as i128 * b as i128 / d)
}

/// Fen the points can cover and the points that costs, given what is left to pay.
/// `used = ceil(fen × rate / 100)` never exceeds `available`, because
/// `fen ≤ floor(available × 100 / rate)` implies `fen × rate ≤ available × 100`.
fn points_cover(policy: &PaymentPolicy, gross: i64, remaining: i64, available: i64) -> (i64, i64) {
    let rate = policy.points_rate();
    let cap = mul_div_floor(gross, policy.cap_bp(), 10_000);
    let by_points = mul_div_floor(available.max(0), 100, rate);
    let fen = remaining.min(cap).min(by_points).max(0);
    (fen, mul_div_ceil(fen, rate, 100))
}

/// Decides how an order is covered: walks `policy.order`, each step covering what it
/// can of what remains.
///
/// - coupon: each requested coupon's [`crate::coupon::CouponRule::discount`] on the
///   gross, in request order, capped at what remains;
/// - points: `min(remaining, gross × cap_bp / 10000, points × 100 / points_per_yuan)`
///   fen (floors), costing `ceil(fen × points_per_yuan / 100)` points, never more than
///   the member has or `max_points`;
/// - balance (if `use_balance`): as much as paid + bonus allow, split by [`split_balance`];
/// - channel (if `request.channel` is given): the rest.
///
/// Anything left after the walk is a [`Shortfall`]. A negative gross counts as 0.
pub fn plan(policy: &PaymentPolicy, wallet: &Wallet, request: &Request) -> Result<Plan, Shortfall> {
    let gross = request.gross_fen.max(0);
    let mut remaining = gross;
    let mut p = Plan { gross_fen: gross, ..Plan::default() };
    for step in policy.steps() {
        match step {
            Instrument::Coupon => {
                for c in &request.coupons {
                    let fen = c.rule.discount(gross, request.quantity).min(remaining);
                    if fen > 0 {
                        p.coupon_lines.push(CouponLine { coupon_id: c.id, fen });
                        p.coupon_fen += fen;
                        remaining -= fen;
                    }
                }
            }
            Instrument::Points => {
                let available = wallet.points.min(request.max_points.unwrap_or(i64::MAX));
                let (fen, used) = points_cover(policy, gross, remaining, available);
                p.points_fen = fen;
                p.points_used = used;
                remaining -= fen;
            }
            Instrument::Balance => {
                if request.use_balance {
                    let spend = remaining.min(wallet.paid_fen.max(0).saturating_add(wallet.bonus_fen.max(0)));
                    let (paid, bonus) = split_balance(spend, wallet.paid_fen, wallet.bonus_fen);
                    push_part(&mut p.tenders, Tender::BalancePaid, paid);
                    push_part(&mut p.tenders, Tender::BalanceBonus, bonus);
                    remaining -= paid + bonus;
                }
            }
            Instrument::Channel => {
                if let Some(t) = request.channel {
                    push_part(&mut p.tenders, t.into(), remaining);
                    remaining = 0;
                }
            }
        }
    }
    p.payable_fen = gross - p.coupon_fen - p.points_fen;
    if remaining > 0 { Err(Shortfall { missing_fen: remaining }) } else { Ok(p) }
}

fn push_part(parts: &mut Vec<TenderPart>, tender: Tender, fen: i64) {
    if fen > 0 {
        parts.push(TenderPart { tender, fen });
    }
}

/// Points earned for `money_paid_fen` of points-earning money ([`Plan::money_paid_fen`]):
/// `floor(money × points_earn_per_yuan / 100)`. Tier multipliers (C5) are applied by
/// the caller on top.
pub fn points_earned(policy: &PaymentPolicy, money_paid_fen: i64) -> i64 {
    mul_div_floor(money_paid_fen.max(0), policy.points_earn_per_yuan.max(0), 100)
}

/// The result of settling a prepaid order again for what was actually dispensed
/// (预付退差).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Resettlement {
    /// The order as finally paid; replaces the original plan.
    pub new_plan: Plan,
    /// Money to give back, per tender, in the order taken (last applied first). Their
    /// sum is `old payable − new payable`.
    pub refunds: Vec<TenderPart>,
    /// Points to give back to the member.
    pub points_returned: i64,
    /// Coupons no longer used by the order (their discount became 0): return them to
    /// the wallet.
    pub coupons_released: Vec<i64>,
}

impl Resettlement {
    /// Money refunded to one tender.
    pub fn refund_fen(&self, tender: Tender) -> i64 {
        sum_of(&self.refunds, tender)
    }

    /// All money refunded.
    pub fn refund_total_fen(&self) -> i64 {
        self.refunds.iter().map(|r| r.fen).sum()
    }
}

/// Settles a prepaid order again when the pump dispensed less than was paid for
/// (`dispensed_gross_fen` < `plan.gross_fen`; SPEC C3 预付退差), and says what goes back.
///
/// - Coupons are recomputed on the dispensed gross and quantity (`coupons` are the
///   order's coupons; one not found keeps its discount) and never grow; one whose
///   discount becomes 0 is released.
/// - Points are capped at the new cap; the excess points go back.
/// - The driver never pays more than before: if releasing a threshold coupon would make
///   the new payable exceed the old one, the coupon keeps just enough of its discount
///   (and stays consumed) for the payable to equal the old one.
/// - The money difference is refunded the way it was paid, in reverse order of
///   `plan.tenders` (with the default policy: channel first, then balance, whose paid
///   and bonus parts are refunded in proportion), never more than was taken per tender.
///
/// Dispensed 0 gives everything back. A dispensed gross above the plan's gross is
/// treated as the plan's gross (nothing back; collecting an overrun is not a refund).
/// `policy` should be the one the plan was made with (orders record versions).
pub fn resettle(
    policy: &PaymentPolicy,
    plan: &Plan,
    coupons: &[Coupon],
    dispensed_gross_fen: i64,
    dispensed_quantity: i64,
) -> Resettlement {
    let gross = dispensed_gross_fen.clamp(0, plan.gross_fen.max(0));

    // Coupons: recomputed, never above the old discount, together within the gross.
    let mut room = gross;
    let mut lines: Vec<CouponLine> = plan
        .coupon_lines
        .iter()
        .map(|old| {
            let now = coupons
                .iter()
                .find(|c| c.id == old.coupon_id)
                .map_or(old.fen, |c| c.rule.discount(gross, dispensed_quantity));
            let fen = now.clamp(0, old.fen.max(0)).min(room);
            room -= fen;
            CouponLine { coupon_id: old.coupon_id, fen }
        })
        .collect();
    let mut coupon_fen: i64 = lines.iter().map(|l| l.fen).sum();

    // Points: at most the old amount, the new cap and what the coupons leave.
    let cap = mul_div_floor(gross, policy.cap_bp(), 10_000);
    let old_points_fen = plan.points_fen.max(0);
    let mut points_fen = old_points_fen.min(cap).min(gross - coupon_fen);

    // The driver never pays more than before: restore discounts (coupons first, in
    // order, then points) up to their old amounts until the payable fits.
    let old_money: i64 = plan.tenders.iter().map(|t| t.fen.max(0)).sum();
    let mut excess = gross - coupon_fen - points_fen - old_money;
    for (line, old) in lines.iter_mut().zip(&plan.coupon_lines) {
        if excess <= 0 {
            break;
        }
        let add = excess.min(old.fen.max(0) - line.fen);
        line.fen += add;
        coupon_fen += add;
        excess -= add;
    }
    if excess > 0 {
        let add = excess.min(old_points_fen - points_fen);
        points_fen += add;
    }

    let points_used = if points_fen == old_points_fen {
        plan.points_used.max(0)
    } else {
        mul_div_ceil(points_fen, policy.points_rate(), 100).min(plan.points_used.max(0))
    };

    // Money: refund the difference, last applied first.
    let new_money = (gross - coupon_fen - points_fen).clamp(0, old_money);
    let mut left: Vec<i64> = plan.tenders.iter().map(|t| t.fen.max(0)).collect();
    let refunds = take_last_first(&plan.tenders, &mut left, old_money - new_money);
    let tenders = plan
        .tenders
        .iter()
        .zip(&left)
        .filter(|(_, l)| **l > 0)
        .map(|(t, l)| TenderPart { tender: t.tender, fen: *l })
        .collect();

    let coupons_released = lines.iter().filter(|l| l.fen == 0).map(|l| l.coupon_id).collect();
    lines.retain(|l| l.fen > 0);
    Resettlement {
        new_plan: Plan {
            gross_fen: gross,
            coupon_fen,
            coupon_lines: lines,
            points_used,
            points_fen,
            tenders,
            payable_fen: new_money,
        },
        refunds,
        points_returned: plan.points_used.max(0) - points_used,
        coupons_released,
    }
}

/// Takes `amount` from the parts whose remaining refundable amounts are `left`, from the
/// end of the list: a run of balance parts counts as one step, split between paid and
/// bonus in proportion to what is left of each ([`split_balance`]). `amount` must not
/// exceed the sum of `left`.
fn take_last_first(parts: &[TenderPart], left: &mut [i64], mut amount: i64) -> Vec<TenderPart> {
    let mut out = Vec::new();
    let mut end = parts.len();
    while end > 0 && amount > 0 {
        let mut start = end - 1;
        if parts[start].tender.is_balance() {
            while start > 0 && parts[start - 1].tender.is_balance() {
                start -= 1;
            }
            let pot = |t: Tender, left: &[i64]| -> i64 {
                (start..end).filter(|&i| parts[i].tender == t).map(|i| left[i]).sum()
            };
            let (paid_left, bonus_left) = (pot(Tender::BalancePaid, left), pot(Tender::BalanceBonus, left));
            let take = amount.min(paid_left + bonus_left);
            let (mut paid, mut bonus) = split_balance(take, paid_left, bonus_left);
            for i in (start..end).rev() {
                let share = if parts[i].tender == Tender::BalancePaid { &mut paid } else { &mut bonus };
                let fen = (*share).min(left[i]);
                *share -= fen;
                left[i] -= fen;
                push_part(&mut out, parts[i].tender, fen);
            }
            amount -= take;
        } else {
            let fen = amount.min(left[start]);
            left[start] -= fen;
            amount -= fen;
            push_part(&mut out, parts[start].tender, fen);
        }
        end = start;
    }
    out
}

/// Why a staff refund cannot be made as asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RefundError {
    /// More than what was paid with money and not refunded yet.
    #[error("refund exceeds the refundable amount of {refundable_fen} fen")]
    TooLarge { refundable_fen: i64 },
    /// Zero or negative amount.
    #[error("refund amount must be positive")]
    NotPositive,
}

impl RefundError {
    /// Stable machine code for problem+json.
    pub fn code(&self) -> &'static str {
        match self {
            RefundError::TooLarge { .. } => "refund_exceeds_paid",
            RefundError::NotPositive => "refund_not_positive",
        }
    }

    /// Message for staff, zh-CN first (P4).
    pub fn message_zh(&self) -> String {
        match self {
            RefundError::TooLarge { refundable_fen } => {
                format!("退款金额超过可退金额，最多可退 {}", Fen(*refundable_fen))
            }
            RefundError::NotPositive => "退款金额必须大于 0".to_owned(),
        }
    }

    /// English message (P4: English second).
    pub fn message_en(&self) -> String {
        match self {
            RefundError::TooLarge { refundable_fen } => {
                format!("The refund exceeds the refundable amount ({})", Fen(*refundable_fen))
            }
            RefundError::NotPositive => "The refund amount must be positive".to_owned(),
        }
    }
}

/// What is still refundable per part of `paid` after the refunds in `already`.
/// `already` may list a tender several times (one line per earlier refund); a tender's
/// earlier refunds are attributed to its last parts first, as a refund takes them.
fn refundable_left(paid: &[TenderPart], already: &[TenderPart]) -> Vec<i64> {
    let mut left: Vec<i64> = paid.iter().map(|p| p.fen.max(0)).collect();
    for tender in Tender::ALL {
        let mut done: i64 = already.iter().filter(|a| a.tender == *tender).map(|a| a.fen.max(0)).sum();
        for i in (0..paid.len()).rev() {
            if paid[i].tender == *tender {
                let fen = done.min(left[i]);
                left[i] -= fen;
                done -= fen;
            }
        }
    }
    left
}

/// Money of an order that can still be refunded: paid minus already refunded, per
/// tender, never negative. The most a staff refund may be.
pub fn refundable_fen(paid: &[TenderPart], already: &[TenderPart]) -> i64 {
    refundable_left(paid, already).iter().sum()
}

/// Splits a staff refund (full or partial, C3) of `amount_fen` over the tenders that
/// paid the order (`paid` = [`Plan::tenders`], in the order applied), after the earlier
/// refunds `already` (every earlier refund's lines, in any order): the last-applied
/// tender is refunded first, never more than it paid minus what it already refunded;
/// the two balance parts are refunded together in proportion to what is left of each.
///
/// Returns the refund's lines (last applied first, parts of 0 left out); their sum is
/// `amount_fen`. Record them, and pass them in `already` next time: repeated partial
/// refunds can then never exceed what was paid. Coupons and points are not refunded
/// here: points earned are reversed with [`points_to_reverse`]; whether a coupon is
/// returned on a full refund is the app's rule.
pub fn allocate_refund(
    paid: &[TenderPart],
    already: &[TenderPart],
    amount_fen: i64,
) -> Result<Vec<TenderPart>, RefundError> {
    if amount_fen <= 0 {
        return Err(RefundError::NotPositive);
    }
    let mut left = refundable_left(paid, already);
    let refundable: i64 = left.iter().sum();
    if amount_fen > refundable {
        return Err(RefundError::TooLarge { refundable_fen: refundable });
    }
    Ok(take_last_first(paid, &mut left, amount_fen))
}

/// How many of the `points_earned` on an order must be reversed in total once
/// `refunded_total_after` of its `paid_total` has been refunded: the member keeps
/// `floor(points_earned × (paid_total − refunded) / paid_total)`, so a full refund
/// reverses all and rounding never lets a refund keep a point it should not.
///
/// Cumulative: reverse `points_to_reverse(..) − reversed so far` now. Use the
/// points-earning money for both totals ([`Plan::money_paid_fen`] and
/// [`points_base_fen`] of all refund lines so far), since bonus balance earned nothing.
pub fn points_to_reverse(points_earned: i64, paid_total: i64, refunded_total_after: i64) -> i64 {
    if points_earned <= 0 {
        return 0;
    }
    if paid_total <= 0 {
        return points_earned;
    }
    let refunded = refunded_total_after.clamp(0, paid_total);
    points_earned - mul_div_floor(points_earned, paid_total - refunded, paid_total)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::coupon::CouponRule;

    fn coupon(id: i64, rule: CouponRule) -> Coupon {
        Coupon { id, rule, valid_from_us: 0, valid_until_us: i64::MAX, stackable: true, grade_ids: vec![] }
    }

    fn request(gross_fen: i64) -> Request {
        Request {
            gross_fen,
            quantity: 0,
            coupons: vec![],
            max_points: None,
            use_balance: true,
            channel: Some(ExternalTender::Channel),
        }
    }

    fn part(tender: Tender, fen: i64) -> TenderPart {
        TenderPart { tender, fen }
    }

    #[test]
    fn default_policy_is_valid_and_serde_fills_defaults() {
        let p = PaymentPolicy::default();
        assert!(p.validate().is_ok());
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            json!({"order": ["coupon", "points", "balance", "channel"], "points_earn_per_yuan": 1,
                   "points_per_yuan": 100, "points_cap_bp": 5000})
        );
        let partial: PaymentPolicy = serde_json::from_value(json!({"order": ["balance"]})).unwrap();
        assert_eq!(partial.points_per_yuan, 100);
        assert!(partial.validate().is_ok());
        for i in Instrument::ALL {
            assert_eq!(serde_json::to_value(i).unwrap(), i.as_str());
        }
        for t in Tender::ALL {
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
            assert_eq!(Tender::parse(t.as_str()), Some(*t));
        }
        for t in ExternalTender::ALL {
            assert_eq!(Tender::from(*t).as_str(), t.as_str());
        }
    }

    #[test]
    fn policy_validation_names_the_field() {
        let bad = |f: fn(&mut PaymentPolicy)| {
            let mut p = PaymentPolicy::default();
            f(&mut p);
            p.validate().unwrap_err().field.into_owned()
        };
        assert_eq!(bad(|p| p.order = vec![Instrument::Balance, Instrument::Coupon, Instrument::Balance]), "order[2]");
        assert_eq!(bad(|p| p.order = vec![Instrument::Coupon, Instrument::Points]), "order");
        assert_eq!(bad(|p| p.order = vec![]), "order");
        assert_eq!(bad(|p| p.points_earn_per_yuan = -1), "points_earn_per_yuan");
        assert_eq!(bad(|p| p.points_per_yuan = 0), "points_per_yuan");
        assert_eq!(bad(|p| p.points_cap_bp = 10_001), "points_cap_bp");
        let mut no_channel = PaymentPolicy::default();
        no_channel.order.pop();
        assert!(no_channel.validate().is_ok());
    }

    #[test]
    fn split_balance_is_proportional_and_within_pots() {
        assert_eq!(split_balance(5_500, 50_000, 5_000), (5_000, 500));
        assert_eq!(split_balance(55_000, 50_000, 5_000), (50_000, 5_000));
        assert_eq!(split_balance(99_999, 50_000, 5_000), (50_000, 5_000));
        assert_eq!(split_balance(1, 50_000, 5_000), (1, 0));
        assert_eq!(split_balance(100, 0, 5_000), (0, 100));
        assert_eq!(split_balance(100, 0, 0), (0, 0));
        assert_eq!(split_balance(-3, 10, 10), (0, 0));
        assert_eq!(split_balance(i64::MAX, i64::MAX, i64::MAX), (i64::MAX - i64::MAX / 2, i64::MAX / 2));
    }

    #[test]
    fn default_order_walks_coupon_points_balance_channel() {
        // ¥300 of 92#, 满200减20, 3000 points (= ¥30), ¥100 paid + ¥10 bonus balance.
        let mut r = request(30_000);
        r.coupons = vec![coupon(7, CouponRule::Threshold { min_fen: 20_000, off_fen: 2_000 })];
        let w = Wallet { paid_fen: 10_000, bonus_fen: 1_000, points: 3_000 };
        let p = plan(&PaymentPolicy::default(), &w, &r).unwrap();
        assert_eq!(p.coupon_lines, vec![CouponLine { coupon_id: 7, fen: 2_000 }]);
        assert_eq!((p.points_fen, p.points_used), (3_000, 3_000));
        assert_eq!(
            p.tenders,
            vec![part(Tender::BalancePaid, 10_000), part(Tender::BalanceBonus, 1_000), part(Tender::Channel, 14_000)]
        );
        assert_eq!(p.payable_fen, 25_000);
        assert_eq!(p.balance_fen(), 11_000);
        assert_eq!(p.money_paid_fen(), 24_000);
        assert_eq!(points_earned(&PaymentPolicy::default(), p.money_paid_fen()), 240);
    }

    #[test]
    fn points_respect_cap_rate_and_max() {
        let policy = PaymentPolicy { points_per_yuan: 150, points_cap_bp: 1_000, ..PaymentPolicy::default() };
        let w = Wallet { paid_fen: 0, bonus_fen: 0, points: 100 };
        // 100 points at 150/yuan cover floor(66.67) = 66 fen and cost ceil(99) = 99 points.
        let p = plan(&policy, &w, &request(10_000)).unwrap();
        assert_eq!((p.points_fen, p.points_used), (66, 99));
        // Cap 10% of ¥5.00 = 50 fen → 75 points.
        let p = plan(&policy, &w, &request(500)).unwrap();
        assert_eq!((p.points_fen, p.points_used), (50, 75));
        let mut r = request(10_000);
        r.max_points = Some(30);
        let p = plan(&policy, &w, &r).unwrap();
        assert_eq!((p.points_fen, p.points_used), (20, 30));
        r.max_points = Some(0);
        assert_eq!(plan(&policy, &w, &r).unwrap().points_used, 0);
    }

    #[test]
    fn shortfall_without_channel() {
        let mut r = request(10_000);
        r.channel = None;
        let w = Wallet { paid_fen: 6_000, bonus_fen: 1_000, points: 0 };
        let e = plan(&PaymentPolicy::default(), &w, &r).unwrap_err();
        assert_eq!(e, Shortfall { missing_fen: 3_000 });
        assert_eq!(e.code(), "insufficient_balance");
        assert!(e.message_zh().contains("¥30.00"));
        let balance_only = PaymentPolicy { order: vec![Instrument::Balance], ..PaymentPolicy::default() };
        assert_eq!(plan(&balance_only, &w, &request(10_000)), Err(Shortfall { missing_fen: 3_000 }));
        let p = plan(&balance_only, &w, &request(7_000)).unwrap();
        assert_eq!(p.tenders, vec![part(Tender::BalancePaid, 6_000), part(Tender::BalanceBonus, 1_000)]);
    }

    #[test]
    fn configurable_order_changes_who_pays() {
        // Balance before coupons: the balance covers all, the coupon gives nothing.
        let policy = PaymentPolicy {
            order: vec![Instrument::Balance, Instrument::Coupon, Instrument::Channel],
            ..PaymentPolicy::default()
        };
        let mut r = request(5_000);
        r.coupons = vec![coupon(1, CouponRule::Threshold { min_fen: 0, off_fen: 500 })];
        let w = Wallet { paid_fen: 10_000, bonus_fen: 0, points: 10_000 };
        let p = plan(&policy, &w, &r).unwrap();
        assert!(p.coupon_lines.is_empty());
        assert_eq!(p.points_used, 0);
        assert_eq!(p.tenders, vec![part(Tender::BalancePaid, 5_000)]);
        // At the counter the rest is cash.
        r.use_balance = false;
        r.channel = Some(ExternalTender::Cash);
        let p = plan(&PaymentPolicy::default(), &w, &r).unwrap();
        assert_eq!(p.tenders, vec![part(Tender::Cash, 2_000)]);
        assert_eq!((p.coupon_fen, p.points_fen), (500, 2_500));
    }

    #[test]
    fn underfill_refunds_channel_first() {
        // Prepaid ¥300: coupon 满200减20, 0 points, balance ¥100 + ¥10 bonus, channel ¥170.
        let c = coupon(7, CouponRule::Threshold { min_fen: 20_000, off_fen: 2_000 });
        let mut r = request(30_000);
        r.coupons = vec![c.clone()];
        let w = Wallet { paid_fen: 10_000, bonus_fen: 1_000, points: 0 };
        let policy = PaymentPolicy::default();
        let p = plan(&policy, &w, &r).unwrap();
        assert_eq!(p.tender_fen(Tender::Channel), 17_000);
        // Only ¥250 dispensed: ¥50 back to the channel.
        let s = resettle(&policy, &p, std::slice::from_ref(&c), 25_000, 31_000);
        assert_eq!(s.refunds, vec![part(Tender::Channel, 5_000)]);
        assert_eq!(s.new_plan.payable_fen, 23_000);
        assert!(s.coupons_released.is_empty());
        // ¥100 dispensed: coupon released, payable ¥100: channel all back, balance ¥10 back.
        let s = resettle(&policy, &p, std::slice::from_ref(&c), 10_000, 12_000);
        assert_eq!(s.coupons_released, vec![7]);
        assert_eq!(s.refund_fen(Tender::Channel), 17_000);
        assert_eq!(s.refund_fen(Tender::BalancePaid) + s.refund_fen(Tender::BalanceBonus), 1_000);
        assert_eq!(s.refund_fen(Tender::BalanceBonus), 90); // 1000 × 1000/11000 floored
        assert_eq!(s.new_plan.payable_fen, 10_000);
        assert_eq!(s.new_plan.coupon_fen, 0);
        // Nothing dispensed: everything back.
        let s = resettle(&policy, &p, std::slice::from_ref(&c), 0, 0);
        assert_eq!(s.refund_total_fen(), p.payable_fen);
        assert_eq!(s.coupons_released, vec![7]);
        assert_eq!(s.new_plan, Plan::default());
    }

    #[test]
    fn underfill_never_charges_more() {
        // ¥200 exactly meets 满200减20; ¥199 dispensed: the coupon keeps ¥19 so the
        // driver pays the ¥180 already paid, not ¥199.
        let c = coupon(7, CouponRule::Threshold { min_fen: 20_000, off_fen: 2_000 });
        let mut r = request(20_000);
        r.coupons = vec![c.clone()];
        let p = plan(&PaymentPolicy::default(), &Wallet::default(), &r).unwrap();
        let s = resettle(&PaymentPolicy::default(), &p, &[c], 19_900, 25_000);
        assert_eq!(s.refund_total_fen(), 0);
        assert_eq!(s.new_plan.coupon_lines, vec![CouponLine { coupon_id: 7, fen: 1_900 }]);
        assert!(s.coupons_released.is_empty());
        assert_eq!(s.new_plan.payable_fen, 18_000);
    }

    #[test]
    fn underfill_returns_points_above_the_new_cap() {
        let policy = PaymentPolicy::default();
        let w = Wallet { paid_fen: 0, bonus_fen: 0, points: 100_000 };
        let p = plan(&policy, &w, &request(10_000)).unwrap();
        assert_eq!((p.points_fen, p.points_used, p.payable_fen), (5_000, 5_000, 5_000));
        let s = resettle(&policy, &p, &[], 6_000, 0);
        assert_eq!((s.new_plan.points_fen, s.points_returned), (3_000, 2_000));
        assert_eq!(s.refunds, vec![part(Tender::Channel, 2_000)]);
    }

    #[test]
    fn staff_refunds_take_the_last_tender_first() {
        let paid = [part(Tender::BalancePaid, 8_000), part(Tender::BalanceBonus, 2_000), part(Tender::Channel, 5_000)];
        let r1 = allocate_refund(&paid, &[], 6_000).unwrap();
        assert_eq!(
            r1,
            vec![part(Tender::Channel, 5_000), part(Tender::BalanceBonus, 200), part(Tender::BalancePaid, 800)]
        );
        let r2 = allocate_refund(&paid, &r1, 9_000).unwrap();
        assert_eq!(r2, vec![part(Tender::BalanceBonus, 1_800), part(Tender::BalancePaid, 7_200)]);
        let done: Vec<_> = r1.iter().chain(&r2).copied().collect();
        assert_eq!(refundable_fen(&paid, &done), 0);
        assert_eq!(allocate_refund(&paid, &done, 1), Err(RefundError::TooLarge { refundable_fen: 0 }));
        assert_eq!(allocate_refund(&paid, &r1, 9_001), Err(RefundError::TooLarge { refundable_fen: 9_000 }));
        assert_eq!(allocate_refund(&paid, &[], 0), Err(RefundError::NotPositive));
        assert_eq!(RefundError::TooLarge { refundable_fen: 1 }.code(), "refund_exceeds_paid");
        assert!(RefundError::TooLarge { refundable_fen: 150 }.message_zh().contains("¥1.50"));
    }

    #[test]
    fn points_reversal_is_proportional_and_complete() {
        assert_eq!(points_to_reverse(240, 24_000, 0), 0);
        assert_eq!(points_to_reverse(240, 24_000, 100), 1); // keeps floor(239)
        assert_eq!(points_to_reverse(240, 24_000, 12_000), 120);
        assert_eq!(points_to_reverse(240, 24_000, 24_000), 240);
        assert_eq!(points_to_reverse(240, 24_000, 99_999), 240);
        assert_eq!(points_to_reverse(0, 24_000, 24_000), 0);
        assert_eq!(points_to_reverse(5, 0, 0), 5);
    }

    fn any_policy() -> impl Strategy<Value = PaymentPolicy> {
        (
            Just(vec![Instrument::Coupon, Instrument::Points, Instrument::Balance, Instrument::Channel]).prop_shuffle(),
            1usize..=4,
            0i64..=100,
            1i64..=1_000,
            0i64..=10_000,
        )
            .prop_map(|(order, n, earn, rate, cap)| PaymentPolicy {
                order: order.into_iter().take(n).collect(),
                points_earn_per_yuan: earn,
                points_per_yuan: rate,
                points_cap_bp: cap,
            })
    }

    fn any_rule() -> impl Strategy<Value = CouponRule> {
        prop_oneof![
            (0i64..50_000, 1i64..10_000).prop_map(|(min_fen, off)| CouponRule::Threshold {
                min_fen,
                off_fen: if min_fen == 0 { off } else { off.min(min_fen - 1).max(1) }
            }),
            (1i64..10_000, proptest::option::of(1i64..10_000))
                .prop_map(|(off_bp, max_off_fen)| CouponRule::Percent { off_bp, max_off_fen }),
            (1i64..200, 0i64..50_000)
                .prop_map(|(off_fen_per_unit, min_quantity)| CouponRule::PerUnit { off_fen_per_unit, min_quantity }),
        ]
    }

    fn any_request() -> impl Strategy<Value = Request> {
        (
            0i64..2_000_000,
            0i64..300_000,
            proptest::collection::vec(any_rule(), 0..3),
            proptest::option::of(0i64..200_000),
            any::<bool>(),
            proptest::option::of(prop_oneof![Just(ExternalTender::Channel), Just(ExternalTender::Cash)]),
        )
            .prop_map(|(gross_fen, quantity, rules, max_points, use_balance, channel)| Request {
                gross_fen,
                quantity,
                coupons: rules.into_iter().enumerate().map(|(i, r)| coupon(i as i64 + 1, r)).collect(),
                max_points,
                use_balance,
                channel,
            })
    }

    fn any_wallet() -> impl Strategy<Value = Wallet> {
        (0i64..1_000_000, 0i64..200_000, 0i64..500_000).prop_map(|(paid_fen, bonus_fen, points)| Wallet {
            paid_fen,
            bonus_fen,
            points,
        })
    }

    fn check_plan_shape(p: &Plan) -> Result<(), TestCaseError> {
        let money: i64 = p.tenders.iter().map(|t| t.fen).sum();
        prop_assert_eq!(p.coupon_fen, p.coupon_lines.iter().map(|l| l.fen).sum::<i64>());
        prop_assert_eq!(p.payable_fen, money);
        prop_assert_eq!(p.coupon_fen + p.points_fen + p.payable_fen, p.gross_fen);
        prop_assert!(p.coupon_lines.iter().all(|l| l.fen > 0));
        prop_assert!(p.tenders.iter().all(|t| t.fen > 0));
        prop_assert!(p.points_fen >= 0 && p.points_used >= 0 && p.coupon_fen >= 0);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn plan_covers_exactly_the_gross(policy in any_policy(), w in any_wallet(), r in any_request()) {
            match plan(&policy, &w, &r) {
                Ok(p) => {
                    check_plan_shape(&p)?;
                    prop_assert_eq!(p.gross_fen, r.gross_fen);
                    prop_assert!(p.tender_fen(Tender::BalancePaid) <= w.paid_fen);
                    prop_assert!(p.tender_fen(Tender::BalanceBonus) <= w.bonus_fen);
                    prop_assert!(p.points_used <= w.points);
                    prop_assert!(p.points_used <= r.max_points.unwrap_or(i64::MAX));
                    prop_assert!(p.points_fen <= r.gross_fen * policy.points_cap_bp / 10_000);
                    prop_assert_eq!(p.points_used, mul_div_ceil(p.points_fen, policy.points_per_yuan, 100));
                    for line in &p.coupon_lines {
                        let c = r.coupons.iter().find(|c| c.id == line.coupon_id).unwrap();
                        prop_assert!(line.fen <= c.rule.discount(r.gross_fen, r.quantity));
                    }
                    if !r.use_balance || !policy.order.contains(&Instrument::Balance) {
                        prop_assert_eq!(p.balance_fen(), 0);
                    }
                }
                Err(Shortfall { missing_fen }) => {
                    prop_assert!(missing_fen > 0);
                    prop_assert!(r.channel.is_none() || !policy.order.contains(&Instrument::Channel));
                }
            }
        }

        #[test]
        fn resettle_keeps_every_invariant(
            policy in any_policy(),
            w in any_wallet(),
            mut r in any_request(),
            dispensed_share in 0i64..=1_000,
        ) {
            r.channel = Some(ExternalTender::Channel);
            if !policy.order.contains(&Instrument::Channel) {
                r.gross_fen = r.gross_fen.min(w.paid_fen + w.bonus_fen);
            }
            let Ok(p) = plan(&policy, &w, &r) else { return Ok(()) };
            let dispensed = p.gross_fen * dispensed_share / 1_000;
            let quantity = r.quantity * dispensed_share / 1_000;
            let s = resettle(&policy, &p, &r.coupons, dispensed, quantity);
            let n = &s.new_plan;
            check_plan_shape(n)?;
            prop_assert_eq!(n.gross_fen, dispensed);
            prop_assert_eq!(n.payable_fen + s.refund_total_fen(), p.payable_fen);
            prop_assert!(s.refunds.iter().all(|t| t.fen > 0));
            for t in Tender::ALL {
                prop_assert!(s.refund_fen(*t) <= p.tender_fen(*t));
                prop_assert_eq!(n.tender_fen(*t) + s.refund_fen(*t), p.tender_fen(*t));
            }
            prop_assert!(s.points_returned >= 0);
            prop_assert_eq!(n.points_used + s.points_returned, p.points_used);
            prop_assert!(n.points_fen <= p.points_fen);
            prop_assert!(n.coupon_fen <= p.coupon_fen);
            for line in &n.coupon_lines {
                let old = p.coupon_lines.iter().find(|l| l.coupon_id == line.coupon_id).unwrap();
                prop_assert!(line.fen <= old.fen);
            }
            for id in &s.coupons_released {
                prop_assert!(p.coupon_lines.iter().any(|l| l.coupon_id == *id));
                prop_assert!(n.coupon_lines.iter().all(|l| l.coupon_id != *id));
            }
            prop_assert_eq!(s.coupons_released.len() + n.coupon_lines.len(), p.coupon_lines.len());
            if dispensed == p.gross_fen {
                prop_assert_eq!(&s.new_plan, &p);
            }
            if dispensed == 0 {
                prop_assert_eq!(s.refund_total_fen(), p.payable_fen);
                prop_assert_eq!(s.points_returned, p.points_used);
            }
            // Refunds come from the end: a tender is refunded only once every later one is
            // empty (the balance pair counts as one).
            let last_untouched = p.tenders.iter().rposition(|t| n.tender_fen(t.tender) > 0);
            if let Some(i) = last_untouched {
                for later in &p.tenders[i + 1..] {
                    if !(later.tender.is_balance() && p.tenders[i].tender.is_balance()) {
                        prop_assert_eq!(n.tender_fen(later.tender), 0);
                    }
                }
            }
        }

        #[test]
        fn repeated_refunds_never_exceed_what_was_paid(
            parts in proptest::collection::vec(
                (prop_oneof![
                    Just(Tender::Channel), Just(Tender::BalancePaid), Just(Tender::BalanceBonus),
                    Just(Tender::Cash), Just(Tender::Card), Just(Tender::PaymentCode),
                ], 0i64..100_000),
                0..6,
            ),
            amounts in proptest::collection::vec(-10i64..150_000, 1..10),
        ) {
            let paid: Vec<TenderPart> = parts.into_iter().map(|(tender, fen)| TenderPart { tender, fen }).collect();
            let total: i64 = paid.iter().map(|p| p.fen).sum();
            let mut done: Vec<TenderPart> = Vec::new();
            for amount in amounts {
                let before = refundable_fen(&paid, &done);
                match allocate_refund(&paid, &done, amount) {
                    Ok(lines) => {
                        prop_assert!(lines.iter().all(|l| l.fen > 0));
                        prop_assert_eq!(lines.iter().map(|l| l.fen).sum::<i64>(), amount);
                        done.extend(lines);
                        prop_assert_eq!(refundable_fen(&paid, &done), before - amount);
                    }
                    Err(RefundError::NotPositive) => prop_assert!(amount <= 0),
                    Err(RefundError::TooLarge { refundable_fen }) => {
                        prop_assert_eq!(refundable_fen, before);
                        prop_assert!(amount > before);
                    }
                }
                for t in Tender::ALL {
                    prop_assert!(sum_of(&done, *t) <= sum_of(&paid, *t));
                }
                let refunded: i64 = done.iter().map(|l| l.fen).sum();
                prop_assert!(refunded <= total);
                let reversed = points_to_reverse(1_000, total, refunded);
                prop_assert!((0..=1_000).contains(&reversed));
                if total > 0 && refunded == total {
                    prop_assert_eq!(reversed, 1_000);
                }
            }
        }

        #[test]
        fn split_balance_stays_within_pots(spend in any::<i64>(), paid in any::<i64>(), bonus in any::<i64>()) {
            let (p, b) = split_balance(spend, paid, bonus);
            prop_assert!(p >= 0 && b >= 0);
            prop_assert!(p <= paid.max(0) && b <= bonus.max(0));
            prop_assert_eq!(p as i128 + b as i128, (spend.max(0) as i128).min(paid.max(0) as i128 + bonus.max(0) as i128).min(i64::MAX as i128));
        }
    }
}
