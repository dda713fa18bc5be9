//! Abnormal-order alerts (B3) on every database: the scan raises what only time shows —
//! a payment left unanswered, a large amount, a nozzle stuck in fuelling, a run of
//! refunds — once each; staff acknowledge and resolve them, once.

use jiayou_store::entity::{nozzle_state, payment};
use jiayou_testkit::fixtures::{device, member, world};
use jiayou_testkit::{TestApp, on_each_backend};
use reqwest::{Method, StatusCode};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

async fn alerts_of(app: &TestApp, chain: i64, kind: &str) -> Vec<Value> {
    let r = app.get(&format!("/api/v1/alerts?chain_id={chain}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body.as_array().unwrap().iter().filter(|a| a["kind"] == kind).cloned().collect()
}

/// A counter sale of store goods worth `fen`, paid in cash.
async fn cash_sale(app: &TestApp, station: i64, fen: i64) -> i64 {
    let goods = json!({"station_id": station, "items": [{"name": "机油", "unit_price_fen": fen, "count": 1}]});
    let sale = app.call(Method::POST, "/api/v1/counter/sales", Some(&goods)).await;
    assert_eq!(sale.status, StatusCode::OK, "{}", sale.text);
    let id = sale.body["id"].as_i64().unwrap();
    let tenders = json!({"tenders": [{"method": "cash", "amount_fen": fen, "received_fen": fen}]});
    let paid = app.call(Method::POST, &format!("/api/v1/orders/{id}/collect"), Some(&tenders)).await;
    assert_eq!(paid.body["status"], "completed", "{}", paid.text);
    id
}

fn now() -> i64 {
    jiayou_store::now_us()
}

on_each_backend! {
    async fn an_unanswered_payment_is_raised_once_then_acknowledged_and_resolved(app) {
        let w = world(&app, 1).await;
        let driver = member(&app, &w, "slow").await;
        let o = app
            .call_as(&driver, Method::POST, "/api/v1/member/orders",
                Some(&json!({"station_id": w.station, "nozzle_id": w.nozzles[0], "amount_fen": 5_000})))
            .await;
        let id = o.body["id"].as_i64().unwrap();
        let p = app.call_as(&driver, Method::POST, &format!("/api/v1/member/orders/{id}/pay"), Some(&json!({}))).await;
        assert_eq!(p.body["payment"]["status"], "pending", "{}", p.text);
        // (Counted per chain: on MariaDB the tests share one database.)
        app.app.scan_alerts(now(), true).await.unwrap();
        assert!(alerts_of(&app, w.chain, "payment_timeout").await.is_empty(), "a fresh payment is no alert");
        // Eleven minutes without an answer.
        payment::Entity::update_many()
            .col_expr(payment::Column::CreatedAtUs, Expr::value(now() - 11 * 60_000_000))
            .filter(payment::Column::OrderId.eq(id))
            .exec(app.app.db.writer())
            .await
            .unwrap();
        assert!(app.app.scan_alerts(now(), true).await.unwrap() >= 1);
        app.app.scan_alerts(now(), true).await.unwrap();
        let found = alerts_of(&app, w.chain, "payment_timeout").await;
        assert_eq!(found.len(), 1, "raised once");
        assert_eq!(found[0]["order_id"], id);
        let aid = found[0]["id"].as_i64().unwrap();
        let ack = app.post(&format!("/api/v1/alerts/{aid}/acknowledge"), json!({})).await;
        assert_eq!((ack.status, ack.body["status"].as_str()), (StatusCode::OK, Some("acknowledged")), "{}", ack.text);
        let again = app.post(&format!("/api/v1/alerts/{aid}/acknowledge"), json!({})).await;
        assert_eq!((again.status, again.code()), (StatusCode::CONFLICT, "alert_state"));
        let long = app.post(&format!("/api/v1/alerts/{aid}/resolve"), json!({"note": "长".repeat(201)})).await;
        assert_eq!(long.status, StatusCode::UNPROCESSABLE_ENTITY);
        let done = app.post(&format!("/api/v1/alerts/{aid}/resolve"), json!({"note": "渠道已确认，顾客未付款"})).await;
        assert_eq!(done.body["status"], "resolved", "{}", done.text);
        let twice = app.post(&format!("/api/v1/alerts/{aid}/resolve"), json!({})).await;
        assert_eq!((twice.status, twice.code()), (StatusCode::CONFLICT, "alert_state"));
        let missing = app.post("/api/v1/alerts/987654321/resolve", json!({})).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
    }

    async fn large_amounts_stuck_nozzles_and_refund_spikes_are_raised(app) {
        let w = world(&app, 1).await;
        // A large amount (¥2,000) and a small one.
        let big = cash_sale(&app, w.station, 200_000).await;
        cash_sale(&app, w.station, 199_999).await;
        // A nozzle fuelling for 25 minutes.
        let r = device(&app, &w, Method::POST, &format!("/api/v1/device/nozzles/{}/status", w.nozzles[0]),
            Some(&json!({"status": "fuelling"}))).await;
        assert!(r.status.is_success(), "{}", r.text);
        nozzle_state::Entity::update_many()
            .col_expr(nozzle_state::Column::UpdatedAtUs, Expr::value(now() - 25 * 60_000_000))
            .filter(nozzle_state::Column::NozzleId.eq(w.nozzles[0]))
            .exec(app.app.db.writer())
            .await
            .unwrap();
        // Five refunds within the hour.
        for _ in 0..5 {
            let id = cash_sale(&app, w.station, 1_000).await;
            let r = app.post(&format!("/api/v1/orders/{id}/refunds"), json!({"reason": "顾客退货"})).await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        }
        app.app.scan_alerts(now(), true).await.unwrap();
        app.app.scan_alerts(now(), true).await.unwrap();
        let all = app.get(&format!("/api/v1/alerts?chain_id={}", w.chain)).await;
        assert_eq!(all.body.as_array().unwrap().len(), 3, "large, stuck, spike, each once: {}", all.text);
        let large = alerts_of(&app, w.chain, "large_amount").await;
        assert_eq!(large.len(), 1, "only the ¥2,000 one");
        assert_eq!(large[0]["order_id"], big);
        let stuck = alerts_of(&app, w.chain, "nozzle_stuck").await;
        assert_eq!(stuck[0]["detail"]["nozzle_id"], w.nozzles[0]);
        let spike = alerts_of(&app, w.chain, "refund_spike").await;
        assert_eq!(spike[0]["detail"]["refunds"], 5);
    }
}
