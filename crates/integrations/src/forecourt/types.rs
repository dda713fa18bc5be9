//! The wire types of the device API and of the member and staff calls the simulator
//! makes. Money is fen, quantities thousandths of the grade's unit (mL for litres).

use chrono::{DateTime, Utc};
pub use jiayou_domain::grade::Unit;
pub use jiayou_domain::order::{OrderKind, OrderStatus};
use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------------------------------
// Device API
// ---------------------------------------------------------------------------------------

/// `GET /api/v1/device/config`: the device's station and the nozzles it drives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceConfig {
    pub device_id: i64,
    pub station_id: i64,
    pub nozzles: Vec<NozzleConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NozzleConfig {
    pub nozzle_id: i64,
    pub pump_number: i32,
    /// Unique among the station's live nozzles (as painted on the forecourt).
    pub nozzle_number: i32,
    pub grade_id: i64,
    /// `92`, `95`, `0`, `LNG`, …
    pub grade_code: String,
    pub unit: Unit,
    /// Fen per whole unit (the list price); `None` while the grade has no price, and
    /// then the pump must not sell it.
    pub unit_price_fen: Option<i64>,
    pub price_version: Option<i64>,
    /// The dispenser's resolution in thousandths of the unit (10 = 10 mL).
    pub volume_step: i64,
    /// The last totalizer the server knows; `None` or absent for a new nozzle.
    #[serde(default)]
    pub totalizer: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NozzleStatus {
    Idle,
    Lifted,
    Fuelling,
    Finished,
}

impl NozzleStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Lifted => "lifted",
            Self::Fuelling => "fuelling",
            Self::Finished => "finished",
        }
    }
}

/// `POST /api/v1/device/nozzles/{nozzle_id}/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    pub status: NozzleStatus,
    pub totalizer: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusAck {
    pub nozzle_id: i64,
    pub status: NozzleStatus,
}

/// A pending pump authorisation of a prepaid order (`GET /api/v1/device/authorisations`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authorisation {
    pub id: i64,
    pub order_id: i64,
    pub nozzle_id: i64,
    pub preset_amount_fen: Option<i64>,
    pub preset_quantity: Option<i64>,
    pub unit_price_fen: i64,
    pub price_version: i64,
    pub expires_at: DateTime<Utc>,
}

/// `POST /api/v1/device/sales`: one fueling as the dispenser measured it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleReport {
    /// Unique per device, at most 64 characters; a second report with it is refused
    /// (`409 sale_duplicate`) unless it is an idempotent retry.
    pub sale_id: String,
    pub nozzle_id: i64,
    pub grade_id: i64,
    pub amount_fen: i64,
    pub quantity: i64,
    pub unit_price_fen: i64,
    /// The nozzle's totalizer after this sale.
    pub totalizer: i64,
    pub attendant_staff_id: Option<i64>,
    /// Normalised plate (`云A12345`) read by the forecourt camera, for plate pay.
    pub plate: Option<String>,
    /// The authorisation this sale fulfils (prepay).
    pub authorisation_id: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Autopay {
    Charged,
    Failed,
}

/// The answer to a sale report (201).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleReceipt {
    pub id: i64,
    pub order: Order,
    #[serde(default)]
    pub autopay: Option<Autopay>,
}

// ---------------------------------------------------------------------------------------
// Orders (member, staff and device answers)
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub id: i64,
    pub order_no: String,
    pub kind: OrderKind,
    pub status: OrderStatus,
    pub station_id: Option<i64>,
    pub nozzle_id: Option<i64>,
    pub grade_id: Option<i64>,
    pub unit_price_fen: Option<i64>,
    pub gross_fen: i64,
    pub discount_fen: i64,
    pub points_fen: i64,
    pub payable_fen: i64,
    pub paid_fen: i64,
    pub refunded_fen: i64,
    pub dispensed_quantity: Option<i64>,
    pub dispensed_amount_fen: Option<i64>,
    #[serde(default)]
    pub payment: Option<Payment>,
}

impl Order {
    /// Where the payer's phone confirms a channel payment, when there is one.
    pub fn confirm_url(&self) -> Option<&str> {
        let params = self.payment.as_ref()?.pay_params.as_ref()?;
        params.confirm_url.as_deref().or(params.sandbox_pay_url.as_deref())
    }
}

/// The order's payment, when one was started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    /// `channel`, `balance`, … (absent in older answers).
    #[serde(default)]
    pub method: Option<String>,
    /// The channel's trade number; none for a payment without the channel.
    #[serde(default)]
    pub out_trade_no: Option<String>,
    /// `pending`, `succeeded`, `failed`, `closed`.
    pub status: String,
    #[serde(default)]
    pub pay_params: Option<PayParams>,
}

/// How the payer's client pays. The sandbox channel gives `confirm_url` and
/// `cashier_url`; a real channel gives its own parameters (ignored here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayParams {
    /// POSTing here confirms the payment, as the payer's phone would in the channel's
    /// sandbox. Absolute, or a path under the API's base URL.
    #[serde(default)]
    pub confirm_url: Option<String>,
    #[serde(default)]
    pub cashier_url: Option<String>,
    /// The local WeChat Pay peer's payer page: POSTing to it pays, like `confirm_url`.
    #[serde(default)]
    pub sandbox_pay_url: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Member and staff calls
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WechatLogin {
    pub chain: String,
    pub code: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffLogin {
    pub chain: String,
    pub username: String,
    pub password: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginToken {
    pub token: String,
}

/// `POST /api/v1/member/orders`: a pre-order holding a nozzle, for an amount or a quantity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewOrder {
    pub station_id: i64,
    pub nozzle_id: i64,
    pub amount_fen: Option<i64>,
    pub quantity: Option<i64>,
}

/// `POST /api/v1/member/orders/{id}/pay`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayOrder {
    pub coupon_ids: Vec<i64>,
    pub points: Option<i64>,
    pub use_balance: bool,
    pub use_channel: bool,
}

impl PayOrder {
    pub fn balance() -> PayOrder {
        PayOrder { coupon_ids: vec![], points: None, use_balance: true, use_channel: false }
    }

    pub fn channel() -> PayOrder {
        PayOrder { coupon_ids: vec![], points: None, use_balance: false, use_channel: true }
    }
}

/// `POST /api/v1/member/orders/claim` and `POST /api/v1/counter/sales`: the nozzle's open
/// sale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NozzleSaleRef {
    pub station_id: i64,
    pub nozzle_number: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wallet {
    pub paid_fen: i64,
    pub bonus_fen: i64,
    pub balance_fen: i64,
    pub points: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewTopup {
    pub amount_fen: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewVehicle {
    pub plate: String,
}

/// A member's vehicle; other fields of the answer are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vehicle {
    pub id: i64,
    /// As displayed (`云A·12345`); see [`Vehicle::plate_normalised`].
    pub plate: String,
}

impl Vehicle {
    /// The plate without separators, upper case: `云A·12345` → `云A12345`.
    pub fn plate_normalised(&self) -> String {
        normalise_plate(&self.plate)
    }
}

/// `云a·12345`, `云A 12345` → `云A12345`.
pub fn normalise_plate(s: &str) -> String {
    s.chars().filter(|c| !matches!(c, '·' | '•' | '.' | ' ' | '-')).flat_map(char::to_uppercase).collect()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutopaySetting {
    pub enabled: bool,
}

/// One way a cashier takes the money (`POST /api/v1/orders/{id}/collect`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Tender {
    Cash {
        amount_fen: i64,
        received_fen: i64,
    },
    Card {
        amount_fen: i64,
        reference: String,
    },
    PaymentCode {
        amount_fen: i64,
        auth_code: String,
    },
    /// The member's stored balance.
    Balance {
        amount_fen: i64,
        member_id: i64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Collect {
    pub tenders: Vec<Tender>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sale_reports_send_explicit_nulls() {
        let s = SaleReport {
            sale_id: "S1".into(),
            nozzle_id: 3,
            grade_id: 2,
            amount_fen: 31560,
            quantity: 40000,
            unit_price_fen: 789,
            totalizer: 1_040_000,
            attendant_staff_id: None,
            plate: None,
            authorisation_id: Some(9),
        };
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["attendant_staff_id"], json!(null));
        assert_eq!(v["plate"], json!(null));
        assert_eq!(v["authorisation_id"], json!(9));
    }

    #[test]
    fn tenders_are_tagged_by_method() {
        let t = Tender::PaymentCode { amount_fen: 100, auth_code: "134567890123456780".into() };
        assert_eq!(
            serde_json::to_value(&t).unwrap(),
            json!({"method": "payment_code", "amount_fen": 100, "auth_code": "134567890123456780"})
        );
        let t = Tender::Cash { amount_fen: 31560, received_fen: 40000 };
        assert_eq!(serde_json::to_value(&t).unwrap()["method"], "cash");
    }

    #[test]
    fn orders_parse_from_the_contract_shape() {
        let o: Order = serde_json::from_value(json!({
            "id": 1, "order_no": "202601010001", "kind": "topup", "status": "awaiting_payment",
            "station_id": null, "nozzle_id": null, "grade_id": null, "unit_price_fen": null,
            "gross_fen": 50000, "discount_fen": 0, "points_fen": 0, "payable_fen": 50000, "paid_fen": 0,
            "refunded_fen": 0, "dispensed_quantity": null, "dispensed_amount_fen": null,
            "payment": {"method": "channel", "out_trade_no": "T1", "amount_fen": 50000, "status": "pending",
                "pay_params": {"confirm_url": "/sandbox/pay/T1/confirm", "cashier_url": "/c"}},
            "created_at": "2026-01-01T00:00:00Z"
        }))
        .unwrap();
        assert_eq!(o.kind, OrderKind::Topup);
        assert_eq!(o.status, OrderStatus::AwaitingPayment);
        assert_eq!(o.confirm_url(), Some("/sandbox/pay/T1/confirm"));
        let balance: Payment =
            serde_json::from_value(json!({"method": "balance", "out_trade_no": null, "status": "succeeded",
                "amount_fen": 100, "pay_params": null}))
            .unwrap();
        assert_eq!((balance.out_trade_no, balance.pay_params), (None, None));
        let wx: PayParams = serde_json::from_value(json!({"timeStamp": "1", "package": "prepay_id=x"})).unwrap();
        assert_eq!(wx.confirm_url, None);
    }

    #[test]
    fn plates_normalise() {
        assert_eq!(normalise_plate("云a·12345"), "云A12345");
        assert_eq!(Vehicle { id: 1, plate: "云A·B2C45".into() }.plate_normalised(), "云AB2C45");
    }
}
