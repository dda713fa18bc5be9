//! The Kunming demo chain: seeded through the use-cases, idempotent, consistent, and
//! findable with the station finder.

use std::collections::{HashMap, HashSet};

use jiayou_app::App;
use jiayou_app::chains::NewChain;
use jiayou_app::demo::{self, CHAIN_CODE, DemoSummary, GRADES, STATIONS};
use jiayou_app::equipment::EquipmentFilter;
use jiayou_app::finder::NearbyQuery;
use jiayou_app::grades::GradeFilter;
use jiayou_app::paging::PageRequest;
use jiayou_app::stations::{StationFilter, StationView};
use jiayou_domain::geo::CoordSystem;
use jiayou_domain::station::NearbySort;
use jiayou_store::Db;
use jiayou_store::crypto::KeyRing;

fn sys() -> jiayou_app::Caller {
    jiayou_app::Caller::system("test")
}

/// 昆明 北京路 as a Chinese map app shows it (GCJ-02).
const BEIJING_LU_GCJ02: (f64, f64) = (102.7186, 25.0463);

async fn app(dir: &tempfile::TempDir) -> App {
    let path = dir.path().join("demo.db");
    let db = Db::connect(&format!("sqlite://{}?mode=rwc", path.display())).await.unwrap();
    db.migrate().await.unwrap();
    App::new(db, KeyRing::generate().0)
}

fn live() -> EquipmentFilter {
    EquipmentFilter { include_retired: Some(false) }
}

async fn stations(app: &App, chain_id: i64) -> Vec<StationView> {
    let filter = StationFilter { chain_id: Some(chain_id), q: None, status: None };
    let req = PageRequest { page: Some(1), per_page: Some(200), sort: None };
    let page = app.list_stations(&sys(), &filter, &req).await.unwrap();
    assert_eq!(page.total as usize, page.items.len());
    page.items
}

/// (stations, nozzles) counted through the list use-cases.
async fn counts(app: &App, chain_id: i64) -> (usize, usize) {
    let st = stations(app, chain_id).await;
    let mut nozzles = 0;
    for s in &st {
        nozzles += app.list_nozzles(&sys(), s.id, &live()).await.unwrap().len();
    }
    (st.len(), nozzles)
}

fn expected_nozzles() -> usize {
    STATIONS.iter().map(|s| s.pumps.iter().map(|p| p.len()).sum::<usize>()).sum()
}

fn nearby(radius_m: u32) -> NearbyQuery {
    NearbyQuery {
        lng: BEIJING_LU_GCJ02.0,
        lat: BEIJING_LU_GCJ02.1,
        coord: Some(CoordSystem::Gcj02),
        radius_m: Some(radius_m),
        grade: None,
        open_now: None,
        amenity: None,
        sort: None,
        chain: Some(CHAIN_CODE.to_owned()),
        page: None,
        per_page: Some(50),
    }
}

#[tokio::test]
async fn seeding_twice_creates_once() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir).await;

    let first = demo::seed(&app).await.unwrap();
    assert!(first.created);
    assert_eq!(first.chain_code, CHAIN_CODE);
    assert_eq!(first.stations, STATIONS.len());
    assert_eq!(first.nozzles, expected_nozzles());
    assert_eq!(counts(&app, first.chain_id).await, (first.stations, first.nozzles));
    let chain = app.get_chain(&sys(), first.chain_id).await.unwrap();
    assert_eq!(chain.time_zone, "Asia/Shanghai");
    assert!(chain.name.contains("示范"));

    let second = demo::seed(&app).await.unwrap();
    assert_eq!(second, DemoSummary { created: false, ..first.clone() });
    assert_eq!(counts(&app, first.chain_id).await, (first.stations, first.nozzles));
    let grades = app
        .list_grades(
            &sys(),
            &GradeFilter { chain_id: Some(first.chain_id), include_retired: None },
            &PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(grades.total as usize, GRADES.len());

    // Prices were not set again: NDRC-guided grades have exactly two versions.
    let g92 = grades.items.iter().find(|g| g.code == "92").unwrap();
    for s in stations(&app, first.chain_id).await {
        let h = app.price_history(&sys(), s.id, g92.id).await.unwrap();
        assert_eq!(h.iter().map(|p| p.version).collect::<Vec<_>>(), [2, 1], "{}", s.code);
        assert!(h[0].list_price_fen > h[1].list_price_fen, "the last NDRC step raised prices");
    }
}

#[tokio::test]
async fn equipment_and_prices_are_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir).await;
    let summary = demo::seed(&app).await.unwrap();
    let grades = app
        .list_grades(
            &sys(),
            &GradeFilter { chain_id: Some(summary.chain_id), include_retired: None },
            &PageRequest::default(),
        )
        .await
        .unwrap();
    let unit_of: HashMap<i64, _> = grades.items.iter().map(|g| (g.id, (g.code.clone(), g.unit))).collect();
    assert_eq!(unit_of.values().find(|(c, _)| c == "LNG").unwrap().1, jiayou_domain::grade::Unit::Kg);

    for s in stations(&app, summary.chain_id).await {
        let spec = STATIONS.iter().find(|x| x.code == s.code).unwrap();
        assert_eq!(s.name, spec.name);
        assert_eq!(s.time_zone, "Asia/Shanghai");
        assert!(s.phone.as_deref().unwrap().starts_with("0871-6"));
        // Stored as WGS-84; given back in GCJ-02 where it was entered.
        assert!((s.gcj02.lng - spec.gcj02.0).abs() < 1e-6 && (s.gcj02.lat - spec.gcj02.1).abs() < 1e-6, "{}", s.code);
        assert!((s.lng - spec.gcj02.0).abs() > 1e-3, "{}: coordinates were not converted", s.code);

        let tanks = app.list_tanks(&sys(), s.id, &live()).await.unwrap();
        let pumps = app.list_pumps(&sys(), s.id, &live()).await.unwrap();
        let nozzles = app.list_nozzles(&sys(), s.id, &live()).await.unwrap();
        assert!((2..=4).contains(&tanks.len()) && (2..=4).contains(&pumps.len()), "{}", s.code);
        for t in &tanks {
            assert!(t.safety_min > 0 && t.safety_min < t.overstock_max && t.overstock_max <= t.capacity);
        }

        // Nozzle numbers are 1..N, unique in the station.
        let numbers: Vec<i32> = nozzles.iter().map(|n| n.number).collect();
        assert_eq!(numbers, (1..=nozzles.len() as i32).collect::<Vec<_>>(), "{}", s.code);
        for p in &pumps {
            let on_pump = nozzles.iter().filter(|n| n.pump_id == p.id).count();
            assert!((2..=4).contains(&on_pump), "{} pump {}", s.code, p.number);
        }

        // Every nozzle draws from a tank of its own grade at the same station.
        for n in &nozzles {
            let t = tanks.iter().find(|t| t.id == n.tank_id).expect("nozzle's tank is live at the station");
            assert_eq!(t.grade_id, n.grade_id, "{} nozzle {}", s.code, n.number);
            let tank = app.get_tank(&sys(), n.tank_id).await.unwrap();
            assert_eq!((tank.station_id, tank.grade_id), (s.id, n.grade_id));
        }

        // A price for every grade the station has nozzles for, member ≤ list.
        let prices = app.list_prices(&sys(), s.id).await.unwrap();
        let sold: HashSet<i64> = nozzles.iter().map(|n| n.grade_id).collect();
        let priced: HashSet<i64> = prices.iter().map(|p| p.grade_id).collect();
        assert_eq!(sold, priced, "{}", s.code);
        for p in &prices {
            assert!(p.member_price_fen < p.list_price_fen, "{}", s.code);
            let (code, _) = &unit_of[&p.grade_id];
            let g = GRADES.iter().find(|g| g.code == code).unwrap();
            assert_eq!(p.list_price_fen, g.list_fen + spec.price_offset_fen);
            assert_eq!(p.version, if g.previous_fen.is_some() { 2 } else { 1 }, "{} {code}", s.code);
        }
    }
}

#[tokio::test]
async fn finder_around_beijing_lu_sorts_by_distance() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir).await;
    demo::seed(&app).await.unwrap();

    let page = app.nearby(&nearby(30_000)).await.unwrap();
    let codes: Vec<&str> = page.items.iter().map(|s| s.code.as_str()).collect();
    // Everything but the 草铺 truck stop (~40 km west) is within 30 km of downtown.
    assert_eq!(page.total as usize, STATIONS.len() - 1, "{codes:?}");
    assert!(!codes.contains(&"AN-CPWL"));
    assert_eq!(codes[0], "KM-BJL", "the 北京路 station is the nearest");
    assert!(page.items[0].distance_m < 500, "{}", page.items[0].distance_m);
    let d: Vec<u32> = page.items.iter().map(|s| s.distance_m).collect();
    assert!(d.windows(2).all(|w| w[0] <= w[1]), "{d:?}");
    assert!(d.iter().all(|&m| m <= 30_000));
    // Coordinates come back in the datum of the request, where they were entered.
    let bjl = &page.items[0];
    assert!((bjl.lng - 102.7206).abs() < 1e-6 && (bjl.lat - 25.0448).abs() < 1e-6, "{} {}", bjl.lng, bjl.lat);
    assert!(bjl.grades.iter().any(|g| g.code == "92"));

    // A wider radius reaches the truck stop, the only LNG seller.
    let wide = app.nearby(&nearby(60_000)).await.unwrap();
    assert_eq!(wide.total as usize, STATIONS.len());
    let lng = app.nearby(&NearbyQuery { grade: Some("LNG".into()), ..nearby(60_000) }).await.unwrap();
    assert_eq!(lng.items.iter().map(|s| s.code.as_str()).collect::<Vec<_>>(), ["AN-CPWL"]);
    assert!(lng.items[0].distance_m > 30_000);

    // Sorting by the 92# price puts the cheapest first, ties by distance.
    let by_price = app
        .nearby(&NearbyQuery { grade: Some("92".into()), sort: Some(NearbySort::Price), ..nearby(30_000) })
        .await
        .unwrap();
    let price =
        |s: &jiayou_app::finder::NearbyStation| s.grades.iter().find(|g| g.code == "92").unwrap().list_price_fen;
    let p: Vec<i64> = by_price.items.iter().map(price).collect();
    assert!(p.windows(2).all(|w| w[0] <= w[1]), "{p:?}");
    assert!(p.first() < p.last(), "prices differ between stations: {p:?}");
}

#[tokio::test]
async fn an_interrupted_seed_is_completed() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir).await;
    // As if a previous run stopped right after creating the chain.
    let chain = app
        .create_chain(&sys(), NewChain { code: CHAIN_CODE.into(), name: "半途而废".into(), time_zone: None })
        .await
        .unwrap();

    let s = demo::seed(&app).await.unwrap();
    assert!(s.created);
    assert_eq!((s.chain_id, s.stations, s.nozzles), (chain.id, STATIONS.len(), expected_nozzles()));

    // A station someone retired stays retired and is not re-created.
    let bjl = stations(&app, chain.id).await.into_iter().find(|x| x.code == "KM-BJL").unwrap();
    let bjl_nozzles = app.list_nozzles(&sys(), bjl.id, &live()).await.unwrap().len();
    app.retire_station(&sys(), bjl.id).await.unwrap();
    let again = demo::seed(&app).await.unwrap();
    assert!(!again.created);
    assert_eq!(again.stations, STATIONS.len() - 1);
    assert_eq!(again.nozzles, expected_nozzles() - bjl_nozzles);
}

#[tokio::test]
async fn demo_staff_sign_in_with_their_roles() {
    use jiayou_app::auth::{ClientInfo, LoginRequest};
    use jiayou_app::prices::PriceChange;
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir).await;
    let summary = demo::seed(&app).await.unwrap();
    let station = stations(&app, summary.chain_id).await.into_iter().find(|s| s.code == STATIONS[0].code).unwrap();
    let grade = station_grade(&app, summary.chain_id).await;
    let mut allowed = Vec::new();
    for (username, ..) in demo::STAFF {
        let login = LoginRequest {
            chain: CHAIN_CODE.into(),
            username: (*username).into(),
            password: demo::STAFF_PASSWORD.into(),
        };
        let session = app.login(login, ClientInfo::default()).await.unwrap_or_else(|e| panic!("{username}: {e:?}"));
        let me = app.authenticate(&session.token, None).await.unwrap();
        let change = PriceChange { list_price_fen: 801, member_price_fen: None, reason: None };
        if app.set_price(&me.caller, station.id, grade, change).await.is_ok() {
            allowed.push(*username);
        }
    }
    assert_eq!(allowed, vec!["admin", "zhanzhang"], "only the chain admin and the station manager change prices");
}

async fn station_grade(app: &App, chain_id: i64) -> i64 {
    let filter = GradeFilter { chain_id: Some(chain_id), include_retired: None };
    let page = app.list_grades(&sys(), &filter, &PageRequest::default()).await.unwrap();
    page.items.iter().find(|g| g.code == "92").unwrap().id
}
