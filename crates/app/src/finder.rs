//! Station finder (C1, first version): stations near a point, in the caller's datum,
//! with distance, open-now, grades and current prices, filtered and ranked.
//!
//! The search never scans the station table: stations carry a latitude band
//! (`grid_row`) and an index on (grid_row, lng_e7), so a radius turns into a few
//! narrow index range scans, then an exact great-circle filter in memory.

use std::collections::HashMap;

use chrono::Utc;
use jiayou_domain::geo::{self, CoordSystem, LngLat};
use jiayou_domain::grade::Unit;
use jiayou_domain::hours;
use jiayou_domain::station::{self as rules, Amenity, NearbySort, RankKey};
use jiayou_domain::{FieldError, FieldErrorKind, field};
use jiayou_store::entity::{grade, station, station_price};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, Select};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::Problems;
use crate::paging::PageRequest;
use crate::stations::{parse_amenities, parse_hours, round7, wgs84_from};
use crate::{App, AppResult};

pub const DEFAULT_RADIUS_M: u32 = 5_000;
pub const MAX_RADIUS_M: u32 = 100_000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NearbyQuery {
    /// Longitude of the driver, in `coord`.
    pub lng: f64,
    /// Latitude of the driver, in `coord`.
    pub lat: f64,
    /// Datum of the query point and of the returned coordinates: `wgs84` (browsers,
    /// default), `gcj02` (WeChat, Tencent, AMap) or `bd09` (Baidu).
    #[param(value_type = Option<String>)]
    pub coord: Option<CoordSystem>,
    /// Search radius in metres, 1–100000 (default 5000).
    pub radius_m: Option<u32>,
    /// Only stations selling this grade code (e.g. `92`); with `sort=price` ranks by its price.
    pub grade: Option<String>,
    /// Only stations open now in their own time zone.
    pub open_now: Option<bool>,
    /// Only stations with all of these amenities (comma-separated, e.g. `car_wash,restroom`).
    pub amenity: Option<String>,
    /// `distance` (default) or `price` (needs `grade`).
    #[param(value_type = Option<String>)]
    pub sort: Option<NearbySort>,
    /// Restrict to one chain (its code); default all chains.
    pub chain: Option<String>,
    pub page: Option<u64>,
    pub per_page: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NearbyStation {
    pub id: i64,
    pub chain_id: i64,
    pub code: String,
    pub name: String,
    pub address: String,
    pub phone: Option<String>,
    /// In the datum of the request.
    pub lng: f64,
    pub lat: f64,
    /// Great-circle distance from the query point, metres.
    pub distance_m: u32,
    pub open_now: bool,
    pub amenities: Vec<Amenity>,
    pub grades: Vec<GradePrice>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GradePrice {
    pub grade_id: i64,
    pub code: String,
    pub name: String,
    pub unit: Unit,
    pub list_price_fen: i64,
    pub member_price_fen: i64,
    pub price_version: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NearbyPage {
    pub items: Vec<NearbyStation>,
    pub page: u64,
    pub per_page: u64,
    /// Stations matching within the radius.
    pub total: u64,
    /// Datum of every coordinate in `items`.
    #[schema(value_type = String)]
    pub coord: CoordSystem,
}

/// SQLite refuses statements with too many bound values; stay far below every limit.
const IN_CHUNK: usize = 500;

/// The candidate query of a radius search: live stations in the grid rows and longitude
/// ranges of the search window. Public so the index use can be checked (EXPLAIN).
///
/// The chain is deliberately *not* filtered here: given `chain_id = ?`, SQLite's planner
/// prefers the (chain_id, code) index and walks every station of the chain. The window
/// holds few rows, so the chain is filtered in memory instead.
pub fn window_query(center: LngLat, radius_m: f64) -> Select<station::Entity> {
    let w = geo::search_window(center, radius_m);
    let mut lng_any = Condition::any();
    for (lo, hi) in &w.lng_ranges_e7 {
        lng_any = lng_any.add(station::Column::LngE7.between(*lo, *hi));
    }
    station::Entity::find()
        // IN over the rows (not BETWEEN) lets every engine seek on both index columns.
        .filter(station::Column::GridRow.is_in(w.rows.clone().collect::<Vec<_>>()))
        .filter(lng_any)
        .filter(station::Column::LatE7.between(w.lat_min_e7, w.lat_max_e7))
        .filter(station::Column::RetiredAtUs.is_null())
}

struct Candidate {
    row: station::Model,
    distance_m: f64,
    price_fen: Option<i64>,
}

impl App {
    pub async fn nearby(&self, q: &NearbyQuery) -> AppResult<NearbyPage> {
        let mut p = Problems::default();
        let center = p.check(wgs84_from(q.lng, q.lat, q.coord));
        let radius = q.radius_m.unwrap_or(DEFAULT_RADIUS_M);
        p.check(field::int_range("radius_m", radius.into(), 1, MAX_RADIUS_M.into()));
        let mut amenities = Vec::new();
        for name in q.amenity.as_deref().unwrap_or("").split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match Amenity::parse(name) {
                Some(a) => amenities.push(a),
                None => p.push(field::unknown_value("amenity", Amenity::NAMES)),
            }
        }
        let sort = q.sort.unwrap_or_default();
        let grade_code = q.grade.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_ascii_uppercase);
        if sort == NearbySort::Price && grade_code.is_none() {
            p.push(FieldError::new("grade", FieldErrorKind::Required));
        }
        let paging = match (PageRequest { page: q.page, per_page: q.per_page, sort: None }).validate(&[]) {
            Ok(pg) => Some(pg),
            Err(errs) => {
                errs.into_iter().for_each(|e| p.push(e));
                None
            }
        };
        p.finish()?;
        // `finish` returned every problem, so both are present from here on.
        let (Some(center), Some(paging)) = (center, paging) else { unreachable!("validated above") };
        let out_coord = q.coord.unwrap_or(CoordSystem::Wgs84);

        let chain_id = match q.chain.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(code) => match self.chain_id_by_code(code).await? {
                Some(id) => Some(id),
                None => return Err(FieldError::new("chain", FieldErrorKind::NotFound).into()),
            },
            None => None,
        };

        // 1. Index range scans over the window, then the exact distance.
        let sq = window_query(center, radius.into());
        let now = Utc::now();
        let radius_f = f64::from(radius);
        let mut found: Vec<Candidate> = sq
            .all(self.db.reader())
            .await?
            .into_iter()
            .filter(|row| chain_id.is_none_or(|c| row.chain_id == c))
            .filter_map(|row| {
                let at = LngLat { lng: geo::from_e7(row.lng_e7), lat: geo::from_e7(row.lat_e7) };
                let distance_m = geo::haversine_m(center, at);
                (distance_m <= radius_f).then_some(Candidate { row, distance_m, price_fen: None })
            })
            .filter(|c| {
                amenities.is_empty() || {
                    let has = parse_amenities(&c.row.amenities);
                    amenities.iter().all(|a| has.contains(a))
                }
            })
            .filter(|c| !q.open_now.unwrap_or(false) || is_open(&c.row, now))
            .collect();

        // 2. The requested grade's price, for the filter and the price sort.
        if let Some(code) = &grade_code {
            let mut gq = grade::Entity::find()
                .filter(grade::Column::Code.eq(code.as_str()))
                .filter(grade::Column::RetiredAtUs.is_null());
            if let Some(c) = chain_id {
                gq = gq.filter(grade::Column::ChainId.eq(c));
            }
            let grade_ids: Vec<i64> = gq.all(self.db.reader()).await?.into_iter().map(|g| g.id).collect();
            let ids: Vec<i64> = found.iter().map(|c| c.row.id).collect();
            let mut price_of = HashMap::new();
            for chunk in ids.chunks(IN_CHUNK) {
                for sp in station_price::Entity::find()
                    .filter(station_price::Column::StationId.is_in(chunk.to_vec()))
                    .filter(station_price::Column::GradeId.is_in(grade_ids.clone()))
                    .all(self.db.reader())
                    .await?
                {
                    price_of.insert(sp.station_id, sp.list_price_fen);
                }
            }
            found.retain_mut(|c| {
                c.price_fen = price_of.get(&c.row.id).copied();
                c.price_fen.is_some()
            });
        }

        rules::rank(&mut found, sort, |c| RankKey { distance_m: c.distance_m, price_fen: c.price_fen, id: c.row.id });
        let total = found.len() as u64;
        let start = usize::try_from((paging.page - 1).saturating_mul(paging.per_page)).unwrap_or(usize::MAX);
        let page: Vec<Candidate> = found.into_iter().skip(start).take(paging.per_page as usize).collect();

        // 3. Full price lists for the page only.
        let grades_by_station = self.price_lists(page.iter().map(|c| c.row.id).collect()).await?;
        let items = page
            .into_iter()
            .map(|c| {
                let at = geo::convert(
                    LngLat { lng: geo::from_e7(c.row.lng_e7), lat: geo::from_e7(c.row.lat_e7) },
                    CoordSystem::Wgs84,
                    out_coord,
                );
                NearbyStation {
                    open_now: is_open(&c.row, now),
                    amenities: parse_amenities(&c.row.amenities),
                    grades: grades_by_station.get(&c.row.id).cloned().unwrap_or_default(),
                    id: c.row.id,
                    chain_id: c.row.chain_id,
                    code: c.row.code,
                    name: c.row.name,
                    address: c.row.address,
                    phone: c.row.phone,
                    lng: round7(at.lng),
                    lat: round7(at.lat),
                    distance_m: c.distance_m.round() as u32,
                }
            })
            .collect();
        Ok(NearbyPage { items, page: paging.page, per_page: paging.per_page, total, coord: out_coord })
    }

    /// Current prices of live grades per station.
    async fn price_lists(&self, station_ids: Vec<i64>) -> AppResult<HashMap<i64, Vec<GradePrice>>> {
        let mut out: HashMap<i64, Vec<GradePrice>> = HashMap::new();
        if station_ids.is_empty() {
            return Ok(out);
        }
        let prices = station_price::Entity::find()
            .filter(station_price::Column::StationId.is_in(station_ids))
            .all(self.db.reader())
            .await?;
        let mut grade_ids: Vec<i64> = prices.iter().map(|p| p.grade_id).collect();
        grade_ids.sort_unstable();
        grade_ids.dedup();
        let grades: HashMap<i64, grade::Model> = grade::Entity::find()
            .filter(grade::Column::Id.is_in(grade_ids))
            .filter(grade::Column::RetiredAtUs.is_null())
            .all(self.db.reader())
            .await?
            .into_iter()
            .map(|g| (g.id, g))
            .collect();
        for sp in prices {
            let Some(g) = grades.get(&sp.grade_id).cloned() else { continue };
            out.entry(sp.station_id).or_default().push(GradePrice {
                grade_id: g.id,
                unit: Unit::parse(&g.unit).unwrap_or(Unit::Litre),
                code: g.code,
                name: g.name,
                list_price_fen: sp.list_price_fen,
                member_price_fen: sp.member_price_fen,
                price_version: sp.version,
            });
        }
        for v in out.values_mut() {
            v.sort_by(|a, b| a.code.cmp(&b.code));
        }
        Ok(out)
    }
}

fn is_open(row: &station::Model, now: chrono::DateTime<Utc>) -> bool {
    let tz = hours::parse_time_zone(&row.time_zone).unwrap_or(hours::DEFAULT_TIME_ZONE);
    parse_hours(&row.hours).is_open_at(tz, now)
}
