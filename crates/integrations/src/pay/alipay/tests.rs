//! The Alipay channel end to end: our client against the local gateway, with a small
//! axum server in each test playing the app's notification endpoint.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::post;
use chrono::{TimeDelta, Utc};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use super::wire::{self, param};
use super::*;
use crate::pay::rsa::generate_key_pair;
use crate::pay::{
    ChannelError, CreatePayment, Notification, NotifyError, Payer, PaymentChannel, PaymentState, RefundRequest,
    RefundState, StatementKind, codes,
};

const WAIT: Duration = Duration::from_secs(5);
const PAYS_NOW: &str = "281234567890123450";
const PAYS_LATER: &str = "281234567890123459";

async fn setup() -> (AlipayPeerHandle, AlipayChannel) {
    let peer = spawn_alipay_peer(AlipayPeerConfig::default()).await.unwrap();
    let channel = AlipayChannel::new(peer.channel_config()).unwrap();
    (peer, channel)
}

fn request(no: &str, fen: i64, payer: Payer, notify_url: &str) -> CreatePayment {
    CreatePayment {
        out_trade_no: no.to_owned(),
        amount_fen: fen,
        description: "加油 92# 12.34元".to_owned(),
        notify_url: notify_url.to_owned(),
        payer,
        expires_at: Utc::now() + TimeDelta::minutes(15),
    }
}

fn code(auth_code: &str) -> Payer {
    Payer::PaymentCode { auth_code: auth_code.to_owned() }
}

fn refund(no: &str, refund_no: &str, fen: i64, total: i64) -> RefundRequest {
    RefundRequest {
        out_trade_no: no.to_owned(),
        out_refund_no: refund_no.to_owned(),
        refund_fen: fen,
        total_fen: total,
        reason: "油枪故障".to_owned(),
        notify_url: String::new(),
    }
}

fn refused_code(result: Result<impl std::fmt::Debug, ChannelError>) -> String {
    match result {
        Err(ChannelError::Refused { code, .. }) => code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// The app's notification endpoint: records every POST, answers `fail` to the first
/// `fail_first` of them and `success` afterwards.
struct Receiver {
    url: String,
    rx: mpsc::UnboundedReceiver<Bytes>,
    _stop: oneshot::Sender<()>,
}

impl Receiver {
    async fn start(fail_first: usize) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let failures = Arc::new(AtomicUsize::new(fail_first));
        let app = Router::new().route(
            "/notify",
            post(move |body: Bytes| async move {
                tx.send(body).unwrap();
                let failing = failures.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
                if failing { "fail" } else { "success" }
            }),
        );
        let (url, stop) = serve(app, "/notify").await;
        Self { url, rx, _stop: stop }
    }

    async fn next(&mut self) -> Bytes {
        tokio::time::timeout(WAIT, self.rx.recv()).await.expect("a notification in time").unwrap()
    }
}

async fn serve(app: Router, path: &str) -> (String, oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}{path}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    (url, stop)
}

fn verify(channel: &AlipayChannel, body: &[u8]) -> Result<Notification, NotifyError> {
    channel.verify_notification(&HeaderMap::new(), body, Utc::now())
}

/// Replaces one parameter of a form body, keeping its sign.
fn with_param(body: &[u8], name: &str, value: Option<&str>) -> Vec<u8> {
    let mut params = wire::form_decode(body);
    params.retain(|(k, _)| k != name);
    if let Some(v) = value {
        params.push((name.to_owned(), v.to_owned()));
    }
    wire::form_encode(&params).into_bytes()
}

fn china_today() -> chrono::NaiveDate {
    Utc::now().with_timezone(&wire::china()).date_naive()
}

#[tokio::test]
async fn requests_are_signed_with_the_app_key_and_a_wrong_or_tampered_one_is_refused() {
    let (peer, channel) = setup().await;
    assert_eq!(channel.query("NO-SUCH").await.unwrap(), PaymentState::NotFound, "a good signature passes");
    assert_eq!(peer.signature_failures(), 0);

    let mut config = peer.channel_config();
    config.app_private_key = generate_key_pair("alipay-test-other").1;
    let stranger = AlipayChannel::new(config).unwrap();
    assert_eq!(refused_code(stranger.query("NO-SUCH").await), "isv.invalid-signature");

    // A correctly signed request altered on the way.
    let key = generate_key_pair("alipay-app").1;
    let mut params: wire::Params = [
        ("app_id", "2021000000000000"),
        ("method", "alipay.trade.query"),
        ("charset", "utf-8"),
        ("sign_type", "RSA2"),
        ("timestamp", "2026-01-01 12:00:00"),
        ("version", "1.0"),
        ("biz_content", r#"{"out_trade_no":"A1"}"#),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    wire::sign_request(&mut params, &key);
    let post = |params: wire::Params| {
        let url = peer.gateway_url();
        async move { reqwest::Client::new().post(url).body(wire::form_encode(&params)).send().await.unwrap() }
    };
    let ok = post(params.clone()).await.text().await.unwrap();
    assert!(ok.contains("ACQ.TRADE_NOT_EXIST"), "{ok}");
    params[6].1 = r#"{"out_trade_no":"A2"}"#.to_owned();
    let tampered = post(params).await.text().await.unwrap();
    assert!(tampered.contains(r#""code":"40002""#) && tampered.contains("isv.invalid-signature"), "{tampered}");
    assert_eq!(peer.signature_failures(), 2);
}

#[tokio::test]
async fn answers_whose_sign_does_not_match_are_an_unknown_outcome() {
    let (peer, channel) = setup().await;
    peer.tamper_next_responses(1);
    let err = channel.query("A1").await.unwrap_err();
    assert!(matches!(err, ChannelError::BadResponse(_)) && err.is_unknown_outcome(), "{err:?}");
    assert_eq!(channel.query("A1").await.unwrap(), PaymentState::NotFound, "the knob was used up");

    // A server that answers an unsigned success, and one signed with another key.
    let other = generate_key_pair("alipay-test-other").1;
    let inner = r#"{"code":"10000","msg":"Success","trade_no":"1","out_trade_no":"A1","trade_status":"TRADE_CLOSED","total_amount":"1.00"}"#;
    let forged = format!(r#"{{"alipay_trade_query_response":{inner},"sign":"{}"}}"#, other.sign(inner.as_bytes()));
    for body in [format!(r#"{{"alipay_trade_query_response":{inner}}}"#), forged] {
        let app = Router::new().route("/gateway.do", post(move || async move { body }));
        let (url, _stop) = serve(app, "/gateway.do").await;
        let mut config = peer.channel_config();
        config.gateway_url = url;
        let err = AlipayChannel::new(config).unwrap().query("A1").await.unwrap_err();
        assert!(matches!(err, ChannelError::BadResponse(_)), "{err:?}");
    }
}

#[tokio::test]
async fn a_mini_program_create_answers_the_trade_number_for_my_trade_pay() {
    let (peer, channel) = setup().await;
    let created = channel
        .create(request("MP1", 1234, Payer::App { openid: Some("2088102100000001".into()) }, "http://x/n"))
        .await
        .unwrap();
    assert_eq!(created.status, PaymentState::Pending);
    let trade_no = created.pay_params.unwrap()["tradeNO"].as_str().unwrap().to_owned();
    assert!(trade_no.len() > 16);
    assert_eq!(peer.payment("MP1"), PaymentState::Pending);
    // The same request again answers the same trade; another amount is refused.
    let again = channel
        .create(request("MP1", 1234, Payer::App { openid: Some("2088102100000001".into()) }, "http://x/n"))
        .await
        .unwrap();
    assert_eq!(again.pay_params.unwrap()["tradeNO"], trade_no.as_str());
    let other = channel.create(request("MP1", 999, Payer::App { openid: Some("2088102100000001".into()) }, "")).await;
    assert_eq!(refused_code(other), codes::OUT_TRADE_NO_USED);
}

#[tokio::test]
async fn the_h5_url_is_signed_by_the_app_and_opens_the_payer_page() {
    let (peer, channel) = setup().await;
    let created = channel.create(request("H5A", 1234, Payer::App { openid: None }, "http://x/n")).await.unwrap();
    assert_eq!(created.status, PaymentState::Pending);
    let pay_url = created.pay_params.unwrap()["pay_url"].as_str().unwrap().to_owned();
    let url = url::Url::parse(&pay_url).unwrap();
    let params: wire::Params = url.query_pairs().into_owned().collect();
    let app_public = generate_key_pair("alipay-app").1.public_key();
    assert_eq!(wire::verify_params(&params, &app_public, false), Some(true));
    assert_eq!(param(&params, "method"), Some("alipay.trade.wap.pay"));
    let biz: Value = serde_json::from_str(param(&params, "biz_content").unwrap()).unwrap();
    assert_eq!((biz["total_amount"].as_str(), biz["product_code"].as_str()), (Some("12.34"), Some("QUICK_WAP_WAY")));
    assert_eq!(channel.query("H5A").await.unwrap(), PaymentState::NotFound, "not opened yet");

    // An altered URL is refused by the gateway.
    let tampered = pay_url.replace("12.34", "0.01");
    assert_ne!(tampered, pay_url);
    let answer = reqwest::get(&tampered).await.unwrap().text().await.unwrap();
    assert!(answer.contains("isv.invalid-signature"), "{answer}");

    let page = reqwest::get(&pay_url).await.unwrap().text().await.unwrap();
    assert!(page.contains("确认付款") && page.contains("¥12.34"), "{page}");
    assert_eq!(channel.query("H5A").await.unwrap(), PaymentState::Pending);
    assert!(matches!(peer.pay("H5A"), Ok(PaymentState::Succeeded { amount_fen: 1234, .. })));
    assert!(matches!(channel.query("H5A").await.unwrap(), PaymentState::Succeeded { amount_fen: 1234, .. }));
}

#[tokio::test]
async fn a_payment_is_notified_until_answered_success_and_the_notification_verifies() {
    let (peer, channel) = setup().await;
    let mut receiver = Receiver::start(1).await;
    let openid = Payer::App { openid: Some("074a1234".into()) };
    channel.create(request("N1", 1234, openid, &receiver.url)).await.unwrap();
    let early = peer.signed_notification("N1").unwrap();
    assert!(matches!(verify(&channel, &early), Ok(Notification::Payment { state: PaymentState::Pending, .. })));
    let page = reqwest::get(format!("{}/sandbox/pay?out_trade_no=N1", peer.base_url())).await.unwrap();
    assert!(page.text().await.unwrap().contains("确认付款"));
    let paid = reqwest::Client::new().post(format!("{}/sandbox/pay/N1", peer.base_url())).send().await.unwrap();
    assert!(paid.status().is_success());

    let first = receiver.next().await;
    let second = receiver.next().await; // the first was answered "fail": retried
    assert_eq!(first, second, "a retry carries the same content");
    let PaymentState::Succeeded { transaction_id, .. } = channel.query("N1").await.unwrap() else { panic!() };
    match verify(&channel, &first).unwrap() {
        Notification::Payment { out_trade_no, transaction_id: t, amount_fen, currency, merchant_id, state } => {
            assert_eq!((out_trade_no.as_str(), amount_fen, currency.as_str()), ("N1", 1234, "CNY"));
            assert_eq!((t.as_str(), merchant_id.as_str()), (transaction_id.as_str(), channel.merchant_id()));
            assert!(matches!(state, PaymentState::Succeeded { amount_fen: 1234, .. }));
        }
        other => panic!("{other:?}"),
    }
    // Delivered out of order, the older state still verifies as what it was: the app
    // applies states forward only, so it cannot undo the payment.
    assert!(matches!(verify(&channel, &early), Ok(Notification::Payment { state: PaymentState::Pending, .. })));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!((peer.notifications_sent(), peer.notifications_delivered()), (2, 1));
    let answer = channel.notification_answer(true);
    assert_eq!((answer.status, answer.body.as_str()), (200, "success"));
    assert_eq!(channel.notification_answer(false).body, "fail");
}

#[tokio::test]
async fn forged_foreign_and_unsigned_notifications_are_refused_and_replays_are_harmless() {
    let (peer, channel) = setup().await;
    channel.create(request("F1", 500, code(PAYS_NOW), "")).await.unwrap();
    let body = peer.signed_notification("F1").unwrap();
    let good = verify(&channel, &body).unwrap();

    assert_eq!(verify(&channel, &with_param(&body, "total_amount", Some("0.01"))), Err(NotifyError::BadSignature));
    assert_eq!(verify(&channel, &with_param(&body, "sign", None)), Err(NotifyError::MissingHeader("sign")));
    // sign_type is not signed in notifications: changing it alone still verifies.
    assert_eq!(verify(&channel, &with_param(&body, "sign_type", Some("RSA2"))).unwrap(), good);

    let mut other_app = peer.channel_config();
    other_app.app_id = "2021000000000001".into();
    let other_app = AlipayChannel::new(other_app).unwrap();
    assert!(matches!(verify(&other_app, &body), Err(NotifyError::UnknownKey(_))));
    let mut other_seller = peer.channel_config();
    other_seller.seller_id = Some("2088000000000001".into());
    let other_seller = AlipayChannel::new(other_seller).unwrap();
    assert_eq!(verify(&other_seller, &body), Err(NotifyError::WrongMerchant(DEFAULT_SELLER_ID_FOR_TESTS.into())));
    let isv = AlipayChannel::new(peer.isv_channel_config(ISV_APP_AUTH_TOKEN)).unwrap();
    assert!(matches!(verify(&isv, &body), Err(NotifyError::UnknownKey(_))), "another authorised merchant's");

    // Delivered many times, concurrently: each verifies to the same notification.
    let channel = Arc::new(channel);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (channel, body) = (channel.clone(), body.clone());
            tokio::spawn(async move { verify(&channel, &body) })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), good);
    }
}

const DEFAULT_SELLER_ID_FOR_TESTS: &str = super::peer::DEFAULT_SELLER_ID;

#[tokio::test]
async fn payment_codes_pay_wait_fail_or_are_refused() {
    let (peer, channel) = setup().await;
    let paid = channel.create(request("C1", 1234, code(PAYS_NOW), "")).await.unwrap();
    assert!(matches!(paid.status, PaymentState::Succeeded { amount_fen: 1234, .. }), "{paid:?}");
    let retried = channel.create(request("C1", 1234, code(PAYS_NOW), "")).await.unwrap();
    assert_eq!(retried.status, paid.status, "a retried pay answers the payment as it is");

    let waiting = channel.create(request("C2", 100, code(PAYS_LATER), "")).await.unwrap();
    assert_eq!(waiting.status, PaymentState::Pending);
    assert_eq!(channel.query("C2").await.unwrap(), PaymentState::Pending);
    let deadline = tokio::time::Instant::now() + WAIT;
    while !matches!(channel.query("C2").await.unwrap(), PaymentState::Succeeded { amount_fen: 100, .. }) {
        assert!(tokio::time::Instant::now() < deadline, "never paid");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let poor = channel.create(request("C3", 100, code(INSUFFICIENT_BALANCE_CODE), "")).await.unwrap();
    assert!(matches!(&poor.status, PaymentState::Failed { code, .. } if code == "ACQ.BUYER_BALANCE_NOT_ENOUGH"));
    let invalid = channel.create(request("C4", 100, code("131234567890123456"), "")).await;
    assert_eq!(refused_code(invalid), "ACQ.PAYMENT_AUTH_CODE_INVALID");
    assert_eq!(peer.payment("C4"), PaymentState::NotFound);
}

#[tokio::test]
async fn system_errors_and_timeouts_are_unknown_outcomes() {
    let (peer, channel) = setup().await;
    peer.fail_next_creates(1);
    let err = channel.create(request("S1", 100, code(PAYS_NOW), "")).await.unwrap_err();
    assert!(err.is_unknown_outcome(), "{err:?}");
    assert!(matches!(
        channel.create(request("S1", 100, code(PAYS_NOW), "")).await.unwrap().status,
        PaymentState::Succeeded { .. }
    ));

    let mut config = peer.channel_config();
    config.timeout = Duration::from_millis(200);
    let impatient = AlipayChannel::new(config).unwrap();
    peer.delay_next_responses(1, Duration::from_millis(600));
    assert_eq!(impatient.create(request("S2", 100, code(PAYS_NOW), "")).await.unwrap_err(), ChannelError::Timeout);
    assert!(matches!(peer.payment("S2"), PaymentState::Succeeded { .. }), "applied although the client gave up");
}

#[tokio::test]
async fn closing_an_unpaid_payment_works_and_a_paid_one_answers_already_paid() {
    let (peer, channel) = setup().await;
    channel.create(request("X1", 100, Payer::App { openid: Some("074a".into()) }, "")).await.unwrap();
    channel.close("X1").await.unwrap();
    assert_eq!(channel.query("X1").await.unwrap(), PaymentState::Closed);
    channel.close("X1").await.unwrap();
    assert!(peer.pay("X1").is_err(), "a closed trade cannot be paid");
    channel.close("NEVER-CREATED").await.unwrap();

    channel.create(request("X2", 100, code(PAYS_NOW), "")).await.unwrap();
    assert_eq!(refused_code(channel.close("X2").await), codes::ALREADY_PAID);

    let mut expiring = request("X3", 100, Payer::App { openid: Some("074a".into()) }, "");
    expiring.expires_at = Utc::now() + TimeDelta::seconds(1);
    channel.create(expiring).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(channel.query("X3").await.unwrap(), PaymentState::Closed, "unpaid past time_expire");
}

#[tokio::test]
async fn refunds_are_idempotent_per_request_number_and_never_exceed_the_payment() {
    let (peer, channel) = setup().await;
    let mut receiver = Receiver::start(0).await;
    let paid = channel.create(request("R1", 10_000, code(PAYS_NOW), &receiver.url)).await.unwrap();
    let PaymentState::Succeeded { transaction_id, .. } = paid.status else { panic!() };
    receiver.next().await; // the payment's notification

    let first = channel.refund(refund("R1", "R1-a", 3000, 10_000)).await.unwrap();
    let expected = RefundState::Succeeded { refund_id: format!("{transaction_id}-R1-a") };
    assert_eq!(first, expected);
    assert_eq!(channel.refund(refund("R1", "R1-a", 3000, 10_000)).await.unwrap(), expected, "repeated");
    assert_eq!(refused_code(channel.refund(refund("R1", "R1-a", 2000, 10_000)).await), codes::INVALID_REQUEST);
    assert_eq!(refused_code(channel.refund(refund("R1", "R1-b", 7001, 10_000)).await), codes::REFUND_EXCEEDS);
    assert_eq!(channel.query_refund("R1", "R1-a").await.unwrap(), expected);
    assert_eq!(refused_code(channel.query_refund("R1", "R1-z").await), "REFUND_NOT_EXIST");
    match verify(&channel, &receiver.next().await).unwrap() {
        Notification::Refund { out_trade_no, out_refund_no, refund_fen, state, .. } => {
            assert_eq!((out_trade_no.as_str(), out_refund_no.as_str(), refund_fen), ("R1", "R1-a", 3000));
            assert_eq!(state, expected);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(channel.query("R1").await.unwrap(), PaymentState::Succeeded { .. }), "partly refunded");

    channel.refund(refund("R1", "R1-b", 7000, 10_000)).await.unwrap();
    match verify(&channel, &receiver.next().await).unwrap() {
        Notification::Refund { out_refund_no, refund_fen, .. } => {
            assert_eq!((out_refund_no.as_str(), refund_fen), ("R1-b", 10_000), "refund_fee is the total refunded");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(channel.query("R1").await.unwrap(), PaymentState::Closed, "fully refunded trades close");

    channel.create(request("R2", 100, Payer::App { openid: Some("074a".into()) }, "")).await.unwrap();
    assert_eq!(refused_code(channel.refund(refund("R2", "R2-a", 100, 100)).await), codes::NOT_PAID);
    drop(peer);
}

#[tokio::test]
async fn the_statement_reads_the_zipped_gbk_bill_exactly() {
    let (peer, channel) = setup().await;
    channel.create(request("B1", 1234, code(PAYS_NOW), "")).await.unwrap();
    channel.create(request("B2", 29, code(PAYS_NOW), "")).await.unwrap();
    channel.refund(refund("B1", "B1-r", 10, 1234)).await.unwrap();
    let planted_at = Utc::now();
    peer.plant_bill_line(BillRow {
        trade_no: "2026010122001000000000000001".into(),
        out_trade_no: "UNKNOWN-1".into(),
        kind: StatementKind::Payment,
        subject: "商品,带逗号".into(),
        created: planted_at,
        finished: planted_at,
        amount_fen: 100_000_001,
        out_request_no: None,
    });
    let lines = channel.statement(china_today()).await.unwrap();
    let mut seen: Vec<_> = lines.iter().map(|l| (l.kind, l.out_trade_no.as_str(), l.amount_fen)).collect();
    seen.sort_by_key(|l| l.1.to_owned() + if l.0 == StatementKind::Refund { "r" } else { "" });
    assert_eq!(
        seen,
        [
            (StatementKind::Payment, "B1", 1234),
            (StatementKind::Refund, "B1", 10),
            (StatementKind::Payment, "B2", 29),
            (StatementKind::Payment, "UNKNOWN-1", 100_000_001),
        ]
    );
    let PaymentState::Succeeded { transaction_id, .. } = channel.query("B1").await.unwrap() else { panic!() };
    let refund_line = lines.iter().find(|l| l.kind == StatementKind::Refund).unwrap();
    assert_eq!(refund_line.transaction_id, transaction_id);
    assert_eq!(refund_line.out_refund_no.as_deref(), Some("B1-r"));
    assert_eq!(refund_line.refund_id, Some(format!("{transaction_id}-B1-r")));
    assert!((Utc::now() - refund_line.at).num_seconds().abs() < 60);

    let yesterday = china_today().pred_opt().unwrap();
    assert_eq!(channel.statement(yesterday).await.unwrap(), []);
}

#[tokio::test]
async fn service_provider_mode_acts_for_the_authorising_merchant() {
    let (peer, direct) = setup().await;
    let isv = AlipayChannel::new(peer.isv_channel_config(ISV_APP_AUTH_TOKEN)).unwrap();
    assert_eq!(isv.merchant_id(), ISV_SELLER_ID);
    isv.create(request("I1", 100, code(PAYS_NOW), "")).await.unwrap();
    assert!(matches!(isv.query("I1").await.unwrap(), PaymentState::Succeeded { .. }));
    assert_eq!(direct.query("I1").await.unwrap(), PaymentState::NotFound, "another merchant's trade");
    let body = peer.signed_notification("I1").unwrap();
    assert!(
        matches!(verify(&isv, &body), Ok(Notification::Payment { merchant_id, .. }) if merchant_id == ISV_SELLER_ID)
    );

    let stranger = AlipayChannel::new(peer.isv_channel_config("202601BBunknown")).unwrap();
    assert_eq!(refused_code(stranger.query("I1").await), "aop.invalid-app-auth-token");
}

#[test]
fn settings_are_checked_up_front() {
    let key = generate_key_pair("alipay-app").1;
    let base = AlipayConfig::new("2021000000000000", key.clone(), key.public_key());
    assert!(AlipayChannel::new(base.clone()).is_ok());
    type Breaker = fn(&mut AlipayConfig);
    let cases: [(&str, Breaker); 5] = [
        ("gateway_url", |c| c.gateway_url = "openapi.alipay.com".into()),
        ("app_id", |c| c.app_id = "abc".into()),
        ("seller_id", |c| c.seller_id = Some("1234".into())),
        ("isv without seller", |c| c.app_auth_token = Some("tok".into())),
        ("timeout", |c| c.timeout = Duration::ZERO),
    ];
    for (name, break_it) in cases {
        let mut config = base.clone();
        break_it(&mut config);
        assert!(AlipayChannel::new(config).is_err(), "{name}");
    }
    let channel = AlipayChannel::new(base).unwrap();
    assert_eq!((channel.name(), channel.merchant_id()), ("alipay", "2021000000000000"));
}

#[tokio::test]
async fn notification_knobs_drop_or_duplicate_and_are_settable_over_http() {
    let (peer, channel) = setup().await;
    let mut receiver = Receiver::start(0).await;
    let control = format!("{}/control", peer.base_url());
    let set = reqwest::Client::new().post(&control).body(r#"{"drop_notifications": true}"#).send().await.unwrap();
    assert!(set.status().is_success());
    assert!(peer.faults().drop_notifications);
    let bad = reqwest::Client::new().post(&control).body(r#"{"no_such_knob": 1}"#).send().await.unwrap();
    assert_eq!(bad.status().as_u16(), 400);

    channel.create(request("K1", 100, code(PAYS_NOW), &receiver.url)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(receiver.rx.try_recv().is_err(), "dropped");
    assert_eq!(peer.notifications_sent(), 0);

    peer.drop_notifications(false);
    peer.notify_twice(true);
    channel.create(request("K2", 100, code(PAYS_NOW), &receiver.url)).await.unwrap();
    let (a, b) = (receiver.next().await, receiver.next().await);
    assert_eq!(a, b);
    assert!(matches!(verify(&channel, &a), Ok(Notification::Payment { .. })));
}
