//! Who is calling a use-case, and the permission checks every use-case makes. The HTTP
//! layer resolves a bearer token to a [`Caller`]; the use-cases decide.

use jiayou_domain::access::{Access, Permission, Target, Visible};

use crate::{AppError, AppResult};

#[derive(Debug, Clone)]
pub struct Caller {
    pub access: Access,
    /// Who, for the audit trail: `staff:zhangsan`, `admin-token`, `system:demo`.
    /// Never personal data.
    pub label: String,
    /// Source address of the request, when there is one.
    pub ip: Option<String>,
}

impl Caller {
    /// The platform itself (demo seeding, maintenance commands).
    pub fn system(label: &str) -> Caller {
        Caller { access: Access::Platform, label: format!("system:{label}"), ip: None }
    }

    /// Refuses with 403 naming the permission unless the caller holds it for `target`.
    pub fn require(&self, permission: Permission, target: Target) -> AppResult<()> {
        self.access.check(permission, target).map_err(|d| AppError::Forbidden { permission: d.permission })
    }

    /// Requires `permission` on at least one station of the chain (for chain-wide data
    /// such as grades that every station's staff need to see).
    pub fn require_anywhere(&self, permission: Permission, chain_id: i64) -> AppResult<()> {
        if self.access.holds_anywhere(permission, chain_id) { Ok(()) } else { Err(AppError::Forbidden { permission }) }
    }

    /// Staff must hold `permission` at some station of their own chain: a 403 before
    /// looking anything up, so refused roles learn nothing about what exists.
    pub fn require_somewhere(&self, permission: Permission) -> AppResult<()> {
        match &self.access {
            Access::Platform => Ok(()),
            Access::Staff { chain_id, .. } => self.require_anywhere(permission, *chain_id),
        }
    }

    pub fn visible(&self, permission: Permission, chain_id: i64) -> Visible {
        self.access.visible(permission, chain_id)
    }

    pub fn staff_id(&self) -> Option<i64> {
        match self.access {
            Access::Staff { staff_id, .. } => Some(staff_id),
            Access::Platform => None,
        }
    }
}

impl Caller {
    /// The caller as the audit trail records them.
    pub fn actor(&self) -> crate::audit::Actor {
        use crate::audit::Actor;
        match &self.access {
            Access::Staff { staff_id, .. } => Actor::staff(*staff_id, self.label.clone(), self.ip.clone()),
            Access::Platform if self.label.starts_with("system:") => Actor::system(self.label.clone()),
            Access::Platform => Actor::admin_token(self.ip.clone()),
        }
    }
}

impl crate::App {
    /// Records `entry` by `caller` and commits `tx`: the audit row commits with the
    /// change it describes, or neither does (S6).
    pub(crate) async fn commit_audited(
        &self,
        tx: sea_orm::DatabaseTransaction,
        caller: &Caller,
        entry: crate::audit::AuditEntry,
    ) -> AppResult<()> {
        self.audit(&tx, &caller.actor(), entry).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// A view as the before/after of an audit row. Views carry no personal data in clear
/// except where noted at their call sites.
pub(crate) fn snapshot(v: &impl serde::Serialize) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}
