use sea_orm::entity::prelude::*;

/// A one-time sign-in code sent by SMS. Neither the phone nor the code is stored: only
/// the phone's blind index and a keyed hash of the code.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sms_codes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub chain_id: i64,
    pub phone_bidx: String,
    pub code_hash: String,
    /// Verification attempts so far (each one counts, right or wrong).
    pub attempts: i32,
    pub created_at_us: i64,
    pub expires_at_us: i64,
    pub consumed_at_us: Option<i64>,
    pub ip: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
