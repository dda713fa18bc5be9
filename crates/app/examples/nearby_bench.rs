//! Benchmark of the station finder over 100,000 stations on embedded SQLite.
//! Prints figures; asserts nothing (timings never belong in tests).
//!
//!     cargo run --release -p jiayou-app --example nearby_bench [-- STATIONS QUERIES]

use std::time::Instant;

use jiayou_app::App;
use jiayou_app::finder::NearbyQuery;
use jiayou_domain::geo;
use jiayou_store::crypto::KeyRing;
use jiayou_store::entity::station;
use jiayou_store::sea_orm::{EntityTrait, Set};
use jiayou_store::{Db, now_us};

/// Deterministic pseudo-random numbers (a 64-bit LCG): the same stations every run.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Cities stations cluster around (lng, lat): real forecourts follow population.
const CITIES: &[(f64, f64)] = &[
    (102.71, 25.04),
    (116.40, 39.90),
    (121.47, 31.23),
    (113.26, 23.13),
    (104.07, 30.67),
    (114.31, 30.59),
    (108.94, 34.34),
    (87.62, 43.83),
    (126.64, 45.76),
    (109.51, 18.25),
];

#[tokio::main]
async fn main() -> anyhow_free::Result {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let stations = args.first().copied().unwrap_or(100_000);
    let queries = args.get(1).copied().unwrap_or(2_000);
    let dir = tempfile::tempdir()?;
    let db = Db::connect(&format!("sqlite://{}?mode=rwc", dir.path().join("bench.db").display())).await?;
    db.migrate().await?;
    let app = App::new(db.clone(), KeyRing::generate().0);
    let chain = app
        .create_chain(
            &jiayou_app::Caller::system("bench"),
            serde_json::from_value(serde_json::json!({"code": "BENCH", "name": "bench"}))?,
        )
        .await
        .map_err(|e| format!("{e:?}"))?;

    let mut rng = Lcg(42);
    let t = Instant::now();
    let now = now_us();
    let mut batch = Vec::with_capacity(1000);
    for i in 0..stations {
        // 80% within ~40 km of a city, 20% anywhere in the China box.
        let (lng, lat) = if rng.next() < 0.8 {
            let (cx, cy) = CITIES[(rng.next() * CITIES.len() as f64) as usize % CITIES.len()];
            (cx + (rng.next() - 0.5) * 0.8, cy + (rng.next() - 0.5) * 0.8)
        } else {
            (73.0 + rng.next() * 62.0, 18.0 + rng.next() * 35.0)
        };
        batch.push(station::ActiveModel {
            chain_id: Set(chain.id),
            code: Set(format!("S{i}")),
            name: Set(format!("站{i}")),
            address: Set("bench".into()),
            phone: Set(None),
            lng_e7: Set(geo::to_e7(lng)),
            lat_e7: Set(geo::to_e7(lat)),
            grid_row: Set(geo::grid_row_e7(geo::to_e7(lat))),
            time_zone: Set("Asia/Shanghai".into()),
            hours: Set(r#"{"always_open":true}"#.into()),
            amenities: Set("[]".into()),
            retired_at_us: Set(None),
            created_at_us: Set(now),
            updated_at_us: Set(now),
            revision: Set(1),
            ..Default::default()
        });
        if batch.len() == 1000 || i + 1 == stations {
            station::Entity::insert_many(std::mem::take(&mut batch)).exec(db.writer()).await?;
        }
    }
    println!("seeded {stations} stations in {:.1} s", t.elapsed().as_secs_f64());

    let mut lat_us = Vec::with_capacity(queries);
    let mut found = 0usize;
    for _ in 0..queries {
        let (cx, cy) = CITIES[(rng.next() * CITIES.len() as f64) as usize % CITIES.len()];
        let q = NearbyQuery {
            lng: cx + (rng.next() - 0.5) * 0.5,
            lat: cy + (rng.next() - 0.5) * 0.5,
            coord: None,
            radius_m: Some(5_000),
            grade: None,
            open_now: None,
            amenity: None,
            sort: None,
            chain: None,
            page: None,
            per_page: Some(20),
        };
        let t = Instant::now();
        let page = app.nearby(&q).await.map_err(|e| format!("{e:?}"))?;
        lat_us.push(t.elapsed().as_micros() as u64);
        found += page.total as usize;
    }
    lat_us.sort_unstable();
    let pct = |p: f64| lat_us[((lat_us.len() as f64 * p) as usize).min(lat_us.len() - 1)];
    println!(
        "nearby (in-process, radius 5 km, {queries} queries, avg {:.0} stations in radius): p50 {} µs  p99 {} µs  max {} µs",
        found as f64 / queries as f64,
        pct(0.50),
        pct(0.99),
        lat_us[lat_us.len() - 1]
    );
    Ok(())
}

/// `Box<dyn Error>` under a readable name; the example needs no error crate.
mod anyhow_free {
    pub type Result = std::result::Result<(), Box<dyn std::error::Error>>;
}
