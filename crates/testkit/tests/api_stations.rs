//! Stations and equipment (B9), grades and prices through the real HTTP API, on every
//! configured database. Each test makes its own chain: on MariaDB tests share a database.

use jiayou_domain::geo::{self, CoordSystem, LngLat};
use jiayou_testkit::{TestApp, on_each_backend};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn grade(app: &TestApp, chain_id: i64, code: &str) -> i64 {
    app.create(
        "/api/v1/grades",
        json!({"chain_id": chain_id, "code": code, "name": format!("{code}#"), "energy_type": "gasoline"}),
    )
    .await["id"]
        .as_i64()
        .unwrap()
}

async fn station(app: &TestApp, chain_id: i64, code: &str) -> i64 {
    app.create(
        "/api/v1/stations",
        json!({"chain_id": chain_id, "code": code, "name": "测试站", "address": "昆明市北京路1号", "lng": 102.72, "lat": 25.04}),
    )
    .await["id"]
        .as_i64()
        .unwrap()
}

async fn count_stations(app: &TestApp, chain_id: i64) -> u64 {
    app.get(&format!("/api/v1/stations?chain_id={chain_id}&status=all")).await.body["total"].as_u64().unwrap()
}

fn items(v: &Value) -> &Vec<Value> {
    v.as_array().or_else(|| v["items"].as_array()).expect("a list")
}

on_each_backend! {
    async fn station_lifecycle(app) {
        let chain = app.new_chain().await;
        let created = app
            .create(
                "/api/v1/stations",
                json!({
                    "chain_id": chain, "code": "km-001", "name": "北京路站", "address": "昆明市盘龙区北京路618号",
                    "phone": "0871-63180618", "lng": 102.7206, "lat": 25.0448, "coord": "gcj02",
                    "hours": {"weekly": [{"days": ["mon","tue","wed","thu","fri","sat","sun"], "open": "06:00", "close": "23:00"}]},
                    "amenities": ["restroom", "car_wash", "restroom"]
                }),
            )
            .await;
        assert_eq!(created["code"], "KM-001", "codes are upper-cased");
        // Stored as WGS-84: the response equals the official conversion of the input.
        let wgs = geo::convert(LngLat { lng: 102.7206, lat: 25.0448 }, CoordSystem::Gcj02, CoordSystem::Wgs84);
        assert!((created["lng"].as_f64().unwrap() - wgs.lng).abs() < 2e-7, "{created}");
        assert!((created["lat"].as_f64().unwrap() - wgs.lat).abs() < 2e-7, "{created}");
        assert!((created["gcj02"]["lng"].as_f64().unwrap() - 102.7206).abs() < 2e-7, "{created}");
        assert_eq!(created["amenities"], json!(["car_wash", "restroom"]), "deduplicated and sorted");
        assert_eq!(created["time_zone"], "Asia/Shanghai");
        assert_eq!(created["revision"], 1);
        let id = created["id"].as_i64().unwrap();

        let edited = app.patch(&format!("/api/v1/stations/{id}"), json!({"name": "北京路旗舰站"})).await;
        assert_eq!(edited.status, StatusCode::OK, "{}", edited.text);
        assert_eq!(edited.body["name"], "北京路旗舰站");
        assert_eq!(edited.body["address"], "昆明市盘龙区北京路618号", "absent fields keep their value");
        assert_eq!(edited.body["revision"], 2);

        let r = app.get(&format!("/api/v1/stations?chain_id={chain}&q=旗舰")).await;
        assert_eq!(r.body["total"], 1, "{}", r.text);

        let retired = app.post(&format!("/api/v1/stations/{id}/retire"), json!({})).await;
        assert_eq!(retired.status, StatusCode::OK);
        assert!(retired.body["retired_at"].is_string());
        // Retired: hidden by default, kept in history, no longer editable.
        assert_eq!(app.get(&format!("/api/v1/stations?chain_id={chain}")).await.body["total"], 0);
        assert_eq!(app.get(&format!("/api/v1/stations?chain_id={chain}&status=retired")).await.body["total"], 1);
        assert_eq!(app.get(&format!("/api/v1/stations/{id}")).await.status, StatusCode::OK);
        let r = app.patch(&format!("/api/v1/stations/{id}"), json!({"name": "x"})).await;
        assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "station_retired"));
        let r = app.post(&format!("/api/v1/stations/{id}/pumps"), json!({"number": 1})).await;
        assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "station_retired"));
        // Retiring twice is harmless.
        assert_eq!(app.post(&format!("/api/v1/stations/{id}/retire"), json!({})).await.status, StatusCode::OK);
    }

    async fn station_codes_are_unique_per_chain(app) {
        let chain = app.new_chain().await;
        let other = app.new_chain().await;
        station(&app, chain, "DUP").await;
        let r = app
            .post("/api/v1/stations", json!({"chain_id": chain, "code": "dup", "name": "n", "address": "a", "lng": 102.0, "lat": 25.0}))
            .await;
        assert_eq!((r.status, r.code(), r.field()), (StatusCode::CONFLICT, "duplicate", "code"), "{}", r.text);
        assert!(!r.text.contains("uq_"), "no raw database message: {}", r.text);
        station(&app, other, "DUP").await;
        assert_eq!(count_stations(&app, chain).await, 1);
    }

    async fn station_bad_input_is_refused_whole(app) {
        let chain = app.new_chain().await;
        let ok = json!({"chain_id": chain, "code": "OK1", "name": "站", "address": "地址", "lng": 102.0, "lat": 25.0});
        let cases: Vec<(Value, &str, StatusCode)> = vec![
            (json!({"name": ""}), "name", StatusCode::UNPROCESSABLE_ENTITY),
            (json!({"name": "长".repeat(65)}), "name", StatusCode::UNPROCESSABLE_ENTITY),
            (json!({"address": "a".repeat(201)}), "address", StatusCode::UNPROCESSABLE_ENTITY),
            (json!({"lat": 91.0}), "lat", StatusCode::UNPROCESSABLE_ENTITY),
            (json!({"lng": -180.5}), "lng", StatusCode::UNPROCESSABLE_ENTITY),
            (json!({"lng": "102"}), "lng", StatusCode::UNPROCESSABLE_ENTITY),
            (json!({"coord": "utm"}), "coord", StatusCode::UNPROCESSABLE_ENTITY),
            (json!({"code": "昆明1"}), "code", StatusCode::UNPROCESSABLE_ENTITY),
            (json!({"code": "C".repeat(33)}), "code", StatusCode::UNPROCESSABLE_ENTITY),
            (json!({"time_zone": "Mars/Olympus"}), "time_zone", StatusCode::UNPROCESSABLE_ENTITY),
            (json!({"phone": "call me"}), "phone", StatusCode::UNPROCESSABLE_ENTITY),
            (json!({"amenities": ["pool"]}), "amenities[0]", StatusCode::UNPROCESSABLE_ENTITY),
            (json!({"chain_id": 987_654_321}), "chain_id", StatusCode::UNPROCESSABLE_ENTITY),
            (json!({"extra": 1}), "extra", StatusCode::UNPROCESSABLE_ENTITY),
            (
                json!({"hours": {"weekly": [{"days": [], "open": "06:00", "close": "22:00"}]}}),
                "hours.weekly[0].days",
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
        ];
        for (patch, field, status) in cases {
            let mut body = ok.clone();
            for (k, v) in patch.as_object().unwrap() {
                body[k] = v.clone();
            }
            let r = app.post("/api/v1/stations", body.clone()).await;
            assert_eq!(r.status, status, "{body} → {}", r.text);
            assert_eq!(r.content_type, "application/problem+json");
            assert!(r.field().starts_with(field.split('[').next().unwrap()), "{body}: expected field {field}, got {}", r.text);
            assert!(!r.body["detail"].as_str().unwrap().is_empty());
        }
        // Several bad fields are all reported at once.
        let r = app.post("/api/v1/stations", json!({"chain_id": chain, "code": "", "name": "", "address": "", "lng": 0, "lat": 99})).await;
        let fields: Vec<&str> = r.body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert_eq!(fields, vec!["code", "name", "address", "lat"], "{}", r.text);
        assert_eq!(count_stations(&app, chain).await, 0, "nothing half-written");
        // Unknown and malformed ids.
        let r = app.get("/api/v1/stations/987654321").await;
        assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "station_not_found"));
        let r = app.get("/api/v1/stations/abc").await;
        assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "invalid_path_parameter"));
        assert!(!r.text.contains("abc"), "the raw value is not echoed: {}", r.text);
        let r = app.patch("/api/v1/stations/987654321", json!({"name": "x"})).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let id = station(&app, chain, "OK2").await;
        let r = app.patch(&format!("/api/v1/stations/{id}"), json!({"lng": 102.1})).await;
        assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "lat"), "moving needs both coordinates");
    }

    async fn equipment_rules(app) {
        let chain = app.new_chain().await;
        let g92 = grade(&app, chain, "92").await;
        let g95 = grade(&app, chain, "95").await;
        let st = station(&app, chain, "EQ1").await;
        let tank92 = app.create(&format!("/api/v1/stations/{st}/tanks"), json!({"number": 1, "grade_id": g92, "capacity": 30_000_000, "safety_min": 3_000_000})).await;
        assert_eq!(tank92["overstock_max"], 28_500_000, "default overstock is 95% of capacity");
        let tank92 = tank92["id"].as_i64().unwrap();
        let tank95 = app.create(&format!("/api/v1/stations/{st}/tanks"), json!({"number": 2, "grade_id": g95, "capacity": 20_000_000, "safety_min": 2_000_000})).await["id"].as_i64().unwrap();
        let pump = app.create(&format!("/api/v1/stations/{st}/pumps"), json!({"number": 1, "name": "1号机"})).await["id"].as_i64().unwrap();

        let n1 = app.create(&format!("/api/v1/stations/{st}/nozzles"), json!({"pump_id": pump, "number": 1, "tank_id": tank92})).await;
        assert_eq!(n1["grade_id"], g92, "grade defaults to the tank's");
        // A nozzle cannot draw another grade from its tank.
        let r = app.post(&format!("/api/v1/stations/{st}/nozzles"), json!({"pump_id": pump, "number": 2, "tank_id": tank92, "grade_id": g95})).await;
        assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "tank_id"), "{}", r.text);
        // Nozzle numbers are unique among the station's live nozzles.
        let r = app.post(&format!("/api/v1/stations/{st}/nozzles"), json!({"pump_id": pump, "number": 1, "tank_id": tank95})).await;
        assert_eq!((r.status, r.code(), r.field()), (StatusCode::CONFLICT, "duplicate", "number"), "{}", r.text);
        // Equipment of another station is not found.
        let st2 = station(&app, chain, "EQ2").await;
        let r = app.post(&format!("/api/v1/stations/{st2}/nozzles"), json!({"pump_id": pump, "number": 1, "tank_id": tank92})).await;
        assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "pump_id"), "{}", r.text);
        // A grade of another chain is not found.
        let foreign = grade(&app, app.new_chain().await, "92").await;
        let r = app.post(&format!("/api/v1/stations/{st}/tanks"), json!({"number": 3, "grade_id": foreign, "capacity": 1000, "safety_min": 10})).await;
        assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "grade_id"), "{}", r.text);
        // Tank levels must be ordered: 0 ≤ safety < overstock ≤ capacity.
        let r = app.post(&format!("/api/v1/stations/{st}/tanks"), json!({"number": 3, "grade_id": g92, "capacity": 1000, "safety_min": 1000})).await;
        assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "safety_min"), "{}", r.text);
        let r = app.post(&format!("/api/v1/stations/{st}/tanks"), json!({"number": 100, "grade_id": g92, "capacity": 1000, "safety_min": 10})).await;
        assert_eq!(r.field(), "number");

        // A tank in use keeps its grade and cannot be retired.
        let r = app.patch(&format!("/api/v1/tanks/{tank92}"), json!({"grade_id": g95})).await;
        assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "tank_in_use"));
        let r = app.post(&format!("/api/v1/tanks/{tank92}/retire"), json!({})).await;
        assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "tank_in_use"));

        // Re-plumbing a nozzle to another tank changes its grade with it.
        let n1_id = n1["id"].as_i64().unwrap();
        let r = app.patch(&format!("/api/v1/nozzles/{n1_id}"), json!({"tank_id": tank95})).await;
        assert_eq!((r.status, r.body["grade_id"].as_i64()), (StatusCode::OK, Some(g95)), "{}", r.text);

        // Retiring a pump retires its nozzles and frees their numbers.
        let r = app.post(&format!("/api/v1/pumps/{pump}/retire"), json!({})).await;
        assert_eq!(r.status, StatusCode::OK);
        let live = app.get(&format!("/api/v1/stations/{st}/nozzles")).await;
        assert!(items(&live.body).is_empty(), "{}", live.text);
        let all = app.get(&format!("/api/v1/stations/{st}/nozzles?include_retired=true")).await;
        assert_eq!(items(&all.body).len(), 1);
        assert!(items(&all.body)[0]["retired_at"].is_string());
        let pump2 = app.create(&format!("/api/v1/stations/{st}/pumps"), json!({"number": 1})).await["id"].as_i64().unwrap();
        app.create(&format!("/api/v1/stations/{st}/nozzles"), json!({"pump_id": pump2, "number": 1, "tank_id": tank92})).await;
        // Nothing draws from tank 95 now: it can change grade and then retire.
        assert_eq!(app.patch(&format!("/api/v1/tanks/{tank95}"), json!({"grade_id": g92})).await.status, StatusCode::OK);
        assert_eq!(app.post(&format!("/api/v1/tanks/{tank95}/retire"), json!({})).await.status, StatusCode::OK);
        let tanks = app.get(&format!("/api/v1/stations/{st}/tanks")).await;
        assert_eq!(items(&tanks.body).len(), 1);
    }

    async fn prices_version_and_history(app) {
        let chain = app.new_chain().await;
        let g92 = grade(&app, chain, "92").await;
        let st = station(&app, chain, "PR1").await;
        let path = format!("/api/v1/stations/{st}/prices/{g92}");
        let r = app.put(&path, json!({"list_price_fen": 789, "member_price_fen": 769})).await;
        assert_eq!((r.status, r.body["version"].as_i64()), (StatusCode::OK, Some(1)), "{}", r.text);
        let r = app.put(&path, json!({"list_price_fen": 805, "reason": "国家发改委调价"})).await;
        assert_eq!(r.body["version"], 2);
        assert_eq!(r.body["member_price_fen"], 805, "member price defaults to list price");
        for (body, field) in [
            (json!({"list_price_fen": 0}), "list_price_fen"),
            (json!({"list_price_fen": 100_001}), "list_price_fen"),
            (json!({"list_price_fen": 700, "member_price_fen": 701}), "member_price_fen"),
            (json!({"list_price_fen": 7.89}), "list_price_fen"),
        ] {
            let r = app.put(&path, body.clone()).await;
            assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, field), "{body}: {}", r.text);
        }
        let h = app.get(&format!("{path}/history")).await;
        let versions: Vec<i64> = items(&h.body).iter().map(|p| p["version"].as_i64().unwrap()).collect();
        assert_eq!(versions, vec![2, 1], "refused changes left no trace: {}", h.text);
        let r = app.put(&format!("/api/v1/stations/{st}/prices/987654321"), json!({"list_price_fen": 800})).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    }

    async fn concurrent_price_changes_never_share_a_version(app) {
        let chain = app.new_chain().await;
        let g = grade(&app, chain, "95").await;
        let st = station(&app, chain, "PR2").await;
        let path = format!("/api/v1/stations/{st}/prices/{g}");
        app.put(&path, json!({"list_price_fen": 800})).await;
        let tasks: Vec<_> = (0..12)
            .map(|i| {
                let (app, path) = (app.clone(), path.clone());
                tokio::spawn(async move { app.put(&path, json!({"list_price_fen": 810 + i})).await })
            })
            .collect();
        for t in tasks {
            let r = t.await.unwrap();
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        }
        let h = app.get(&format!("{path}/history")).await;
        let mut versions: Vec<i64> = items(&h.body).iter().map(|p| p["version"].as_i64().unwrap()).collect();
        versions.sort_unstable();
        assert_eq!(versions, (1..=13).collect::<Vec<_>>(), "every change has its own version");
        let current = app.get(&format!("/api/v1/stations/{st}/prices")).await;
        assert_eq!(items(&current.body)[0]["version"], 13);
    }
}

on_each_backend! {
    async fn retired_grades_free_their_code_and_leave_the_finder(app) {
        let chain = app.new_chain().await;
        let chain_code = app.get(&format!("/api/v1/chains/{chain}")).await.body["code"].as_str().unwrap().to_owned();
        let old = grade(&app, chain, "92").await;
        let st = station(&app, chain, "GR1").await;
        app.put(&format!("/api/v1/stations/{st}/prices/{old}"), json!({"list_price_fen": 790})).await;
        let near = format!("/api/v1/stations/nearby?lng=102.72&lat=25.04&chain={chain_code}&grade=92");
        assert_eq!(app.get(&near).await.body["total"], 1);
        let r = app.post("/api/v1/grades", json!({"chain_id": chain, "code": "92", "name": "x", "energy_type": "gasoline"})).await;
        assert_eq!((r.status, r.field()), (StatusCode::CONFLICT, "code"), "a live code is unique");
        assert_eq!(app.post(&format!("/api/v1/grades/{old}/retire"), json!({})).await.status, StatusCode::OK);
        // A retired grade no longer matches the finder's grade filter …
        let r = app.get(&near).await;
        assert_eq!(r.body["total"], 0, "{}", r.text);
        // … and its code can name a new grade, while the old one stays on history.
        let new = grade(&app, chain, "92").await;
        assert_ne!(new, old);
        let all = app.get(&format!("/api/v1/grades?chain_id={chain}&include_retired=true")).await;
        assert_eq!(all.body["total"], 2, "{}", all.text);
        let r = app.post(&format!("/api/v1/stations/{st}/tanks"), json!({"number": 1, "grade_id": old, "capacity": 1000, "safety_min": 10})).await;
        assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "grade_id"), "a retired grade is not assignable");
    }
}
