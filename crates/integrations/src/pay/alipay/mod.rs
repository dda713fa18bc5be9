//! Alipay (支付宝) over the OpenAPI gateway with RSA2 signatures: the channel adapter
//! [`AlipayChannel`] and a local gateway ([`peer`], [`spawn_alipay_peer`]) that speaks
//! the same protocol with its own keys, for tests and the demo.
//!
//! # Modes
//! - **Direct**: the chain's own app (`app_id`) takes money for its own merchant account
//!   (`seller_id`, the PID `2088…`).
//! - **Service provider (ISV)**: a station's merchant authorised our app
//!   (第三方应用授权); every request carries that merchant's `app_auth_token`. The app
//!   makes one [`AlipayChannel`] per token (the counterpart of WeChat's sub-merchant),
//!   each with the authorising merchant's PID as `seller_id`, which is then required: all
//!   such instances share the `app_id`, so only `seller_id` tells their notifications
//!   apart (another merchant's is [`crate::pay::NotifyError::UnknownKey`], so the app
//!   tries its next instance).
//!
//! # Settings ([`AlipayConfig`])
//! `gateway_url` (default `https://openapi.alipay.com/gateway.do`), `app_id`,
//! `app_private_key` (应用私钥: PEM or the bare base64 the key tool prints),
//! `alipay_public_key` (支付宝公钥, not the app's public key), `seller_id`,
//! `app_auth_token`, `return_url` (where the H5 cashier sends the payer back), `timeout`.
//!
//! # The protocol
//! Every call POSTs `application/x-www-form-urlencoded;charset=utf-8` to the gateway with
//! `app_id, method, format=JSON, charset=utf-8, sign_type=RSA2, timestamp` (China time
//! `yyyy-MM-dd HH:mm:ss`), `version=1.0`, `notify_url`, `app_auth_token`, `biz_content`
//! (JSON) and `sign` = SHA256withRSA with the app key over the sorted `k=v&…` of all of
//! them ([`crate::pay::rsa::alipay_content`], `sign_type` included). The answer is
//! `{"<method with _>_response": {...}, "sign": "..."}`, `sign` covering the exact text
//! of the inner object as received; it is checked with the Alipay public key before
//! anything in it is believed, and a bad one is [`crate::pay::ChannelError::BadResponse`]
//! (outcome unknown). `code` `10000` is success, `10003` a payment code still being
//! confirmed, `40004` a business refusal whose `sub_code` (`ACQ.*`) is mapped onto
//! [`crate::pay::codes`] where one fits and passed through otherwise; `20000` and
//! `ACQ.SYSTEM_ERROR` are unknown outcomes.
//!
//! | Trait method | Alipay method | Notes |
//! |---|---|---|
//! | create, `App{openid: Some}` | `alipay.trade.create` (`JSAPI_PAY`) | `pay_params {"tradeNO"}` for `my.tradePay`; an id `2088…` goes as `buyer_id`, else `buyer_open_id` |
//! | create, `App{openid: None}` | `alipay.trade.wap.pay` (`QUICK_WAP_WAY`) | no call: `pay_params {"pay_url"}`, the signed gateway URL the payer opens. Until opened the trade does not exist (query answers `NotFound`) |
//! | create, `PaymentCode` | `alipay.trade.pay` (`bar_code`) | `10000` paid, `10003` pending, `ACQ.BUYER_BALANCE_NOT_ENOUGH` failed |
//! | query | `alipay.trade.query` | `WAIT_BUYER_PAY`, `TRADE_SUCCESS`/`TRADE_FINISHED`, `TRADE_CLOSED` |
//! | close | `alipay.trade.close` | `ACQ.TRADE_STATUS_ERROR` is told apart by a query: paid → `already_paid`, closed → fine |
//! | refund | `alipay.trade.refund` | `out_request_no` = `out_refund_no`; `fund_change=N` is confirmed by a refund query |
//! | query_refund | `alipay.trade.fastpay.refund.query` | with the `out_trade_no` and `out_request_no` |
//! | statement | `alipay.data.dataservice.bill.downloadurl.query` | ZIP of GBK CSV, the 业务明细 file ([`bill`]) |
//!
//! Alipay has no refund id: we report `{trade_no}-{out_request_no}`, which the refund
//! answer, the notification and the bill all let us rebuild.
//!
//! # Notifications
//! Form-encoded POSTs (`notify_type=trade_status_sync`), signed RSA2 with the Alipay key
//! over the sorted parameters without `sign` and `sign_type`. The signature is checked
//! first, then `app_id` and `seller_id`. They carry no timestamp window: Alipay retries
//! over about 25 hours with the same content, so a replay only repeats a state the app
//! has already applied (it applies each state once, forward only). A notification with
//! `out_biz_no` and `refund_fee`/`gmt_refund` is a refund's; note that its `refund_fee`
//! is the trade's **total** refunded so far, which is what
//! [`crate::pay::Notification::Refund::refund_fen`] then holds. Answer with exactly
//! `success` ([`crate::pay::PaymentChannel::notification_answer`]); anything else is retried.
//!
//! # The local gateway
//! See [`peer`]: payer page `GET /sandbox/pay?out_trade_no=`, `POST /sandbox/pay/{no}`,
//! payment codes (16–24 digits starting `25`–`30`; ending in `9` = confirm on the phone
//! first; [`INSUFFICIENT_BALANCE_CODE`] = not enough balance), fault knobs.

pub mod bill;
mod client;
mod gateway;
pub mod peer;
pub mod wire;

#[cfg(test)]
mod tests;

pub use bill::{BillRow, parse_bill_zip};
pub use client::{AlipayChannel, AlipayConfig, AlipayConfigError, DEFAULT_GATEWAY_URL};
pub use peer::{
    AlipayFaults, AlipayPeerConfig, AlipayPeerHandle, INSUFFICIENT_BALANCE_CODE, ISV_APP_AUTH_TOKEN, ISV_SELLER_ID,
    spawn_alipay_peer,
};
pub use wire::{fen_to_yuan, yuan_to_fen};
