use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tanks")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub station_id: i64,
    pub number: i32,
    pub active_number: Option<i32>,
    pub grade_id: i64,
    pub capacity: i64,
    pub safety_min: i64,
    pub overstock_max: i64,
    pub retired_at_us: Option<i64>,
    pub created_at_us: i64,
    pub updated_at_us: i64,
    /// Book stock in thousandths of the grade's unit: sales deduct it (m0005).
    pub book_stock: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
