//! Staff accounts (B5): create, edit, disable, grants of roles per station or chain,
//! nozzle assignments for attendants. Phone numbers are personal data: sealed at rest
//! and masked unless the caller holds `pii.read`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use jiayou_domain::access::{Permission, Target, Visible, mask_phone};
use jiayou_domain::{FieldError, FieldErrorKind, field};
use jiayou_store::crypto::normalize_phone;
use jiayou_store::entity::{nozzle, role, staff, staff_grant, staff_nozzle, staff_session, station};
use jiayou_store::now_us;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::audit::AuditEntry;
use crate::auth::{hash_password, validate_password};
use crate::caller::snapshot;
use crate::chains::instant;
use crate::error::Problems;
use crate::{App, AppError, AppResult, Caller};

const PHONE_CONTEXT: &str = "staff.phone";

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStaff {
    pub chain_id: i64,
    /// Sign-in name, unique in the chain: 3–64 of a-z 0-9 . _ -
    pub username: String,
    pub display_name: String,
    pub password: String,
    pub phone: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffChange {
    pub display_name: Option<String>,
    /// Empty string removes the number.
    pub phone: Option<String>,
    /// Disable (true) or re-enable (false) the account; disabling ends its sessions' use.
    pub disabled: Option<bool>,
    /// Sets a new password and lifts a lock.
    pub password: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantInput {
    pub role_id: i64,
    /// The station the role applies to; absent = the whole chain.
    pub station_id: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantsChange {
    /// The complete new set of grants (replaces the old one).
    pub grants: Vec<GrantInput>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NozzlesChange {
    /// The complete set of nozzles assigned to this attendant.
    pub nozzle_ids: Vec<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StaffFilter {
    pub chain_id: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GrantView {
    pub role_id: i64,
    pub role_code: String,
    pub station_id: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StaffView {
    pub id: i64,
    pub chain_id: i64,
    pub username: String,
    pub display_name: String,
    /// Masked (138****1234) unless the caller holds `pii.read`.
    pub phone: Option<String>,
    pub disabled: bool,
    pub locked_until: Option<DateTime<Utc>>,
    pub grants: Vec<GrantView>,
    pub nozzle_ids: Vec<i64>,
}

fn validate_username(u: &str) -> Result<String, FieldError> {
    let u = u.trim().to_ascii_lowercase();
    let ok = (3..=64).contains(&u.len()) && u.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if ok {
        Ok(u)
    } else {
        Err(FieldError::new(
            "username",
            FieldErrorKind::InvalidFormat { expected: "3 至 64 位小写字母、数字、. _ -".into() },
        ))
    }
}

fn validate_mobile(p: &str) -> Result<String, FieldError> {
    let n = normalize_phone(p);
    if n.len() == 11 && n.starts_with('1') && n.chars().all(|c| c.is_ascii_digit()) {
        Ok(n)
    } else {
        Err(FieldError::new("phone", FieldErrorKind::InvalidFormat { expected: "11 位手机号".into() }))
    }
}

/// A staff row as the audit trail keeps it: no phone number or display name (personal
/// data), only whether a phone is set; never the password hash.
fn staff_snapshot(m: &staff::Model) -> serde_json::Value {
    serde_json::json!({
        "id": m.id,
        "username": m.username,
        "phone_set": m.phone.is_some(),
        "disabled": m.disabled_at_us.is_some(),
    })
}

impl App {
    async fn staff_row(&self, id: i64) -> AppResult<staff::Model> {
        staff::Entity::find_by_id(id).one(self.db.reader()).await?.ok_or(AppError::NotFound { entity: "staff" })
    }

    async fn staff_view(&self, caller: &Caller, s: staff::Model) -> AppResult<StaffView> {
        let grants =
            staff_grant::Entity::find().filter(staff_grant::Column::StaffId.eq(s.id)).all(self.db.reader()).await?;
        let codes: HashMap<i64, String> = role::Entity::find()
            .filter(role::Column::Id.is_in(grants.iter().map(|g| g.role_id).collect::<Vec<_>>()))
            .all(self.db.reader())
            .await?
            .into_iter()
            .map(|r| (r.id, r.code))
            .collect();
        let nozzle_ids = staff_nozzle::Entity::find()
            .filter(staff_nozzle::Column::StaffId.eq(s.id))
            .order_by_asc(staff_nozzle::Column::NozzleId)
            .all(self.db.reader())
            .await?
            .into_iter()
            .map(|n| n.nozzle_id)
            .collect();
        let phone = match &s.phone {
            Some(sealed) => {
                let plain = self.keys.open(PHONE_CONTEXT, sealed).map_err(|e| {
                    AppError::Store(jiayou_store::StoreError::Db(sea_orm::DbErr::Custom(format!("staff phone: {e}"))))
                })?;
                let full = caller.require(Permission::PiiRead, Target::Chain(s.chain_id)).is_ok();
                Some(if full { plain } else { mask_phone(&plain) })
            }
            None => None,
        };
        Ok(StaffView {
            id: s.id,
            chain_id: s.chain_id,
            username: s.username,
            display_name: s.display_name,
            phone,
            disabled: s.disabled_at_us.is_some(),
            locked_until: s.locked_until_us.filter(|u| *u > now_us()).map(instant),
            grants: grants
                .into_iter()
                .map(|g| GrantView {
                    role_code: codes.get(&g.role_id).cloned().unwrap_or_default(),
                    role_id: g.role_id,
                    station_id: (g.station_id != 0).then_some(g.station_id),
                })
                .collect(),
            nozzle_ids,
        })
    }

    pub async fn create_staff(&self, caller: &Caller, cmd: NewStaff) -> AppResult<StaffView> {
        caller.require(Permission::StaffManage, Target::Chain(cmd.chain_id))?;
        let mut p = Problems::default();
        let username = p.check(validate_username(&cmd.username));
        let display_name = p.check(field::text("display_name", &cmd.display_name, 64));
        p.check(validate_password("password", &cmd.password));
        let phone = cmd.phone.as_deref().filter(|s| !s.trim().is_empty()).map(|v| p.check(validate_mobile(v)));
        p.finish()?;
        let (Some(username), Some(display_name)) = (username, display_name) else { unreachable!("validated above") };
        self.get_chain_row(cmd.chain_id)
            .await
            .map_err(|_| AppError::field(FieldError::new("chain_id", FieldErrorKind::NotFound)))?;
        let password = cmd.password;
        let hash = tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(|e| AppError::Store(jiayou_store::StoreError::Db(sea_orm::DbErr::Custom(e.to_string()))))?;
        let now = now_us();
        let phone = phone.flatten();
        let tx = self.db.begin().await?;
        let m = staff::ActiveModel {
            chain_id: Set(cmd.chain_id),
            username: Set(username),
            display_name: Set(display_name),
            phone_bidx: Set(phone.as_ref().map(|p| self.keys.blind_index(PHONE_CONTEXT, p))),
            phone: Set(phone.as_ref().map(|p| self.keys.seal(PHONE_CONTEXT, p))),
            password_hash: Set(hash),
            failed_logins: Set(0),
            locked_until_us: Set(None),
            disabled_at_us: Set(None),
            created_at_us: Set(now),
            updated_at_us: Set(now),
            ..Default::default()
        }
        .insert(&tx)
        .await?;
        let entry = AuditEntry::chain(m.chain_id, "staff.create", "staff").target(m.id).after(staff_snapshot(&m));
        self.commit_audited(tx, caller, entry).await?;
        self.staff_view(caller, m).await
    }

    /// One staff member: chain-wide `staff.read`, or `staff.read` at a station where
    /// the staff member holds a grant (as the list shows).
    pub async fn get_staff(&self, caller: &Caller, id: i64) -> AppResult<StaffView> {
        let s = self.staff_row(id).await?;
        match caller.visible(Permission::StaffRead, s.chain_id) {
            Visible::All => {}
            Visible::Only(stations) => {
                let works_there = staff_grant::Entity::find()
                    .filter(staff_grant::Column::StaffId.eq(s.id))
                    .filter(staff_grant::Column::StationId.is_in(stations))
                    .one(self.db.reader())
                    .await?
                    .is_some();
                if !works_there {
                    return Err(AppError::Forbidden { permission: Permission::StaffRead });
                }
            }
        }
        self.staff_view(caller, s).await
    }

    pub async fn list_staff(&self, caller: &Caller, f: &StaffFilter) -> AppResult<Vec<StaffView>> {
        let chain_id = caller
            .access
            .chain_id()
            .or(f.chain_id)
            .ok_or_else(|| AppError::field(FieldError::new("chain_id", FieldErrorKind::Required)))?;
        let mut q = staff::Entity::find().filter(staff::Column::ChainId.eq(chain_id));
        match caller.visible(Permission::StaffRead, chain_id) {
            Visible::All => {}
            Visible::Only(ids) if ids.is_empty() => {
                return Err(AppError::Forbidden { permission: Permission::StaffRead });
            }
            // A station's manager sees the staff who work at the stations they manage.
            Visible::Only(ids) => {
                let staff_ids: Vec<i64> = staff_grant::Entity::find()
                    .filter(staff_grant::Column::StationId.is_in(ids))
                    .all(self.db.reader())
                    .await?
                    .into_iter()
                    .map(|g| g.staff_id)
                    .collect();
                q = q.filter(staff::Column::Id.is_in(staff_ids));
            }
        }
        let rows = q.order_by_asc(staff::Column::Username).all(self.db.reader()).await?;
        let mut out = Vec::with_capacity(rows.len());
        for s in rows {
            out.push(self.staff_view(caller, s).await?);
        }
        Ok(out)
    }

    pub async fn update_staff(&self, caller: &Caller, id: i64, cmd: StaffChange) -> AppResult<StaffView> {
        let row = self.staff_row(id).await?;
        caller.require(Permission::StaffManage, Target::Chain(row.chain_id))?;
        let mut p = Problems::default();
        let display_name = cmd.display_name.as_deref().map(|v| p.check(field::text("display_name", v, 64)));
        let phone = cmd
            .phone
            .as_deref()
            .map(|v| if v.trim().is_empty() { Some(None) } else { p.check(validate_mobile(v)).map(Some) });
        if let Some(pw) = &cmd.password {
            p.check(validate_password("password", pw));
        }
        p.finish()?;
        let hash =
            match cmd.password {
                Some(pw) => Some(tokio::task::spawn_blocking(move || hash_password(&pw)).await.map_err(|e| {
                    AppError::Store(jiayou_store::StoreError::Db(sea_orm::DbErr::Custom(e.to_string())))
                })?),
                None => None,
            };
        let now = now_us();
        let before = staff_snapshot(&row);
        let password_changed = hash.is_some();
        let mut m = row.into_active_model();
        if let Some(Some(v)) = display_name {
            m.display_name = Set(v);
        }
        if let Some(Some(v)) = phone {
            m.phone_bidx = Set(v.as_ref().map(|p| self.keys.blind_index(PHONE_CONTEXT, p)));
            m.phone = Set(v.as_ref().map(|p| self.keys.seal(PHONE_CONTEXT, p)));
        }
        if let Some(d) = cmd.disabled {
            m.disabled_at_us = Set(d.then_some(now));
        }
        if let Some(h) = hash {
            m.password_hash = Set(h);
            m.failed_logins = Set(0);
            m.locked_until_us = Set(None);
        }
        m.updated_at_us = Set(now);
        let tx = self.db.begin().await?;
        let m = m.update(&tx).await?;
        // A new password or a disabled account ends every session: the person who lost
        // access must not keep it through a device still signed in.
        if password_changed || cmd.disabled == Some(true) {
            staff_session::Entity::update_many()
                .col_expr(staff_session::Column::RevokedAtUs, sea_orm::sea_query::Expr::value(now))
                .filter(staff_session::Column::StaffId.eq(m.id))
                .filter(staff_session::Column::RevokedAtUs.is_null())
                .exec(&tx)
                .await?;
        }
        let mut after = staff_snapshot(&m);
        after["password_changed"] = password_changed.into();
        let entry = AuditEntry::chain(m.chain_id, "staff.update", "staff").target(m.id).before(before).after(after);
        self.commit_audited(tx, caller, entry).await?;
        self.staff_view(caller, m).await
    }

    /// Replaces a staff member's grants. Every role and station must belong to the
    /// staff member's chain; the whole set is written in one transaction or not at all.
    pub async fn set_grants(&self, caller: &Caller, id: i64, cmd: GrantsChange) -> AppResult<StaffView> {
        let s = self.staff_row(id).await?;
        caller.require(Permission::StaffManage, Target::Chain(s.chain_id))?;
        let mut p = Problems::default();
        for (i, g) in cmd.grants.iter().enumerate() {
            let role_ok = role::Entity::find_by_id(g.role_id)
                .one(self.db.reader())
                .await?
                .is_some_and(|r| r.chain_id == s.chain_id);
            if !role_ok {
                p.push(FieldError::new(format!("grants[{i}].role_id"), FieldErrorKind::NotFound));
            }
            if let Some(st) = g.station_id {
                let st_ok = station::Entity::find_by_id(st)
                    .one(self.db.reader())
                    .await?
                    .is_some_and(|x| x.chain_id == s.chain_id);
                if !st_ok {
                    p.push(FieldError::new(format!("grants[{i}].station_id"), FieldErrorKind::NotFound));
                }
            }
        }
        p.finish()?;
        // Read through the reader before the write transaction starts (on SQLite the
        // single writer connection is the transaction's).
        let before = self.staff_view(caller, s.clone()).await?;
        let tx = self.db.begin().await?;
        staff_grant::Entity::delete_many().filter(staff_grant::Column::StaffId.eq(id)).exec(&tx).await?;
        let now = now_us();
        let mut seen = std::collections::HashSet::new();
        for g in &cmd.grants {
            if !seen.insert((g.role_id, g.station_id)) {
                continue;
            }
            staff_grant::ActiveModel {
                staff_id: Set(id),
                role_id: Set(g.role_id),
                station_id: Set(g.station_id.unwrap_or(0)),
                created_at_us: Set(now),
                ..Default::default()
            }
            .insert(&tx)
            .await?;
        }
        let grants: Vec<serde_json::Value> =
            cmd.grants.iter().map(|g| serde_json::json!({"role_id": g.role_id, "station_id": g.station_id})).collect();
        let entry = AuditEntry::chain(s.chain_id, "staff.grants.set", "staff")
            .target(s.id)
            .before(serde_json::json!({"grants": snapshot(&before.grants)}))
            .after(serde_json::json!({"grants": grants}));
        self.commit_audited(tx, caller, entry).await?;
        self.staff_view(caller, s).await
    }

    /// Replaces the nozzles assigned to a staff member (their view of sales with
    /// `sales.read_own`). Each nozzle must be at a station the caller manages.
    pub async fn set_nozzles(&self, caller: &Caller, id: i64, cmd: NozzlesChange) -> AppResult<StaffView> {
        let s = self.staff_row(id).await?;
        caller.require_anywhere(Permission::StaffManage, s.chain_id)?;
        let mut p = Problems::default();
        for (i, nid) in cmd.nozzle_ids.iter().enumerate() {
            match nozzle::Entity::find_by_id(*nid).one(self.db.reader()).await? {
                Some(n) => {
                    let st = self.station_row(n.station_id).await?;
                    if st.chain_id != s.chain_id {
                        p.push(FieldError::new(format!("nozzle_ids[{i}]"), FieldErrorKind::NotFound));
                    } else {
                        caller.require(
                            Permission::StaffManage,
                            Target::Station { chain_id: st.chain_id, station_id: st.id },
                        )?;
                    }
                }
                None => p.push(FieldError::new(format!("nozzle_ids[{i}]"), FieldErrorKind::NotFound)),
            }
        }
        if cmd.nozzle_ids.is_empty() {
            // Clearing every assignment spans all stations: a chain-wide decision.
            caller.require(Permission::StaffManage, Target::Chain(s.chain_id))?;
        }
        p.finish()?;
        let before = self.staff_view(caller, s.clone()).await?.nozzle_ids;
        let tx = self.db.begin().await?;
        staff_nozzle::Entity::delete_many().filter(staff_nozzle::Column::StaffId.eq(id)).exec(&tx).await?;
        let mut ids = cmd.nozzle_ids.clone();
        ids.sort_unstable();
        ids.dedup();
        for nid in &ids {
            staff_nozzle::ActiveModel {
                staff_id: Set(id),
                nozzle_id: Set(*nid),
                created_at_us: Set(now_us()),
                ..Default::default()
            }
            .insert(&tx)
            .await?;
        }
        let entry = AuditEntry::chain(s.chain_id, "staff.nozzles.set", "staff")
            .target(s.id)
            .before(serde_json::json!({"nozzle_ids": before}))
            .after(serde_json::json!({"nozzle_ids": ids}));
        self.commit_audited(tx, caller, entry).await?;
        self.staff_view(caller, s).await
    }
}
