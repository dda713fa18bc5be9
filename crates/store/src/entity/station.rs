use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "stations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub chain_id: i64,
    pub code: String,
    pub name: String,
    pub address: String,
    pub phone: Option<String>,
    pub lng_e7: i64,
    pub lat_e7: i64,
    pub grid_row: i32,
    pub time_zone: String,
    /// JSON of `jiayou_domain::hours::OpeningHours`.
    pub hours: String,
    /// JSON array of `jiayou_domain::station::Amenity` names.
    pub amenities: String,
    pub retired_at_us: Option<i64>,
    pub created_at_us: i64,
    pub updated_at_us: i64,
    /// Bumped on every edit; lets a client detect a concurrent change.
    pub revision: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
