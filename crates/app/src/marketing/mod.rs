//! Marketing (C3 policy, C12 top-up bonuses, C14 coupons): the chain's payment policy,
//! coupons issued to members, top-up bonus rules, and the member's read-only view of
//! their wallet and its ledger. The money movements themselves (top-up, spend, refund)
//! are in [`crate::wallet`] and [`crate::orders`]; this module only reads wallets.
//!
//! Managing needs `marketing.manage` chain-wide; reading the policy, coupons and rules
//! also works with `sales.read` anywhere in the chain (a cashier answering a driver).

mod coupons;
mod policy;
mod topup;
mod wallet_view;

pub use coupons::{
    CouponFilter, CouponStatus, CouponView, IssuedCoupons, MAX_ISSUE_MEMBERS, MemberCouponFilter, NewCoupons,
};
pub use policy::{
    DEFAULT_AUTOPAY_MAX_FEN, DEFAULT_HOLD_SECONDS, DEFAULT_PAY_WINDOW_SECONDS, PaymentPolicyChange, PaymentPolicyView,
};
pub use topup::{NewTopupRule, TopupCoupon, TopupRuleView, best_topup_rule, topup_coupon};
pub use wallet_view::{LedgerEntryView, WalletView};

use jiayou_domain::access::{Permission, Target};

use crate::{AppError, AppResult, Caller};

/// Reading marketing data of a chain: `marketing.manage` chain-wide, or `sales.read` at
/// any of its stations. A refusal names `sales.read`, the smaller of the two.
pub(crate) fn require_read(caller: &Caller, chain_id: i64) -> AppResult<()> {
    if caller.require(Permission::MarketingManage, Target::Chain(chain_id)).is_ok()
        || caller.access.holds_anywhere(Permission::SalesRead, chain_id)
    {
        Ok(())
    } else {
        Err(AppError::Forbidden { permission: Permission::SalesRead })
    }
}

/// Managing marketing data of a chain: `marketing.manage` chain-wide.
pub(crate) fn require_manage(caller: &Caller, chain_id: i64) -> AppResult<()> {
    caller.require(Permission::MarketingManage, Target::Chain(chain_id))
}
