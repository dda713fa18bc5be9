//! Roles of a chain: the five built-in ones (created with the chain, not editable) and
//! custom roles built from permission sets.

use chrono::{DateTime, Utc};
use jiayou_domain::access::{BuiltinRole, Permission, Target};
use jiayou_domain::{FieldError, FieldErrorKind, field};
use jiayou_store::entity::role;
use jiayou_store::now_us;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::audit::AuditEntry;
use crate::auth::parse_permissions;
use crate::caller::snapshot;
use crate::chains::instant;
use crate::error::Problems;
use crate::{App, AppError, AppResult, Caller};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRole {
    pub chain_id: i64,
    pub code: String,
    pub name: String,
    /// Permission names, e.g. `["station.read", "price.read"]`.
    pub permissions: Vec<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    pub name: Option<String>,
    pub permissions: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RoleFilter {
    pub chain_id: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RoleView {
    pub id: i64,
    pub chain_id: i64,
    pub code: String,
    pub name: String,
    pub permissions: Vec<Permission>,
    pub builtin: bool,
    pub updated_at: DateTime<Utc>,
}

impl From<role::Model> for RoleView {
    fn from(m: role::Model) -> Self {
        RoleView {
            id: m.id,
            chain_id: m.chain_id,
            permissions: parse_permissions(&m.permissions).into_iter().collect(),
            code: m.code,
            name: m.name,
            builtin: m.builtin != 0,
            updated_at: instant(m.updated_at_us),
        }
    }
}

/// Validates permission names: each must exist and be grantable to a chain's staff.
fn permissions(p: &mut Problems, names: &[String]) -> Vec<Permission> {
    let mut out = Vec::new();
    for (i, n) in names.iter().enumerate() {
        match Permission::parse(n.trim()).filter(|p| p.grantable()) {
            Some(perm) => out.push(perm),
            None => {
                let allowed: Vec<&str> = Permission::ALL.iter().filter(|p| p.grantable()).map(|p| p.as_str()).collect();
                p.push(field::unknown_value(format!("permissions[{i}]"), &allowed));
            }
        }
    }
    if names.is_empty() {
        p.push(FieldError::new("permissions", FieldErrorKind::Required));
    }
    out.sort();
    out.dedup();
    out
}

fn encode(perms: &[Permission]) -> String {
    serde_json::to_string(&perms.iter().map(|p| p.as_str()).collect::<Vec<_>>()).unwrap_or_else(|_| "[]".into())
}

/// Creates the built-in roles of a new chain (inside its creating transaction).
pub(crate) async fn create_builtin_roles(conn: &impl ConnectionTrait, chain_id: i64, now: i64) -> AppResult<()> {
    for r in BuiltinRole::ALL {
        let perms: Vec<Permission> = r.permissions().into_iter().collect();
        role::ActiveModel {
            chain_id: Set(chain_id),
            code: Set(r.as_str().to_owned()),
            name: Set(r.name_zh().to_owned()),
            permissions: Set(encode(&perms)),
            builtin: Set(1),
            created_at_us: Set(now),
            updated_at_us: Set(now),
            ..Default::default()
        }
        .insert(conn)
        .await?;
    }
    Ok(())
}

impl App {
    pub async fn create_role(&self, caller: &Caller, cmd: NewRole) -> AppResult<RoleView> {
        caller.require(Permission::RoleManage, Target::Chain(cmd.chain_id))?;
        let mut p = Problems::default();
        let code = p.check(field::code("code", &cmd.code));
        let name = p.check(field::text("name", &cmd.name, 64));
        let perms = permissions(&mut p, &cmd.permissions);
        p.finish()?;
        let (Some(code), Some(name)) = (code, name) else { unreachable!("validated above") };
        if BuiltinRole::parse(&code.to_ascii_lowercase()).is_some() {
            return Err(AppError::field(FieldError::new(
                "code",
                FieldErrorKind::Conflict { reason: "与内置角色同名".into() },
            )));
        }
        let now = now_us();
        let tx = self.db.begin().await?;
        let m = role::ActiveModel {
            chain_id: Set(cmd.chain_id),
            code: Set(code),
            name: Set(name),
            permissions: Set(encode(&perms)),
            builtin: Set(0),
            created_at_us: Set(now),
            updated_at_us: Set(now),
            ..Default::default()
        }
        .insert(&tx)
        .await?;
        let view = RoleView::from(m);
        let entry = AuditEntry::chain(view.chain_id, "role.create", "role").target(view.id).after(snapshot(&view));
        self.commit_audited(tx, caller, entry).await?;
        Ok(view)
    }

    pub async fn update_role(&self, caller: &Caller, id: i64, cmd: RoleChange) -> AppResult<RoleView> {
        let row = self.role_row(id).await?;
        caller.require(Permission::RoleManage, Target::Chain(row.chain_id))?;
        if row.builtin != 0 {
            return Err(AppError::conflict("role_builtin", None, "内置角色不能修改，请新建自定义角色"));
        }
        let mut p = Problems::default();
        let name = cmd.name.as_deref().map(|n| p.check(field::text("name", n, 64)));
        let perms = cmd.permissions.as_deref().map(|names| permissions(&mut p, names));
        p.finish()?;
        let before = RoleView::from(row.clone());
        let mut m = row.into_active_model();
        if let Some(Some(n)) = name {
            m.name = Set(n);
        }
        if let Some(perms) = perms {
            m.permissions = Set(encode(&perms));
        }
        m.updated_at_us = Set(now_us());
        let tx = self.db.begin().await?;
        let view = RoleView::from(m.update(&tx).await?);
        let entry = AuditEntry::chain(view.chain_id, "role.update", "role")
            .target(view.id)
            .before(snapshot(&before))
            .after(snapshot(&view));
        self.commit_audited(tx, caller, entry).await?;
        Ok(view)
    }

    pub(crate) async fn role_row(&self, id: i64) -> AppResult<role::Model> {
        role::Entity::find_by_id(id).one(self.db.reader()).await?.ok_or(AppError::NotFound { entity: "role" })
    }

    pub async fn get_role(&self, caller: &Caller, id: i64) -> AppResult<RoleView> {
        let row = self.role_row(id).await?;
        caller.require_anywhere(Permission::StaffRead, row.chain_id)?;
        Ok(row.into())
    }

    pub async fn list_roles(&self, caller: &Caller, f: &RoleFilter) -> AppResult<Vec<RoleView>> {
        let chain_id = caller
            .access
            .chain_id()
            .or(f.chain_id)
            .ok_or_else(|| AppError::field(FieldError::new("chain_id", FieldErrorKind::Required)))?;
        caller.require_anywhere(Permission::StaffRead, chain_id)?;
        Ok(role::Entity::find()
            .filter(role::Column::ChainId.eq(chain_id))
            .order_by_desc(role::Column::Builtin)
            .order_by_asc(role::Column::Code)
            .all(self.db.reader())
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }
}
