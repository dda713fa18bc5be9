//! Top-up bonus rules (充500送50, 充1000送券, 充100送积分).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "topup_rules")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub chain_id: i64,
    pub name: String,
    pub min_amount_fen: i64,
    pub bonus_fen: i64,
    pub bonus_points: i64,
    /// A coupon given with the top-up (CouponRule JSON), if any.
    pub coupon_rule: Option<String>,
    pub coupon_count: i32,
    pub coupon_valid_days: i32,
    pub created_at_us: i64,
    pub retired_at_us: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
