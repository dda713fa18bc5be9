//! The member's wallet as the member and staff see it: the two pots of stored value
//! (paid money and bonus money, C12), points, and the wallet's ledger. Read-only: money
//! moves in `crate::wallet`.

use chrono::{DateTime, Utc};
use jiayou_domain::access::Permission;
use jiayou_store::entity::{ledger_entry, member, wallet};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, Order, QueryFilter};
use serde::Serialize;
use utoipa::ToSchema;

use crate::chains::instant;
use crate::members::MemberAuth;
use crate::paging::{self, Page, PageRequest};
use crate::{App, AppError, AppResult, Caller};

/// Ledger accounts of a member's wallet.
const WALLET_ACCOUNTS: [&str; 3] = [crate::wallet::PAID, crate::wallet::BONUS, crate::wallet::POINTS];

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct WalletView {
    /// Money the member paid in and has not spent (refundable), fen.
    pub paid_fen: i64,
    /// Bonus money from top-up rules (spendable, never paid out), fen.
    pub bonus_fen: i64,
    /// `paid_fen + bonus_fen`.
    pub balance_fen: i64,
    pub points: i64,
}

impl From<wallet::Model> for WalletView {
    fn from(w: wallet::Model) -> Self {
        WalletView {
            paid_fen: w.paid_fen,
            bonus_fen: w.bonus_fen,
            balance_fen: w.paid_fen + w.bonus_fen,
            points: w.points,
        }
    }
}

/// One movement of the wallet: immutable.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LedgerEntryView {
    pub id: i64,
    /// `balance_paid`, `balance_bonus` or `points`.
    pub account: String,
    /// `topup`, `bonus`, `spend`, `refund`, `earn`, `redeem`, `reverse`.
    pub kind: String,
    /// Signed, positive into the account: fen, or points for `points`.
    pub amount: i64,
    pub order_id: Option<i64>,
    pub created_at: DateTime<Utc>,
}

impl From<ledger_entry::Model> for LedgerEntryView {
    fn from(m: ledger_entry::Model) -> Self {
        LedgerEntryView {
            id: m.id,
            account: m.account,
            kind: m.kind,
            amount: m.amount,
            order_id: m.order_id,
            created_at: instant(m.created_at_us),
        }
    }
}

async fn wallet_of<C: ConnectionTrait>(conn: &C, member_id: i64) -> AppResult<WalletView> {
    Ok(wallet::Entity::find()
        .filter(wallet::Column::MemberId.eq(member_id))
        .one(conn)
        .await?
        .map(WalletView::from)
        .unwrap_or_default())
}

impl App {
    /// The signed-in member's wallet (zeros before the first top-up or points).
    pub async fn member_wallet(&self, me: &MemberAuth) -> AppResult<WalletView> {
        wallet_of(self.db.reader(), me.member_id).await
    }

    /// The signed-in member's wallet movements, newest first (`sort` may also be
    /// `created_at`/`id`, `-` for descending).
    pub async fn member_ledger(&self, me: &MemberAuth, req: &PageRequest) -> AppResult<Page<LedgerEntryView>> {
        let mut paging = req.validate(&["id", "created_at"]).map_err(AppError::Invalid)?;
        if paging.sort.is_empty() {
            paging.sort = vec![("id".to_owned(), Order::Desc)];
        }
        let q = ledger_entry::Entity::find()
            .filter(ledger_entry::Column::MemberId.eq(me.member_id))
            .filter(ledger_entry::Column::ChainId.eq(me.chain_id))
            .filter(ledger_entry::Column::Account.is_in(WALLET_ACCOUNTS));
        let page = paging::fetch(
            self.db.reader(),
            q,
            &paging,
            |f| match f {
                "created_at" => ledger_entry::Column::CreatedAtUs,
                _ => ledger_entry::Column::Id,
            },
            ledger_entry::Column::Id,
        )
        .await?;
        Ok(page.map(Into::into))
    }

    /// A member's wallet, for staff with `member.read` in the member's chain.
    pub async fn staff_member_wallet(&self, caller: &Caller, member_id: i64) -> AppResult<WalletView> {
        let m = member::Entity::find_by_id(member_id)
            .one(self.db.reader())
            .await?
            .ok_or(AppError::NotFound { entity: "member" })?;
        caller.require_anywhere(Permission::MemberRead, m.chain_id)?;
        wallet_of(self.db.reader(), m.id).await
    }
}
