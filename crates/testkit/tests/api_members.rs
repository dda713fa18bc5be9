//! Members (C5 sign-in, C6 vehicles, S2 v1 personal data) through the real HTTP API,
//! against the local WeChat and SMS peers, on every database; and the PII grep test:
//! a member's phone number and plate never reach the SQLite file or the logs.

use std::io::Write;
use std::sync::{Arc, Mutex};

use jiayou_store::entity::{audit_log, member, member_session, sms_code, vehicle};
use jiayou_store::sea_orm::sea_query::{Expr, ExprTrait};
use jiayou_store::sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use jiayou_testkit::{Backend, Reply, TestApp, on_each_backend, spawn_app, unique_suffix};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const PASSWORD: &str = "Member-test-9";

async fn wx_login(app: &TestApp, chain: &str, code: &str) -> Reply {
    app.call_anonymous(Method::POST, "/api/v1/member/login/wechat", Some(&json!({"chain": chain, "code": code}))).await
}

async fn send_code(app: &TestApp, chain: &str, phone: &str) -> Reply {
    app.call_anonymous(Method::POST, "/api/v1/member/sms/send", Some(&json!({"chain": chain, "phone": phone}))).await
}

async fn sms_login(app: &TestApp, chain: &str, phone: &str, code: &str) -> Reply {
    app.call_anonymous(
        Method::POST,
        "/api/v1/member/login/sms",
        Some(&json!({"chain": chain, "phone": phone, "code": code})),
    )
    .await
}

/// Signs a member in through WeChat; returns (token, member id).
async fn member(app: &TestApp, chain: &str, name: &str) -> (String, i64) {
    let r = wx_login(app, chain, &app.wechat.issue_code(name, false)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    (r.body["token"].as_str().unwrap().to_owned(), r.body["member_id"].as_i64().unwrap())
}

async fn members_in(app: &TestApp, chain_id: i64) -> u64 {
    member::Entity::find().filter(member::Column::ChainId.eq(chain_id)).count(app.app.db.reader()).await.unwrap()
}

/// Moves every SMS code of the chain `by_us` into the past (as if sent earlier).
async fn age_codes(app: &TestApp, chain_id: i64, by_us: i64) {
    sms_code::Entity::update_many()
        .col_expr(sms_code::Column::CreatedAtUs, Expr::col(sms_code::Column::CreatedAtUs).sub(by_us))
        .filter(sms_code::Column::ChainId.eq(chain_id))
        .exec(app.app.db.writer())
        .await
        .unwrap();
}

/// Sends a code to `phone` (ageing earlier codes past the one-a-minute limit) and
/// returns what the SMS peer received.
async fn fresh_code(app: &TestApp, chain_id: i64, chain: &str, phone: &str) -> String {
    age_codes(app, chain_id, 61_000_000).await;
    let r = send_code(app, chain, phone).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    app.sms.last_code(phone).expect("the SMS peer received a code")
}

/// A GB 11643 ID number with a valid check character.
fn id_number(first17: &str) -> String {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first17.bytes().zip(W).map(|(d, w)| u32::from(d - b'0') * w).sum();
    format!("{first17}{}", b"10X98765432"[(sum % 11) as usize] as char)
}

/// A staff member of `chain` holding `role` (at `station`, or chain-wide); returns the token.
async fn staff(app: &TestApp, chain: i64, chain_code: &str, role: &str, station: Option<i64>) -> String {
    let roles = app.get(&format!("/api/v1/roles?chain_id={chain}")).await.body;
    let role_id = roles.as_array().unwrap().iter().find(|r| r["code"] == role).unwrap()["id"].clone();
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
    app.login(chain_code, &username, PASSWORD).await
}

async fn station(app: &TestApp, chain: i64) -> i64 {
    app.create(
        "/api/v1/stations",
        json!({"chain_id": chain, "code": "S1", "name": "站", "address": "昆明", "lng": 102.7, "lat": 25.0}),
    )
    .await["id"]
        .as_i64()
        .unwrap()
}

on_each_backend! {
    async fn wechat_sign_in_creates_then_finds_the_member(app) {
        let (chain_id, chain) = app.new_chain_with_code().await;
        let first = app.wechat.issue_code("alice", false);
        let r = app
            .call_anonymous(
                Method::POST,
                "/api/v1/member/login/wechat",
                Some(&json!({"chain": chain.to_lowercase(), "code": first, "consent_version": "2026-01"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!((r.body["new_member"].as_bool(), r.body["phone_bound"].as_bool()), (Some(true), Some(false)));
        let id = r.body["member_id"].as_i64().unwrap();
        assert_eq!(r.body["chain_id"], chain_id);
        let token = r.body["token"].as_str().unwrap().to_owned();
        let me = app.call_as(&token, Method::GET, "/api/v1/member/me", None).await;
        assert_eq!(me.status, StatusCode::OK, "{}", me.text);
        assert_eq!((me.body["id"].as_i64(), me.body["wechat_bound"].as_bool()), (Some(id), Some(true)));
        assert_eq!(me.body["consents"]["privacy_policy"]["granted"], true, "{}", me.text);
        assert_eq!(me.body["consents"]["privacy_policy"]["policy_version"], "2026-01");
        assert_eq!(me.body["consents"]["location"]["granted"], false);

        // The same WeChat user with a fresh code is the same member.
        let r = wx_login(&app, &chain, &app.wechat.issue_code("alice", false)).await;
        assert_eq!((r.body["member_id"].as_i64(), r.body["new_member"].as_bool()), (Some(id), Some(false)), "{}", r.text);
        assert_ne!(r.body["token"].as_str().unwrap(), token);

        // A replayed code: WeChat's 40163, and nothing written.
        let sessions = member_session::Entity::find().filter(member_session::Column::MemberId.eq(id)).count(app.app.db.reader()).await.unwrap();
        let r = wx_login(&app, &chain, &first).await;
        assert_eq!((r.status, r.code(), r.field()), (StatusCode::BAD_REQUEST, "wechat_code_used", "code"), "{}", r.text);
        assert!(r.body["detail"].as_str().unwrap().contains("已被使用"), "{}", r.text);
        assert_eq!(members_in(&app, chain_id).await, 1);
        assert_eq!(member_session::Entity::find().filter(member_session::Column::MemberId.eq(id)).count(app.app.db.reader()).await.unwrap(), sessions);

        // Another user is another member.
        let (_, bob) = member(&app, &chain, "bob").await;
        assert_ne!(bob, id);
        // A first sign-in racing itself (three codes at once) creates one member.
        let tasks: Vec<_> = (0..3)
            .map(|_| {
                let (app, chain) = (app.clone(), chain.clone());
                let code = app.wechat.issue_code("racer", false);
                tokio::spawn(async move { wx_login(&app, &chain, &code).await })
            })
            .collect();
        let mut ids = Vec::new();
        for t in tasks {
            let r = t.await.unwrap();
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
            ids.push(r.body["member_id"].as_i64().unwrap());
        }
        ids.dedup();
        assert_eq!(ids.len(), 1, "{ids:?}");
        assert_eq!(members_in(&app, chain_id).await, 3);
        // The same openid in another chain is another member there.
        let (other_id, other) = app.new_chain_with_code().await;
        let (_, alice_there) = member(&app, &other, "alice").await;
        assert_ne!(alice_there, id);
        assert_eq!(members_in(&app, other_id).await, 1);
    }

    async fn wechat_unionid_links_members(app) {
        let (chain_id, chain) = app.new_chain_with_code().await;
        // A member known through another app of the chain's Open Platform account: the
        // unionid only, no openid of this mini-program yet.
        let now = jiayou_store::now_us();
        let known = member::ActiveModel {
            chain_id: Set(chain_id),
            unionid: Set(Some("u_sandbox_carol".into())),
            created_at_us: Set(now),
            updated_at_us: Set(now),
            ..Default::default()
        }
        .insert(app.app.db.writer())
        .await
        .unwrap();
        let r = wx_login(&app, &chain, &app.wechat.issue_code("carol", true)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!((r.body["member_id"].as_i64(), r.body["new_member"].as_bool()), (Some(known.id), Some(false)), "{}", r.text);
        let row = member::Entity::find_by_id(known.id).one(app.app.db.reader()).await.unwrap().unwrap();
        assert_eq!(row.openid.as_deref(), Some("o_sandbox_carol"), "linked: the openid is recorded");
        // Without the unionid next time, the openid finds the same member.
        let r = wx_login(&app, &chain, &app.wechat.issue_code("carol", false)).await;
        assert_eq!(r.body["member_id"].as_i64(), Some(known.id));

        // A member first seen without unionid learns it when WeChat starts sending one.
        let (_, dave) = member(&app, &chain, "dave").await;
        let r = wx_login(&app, &chain, &app.wechat.issue_code("dave", true)).await;
        assert_eq!(r.body["member_id"].as_i64(), Some(dave), "{}", r.text);
        let row = member::Entity::find_by_id(dave).one(app.app.db.reader()).await.unwrap().unwrap();
        assert_eq!(row.unionid.as_deref(), Some("u_sandbox_dave"));
        assert_eq!(members_in(&app, chain_id).await, 2);
    }

    async fn phone_binding_through_wechat(app) {
        let (chain_id, chain) = app.new_chain_with_code().await;
        let (alice, alice_id) = member(&app, &chain, "alice").await;
        let (bob, _) = member(&app, &chain, "bob").await;
        let bind = |token: String, code: &'static str| {
            let app = app.clone();
            async move { app.call_as(&token, Method::POST, "/api/v1/member/phone/wechat", Some(&json!({"code": code}))).await }
        };
        let r = bind(alice.clone(), "phone-13900001111").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["phone"], "13900001111");
        // The same number again (a new button tap) is fine; for another member it is taken.
        assert_eq!(bind(alice.clone(), "phone-13900001111.2").await.status, StatusCode::OK);
        let r = bind(bob.clone(), "phone-13900001111.3").await;
        assert_eq!((r.status, r.code(), r.field()), (StatusCode::CONFLICT, "phone_taken", "phone"), "{}", r.text);
        let me = app.call_as(&bob, Method::GET, "/api/v1/member/me", None).await;
        assert_eq!(me.body["phone"], Value::Null, "nothing written for bob: {}", me.text);
        // WeChat's refusals keep their codes.
        let r = bind(bob.clone(), "phone-err-40029").await;
        assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "wechat_code_invalid"), "{}", r.text);
        let r = bind(bob.clone(), "phone-otherapp-13900002222").await;
        assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "wechat_watermark_mismatch"), "{}", r.text);
        let r = bind(bob.clone(), "").await;
        assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "code"), "{}", r.text);
        // Without a member session: 401.
        let r = app.call_anonymous(Method::POST, "/api/v1/member/phone/wechat", Some(&json!({"code": "phone-13900003333"}))).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        // The bound number signs in by SMS as the same member.
        let code = fresh_code(&app, chain_id, &chain, "13900001111").await;
        let r = sms_login(&app, &chain, "139-0000-1111", &code).await;
        assert_eq!((r.status, r.body["member_id"].as_i64()), (StatusCode::OK, Some(alice_id)), "{}", r.text);
    }

    async fn sms_sign_in(app) {
        let (chain_id, chain) = app.new_chain_with_code().await;
        let r = send_code(&app, &chain, "+86 138 0013 8001").await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
        assert_eq!((r.body["expires_in"].as_u64(), r.body["resend_after"].as_u64()), (Some(300), Some(60)));
        let code = app.sms.last_code("13800138001").expect("sent");
        assert_eq!(code.len(), 6);
        let r = sms_login(&app, &chain, "13800138001", &code).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!((r.body["new_member"].as_bool(), r.body["phone_bound"].as_bool()), (Some(true), Some(true)));
        let id = r.body["member_id"].as_i64().unwrap();
        let token = r.body["token"].as_str().unwrap().to_owned();
        let me = app.call_as(&token, Method::GET, "/api/v1/member/me", None).await;
        assert_eq!((me.body["phone"].as_str(), me.body["wechat_bound"].as_bool()), (Some("13800138001"), Some(false)));
        // Signing in again finds the member.
        let code = fresh_code(&app, chain_id, &chain, "13800138001").await;
        let r = sms_login(&app, &chain, "13800138001", &code).await;
        assert_eq!((r.body["member_id"].as_i64(), r.body["new_member"].as_bool()), (Some(id), Some(false)), "{}", r.text);
        assert_eq!(members_in(&app, chain_id).await, 1);
        // The code is stored neither in clear nor as an unkeyed hash.
        for row in sms_code::Entity::find().filter(sms_code::Column::ChainId.eq(chain_id)).all(app.app.db.reader()).await.unwrap() {
            assert!(!row.code_hash.contains(&code) && row.code_hash.len() == 32);
        }
        // Bad input: each a 422 naming the field; no code sent.
        let sent = app.sms.messages().len();
        for (body, field) in [
            (json!({"chain": chain, "phone": "12345"}), "phone"),
            (json!({"chain": chain, "phone": "23800138001"}), "phone"),
            (json!({"chain": "NO-SUCH-CHAIN", "phone": "13800138002"}), "chain"),
            (json!({"chain": chain}), "phone"),
            (json!({"chain": chain, "phone": "13800138002", "x": 1}), "x"),
        ] {
            let r = app.call_anonymous(Method::POST, "/api/v1/member/sms/send", Some(&body)).await;
            assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, field), "{body}: {}", r.text);
        }
        for (code, field) in [("12ab56", "code"), ("1234567", "code"), ("", "code")] {
            let r = sms_login(&app, &chain, "13800138001", code).await;
            assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, field), "{}", r.text);
        }
        assert_eq!(app.sms.messages().len(), sent);
    }

    async fn sms_codes_are_single_use_expire_and_limit_attempts(app) {
        let (chain_id, chain) = app.new_chain_with_code().await;
        let phone = "13800138010";
        // No code sent yet: wrong.
        let r = sms_login(&app, &chain, phone, "123456").await;
        assert_eq!((r.status, r.code(), r.field()), (StatusCode::BAD_REQUEST, "sms_code_wrong", "code"), "{}", r.text);

        let code = fresh_code(&app, chain_id, &chain, phone).await;
        let wrong = if code == "000000" { "111111" } else { "000000" };
        let r = sms_login(&app, &chain, phone, wrong).await;
        assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "sms_code_wrong"), "{}", r.text);
        assert!(r.body["detail"].as_str().unwrap().contains("还可尝试 4 次"), "{}", r.text);
        assert_eq!(sms_login(&app, &chain, phone, &code).await.status, StatusCode::OK);
        // Reused.
        let r = sms_login(&app, &chain, phone, &code).await;
        assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "sms_code_used"), "{}", r.text);

        // Expired (five minutes): move the expiry into the past.
        let code = fresh_code(&app, chain_id, &chain, phone).await;
        sms_code::Entity::update_many()
            .col_expr(sms_code::Column::ExpiresAtUs, Expr::value(jiayou_store::now_us() - 1))
            .filter(sms_code::Column::ChainId.eq(chain_id))
            .exec(app.app.db.writer())
            .await
            .unwrap();
        let r = sms_login(&app, &chain, phone, &code).await;
        assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "sms_code_expired"), "{}", r.text);

        // Five attempts; the sixth is refused even with the right code.
        let code = fresh_code(&app, chain_id, &chain, phone).await;
        let wrong = if code == "000000" { "111111" } else { "000000" };
        for left in (0..5).rev() {
            let r = sms_login(&app, &chain, phone, wrong).await;
            assert_eq!(r.code(), "sms_code_wrong", "{}", r.text);
            if left > 0 {
                assert!(r.body["detail"].as_str().unwrap().contains(&format!("还可尝试 {left} 次")), "{}", r.text);
            }
        }
        let r = sms_login(&app, &chain, phone, &code).await;
        assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "sms_code_attempts_exceeded"), "{}", r.text);
        // An older code stops counting once a newer one is sent.
        let old = fresh_code(&app, chain_id, &chain, "13800138011").await;
        let new = fresh_code(&app, chain_id, &chain, "13800138011").await;
        if old != new {
            let r = sms_login(&app, &chain, "13800138011", &old).await;
            assert_eq!(r.code(), "sms_code_wrong", "{}", r.text);
        }
        assert_eq!(sms_login(&app, &chain, "13800138011", &new).await.status, StatusCode::OK);
        // A code is bound to its chain.
        let (_, other) = app.new_chain_with_code().await;
        let code = fresh_code(&app, chain_id, &chain, "13800138012").await;
        assert_eq!(sms_login(&app, &other, "13800138012", &code).await.code(), "sms_code_wrong");
    }

    async fn concurrent_uses_of_one_code_sign_in_once(app) {
        let (chain_id, chain) = app.new_chain_with_code().await;
        for round in 0..4 {
            let phone = format!("1370013800{round}");
            let code = fresh_code(&app, chain_id, &chain, &phone).await;
            let tasks: Vec<_> = (0..2)
                .map(|_| {
                    let (app, chain, phone, code) = (app.clone(), chain.clone(), phone.clone(), code.clone());
                    tokio::spawn(async move { sms_login(&app, &chain, &phone, &code).await })
                })
                .collect();
            let mut ok = 0;
            for t in tasks {
                let r = t.await.unwrap();
                match r.status {
                    StatusCode::OK => ok += 1,
                    _ => assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "sms_code_used"), "{}", r.text),
                }
            }
            assert_eq!(ok, 1, "round {round}: exactly one of two concurrent uses wins");
        }
        assert_eq!(members_in(&app, chain_id).await, 4);
    }

    async fn sms_rate_limits_per_phone_and_per_address(app) {
        let (chain_id, chain) = app.new_chain_with_code().await;
        let phone = "13600136000";
        // Concurrent requests for one number: the limit holds (one is sent).
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let (app, chain) = (app.clone(), chain.clone());
                tokio::spawn(async move { send_code(&app, &chain, phone).await })
            })
            .collect();
        let mut sent = 0;
        for t in tasks {
            let r = t.await.unwrap();
            match r.status {
                StatusCode::ACCEPTED => sent += 1,
                _ => assert_eq!(r.code(), "sms_too_frequent", "{}", r.text),
            }
        }
        assert_eq!(sent, 1);
        assert_eq!(app.sms.messages().iter().filter(|m| m.phone == format!("+86{phone}")).count(), 1);
        let r = send_code(&app, &chain, phone).await;
        assert_eq!((r.status, r.code(), r.field()), (StatusCode::TOO_MANY_REQUESTS, "sms_too_frequent", "phone"), "{}", r.text);
        let retry: u64 = r.header("retry-after").parse().unwrap();
        assert!((1..=60).contains(&retry), "Retry-After {retry}");
        // Four more, a minute apart; the sixth within the hour is refused.
        for _ in 0..4 {
            age_codes(&app, chain_id, 61_000_000).await;
            assert_eq!(send_code(&app, &chain, phone).await.status, StatusCode::ACCEPTED);
        }
        age_codes(&app, chain_id, 61_000_000).await;
        let r = send_code(&app, &chain, phone).await;
        assert_eq!((r.status, r.code()), (StatusCode::TOO_MANY_REQUESTS, "sms_hourly_limit"), "{}", r.text);
        let retry: u64 = r.header("retry-after").parse().unwrap();
        assert!(retry > 60 && retry <= 3600, "Retry-After {retry}");
        // An hour later the number may ask again.
        age_codes(&app, chain_id, 3_600_000_000).await;
        assert_eq!(send_code(&app, &chain, phone).await.status, StatusCode::ACCEPTED);

        // Per address: twenty an hour (per chain), whatever the numbers.
        let (_, chain2) = app.new_chain_with_code().await;
        for i in 0..20 {
            let r = send_code(&app, &chain2, &format!("135001350{i:02}")).await;
            assert_eq!(r.status, StatusCode::ACCEPTED, "{i}: {}", r.text);
        }
        let r = send_code(&app, &chain2, "13500135099").await;
        assert_eq!((r.status, r.code()), (StatusCode::TOO_MANY_REQUESTS, "sms_ip_limit"), "{}", r.text);
        assert!(r.header("retry-after").parse::<u64>().unwrap() > 0);
        assert_eq!(app.sms.last_code("13500135099"), None, "nothing sent over a limit");
    }

    async fn sms_provider_refusals_are_clear(app) {
        let (_, chain) = app.new_chain_with_code().await;
        // Reserved numbers of the SMS peer: an hourly limit at the provider, a blacklist.
        let r = send_code(&app, &chain, jiayou_integrations::sms::sandbox::RATE_LIMITED_PHONE).await;
        assert_eq!((r.status, r.code()), (StatusCode::TOO_MANY_REQUESTS, "sms_rate_limited"), "{}", r.text);
        assert!(!r.header("retry-after").is_empty());
        let r = send_code(&app, &chain, jiayou_integrations::sms::sandbox::BLOCKED_PHONE).await;
        assert_eq!((r.status, r.code(), r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "sms_rejected", "phone"), "{}", r.text);
    }

    async fn profile_view_and_correction(app) {
        let (_, chain) = app.new_chain_with_code().await;
        let (token, _) = member(&app, &chain, "erin").await;
        let patch = |body: Value| {
            let (app, token) = (app.clone(), token.clone());
            async move { app.call_as(&token, Method::PATCH, "/api/v1/member/me", Some(&body)).await }
        };
        let r = patch(json!({"name": " 张三 ", "id_number": "11010519491231002x"})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!((r.body["name"].as_str(), r.body["id_number"].as_str()), (Some("张三"), Some("11010519491231002X")));
        // Bad ID numbers: checksum, date of birth, shape — each 422 on id_number, nothing written.
        for (bad, says) in [
            ("110105194912310021", "校验"),
            ("110105194913310028", "出生日期"),
            ("11010519491231002", "18 位"),
            ("11010519491231002Y", "18 位"),
        ] {
            let r = patch(json!({"name": "李四", "id_number": bad})).await;
            assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "id_number"), "{bad}: {}", r.text);
            assert!(r.body["detail"].as_str().unwrap().contains(says), "{bad}: {}", r.text);
            assert!(!r.text.contains(bad), "the value is not echoed");
        }
        let r = patch(json!({"name": "Li4", "id_number": "1"})).await;
        let fields: Vec<&str> = r.body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert_eq!(fields, vec!["name", "id_number"], "{}", r.text);
        let me = app.call_as(&token, Method::GET, "/api/v1/member/me", None).await;
        assert_eq!((me.body["name"].as_str(), me.body["id_number"].as_str()), (Some("张三"), Some("11010519491231002X")));
        // Correct one field, clear another.
        let other = id_number("53010219900307123");
        let r = patch(json!({"id_number": other})).await;
        assert_eq!((r.body["name"].as_str(), r.body["id_number"].as_str()), (Some("张三"), Some(other.as_str())), "{}", r.text);
        let r = patch(json!({"name": ""})).await;
        assert_eq!(r.body["name"], Value::Null, "{}", r.text);
        let r = patch(json!({"phone": "13800000000"})).await;
        assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "phone"), "unknown field: {}", r.text);
        // The columns are sealed: the database holds no clear text.
        let me_id = me.body["id"].as_i64().unwrap();
        let row = member::Entity::find_by_id(me_id).one(app.app.db.reader()).await.unwrap().unwrap();
        let sealed = row.id_number.unwrap();
        assert!(!String::from_utf8_lossy(&sealed).contains(&other[..10]));
        assert_eq!(app.app.keys.open("members.id_number", &sealed).unwrap(), other);
        assert_eq!(row.id_number_bidx.unwrap(), app.app.keys.blind_index("members.id_number", &other));
    }

    async fn vehicles(app) {
        let (chain_id, chain) = app.new_chain_with_code().await;
        app.create("/api/v1/grades", json!({"chain_id": chain_id, "code": "95", "name": "95#", "energy_type": "gasoline"})).await;
        let (alice, _) = member(&app, &chain, "alice").await;
        let (bob, _) = member(&app, &chain, "bob").await;
        let add = |token: String, body: Value| {
            let app = app.clone();
            async move { app.call_as(&token, Method::POST, "/api/v1/member/vehicles", Some(&body)).await }
        };
        let r = add(alice.clone(), json!({"plate": "云a·12345", "brand": "丰田", "model": "卡罗拉", "colour": "白", "fuel_grade": "95"})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        assert_eq!((r.body["plate"].as_str(), r.body["fuel_grade"].as_str()), (Some("云A·12345"), Some("95")));
        let car = r.body["id"].as_i64().unwrap();
        let r = add(alice.clone(), json!({"plate": "粤B D12345"})).await;
        assert_eq!((r.status, r.body["plate"].as_str()), (StatusCode::CREATED, Some("粤B·D12345")), "new-energy: {}", r.text);
        let ev = r.body["id"].as_i64().unwrap();
        // The same plate, however written, cannot be bound twice in the chain.
        for plate in ["云A12345", "云A-12345", "云Ａ１２３４５"] {
            let r = add(bob.clone(), json!({"plate": plate})).await;
            assert_eq!((r.status, r.code(), r.field()), (StatusCode::CONFLICT, "plate_taken", "plate"), "{plate}: {}", r.text);
        }
        let r = add(alice.clone(), json!({"plate": "云A12345"})).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
        // Bad plates and unknown grades: 422 naming the field.
        for (body, field) in [
            (json!({"plate": "云A1234"}), "plate"),
            (json!({"plate": "XA12345"}), "plate"),
            (json!({"plate": "云A1234567"}), "plate"),
            (json!({"plate": ""}), "plate"),
            (json!({"plate": "云A54321", "fuel_grade": "98"}), "fuel_grade"),
            (json!({"plate": "云A54321", "brand": "x".repeat(33)}), "brand"),
        ] {
            let r = add(bob.clone(), body.clone()).await;
            assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, field), "{body}: {}", r.text);
        }
        let list = app.call_as(&bob, Method::GET, "/api/v1/member/vehicles", None).await;
        assert_eq!(list.body.as_array().unwrap().len(), 0, "nothing half-written: {}", list.text);
        // Change details and plate; clear a detail.
        let path = format!("/api/v1/member/vehicles/{car}");
        let r = app.call_as(&alice, Method::PATCH, &path, Some(&json!({"colour": "黑", "model": ""}))).await;
        assert_eq!((r.status, r.body["colour"].as_str(), r.body["model"].as_str(), r.body["brand"].as_str()), (StatusCode::OK, Some("黑"), None, Some("丰田")), "{}", r.text);
        let r = app.call_as(&alice, Method::PATCH, &path, Some(&json!({"plate": "粤BD12345"}))).await;
        assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "plate_taken"), "{}", r.text);
        let r = app.call_as(&alice, Method::PATCH, &path, Some(&json!({"plate": "云A12346"}))).await;
        assert_eq!(r.body["plate"], "云A·12346", "{}", r.text);
        // Someone else's vehicle is not found.
        assert_eq!(app.call_as(&bob, Method::PATCH, &path, Some(&json!({"colour": "红"}))).await.status, StatusCode::NOT_FOUND);
        assert_eq!(app.call_as(&bob, Method::DELETE, &path, None).await.status, StatusCode::NOT_FOUND);
        // Removing erases plate and details but keeps the row; the plate is free again.
        assert_eq!(app.call_as(&alice, Method::DELETE, &format!("/api/v1/member/vehicles/{ev}"), None).await.status, StatusCode::NO_CONTENT);
        let row = vehicle::Entity::find_by_id(ev).one(app.app.db.reader()).await.unwrap().unwrap();
        assert!(row.plate.is_none() && row.plate_bidx.is_none() && row.details.is_none() && row.deleted_at_us.is_some());
        assert_eq!(add(bob.clone(), json!({"plate": "粤BD12345"})).await.status, StatusCode::CREATED);
        let list = app.call_as(&alice, Method::GET, "/api/v1/member/vehicles", None).await;
        assert_eq!(list.body.as_array().unwrap().len(), 1, "{}", list.text);
        assert_eq!(app.call_as(&alice, Method::DELETE, &format!("/api/v1/member/vehicles/{ev}"), None).await.status, StatusCode::NOT_FOUND);
    }

    async fn consents_are_recorded_and_withdrawable(app) {
        let (_, chain) = app.new_chain_with_code().await;
        let (token, _) = member(&app, &chain, "frank").await;
        let r = app.call_as(&token, Method::GET, "/api/v1/member/consents", None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        for kind in ["privacy_policy", "location", "personalised_marketing"] {
            assert_eq!(r.body[kind]["granted"], false, "{}", r.text);
        }
        let put = |body: Value| {
            let (app, token) = (app.clone(), token.clone());
            async move { app.call_as(&token, Method::PUT, "/api/v1/member/consents", Some(&body)).await }
        };
        let r = put(json!({"privacy_policy": true, "location": true, "personalised_marketing": true, "policy_version": "2026-01"})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!((r.body["location"]["granted"].as_bool(), r.body["personalised_marketing"]["granted"].as_bool()), (Some(true), Some(true)));
        // Opting out of marketing is one call; location stays as it was.
        let r = put(json!({"personalised_marketing": false})).await;
        assert_eq!((r.body["location"]["granted"].as_bool(), r.body["personalised_marketing"]["granted"].as_bool()), (Some(true), Some(false)), "{}", r.text);
        assert!(r.body["personalised_marketing"]["at"].is_string());
        for (body, field) in [
            (json!({}), "privacy_policy"),
            (json!({"location": true, "policy_version": "v 1"}), "policy_version"),
            (json!({"location": "yes"}), "location"),
        ] {
            let r = put(body.clone()).await;
            assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, field), "{body}: {}", r.text);
        }
        // Append-only: the export shows every decision.
        let export = app.call_as(&token, Method::GET, "/api/v1/member/me/export", None).await;
        let history = export.body["consents"].as_array().unwrap();
        assert_eq!(history.len(), 4, "{}", export.text);
        assert_eq!(history[3]["kind"], "personalised_marketing");
        assert_eq!(history[3]["granted"], false);
        assert!(history[0]["ip"].is_string());
    }

    async fn export_contains_everything(app) {
        let (chain_id, chain) = app.new_chain_with_code().await;
        let code = app.wechat.issue_code("grace", true);
        let r = app.call_anonymous(Method::POST, "/api/v1/member/login/wechat", Some(&json!({"chain": chain, "code": code, "consent_version": "2026-01"}))).await;
        let token = r.body["token"].as_str().unwrap().to_owned();
        app.call_as(&token, Method::POST, "/api/v1/member/phone/wechat", Some(&json!({"code": "phone-13700137001"}))).await;
        let id = id_number("53010219851111004");
        app.call_as(&token, Method::PATCH, "/api/v1/member/me", Some(&json!({"name": "郭靖", "id_number": id}))).await;
        app.call_as(&token, Method::POST, "/api/v1/member/vehicles", Some(&json!({"plate": "云A88888", "brand": "比亚迪"}))).await;
        let code = fresh_code(&app, chain_id, &chain, "13700137001").await;
        let second = sms_login(&app, &chain, "13700137001", &code).await.body["token"].as_str().unwrap().to_owned();
        let r = app.call_as(&second, Method::GET, "/api/v1/member/me/export", None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let e = &r.body;
        assert_eq!(e["profile"]["phone"], "13700137001");
        assert_eq!(e["profile"]["name"], "郭靖");
        assert_eq!(e["profile"]["id_number"], id.as_str());
        assert_eq!(e["wechat"]["openid"], "o_sandbox_grace");
        assert_eq!(e["wechat"]["unionid"], "u_sandbox_grace");
        assert_eq!(e["vehicles"][0]["plate"], "云A·88888");
        assert_eq!(e["vehicles"][0]["brand"], "比亚迪");
        assert_eq!(e["consents"][0]["kind"], "privacy_policy");
        let sessions = e["sessions"].as_array().unwrap();
        assert_eq!(sessions.len(), 2, "{}", r.text);
        assert_eq!(sessions.iter().map(|s| s["method"].as_str().unwrap()).collect::<Vec<_>>(), vec!["wechat", "sms"]);
        assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
        assert_eq!(e["sms_codes"].as_array().unwrap().len(), 1, "{}", r.text);
        assert!(e["sms_codes"][0]["used_at"].is_string());
        assert!(e["exported_at"].is_string());
        assert!(r.header("content-disposition").contains("attachment"));
    }

    async fn deleting_the_account_erases_personal_data(app) {
        let (chain_id, chain) = app.new_chain_with_code().await;
        let (token, id) = member(&app, &chain, "heidi").await;
        app.call_as(&token, Method::POST, "/api/v1/member/phone/wechat", Some(&json!({"code": "phone-13700137002"}))).await;
        app.call_as(&token, Method::PATCH, "/api/v1/member/me", Some(&json!({"name": "黄蓉", "id_number": "11010519491231002X"}))).await;
        let car = app.call_as(&token, Method::POST, "/api/v1/member/vehicles", Some(&json!({"plate": "云A66666"}))).await.body["id"].as_i64().unwrap();
        let code = fresh_code(&app, chain_id, &chain, "13700137002").await;
        let other = sms_login(&app, &chain, "13700137002", &code).await.body["token"].as_str().unwrap().to_owned();

        assert_eq!(app.call_as(&token, Method::DELETE, "/api/v1/member/me", None).await.status, StatusCode::NO_CONTENT);
        // Every session is gone.
        for t in [&token, &other] {
            let r = app.call_as(t, Method::GET, "/api/v1/member/me", None).await;
            assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "invalid_member_session"), "{}", r.text);
        }
        // The row remains, erased.
        let row = member::Entity::find_by_id(id).one(app.app.db.reader()).await.unwrap().expect("the member row is kept");
        assert!(row.phone.is_none() && row.phone_bidx.is_none() && row.name.is_none());
        assert!(row.id_number.is_none() && row.id_number_bidx.is_none() && row.unionid.is_none());
        assert_eq!(row.openid, Some(format!("erased:{id}")));
        assert!(row.erased_at_us.is_some());
        let v = vehicle::Entity::find_by_id(car).one(app.app.db.reader()).await.unwrap().unwrap();
        assert!(v.plate.is_none() && v.plate_bidx.is_none() && v.deleted_at_us.is_some());
        let live = member_session::Entity::find()
            .filter(member_session::Column::MemberId.eq(id))
            .filter(member_session::Column::RevokedAtUs.is_null())
            .count(app.app.db.reader())
            .await
            .unwrap();
        assert_eq!(live, 0);
        let with_address = member_session::Entity::find()
            .filter(member_session::Column::MemberId.eq(id))
            .filter(member_session::Column::Ip.is_not_null())
            .count(app.app.db.reader())
            .await
            .unwrap();
        assert_eq!(with_address, 0, "{:?}: sign-in addresses are erased too", app.backend);
        assert_eq!(sms_code::Entity::find().filter(sms_code::Column::ChainId.eq(chain_id)).count(app.app.db.reader()).await.unwrap(), 0);
        let erased = audit_log::Entity::find()
            .filter(audit_log::Column::ChainId.eq(chain_id))
            .filter(audit_log::Column::Action.eq("member.erase"))
            .all(app.app.db.reader())
            .await
            .unwrap();
        assert_eq!(erased.len(), 1, "{erased:?}");
        assert_eq!((erased[0].actor_kind.as_str(), erased[0].target_id.clone()), ("member", Some(id.to_string())));
        // Staff see an erased member.
        let r = app.get(&format!("/api/v1/members/{id}")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert!(r.body["erased_at"].is_string() && r.body["phone"] == Value::Null && r.body["vehicles"].as_array().unwrap().is_empty());
        let r = app.get(&format!("/api/v1/members?chain_id={chain_id}&phone=13700137002")).await;
        assert_eq!(r.body.as_array().unwrap().len(), 0, "{}", r.text);
        // Signing in again later creates a new member, who may bind the same number and plate.
        let r = wx_login(&app, &chain, &app.wechat.issue_code("heidi", false)).await;
        assert_eq!(r.body["new_member"], true, "{}", r.text);
        assert_ne!(r.body["member_id"].as_i64(), Some(id));
        let fresh = r.body["token"].as_str().unwrap().to_owned();
        let r = app.call_as(&fresh, Method::POST, "/api/v1/member/phone/wechat", Some(&json!({"code": "phone-13700137002.2"}))).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let r = app.call_as(&fresh, Method::POST, "/api/v1/member/vehicles", Some(&json!({"plate": "云A66666"}))).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }

    async fn staff_lookup_is_masked_by_role_and_audited(app) {
        let (chain_id, chain) = app.new_chain_with_code().await;
        let station_a = station(&app, chain_id).await;
        let (token, id) = member(&app, &chain, "ivan").await;
        app.call_as(&token, Method::POST, "/api/v1/member/phone/wechat", Some(&json!({"code": "phone-13812341234"}))).await;
        app.call_as(&token, Method::PATCH, "/api/v1/member/me", Some(&json!({"name": "张三", "id_number": id_number("53010219900307123")}))).await;
        app.call_as(&token, Method::POST, "/api/v1/member/vehicles", Some(&json!({"plate": "云A12345", "brand": "大众"}))).await;
        let cashier = staff(&app, chain_id, &chain, "cashier", Some(station_a)).await;
        let admin = staff(&app, chain_id, &chain, "chain_admin", None).await;
        let attendant = staff(&app, chain_id, &chain, "attendant", Some(station_a)).await;

        let audits = || async {
            audit_log::Entity::find()
                .filter(audit_log::Column::ChainId.eq(chain_id))
                .filter(audit_log::Column::Action.eq("member.pii.view"))
                .filter(audit_log::Column::TargetId.eq(id.to_string()))
                .all(app.app.db.reader())
                .await
                .unwrap()
        };
        let lookup = "/api/v1/members?phone=%2B86%20138-1234-1234".to_owned();
        let r = app.call_as(&cashier, Method::GET, &lookup, None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let m = &r.body[0];
        assert_eq!(m["id"].as_i64(), Some(id));
        assert_eq!(m["phone"], "138****1234");
        assert_eq!(m["name"], "张*");
        assert_eq!(m["id_number"], format!("5301**********{}", &id_number("53010219900307123")[14..]));
        assert_eq!(m["vehicles"][0]["plate"], "云A·***45");
        assert_eq!(m["vehicles"][0]["brand"], Value::Null, "vehicle details need pii.read");
        assert_eq!(m["masked"], true);
        assert!(!r.text.contains("13812341234") && !r.text.contains("张三"));
        let r = app.call_as(&admin, Method::GET, &format!("/api/v1/members/{id}"), None).await;
        assert_eq!((r.body["phone"].as_str(), r.body["name"].as_str()), (Some("13812341234"), Some("张三")), "{}", r.text);
        assert_eq!((r.body["vehicles"][0]["plate"].as_str(), r.body["vehicles"][0]["brand"].as_str()), (Some("云A·12345"), Some("大众")));
        assert_eq!(r.body["masked"], false);
        // Each view is one audit row naming the fields shown, never their values.
        let rows = audits().await;
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert_eq!(rows[0].actor_kind, "staff");
        assert!(rows[0].after_json.as_deref().unwrap().contains("\"masked\":true"), "{rows:?}");
        for row in &rows {
            let text = format!("{row:?}");
            assert!(!text.contains("13812341234") && !text.contains("张三") && !text.contains("12345\""), "{text}");
        }
        // An attendant lacks member.read; a lookup needs a phone; other formats find the same member.
        let r = app.call_as(&attendant, Method::GET, &lookup, None).await;
        assert_eq!((r.status, r.body["permission"].as_str()), (StatusCode::FORBIDDEN, Some("member.read")), "{}", r.text);
        let r = app.call_as(&cashier, Method::GET, "/api/v1/members", None).await;
        assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "phone"), "{}", r.text);
        let r = app.call_as(&cashier, Method::GET, "/api/v1/members?phone=13900000000", None).await;
        assert_eq!(r.body.as_array().unwrap().len(), 0, "{}", r.text);
        assert_eq!(audits().await.len(), 2, "refused and empty lookups view nobody");
        // Another chain's staff cannot see this member.
        let (other_id, other_code) = app.new_chain_with_code().await;
        let outsider = staff(&app, other_id, &other_code, "chain_admin", None).await;
        let r = app.call_as(&outsider, Method::GET, &format!("/api/v1/members/{id}"), None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        let r = app.call_as(&outsider, Method::GET, &format!("/api/v1/members?chain_id={chain_id}&phone=13812341234"), None).await;
        assert_eq!(r.body.as_array().map(Vec::len), Some(0), "staff search their own chain only: {}", r.text);
        // A member token is not a staff session, nor a staff token a member session.
        assert_eq!(app.call_as(&token, Method::GET, &lookup, None).await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(app.call_as(&admin, Method::GET, "/api/v1/member/me", None).await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(app.get("/api/v1/member/me").await.status, StatusCode::UNAUTHORIZED);
    }
}

/// WeChat's error answers (the same on every database: nothing is written).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_wechat_error_has_its_code_and_status() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let (chain_id, chain) = app.new_chain_with_code().await;
    for (code, status, expected, says) in [
        ("err-40029", StatusCode::BAD_REQUEST, "wechat_code_invalid", "无效或已过期"),
        ("err-45011", StatusCode::TOO_MANY_REQUESTS, "wechat_rate_limited", "过于频繁"),
        ("err-40226", StatusCode::FORBIDDEN, "wechat_user_blocked", "安全风险"),
        ("err-busy", StatusCode::SERVICE_UNAVAILABLE, "wechat_busy", "繁忙"),
        ("err-malformed", StatusCode::BAD_GATEWAY, "wechat_bad_response", "异常"),
        ("not-a-sandbox-code", StatusCode::BAD_REQUEST, "wechat_code_invalid", "无效"),
    ] {
        let r = wx_login(&app, &chain, code).await;
        assert_eq!((r.status, r.code()), (status, expected), "{code}: {}", r.text);
        assert!(r.body["detail"].as_str().unwrap().contains(says), "{code}: {}", r.text);
        assert_eq!(r.content_type, "application/problem+json");
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(r.header("retry-after"), "60");
        }
    }
    // A code older than five minutes: WeChat calls it invalid.
    let old = app.wechat.issue_code("late", false);
    app.wechat.advance(std::time::Duration::from_secs(301));
    let r = wx_login(&app, &chain, &old).await;
    assert_eq!(r.code(), "wechat_code_invalid", "{}", r.text);
    // Bad input never reaches WeChat.
    let before = app.wechat.session_requests();
    for (body, field) in [
        (json!({"chain": chain, "code": ""}), "code"),
        (json!({"chain": chain, "code": "a b"}), "code"),
        (json!({"chain": "NOPE", "code": "test-x"}), "chain"),
        (json!({"chain": chain}), "code"),
        (json!({"chain": chain, "code": "test-x", "consent_version": "?"}), "consent_version"),
    ] {
        let r = app.call_anonymous(Method::POST, "/api/v1/member/login/wechat", Some(&body)).await;
        assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, field), "{body}: {}", r.text);
    }
    assert_eq!(app.wechat.session_requests(), before);
    // WeChat unreachable.
    app.wechat.shutdown();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let r = wx_login(&app, &chain, "test-zed").await;
    assert_eq!((r.status, r.code()), (StatusCode::SERVICE_UNAVAILABLE, "wechat_unreachable"), "{}", r.text);
    assert_eq!(members_in(&app, chain_id).await, 0, "no error wrote a member");
}

/// Log lines of every thread, for the PII grep test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// THE PII GREP TEST (S2, ARCHITECTURE rule 8): a member with a distinctive phone
/// number, plate, name and ID number signs in (WeChat and SMS), binds the phone, adds the
/// vehicle, corrects the profile and is looked up by staff; then neither the SQLite
/// database file (with its WAL) nor the log output at TRACE level contains any of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personal_data_never_reaches_the_database_file_or_the_logs() {
    let captured = Captured::default();
    let sink = captured.clone();
    // Global, so the server's tasks on every thread are captured (and `log` records too).
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .try_init()
        .expect("the only test of this binary that installs a subscriber");

    const PHONE: &str = "13957120486";
    const PLATE: &str = "云A7Q3X9";
    const NAME: &str = "司马懿";
    let id = id_number("53010219780912345");

    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let (chain_id, chain) = app.new_chain_with_code().await;
    let station_a = station(&app, chain_id).await;
    let cashier = staff(&app, chain_id, &chain, "cashier", Some(station_a)).await;
    let (token, member_id) = member(&app, &chain, "pii").await;
    let r = app
        .call_as(&token, Method::POST, "/api/v1/member/phone/wechat", Some(&json!({"code": format!("phone-{PHONE}")})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = app
        .call_as(
            &token,
            Method::POST,
            "/api/v1/member/vehicles",
            Some(&json!({"plate": "云a·7q3x9", "brand": "红旗", "colour": "青"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r =
        app.call_as(&token, Method::PATCH, "/api/v1/member/me", Some(&json!({"name": NAME, "id_number": id}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // Bad input carrying personal data is refused without echoing it to the log.
    app.call_as(&token, Method::PATCH, "/api/v1/member/me", Some(&json!({"id_number": format!("{}0", &id[..17])})))
        .await;
    app.call_as(&token, Method::POST, "/api/v1/member/vehicles", Some(&json!({"plate": PLATE}))).await;
    // SMS sign-in with the same number finds the same member.
    let r = send_code(&app, &chain, &format!("+86 {} {} {}", &PHONE[..3], &PHONE[3..7], &PHONE[7..])).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    sms_login(&app, &chain, PHONE, "000000").await;
    let code = app.sms.last_code(PHONE).unwrap();
    let r = sms_login(&app, &chain, PHONE, &code).await;
    assert_eq!(r.body["member_id"].as_i64(), Some(member_id), "{}", r.text);
    // Staff look the member up, masked and in full.
    let r = app.call_as(&cashier, Method::GET, &format!("/api/v1/members?phone={PHONE}"), None).await;
    assert_eq!(r.body[0]["phone"], "139****0486", "{}", r.text);
    let r = app.get(&format!("/api/v1/members?chain_id={chain_id}&phone={PHONE}")).await;
    assert_eq!(
        (r.body[0]["phone"].as_str(), r.body[0]["vehicles"][0]["plate"].as_str()),
        (Some(PHONE), Some("云A·7Q3X9"))
    );
    let r = app.get(&format!("/api/v1/members/{member_id}")).await;
    assert_eq!(r.body["name"], NAME);
    let r = app.call_as(&token, Method::GET, "/api/v1/member/me/export", None).await;
    assert_eq!(r.body["profile"]["phone"], PHONE);

    let mut needles: Vec<String> = vec![
        PHONE.into(),
        format!("{} {} {}", &PHONE[..3], &PHONE[3..7], &PHONE[7..]),
        format!("{}-{}-{}", &PHONE[..3], &PHONE[3..7], &PHONE[7..]),
        PLATE.into(),
        "云A·7Q3X9".into(),
        "7Q3X9".into(),
        "7q3x9".into(),
        NAME.into(),
        id.clone(),
        "红旗".into(),
    ];
    needles.dedup();

    let path = app.sqlite_path().unwrap();
    let mut files = Vec::new();
    for suffix in ["", "-wal"] {
        let p = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
        if let Ok(bytes) = std::fs::read(&p) {
            files.push((p.display().to_string(), bytes));
        }
    }
    assert!(!files.is_empty() && files.iter().map(|(_, b)| b.len()).sum::<usize>() > 10_000, "read the database");
    // Show that the search works: the member's blind index is in the file.
    let bidx = app.app.keys.blind_index("members.phone", PHONE);
    assert!(files.iter().any(|(_, b)| contains(b, bidx.as_bytes())), "the blind index is stored");
    for (name, bytes) in &files {
        for n in &needles {
            assert!(!contains(bytes, n.as_bytes()), "{n:?} found in {name}");
        }
    }
    let logs = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    assert!(logs.contains("member signed in with SMS"), "the log was captured");
    assert!(logs.contains("139****0486"), "numbers appear masked (SMS peer)");
    for n in &needles {
        assert!(!logs.contains(n.as_str()), "{n:?} reached the log");
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
