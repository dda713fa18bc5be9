//! WeChat's states and codes onto the channel's: trade states, refund statuses, and
//! the refusal codes the app may branch on.

use chrono::{DateTime, Utc};

use super::wire;
use crate::pay::{PaymentState, RefundState, codes};

/// Refusal codes that leave the outcome unknown.
pub(crate) const UNKNOWN_OUTCOME_CODES: [&str; 3] = ["SYSTEM_ERROR", "SYSTEMERROR", "BANKERROR"];

/// The payment state of a WeChat transaction.
pub(crate) fn trade_state(t: &wire::Transaction) -> Result<PaymentState, String> {
    Ok(match t.trade_state.as_str() {
        // REFUND: paid, then (partly) refunded; the refunds are tracked on their own.
        "SUCCESS" | "REFUND" => {
            let transaction_id = t.transaction_id.clone().ok_or("a paid transaction without transaction_id")?;
            let paid_at = t
                .success_time
                .as_deref()
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .ok_or("a paid transaction without a readable success_time")?
                .with_timezone(&Utc);
            PaymentState::Succeeded { transaction_id, amount_fen: t.amount.total, paid_at }
        }
        "NOTPAY" | "USERPAYING" => PaymentState::Pending,
        "CLOSED" | "REVOKED" => PaymentState::Closed,
        "PAYERROR" => PaymentState::Failed { code: "PAYERROR".into(), message: t.trade_state_desc.clone() },
        other => return Err(format!("unknown trade_state {other:?}")),
    })
}

pub(crate) fn refund_state(status: &str, refund_id: &str) -> Result<RefundState, String> {
    Ok(match status {
        "PROCESSING" => RefundState::Pending,
        "SUCCESS" => RefundState::Succeeded { refund_id: refund_id.to_owned() },
        "CLOSED" | "ABNORMAL" => RefundState::Failed { code: status.to_owned(), message: format!("退款{status}") },
        other => return Err(format!("unknown refund status {other:?}")),
    })
}

/// WeChat's codes onto the channel-independent ones where there is an equivalent.
pub(crate) fn map_code(code: &str) -> String {
    match code {
        "ORDERPAID" => codes::ALREADY_PAID,
        "OUT_TRADE_NO_USED" => codes::OUT_TRADE_NO_USED,
        "PARAM_ERROR" | "INVALID_REQUEST" => codes::INVALID_REQUEST,
        other => other,
    }
    .to_owned()
}
