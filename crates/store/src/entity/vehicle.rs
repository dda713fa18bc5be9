use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "vehicles")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub chain_id: i64,
    pub member_id: i64,
    /// Sealed; context "vehicles.plate"; the normalised plate. NULL once removed.
    pub plate: Option<Vec<u8>>,
    pub plate_bidx: Option<String>,
    /// Sealed; context "vehicles.details"; JSON {brand, model, colour, fuel_grade}.
    pub details: Option<Vec<u8>>,
    pub created_at_us: i64,
    pub updated_at_us: i64,
    pub deleted_at_us: Option<i64>,
    /// Set while plate pay (无感支付) may charge the member's balance for this plate.
    pub autopay_enabled_at_us: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
