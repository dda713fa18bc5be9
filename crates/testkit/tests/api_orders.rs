//! The money path end to end through the real HTTP API, on every database: pre-orders and
//! nozzle holds, paying with balance, coupons and the channel (a separate local peer that
//! notifies us), pump sales from signed devices with 预付退差, plate pay, the counter,
//! refunds, cancellations with late channel successes, idempotency, injected failures,
//! and concurrency (no double spend of a balance or a coupon, one winner per nozzle).
//! After every test the wallets equal their ledger.

use std::time::Duration;

use jiayou_testkit::fixtures::{World, device, member, wait_status, world};
use jiayou_testkit::{Reply, TestApp, on_each_backend};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Tops up through the channel: create, the driver confirms at the peer, the peer
/// notifies us, the wallet is credited.
async fn topup(app: &TestApp, token: &str, amount_fen: i64) -> Value {
    let r = app.call_as(token, Method::POST, "/api/v1/member/topups", Some(&json!({"amount_fen": amount_fen}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let out = r.body["payment"]["out_trade_no"].as_str().expect("out_trade_no").to_owned();
    assert!(r.body["payment"]["pay_params"]["confirm_url"].is_string(), "{}", r.text);
    app.pay.confirm(&out).expect("confirm at the peer");
    wait_status(app, token, r.body["id"].as_i64().unwrap(), "completed").await
}

async fn wallet(app: &TestApp, token: &str) -> Value {
    app.call_as(token, Method::GET, "/api/v1/member/wallet", None).await.body
}

async fn assert_ledger_sound(app: &TestApp, w: &World) {
    let r = app.get(&format!("/api/v1/chains/{}/ledger-check", w.chain)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["mismatches"], json!([]), "wallets differ from the ledger: {}", r.text);
}

async fn preorder(app: &TestApp, token: &str, w: &World, nozzle: i64, amount_fen: i64) -> Reply {
    app.call_as(
        token,
        Method::POST,
        "/api/v1/member/orders",
        Some(&json!({"station_id": w.station, "nozzle_id": nozzle, "amount_fen": amount_fen})),
    )
    .await
}

async fn pay_balance(app: &TestApp, token: &str, id: i64) -> Reply {
    app.call_as(
        token,
        Method::POST,
        &format!("/api/v1/member/orders/{id}/pay"),
        Some(&json!({"use_balance": true, "use_channel": false})),
    )
    .await
}

fn sale(w: &World, nozzle: i64, amount_fen: i64, price: i64, totalizer: i64) -> Value {
    // Quantity measured from the amount at the price, in 10 mL steps.
    let quantity = amount_fen * 1000 / price / 10 * 10;
    json!({
        "sale_id": format!("s-{}", jiayou_testkit::unique_suffix()), "nozzle_id": nozzle, "grade_id": w.grade,
        "amount_fen": (quantity * price + 500) / 1000, "quantity": quantity, "unit_price_fen": price,
        "totalizer": totalizer, "plate": null, "authorisation_id": null, "attendant_staff_id": null,
    })
}

on_each_backend! {
    async fn prepay_by_balance_refunds_the_unused_part(app) {
        let w = world(&app, 1).await;
        let driver = member(&app, &w, "prepay").await;
        topup(&app, &driver, 30_000).await;
        assert_eq!(wallet(&app, &driver).await["paid_fen"], 30_000);

        let o = preorder(&app, &driver, &w, w.nozzles[0], 20_000).await;
        assert_eq!(o.status, StatusCode::CREATED, "{}", o.text);
        assert_eq!(o.body["status"], "awaiting_payment");
        assert_eq!(o.body["unit_price_fen"], 750, "members pre-order at the member price");
        let id = o.body["id"].as_i64().unwrap();
        let paid = pay_balance(&app, &driver, id).await;
        assert_eq!(paid.status, StatusCode::OK, "{}", paid.text);
        assert_eq!(paid.body["status"], "authorised");
        assert_eq!(wallet(&app, &driver).await["paid_fen"], 10_000);

        // The pump sees the authorisation and dispenses less than was paid for.
        let auths = device(&app, &w, Method::GET, "/api/v1/device/authorisations", None).await;
        assert_eq!(auths.status, StatusCode::OK, "{}", auths.text);
        let auth = auths.body.as_array().unwrap().iter().find(|a| a["order_id"] == id).expect("authorisation").clone();
        assert_eq!(auth["preset_amount_fen"], 20_000);
        assert_eq!(auth["unit_price_fen"], 750);
        let mut s = sale(&w, w.nozzles[0], 15_000, 750, 20_000);
        s["authorisation_id"] = auth["id"].clone();
        let r = device(&app, &w, Method::POST, "/api/v1/device/sales", Some(&s)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        assert_eq!(r.body["order"]["status"], "completed");
        assert_eq!(r.body["order"]["refunded_fen"], 5_000, "预付退差");
        assert_eq!(r.body["order"]["gross_fen"], 15_000, "the order is worth what was dispensed");
        assert_eq!(r.body["consistent"], true);
        let wl = wallet(&app, &driver).await;
        assert_eq!(wl["paid_fen"], 15_000, "the unused ¥50 went back to the balance");
        assert_eq!(wl["points"], 150, "1 point per yuan paid by default");

        // Fuel left the tank: stock went down by the quantity, and only then.
        let tank = app.get(&format!("/api/v1/tanks/{}", w.tank)).await;
        assert_eq!(tank.body["book_stock"], -s["quantity"].as_i64().unwrap(), "{}", tank.text);
        // The same sale again is refused and moves nothing.
        let again = device(&app, &w, Method::POST, "/api/v1/device/sales", Some(&s)).await;
        assert_eq!((again.status, again.body["code"].as_str()), (StatusCode::CONFLICT, Some("sale_duplicate")));
        assert_eq!(wallet(&app, &driver).await["paid_fen"], 15_000);
        // Paying a completed order again is refused.
        let twice = pay_balance(&app, &driver, id).await;
        assert_eq!(twice.status, StatusCode::CONFLICT, "{}", twice.text);
        assert_ledger_sound(&app, &w).await;
    }

    async fn fifty_drivers_race_for_one_nozzle(app) {
        let w = world(&app, 1).await;
        let mut drivers = vec![];
        for i in 0..50 {
            drivers.push(member(&app, &w, &format!("race{i}-")).await);
        }
        let tasks: Vec<_> = drivers
            .iter()
            .map(|t| {
                let (app, t, station, nozzle) = (app.clone(), t.clone(), w.station, w.nozzles[0]);
                tokio::spawn(async move {
                    app.call_as(&t, Method::POST, "/api/v1/member/orders",
                        Some(&json!({"station_id": station, "nozzle_id": nozzle, "amount_fen": 10_000}))).await
                })
            })
            .collect();
        let mut won = 0;
        for t in tasks {
            let r = t.await.unwrap();
            match r.status {
                StatusCode::CREATED => won += 1,
                StatusCode::CONFLICT => assert_eq!(r.body["code"], "nozzle_held", "{}", r.text),
                other => panic!("unexpected {other}: {}", r.text),
            }
        }
        assert_eq!(won, 1, "exactly one driver holds the nozzle");
    }

    async fn fifty_parallel_spends_never_overspend_balance_or_coupon(app) {
        let w = world(&app, 50).await;
        let driver = member(&app, &w, "spender").await;
        topup(&app, &driver, 10_000).await;
        let me = app.call_as(&driver, Method::GET, "/api/v1/member/me", None).await.body["id"].as_i64().unwrap();
        let c = app
            .call(Method::POST, &format!("/api/v1/chains/{}/coupons", w.chain), Some(&json!({
                "member_ids": [me], "title": "无门槛5元", "rule": {"kind": "threshold", "min_fen": 0, "off_fen": 500},
                "stackable": false, "grade_ids": [], "valid_until": "2030-01-01T00:00:00Z",
            })))
            .await;
        assert_eq!(c.status, StatusCode::CREATED, "{}", c.text);
        let coupon = c.body["coupon_ids"][0].as_i64().unwrap();
        // 50 pre-orders of ¥10 on 50 nozzles: the balance covers 10 of them.
        let mut orders = vec![];
        for n in &w.nozzles {
            let r = preorder(&app, &driver, &w, *n, 1_000).await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
            orders.push(r.body["id"].as_i64().unwrap());
        }
        let tasks: Vec<_> = orders
            .iter()
            .map(|id| {
                let (app, t, id) = (app.clone(), driver.clone(), *id);
                tokio::spawn(async move {
                    app.call_as(&t, Method::POST, &format!("/api/v1/member/orders/{id}/pay"),
                        Some(&json!({"coupon_ids": [coupon], "use_balance": true, "use_channel": false}))).await
                })
            })
            .collect();
        let (mut paid, mut with_coupon) = (0, 0);
        for t in tasks {
            let r = t.await.unwrap();
            match r.status {
                StatusCode::OK => {
                    paid += 1;
                    if r.body["discount_fen"] == 500 {
                        with_coupon += 1;
                    }
                }
                StatusCode::CONFLICT => {
                    let code = r.body["code"].as_str().unwrap_or("");
                    assert!(["insufficient_balance", "coupon_used", "order_changed"].contains(&code), "{}", r.text);
                }
                other => panic!("unexpected {other}: {}", r.text),
            }
        }
        assert_eq!(with_coupon, 1, "one coupon is used once");
        // ¥100 covers nine ¥10 orders plus the one that cost ¥5 with the coupon, at most.
        assert!(paid <= 10, "{paid} orders paid from ¥100");
        let wl = wallet(&app, &driver).await;
        let spent = 10_000 - wl["paid_fen"].as_i64().unwrap();
        assert_eq!(spent, (paid - 1) * 1_000 + 500, "balance taken equals what paid orders cost");
        assert!(wl["paid_fen"].as_i64().unwrap() >= 0);
        assert_ledger_sound(&app, &w).await;
    }

    async fn pay_after_fueling_by_scanning_the_nozzle_and_the_channel(app) {
        let w = world(&app, 2).await;
        let driver = member(&app, &w, "postpay").await;
        let s = sale(&w, w.nozzles[1], 20_000, 800, 50_000);
        let r = device(&app, &w, Method::POST, "/api/v1/device/sales", Some(&s)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        assert_eq!(r.body["order"]["status"], "awaiting_payment");
        let claimed = app
            .call_as(&driver, Method::POST, "/api/v1/member/orders/claim", Some(&json!({"station_id": w.station, "nozzle_number": 2})))
            .await;
        assert_eq!(claimed.status, StatusCode::OK, "{}", claimed.text);
        assert_eq!(claimed.body["unit_price_fen"], 750, "the member price applies to the claimed sale");
        let id = claimed.body["id"].as_i64().unwrap();
        let payable = claimed.body["payable_fen"].as_i64().unwrap();
        assert_eq!(payable, (s["quantity"].as_i64().unwrap() * 750 + 500) / 1000);
        let p = app
            .call_as(&driver, Method::POST, &format!("/api/v1/member/orders/{id}/pay"), Some(&json!({"use_balance": true})))
            .await;
        assert_eq!(p.status, StatusCode::OK, "{}", p.text);
        assert_eq!(p.body["status"], "awaiting_payment");
        assert_eq!(p.body["payment"]["amount_fen"], payable, "nothing in the balance: all by channel");
        // The peer notifies twice; the order is paid once.
        app.pay.notify_twice(true);
        app.pay.confirm(p.body["payment"]["out_trade_no"].as_str().unwrap()).unwrap();
        let done = wait_status(&app, &driver, id, "completed").await;
        assert_eq!(done["paid_fen"], payable);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let o = app.get(&format!("/api/v1/orders/{id}")).await;
        assert_eq!(o.body["paid_fen"], payable, "a duplicate notification changes nothing");
        assert_ledger_sound(&app, &w).await;
    }

    async fn plate_pay_charges_the_balance_or_falls_back(app) {
        let w = world(&app, 1).await;
        let driver = member(&app, &w, "plate").await;
        let plate = format!("云A{}", &jiayou_testkit::unique_suffix()[..5].to_uppercase().replace(['I', 'O'], "1"));
        let v = app.call_as(&driver, Method::POST, "/api/v1/member/vehicles", Some(&json!({"plate": plate}))).await;
        assert_eq!(v.status, StatusCode::CREATED, "{}", v.text);
        let vid = v.body["id"].as_i64().unwrap();
        let on = app.call_as(&driver, Method::PUT, &format!("/api/v1/member/vehicles/{vid}/autopay"), Some(&json!({"enabled": true}))).await;
        assert_eq!(on.status, StatusCode::OK, "{}", on.text);
        topup(&app, &driver, 10_000).await;

        let mut s = sale(&w, w.nozzles[0], 8_000, 800, 10_000);
        s["plate"] = json!(plate);
        let r = device(&app, &w, Method::POST, "/api/v1/device/sales", Some(&s)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        assert_eq!(r.body["autopay"], "charged");
        assert_eq!(r.body["order"]["status"], "completed");
        let charged = r.body["order"]["paid_fen"].as_i64().unwrap();
        assert!(charged < 8_000, "member price applied: {charged}");
        assert_eq!(wallet(&app, &driver).await["paid_fen"], 10_000 - charged);

        // Not enough balance: the sale stays open for ordinary payment.
        let mut s2 = sale(&w, w.nozzles[0], 9_000, 800, 30_000);
        s2["plate"] = json!(plate);
        let r2 = device(&app, &w, Method::POST, "/api/v1/device/sales", Some(&s2)).await;
        assert_eq!(r2.body["autopay"], "failed", "{}", r2.text);
        assert_eq!(r2.body["order"]["status"], "awaiting_payment");
        assert_eq!(wallet(&app, &driver).await["paid_fen"], 10_000 - charged, "nothing taken on failure");
        assert_ledger_sound(&app, &w).await;
    }

    async fn counter_cash_sale_receipt_and_partial_refund(app) {
        let w = world(&app, 1).await;
        let s = sale(&w, w.nozzles[0], 30_000, 800, 40_000);
        let r = device(&app, &w, Method::POST, "/api/v1/device/sales", Some(&s)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let open = app.post("/api/v1/counter/sales", json!({"station_id": w.station, "nozzle_number": 1})).await;
        assert_eq!(open.status, StatusCode::OK, "{}", open.text);
        let id = open.body["id"].as_i64().unwrap();
        let payable = open.body["payable_fen"].as_i64().unwrap();
        let short = app.post(&format!("/api/v1/orders/{id}/collect"), json!({"tenders": [{"method": "cash", "amount_fen": payable - 1, "received_fen": 50_000}]})).await;
        assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", short.text);
        let paid = app.post(&format!("/api/v1/orders/{id}/collect"), json!({"tenders": [{"method": "cash", "amount_fen": payable, "received_fen": 50_000}]})).await;
        assert_eq!(paid.status, StatusCode::OK, "{}", paid.text);
        assert_eq!(paid.body["status"], "completed");
        let receipt = app.get(&format!("/api/v1/orders/{id}/receipt")).await;
        assert!(receipt.text.contains("找零"), "{}", receipt.text);
        assert!(receipt.text.contains(&paid.body["order_no"].as_str().unwrap().to_owned()));

        let too_much = app.post(&format!("/api/v1/orders/{id}/refunds"), json!({"amount_fen": payable + 1, "reason": "多退"})).await;
        assert_eq!(too_much.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", too_much.text);
        let part = app.post(&format!("/api/v1/orders/{id}/refunds"), json!({"amount_fen": 1_000, "reason": "油品投诉"})).await;
        assert_eq!(part.status, StatusCode::CREATED, "{}", part.text);
        assert_eq!(part.body["lines"], json!([{"tender": "cash", "fen": 1_000}]));
        let rest = app.post(&format!("/api/v1/orders/{id}/refunds"), json!({"reason": "全部退款"})).await;
        assert_eq!(rest.status, StatusCode::CREATED, "{}", rest.text);
        assert_eq!(rest.body["amount_fen"], payable - 1_000);
        let o = app.get(&format!("/api/v1/orders/{id}")).await;
        assert_eq!(o.body["status"], "refunded");
        let again = app.post(&format!("/api/v1/orders/{id}/refunds"), json!({"amount_fen": 1, "reason": "再退"})).await;
        assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text);
    }

    async fn cancelled_order_refunds_a_late_channel_success(app) {
        let w = world(&app, 1).await;
        let driver = member(&app, &w, "late").await;
        let o = preorder(&app, &driver, &w, w.nozzles[0], 5_000).await;
        let id = o.body["id"].as_i64().unwrap();
        let p = app.call_as(&driver, Method::POST, &format!("/api/v1/member/orders/{id}/pay"), Some(&json!({}))).await;
        assert_eq!(p.status, StatusCode::OK, "{}", p.text);
        let out = p.body["payment"]["out_trade_no"].as_str().unwrap().to_owned();
        let c = app.call_as(&driver, Method::POST, &format!("/api/v1/member/orders/{id}/cancel"), None).await;
        assert_eq!(c.status, StatusCode::OK, "{}", c.text);
        assert_eq!(c.body["status"], "cancelled");
        // The driver pays at the channel anyway; the success arrives for a cancelled order.
        app.pay.confirm(&out).unwrap();
        for _ in 0..40 {
            let o = app.get(&format!("/api/v1/orders/{id}")).await;
            if o.body["refunded_fen"] == 5_000 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let o = app.get(&format!("/api/v1/orders/{id}")).await;
        assert_eq!(o.body["status"], "cancelled", "a late success never reopens the order");
        assert_eq!(o.body["refunded_fen"], 5_000, "{}", o.text);
        let refunds = app.get(&format!("/api/v1/orders/{id}/refunds")).await;
        assert_eq!(refunds.body[0]["kind"], "late_payment", "{}", refunds.text);
        // Paying the cancelled order is refused.
        let again = pay_balance(&app, &driver, id).await;
        assert_eq!((again.status, again.body["code"].as_str()), (StatusCode::CONFLICT, Some("order_closed")));
        assert_ledger_sound(&app, &w).await;
    }

    async fn a_retried_call_with_the_same_key_replays_and_moves_nothing(app) {
        let w = world(&app, 2).await;
        let driver = member(&app, &w, "idem").await;
        topup(&app, &driver, 5_000).await;
        let o = preorder(&app, &driver, &w, w.nozzles[0], 2_000).await;
        let id = o.body["id"].as_i64().unwrap();
        let key = format!("k-{}", jiayou_testkit::unique_suffix());
        let call = || async {
            let resp = reqwest::Client::new()
                .post(format!("{}/api/v1/member/orders/{id}/pay", app.base_url))
                .bearer_auth(&driver)
                .header("Idempotency-Key", &key)
                .json(&json!({"use_balance": true, "use_channel": false}))
                .send()
                .await
                .unwrap();
            (resp.status(), resp.json::<Value>().await.unwrap())
        };
        let (s1, b1) = call().await;
        let (s2, b2) = call().await;
        assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK));
        assert_eq!(b1, b2, "the stored response is replayed");
        assert_eq!(wallet(&app, &driver).await["paid_fen"], 3_000, "paid once");
        assert_ledger_sound(&app, &w).await;
    }

    async fn injected_failures_leave_no_partial_state_and_the_job_settles(app) {
        let w = world(&app, 3).await;
        let driver = member(&app, &w, "fault").await;
        // 1. The channel has the payment but we fail before recording its answer.
        let o = preorder(&app, &driver, &w, w.nozzles[0], 3_000).await;
        let id = o.body["id"].as_i64().unwrap();
        app.app.faults.arm("pay.after_channel");
        let p = app.call_as(&driver, Method::POST, &format!("/api/v1/member/orders/{id}/pay"), Some(&json!({}))).await;
        assert_eq!(p.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", p.text);
        let order = app.get(&format!("/api/v1/orders/{id}")).await.body;
        assert_eq!(order["status"], "awaiting_payment");
        let out = order["payment"]["out_trade_no"].as_str().unwrap().to_owned();
        // The driver still pays at the channel; a lost notification is settled by the job.
        app.pay.drop_notifications(true);
        app.pay.confirm(&out).unwrap();
        let report = app.app.run_jobs(jiayou_store::now_us() + 60_000_000).await.unwrap();
        assert!(report.settled >= 1, "{report:?}");
        assert_eq!(app.get(&format!("/api/v1/orders/{id}")).await.body["status"], "authorised");

        // 2. Applying a success fails before commit: nothing half-applied, the job retries.
        app.pay.drop_notifications(false);
        topup(&app, &driver, 1_000).await;
        app.pay.drop_notifications(true);
        let o2 = preorder(&app, &driver, &w, w.nozzles[1], 2_000).await;
        let id2 = o2.body["id"].as_i64().unwrap();
        let p2 = app.call_as(&driver, Method::POST, &format!("/api/v1/member/orders/{id2}/pay"), Some(&json!({"use_balance": false}))).await;
        let out2 = p2.body["payment"]["out_trade_no"].as_str().unwrap().to_owned();
        app.pay.confirm(&out2).unwrap();
        app.app.faults.arm("settle.before_commit");
        let _ = app.app.run_jobs(jiayou_store::now_us() + 60_000_000).await;
        let mid = app.get(&format!("/api/v1/orders/{id2}")).await.body;
        assert_eq!(mid["status"], "awaiting_payment", "rolled back whole");
        assert_eq!(mid["payment"]["status"], "pending");
        app.app.run_jobs(jiayou_store::now_us() + 150_000_000).await.unwrap();
        assert_eq!(app.get(&format!("/api/v1/orders/{id2}")).await.body["status"], "authorised");

        // 3. Everything committed but the response is lost: the retry sees the paid order.
        let o3 = preorder(&app, &driver, &w, w.nozzles[2], 500).await;
        let id3 = o3.body["id"].as_i64().unwrap();
        app.pay.drop_notifications(false);
        app.app.faults.arm("pay.after_commit");
        let p3 = app.call_as(&driver, Method::POST, &format!("/api/v1/member/orders/{id3}/pay"), Some(&json!({"use_balance": false}))).await;
        assert_eq!(p3.status, StatusCode::INTERNAL_SERVER_ERROR);
        let again = app.call_as(&driver, Method::POST, &format!("/api/v1/member/orders/{id3}/pay"), Some(&json!({"use_balance": false}))).await;
        assert_eq!(again.status, StatusCode::OK, "{}", again.text);
        assert_eq!(again.body["payment"]["status"], "pending", "the same payment, not a second one");
        assert_ledger_sound(&app, &w).await;
    }

    async fn inconsistent_sale_raises_an_alert_and_still_moves_stock(app) {
        let w = world(&app, 1).await;
        let mut s = sale(&w, w.nozzles[0], 10_000, 800, 12_500);
        // 12.5 L at ¥8.00 is ¥100.00; the pump says ¥103.00: far outside one step + 1 fen.
        s["amount_fen"] = json!(10_300);
        let r = device(&app, &w, Method::POST, "/api/v1/device/sales", Some(&s)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        assert_eq!(r.body["consistent"], false);
        let alerts = app.get(&format!("/api/v1/alerts?chain_id={}", w.chain)).await;
        let a = alerts.body.as_array().unwrap().iter().find(|a| a["kind"] == "sale_inconsistent").expect("alert").clone();
        assert_eq!(a["detail"]["expected_amount_fen"], 10_000, "{a}");
        assert_eq!(a["pump_sale_id"], r.body["id"]);
        let tank = app.get(&format!("/api/v1/tanks/{}", w.tank)).await;
        assert_eq!(tank.body["book_stock"], -12_500);
        // A sale of another station's nozzle, or of the wrong grade, is refused.
        let mut wrong = sale(&w, w.nozzles[0], 1_000, 800, 13_750);
        wrong["grade_id"] = json!(w.grade + 1_000);
        let r = device(&app, &w, Method::POST, "/api/v1/device/sales", Some(&wrong)).await;
        assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "grade_id"), "{}", r.text);
    }

    async fn counter_takes_a_payment_code_and_a_members_balance(app) {
        let w = world(&app, 2).await;
        let driver = member(&app, &w, "counter").await;
        topup(&app, &driver, 20_000).await;
        let me = app.call_as(&driver, Method::GET, "/api/v1/member/me", None).await.body["id"].as_i64().unwrap();

        device(&app, &w, Method::POST, "/api/v1/device/sales", Some(&sale(&w, w.nozzles[0], 8_000, 800, 10_000))).await;
        let open = app.post("/api/v1/counter/sales", json!({"station_id": w.station, "nozzle_number": 1})).await;
        let id = open.body["id"].as_i64().unwrap();
        let payable = open.body["payable_fen"].as_i64().unwrap();
        let bad = app
            .post(&format!("/api/v1/orders/{id}/collect"), json!({"tenders": [{"method": "payment_code", "amount_fen": payable, "auth_code": "999"}]}))
            .await;
        assert_eq!((bad.status, bad.code()), (StatusCode::BAD_GATEWAY, "payment_refused"), "{}", bad.text);
        assert_eq!(app.get(&format!("/api/v1/orders/{id}")).await.body["status"], "awaiting_payment", "nothing half-paid");
        let paid = app
            .post(&format!("/api/v1/orders/{id}/collect"), json!({"tenders": [{"method": "payment_code", "amount_fen": payable, "auth_code": "134567890123456780"}]}))
            .await;
        assert_eq!(paid.status, StatusCode::OK, "{}", paid.text);
        assert_eq!(paid.body["status"], "completed");

        // Store goods paid half from the member's balance, half in cash.
        let goods = app
            .post("/api/v1/counter/sales", json!({"station_id": w.station, "items": [{"name": "矿泉水", "unit_price_fen": 300, "count": 4}]}))
            .await;
        assert_eq!(goods.status, StatusCode::OK, "{}", goods.text);
        assert_eq!(goods.body["gross_fen"], 1_200);
        let gid = goods.body["id"].as_i64().unwrap();
        let mixed = app
            .post(&format!("/api/v1/orders/{gid}/collect"), json!({"tenders": [
                {"method": "balance", "amount_fen": 600, "member_id": me},
                {"method": "cash", "amount_fen": 600, "received_fen": 1_000},
            ]}))
            .await;
        assert_eq!(mixed.status, StatusCode::OK, "{}", mixed.text);
        assert_eq!(wallet(&app, &driver).await["paid_fen"], 19_400);
        // A balance tender above the balance is refused and takes nothing.
        let g2 = app.post("/api/v1/counter/sales", json!({"station_id": w.station, "items": [{"name": "洗车", "unit_price_fen": 30_000, "count": 1}]})).await;
        let short = app
            .post(&format!("/api/v1/orders/{}/collect", g2.body["id"]), json!({"tenders": [{"method": "balance", "amount_fen": 30_000, "member_id": me}]}))
            .await;
        assert_eq!((short.status, short.code()), (StatusCode::CONFLICT, "insufficient_balance"), "{}", short.text);
        assert_eq!(wallet(&app, &driver).await["paid_fen"], 19_400);
        assert_ledger_sound(&app, &w).await;
    }

    async fn a_refund_of_channel_money_goes_back_through_the_channel(app) {
        let w = world(&app, 1).await;
        let driver = member(&app, &w, "chrefund").await;
        device(&app, &w, Method::POST, "/api/v1/device/sales", Some(&sale(&w, w.nozzles[0], 6_000, 800, 7_500))).await;
        let c = app.call_as(&driver, Method::POST, "/api/v1/member/orders/claim", Some(&json!({"station_id": w.station, "nozzle_number": 1}))).await;
        let id = c.body["id"].as_i64().unwrap();
        let p = app.call_as(&driver, Method::POST, &format!("/api/v1/member/orders/{id}/pay"), Some(&json!({}))).await;
        let out = p.body["payment"]["out_trade_no"].as_str().unwrap().to_owned();
        app.pay.confirm(&out).unwrap();
        wait_status(&app, &driver, id, "completed").await;
        let r = app.post(&format!("/api/v1/orders/{id}/refunds"), json!({"amount_fen": 1_000, "reason": "少加了"})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        assert_eq!(r.body["lines"], json!([{"tender": "channel", "fen": 1_000}]));
        // The peer settles the refund and notifies us.
        let mut status = String::new();
        for _ in 0..40 {
            let list = app.get(&format!("/api/v1/orders/{id}/refunds")).await;
            status = list.body[0]["status"].as_str().unwrap_or("").to_owned();
            if status == "succeeded" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(status, "succeeded");
        let refund_no = app.get(&format!("/api/v1/orders/{id}/refunds")).await.body[0]["out_refund_no"].as_str().unwrap().to_owned();
        assert!(app.pay.refund(&refund_no).is_some(), "the channel has the refund");
    }

    async fn an_unpaid_hold_expires_and_gives_everything_back(app) {
        let w = world(&app, 1).await;
        let driver = member(&app, &w, "expire").await;
        let o = preorder(&app, &driver, &w, w.nozzles[0], 5_000).await;
        let id = o.body["id"].as_i64().unwrap();
        let other = member(&app, &w, "waiting").await;
        assert_eq!(preorder(&app, &other, &w, w.nozzles[0], 5_000).await.status, StatusCode::CONFLICT);
        // Nothing happens before the hold runs out …
        app.app.run_jobs(jiayou_store::now_us()).await.unwrap();
        assert_eq!(app.get(&format!("/api/v1/orders/{id}")).await.body["status"], "awaiting_payment");
        // … then the order expires and the nozzle is free again.
        let report = app.app.run_jobs(jiayou_store::now_us() + 3_600_000_000).await.unwrap();
        assert!(report.expired >= 1, "{report:?}");
        assert_eq!(app.get(&format!("/api/v1/orders/{id}")).await.body["status"], "expired");
        assert_eq!(preorder(&app, &other, &w, w.nozzles[0], 5_000).await.status, StatusCode::CREATED);
        let again = pay_balance(&app, &driver, id).await;
        assert_eq!((again.status, again.body["code"].as_str()), (StatusCode::CONFLICT, Some("order_closed")));
    }

    async fn an_attendant_sees_the_sales_of_their_own_nozzles_only(app) {
        let w = world(&app, 2).await;
        let roles = app.get(&format!("/api/v1/roles?chain_id={}", w.chain)).await.body;
        let role = roles.as_array().unwrap().iter().find(|r| r["code"] == "attendant").unwrap()["id"].as_i64().unwrap();
        let staff = app
            .create("/api/v1/staff", json!({"chain_id": w.chain, "username": "jyy", "display_name": "加油员", "password": "Jiayou-2026!"}))
            .await["id"]
            .as_i64()
            .unwrap();
        app.put(&format!("/api/v1/staff/{staff}/grants"), json!({"grants": [{"role_id": role, "station_id": w.station}]})).await;
        let r = app.put(&format!("/api/v1/staff/{staff}/nozzles"), json!({"nozzle_ids": [w.nozzles[0]]})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let mine = device(&app, &w, Method::POST, "/api/v1/device/sales", Some(&sale(&w, w.nozzles[0], 5_000, 800, 6_250))).await;
        let theirs = device(&app, &w, Method::POST, "/api/v1/device/sales", Some(&sale(&w, w.nozzles[1], 7_000, 800, 8_750))).await;
        let token = app.login(&w.chain_code, "jyy", "Jiayou-2026!").await;
        let list = app.call_as(&token, Method::GET, &format!("/api/v1/orders?chain_id={}", w.chain), None).await;
        assert_eq!(list.status, StatusCode::OK, "{}", list.text);
        let ids: Vec<i64> = list.body["items"].as_array().unwrap().iter().map(|o| o["id"].as_i64().unwrap()).collect();
        assert_eq!(ids, vec![mine.body["order"]["id"].as_i64().unwrap()], "only the assigned nozzle's sale");
        let other = app.call_as(&token, Method::GET, &format!("/api/v1/orders/{}", theirs.body["order"]["id"]), None).await;
        assert_eq!(other.status, StatusCode::NOT_FOUND, "{}", other.text);
        let own = app.call_as(&token, Method::GET, &format!("/api/v1/orders/{}", mine.body["order"]["id"]), None).await;
        assert_eq!(own.status, StatusCode::OK, "{}", own.text);
    }

    async fn a_crash_before_the_channel_call_gives_the_balance_back_when_the_hold_ends(app) {
        let w = world(&app, 1).await;
        let driver = member(&app, &w, "crash").await;
        topup(&app, &driver, 1_000).await;
        let o = preorder(&app, &driver, &w, w.nozzles[0], 3_000).await;
        let id = o.body["id"].as_i64().unwrap();
        app.app.faults.arm("pay.before_channel");
        // ¥10 from the balance, ¥20 through the channel, which is never called.
        let p = app.call_as(&driver, Method::POST, &format!("/api/v1/member/orders/{id}/pay"), Some(&json!({}))).await;
        assert_eq!(p.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", p.text);
        assert_eq!(wallet(&app, &driver).await["paid_fen"], 0, "the balance part is taken with the plan");
        // The channel has never heard of the payment; once the hold is over the job fails
        // it, the plan is undone and the order expires: the balance is back.
        app.app.run_jobs(jiayou_store::now_us() + 3_600_000_000).await.unwrap();
        app.app.run_jobs(jiayou_store::now_us() + 3_700_000_000).await.unwrap();
        let order = app.get(&format!("/api/v1/orders/{id}")).await.body;
        assert_eq!(order["status"], "expired", "{order}");
        assert_eq!(order["payment"]["status"], "failed");
        assert_eq!(wallet(&app, &driver).await["paid_fen"], 1_000);
        assert_ledger_sound(&app, &w).await;
    }

    async fn a_channel_timeout_leaves_the_order_awaiting_and_the_job_settles_it(app) {
        let w = world(&app, 1).await;
        let driver = member(&app, &w, "timeout").await;
        let o = preorder(&app, &driver, &w, w.nozzles[0], 2_000).await;
        let id = o.body["id"].as_i64().unwrap();
        // The peer answers after the client gave up (2 s): the outcome is unknown to us.
        app.pay.delay_next_responses(1, Duration::from_secs(3));
        let p = app.call_as(&driver, Method::POST, &format!("/api/v1/member/orders/{id}/pay"), Some(&json!({}))).await;
        assert_eq!(p.status, StatusCode::OK, "{}", p.text);
        assert_eq!(p.body["status"], "awaiting_payment");
        assert_eq!(p.body["payment"]["status"], "pending");
        let out = p.body["payment"]["out_trade_no"].as_str().unwrap().to_owned();
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        app.pay.drop_notifications(true);
        app.pay.confirm(&out).expect("the peer has the payment");
        let report = app.app.run_jobs(jiayou_store::now_us() + 60_000_000).await.unwrap();
        assert_eq!(report.settled, 1, "{report:?}");
        assert_eq!(app.get(&format!("/api/v1/orders/{id}")).await.body["status"], "authorised");
    }

    async fn a_top_up_credits_the_bonus_rule_in_force(app) {
        let w = world(&app, 1).await;
        let rule = app
            .post(&format!("/api/v1/chains/{}/topup-rules", w.chain), json!({
                "name": "充100送10", "min_amount_fen": 10_000, "bonus_fen": 1_000, "bonus_points": 20,
                "coupon": {"title": "满200减20", "rule": {"kind": "threshold", "min_fen": 20_000, "off_fen": 2_000}, "count": 2, "valid_days": 30},
            }))
            .await;
        assert_eq!(rule.status, StatusCode::CREATED, "{}", rule.text);
        let driver = member(&app, &w, "bonus").await;
        topup(&app, &driver, 5_000).await; // below the threshold: no bonus
        topup(&app, &driver, 10_000).await;
        let wl = wallet(&app, &driver).await;
        assert_eq!((wl["paid_fen"].as_i64(), wl["bonus_fen"].as_i64(), wl["points"].as_i64()), (Some(15_000), Some(1_000), Some(20)));
        let coupons = app.call_as(&driver, Method::GET, "/api/v1/member/coupons", None).await;
        let titles: Vec<&str> = coupons.body.as_array().unwrap().iter().map(|c| c["title"].as_str().unwrap()).collect();
        assert_eq!(titles, vec!["满200减20", "满200减20"], "{}", coupons.text);
        // Spending ¥80 takes paid and bonus money in proportion (15:1).
        let o = preorder(&app, &driver, &w, w.nozzles[0], 8_000).await;
        let paid = app
            .call_as(&driver, Method::POST, &format!("/api/v1/member/orders/{}/pay", o.body["id"]), Some(&json!({"points": 0, "use_channel": false})))
            .await;
        assert_eq!(paid.status, StatusCode::OK, "{}", paid.text);
        let wl = wallet(&app, &driver).await;
        assert_eq!((wl["paid_fen"].as_i64(), wl["bonus_fen"].as_i64()), (Some(7_500), Some(500)), "{wl}");
        assert_ledger_sound(&app, &w).await;
    }
}
