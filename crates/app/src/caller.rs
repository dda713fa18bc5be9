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
