//! Stripe-style idempotency keys: the first response is stored and replayed.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency_keys")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Who: member:<id>, staff:<id>, device:<id>.
    pub scope: String,
    pub idem_key: String,
    /// SHA-256 of method, path and body.
    pub request_hash: String,
    /// pending or done.
    pub state: String,
    pub response_status: Option<i32>,
    pub response_body: Option<String>,
    pub created_at_us: i64,
    pub expires_at_us: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
