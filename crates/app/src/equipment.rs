//! A station's equipment (B9): tanks, pumps and nozzles. A nozzle sits on a pump and
//! draws from exactly one tank of the same grade. Retiring keeps the row (history,
//! later orders and totalizers refer to it) and frees its number for a replacement.

use chrono::{DateTime, Utc};
use jiayou_domain::{FieldError, FieldErrorKind, field};
use jiayou_store::entity::{grade, nozzle, pump, station, tank};
use jiayou_store::now_us;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::chains::instant;
use crate::error::Problems;
use jiayou_domain::access::Permission;

use crate::audit::AuditEntry;
use crate::caller::snapshot;
use crate::stations::target;
use crate::{App, AppError, AppResult, Caller};

/// Largest tank we accept: 1,000,000 units (a million litres), in thousandths.
const MAX_CAPACITY: i64 = 1_000_000_000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EquipmentFilter {
    /// Include retired equipment (default false).
    pub include_retired: Option<bool>,
}

// ---------- tanks ----------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTank {
    /// Tank number at the station, 1–99.
    pub number: i32,
    pub grade_id: i64,
    /// Capacity in thousandths of the grade's unit (30 000 L = 30000000).
    pub capacity: i64,
    /// Safety stock: below this the station is warned (thousandths of the unit).
    pub safety_min: i64,
    /// Overstock level, above which a delivery would overfill (default 95% of capacity).
    pub overstock_max: Option<i64>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TankChange {
    pub grade_id: Option<i64>,
    pub capacity: Option<i64>,
    pub safety_min: Option<i64>,
    pub overstock_max: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TankView {
    pub id: i64,
    pub station_id: i64,
    pub number: i32,
    pub grade_id: i64,
    pub capacity: i64,
    pub safety_min: i64,
    pub overstock_max: i64,
    /// Book stock in thousandths of the unit: deliveries in, sales out (sales deduct it
    /// when the pump reports them; it may go negative until deliveries are recorded).
    pub book_stock: i64,
    pub retired_at: Option<DateTime<Utc>>,
}

impl From<tank::Model> for TankView {
    fn from(m: tank::Model) -> Self {
        TankView {
            id: m.id,
            station_id: m.station_id,
            number: m.number,
            grade_id: m.grade_id,
            capacity: m.capacity,
            safety_min: m.safety_min,
            overstock_max: m.overstock_max,
            book_stock: m.book_stock,
            retired_at: m.retired_at_us.map(instant),
        }
    }
}

fn check_levels(p: &mut Problems, capacity: i64, safety_min: i64, overstock_max: i64) {
    if p.check(field::int_range("capacity", capacity, 1, MAX_CAPACITY)).is_none() {
        return;
    }
    p.check(field::int_range("safety_min", safety_min, 0, capacity - 1));
    p.check(field::int_range("overstock_max", overstock_max, safety_min.max(0) + 1, capacity));
}

// ---------- pumps ----------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPump {
    /// Pump (dispenser) number at the station, 1–999.
    pub number: i32,
    pub name: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PumpChange {
    pub name: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PumpView {
    pub id: i64,
    pub station_id: i64,
    pub number: i32,
    pub name: Option<String>,
    pub retired_at: Option<DateTime<Utc>>,
}

impl From<pump::Model> for PumpView {
    fn from(m: pump::Model) -> Self {
        PumpView {
            id: m.id,
            station_id: m.station_id,
            number: m.number,
            name: m.name,
            retired_at: m.retired_at_us.map(instant),
        }
    }
}

// ---------- nozzles ----------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNozzle {
    pub pump_id: i64,
    /// Nozzle number as painted, unique among the station's live nozzles, 1–999.
    pub number: i32,
    pub tank_id: i64,
    /// Must equal the tank's grade; defaults to it.
    pub grade_id: Option<i64>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NozzleChange {
    /// Re-plumb the nozzle to another tank of the station (its grade follows the tank).
    pub tank_id: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NozzleView {
    pub id: i64,
    pub station_id: i64,
    pub pump_id: i64,
    pub number: i32,
    pub grade_id: i64,
    pub tank_id: i64,
    pub retired_at: Option<DateTime<Utc>>,
}

impl From<nozzle::Model> for NozzleView {
    fn from(m: nozzle::Model) -> Self {
        NozzleView {
            id: m.id,
            station_id: m.station_id,
            pump_id: m.pump_id,
            number: m.number,
            grade_id: m.grade_id,
            tank_id: m.tank_id,
            retired_at: m.retired_at_us.map(instant),
        }
    }
}

fn not_found(field_name: &'static str) -> AppError {
    AppError::field(FieldError::new(field_name, FieldErrorKind::NotFound))
}

/// A live grade of the station's chain, or a field error on `field_name`.
async fn live_grade(
    conn: &impl ConnectionTrait,
    st: &station::Model,
    id: i64,
    field_name: &'static str,
) -> AppResult<grade::Model> {
    let g = grade::Entity::find_by_id(id)
        .one(conn)
        .await?
        .filter(|g| g.chain_id == st.chain_id)
        .ok_or_else(|| not_found(field_name))?;
    if g.retired_at_us.is_some() {
        return Err(AppError::field(FieldError::new(
            field_name,
            FieldErrorKind::Conflict { reason: "该油品已停用".into() },
        )));
    }
    Ok(g)
}

async fn live_tank(conn: &impl ConnectionTrait, station_id: i64, id: i64) -> AppResult<tank::Model> {
    tank::Entity::find_by_id(id)
        .one(conn)
        .await?
        .filter(|t| t.station_id == station_id && t.retired_at_us.is_none())
        .ok_or_else(|| not_found("tank_id"))
}

/// The audit row of a change to a station's equipment.
fn equipment_entry(
    st: &station::Model,
    action: &'static str,
    kind: &'static str,
    id: i64,
    before: Option<serde_json::Value>,
    after: &impl serde::Serialize,
) -> AuditEntry {
    let e = AuditEntry::station(st.chain_id, st.id, action, kind).target(id).after(snapshot(after));
    match before {
        Some(b) => e.before(b),
        None => e,
    }
}

/// The columns tanks, pumps and nozzles share, so listing and reading them is written once.
trait Equipment: EntityTrait {
    const STATION_ID: Self::Column;
    const NUMBER: Self::Column;
    const RETIRED_AT: Self::Column;
    const ID: Self::Column;
    fn station_of(m: &Self::Model) -> i64;
}

macro_rules! equipment_columns {
    ($($m:ident),+) => {$(
        impl Equipment for $m::Entity {
            const STATION_ID: $m::Column = $m::Column::StationId;
            const NUMBER: $m::Column = $m::Column::Number;
            const RETIRED_AT: $m::Column = $m::Column::RetiredAtUs;
            const ID: $m::Column = $m::Column::Id;
            fn station_of(m: &$m::Model) -> i64 {
                m.station_id
            }
        }
    )+};
}
equipment_columns!(tank, pump, nozzle);

impl App {
    /// A station's equipment of one kind by number, live only unless asked otherwise.
    /// The station, after checking the caller holds `permission` there.
    pub(crate) async fn authorize_station(
        &self,
        caller: &Caller,
        permission: Permission,
        station_id: i64,
    ) -> AppResult<station::Model> {
        let st = self.station_row(station_id).await?;
        caller.require(permission, target(&st))?;
        Ok(st)
    }

    /// Checks `permission` at the station of equipment item `id`.
    async fn authorize_equipment<E: Equipment>(
        &self,
        caller: &Caller,
        permission: Permission,
        id: i64,
        entity: &'static str,
    ) -> AppResult<station::Model> {
        let row = E::find().filter(E::ID.eq(id)).one(self.db.reader()).await?.ok_or(AppError::NotFound { entity })?;
        self.authorize_station(caller, permission, E::station_of(&row)).await
    }

    async fn list_equipment<E, V>(&self, caller: &Caller, station_id: i64, f: &EquipmentFilter) -> AppResult<Vec<V>>
    where
        E: Equipment,
        V: From<E::Model>,
    {
        self.authorize_station(caller, Permission::StationRead, station_id).await?;
        let mut q = E::find().filter(E::STATION_ID.eq(station_id));
        if !f.include_retired.unwrap_or(false) {
            q = q.filter(E::RETIRED_AT.is_null());
        }
        let rows = q.order_by_asc(E::NUMBER).order_by_asc(E::ID).all(self.db.reader()).await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn get_equipment<E, V>(&self, caller: &Caller, id: i64, entity: &'static str) -> AppResult<V>
    where
        E: Equipment,
        V: From<E::Model>,
    {
        self.authorize_equipment::<E>(caller, Permission::StationRead, id, entity).await?;
        let row = E::find().filter(E::ID.eq(id)).one(self.db.reader()).await?;
        row.map(Into::into).ok_or(AppError::NotFound { entity })
    }

    // ----- tanks -----

    pub async fn create_tank(&self, caller: &Caller, station_id: i64, cmd: NewTank) -> AppResult<TankView> {
        let audited_at = self.authorize_station(caller, Permission::EquipmentManage, station_id).await?;
        let mut p = Problems::default();
        p.check(field::int_range("number", cmd.number.into(), 1, 99));
        let overstock_max = cmd.overstock_max.unwrap_or(cmd.capacity / 100 * 95);
        check_levels(&mut p, cmd.capacity, cmd.safety_min, overstock_max);
        p.finish()?;
        let tx = self.db.begin().await?;
        let st = self.live_station(station_id).await?;
        live_grade(&tx, &st, cmd.grade_id, "grade_id").await?;
        let now = now_us();
        let m = tank::ActiveModel {
            station_id: Set(station_id),
            number: Set(cmd.number),
            active_number: Set(Some(cmd.number)),
            grade_id: Set(cmd.grade_id),
            capacity: Set(cmd.capacity),
            safety_min: Set(cmd.safety_min),
            overstock_max: Set(overstock_max),
            retired_at_us: Set(None),
            created_at_us: Set(now),
            updated_at_us: Set(now),
            ..Default::default()
        }
        .insert(&tx)
        .await?;
        let view = TankView::from(m);
        let entry = equipment_entry(&audited_at, "tank.create", "tank", view.id, None, &view);
        self.commit_audited(tx, caller, entry).await?;
        Ok(view)
    }

    pub async fn list_tanks(&self, caller: &Caller, station_id: i64, f: &EquipmentFilter) -> AppResult<Vec<TankView>> {
        self.list_equipment::<tank::Entity, _>(caller, station_id, f).await
    }

    pub async fn get_tank(&self, caller: &Caller, id: i64) -> AppResult<TankView> {
        self.get_equipment::<tank::Entity, _>(caller, id, "tank").await
    }

    pub async fn update_tank(&self, caller: &Caller, id: i64, cmd: TankChange) -> AppResult<TankView> {
        let audited_at =
            self.authorize_equipment::<tank::Entity>(caller, Permission::EquipmentManage, id, "tank").await?;
        let tx = self.db.begin().await?;
        let row = tank::Entity::find_by_id(id).one(&tx).await?.ok_or(AppError::NotFound { entity: "tank" })?;
        if row.retired_at_us.is_some() {
            return Err(AppError::conflict("tank_retired", None, "该油罐已停用，不能修改"));
        }
        let st = self.live_station(row.station_id).await?;
        let capacity = cmd.capacity.unwrap_or(row.capacity);
        let safety_min = cmd.safety_min.unwrap_or(row.safety_min);
        let overstock_max = cmd.overstock_max.unwrap_or(row.overstock_max.min(capacity));
        let mut p = Problems::default();
        check_levels(&mut p, capacity, safety_min, overstock_max);
        p.finish()?;
        let mut m = row.clone().into_active_model();
        let before = snapshot(&TankView::from(row.clone()));
        if let Some(g) = cmd.grade_id.filter(|g| *g != row.grade_id) {
            live_grade(&tx, &st, g, "grade_id").await?;
            // A nozzle must draw its own grade: refuse while live nozzles use this tank.
            let in_use = nozzle::Entity::find()
                .filter(nozzle::Column::TankId.eq(id))
                .filter(nozzle::Column::RetiredAtUs.is_null())
                .one(&tx)
                .await?;
            if in_use.is_some() {
                return Err(AppError::conflict("tank_in_use", Some("grade_id"), "该油罐仍有油枪在用，不能更换油品"));
            }
            m.grade_id = Set(g);
        }
        m.capacity = Set(capacity);
        m.safety_min = Set(safety_min);
        m.overstock_max = Set(overstock_max);
        m.updated_at_us = Set(now_us());
        let m = m.update(&tx).await?;
        let view = TankView::from(m);
        let entry = equipment_entry(&audited_at, "tank.update", "tank", view.id, Some(before), &view);
        self.commit_audited(tx, caller, entry).await?;
        Ok(view)
    }

    /// Retires a tank; refused while live nozzles still draw from it.
    pub async fn retire_tank(&self, caller: &Caller, id: i64) -> AppResult<TankView> {
        let audited_at =
            self.authorize_equipment::<tank::Entity>(caller, Permission::EquipmentManage, id, "tank").await?;
        let tx = self.db.begin().await?;
        let row = tank::Entity::find_by_id(id).one(&tx).await?.ok_or(AppError::NotFound { entity: "tank" })?;
        if row.retired_at_us.is_some() {
            return Ok(row.into());
        }
        let in_use = nozzle::Entity::find()
            .filter(nozzle::Column::TankId.eq(id))
            .filter(nozzle::Column::RetiredAtUs.is_null())
            .one(&tx)
            .await?;
        if in_use.is_some() {
            return Err(AppError::conflict("tank_in_use", None, "该油罐仍有油枪在用，请先停用或改接这些油枪"));
        }
        let mut m = row.into_active_model();
        let now = now_us();
        m.active_number = Set(None);
        m.retired_at_us = Set(Some(now));
        m.updated_at_us = Set(now);
        let m = m.update(&tx).await?;
        let view = TankView::from(m);
        let entry = equipment_entry(&audited_at, "tank.retire", "tank", view.id, None, &view);
        self.commit_audited(tx, caller, entry).await?;
        Ok(view)
    }

    // ----- pumps -----

    pub async fn create_pump(&self, caller: &Caller, station_id: i64, cmd: NewPump) -> AppResult<PumpView> {
        let audited_at = self.authorize_station(caller, Permission::EquipmentManage, station_id).await?;
        let mut p = Problems::default();
        p.check(field::int_range("number", cmd.number.into(), 1, 999));
        let name = p.check(field::optional_text("name", cmd.name.as_deref(), 64)).flatten();
        p.finish()?;
        self.live_station(station_id).await?;
        let now = now_us();
        let tx = self.db.begin().await?;
        let m = pump::ActiveModel {
            station_id: Set(station_id),
            number: Set(cmd.number),
            active_number: Set(Some(cmd.number)),
            name: Set(name),
            retired_at_us: Set(None),
            created_at_us: Set(now),
            updated_at_us: Set(now),
            ..Default::default()
        }
        .insert(&tx)
        .await?;
        let view = PumpView::from(m);
        let entry = equipment_entry(&audited_at, "pump.create", "pump", view.id, None, &view);
        self.commit_audited(tx, caller, entry).await?;
        Ok(view)
    }

    pub async fn list_pumps(&self, caller: &Caller, station_id: i64, f: &EquipmentFilter) -> AppResult<Vec<PumpView>> {
        self.list_equipment::<pump::Entity, _>(caller, station_id, f).await
    }

    pub async fn get_pump(&self, caller: &Caller, id: i64) -> AppResult<PumpView> {
        self.get_equipment::<pump::Entity, _>(caller, id, "pump").await
    }

    pub async fn update_pump(&self, caller: &Caller, id: i64, cmd: PumpChange) -> AppResult<PumpView> {
        let audited_at =
            self.authorize_equipment::<pump::Entity>(caller, Permission::EquipmentManage, id, "pump").await?;
        let mut p = Problems::default();
        let name = cmd.name.as_deref().map(|n| p.check(field::optional_text("name", Some(n), 64)));
        p.finish()?;
        let row =
            pump::Entity::find_by_id(id).one(self.db.reader()).await?.ok_or(AppError::NotFound { entity: "pump" })?;
        if row.retired_at_us.is_some() {
            return Err(AppError::conflict("pump_retired", None, "该加油机已停用，不能修改"));
        }
        let before = snapshot(&PumpView::from(row.clone()));
        let mut m = row.into_active_model();
        if let Some(Some(n)) = name {
            m.name = Set(n);
        }
        m.updated_at_us = Set(now_us());
        let tx = self.db.begin().await?;
        let m = m.update(&tx).await?;
        let view = PumpView::from(m);
        let entry = equipment_entry(&audited_at, "pump.update", "pump", view.id, Some(before), &view);
        self.commit_audited(tx, caller, entry).await?;
        Ok(view)
    }

    /// Retires a pump and, in the same transaction, its live nozzles.
    pub async fn retire_pump(&self, caller: &Caller, id: i64) -> AppResult<PumpView> {
        let audited_at =
            self.authorize_equipment::<pump::Entity>(caller, Permission::EquipmentManage, id, "pump").await?;
        let tx = self.db.begin().await?;
        let row = pump::Entity::find_by_id(id).one(&tx).await?.ok_or(AppError::NotFound { entity: "pump" })?;
        if row.retired_at_us.is_some() {
            return Ok(row.into());
        }
        let now = now_us();
        nozzle::Entity::update_many()
            .col_expr(nozzle::Column::ActiveNumber, sea_orm::sea_query::Expr::value(Option::<i32>::None))
            .col_expr(nozzle::Column::RetiredAtUs, sea_orm::sea_query::Expr::value(now))
            .col_expr(nozzle::Column::UpdatedAtUs, sea_orm::sea_query::Expr::value(now))
            .filter(nozzle::Column::PumpId.eq(id))
            .filter(nozzle::Column::RetiredAtUs.is_null())
            .exec(&tx)
            .await?;
        let mut m = row.into_active_model();
        m.active_number = Set(None);
        m.retired_at_us = Set(Some(now));
        m.updated_at_us = Set(now);
        let m = m.update(&tx).await?;
        let view = PumpView::from(m);
        let entry = equipment_entry(&audited_at, "pump.retire", "pump", view.id, None, &view);
        self.commit_audited(tx, caller, entry).await?;
        Ok(view)
    }

    // ----- nozzles -----

    pub async fn create_nozzle(&self, caller: &Caller, station_id: i64, cmd: NewNozzle) -> AppResult<NozzleView> {
        let audited_at = self.authorize_station(caller, Permission::EquipmentManage, station_id).await?;
        let mut p = Problems::default();
        p.check(field::int_range("number", cmd.number.into(), 1, 999));
        p.finish()?;
        let tx = self.db.begin().await?;
        let st = self.live_station(station_id).await?;
        pump::Entity::find_by_id(cmd.pump_id)
            .one(&tx)
            .await?
            .filter(|p| p.station_id == station_id && p.retired_at_us.is_none())
            .ok_or_else(|| not_found("pump_id"))?;
        let t = live_tank(&tx, station_id, cmd.tank_id).await?;
        let grade_id = cmd.grade_id.unwrap_or(t.grade_id);
        live_grade(&tx, &st, grade_id, "grade_id").await?;
        if grade_id != t.grade_id {
            return Err(AppError::field(FieldError::new(
                "tank_id",
                FieldErrorKind::Conflict { reason: "油罐的油品与油枪的油品不一致".into() },
            )));
        }
        let now = now_us();
        let m = nozzle::ActiveModel {
            station_id: Set(station_id),
            pump_id: Set(cmd.pump_id),
            number: Set(cmd.number),
            active_number: Set(Some(cmd.number)),
            grade_id: Set(grade_id),
            tank_id: Set(t.id),
            retired_at_us: Set(None),
            created_at_us: Set(now),
            updated_at_us: Set(now),
            ..Default::default()
        }
        .insert(&tx)
        .await?;
        let view = NozzleView::from(m);
        let entry = equipment_entry(&audited_at, "nozzle.create", "nozzle", view.id, None, &view);
        self.commit_audited(tx, caller, entry).await?;
        Ok(view)
    }

    pub async fn list_nozzles(
        &self,
        caller: &Caller,
        station_id: i64,
        f: &EquipmentFilter,
    ) -> AppResult<Vec<NozzleView>> {
        self.list_equipment::<nozzle::Entity, _>(caller, station_id, f).await
    }

    pub async fn get_nozzle(&self, caller: &Caller, id: i64) -> AppResult<NozzleView> {
        self.get_equipment::<nozzle::Entity, _>(caller, id, "nozzle").await
    }

    pub async fn update_nozzle(&self, caller: &Caller, id: i64, cmd: NozzleChange) -> AppResult<NozzleView> {
        let audited_at =
            self.authorize_equipment::<nozzle::Entity>(caller, Permission::EquipmentManage, id, "nozzle").await?;
        let tx = self.db.begin().await?;
        let row = nozzle::Entity::find_by_id(id).one(&tx).await?.ok_or(AppError::NotFound { entity: "nozzle" })?;
        if row.retired_at_us.is_some() {
            return Err(AppError::conflict("nozzle_retired", None, "该油枪已停用，不能修改"));
        }
        let mut m = row.clone().into_active_model();
        let before = snapshot(&NozzleView::from(row.clone()));
        if let Some(tank_id) = cmd.tank_id {
            let t = live_tank(&tx, row.station_id, tank_id).await?;
            m.tank_id = Set(t.id);
            m.grade_id = Set(t.grade_id);
        }
        m.updated_at_us = Set(now_us());
        let m = m.update(&tx).await?;
        let view = NozzleView::from(m);
        let entry = equipment_entry(&audited_at, "nozzle.update", "nozzle", view.id, Some(before), &view);
        self.commit_audited(tx, caller, entry).await?;
        Ok(view)
    }

    pub async fn retire_nozzle(&self, caller: &Caller, id: i64) -> AppResult<NozzleView> {
        let audited_at =
            self.authorize_equipment::<nozzle::Entity>(caller, Permission::EquipmentManage, id, "nozzle").await?;
        let row = nozzle::Entity::find_by_id(id)
            .one(self.db.reader())
            .await?
            .ok_or(AppError::NotFound { entity: "nozzle" })?;
        if row.retired_at_us.is_some() {
            return Ok(row.into());
        }
        let mut m = row.into_active_model();
        let now = now_us();
        m.active_number = Set(None);
        m.retired_at_us = Set(Some(now));
        m.updated_at_us = Set(now);
        let tx = self.db.begin().await?;
        let m = m.update(&tx).await?;
        let view = NozzleView::from(m);
        let entry = equipment_entry(&audited_at, "nozzle.retire", "nozzle", view.id, None, &view);
        self.commit_audited(tx, caller, entry).await?;
        Ok(view)
    }
}
