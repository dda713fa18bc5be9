//! Prices, minimum version: the current list and member price per station and grade,
//! with a version that increases on every change, and the history of every version.
//! Scheduled changes and pushing to pumps come with the pricing feature (B1).

use chrono::{DateTime, Utc};
use jiayou_domain::{FieldError, FieldErrorKind, field};
use jiayou_store::entity::{grade, price_history, station_price};
use jiayou_store::now_us;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::audit::AuditEntry;
use crate::caller::snapshot;
use crate::chains::instant;
use crate::error::Problems;
use jiayou_domain::access::Permission;

use crate::{App, AppError, AppResult, Caller};

/// Highest unit price accepted: ¥1,000.00 per unit, far above any fuel; catches a
/// price typed in fen where yuan was meant (or the reverse) by a factor of 100.
pub const MAX_UNIT_PRICE_FEN: i64 = 100_000;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceChange {
    /// List price in fen per whole unit (7.89 元/升 = 789).
    pub list_price_fen: i64,
    /// Member price in fen per unit; at most the list price. Defaults to it.
    pub member_price_fen: Option<i64>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PriceView {
    pub station_id: i64,
    pub grade_id: i64,
    pub list_price_fen: i64,
    pub member_price_fen: i64,
    /// Recorded by every order that uses this price.
    pub version: i64,
    pub updated_at: DateTime<Utc>,
}

impl From<station_price::Model> for PriceView {
    fn from(m: station_price::Model) -> Self {
        PriceView {
            station_id: m.station_id,
            grade_id: m.grade_id,
            list_price_fen: m.list_price_fen,
            member_price_fen: m.member_price_fen,
            version: m.version,
            updated_at: instant(m.updated_at_us),
        }
    }
}

impl App {
    /// Sets a station's price for a grade now (an immediate change).
    pub async fn set_price(
        &self,
        caller: &Caller,
        station_id: i64,
        grade_id: i64,
        cmd: PriceChange,
    ) -> AppResult<PriceView> {
        self.authorize_station(caller, Permission::PriceManage, station_id).await?;
        let mut p = Problems::default();
        let list = p.check(field::int_range("list_price_fen", cmd.list_price_fen, 1, MAX_UNIT_PRICE_FEN));
        let member = cmd.member_price_fen.unwrap_or(cmd.list_price_fen);
        if let Some(list) = list {
            p.check(field::int_range("member_price_fen", member, 1, list));
        }
        let reason = p.check(field::optional_text("reason", cmd.reason.as_deref(), 200)).flatten();
        p.finish()?;

        let tx = self.db.begin().await?;
        let st = self.live_station(station_id).await?;
        let g = grade::Entity::find_by_id(grade_id)
            .one(&tx)
            .await?
            .filter(|g| g.chain_id == st.chain_id && g.retired_at_us.is_none())
            .ok_or(AppError::NotFound { entity: "grade" })?;
        let now = now_us();
        // Bump the version with a conditional update so two concurrent changes can never
        // share a version; insert the first price when there is none.
        let before = station_price::Entity::find()
            .filter(station_price::Column::StationId.eq(station_id))
            .filter(station_price::Column::GradeId.eq(g.id))
            .one(&tx)
            .await?;
        let updated = station_price::Entity::update_many()
            .col_expr(station_price::Column::ListPriceFen, Expr::value(cmd.list_price_fen))
            .col_expr(station_price::Column::MemberPriceFen, Expr::value(member))
            .col_expr(station_price::Column::Version, Expr::col(station_price::Column::Version).add(1))
            .col_expr(station_price::Column::UpdatedAtUs, Expr::value(now))
            .filter(station_price::Column::StationId.eq(station_id))
            .filter(station_price::Column::GradeId.eq(g.id))
            .exec(&tx)
            .await?;
        if updated.rows_affected == 0 {
            station_price::ActiveModel {
                station_id: Set(station_id),
                grade_id: Set(g.id),
                list_price_fen: Set(cmd.list_price_fen),
                member_price_fen: Set(member),
                version: Set(1),
                updated_at_us: Set(now),
                ..Default::default()
            }
            .insert(&tx)
            .await?;
        }
        let current = station_price::Entity::find()
            .filter(station_price::Column::StationId.eq(station_id))
            .filter(station_price::Column::GradeId.eq(g.id))
            .one(&tx)
            .await?
            .ok_or(AppError::NotFound { entity: "price" })?;
        price_history::ActiveModel {
            station_id: Set(station_id),
            grade_id: Set(g.id),
            list_price_fen: Set(current.list_price_fen),
            member_price_fen: Set(current.member_price_fen),
            version: Set(current.version),
            effective_at_us: Set(now),
            reason: Set(reason),
            created_at_us: Set(now),
            ..Default::default()
        }
        .insert(&tx)
        .await?;
        let view = PriceView::from(current);
        let mut entry = AuditEntry::station(st.chain_id, station_id, "price.set", "price")
            .target(format!("{station_id}/{}", g.id))
            .after(snapshot(&view));
        if let Some(b) = before {
            entry = entry.before(snapshot(&PriceView::from(b)));
        }
        self.commit_audited(tx, caller, entry).await?;
        Ok(view)
    }

    pub async fn list_prices(&self, caller: &Caller, station_id: i64) -> AppResult<Vec<PriceView>> {
        self.authorize_station(caller, Permission::PriceRead, station_id).await?;
        Ok(station_price::Entity::find()
            .filter(station_price::Column::StationId.eq(station_id))
            .order_by_asc(station_price::Column::GradeId)
            .all(self.db.reader())
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Every price version of a station and grade, newest first.
    pub async fn price_history(&self, caller: &Caller, station_id: i64, grade_id: i64) -> AppResult<Vec<PriceView>> {
        self.authorize_station(caller, Permission::PriceRead, station_id).await?;
        if grade::Entity::find_by_id(grade_id).one(self.db.reader()).await?.is_none() {
            return Err(AppError::field(FieldError::new("grade_id", FieldErrorKind::NotFound)));
        }
        Ok(price_history::Entity::find()
            .filter(price_history::Column::StationId.eq(station_id))
            .filter(price_history::Column::GradeId.eq(grade_id))
            .order_by_desc(price_history::Column::Version)
            .all(self.db.reader())
            .await?
            .into_iter()
            .map(|h| PriceView {
                station_id: h.station_id,
                grade_id: h.grade_id,
                list_price_fen: h.list_price_fen,
                member_price_fen: h.member_price_fen,
                version: h.version,
                updated_at: instant(h.effective_at_us),
            })
            .collect())
    }
}
