//! Pump controllers (F1) and idempotency keys through the real HTTP API, on every
//! configured database: registering devices and their keys, signed device requests
//! (every way of getting one wrong), and Stripe-style idempotent registration.
//! Each test makes its own chain; device codes and keys carry a unique suffix because
//! on MariaDB the tests share a database (device codes are unique deployment-wide).

use jiayou_app::idempotency::fingerprint;
use jiayou_domain::device_auth::{canonical_request, sign};
use jiayou_store::entity::{device, idempotency_key};
use jiayou_store::sea_orm::sea_query::Expr;
use jiayou_store::sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use jiayou_testkit::{Reply, TestApp, on_each_backend, unique_suffix};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const PASSWORD: &str = "Jiayou-2026!";
const PING: &str = "/api/v1/device/ping";

async fn station(app: &TestApp, chain: i64, code: &str) -> i64 {
    app.create(
        "/api/v1/stations",
        json!({"chain_id": chain, "code": code, "name": "测试站", "address": "昆明市北京路1号", "lng": 102.72, "lat": 25.04}),
    )
    .await["id"]
        .as_i64()
        .unwrap()
}

fn new_code() -> String {
    format!("KM-P{}", unique_suffix())
}

/// Registers a device as the admin; returns (id, code, secret).
async fn register(app: &TestApp, station: i64) -> (i64, String, String) {
    let code = new_code();
    let r =
        app.create(&format!("/api/v1/stations/{station}/devices"), json!({"code": code, "name": "1号机控制器"})).await;
    (r["device"]["id"].as_i64().unwrap(), code, r["secret"].as_str().unwrap().to_owned())
}

async fn audit_rows(app: &TestApp, chain: i64, action: &str) -> Vec<Value> {
    let r = app.get(&format!("/api/v1/audit?chain_id={chain}&action={action}&per_page=200")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body["items"].as_array().unwrap().clone()
}

/// A staff member of `chain` holding built-in `role` (at `station`, or chain-wide);
/// returns the session token.
async fn staff(app: &TestApp, chain: i64, role: &str, station: Option<i64>) -> String {
    let chain_code = app.get(&format!("/api/v1/chains/{chain}")).await.body["code"].as_str().unwrap().to_owned();
    let roles = app.get(&format!("/api/v1/roles?chain_id={chain}")).await.body;
    let role_id = roles.as_array().unwrap().iter().find(|r| r["code"] == role).unwrap()["id"].as_i64().unwrap();
    let username = format!("{}.{}", role.replace('_', "."), unique_suffix());
    let s = app
        .create(
            "/api/v1/staff",
            json!({"chain_id": chain, "username": username, "display_name": role, "password": PASSWORD}),
        )
        .await;
    let r = app
        .put(
            &format!("/api/v1/staff/{}/grants", s["id"]),
            json!({"grants": [{"role_id": role_id, "station_id": station}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    app.login(&chain_code, &username, PASSWORD).await
}

fn now_s() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn nonce() -> String {
    format!("nonce-{:0>16}", unique_suffix())
}

/// A device request built by hand, so that each part can be got wrong.
struct Signed {
    method: Method,
    /// What is signed as the path and query.
    signed_path: String,
    /// What is requested (normally the same).
    path: String,
    code: String,
    secret: String,
    ts: i64,
    nonce: String,
    /// What is signed as the body.
    signed_body: Vec<u8>,
    /// What is sent (normally the same).
    body: Vec<u8>,
    /// Headers left out.
    omit: Vec<&'static str>,
}

impl Signed {
    fn ping(code: &str, secret: &str) -> Signed {
        Signed {
            method: Method::GET,
            signed_path: PING.into(),
            path: PING.into(),
            code: code.into(),
            secret: secret.into(),
            ts: now_s(),
            nonce: nonce(),
            signed_body: vec![],
            body: vec![],
            omit: vec![],
        }
    }

    async fn send(&self, app: &TestApp) -> Reply {
        let canonical =
            canonical_request(self.method.as_str(), &self.signed_path, self.ts, &self.nonce, &self.signed_body);
        let signature = sign(self.secret.as_bytes(), &canonical);
        let mut req = reqwest::Client::new().request(self.method.clone(), format!("{}{}", app.base_url, self.path));
        for (name, value) in [
            ("X-Device-Id", self.code.clone()),
            ("X-Timestamp", self.ts.to_string()),
            ("X-Nonce", self.nonce.clone()),
            ("X-Signature", signature),
        ] {
            if !self.omit.contains(&name) {
                req = req.header(name, value);
            }
        }
        if !self.body.is_empty() {
            req = req.header("content-type", "application/json").body(self.body.clone());
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let text = res.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, body, content_type, text, headers }
    }
}

/// Asserts a 401 device refusal with `code`, a zh-CN detail and the device challenge.
fn refused(r: &Reply, code: &str, what: &str) {
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, code), "{what}: {}", r.text);
    assert_eq!(r.content_type, "application/problem+json", "{what}");
    assert!(!r.body["detail"].as_str().unwrap_or("").is_empty(), "{what}: {}", r.text);
    assert!(r.header("www-authenticate").starts_with("HMAC-SHA256"), "{what}: {:?}", r.headers);
}

async fn idem_rows(app: &TestApp, scope: &str, key: &str) -> Vec<idempotency_key::Model> {
    idempotency_key::Entity::find()
        .filter(idempotency_key::Column::Scope.eq(scope))
        .filter(idempotency_key::Column::IdemKey.eq(key))
        .all(app.app.db.reader())
        .await
        .unwrap()
}

async fn post_with_key(app: &TestApp, path: &str, key: &str, body: &Value) -> Reply {
    let res = reqwest::Client::new()
        .post(format!("{}{path}", app.base_url))
        .bearer_auth(jiayou_testkit::ADMIN_TOKEN)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let text = res.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply { status, body, content_type, text, headers }
}

on_each_backend! {
    async fn device_lifecycle_is_audited_and_secrets_are_shown_once(app) {
        let chain = app.new_chain().await;
        let st = station(&app, chain, "DV1").await;
        let code = new_code();
        let r = app.post(&format!("/api/v1/stations/{st}/devices"), json!({"code": code, "name": " 1号机控制器 "})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let secret = r.body["secret"].as_str().unwrap().to_owned();
        assert_eq!(secret.len(), 64);
        assert!(secret.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{secret}");
        let dev = r.body["device"].clone();
        let id = dev["id"].as_i64().unwrap();
        assert_eq!((dev["chain_id"].as_i64(), dev["station_id"].as_i64()), (Some(chain), Some(st)));
        assert_eq!((dev["code"].as_str(), dev["name"].as_str()), (Some(code.as_str()), Some("1号机控制器")));
        assert!(dev["created_at"].is_string() && dev["last_seen_at"].is_null() && dev["retired_at"].is_null(), "{dev}");
        assert!(dev.get("secret").is_none());

        // Stored sealed only: the row holds no trace of the secret.
        let row = device::Entity::find_by_id(id).one(app.app.db.reader()).await.unwrap().unwrap();
        assert!(!row.secret.windows(16).any(|w| secret.as_bytes().windows(16).any(|s| s == w)), "secret stored in clear");

        let list = app.get(&format!("/api/v1/stations/{st}/devices")).await;
        assert_eq!(list.status, StatusCode::OK, "{}", list.text);
        assert_eq!(list.body.as_array().unwrap().len(), 1);
        assert_eq!(list.body[0]["id"], id);
        assert!(!list.text.contains(&secret) && list.body[0].get("secret").is_none());
        let got = app.get(&format!("/api/v1/devices/{id}")).await;
        assert_eq!((got.status, &got.body["code"]), (StatusCode::OK, &json!(code)), "{}", got.text);
        assert!(!got.text.contains(&secret));
        assert_eq!(app.get("/api/v1/devices/987654321").await.status, StatusCode::NOT_FOUND);

        // The device signs with its secret: ping answers who it is and the server clock.
        let pong = app.call_device(&code, &secret, Method::GET, PING, None).await;
        assert_eq!(pong.status, StatusCode::OK, "{}", pong.text);
        assert_eq!((pong.body["device_id"].as_i64(), pong.body["station_id"].as_i64()), (Some(id), Some(st)));
        assert!((pong.body["server_time"].as_i64().unwrap() - now_s()).abs() <= 5, "{}", pong.text);
        assert!(app.get(&format!("/api/v1/devices/{id}")).await.body["last_seen_at"].is_string());

        // Rotation: a new secret once; the old one stops working at once.
        let rotated = app.post(&format!("/api/v1/devices/{id}/secret"), json!({})).await;
        assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
        let secret2 = rotated.body["secret"].as_str().unwrap().to_owned();
        assert_eq!(secret2.len(), 64);
        assert_ne!(secret2, secret);
        assert_eq!(rotated.body["device"]["id"], id);
        refused(&app.call_device(&code, &secret, Method::GET, PING, None).await, "device_signature_invalid", "rotated-away secret");
        assert_eq!(app.call_device(&code, &secret2, Method::GET, PING, None).await.status, StatusCode::OK);

        // Retirement: the device is refused; it cannot get a new key; retiring again is a no-op.
        let retired = app.post(&format!("/api/v1/devices/{id}/retire"), json!({})).await;
        assert_eq!(retired.status, StatusCode::OK, "{}", retired.text);
        assert!(retired.body["retired_at"].is_string());
        refused(&app.call_device(&code, &secret2, Method::GET, PING, None).await, "device_unknown", "retired device");
        let r = app.post(&format!("/api/v1/devices/{id}/secret"), json!({})).await;
        assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "device_retired"), "{}", r.text);
        let again = app.post(&format!("/api/v1/devices/{id}/retire"), json!({})).await;
        assert_eq!((again.status, &again.body["retired_at"]), (StatusCode::OK, &retired.body["retired_at"]));
        assert_eq!(app.get(&format!("/api/v1/stations/{st}/devices")).await.body.as_array().unwrap().len(), 1, "kept");

        // One audit row per change, at the station, never with a secret.
        let rows = audit_rows(&app, chain, "device.").await;
        let actions: Vec<&str> = rows.iter().map(|r| r["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["device.retire", "device.rotate_secret", "device.register"], "newest first");
        for row in &rows {
            assert_eq!((row["station_id"].as_i64(), row["target_type"].as_str()), (Some(st), Some("device")));
            assert_eq!(row["target_id"], id.to_string());
            let text = row.to_string();
            assert!(!text.contains(&secret) && !text.contains(&secret2) && !text.contains("\"secret\""), "{text}");
        }
        assert_eq!(rows[2]["after"]["code"], code);
        assert!(rows[0]["before"]["retired_at"].is_null() && rows[0]["after"]["retired_at"].is_string());
    }

    async fn registration_is_validated_and_codes_are_unique(app) {
        let chain = app.new_chain().await;
        let st = station(&app, chain, "DV2").await;
        let path = format!("/api/v1/stations/{st}/devices");
        let (_, code, _) = register(&app, st).await;
        let r = app.post(&path, json!({"code": code, "name": "又一台"})).await;
        assert_eq!((r.status, r.code(), r.field()), (StatusCode::CONFLICT, "duplicate", "code"), "{}", r.text);
        // Unique in the deployment, not only the chain: the code is the device's name on the wire.
        let other = station(&app, app.new_chain().await, "DV2").await;
        let r = app.post(&format!("/api/v1/stations/{other}/devices"), json!({"code": code, "name": "x"})).await;
        assert_eq!((r.status, r.field()), (StatusCode::CONFLICT, "code"), "{}", r.text);
        // Case-distinct codes are distinct devices (MariaDB's usual collation would say otherwise).
        let lower = code.to_ascii_lowercase();
        assert_eq!(app.post(&path, json!({"code": lower, "name": "小写"})).await.status, StatusCode::CREATED);

        for (body, field) in [
            (json!({"code": "", "name": "x"}), "code"),
            (json!({"code": "KM 01", "name": "x"}), "code"),
            (json!({"code": "站01", "name": "x"}), "code"),
            (json!({"code": "a".repeat(65), "name": "x"}), "code"),
            (json!({"code": new_code(), "name": ""}), "name"),
            (json!({"code": new_code(), "name": "x".repeat(65)}), "name"),
            (json!({"code": new_code()}), "name"),
            (json!({"code": new_code(), "name": "x", "secret": "mine"}), "secret"),
        ] {
            let r = app.post(&path, body.clone()).await;
            assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, field), "{body}: {}", r.text);
        }
        let r = app.post(&path, json!({"code": "", "name": ""})).await;
        assert_eq!(r.body["errors"].as_array().unwrap().len(), 2, "every bad field at once: {}", r.text);
        assert_eq!(app.post("/api/v1/stations/987654321/devices", json!({"code": new_code(), "name": "x"})).await.status, StatusCode::NOT_FOUND);
        // A retired station gets no new devices.
        app.post(&format!("/api/v1/stations/{other}/retire"), json!({})).await;
        let r = app.post(&format!("/api/v1/stations/{other}/devices"), json!({"code": new_code(), "name": "x"})).await;
        assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "station_retired"), "{}", r.text);
    }

    async fn only_device_managers_of_the_station_manage_devices(app) {
        let chain = app.new_chain().await;
        let a = station(&app, chain, "DVA").await;
        let b = station(&app, chain, "DVB").await;
        let (dev_a, _, _) = register(&app, a).await;
        let (dev_b, _, _) = register(&app, b).await;
        let manager = staff(&app, chain, "station_manager", Some(a)).await;
        let admin = staff(&app, chain, "chain_admin", None).await;
        let cashier = staff(&app, chain, "cashier", Some(a)).await;
        let attendant = staff(&app, chain, "attendant", Some(a)).await;
        let finance = staff(&app, chain, "finance", None).await;

        // The chain admin everywhere; the station manager at their station.
        for (token, st) in [(&admin, a), (&admin, b), (&manager, a)] {
            let r = app.call_as(token, Method::POST, &format!("/api/v1/stations/{st}/devices"), Some(&json!({"code": new_code(), "name": "x"}))).await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
            assert_eq!(app.call_as(token, Method::GET, &format!("/api/v1/stations/{st}/devices"), None).await.status, StatusCode::OK);
        }
        assert_eq!(app.call_as(&manager, Method::GET, &format!("/api/v1/devices/{dev_a}"), None).await.status, StatusCode::OK);
        let r = app.call_as(&manager, Method::POST, &format!("/api/v1/devices/{dev_a}/secret"), None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);

        let forbidden = |r: &Reply, what: &str| {
            assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "forbidden"), "{what}: {}", r.text);
            assert_eq!(r.body["permission"], "device.manage", "{what}");
        };
        // The manager of A, at B.
        let r = app.call_as(&manager, Method::POST, &format!("/api/v1/stations/{b}/devices"), Some(&json!({"code": new_code(), "name": "x"}))).await;
        forbidden(&r, "manager at another station");
        forbidden(&app.call_as(&manager, Method::GET, &format!("/api/v1/devices/{dev_b}"), None).await, "manager reads B's device");
        forbidden(&app.call_as(&manager, Method::POST, &format!("/api/v1/devices/{dev_b}/retire"), None).await, "manager retires B's device");
        // Cashiers, attendants and finance do not manage devices, not even read them.
        for (who, token) in [("cashier", &cashier), ("attendant", &attendant), ("finance", &finance)] {
            let r = app.call_as(token, Method::POST, &format!("/api/v1/stations/{a}/devices"), Some(&json!({"code": new_code(), "name": "x"}))).await;
            forbidden(&r, who);
            forbidden(&app.call_as(token, Method::GET, &format!("/api/v1/stations/{a}/devices"), None).await, who);
            forbidden(&app.call_as(token, Method::GET, &format!("/api/v1/devices/{dev_a}"), None).await, who);
            forbidden(&app.call_as(token, Method::POST, &format!("/api/v1/devices/{dev_a}/secret"), None).await, who);
            forbidden(&app.call_as(token, Method::POST, &format!("/api/v1/devices/{dev_a}/retire"), None).await, who);
        }
        let r = app.call_anonymous(Method::GET, &format!("/api/v1/stations/{a}/devices"), None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        // A staff token is no device signature.
        let r = app.call_as(&admin, Method::GET, PING, None).await;
        refused(&r, "device_auth_missing", "staff token on the device API");
        // A refused call leaves no audit row; the allowed ones do (actor: the staff member).
        let rows = audit_rows(&app, chain, "device.").await;
        assert_eq!(rows.len(), 2 + 3 + 1, "{rows:?}");
        assert!(rows.iter().any(|r| r["actor_kind"] == "staff"));
    }

    async fn device_requests_are_refused_unless_signed_right(app) {
        let chain = app.new_chain().await;
        let st = station(&app, chain, "DV3").await;
        let (_, code, secret) = register(&app, st).await;
        let ok = Signed::ping(&code, &secret);
        assert_eq!(ok.send(&app).await.status, StatusCode::OK);

        // The same request again (same nonce): a replay.
        refused(&ok.send(&app).await, "device_nonce_replayed", "replay");

        // The body is signed: a body other than the one signed fails.
        let tampered = Signed { body: br#"{"x":1}"#.to_vec(), ..Signed::ping(&code, &secret) };
        refused(&tampered.send(&app).await, "device_signature_invalid", "tampered body");
        let tampered = Signed {
            signed_body: br#"{"amount_fen":100}"#.to_vec(),
            body: br#"{"amount_fen":900}"#.to_vec(),
            ..Signed::ping(&code, &secret)
        };
        refused(&tampered.send(&app).await, "device_signature_invalid", "tampered JSON body");
        // So are the path and query, and the method.
        let other_path = Signed { path: format!("{PING}?x=1"), ..Signed::ping(&code, &secret) };
        refused(&other_path.send(&app).await, "device_signature_invalid", "other query");
        let with_query = Signed { path: format!("{PING}?x=1"), signed_path: format!("{PING}?x=1"), ..Signed::ping(&code, &secret) };
        assert_eq!(with_query.send(&app).await.status, StatusCode::OK, "the query is signed as sent");

        let wrong = Signed { secret: "0".repeat(64), ..Signed::ping(&code, &secret) };
        refused(&wrong.send(&app).await, "device_signature_invalid", "wrong secret");
        // A forged request does not burn the device's nonce.
        let genuine = Signed { nonce: wrong.nonce.clone(), ..Signed::ping(&code, &secret) };
        assert_eq!(genuine.send(&app).await.status, StatusCode::OK, "the forger's nonce is still free");

        // The clock: within 300 s either way is fine, beyond is stale.
        for skew in [-290, 290] {
            let r = Signed { ts: now_s() + skew, ..Signed::ping(&code, &secret) }.send(&app).await;
            assert_eq!(r.status, StatusCode::OK, "skew {skew}: {}", r.text);
        }
        for skew in [-301, 301, -86_400] {
            let r = Signed { ts: now_s() + skew, ..Signed::ping(&code, &secret) }.send(&app).await;
            refused(&r, "device_timestamp_stale", &format!("skew {skew}"));
            assert!(!r.header("date").is_empty(), "the Date header tells the device the server's time");
        }

        for header in ["X-Device-Id", "X-Timestamp", "X-Nonce", "X-Signature"] {
            let r = Signed { omit: vec![header], ..Signed::ping(&code, &secret) }.send(&app).await;
            refused(&r, "device_auth_missing", header);
            assert!(r.body["detail"].as_str().unwrap().contains(header), "names {header}: {}", r.text);
        }
        let short_nonce = Signed { nonce: "short".into(), ..Signed::ping(&code, &secret) };
        refused(&short_nonce.send(&app).await, "device_auth_malformed", "short nonce");

        let unknown = Signed::ping(&format!("NO-SUCH-{}", unique_suffix()), &secret);
        refused(&unknown.send(&app).await, "device_unknown", "unknown device");
        // Codes are exact: another case is another device.
        let other_case = Signed::ping(&code.to_ascii_lowercase(), &secret);
        refused(&other_case.send(&app).await, "device_unknown", "code in another case");
    }

    async fn registration_is_idempotent(app) {
        let chain = app.new_chain().await;
        let st = station(&app, chain, "DV4").await;
        let path = format!("/api/v1/stations/{st}/devices");
        let key = format!("reg-{}", unique_suffix());
        let body = json!({"code": new_code(), "name": "幂等"});

        let first = post_with_key(&app, &path, &key, &body).await;
        assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
        assert_eq!(first.header("idempotent-replayed"), "");
        // The same request again: the stored answer, identical (same device, same secret).
        let again = post_with_key(&app, &path, &key, &body).await;
        assert_eq!(again.status, StatusCode::CREATED, "{}", again.text);
        assert_eq!(again.body, first.body);
        assert_eq!(again.header("idempotent-replayed"), "true");
        assert_eq!(app.get(&path).await.body.as_array().unwrap().len(), 1, "one device");
        assert_eq!(audit_rows(&app, chain, "device.register").await.len(), 1, "one audit row");

        // Stored done, sealed: the secret is not in the row.
        let rows = idem_rows(&app, "admin", &key).await;
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].state.as_str(), rows[0].response_status), ("done", Some(201)));
        let stored = rows[0].response_body.clone().unwrap();
        assert!(!stored.contains(first.body["secret"].as_str().unwrap()) && !stored.contains("幂等"), "sealed");
        assert!(rows[0].expires_at_us - rows[0].created_at_us >= 24 * 3600 * 1_000_000, "kept 24 h");

        // The same key for another request: refused.
        let other = json!({"code": new_code(), "name": "幂等"});
        let r = post_with_key(&app, &path, &key, &other).await;
        assert_eq!((r.status, r.code(), r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused", "Idempotency-Key"), "{}", r.text);
        let r = post_with_key(&app, &format!("/api/v1/stations/{}/devices", station(&app, chain, "DV4B").await), &key, &body).await;
        assert_eq!(r.code(), "idempotency_key_reused", "another path is another request: {}", r.text);
        // Keys are per caller: a staff member's key of the same text is theirs.
        let admin = staff(&app, chain, "chain_admin", None).await;
        let res = reqwest::Client::new()
            .post(format!("{}{path}", app.base_url))
            .bearer_auth(&admin)
            .header("Idempotency-Key", &key)
            .json(&other)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);

        // Malformed keys.
        for bad in ["x".repeat(129), String::new()] {
            let r = post_with_key(&app, &path, &bad, &json!({"code": new_code(), "name": "x"})).await;
            assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "Idempotency-Key"), "{bad:?}: {}", r.text);
        }
        let long_ok = post_with_key(&app, &path, &format!("{:k<128}", unique_suffix()), &json!({"code": new_code(), "name": "x"})).await;
        assert_eq!(long_ok.status, StatusCode::CREATED, "{}", long_ok.text);
        // Case-distinct keys are distinct keys (MariaDB's usual collation would say otherwise).
        let upper = key.to_ascii_uppercase();
        let r = post_with_key(&app, &path, &upper, &other).await;
        assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "duplicate"), "a fresh request (code taken): {}", r.text);
    }

    async fn a_failed_request_releases_its_key(app) {
        let chain = app.new_chain().await;
        let st = station(&app, chain, "DV5").await;
        let path = format!("/api/v1/stations/{st}/devices");
        // Refused by the use-case's validation: the key is released, so the corrected
        // request may reuse it (otherwise it would be "reused for another request").
        let key = format!("fail-{}", unique_suffix());
        let code = new_code();
        let r = post_with_key(&app, &path, &key, &json!({"code": code, "name": ""})).await;
        assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "name"), "{}", r.text);
        assert!(idem_rows(&app, "admin", &key).await.is_empty(), "released");
        let r = post_with_key(&app, &path, &key, &json!({"code": code, "name": "改好了"})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);

        // A conflict: retrying the same request answers the conflict again, not "in progress".
        let key2 = format!("dup-{}", unique_suffix());
        let dup = json!({"code": code, "name": "重复"});
        for _ in 0..2 {
            let r = post_with_key(&app, &path, &key2, &dup).await;
            assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "duplicate"), "{}", r.text);
        }
        // Refused permission: released too (keys are per caller, so the same caller retries).
        let cashier = staff(&app, chain, "cashier", Some(st)).await;
        let res = reqwest::Client::new()
            .post(format!("{}{path}", app.base_url))
            .bearer_auth(&cashier)
            .header("Idempotency-Key", &key2)
            .json(&json!({"code": new_code(), "name": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let pending = idempotency_key::Entity::find()
            .filter(idempotency_key::Column::IdemKey.eq(key2.as_str()))
            .filter(idempotency_key::Column::State.eq("pending"))
            .all(app.app.db.reader())
            .await
            .unwrap();
        assert!(pending.is_empty(), "{pending:?}");
    }

    async fn concurrent_duplicates_make_one_device(app) {
        let chain = app.new_chain().await;
        let st = station(&app, chain, "DV6").await;
        let path = format!("/api/v1/stations/{st}/devices");
        for round in 0..5 {
            let key = format!("race-{round}-{}", unique_suffix());
            let body = json!({"code": new_code(), "name": "并发"});
            let (a, b) = tokio::join!(post_with_key(&app, &path, &key, &body), post_with_key(&app, &path, &key, &body));
            let mut created = 0;
            for r in [&a, &b] {
                match (r.status, r.code()) {
                    (StatusCode::CREATED, _) => created += 1,
                    (StatusCode::CONFLICT, "idempotency_in_progress") => {
                        assert_eq!(r.field(), "Idempotency-Key");
                    }
                    _ => panic!("round {round}: neither created, replayed nor in progress: {} {}", r.status, r.text),
                }
            }
            assert!(created >= 1, "round {round}: {} / {}", a.text, b.text);
            if created == 2 {
                assert_eq!(a.body, b.body, "round {round}: the second is a replay of the first");
                assert!(a.header("idempotent-replayed") == "true" || b.header("idempotent-replayed") == "true");
            }
            // Afterwards, the key replays.
            let later = post_with_key(&app, &path, &key, &body).await;
            assert_eq!(later.header("idempotent-replayed"), "true", "{}", later.text);
            let winner = if a.status == StatusCode::CREATED { &a } else { &b };
            assert_eq!(later.body, winner.body);
        }
        assert_eq!(app.get(&path).await.body.as_array().unwrap().len(), 5, "one device per key");
    }

    async fn stale_claims_are_taken_over_and_expired_keys_forgotten(app) {
        let chain = app.new_chain().await;
        let st = station(&app, chain, "DV7").await;
        let path = format!("/api/v1/stations/{st}/devices");
        let key = format!("stale-{}", unique_suffix());
        let body = json!({"code": new_code(), "name": "接管"});
        let now = jiayou_store::now_us();
        // A claim of a request still in flight (as if another server were working on it).
        let claim = idempotency_key::ActiveModel {
            scope: jiayou_store::sea_orm::Set("admin".into()),
            idem_key: jiayou_store::sea_orm::Set(key.clone()),
            request_hash: jiayou_store::sea_orm::Set(fingerprint("POST", &path, &body)),
            state: jiayou_store::sea_orm::Set("pending".into()),
            response_status: jiayou_store::sea_orm::Set(None),
            response_body: jiayou_store::sea_orm::Set(None),
            created_at_us: jiayou_store::sea_orm::Set(now),
            expires_at_us: jiayou_store::sea_orm::Set(now + 24 * 3600 * 1_000_000),
            ..Default::default()
        };
        idempotency_key::Entity::insert(claim).exec(app.app.db.writer()).await.unwrap();
        let r = post_with_key(&app, &path, &key, &body).await;
        assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "idempotency_in_progress"), "{}", r.text);
        // The claim is older than a minute: its request died; the retry takes it over.
        idempotency_key::Entity::update_many()
            .col_expr(idempotency_key::Column::CreatedAtUs, Expr::value(now - 61_000_000))
            .filter(idempotency_key::Column::Scope.eq("admin"))
            .filter(idempotency_key::Column::IdemKey.eq(key.as_str()))
            .exec(app.app.db.writer())
            .await
            .unwrap();
        let r = post_with_key(&app, &path, &key, &body).await;
        assert_eq!((r.status, r.header("idempotent-replayed")), (StatusCode::CREATED, ""), "{}", r.text);
        let replay = post_with_key(&app, &path, &key, &body).await;
        assert_eq!((replay.header("idempotent-replayed"), &replay.body), ("true", &r.body));

        // Past its life the key is forgotten: the same request runs again (and the code is taken).
        idempotency_key::Entity::update_many()
            .col_expr(idempotency_key::Column::ExpiresAtUs, Expr::value(now - 1))
            .filter(idempotency_key::Column::Scope.eq("admin"))
            .filter(idempotency_key::Column::IdemKey.eq(key.as_str()))
            .exec(app.app.db.writer())
            .await
            .unwrap();
        let purged = app.app.idem_purge(now).await.unwrap();
        assert!(purged >= 1);
        assert!(idem_rows(&app, "admin", &key).await.is_empty());
        let r = post_with_key(&app, &path, &key, &body).await;
        assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "duplicate"), "{}", r.text);
    }

    async fn the_device_api_is_documented(app) {
        let doc = app.get("/api/openapi.json").await.body;
        let scheme = &doc["components"]["securitySchemes"]["device_hmac"];
        assert_eq!((scheme["type"].as_str(), scheme["in"].as_str(), scheme["name"].as_str()), (Some("apiKey"), Some("header"), Some("X-Signature")), "{scheme}");
        for h in ["X-Device-Id", "X-Timestamp", "X-Nonce"] {
            assert!(scheme["description"].as_str().unwrap().contains(h));
        }
        assert_eq!(doc["paths"][PING]["get"]["security"][0]["device_hmac"], json!([]));
        let params = doc["paths"]["/api/v1/stations/{station_id}/devices"]["post"]["parameters"].to_string();
        assert!(params.contains("Idempotency-Key"), "{params}");
    }
}
