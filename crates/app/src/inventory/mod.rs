//! Inventory (B4): tank levels, deliveries, dips and gauge readings, the safety and
//! overstock alerts, the daily and monthly 进销存 report, and the sales-vs-dispensed
//! reconciliation per nozzle (S3). See docs/inventory.md.
//!
//! Units: volumes in mL (thousandths of a litre), densities kg/m³ × 10, temperatures
//! 0.01 °C. Deliveries go into the book stock at their 20 °C volume; measured stock is
//! the 20 °C volume of the latest dip or gauge reading (`jiayou_domain::vcf`).

pub mod alerts;
pub mod report;

use chrono::{DateTime, Utc};
use jiayou_domain::access::Permission;
use jiayou_domain::vcf::{self, VcfError};
use jiayou_domain::{FieldError, FieldErrorKind, field};
use jiayou_store::entity::{station, tank, tank_delivery, tank_reading};
use jiayou_store::now_us;
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::audit::AuditEntry;
use crate::caller::snapshot;
use crate::chains::instant;
use crate::error::{Problems, field_conflict};
use crate::{App, AppError, AppResult, Caller};

/// Largest single delivery or reading: 1,000,000 L.
const MAX_VOLUME: i64 = 1_000_000_000;

/// Where a tank's book stock stands against its thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TankState {
    Ok,
    /// Book stock below `safety_min`.
    Low,
    /// Book stock above `overstock_max` (default 95 % of capacity).
    Overstock,
}

pub(crate) fn state_of(t: &tank::Model) -> TankState {
    if t.book_stock < t.safety_min {
        TankState::Low
    } else if t.book_stock > t.overstock_max {
        TankState::Overstock
    } else {
        TankState::Ok
    }
}

/// Room left in a tank by its books: capacity minus book stock (a negative book stock
/// counts as empty).
pub(crate) fn free_capacity(t: &tank::Model) -> i64 {
    Ord::max(t.capacity - Ord::max(t.book_stock, 0), 0)
}

/// One tank as the station sees it now.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TankLevel {
    pub tank_id: i64,
    pub number: i32,
    pub grade_id: i64,
    /// mL.
    pub capacity: i64,
    pub safety_min: i64,
    pub overstock_max: i64,
    /// Book stock, mL at 20 °C for deliveries and as dispensed for sales.
    pub book_stock: i64,
    /// Book stock as a share of capacity, in 0.01 % (basis points).
    pub fill_bp: i64,
    /// Capacity minus book stock, mL: the largest delivery accepted now.
    pub free_capacity: i64,
    pub state: TankState,
    /// The latest dip or gauge reading, if any.
    pub measured: Option<ReadingView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDelivery {
    pub tank_id: i64,
    /// 1–100 characters.
    pub supplier: String,
    /// The delivery note number (送货单号), 1–64 characters; unique per station.
    pub note_no: String,
    /// Observed volume delivered, mL (1 – 1,000,000,000).
    pub quantity: i64,
    /// Product temperature, 0.01 °C (−3000 – 6000).
    pub temperature: i64,
    /// Density observed at that temperature (视密度), kg/m³ × 10 (6000 – 11000).
    pub density: i64,
    /// Dipped volume before and after the delivery, mL (optional).
    pub dip_before: Option<i64>,
    pub dip_after: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeliveryView {
    pub id: i64,
    pub station_id: i64,
    pub tank_id: i64,
    pub supplier: String,
    pub note_no: String,
    pub quantity: i64,
    pub temperature: i64,
    pub density: i64,
    /// Standard density at 20 °C, kg/m³ × 10.
    pub density20: i64,
    /// Volume correction factor to 20 °C × 10 000.
    pub vcf20: i64,
    /// Volume at 20 °C, mL: what went into the book stock.
    pub volume20: i64,
    pub dip_before: Option<i64>,
    pub dip_after: Option<i64>,
    pub staff_id: Option<i64>,
    pub delivered_at: DateTime<Utc>,
}

impl From<tank_delivery::Model> for DeliveryView {
    fn from(m: tank_delivery::Model) -> Self {
        DeliveryView {
            id: m.id,
            station_id: m.station_id,
            tank_id: m.tank_id,
            supplier: m.supplier,
            note_no: m.note_no,
            quantity: m.quantity,
            temperature: m.temperature.into(),
            density: m.density.into(),
            density20: m.density20.into(),
            vcf20: m.vcf20.into(),
            volume20: m.volume20,
            dip_before: m.dip_before,
            dip_after: m.dip_after,
            staff_id: m.staff_id,
            delivered_at: instant(m.delivered_at_us),
        }
    }
}

/// How stock was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadingSource {
    /// A manual dip (量油尺).
    Dip,
    /// An automatic tank gauge (液位仪).
    Gauge,
}

impl ReadingSource {
    fn as_str(self) -> &'static str {
        match self {
            ReadingSource::Dip => "dip",
            ReadingSource::Gauge => "gauge",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReading {
    pub tank_id: i64,
    pub source: ReadingSource,
    /// Product level, mm (0 – 10000), as read.
    pub level_mm: Option<i64>,
    /// Observed volume from the tank chart or gauge, mL.
    pub volume: i64,
    /// 0.01 °C.
    pub temperature: i64,
    /// Observed density, kg/m³ × 10.
    pub density: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReadingView {
    pub id: i64,
    pub tank_id: i64,
    pub source: String,
    pub level_mm: Option<i64>,
    pub volume: i64,
    pub temperature: i64,
    pub density: i64,
    pub density20: i64,
    pub vcf20: i64,
    /// Measured stock at 20 °C, mL.
    pub volume20: i64,
    pub staff_id: Option<i64>,
    pub read_at: DateTime<Utc>,
}

impl From<tank_reading::Model> for ReadingView {
    fn from(m: tank_reading::Model) -> Self {
        ReadingView {
            id: m.id,
            tank_id: m.tank_id,
            source: m.source,
            level_mm: m.level_mm.map(i64::from),
            volume: m.volume,
            temperature: m.temperature.into(),
            density: m.density.into(),
            density20: m.density20.into(),
            vcf20: m.vcf20.into(),
            volume20: m.volume20,
            staff_id: m.staff_id,
            read_at: instant(m.read_at_us),
        }
    }
}

/// Checks and corrects one measurement, collecting field errors.
fn measure(
    p: &mut Problems,
    volume: i64,
    temperature: i64,
    density: i64,
    volume_field: &'static str,
) -> Option<vcf::Correction> {
    let v = p.check(field::int_range(volume_field, volume, 1, MAX_VOLUME));
    let t = p.check(field::int_range("temperature", temperature, vcf::MIN_TEMP_CENTI, vcf::MAX_TEMP_CENTI));
    let d = p.check(field::int_range("density", density, 6000, 11000));
    let (v, t, d) = (v?, t?, d?);
    match vcf::correct(v, t, d) {
        Ok(c) => Some(c),
        Err(VcfError::Density) => {
            p.push(field_conflict("density", "换算到15 °C的密度超出 ASTM 54B 表的范围（653–1075 kg/m³）"));
            None
        }
        Err(VcfError::Temperature) | Err(VcfError::Volume) => None,
    }
}

impl App {
    /// Station-scoped read of the stock reports: `inventory.manage` or `sales.read`.
    pub(crate) async fn authorize_stock_read(&self, caller: &Caller, station_id: i64) -> AppResult<station::Model> {
        match self.authorize_station(caller, Permission::InventoryManage, station_id).await {
            Err(AppError::Forbidden { .. }) => self.authorize_station(caller, Permission::SalesRead, station_id).await,
            other => other,
        }
    }

    async fn station_tank(&self, station_id: i64, tank_id: i64) -> AppResult<tank::Model> {
        let t = tank::Entity::find_by_id(tank_id).one(self.db.reader()).await?;
        match t {
            Some(t) if t.station_id == station_id && t.retired_at_us.is_none() => Ok(t),
            _ => Err(field_conflict("tank_id", "该油站没有这个油罐").into()),
        }
    }

    /// The station's live tanks with book and measured stock.
    pub async fn tank_levels(&self, caller: &Caller, station_id: i64) -> AppResult<Vec<TankLevel>> {
        self.authorize_stock_read(caller, station_id).await?;
        let tanks = tank::Entity::find()
            .filter(tank::Column::StationId.eq(station_id))
            .filter(tank::Column::RetiredAtUs.is_null())
            .order_by_asc(tank::Column::Number)
            .all(self.db.reader())
            .await?;
        let mut out = Vec::with_capacity(tanks.len());
        for t in tanks {
            let measured = tank_reading::Entity::find()
                .filter(tank_reading::Column::TankId.eq(t.id))
                .order_by_desc(tank_reading::Column::ReadAtUs)
                .order_by_desc(tank_reading::Column::Id)
                .one(self.db.reader())
                .await?
                .map(ReadingView::from);
            out.push(TankLevel {
                tank_id: t.id,
                number: t.number,
                grade_id: t.grade_id,
                capacity: t.capacity,
                safety_min: t.safety_min,
                overstock_max: t.overstock_max,
                book_stock: t.book_stock,
                fill_bp: if t.capacity > 0 { t.book_stock * 10_000 / t.capacity } else { 0 },
                free_capacity: free_capacity(&t),
                state: state_of(&t),
                measured,
            });
        }
        Ok(out)
    }

    /// Records a delivery (`inventory.manage`, audited `tank.delivery`): the book stock
    /// takes its 20 °C volume. A delivery larger than the tank's free capacity (observed
    /// or 20 °C volume, whichever is larger) is refused with 422
    /// `delivery_exceeds_capacity`, and nothing is written.
    pub async fn record_delivery(&self, caller: &Caller, station_id: i64, cmd: NewDelivery) -> AppResult<DeliveryView> {
        let st = self.authorize_station(caller, Permission::InventoryManage, station_id).await?;
        let mut p = Problems::default();
        let supplier = p.check(field::text("supplier", &cmd.supplier, 100));
        let note_no = p.check(field::text("note_no", &cmd.note_no, 64));
        let c = measure(&mut p, cmd.quantity, cmd.temperature, cmd.density, "quantity");
        for (f, v) in [("dip_before", cmd.dip_before), ("dip_after", cmd.dip_after)] {
            if let Some(v) = v {
                p.check(field::int_range(f, v, 0, MAX_VOLUME));
            }
        }
        p.finish()?;
        let (Some(supplier), Some(note_no), Some(c)) = (supplier, note_no, c) else {
            return Err(FieldError::new("quantity", FieldErrorKind::Required).into());
        };
        if st.retired_at_us.is_some() {
            return Err(crate::stations::retired_station());
        }
        let t = self.station_tank(station_id, cmd.tank_id).await?;
        let incoming = Ord::max(cmd.quantity, c.volume20);
        let now = now_us();

        let tx = self.db.begin().await?;
        // The capacity check and the row lock in one statement: of two deliveries at
        // once, the second sees the first's stock.
        let fits = tank::Entity::update_many()
            .col_expr(tank::Column::UpdatedAtUs, Expr::value(now))
            .filter(tank::Column::Id.eq(t.id))
            .filter(Expr::col(tank::Column::BookStock).lte(Expr::col(tank::Column::Capacity).sub(incoming)))
            .filter(tank::Column::Capacity.gte(incoming))
            .exec(&tx)
            .await?;
        if fits.rows_affected == 0 {
            let now_t = tank::Entity::find_by_id(t.id).one(&tx).await?.unwrap_or(t);
            tx.rollback().await?;
            let free = free_capacity(&now_t);
            return Err(AppError::Unprocessable {
                code: "delivery_exceeds_capacity",
                field: Some("quantity"),
                message_zh: format!(
                    "卸油量 {} 升超过油罐剩余容量 {} 升（剩余容量 {} 毫升），未作任何记录",
                    litres(incoming),
                    litres(free),
                    free
                ),
            });
        }
        let d = tank_delivery::ActiveModel {
            chain_id: Set(st.chain_id),
            station_id: Set(station_id),
            tank_id: Set(t.id),
            supplier: Set(supplier),
            note_no: Set(note_no),
            quantity: Set(cmd.quantity),
            temperature: Set(cmd.temperature as i32),
            density: Set(cmd.density as i32),
            density20: Set(c.density20 as i32),
            vcf20: Set(c.vcf20 as i32),
            volume20: Set(c.volume20),
            dip_before: Set(cmd.dip_before),
            dip_after: Set(cmd.dip_after),
            staff_id: Set(caller.staff_id()),
            delivered_at_us: Set(now),
            ..Default::default()
        }
        .insert(&tx)
        .await?;
        crate::stock::move_stock(&tx, t.id, station_id, "delivery", c.volume20, None).await?;
        let view = DeliveryView::from(d);
        let entry = AuditEntry::station(st.chain_id, station_id, "tank.delivery", "tank_delivery")
            .target(view.id)
            .after(snapshot(&view));
        self.commit_audited(tx, caller, entry).await?;
        Ok(view)
    }

    /// Records a dip or gauge reading (`inventory.manage`, audited `tank.reading`).
    pub async fn record_reading(&self, caller: &Caller, station_id: i64, cmd: NewReading) -> AppResult<ReadingView> {
        let st = self.authorize_station(caller, Permission::InventoryManage, station_id).await?;
        let mut p = Problems::default();
        let c = measure(&mut p, cmd.volume, cmd.temperature, cmd.density, "volume");
        if let Some(l) = cmd.level_mm {
            p.check(field::int_range("level_mm", l, 0, 10_000));
        }
        p.finish()?;
        let Some(c) = c else {
            return Err(FieldError::new("volume", FieldErrorKind::Required).into());
        };
        let t = self.station_tank(station_id, cmd.tank_id).await?;
        if cmd.volume > t.capacity {
            return Err(field::int_range("volume", cmd.volume, 1, t.capacity).unwrap_err().into());
        }
        let tx = self.db.begin().await?;
        let r = tank_reading::ActiveModel {
            chain_id: Set(st.chain_id),
            station_id: Set(station_id),
            tank_id: Set(t.id),
            source: Set(cmd.source.as_str().into()),
            level_mm: Set(cmd.level_mm.map(|l| l as i32)),
            volume: Set(cmd.volume),
            temperature: Set(cmd.temperature as i32),
            density: Set(cmd.density as i32),
            density20: Set(c.density20 as i32),
            vcf20: Set(c.vcf20 as i32),
            volume20: Set(c.volume20),
            staff_id: Set(caller.staff_id()),
            read_at_us: Set(now_us()),
            ..Default::default()
        }
        .insert(&tx)
        .await?;
        let view = ReadingView::from(r);
        let entry = AuditEntry::station(st.chain_id, station_id, "tank.reading", "tank_reading")
            .target(view.id)
            .after(snapshot(&view));
        self.commit_audited(tx, caller, entry).await?;
        Ok(view)
    }
}

/// mL as litres with three decimals, for messages.
fn litres(ml: i64) -> String {
    format!("{}.{:03}", ml / 1000, (ml % 1000).abs())
}
