//! A delivery into a tank (B4): observed quantity, temperature and density as measured,
//! the 20 °C volume computed from them, and the dips before and after.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tank_deliveries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub chain_id: i64,
    pub station_id: i64,
    pub tank_id: i64,
    pub supplier: String,
    /// The supplier's delivery note number; unique per station.
    pub note_no: String,
    /// Observed volume, mL.
    pub quantity: i64,
    /// 0.01 °C.
    pub temperature: i32,
    /// Observed density at `temperature`, kg/m³ × 10.
    pub density: i32,
    /// Standard density at 20 °C, kg/m³ × 10.
    pub density20: i32,
    /// VCF to 20 °C × 10 000.
    pub vcf20: i32,
    /// Volume at 20 °C, mL: what the book stock received.
    pub volume20: i64,
    /// Dipped volume before and after, mL (observed).
    pub dip_before: Option<i64>,
    pub dip_after: Option<i64>,
    pub staff_id: Option<i64>,
    pub delivered_at_us: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
