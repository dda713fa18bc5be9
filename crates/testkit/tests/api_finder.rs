//! The station finder (C1) through the real HTTP API, `GET /api/v1/stations/nearby`, on
//! every configured backend: great-circle distance and ranking, radius boundaries,
//! coordinate datums in and out, the grade/amenity/open-now filters, the price sort,
//! retired and moved stations, pagination, and bad input.
//!
//! MariaDB shares one database between tests, so every test makes its own chain and
//! scopes each search with `chain=<code>`.

use std::collections::HashSet;

use jiayou_domain::geo::{self, CoordSystem, LngLat};
use jiayou_testkit::{Reply, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Mean Earth radius (IUGG), metres: the sphere the API promises its distances on.
const R: f64 = 6_371_008.8;

/// Kunming, WGS-84: the centre of most searches below.
const KM: (f64, f64) = (102.7123, 25.0406);

/// Great-circle distance in metres by the haversine formula, written out here so the
/// test does not trust the implementation it checks. Points are (lng, lat) degrees.
fn haversine(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (p1, p2) = (a.1.to_radians(), b.1.to_radians());
    let dp = p2 - p1;
    let dl = (b.0 - a.0).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * R * h.sqrt().asin()
}

/// The point `d` metres due north of `p` (negative: south).
fn north(p: (f64, f64), d: f64) -> (f64, f64) {
    (p.0, p.1 + (d / R).to_degrees())
}

/// The point `d` metres due east of `p` along the great circle that starts heading east.
/// Solves haversine(p, q) = d for a pure longitude offset at p's latitude.
fn east(p: (f64, f64), d: f64) -> (f64, f64) {
    let dl = 2.0 * ((d / (2.0 * R)).sin() / p.1.to_radians().cos()).asin();
    (p.0 + dl.to_degrees(), p.1)
}

/// Stations are stored to 1e-7° (≈1 cm); expected distances use the stored point.
fn stored(p: (f64, f64)) -> (f64, f64) {
    ((p.0 * 1e7).round() / 1e7, (p.1 * 1e7).round() / 1e7)
}

fn conv(p: (f64, f64), from: CoordSystem, to: CoordSystem) -> (f64, f64) {
    let q = geo::convert(LngLat { lng: p.0, lat: p.1 }, from, to);
    (q.lng, q.lat)
}

/// A fresh chain for this test: (id, code).
async fn chain(app: &TestApp) -> (i64, String) {
    let id = app.new_chain().await;
    let r = app.get(&format!("/api/v1/chains/{id}")).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}: {}", app.backend, r.text);
    (id, r.body["code"].as_str().expect("chain code").to_owned())
}

/// Creates a station at `at` (in `coord`, or wgs84 when `None`); `extra` adds fields.
async fn station(app: &TestApp, chain_id: i64, code: &str, at: (f64, f64), coord: Option<&str>, extra: Value) -> Value {
    let mut body = json!({
        "chain_id": chain_id,
        "code": code,
        "name": format!("测试油站 {code}"),
        "address": "云南省昆明市五华区测试路 1 号",
        "lng": at.0,
        "lat": at.1,
    });
    if let Some(c) = coord {
        body["coord"] = json!(c);
    }
    if let Value::Object(m) = extra {
        for (k, v) in m {
            body[k] = v;
        }
    }
    app.create("/api/v1/stations", body).await
}

fn id(v: &Value) -> i64 {
    v["id"].as_i64().expect("id")
}

/// The finder, called like a driver's app: no credentials.
async fn nearby(app: &TestApp, query: &str) -> Reply {
    app.call_anonymous(Method::GET, &format!("/api/v1/stations/nearby?{query}"), None).await
}

/// A successful search; returns the page body.
async fn search(app: &TestApp, query: &str) -> Value {
    let r = nearby(app, query).await;
    assert_eq!(r.status, StatusCode::OK, "{:?} nearby?{query}: {}", app.backend, r.text);
    r.body
}

fn codes(page: &Value) -> Vec<String> {
    page["items"].as_array().expect("items").iter().map(|s| s["code"].as_str().expect("code").to_owned()).collect()
}

fn item<'a>(page: &'a Value, code: &str) -> &'a Value {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|s| s["code"] == code)
        .unwrap_or_else(|| panic!("{code} not in {page}"))
}

fn at(q: (f64, f64)) -> String {
    format!("lng={}&lat={}", q.0, q.1)
}

async fn grade(app: &TestApp, chain_id: i64, code: &str) -> i64 {
    let g = app
        .create(
            "/api/v1/grades",
            json!({"chain_id": chain_id, "code": code, "name": format!("{code}#汽油"), "energy_type": "gasoline"}),
        )
        .await;
    id(&g)
}

async fn set_price(app: &TestApp, station_id: i64, grade_id: i64, fen: i64) {
    let r = app.put(&format!("/api/v1/stations/{station_id}/prices/{grade_id}"), json!({"list_price_fen": fen})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?} set price: {}", app.backend, r.text);
}

// ---------- opening hours relative to the current time ----------

/// Minutes since the Unix epoch, in a zone `offset_min` ahead of UTC.
fn local_minutes(offset_min: i64) -> i64 {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock after 1970").as_secs();
    secs as i64 / 60 + offset_min
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// The day name of a local day number (days since 1970-01-01, a Thursday).
fn day_name(day: i64) -> &'static str {
    DAYS[(day + 3).rem_euclid(7) as usize]
}

fn hhmm(min: i64) -> String {
    format!("{:02}:{:02}", min / 60, min % 60)
}

/// Weekly hours with one span from `start` (local minutes since the epoch) lasting
/// `len` minutes, listed on the day the span starts only; a span past midnight is an
/// overnight span of that day, as the hours format defines.
fn span_from(start: i64, len: i64) -> Value {
    let day = start.div_euclid(1440);
    let open = start.rem_euclid(1440);
    let end = open + len;
    let close = if end > 1440 { end - 1440 } else { end };
    json!({"weekly": [{"days": [day_name(day)], "open": hhmm(open), "close": hhmm(close)}]})
}

/// Open from an hour ago to an hour from now in a zone `offset_min` ahead of UTC.
fn open_around_now(offset_min: i64) -> Value {
    span_from(local_minutes(offset_min) - 60, 120)
}

jiayou_testkit::on_each_backend! {
    async fn ranks_by_great_circle_distance(app) {
        let b = app.backend;
        let (chain_id, code) = chain(&app).await;
        let a = north(KM, 300.0);
        let e = east(KM, 1200.0);
        // A diagonal offset: neither axis alone gives its distance.
        let d = (KM.0 + 0.011, KM.1 - 0.009);
        let far = north(KM, 8000.0);
        for (c, p) in [("FAR", far), ("DIAG", d), ("EAST", e), ("NORTH", a)] {
            station(&app, chain_id, c, p, None, json!({})).await;
        }

        let page = search(&app, &format!("{}&chain={code}", at(KM))).await;
        assert_eq!(codes(&page), ["NORTH", "EAST", "DIAG"], "{b:?}: nearest first, FAR beyond the default 5 km");
        assert_eq!(page["total"], 3, "{b:?}");
        assert_eq!(page["coord"], "wgs84", "{b:?}: default datum is wgs84 and is echoed");
        for (c, p) in [("NORTH", a), ("EAST", e), ("DIAG", d)] {
            let s = item(&page, c);
            let want = haversine(KM, stored(p));
            let got = s["distance_m"].as_f64().expect("distance_m");
            assert!((got - want).abs() <= 1.0, "{b:?} {c}: distance_m {got}, haversine {want}");
            // WGS-84 in, WGS-84 out, at the stored precision.
            assert!((s["lng"].as_f64().unwrap() - p.0).abs() < 1e-7, "{b:?} {c}: lng {}", s["lng"]);
            assert!((s["lat"].as_f64().unwrap() - p.1).abs() < 1e-7, "{b:?} {c}: lat {}", s["lat"]);
            assert_eq!(s["chain_id"], chain_id, "{b:?}");
            assert_eq!(s["open_now"], true, "{b:?}: default hours are always open");
        }
        // Sanity of the fixture itself: the offsets are the distances they claim.
        assert!((haversine(KM, a) - 300.0).abs() < 1e-6 && (haversine(KM, e) - 1200.0).abs() < 1e-6);

        // A larger radius reaches FAR, last; the chain code is case-insensitive.
        let page = search(&app, &format!("{}&radius_m=10000&chain={}", at(KM), code.to_lowercase())).await;
        assert_eq!(codes(&page), ["NORTH", "EAST", "DIAG", "FAR"], "{b:?}");
        let far_m = item(&page, "FAR")["distance_m"].as_f64().unwrap();
        assert!((far_m - 8000.0).abs() <= 1.0, "{b:?}: FAR at {far_m} m");

        // Seen from the east station, the order changes: ranking is by distance from the
        // query point, not by insertion or id.
        let page = search(&app, &format!("{}&chain={code}", at(e))).await;
        assert_eq!(codes(&page)[0], "EAST", "{b:?}");
        assert_eq!(item(&page, "EAST")["distance_m"], 0, "{b:?}");
    }

    async fn chain_code_scopes_the_search(app) {
        let b = app.backend;
        let (a_id, a_code) = chain(&app).await;
        let (b_id, b_code) = chain(&app).await;
        // Lhasa: no other test puts stations here.
        let lhasa = (91.1172, 29.6469);
        let sa = station(&app, a_id, "SAME", lhasa, None, json!({})).await;
        let sb = station(&app, b_id, "SAME", north(lhasa, 50.0), None, json!({})).await;
        let q = |extra: &str| format!("{}&radius_m=200{extra}", at(lhasa));

        let pa = search(&app, &q(&format!("&chain={a_code}"))).await;
        let ids: Vec<i64> = pa["items"].as_array().unwrap().iter().map(id).collect();
        assert_eq!(ids, [id(&sa)], "{b:?}: only chain A's station");
        assert_eq!(pa["total"], 1, "{b:?}");
        let pb = search(&app, &q(&format!("&chain={b_code}"))).await;
        let ids: Vec<i64> = pb["items"].as_array().unwrap().iter().map(id).collect();
        assert_eq!(ids, [id(&sb)], "{b:?}: only chain B's station");
        assert_eq!(pb["items"][0]["chain_id"], b_id, "{b:?}");

        // Without `chain`, every chain's stations (MariaDB's shared database may hold
        // more from earlier runs, so only containment is asserted).
        let all = search(&app, &q("&per_page=200")).await;
        let ids: HashSet<i64> = all["items"].as_array().unwrap().iter().map(id).collect();
        assert!(ids.contains(&id(&sa)) && ids.contains(&id(&sb)), "{b:?}: both chains without a chain filter");
        let r = nearby(&app, &q("&chain=")).await;
        assert_eq!(r.status, StatusCode::OK, "{b:?}: an empty chain means all chains: {}", r.text);
    }

    async fn radius_is_inclusive_to_the_metre(app) {
        let b = app.backend;
        let (chain_id, code) = chain(&app).await;
        let inside = north(KM, 999.95);
        let outside = north(KM, 1000.05);
        station(&app, chain_id, "IN", inside, None, json!({})).await;
        station(&app, chain_id, "OUT", outside, None, json!({})).await;
        station(&app, chain_id, "HERE", KM, None, json!({})).await;
        assert!(haversine(KM, stored(inside)) < 1000.0 && haversine(KM, stored(outside)) > 1000.0);

        let page = search(&app, &format!("{}&radius_m=1000&chain={code}", at(KM))).await;
        assert_eq!(codes(&page), ["HERE", "IN"], "{b:?}: 999.95 m is inside 1000 m, 1000.05 m is not");
        assert_eq!(item(&page, "IN")["distance_m"], 1000, "{b:?}: rounded to the metre");
        assert_eq!(item(&page, "HERE")["distance_m"], 0, "{b:?}");

        let page = search(&app, &format!("{}&radius_m=1001&chain={code}", at(KM))).await;
        assert_eq!(codes(&page), ["HERE", "IN", "OUT"], "{b:?}");

        // The smallest radius still finds a station standing on the query point.
        let page = search(&app, &format!("{}&radius_m=1&chain={code}", at(KM))).await;
        assert_eq!(codes(&page), ["HERE"], "{b:?}");
        // From 500 m south the same two stations sit either side of 1500 m.
        let south = north(KM, -500.0);
        let page = search(&app, &format!("{}&radius_m=1500&chain={code}", at(south))).await;
        assert_eq!(codes(&page), ["HERE", "IN"], "{b:?}: IN at 1499.95 m, OUT at 1500.05 m");
    }

    async fn answers_in_the_callers_datum(app) {
        let b = app.backend;
        let (chain_id, code) = chain(&app).await;
        // A point as WeChat (gcj02) gives it, in Kunming.
        let gcj = (102.718_123_4, 25.040_567_8);
        let s = station(&app, chain_id, "GCJ", gcj, Some("gcj02"), json!({})).await;
        let wgs = conv(gcj, CoordSystem::Gcj02, CoordSystem::Wgs84);
        let bd = conv(gcj, CoordSystem::Gcj02, CoordSystem::Bd09);
        // Stored as WGS-84, not as the numbers it was given in.
        assert!((s["lng"].as_f64().unwrap() - wgs.0).abs() < 1e-6, "{b:?}: stored lng {}", s["lng"]);
        assert!((s["lat"].as_f64().unwrap() - wgs.1).abs() < 1e-6, "{b:?}: stored lat {}", s["lat"]);
        assert!(haversine(gcj, wgs) > 100.0, "fixture: the GCJ offset in Kunming is hundreds of metres");

        // A Baidu map asks in bd09 and gets bd09 back.
        let page = search(&app, &format!("{}&coord=bd09&radius_m=50&chain={code}", at(bd))).await;
        assert_eq!(page["coord"], "bd09", "{b:?}");
        assert_eq!(codes(&page), ["GCJ"], "{b:?}");
        let it = item(&page, "GCJ");
        assert!((it["lng"].as_f64().unwrap() - bd.0).abs() < 1e-6, "{b:?}: bd09 lng {} vs {}", it["lng"], bd.0);
        assert!((it["lat"].as_f64().unwrap() - bd.1).abs() < 1e-6, "{b:?}: bd09 lat {} vs {}", it["lat"], bd.1);
        assert!(it["distance_m"].as_u64().unwrap() <= 1, "{b:?}: same place in another datum: {}", it["distance_m"]);

        // WeChat asks in gcj02 and gets its own numbers back.
        let page = search(&app, &format!("{}&coord=gcj02&radius_m=50&chain={code}", at(gcj))).await;
        assert_eq!(page["coord"], "gcj02", "{b:?}");
        let it = item(&page, "GCJ");
        assert!((it["lng"].as_f64().unwrap() - gcj.0).abs() < 1e-6, "{b:?}: gcj02 lng {}", it["lng"]);
        assert!((it["lat"].as_f64().unwrap() - gcj.1).abs() < 1e-6, "{b:?}: gcj02 lat {}", it["lat"]);
        assert!(it["distance_m"].as_u64().unwrap() <= 1, "{b:?}");

        // Without `coord` the query is WGS-84: the raw GCJ numbers are hundreds of metres off.
        let page = search(&app, &format!("{}&radius_m=5000&chain={code}", at(gcj))).await;
        assert_eq!(page["coord"], "wgs84", "{b:?}");
        let it = item(&page, "GCJ");
        let want = haversine(gcj, stored(wgs));
        let got = it["distance_m"].as_f64().unwrap();
        assert!((got - want).abs() <= 1.0, "{b:?}: gcj numbers read as wgs84 are {want} m away, got {got}");
        assert!((it["lng"].as_f64().unwrap() - wgs.0).abs() < 1e-6, "{b:?}: wgs84 lng {}", it["lng"]);
        let page = search(&app, &format!("{}&coord=wgs84&radius_m=50&chain={code}", at(wgs))).await;
        assert_eq!(codes(&page), ["GCJ"], "{b:?}");
        assert_eq!(page["coord"], "wgs84", "{b:?}");
    }

    async fn passes_through_outside_the_china_box(app) {
        let b = app.backend;
        let (chain_id, code) = chain(&app).await;
        // Just west of the published algorithm's box (lng 72.004): GCJ-02 is WGS-84 there.
        let edge = (72.003, 38.5);
        let s = station(&app, chain_id, "EDGE", edge, Some("gcj02"), json!({})).await;
        assert!((s["lng"].as_f64().unwrap() - edge.0).abs() < 1e-7, "{b:?}: passed through: {}", s["lng"]);
        assert!((s["lat"].as_f64().unwrap() - edge.1).abs() < 1e-7, "{b:?}: passed through: {}", s["lat"]);
        // Inside the box (8 km east) the same kind of numbers are shifted.
        let inside = (72.1, 38.5);
        let s2 = station(&app, chain_id, "INSIDE", inside, Some("gcj02"), json!({})).await;
        let want = conv(inside, CoordSystem::Gcj02, CoordSystem::Wgs84);
        assert!((s2["lng"].as_f64().unwrap() - want.0).abs() < 1e-6, "{b:?}: {} vs {}", s2["lng"], want.0);
        assert!((s2["lat"].as_f64().unwrap() - want.1).abs() < 1e-6, "{b:?}: {} vs {}", s2["lat"], want.1);
        assert!(haversine(inside, want) > 10.0, "fixture: the shift inside the box is visible");

        for coord in ["wgs84", "gcj02"] {
            let page = search(&app, &format!("{}&coord={coord}&radius_m=5&chain={code}", at(edge))).await;
            assert_eq!(codes(&page), ["EDGE"], "{b:?} {coord}");
            let it = item(&page, "EDGE");
            assert_eq!(it["distance_m"], 0, "{b:?} {coord}");
            assert!((it["lng"].as_f64().unwrap() - edge.0).abs() < 1e-7, "{b:?} {coord}: {}", it["lng"]);
        }
    }

    async fn filters_by_grade_and_sorts_by_price(app) {
        let b = app.backend;
        let (chain_id, code) = chain(&app).await;
        let g92 = grade(&app, chain_id, "92").await;
        let g95 = grade(&app, chain_id, "95").await;
        let ge10 = grade(&app, chain_id, "E10").await;
        let mut ids = std::collections::HashMap::new();
        for (i, c) in ["S1", "S2", "S3", "S4", "S5"].into_iter().enumerate() {
            let s = station(&app, chain_id, c, north(KM, 200.0 * (i as f64 + 1.0)), None, json!({})).await;
            ids.insert(c, id(&s));
        }
        set_price(&app, ids["S1"], g92, 790).await;
        set_price(&app, ids["S2"], g92, 760).await;
        set_price(&app, ids["S3"], g92, 760).await;
        set_price(&app, ids["S3"], g95, 820).await;
        set_price(&app, ids["S4"], g95, 810).await;
        set_price(&app, ids["S4"], ge10, 700).await;
        // S5 sells nothing yet.

        let q = |extra: &str| format!("{}&chain={code}&{extra}", at(KM));
        let all = search(&app, &q("")).await;
        assert_eq!(codes(&all), ["S1", "S2", "S3", "S4", "S5"], "{b:?}");
        assert_eq!(item(&all, "S5")["grades"], json!([]), "{b:?}: no prices, empty list");
        let s3 = item(&all, "S3")["grades"].as_array().unwrap().clone();
        let listed: Vec<(&str, i64)> =
            s3.iter().map(|g| (g["code"].as_str().unwrap(), g["list_price_fen"].as_i64().unwrap())).collect();
        assert_eq!(listed, [("92", 760), ("95", 820)], "{b:?}: every current price, by grade code");
        assert_eq!(s3[0]["grade_id"], g92, "{b:?}");
        assert_eq!(s3[0]["unit"], "litre", "{b:?}");
        assert_eq!(s3[0]["price_version"], 1, "{b:?}");

        let p = search(&app, &q("grade=92")).await;
        assert_eq!(codes(&p), ["S1", "S2", "S3"], "{b:?}: only stations with a 92 price, nearest first");
        assert_eq!(p["total"], 3, "{b:?}");
        assert_eq!(codes(&search(&app, &q("grade=95")).await), ["S3", "S4"], "{b:?}");
        assert_eq!(codes(&search(&app, &q("grade=e10")).await), ["S4"], "{b:?}: grade codes are case-insensitive");
        let none = search(&app, &q("grade=98")).await;
        assert_eq!((codes(&none).len(), &none["total"]), (0, &json!(0)), "{b:?}: a grade nobody sells");

        // Cheapest first; S2 and S3 tie at 7.60 and the nearer wins.
        let p = search(&app, &q("grade=92&sort=price")).await;
        assert_eq!(codes(&p), ["S2", "S3", "S1"], "{b:?}");
        let p = search(&app, &q("grade=95&sort=price")).await;
        assert_eq!(codes(&p), ["S4", "S3"], "{b:?}: 8.10 before the nearer 8.20");

        // A price change re-ranks at once: the current price is what counts.
        set_price(&app, ids["S1"], g92, 700).await;
        let p = search(&app, &q("grade=92&sort=price")).await;
        assert_eq!(codes(&p), ["S1", "S2", "S3"], "{b:?}");
        let s1 = &item(&p, "S1")["grades"][0];
        assert_eq!((&s1["list_price_fen"], &s1["price_version"]), (&json!(700), &json!(2)), "{b:?}");
        // sort=distance is explicit and the default.
        assert_eq!(codes(&search(&app, &q("grade=92&sort=distance")).await), ["S1", "S2", "S3"], "{b:?}");

        let r = nearby(&app, &q("sort=price")).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{b:?}: {}", r.text);
        assert_eq!(r.field(), "grade", "{b:?}: {}", r.text);
        assert_eq!(r.body["errors"][0]["code"], "field_required", "{b:?}: {}", r.text);
    }

    async fn filters_by_every_listed_amenity(app) {
        let b = app.backend;
        let (chain_id, code) = chain(&app).await;
        let spots = [
            ("WASH_WC", json!({"amenities": ["restroom", "car_wash"]})),
            ("WASH", json!({"amenities": ["car_wash"]})),
            ("WC_SHOP", json!({"amenities": ["convenience_store", "restroom"]})),
            ("BARE", json!({})),
        ];
        for (i, (c, extra)) in spots.into_iter().enumerate() {
            station(&app, chain_id, c, east(KM, 100.0 * (i as f64 + 1.0)), None, extra).await;
        }
        let q = |extra: &str| format!("{}&chain={code}&{extra}", at(KM));
        assert_eq!(codes(&search(&app, &q("")).await), ["WASH_WC", "WASH", "WC_SHOP", "BARE"], "{b:?}");
        assert_eq!(codes(&search(&app, &q("amenity=car_wash")).await), ["WASH_WC", "WASH"], "{b:?}");
        assert_eq!(codes(&search(&app, &q("amenity=restroom")).await), ["WASH_WC", "WC_SHOP"], "{b:?}");
        let both = search(&app, &q("amenity=car_wash,restroom")).await;
        assert_eq!(codes(&both), ["WASH_WC"], "{b:?}: all of the list, not any");
        assert_eq!(both["total"], 1, "{b:?}");
        assert_eq!(item(&both, "WASH_WC")["amenities"], json!(["car_wash", "restroom"]), "{b:?}");
        assert_eq!(codes(&search(&app, &q("amenity=car_wash,%20restroom,")).await), ["WASH_WC"], "{b:?}");
        assert_eq!(codes(&search(&app, &q("amenity=atm")).await).len(), 0, "{b:?}");
        assert_eq!(codes(&search(&app, &q("amenity=")).await).len(), 4, "{b:?}: empty list filters nothing");
    }

    async fn open_now_uses_each_stations_own_time_zone(app) {
        let b = app.backend;
        let (chain_id, code) = chain(&app).await;
        const SHANGHAI: i64 = 8 * 60;
        const KATHMANDU: i64 = 5 * 60 + 45;
        let sh_now = local_minutes(SHANGHAI);
        let spots = [
            // Default hours: always open.
            ("ALWAYS", json!({})),
            // Open for the two hours around now, in Shanghai.
            ("SH_NOW", json!({"time_zone": "Asia/Shanghai", "hours": open_around_now(SHANGHAI)})),
            // Around now in Kathmandu (UTC+05:45): closed if read as Shanghai time.
            ("KTM_NOW", json!({"time_zone": "Asia/Kathmandu", "hours": open_around_now(KATHMANDU)})),
            // One minute a day, every day, twelve hours from now.
            ("SH_LATER", json!({"time_zone": "Asia/Shanghai", "hours": {"weekly": [{
                "days": DAYS,
                "open": hhmm((sh_now + 720).rem_euclid(1440)),
                "close": hhmm((sh_now + 720).rem_euclid(1440) + 1),
            }]}})),
            // The right time of day, three days from now (even overnight it cannot reach today).
            ("SH_OTHER_DAY", json!({"time_zone": "Asia/Shanghai", "hours": span_from(sh_now - 60 + 3 * 1440, 120)})),
            // Shanghai's "now" window, but the station keeps UTC: eight hours off.
            ("UTC_SHIFTED", json!({"time_zone": "UTC", "hours": open_around_now(SHANGHAI)})),
        ];
        for (i, (c, extra)) in spots.into_iter().enumerate() {
            station(&app, chain_id, c, north(KM, 100.0 * (i as f64 + 1.0)), None, extra).await;
        }
        let q = |extra: &str| format!("{}&chain={code}&{extra}", at(KM));

        let all = search(&app, &q("")).await;
        assert_eq!(all["total"], 6, "{b:?}: without the filter every station is listed");
        let flags: Vec<(String, bool)> = all["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["code"].as_str().unwrap().to_owned(), s["open_now"].as_bool().unwrap()))
            .collect();
        let want: Vec<(String, bool)> = [
            ("ALWAYS", true),
            ("SH_NOW", true),
            ("KTM_NOW", true),
            ("SH_LATER", false),
            ("SH_OTHER_DAY", false),
            ("UTC_SHIFTED", false),
        ]
        .into_iter()
        .map(|(c, o)| (c.to_owned(), o))
        .collect();
        assert_eq!(flags, want, "{b:?}: open_now of each station");

        let open = search(&app, &q("open_now=true")).await;
        assert_eq!(codes(&open), ["ALWAYS", "SH_NOW", "KTM_NOW"], "{b:?}");
        assert_eq!(open["total"], 3, "{b:?}");
        assert_eq!(search(&app, &q("open_now=false")).await["total"], 6, "{b:?}: false means no filter");
    }

    async fn retired_and_moved_stations(app) {
        let b = app.backend;
        let (chain_id, code) = chain(&app).await;
        let old = KM;
        let a = station(&app, chain_id, "GONE", old, None, json!({})).await;
        let m = station(&app, chain_id, "MOVER", north(old, 300.0), None, json!({})).await;
        station(&app, chain_id, "STAY", north(old, 600.0), None, json!({})).await;
        let q = |p: (f64, f64), extra: &str| format!("{}&chain={code}&radius_m=2000{extra}", at(p));
        assert_eq!(codes(&search(&app, &q(old, "")).await), ["GONE", "MOVER", "STAY"], "{b:?}");

        let r = app.post(&format!("/api/v1/stations/{}/retire", id(&a)), json!({})).await;
        assert_eq!(r.status, StatusCode::OK, "{b:?}: {}", r.text);
        let p = search(&app, &q(old, "")).await;
        assert_eq!(codes(&p), ["MOVER", "STAY"], "{b:?}: retired stations disappear");
        assert_eq!(p["total"], 2, "{b:?}");

        // Move MOVER 20 km north-east, given in gcj02 as a map click would be.
        let new_gcj = (102.85, 25.15);
        let r = app
            .patch(&format!("/api/v1/stations/{}", id(&m)), json!({"lng": new_gcj.0, "lat": new_gcj.1, "coord": "gcj02"}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{b:?}: {}", r.text);
        assert_eq!(codes(&search(&app, &q(old, "")).await), ["STAY"], "{b:?}: not at the old place");
        let p = search(&app, &q(new_gcj, "&coord=gcj02")).await;
        assert_eq!(codes(&p), ["MOVER"], "{b:?}: found at the new place");
        let it = item(&p, "MOVER");
        assert!(it["distance_m"].as_u64().unwrap() <= 1, "{b:?}: {}", it["distance_m"]);
        assert!((it["lng"].as_f64().unwrap() - new_gcj.0).abs() < 1e-6, "{b:?}: {}", it["lng"]);
        assert!((it["lat"].as_f64().unwrap() - new_gcj.1).abs() < 1e-6, "{b:?}: {}", it["lat"]);
        // Retired stations stay retired after other edits elsewhere, and editing them is refused.
        let r = app.patch(&format!("/api/v1/stations/{}", id(&a)), json!({"lng": new_gcj.0, "lat": new_gcj.1})).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{b:?}: {}", r.text);
        assert_eq!(codes(&search(&app, &q(new_gcj, "&coord=gcj02")).await), ["MOVER"], "{b:?}");
    }

    async fn pages_are_consistent(app) {
        let b = app.backend;
        let (chain_id, code) = chain(&app).await;
        // Seven stations; two pairs share a spot, so ties must break the same way on every page.
        let spots = [
            ("P1", 100.0),
            ("P2", 200.0),
            ("P3", 200.0),
            ("P4", 300.0),
            ("P5", 400.0),
            ("P6", 400.0),
            ("P7", 500.0),
        ];
        let mut created = Vec::new();
        for (c, d) in spots {
            created.push((c, id(&station(&app, chain_id, c, north(KM, d), None, json!({})).await)));
        }
        let base = format!("{}&chain={code}", at(KM));
        let full = search(&app, &format!("{base}&per_page=200")).await;
        assert_eq!(full["total"], 7, "{b:?}");
        assert_eq!(codes(&full), ["P1", "P2", "P3", "P4", "P5", "P6", "P7"], "{b:?}: ties by id");

        let mut seen = Vec::new();
        for page in 1..=4u64 {
            let p = search(&app, &format!("{base}&page={page}&per_page=3")).await;
            assert_eq!(p["total"], 7, "{b:?} page {page}: total is over all pages");
            assert_eq!(p["page"], page, "{b:?}");
            assert_eq!(p["per_page"], 3, "{b:?}");
            let want_len = [3, 3, 1, 0][page as usize - 1];
            assert_eq!(codes(&p).len(), want_len, "{b:?} page {page}");
            seen.extend(codes(&p));
        }
        let unique: HashSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "{b:?}: no station on two pages: {seen:?}");
        assert_eq!(seen, codes(&full), "{b:?}: the pages concatenate to the full list");

        // Defaults: page 1 of 20.
        let p = search(&app, &base).await;
        assert_eq!((&p["page"], &p["per_page"]), (&json!(1), &json!(20)), "{b:?}");
        // Ids in the response are the created stations'.
        let ids: HashSet<i64> = full["items"].as_array().unwrap().iter().map(id).collect();
        assert_eq!(ids, created.iter().map(|(_, i)| *i).collect::<HashSet<_>>(), "{b:?}");
    }

    async fn bad_input_is_a_problem_naming_the_field(app) {
        let b = app.backend;
        let (_, code) = chain(&app).await;
        let ok = format!("chain={code}");
        let cases: &[(&str, &str, &str)] = &[
            ("lng=102.7", "lat", "field_required"),
            ("lat=25.0", "lng", "field_required"),
            ("lng=abc&lat=25", "lng", "field_invalid_format"),
            ("lng=102.7&lat=", "lat", "field_invalid_format"),
            ("lng=102.7&lat=91", "lat", "field_out_of_range"),
            ("lng=102.7&lat=-90.0001", "lat", "field_out_of_range"),
            ("lng=-181&lat=25", "lng", "field_out_of_range"),
            ("lng=180.5&lat=25", "lng", "field_out_of_range"),
            ("lng=NaN&lat=25", "lng", "field_out_of_range"),
            ("lng=102.7&lat=inf", "lat", "field_out_of_range"),
            ("lng=102.7&lat=25&coord=foo", "coord", "field_unknown_value"),
            ("lng=102.7&lat=25&coord=", "coord", "field_unknown_value"),
            ("lng=102.7&lat=25&radius_m=0", "radius_m", "field_out_of_range"),
            ("lng=102.7&lat=25&radius_m=100001", "radius_m", "field_out_of_range"),
            ("lng=102.7&lat=25&radius_m=1000000", "radius_m", "field_out_of_range"),
            ("lng=102.7&lat=25&radius_m=-5", "radius_m", "field_invalid_format"),
            ("lng=102.7&lat=25&radius_m=1.5", "radius_m", "field_invalid_format"),
            ("lng=102.7&lat=25&amenity=pool", "amenity", "field_unknown_value"),
            ("lng=102.7&lat=25&amenity=car_wash,pool", "amenity", "field_unknown_value"),
            ("lng=102.7&lat=25&per_page=0", "per_page", "field_out_of_range"),
            ("lng=102.7&lat=25&per_page=201", "per_page", "field_out_of_range"),
            ("lng=102.7&lat=25&page=0", "page", "field_out_of_range"),
            ("lng=102.7&lat=25&sort=rating", "sort", "field_unknown_value"),
            ("lng=102.7&lat=25&sort=price", "grade", "field_required"),
            ("lng=102.7&lat=25&open_now=maybe", "open_now", "field_invalid_format"),
        ];
        for (query, field, field_code) in cases {
            let r = nearby(&app, &format!("{query}&{ok}")).await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{b:?} {query}: {}", r.text);
            assert_eq!(r.content_type, "application/problem+json", "{b:?} {query}");
            assert_eq!(r.code(), "validation_failed", "{b:?} {query}: {}", r.text);
            assert_eq!(r.field(), *field, "{b:?} {query}: {}", r.text);
            assert_eq!(r.body["status"], 422, "{b:?} {query}");
            assert_eq!(r.body["errors"][0]["field"], *field, "{b:?} {query}: {}", r.text);
            assert_eq!(r.body["errors"][0]["code"], *field_code, "{b:?} {query}: {}", r.text);
            assert!(r.body["title"].as_str().is_some_and(|t| !t.is_empty()), "{b:?} {query}: zh-CN title");
        }

        // Every problem in one round trip.
        let r = nearby(&app, &format!("lng=102.7&lat=95&radius_m=0&amenity=pool&per_page=0&{ok}")).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{b:?}: {}", r.text);
        let fields: HashSet<&str> =
            r.body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert_eq!(fields, HashSet::from(["lat", "radius_m", "amenity", "per_page"]), "{b:?}: {}", r.text);

        // An unknown chain code is a bad reference in the query, not an empty result.
        let r = nearby(&app, "lng=102.7&lat=25&chain=NO-SUCH-CHAIN-X").await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{b:?}: {}", r.text);
        assert_eq!(r.content_type, "application/problem+json", "{b:?}");
        assert_eq!(r.field(), "chain", "{b:?}: {}", r.text);
        assert_eq!(r.body["errors"][0]["code"], "field_reference_not_found", "{b:?}: {}", r.text);

        // The limits themselves are accepted.
        for query in [
            "radius_m=1",
            "radius_m=100000",
            "per_page=200",
            "page=18446744073709551615",
            "lng=180&lat=90",
            "lng=-180&lat=-90",
            "lng=179.9999&lat=0&radius_m=100000",
        ] {
            let q = if query.starts_with("lng") { format!("{query}&{ok}") } else { format!("lng=102.7&lat=25&{query}&{ok}") };
            let r = nearby(&app, &q).await;
            assert_eq!(r.status, StatusCode::OK, "{b:?} {q}: {}", r.text);
        }
    }
}
