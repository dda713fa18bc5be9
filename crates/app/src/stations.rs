//! Stations (B9): create, edit, retire, list. Coordinates may be given in any datum and
//! are stored as WGS-84 integers with their grid row for the nearby search.

use chrono::{DateTime, Utc};
use jiayou_domain::geo::{self, CoordSystem, LngLat};
use jiayou_domain::hours::OpeningHours;
use jiayou_domain::station::Amenity;
use jiayou_domain::{FieldError, FieldErrorKind, field};
use jiayou_store::entity::station;
use jiayou_store::now_us;
use sea_orm::{ActiveModelTrait, ColumnTrait, Condition, EntityTrait, IntoActiveModel, QueryFilter, Set};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::audit::AuditEntry;
use crate::caller::snapshot;
use crate::chains::{instant, validate_time_zone};
use crate::error::Problems;
use crate::paging::{self, Page, PageRequest};
use jiayou_domain::access::{Permission, Target, Visible};

use crate::{App, AppError, AppResult, Caller};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStation {
    pub chain_id: i64,
    /// Unique in the chain; upper-cased. 1–32 of A-Z 0-9 - _.
    pub code: String,
    pub name: String,
    pub address: String,
    /// Public phone of the station (a business number, not personal data).
    pub phone: Option<String>,
    pub lng: f64,
    pub lat: f64,
    /// Datum of `lng`/`lat` (default wgs84). Stored as WGS-84.
    #[schema(value_type = Option<String>, example = "gcj02")]
    pub coord: Option<CoordSystem>,
    /// IANA time zone (default Asia/Shanghai).
    pub time_zone: Option<String>,
    /// Default: always open.
    #[schema(value_type = Option<Object>, example = json!({"weekly": [{"days": ["mon","tue","wed","thu","fri"], "open": "06:00", "close": "22:00"}]}))]
    pub hours: Option<OpeningHours>,
    #[serde(default)]
    pub amenities: Vec<Amenity>,
}

/// A partial edit: absent fields keep their value.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StationChange {
    pub name: Option<String>,
    pub address: Option<String>,
    pub phone: Option<String>,
    /// `lng`, `lat` and `coord` move the station together; both coordinates are required.
    pub lng: Option<f64>,
    pub lat: Option<f64>,
    #[schema(value_type = Option<String>)]
    pub coord: Option<CoordSystem>,
    pub time_zone: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub hours: Option<OpeningHours>,
    pub amenities: Option<Vec<Amenity>>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StationFilter {
    pub chain_id: Option<i64>,
    /// Matches code or name (substring).
    pub q: Option<String>,
    /// `active` (default), `retired` or `all`.
    pub status: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StationView {
    pub id: i64,
    pub chain_id: i64,
    pub code: String,
    pub name: String,
    pub address: String,
    pub phone: Option<String>,
    /// WGS-84.
    pub lng: f64,
    pub lat: f64,
    /// The same point in GCJ-02, for Tencent/AMap maps.
    pub gcj02: Coordinate,
    pub time_zone: String,
    #[schema(value_type = Object)]
    pub hours: OpeningHours,
    pub amenities: Vec<Amenity>,
    pub retired_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Increases with every edit.
    pub revision: i32,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct Coordinate {
    pub lng: f64,
    pub lat: f64,
}

impl From<station::Model> for StationView {
    fn from(m: station::Model) -> Self {
        let wgs = LngLat { lng: geo::from_e7(m.lng_e7), lat: geo::from_e7(m.lat_e7) };
        let gcj = geo::convert(wgs, CoordSystem::Wgs84, CoordSystem::Gcj02);
        StationView {
            id: m.id,
            chain_id: m.chain_id,
            code: m.code,
            name: m.name,
            address: m.address,
            phone: m.phone,
            lng: wgs.lng,
            lat: wgs.lat,
            gcj02: Coordinate { lng: round7(gcj.lng), lat: round7(gcj.lat) },
            time_zone: m.time_zone,
            hours: parse_hours(&m.hours),
            amenities: parse_amenities(&m.amenities),
            retired_at: m.retired_at_us.map(instant),
            created_at: instant(m.created_at_us),
            updated_at: instant(m.updated_at_us),
            revision: m.revision,
        }
    }
}

/// Coordinates leave the API at the precision they are stored with (1e-7°, ≈1 cm).
pub fn round7(v: f64) -> f64 {
    (v * 1e7).round() / 1e7
}

// Both columns are written only by `encode_*` below; a row that fails to parse was
// edited by hand, and showing it as always-open/no-amenities beats failing the page.
pub(crate) fn parse_hours(s: &str) -> OpeningHours {
    serde_json::from_str(s).unwrap_or(OpeningHours::AlwaysOpen)
}

pub(crate) fn parse_amenities(s: &str) -> Vec<Amenity> {
    serde_json::from_str(s).unwrap_or_default()
}

fn encode_amenities(mut a: Vec<Amenity>) -> String {
    a.sort();
    a.dedup();
    serde_json::to_string(&a).unwrap_or_else(|_| "[]".into())
}

fn encode_hours(h: &OpeningHours) -> String {
    serde_json::to_string(h).unwrap_or_else(|_| r#"{"always_open":true}"#.into())
}

/// Validates a coordinate pair in `coord` and returns it as WGS-84.
pub fn wgs84_from(lng: f64, lat: f64, coord: Option<CoordSystem>) -> Result<LngLat, FieldError> {
    let p = LngLat::new(lng, lat)?;
    Ok(geo::convert(p, coord.unwrap_or(CoordSystem::Wgs84), CoordSystem::Wgs84))
}

fn validate_hours(h: &OpeningHours) -> Result<(), FieldError> {
    h.validate().map_err(|e| e.to_field_error("hours"))
}

fn validate_phone(p: &str) -> Result<String, FieldError> {
    let p = field::text("phone", p, 32)?;
    if p.chars().all(|c| c.is_ascii_digit() || "+-() ".contains(c)) {
        Ok(p)
    } else {
        Err(FieldError::new("phone", FieldErrorKind::InvalidFormat { expected: "电话号码（数字、+、-、括号）".into() }))
    }
}

impl App {
    pub async fn create_station(&self, caller: &Caller, cmd: NewStation) -> AppResult<StationView> {
        caller.require(Permission::StationManage, Target::Chain(cmd.chain_id))?;
        let mut p = Problems::default();
        let code = p.check(field::code("code", &cmd.code));
        let name = p.check(field::text("name", &cmd.name, 64));
        let address = p.check(field::text("address", &cmd.address, 200));
        let phone = cmd.phone.as_deref().filter(|s| !s.trim().is_empty()).map(|s| p.check(validate_phone(s)));
        let at = p.check(wgs84_from(cmd.lng, cmd.lat, cmd.coord));
        let tz = p.check(validate_time_zone("time_zone", cmd.time_zone.as_deref()));
        let hours = cmd.hours.unwrap_or(OpeningHours::AlwaysOpen);
        p.check(validate_hours(&hours));
        p.finish()?;
        // `finish` returned every problem, so each value is present from here on.
        let (Some(code), Some(name), Some(address), Some(at), Some(tz)) = (code, name, address, at, tz) else {
            unreachable!("validated above")
        };
        self.get_chain_row(cmd.chain_id)
            .await
            .map_err(|_| AppError::field(FieldError::new("chain_id", FieldErrorKind::NotFound)))?;
        let now = now_us();
        let tx = self.db.begin().await?;
        let m = station::ActiveModel {
            chain_id: Set(cmd.chain_id),
            code: Set(code),
            name: Set(name),
            address: Set(address),
            phone: Set(phone.flatten()),
            lng_e7: Set(geo::to_e7(at.lng)),
            lat_e7: Set(geo::to_e7(at.lat)),
            grid_row: Set(geo::grid_row_e7(geo::to_e7(at.lat))),
            time_zone: Set(tz),
            hours: Set(encode_hours(&hours)),
            amenities: Set(encode_amenities(cmd.amenities)),
            retired_at_us: Set(None),
            created_at_us: Set(now),
            updated_at_us: Set(now),
            revision: Set(1),
            ..Default::default()
        }
        .insert(&tx)
        .await?;
        let view = StationView::from(m);
        let entry = AuditEntry::station(view.chain_id, view.id, "station.create", "station")
            .target(view.id)
            .after(snapshot(&view));
        self.commit_audited(tx, caller, entry).await?;
        Ok(view)
    }

    pub(crate) async fn station_row(&self, id: i64) -> AppResult<station::Model> {
        station::Entity::find_by_id(id).one(self.db.reader()).await?.ok_or(AppError::NotFound { entity: "station" })
    }

    pub async fn get_station(&self, caller: &Caller, id: i64) -> AppResult<StationView> {
        let s = self.station_row(id).await?;
        caller.require(Permission::StationRead, target(&s))?;
        Ok(s.into())
    }

    pub async fn update_station(&self, caller: &Caller, id: i64, cmd: StationChange) -> AppResult<StationView> {
        caller.require(Permission::StationManage, target(&self.station_row(id).await?))?;
        let mut p = Problems::default();
        let name = cmd.name.as_deref().map(|v| p.check(field::text("name", v, 64)));
        let address = cmd.address.as_deref().map(|v| p.check(field::text("address", v, 200)));
        let phone = cmd
            .phone
            .as_deref()
            .map(|v| if v.trim().is_empty() { Some(None) } else { p.check(validate_phone(v)).map(Some) });
        let at = match (cmd.lng, cmd.lat) {
            (Some(lng), Some(lat)) => p.check(wgs84_from(lng, lat, cmd.coord)),
            (None, None) => None,
            (None, Some(_)) => {
                p.push(FieldError::new("lng", FieldErrorKind::Required));
                None
            }
            (Some(_), None) => {
                p.push(FieldError::new("lat", FieldErrorKind::Required));
                None
            }
        };
        let tz = cmd.time_zone.as_deref().map(|v| p.check(validate_time_zone("time_zone", Some(v))));
        if let Some(h) = &cmd.hours {
            p.check(validate_hours(h));
        }
        p.finish()?;

        let row = self.station_row(id).await?;
        if row.retired_at_us.is_some() {
            return Err(retired_station());
        }
        let revision = row.revision;
        let before = StationView::from(row.clone());
        let mut m = row.into_active_model();
        if let Some(Some(v)) = name {
            m.name = Set(v);
        }
        if let Some(Some(v)) = address {
            m.address = Set(v);
        }
        if let Some(Some(v)) = phone {
            m.phone = Set(v);
        }
        if let Some(at) = at {
            m.lng_e7 = Set(geo::to_e7(at.lng));
            m.lat_e7 = Set(geo::to_e7(at.lat));
            m.grid_row = Set(geo::grid_row_e7(geo::to_e7(at.lat)));
        }
        if let Some(Some(v)) = tz {
            m.time_zone = Set(v);
        }
        if let Some(h) = &cmd.hours {
            m.hours = Set(encode_hours(h));
        }
        if let Some(a) = cmd.amenities {
            m.amenities = Set(encode_amenities(a));
        }
        m.updated_at_us = Set(now_us());
        m.revision = Set(revision + 1);
        self.save_station(caller, m, "station.update", before).await
    }

    /// Retires a station: it disappears from the finder and takes no new equipment or
    /// orders, while its history (equipment, prices, later orders) stays. Idempotent.
    pub async fn retire_station(&self, caller: &Caller, id: i64) -> AppResult<StationView> {
        let row = self.station_row(id).await?;
        // Closing a station is a chain-level decision, not the station manager's.
        caller.require(Permission::StationManage, Target::Chain(row.chain_id))?;
        if row.retired_at_us.is_some() {
            return Ok(row.into());
        }
        let revision = row.revision;
        let before = StationView::from(row.clone());
        let mut m = row.into_active_model();
        let now = now_us();
        m.retired_at_us = Set(Some(now));
        m.updated_at_us = Set(now);
        m.revision = Set(revision + 1);
        self.save_station(caller, m, "station.retire", before).await
    }

    /// Writes a changed station with its audit row.
    async fn save_station(
        &self,
        caller: &Caller,
        m: station::ActiveModel,
        action: &'static str,
        before: StationView,
    ) -> AppResult<StationView> {
        let tx = self.db.begin().await?;
        let view = StationView::from(m.update(&tx).await?);
        let entry = AuditEntry::station(view.chain_id, view.id, action, "station")
            .target(view.id)
            .before(snapshot(&before))
            .after(snapshot(&view));
        self.commit_audited(tx, caller, entry).await?;
        Ok(view)
    }

    pub async fn list_stations(
        &self,
        caller: &Caller,
        filter: &StationFilter,
        req: &PageRequest,
    ) -> AppResult<Page<StationView>> {
        let paging = req.validate(&["id", "code", "name", "created_at", "updated_at"]).map_err(AppError::Invalid)?;
        let mut q = station::Entity::find();
        if let Some(c) = filter.chain_id.or(caller.access.chain_id()) {
            q = q.filter(station::Column::ChainId.eq(c));
            match caller.visible(Permission::StationRead, c) {
                Visible::All => {}
                Visible::Only(ids) if ids.is_empty() => {
                    return Err(AppError::Forbidden { permission: Permission::StationRead });
                }
                Visible::Only(ids) => q = q.filter(station::Column::Id.is_in(ids)),
            }
        }
        match filter.status.as_deref().unwrap_or("active") {
            "active" => q = q.filter(station::Column::RetiredAtUs.is_null()),
            "retired" => q = q.filter(station::Column::RetiredAtUs.is_not_null()),
            "all" => {}
            _ => return Err(field::unknown_value("status", &["active", "retired", "all"]).into()),
        }
        if let Some(text) = filter.q.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            q = q.filter(
                Condition::any()
                    .add(station::Column::Code.contains(text.to_ascii_uppercase()))
                    .add(station::Column::Name.contains(text)),
            );
        }
        let page = paging::fetch(
            self.db.reader(),
            q,
            &paging,
            |f| match f {
                "code" => station::Column::Code,
                "name" => station::Column::Name,
                "created_at" => station::Column::CreatedAtUs,
                "updated_at" => station::Column::UpdatedAtUs,
                _ => station::Column::Id,
            },
            station::Column::Id,
        )
        .await?;
        Ok(page.map(Into::into))
    }

    /// The station, which must be live, for adding or changing its equipment.
    pub(crate) async fn live_station(&self, id: i64) -> AppResult<station::Model> {
        let s = self.station_row(id).await?;
        if s.retired_at_us.is_some() {
            return Err(retired_station());
        }
        Ok(s)
    }
}

/// The permission target of an operation on station `s`.
pub(crate) fn target(s: &station::Model) -> Target {
    Target::Station { chain_id: s.chain_id, station_id: s.id }
}

pub(crate) fn retired_station() -> AppError {
    AppError::conflict("station_retired", None, "该油站已停用，不能修改")
}
