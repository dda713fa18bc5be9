//! Grades (油品) of a chain: data, not code. Each has an energy type and a unit of sale.

use chrono::{DateTime, Utc};
use jiayou_domain::field;
use jiayou_domain::grade::{EnergyType, Unit};
use jiayou_store::entity::grade;
use jiayou_store::now_us;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, Set};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::audit::AuditEntry;
use crate::caller::snapshot;
use crate::chains::instant;
use crate::error::Problems;
use crate::paging::{self, Page, PageRequest};
use jiayou_domain::access::{Permission, Target};

use crate::{App, AppError, AppResult, Caller};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGrade {
    pub chain_id: i64,
    /// Unique in the chain, e.g. `92`, `0`, `LNG`.
    pub code: String,
    /// Display name, e.g. `92#汽油`.
    pub name: String,
    pub energy_type: EnergyType,
    /// Unit of sale; defaults to the energy type's usual unit.
    pub unit: Option<Unit>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GradeChange {
    pub name: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GradeFilter {
    pub chain_id: Option<i64>,
    /// Include retired grades (default false).
    pub include_retired: Option<bool>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GradeView {
    pub id: i64,
    pub chain_id: i64,
    pub code: String,
    pub name: String,
    pub energy_type: EnergyType,
    pub unit: Unit,
    pub retired_at: Option<DateTime<Utc>>,
}

impl From<grade::Model> for GradeView {
    fn from(m: grade::Model) -> Self {
        GradeView {
            id: m.id,
            chain_id: m.chain_id,
            // Both columns are only ever written from the enums, so parse cannot fail
            // short of manual tampering; fall back rather than panic in a read path.
            energy_type: EnergyType::parse(&m.energy_type).unwrap_or(EnergyType::Gasoline),
            unit: Unit::parse(&m.unit).unwrap_or(Unit::Litre),
            code: m.code,
            name: m.name,
            retired_at: m.retired_at_us.map(instant),
        }
    }
}

impl App {
    pub async fn create_grade(&self, caller: &Caller, cmd: NewGrade) -> AppResult<GradeView> {
        caller.require(Permission::GradeManage, Target::Chain(cmd.chain_id))?;
        let mut p = Problems::default();
        let code = p.check(field::code("code", &cmd.code));
        let name = p.check(field::text("name", &cmd.name, 64));
        p.finish()?;
        self.get_chain_row(cmd.chain_id).await.map_err(|_| {
            AppError::field(jiayou_domain::FieldError::new("chain_id", jiayou_domain::FieldErrorKind::NotFound))
        })?;
        let now = now_us();
        let tx = self.db.begin().await?;
        let m = grade::ActiveModel {
            chain_id: Set(cmd.chain_id),
            active_code: Set(code.clone()),
            code: Set(code.unwrap_or_default()),
            name: Set(name.unwrap_or_default()),
            energy_type: Set(cmd.energy_type.as_str().to_owned()),
            unit: Set(cmd.unit.unwrap_or(cmd.energy_type.default_unit()).as_str().to_owned()),
            retired_at_us: Set(None),
            created_at_us: Set(now),
            updated_at_us: Set(now),
            ..Default::default()
        }
        .insert(&tx)
        .await?;
        let view = GradeView::from(m);
        let entry = AuditEntry::chain(view.chain_id, "grade.create", "grade").target(view.id).after(snapshot(&view));
        self.commit_audited(tx, caller, entry).await?;
        Ok(view)
    }

    pub async fn get_grade(&self, caller: &Caller, id: i64) -> AppResult<GradeView> {
        let g = self.grade_row(id).await?;
        caller.require_anywhere(Permission::StationRead, g.chain_id)?;
        Ok(g.into())
    }

    pub(crate) async fn grade_row(&self, id: i64) -> AppResult<grade::Model> {
        grade::Entity::find_by_id(id).one(self.db.reader()).await?.ok_or(AppError::NotFound { entity: "grade" })
    }

    pub async fn update_grade(&self, caller: &Caller, id: i64, cmd: GradeChange) -> AppResult<GradeView> {
        let row = self.grade_row(id).await?;
        caller.require(Permission::GradeManage, Target::Chain(row.chain_id))?;
        let mut p = Problems::default();
        let name = cmd.name.map(|n| p.check(field::text("name", &n, 64)));
        p.finish()?;
        let before = GradeView::from(row.clone());
        let mut m = row.into_active_model();
        if let Some(Some(n)) = name {
            m.name = Set(n);
        }
        m.updated_at_us = Set(now_us());
        self.save_grade(caller, m, "grade.update", before).await
    }

    /// Retires a grade: it stays on history (orders, prices) but can no longer be
    /// assigned to a tank or nozzle, and its code is free for a new grade.
    pub async fn retire_grade(&self, caller: &Caller, id: i64) -> AppResult<GradeView> {
        let row = self.grade_row(id).await?;
        caller.require(Permission::GradeManage, Target::Chain(row.chain_id))?;
        if row.retired_at_us.is_some() {
            return Ok(row.into());
        }
        let before = GradeView::from(row.clone());
        let mut m = row.into_active_model();
        let now = now_us();
        m.active_code = Set(None);
        m.retired_at_us = Set(Some(now));
        m.updated_at_us = Set(now);
        self.save_grade(caller, m, "grade.retire", before).await
    }

    /// Writes a changed grade with its audit row.
    async fn save_grade(
        &self,
        caller: &Caller,
        m: grade::ActiveModel,
        action: &'static str,
        before: GradeView,
    ) -> AppResult<GradeView> {
        let tx = self.db.begin().await?;
        let view = GradeView::from(m.update(&tx).await?);
        let entry = AuditEntry::chain(view.chain_id, action, "grade")
            .target(view.id)
            .before(snapshot(&before))
            .after(snapshot(&view));
        self.commit_audited(tx, caller, entry).await?;
        Ok(view)
    }

    pub async fn list_grades(
        &self,
        caller: &Caller,
        filter: &GradeFilter,
        req: &PageRequest,
    ) -> AppResult<Page<GradeView>> {
        let paging = req.validate(&["id", "code", "name"]).map_err(AppError::Invalid)?;
        let mut q = grade::Entity::find();
        if let Some(c) = filter.chain_id.or(caller.access.chain_id()) {
            caller.require_anywhere(Permission::StationRead, c)?;
            q = q.filter(grade::Column::ChainId.eq(c));
        }
        if !filter.include_retired.unwrap_or(false) {
            q = q.filter(grade::Column::RetiredAtUs.is_null());
        }
        let page = paging::fetch(
            self.db.reader(),
            q,
            &paging,
            |f| match f {
                "code" => grade::Column::Code,
                "name" => grade::Column::Name,
                _ => grade::Column::Id,
            },
            grade::Column::Id,
        )
        .await?;
        Ok(page.map(Into::into))
    }
}
