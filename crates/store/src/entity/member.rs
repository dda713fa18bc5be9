use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "members")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub chain_id: i64,
    /// Sealed (see `crate::crypto`); context "members.phone".
    pub phone: Option<Vec<u8>>,
    pub phone_bidx: Option<String>,
    /// Sealed; context "members.name".
    pub name: Option<Vec<u8>>,
    pub created_at_us: i64,
    pub updated_at_us: i64,
    pub erased_at_us: Option<i64>,
    /// WeChat openid of the mini-program; `erased:<id>` once the account is deleted.
    pub openid: Option<String>,
    /// WeChat Open Platform unionid, when WeChat gives one.
    pub unionid: Option<String>,
    /// Sealed; context "members.id_number" (身份证号).
    pub id_number: Option<Vec<u8>>,
    pub id_number_bidx: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
