//! Chains: the tenants of a deployment. Every station, grade and member belongs to one.

use chrono::{DateTime, Utc};
use jiayou_domain::{field, hours};
use jiayou_store::entity::chain;
use jiayou_store::now_us;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::audit::AuditEntry;
use crate::caller::snapshot;
use crate::error::Problems;
use crate::paging::{self, Page, PageRequest};
use jiayou_domain::access::{Permission, Target};

use crate::{App, AppError, AppResult, Caller};

pub const DEFAULT_TIME_ZONE: &str = "Asia/Shanghai";

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewChain {
    /// Short unique code, e.g. `YNPC`.
    pub code: String,
    pub name: String,
    /// IANA time zone for business days and reports (default Asia/Shanghai).
    pub time_zone: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChainView {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub time_zone: String,
    pub created_at: DateTime<Utc>,
}

impl From<chain::Model> for ChainView {
    fn from(m: chain::Model) -> Self {
        ChainView { id: m.id, code: m.code, name: m.name, time_zone: m.time_zone, created_at: instant(m.created_at_us) }
    }
}

/// Storage instants (µs since epoch) as API timestamps.
pub fn instant(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

pub fn validate_time_zone(field_name: &'static str, tz: Option<&str>) -> Result<String, jiayou_domain::FieldError> {
    let tz = tz.map(str::trim).filter(|s| !s.is_empty()).unwrap_or(DEFAULT_TIME_ZONE);
    hours::parse_time_zone(tz).map(|z| z.name().to_owned()).map_err(|e| e.to_field_error(field_name))
}

impl App {
    /// Creates a chain with its built-in roles. The platform operator's alone.
    pub async fn create_chain(&self, caller: &Caller, cmd: NewChain) -> AppResult<ChainView> {
        caller.require(Permission::ChainManage, Target::Chain(0))?;
        let mut p = Problems::default();
        let code = p.check(field::code("code", &cmd.code));
        let name = p.check(field::text("name", &cmd.name, 64));
        let tz = p.check(validate_time_zone("time_zone", cmd.time_zone.as_deref()));
        p.finish()?;
        let now = now_us();
        let tx = self.db.begin().await?;
        let m = chain::ActiveModel {
            code: Set(code.unwrap_or_default()),
            name: Set(name.unwrap_or_default()),
            time_zone: Set(tz.unwrap_or_default()),
            created_at_us: Set(now),
            updated_at_us: Set(now),
            ..Default::default()
        }
        .insert(&tx)
        .await?;
        crate::roles::create_builtin_roles(&tx, m.id, now).await?;
        let view = ChainView::from(m);
        let entry = AuditEntry::chain(view.id, "chain.create", "chain").target(view.id).after(snapshot(&view));
        self.commit_audited(tx, caller, entry).await?;
        Ok(view)
    }

    pub async fn list_chains(&self, caller: &Caller, req: &PageRequest) -> AppResult<Page<ChainView>> {
        let paging = req.validate(&["id", "code", "name", "created_at"]).map_err(AppError::Invalid)?;
        // Staff see their own chain only.
        let mut q = chain::Entity::find();
        if let Some(own) = caller.access.chain_id() {
            q = q.filter(chain::Column::Id.eq(own));
        }
        let page = paging::fetch(
            self.db.reader(),
            q,
            &paging,
            |f| match f {
                "code" => chain::Column::Code,
                "name" => chain::Column::Name,
                "created_at" => chain::Column::CreatedAtUs,
                _ => chain::Column::Id,
            },
            chain::Column::Id,
        )
        .await?;
        Ok(page.map(Into::into))
    }

    pub async fn get_chain(&self, caller: &Caller, id: i64) -> AppResult<ChainView> {
        caller.require_anywhere(Permission::ChainRead, id)?;
        self.get_chain_row(id).await.map(Into::into)
    }

    pub(crate) async fn get_chain_row(&self, id: i64) -> AppResult<chain::Model> {
        chain::Entity::find_by_id(id).one(self.db.reader()).await?.ok_or(AppError::NotFound { entity: "chain" })
    }

    /// Resolves a chain code to its id (customer APIs address chains by code).
    pub async fn chain_id_by_code(&self, code: &str) -> AppResult<Option<i64>> {
        Ok(chain::Entity::find()
            .filter(chain::Column::Code.eq(code.trim().to_ascii_uppercase()))
            .one(self.db.reader())
            .await?
            .map(|c| c.id))
    }
}
