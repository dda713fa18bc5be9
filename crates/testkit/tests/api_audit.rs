//! The audit trail as staff produce it (S6): every state-changing call leaves one row
//! in the same transaction, refused calls leave none, and the chain verifies.

use jiayou_store::sea_orm::{ConnectionTrait, Statement};
use jiayou_testkit::{TestApp, on_each_backend};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn audit_rows(app: &TestApp, chain: i64, action: &str) -> Vec<Value> {
    let r = app.get(&format!("/api/v1/audit?chain_id={chain}&action={action}&per_page=200")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body["items"].as_array().unwrap().clone()
}

/// Broken scopes of one chain (on MariaDB the tests share a database, so other tests'
/// deliberately tampered chains are there too).
async fn broken_scopes(app: &TestApp, chain: i64) -> usize {
    let report = app.app.verify_audit().await.unwrap();
    report.scopes.iter().filter(|s| s.chain_id == chain && s.broken.is_some()).count()
}

on_each_backend! {
    async fn changes_are_audited_with_before_and_after(app) {
        let chain = app.new_chain().await;
        let station = app
            .create("/api/v1/stations", json!({"chain_id": chain, "code": "AU1", "name": "审计站", "address": "昆明", "lng": 102.7, "lat": 25.0}))
            .await["id"]
            .as_i64()
            .unwrap();
        app.patch(&format!("/api/v1/stations/{station}"), json!({"name": "审计旗舰站"})).await;
        // A refused change (invalid) leaves no row: audit rows commit with their change.
        let r = app.patch(&format!("/api/v1/stations/{station}"), json!({"name": ""})).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

        let rows = audit_rows(&app, chain, "station.").await;
        let actions: Vec<&str> = rows.iter().map(|r| r["action"].as_str().unwrap()).collect();
        assert_eq!(actions, vec!["station.update", "station.create"], "newest first: {rows:?}");
        let update = &rows[0];
        assert_eq!(update["before"]["name"], "审计站");
        assert_eq!(update["after"]["name"], "审计旗舰站");
        assert_eq!(update["actor_kind"], "admin_token");
        assert_eq!(update["ip"], "127.0.0.1");
        assert_eq!(update["station_id"], station);
        assert_eq!(update["target_id"], station.to_string());

        assert_eq!(broken_scopes(&app, chain).await, 0);
    }

    async fn tampering_is_detected(app) {
        let chain = app.new_chain().await;
        let g = app.create("/api/v1/grades", json!({"chain_id": chain, "code": "95", "name": "95#", "energy_type": "gasoline"})).await;
        app.patch(&format!("/api/v1/grades/{}", g["id"]), json!({"name": "95#汽油"})).await;
        assert_eq!(broken_scopes(&app, chain).await, 0);
        let sql = format!("UPDATE audit_log SET after_json = '{{\"name\":\"篡改\"}}' WHERE chain_id = {chain} AND action = 'grade.update'");
        let db = app.app.db.writer();
        db.execute_raw(Statement::from_string(db.get_database_backend(), sql)).await.unwrap();
        assert_eq!(broken_scopes(&app, chain).await, 1);
    }
}

#[tokio::test]
async fn staff_sign_ins_and_permission_scoped_search() {
    let app = jiayou_testkit::spawn_app(jiayou_testkit::Backend::Sqlite).await.unwrap();
    let chain = app.new_chain().await;
    let code = app.get(&format!("/api/v1/chains/{chain}")).await.body["code"].as_str().unwrap().to_owned();
    let roles = app.get(&format!("/api/v1/roles?chain_id={chain}")).await.body;
    let role = |c: &str| roles.as_array().unwrap().iter().find(|r| r["code"] == c).unwrap()["id"].clone();
    for (user, r) in [("fin", "finance"), ("cash", "cashier")] {
        let s = app
            .create(
                "/api/v1/staff",
                json!({"chain_id": chain, "username": user, "display_name": user, "password": "Audit-pass-1"}),
            )
            .await;
        app.put(&format!("/api/v1/staff/{}/grants", s["id"]), json!({"grants": [{"role_id": role(r)}]})).await;
    }
    let fin = app.login(&code, "fin", "Audit-pass-1").await;
    let cash = app.login(&code, "cash", "Audit-pass-1").await;
    let r = app.call_as(&fin, Method::GET, "/api/v1/audit?action=auth.login", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let labels: Vec<&str> =
        r.body["items"].as_array().unwrap().iter().map(|i| i["actor_label"].as_str().unwrap()).collect();
    assert_eq!(labels, vec!["staff:cash", "staff:fin"], "sign-ins are audited: {}", r.text);
    assert!(!r.text.contains("Audit-pass-1"), "never the password");
    let r = app.call_as(&cash, Method::GET, "/api/v1/audit", None).await;
    assert_eq!((r.status, r.body["permission"].as_str()), (StatusCode::FORBIDDEN, Some("audit.read")));
    let csv = reqwest::Client::new()
        .get(format!("{}/api/v1/audit/export", app.base_url))
        .bearer_auth(&fin)
        .send()
        .await
        .unwrap();
    assert!(csv.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let bytes = csv.bytes().await.unwrap();
    assert!(bytes.starts_with(&[0xEF, 0xBB, 0xBF]), "UTF-8 BOM for Excel");
    assert!(String::from_utf8_lossy(&bytes).contains("auth.login"));
}

#[tokio::test]
async fn client_addresses_come_from_the_proxy_only_when_trusted() {
    use jiayou_testkit::{Backend, spawn_app, spawn_app_behind_proxy};
    for (app, expected) in [
        (spawn_app(Backend::Sqlite).await.unwrap(), "127.0.0.1"),
        (spawn_app_behind_proxy(Backend::Sqlite).await.unwrap(), "203.0.113.7"),
    ] {
        let chain = app.new_chain().await;
        // The first entry is whatever the client claims; the last is what our proxy saw.
        let res = reqwest::Client::new()
            .post(format!("{}/api/v1/grades", app.base_url))
            .bearer_auth(jiayou_testkit::ADMIN_TOKEN)
            .header("x-forwarded-for", "10.9.9.9, 203.0.113.7")
            .json(&json!({"chain_id": chain, "code": "92", "name": "92#", "energy_type": "gasoline"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let rows = audit_rows(&app, chain, "grade.create").await;
        assert_eq!(rows[0]["ip"], expected, "{rows:?}");
    }
}
