//! The WeChat Pay channel end to end: our client against the separate peer, with a
//! small axum server in each test playing the app's notification endpoint. Request
//! signatures are also built here by hand, from WeChat's documented format.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::post;
use chrono::{NaiveDate, TimeDelta, Utc};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use super::*;
use crate::pay::rsa::{PublicKey, generate_key_pair};
use crate::pay::{
    ChannelError, CreatePayment, Notification, NotifyError, Payer, PaymentChannel, PaymentState, RefundRequest,
    RefundState, StatementKind, StatementLine, codes,
};

const WAIT: Duration = Duration::from_secs(5);
const SUB_MCHID: &str = "1900000201";

async fn setup(config: WechatPeerConfig) -> (WechatPeerHandle, WechatPayChannel) {
    let peer = spawn_wechat_peer(config).await.unwrap();
    let channel = WechatPayChannel::new(peer.channel_config()).unwrap();
    (peer, channel)
}

/// The app's notification endpoint: records every POST, answers 500 to the first
/// `fail_first` of them and 204 afterwards.
struct Receiver {
    url: String,
    rx: mpsc::UnboundedReceiver<(HeaderMap, Bytes)>,
    _stop: oneshot::Sender<()>,
}

impl Receiver {
    async fn start(fail_first: usize) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let failures = Arc::new(AtomicUsize::new(fail_first));
        let app = Router::new().route(
            "/notify",
            post(move |headers: HeaderMap, body: Bytes| async move {
                tx.send((headers, body)).unwrap();
                let failing = failures.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
                if failing { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::NO_CONTENT }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/notify", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Self { url, rx, _stop: stop }
    }

    async fn next(&mut self) -> (HeaderMap, Bytes) {
        tokio::time::timeout(WAIT, self.rx.recv()).await.expect("a notification in time").unwrap()
    }
}

fn app_payment(no: &str, amount_fen: i64, notify_url: &str) -> CreatePayment {
    CreatePayment {
        out_trade_no: no.to_owned(),
        amount_fen,
        description: "加油 92#,<测试>".to_owned(),
        notify_url: notify_url.to_owned(),
        payer: Payer::App { openid: Some("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o".to_owned()) },
        expires_at: Utc::now() + TimeDelta::minutes(15),
    }
}

fn code_payment(no: &str, amount_fen: i64, auth_code: &str) -> CreatePayment {
    CreatePayment {
        payer: Payer::PaymentCode { auth_code: auth_code.to_owned() },
        ..app_payment(no, amount_fen, "https://example.invalid/notify")
    }
}

fn refund(no: &str, refund_no: &str, refund_fen: i64, total_fen: i64, notify_url: &str) -> RefundRequest {
    RefundRequest {
        out_trade_no: no.to_owned(),
        out_refund_no: refund_no.to_owned(),
        refund_fen,
        total_fen,
        reason: "顾客取消".to_owned(),
        notify_url: notify_url.to_owned(),
    }
}

fn refused_code<T: std::fmt::Debug>(result: Result<T, ChannelError>) -> String {
    match result {
        Err(ChannelError::Refused { code, .. }) => code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Polls `query` until the payment leaves `Pending`, as the counter's job does.
async fn settled(channel: &WechatPayChannel, no: &str) -> PaymentState {
    tokio::time::timeout(WAIT, async {
        loop {
            match channel.query(no).await.unwrap() {
                PaymentState::Pending => tokio::time::sleep(Duration::from_millis(50)).await,
                other => return other,
            }
        }
    })
    .await
    .expect("settles in time")
}

/// `Authorization` built by hand from WeChat's documentation.
fn authorization(method: &str, path: &str, body: &str, key_purpose: &'static str) -> String {
    let (_, key) = generate_key_pair(key_purpose);
    let timestamp = Utc::now().timestamp().to_string();
    let nonce = "593BEC0C930BF1AFEB40B4A08C8FB242";
    let signature = key.sign(format!("{method}\n{path}\n{timestamp}\n{nonce}\n{body}\n").as_bytes());
    format!(
        "WECHATPAY2-SHA256-RSA2048 mchid=\"{PEER_MCHID}\",nonce_str=\"{nonce}\",signature=\"{signature}\",\
         timestamp=\"{timestamp}\",serial_no=\"{PEER_MERCHANT_SERIAL}\""
    )
}

#[tokio::test]
async fn the_peer_verifies_request_signatures() {
    let (peer, _) = setup(WechatPeerConfig::default()).await;
    let http = reqwest::Client::new();
    let body = format!(
        r#"{{"mchid":"{PEER_MCHID}","out_refund_no":"R1","out_trade_no":"NOPE","amount":{{"refund":1,"total":1,"currency":"CNY"}}}}"#
    );
    let url = format!("{}/v3/refund/domestic/refunds", peer.base_url());
    let send = |auth: String, body: String| {
        http.post(&url).header("authorization", auth).header("content-type", "application/json").body(body).send()
    };
    // Signed right: past authentication (the payment does not exist).
    let ok = send(authorization("POST", "/v3/refund/domestic/refunds", &body, "wechat-merchant"), body.clone());
    assert_eq!(ok.await.unwrap().status(), StatusCode::NOT_FOUND);
    // The body altered after signing.
    let tampered = body.replace("\"refund\":1", "\"refund\":100");
    let r =
        send(authorization("POST", "/v3/refund/domestic/refunds", &body, "wechat-merchant"), tampered).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Signed for another path.
    let r = send(authorization("POST", "/v3/refund/domestic/refund", &body, "wechat-merchant"), body.clone());
    assert_eq!(r.await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let r = send("Bearer x".into(), body.clone()).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let error: Value = r.json().await.unwrap();
    assert_eq!(error["code"], "SIGN_ERROR");
    assert_eq!(peer.auth_failures(), 3);

    // Our channel signing with a key the peer does not know is refused SIGN_ERROR.
    let (_, other_key) = generate_key_pair("wechat-test-other");
    let channel = WechatPayChannel::new(WechatPayConfig { merchant_key: other_key, ..peer.channel_config() }).unwrap();
    assert_eq!(refused_code(channel.query("NO1").await), "SIGN_ERROR");
    assert_eq!(peer.auth_failures(), 4);
}

#[tokio::test]
async fn jsapi_pay_params_are_signed_for_wx_request_payment() {
    let (peer, channel) = setup(WechatPeerConfig::default()).await;
    let created = channel.create(app_payment("JS1", 30_000, "https://example.invalid/n")).await.unwrap();
    assert_eq!(created.status, PaymentState::Pending);
    let p = created.pay_params.unwrap();
    let field = |k: &str| p[k].as_str().unwrap_or_else(|| panic!("pay_params.{k}")).to_owned();
    assert_eq!(field("appId"), PEER_APPID);
    assert_eq!(field("signType"), "RSA");
    assert!(field("package").starts_with("prepay_id=wx"));
    let merchant_public = PublicKey::parse(&peer.merchant_key_pem_public()).unwrap();
    let message = format!("{}\n{}\n{}\n{}\n", field("appId"), field("timeStamp"), field("nonceStr"), field("package"));
    assert!(merchant_public.verify(message.as_bytes(), &field("paySign")));
    assert!(!merchant_public.verify(b"another message\n", &field("paySign")));
    let prepay = field("package").trim_start_matches("prepay_id=").to_owned();
    assert_eq!(field("sandbox_pay_url"), format!("{}/sandbox/pay/{prepay}", peer.base_url()));
    // Without a payer page there is no sandbox link.
    let plain = WechatPayChannel::new(WechatPayConfig { payer_page_url: None, ..peer.channel_config() }).unwrap();
    let created = plain.create(app_payment("JS2", 100, "https://example.invalid/n")).await.unwrap();
    assert!(created.pay_params.unwrap().get("sandbox_pay_url").is_none());
    // JSAPI needs the openid.
    let mut no_openid = app_payment("JS3", 100, "https://example.invalid/n");
    no_openid.payer = Payer::App { openid: None };
    assert_eq!(refused_code(channel.create(no_openid).await), codes::INVALID_REQUEST);
}

impl WechatPeerHandle {
    /// The merchant's public key, as the tests check paySign with it.
    fn merchant_key_pem_public(&self) -> String {
        crate::pay::rsa::PrivateKey::parse(&self.merchant_key_pem()).unwrap().public_key().to_pem()
    }
}

#[tokio::test]
async fn paying_on_the_payer_page_notifies_and_the_notification_verifies() {
    let (peer, channel) = setup(WechatPeerConfig::default()).await;
    let mut receiver = Receiver::start(2).await;
    let created = channel.create(app_payment("PAY1", 30_012, &receiver.url)).await.unwrap();
    let pay_url = created.pay_params.unwrap()["sandbox_pay_url"].as_str().unwrap().to_owned();
    let page = reqwest::get(&pay_url).await.unwrap().text().await.unwrap();
    assert!(page.contains("¥300.12") && page.contains("确认支付") && page.contains("&lt;测试&gt;"));
    let paid = reqwest::Client::new().post(&pay_url).send().await.unwrap();
    assert!(paid.status().is_success());

    // Refused twice by the receiver, so delivered three times, each freshly signed.
    let mut nonces = Vec::new();
    for _ in 0..3 {
        let (headers, body) = receiver.next().await;
        nonces.push(headers["wechatpay-nonce"].to_str().unwrap().to_owned());
        let envelope: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(envelope["event_type"], "TRANSACTION.SUCCESS");
        assert_eq!(envelope["resource"]["algorithm"], "AEAD_AES_256_GCM");
        assert_eq!(envelope["resource"]["nonce"].as_str().unwrap().len(), 12);
        let notification = channel.verify_notification(&headers, &body, Utc::now()).unwrap();
        let Notification::Payment { out_trade_no, transaction_id, amount_fen, currency, merchant_id, state } =
            notification
        else {
            panic!("a payment notification")
        };
        assert_eq!((out_trade_no.as_str(), amount_fen, currency.as_str()), ("PAY1", 30_012, "CNY"));
        assert_eq!(merchant_id, PEER_MCHID);
        assert_eq!(merchant_id, channel.merchant_id());
        let PaymentState::Succeeded { transaction_id: queried, amount_fen, .. } = channel.query("PAY1").await.unwrap()
        else {
            panic!("paid")
        };
        assert_eq!((queried, amount_fen), (transaction_id.clone(), 30_012));
        assert!(matches!(state, PaymentState::Succeeded { transaction_id: t, .. } if t == transaction_id));
    }
    nonces.sort();
    nonces.dedup();
    assert_eq!(nonces.len(), 3, "each attempt has its own nonce and signature");
    // Paying again is harmless and does not notify again; closing now is already_paid.
    assert!(peer.pay("PAY1").is_ok());
    assert_eq!(refused_code(channel.close("PAY1").await), codes::ALREADY_PAID);
}

#[tokio::test]
async fn notifications_are_refused_for_the_right_reason() {
    let (peer, channel) = setup(WechatPeerConfig::default()).await;
    peer.drop_notifications(true);
    channel.create(app_payment("N1", 500, "https://example.invalid/n")).await.unwrap();
    assert!(peer.signed_notification("N1").is_none(), "unpaid: nothing to notify");
    peer.pay("N1").unwrap();
    let (headers, body) = peer.signed_notification("N1").unwrap();
    let now = Utc::now();

    // The same notification, delivered 8 times concurrently, reads the same each time.
    let channel = Arc::new(channel);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (c, h, b) = (channel.clone(), headers.clone(), body.clone());
            tokio::spawn(async move { c.verify_notification(&h, &b, now) })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap().unwrap());
    }
    assert!(results.windows(2).all(|w| w[0] == w[1]));

    let mut tampered = body.clone();
    let i = tampered.iter().position(|b| *b == b'T').unwrap();
    tampered[i] = b'X';
    assert_eq!(channel.verify_notification(&headers, &tampered, now), Err(NotifyError::BadSignature));

    let mut other_serial = headers.clone();
    other_serial.insert("wechatpay-serial", HeaderValue::from_static("PUB_KEY_ID_0114000000000000000000000000"));
    assert!(matches!(channel.verify_notification(&other_serial, &body, now), Err(NotifyError::UnknownKey(_))));

    let mut missing = headers.clone();
    missing.remove("wechatpay-signature");
    assert_eq!(
        channel.verify_notification(&missing, &body, now),
        Err(NotifyError::MissingHeader("wechatpay-signature"))
    );

    let later = now + TimeDelta::seconds(301);
    assert!(matches!(channel.verify_notification(&headers, &body, later), Err(NotifyError::StaleTimestamp { .. })));
    assert!(channel.verify_notification(&headers, &body, now + TimeDelta::seconds(240)).is_ok());

    // Signed by WeChat, but our APIv3 key is wrong: MalformedBody (see the module docs).
    let wrong_key = WechatPayConfig { apiv3_key: "0123456789abcdef0123456789abcdef".into(), ..peer.channel_config() };
    let wrong_key = WechatPayChannel::new(wrong_key).unwrap();
    assert!(matches!(wrong_key.verify_notification(&headers, &body, now), Err(NotifyError::MalformedBody(_))));

    // Another merchant's instance with the same keys: a configuration mix-up.
    let other = WechatPayChannel::new(WechatPayConfig { mchid: "1900000999".into(), ..peer.channel_config() }).unwrap();
    assert_eq!(other.verify_notification(&headers, &body, now), Err(NotifyError::WrongMerchant(PEER_MCHID.to_owned())));

    // A signed envelope of an unknown event type.
    let mut envelope: Value = serde_json::from_slice(&body).unwrap();
    envelope["event_type"] = "TRANSACTION.CLOSED".into();
    let body = serde_json::to_vec(&envelope).unwrap();
    let headers = peer.sign_notification(&body);
    assert!(matches!(channel.verify_notification(&headers, &body, now), Err(NotifyError::MalformedBody(_))));
}

#[tokio::test]
async fn partner_mode_end_to_end() {
    let peer = spawn_wechat_peer(WechatPeerConfig::default()).await.unwrap();
    let channel = WechatPayChannel::new(peer.partner_channel_config(SUB_MCHID)).unwrap();
    let direct = WechatPayChannel::new(peer.channel_config()).unwrap();
    assert_eq!(channel.merchant_id(), SUB_MCHID);
    let mut receiver = Receiver::start(0).await;
    let created = channel.create(app_payment("SP1", 2_000, &receiver.url)).await.unwrap();
    assert_eq!(created.pay_params.unwrap()["appId"], PEER_SUB_APPID);
    assert_eq!(peer.sub_merchants(), vec![SUB_MCHID.to_owned()]);
    assert_eq!(channel.query("SP1").await.unwrap(), PaymentState::Pending);
    assert_eq!(direct.query("SP1").await.unwrap(), PaymentState::NotFound, "not the direct merchant's");
    peer.pay("SP1").unwrap();
    let (headers, body) = receiver.next().await;
    let Notification::Payment { merchant_id, amount_fen, .. } =
        channel.verify_notification(&headers, &body, Utc::now()).unwrap()
    else {
        panic!("a payment")
    };
    assert_eq!((merchant_id.as_str(), amount_fen), (SUB_MCHID, 2_000));
    assert_eq!(merchant_id, channel.merchant_id());
    // The direct instance reads the partner envelope's sp_mchid slot as empty: not ours.
    assert!(matches!(direct.verify_notification(&headers, &body, Utc::now()), Err(NotifyError::WrongMerchant(_))));
    assert!(matches!(channel.query("SP1").await.unwrap(), PaymentState::Succeeded { amount_fen: 2_000, .. }));
    // Partner refunds and payment codes go through the partner endpoints too.
    assert!(channel.refund(refund("SP1", "SPR1", 500, 2_000, &receiver.url)).await.is_ok());
    let code = channel.create(code_payment("SP2", 700, "120000000000000001")).await.unwrap();
    assert!(matches!(code.status, PaymentState::Succeeded { amount_fen: 700, .. }));
    assert!(
        matches!(channel.close("SP1").await, Err(ChannelError::Refused { code, .. }) if code == codes::ALREADY_PAID)
    );
}

#[tokio::test]
async fn payment_codes_pay_wait_fail_or_are_refused() {
    let (peer, channel) = setup(WechatPeerConfig::default()).await;
    let now = channel.create(code_payment("C1", 8_888, "134567890123456780")).await.unwrap();
    assert!(matches!(now.status, PaymentState::Succeeded { amount_fen: 8_888, .. }));
    assert!(now.pay_params.is_none());

    let later = channel.create(code_payment("C2", 100, "104567890123456789")).await.unwrap();
    assert_eq!(later.status, PaymentState::Pending, "USERPAYING");
    assert!(matches!(settled(&channel, "C2").await, PaymentState::Succeeded { amount_fen: 100, .. }));

    let poor = channel.create(code_payment("C3", 100, INSUFFICIENT_FUNDS_CODE)).await.unwrap();
    assert!(matches!(poor.status, PaymentState::Failed { ref code, .. } if code == "NOTENOUGH"));
    assert!(matches!(channel.query("C3").await.unwrap(), PaymentState::Failed { .. }));

    assert_eq!(refused_code(channel.create(code_payment("C4", 100, "999")).await), "AUTH_CODE_INVALID");
    assert_eq!(channel.query("C4").await.unwrap(), PaymentState::NotFound);
    assert_eq!(peer.payment("C1"), channel.query("C1").await.unwrap());
}

#[tokio::test]
async fn close_retry_expiry_and_server_errors() {
    let (peer, channel) = setup(WechatPeerConfig::default()).await;
    channel.create(app_payment("X1", 100, "https://example.invalid/n")).await.unwrap();
    // The same request again is fine (a retry); another request under that number is not.
    assert!(channel.create(app_payment("X1", 100, "https://example.invalid/n")).await.is_ok());
    let mut other = app_payment("X1", 200, "https://example.invalid/n");
    other.expires_at = Utc::now() + TimeDelta::minutes(15);
    assert_eq!(refused_code(channel.create(other).await), codes::OUT_TRADE_NO_USED);
    channel.close("X1").await.unwrap();
    channel.close("X1").await.unwrap();
    assert_eq!(channel.query("X1").await.unwrap(), PaymentState::Closed);
    assert_eq!(peer.pay("X1"), Err("ORDER_CLOSED".to_owned()));

    let mut soon = app_payment("X2", 100, "https://example.invalid/n");
    soon.expires_at = Utc::now() + TimeDelta::seconds(2);
    channel.create(soon).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(channel.query("X2").await.unwrap(), PaymentState::Closed);

    // A 5xx may have been applied: unknown outcome, never a refusal.
    peer.fail_next_creates(1);
    let err = channel.create(app_payment("X3", 100, "https://example.invalid/n")).await.unwrap_err();
    assert!(matches!(err, ChannelError::Transport(_)) && err.is_unknown_outcome(), "{err:?}");

    // Past the timeout the payment exists although we got no answer.
    let quick = WechatPayChannel::new(WechatPayConfig { timeout: Duration::from_millis(200), ..peer.channel_config() });
    peer.delay_next_responses(1, Duration::from_millis(600));
    let err = quick.unwrap().create(app_payment("X4", 100, "https://example.invalid/n")).await.unwrap_err();
    assert_eq!(err, ChannelError::Timeout);
    assert_eq!(channel.query("X4").await.unwrap(), PaymentState::Pending);
}

#[tokio::test]
async fn answers_with_a_bad_platform_signature_are_unknown_outcomes() {
    let (peer, channel) = setup(WechatPeerConfig::default()).await;
    channel.create(app_payment("B1", 100, "https://example.invalid/n")).await.unwrap();
    peer.corrupt_next_signatures(1);
    assert!(matches!(channel.query("B1").await, Err(ChannelError::BadResponse(_))));
    peer.corrupt_next_signatures(1);
    let err = channel.create(app_payment("B2", 100, "https://example.invalid/n")).await.unwrap_err();
    assert!(matches!(err, ChannelError::BadResponse(_)) && err.is_unknown_outcome());
    assert_eq!(channel.query("B2").await.unwrap(), PaymentState::Pending, "it was created");
    // Another platform key, or another key id, verifies nothing.
    let (_, stranger) = generate_key_pair("wechat-test-other");
    let wrong = WechatPayConfig { platform_key: stranger.public_key(), ..peer.channel_config() };
    assert!(matches!(WechatPayChannel::new(wrong).unwrap().query("B1").await, Err(ChannelError::BadResponse(_))));
    let wrong = WechatPayConfig { platform_key_id: "PUB_KEY_ID_OTHER".into(), ..peer.channel_config() };
    assert!(matches!(WechatPayChannel::new(wrong).unwrap().query("B1").await, Err(ChannelError::BadResponse(_))));
    assert_eq!(channel.query("B1").await.unwrap(), PaymentState::Pending);
}

#[tokio::test]
async fn refunds_are_idempotent_and_bounded_and_notified() {
    let config = WechatPeerConfig { refund_settles_after: Duration::ZERO, ..Default::default() };
    let (peer, channel) = setup(config).await;
    let mut receiver = Receiver::start(0).await;
    peer.drop_notifications(true);
    channel.create(app_payment("R1", 1_000, &receiver.url)).await.unwrap();
    assert_eq!(
        refused_code(channel.refund(refund("R1", "RF0", 100, 1_000, &receiver.url)).await),
        codes::INVALID_REQUEST
    );
    peer.pay("R1").unwrap();
    peer.drop_notifications(false);

    let first = channel.refund(refund("R1", "RF1", 600, 1_000, &receiver.url)).await.unwrap();
    let RefundState::Succeeded { refund_id } = first.clone() else { panic!("settles at once: {first:?}") };
    assert_eq!(channel.refund(refund("R1", "RF1", 600, 1_000, &receiver.url)).await.unwrap(), first, "idempotent");
    assert_eq!(
        refused_code(channel.refund(refund("R1", "RF1", 500, 1_000, &receiver.url)).await),
        codes::INVALID_REQUEST
    );
    assert_eq!(
        refused_code(channel.refund(refund("R1", "RF2", 401, 1_000, &receiver.url)).await),
        codes::REFUND_EXCEEDS
    );
    assert!(channel.refund(refund("R1", "RF3", 400, 1_000, &receiver.url)).await.is_ok());
    assert_eq!(
        channel.query_refund("-", "RF1").await.unwrap(),
        RefundState::Succeeded { refund_id: refund_id.clone() }
    );
    assert_eq!(refused_code(channel.query_refund("-", "RF9").await), "RESOURCE_NOT_EXISTS");
    // A refunded payment still reads as paid (trade_state REFUND).
    assert!(matches!(channel.query("R1").await.unwrap(), PaymentState::Succeeded { amount_fen: 1_000, .. }));

    let (headers, body) = receiver.next().await;
    let Notification::Refund { out_trade_no, out_refund_no, refund_id: notified, refund_fen, state } =
        channel.verify_notification(&headers, &body, Utc::now()).unwrap()
    else {
        panic!("a refund notification")
    };
    assert_eq!((out_trade_no.as_str(), out_refund_no.as_str(), refund_fen), ("R1", "RF1", 600));
    assert_eq!(notified, refund_id);
    assert_eq!(state, RefundState::Succeeded { refund_id });
}

#[tokio::test]
async fn a_refund_is_processing_first() {
    let (peer, channel) = setup(WechatPeerConfig::default()).await;
    peer.drop_notifications(true);
    channel.create(app_payment("RP1", 1_000, "https://example.invalid/n")).await.unwrap();
    peer.pay("RP1").unwrap();
    let state = channel.refund(refund("RP1", "RPF1", 1_000, 1_000, "https://example.invalid/n")).await.unwrap();
    assert_eq!(state, RefundState::Pending);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(matches!(channel.query_refund("-", "RPF1").await.unwrap(), RefundState::Succeeded { .. }));
    assert!(peer.signed_refund_notification("RPF1").is_some());
}

#[tokio::test]
async fn the_statement_is_the_peers_bill_to_the_fen() {
    let config = WechatPeerConfig { refund_settles_after: Duration::ZERO, ..Default::default() };
    let (peer, channel) = setup(config).await;
    peer.drop_notifications(true);
    let today = Utc::now().with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap()).date_naive();
    assert_eq!(channel.statement(today).await.unwrap(), Vec::new(), "no trades: NO_STATEMENT_EXIST");

    channel.create(app_payment("S1", 30_001, "https://example.invalid/n")).await.unwrap();
    peer.pay("S1").unwrap();
    channel.create(code_payment("S2", 99, "134567890123456780")).await.unwrap();
    channel.create(app_payment("S3", 500, "https://example.invalid/n")).await.unwrap(); // unpaid: not billed
    channel.refund(refund("S1", "S1R1", 10_001, 30_001, "https://example.invalid/n")).await.unwrap();
    let planted = StatementLine {
        kind: StatementKind::Payment,
        out_trade_no: "GHOST1".into(),
        transaction_id: "4200000000000000000000000001".into(),
        out_refund_no: None,
        refund_id: None,
        amount_fen: 1_234_567,
        at: Utc::now(),
    };
    peer.plant_bill_line(planted.clone(), None);

    let lines = channel.statement(today).await.unwrap();
    let find = |no: &str, kind| lines.iter().find(|l| l.out_trade_no == no && l.kind == kind).cloned();
    assert_eq!(lines.len(), 4, "{lines:?}");
    let s1 = find("S1", StatementKind::Payment).unwrap();
    let PaymentState::Succeeded { transaction_id, .. } = channel.query("S1").await.unwrap() else { panic!() };
    assert_eq!(
        (s1.amount_fen, s1.transaction_id.as_str(), s1.out_refund_no.as_deref()),
        (30_001, transaction_id.as_str(), None)
    );
    assert_eq!(find("S2", StatementKind::Payment).unwrap().amount_fen, 99);
    let r = find("S1", StatementKind::Refund).unwrap();
    assert_eq!(
        (r.amount_fen, r.out_refund_no.as_deref(), r.transaction_id.as_str()),
        (10_001, Some("S1R1"), transaction_id.as_str())
    );
    let RefundState::Succeeded { refund_id } = channel.query_refund("-", "S1R1").await.unwrap() else { panic!() };
    assert_eq!(r.refund_id, Some(refund_id));
    let ghost = find("GHOST1", StatementKind::Payment).unwrap();
    assert_eq!((ghost.amount_fen, ghost.at.timestamp()), (1_234_567, planted.at.timestamp()));

    // Another day is empty; a day to come is not ready.
    assert_eq!(channel.statement(NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()).await.unwrap(), Vec::new());
    let tomorrow = today.succ_opt().unwrap();
    assert_eq!(refused_code(channel.statement(tomorrow).await), "STATEMENT_CREATING");
    // The sub-merchant's bill has none of the direct merchant's trades.
    let partner = WechatPayChannel::new(peer.partner_channel_config(SUB_MCHID)).unwrap();
    assert_eq!(partner.statement(today).await.unwrap(), Vec::new());
}

#[test]
fn yuan_parses_exactly() {
    assert_eq!(parse_yuan("0.01"), Some(1));
    assert_eq!(parse_yuan("300.10"), Some(30_010));
    assert_eq!(parse_yuan("300.1"), Some(30_010));
    assert_eq!(parse_yuan("12"), Some(1_200));
    assert_eq!(parse_yuan("-1.50"), Some(-150));
    assert_eq!(parse_yuan("0.29"), Some(29), "0.29 is 28.999... in f64");
    assert_eq!(parse_yuan("99999999.99"), Some(9_999_999_999));
    for bad in ["", "1.234", "1.", ".5", "1,00", "abc", "1.2a", "--1", "1e3"] {
        assert_eq!(parse_yuan(bad), None, "{bad:?}");
    }
    assert_eq!(format_yuan(30_010), "300.10");
    assert_eq!(format_yuan(5), "0.05");
}

#[test]
fn a_bill_in_wechats_format_parses() {
    let bill = format!(
        "{}\r\n\
         `2026-11-21 10:00:00,`wxd678efh567hg6787,`1900000109,`,`,`4200000001202611210000000001,`S1,`oUp,`JSAPI,`SUCCESS,`OTHERS,`CNY,`290.00,`10.00,`0,`0,`0.00,`0.00,`,`,`加油,92#,`,`1.74,`0.60%,`300.00,`0.00,`\r\n\
         `2026-11-21 23:59:59,`wxd678efh567hg6787,`1900000109,`,`,`4200000001202611210000000001,`S1,`oUp,`JSAPI,`REFUND,`OTHERS,`CNY,`0.00,`0.00,`50300000001,`S1R1,`99.99,`0.00,`ORIGINAL,`SUCCESS,`加油,`,`-0.60,`0.60%,`0.00,`100.01,`\r\n\
         `2026-11-21 11:00:00,`wxd678efh567hg6787,`1900000109,`,`,`4200000001202611210000000002,`S2,`oUp,`MICROPAY,`REVOKED,`OTHERS,`CNY,`0.00,`0.00,`,`,`0.00,`0.00,`,`,`加油,`,`0.00,`0.60%,`5.00,`0.00,`\r\n\
         总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\r\n`3,`290.00,`99.99,`0.00,`1.14,`305.00,`100.01\r\n",
        BILL_COLUMNS.join(",")
    );
    let lines = parse_bill(&bill).unwrap();
    assert_eq!(lines.len(), 2, "REVOKED and the summary are not trades");
    assert_eq!(
        (lines[0].kind, lines[0].amount_fen, lines[0].refund_id.as_deref()),
        (StatementKind::Payment, 30_000, None)
    );
    assert_eq!(lines[0].at.to_rfc3339(), "2026-11-21T02:00:00+00:00", "China time");
    assert_eq!((lines[1].kind, lines[1].amount_fen), (StatementKind::Refund, 10_001));
    assert_eq!((lines[1].out_refund_no.as_deref(), lines[1].refund_id.as_deref()), (Some("S1R1"), Some("50300000001")));
    assert!(parse_bill(&bill.replace("`300.00", "`300.001")).is_err());
    assert!(parse_bill("交易时间,商户号\r\n").is_err(), "columns missing");
}

#[tokio::test]
async fn configurations_that_cannot_work_are_refused() {
    let peer = spawn_wechat_peer(WechatPeerConfig::default()).await.unwrap();
    let good = peer.channel_config();
    let cases = [
        WechatPayConfig { apiv3_key: "short".into(), ..good.clone() },
        WechatPayConfig { mchid: String::new(), ..good.clone() },
        WechatPayConfig { appid: " ".into(), ..good.clone() },
        WechatPayConfig { sub_mchid: Some("abc".into()), ..good.clone() },
        WechatPayConfig { sub_appid: Some("wx1".into()), ..good.clone() },
        WechatPayConfig { merchant_serial: String::new(), ..good.clone() },
        WechatPayConfig { platform_key_id: String::new(), ..good.clone() },
        WechatPayConfig { base_url: "api.mch.weixin.qq.com".into(), ..good.clone() },
    ];
    for config in cases {
        assert!(WechatPayChannel::new(config.clone()).is_err(), "{config:?}");
    }
    assert!(WechatPayChannel::new(good.clone()).is_ok());
    assert_eq!(WechatPayChannel::new(good).unwrap().name(), "wechat");
    // The PEMs a real install keeps load back.
    assert!(PublicKey::parse(&peer.platform_public_key_pem()).is_ok());
    assert!(crate::pay::rsa::PrivateKey::parse(&peer.merchant_key_pem()).is_ok());
}

#[tokio::test]
async fn duplicate_notifications_read_the_same_in_any_order() {
    let config = WechatPeerConfig { refund_settles_after: Duration::ZERO, ..Default::default() };
    let (peer, channel) = setup(config).await;
    let mut receiver = Receiver::start(0).await;
    peer.notify_twice(true);
    channel.create(app_payment("D1", 4_200, &receiver.url)).await.unwrap();
    peer.pay("D1").unwrap();
    let first = receiver.next().await;
    let second = receiver.next().await;
    assert_ne!(first.0["wechatpay-nonce"], second.0["wechatpay-nonce"], "each copy signed on its own");
    let read = |(h, b): &(HeaderMap, Bytes)| channel.verify_notification(h, b, Utc::now()).unwrap();
    assert_eq!(read(&first), read(&second));
    // The refund's notification may be handled before a late copy of the payment's.
    channel.refund(refund("D1", "D1R", 4_200, 4_200, &receiver.url)).await.unwrap();
    let refund_copies = [receiver.next().await, receiver.next().await];
    let (late_headers, late_body) = peer.signed_notification("D1").unwrap();
    assert!(matches!(read(&refund_copies[1]), Notification::Refund { refund_fen: 4_200, .. }));
    assert_eq!(read(&(late_headers, Bytes::from(late_body))), read(&first));
    assert!(matches!(read(&refund_copies[0]), Notification::Refund { .. }));
    tokio::time::timeout(WAIT, async {
        while peer.notifications_delivered() < 4 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("four deliveries");
}

#[tokio::test]
async fn payment_code_retries_answer_the_same_payment() {
    let (_peer, channel) = setup(WechatPeerConfig::default()).await;
    let first = channel.create(code_payment("CR1", 100, "114567890123456780")).await.unwrap();
    let again = channel.create(code_payment("CR1", 100, "114567890123456780")).await.unwrap();
    assert_eq!(first.status, again.status);
    let poor = channel.create(code_payment("CR2", 100, INSUFFICIENT_FUNDS_CODE)).await.unwrap();
    let again = channel.create(code_payment("CR2", 100, INSUFFICIENT_FUNDS_CODE)).await.unwrap();
    assert!(matches!((poor.status, again.status), (PaymentState::Failed { .. }, PaymentState::Failed { .. })));
}

#[test]
fn times_go_out_in_china_time() {
    let at = chrono::DateTime::parse_from_rfc3339("2026-11-21T02:00:00Z").unwrap().with_timezone(&Utc);
    assert_eq!(super::bill::rfc3339_china(at), "2026-11-21T10:00:00+08:00");
}

#[test]
fn wire_shapes_match_wechats_documented_samples() {
    // A query answer / TRANSACTION.SUCCESS resource as WeChat documents it (partner).
    let sample = r#"{"sp_appid":"wx8888888888888888","sp_mchid":"1230000109","sub_appid":"wxd678efh567hg6999",
        "sub_mchid":"1900000109","out_trade_no":"1217752501201407033233368018",
        "transaction_id":"1217752501201407033233368018","trade_type":"JSAPI","trade_state":"SUCCESS",
        "trade_state_desc":"支付成功","bank_type":"CMC","attach":"自定义数据","success_time":"2018-06-08T10:34:56+08:00",
        "payer":{"sp_openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o","sub_openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
        "amount":{"total":100,"payer_total":100,"currency":"CNY","payer_currency":"CNY"},
        "scene_info":{"device_id":"013467007045764"},"promotion_detail":[]}"#;
    let t: wire::Transaction = serde_json::from_str(sample).unwrap();
    assert_eq!((t.sub_mchid.as_deref(), t.amount.total), (Some("1900000109"), 100));
    let PaymentState::Succeeded { paid_at, .. } = super::mapping::trade_state(&t).unwrap() else { panic!() };
    assert_eq!(paid_at.to_rfc3339(), "2018-06-08T02:34:56+00:00");

    // A refund answer.
    let sample = r#"{"refund_id":"50000000382019052709732678859","out_refund_no":"1217752501201407033233368018",
        "transaction_id":"1217752501201407033233368018","out_trade_no":"1217752501201407033233368018",
        "channel":"ORIGINAL","user_received_account":"招商银行信用卡0403","success_time":"2020-12-01T16:18:12+08:00",
        "create_time":"2020-12-01T16:18:12+08:00","status":"SUCCESS","funds_account":"UNSETTLED",
        "amount":{"total":100,"refund":100,"from":[],"payer_total":90,"payer_refund":90,"settlement_refund":100,
        "settlement_total":100,"discount_refund":10,"currency":"CNY"},"promotion_detail":[]}"#;
    let r: wire::Refund = serde_json::from_str(sample).unwrap();
    assert_eq!((r.status.as_str(), r.amount.refund), ("SUCCESS", 100));

    // A REFUND.SUCCESS resource (direct).
    let sample = r#"{"mchid":"1900000100","transaction_id":"1008450740201411110005820873",
        "out_trade_no":"20150806125346","refund_id":"50200207182018070300011301001","out_refund_no":"7752501201407033233368018",
        "refund_status":"SUCCESS","success_time":"2018-06-08T10:34:56+08:00","user_received_account":"招商银行信用卡0403",
        "amount":{"total":999,"refund":999,"payer_total":999,"payer_refund":999}}"#;
    let r: wire::RefundResource = serde_json::from_str(sample).unwrap();
    assert_eq!((r.refund_status.as_str(), r.amount.refund, r.mchid.as_deref()), ("SUCCESS", 999, Some("1900000100")));

    // What we send for a partner JSAPI prepay, in WeChat's field names.
    let body = wire::TransactionBody {
        sp_appid: Some("wx8888888888888888".into()),
        sp_mchid: Some("1230000109".into()),
        sub_mchid: Some("1900000109".into()),
        description: "加油".into(),
        out_trade_no: "O1".into(),
        time_expire: Some("2018-06-08T10:34:56+08:00".into()),
        notify_url: Some("https://www.weixin.qq.com/wxpay/pay.php".into()),
        amount: wire::Amount { total: 100, currency: Some("CNY".into()), ..Default::default() },
        payer: wire::Payer { sp_openid: Some("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o".into()), ..Default::default() },
        ..Default::default()
    };
    let json: Value = serde_json::to_value(&body).unwrap();
    let mut keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "amount",
            "description",
            "notify_url",
            "out_trade_no",
            "payer",
            "sp_appid",
            "sp_mchid",
            "sub_mchid",
            "time_expire"
        ]
    );
    assert_eq!(json["amount"], serde_json::json!({"total": 100, "currency": "CNY"}));
    assert_eq!(json["payer"], serde_json::json!({"sp_openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}));
}

#[test]
fn wechat_codes_map_onto_the_channel_codes() {
    use super::mapping::map_code;
    assert_eq!(map_code("ORDERPAID"), codes::ALREADY_PAID);
    assert_eq!(map_code("OUT_TRADE_NO_USED"), codes::OUT_TRADE_NO_USED);
    assert_eq!(map_code("PARAM_ERROR"), codes::INVALID_REQUEST);
    assert_eq!(map_code("INVALID_REQUEST"), codes::INVALID_REQUEST);
    for own in ["NOTENOUGH", "AUTH_CODE_INVALID", "NOT_ENOUGH", "SIGN_ERROR", "FREQUENCY_LIMITED"] {
        assert_eq!(map_code(own), own);
    }
}
