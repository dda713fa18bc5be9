//! Marketing (C3 payment policy, C12 top-up bonus rules and the wallet view, C14
//! coupons) through the real HTTP API, on every configured database. Each test makes its
//! own chain: on MariaDB tests share a database.

use jiayou_app::marketing::best_topup_rule;
use jiayou_domain::coupon::CouponRule;
use jiayou_store::entity::{coupon, ledger_entry, topup_rule, wallet};
use jiayou_store::now_us;
use jiayou_store::sea_orm::sea_query::Expr;
use jiayou_store::sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use jiayou_testkit::{TestApp, on_each_backend, unique_suffix};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const PASSWORD: &str = "Jiayou-2026!";
const DAY_US: i64 = 86_400 * 1_000_000;

/// A signed-in member of the chain: (token, member id).
async fn member(app: &TestApp, chain_code: &str, name: &str) -> (String, i64) {
    let token = app.member_login(chain_code, &format!("{name}{}", unique_suffix())).await;
    let me = app.call_as(&token, Method::GET, "/api/v1/member/me", None).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    (token, me.body["id"].as_i64().unwrap())
}

async fn station(app: &TestApp, chain: i64, code: &str) -> i64 {
    app.create(
        "/api/v1/stations",
        json!({"chain_id": chain, "code": code, "name": "测试站", "address": "昆明市北京路1号", "lng": 102.72, "lat": 25.04}),
    )
    .await["id"]
        .as_i64()
        .unwrap()
}

/// A staff member holding the built-in `role` (at `station`, or chain-wide); their token.
async fn staff(app: &TestApp, chain: i64, chain_code: &str, role: &str, station: Option<i64>) -> String {
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
    app.login(chain_code, &username, PASSWORD).await
}

fn in_days(days: i64) -> String {
    chrono_like(now_us() + days * DAY_US)
}

/// RFC 3339 of an instant in µs (UTC).
fn chrono_like(us: i64) -> String {
    let secs = us.div_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3_600, rem % 3_600 / 60, rem % 60)
}

fn coupon_body(member_ids: &[i64]) -> Value {
    json!({
        "member_ids": member_ids,
        "title": "满100减10",
        "rule": {"kind": "threshold", "min_fen": 10_000, "off_fen": 1_000},
        "stackable": false,
        "grade_ids": [],
        "valid_until": in_days(30),
    })
}

fn fields(r: &jiayou_testkit::Reply) -> Vec<String> {
    r.body["errors"]
        .as_array()
        .map(|a| a.iter().map(|e| e["field"].as_str().unwrap_or("").to_owned()).collect())
        .unwrap_or_default()
}

async fn audit_rows(app: &TestApp, chain: i64, action: &str) -> Vec<Value> {
    let r = app.get(&format!("/api/v1/audit?chain_id={chain}&action={action}&per_page=200")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body["items"].as_array().unwrap().clone()
}

fn rule(id: i64, min: i64, retired: bool) -> topup_rule::Model {
    topup_rule::Model {
        id,
        chain_id: 1,
        name: format!("充{min}"),
        min_amount_fen: min,
        bonus_fen: 0,
        bonus_points: 10,
        coupon_rule: None,
        coupon_count: 0,
        coupon_valid_days: 0,
        created_at_us: 0,
        retired_at_us: retired.then_some(1),
    }
}

#[test]
fn best_topup_rule_takes_the_highest_threshold_reached() {
    let rules = [rule(1, 10_000, false), rule(2, 50_000, false), rule(3, 100_000, true), rule(4, 50_000, false)];
    assert_eq!(best_topup_rule(&rules, 0), None);
    assert_eq!(best_topup_rule(&rules, 9_999), None);
    assert_eq!(best_topup_rule(&rules, 10_000).map(|r| r.id), Some(1));
    assert_eq!(best_topup_rule(&rules, 49_999).map(|r| r.id), Some(1));
    // Equal thresholds: the older rule.
    assert_eq!(best_topup_rule(&rules, 50_000).map(|r| r.id), Some(2));
    // A retired rule never applies.
    assert_eq!(best_topup_rule(&rules, 200_000).map(|r| r.id), Some(2));
}

#[test]
fn rfc3339_helper_is_right() {
    assert_eq!(chrono_like(0), "1970-01-01T00:00:00Z");
    assert_eq!(chrono_like(951_782_400 * 1_000_000), "2000-02-29T00:00:00Z");
    assert_eq!(chrono_like(4_102_444_800 * 1_000_000 + 3_661_000_000), "2100-01-01T01:01:01Z");
}

on_each_backend! {
    async fn payment_policy_defaults_update_and_audit(app) {
        let chain = app.new_chain().await;
        let path = format!("/api/v1/chains/{chain}/payment-policy");
        let r = app.get(&path).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["policy"]["order"], json!(["coupon", "points", "balance", "channel"]));
        assert_eq!(r.body["policy"]["points_cap_bp"], 5_000);
        assert_eq!(r.body["hold_seconds"], 300);
        assert_eq!(r.body["pay_window_seconds"], 900);
        assert_eq!(r.body["autopay_max_fen"], 100_000);
        assert!(r.body["updated_at"].is_null(), "{}", r.text);
        // The same for the use-cases, without a permission check.
        let direct = app.app.payment_policy(chain).await.unwrap();
        assert_eq!((direct.hold_seconds, direct.updated_at), (300, None));

        let body = json!({
            "policy": {"order": ["balance", "coupon", "channel"], "points_earn_per_yuan": 2, "points_per_yuan": 100, "points_cap_bp": 3_000},
            "hold_seconds": 600, "pay_window_seconds": 1_200, "autopay_max_fen": 50_000,
        });
        let r = app.put(&path, body.clone()).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["policy"]["order"], json!(["balance", "coupon", "channel"]));
        assert!(r.body["updated_at"].is_string());
        let got = app.get(&path).await.body;
        assert_eq!(got["hold_seconds"], 600);
        assert_eq!(got["policy"]["points_earn_per_yuan"], 2);
        let direct = app.app.payment_policy(chain).await.unwrap();
        assert_eq!((direct.pay_window_seconds, direct.autopay_max_fen, direct.policy.points_cap_bp), (1_200, 50_000, 3_000));
        // A GET answer can be sent back as is (updated_at is ignored); a second change updates the one row.
        let mut again = got.clone();
        again["hold_seconds"] = json!(900);
        let r = app.put(&path, again).await;
        assert_eq!((r.status, r.body["hold_seconds"].as_i64()), (StatusCode::OK, Some(900)), "{}", r.text);

        let rows = audit_rows(&app, chain, "payment_policy.update").await;
        assert_eq!(rows.len(), 2, "{rows:?}");
        let first = rows.iter().find(|r| r["after"]["hold_seconds"] == 600).expect("first change audited");
        assert_eq!(first["before"]["hold_seconds"], 300, "before holds the defaults");
        assert_eq!(first["target_id"], chain.to_string());

        // Another chain keeps its defaults; an unknown chain is not found.
        let other = app.new_chain().await;
        assert_eq!(app.get(&format!("/api/v1/chains/{other}/payment-policy")).await.body["hold_seconds"], 300);
        let r = app.get("/api/v1/chains/987654321/payment-policy").await;
        assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "chain_not_found"), "{}", r.text);
    }

    async fn payment_policy_validation_names_fields(app) {
        let chain = app.new_chain().await;
        let path = format!("/api/v1/chains/{chain}/payment-policy");
        let ok = json!({"policy": {}, "hold_seconds": 300, "pay_window_seconds": 900, "autopay_max_fen": 100_000});
        let cases: Vec<(Value, &str)> = vec![
            (json!({"policy": {"order": ["coupon", "balance", "coupon"]}}), "policy.order[2]"),
            (json!({"policy": {"order": ["coupon", "points"]}}), "policy.order"),
            (json!({"policy": {"points_cap_bp": 10_001}}), "policy.points_cap_bp"),
            (json!({"policy": {"points_per_yuan": 0}}), "policy.points_per_yuan"),
            (json!({"policy": {"order": ["cash"]}}), "policy.order[0]"),
            (json!({"hold_seconds": 59}), "hold_seconds"),
            (json!({"hold_seconds": 1_801}), "hold_seconds"),
            (json!({"pay_window_seconds": 3_601}), "pay_window_seconds"),
            (json!({"autopay_max_fen": 0}), "autopay_max_fen"),
            (json!({"autopay_max_fen": 1_000_001}), "autopay_max_fen"),
            (json!({"extra": 1}), "extra"),
        ];
        for (patch, field) in cases {
            let mut body = ok.clone();
            for (k, v) in patch.as_object().unwrap() {
                body[k] = v.clone();
            }
            let r = app.put(&path, body.clone()).await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body} → {}", r.text);
            assert_eq!(r.content_type, "application/problem+json");
            assert_eq!(r.field(), field, "{body} → {}", r.text);
            assert!(!r.body["detail"].as_str().unwrap().is_empty());
        }
        // Every bad field at once; nothing changed.
        let r = app
            .put(&path, json!({"policy": {"points_cap_bp": 20_000}, "hold_seconds": 0, "pay_window_seconds": 0, "autopay_max_fen": 0}))
            .await;
        assert_eq!(
            fields(&r),
            vec!["policy.points_cap_bp", "hold_seconds", "pay_window_seconds", "autopay_max_fen"],
            "{}",
            r.text
        );
        assert!(app.get(&path).await.body["updated_at"].is_null());
        assert!(audit_rows(&app, chain, "payment_policy.").await.is_empty());
    }

    async fn coupons_are_issued_all_or_nothing(app) {
        let (chain, code) = app.new_chain_with_code().await;
        let (alice, alice_id) = member(&app, &code, "alice").await;
        let (bob, bob_id) = member(&app, &code, "bob").await;
        let (other_code_chain, other_code) = app.new_chain_with_code().await;
        let (_, stranger) = member(&app, &other_code, "carol").await;
        let path = format!("/api/v1/chains/{chain}/coupons");

        // One bad id (unknown, or a member of another chain) and nothing is issued.
        for bad in [987_654_321, stranger] {
            let r = app.post(&path, coupon_body(&[alice_id, bad, bob_id])).await;
            assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "member_ids[1]"), "{}", r.text);
        }
        let r = app.post(&path, coupon_body(&[alice_id, alice_id])).await;
        assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "member_ids[1]"), "{}", r.text);
        let r = app.post(&path, coupon_body(&[])).await;
        assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "member_ids"), "{}", r.text);
        let many: Vec<i64> = (1..=501).collect();
        let r = app.post(&path, coupon_body(&many)).await;
        assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "member_ids"), "{}", r.text);
        assert_eq!(app.get(&path).await.body["total"], 0, "nothing half-issued");
        assert!(audit_rows(&app, chain, "coupon.").await.is_empty());

        let r = app.post(&path, coupon_body(&[alice_id, bob_id])).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        assert_eq!(r.body["issued"], 2);
        let ids: Vec<i64> = r.body["coupon_ids"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
        assert_eq!(ids.len(), 2);

        // Each member sees their own coupon only.
        let mine = app.call_as(&alice, Method::GET, "/api/v1/member/coupons", None).await;
        assert_eq!(mine.status, StatusCode::OK, "{}", mine.text);
        let mine = mine.body.as_array().unwrap().clone();
        assert_eq!(mine.len(), 1, "{mine:?}");
        assert_eq!(mine[0]["id"], ids[0]);
        assert_eq!(mine[0]["member_id"], alice_id);
        assert_eq!(mine[0]["status"], "available");
        assert_eq!(mine[0]["title"], "满100减10");
        assert_eq!(mine[0]["rule"], json!({"kind": "threshold", "min_fen": 10_000, "off_fen": 1_000}));
        assert_eq!(mine[0]["source"], "issued");
        assert!(mine[0]["used_order_id"].is_null() && mine[0]["used_at"].is_null());
        let theirs = app.call_as(&bob, Method::GET, "/api/v1/member/coupons", None).await.body;
        assert_eq!(theirs.as_array().unwrap().len(), 1);
        assert_eq!(theirs[0]["id"], ids[1]);

        // Staff list: by member, by status; one audit row for the whole issue.
        let r = app.get(&format!("{path}?member_id={alice_id}")).await;
        assert_eq!(r.body["total"], 1, "{}", r.text);
        assert_eq!(r.body["items"][0]["id"], ids[0]);
        assert_eq!(app.get(&format!("{path}?status=available")).await.body["total"], 2);
        assert_eq!(app.get(&format!("{path}?status=used")).await.body["total"], 0);
        assert_eq!(app.get(&format!("/api/v1/chains/{other_code_chain}/coupons")).await.body["total"], 0);
        let r = app.get(&format!("{path}?status=lost")).await;
        assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "status"));
        let rows = audit_rows(&app, chain, "coupon.issue").await;
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0]["after"]["issued"], 2);
        assert_eq!(rows[0]["after"]["member_ids"], json!([alice_id, bob_id]));
    }

    async fn coupon_rules_and_validity_are_validated(app) {
        let (chain, code) = app.new_chain_with_code().await;
        let (token, id) = member(&app, &code, "dave").await;
        let grade = app
            .create("/api/v1/grades", json!({"chain_id": chain, "code": "92", "name": "92#", "energy_type": "gasoline"}))
            .await["id"]
            .as_i64()
            .unwrap();
        let other = app.new_chain().await;
        let foreign = app
            .create("/api/v1/grades", json!({"chain_id": other, "code": "92", "name": "92#", "energy_type": "gasoline"}))
            .await["id"]
            .as_i64()
            .unwrap();
        let path = format!("/api/v1/chains/{chain}/coupons");
        let cases: Vec<(Value, &str)> = vec![
            (json!({"rule": {"kind": "threshold", "min_fen": 1_000, "off_fen": 1_000}}), "rule.off_fen"),
            (json!({"rule": {"kind": "threshold", "min_fen": -1, "off_fen": 10}}), "rule.min_fen"),
            (json!({"rule": {"kind": "percent", "off_bp": 10_000, "max_off_fen": null}}), "rule.off_bp"),
            (json!({"rule": {"kind": "percent", "off_bp": 500, "max_off_fen": 0}}), "rule.max_off_fen"),
            (json!({"rule": {"kind": "per_unit", "off_fen_per_unit": 0, "min_quantity": 0}}), "rule.off_fen_per_unit"),
            (json!({"rule": {"kind": "per_unit", "off_fen_per_unit": 30, "min_quantity": -1}}), "rule.min_quantity"),
            (json!({"rule": {"kind": "gift"}}), "rule"),
            (json!({"title": ""}), "title"),
            (json!({"title": "券".repeat(65)}), "title"),
            (json!({"valid_until": in_days(-1)}), "valid_until"),
            (json!({"valid_from": in_days(10), "valid_until": in_days(5)}), "valid_until"),
            (json!({"valid_until": in_days(3_651)}), "valid_until"),
            (json!({"valid_until": "next week"}), "valid_until"),
            (json!({"grade_ids": [foreign]}), "grade_ids[0]"),
            (json!({"grade_ids": [grade, 987_654_321]}), "grade_ids[1]"),
        ];
        for (patch, field) in cases {
            let mut body = coupon_body(&[id]);
            for (k, v) in patch.as_object().unwrap() {
                body[k] = v.clone();
            }
            let r = app.post(&path, body.clone()).await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body} → {}", r.text);
            assert!(r.field().starts_with(field), "{body}: expected {field}, got {}", r.text);
        }
        assert_eq!(app.get(&path).await.body["total"], 0);

        // A valid coupon of each kind.
        for rule in [
            json!({"kind": "threshold", "min_fen": 0, "off_fen": 500}),
            json!({"kind": "percent", "off_bp": 500, "max_off_fen": 2_000}),
            json!({"kind": "per_unit", "off_fen_per_unit": 30, "min_quantity": 20_000}),
        ] {
            let mut body = coupon_body(&[id]);
            body["rule"] = rule.clone();
            body["grade_ids"] = json!([grade, grade]);
            body["stackable"] = json!(true);
            body["valid_from"] = json!(in_days(1));
            let r = app.post(&path, body).await;
            assert_eq!(r.status, StatusCode::CREATED, "{rule} → {}", r.text);
        }
        let mine = app.call_as(&token, Method::GET, "/api/v1/member/coupons?status=available", None).await.body;
        let mine = mine.as_array().unwrap();
        assert_eq!(mine.len(), 3, "not yet valid coupons are in the wallet as available: {mine:?}");
        assert!(mine.iter().all(|c| c["grade_ids"] == json!([grade]) && c["stackable"] == true));
        let kinds: Vec<&str> = mine.iter().map(|c| c["rule"]["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, vec!["threshold", "percent", "per_unit"], "same expiry: oldest first");
    }

    async fn expired_and_used_coupons_show_as_such(app) {
        let (chain, code) = app.new_chain_with_code().await;
        let (token, id) = member(&app, &code, "erin").await;
        let now = now_us();
        let rule = CouponRule::Percent { off_bp: 500, max_off_fen: None };
        let tx = app.app.db.begin().await.unwrap();
        let expired = app.app.issue_coupon_in(&tx, chain, id, "过期券", rule, false, vec![], now - 10 * DAY_US, now - DAY_US, "issued").await.unwrap();
        let live = app.app.issue_coupon_in(&tx, chain, id, "可用券", rule, false, vec![], now - DAY_US, now + DAY_US, "issued").await.unwrap();
        let used = app.app.issue_coupon_in(&tx, chain, id, "已用券", rule, false, vec![], now - DAY_US, now + DAY_US, "issued").await.unwrap();
        tx.commit().await.unwrap();
        coupon::Entity::update_many()
            .col_expr(coupon::Column::Status, Expr::value("used"))
            .col_expr(coupon::Column::UsedOrderId, Expr::value(42_i64))
            .col_expr(coupon::Column::UsedAtUs, Expr::value(now))
            .filter(coupon::Column::Id.eq(used))
            .exec(app.app.db.writer())
            .await
            .unwrap();

        let get = |status: &'static str| {
            let app = app.clone();
            let token = token.clone();
            async move {
                let q = if status.is_empty() { String::new() } else { format!("?status={status}") };
                let r = app.call_as(&token, Method::GET, &format!("/api/v1/member/coupons{q}"), None).await;
                assert_eq!(r.status, StatusCode::OK, "{}", r.text);
                r.body.as_array().unwrap().iter().map(|c| (c["id"].as_i64().unwrap(), c["status"].as_str().unwrap().to_owned())).collect::<Vec<_>>()
            }
        };
        assert_eq!(get("expired").await, vec![(expired, "expired".to_owned())]);
        assert_eq!(get("available").await, vec![(live, "available".to_owned())]);
        assert_eq!(get("used").await, vec![(used, "used".to_owned())]);
        assert_eq!(
            get("").await,
            vec![(used, "used".to_owned()), (live, "available".to_owned()), (expired, "expired".to_owned())],
            "newest first"
        );
        let all = app.call_as(&token, Method::GET, "/api/v1/member/coupons?status=used", None).await.body;
        assert_eq!((all[0]["used_order_id"].as_i64(), all[0]["used_at"].is_string()), (Some(42), true));
        let r = app.call_as(&token, Method::GET, "/api/v1/member/coupons?status=gone", None).await;
        assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "status"), "{}", r.text);
        assert_eq!(app.get(&format!("/api/v1/chains/{chain}/coupons?status=expired")).await.body["total"], 1);
    }

    async fn topup_rules_create_list_retire(app) {
        let (chain, code) = app.new_chain_with_code().await;
        let path = format!("/api/v1/chains/{chain}/topup-rules");
        let r500 = app.create(&path, json!({"name": "充500送50", "min_amount_fen": 50_000, "bonus_fen": 5_000})).await;
        assert_eq!((r500["bonus_fen"].as_i64(), r500["bonus_points"].as_i64()), (Some(5_000), Some(0)));
        assert!(r500["coupon"].is_null() && r500["retired_at"].is_null());
        let coupon = json!({"title": "充值赠送加油券", "rule": {"kind": "threshold", "min_fen": 20_000, "off_fen": 1_000}, "count": 2, "valid_days": 30});
        let r1000 = app
            .create(&path, json!({"name": "充1000送券", "min_amount_fen": 100_000, "bonus_fen": 0, "bonus_points": 0, "coupon": coupon}))
            .await;
        assert_eq!(r1000["coupon"], coupon);
        let r100 = app.create(&path, json!({"name": "充100送20积分", "min_amount_fen": 10_000, "bonus_points": 20, "coupon": null})).await;

        let list = app.get(&path).await;
        assert_eq!(list.status, StatusCode::OK, "{}", list.text);
        let mins: Vec<i64> = list.body.as_array().unwrap().iter().map(|r| r["min_amount_fen"].as_i64().unwrap()).collect();
        assert_eq!(mins, vec![10_000, 50_000, 100_000]);

        // One live rule per amount.
        let r = app.post(&path, json!({"name": "充500送60", "min_amount_fen": 50_000, "bonus_fen": 6_000})).await;
        assert_eq!((r.status, r.code(), r.field()), (StatusCode::CONFLICT, "duplicate", "min_amount_fen"), "{}", r.text);

        // Validation.
        let cases: Vec<(Value, &str)> = vec![
            (json!({"name": "", "min_amount_fen": 100, "bonus_fen": 1}), "name"),
            (json!({"name": "x", "min_amount_fen": 0, "bonus_fen": 1}), "min_amount_fen"),
            (json!({"name": "x", "min_amount_fen": 100, "bonus_fen": 101}), "bonus_fen"),
            (json!({"name": "x", "min_amount_fen": 100, "bonus_fen": 0}), "bonus_fen"),
            (json!({"name": "x", "min_amount_fen": 100, "bonus_points": -1}), "bonus_points"),
            (json!({"name": "x", "min_amount_fen": 100, "coupon": {"title": "券", "rule": {"kind": "threshold", "min_fen": 100, "off_fen": 100}, "count": 1, "valid_days": 1}}), "coupon.rule.off_fen"),
            (json!({"name": "x", "min_amount_fen": 100, "coupon": {"title": "券", "rule": {"kind": "percent", "off_bp": 500, "max_off_fen": null}, "count": 11, "valid_days": 1}}), "coupon.count"),
            (json!({"name": "x", "min_amount_fen": 100, "coupon": {"title": "券", "rule": {"kind": "percent", "off_bp": 500, "max_off_fen": null}, "count": 1, "valid_days": 0}}), "coupon.valid_days"),
            (json!({"name": "x", "min_amount_fen": 100, "coupon": {"title": "", "rule": {"kind": "percent", "off_bp": 500, "max_off_fen": null}, "count": 1, "valid_days": 1}}), "coupon.title"),
        ];
        for (body, field) in cases {
            let r = app.post(&path, body.clone()).await;
            assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, field), "{body} → {}", r.text);
        }

        // The rule a top-up gets.
        let (a, db) = (&app.app, app.app.db.reader());
        let best = move |amount: i64| async move { a.topup_rule_for(db, chain, amount).await.unwrap().map(|r| r.id) };
        assert_eq!(best(9_999).await, None);
        assert_eq!(best(10_000).await, r100["id"].as_i64());
        assert_eq!(best(99_999).await, r500["id"].as_i64());
        assert_eq!(best(500_000).await, r1000["id"].as_i64());

        // The member sees the live offers of their chain.
        let (token, member_id) = member(&app, &code, "frank").await;
        let offers = app.call_as(&token, Method::GET, "/api/v1/member/topup-rules", None).await;
        assert_eq!(offers.status, StatusCode::OK, "{}", offers.text);
        assert_eq!(offers.body.as_array().unwrap().len(), 3);

        // A rule's coupons, as the top-up puts them in the wallet.
        let model = app.app.topup_rule_for(db, chain, 100_000).await.unwrap().unwrap();
        let tx = app.app.db.begin().await.unwrap();
        let ids = app.app.issue_topup_coupons_in(&tx, &model, member_id).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(ids.len(), 2);
        let mine = app.call_as(&token, Method::GET, "/api/v1/member/coupons", None).await.body;
        assert!(mine.as_array().unwrap().iter().all(|c| c["title"] == "充值赠送加油券" && c["source"] == "topup_bonus"), "{mine}");

        // Retire: gone from the lists and from selection; idempotent.
        let id = r1000["id"].as_i64().unwrap();
        let r = app.post(&format!("/api/v1/topup-rules/{id}/retire"), json!({})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert!(r.body["retired_at"].is_string());
        let again = app.post(&format!("/api/v1/topup-rules/{id}/retire"), json!({})).await;
        assert_eq!((again.status, &again.body["retired_at"]), (StatusCode::OK, &r.body["retired_at"]));
        assert_eq!(app.get(&path).await.body.as_array().unwrap().len(), 2);
        assert_eq!(app.call_as(&token, Method::GET, "/api/v1/member/topup-rules", None).await.body.as_array().unwrap().len(), 2);
        assert_eq!(best(500_000).await, r500["id"].as_i64());
        // The amount is free again.
        app.create(&path, json!({"name": "充1000送120", "min_amount_fen": 100_000, "bonus_fen": 12_000})).await;
        let r = app.post("/api/v1/topup-rules/987654321/retire", json!({})).await;
        assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "topup_rule_not_found"), "{}", r.text);

        assert_eq!(audit_rows(&app, chain, "topup_rule.create").await.len(), 4);
        let retired = audit_rows(&app, chain, "topup_rule.retire").await;
        assert_eq!(retired.len(), 1, "retiring twice writes one row");
        assert!(retired[0]["before"]["retired_at"].is_null() && retired[0]["after"]["retired_at"].is_string());
    }

    async fn wallet_views(app) {
        let (chain, code) = app.new_chain_with_code().await;
        let (token, id) = member(&app, &code, "gina").await;
        let zero = json!({"paid_fen": 0, "bonus_fen": 0, "balance_fen": 0, "points": 0});
        let r = app.call_as(&token, Method::GET, "/api/v1/member/wallet", None).await;
        assert_eq!((r.status, &r.body), (StatusCode::OK, &zero), "{}", r.text);
        let r = app.call_as(&token, Method::GET, "/api/v1/member/wallet/ledger", None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!((r.body["total"].as_u64(), r.body["items"].as_array().map(Vec::len)), (Some(0), Some(0)));
        let r = app.get(&format!("/api/v1/members/{id}/wallet")).await;
        assert_eq!((r.status, &r.body), (StatusCode::OK, &zero), "{}", r.text);
        let r = app.get("/api/v1/members/987654321/wallet").await;
        assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "member_not_found"), "{}", r.text);

        // With a wallet and movements (written here directly; crate::wallet writes them in the product).
        let now = now_us();
        wallet::ActiveModel {
            chain_id: Set(chain),
            member_id: Set(id),
            paid_fen: Set(50_000),
            bonus_fen: Set(5_000),
            points: Set(20),
            updated_at_us: Set(now),
            ..Default::default()
        }
        .insert(app.app.db.writer())
        .await
        .unwrap();
        for (account, kind, amount) in
            [("balance_paid", "topup", 50_000), ("balance_bonus", "bonus", 5_000), ("points", "bonus", 20), ("channel", "payment", 50_000)]
        {
            ledger_entry::ActiveModel {
                chain_id: Set(chain),
                station_id: Set(None),
                member_id: Set(Some(id)),
                order_id: Set(Some(7)),
                refund_id: Set(None),
                account: Set(account.to_owned()),
                kind: Set(kind.to_owned()),
                amount: Set(amount),
                created_at_us: Set(now),
                ..Default::default()
            }
            .insert(app.app.db.writer())
            .await
            .unwrap();
        }
        let want = json!({"paid_fen": 50_000, "bonus_fen": 5_000, "balance_fen": 55_000, "points": 20});
        assert_eq!(app.call_as(&token, Method::GET, "/api/v1/member/wallet", None).await.body, want);
        assert_eq!(app.get(&format!("/api/v1/members/{id}/wallet")).await.body, want);
        let r = app.call_as(&token, Method::GET, "/api/v1/member/wallet/ledger?per_page=2", None).await;
        assert_eq!(r.body["total"], 3, "wallet accounts only: {}", r.text);
        let accounts: Vec<&str> = r.body["items"].as_array().unwrap().iter().map(|e| e["account"].as_str().unwrap()).collect();
        assert_eq!(accounts, vec!["points", "balance_bonus"], "newest first");
        assert_eq!(r.body["items"][0]["order_id"], 7);
        let r = app.call_as(&token, Method::GET, "/api/v1/member/wallet/ledger?per_page=500", None).await;
        assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "per_page"));
        // Another member sees none of it.
        let (other, _) = member(&app, &code, "hank").await;
        assert_eq!(app.call_as(&other, Method::GET, "/api/v1/member/wallet", None).await.body, zero);
        assert_eq!(app.call_as(&other, Method::GET, "/api/v1/member/wallet/ledger", None).await.body["total"], 0);
    }

    async fn only_marketing_managers_manage(app) {
        let (chain, code) = app.new_chain_with_code().await;
        let st = station(&app, chain, "MK1").await;
        let admin = staff(&app, chain, &code, "chain_admin", None).await;
        let manager = staff(&app, chain, &code, "station_manager", Some(st)).await;
        let cashier = staff(&app, chain, &code, "cashier", Some(st)).await;
        let attendant = staff(&app, chain, &code, "attendant", Some(st)).await;
        let finance = staff(&app, chain, &code, "finance", None).await;
        let (member_token, member_id) = member(&app, &code, "ivan").await;
        let policy = format!("/api/v1/chains/{chain}/payment-policy");
        let coupons = format!("/api/v1/chains/{chain}/coupons");
        let rules = format!("/api/v1/chains/{chain}/topup-rules");
        let body = json!({"policy": {}, "hold_seconds": 120, "pay_window_seconds": 900, "autopay_max_fen": 100_000});
        let rule = app.create(&rules, json!({"name": "充100送1", "min_amount_fen": 10_000, "bonus_fen": 100})).await;
        let retire = format!("/api/v1/topup-rules/{}/retire", rule["id"]);

        let forbidden = |r: jiayou_testkit::Reply, permission: &str| {
            assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "forbidden"), "{}", r.text);
            assert_eq!(r.body["permission"], permission, "{}", r.text);
        };
        for token in [&manager, &cashier, &attendant, &finance] {
            forbidden(app.call_as(token, Method::PUT, &policy, Some(&body)).await, "marketing.manage");
            forbidden(app.call_as(token, Method::POST, &coupons, Some(&coupon_body(&[member_id]))).await, "marketing.manage");
            forbidden(
                app.call_as(token, Method::POST, &rules, Some(&json!({"name": "x", "min_amount_fen": 1, "bonus_fen": 1}))).await,
                "marketing.manage",
            );
            forbidden(app.call_as(token, Method::POST, &retire, None).await, "marketing.manage");
        }
        // Reading: sales.read anywhere in the chain is enough; the attendant has none.
        for token in [&manager, &cashier, &finance, &admin] {
            for path in [&policy, &coupons, &rules] {
                let r = app.call_as(token, Method::GET, path, None).await;
                assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text);
            }
        }
        for path in [&policy, &coupons, &rules] {
            forbidden(app.call_as(&attendant, Method::GET, path, None).await, "sales.read");
        }
        // The member's wallet: member.read (not the attendant).
        let wallet = format!("/api/v1/members/{member_id}/wallet");
        for token in [&manager, &cashier, &finance, &admin] {
            assert_eq!(app.call_as(token, Method::GET, &wallet, None).await.status, StatusCode::OK);
        }
        forbidden(app.call_as(&attendant, Method::GET, &wallet, None).await, "member.read");

        // The chain administrator manages.
        let r = app.call_as(&admin, Method::PUT, &policy, Some(&body)).await;
        assert_eq!((r.status, r.body["hold_seconds"].as_i64()), (StatusCode::OK, Some(120)), "{}", r.text);
        let r = app.call_as(&admin, Method::POST, &coupons, Some(&coupon_body(&[member_id]))).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let r = app.call_as(&admin, Method::POST, &rules, Some(&json!({"name": "充200送5", "min_amount_fen": 20_000, "bonus_fen": 500}))).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        assert_eq!(app.call_as(&admin, Method::POST, &retire, None).await.status, StatusCode::OK);
        let rows = audit_rows(&app, chain, "payment_policy.update").await;
        assert_eq!(rows[0]["actor_kind"], "staff");

        // Another chain's administrator reaches nothing here.
        let (other, other_code) = app.new_chain_with_code().await;
        let stranger = staff(&app, other, &other_code, "chain_admin", None).await;
        forbidden(app.call_as(&stranger, Method::GET, &policy, None).await, "sales.read");
        forbidden(app.call_as(&stranger, Method::PUT, &policy, Some(&body)).await, "marketing.manage");
        forbidden(app.call_as(&stranger, Method::GET, &wallet, None).await, "member.read");
        // Staff routes refuse a member's token, member routes a staff token.
        assert_eq!(app.call_as(&member_token, Method::GET, &policy, None).await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(app.call_as(&admin, Method::GET, "/api/v1/member/coupons", None).await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(app.call_anonymous(Method::GET, "/api/v1/member/wallet", None).await.status, StatusCode::UNAUTHORIZED);
    }
}
