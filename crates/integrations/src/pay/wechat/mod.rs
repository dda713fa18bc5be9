//! WeChat Pay API v3 (微信支付 APIv3): the [`WechatPayChannel`] adapter and a local peer
//! ([`spawn_wechat_peer`]) that speaks the same protocol with its own keys.
//!
//! # Modes
//! - **Direct** (普通商户, `sub_mchid: None`): `mchid` and `appid` are the chain's.
//! - **Service provider** (服务商/partner, `sub_mchid: Some`): `mchid`/`appid` are the
//!   provider's `sp_mchid`/`sp_appid`, the station is the 特约商户 `sub_mchid` (with its
//!   own mini-program `sub_appid` when payers pay there). The app makes one channel
//!   instance per sub-merchant; all share the provider's keys.
//!   [`crate::pay::PaymentChannel::merchant_id`] is the `sub_mchid` then, else `mchid`.
//!
//! # Settings ([`WechatPayConfig`])
//! `base_url` (`https://api.mch.weixin.qq.com`), `mchid`, `appid`, `sub_mchid`,
//! `sub_appid`, `apiv3_key` (32 bytes), `merchant_serial` + `merchant_key`
//! (`apiclient_key.pem`), `platform_key_id` (`PUB_KEY_ID_...`) + `platform_key`
//! (`pub_key.pem`: WeChat's "微信支付公钥" mode; platform certificates are not
//! supported), `timeout`, and `payer_page_url` (the local peer's payer page, demo only).
//! [`WechatPayChannel::new`] refuses a configuration that cannot work.
//!
//! # Signatures
//! Every request carries `Authorization: WECHATPAY2-SHA256-RSA2048 mchid="..",
//! nonce_str="..",signature="..",timestamp="..",serial_no=".."`, SHA256withRSA with the
//! merchant key over `METHOD\npath?query\ntimestamp\nnonce\nbody\n`, and
//! `Wechatpay-Serial: <platform_key_id>`. Every answer (refusals included) must carry a
//! valid `Wechatpay-Signature` over `timestamp\nnonce\nbody\n` under the platform key, a
//! `Wechatpay-Serial` equal to `platform_key_id` and a timestamp within 5 minutes; else
//! it is [`ChannelError::BadResponse`](crate::pay::ChannelError) (outcome unknown). The
//! bill file itself is not signed (as at WeChat); the signed `hash_value` vouches for it.
//!
//! # Endpoints (`[partner/]`: the service-provider path)
//! | Trait call | Request |
//! |---|---|
//! | `create`, [`Payer::App`](crate::pay::Payer) | `POST /v3/pay/[partner/]transactions/jsapi` → `prepay_id` → `pay_params` |
//! | `create`, payment code | `POST /v3/pay/[partner/]transactions/codepay` (`payer.auth_code`, `scene_info`) |
//! | `query` | `GET /v3/pay/[partner/]transactions/out-trade-no/{no}?mchid=` (partner: `?sp_mchid=&sub_mchid=`) |
//! | `close` | `POST .../out-trade-no/{no}/close` → 204 |
//! | `refund` | `POST /v3/refund/domestic/refunds` (partner: + `sub_mchid`) |
//! | `query_refund` | `GET /v3/refund/domestic/refunds/{out_refund_no}` (partner: `?sub_mchid=`) |
//! | `statement` | `GET /v3/bill/tradebill?bill_date=&bill_type=ALL` (partner: `&sub_mchid=`), then the `download_url` |
//!
//! `pay_params` are what `wx.requestPayment` takes: `appId` (the `sub_appid` when set),
//! `timeStamp`, `nonceStr`, `package` = `prepay_id=...`, `signType` = `RSA`, `paySign` =
//! SHA256withRSA over `appId\ntimeStamp\nnonceStr\npackage\n`; plus `sandbox_pay_url`
//! when `payer_page_url` is set. JSAPI needs the payer's `openid` (partner: `sub_openid`
//! with a `sub_appid`, else `sp_openid`).
//!
//! Answers: trade states `SUCCESS`/`REFUND` → `Succeeded`, `NOTPAY`/`USERPAYING` →
//! `Pending`, `CLOSED`/`REVOKED` → `Closed`, `PAYERROR` → `Failed`; 404
//! `ORDER_NOT_EXIST` → `NotFound`. A payment code answers 200 with the transaction,
//! 202 `USERPAYING` (→ `Pending`: query until settled), 403 `NOTENOUGH` (→ `Failed`),
//! or a refusal such as `AUTH_CODE_INVALID`. Refunds `PROCESSING`/`SUCCESS`/`CLOSED`/
//! `ABNORMAL`. Codes mapped onto [`crate::pay::codes`]: `ORDERPAID` → `already_paid`,
//! `OUT_TRADE_NO_USED` → `out_trade_no_used`, `PARAM_ERROR`/`INVALID_REQUEST` →
//! `invalid_request`, and an `INVALID_REQUEST` whose message says the refund exceeds
//! what is left (申请退款金额超过订单可退金额) → `refund_exceeds`. Others pass through
//! (`NOT_ENOUGH` is the merchant's own balance being short, not an over-refund). Any 5xx
//! (`SYSTEM_ERROR`, ...) is [`ChannelError::Transport`](crate::pay::ChannelError):
//! WeChat may have applied the request; so are `SYSTEM_ERROR`/`SYSTEMERROR`/`BANKERROR`
//! under any status. A create refused `ORDERPAID` (a retried create of a payment paid
//! meanwhile) answers the payment's current state instead. A payment code's
//! `scene_info.store_info.out_id` is the receiving merchant (the station in partner
//! mode): the trait carries no store or device id.
//! The trade bill's `NO_STATEMENT_EXIST` (a day without trades) is an empty statement;
//! a bill not generated yet (`STATEMENT_CREATING`) is refused with that code.
//!
//! # Notifications
//! [`crate::pay::PaymentChannel::verify_notification`] checks `Wechatpay-Serial` (another
//! key → `UnknownKey`, so the app can try its other instances), the RSA signature over
//! `timestamp\nnonce\nbody\n` (→ `BadSignature`), then the 5-minute window
//! (→ `StaleTimestamp`), then decrypts `resource` (AEAD_AES_256_GCM, APIv3 key,
//! `associated_data`). A resource that does not decrypt although the signature verified
//! is `MalformedBody`: the body is WeChat's, our APIv3 key is wrong (logged as an error).
//! `TRANSACTION.SUCCESS` → `Notification::Payment` (`mchid`, partner `sp_mchid`, must be
//! ours, else `WrongMerchant`; `merchant_id` is `mchid`, partner `sub_mchid`);
//! `REFUND.SUCCESS`/`ABNORMAL`/`CLOSED` → `Notification::Refund`; any other event type
//! is `MalformedBody`. The answer is the trait's default: 204, or 500 with
//! `{"code":"FAIL","message":"失败"}`, which is what WeChat expects.
//!
//! # The local peer
//! [`spawn_wechat_peer`] serves all the endpoints above on 127.0.0.1 with its own
//! platform key pair, merchant [`PEER_MCHID`] / [`PEER_APPID`] (which may also act as
//! service provider for any 10-digit `sub_mchid`), verifies each request's signature
//! (401 `SIGN_ERROR`), signs every answer, and POSTs notifications encrypted and signed
//! as WeChat does, retried until a 2xx after 0.2 s, 0.5 s, 1 s, 2 s, 5 s, then it gives
//! up; each attempt is freshly signed. [`WechatPeerHandle`] offers:
//! - `channel_config()` / `partner_channel_config(sub_mchid)`: ready configurations
//!   (with `payer_page_url`); `merchant_key_pem()` / `platform_public_key_pem()` to
//!   write key files as a real install has them;
//! - `pay(out_trade_no)` (as the driver), `payment(out_trade_no)`, `refund(out_refund_no)`,
//!   `sub_merchants()`;
//! - `signed_notification(out_trade_no)` / `signed_refund_notification(out_refund_no)`:
//!   the exact notification (headers, body), freshly signed, to deliver as often and in
//!   whatever order a test likes; `sign_notification(body)` for hand-made ones;
//! - fault knobs: `notify_twice`, `drop_notifications`, `delay_next_responses` (after the
//!   work is done: the "unknown outcome" case), `fail_next_creates` (500 `SYSTEM_ERROR`,
//!   nothing created), `corrupt_next_signatures`; counters `notifications_sent`,
//!   `notifications_delivered`, `auth_failures`;
//! - `plant_bill_line(line, sub_mchid)`: a bill line no request produced.
//! - **Payer side** (the driver's phone): `GET /sandbox/pay/{prepay_id}` is a zh-CN page
//!   with the amount and a 确认支付 button, `POST /sandbox/pay/{prepay_id}` (unsigned)
//!   pays and notifies; `pay_params.sandbox_pay_url` points at it.
//! - **Payment codes**: 18 digits starting `10`..`15` pay at once; such a code ending in
//!   `9` answers `USERPAYING` and pays [`WechatPeerConfig::user_paying_for`] later (the
//!   counter queries; payment codes are not notified); [`INSUFFICIENT_FUNDS_CODE`]
//!   (`134000000000000000`) answers 403 `NOTENOUGH` and stays `PAYERROR`; anything
//!   else is 400 `AUTH_CODE_INVALID`.
//! - An app payment unpaid past `time_expire` reads `CLOSED`. Refunds answer
//!   `PROCESSING` and succeed [`WechatPeerConfig::refund_settles_after`] later (at once
//!   when zero), then `REFUND.SUCCESS` is notified and the payment reads `REFUND`.
//! - Bills: today's and past days' are available at once (WeChat makes yesterday's
//!   after 10:00); a future day is `STATEMENT_CREATING`.
//!
//! Deviations of the peer: `out_trade_no` is unique across its sub-merchants (WeChat:
//! per merchant); the payer page stands in for WeChat's cashier.

mod bill;
mod client;
mod mapping;
mod peer;
mod peer_api;
mod peer_ledger;
pub mod wire;

#[cfg(test)]
mod tests;

pub use bill::{COLUMNS as BILL_COLUMNS, format_yuan, parse_bill, parse_yuan};
pub use client::{DEFAULT_BASE_URL, WechatConfigError, WechatPayChannel, WechatPayConfig};
pub use peer::{
    PEER_APIV3_KEY, PEER_APPID, PEER_MCHID, PEER_MERCHANT_SERIAL, PEER_PLATFORM_KEY_ID, PEER_SUB_APPID,
    WechatPeerConfig, WechatPeerHandle, spawn_wechat_peer,
};
pub use peer_ledger::INSUFFICIENT_FUNDS_CODE;
