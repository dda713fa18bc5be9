use sea_orm::entity::prelude::*;

/// One consent decision; rows are only ever appended.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "member_consents")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub chain_id: i64,
    pub member_id: i64,
    /// privacy_policy, location, personalised_marketing.
    pub kind: String,
    /// 1 granted, 0 refused or withdrawn.
    pub granted: i32,
    pub policy_version: String,
    pub at_us: i64,
    pub ip: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
