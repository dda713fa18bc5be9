//! Abnormal-order alerts (B3): the scan that raises them, and staff acknowledging and
//! resolving them. Sales raise their own at once (an inconsistent sale, an overrun, a
//! price or authorisation mismatch, a risk hold); this scan finds what only time shows:
//! a payment left unanswered, a nozzle stuck in fuelling, a run of refunds at a
//! station, a payment taken twice for one order, an unusually large amount.

use std::sync::atomic::{AtomicI64, Ordering};

use jiayou_domain::access::{Permission, Target};
use jiayou_store::entity::{alert, nozzle_state, order, payment, refund};
use jiayou_store::now_us;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::chains::instant;
use crate::error::field_conflict;
use crate::orders::staff::AlertView;
use crate::{App, AppError, AppResult, Caller};

/// A channel payment unanswered this long is worth a look (the settle job keeps asking).
pub const PAYMENT_TIMEOUT_US: i64 = 10 * 60 * 1_000_000;
/// A nozzle reported fuelling for this long without news.
pub const NOZZLE_STUCK_US: i64 = 20 * 60 * 1_000_000;
/// This many refunds at one station within [`REFUND_SPIKE_WINDOW_US`].
pub const REFUND_SPIKE_COUNT: u64 = 5;
pub const REFUND_SPIKE_WINDOW_US: i64 = 60 * 60 * 1_000_000;
/// One order paying at least this much (¥2,000) is reported.
pub const LARGE_AMOUNT_FEN: i64 = 200_000;
/// The scan runs at most this often per server.
const SCAN_EVERY_US: i64 = 30 * 1_000_000;

static LAST_SCAN_US: AtomicI64 = AtomicI64::new(0);

/// What staff write when resolving (0–200 characters).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertResolution {
    #[serde(default)]
    pub note: String,
}

impl App {
    /// Marks an open alert as seen by the caller (`alert.handle` at its station).
    pub async fn acknowledge_alert(&self, caller: &Caller, id: i64) -> AppResult<AlertView> {
        self.move_alert(caller, id, &["open"], "acknowledged", None).await
    }

    /// Closes an open or acknowledged alert, with an optional note.
    pub async fn resolve_alert(&self, caller: &Caller, id: i64, cmd: AlertResolution) -> AppResult<AlertView> {
        if cmd.note.chars().count() > 200 {
            return Err(field_conflict("note", "备注最多 200 个字").into());
        }
        self.move_alert(caller, id, &["open", "acknowledged"], "resolved", Some(cmd.note)).await
    }

    async fn move_alert(
        &self,
        caller: &Caller,
        id: i64,
        from: &[&str],
        to: &str,
        note: Option<String>,
    ) -> AppResult<AlertView> {
        caller.require_somewhere(Permission::AlertHandle)?;
        let a =
            alert::Entity::find_by_id(id).one(self.db.reader()).await?.ok_or(AppError::NotFound { entity: "alert" })?;
        let target = match a.station_id {
            Some(s) => Target::Station { chain_id: a.chain_id, station_id: s },
            None => Target::Chain(a.chain_id),
        };
        caller.require(Permission::AlertHandle, target)?;
        let now = now_us();
        let tx = self.db.begin().await?;
        let mut q = alert::Entity::update_many()
            .col_expr(alert::Column::Status, Expr::value(to))
            .filter(alert::Column::Id.eq(id))
            .filter(alert::Column::Status.is_in(from.iter().copied()));
        if to == "acknowledged" || a.acknowledged_by.is_none() {
            q = q
                .col_expr(alert::Column::AcknowledgedBy, Expr::value(caller.staff_id()))
                .col_expr(alert::Column::AcknowledgedAtUs, Expr::value(now));
        }
        if to == "resolved" {
            q = q.col_expr(alert::Column::ResolvedAtUs, Expr::value(now));
        }
        if q.exec(&tx).await?.rows_affected != 1 {
            return Err(AppError::conflict("alert_state", None, format!("告警当前状态为 {}，不能改为 {to}", a.status)));
        }
        let entry = match a.station_id {
            Some(s) => crate::audit::AuditEntry::station(a.chain_id, s, format!("alert.{to}"), "alert"),
            None => crate::audit::AuditEntry::chain(a.chain_id, format!("alert.{to}"), "alert"),
        }
        .target(id)
        .after(serde_json::json!({"kind": a.kind, "status": to, "note": note}));
        self.commit_audited(tx, caller, entry).await?;
        let a =
            alert::Entity::find_by_id(id).one(self.db.writer()).await?.ok_or(AppError::NotFound { entity: "alert" })?;
        Ok(view(a))
    }

    /// Finds what only time shows and raises one alert per finding (never twice for the
    /// same order, nozzle stint or spike hour). At most every 30 s per server unless
    /// `force`; returns how many were raised.
    pub async fn scan_alerts(&self, now: i64, force: bool) -> AppResult<u32> {
        let last = LAST_SCAN_US.load(Ordering::Relaxed);
        if !force && now - last < SCAN_EVERY_US {
            return Ok(0);
        }
        LAST_SCAN_US.store(now, Ordering::Relaxed);
        let db = self.db.writer();
        let mut raised = 0;
        // 1. Channel payments unanswered too long.
        let slow = payment::Entity::find()
            .filter(payment::Column::Status.eq("pending"))
            .filter(payment::Column::CreatedAtUs.lte(now - PAYMENT_TIMEOUT_US))
            .limit(200)
            .all(db)
            .await?;
        for p in slow {
            let o = order::Entity::find_by_id(p.order_id).one(db).await?;
            let station = o.and_then(|o| o.station_id);
            let detail = serde_json::json!({"out_trade_no": p.out_trade_no, "channel": p.channel,
                "amount_fen": p.amount_fen, "waiting_s": (now - p.created_at_us) / 1_000_000});
            raised += self.raise_once(p.chain_id, station, "payment_timeout", Some(p.order_id), None, detail).await?;
        }
        // 2. Two successful payments for one order.
        let settled = payment::Entity::find()
            .filter(payment::Column::Status.eq("succeeded"))
            .filter(payment::Column::SettledAtUs.gte(now - 24 * 3_600_000_000))
            .all(db)
            .await?;
        let mut per_order: std::collections::BTreeMap<i64, i64> = Default::default();
        for p in &settled {
            *per_order.entry(p.order_id).or_default() += 1;
        }
        let doubled = per_order.into_iter().filter(|(_, n)| *n > 1);
        for (order_id, n) in doubled {
            if let Some(o) = order::Entity::find_by_id(order_id).one(db).await? {
                let detail = serde_json::json!({"order_no": o.order_no, "payments": n});
                raised +=
                    self.raise_once(o.chain_id, o.station_id, "duplicate_payment", Some(o.id), None, detail).await?;
            }
        }
        // 3. Large amounts paid lately.
        let large = order::Entity::find()
            .filter(order::Column::PaidFen.gte(LARGE_AMOUNT_FEN))
            .filter(order::Column::PaidAtUs.gte(now - 24 * 3_600_000_000))
            .limit(200)
            .all(db)
            .await?;
        for o in large {
            let detail =
                serde_json::json!({"order_no": o.order_no, "paid_fen": o.paid_fen, "threshold_fen": LARGE_AMOUNT_FEN});
            raised += self.raise_once(o.chain_id, o.station_id, "large_amount", Some(o.id), None, detail).await?;
        }
        // 4. Nozzles fuelling for too long.
        let stuck = nozzle_state::Entity::find()
            .filter(nozzle_state::Column::Status.eq("fuelling"))
            .filter(nozzle_state::Column::UpdatedAtUs.lte(now - NOZZLE_STUCK_US))
            .all(db)
            .await?;
        for n in stuck {
            let Some(chain_id) = self.chain_of_station(db, n.station_id).await? else { continue };
            // One alert per stint: the stint is named by when the nozzle last reported.
            let detail = serde_json::json!({"nozzle_id": n.nozzle_id, "since_us": n.updated_at_us});
            raised += self.raise_once(chain_id, Some(n.station_id), "nozzle_stuck", None, None, detail).await?;
        }
        // 5. Refund spikes per station, one alert per station and hour window.
        let recent = refund::Entity::find()
            .filter(refund::Column::CreatedAtUs.gte(now - REFUND_SPIKE_WINDOW_US))
            .all(db)
            .await?;
        let orders =
            order::Entity::find().filter(order::Column::Id.is_in(recent.iter().map(|r| r.order_id))).all(db).await?;
        let mut per_station: std::collections::BTreeMap<(i64, Option<i64>), u64> = Default::default();
        for r in &recent {
            let station = orders.iter().find(|o| o.id == r.order_id).and_then(|o| o.station_id);
            *per_station.entry((r.chain_id, station)).or_default() += 1;
        }
        for ((chain_id, station_id), n) in per_station.into_iter().filter(|(_, n)| *n >= REFUND_SPIKE_COUNT) {
            let hour = now / REFUND_SPIKE_WINDOW_US;
            let detail =
                serde_json::json!({"refunds": n, "window_minutes": REFUND_SPIKE_WINDOW_US / 60_000_000, "hour": hour});
            raised += self.raise_once(chain_id, station_id, "refund_spike", None, None, detail).await?;
        }
        Ok(raised)
    }

    async fn chain_of_station(&self, db: &impl ConnectionTrait, station_id: i64) -> AppResult<Option<i64>> {
        Ok(jiayou_store::entity::station::Entity::find_by_id(station_id).one(db).await?.map(|s| s.chain_id))
    }

    /// Raises `kind` unless the same alert (kind, order, station and detail) exists.
    #[allow(clippy::too_many_arguments)]
    async fn raise_once(
        &self,
        chain_id: i64,
        station_id: Option<i64>,
        kind: &str,
        order_id: Option<i64>,
        pump_sale_id: Option<i64>,
        detail: serde_json::Value,
    ) -> AppResult<u32> {
        let tx = self.db.begin().await?;
        let mut same =
            alert::Entity::find().filter(alert::Column::ChainId.eq(chain_id)).filter(alert::Column::Kind.eq(kind));
        same = match order_id {
            Some(o) => same.filter(alert::Column::OrderId.eq(o)),
            None => same.filter(alert::Column::Detail.eq(detail.to_string())).filter(match station_id {
                Some(s) => Condition::all().add(alert::Column::StationId.eq(s)),
                None => Condition::all().add(alert::Column::StationId.is_null()),
            }),
        };
        if same.count(&tx).await? > 0 {
            return Ok(0);
        }
        crate::orders::device::raise_alert(&tx, chain_id, station_id, kind, "warning", order_id, pump_sale_id, detail)
            .await?;
        tx.commit().await?;
        Ok(1)
    }
}

pub(crate) fn view(a: alert::Model) -> AlertView {
    AlertView {
        id: a.id,
        station_id: a.station_id,
        kind: a.kind,
        severity: a.severity,
        order_id: a.order_id,
        pump_sale_id: a.pump_sale_id,
        detail: serde_json::from_str(&a.detail).unwrap_or_default(),
        status: a.status,
        created_at: instant(a.created_at_us),
    }
}
