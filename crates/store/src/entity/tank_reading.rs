//! Measured stock of a tank (B4): a manual dip or a tank gauge reading, with its 20 °C
//! volume.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tank_readings")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub chain_id: i64,
    pub station_id: i64,
    pub tank_id: i64,
    /// dip or gauge.
    pub source: String,
    pub level_mm: Option<i32>,
    /// Observed volume, mL.
    pub volume: i64,
    /// 0.01 °C.
    pub temperature: i32,
    /// Observed density, kg/m³ × 10.
    pub density: i32,
    pub density20: i32,
    /// × 10 000.
    pub vcf20: i32,
    /// Volume at 20 °C, mL: the measured stock.
    pub volume20: i64,
    pub staff_id: Option<i64>,
    pub read_at_us: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
