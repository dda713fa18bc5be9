//! A shared fixture of the money-path tests: a chain with one station, a 92# grade, a
//! tank, a pump with nozzles, a registered pump controller, and helpers to sign device
//! calls, sign members in and wait for an order's status.

use std::time::Duration;

use jiayou_domain::device_auth::{canonical_request, sign};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{Reply, TestApp};

/// A chain with one station, a 92# grade at ¥8.00 (member ¥7.50), a tank with stock,
/// one pump with `nozzles` nozzles, a registered pump controller and a member.
pub struct World {
    pub chain: i64,
    pub chain_code: String,
    pub station: i64,
    pub grade: i64,
    pub tank: i64,
    pub nozzles: Vec<i64>,
    pub device_code: String,
    pub device_secret: String,
}

pub async fn world(app: &TestApp, nozzles: usize) -> World {
    let (chain, chain_code) = app.new_chain_with_code().await;
    let grade = app
        .create("/api/v1/grades", json!({"chain_id": chain, "code": "92", "name": "92#", "energy_type": "gasoline"}))
        .await["id"]
        .as_i64()
        .unwrap();
    let station = app
        .create(
            "/api/v1/stations",
            json!({"chain_id": chain, "code": "S1", "name": "一号站", "address": "昆明", "lng": 102.7, "lat": 25.0}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let tank = app
        .create(
            &format!("/api/v1/stations/{station}/tanks"),
            json!({"number": 1, "grade_id": grade, "capacity": 30_000_000, "safety_min": 3_000_000}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let pump =
        app.create(&format!("/api/v1/stations/{station}/pumps"), json!({"number": 1})).await["id"].as_i64().unwrap();
    let mut ids = vec![];
    for n in 1..=nozzles {
        ids.push(
            app.create(
                &format!("/api/v1/stations/{station}/nozzles"),
                json!({"pump_id": pump, "number": n, "tank_id": tank}),
            )
            .await["id"]
                .as_i64()
                .unwrap(),
        );
    }
    let r = app
        .put(
            &format!("/api/v1/stations/{station}/prices/{grade}"),
            json!({"list_price_fen": 800, "member_price_fen": 750}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let code = format!("pump-{}", crate::unique_suffix());
    let d = app.create(&format!("/api/v1/stations/{station}/devices"), json!({"code": code, "name": "一号机"})).await;
    World {
        chain,
        chain_code,
        station,
        grade,
        tank,
        nozzles: ids,
        device_code: code,
        device_secret: d["secret"].as_str().expect("secret").to_owned(),
    }
}

/// A signed device call.
pub async fn device(app: &TestApp, w: &World, method: Method, path: &str, body: Option<&Value>) -> Reply {
    let bytes = body.map(|b| b.to_string()).unwrap_or_default();
    let ts = chrono::Utc::now().timestamp();
    let nonce = format!("n{}{}", crate::unique_suffix(), rand_hex());
    let sig = sign(w.device_secret.as_bytes(), &canonical_request(method.as_str(), path, ts, &nonce, bytes.as_bytes()));
    let mut req = reqwest::Client::new()
        .request(method, format!("{}{path}", app.base_url))
        .header("X-Device-Id", &w.device_code)
        .header("X-Timestamp", ts.to_string())
        .header("X-Nonce", nonce)
        .header("X-Signature", sig);
    if body.is_some() {
        req = req.header("Content-Type", "application/json").body(bytes);
    }
    let resp = req.send().await.expect("device request");
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    Reply {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        content_type: String::new(),
        text,
        headers: Default::default(),
    }
}

fn rand_hex() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!("{:016x}", N.fetch_add(1, Ordering::Relaxed) ^ 0x9e37_79b9_7f4a_7c15)
}

pub async fn member(app: &TestApp, w: &World, name: &str) -> String {
    app.member_login(&w.chain_code, &format!("{name}{}", crate::unique_suffix())).await
}

/// Waits until the member's order leaves `from` (long poll on the version).
pub async fn wait_status(app: &TestApp, token: &str, id: i64, want: &str) -> Value {
    for _ in 0..40 {
        let r = app.call_as(token, Method::GET, &format!("/api/v1/member/orders/{id}"), None).await;
        if r.body["status"] == want {
            return r.body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("order {id} never became {want}");
}
