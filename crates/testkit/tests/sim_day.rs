//! The pump simulator (F1) runs a station for a simulated day against the real server,
//! through the device API, the member API and a cashier at the counter, paying every way
//! (prepay with underfills, post-pay in the app, counter, plate pay). Then every sale must
//! reconcile: the simulator's own totals per nozzle = the orders the server recorded =
//! what left each tank; every completed order is covered exactly; wallets equal the ledger.

use std::collections::BTreeMap;

use chrono::NaiveTime;
use jiayou_integrations::forecourt::sim::{self, Mix, PaymentWay, SimConfig, SimStation};
use jiayou_testkit::{TestApp, on_each_backend, unique_suffix};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PASSWORD: &str = "Jiayou-2026!";

struct Station {
    chain: i64,
    chain_code: String,
    tanks: Vec<i64>,
    device_code: String,
    secret: String,
    cashier: String,
}

/// A station with two grades (92# and 0# diesel), a tank each, two pumps with a nozzle
/// of each grade, prices, a pump controller and a cashier working there.
async fn station(app: &TestApp) -> Station {
    let (chain, chain_code) = app.new_chain_with_code().await;
    let st = app
        .create(
            "/api/v1/stations",
            json!({"chain_id": chain, "code": "DAY", "name": "全天站", "address": "昆明", "lng": 102.7, "lat": 25.0}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let mut tanks = vec![];
    let mut grades = vec![];
    for (n, (code, energy, list, member)) in
        [("92", "gasoline", 789, 759), ("0", "diesel", 752, 730)].iter().enumerate()
    {
        let g = app
            .create(
                "/api/v1/grades",
                json!({"chain_id": chain, "code": code, "name": format!("{code}#"), "energy_type": energy}),
            )
            .await["id"]
            .as_i64()
            .unwrap();
        let r = app
            .put(
                &format!("/api/v1/stations/{st}/prices/{g}"),
                json!({"list_price_fen": list, "member_price_fen": member}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let t = app
            .create(
                &format!("/api/v1/stations/{st}/tanks"),
                json!({"number": n + 1, "grade_id": g, "capacity": 30_000_000, "safety_min": 3_000_000}),
            )
            .await["id"]
            .as_i64()
            .unwrap();
        grades.push(g);
        tanks.push(t);
    }
    let mut number = 0;
    for p in 1..=2 {
        let pump =
            app.create(&format!("/api/v1/stations/{st}/pumps"), json!({"number": p})).await["id"].as_i64().unwrap();
        for t in &tanks {
            number += 1;
            app.create(
                &format!("/api/v1/stations/{st}/nozzles"),
                json!({"pump_id": pump, "number": number, "tank_id": t}),
            )
            .await;
        }
    }
    let device_code = format!("DAY-{}", unique_suffix());
    let d = app.create(&format!("/api/v1/stations/{st}/devices"), json!({"code": device_code, "name": "控制器"})).await;
    let roles = app.get(&format!("/api/v1/roles?chain_id={chain}")).await.body;
    let cashier_role = roles.as_array().unwrap().iter().find(|r| r["code"] == "cashier").expect("cashier role")["id"]
        .as_i64()
        .unwrap();
    let staff = app
        .create(
            "/api/v1/staff",
            json!({"chain_id": chain, "username": "shouyin", "display_name": "收银员", "password": PASSWORD}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let g = app
        .put(&format!("/api/v1/staff/{staff}/grants"), json!({"grants": [{"role_id": cashier_role, "station_id": st}]}))
        .await;
    assert_eq!(g.status, StatusCode::OK, "{}", g.text);
    Station {
        chain,
        chain_code,
        tanks,
        device_code,
        secret: d["secret"].as_str().unwrap().to_owned(),
        cashier: "shouyin".into(),
    }
}

/// Every order of the chain, through the staff API.
async fn all_orders(app: &TestApp, chain: i64) -> Vec<Value> {
    let mut out = vec![];
    for page in 1.. {
        let r = app.get(&format!("/api/v1/orders?chain_id={chain}&per_page=200&page={page}")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let items = r.body["items"].as_array().unwrap().clone();
        if items.is_empty() {
            break;
        }
        out.extend(items);
    }
    out
}

on_each_backend! {
    async fn a_simulated_day_reconciles(app) {
        let s = station(&app).await;
        let mut cfg = SimConfig::new(
            app.base_url.clone(),
            s.chain_code.clone(),
            vec![SimStation::new(s.device_code.clone(), s.secret.clone())],
        );
        cfg.seed = 20261122;
        cfg.cashier = Some((s.cashier.clone(), PASSWORD.into()));
        cfg.mix = Mix::default();
        cfg.drivers_per_station = 6;
        cfg.start_time = Some(NaiveTime::from_hms_opt(0, 0, 0).unwrap());
        // Two pumps at 6 arrivals an hour on the daily curve: about a day's traffic.
        cfg.fuelings_per_station = Some(300);
        let (_stop, rx) = tokio::sync::watch::channel(false);
        let report = sim::run(cfg, rx).await.expect("the simulator runs");
        assert_eq!(report.errors, 0, "{:?}", report.error_examples);
        assert_eq!(report.fuelings, 300);
        assert_eq!(report.completed, 300, "every fueling ends paid");
        assert!(report.simulated_seconds >= 20.0 * 3600.0, "a day of traffic: {} s", report.simulated_seconds);
        for way in PaymentWay::ALL {
            assert!(report.by_way.get(&way).is_some_and(|w| w.completed > 0), "{way:?} happened: {}", report.summary());
        }
        assert!(report.prepay_underfilled > 0 && report.autopay_charged > 0, "{}", report.summary());

        // Orders: every sale became exactly one order, completed, covering what was dispensed.
        let orders = all_orders(&app, s.chain).await;
        let fuel: Vec<&Value> = orders.iter().filter(|o| o["kind"] != "topup").collect();
        let mut by_nozzle: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
        for o in &fuel {
            if o["status"] == "cancelled" || o["status"] == "expired" {
                assert_eq!(o["paid_fen"], o["refunded_fen"], "a closed order keeps no money: {o}");
                continue;
            }
            assert_eq!(o["status"], "completed", "{o}");
            let q = o["dispensed_quantity"].as_i64().unwrap();
            let e = by_nozzle.entry(o["nozzle_id"].as_i64().unwrap()).or_default();
            e.0 += q;
            e.1 += o["dispensed_amount_fen"].as_i64().unwrap();
            let (gross, discount, points, paid) = (
                o["gross_fen"].as_i64().unwrap(),
                o["discount_fen"].as_i64().unwrap(),
                o["points_fen"].as_i64().unwrap(),
                o["paid_fen"].as_i64().unwrap(),
            );
            assert_eq!(discount + points + paid, gross, "covered exactly: {o}");
        }
        let sim_by_nozzle: BTreeMap<i64, (i64, i64)> =
            report.by_nozzle.iter().map(|(id, t)| (*id, (t.quantity, t.amount_fen))).collect();
        assert_eq!(by_nozzle, sim_by_nozzle, "server orders = what the pumps dispensed, per nozzle");
        for t in report.by_nozzle.values() {
            assert_eq!(t.totalizer_end - t.totalizer_start, t.quantity, "totalizers moved by the sales");
        }

        // Stock: what left the tanks is what was sold.
        let mut left = 0;
        for t in &s.tanks {
            left -= app.get(&format!("/api/v1/tanks/{t}")).await.body["book_stock"].as_i64().unwrap();
        }
        assert_eq!(left, report.quantity, "book stock fell by exactly the quantity sold");

        // Ledger: every wallet equals its ledger; top-ups are all there.
        let check = app.get(&format!("/api/v1/chains/{}/ledger-check", s.chain)).await;
        assert_eq!(check.body["mismatches"], json!([]), "{}", check.text);
        let topups: i64 = orders
            .iter()
            .filter(|o| o["kind"] == "topup" && o["status"] == "completed")
            .map(|o| o["paid_fen"].as_i64().unwrap())
            .sum();
        assert_eq!(topups, report.topup_fen, "every top-up the drivers paid was credited");
    }
}
