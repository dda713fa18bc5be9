//! Roles and permissions (B5) through the real HTTP API.
//!
//! `every_route_is_in_the_role_matrix` lists every operation of `/api/openapi.json` with
//! the roles allowed to call it; an operation missing from the table (or a table row
//! the API no longer has) fails the test, so a new route cannot ship unprotected.

use std::collections::{BTreeMap, BTreeSet};

use jiayou_testkit::{Backend, TestApp, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const PASSWORD: &str = "Jiayou-2026!";

/// Everything the matrix needs: a chain with a station A (where station-scoped staff
/// work), a station B, equipment at A, and one staff member per built-in role.
struct World {
    app: TestApp,
    chain: i64,
    chain_code: String,
    grade: i64,
    station_a: i64,
    station_b: i64,
    tank: i64,
    pump: i64,
    nozzle: i64,
    tokens: BTreeMap<&'static str, String>,
    staff_ids: BTreeMap<&'static str, i64>,
    roles: BTreeMap<String, i64>,
    /// A member of the chain signed in through the WeChat sandbox, with a vehicle; two
    /// sessions, because the matrix signs one out before deleting the account with the other.
    member_id: i64,
    member_token: String,
    member_token_2: String,
    vehicle: i64,
    /// A pump controller registered at station A.
    device: i64,
}

async fn world() -> World {
    let app = spawn_app(Backend::Sqlite).await.expect("sqlite");
    let chain = app.new_chain().await;
    let chain_code = app.get(&format!("/api/v1/chains/{chain}")).await.body["code"].as_str().unwrap().to_owned();
    let grade = app
        .create("/api/v1/grades", json!({"chain_id": chain, "code": "92", "name": "92#", "energy_type": "gasoline"}))
        .await["id"]
        .as_i64()
        .unwrap();
    let station = |code: &str| json!({"chain_id": chain, "code": code, "name": "站", "address": "昆明", "lng": 102.7, "lat": 25.0});
    let station_a = app.create("/api/v1/stations", station("A")).await["id"].as_i64().unwrap();
    let station_b = app.create("/api/v1/stations", station("B")).await["id"].as_i64().unwrap();
    let tank = app
        .create(
            &format!("/api/v1/stations/{station_a}/tanks"),
            json!({"number": 1, "grade_id": grade, "capacity": 30_000_000, "safety_min": 3_000_000}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let pump =
        app.create(&format!("/api/v1/stations/{station_a}/pumps"), json!({"number": 1})).await["id"].as_i64().unwrap();
    let nozzle = app
        .create(
            &format!("/api/v1/stations/{station_a}/nozzles"),
            json!({"pump_id": pump, "number": 1, "tank_id": tank}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    app.put(&format!("/api/v1/stations/{station_a}/prices/{grade}"), json!({"list_price_fen": 800})).await;
    let roles: BTreeMap<String, i64> = app
        .get(&format!("/api/v1/roles?chain_id={chain}"))
        .await
        .body
        .as_array()
        .expect("roles")
        .iter()
        .map(|r| (r["code"].as_str().unwrap().to_owned(), r["id"].as_i64().unwrap()))
        .collect();
    let mut tokens = BTreeMap::new();
    let mut staff_ids = BTreeMap::new();
    // Station-scoped roles work at A; chain admin and finance hold their role chain-wide.
    for (role, station) in [
        ("chain_admin", None),
        ("station_manager", Some(station_a)),
        ("cashier", Some(station_a)),
        ("attendant", Some(station_a)),
        ("finance", None),
    ] {
        let username = role.replace('_', ".");
        let s = app
            .create(
                "/api/v1/staff",
                json!({"chain_id": chain, "username": username, "display_name": role, "password": PASSWORD, "phone": "13812341234"}),
            )
            .await;
        let id = s["id"].as_i64().unwrap();
        let r = app
            .put(
                &format!("/api/v1/staff/{id}/grants"),
                json!({"grants": [{"role_id": roles[role], "station_id": station}]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        tokens.insert(role, app.login(&chain_code, &username, PASSWORD).await);
        staff_ids.insert(role, id);
    }
    let member_token = app.member_login(&chain_code, "matrix").await;
    let member_token_2 = app.member_login(&chain_code, "matrix").await;
    let me = app.call_as(&member_token, Method::GET, "/api/v1/member/me", None).await;
    let member_id = me.body["id"].as_i64().expect("member id");
    let v =
        app.call_as(&member_token, Method::POST, "/api/v1/member/vehicles", Some(&json!({"plate": "云A12345"}))).await;
    assert_eq!(v.status, StatusCode::CREATED, "{}", v.text);
    let vehicle = v.body["id"].as_i64().unwrap();
    let device = app
        .create(
            &format!("/api/v1/stations/{station_a}/devices"),
            json!({"code": format!("m-{}", jiayou_testkit::unique_suffix()), "name": "控制器"}),
        )
        .await["device"]["id"]
        .as_i64()
        .unwrap();
    World {
        app,
        chain,
        chain_code,
        grade,
        station_a,
        station_b,
        tank,
        pump,
        nozzle,
        tokens,
        staff_ids,
        roles,
        member_id,
        member_token,
        member_token_2,
        vehicle,
        device,
    }
}

const STAFF_ROLES: [&str; 5] = ["chain_admin", "station_manager", "cashier", "attendant", "finance"];

/// Who may call an operation. `public`: anyone, signed in or not. `session`: any staff
/// member with a session (not the admin token). `member`: a member's session only (staff
/// tokens and the admin token get 401). Otherwise the listed staff roles, and always the
/// platform's admin token; a member's token gets 401 on every staff route.
#[derive(Clone, Copy)]
enum Allowed {
    /// Pump controllers and the payment channel: only a valid signature gets in, so
    /// every bearer (staff, admin, member) and anonymous caller is refused with 401.
    Signed,
    Public,
    Session,
    Member,
    Roles(&'static [&'static str]),
}

const ALL: &[&str] = &STAFF_ROLES;
const ADMIN: &[&str] = &["chain_admin"];
const MANAGERS: &[&str] = &["chain_admin", "station_manager"];
const PLATFORM: &[&str] = &[];
/// Chain-wide `audit.read`: the station manager's is scoped to their station.
const AUDITORS: &[&str] = &["chain_admin", "finance"];
/// `member.read` (station-scoped for the station's manager and cashier).
const MEMBER_READERS: &[&str] = &["chain_admin", "station_manager", "cashier", "finance"];
/// `sales.read` somewhere in the chain (attendants have `sales.read_own` only).
const SALES_READERS: &[&str] = &["chain_admin", "station_manager", "cashier", "finance"];
/// `risk.manage` and `pay.reconcile`: the chain's admin and finance.
const FINANCE: &[&str] = &["chain_admin", "finance"];
/// `sales.collect`: the counter.
const COLLECTORS: &[&str] = &["chain_admin", "station_manager", "cashier"];

/// (method, path template, allowed, body). Bodies are well-formed but invalid where
/// the call would otherwise change the fixture, so an allowed caller gets 4xx ≠ 403.
fn matrix(w: &World) -> Vec<(&'static str, &'static str, Allowed, Option<Value>)> {
    use Allowed::*;
    let c = w.chain;
    vec![
        ("get", "/healthz", Public, None),
        ("get", "/readyz", Public, None),
        ("get", "/metrics", Public, None),
        ("get", "/api/openapi.json", Public, None),
        ("get", "/api/v1/stations/nearby", Public, None),
        ("get", "/api/v1/audit", Roles(AUDITORS), None),
        ("get", "/api/v1/audit/export", Roles(AUDITORS), None),
        ("post", "/api/v1/auth/login", Public, Some(json!({"chain": "", "username": "", "password": ""}))),
        ("post", "/api/v1/member/login/wechat", Public, Some(json!({"chain": "", "code": ""}))),
        ("post", "/api/v1/member/sms/send", Public, Some(json!({"chain": "", "phone": ""}))),
        ("post", "/api/v1/member/login/sms", Public, Some(json!({"chain": "", "phone": "", "code": ""}))),
        ("post", "/api/v1/member/phone/wechat", Member, Some(json!({"code": ""}))),
        ("get", "/api/v1/member/me", Member, None),
        ("patch", "/api/v1/member/me", Member, Some(json!({"id_number": "1"}))),
        ("get", "/api/v1/member/me/export", Member, None),
        ("get", "/api/v1/member/consents", Member, None),
        ("put", "/api/v1/member/consents", Member, Some(json!({}))),
        ("get", "/api/v1/member/vehicles", Member, None),
        ("post", "/api/v1/member/vehicles", Member, Some(json!({"plate": ""}))),
        ("patch", "/api/v1/member/vehicles/{id}", Member, Some(json!({"plate": ""}))),
        ("get", "/api/v1/members", Roles(MEMBER_READERS), None),
        ("get", "/api/v1/members/{id}", Roles(MEMBER_READERS), None),
        ("get", "/api/v1/auth/sessions", Session, None),
        ("delete", "/api/v1/auth/sessions/{id}", Session, None),
        // A wrong current password: an allowed caller gets 422 and keeps their password.
        (
            "post",
            "/api/v1/auth/password",
            Session,
            Some(json!({"current_password": "not-it-123", "new_password": "Another-9-pass"})),
        ),
        ("post", "/api/v1/chains", Roles(PLATFORM), Some(json!({"code": "", "name": ""}))),
        ("get", "/api/v1/chains", Roles(ALL), None),
        ("get", "/api/v1/chains/{id}", Roles(ALL), None),
        (
            "post",
            "/api/v1/grades",
            Roles(ADMIN),
            Some(json!({"chain_id": c, "code": "", "name": "", "energy_type": "gasoline"})),
        ),
        ("get", "/api/v1/grades", Roles(ALL), None),
        ("get", "/api/v1/grades/{id}", Roles(ALL), None),
        ("patch", "/api/v1/grades/{id}", Roles(ADMIN), Some(json!({"name": ""}))),
        (
            "post",
            "/api/v1/stations",
            Roles(ADMIN),
            Some(json!({"chain_id": c, "code": "", "name": "", "address": "", "lng": 0, "lat": 0})),
        ),
        ("get", "/api/v1/stations", Roles(ALL), None),
        ("get", "/api/v1/stations/{id}", Roles(ALL), None),
        ("patch", "/api/v1/stations/{id}", Roles(MANAGERS), Some(json!({"name": ""}))),
        (
            "post",
            "/api/v1/stations/{station_id}/tanks",
            Roles(MANAGERS),
            Some(json!({"number": 0, "grade_id": w.grade, "capacity": 0, "safety_min": 0})),
        ),
        ("get", "/api/v1/stations/{station_id}/tanks", Roles(ALL), None),
        ("get", "/api/v1/tanks/{id}", Roles(ALL), None),
        ("patch", "/api/v1/tanks/{id}", Roles(MANAGERS), Some(json!({"capacity": 0}))),
        ("post", "/api/v1/stations/{station_id}/pumps", Roles(MANAGERS), Some(json!({"number": 0}))),
        ("get", "/api/v1/stations/{station_id}/pumps", Roles(ALL), None),
        ("get", "/api/v1/pumps/{id}", Roles(ALL), None),
        ("patch", "/api/v1/pumps/{id}", Roles(MANAGERS), Some(json!({"name": "1号机"}))),
        (
            "post",
            "/api/v1/stations/{station_id}/nozzles",
            Roles(MANAGERS),
            Some(json!({"pump_id": w.pump, "number": 0, "tank_id": w.tank})),
        ),
        ("get", "/api/v1/stations/{station_id}/nozzles", Roles(ALL), None),
        ("get", "/api/v1/nozzles/{id}", Roles(ALL), None),
        ("patch", "/api/v1/nozzles/{id}", Roles(MANAGERS), Some(json!({"tank_id": w.tank}))),
        ("get", "/api/v1/stations/{station_id}/prices", Roles(ALL), None),
        ("put", "/api/v1/stations/{station_id}/prices/{grade_id}", Roles(MANAGERS), Some(json!({"list_price_fen": 0}))),
        ("get", "/api/v1/stations/{station_id}/prices/{grade_id}/history", Roles(ALL), None),
        (
            "post",
            "/api/v1/staff",
            Roles(ADMIN),
            Some(json!({"chain_id": c, "username": "", "display_name": "", "password": ""})),
        ),
        ("get", "/api/v1/staff", Roles(MANAGERS), None),
        ("get", "/api/v1/staff/{id}", Roles(MANAGERS), None),
        ("patch", "/api/v1/staff/{id}", Roles(ADMIN), Some(json!({"display_name": ""}))),
        ("put", "/api/v1/staff/{id}/grants", Roles(ADMIN), Some(json!({"grants": [{"role_id": 987_654_321}]}))),
        ("put", "/api/v1/staff/{id}/nozzles", Roles(MANAGERS), Some(json!({"nozzle_ids": [w.nozzle]}))),
        (
            "post",
            "/api/v1/roles",
            Roles(ADMIN),
            Some(json!({"chain_id": c, "code": "", "name": "", "permissions": []})),
        ),
        ("get", "/api/v1/roles", Roles(MANAGERS), None),
        ("get", "/api/v1/roles/{id}", Roles(MANAGERS), None),
        ("patch", "/api/v1/roles/{id}", Roles(ADMIN), Some(json!({"name": ""}))),
        // Destructive last: retiring changes the fixture (later calls may then get 409,
        // which still tells allowed from refused).
        ("get", "/api/v1/alerts", Roles(ALL), None),
        ("get", "/api/v1/chains/{chain_id}/coupons", Roles(SALES_READERS), None),
        (
            "post",
            "/api/v1/chains/{chain_id}/coupons",
            Roles(ADMIN),
            Some(
                json!({"member_ids": [], "title": "", "rule": {"kind": "threshold", "min_fen": 0, "off_fen": 1}, "stackable": false, "grade_ids": [], "valid_until": "2020-01-01T00:00:00Z"}),
            ),
        ),
        ("get", "/api/v1/chains/{chain_id}/payment-policy", Roles(SALES_READERS), None),
        (
            "put",
            "/api/v1/chains/{chain_id}/payment-policy",
            Roles(ADMIN),
            Some(json!({"policy": {"order": []}, "hold_seconds": 0, "pay_window_seconds": 0, "autopay_max_fen": 0})),
        ),
        ("get", "/api/v1/chains/{chain_id}/topup-rules", Roles(SALES_READERS), None),
        (
            "post",
            "/api/v1/chains/{chain_id}/topup-rules",
            Roles(ADMIN),
            Some(json!({"name": "", "min_amount_fen": 0, "bonus_fen": 0, "bonus_points": 0})),
        ),
        ("post", "/api/v1/topup-rules/{id}/retire", Roles(ADMIN), None),
        ("get", "/api/v1/chains/{id}/ledger-check", Roles(AUDITORS), None),
        ("get", "/api/v1/device/ping", Signed, None),
        ("get", "/api/v1/device/config", Signed, None),
        ("get", "/api/v1/device/authorisations", Signed, None),
        ("post", "/api/v1/device/nozzles/{id}/status", Signed, Some(json!({"status": "idle"}))),
        ("post", "/api/v1/device/sales", Signed, Some(json!({}))),
        ("post", "/api/v1/pay/sandbox/notify", Signed, Some(json!({}))),
        ("post", "/api/v1/pay/wechat/notify", Signed, Some(json!({}))),
        ("post", "/api/v1/pay/alipay/notify", Signed, Some(json!({}))),
        ("get", "/api/v1/stations/{station_id}/devices", Roles(MANAGERS), None),
        ("post", "/api/v1/stations/{station_id}/devices", Roles(MANAGERS), Some(json!({"code": "", "name": ""}))),
        ("get", "/api/v1/devices/{id}", Roles(MANAGERS), None),
        ("post", "/api/v1/devices/{id}/secret", Roles(MANAGERS), None),
        ("get", "/api/v1/stations/{id}/nozzle-status", Public, None),
        ("get", "/api/v1/member/coupons", Member, None),
        ("get", "/api/v1/member/topup-rules", Member, None),
        ("get", "/api/v1/member/wallet", Member, None),
        ("get", "/api/v1/member/wallet/ledger", Member, None),
        ("get", "/api/v1/member/orders", Member, None),
        ("get", "/api/v1/member/orders/{id}", Member, None),
        ("post", "/api/v1/member/orders", Member, Some(json!({"station_id": 0, "nozzle_id": 0}))),
        ("post", "/api/v1/member/orders/claim", Member, Some(json!({"station_id": 0, "nozzle_number": 0}))),
        ("post", "/api/v1/member/orders/{id}/pay", Member, Some(json!({}))),
        ("post", "/api/v1/member/orders/{id}/cancel", Member, None),
        ("post", "/api/v1/member/topups", Member, Some(json!({"amount_fen": 0}))),
        ("put", "/api/v1/member/vehicles/{id}/autopay", Member, Some(json!({"enabled": false}))),
        ("get", "/api/v1/members/{id}/wallet", Roles(MEMBER_READERS), None),
        ("get", "/api/v1/orders", Roles(ALL), None),
        ("get", "/api/v1/orders/{id}", Roles(ALL), None),
        ("get", "/api/v1/orders/{id}/receipt", Roles(ALL), None),
        ("get", "/api/v1/orders/{id}/refunds", Roles(ALL), None),
        ("post", "/api/v1/orders/{id}/collect", Roles(COLLECTORS), Some(json!({"tenders": []}))),
        ("post", "/api/v1/orders/{id}/refunds", Roles(MANAGERS), Some(json!({"reason": ""}))),
        (
            "post",
            "/api/v1/counter/sales",
            Roles(COLLECTORS),
            Some(json!({"station_id": w.station_a, "nozzle_number": 99})),
        ),
        ("post", "/api/v1/alerts/{id}/acknowledge", Roles(MANAGERS), None),
        ("post", "/api/v1/alerts/{id}/resolve", Roles(MANAGERS), Some(json!({"note": ""}))),
        ("get", "/api/v1/chains/{chain_id}/risk-rules", Roles(FINANCE), None),
        ("put", "/api/v1/chains/{chain_id}/risk-rules/{scope}", Roles(FINANCE), Some(json!({"max_single_fen": 0}))),
        ("delete", "/api/v1/chains/{chain_id}/risk-rules/{scope}", Roles(FINANCE), None),
        ("get", "/api/v1/chains/{chain_id}/risk-holds", Roles(FINANCE), None),
        ("post", "/api/v1/risk-holds/{id}/release", Roles(FINANCE), Some(json!({"note": ""}))),
        ("post", "/api/v1/risk-holds/{id}/refund", Roles(FINANCE), Some(json!({"note": ""}))),
        (
            "post",
            "/api/v1/chains/{chain_id}/reconciliations",
            Roles(FINANCE),
            Some(json!({"channel": "wechat", "date": "2020-01-01"})),
        ),
        ("get", "/api/v1/chains/{chain_id}/reconciliations", Roles(FINANCE), None),
        ("get", "/api/v1/reconciliations/{id}", Roles(FINANCE), None),
        ("get", "/api/v1/chains/{chain_id}/pay-notifications", Roles(FINANCE), None),
        (
            "post",
            "/api/v1/chains/{chain_id}/pay-notifications/{id}/resolve",
            Roles(FINANCE),
            Some(json!({"resolution": ""})),
        ),
        ("get", "/api/v1/stations/{station_id}/inventory/tanks", Roles(SALES_READERS), None),
        (
            "post",
            "/api/v1/stations/{station_id}/inventory/deliveries",
            Roles(MANAGERS),
            Some(json!({"tank_id": 0, "supplier": "", "note_no": "", "quantity": 0, "temperature": 0, "density": 0})),
        ),
        (
            "post",
            "/api/v1/stations/{station_id}/inventory/readings",
            Roles(MANAGERS),
            Some(json!({"tank_id": 0, "source": "dip", "volume": 0, "temperature": 0, "density": 0})),
        ),
        ("get", "/api/v1/stations/{station_id}/inventory/daily", Roles(SALES_READERS), None),
        ("get", "/api/v1/stations/{station_id}/inventory/monthly", Roles(SALES_READERS), None),
        ("get", "/api/v1/stations/{station_id}/inventory/dispensed", Roles(SALES_READERS), None),
        ("post", "/api/v1/devices/{id}/retire", Roles(MANAGERS), None),
        ("post", "/api/v1/nozzles/{id}/retire", Roles(MANAGERS), None),
        ("post", "/api/v1/pumps/{id}/retire", Roles(MANAGERS), None),
        ("post", "/api/v1/tanks/{id}/retire", Roles(MANAGERS), None),
        ("post", "/api/v1/grades/{id}/retire", Roles(ADMIN), None),
        ("post", "/api/v1/stations/{id}/retire", Roles(ADMIN), None),
        ("post", "/api/v1/auth/logout", Session, None),
        ("delete", "/api/v1/member/vehicles/{id}", Member, None),
        ("post", "/api/v1/member/logout", Member, None),
        // With the member's second session: deleting the account ends every session.
        ("delete", "/api/v1/member/me", Member, None),
    ]
}

/// Fills a path template with the fixture ids it names.
fn concrete(w: &World, path: &str) -> String {
    let id = if path.starts_with("/api/v1/orders/") || path.starts_with("/api/v1/member/orders/") {
        987_654_321
    } else if path.starts_with("/api/v1/devices/") {
        w.device
    } else if path.starts_with("/api/v1/members/") {
        w.member_id
    } else if path.starts_with("/api/v1/member/vehicles/") {
        w.vehicle
    } else if path.starts_with("/api/v1/chains/") {
        w.chain
    } else if path.starts_with("/api/v1/grades/") {
        w.grade
    } else if path.starts_with("/api/v1/tanks/") {
        w.tank
    } else if path.starts_with("/api/v1/pumps/") {
        w.pump
    } else if path.starts_with("/api/v1/nozzles/") {
        w.nozzle
    } else if path.starts_with("/api/v1/staff/") {
        w.staff_ids["cashier"]
    } else if path.starts_with("/api/v1/roles/") {
        w.roles["cashier"]
    } else if path.starts_with("/api/v1/auth/sessions/")
        || path.starts_with("/api/v1/risk-holds/")
        || path.starts_with("/api/v1/reconciliations/")
        || path.starts_with("/api/v1/alerts/")
    {
        987_654_321
    } else {
        w.station_a
    };
    let p = path
        .replace("{station_id}", &w.station_a.to_string())
        .replace("{grade_id}", &w.grade.to_string())
        .replace("{chain_id}", &w.chain.to_string())
        .replace("{scope}", "member")
        .replace("{id}", &id.to_string());
    match p.as_str() {
        "/api/v1/stations/nearby" => format!("{p}?lng=102.7&lat=25.0"),
        "/api/v1/members" => format!("{p}?chain_id={}&phone=13800000000", w.chain),
        "/api/v1/alerts" | "/api/v1/orders" => format!("{p}?chain_id={}", w.chain),
        _ if p.ends_with("/inventory/daily") || p.ends_with("/inventory/dispensed") => format!("{p}?date=2020-01-01"),
        _ if p.ends_with("/inventory/monthly") => format!("{p}?month=2020-01"),
        _ => p,
    }
}

#[tokio::test]
async fn every_route_is_in_the_role_matrix() {
    let w = world().await;
    let doc = w.app.get("/api/openapi.json").await.body;
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in ["get", "post", "put", "patch", "delete"] {
            if item.get(m).is_some() {
                documented.insert((m.to_owned(), path.clone()));
            }
        }
    }
    let table = matrix(&w);
    let listed: BTreeSet<(String, String)> = table.iter().map(|(m, p, ..)| (m.to_string(), p.to_string())).collect();
    let missing: Vec<_> = documented.difference(&listed).collect();
    assert!(missing.is_empty(), "routes missing from the role matrix: {missing:?}");
    let stale: Vec<_> = listed.difference(&documented).collect();
    assert!(stale.is_empty(), "matrix rows for routes the API does not have: {stale:?}");

    for (method, template, allowed, body) in &table {
        let path = concrete(&w, template);
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        // Staff roles first, the platform's admin token last (logout revokes sessions).
        for role in STAFF_ROLES {
            let r = w.app.call_as(&w.tokens[role], m.clone(), &path, body.as_ref()).await;
            let ok = match allowed {
                Allowed::Signed => {
                    assert_eq!(
                        r.status,
                        StatusCode::UNAUTHORIZED,
                        "{role}: {method} {template} needs a signature: {}",
                        r.text
                    );
                    continue;
                }
                Allowed::Public | Allowed::Session => true,
                Allowed::Roles(roles) => roles.contains(&role),
                Allowed::Member => {
                    assert_eq!(
                        r.status,
                        StatusCode::UNAUTHORIZED,
                        "{role}: member routes need a member session: {method} {template}: {}",
                        r.text
                    );
                    continue;
                }
            };
            if ok {
                assert!(
                    r.status != StatusCode::FORBIDDEN && r.status != StatusCode::UNAUTHORIZED,
                    "{role} should be allowed {method} {template}: {} {}",
                    r.status,
                    r.text
                );
            } else {
                assert_eq!(r.status, StatusCode::FORBIDDEN, "{role} must be refused {method} {template}: {}", r.text);
                assert_eq!(r.code(), "forbidden");
                assert!(r.body["permission"].is_string(), "the 403 names the permission: {}", r.text);
                assert!(r.body["detail"].as_str().unwrap().contains(r.body["permission"].as_str().unwrap()));
            }
        }
        let r = w.app.call(m.clone(), &path, body.as_ref()).await;
        match allowed {
            Allowed::Session | Allowed::Member | Allowed::Signed => {
                assert_eq!(r.status, StatusCode::UNAUTHORIZED, "admin token is not a session: {method} {template}")
            }
            _ => assert!(
                r.status != StatusCode::FORBIDDEN && r.status != StatusCode::UNAUTHORIZED,
                "platform should be allowed {method} {template}: {}",
                r.text
            ),
        }
        if !matches!(allowed, Allowed::Public) {
            let r = w.app.call_anonymous(m.clone(), &path, body.as_ref()).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "anonymous {method} {template}: {}", r.text);
        }
        // The member last (deleting the account ends the member's sessions).
        let member =
            if (*method, *template) == ("delete", "/api/v1/member/me") { &w.member_token_2 } else { &w.member_token };
        let r = w.app.call_as(member, m.clone(), &path, body.as_ref()).await;
        match allowed {
            Allowed::Public | Allowed::Member => assert!(
                r.status != StatusCode::FORBIDDEN && r.status != StatusCode::UNAUTHORIZED,
                "a member should be allowed {method} {template}: {} {}",
                r.status,
                r.text
            ),
            _ => assert_eq!(
                r.status,
                StatusCode::UNAUTHORIZED,
                "a member's token is no staff session: {method} {template}: {}",
                r.text
            ),
        }
    }
    // The member's sessions are gone with the account.
    for token in [&w.member_token, &w.member_token_2] {
        assert_eq!(w.app.call_as(token, Method::GET, "/api/v1/member/me", None).await.status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn station_scope_and_other_chains() {
    let w = world().await;
    let manager = &w.tokens["station_manager"];
    // The station manager of A manages A, not B.
    let a = w
        .app
        .call_as(
            manager,
            Method::PUT,
            &format!("/api/v1/stations/{}/prices/{}", w.station_a, w.grade),
            Some(&json!({"list_price_fen": 810})),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let b = w
        .app
        .call_as(
            manager,
            Method::PUT,
            &format!("/api/v1/stations/{}/prices/{}", w.station_b, w.grade),
            Some(&json!({"list_price_fen": 810})),
        )
        .await;
    assert_eq!((b.status, b.body["permission"].as_str()), (StatusCode::FORBIDDEN, Some("price.manage")));
    // Lists show only what the caller may see.
    let list = w.app.call_as(&w.tokens["cashier"], Method::GET, "/api/v1/stations", None).await;
    let ids: Vec<i64> = list.body["items"].as_array().unwrap().iter().map(|s| s["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, vec![w.station_a]);
    let all = w.app.call_as(&w.tokens["finance"], Method::GET, "/api/v1/stations", None).await;
    assert_eq!(all.body["total"], 2);
    // A chain admin of another chain sees nothing of this one.
    let other = w.app.new_chain().await;
    let other_code = w.app.get(&format!("/api/v1/chains/{other}")).await.body["code"].as_str().unwrap().to_owned();
    let other_roles = w.app.get(&format!("/api/v1/roles?chain_id={other}")).await.body;
    let admin_role =
        other_roles.as_array().unwrap().iter().find(|r| r["code"] == "chain_admin").unwrap()["id"].as_i64().unwrap();
    let s = w
        .app
        .create(
            "/api/v1/staff",
            json!({"chain_id": other, "username": "boss", "display_name": "老板", "password": PASSWORD}),
        )
        .await;
    w.app.put(&format!("/api/v1/staff/{}/grants", s["id"]), json!({"grants": [{"role_id": admin_role}]})).await;
    let boss = w.app.login(&other_code, "boss", PASSWORD).await;
    for path in [
        format!("/api/v1/stations/{}", w.station_a),
        format!("/api/v1/chains/{}", w.chain),
        format!("/api/v1/staff/{}", w.staff_ids["cashier"]),
    ] {
        let r = w.app.call_as(&boss, Method::GET, &path, None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.text);
    }
    let r = w.app.call_as(&boss, Method::GET, &format!("/api/v1/stations?chain_id={}", w.chain), None).await;
    assert_eq!((r.status, r.body["permission"].as_str()), (StatusCode::FORBIDDEN, Some("station.read")), "{}", r.text);
    // Granting a station of another chain is refused, and nothing is half-written.
    let r = w
        .app
        .put(
            &format!("/api/v1/staff/{}/grants", s["id"]),
            json!({"grants": [{"role_id": admin_role}, {"role_id": admin_role, "station_id": w.station_a}]}),
        )
        .await;
    assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "grants[1].station_id"), "{}", r.text);
    let after = w.app.get(&format!("/api/v1/staff/{}", s["id"])).await;
    assert_eq!(after.body["grants"].as_array().unwrap().len(), 1, "{}", after.text);
    let _ = (&w.chain_code, w.nozzle);
}

#[tokio::test]
async fn personal_data_is_masked_by_role() {
    let w = world().await;
    let path = format!("/api/v1/staff/{}", w.staff_ids["cashier"]);
    let admin = w.app.call_as(&w.tokens["chain_admin"], Method::GET, &path, None).await;
    assert_eq!(admin.body["phone"], "13812341234", "chain admins hold pii.read");
    let manager = w.app.call_as(&w.tokens["station_manager"], Method::GET, &path, None).await;
    assert_eq!(manager.body["phone"], "138****1234", "{}", manager.text);
}

#[tokio::test]
async fn custom_roles_are_validated_and_usable() {
    let w = world().await;
    let r = w.app.post("/api/v1/roles", json!({"chain_id": w.chain, "code": "pricer", "name": "调价员", "permissions": ["price.read", "price.fly"]})).await;
    assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "permissions[1]"), "{}", r.text);
    let r = w
        .app
        .post("/api/v1/roles", json!({"chain_id": w.chain, "code": "x", "name": "x", "permissions": ["chain.manage"]}))
        .await;
    assert_eq!(r.field(), "permissions[0]", "chain.manage is not grantable: {}", r.text);
    let r = w
        .app
        .post(
            "/api/v1/roles",
            json!({"chain_id": w.chain, "code": "cashier", "name": "x", "permissions": ["price.read"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "built-in names are taken: {}", r.text);
    let role = w.app.create("/api/v1/roles", json!({"chain_id": w.chain, "code": "pricer", "name": "调价员", "permissions": ["station.read", "price.read", "price.manage"]})).await;
    let s = w
        .app
        .create(
            "/api/v1/staff",
            json!({"chain_id": w.chain, "username": "pricer", "display_name": "调价员", "password": PASSWORD}),
        )
        .await;
    w.app
        .put(
            &format!("/api/v1/staff/{}/grants", s["id"]),
            json!({"grants": [{"role_id": role["id"], "station_id": w.station_b}]}),
        )
        .await;
    let token = w.app.login(&w.chain_code, "pricer", PASSWORD).await;
    let ok = w
        .app
        .call_as(
            &token,
            Method::PUT,
            &format!("/api/v1/stations/{}/prices/{}", w.station_b, w.grade),
            Some(&json!({"list_price_fen": 799})),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    let no = w
        .app
        .call_as(&token, Method::PATCH, &format!("/api/v1/stations/{}", w.station_b), Some(&json!({"name": "x"})))
        .await;
    assert_eq!((no.status, no.body["permission"].as_str()), (StatusCode::FORBIDDEN, Some("station.manage")));
    // Staff read through a station grant reaches the staff of that station only.
    let manager = &w.tokens["station_manager"];
    let r = w.app.call_as(manager, Method::GET, &format!("/api/v1/staff/{}", w.staff_ids["cashier"]), None).await;
    assert_eq!(r.status, StatusCode::OK, "the cashier works at A: {}", r.text);
    let r = w.app.call_as(manager, Method::GET, &format!("/api/v1/staff/{}", w.staff_ids["finance"]), None).await;
    assert_eq!((r.status, r.body["permission"].as_str()), (StatusCode::FORBIDDEN, Some("staff.read")), "{}", r.text);
    let builtin = w.app.patch(&format!("/api/v1/roles/{}", w.roles["cashier"]), json!({"name": "x"})).await;
    assert_eq!((builtin.status, builtin.code()), (StatusCode::CONFLICT, "role_builtin"));
}
