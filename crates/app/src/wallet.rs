//! Stored value and points (C12): every movement is a conditional update of the member's
//! `wallets` row plus one append-only `ledger_entries` row per pot, in the caller's
//! transaction (ARCHITECTURE money-path rules 1 and 2).
//!
//! A debit is `UPDATE wallets SET paid_fen = paid_fen - ? … WHERE member_id = ? AND
//! paid_fen >= ? …` and its affected-row count is checked, so two concurrent spends can
//! never take the same fen: the loser sees 0 rows and refuses. Callers read the wallet
//! with [`lock`] first (a row lock on PostgreSQL/MySQL; SQLite's single writer already
//! serialises) so the plan they compute from it is the one the update applies.
//!
//! [`App::check_ledger`] proves every wallet equals the sum of its ledger rows.

use jiayou_store::entity::{ledger_entry, wallet};
use jiayou_store::now_us;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, FromQueryResult,
    QueryFilter, QuerySelect, Set,
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{App, AppError, AppResult};

/// The pots of a wallet and the ledger account of each.
pub(crate) const PAID: &str = "balance_paid";
pub(crate) const BONUS: &str = "balance_bonus";
pub(crate) const POINTS: &str = "points";

/// Where a movement belongs: the ledger row's context.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Movement {
    pub chain_id: i64,
    pub station_id: Option<i64>,
    pub member_id: i64,
    pub order_id: Option<i64>,
    pub refund_id: Option<i64>,
    /// topup, bonus, spend, refund, earn, redeem, reverse.
    pub kind: &'static str,
}

/// Amounts moved in one go; all ≥ 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Pots {
    pub paid_fen: i64,
    pub bonus_fen: i64,
    pub points: i64,
}

impl Pots {
    pub fn is_zero(&self) -> bool {
        self.paid_fen == 0 && self.bonus_fen == 0 && self.points == 0
    }
}

/// The member's wallet row, created empty when missing, locked for the rest of `tx`.
pub(crate) async fn lock(tx: &DatabaseTransaction, chain_id: i64, member_id: i64) -> AppResult<wallet::Model> {
    // A no-op upsert: creates the row once however many transactions race here, and on
    // MySQL takes the row lock as `ON DUPLICATE KEY UPDATE` does.
    let insert = Query::insert()
        .into_table(wallet::Entity)
        .columns([
            wallet::Column::ChainId,
            wallet::Column::MemberId,
            wallet::Column::PaidFen,
            wallet::Column::BonusFen,
            wallet::Column::Points,
            wallet::Column::UpdatedAtUs,
        ])
        .values_panic([chain_id.into(), member_id.into(), 0i64.into(), 0i64.into(), 0i64.into(), now_us().into()])
        .on_conflict(OnConflict::column(wallet::Column::MemberId).do_nothing_on([wallet::Column::MemberId]).to_owned())
        .to_owned();
    tx.execute(&insert).await?;
    wallet::Entity::find()
        .filter(wallet::Column::MemberId.eq(member_id))
        .lock_exclusive()
        .one(tx)
        .await?
        .ok_or_else(|| crate::error::internal("wallet vanished after creation"))
}

/// Takes `pots` out of the wallet, or refuses (nothing moved) when any pot is short.
pub(crate) async fn debit(tx: &DatabaseTransaction, mv: Movement, pots: Pots) -> AppResult<()> {
    if pots.is_zero() {
        return Ok(());
    }
    let r = wallet::Entity::update_many()
        .col_expr(wallet::Column::PaidFen, Expr::col(wallet::Column::PaidFen).sub(pots.paid_fen))
        .col_expr(wallet::Column::BonusFen, Expr::col(wallet::Column::BonusFen).sub(pots.bonus_fen))
        .col_expr(wallet::Column::Points, Expr::col(wallet::Column::Points).sub(pots.points))
        .col_expr(wallet::Column::UpdatedAtUs, Expr::value(now_us()))
        .filter(wallet::Column::MemberId.eq(mv.member_id))
        .filter(wallet::Column::PaidFen.gte(pots.paid_fen))
        .filter(wallet::Column::BonusFen.gte(pots.bonus_fen))
        .filter(wallet::Column::Points.gte(pots.points))
        .exec(tx)
        .await?;
    if r.rows_affected != 1 {
        return Err(if pots.points > 0 && pots.paid_fen == 0 && pots.bonus_fen == 0 {
            AppError::conflict("insufficient_points", Some("points"), "积分不足")
        } else {
            AppError::conflict("insufficient_balance", None, "余额不足，请充值或换用其他支付方式")
        });
    }
    ledger(tx, mv, -pots.paid_fen, -pots.bonus_fen, -pots.points).await
}

/// Puts `pots` into the wallet (top-up, bonus, refund, points earned).
pub(crate) async fn credit(tx: &DatabaseTransaction, mv: Movement, pots: Pots) -> AppResult<()> {
    if pots.is_zero() {
        return Ok(());
    }
    lock(tx, mv.chain_id, mv.member_id).await?;
    wallet::Entity::update_many()
        .col_expr(wallet::Column::PaidFen, Expr::col(wallet::Column::PaidFen).add(pots.paid_fen))
        .col_expr(wallet::Column::BonusFen, Expr::col(wallet::Column::BonusFen).add(pots.bonus_fen))
        .col_expr(wallet::Column::Points, Expr::col(wallet::Column::Points).add(pots.points))
        .col_expr(wallet::Column::UpdatedAtUs, Expr::value(now_us()))
        .filter(wallet::Column::MemberId.eq(mv.member_id))
        .exec(tx)
        .await?;
    ledger(tx, mv, pots.paid_fen, pots.bonus_fen, pots.points).await
}

async fn ledger(tx: &DatabaseTransaction, mv: Movement, paid: i64, bonus: i64, points: i64) -> AppResult<()> {
    for (account, amount) in [(PAID, paid), (BONUS, bonus), (POINTS, points)] {
        if amount != 0 {
            entry(
                tx,
                mv.chain_id,
                mv.station_id,
                Some(mv.member_id),
                mv.order_id,
                mv.refund_id,
                account,
                mv.kind,
                amount,
            )
            .await?;
        }
    }
    Ok(())
}

/// One ledger row. Money from outside the wallet (channel, cash, card, payment code) is
/// recorded under its own account: positive when received, negative when given back.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn entry(
    tx: &DatabaseTransaction,
    chain_id: i64,
    station_id: Option<i64>,
    member_id: Option<i64>,
    order_id: Option<i64>,
    refund_id: Option<i64>,
    account: &str,
    kind: &str,
    amount: i64,
) -> AppResult<()> {
    ledger_entry::ActiveModel {
        chain_id: Set(chain_id),
        station_id: Set(station_id),
        member_id: Set(member_id),
        order_id: Set(order_id),
        refund_id: Set(refund_id),
        account: Set(account.to_owned()),
        kind: Set(kind.to_owned()),
        amount: Set(amount),
        created_at_us: Set(now_us()),
        ..Default::default()
    }
    .insert(tx)
    .await?;
    Ok(())
}

/// The result of comparing every wallet of a chain with its ledger.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LedgerCheck {
    pub chain_id: i64,
    pub wallets: u64,
    /// Wallets whose pots differ from their ledger sums, or are negative. Empty when sound.
    pub mismatches: Vec<LedgerMismatch>,
    pub total_paid_fen: i64,
    pub total_bonus_fen: i64,
    pub total_points: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LedgerMismatch {
    pub member_id: i64,
    pub account: String,
    pub wallet: i64,
    pub ledger: i64,
}

#[derive(FromQueryResult)]
struct Sum {
    member_id: Option<i64>,
    account: String,
    total: Option<i64>,
}

impl App {
    /// Compares every wallet of `chain_id` with the sums of its ledger rows (rule 2).
    /// Reads one consistent snapshot: run it on the writer inside a transaction.
    pub async fn check_ledger(&self, chain_id: i64) -> AppResult<LedgerCheck> {
        let tx = self.db.begin().await?;
        let wallets = wallet::Entity::find().filter(wallet::Column::ChainId.eq(chain_id)).all(&tx).await?;
        let sums = ledger_entry::Entity::find()
            .select_only()
            .column(ledger_entry::Column::MemberId)
            .column(ledger_entry::Column::Account)
            // SUM of a BIGINT is NUMERIC on PostgreSQL and DECIMAL on MySQL: cast it back.
            .column_as(
                Expr::cust(match tx.get_database_backend() {
                    DbBackend::MySql => "CAST(SUM(amount) AS SIGNED)",
                    DbBackend::Postgres => "CAST(SUM(amount) AS BIGINT)",
                    _ => "SUM(amount)",
                }),
                "total",
            )
            .filter(ledger_entry::Column::ChainId.eq(chain_id))
            .filter(ledger_entry::Column::Account.is_in([PAID, BONUS, POINTS]))
            .group_by(ledger_entry::Column::MemberId)
            .group_by(ledger_entry::Column::Account)
            .into_model::<Sum>()
            .all(&tx)
            .await?;
        tx.commit().await?;
        let ledger_of = |member_id: i64, account: &str| {
            sums.iter()
                .find(|s| s.member_id == Some(member_id) && s.account == account)
                .and_then(|s| s.total)
                .unwrap_or(0)
        };
        let mut check = LedgerCheck {
            chain_id,
            wallets: wallets.len() as u64,
            mismatches: vec![],
            total_paid_fen: 0,
            total_bonus_fen: 0,
            total_points: 0,
        };
        for w in &wallets {
            check.total_paid_fen += w.paid_fen;
            check.total_bonus_fen += w.bonus_fen;
            check.total_points += w.points;
            for (account, value) in [(PAID, w.paid_fen), (BONUS, w.bonus_fen), (POINTS, w.points)] {
                let ledger = ledger_of(w.member_id, account);
                if ledger != value || value < 0 {
                    check.mismatches.push(LedgerMismatch {
                        member_id: w.member_id,
                        account: account.to_owned(),
                        wallet: value,
                        ledger,
                    });
                }
            }
        }
        Ok(check)
    }
}
