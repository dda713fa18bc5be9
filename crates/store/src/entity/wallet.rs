//! Stored value and points of a member (C12). Every change has its ledger rows; the sums must match.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "wallets")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub chain_id: i64,
    pub member_id: i64,
    /// Money the member paid in and has not spent: refundable.
    pub paid_fen: i64,
    /// Money given as top-up bonus: spendable, never paid out.
    pub bonus_fen: i64,
    pub points: i64,
    pub updated_at_us: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
