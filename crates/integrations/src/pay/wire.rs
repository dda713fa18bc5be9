//! The sandbox protocol's JSON bodies, shared by the peer and [`super::SandboxChannel`].
//! Times are RFC 3339; amounts are integer fen with their currency.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{PaymentState, RefundState};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Amount {
    pub total: i64,
    pub currency: String,
}

/// `POST /v1/payments`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateBody {
    pub mchid: String,
    pub out_trade_no: String,
    pub description: String,
    pub notify_url: String,
    pub amount: Amount,
    pub time_expire: DateTime<Utc>,
    pub payer: PayerBody,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PayerBody {
    App {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        openid: Option<String>,
    },
    PaymentCode {
        auth_code: String,
    },
}

/// A payment as the peer reports it (answers and the `resource` of payment events).
/// `trade_state`: `NOTPAY`, `USERPAYING`, `SUCCESS`, `CLOSED` or `PAYERROR` (WeChat's names).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Payment {
    pub mchid: String,
    pub out_trade_no: String,
    pub trade_state: String,
    pub amount: Amount,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_time: Option<DateTime<Utc>>,
    /// Why a `PAYERROR` payment failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
    /// Only in the answer to creating an app payment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pay_params: Option<Value>,
}

impl Payment {
    /// The trait's view. `Err` names what does not add up.
    pub fn state(&self) -> Result<PaymentState, String> {
        Ok(match self.trade_state.as_str() {
            "NOTPAY" | "USERPAYING" => PaymentState::Pending,
            "SUCCESS" => PaymentState::Succeeded {
                transaction_id: self.transaction_id.clone().ok_or("SUCCESS without transaction_id")?,
                amount_fen: self.amount.total,
                paid_at: self.success_time.ok_or("SUCCESS without success_time")?,
            },
            "CLOSED" => PaymentState::Closed,
            "PAYERROR" => {
                let error = self.error.clone().unwrap_or_else(|| ErrorBody::new("PAYERROR", "payment failed"));
                PaymentState::Failed { code: error.code, message: error.message }
            }
            other => return Err(format!("unknown trade_state {other:?}")),
        })
    }
}

/// `POST /v1/refunds`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundBody {
    pub out_trade_no: String,
    pub out_refund_no: String,
    pub reason: String,
    pub notify_url: String,
    pub amount: RefundAmount,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundAmount {
    pub refund: i64,
    pub total: i64,
    pub currency: String,
}

/// A refund as the peer reports it. `status`: `PROCESSING`, `SUCCESS` or `ABNORMAL`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub mchid: String,
    pub out_trade_no: String,
    pub out_refund_no: String,
    pub refund_id: String,
    pub status: String,
    pub amount: RefundAmount,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

impl Refund {
    pub fn state(&self) -> Result<RefundState, String> {
        Ok(match self.status.as_str() {
            "PROCESSING" => RefundState::Pending,
            "SUCCESS" => RefundState::Succeeded { refund_id: self.refund_id.clone() },
            "ABNORMAL" => {
                let error = self.error.clone().unwrap_or_else(|| ErrorBody::new("ABNORMAL", "refund failed"));
                RefundState::Failed { code: error.code, message: error.message }
            }
            other => return Err(format!("unknown refund status {other:?}")),
        })
    }
}

/// A notification: `event_type` `TRANSACTION.SUCCESS` with a [`Payment`] resource, or
/// `REFUND.SUCCESS` / `REFUND.ABNORMAL` with a [`Refund`] resource. Unlike WeChat's, the
/// resource is not encrypted: the sandbox carries no personal data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Unique per event; a duplicate delivery repeats it.
    pub id: String,
    pub create_time: DateTime<Utc>,
    pub event_type: String,
    pub resource: Value,
}

/// Every non-2xx answer of the peer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
}

impl ErrorBody {
    pub fn new(code: &str, message: &str) -> Self {
        Self { code: code.to_owned(), message: message.to_owned() }
    }
}

/// `GET /v1/bills/{date}`: what the peer settled on that day (China time).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bill {
    pub lines: Vec<BillLine>,
}

/// `kind`: `payment` or `refund`; amounts in fen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillLine {
    pub kind: String,
    pub out_trade_no: String,
    pub transaction_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_refund_no: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_id: Option<String>,
    pub amount: i64,
    pub time: DateTime<Utc>,
}
