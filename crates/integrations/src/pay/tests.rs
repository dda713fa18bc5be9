//! The sandbox channel end to end: our client against the separate peer, with a small
//! axum server in each test playing the app's notification endpoint. Signatures are
//! recomputed here with the hmac crate directly, not through [`super::sign`].

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use chrono::{TimeDelta, Utc};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::{mpsc, oneshot};

use super::*;

const WAIT: Duration = Duration::from_secs(5);

fn hmac_hex(key: &str, message: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(message.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers.get(name).unwrap_or_else(|| panic!("header {name}")).to_str().unwrap()
}

async fn setup(config: PaySandboxConfig) -> (PaySandboxHandle, SandboxChannel) {
    let sandbox = spawn_pay_sandbox(config).await.unwrap();
    let channel = SandboxChannel::new(sandbox.channel_config()).unwrap();
    (sandbox, channel)
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

    fn nothing_yet(&mut self) -> bool {
        self.rx.try_recv().is_err()
    }
}

fn app_payment(no: &str, amount_fen: i64, notify_url: &str) -> CreatePayment {
    CreatePayment {
        out_trade_no: no.to_owned(),
        amount_fen,
        description: "加油 92# <测试>".to_owned(),
        notify_url: notify_url.to_owned(),
        payer: Payer::App { openid: Some("o_sandbox_alice".to_owned()) },
        expires_at: Utc::now() + TimeDelta::minutes(15),
    }
}

fn code_payment(no: &str, amount_fen: i64, auth_code: &str, notify_url: &str) -> CreatePayment {
    CreatePayment {
        payer: Payer::PaymentCode { auth_code: auth_code.to_owned() },
        ..app_payment(no, amount_fen, notify_url)
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
async fn settled(channel: &SandboxChannel, no: &str) -> PaymentState {
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

/// Waits for `cond`: the peer counts a delivery only after our receiver's answer is back.
async fn until(cond: impl Fn() -> bool) {
    tokio::time::timeout(WAIT, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the condition in time");
}

#[test]
fn the_defaults_of_peer_and_client_fit() {
    let peer = PaySandboxConfig::default();
    let client = SandboxChannelConfig::new("http://127.0.0.1:1");
    assert_eq!((&peer.mchid, &peer.api_key, &peer.notify_key), (&client.mchid, &client.api_key, &client.notify_key));
    assert!(!format!("{client:?}").contains(&client.api_key));
    assert!(!format!("{client:?}").contains(&client.notify_key));
    // What the app holds: the trait is object-safe, the channel shareable across tasks.
    let _: Arc<dyn PaymentChannel> = Arc::new(SandboxChannel::new(client).unwrap());
}

#[tokio::test]
async fn client_requests_are_signed_as_the_protocol_says() {
    // A stand-in peer that records what arrives and answers "no such payment".
    let (tx, mut rx) = mpsc::unbounded_channel::<(String, String, HeaderMap, Bytes)>();
    let record = move |method: axum::http::Method, uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
        let tx = tx.clone();
        async move {
            tx.send((method.to_string(), uri.path().to_owned(), headers, body)).unwrap();
            (StatusCode::NOT_FOUND, axum::Json(json!({"code": "ORDER_NOT_EXIST", "message": "no"})))
        }
    };
    let app = Router::new().route("/v1/payments", post(record.clone())).route("/v1/payments/{no}", get(record));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let config = SandboxChannelConfig { api_key: "k-test".into(), ..SandboxChannelConfig::new(base) };
    let channel = SandboxChannel::new(config).unwrap();

    assert_eq!(channel.query("JY-1").await.unwrap(), PaymentState::NotFound);
    let (method, path, headers, body) = rx.recv().await.unwrap();
    let (ts, nonce) = (header(&headers, "x-sandbox-timestamp"), header(&headers, "x-sandbox-nonce"));
    assert_eq!((method.as_str(), path.as_str(), body.len()), ("GET", "/v1/payments/JY-1", 0));
    assert_eq!(header(&headers, "x-sandbox-mchid"), "1900000001");
    assert!((Utc::now().timestamp() - ts.parse::<i64>().unwrap()).abs() <= 5);
    assert_eq!(header(&headers, "x-sandbox-signature"), hmac_hex("k-test", &format!("GET\n{path}\n{ts}\n{nonce}\n\n")));

    let refusal = channel.create(app_payment("JY-2", 100, "http://127.0.0.1:1/n")).await.unwrap_err();
    assert_eq!(refusal.refused_code(), Some("ORDER_NOT_EXIST"));
    let (method, path, headers, body) = rx.recv().await.unwrap();
    let (ts, nonce) = (header(&headers, "x-sandbox-timestamp"), header(&headers, "x-sandbox-nonce"));
    let body = std::str::from_utf8(&body).unwrap();
    assert_eq!((method.as_str(), path.as_str()), ("POST", "/v1/payments"));
    assert_eq!(
        header(&headers, "x-sandbox-signature"),
        hmac_hex("k-test", &format!("POST\n/v1/payments\n{ts}\n{nonce}\n{body}\n"))
    );
    let sent: Value = serde_json::from_str(body).unwrap();
    assert_eq!(sent["amount"], json!({"total": 100, "currency": "CNY"}));
    assert_eq!(sent["payer"], json!({"type": "app", "openid": "o_sandbox_alice"}));

    // Numbers that cannot be ours never leave the process (they would also break the URL).
    assert_eq!(refused_code(channel.query("a/b").await), codes::INVALID_REQUEST);
    assert_eq!(refused_code(channel.query(&"x".repeat(33)).await), codes::INVALID_REQUEST);
    assert!(rx.try_recv().is_err());
}

#[tokio::test]
async fn the_peer_accepts_an_independently_signed_request_and_refuses_a_bad_one() {
    let (sandbox, _) = setup(PaySandboxConfig::default()).await;
    let http = reqwest::Client::new();
    let get = |signature: String, ts: i64| {
        http.get(format!("{}/v1/payments/JY-404", sandbox.base_url()))
            .header("X-Sandbox-Mchid", "1900000001")
            .header("X-Sandbox-Timestamp", ts.to_string())
            .header("X-Sandbox-Nonce", "n0nce")
            .header("X-Sandbox-Signature", signature)
            .send()
    };
    let now = Utc::now().timestamp();
    let good = hmac_hex("sandbox-merchant-api-key", &format!("GET\n/v1/payments/JY-404\n{now}\nn0nce\n\n"));
    let answer = get(good, now).await.unwrap();
    assert_eq!(answer.status(), 404, "authenticated, and the payment does not exist");
    assert_eq!(answer.json::<Value>().await.unwrap()["code"], "ORDER_NOT_EXIST");

    let wrong_key = hmac_hex("another-key", &format!("GET\n/v1/payments/JY-404\n{now}\nn0nce\n\n"));
    let answer = get(wrong_key, now).await.unwrap();
    assert_eq!(answer.status(), 401);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["code"], "SIGN_ERROR");
    assert!(body["message"].is_string());

    let old = now - 301;
    let stale = hmac_hex("sandbox-merchant-api-key", &format!("GET\n/v1/payments/JY-404\n{old}\nn0nce\n\n"));
    assert_eq!(get(stale, old).await.unwrap().status(), 401);
    assert_eq!(sandbox.auth_failures(), 2);

    // Through the client: a wrong API key is a refusal with the peer's code.
    let config = SandboxChannelConfig { api_key: "wrong".into(), ..sandbox.channel_config() };
    let channel = SandboxChannel::new(config).unwrap();
    assert_eq!(refused_code(channel.query("JY-404").await), "SIGN_ERROR");
}

#[tokio::test]
async fn an_app_payment_is_confirmed_and_its_notification_verified() {
    let (sandbox, channel) = setup(PaySandboxConfig::default()).await;
    let mut receiver = Receiver::start(0).await;
    assert_eq!(channel.name(), "sandbox");

    let created = channel.create(app_payment("JY-APP-1", 1234, &receiver.url)).await.unwrap();
    assert_eq!(created.status, PaymentState::Pending);
    let params = created.pay_params.expect("pay_params for an app payment");
    let base = sandbox.base_url();
    assert_eq!(params["cashier_url"], format!("{base}/cashier/JY-APP-1"));
    assert_eq!(params["confirm_url"], format!("{base}/v1/payments/JY-APP-1/confirm"));

    let http = reqwest::Client::new();
    let page = http.get(params["cashier_url"].as_str().unwrap()).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("¥12.34") && page.contains("确认支付") && page.contains("&lt;测试&gt;"), "{page}");
    assert!(receiver.nothing_yet(), "nothing is paid before the driver confirms");

    let confirmed = http.post(params["confirm_url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(confirmed.status(), 200);
    let (headers, body) = receiver.next().await;

    // The peer's signature, recomputed independently.
    let (ts, nonce) = (header(&headers, "x-sandbox-timestamp"), header(&headers, "x-sandbox-nonce"));
    let message = format!("{ts}\n{nonce}\n{}\n", std::str::from_utf8(&body).unwrap());
    assert_eq!(header(&headers, "x-sandbox-signature"), hmac_hex("sandbox-notify-key", &message));

    let now = Utc::now();
    let notification = channel.verify_notification(&headers, &body, now).unwrap();
    let Notification::Payment { out_trade_no, transaction_id, amount_fen, currency, merchant_id, state } =
        notification.clone()
    else {
        panic!("a payment notification: {notification:?}");
    };
    assert_eq!((out_trade_no.as_str(), amount_fen, currency.as_str()), ("JY-APP-1", 1234, "CNY"));
    assert_eq!(merchant_id, "1900000001");
    let queried = channel.query("JY-APP-1").await.unwrap();
    assert_eq!(state, queried);
    assert!(
        matches!(&queried, PaymentState::Succeeded { transaction_id: t, amount_fen: 1234, .. } if *t == transaction_id)
    );
    assert_eq!(sandbox.payment("JY-APP-1"), queried);

    // Confirming again is harmless and does not notify again.
    assert_eq!(http.post(params["confirm_url"].as_str().unwrap()).send().await.unwrap().status(), 200);
    assert_eq!(channel.query("JY-APP-1").await.unwrap(), queried);

    // What is refused, and why.
    let code = |result: Result<Notification, NotifyError>| result.unwrap_err().code();
    let mut tampered = body.to_vec();
    let at = tampered.windows(4).position(|w| w == b"1234").unwrap();
    tampered[at] = b'9';
    assert_eq!(code(channel.verify_notification(&headers, &tampered, now)), "notify_bad_signature");

    let other_key =
        SandboxChannel::new(SandboxChannelConfig { notify_key: "other".into(), ..sandbox.channel_config() });
    assert_eq!(code(other_key.unwrap().verify_notification(&headers, &body, now)), "notify_bad_signature");

    for skew in [TimeDelta::seconds(301), TimeDelta::seconds(-301)] {
        assert_eq!(code(channel.verify_notification(&headers, &body, now + skew)), "notify_stale_timestamp");
    }
    assert!(channel.verify_notification(&headers, &body, now + TimeDelta::seconds(290)).is_ok());

    for name in ["x-sandbox-signature", "x-sandbox-timestamp", "x-sandbox-nonce"] {
        let mut missing = headers.clone();
        missing.remove(name);
        let err = channel.verify_notification(&missing, &body, now).unwrap_err();
        assert_eq!((err.code(), err.message_zh()), ("notify_missing_header", "支付通知缺少签名信息"));
    }

    let other_merchant =
        SandboxChannel::new(SandboxChannelConfig { mchid: "1900000002".into(), ..sandbox.channel_config() }).unwrap();
    assert_eq!(code(other_merchant.verify_notification(&headers, &body, now)), "notify_wrong_merchant");

    let garbage = b"{\"id\":1}";
    let mut signed_garbage = headers.clone();
    let message = format!("{ts}\n{nonce}\n{}\n", std::str::from_utf8(garbage).unwrap());
    signed_garbage.insert("x-sandbox-signature", hmac_hex("sandbox-notify-key", &message).parse().unwrap());
    assert_eq!(code(channel.verify_notification(&signed_garbage, garbage, now)), "notify_malformed_body");

    until(|| sandbox.notifications_delivered() == 1).await;
    assert_eq!(sandbox.notifications_sent(), 1);
}

#[tokio::test]
async fn notify_twice_delivers_two_identical_verified_notifications() {
    let (sandbox, channel) = setup(PaySandboxConfig::default()).await;
    let mut receiver = Receiver::start(0).await;
    sandbox.notify_twice(true);
    channel.create(app_payment("JY-TWICE", 500, &receiver.url)).await.unwrap();
    assert!(matches!(sandbox.confirm("JY-TWICE"), Ok(PaymentState::Succeeded { amount_fen: 500, .. })));

    let (h1, b1) = receiver.next().await;
    let (h2, b2) = receiver.next().await;
    let now = Utc::now();
    let first = channel.verify_notification(&h1, &b1, now).unwrap();
    let second = channel.verify_notification(&h2, &b2, now).unwrap();
    assert_eq!(first, second);
    assert!(matches!(first, Notification::Payment { amount_fen: 500, .. }));
    let event_id = |b: &Bytes| serde_json::from_slice::<Value>(b).unwrap()["id"].clone();
    assert_eq!(event_id(&b1), event_id(&b2), "one event, delivered twice");
    until(|| sandbox.notifications_delivered() == 2).await;
}

#[tokio::test]
async fn a_refused_notification_is_retried_until_answered_2xx() {
    let (sandbox, channel) = setup(PaySandboxConfig::default()).await;
    let mut receiver = Receiver::start(1).await;
    channel.create(code_payment("JY-RETRY", 300, "134567890123456780", &receiver.url)).await.unwrap();
    let (_, first) = receiver.next().await;
    let (headers, second) = receiver.next().await;
    assert_eq!(first, second);
    assert!(channel.verify_notification(&headers, &second, Utc::now()).is_ok(), "the retry is signed afresh");
    until(|| sandbox.notifications_delivered() == 1).await;
    assert_eq!((sandbox.notifications_sent(), sandbox.notifications_delivered()), (2, 1));
}

#[tokio::test]
async fn a_delayed_create_times_out_yet_the_payment_exists() {
    let (sandbox, _) = setup(PaySandboxConfig::default()).await;
    let config = SandboxChannelConfig { timeout: Duration::from_millis(300), ..sandbox.channel_config() };
    let channel = SandboxChannel::new(config).unwrap();
    sandbox.delay_next_responses(1, Duration::from_secs(2));

    let request = app_payment("JY-SLOW", 800, "http://127.0.0.1:9/notify");
    let err = channel.create(request.clone()).await.unwrap_err();
    assert_eq!(err, ChannelError::Timeout);
    assert!(err.is_unknown_outcome());
    assert_eq!(err.code(), "pay_timeout");

    // The job's later query finds it; retrying the same create answers the same payment.
    assert_eq!(channel.query("JY-SLOW").await.unwrap(), PaymentState::Pending);
    assert_eq!(channel.create(request.clone()).await.unwrap().status, PaymentState::Pending);
    let changed = CreatePayment { amount_fen: 801, ..request };
    assert_eq!(refused_code(channel.create(changed).await), codes::OUT_TRADE_NO_USED);
    assert_eq!(channel.query("JY-NEVER").await.unwrap(), PaymentState::NotFound);
}

#[tokio::test]
async fn payment_codes_pay_at_once_later_or_not_at_all() {
    let (sandbox, channel) = setup(PaySandboxConfig::default()).await;
    let mut receiver = Receiver::start(0).await;

    let now = channel.create(code_payment("JY-CODE-1", 2000, "134567890123456780", &receiver.url)).await.unwrap();
    assert!(matches!(now.status, PaymentState::Succeeded { amount_fen: 2000, .. }), "{now:?}");
    assert_eq!(now.pay_params, None);
    let (headers, body) = receiver.next().await;
    let notified = channel.verify_notification(&headers, &body, Utc::now()).unwrap();
    assert!(matches!(notified, Notification::Payment { state, .. } if state == now.status));

    let later = channel.create(code_payment("JY-CODE-2", 3000, "134567890123456789", &receiver.url)).await.unwrap();
    assert_eq!(later.status, PaymentState::Pending);
    assert!(matches!(settled(&channel, "JY-CODE-2").await, PaymentState::Succeeded { amount_fen: 3000, .. }));
    let (headers, body) = receiver.next().await;
    assert!(matches!(
        channel.verify_notification(&headers, &body, Utc::now()).unwrap(),
        Notification::Payment { amount_fen: 3000, .. }
    ));

    let poor = channel.create(code_payment("JY-CODE-3", 100, "err-insufficient", &receiver.url)).await.unwrap();
    assert!(matches!(&poor.status, PaymentState::Failed { code, .. } if code == "NOTENOUGH"), "{poor:?}");
    assert_eq!(channel.query("JY-CODE-3").await.unwrap(), poor.status);

    let err = channel.create(code_payment("JY-CODE-4", 100, "134567", &receiver.url)).await.unwrap_err();
    assert_eq!((err.refused_code(), err.is_unknown_outcome()), (Some("AUTH_CODE_INVALID"), false));
    assert_eq!(err.message_zh(), "付款码无效，请刷新付款码后重新扫码");
    assert_eq!(channel.query("JY-CODE-4").await.unwrap(), PaymentState::NotFound);
    assert_eq!(sandbox.payment("JY-CODE-4"), PaymentState::NotFound);
}

#[tokio::test]
async fn refunds_are_idempotent_per_number_and_never_exceed_the_payment() {
    let config = PaySandboxConfig { refund_settles_after: Duration::ZERO, ..PaySandboxConfig::default() };
    let (sandbox, channel) = setup(config).await;
    let url = "http://127.0.0.1:9/notify"; // nobody listens: refunds do not depend on it
    channel.create(code_payment("JY-R", 1000, "134567890123456780", url)).await.unwrap();

    let first = channel.refund(refund("JY-R", "RF-1", 400, 1000, url)).await.unwrap();
    let RefundState::Succeeded { refund_id } = first.clone() else { panic!("{first:?}") };
    assert_eq!(channel.refund(refund("JY-R", "RF-1", 400, 1000, url)).await.unwrap(), first, "the same refund");
    assert_eq!(refused_code(channel.refund(refund("JY-R", "RF-1", 500, 1000, url)).await), codes::INVALID_REQUEST);

    // 400 was taken once, not twice: 600 is left exactly.
    let err = channel.refund(refund("JY-R", "RF-2", 700, 1000, url)).await.unwrap_err();
    assert_eq!((err.refused_code(), err.message_zh()), (Some("refund_exceeds"), "退款金额超过可退金额"));
    let second = channel.refund(refund("JY-R", "RF-2", 600, 1000, url)).await.unwrap();
    assert!(matches!(&second, RefundState::Succeeded { refund_id: id } if *id != refund_id));
    assert_eq!(refused_code(channel.refund(refund("JY-R", "RF-3", 1, 1000, url)).await), codes::REFUND_EXCEEDS);

    assert_eq!(channel.query_refund("-", "RF-1").await.unwrap(), first);
    assert_eq!(sandbox.refund("RF-2"), Some(second));
    assert_eq!(refused_code(channel.query_refund("-", "RF-404").await), "REFUND_NOT_EXIST");

    channel.create(app_payment("JY-UNPAID", 1000, url)).await.unwrap();
    assert_eq!(refused_code(channel.refund(refund("JY-UNPAID", "RF-4", 1, 1000, url)).await), codes::NOT_PAID);
}

#[tokio::test]
async fn a_refund_settles_later_and_notifies() {
    let (_sandbox, channel) = setup(PaySandboxConfig::default()).await;
    let mut receiver = Receiver::start(0).await;
    channel.create(code_payment("JY-RN", 1500, "134567890123456780", &receiver.url)).await.unwrap();
    receiver.next().await; // the payment's own notification

    assert_eq!(channel.refund(refund("JY-RN", "RF-N1", 500, 1500, &receiver.url)).await.unwrap(), RefundState::Pending);
    let (headers, body) = receiver.next().await;
    let Notification::Refund { out_trade_no, out_refund_no, refund_id, refund_fen, state } =
        channel.verify_notification(&headers, &body, Utc::now()).unwrap()
    else {
        panic!("a refund notification");
    };
    assert_eq!((out_trade_no.as_str(), out_refund_no.as_str(), refund_fen), ("JY-RN", "RF-N1", 500));
    assert_eq!(state, RefundState::Succeeded { refund_id: refund_id.clone() });
    assert_eq!(channel.query_refund("-", "RF-N1").await.unwrap(), state);
}

#[tokio::test]
async fn closing_refuses_a_paid_payment_and_stops_an_unpaid_one() {
    let (sandbox, channel) = setup(PaySandboxConfig::default()).await;
    let url = "http://127.0.0.1:9/notify";
    channel.create(code_payment("JY-C1", 100, "134567890123456780", url)).await.unwrap();
    let err = channel.close("JY-C1").await.unwrap_err();
    assert_eq!((err.refused_code(), err.is_unknown_outcome()), (Some(codes::ALREADY_PAID), false));

    channel.create(app_payment("JY-C2", 100, url)).await.unwrap();
    channel.close("JY-C2").await.unwrap();
    assert_eq!(channel.query("JY-C2").await.unwrap(), PaymentState::Closed);
    assert_eq!(sandbox.confirm("JY-C2"), Err("ORDER_CLOSED".to_owned()), "a closed payment cannot be paid");
    channel.close("JY-C2").await.unwrap();
    assert_eq!(refused_code(channel.close("JY-C404").await), "ORDER_NOT_EXIST");
}

#[tokio::test]
async fn an_unpaid_payment_expires() {
    let (sandbox, channel) = setup(PaySandboxConfig::default()).await;
    let request = CreatePayment {
        expires_at: Utc::now() + TimeDelta::milliseconds(150),
        ..app_payment("JY-EXP", 100, "http://127.0.0.1:9/notify")
    };
    channel.create(request).await.unwrap();
    assert_eq!(channel.query("JY-EXP").await.unwrap(), PaymentState::Pending);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(channel.query("JY-EXP").await.unwrap(), PaymentState::Closed);
    assert_eq!(sandbox.confirm("JY-EXP"), Err("ORDER_CLOSED".to_owned()));
}

#[tokio::test]
async fn fault_knobs_work_over_control() {
    let (sandbox, channel) = setup(PaySandboxConfig::default()).await;
    let mut receiver = Receiver::start(0).await;
    let http = reqwest::Client::new();
    let control = format!("{}/control", sandbox.base_url());
    let set = |body: Value| http.post(&control).json(&body).send();

    let answer = set(json!({"fail_creates": 1, "drop_notifications": true})).await.unwrap();
    let faults: PayFaults = answer.json().await.unwrap();
    assert_eq!(faults, PayFaults { fail_creates: 1, drop_notifications: true, ..PayFaults::default() });
    assert_eq!(sandbox.faults(), faults);
    assert_eq!(set(json!({"fail_create": 1})).await.unwrap().status(), 400, "typos are refused");

    let err = channel.create(app_payment("JY-F1", 100, &receiver.url)).await.unwrap_err();
    assert_eq!((err.refused_code(), err.is_unknown_outcome()), (Some("SYSTEM_ERROR"), false));
    assert_eq!(channel.query("JY-F1").await.unwrap(), PaymentState::NotFound);
    channel.create(app_payment("JY-F1", 100, &receiver.url)).await.unwrap();
    sandbox.confirm("JY-F1").unwrap();
    // Enough for an undropped notification to have arrived (the first attempt is immediate).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(receiver.nothing_yet());
    assert_eq!(sandbox.notifications_sent(), 0);
    assert!(matches!(channel.query("JY-F1").await.unwrap(), PaymentState::Succeeded { .. }), "paid all the same");

    set(json!({"drop_notifications": false, "notify_delay_ms": 500})).await.unwrap();
    channel.create(app_payment("JY-F2", 100, &receiver.url)).await.unwrap();
    sandbox.confirm("JY-F2").unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(receiver.nothing_yet(), "held back by notify_delay_ms");
    let (headers, body) = receiver.next().await;
    assert!(matches!(
        channel.verify_notification(&headers, &body, Utc::now()).unwrap(),
        Notification::Payment { out_trade_no, .. } if out_trade_no == "JY-F2"
    ));
}

#[tokio::test]
async fn dropping_the_last_handle_stops_the_peer() {
    let (sandbox, channel) = setup(PaySandboxConfig::default()).await;
    let base = sandbox.base_url();
    let copy = sandbox.clone();
    drop(sandbox);
    assert_eq!(channel.query("JY-X").await.unwrap(), PaymentState::NotFound, "a clone keeps it running");
    drop(copy);
    let fresh = SandboxChannel::new(SandboxChannelConfig {
        timeout: Duration::from_millis(500),
        ..SandboxChannelConfig::new(base)
    })
    .unwrap();
    let err = tokio::time::timeout(WAIT, async {
        loop {
            match fresh.query("JY-X").await {
                Err(err) => return err,
                Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    })
    .await
    .expect("the peer stops");
    assert!(matches!(err, ChannelError::Transport(_)), "{err:?}");
    assert!(err.is_unknown_outcome());
}
