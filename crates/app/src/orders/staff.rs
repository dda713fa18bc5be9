//! Orders as staff see them: search, detail, receipt, refunds (full or partial), the
//! ledger check and the alerts raised on the money path.
//!
//! Who sees what: `sales.read` shows every order of the stations where it is held;
//! `sales.read_own` (attendants) shows only orders of the nozzles assigned to oneself.

use jiayou_domain::access::{Access, Permission, Target, Visible};
use jiayou_domain::order::{OrderEvent, OrderStatus};
use jiayou_domain::settlement::{self, TenderPart};
use jiayou_domain::{Fen, field};
use jiayou_store::entity::{alert, order, refund, station};
use sea_orm::{ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::settle::order_entry;
use super::{OrderView, lock, parse_status, plan_of, view_of};
use crate::chains::instant;
use crate::error::{Problems, field_conflict};
use crate::idempotency::IdemRequest;
use crate::paging::Page;
use crate::wallet::LedgerCheck;
use crate::{App, AppError, AppResult, Caller};

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderFilter {
    pub chain_id: i64,
    pub station_id: Option<i64>,
    /// awaiting_payment, authorised, completed, cancelled, expired, refunded.
    pub status: Option<String>,
    pub nozzle_id: Option<i64>,
    pub member_id: Option<i64>,
    pub page: Option<u64>,
    pub per_page: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundCommand {
    /// Fen to give back; absent = everything still refundable.
    pub amount_fen: Option<i64>,
    /// Why (shown to the driver and in the audit trail), 1–200 characters.
    pub reason: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RefundView {
    pub id: i64,
    pub order_id: i64,
    pub out_refund_no: String,
    pub amount_fen: i64,
    pub kind: String,
    /// pending (the channel part is on its way) or succeeded.
    pub status: String,
    pub lines: Vec<TenderPart>,
    pub points_reversed: i64,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<refund::Model> for RefundView {
    fn from(r: refund::Model) -> Self {
        RefundView {
            id: r.id,
            order_id: r.order_id,
            out_refund_no: r.out_refund_no,
            amount_fen: r.amount_fen,
            kind: r.kind,
            status: r.status,
            lines: serde_json::from_str(&r.lines).unwrap_or_default(),
            points_reversed: r.points_reversed,
            created_at: instant(r.created_at_us),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AlertView {
    pub id: i64,
    pub station_id: Option<i64>,
    pub kind: String,
    pub severity: String,
    pub order_id: Option<i64>,
    pub pump_sale_id: Option<i64>,
    pub detail: serde_json::Value,
    pub status: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl App {
    /// Orders of a chain, newest first, limited to what the caller may see.
    pub async fn search_orders(&self, caller: &Caller, f: &OrderFilter) -> AppResult<Page<OrderView>> {
        let mut q = order::Entity::find().filter(order::Column::ChainId.eq(f.chain_id));
        match caller.visible(Permission::SalesRead, f.chain_id) {
            Visible::All => {}
            Visible::Only(stations) if !stations.is_empty() => q = q.filter(order::Column::StationId.is_in(stations)),
            Visible::Only(_) => {
                // Attendants: their own nozzles only (sales.read_own).
                let nozzles = match &caller.access {
                    Access::Staff { nozzles, .. }
                        if caller.access.holds_anywhere(Permission::SalesReadOwn, f.chain_id) =>
                    {
                        nozzles.clone()
                    }
                    _ => return Err(AppError::Forbidden { permission: Permission::SalesRead }),
                };
                q = q.filter(order::Column::NozzleId.is_in(nozzles));
            }
        }
        if let Some(s) = f.station_id {
            q = q.filter(order::Column::StationId.eq(s));
        }
        if let Some(s) = &f.status {
            if OrderStatus::parse(s).is_none() {
                return Err(field::unknown_value("status", OrderStatus::NAMES).into());
            }
            q = q.filter(order::Column::Status.eq(s.as_str()));
        }
        if let Some(n) = f.nozzle_id {
            q = q.filter(order::Column::NozzleId.eq(n));
        }
        if let Some(m) = f.member_id {
            q = q.filter(order::Column::MemberId.eq(m));
        }
        let per_page = f.per_page.unwrap_or(20).clamp(1, 200);
        let page = f.page.unwrap_or(1).max(1);
        let pages = q.order_by_desc(order::Column::Id).paginate(self.db.reader(), per_page);
        let total = pages.num_items().await?;
        let items = super::views_of(self.db.reader(), &pages.fetch_page(page - 1).await?).await?;
        Ok(Page { items, page, per_page, total })
    }

    /// One order, if the caller may see it.
    pub async fn staff_order(&self, caller: &Caller, id: i64) -> AppResult<OrderView> {
        let m = self.visible_order(caller, id).await?;
        view_of(self.db.reader(), &m).await
    }

    async fn visible_order(&self, caller: &Caller, id: i64) -> AppResult<order::Model> {
        let m =
            order::Entity::find_by_id(id).one(self.db.reader()).await?.ok_or(AppError::NotFound { entity: "order" })?;
        let target = order_target(&m);
        if caller.require(Permission::SalesRead, target).is_ok() {
            return Ok(m);
        }
        if let Access::Staff { nozzles, .. } = &caller.access
            && caller.require(Permission::SalesReadOwn, target).is_ok()
            && m.nozzle_id.is_some_and(|n| nozzles.contains(&n))
        {
            return Ok(m);
        }
        Err(AppError::NotFound { entity: "order" })
    }

    /// A plain-text receipt (小票) for the counter printer, zh-CN.
    pub async fn receipt(&self, caller: &Caller, id: i64) -> AppResult<String> {
        let m = self.visible_order(caller, id).await?;
        let v = view_of(self.db.reader(), &m).await?;
        let st = match m.station_id {
            Some(s) => station::Entity::find_by_id(s).one(self.db.reader()).await?,
            None => None,
        };
        let mut r = String::new();
        let line = "--------------------------------\n";
        r += &format!("{}\n", st.as_ref().map_or("加油站", |s| s.name.as_str()));
        r += line;
        r += &format!(
            "单号: {}\n时间: {}\n",
            v.order_no,
            v.created_at.with_timezone(&chrono_tz::Asia::Shanghai).format("%Y-%m-%d %H:%M:%S")
        );
        if let (Some(q), Some(price)) = (v.dispensed_quantity, v.unit_price_fen) {
            r += &format!(
                "油枪: {}  数量: {}.{:03}\n单价: {}\n",
                v.nozzle_id.unwrap_or(0),
                q / 1000,
                q % 1000,
                Fen(price)
            );
        }
        for it in v.items.iter().flatten() {
            r += &format!("{} x{}  {}\n", it.name, it.count, Fen(it.unit_price_fen * it.count));
        }
        r += &format!("金额: {}\n", Fen(v.gross_fen));
        if v.discount_fen > 0 {
            r += &format!("优惠券: -{}\n", Fen(v.discount_fen));
        }
        if v.points_fen > 0 {
            r += &format!("积分抵扣: -{} ({}分)\n", Fen(v.points_fen), v.points_used);
        }
        for t in v.plan.iter().flat_map(|p| p.tenders.iter()) {
            r += &format!("{}: {}\n", t.tender.label_zh(), Fen(t.fen));
        }
        let payments = jiayou_store::entity::payment::Entity::find()
            .filter(jiayou_store::entity::payment::Column::OrderId.eq(m.id))
            .all(self.db.reader())
            .await?;
        for p in payments.iter().filter(|p| p.method == "cash") {
            if let Some(received) = p.received_fen {
                r += &format!("实收: {}  找零: {}\n", Fen(received), Fen(received - p.amount_fen));
            }
        }
        if v.refunded_fen > 0 {
            r += &format!("已退款: {}\n", Fen(v.refunded_fen));
        }
        if v.points_earned > 0 {
            r += &format!("本次积分: +{}\n", v.points_earned);
        }
        r += line;
        r += &format!("状态: {}\n谢谢惠顾，一路平安！\n", v.status_message);
        Ok(r)
    }

    /// Refunds a completed order fully or partly (permission `sales.refund`): money goes
    /// back the way it came (last-applied tender first), earned points are reversed in
    /// proportion, coupons come back on a full refund; stock is not touched (the fuel is
    /// gone).
    pub async fn refund_order(
        &self,
        caller: &Caller,
        id: i64,
        cmd: RefundCommand,
        idem: Option<&IdemRequest>,
    ) -> AppResult<RefundView> {
        caller.require_somewhere(Permission::SalesRefund)?;
        let o =
            order::Entity::find_by_id(id).one(self.db.reader()).await?.ok_or(AppError::NotFound { entity: "order" })?;
        caller.require(Permission::SalesRefund, order_target(&o))?;
        let mut p = Problems::default();
        p.check(field::text("reason", &cmd.reason, 200));
        if let Some(a) = cmd.amount_fen {
            p.check(field::int_range("amount_fen", a, 1, i64::MAX));
        }
        p.finish()?;
        let tx = self.db.begin().await?;
        let m = lock(&tx, id).await?;
        let (_, status) = parse_status(&m)?;
        status
            .apply(OrderEvent::Refund { full: false })
            .map_err(|e| AppError::conflict(e.code(), None, e.message_zh()))?;
        if m.kind == "topup" {
            return Err(AppError::conflict("order_not_refundable", None, "充值订单请走余额退款流程"));
        }
        let plan = plan_of(&m)?.ok_or_else(|| crate::error::internal("completed order without a plan"))?;
        let earlier = refund::Entity::find().filter(refund::Column::OrderId.eq(m.id)).all(&tx).await?;
        let already: Vec<TenderPart> = earlier
            .iter()
            .flat_map(|r| serde_json::from_str::<Vec<TenderPart>>(&r.lines).unwrap_or_default())
            .collect();
        let refundable = settlement::refundable_fen(&plan.tenders, &already);
        let amount = cmd.amount_fen.unwrap_or(refundable);
        let lines = settlement::allocate_refund(&plan.tenders, &already, amount).map_err(|e| match e {
            settlement::RefundError::TooLarge { refundable_fen } => AppError::Invalid(vec![field_conflict(
                "amount_fen",
                format!("退款金额超过可退金额 {}", Fen(refundable_fen)),
            )]),
            other => AppError::Invalid(vec![field_conflict("amount_fen", other.message_zh())]),
        })?;
        let refunded_after: Vec<TenderPart> = already.iter().chain(lines.iter()).copied().collect();
        let reverse_total = settlement::points_to_reverse(
            m.points_earned,
            plan.money_paid_fen(),
            settlement::points_base_fen(&refunded_after),
        );
        let reversed_before: i64 = earlier.iter().map(|r| r.points_reversed).sum();
        let points_reversed = (reverse_total - reversed_before).max(0);
        let r = self
            .refund_lines(&tx, &m, &lines, "staff", &cmd.reason, caller.staff_id(), points_reversed)
            .await?
            .ok_or_else(|| crate::error::internal("refund with nothing to give back"))?;
        let full = settlement::refundable_fen(&plan.tenders, &refunded_after) == 0;
        if full {
            let coupons: Vec<i64> = plan.coupon_lines.iter().map(|l| l.coupon_id).collect();
            self.release_instruments(&tx, &m, &coupons, plan.points_used).await?;
        }
        let am = order::ActiveModel { refunded_fen: sea_orm::Set(m.refunded_fen + amount), ..Default::default() };
        let m = super::transition(&tx, &m, OrderEvent::Refund { full }, am).await?;
        super::emit(&tx, &m, "order.refunded").await?;
        let view = RefundView::from(r);
        self.finish_idem(&tx, idem, 201, &view).await?;
        self.audit(
            &tx,
            &caller.actor(),
            order_entry(&m, "order.refund").before(serde_json::json!({"refund_fen": amount, "reason": cmd.reason})),
        )
        .await?;
        tx.commit().await?;
        self.dispatch_refunds().await;
        let fresh = refund::Entity::find_by_id(view.id).one(self.db.writer()).await?.map(RefundView::from);
        Ok(fresh.unwrap_or(view))
    }

    /// Refunds of an order, oldest first.
    pub async fn order_refunds(&self, caller: &Caller, id: i64) -> AppResult<Vec<RefundView>> {
        let m = self.visible_order(caller, id).await?;
        Ok(refund::Entity::find()
            .filter(refund::Column::OrderId.eq(m.id))
            .order_by_asc(refund::Column::Id)
            .all(self.db.reader())
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Wallets against the ledger (money-path rule 2), for finance and admins.
    pub async fn ledger_check_as(&self, caller: &Caller, chain_id: i64) -> AppResult<LedgerCheck> {
        caller.require(Permission::SalesRead, Target::Chain(chain_id))?;
        self.check_ledger(chain_id).await
    }

    /// Open alerts of the stations the caller may see, newest first.
    pub async fn alerts(&self, caller: &Caller, chain_id: i64) -> AppResult<Vec<AlertView>> {
        let mut q = alert::Entity::find().filter(alert::Column::ChainId.eq(chain_id));
        match caller.visible(Permission::SalesRead, chain_id) {
            Visible::All => {}
            Visible::Only(ids) => {
                q = q.filter(Condition::any().add(alert::Column::StationId.is_in(ids)));
            }
        }
        Ok(q.order_by_desc(alert::Column::Id)
            .paginate(self.db.reader(), 200)
            .fetch_page(0)
            .await?
            .into_iter()
            .map(|a| AlertView {
                id: a.id,
                station_id: a.station_id,
                kind: a.kind,
                severity: a.severity,
                order_id: a.order_id,
                pump_sale_id: a.pump_sale_id,
                detail: serde_json::from_str(&a.detail).unwrap_or_default(),
                status: a.status,
                created_at: instant(a.created_at_us),
            })
            .collect())
    }
}

/// The permission target of an order: its station, or the chain for top-ups.
fn order_target(m: &order::Model) -> Target {
    match m.station_id {
        Some(s) => Target::Station { chain_id: m.chain_id, station_id: s },
        None => Target::Chain(m.chain_id),
    }
}
