//! A demo chain in Kunming (昆明), Yunnan, for trying jiayou out and for screenshots:
//! eight stations of a fictional brand with grades, tanks, pumps, nozzles and prices.
//!
//! Everything is created through the same use-cases (and so the same validation) as a
//! back-office user's requests; nothing here writes to the database directly.
//!
//! Seeding converges rather than inserts: each item is looked up by its natural key
//! (chain code, grade code, station code, tank/pump/nozzle number) and only created
//! when missing. Running it again creates nothing and reports `created: false`; a run
//! that was interrupted half-way is completed by the next one. Items a user retired
//! stay retired (they are found by their key and left alone), and prices that already
//! exist are never overwritten, so a demo someone has played with is not reset.
//!
//! The data is fixed (no randomness) so the demo and its tests are reproducible.

use std::collections::HashMap;

use jiayou_domain::geo::CoordSystem;
use jiayou_domain::grade::{EnergyType, Unit};
use jiayou_domain::hours::{Day, DaySpan, OpeningHours, TimeOfDay};
use jiayou_domain::station::Amenity;
use serde::Serialize;
// The station table below lists amenities by bare name for readability.
use Amenity::*;

use crate::chains::NewChain;
use crate::equipment::{EquipmentFilter, NewNozzle, NewPump, NewTank};
use crate::grades::{GradeFilter, NewGrade};
use crate::paging::{MAX_PER_PAGE, PageRequest};
use crate::prices::PriceChange;
use crate::stations::{NewStation, StationFilter, StationView};
use jiayou_domain::access::BuiltinRole;

use crate::roles::RoleFilter;
use crate::staff::{GrantInput, GrantsChange, NewStaff, StaffFilter};
use crate::{App, AppError, AppResult, Caller};

/// The demo seeds as the platform itself, through the same checked use-cases.
fn system() -> Caller {
    Caller::system("demo")
}

/// Code of the demo chain; its presence is how a second run recognises the demo.
pub const CHAIN_CODE: &str = "YNDEMO";
/// Says "demo" in the name so nobody mistakes it for a real brand.
pub const CHAIN_NAME: &str = "滇驿加油示范连锁（演示数据）";
pub const TIME_ZONE: &str = "Asia/Shanghai";

/// What the seed did, printed by `jiayou demo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DemoSummary {
    pub chain_id: i64,
    pub chain_code: String,
    /// Live stations of the demo chain.
    pub stations: usize,
    /// Live nozzles over those stations.
    pub nozzles: usize,
    /// Whether this run created anything (false when the demo was already complete).
    pub created: bool,
}

// ---------------------------------------------------------------------------
// Grades and prices
// ---------------------------------------------------------------------------

pub struct GradeSpec {
    pub code: &'static str,
    pub name: &'static str,
    pub energy: EnergyType,
    pub unit: Unit,
    /// Current chain base list price, fen per unit; each station adds its offset.
    pub list_fen: i64,
    /// The list price before the last NDRC adjustment, for grades whose price follows
    /// the national guidance (92#, 95#, 0#). Stations get it first, then `list_fen`,
    /// so price history and trends are not empty. 98# and LNG are market-priced.
    pub previous_fen: Option<i64>,
    /// Member price = list price − this.
    pub member_discount_fen: i64,
}

/// Yunnan pump prices are among the highest in China (long haul from the refineries);
/// these are plausible for late 2026: 92# ≈ 7.95, 95# ≈ 8.46, 98# ≈ 9.50, 0# ≈ 7.65
/// 元/升, LNG ≈ 5.48 元/公斤. The last adjustment raised gasoline by 0.15 and diesel by
/// 0.16 元/升 (about 200 元/吨), a typical step.
pub const GRADES: &[GradeSpec] = &[
    GradeSpec {
        code: "92",
        name: "92#汽油",
        energy: EnergyType::Gasoline,
        unit: Unit::Litre,
        list_fen: 795,
        previous_fen: Some(780),
        member_discount_fen: 30,
    },
    GradeSpec {
        code: "95",
        name: "95#汽油",
        energy: EnergyType::Gasoline,
        unit: Unit::Litre,
        list_fen: 846,
        previous_fen: Some(831),
        member_discount_fen: 35,
    },
    GradeSpec {
        code: "98",
        name: "98#汽油",
        energy: EnergyType::Gasoline,
        unit: Unit::Litre,
        list_fen: 950,
        previous_fen: None,
        member_discount_fen: 40,
    },
    GradeSpec {
        code: "0",
        name: "0#柴油",
        energy: EnergyType::Diesel,
        unit: Unit::Litre,
        list_fen: 765,
        previous_fen: Some(749),
        member_discount_fen: 25,
    },
    GradeSpec {
        code: "LNG",
        name: "LNG液化天然气",
        energy: EnergyType::Lng,
        unit: Unit::Kg,
        list_fen: 548,
        previous_fen: None,
        member_discount_fen: 30,
    },
];

/// Reasons recorded in the price history.
pub const REASON_OPENING: &str = "示范数据：开站价格";
pub const REASON_NDRC: &str = "国家发改委调价：汽、柴油价格上调";

// ---------------------------------------------------------------------------
// Stations
// ---------------------------------------------------------------------------

/// Opening hours in a form a `const` table can hold.
pub enum Hours {
    AlwaysOpen,
    /// Every day from `open` to `close` (hour, minute).
    Daily {
        open: (u8, u8),
        close: (u8, u8),
    },
    /// Monday–Friday and Saturday–Sunday differently.
    WeekdaysWeekend {
        weekdays: ((u8, u8), (u8, u8)),
        weekend: ((u8, u8), (u8, u8)),
    },
}

pub struct StationSpec {
    pub code: &'static str,
    pub name: &'static str,
    pub address: &'static str,
    pub phone: &'static str,
    /// (lng, lat) in GCJ-02, as AMap/Tencent maps show the spot.
    pub gcj02: (f64, f64),
    pub hours: Hours,
    pub amenities: &'static [Amenity],
    /// Grade code of tank 1, 2, …
    pub tanks: &'static [&'static str],
    /// Per pump (number 1, 2, …), the grade codes of its nozzles. Nozzles are
    /// numbered 1..N through the station in this order, as painted on the islands.
    pub pumps: &'static [&'static [&'static str]],
    /// Added to every base price: downtown and expressway stations charge a little
    /// more, outskirts and truck stops a little less, so sorting by price means something.
    pub price_offset_fen: i64,
}

/// Capacity of a fuel tank: 30 000 L (the common underground tank), in millilitres.
pub const FUEL_TANK_CAPACITY: i64 = 30_000_000;
/// Safety stock of a fuel tank: 3 000 L, about a busy half-day's sales of one grade.
pub const FUEL_TANK_SAFETY_MIN: i64 = 3_000_000;
/// An LNG storage tank of 60 m³ water volume holds about 25 t of LNG, in grams.
pub const LNG_TANK_CAPACITY: i64 = 25_000_000;
/// Safety stock of the LNG tank: 3 t.
pub const LNG_TANK_SAFETY_MIN: i64 = 3_000_000;

/// The demo stations. Names and house numbers are invented; roads and districts are
/// real so the map looks right. The 草铺 truck stop in 安宁 is ~40 km from downtown,
/// outside a 30 km search around 北京路, which the tests rely on.
pub const STATIONS: &[StationSpec] = &[
    StationSpec {
        code: "KM-BJL",
        name: "滇驿加油北京路站",
        address: "云南省昆明市盘龙区北京路618号",
        phone: "0871-63180618",
        gcj02: (102.720_6, 25.044_8),
        hours: Hours::AlwaysOpen,
        amenities: &[ConvenienceStore, Restroom, CarWash, Atm, AirPump],
        tanks: &["92", "95", "98", "0"],
        pumps: &[&["92", "92", "95", "95"], &["92", "95", "98", "0"], &["92", "95", "98", "0"], &["92", "0"]],
        price_offset_fen: 8,
    },
    StationSpec {
        code: "KM-DCL",
        name: "滇驿加油滇池路站",
        address: "云南省昆明市西山区滇池路1288号",
        phone: "0871-64591288",
        gcj02: (102.691_8, 24.997_5),
        // Residential area by the lake: closed at night.
        hours: Hours::Daily { open: (6, 0), close: (23, 0) },
        amenities: &[ConvenienceStore, Restroom, CarWash],
        tanks: &["92", "95", "0"],
        pumps: &[&["92", "95", "0"], &["92", "95", "0"], &["92", "95"]],
        price_offset_fen: 0,
    },
    StationSpec {
        code: "KM-CGDXC",
        name: "滇驿加油呈贡大学城站",
        address: "云南省昆明市呈贡区春融西路366号",
        phone: "0871-67450366",
        gcj02: (102.844_1, 24.852_5),
        hours: Hours::AlwaysOpen,
        amenities: &[ConvenienceStore, Restroom, EvCharging, AirPump],
        tanks: &["92", "95", "98"],
        pumps: &[&["92", "95", "98", "92"], &["92", "95", "98", "95"]],
        price_offset_fen: -6,
    },
    StationSpec {
        code: "KM-CSJC",
        name: "滇驿加油长水机场高速站",
        address: "云南省昆明市官渡区长水机场高速大板桥段（进城方向）",
        phone: "0871-67080888",
        gcj02: (102.890_3, 25.078_1),
        hours: Hours::AlwaysOpen,
        amenities: &[ConvenienceStore, Restroom, Restaurant, Parking, EvCharging, Atm],
        // Two 92# tanks: the expressway sells mostly 92#, and a second tank lets one
        // be refilled while the other serves.
        tanks: &["92", "92", "95", "0"],
        pumps: &[&["92", "92", "95", "0"], &["92", "92", "95", "0"], &["92", "92", "95", "0"]],
        price_offset_fen: 15,
    },
    StationSpec {
        code: "KM-GDGS",
        name: "滇驿加油官渡关上站",
        address: "云南省昆明市官渡区春城路219号",
        phone: "0871-67160219",
        gcj02: (102.743_1, 25.017_6),
        hours: Hours::AlwaysOpen,
        amenities: &[ConvenienceStore, Restroom, CarWash, AirPump],
        // The diesel island serves delivery vans from the nearby markets.
        tanks: &["92", "95", "0"],
        pumps: &[&["92", "95"], &["92", "95"], &["0", "0"]],
        price_offset_fen: -3,
    },
    StationSpec {
        code: "KM-XSMJ",
        name: "滇驿加油西山马街站",
        address: "云南省昆明市西山区人民西路505号",
        phone: "0871-68210505",
        gcj02: (102.646_2, 25.046_7),
        // A small neighbourhood station with shorter weekend hours.
        hours: Hours::WeekdaysWeekend { weekdays: ((6, 30), (22, 30)), weekend: ((7, 0), (22, 0)) },
        amenities: &[ConvenienceStore, Restroom],
        tanks: &["92", "95"],
        pumps: &[&["92", "95"], &["92", "95"]],
        price_offset_fen: -5,
    },
    StationSpec {
        code: "KM-LQL",
        name: "滇驿加油龙泉路站",
        address: "云南省昆明市盘龙区龙泉路888号",
        phone: "0871-65730888",
        gcj02: (102.738_5, 25.096_2),
        hours: Hours::AlwaysOpen,
        amenities: &[ConvenienceStore, Restroom, CarWash, Parking, VehicleCheck],
        tanks: &["92", "95", "98", "0"],
        pumps: &[&["92", "95", "98", "0"], &["92", "95", "98", "0"], &["92", "95", "0"]],
        price_offset_fen: 3,
    },
    StationSpec {
        code: "AN-CPWL",
        name: "滇驿加油安宁草铺物流站",
        address: "云南省昆明市安宁市草铺街道昆楚高速草铺出口旁",
        phone: "0871-68690188",
        gcj02: (102.390_5, 24.835_0),
        hours: Hours::AlwaysOpen,
        // A truck stop on the long-haul road west (G56 towards 楚雄/大理): LNG trucks,
        // diesel islands, rest area and a canteen for drivers.
        amenities: &[TruckLane, RestArea, Restaurant, Parking, Restroom, VehicleCheck, ConvenienceStore],
        tanks: &["0", "0", "92", "LNG"],
        pumps: &[&["0", "0"], &["0", "0"], &["LNG", "LNG"], &["92", "92"]],
        price_offset_fen: -10,
    },
];

// ---------------------------------------------------------------------------
// Seeding
// ---------------------------------------------------------------------------

/// Creates the demo chain, or completes/reuses it when it already exists.
pub async fn seed(app: &App) -> AppResult<DemoSummary> {
    let mut created = false;
    let chain_id = ensure_chain(app, &mut created).await?;
    let grades = ensure_grades(app, chain_id, &mut created).await?;
    let existing = all_stations(app, chain_id, "all").await?;
    for spec in STATIONS {
        let station_id = match existing.iter().find(|s| s.code == spec.code) {
            // Someone retired it: respect that, and no equipment can be added anyway.
            Some(s) if s.retired_at.is_some() => continue,
            Some(s) => s.id,
            None => {
                created = true;
                app.create_station(&system(), new_station(chain_id, spec)).await?.id
            }
        };
        ensure_equipment(app, station_id, spec, &grades, &mut created).await?;
        ensure_prices(app, station_id, spec, &grades, &mut created).await?;
    }

    let stations = all_stations(app, chain_id, "active").await?;
    ensure_staff(app, chain_id, &stations, &mut created).await?;
    let mut nozzles = 0;
    for s in &stations {
        nozzles += app.list_nozzles(&system(), s.id, &EquipmentFilter { include_retired: Some(false) }).await?.len();
    }
    let summary =
        DemoSummary { chain_id, chain_code: CHAIN_CODE.to_owned(), stations: stations.len(), nozzles, created };
    tracing::info!(?summary, "demo chain seeded");
    Ok(summary)
}

/// The demo's staff: one account per built-in role, all with [`STAFF_PASSWORD`].
/// Station-scoped roles work at the first station (北京路). Printed by `jiayou demo`.
pub const STAFF: &[(&str, &str, BuiltinRole, bool)] = &[
    ("admin", "连锁管理员 王总", BuiltinRole::ChainAdmin, false),
    ("zhanzhang", "站长 李娜", BuiltinRole::StationManager, true),
    ("shouyin", "收银员 张伟", BuiltinRole::Cashier, true),
    ("jiayouyuan", "加油员 赵强", BuiltinRole::Attendant, true),
    ("caiwu", "财务 陈静", BuiltinRole::Finance, false),
];

/// Demo only: a known password so a visitor can sign in as each role.
pub const STAFF_PASSWORD: &str = "jiayou-demo-2026";

async fn ensure_staff(app: &App, chain_id: i64, stations: &[StationView], created: &mut bool) -> AppResult<()> {
    let sys = system();
    let existing = app.list_staff(&sys, &StaffFilter { chain_id: Some(chain_id) }).await?;
    let roles = app.list_roles(&sys, &RoleFilter { chain_id: Some(chain_id) }).await?;
    let first_station = stations.iter().find(|s| s.code == STATIONS[0].code).map(|s| s.id);
    for (username, display_name, role, at_station) in STAFF {
        if existing.iter().any(|s| s.username == *username) {
            continue;
        }
        *created = true;
        let s = app
            .create_staff(
                &sys,
                NewStaff {
                    chain_id,
                    username: (*username).into(),
                    display_name: (*display_name).into(),
                    password: STAFF_PASSWORD.into(),
                    phone: None,
                },
            )
            .await?;
        let Some(role_id) = roles.iter().find(|r| r.code == role.as_str()).map(|r| r.id) else { continue };
        let station_id = if *at_station { first_station } else { None };
        app.set_grants(&sys, s.id, GrantsChange { grants: vec![GrantInput { role_id, station_id }] }).await?;
    }
    Ok(())
}

async fn ensure_chain(app: &App, created: &mut bool) -> AppResult<i64> {
    if let Some(id) = app.chain_id_by_code(CHAIN_CODE).await? {
        return Ok(id);
    }
    let cmd = NewChain { code: CHAIN_CODE.into(), name: CHAIN_NAME.into(), time_zone: Some(TIME_ZONE.into()) };
    match app.create_chain(&system(), cmd).await {
        Ok(c) => {
            *created = true;
            Ok(c.id)
        }
        // A concurrent seed created it between our look-up and insert: use theirs.
        Err(AppError::Conflict { code: "duplicate", .. }) => {
            app.chain_id_by_code(CHAIN_CODE).await?.ok_or(AppError::NotFound { entity: "chain" })
        }
        Err(e) => Err(e),
    }
}

/// Live grades of the demo chain by code, creating the missing ones. A grade a user
/// retired is left retired and omitted, so nothing of that grade is added below.
async fn ensure_grades(app: &App, chain_id: i64, created: &mut bool) -> AppResult<HashMap<&'static str, i64>> {
    let filter = GradeFilter { chain_id: Some(chain_id), include_retired: Some(true) };
    let mut existing = Vec::new();
    for page in 1.. {
        let req = PageRequest { page: Some(page), per_page: Some(MAX_PER_PAGE), sort: None };
        let p = app.list_grades(&system(), &filter, &req).await?;
        let done = p.items.len() < MAX_PER_PAGE as usize;
        existing.extend(p.items);
        if done {
            break;
        }
    }
    let mut out = HashMap::new();
    for g in GRADES {
        match existing.iter().find(|e| e.code == g.code) {
            Some(e) if e.retired_at.is_some() => {}
            Some(e) => {
                out.insert(g.code, e.id);
            }
            None => {
                let v = app
                    .create_grade(
                        &system(),
                        NewGrade {
                            chain_id,
                            code: g.code.into(),
                            name: g.name.into(),
                            energy_type: g.energy,
                            unit: Some(g.unit),
                        },
                    )
                    .await?;
                *created = true;
                out.insert(g.code, v.id);
            }
        }
    }
    Ok(out)
}

/// Every station of the chain with `status` (`active`, `all`), all pages.
async fn all_stations(app: &App, chain_id: i64, status: &str) -> AppResult<Vec<StationView>> {
    let filter = StationFilter { chain_id: Some(chain_id), q: None, status: Some(status.to_owned()) };
    let mut out = Vec::new();
    for page in 1.. {
        let req = PageRequest { page: Some(page), per_page: Some(MAX_PER_PAGE), sort: None };
        let p = app.list_stations(&system(), &filter, &req).await?;
        let done = p.items.len() < MAX_PER_PAGE as usize;
        out.extend(p.items);
        if done {
            break;
        }
    }
    Ok(out)
}

pub fn opening_hours(h: &Hours) -> OpeningHours {
    const WEEKDAYS: [Day; 5] = [Day::Mon, Day::Tue, Day::Wed, Day::Thu, Day::Fri];
    const WEEKEND: [Day; 2] = [Day::Sat, Day::Sun];
    let span = |days: &[Day], open: (u8, u8), close: (u8, u8)| DaySpan {
        days: days.to_vec(),
        open: time(open),
        close: time(close),
    };
    match h {
        Hours::AlwaysOpen => OpeningHours::AlwaysOpen,
        Hours::Daily { open, close } => OpeningHours::Weekly(vec![span(&Day::ALL, *open, *close)]),
        Hours::WeekdaysWeekend { weekdays, weekend } => {
            OpeningHours::Weekly(vec![span(&WEEKDAYS, weekdays.0, weekdays.1), span(&WEEKEND, weekend.0, weekend.1)])
        }
    }
}

/// A time from the table above; the unit tests check every one is valid.
fn time((h, m): (u8, u8)) -> TimeOfDay {
    TimeOfDay::new(h, m).expect("the demo tables hold only valid times")
}

fn new_station(chain_id: i64, s: &StationSpec) -> NewStation {
    NewStation {
        chain_id,
        code: s.code.into(),
        name: s.name.into(),
        address: s.address.into(),
        phone: Some(s.phone.into()),
        lng: s.gcj02.0,
        lat: s.gcj02.1,
        coord: Some(CoordSystem::Gcj02),
        time_zone: Some(TIME_ZONE.into()),
        hours: Some(opening_hours(&s.hours)),
        amenities: s.amenities.to_vec(),
    }
}

fn tank_levels(grade: &str) -> (i64, i64) {
    if grade == "LNG" { (LNG_TANK_CAPACITY, LNG_TANK_SAFETY_MIN) } else { (FUEL_TANK_CAPACITY, FUEL_TANK_SAFETY_MIN) }
}

/// The tank number nozzle `index_in_grade` (0-based count of earlier nozzles of the
/// same grade at the station) draws from: the station's tanks of that grade in turn,
/// so two 92# tanks share the load.
pub fn tank_number_for(spec: &StationSpec, grade: &str, index_in_grade: usize) -> Option<i32> {
    let numbers: Vec<i32> =
        spec.tanks.iter().enumerate().filter(|(_, g)| **g == grade).map(|(i, _)| i as i32 + 1).collect();
    (!numbers.is_empty()).then(|| numbers[index_in_grade % numbers.len()])
}

async fn ensure_equipment(
    app: &App,
    station_id: i64,
    spec: &StationSpec,
    grades: &HashMap<&'static str, i64>,
    created: &mut bool,
) -> AppResult<()> {
    let all = EquipmentFilter { include_retired: Some(true) };

    // Tanks: a number that exists at all (live or retired) is not re-created.
    let mut tanks = app.list_tanks(&system(), station_id, &all).await?;
    for (i, grade) in spec.tanks.iter().enumerate() {
        let number = i as i32 + 1;
        let Some(&grade_id) = grades.get(grade) else { continue };
        if tanks.iter().any(|t| t.number == number) {
            continue;
        }
        let (capacity, safety_min) = tank_levels(grade);
        let t = app
            .create_tank(&system(), station_id, NewTank { number, grade_id, capacity, safety_min, overstock_max: None })
            .await?;
        opening_stock(app, &t, capacity / 10 * 7).await?;
        *created = true;
        tanks.push(t);
    }

    // Pumps: the live one with the number, else create unless a retired one exists.
    let mut pumps = app.list_pumps(&system(), station_id, &all).await?;
    let mut pump_ids = Vec::with_capacity(spec.pumps.len());
    for i in 0..spec.pumps.len() {
        let number = i as i32 + 1;
        let id = if let Some(p) = pumps.iter().find(|p| p.number == number && p.retired_at.is_none()) {
            Some(p.id)
        } else if pumps.iter().any(|p| p.number == number) {
            None
        } else {
            let p = app
                .create_pump(&system(), station_id, NewPump { number, name: Some(format!("{number}号加油机")) })
                .await?;
            *created = true;
            let id = p.id;
            pumps.push(p);
            Some(id)
        };
        pump_ids.push(id);
    }

    // Nozzles, numbered through the station; each from a live tank of its grade.
    let nozzles = app.list_nozzles(&system(), station_id, &all).await?;
    let mut number = 0;
    let mut per_grade: HashMap<&str, usize> = HashMap::new();
    for (pump, pump_id) in spec.pumps.iter().zip(&pump_ids) {
        for grade in pump.iter() {
            number += 1;
            let k = per_grade.entry(grade).or_default();
            let index_in_grade = *k;
            *k += 1;
            let (Some(pump_id), Some(&grade_id)) = (pump_id, grades.get(grade)) else { continue };
            if nozzles.iter().any(|n| n.number == number) {
                continue;
            }
            let Some(tank_no) = tank_number_for(spec, grade, index_in_grade) else { continue };
            // The tank as the spec says, unless a user retired or re-purposed it.
            let Some(tank) =
                tanks.iter().find(|t| t.number == tank_no && t.retired_at.is_none() && t.grade_id == grade_id)
            else {
                continue;
            };
            app.create_nozzle(
                &system(),
                station_id,
                NewNozzle { pump_id: *pump_id, number, tank_id: tank.id, grade_id: Some(grade_id) },
            )
            .await?;
            *created = true;
        }
    }
    Ok(())
}

/// Sets the prices the station lacks: for NDRC-guided grades the pre-adjustment price
/// first, then today's. Existing prices are left as they are.
async fn ensure_prices(
    app: &App,
    station_id: i64,
    spec: &StationSpec,
    grades: &HashMap<&'static str, i64>,
    created: &mut bool,
) -> AppResult<()> {
    let existing = app.list_prices(&system(), station_id).await?;
    for g in GRADES.iter().filter(|g| spec.tanks.contains(&g.code)) {
        let Some(&grade_id) = grades.get(g.code) else { continue };
        if existing.iter().any(|p| p.grade_id == grade_id) {
            continue;
        }
        let change = |base: i64, reason: &str| {
            let list = base + spec.price_offset_fen;
            PriceChange {
                list_price_fen: list,
                member_price_fen: Some(list - g.member_discount_fen),
                reason: Some(reason.to_owned()),
            }
        };
        match g.previous_fen {
            Some(prev) => {
                app.set_price(&system(), station_id, grade_id, change(prev, REASON_OPENING)).await?;
                app.set_price(&system(), station_id, grade_id, change(g.list_fen, REASON_NDRC)).await?;
            }
            None => {
                app.set_price(&system(), station_id, grade_id, change(g.list_fen, REASON_OPENING)).await?;
            }
        }
        *created = true;
    }
    Ok(())
}

/// One pump controller per demo station, for the simulator: registered on first use; on
/// later runs its secret is rotated (the demo keeps no secrets on disk). Returns
/// `(device code, secret)` per station.
pub async fn pump_controllers(app: &App, chain_id: i64) -> AppResult<Vec<(String, String)>> {
    use jiayou_store::entity::station;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    let caller = Caller::system("demo");
    let stations = station::Entity::find()
        .filter(station::Column::ChainId.eq(chain_id))
        .filter(station::Column::RetiredAtUs.is_null())
        .order_by_asc(station::Column::Id)
        .all(app.db.reader())
        .await?;
    let mut out = vec![];
    for st in stations {
        let existing = app.list_devices(&caller, st.id).await?.into_iter().find(|d| d.retired_at.is_none());
        let issued = match existing {
            Some(d) => app.rotate_device_secret(&caller, d.id).await?,
            None => {
                let cmd = crate::devices::NewDevice {
                    code: format!("DEMO-{}-P1", st.code),
                    name: "模拟加油机控制器".into(),
                };
                app.register_device(&caller, st.id, cmd, None).await?
            }
        };
        out.push((issued.device.code.clone(), issued.secret));
    }
    Ok(out)
}

/// A fresh demo tank starts 70 % full, recorded as a stock movement like any other (so
/// the simulator's sales have fuel to take). Real deliveries come with inventory (B4).
async fn opening_stock(app: &App, t: &crate::equipment::TankView, quantity: i64) -> AppResult<()> {
    let tx = app.db.begin().await?;
    crate::stock::move_stock(&tx, t.id, t.station_id, "adjust", quantity, None).await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    //! The tables are data a person edits; these catch a slip before a seed fails
    //! half-way (the seed would still be rejected by the use-cases' validation).

    use std::collections::HashSet;

    use jiayou_domain::geo::{self, LngLat};

    use super::*;

    #[test]
    fn station_codes_are_unique_and_valid() {
        let mut seen = HashSet::new();
        for s in STATIONS {
            assert!(seen.insert(s.code), "duplicate station code {}", s.code);
            assert_eq!(jiayou_domain::field::code("code", s.code).unwrap(), s.code);
            assert!(s.phone.starts_with("0871-6") && s.phone.len() == 13, "{}", s.phone);
        }
        assert!((6..=8).contains(&STATIONS.len()));
    }

    #[test]
    fn equipment_is_consistent() {
        let codes: HashSet<&str> = GRADES.iter().map(|g| g.code).collect();
        for s in STATIONS {
            assert!((2..=4).contains(&s.tanks.len()), "{} tanks", s.code);
            assert!((2..=4).contains(&s.pumps.len()), "{} pumps", s.code);
            for p in s.pumps {
                assert!((2..=4).contains(&p.len()), "{} nozzles per pump", s.code);
                for g in p.iter() {
                    assert!(codes.contains(g), "{}: unknown grade {g}", s.code);
                    assert!(tank_number_for(s, g, 0).is_some(), "{}: no tank for {g}", s.code);
                }
            }
            // Every tank is drawn from by some nozzle: no idle tanks in the demo.
            for (i, g) in s.tanks.iter().enumerate() {
                let drawn = s.pumps.iter().flat_map(|p| p.iter()).filter(|n| *n == g).count();
                let used = (0..drawn).any(|k| tank_number_for(s, g, k) == Some(i as i32 + 1));
                assert!(used, "{}: tank {} ({g}) unused", s.code, i + 1);
            }
        }
        // LNG only at the truck stop, which sells it per kg.
        let lng: Vec<&str> = STATIONS.iter().filter(|s| s.tanks.contains(&"LNG")).map(|s| s.code).collect();
        assert_eq!(lng, ["AN-CPWL"]);
        assert!(STATIONS.iter().find(|s| s.code == "AN-CPWL").unwrap().amenities.contains(&TruckLane));
    }

    #[test]
    fn tanks_alternate_when_a_grade_has_two() {
        let s = STATIONS.iter().find(|s| s.code == "KM-CSJC").unwrap();
        let got: Vec<_> = (0..4).map(|k| tank_number_for(s, "92", k).unwrap()).collect();
        assert_eq!(got, [1, 2, 1, 2]);
        assert_eq!(tank_number_for(s, "98", 0), None);
    }

    #[test]
    fn hours_are_valid_and_varied() {
        let mut weekly = 0;
        for s in STATIONS {
            let h = opening_hours(&s.hours);
            assert_eq!(h.validate(), Ok(()), "{}", s.code);
            weekly += usize::from(h != OpeningHours::AlwaysOpen);
        }
        assert!(weekly >= 2 && weekly < STATIONS.len() / 2, "most stations are open 24h");
    }

    #[test]
    fn prices_are_plausible_for_yunnan() {
        let range = |code: &str| match code {
            "92" => 780..=810,
            "95" => 830..=870,
            "98" => 940..=970,
            "0" => 745..=780,
            "LNG" => 500..=599,
            other => panic!("no range for {other}"),
        };
        for s in STATIONS {
            for g in GRADES.iter().filter(|g| s.tanks.contains(&g.code)) {
                let list = g.list_fen + s.price_offset_fen;
                assert!(range(g.code).contains(&list), "{} {}: {list}", s.code, g.code);
                let member = list - g.member_discount_fen;
                assert!(member > 0 && member < list && g.member_discount_fen <= 50);
                if let Some(prev) = g.previous_fen {
                    assert_ne!(prev, g.list_fen);
                }
            }
        }
        // Offsets differ, so the price sort is not a tie everywhere.
        let offsets: HashSet<i64> = STATIONS.iter().map(|s| s.price_offset_fen).collect();
        assert_eq!(offsets.len(), STATIONS.len());
    }

    #[test]
    fn coordinates_are_in_kunming() {
        for s in STATIONS {
            let w = geo::convert(LngLat { lng: s.gcj02.0, lat: s.gcj02.1 }, CoordSystem::Gcj02, CoordSystem::Wgs84);
            // 昆明 municipality incl. 安宁 and 呈贡: roughly 102.3–103.0 E, 24.8–25.2 N.
            assert!((102.3..103.0).contains(&w.lng) && (24.8..25.2).contains(&w.lat), "{}: {w:?}", s.code);
            // GCJ-02 in Kunming is offset by a few hundred metres from WGS-84.
            let d = geo::haversine_m(w, LngLat { lng: s.gcj02.0, lat: s.gcj02.1 });
            assert!((100.0..1000.0).contains(&d), "{}: offset {d} m", s.code);
        }
    }
}
