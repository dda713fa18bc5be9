//! The head of one audit scope (`audit_heads`): the seq and hash of its last row. Locked
//! by every writer of the scope, updated in the same transaction as the row it names.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_heads")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub chain_id: i64,
    /// 0 for the chain-level scope.
    #[sea_orm(primary_key, auto_increment = false)]
    pub station_id: i64,
    pub seq: i64,
    pub hash: String,
    pub updated_at_us: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
