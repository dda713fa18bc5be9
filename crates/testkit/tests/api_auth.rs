//! Staff sign-in and sessions (B5) through the real HTTP API, on every database.

use jiayou_store::entity::staff_session;
use jiayou_store::sea_orm::sea_query::Expr;
use jiayou_store::sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use jiayou_testkit::{TestApp, on_each_backend};
use reqwest::{Method, StatusCode};
use serde_json::json;

const PASSWORD: &str = "Station-92-ok";

/// A chain with one chain admin; returns (chain code, staff id).
async fn chain_with_admin(app: &TestApp, username: &str) -> (String, i64) {
    let chain = app.new_chain().await;
    let code = app.get(&format!("/api/v1/chains/{chain}")).await.body["code"].as_str().unwrap().to_owned();
    let roles = app.get(&format!("/api/v1/roles?chain_id={chain}")).await.body;
    let admin = roles.as_array().unwrap().iter().find(|r| r["code"] == "chain_admin").unwrap()["id"].clone();
    let s = app
        .create(
            "/api/v1/staff",
            json!({"chain_id": chain, "username": username, "display_name": "管理员", "password": PASSWORD}),
        )
        .await;
    let id = s["id"].as_i64().unwrap();
    app.put(&format!("/api/v1/staff/{id}/grants"), json!({"grants": [{"role_id": admin}]})).await;
    (code, id)
}

async fn login(app: &TestApp, chain: &str, user: &str, password: &str) -> jiayou_testkit::Reply {
    app.call_anonymous(
        Method::POST,
        "/api/v1/auth/login",
        Some(&json!({"chain": chain, "username": user, "password": password})),
    )
    .await
}

on_each_backend! {
    async fn sign_in_sessions_and_sign_out(app) {
        let (chain, _) = chain_with_admin(&app, "admin").await;
        let r = login(&app, &chain, "ADMIN ", PASSWORD).await;
        assert_eq!(r.status, StatusCode::OK, "usernames are case-insensitive: {}", r.text);
        let first = r.body["token"].as_str().unwrap().to_owned();
        let second = app.login(&chain, "admin", PASSWORD).await;
        assert_ne!(first, second);
        let me = app.call_as(&first, Method::GET, "/api/v1/auth/sessions", None).await;
        let sessions = me.body.as_array().unwrap();
        assert_eq!(sessions.len(), 2, "{}", me.text);
        assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
        // Revoke the second session from the first: the second token stops working.
        let other = sessions.iter().find(|s| s["current"] == false).unwrap()["id"].as_i64().unwrap();
        let r = app.call_as(&first, Method::DELETE, &format!("/api/v1/auth/sessions/{other}"), None).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        let r = app.call_as(&second, Method::GET, "/api/v1/stations", None).await;
        assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "invalid_session"));
        // Sign out ends the first too.
        assert_eq!(app.call_as(&first, Method::POST, "/api/v1/auth/logout", None).await.status, StatusCode::NO_CONTENT);
        assert_eq!(app.call_as(&first, Method::GET, "/api/v1/auth/sessions", None).await.status, StatusCode::UNAUTHORIZED);
        // A forged token is refused the same way, and never reveals why.
        let r = app.call_as("forged-token-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", Method::GET, "/api/v1/stations", None).await;
        assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "invalid_session"));
        // Someone else's session id is not found, not revoked.
        let third = app.login(&chain, "admin", PASSWORD).await;
        let r = app.call_as(&third, Method::DELETE, "/api/v1/auth/sessions/987654321", None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    }

    async fn staff_change_their_own_password(app) {
        let (chain, _) = chain_with_admin(&app, "self").await;
        let here = app.login(&chain, "self", PASSWORD).await;
        let elsewhere = app.login(&chain, "self", PASSWORD).await;
        let change = |current: &str, new: &str| json!({"current_password": current, "new_password": new});
        let r = app.call_as(&here, Method::POST, "/api/v1/auth/password", Some(&change("wrong-one-1", "Next-pass-42"))).await;
        assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "current_password"), "{}", r.text);
        let r = app.call_as(&here, Method::POST, "/api/v1/auth/password", Some(&change(PASSWORD, "short"))).await;
        assert_eq!(r.field(), "new_password");
        let r = app.call_as(&here, Method::POST, "/api/v1/auth/password", Some(&change(PASSWORD, "Next-pass-42"))).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
        // This session goes on; the other device is signed out; only the new password works.
        assert_eq!(app.call_as(&here, Method::GET, "/api/v1/auth/sessions", None).await.status, StatusCode::OK);
        assert_eq!(app.call_as(&elsewhere, Method::GET, "/api/v1/auth/sessions", None).await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(login(&app, &chain, "self", PASSWORD).await.code(), "invalid_credentials");
        assert_eq!(login(&app, &chain, "self", "Next-pass-42").await.status, StatusCode::OK);
        // The admin token is not a person: it has no password to change.
        let r = app.post("/api/v1/auth/password", change(PASSWORD, "Next-pass-43")).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }

    async fn wrong_passwords_lock_the_account(app) {
        let (chain, id) = chain_with_admin(&app, "locky").await;
        let r = login(&app, &chain, "locky", "wrong-password-1").await;
        assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "invalid_credentials"));
        let unknown = login(&app, &chain, "nobody", "wrong-password-1").await;
        assert_eq!(unknown.body["detail"], r.body["detail"], "unknown users and wrong passwords look alike");
        let r = login(&app, "NO-SUCH-CHAIN", "locky", PASSWORD).await;
        assert_eq!(r.code(), "invalid_credentials");
        for _ in 0..4 {
            login(&app, &chain, "locky", "wrong-password-1").await;
        }
        // Locked now: even the right password is refused until the lock ends.
        let r = login(&app, &chain, "locky", PASSWORD).await;
        assert_eq!((r.status, r.code()), (StatusCode::LOCKED, "account_locked"), "{}", r.text);
        let s = app.get(&format!("/api/v1/staff/{id}")).await;
        assert!(s.body["locked_until"].is_string(), "{}", s.text);
        // An administrator's password reset lifts the lock.
        let r = app.patch(&format!("/api/v1/staff/{id}"), json!({"password": "Another-pass-9"})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(login(&app, &chain, "locky", "Another-pass-9").await.status, StatusCode::OK);
    }

    async fn expired_and_disabled_accounts_lose_access(app) {
        let (chain, id) = chain_with_admin(&app, "temp").await;
        let token = app.login(&chain, "temp", PASSWORD).await;
        assert_eq!(app.call_as(&token, Method::GET, "/api/v1/stations", None).await.status, StatusCode::OK);
        // Expire every session of this staff member in the database.
        staff_session::Entity::update_many()
            .col_expr(staff_session::Column::ExpiresAtUs, Expr::value(1_i64))
            .filter(staff_session::Column::StaffId.eq(id))
            .exec(app.app.db.writer())
            .await
            .unwrap();
        let r = app.call_as(&token, Method::GET, "/api/v1/stations", None).await;
        assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "invalid_session"));
        let token = app.login(&chain, "temp", PASSWORD).await;
        app.patch(&format!("/api/v1/staff/{id}"), json!({"disabled": true})).await;
        assert_eq!(app.call_as(&token, Method::GET, "/api/v1/stations", None).await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(login(&app, &chain, "temp", PASSWORD).await.code(), "invalid_credentials");
        // Re-enabling does not bring the old session back: disabling ended it.
        app.patch(&format!("/api/v1/staff/{id}"), json!({"disabled": false})).await;
        assert_eq!(app.call_as(&token, Method::GET, "/api/v1/stations", None).await.status, StatusCode::UNAUTHORIZED);
        // A password reset ends the sessions signed in with the old password.
        let token = app.login(&chain, "temp", PASSWORD).await;
        app.patch(&format!("/api/v1/staff/{id}"), json!({"password": "Brand-new-pass-7"})).await;
        assert_eq!(app.call_as(&token, Method::GET, "/api/v1/stations", None).await.status, StatusCode::UNAUTHORIZED);
    }

    async fn staff_bad_input(app) {
        let (_, _) = chain_with_admin(&app, "dup").await;
        let chain = app.new_chain().await;
        let ok = json!({"chain_id": chain, "username": "li.si", "display_name": "李四", "password": PASSWORD});
        app.create("/api/v1/staff", ok.clone()).await;
        let r = app.post("/api/v1/staff", ok.clone()).await;
        assert_eq!((r.status, r.field()), (StatusCode::CONFLICT, "username"), "{}", r.text);
        for (patch, field) in [
            (json!({"username": "x"}), "username"),
            (json!({"password": "short1"}), "password"),
            (json!({"password": "onlyletters"}), "password"),
            (json!({"phone": "12345"}), "phone"),
            (json!({"chain_id": 987_654_321}), "chain_id"),
        ] {
            let mut body = ok.clone();
            body["username"] = json!("wang.wu");
            for (k, v) in patch.as_object().unwrap() {
                body[k] = v.clone();
            }
            let r = app.post("/api/v1/staff", body.clone()).await;
            assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, field), "{body}: {}", r.text);
        }
        let list = app.get(&format!("/api/v1/staff?chain_id={chain}")).await;
        assert_eq!(list.body.as_array().unwrap().len(), 1, "nothing half-written: {}", list.text);
    }
}

/// Thirty failed sign-ins from one address make that address wait, whatever usernames
/// it tries; other addresses are unaffected. Behind a (simulated) trusted proxy so each
/// run uses its own address: on MariaDB the tests share a database.
#[tokio::test]
async fn failures_from_one_address_make_it_wait() {
    use jiayou_testkit::{Backend, spawn_app_behind_proxy, unique_suffix};
    for backend in [Backend::Sqlite, Backend::Postgres, Backend::MySql] {
        let Some(app) = spawn_app_behind_proxy(backend).await else { continue };
        let (chain, _) = chain_with_admin(&app, "victim").await;
        let n = unique_suffix().bytes().fold(0u32, |a, b| a.wrapping_mul(31).wrapping_add(b.into()));
        let attacker = format!("198.51.{}.{}", n % 250, (n / 250) % 250);
        let attempt = |ip: &str, user: &str, password: &str| {
            reqwest::Client::new()
                .post(format!("{}/api/v1/auth/login", app.base_url))
                .header("x-forwarded-for", ip)
                .json(&json!({"chain": chain, "username": user, "password": password}))
                .send()
        };
        for i in 0..jiayou_app::auth::MAX_FAILURES_PER_ADDRESS {
            let r = attempt(&attacker, &format!("guess{i}"), "wrong-password-1").await.unwrap();
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{backend:?} attempt {i}");
        }
        let r = attempt(&attacker, "victim", PASSWORD).await.unwrap();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "{backend:?}");
        assert!(r.headers().contains_key("retry-after"));
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["code"], "login_rate_limited");
        // The account itself was never locked, and elsewhere its owner signs in.
        let r = attempt("192.0.2.10", "victim", PASSWORD).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{backend:?}");
    }
}
