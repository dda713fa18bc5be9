//! The counter (收银台, B10): the cashier takes payment for a pump's open sale or for store
//! goods, by cash, bank card on an external terminal (recorded with its reference), the
//! driver's payment code (through the channel), or a member's balance; then prints a
//! receipt.

use jiayou_domain::access::Permission;
use jiayou_domain::order::{OrderEvent, OrderKind, OrderStatus};
use jiayou_domain::settlement::{Plan, Tender, TenderPart, split_balance};
use jiayou_domain::{FieldError, FieldErrorKind, field};
use jiayou_integrations::pay::Payer;
use jiayou_store::entity::{member, nozzle, order, payment};
use jiayou_store::now_us;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{GoodsItem, OrderView, lock, new_order_no, parse_status, save, view_of};
use crate::error::{Problems, field_conflict, internal};
use crate::idempotency::IdemRequest;
use crate::orders::member::{MAX_ORDER_FEN, blank_order};
use crate::{App, AppError, AppResult, Caller, wallet};

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CounterSale {
    pub station_id: i64,
    /// Take the open sale of this nozzle (number painted on it) …
    pub nozzle_number: Option<i32>,
    /// … or sell these store goods.
    pub items: Option<Vec<GoodsItem>>,
}

/// One way the customer pays at the counter. The amounts must add up to the payable.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
pub enum CounterTender {
    /// `received_fen` handed over; the change is `received − amount`.
    Cash { amount_fen: i64, received_fen: i64 },
    /// Paid on the bank's terminal; `reference` is its voucher number.
    Card { amount_fen: i64, reference: String },
    /// The driver's WeChat/Alipay payment code (付款码), scanned by the cashier. Must be
    /// the only tender.
    PaymentCode { amount_fen: i64, auth_code: String },
    /// The member's stored balance.
    Balance { amount_fen: i64, member_id: i64 },
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Collect {
    pub tenders: Vec<CounterTender>,
}

impl App {
    /// Opens the counter sale: the nozzle's open sale, or a new order for store goods.
    pub async fn counter_sale(
        &self,
        caller: &Caller,
        cmd: CounterSale,
        idem: Option<&IdemRequest>,
    ) -> AppResult<OrderView> {
        let st = self.authorize_station(caller, Permission::SalesCollect, cmd.station_id).await?;
        let tx = self.db.begin().await?;
        let m = match (cmd.nozzle_number, cmd.items) {
            (Some(n), None) => {
                let nz = nozzle::Entity::find()
                    .filter(nozzle::Column::StationId.eq(st.id))
                    .filter(nozzle::Column::ActiveNumber.eq(n))
                    .one(&tx)
                    .await?
                    .ok_or_else(|| FieldError::new("nozzle_number", FieldErrorKind::NotFound))?;
                self.open_sale(&tx, nz.id).await?.ok_or_else(|| {
                    AppError::conflict("no_open_sale", Some("nozzle_number"), "该油枪没有待支付的加油记录")
                })?
            }
            (None, Some(items)) => {
                let mut p = Problems::default();
                if items.is_empty() || items.len() > 50 {
                    p.push(field_conflict("items", "超出允许范围"));
                }
                let mut gross = 0i64;
                for it in &items {
                    p.check(field::text("items.name", &it.name, 40));
                    p.check(field::int_range("items.unit_price_fen", it.unit_price_fen, 1, 1_000_000));
                    p.check(field::int_range("items.count", it.count, 1, 999));
                    gross = gross.saturating_add(it.unit_price_fen.saturating_mul(it.count));
                }
                if gross > MAX_ORDER_FEN {
                    p.push(field_conflict("items", "超出允许范围"));
                }
                p.finish()?;
                let now = now_us();
                order::ActiveModel {
                    chain_id: Set(st.chain_id),
                    station_id: Set(Some(st.id)),
                    order_no: Set(new_order_no()),
                    kind: Set(OrderKind::Counter.as_str().into()),
                    status: Set(OrderStatus::AwaitingPayment.as_str().into()),
                    gross_fen: Set(gross),
                    payable_fen: Set(gross),
                    items: Set(Some(serde_json::to_string(&items).map_err(|e| internal(e.to_string()))?)),
                    cashier_staff_id: Set(caller.staff_id()),
                    ..blank_order(now)
                }
                .insert(&tx)
                .await?
            }
            _ => {
                return Err(field_conflict("nozzle_number", "请选择油枪或录入商品（二选一）").into());
            }
        };
        let v = view_of(&tx, &m).await?;
        self.finish_idem(&tx, idem, 200, &v).await?;
        tx.commit().await?;
        Ok(v)
    }

    /// Takes payment for an open order at the counter.
    pub async fn counter_collect(
        &self,
        caller: &Caller,
        order_id: i64,
        cmd: Collect,
        idem: Option<&IdemRequest>,
    ) -> AppResult<OrderView> {
        caller.require_somewhere(Permission::SalesCollect)?;
        let o = order::Entity::find_by_id(order_id)
            .one(self.db.reader())
            .await?
            .ok_or(AppError::NotFound { entity: "order" })?;
        let station_id = o.station_id.ok_or(AppError::NotFound { entity: "order" })?;
        self.authorize_station(caller, Permission::SalesCollect, station_id).await?;
        let mut p = Problems::default();
        if cmd.tenders.is_empty() || cmd.tenders.len() > 4 {
            p.push(field_conflict("tenders", "超出允许范围"));
        }
        let mut total = 0i64;
        let mut code = None;
        let mut balance: Option<(i64, i64)> = None;
        let mut cash_received = None;
        let mut reference = None;
        for t in &cmd.tenders {
            match t {
                CounterTender::Cash { amount_fen, received_fen } => {
                    p.check(field::int_range("tenders.amount_fen", *amount_fen, 1, MAX_ORDER_FEN));
                    if received_fen < amount_fen {
                        p.push(field_conflict("tenders.received_fen", "实收金额不能少于应收金额"));
                    }
                    cash_received = Some(*received_fen);
                    total += amount_fen;
                }
                CounterTender::Card { amount_fen, reference: r } => {
                    p.check(field::int_range("tenders.amount_fen", *amount_fen, 1, MAX_ORDER_FEN));
                    p.check(field::text("tenders.reference", r, 64));
                    reference = Some(r.clone());
                    total += amount_fen;
                }
                CounterTender::PaymentCode { amount_fen, auth_code } => {
                    p.check(field::int_range("tenders.amount_fen", *amount_fen, 1, MAX_ORDER_FEN));
                    p.check(field::text("tenders.auth_code", auth_code, 64));
                    code = Some((*amount_fen, auth_code.clone()));
                    total += amount_fen;
                }
                CounterTender::Balance { amount_fen, member_id } => {
                    p.check(field::int_range("tenders.amount_fen", *amount_fen, 1, MAX_ORDER_FEN));
                    balance = Some((*member_id, *amount_fen));
                    total += amount_fen;
                }
            }
        }
        if code.is_some() && cmd.tenders.len() > 1 {
            p.push(field_conflict("tenders", "付款码支付不能与其他方式混合"));
        }
        p.finish()?;

        let tx = self.db.begin().await?;
        let m = lock(&tx, order_id).await?;
        let (kind, status) = parse_status(&m)?;
        status
            .apply(OrderEvent::Paid { dispensed: true })
            .map_err(|e| AppError::conflict(e.code(), None, e.message_zh()))?;
        if kind == OrderKind::Prepay || kind == OrderKind::Topup || m.plan.is_some() {
            return Err(AppError::conflict("payment_in_progress", None, "该订单正在由车主支付，请稍后刷新"));
        }
        if total != m.payable_fen {
            let reason =
                format!("支付合计 {} 与应收 {} 不符", jiayou_domain::Fen(total), jiayou_domain::Fen(m.payable_fen));
            return Err(field_conflict("tenders", reason).into());
        }
        let mut parts = vec![];
        let mut member_id = m.member_id;
        if let Some((mid, fen)) = balance {
            let mem = member::Entity::find_by_id(mid)
                .one(&tx)
                .await?
                .filter(|x| x.chain_id == m.chain_id && x.erased_at_us.is_none())
                .ok_or_else(|| FieldError::new("tenders.member_id", FieldErrorKind::NotFound))?;
            if member_id.is_some_and(|x| x != mem.id) {
                return Err(AppError::conflict("sale_claimed", Some("tenders.member_id"), "该笔加油已属于其他会员"));
            }
            member_id = Some(mem.id);
            let w = wallet::lock(&tx, m.chain_id, mem.id).await?;
            if w.paid_fen + w.bonus_fen < fen {
                return Err(AppError::conflict("insufficient_balance", None, "会员余额不足"));
            }
            let (paid, bonus) = split_balance(fen, w.paid_fen, w.bonus_fen);
            parts.push(TenderPart { tender: Tender::BalancePaid, fen: paid });
            parts.push(TenderPart { tender: Tender::BalanceBonus, fen: bonus });
        }
        let now = now_us();
        for t in &cmd.tenders {
            let (tender, fen) = match t {
                CounterTender::Cash { amount_fen, .. } => (Tender::Cash, *amount_fen),
                CounterTender::Card { amount_fen, .. } => (Tender::Card, *amount_fen),
                CounterTender::PaymentCode { amount_fen, .. } => (Tender::PaymentCode, *amount_fen),
                CounterTender::Balance { .. } => continue,
            };
            parts.push(TenderPart { tender, fen });
        }
        parts.retain(|p| p.fen > 0);
        let plan = Plan { gross_fen: m.gross_fen, payable_fen: m.payable_fen, tenders: parts, ..Default::default() };
        let am = order::ActiveModel {
            member_id: Set(member_id),
            cashier_staff_id: Set(caller.staff_id()),
            plan: Set(Some(serde_json::to_string(&plan).map_err(|e| internal(e.to_string()))?)),
            ..Default::default()
        };
        let m = save(&tx, &m, am).await?;
        self.take_plan(&tx, &m, &plan).await?;
        if let Some((fen, auth_code)) = code {
            // The code itself says whose it is; a code of no known range goes to the
            // chain's default channel (the sandbox's codes, in tests and the demo).
            let wanted = crate::channels::channel_of_payment_code(&auth_code).filter(|w| self.pay.names().contains(w));
            let channel = match self.pick_channel(&tx, m.chain_id, m.station_id, wanted).await? {
                Some(c) => c,
                None => self
                    .pick_channel(&tx, m.chain_id, m.station_id, None)
                    .await?
                    .ok_or(AppError::NotConfigured("payment"))?,
            };
            let mut pm = self.open_channel_payment(&tx, &m, fen, channel.name()).await?.into_active_model();
            pm.method = Set("payment_code".into());
            let pm = pm.update(&tx).await?;
            tx.commit().await?;
            return self.create_at_channel(&m, pm, Payer::PaymentCode { auth_code }, idem).await;
        }
        for t in &cmd.tenders {
            let (method, fen) = match t {
                CounterTender::Cash { amount_fen, .. } => ("cash", *amount_fen),
                CounterTender::Card { amount_fen, .. } => ("card", *amount_fen),
                _ => continue,
            };
            payment::ActiveModel {
                chain_id: Set(m.chain_id),
                order_id: Set(m.id),
                method: Set(method.into()),
                amount_fen: Set(fen),
                received_fen: Set(if method == "cash" { cash_received } else { None }),
                reference: Set(if method == "card" { reference.clone() } else { None }),
                status: Set("succeeded".into()),
                query_attempts: Set(0),
                created_at_us: Set(now),
                updated_at_us: Set(now),
                settled_at_us: Set(Some(now)),
                ..Default::default()
            }
            .insert(&tx)
            .await?;
            wallet::entry(&tx, m.chain_id, m.station_id, m.member_id, Some(m.id), None, method, "payment", fen).await?;
        }
        let policy = self.payment_policy(m.chain_id).await?;
        let m = self.mark_paid(&tx, &m, &policy, &caller.actor()).await?;
        let v = view_of(&tx, &m).await?;
        self.finish_idem(&tx, idem, 200, &v).await?;
        tx.commit().await?;
        Ok(v)
    }
}

use sea_orm::IntoActiveModel;
