//! A pump controller with its own HMAC key (F1).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "devices")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub chain_id: i64,
    pub station_id: i64,
    /// X-Device-Id: unique in the deployment.
    pub code: String,
    pub name: String,
    /// Sealed; context "devices.secret". The HMAC key.
    pub secret: Vec<u8>,
    pub created_at_us: i64,
    pub updated_at_us: i64,
    pub last_seen_at_us: Option<i64>,
    pub retired_at_us: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
