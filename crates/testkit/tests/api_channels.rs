//! WeChat Pay v3 and Alipay end to end through the real HTTP API, on every database, with
//! the local peers signing, encrypting and notifying exactly as the channels do:
//! notifications applied exactly once however often, concurrently and in whatever order
//! they arrive; a late success for a cancelled order refunded; payment codes routed to
//! their issuer; notifications for unknown orders parked for staff; the daily
//! reconciliation finding every planted difference; risk rules holding payments for
//! review, released or refunded by staff.

use std::time::Duration;

use chrono::{Days, Utc};
use jiayou_integrations::pay::rsa::{aead_decrypt, aead_encrypt};
use jiayou_integrations::pay::{PaymentState, StatementKind, StatementLine};
use jiayou_store::entity::{channel_notification, ledger_entry, payment};
use jiayou_testkit::fixtures::{member, wait_status, world};
use jiayou_testkit::{TestApp, on_each_backend};
use reqwest::{Method, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

async fn preorder(app: &TestApp, token: &str, station: i64, nozzle: i64, amount_fen: i64) -> i64 {
    let r = app
        .call_as(
            token,
            Method::POST,
            "/api/v1/member/orders",
            Some(&json!({"station_id": station, "nozzle_id": nozzle, "amount_fen": amount_fen})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    r.body["id"].as_i64().unwrap()
}

/// Pays order `id` through `channel` only (no balance): the answer carries the channel's
/// `pay_params`; returns the order view.
async fn pay_through(app: &TestApp, token: &str, id: i64, channel: &str) -> Value {
    let r = app
        .call_as(
            token,
            Method::POST,
            &format!("/api/v1/member/orders/{id}/pay"),
            Some(&json!({"use_balance": false, "channel": channel})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["payment"]["channel"], channel, "{}", r.text);
    r.body
}

/// POSTs a notification as the channel would.
async fn deliver(
    app: &TestApp,
    channel: &str,
    headers: &reqwest::header::HeaderMap,
    body: Vec<u8>,
) -> (StatusCode, String) {
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v1/pay/{channel}/notify", app.base_url))
        .headers(headers.clone())
        .body(body)
        .send()
        .await
        .expect("notification delivered");
    (resp.status(), resp.text().await.unwrap_or_default())
}

fn form_headers() -> reqwest::header::HeaderMap {
    let mut h = reqwest::header::HeaderMap::new();
    h.insert("content-type", "application/x-www-form-urlencoded; charset=utf-8".parse().unwrap());
    h
}

/// The order's channel money entries in the ledger (one per payment applied).
async fn payment_entries(app: &TestApp, order_id: i64) -> u64 {
    ledger_entry::Entity::find()
        .filter(ledger_entry::Column::OrderId.eq(order_id))
        .filter(ledger_entry::Column::Kind.eq("payment"))
        .count(app.app.db.reader())
        .await
        .unwrap()
}

async fn outcomes(app: &TestApp, out_trade_no: &str) -> Vec<String> {
    let mut v: Vec<String> = channel_notification::Entity::find()
        .filter(channel_notification::Column::OutTradeNo.eq(out_trade_no))
        .all(app.app.db.reader())
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.outcome)
        .collect();
    v.sort();
    v
}

async fn ledger_sound(app: &TestApp, chain: i64) {
    let r = app.get(&format!("/api/v1/chains/{chain}/ledger-check")).await;
    assert_eq!(r.body["mismatches"], json!([]), "wallets differ from the ledger: {}", r.text);
}

async fn wait_refunded(app: &TestApp, id: i64, fen: i64) -> Value {
    for _ in 0..60 {
        let o = app.get(&format!("/api/v1/orders/{id}")).await;
        let refunds = app.get(&format!("/api/v1/orders/{id}/refunds")).await;
        if o.body["refunded_fen"] == fen && refunds.body[0]["status"] == "succeeded" {
            return o.body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("order {id} was not refunded {fen} fen at the channel");
}

on_each_backend! {
    spawn_app_with_channels;

    async fn a_wechat_notification_pays_once_however_often_and_in_whatever_order_it_arrives(app) {
        let w = world(&app, 1).await;
        let wx = app.wxpay.clone().unwrap();
        let driver = member(&app, &w, "wx").await;
        let id = preorder(&app, &driver, w.station, w.nozzles[0], 20_000).await;
        let o = pay_through(&app, &driver, id, "wechat").await;
        let params = &o["payment"]["pay_params"];
        assert!(params["package"].as_str().unwrap().starts_with("prepay_id="), "{params}");
        assert_eq!(params["signType"], "RSA");
        assert!(params["paySign"].as_str().is_some_and(|s| s.len() > 300), "an RSA-2048 signature: {params}");
        let out = o["payment"]["out_trade_no"].as_str().unwrap().to_owned();
        // We deliver the notifications ourselves: the peer's own would race ours.
        wx.drop_notifications(true);
        let older = {
            assert!(matches!(wx.pay(&out), Ok(PaymentState::Succeeded { .. })));
            wx.signed_notification(&out).expect("a paid payment has a notification")
        };
        // A tampered copy is refused and changes nothing.
        let mut tampered = older.1.clone();
        let n = tampered.len();
        tampered[n / 2] ^= 1;
        let (status, _) = deliver(&app, "wechat", &older.0, tampered).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(app.get(&format!("/api/v1/orders/{id}")).await.body["status"], "awaiting_payment");
        // Five copies at once (signed afresh, as the channel's retries are).
        let copies: Vec<_> = (0..5).map(|_| wx.signed_notification(&out).unwrap()).collect();
        let answers = futures_join(copies.into_iter().map(|(h, b)| {
            let app = app.clone();
            async move { deliver(&app, "wechat", &h, b).await.0 }
        }))
        .await;
        assert!(answers.iter().all(|s| *s == StatusCode::NO_CONTENT), "{answers:?}");
        // Then the oldest copy, late: acknowledged, no effect.
        assert_eq!(deliver(&app, "wechat", &older.0, older.1.clone()).await.0, StatusCode::NO_CONTENT);
        let v = wait_status(&app, &driver, id, "authorised").await;
        assert_eq!(v["paid_fen"], 20_000);
        assert_eq!(payment_entries(&app, id).await, 1, "paid exactly once");
        let mut want = vec!["duplicate".to_owned(); 5];
        want.push("applied".to_owned());
        want.sort();
        assert_eq!(outcomes(&app, &out).await, want);
        // The settle job's query later agrees and changes nothing either.
        app.app.run_jobs(jiayou_store::now_us() + 3_600_000_000).await.unwrap();
        assert_eq!(payment_entries(&app, id).await, 1);
        ledger_sound(&app, w.chain).await;
    }

    async fn an_alipay_notification_pays_once_however_often_it_arrives(app) {
        let w = world(&app, 1).await;
        let ali = app.alipay.clone().unwrap();
        let driver = member(&app, &w, "ali").await;
        let id = preorder(&app, &driver, w.station, w.nozzles[0], 15_000).await;
        let o = pay_through(&app, &driver, id, "alipay").await;
        let pay_url = o["payment"]["pay_params"]["pay_url"].as_str().expect("the H5 cashier URL").to_owned();
        let out = o["payment"]["out_trade_no"].as_str().unwrap().to_owned();
        ali.drop_notifications(true);
        // The driver opens the cashier (the trade reaches Alipay) and pays.
        let page = reqwest::get(&pay_url).await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        assert!(matches!(ali.pay(&out), Ok(PaymentState::Succeeded { .. })));
        let body = ali.signed_notification(&out).expect("a notification for the paid trade");
        // Unsigned: refused with Alipay's failure text.
        let unsigned: Vec<u8> = String::from_utf8(body.clone())
            .unwrap()
            .split('&')
            .filter(|kv| !kv.starts_with("sign="))
            .collect::<Vec<_>>()
            .join("&")
            .into_bytes();
        let (status, text) = deliver(&app, "alipay", &form_headers(), unsigned).await;
        assert_eq!((status, text.as_str()), (StatusCode::UNAUTHORIZED, "fail"));
        let answers = futures_join((0..5).map(|_| {
            let (app, body) = (app.clone(), body.clone());
            async move { deliver(&app, "alipay", &form_headers(), body).await }
        }))
        .await;
        assert!(answers.iter().all(|(s, t)| *s == StatusCode::OK && t == "success"), "{answers:?}");
        let v = wait_status(&app, &driver, id, "authorised").await;
        assert_eq!(v["paid_fen"], 15_000);
        assert_eq!(payment_entries(&app, id).await, 1, "paid exactly once");
        ledger_sound(&app, w.chain).await;
    }

    async fn a_notification_with_another_amount_or_merchant_moves_no_money(app) {
        let w = world(&app, 1).await;
        let wx = app.wxpay.clone().unwrap();
        let driver = member(&app, &w, "forge").await;
        let id = preorder(&app, &driver, w.station, w.nozzles[0], 10_000).await;
        let out = pay_through(&app, &driver, id, "wechat").await["payment"]["out_trade_no"].as_str().unwrap().to_owned();
        wx.drop_notifications(true);
        wx.pay(&out).unwrap();
        // The real notification, decrypted, altered, encrypted and signed again with the
        // channel's own keys: only the facts differ from a genuine one.
        let (_, genuine) = wx.signed_notification(&out).unwrap();
        let altered = |change: &dyn Fn(&mut Value)| {
            let mut envelope: Value = serde_json::from_slice(&genuine).unwrap();
            let r = &envelope["resource"];
            let key = jiayou_integrations::pay::wechat::PEER_APIV3_KEY.as_bytes();
            let (nonce, aad) = (r["nonce"].as_str().unwrap().to_owned(), r["associated_data"].as_str().unwrap().to_owned());
            let plain = aead_decrypt(key, nonce.as_bytes(), aad.as_bytes(), r["ciphertext"].as_str().unwrap()).unwrap();
            let mut resource: Value = serde_json::from_slice(&plain).unwrap();
            change(&mut resource);
            let sealed = aead_encrypt(key, nonce.as_bytes(), aad.as_bytes(), resource.to_string().as_bytes()).unwrap();
            envelope["resource"]["ciphertext"] = json!(sealed);
            let body = envelope.to_string().into_bytes();
            (wx.sign_notification(&body), body)
        };
        let (h, b) = altered(&|r| r["amount"]["total"] = json!(1));
        assert_eq!(deliver(&app, "wechat", &h, b).await.0, StatusCode::NO_CONTENT, "acknowledged and parked");
        let (h, b) = altered(&|r| r["amount"]["currency"] = json!("USD"));
        assert_eq!(deliver(&app, "wechat", &h, b).await.0, StatusCode::NO_CONTENT);
        let (h, b) = altered(&|r| r["mchid"] = json!("1900000999"));
        assert_eq!(deliver(&app, "wechat", &h, b).await.0, StatusCode::UNAUTHORIZED, "another merchant's: refused");
        assert_eq!(app.get(&format!("/api/v1/orders/{id}")).await.body["status"], "awaiting_payment");
        assert_eq!(payment_entries(&app, id).await, 0, "no money moved");
        assert_eq!(outcomes(&app, &out).await, ["mismatch", "mismatch"]);
        let parked = app.get(&format!("/api/v1/chains/{}/pay-notifications", w.chain)).await;
        assert_eq!(parked.body.as_array().unwrap().len(), 2, "{}", parked.text);
        // The genuine one still pays it.
        let (h, b) = wx.signed_notification(&out).unwrap();
        assert_eq!(deliver(&app, "wechat", &h, b).await.0, StatusCode::NO_CONTENT);
        wait_status(&app, &driver, id, "authorised").await;
        assert_eq!(payment_entries(&app, id).await, 1);
    }

    async fn a_late_success_for_a_cancelled_order_ends_refunded_on_both_channels(app) {
        let w = world(&app, 2).await;
        let driver = member(&app, &w, "late").await;
        // WeChat: the peer notifies by itself.
        let id = preorder(&app, &driver, w.station, w.nozzles[0], 8_000).await;
        let out = pay_through(&app, &driver, id, "wechat").await["payment"]["out_trade_no"].as_str().unwrap().to_owned();
        let c = app.call_as(&driver, Method::POST, &format!("/api/v1/member/orders/{id}/cancel"), None).await;
        assert_eq!(c.body["status"], "cancelled", "{}", c.text);
        app.wxpay.as_ref().unwrap().pay(&out).unwrap();
        let o = wait_refunded(&app, id, 8_000).await;
        assert_eq!(o["status"], "cancelled", "a late success never reopens the order");
        assert!(app.wxpay.as_ref().unwrap().refund(&format!("{}R1", o["order_no"].as_str().unwrap())).is_some());
        // Alipay: the same, through its H5 cashier.
        let id = preorder(&app, &driver, w.station, w.nozzles[1], 6_000).await;
        let o = pay_through(&app, &driver, id, "alipay").await;
        let out = o["payment"]["out_trade_no"].as_str().unwrap().to_owned();
        reqwest::get(o["payment"]["pay_params"]["pay_url"].as_str().unwrap()).await.unwrap();
        let c = app.call_as(&driver, Method::POST, &format!("/api/v1/member/orders/{id}/cancel"), None).await;
        assert_eq!(c.body["status"], "cancelled", "{}", c.text);
        app.alipay.as_ref().unwrap().pay(&out).unwrap();
        let o = wait_refunded(&app, id, 6_000).await;
        assert_eq!(o["status"], "cancelled");
        ledger_sound(&app, w.chain).await;
    }

    async fn payment_codes_go_to_the_channel_that_issued_them(app) {
        let w = world(&app, 1).await;
        for (code, channel) in [("134567890123456780", "wechat"), ("2812345678901234", "alipay")] {
            let goods = json!({"station_id": w.station, "items": [{"name": "矿泉水", "unit_price_fen": 300, "count": 10}]});
            let sale = app.call(Method::POST, "/api/v1/counter/sales", Some(&goods)).await;
            assert_eq!(sale.status, StatusCode::OK, "{}", sale.text);
            let id = sale.body["id"].as_i64().unwrap();
            let r = app
                .call(
                    Method::POST,
                    &format!("/api/v1/orders/{id}/collect"),
                    Some(&json!({"tenders": [{"method": "payment_code", "amount_fen": 3_000, "auth_code": code}]})),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
            assert_eq!(r.body["status"], "completed", "{}", r.text);
            assert_eq!(r.body["payment"]["channel"], channel, "{}", r.text);
        }
    }

    async fn a_notification_for_an_unknown_order_is_parked_for_staff(app) {
        let (chain, _) = app.new_chain_with_code().await;
        let wx = app.wxpay.clone().unwrap();
        // A payment made at our merchant that no order of ours knows (another system's,
        // or a forged order number): WeChat notifies us all the same.
        let channel = jiayou_integrations::pay::wechat::WechatPayChannel::new(wx.channel_config()).unwrap();
        use jiayou_integrations::pay::PaymentChannel;
        channel
            .create(jiayou_integrations::pay::CreatePayment {
                out_trade_no: "GHOST-1".into(),
                amount_fen: 4_200,
                description: "?".into(),
                notify_url: format!("{}/api/v1/pay/wechat/notify", app.base_url),
                payer: jiayou_integrations::pay::Payer::App { openid: Some("o-ghost".into()) },
                expires_at: Utc::now() + chrono::Duration::minutes(10),
            })
            .await
            .unwrap();
        wx.drop_notifications(true);
        wx.pay("GHOST-1").unwrap();
        let (h, b) = wx.signed_notification("GHOST-1").unwrap();
        assert_eq!(deliver(&app, "wechat", &h, b).await.0, StatusCode::NO_CONTENT, "acknowledged: retrying cannot help");
        let list = app.get(&format!("/api/v1/chains/{chain}/pay-notifications")).await;
        assert_eq!(list.status, StatusCode::OK, "{}", list.text);
        let parked: Vec<&Value> =
            list.body.as_array().unwrap().iter().filter(|n| n["out_trade_no"] == "GHOST-1").collect();
        assert_eq!(parked.len(), 1, "{}", list.text);
        assert_eq!((parked[0]["outcome"].as_str(), parked[0]["amount_fen"].as_i64()), (Some("parked"), Some(4_200)));
        let nid = parked[0]["id"].as_i64().unwrap();
        let path = format!("/api/v1/chains/{chain}/pay-notifications/{nid}/resolve");
        let empty = app.post(&path, json!({"resolution": " "})).await;
        assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", empty.text);
        let done = app.post(&path, json!({"resolution": "商户平台核实为测试交易，已在商户平台退款"})).await;
        assert_eq!(done.status, StatusCode::OK, "{}", done.text);
        assert!(done.body["resolved_at"].is_string());
        let again = app.post(&path, json!({"resolution": "再次处理"})).await;
        assert_eq!((again.status, again.code()), (StatusCode::CONFLICT, "notification_resolved"));
        let open = app.get(&format!("/api/v1/chains/{chain}/pay-notifications")).await;
        assert!(!open.text.contains("GHOST-1"), "resolved ones leave the default list: {}", open.text);
    }

    async fn the_daily_reconciliation_lists_every_difference_with_the_wechat_bill(app) {
        let w = world(&app, 3).await;
        let wx = app.wxpay.clone().unwrap();
        let driver = member(&app, &w, "recon").await;
        // Three real payments, moved to yesterday on our side.
        let mut outs = vec![];
        for (i, fen) in [(0, 10_000), (1, 12_000), (2, 9_000)] {
            let id = preorder(&app, &driver, w.station, w.nozzles[i], fen).await;
            let out = pay_through(&app, &driver, id, "wechat").await["payment"]["out_trade_no"].as_str().unwrap().to_owned();
            wx.pay(&out).unwrap();
            wait_status(&app, &driver, id, "authorised").await;
            outs.push((out, fen));
        }
        let yesterday = Utc::now().checked_sub_days(Days::new(1)).unwrap();
        payment::Entity::update_many()
            .col_expr(payment::Column::SettledAtUs, sea_orm::sea_query::Expr::value(yesterday.timestamp_micros()))
            .filter(payment::Column::OutTradeNo.is_in(outs.iter().map(|(o, _)| o.clone())))
            .exec(app.app.db.writer())
            .await
            .unwrap();
        let line = |out: &str, fen: i64| StatementLine {
            kind: StatementKind::Payment,
            out_trade_no: out.to_owned(),
            transaction_id: format!("4200{}", jiayou_testkit::unique_suffix()),
            out_refund_no: None,
            refund_id: None,
            amount_fen: fen,
            at: yesterday,
        };
        // The bill of yesterday: the first payment as ours; the second for another
        // amount; the third missing; and one we never heard of.
        wx.plant_bill_line(line(&outs[0].0, outs[0].1), None);
        wx.plant_bill_line(line(&outs[1].0, 12_001), None);
        wx.plant_bill_line(line("STRANGER-1", 777), None);
        let date = yesterday.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap()).date_naive();
        let path = format!("/api/v1/chains/{}/reconciliations", w.chain);
        let today = app.post(&path, json!({"channel": "wechat", "date": Utc::now().date_naive().succ_opt()})).await;
        assert_eq!(today.status, StatusCode::UNPROCESSABLE_ENTITY, "no bill before the day is over: {}", today.text);
        let r = app.post(&path, json!({"channel": "wechat", "date": date})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let rec = &r.body[0];
        assert_eq!(rec["status"], "differences", "{}", r.text);
        let mut found: Vec<(String, String, Option<i64>, Option<i64>)> = rec["differences"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["kind"].as_str().unwrap().to_owned(),
                    d["out_trade_no"].as_str().unwrap().to_owned(),
                    d["ours_fen"].as_i64(),
                    d["theirs_fen"].as_i64(),
                )
            })
            .collect();
        found.sort();
        let mut want = vec![
            ("amount_mismatch".to_owned(), outs[1].0.clone(), Some(12_000), Some(12_001)),
            ("missing_channel".to_owned(), outs[2].0.clone(), Some(9_000), None),
            ("missing_ours".to_owned(), "STRANGER-1".to_owned(), None, Some(777)),
        ];
        want.sort();
        assert_eq!(found, want, "{}", r.text);
        assert_eq!((rec["ours_count"].as_i64(), rec["ours_fen"].as_i64()), (Some(3), Some(31_000)));
        // Run again: one result per day and merchant, replaced.
        let again = app.post(&path, json!({"channel": "wechat", "date": date})).await;
        assert_eq!(again.body[0]["id"], rec["id"]);
        let list = app.get(&format!("{path}?channel=wechat")).await;
        assert_eq!(list.body.as_array().unwrap().len(), 1, "{}", list.text);
        let one = app.get(&format!("/api/v1/reconciliations/{}", rec["id"])).await;
        assert_eq!(one.body["difference_count"], 3);
    }

    async fn a_risk_rule_holds_the_payment_until_staff_release_or_refund_it(app) {
        let w = world(&app, 2).await;
        let driver = member(&app, &w, "risky").await;
        let rules = format!("/api/v1/chains/{}/risk-rules/member", w.chain);
        let bad = app.put(&rules, json!({"max_count": 3})).await;
        assert_eq!((bad.status, bad.field()), (StatusCode::UNPROCESSABLE_ENTITY, "window_minutes"), "{}", bad.text);
        let r = app.put(&rules, json!({"max_single_fen": 10_000})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        // 200 yuan by WeChat: taken, then held.
        let id = preorder(&app, &driver, w.station, w.nozzles[0], 20_000).await;
        let out = pay_through(&app, &driver, id, "wechat").await["payment"]["out_trade_no"].as_str().unwrap().to_owned();
        app.wxpay.as_ref().unwrap().pay(&out).unwrap();
        let held = wait_status(&app, &driver, id, "held").await;
        assert!(held["status_message"].as_str().unwrap().contains("审核"), "{held}");
        let auths = jiayou_testkit::fixtures::device(&app, &w, Method::GET, "/api/v1/device/authorisations", None).await;
        assert!(!auths.text.contains(&format!("\"order_id\":{id}")), "the pump is not authorised: {}", auths.text);
        let holds = app.get(&format!("/api/v1/chains/{}/risk-holds", w.chain)).await;
        let hold = holds.body.as_array().unwrap().iter().find(|h| h["order_id"] == id).expect("listed").clone();
        assert_eq!(hold["reason"], "会员单笔金额 ¥200.00 超过上限 ¥100.00");
        let alerts = app.get(&format!("/api/v1/alerts?chain_id={}", w.chain)).await;
        assert!(alerts.text.contains("risk_hold"), "{}", alerts.text);
        // Released: it proceeds; deciding again is refused.
        let hid = hold["id"].as_i64().unwrap();
        let rel = app.post(&format!("/api/v1/risk-holds/{hid}/release"), json!({"note": "本人确认"})).await;
        assert_eq!((rel.status, rel.body["status"].as_str()), (StatusCode::OK, Some("released")), "{}", rel.text);
        assert_eq!(app.get(&format!("/api/v1/orders/{id}")).await.body["status"], "authorised");
        let twice = app.post(&format!("/api/v1/risk-holds/{hid}/refund"), json!({})).await;
        assert_eq!((twice.status, twice.code()), (StatusCode::CONFLICT, "hold_decided"));
        // A second one is refunded in full at the channel.
        let id2 = preorder(&app, &driver, w.station, w.nozzles[1], 30_000).await;
        let out2 =
            pay_through(&app, &driver, id2, "wechat").await["payment"]["out_trade_no"].as_str().unwrap().to_owned();
        app.wxpay.as_ref().unwrap().pay(&out2).unwrap();
        wait_status(&app, &driver, id2, "held").await;
        let holds = app.get(&format!("/api/v1/chains/{}/risk-holds", w.chain)).await;
        let hid2 = holds.body.as_array().unwrap().iter().find(|h| h["order_id"] == id2).unwrap()["id"].as_i64().unwrap();
        let refd = app.post(&format!("/api/v1/risk-holds/{hid2}/refund"), json!({"note": "疑似盗刷"})).await;
        assert_eq!(refd.body["status"], "refunded", "{}", refd.text);
        let o = wait_refunded(&app, id2, 30_000).await;
        assert_eq!(o["status"], "refunded");
        // A frequency rule: the second payment within the hour is held.
        let r = app.put(&rules, json!({"max_count": 1, "window_minutes": 60})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let other = member(&app, &w, "freq").await;
        let top = app.call_as(&other, Method::POST, "/api/v1/member/topups", Some(&json!({"amount_fen": 1_000, "channel": "wechat"}))).await;
        let first = top.body["payment"]["out_trade_no"].as_str().unwrap().to_owned();
        app.wxpay.as_ref().unwrap().pay(&first).unwrap();
        wait_status(&app, &other, top.body["id"].as_i64().unwrap(), "completed").await;
        let top2 = app.call_as(&other, Method::POST, "/api/v1/member/topups", Some(&json!({"amount_fen": 1_000, "channel": "wechat"}))).await;
        let second = top2.body["payment"]["out_trade_no"].as_str().unwrap().to_owned();
        app.wxpay.as_ref().unwrap().pay(&second).unwrap();
        wait_status(&app, &other, top2.body["id"].as_i64().unwrap(), "held").await;
        let wallet = app.call_as(&other, Method::GET, "/api/v1/member/wallet", None).await;
        assert_eq!(wallet.body["paid_fen"], 1_000, "the held top-up is not credited: {}", wallet.text);
        ledger_sound(&app, w.chain).await;
    }
}

/// Runs the futures concurrently on the runtime and collects their outputs in order.
async fn futures_join<F, T>(futs: impl IntoIterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = futs.into_iter().map(tokio::spawn).collect();
    let mut out = vec![];
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}
