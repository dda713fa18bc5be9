//! The nearby search must use the grid index, never scan the station table: that is
//! what keeps it fast at 100,000 stations (timings are in `examples/nearby_bench.rs`).
//! SQLite's planner is deterministic, so its plan is checked here.

use jiayou_app::finder::window_query;
use jiayou_domain::geo::LngLat;
use jiayou_store::Db;
use jiayou_store::sea_orm::{ConnectionTrait, DbBackend, QueryTrait, Statement};

async fn plan(db: &Db, center: LngLat, radius_m: f64) -> String {
    let stmt = window_query(center, radius_m).build(DbBackend::Sqlite);
    let explain = Statement::from_sql_and_values(
        DbBackend::Sqlite,
        format!("EXPLAIN QUERY PLAN {}", stmt.sql),
        stmt.values.unwrap_or(jiayou_store::sea_orm::Values(Vec::new())),
    );
    let rows = db.reader().query_all_raw(explain).await.unwrap();
    rows.iter().map(|r| r.try_get_by_index::<String>(3).unwrap()).collect::<Vec<_>>().join("\n")
}

#[tokio::test]
async fn radius_search_seeks_the_grid_index() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(&format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display())).await.unwrap();
    db.migrate().await.unwrap();
    for (center, radius) in [
        (LngLat { lng: 102.71, lat: 25.04 }, 5_000.0),
        (LngLat { lng: 102.71, lat: 25.04 }, 100_000.0),
        // Across the antimeridian: two longitude ranges, still index seeks.
        (LngLat { lng: 179.99, lat: -16.5 }, 20_000.0),
    ] {
        let p = plan(&db, center, radius).await;
        assert!(p.contains("USING INDEX ix_stations_grid"), "plan for {center:?} r={radius}:\n{p}");
        assert!(!p.lines().any(|l| l.trim() == "SCAN stations"), "full scan:\n{p}");
    }
}
