use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "grades")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub chain_id: i64,
    pub code: String,
    /// `code` while live, NULL once retired (uniqueness of live codes only).
    pub active_code: Option<String>,
    pub name: String,
    pub energy_type: String,
    pub unit: String,
    pub retired_at_us: Option<i64>,
    pub created_at_us: i64,
    pub updated_at_us: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
