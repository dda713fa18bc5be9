//! A coupon in a member's wallet (C14). Used once: the claim is a conditional update on `status`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "coupons")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub chain_id: i64,
    pub member_id: i64,
    pub title: String,
    /// `jiayou_domain::coupon::CouponRule` as JSON.
    pub rule: String,
    pub stackable: i32,
    /// JSON list of grade ids; empty = every grade.
    pub grade_ids: String,
    pub valid_from_us: i64,
    pub valid_until_us: i64,
    /// available or used.
    pub status: String,
    pub used_order_id: Option<i64>,
    pub used_at_us: Option<i64>,
    /// issued, topup_bonus.
    pub source: String,
    pub created_at_us: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
