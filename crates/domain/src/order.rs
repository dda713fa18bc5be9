//! The order state machine (C2, C3, B10). Every way a fueling, a top-up or a counter sale
//! becomes money goes through these states; the app changes an order's status only
//! through [`OrderStatus::apply`], and the database update is conditional on the status
//! read (`… WHERE id = ? AND status = ?`), so two servers cannot both move an order.
//!
//! ```text
//!                 pay (not yet dispensed)                sale reported
//! awaiting_payment ───────────────────────▶ authorised ─────────────────▶ completed ──refund (full)──▶ refunded
//!   │  │  └── pay (already dispensed: post-pay, counter, top-up) ──────────▶ completed
//!   │  └── cancel ─▶ cancelled            authorised ── cancel (money back) ─▶ cancelled
//!   └──── expire ─▶ expired               authorised ── expire (money back) ─▶ expired
//! ```
//!
//! A partial refund leaves a completed order completed (its refunded amount grows). A
//! channel success that arrives for a cancelled or expired order is not a transition: the
//! money is refunded automatically and the order stays where it is (C3).

use serde::{Deserialize, Serialize};

use crate::grade::str_enum;

/// How the order came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderKind {
    /// Pre-order in the app: nozzle held, paid before fueling, pump authorised.
    Prepay,
    /// The pump reported a sale first; the driver (app, plate pay) pays it afterwards.
    Postpay,
    /// Taken at the counter by a cashier: a pump's open sale or store goods.
    Counter,
    /// Stored-value top-up (C12).
    Topup,
}

str_enum!(OrderKind {
    Prepay => "prepay",
    Postpay => "postpay",
    Counter => "counter",
    Topup => "topup",
});

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    AwaitingPayment,
    /// Paid in advance; the pump may dispense up to the authorised amount.
    Authorised,
    /// Paid and delivered. Partial refunds keep it here.
    Completed,
    Cancelled,
    Expired,
    /// Completed, then refunded in full.
    Refunded,
    /// Paid, but a risk rule (S1) held it for review: the pump is not authorised and no
    /// points are earned until staff release it; or staff refund it in full.
    Held,
}

str_enum!(OrderStatus {
    AwaitingPayment => "awaiting_payment",
    Authorised => "authorised",
    Completed => "completed",
    Cancelled => "cancelled",
    Expired => "expired",
    Refunded => "refunded",
    Held => "held",
});

/// What happened to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderEvent {
    /// The payable amount is fully covered. `dispensed`: the goods were already
    /// delivered (post-pay, counter, top-up), so the order completes at once.
    Paid { dispensed: bool },
    /// The pump reported the sale of an authorised (prepaid) order.
    SaleReported,
    /// The driver or a cashier gave up. Money already taken goes back.
    Cancel,
    /// The hold or the payment window ran out. Money already taken goes back.
    Expire,
    /// A staff refund; `full` when nothing refundable remains afterwards.
    Refund { full: bool },
    /// Paid, and a risk rule held the payment for review.
    Hold,
    /// Staff released a held payment: it proceeds as [`OrderEvent::Paid`] would have.
    Release { dispensed: bool },
}

/// An event that is not allowed in the order's current status. The code is stable; the
/// app answers it as a 409 conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("order {from:?} cannot take {event:?}")]
pub struct IllegalTransition {
    pub from: OrderStatus,
    pub event: OrderEvent,
}

impl IllegalTransition {
    pub fn code(&self) -> &'static str {
        match (self.from, self.event) {
            (OrderStatus::Cancelled | OrderStatus::Expired, OrderEvent::Paid { .. }) => "order_closed",
            (_, OrderEvent::Paid { .. }) => "order_already_paid",
            (_, OrderEvent::Refund { .. }) => "order_not_refundable",
            (_, OrderEvent::SaleReported) => "order_not_authorised",
            (_, OrderEvent::Release { .. }) => "order_not_held",
            _ => "order_state_conflict",
        }
    }

    pub fn message_zh(&self) -> &'static str {
        match self.code() {
            "order_closed" => "订单已取消或已过期，不能再支付",
            "order_already_paid" => "订单已支付，请勿重复支付",
            "order_not_refundable" => "订单当前状态不能退款",
            "order_not_authorised" => "订单未预付授权，不能上报该笔加油",
            "order_not_held" => "订单不在风控审核中",
            _ => "订单当前状态不允许该操作",
        }
    }
}

impl OrderStatus {
    /// The status after `event`, or the refusal. The only place order statuses change.
    pub fn apply(self, event: OrderEvent) -> Result<OrderStatus, IllegalTransition> {
        use OrderEvent as E;
        use OrderStatus as S;
        let next = match (self, event) {
            (S::AwaitingPayment, E::Paid { dispensed: false }) => S::Authorised,
            (S::AwaitingPayment, E::Paid { dispensed: true }) => S::Completed,
            (S::AwaitingPayment | S::Authorised, E::Cancel) => S::Cancelled,
            (S::AwaitingPayment | S::Authorised, E::Expire) => S::Expired,
            (S::Authorised, E::SaleReported) => S::Completed,
            (S::Completed, E::Refund { full: true }) => S::Refunded,
            (S::Completed, E::Refund { full: false }) => S::Completed,
            (S::AwaitingPayment, E::Hold) => S::Held,
            (S::Held, E::Release { dispensed: false }) => S::Authorised,
            (S::Held, E::Release { dispensed: true }) => S::Completed,
            (S::Held, E::Refund { full: true }) => S::Refunded,
            (from, event) => return Err(IllegalTransition { from, event }),
        };
        Ok(next)
    }

    /// No event moves the order any more (refunds of cancelled money happen as part of
    /// the cancellation, not after it).
    pub fn is_final(self) -> bool {
        matches!(self, OrderStatus::Cancelled | OrderStatus::Expired | OrderStatus::Refunded)
    }

    /// Money was taken for this order and (part of it) may still be held.
    pub fn holds_money(self) -> bool {
        matches!(self, OrderStatus::Authorised | OrderStatus::Completed | OrderStatus::Held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderEvent as E;
    use OrderStatus as S;

    const ALL: [OrderStatus; 7] =
        [S::AwaitingPayment, S::Authorised, S::Completed, S::Cancelled, S::Expired, S::Refunded, S::Held];
    const EVENTS: [OrderEvent; 10] = [
        E::Hold,
        E::Release { dispensed: false },
        E::Release { dispensed: true },
        E::Paid { dispensed: false },
        E::Paid { dispensed: true },
        E::SaleReported,
        E::Cancel,
        E::Expire,
        E::Refund { full: true },
        E::Refund { full: false },
    ];

    /// The whole table: every (status, event) pair, legal ones with their target. A new
    /// transition must be added here on purpose.
    fn expected(from: OrderStatus, e: OrderEvent) -> Option<OrderStatus> {
        Some(match (from, e) {
            (S::AwaitingPayment, E::Paid { dispensed: false }) => S::Authorised,
            (S::AwaitingPayment, E::Paid { dispensed: true }) => S::Completed,
            (S::AwaitingPayment, E::Cancel) => S::Cancelled,
            (S::AwaitingPayment, E::Expire) => S::Expired,
            (S::Authorised, E::SaleReported) => S::Completed,
            (S::Authorised, E::Cancel) => S::Cancelled,
            (S::Authorised, E::Expire) => S::Expired,
            (S::Completed, E::Refund { full: true }) => S::Refunded,
            (S::Completed, E::Refund { full: false }) => S::Completed,
            (S::AwaitingPayment, E::Hold) => S::Held,
            (S::Held, E::Release { dispensed: false }) => S::Authorised,
            (S::Held, E::Release { dispensed: true }) => S::Completed,
            (S::Held, E::Refund { full: true }) => S::Refunded,
            _ => return None,
        })
    }

    #[test]
    fn every_pair_follows_the_table() {
        let mut legal = 0;
        for from in ALL {
            for e in EVENTS {
                match (from.apply(e), expected(from, e)) {
                    (Ok(to), Some(want)) => {
                        assert_eq!(to, want, "{from:?} + {e:?}");
                        legal += 1;
                    }
                    (Err(err), None) => {
                        assert_eq!(err, IllegalTransition { from, event: e });
                        assert!(!err.message_zh().is_empty());
                    }
                    (got, want) => panic!("{from:?} + {e:?}: got {got:?}, want {want:?}"),
                }
            }
        }
        assert_eq!(legal, 13);
    }

    #[test]
    fn final_states_take_no_event() {
        for from in ALL.into_iter().filter(|s| s.is_final()) {
            for e in EVENTS {
                assert!(from.apply(e).is_err(), "{from:?} + {e:?}");
            }
        }
    }

    #[test]
    fn paying_a_closed_order_has_its_own_code() {
        assert_eq!(S::Cancelled.apply(E::Paid { dispensed: false }).unwrap_err().code(), "order_closed");
        assert_eq!(S::Expired.apply(E::Paid { dispensed: true }).unwrap_err().code(), "order_closed");
        assert_eq!(S::Completed.apply(E::Paid { dispensed: true }).unwrap_err().code(), "order_already_paid");
        assert_eq!(S::AwaitingPayment.apply(E::Refund { full: true }).unwrap_err().code(), "order_not_refundable");
        assert_eq!(S::Completed.apply(E::SaleReported).unwrap_err().code(), "order_not_authorised");
    }

    #[test]
    fn status_strings_round_trip() {
        for s in ALL {
            assert_eq!(OrderStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for k in OrderKind::ALL {
            assert_eq!(OrderKind::parse(k.as_str()), Some(*k));
        }
    }
}
