//! The forecourt side (F1 v1): what a pump controller reads (its nozzles and prices,
//! pending authorisations) and reports (nozzle status, sales). Requests are authenticated
//! by [`crate::devices`] before they get here.
//!
//! A sale is the moment fuel left the tank: it deducts tank stock, and it either completes
//! the prepaid order it was authorised for (refunding the unused part, 预付退差), or
//! becomes an open post-pay order, charged at once from the balance when its plate has
//! plate pay (无感支付) enabled.

use chrono::{DateTime, Utc};
use jiayou_domain::fuel;
use jiayou_domain::order::{OrderEvent, OrderKind, OrderStatus};
use jiayou_domain::settlement::{self, Request, Wallet};
use jiayou_domain::{FieldError, FieldErrorKind, field};
use jiayou_store::entity::{
    alert, coupon, grade, nozzle, nozzle_state, order, outbox_event, pump, pump_authorisation, pump_sale,
    station_price, vehicle,
};
use jiayou_store::{StoreError, now_us};
use sea_orm::sea_query::{Expr, OnConflict, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::settle::{coupon_of, order_entry};
use super::{OrderView, emit, lock, new_order_no, plan_of, save, transition, view_of};
use crate::audit::Actor;
use crate::chains::instant;
use crate::devices::DeviceAuth;
use crate::error::{Problems, field_conflict, internal};
use crate::idempotency::IdemRequest;
use crate::orders::member::blank_order;
use crate::{App, AppError, AppResult, wallet};

/// Nozzle states a controller reports.
pub const NOZZLE_STATES: &[&str] = &["idle", "lifted", "fuelling", "finished"];

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeviceConfig {
    pub device_id: i64,
    pub station_id: i64,
    pub nozzles: Vec<DeviceNozzle>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeviceNozzle {
    pub nozzle_id: i64,
    pub pump_number: i32,
    pub nozzle_number: i32,
    pub grade_id: i64,
    pub grade_code: String,
    pub unit: String,
    /// The list price the pump shows; `None` when the grade has no price yet (the pump
    /// must not sell it).
    pub unit_price_fen: Option<i64>,
    pub price_version: Option<i64>,
    /// Thousandths of the unit the pump measures in.
    pub volume_step: i64,
    /// The last totalizer reading we know.
    pub totalizer: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NozzleStatusReport {
    /// idle, lifted, fuelling or finished.
    pub status: String,
    pub totalizer: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NozzleStatusView {
    pub nozzle_id: i64,
    pub status: String,
    pub held_order_id: Option<i64>,
    pub totalizer: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Authorisation {
    pub id: i64,
    pub order_id: i64,
    pub nozzle_id: i64,
    /// The pump stops at this amount (a money pre-order) …
    pub preset_amount_fen: Option<i64>,
    /// … or at this quantity.
    pub preset_quantity: Option<i64>,
    /// Sell at this price (the member price when the driver is a member).
    pub unit_price_fen: i64,
    pub price_version: i64,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaleReport {
    /// The controller's own id of the sale, unique per device: a second report of it is
    /// refused (`sale_duplicate`). 1–64 of `A-Z a-z 0-9 _ - . :`.
    pub sale_id: String,
    pub nozzle_id: i64,
    pub grade_id: i64,
    pub amount_fen: i64,
    /// Thousandths of the grade's unit.
    pub quantity: i64,
    pub unit_price_fen: i64,
    /// The nozzle's totalizer after the sale, thousandths.
    pub totalizer: i64,
    pub attendant_staff_id: Option<i64>,
    /// A plate read by the forecourt camera, for plate pay.
    pub plate: Option<String>,
    /// The authorisation this sale used (a prepaid order).
    pub authorisation_id: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SaleResult {
    /// Our id of the sale.
    pub id: i64,
    pub order: OrderView,
    /// Plate pay: `charged` (paid from the balance), `held` (paid, held by a risk rule
    /// for review) or `failed` (falls back to ordinary
    /// payment; the member is told); `None` when the sale had no plate-pay plate.
    pub autopay: Option<String>,
    /// Within SPEC's amount/quantity tolerance; an inconsistent sale raised an alert.
    pub consistent: bool,
}

impl App {
    pub async fn device_config(&self, dev: &DeviceAuth) -> AppResult<DeviceConfig> {
        let db = self.db.reader();
        let nozzles = nozzle::Entity::find()
            .filter(nozzle::Column::StationId.eq(dev.station_id))
            .filter(nozzle::Column::RetiredAtUs.is_null())
            .order_by_asc(nozzle::Column::ActiveNumber)
            .all(db)
            .await?;
        let pumps = pump::Entity::find().filter(pump::Column::StationId.eq(dev.station_id)).all(db).await?;
        let prices =
            station_price::Entity::find().filter(station_price::Column::StationId.eq(dev.station_id)).all(db).await?;
        let states =
            nozzle_state::Entity::find().filter(nozzle_state::Column::StationId.eq(dev.station_id)).all(db).await?;
        let grades = grade::Entity::find().filter(grade::Column::ChainId.eq(dev.chain_id)).all(db).await?;
        let mut out = vec![];
        for n in nozzles {
            let g = grades.iter().find(|g| g.id == n.grade_id).ok_or_else(|| internal("nozzle grade missing"))?;
            let price = prices.iter().find(|p| p.grade_id == n.grade_id);
            out.push(DeviceNozzle {
                nozzle_id: n.id,
                pump_number: pumps.iter().find(|p| p.id == n.pump_id).map_or(0, |p| p.number),
                nozzle_number: n.number,
                grade_id: g.id,
                grade_code: g.code.clone(),
                unit: g.unit.clone(),
                unit_price_fen: price.map(|p| p.list_price_fen),
                price_version: price.map(|p| p.version),
                volume_step: fuel::DEFAULT_VOLUME_STEP,
                totalizer: states.iter().find(|s| s.nozzle_id == n.id).map_or(0, |s| s.totalizer),
            });
        }
        Ok(DeviceConfig { device_id: dev.device_id, station_id: dev.station_id, nozzles: out })
    }

    /// Pending authorisations of the device's station, oldest first.
    pub async fn device_authorisations(&self, dev: &DeviceAuth) -> AppResult<Vec<Authorisation>> {
        let rows = pump_authorisation::Entity::find()
            .filter(pump_authorisation::Column::StationId.eq(dev.station_id))
            .filter(pump_authorisation::Column::Status.eq("pending"))
            .filter(pump_authorisation::Column::ExpiresAtUs.gt(now_us()))
            .order_by_asc(pump_authorisation::Column::Id)
            .all(self.db.reader())
            .await?;
        Ok(rows
            .into_iter()
            .map(|a| Authorisation {
                id: a.id,
                order_id: a.order_id,
                nozzle_id: a.nozzle_id,
                preset_amount_fen: a.preset_amount_fen,
                preset_quantity: a.preset_quantity,
                unit_price_fen: a.unit_price_fen,
                price_version: a.price_version,
                expires_at: instant(a.expires_at_us),
            })
            .collect())
    }

    pub async fn device_nozzle_status(
        &self,
        dev: &DeviceAuth,
        nozzle_id: i64,
        cmd: NozzleStatusReport,
    ) -> AppResult<NozzleStatusView> {
        if !NOZZLE_STATES.contains(&cmd.status.as_str()) {
            return Err(field::unknown_value("status", NOZZLE_STATES).into());
        }
        if let Some(t) = cmd.totalizer {
            field::int_range("totalizer", t, 0, i64::MAX)?;
        }
        let nz = self.device_nozzle(dev, nozzle_id).await?;
        let tx = self.db.begin().await?;
        let s = self.nozzle_state(&tx, &nz).await?;
        let mut am = nozzle_state::ActiveModel {
            id: sea_orm::ActiveValue::Unchanged(s.id),
            status: Set(cmd.status.clone()),
            updated_at_us: Set(now_us()),
            ..Default::default()
        };
        if let Some(t) = cmd.totalizer {
            am.totalizer = Set(t);
        }
        let s = am.update(&tx).await?;
        outbox_event::ActiveModel {
            chain_id: Set(dev.chain_id),
            station_id: Set(Some(dev.station_id)),
            topic: Set("nozzle.status".into()),
            payload: Set(
                serde_json::json!({"nozzle_id": nz.id, "status": s.status, "totalizer": s.totalizer}).to_string()
            ),
            created_at_us: Set(now_us()),
            ..Default::default()
        }
        .insert(&tx)
        .await?;
        tx.commit().await?;
        Ok(NozzleStatusView { nozzle_id, status: s.status, held_order_id: s.held_order_id, totalizer: s.totalizer })
    }

    /// A sale as the pump reports it. See the module documentation.
    pub async fn device_report_sale(
        &self,
        dev: &DeviceAuth,
        cmd: SaleReport,
        idem: Option<&IdemRequest>,
    ) -> AppResult<SaleResult> {
        let mut p = Problems::default();
        let id_ok = !cmd.sale_id.is_empty()
            && cmd.sale_id.len() <= 64
            && cmd.sale_id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.:".contains(&b));
        if !id_ok {
            p.push(field_conflict("sale_id", "格式不正确"));
        }
        p.check(field::int_range("amount_fen", cmd.amount_fen, 0, super::member::MAX_ORDER_FEN));
        p.check(field::int_range("quantity", cmd.quantity, 1, super::member::MAX_ORDER_QUANTITY));
        p.check(field::int_range("unit_price_fen", cmd.unit_price_fen, 1, crate::prices::MAX_UNIT_PRICE_FEN));
        p.check(field::int_range("totalizer", cmd.totalizer, 0, i64::MAX));
        let plate = match cmd.plate.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(s) => p.check(crate::members::validate::plate("plate", s)),
            None => None,
        };
        p.finish()?;
        let nz = self.device_nozzle(dev, cmd.nozzle_id).await?;
        if nz.grade_id != cmd.grade_id {
            return Err(field_conflict("grade_id", "油品与该油枪不符").into());
        }
        let consistent =
            fuel::is_consistent(cmd.amount_fen, cmd.quantity, cmd.unit_price_fen, fuel::DEFAULT_VOLUME_STEP);
        let plate_bidx = plate.as_ref().map(|p| self.keys.blind_index(crate::members::PLATE, p));
        let now = now_us();
        let actor = Actor::device(dev.device_id, format!("device:{}", dev.code), None);

        let tx = self.db.begin().await?;
        let sale = pump_sale::ActiveModel {
            chain_id: Set(dev.chain_id),
            station_id: Set(dev.station_id),
            device_id: Set(dev.device_id),
            device_sale_id: Set(cmd.sale_id.clone()),
            nozzle_id: Set(nz.id),
            grade_id: Set(nz.grade_id),
            tank_id: Set(nz.tank_id),
            amount_fen: Set(cmd.amount_fen),
            quantity: Set(cmd.quantity),
            unit_price_fen: Set(cmd.unit_price_fen),
            totalizer: Set(cmd.totalizer),
            attendant_staff_id: Set(cmd.attendant_staff_id),
            plate_bidx: Set(plate_bidx.clone()),
            authorisation_id: Set(cmd.authorisation_id),
            order_id: Set(None),
            consistent: Set(i32::from(consistent)),
            reported_at_us: Set(now),
            ..Default::default()
        }
        .insert(&tx)
        .await
        .map_err(|e| match StoreError::from(e) {
            StoreError::Duplicate { .. } => {
                AppError::conflict("sale_duplicate", Some("sale_id"), "该笔加油已上报过，不能重复上报")
            }
            other => other.into(),
        })?;

        // Fuel left the tank: book stock goes down now, whatever happens to the money.
        crate::stock::move_stock(&tx, nz.tank_id, dev.station_id, "sale", -cmd.quantity, Some(sale.id)).await?;
        let state = self.nozzle_state(&tx, &nz).await?;
        nozzle_state::Entity::update_many()
            .col_expr(nozzle_state::Column::Totalizer, Expr::value(cmd.totalizer))
            .col_expr(nozzle_state::Column::UpdatedAtUs, Expr::value(now))
            .filter(nozzle_state::Column::Id.eq(state.id))
            .exec(&tx)
            .await?;
        if !consistent {
            raise_alert(
                &tx,
                dev.chain_id,
                Some(dev.station_id),
                "sale_inconsistent",
                "warning",
                None,
                Some(sale.id),
                serde_json::json!({
                    "amount_fen": cmd.amount_fen, "quantity": cmd.quantity, "unit_price_fen": cmd.unit_price_fen,
                    "expected_amount_fen": fuel::amount_for_quantity(cmd.quantity, cmd.unit_price_fen),
                }),
            )
            .await?;
        }

        let authorised = match cmd.authorisation_id {
            Some(a) => self.authorised_order(&tx, dev, a, nz.id).await?,
            None => None,
        };
        let (m, autopay) = match authorised {
            Some(m) => (self.complete_prepaid(&tx, dev, &m, &sale, &actor).await?, None),
            None => {
                let m = self.open_postpay(&tx, dev, &nz, &sale).await?;
                match plate_bidx {
                    Some(bidx) => self.plate_pay(&tx, &m, &bidx, &actor).await?,
                    None => (m, None),
                }
            }
        };
        pump_sale::Entity::update_many()
            .col_expr(pump_sale::Column::OrderId, Expr::value(m.id))
            .filter(pump_sale::Column::Id.eq(sale.id))
            .exec(&tx)
            .await?;
        let result = SaleResult { id: sale.id, order: view_of(&tx, &m).await?, autopay, consistent };
        self.finish_idem(&tx, idem, 201, &result).await?;
        tx.commit().await?;
        self.dispatch_refunds().await;
        Ok(result)
    }

    /// The prepaid order behind authorisation `id`, if it is still pending for this
    /// nozzle; otherwise the sale is treated as a post-pay sale (and an alert says why).
    async fn authorised_order(
        &self,
        tx: &DatabaseTransaction,
        dev: &DeviceAuth,
        id: i64,
        nozzle_id: i64,
    ) -> AppResult<Option<order::Model>> {
        let found = pump_authorisation::Entity::find_by_id(id).one(tx).await?;
        let Some(order_id) = found.filter(|a| a.station_id == dev.station_id).map(|a| a.order_id) else {
            return Err(FieldError::new("authorisation_id", FieldErrorKind::NotFound).into());
        };
        // The order first, then its authorisation: the order every use-case locks in (a
        // cancellation racing this sale must not deadlock).
        let m = lock(tx, order_id).await?;
        let a = pump_authorisation::Entity::find_by_id(id)
            .lock_exclusive()
            .one(tx)
            .await?
            .ok_or_else(|| internal("authorisation vanished"))?;
        if a.status != "pending" || a.nozzle_id != nozzle_id || m.status != OrderStatus::Authorised.as_str() {
            let detail = serde_json::json!({
                "authorisation_id": a.id, "status": a.status, "nozzle_id": nozzle_id, "order_status": m.status,
            });
            raise_alert(
                tx,
                dev.chain_id,
                Some(dev.station_id),
                "authorisation_mismatch",
                "warning",
                Some(a.order_id),
                None,
                detail,
            )
            .await?;
            return Ok(None);
        }
        pump_authorisation::Entity::update_many()
            .col_expr(pump_authorisation::Column::Status, Expr::value("used"))
            .col_expr(pump_authorisation::Column::UpdatedAtUs, Expr::value(now_us()))
            .filter(pump_authorisation::Column::Id.eq(a.id))
            .exec(tx)
            .await?;
        Ok(Some(m))
    }

    /// Completes a prepaid order with what was dispensed; the unused part goes back the
    /// way it was paid (预付退差) in the same transaction.
    async fn complete_prepaid(
        &self,
        tx: &DatabaseTransaction,
        dev: &DeviceAuth,
        m: &order::Model,
        sale: &pump_sale::Model,
        actor: &Actor,
    ) -> AppResult<order::Model> {
        let plan = plan_of(m)?.ok_or_else(|| internal("authorised order without a plan"))?;
        if sale.amount_fen > m.gross_fen {
            raise_alert(
                tx,
                dev.chain_id,
                Some(dev.station_id),
                "prepay_overrun",
                "warning",
                Some(m.id),
                Some(sale.id),
                serde_json::json!({
                    "authorised_fen": m.gross_fen, "dispensed_fen": sale.amount_fen,
                }),
            )
            .await?;
        }
        let coupon_ids: Vec<i64> = plan.coupon_lines.iter().map(|l| l.coupon_id).collect();
        let coupons = if coupon_ids.is_empty() {
            vec![]
        } else {
            coupon::Entity::find()
                .filter(coupon::Column::Id.is_in(coupon_ids))
                .all(tx)
                .await?
                .iter()
                .map(coupon_of)
                .collect::<AppResult<Vec<_>>>()?
        };
        let policy = self.payment_policy(m.chain_id).await?.policy;
        let res = settlement::resettle(&policy, &plan, &coupons, sale.amount_fen, sale.quantity);
        let am = order::ActiveModel {
            pump_sale_id: Set(Some(sale.id)),
            dispensed_quantity: Set(Some(sale.quantity)),
            dispensed_amount_fen: Set(Some(sale.amount_fen)),
            attendant_staff_id: Set(sale.attendant_staff_id),
            plan: Set(Some(serde_json::to_string(&res.new_plan).map_err(|e| internal(e.to_string()))?)),
            gross_fen: Set(res.new_plan.gross_fen),
            discount_fen: Set(res.new_plan.coupon_fen),
            points_used: Set(res.new_plan.points_used),
            points_fen: Set(res.new_plan.points_fen),
            payable_fen: Set(res.new_plan.payable_fen),
            paid_fen: Set(res.new_plan.money_paid_fen()),
            refunded_fen: Set(m.refunded_fen + res.refund_total_fen()),
            ..Default::default()
        };
        let m = transition(tx, m, OrderEvent::SaleReported, am).await?;
        self.refund_lines(tx, &m, &res.refunds, "underfill", "预付退差：实际加油金额少于预付金额", None, 0).await?;
        self.release_instruments(tx, &m, &res.coupons_released, res.points_returned).await?;
        self.release_nozzle(tx, &m).await?;
        let m = self.earn_points(tx, &m, &policy).await?;
        emit(tx, &m, "order.completed").await?;
        self.audit(tx, actor, order_entry(&m, "order.complete")).await?;
        Ok(m)
    }

    /// A sale nobody paid for yet: an open post-pay order at the pump's price.
    async fn open_postpay(
        &self,
        tx: &DatabaseTransaction,
        dev: &DeviceAuth,
        nz: &nozzle::Model,
        sale: &pump_sale::Model,
    ) -> AppResult<order::Model> {
        let price = super::station_price_of(tx, dev.station_id, nz.grade_id).await?;
        if price.as_ref().is_some_and(|p| p.list_price_fen != sale.unit_price_fen) {
            raise_alert(
                tx,
                dev.chain_id,
                Some(dev.station_id),
                "price_mismatch",
                "warning",
                None,
                Some(sale.id),
                serde_json::json!({
                    "pump_price_fen": sale.unit_price_fen, "list_price_fen": price.as_ref().map(|p| p.list_price_fen),
                }),
            )
            .await?;
        }
        let now = now_us();
        let m = order::ActiveModel {
            chain_id: Set(dev.chain_id),
            station_id: Set(Some(dev.station_id)),
            order_no: Set(new_order_no()),
            kind: Set(OrderKind::Postpay.as_str().into()),
            status: Set(OrderStatus::AwaitingPayment.as_str().into()),
            nozzle_id: Set(Some(nz.id)),
            grade_id: Set(Some(nz.grade_id)),
            pump_sale_id: Set(Some(sale.id)),
            price_version: Set(price.as_ref().map(|p| p.version)),
            unit_price_fen: Set(Some(sale.unit_price_fen)),
            price_kind: Set(Some("list".into())),
            gross_fen: Set(sale.amount_fen),
            payable_fen: Set(sale.amount_fen),
            dispensed_quantity: Set(Some(sale.quantity)),
            dispensed_amount_fen: Set(Some(sale.amount_fen)),
            attendant_staff_id: Set(sale.attendant_staff_id),
            ..blank_order(now)
        }
        .insert(tx)
        .await?;
        emit(tx, &m, "order.created").await?;
        Ok(m)
    }

    /// Plate pay v1 (无感支付): the plate's member pays from the balance at the member
    /// price, in a savepoint; any refusal rolls back only the attempt, and the order stays
    /// open for ordinary payment with a notice to the member.
    async fn plate_pay(
        &self,
        tx: &DatabaseTransaction,
        m: &order::Model,
        plate_bidx: &str,
        actor: &Actor,
    ) -> AppResult<(order::Model, Option<String>)> {
        let Some(v) = vehicle::Entity::find()
            .filter(vehicle::Column::ChainId.eq(m.chain_id))
            .filter(vehicle::Column::PlateBidx.eq(plate_bidx))
            .filter(vehicle::Column::DeletedAtUs.is_null())
            .filter(vehicle::Column::AutopayEnabledAtUs.is_not_null())
            .one(tx)
            .await?
        else {
            return Ok((m.clone(), None));
        };
        let policy = self.payment_policy(m.chain_id).await?;
        let sp = tx.begin().await?;
        let attempt: AppResult<order::Model> = async {
            let mut am = order::ActiveModel { member_id: Set(Some(v.member_id)), ..Default::default() };
            let gross = super::member_reprice(&sp, m, &mut am).await?;
            if gross > policy.autopay_max_fen {
                return Err(AppError::conflict("autopay_limit", None, "超过无感支付单笔限额"));
            }
            let w = wallet::lock(&sp, m.chain_id, v.member_id).await?;
            let wallet = Wallet { paid_fen: w.paid_fen, bonus_fen: w.bonus_fen, points: 0 };
            let request = Request {
                gross_fen: gross,
                quantity: m.dispensed_quantity.unwrap_or(0),
                coupons: vec![],
                max_points: Some(0),
                use_balance: true,
                channel: None,
            };
            let plan = settlement::plan(&policy.policy, &wallet, &request)
                .map_err(|s| AppError::conflict(s.code(), None, s.message_zh()))?;
            am.plan = Set(Some(serde_json::to_string(&plan).map_err(|e| internal(e.to_string()))?));
            am.payable_fen = Set(plan.payable_fen);
            let m = save(&sp, m, am).await?;
            self.take_plan(&sp, &m, &plan).await?;
            self.mark_paid(&sp, &m, &policy, actor).await
        }
        .await;
        match attempt {
            Ok(paid) => {
                sp.commit().await?;
                let outcome = if paid.status == OrderStatus::Held.as_str() { "held" } else { "charged" };
                Ok((paid, Some(outcome.into())))
            }
            Err(AppError::Conflict { code, .. }) => {
                sp.rollback().await?;
                tracing::info!(order = m.id, code, "plate pay refused; the sale stays open");
                // The member is told and may pay the open sale in the app.
                let m =
                    save(tx, m, order::ActiveModel { member_id: Set(Some(v.member_id)), ..Default::default() }).await?;
                emit(tx, &m, "order.autopay_failed").await?;
                Ok((m, Some("failed".into())))
            }
            Err(e) => Err(e),
        }
    }

    /// The nozzle `id` if it belongs to the device's station.
    async fn device_nozzle(&self, dev: &DeviceAuth, id: i64) -> AppResult<nozzle::Model> {
        nozzle::Entity::find_by_id(id)
            .one(self.db.reader())
            .await?
            .filter(|n| n.station_id == dev.station_id && n.retired_at_us.is_none())
            .ok_or_else(|| FieldError::new("nozzle_id", FieldErrorKind::NotFound).into())
    }

    /// The nozzle's live-state row, created idle when missing.
    pub(crate) async fn nozzle_state(
        &self,
        tx: &DatabaseTransaction,
        nz: &nozzle::Model,
    ) -> AppResult<nozzle_state::Model> {
        let insert = Query::insert()
            .into_table(nozzle_state::Entity)
            .columns([
                nozzle_state::Column::NozzleId,
                nozzle_state::Column::StationId,
                nozzle_state::Column::Status,
                nozzle_state::Column::Totalizer,
                nozzle_state::Column::UpdatedAtUs,
            ])
            .values_panic([nz.id.into(), nz.station_id.into(), "idle".into(), 0i64.into(), now_us().into()])
            .on_conflict(
                OnConflict::column(nozzle_state::Column::NozzleId)
                    .do_nothing_on([nozzle_state::Column::NozzleId])
                    .to_owned(),
            )
            .to_owned();
        tx.execute(&insert).await?;
        nozzle_state::Entity::find()
            .filter(nozzle_state::Column::NozzleId.eq(nz.id))
            .one(tx)
            .await?
            .ok_or_else(|| internal("nozzle state vanished"))
    }

    /// Holds the order's nozzle until its hold expires: one conditional update, so of
    /// many drivers racing for one nozzle exactly one wins.
    pub(crate) async fn hold_nozzle(&self, tx: &DatabaseTransaction, m: &order::Model) -> AppResult<()> {
        let nozzle_id = m.nozzle_id.ok_or_else(|| internal("holding without a nozzle"))?;
        let now = now_us();
        let r = nozzle_state::Entity::update_many()
            .col_expr(nozzle_state::Column::HeldOrderId, Expr::value(m.id))
            .col_expr(nozzle_state::Column::HoldExpiresAtUs, Expr::value(m.hold_expires_at_us))
            .col_expr(nozzle_state::Column::UpdatedAtUs, Expr::value(now))
            .filter(nozzle_state::Column::NozzleId.eq(nozzle_id))
            .filter(nozzle_state::Column::Status.ne("fuelling"))
            .filter(
                sea_orm::Condition::any()
                    .add(nozzle_state::Column::HeldOrderId.is_null())
                    .add(nozzle_state::Column::HoldExpiresAtUs.lt(now)),
            )
            .exec(tx)
            .await?;
        if r.rows_affected != 1 {
            return Err(AppError::conflict(
                "nozzle_held",
                Some("nozzle_id"),
                "该油枪已被其他车主锁定或正在加油，请选择其他油枪",
            ));
        }
        Ok(())
    }

    pub(crate) async fn release_nozzle(&self, tx: &DatabaseTransaction, m: &order::Model) -> AppResult<()> {
        if let Some(n) = m.nozzle_id {
            nozzle_state::Entity::update_many()
                .col_expr(nozzle_state::Column::HeldOrderId, Expr::value(Option::<i64>::None))
                .col_expr(nozzle_state::Column::HoldExpiresAtUs, Expr::value(Option::<i64>::None))
                .filter(nozzle_state::Column::NozzleId.eq(n))
                .filter(nozzle_state::Column::HeldOrderId.eq(m.id))
                .exec(tx)
                .await?;
        }
        Ok(())
    }

    pub(crate) async fn nozzle_busy(&self, tx: &DatabaseTransaction, m: &order::Model) -> AppResult<bool> {
        let Some(n) = m.nozzle_id else { return Ok(false) };
        Ok(nozzle_state::Entity::find()
            .filter(nozzle_state::Column::NozzleId.eq(n))
            .one(tx)
            .await?
            .is_some_and(|s| s.status == "fuelling" || s.status == "lifted"))
    }

    /// The paid prepayment's authorisation for the pump, valid for the policy's payment
    /// window; the nozzle stays held as long.
    pub(crate) async fn authorise_pump(
        &self,
        tx: &DatabaseTransaction,
        m: &order::Model,
        policy: &crate::marketing::PaymentPolicyView,
    ) -> AppResult<()> {
        let now = now_us();
        let expires = now + policy.pay_window_seconds * 1_000_000;
        pump_authorisation::ActiveModel {
            chain_id: Set(m.chain_id),
            station_id: Set(m.station_id.ok_or_else(|| internal("prepay without station"))?),
            nozzle_id: Set(m.nozzle_id.ok_or_else(|| internal("prepay without nozzle"))?),
            order_id: Set(m.id),
            preset_amount_fen: Set(m.requested_amount_fen),
            preset_quantity: Set(if m.requested_amount_fen.is_none() { m.requested_quantity } else { None }),
            unit_price_fen: Set(m.unit_price_fen.unwrap_or(0)),
            price_version: Set(m.price_version.unwrap_or(0)),
            status: Set("pending".into()),
            expires_at_us: Set(expires),
            created_at_us: Set(now),
            updated_at_us: Set(now),
            ..Default::default()
        }
        .insert(tx)
        .await?;
        let m =
            save(tx, m, order::ActiveModel { hold_expires_at_us: Set(Some(expires)), ..Default::default() }).await?;
        if let Some(n) = m.nozzle_id {
            nozzle_state::Entity::update_many()
                .col_expr(nozzle_state::Column::HoldExpiresAtUs, Expr::value(expires))
                .filter(nozzle_state::Column::NozzleId.eq(n))
                .filter(nozzle_state::Column::HeldOrderId.eq(m.id))
                .exec(tx)
                .await?;
        }
        Ok(())
    }

    /// The nozzle's open (unpaid) post-pay sale, newest first.
    pub(crate) async fn open_sale(&self, tx: &DatabaseTransaction, nozzle_id: i64) -> AppResult<Option<order::Model>> {
        Ok(order::Entity::find()
            .filter(order::Column::NozzleId.eq(nozzle_id))
            .filter(order::Column::Kind.eq(OrderKind::Postpay.as_str()))
            .filter(order::Column::Status.eq(OrderStatus::AwaitingPayment.as_str()))
            .order_by_desc(order::Column::Id)
            .one(tx)
            .await?)
    }
}

/// An abnormal-order alert (B3 grows this list). No personal data in `detail`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn raise_alert(
    tx: &DatabaseTransaction,
    chain_id: i64,
    station_id: Option<i64>,
    kind: &str,
    severity: &str,
    order_id: Option<i64>,
    pump_sale_id: Option<i64>,
    detail: serde_json::Value,
) -> AppResult<()> {
    let a = alert::ActiveModel {
        chain_id: Set(chain_id),
        station_id: Set(station_id),
        kind: Set(kind.to_owned()),
        severity: Set(severity.to_owned()),
        order_id: Set(order_id),
        pump_sale_id: Set(pump_sale_id),
        detail: Set(detail.to_string()),
        status: Set("open".into()),
        created_at_us: Set(now_us()),
        ..Default::default()
    }
    .insert(tx)
    .await?;
    outbox_event::ActiveModel {
        chain_id: Set(chain_id),
        station_id: Set(station_id),
        order_id: Set(order_id),
        topic: Set("alert.raised".into()),
        payload: Set(serde_json::json!({"alert_id": a.id, "kind": kind}).to_string()),
        created_at_us: Set(now_us()),
        ..Default::default()
    }
    .insert(tx)
    .await?;
    Ok(())
}
