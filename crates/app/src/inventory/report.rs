//! The daily and monthly purchase-sales-stock (进销存) report per tank, and the
//! sales-vs-dispensed reconciliation per nozzle and day (S3). Days are China days
//! (UTC+8), as in the channels' reconciliation.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use jiayou_domain::order::OrderStatus;
use jiayou_store::entity::{nozzle, order, pump_sale, tank, tank_movement, tank_reading};
use jiayou_store::now_us;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::chains::instant;
use crate::error::field_conflict;
use crate::reconcile::{china_day_us, china_today};
use crate::{App, AppResult, Caller};

/// Tolerance of the S3 comparison: one dispenser volume step (10 mL) per sale of the
/// nozzle that day, the most the rounding of the pump's display can explain.
pub const S3_TOLERANCE_PER_SALE: i64 = jiayou_domain::fuel::DEFAULT_VOLUME_STEP;

/// One tank over one day (or a month, in [`TankMonth`]). Volumes in mL.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TankDay {
    pub tank_id: i64,
    pub date: NaiveDate,
    /// Book stock at the start of the day.
    pub opening: i64,
    /// Deliveries in (at 20 °C).
    pub deliveries: i64,
    /// Sales out (as dispensed), positive.
    pub sales: i64,
    /// Manual adjustments, signed.
    pub adjustments: i64,
    /// Book stock at the end of the day: opening + deliveries − sales + adjustments.
    pub closing: i64,
    /// Measured stock at 20 °C: the day's last dip or gauge reading, if any.
    pub measured: Option<i64>,
    pub measured_at: Option<DateTime<Utc>>,
    /// Book stock at the moment of that reading.
    pub book_at_measured: Option<i64>,
    /// book_at_measured − measured: positive is fuel missing (损耗), negative a gain.
    pub loss: Option<i64>,
    /// loss as a share of the period's sales, in 0.01 % (basis points); none without sales.
    pub variance_bp: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StockDayReport {
    pub station_id: i64,
    pub date: NaiveDate,
    pub tanks: Vec<TankDay>,
}

/// One tank over a month: the totals (opening of the first day, closing of the last,
/// sums of the movements, the month's last reading) and each day.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TankMonth {
    pub tank_id: i64,
    pub opening: i64,
    pub deliveries: i64,
    pub sales: i64,
    pub adjustments: i64,
    pub closing: i64,
    pub measured: Option<i64>,
    pub book_at_measured: Option<i64>,
    pub loss: Option<i64>,
    pub variance_bp: Option<i64>,
    pub days: Vec<TankDay>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StockMonthReport {
    pub station_id: i64,
    /// YYYY-MM.
    pub month: String,
    pub tanks: Vec<TankMonth>,
}

/// One difference the S3 reconciliation found.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Mismatch {
    /// `orders_vs_totalizer` or `tank_vs_totalizer`.
    pub kind: String,
    /// The first quantity minus the totalizer difference, mL (signed).
    pub size: i64,
}

/// One nozzle over one day: what orders say, what its totalizer says, what left the tank.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NozzleDay {
    pub nozzle_id: i64,
    pub number: i32,
    pub tank_id: i64,
    pub sales_count: i64,
    /// Sum of the dispensed quantity of the orders of the day's sales (cancelled and
    /// expired orders excluded), mL.
    pub order_quantity: i64,
    /// Totalizer before the day's first sale (the last one reported before the day, or
    /// else the first sale's reading minus its quantity) and after its last sale.
    pub totalizer_start: Option<i64>,
    pub totalizer_end: Option<i64>,
    /// totalizer_end − totalizer_start, mL.
    pub totalizer_quantity: i64,
    /// Stock the day's sales of this nozzle took from its tank, mL.
    pub tank_quantity: i64,
    /// Allowed difference: 10 mL per sale.
    pub tolerance: i64,
    pub mismatches: Vec<Mismatch>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DispenseReport {
    pub station_id: i64,
    pub date: NaiveDate,
    pub nozzles: Vec<NozzleDay>,
    /// Number of nozzles with at least one mismatch.
    pub mismatched: i64,
}

struct Data {
    tanks: Vec<tank::Model>,
    movements: Vec<tank_movement::Model>,
    readings: Vec<tank_reading::Model>,
}

fn bp(loss: i64, sales: i64) -> Option<i64> {
    (sales > 0).then(|| (loss as i128 * 10_000 / sales as i128) as i64)
}

/// Book stock of `t` at instant `at_us` (movements up to and including it).
fn book_at(t: &tank::Model, movements: &[tank_movement::Model], at_us: i64) -> i64 {
    t.book_stock
        - movements.iter().filter(|m| m.tank_id == t.id && m.created_at_us > at_us).map(|m| m.quantity).sum::<i64>()
}

fn tank_period(t: &tank::Model, d: &Data, date: NaiveDate, start: i64, end: i64) -> TankDay {
    let mine = |m: &&tank_movement::Model| m.tank_id == t.id && m.created_at_us >= start && m.created_at_us < end;
    let sum = |kind: &str| d.movements.iter().filter(mine).filter(|m| m.kind == kind).map(|m| m.quantity).sum::<i64>();
    let closing = book_at(t, &d.movements, end - 1);
    let (deliveries, sales, adjustments) = (sum("delivery"), -sum("sale"), sum("adjust"));
    let opening = closing - d.movements.iter().filter(mine).map(|m| m.quantity).sum::<i64>();
    let reading = d
        .readings
        .iter()
        .filter(|r| r.tank_id == t.id && r.read_at_us >= start && r.read_at_us < end)
        .max_by_key(|r| (r.read_at_us, r.id));
    let book_at_measured = reading.map(|r| book_at(t, &d.movements, r.read_at_us));
    let loss = reading.zip(book_at_measured).map(|(r, b)| b - r.volume20);
    TankDay {
        tank_id: t.id,
        date,
        opening,
        deliveries,
        sales,
        adjustments,
        closing,
        measured: reading.map(|r| r.volume20),
        measured_at: reading.map(|r| instant(r.read_at_us)),
        book_at_measured,
        loss,
        variance_bp: loss.and_then(|l| bp(l, sales)),
    }
}

impl App {
    async fn stock_data(&self, station_id: i64, since_us: i64) -> AppResult<Data> {
        let db = self.db.reader();
        let tanks = tank::Entity::find()
            .filter(tank::Column::StationId.eq(station_id))
            .order_by_asc(tank::Column::Number)
            .order_by_asc(tank::Column::Id)
            .all(db)
            .await?;
        let movements = tank_movement::Entity::find()
            .filter(tank_movement::Column::StationId.eq(station_id))
            .filter(tank_movement::Column::CreatedAtUs.gte(since_us))
            .all(db)
            .await?;
        let readings = tank_reading::Entity::find()
            .filter(tank_reading::Column::StationId.eq(station_id))
            .filter(tank_reading::Column::ReadAtUs.gte(since_us))
            .all(db)
            .await?;
        Ok(Data { tanks, movements, readings })
    }

    /// The 进销存 of each tank for one China day (`inventory.manage` or `sales.read`).
    pub async fn stock_day_report(
        &self,
        caller: &Caller,
        station_id: i64,
        date: NaiveDate,
    ) -> AppResult<StockDayReport> {
        self.authorize_stock_read(caller, station_id).await?;
        let (start, end) = china_day_us(date);
        let d = self.stock_data(station_id, start).await?;
        let tanks = d
            .tanks
            .iter()
            .filter(|t| t.retired_at_us.is_none_or(|r| r >= start))
            .map(|t| tank_period(t, &d, date, start, end))
            .collect();
        Ok(StockDayReport { station_id, date, tanks })
    }

    /// The 进销存 of each tank for one month `YYYY-MM`, day by day up to today, with the
    /// month's totals (`inventory.manage` or `sales.read`).
    pub async fn stock_month_report(
        &self,
        caller: &Caller,
        station_id: i64,
        month: &str,
    ) -> AppResult<StockMonthReport> {
        self.authorize_stock_read(caller, station_id).await?;
        let first = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d")
            .ok()
            .filter(|_| month.len() == 7)
            .ok_or_else(|| field_conflict("month", "月份格式应为 YYYY-MM"))?;
        let today = china_today(now_us());
        if first > today {
            return Err(field_conflict("month", "不能查询未来的月份").into());
        }
        let mut days = vec![];
        let mut day = first;
        while day.month() == first.month() && day <= today {
            days.push(day);
            day = day.succ_opt().expect("dates go on");
        }
        let (start, _) = china_day_us(first);
        let (_, end) = china_day_us(*days.last().expect("the first day is not in the future"));
        let d = self.stock_data(station_id, start).await?;
        let mut tanks = vec![];
        for t in d.tanks.iter().filter(|t| t.retired_at_us.is_none_or(|r| r >= start)) {
            let rows: Vec<TankDay> = days
                .iter()
                .map(|&day| {
                    let (s, e) = china_day_us(day);
                    tank_period(t, &d, day, s, e)
                })
                .collect();
            let total = tank_period(t, &d, first, start, end);
            tanks.push(TankMonth {
                tank_id: t.id,
                opening: total.opening,
                deliveries: total.deliveries,
                sales: total.sales,
                adjustments: total.adjustments,
                closing: total.closing,
                measured: total.measured,
                book_at_measured: total.book_at_measured,
                loss: total.loss,
                variance_bp: total.variance_bp,
                days: rows,
            });
        }
        Ok(StockMonthReport { station_id, month: month.to_owned(), tanks })
    }

    /// S3: per nozzle for one China day, the quantity in orders vs the totalizer
    /// difference vs the stock taken from the tank, with every difference beyond the
    /// tolerance listed with its size (`inventory.manage` or `sales.read`).
    pub async fn dispense_report(
        &self,
        caller: &Caller,
        station_id: i64,
        date: NaiveDate,
    ) -> AppResult<DispenseReport> {
        self.authorize_stock_read(caller, station_id).await?;
        let (start, end) = china_day_us(date);
        let db = self.db.reader();
        let nozzles = nozzle::Entity::find()
            .filter(nozzle::Column::StationId.eq(station_id))
            .order_by_asc(nozzle::Column::Number)
            .order_by_asc(nozzle::Column::Id)
            .all(db)
            .await?;
        let sales = pump_sale::Entity::find()
            .filter(pump_sale::Column::StationId.eq(station_id))
            .filter(pump_sale::Column::ReportedAtUs.gte(start))
            .filter(pump_sale::Column::ReportedAtUs.lt(end))
            .order_by_asc(pump_sale::Column::ReportedAtUs)
            .order_by_asc(pump_sale::Column::Id)
            .all(db)
            .await?;
        let sale_ids: Vec<i64> = sales.iter().map(|s| s.id).collect();
        let (orders, movements) = if sale_ids.is_empty() {
            (vec![], vec![])
        } else {
            let orders = order::Entity::find()
                .filter(order::Column::PumpSaleId.is_in(sale_ids.clone()))
                .filter(
                    order::Column::Status.is_not_in([OrderStatus::Cancelled.as_str(), OrderStatus::Expired.as_str()]),
                )
                .all(db)
                .await?;
            let movements = tank_movement::Entity::find()
                .filter(tank_movement::Column::PumpSaleId.is_in(sale_ids))
                .filter(tank_movement::Column::Kind.eq("sale"))
                .all(db)
                .await?;
            (orders, movements)
        };
        let mut rows = vec![];
        for n in &nozzles {
            let mine: Vec<&pump_sale::Model> = sales.iter().filter(|s| s.nozzle_id == n.id).collect();
            if mine.is_empty() && n.retired_at_us.is_some() {
                continue;
            }
            let ids: Vec<i64> = mine.iter().map(|s| s.id).collect();
            let order_quantity: i64 = orders
                .iter()
                .filter(|o| o.pump_sale_id.is_some_and(|id| ids.contains(&id)))
                .map(|o| o.dispensed_quantity.unwrap_or(0))
                .sum();
            let tank_quantity: i64 = -movements
                .iter()
                .filter(|m| m.pump_sale_id.is_some_and(|id| ids.contains(&id)))
                .map(|m| m.quantity)
                .sum::<i64>();
            let (mut totalizer_start, mut totalizer_end) = (None, None);
            if let (Some(first), Some(last)) = (mine.first(), mine.last()) {
                let before = pump_sale::Entity::find()
                    .filter(pump_sale::Column::NozzleId.eq(n.id))
                    .filter(pump_sale::Column::ReportedAtUs.lt(start))
                    .order_by_desc(pump_sale::Column::ReportedAtUs)
                    .order_by_desc(pump_sale::Column::Id)
                    .one(db)
                    .await?;
                totalizer_start = Some(before.map_or(first.totalizer - first.quantity, |b| b.totalizer));
                totalizer_end = Some(last.totalizer);
            }
            let totalizer_quantity = totalizer_end.zip(totalizer_start).map_or(0, |(e, s)| e - s);
            let tolerance = S3_TOLERANCE_PER_SALE * mine.len() as i64;
            let mut mismatches = vec![];
            for (kind, q) in [("orders_vs_totalizer", order_quantity), ("tank_vs_totalizer", tank_quantity)] {
                let size = q - totalizer_quantity;
                if size.abs() > tolerance {
                    mismatches.push(Mismatch { kind: kind.into(), size });
                }
            }
            rows.push(NozzleDay {
                nozzle_id: n.id,
                number: n.number,
                tank_id: n.tank_id,
                sales_count: mine.len() as i64,
                order_quantity,
                totalizer_start,
                totalizer_end,
                totalizer_quantity,
                tank_quantity,
                tolerance,
                mismatches,
            });
        }
        let mismatched = rows.iter().filter(|r| !r.mismatches.is_empty()).count() as i64;
        Ok(DispenseReport { station_id, date, nozzles: rows, mismatched })
    }
}

/// Query of a daily report.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DayQuery {
    /// YYYY-MM-DD, China time.
    pub date: NaiveDate,
}

/// Query of a monthly report.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MonthQuery {
    /// YYYY-MM, China time.
    pub month: String,
}
