use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "staff")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub chain_id: i64,
    pub username: String,
    pub display_name: String,
    /// Sealed; context "staff.phone".
    pub phone: Option<Vec<u8>>,
    pub phone_bidx: Option<String>,
    pub password_hash: String,
    pub failed_logins: i32,
    pub locked_until_us: Option<i64>,
    pub disabled_at_us: Option<i64>,
    pub created_at_us: i64,
    pub updated_at_us: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
