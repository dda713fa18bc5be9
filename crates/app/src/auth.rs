//! Staff sign-in (B5): argon2id passwords, lockout after repeated failures, and
//! sessions that can be listed and revoked. Tokens are random 256-bit values given to
//! the client once; only their SHA-256 is stored.

use std::collections::BTreeSet;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use jiayou_domain::access::{Access, Grant, Permission};
use jiayou_domain::{FieldError, FieldErrorKind, field};
use jiayou_store::entity::{role, staff, staff_grant, staff_login_failure, staff_nozzle, staff_session};
use jiayou_store::now_us;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::audit::{Actor, AuditEntry};
use crate::chains::instant;
use crate::error::Problems;
use crate::{App, AppError, AppResult, Caller};

/// Failed sign-ins in a row that lock an account.
pub const MAX_FAILED_LOGINS: i32 = 5;
/// How long a lock lasts.
pub const LOCK_US: i64 = 15 * 60 * 1_000_000;
/// Failed sign-ins from one address within [`ADDRESS_WINDOW_US`] before that address
/// must wait: many accounts' worth, so an office behind one NAT is not blocked by a
/// few typos, while guessing or locking accounts in bulk from one place stops.
pub const MAX_FAILURES_PER_ADDRESS: u64 = 30;
pub const ADDRESS_WINDOW_US: i64 = 15 * 60 * 1_000_000;
/// A session's absolute lifetime: one working day and a bit.
pub const SESSION_US: i64 = 12 * 3600 * 1_000_000;
/// `last_seen` is refreshed at most this often, so reads don't all become writes.
const SEEN_REFRESH_US: i64 = 60 * 1_000_000;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The chain's code, e.g. `YNDEMO`.
    pub chain: String,
    pub username: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// Bearer token for `Authorization: Bearer …`; shown once.
    pub token: String,
    pub session_id: i64,
    pub expires_at: DateTime<Utc>,
    pub staff_id: i64,
    pub chain_id: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub id: i64,
    pub staff_id: i64,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The session this request was made with.
    pub current: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

/// Where a sign-in comes from, recorded on the session.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A resolved staff session.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub caller: Caller,
    pub session_id: i64,
}

/// A fresh bearer token: 256 random bits, URL-safe base64. Given to the client once.
pub fn new_token() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Hashes a password with argon2id and a random salt (PHC string). CPU-heavy: run it
/// off the async executor.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>()).expect("16 bytes is a valid salt length");
    Argon2::default().hash_password(password.as_bytes(), &salt).expect("argon2 with default parameters").to_string()
}

fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A password policy a station can live with: 8–128 characters, not all one kind.
pub fn validate_password(field_name: &'static str, p: &str) -> Result<(), FieldError> {
    let n = p.chars().count();
    if n < 8 {
        return Err(FieldError::new(field_name, FieldErrorKind::TooShort { min: 8 }));
    }
    if n > 128 {
        return Err(FieldError::new(field_name, FieldErrorKind::TooLong { max: 128 }));
    }
    if p.chars().all(|c| c.is_ascii_digit()) || p.chars().all(char::is_alphabetic) {
        return Err(FieldError::new(
            field_name,
            FieldErrorKind::InvalidFormat { expected: "同时包含字母和数字（或符号）的密码".into() },
        ));
    }
    Ok(())
}

fn bad_credentials() -> AppError {
    AppError::Unauthenticated {
        code: "invalid_credentials", message_zh: "连锁代码、用户名或密码错误".into()
    }
}

fn bad_session() -> AppError {
    AppError::Unauthenticated {
        code: "invalid_session",
        message_zh: "登录已失效（过期、已注销或令牌无效），请重新登录".into(),
    }
}

impl App {
    pub async fn login(&self, req: LoginRequest, client: ClientInfo) -> AppResult<LoginResponse> {
        let mut p = Problems::default();
        p.check(field::text("chain", &req.chain, 32));
        p.check(field::text("username", &req.username, 64));
        if req.password.is_empty() {
            p.push(FieldError::new("password", FieldErrorKind::Required));
        }
        p.finish()?;
        let now = now_us();
        if let Some(ip) = client.ip.as_deref() {
            self.check_address_failures(ip, now).await?;
        }
        let chain_id = self.chain_id_by_code(&req.chain).await?;
        let row = match chain_id {
            Some(c) => {
                staff::Entity::find()
                    .filter(staff::Column::ChainId.eq(c))
                    .filter(staff::Column::Username.eq(req.username.trim().to_ascii_lowercase()))
                    .one(self.db.reader())
                    .await?
            }
            None => None,
        };
        if let Some(s) = &row
            && let Some(until) = s.locked_until_us.filter(|u| *u > now)
        {
            return Err(AppError::Locked { until_us: until });
        }
        // Verify even for unknown users, against a fixed hash, so timing does not tell
        // which usernames exist.
        let phc = row.as_ref().map(|s| s.password_hash.clone()).unwrap_or_else(|| DUMMY_HASH.clone());
        let password = req.password;
        let ok = tokio::task::spawn_blocking(move || verify_password(&password, &phc)).await.unwrap_or(false);
        let Some(s) = row.filter(|s| s.disabled_at_us.is_none()) else {
            self.record_address_failure(client.ip.as_deref(), now).await?;
            return Err(bad_credentials());
        };
        if !ok {
            self.record_address_failure(client.ip.as_deref(), now).await?;
            // Count atomically; the request that reaches the limit sets the lock.
            staff::Entity::update_many()
                .col_expr(staff::Column::FailedLogins, Expr::col(staff::Column::FailedLogins).add(1))
                .filter(staff::Column::Id.eq(s.id))
                .exec(self.db.writer())
                .await?;
            staff::Entity::update_many()
                .col_expr(staff::Column::LockedUntilUs, Expr::value(now + LOCK_US))
                .col_expr(staff::Column::FailedLogins, Expr::value(0))
                .filter(staff::Column::Id.eq(s.id))
                .filter(staff::Column::FailedLogins.gte(MAX_FAILED_LOGINS))
                .exec(self.db.writer())
                .await?;
            return Err(bad_credentials());
        }
        let token = new_token();
        let tx = self.db.begin().await?;
        staff::Entity::update_many()
            .col_expr(staff::Column::FailedLogins, Expr::value(0))
            .col_expr(staff::Column::LockedUntilUs, Expr::value(Option::<i64>::None))
            .filter(staff::Column::Id.eq(s.id))
            .exec(&tx)
            .await?;
        let session = staff_session::ActiveModel {
            staff_id: Set(s.id),
            token_hash: Set(hash_token(&token)),
            created_at_us: Set(now),
            last_seen_at_us: Set(now),
            expires_at_us: Set(now + SESSION_US),
            revoked_at_us: Set(None),
            ip: Set(client.ip.clone().map(|v| v.chars().take(64).collect())),
            user_agent: Set(client.user_agent.map(|v| v.chars().take(200).collect())),
            ..Default::default()
        }
        .insert(&tx)
        .await?;
        // Sign-ins are audited (who, when, from where); never the password.
        let actor = Actor::staff(s.id, format!("staff:{}", s.username), client.ip);
        let entry = AuditEntry::chain(s.chain_id, "auth.login", "session").target(session.id);
        self.audit(&tx, &actor, entry).await?;
        tx.commit().await?;
        Ok(LoginResponse {
            token,
            session_id: session.id,
            expires_at: instant(session.expires_at_us),
            staff_id: s.id,
            chain_id: s.chain_id,
        })
    }

    async fn check_address_failures(&self, ip: &str, now: i64) -> AppResult<()> {
        let recent: Vec<i64> = staff_login_failure::Entity::find()
            .select_only()
            .column(staff_login_failure::Column::AtUs)
            .filter(staff_login_failure::Column::Ip.eq(ip))
            .filter(staff_login_failure::Column::AtUs.gt(now - ADDRESS_WINDOW_US))
            .order_by_desc(staff_login_failure::Column::AtUs)
            .limit(MAX_FAILURES_PER_ADDRESS)
            .into_tuple()
            .all(self.db.reader())
            .await?;
        if recent.len() as u64 >= MAX_FAILURES_PER_ADDRESS {
            // The oldest failure in the window leaving it frees the address.
            let frees = recent.last().copied().unwrap_or(now) + ADDRESS_WINDOW_US;
            return Err(AppError::RateLimited {
                code: "login_rate_limited",
                field: None,
                retry_after_s: u64::try_from((frees - now) / 1_000_000 + 1).unwrap_or(1),
                message_zh: "该网络登录失败次数过多，请稍后再试".into(),
            });
        }
        Ok(())
    }

    async fn record_address_failure(&self, ip: Option<&str>, now: i64) -> AppResult<()> {
        let Some(ip) = ip else { return Ok(()) };
        let ip: String = ip.chars().take(64).collect();
        let tx = self.db.begin().await?;
        // Rows older than the window are of no further use: prune this address's.
        staff_login_failure::Entity::delete_many()
            .filter(staff_login_failure::Column::Ip.eq(ip.as_str()))
            .filter(staff_login_failure::Column::AtUs.lt(now - ADDRESS_WINDOW_US))
            .exec(&tx)
            .await?;
        staff_login_failure::ActiveModel { ip: Set(ip), at_us: Set(now), ..Default::default() }.insert(&tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Resolves a bearer token to the staff member's permissions.
    pub async fn authenticate(&self, token: &str, ip: Option<String>) -> AppResult<Authenticated> {
        let now = now_us();
        let session = staff_session::Entity::find()
            .filter(staff_session::Column::TokenHash.eq(hash_token(token)))
            .one(self.db.reader())
            .await?
            .filter(|s| s.revoked_at_us.is_none() && s.expires_at_us > now)
            .ok_or_else(bad_session)?;
        let s = staff::Entity::find_by_id(session.staff_id)
            .one(self.db.reader())
            .await?
            .filter(|s| s.disabled_at_us.is_none())
            .ok_or_else(bad_session)?;
        if now - session.last_seen_at_us > SEEN_REFRESH_US {
            staff_session::Entity::update_many()
                .col_expr(staff_session::Column::LastSeenAtUs, Expr::value(now))
                .filter(staff_session::Column::Id.eq(session.id))
                .exec(self.db.writer())
                .await?;
        }
        let access = self.staff_access(&s).await?;
        Ok(Authenticated {
            caller: Caller { access, label: format!("staff:{}", s.username), ip },
            session_id: session.id,
        })
    }

    /// The grants and nozzle assignments of a staff member.
    pub(crate) async fn staff_access(&self, s: &staff::Model) -> AppResult<Access> {
        let grants = self.grants_of(s.id).await?;
        let nozzles = staff_nozzle::Entity::find()
            .filter(staff_nozzle::Column::StaffId.eq(s.id))
            .all(self.db.reader())
            .await?
            .into_iter()
            .map(|n| n.nozzle_id)
            .collect();
        Ok(Access::Staff { staff_id: s.id, chain_id: s.chain_id, grants, nozzles })
    }

    /// A staff member's grants with their roles' permissions (two queries).
    async fn grants_of(&self, staff_id: i64) -> AppResult<Vec<Grant>> {
        let grants =
            staff_grant::Entity::find().filter(staff_grant::Column::StaffId.eq(staff_id)).all(self.db.reader()).await?;
        let role_ids: Vec<i64> = grants.iter().map(|g| g.role_id).collect();
        let roles: std::collections::HashMap<i64, role::Model> = role::Entity::find()
            .filter(role::Column::Id.is_in(role_ids))
            .all(self.db.reader())
            .await?
            .into_iter()
            .map(|r| (r.id, r))
            .collect();
        Ok(grants
            .into_iter()
            .filter_map(|g| {
                let r = roles.get(&g.role_id)?;
                let station_id = (g.station_id != 0).then_some(g.station_id);
                Some(Grant { station_id, permissions: parse_permissions(&r.permissions) })
            })
            .collect())
    }

    pub async fn list_sessions(&self, me: &Authenticated) -> AppResult<Vec<SessionView>> {
        let staff_id = me.caller.staff_id().unwrap_or_default();
        Ok(staff_session::Entity::find()
            .filter(staff_session::Column::StaffId.eq(staff_id))
            .filter(staff_session::Column::RevokedAtUs.is_null())
            .filter(staff_session::Column::ExpiresAtUs.gt(now_us()))
            .order_by_desc(staff_session::Column::LastSeenAtUs)
            .all(self.db.reader())
            .await?
            .into_iter()
            .map(|s| SessionView {
                current: s.id == me.session_id,
                id: s.id,
                staff_id: s.staff_id,
                created_at: instant(s.created_at_us),
                last_seen_at: instant(s.last_seen_at_us),
                expires_at: instant(s.expires_at_us),
                revoked_at: s.revoked_at_us.map(instant),
                ip: s.ip,
                user_agent: s.user_agent,
            })
            .collect())
    }

    /// A staff member changes their own password. The current one is required, and every
    /// other session ends (a device signed in by someone who knew the old password).
    pub async fn change_own_password(&self, me: &Authenticated, cmd: PasswordChange) -> AppResult<()> {
        let staff_id = me.caller.staff_id().ok_or_else(bad_session)?;
        let mut p = Problems::default();
        p.check(validate_password("new_password", &cmd.new_password));
        if cmd.new_password == cmd.current_password {
            p.push(FieldError::new(
                "new_password",
                FieldErrorKind::Conflict { reason: "新密码不能与当前密码相同".into() },
            ));
        }
        p.finish()?;
        let s = staff::Entity::find_by_id(staff_id).one(self.db.reader()).await?.ok_or_else(bad_session)?;
        let (current, phc) = (cmd.current_password, s.password_hash.clone());
        let ok = tokio::task::spawn_blocking(move || verify_password(&current, &phc)).await.unwrap_or(false);
        if !ok {
            return Err(AppError::field(FieldError::new(
                "current_password",
                FieldErrorKind::Conflict { reason: "当前密码不正确".into() },
            )));
        }
        let new = cmd.new_password;
        let hash = tokio::task::spawn_blocking(move || hash_password(&new))
            .await
            .map_err(|e| AppError::Store(jiayou_store::StoreError::Db(sea_orm::DbErr::Custom(e.to_string()))))?;
        let now = now_us();
        let tx = self.db.begin().await?;
        staff::Entity::update_many()
            .col_expr(staff::Column::PasswordHash, Expr::value(hash))
            .col_expr(staff::Column::UpdatedAtUs, Expr::value(now))
            .filter(staff::Column::Id.eq(staff_id))
            .exec(&tx)
            .await?;
        staff_session::Entity::update_many()
            .col_expr(staff_session::Column::RevokedAtUs, Expr::value(now))
            .filter(staff_session::Column::StaffId.eq(staff_id))
            .filter(staff_session::Column::Id.ne(me.session_id))
            .filter(staff_session::Column::RevokedAtUs.is_null())
            .exec(&tx)
            .await?;
        let entry = AuditEntry::chain(s.chain_id, "auth.password.change", "staff").target(staff_id);
        self.commit_audited(tx, &me.caller, entry).await
    }

    /// Revokes one of the caller's own sessions (sign out there). Idempotent.
    pub async fn revoke_session(&self, me: &Authenticated, session_id: i64) -> AppResult<()> {
        let staff_id = me.caller.staff_id().unwrap_or_default();
        let s = staff_session::Entity::find_by_id(session_id)
            .one(self.db.reader())
            .await?
            .filter(|s| s.staff_id == staff_id)
            .ok_or(AppError::NotFound { entity: "session" })?;
        let tx = self.db.begin().await?;
        let revoked = staff_session::Entity::update_many()
            .col_expr(staff_session::Column::RevokedAtUs, Expr::value(now_us()))
            .filter(staff_session::Column::Id.eq(s.id))
            .filter(staff_session::Column::RevokedAtUs.is_null())
            .exec(&tx)
            .await?;
        if revoked.rows_affected == 0 {
            return Ok(());
        }
        let chain_id = me.caller.access.chain_id().unwrap_or_default();
        self.commit_audited(tx, &me.caller, AuditEntry::chain(chain_id, "auth.session.revoke", "session").target(s.id))
            .await
    }
}

/// A valid argon2 hash of a random password, verified against for unknown usernames.
static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash_password(&hex::encode(rand::random::<[u8; 16]>())));

/// Roles store permission names as JSON; names no longer known are ignored.
pub(crate) fn parse_permissions(json: &str) -> BTreeSet<Permission> {
    serde_json::from_str::<Vec<String>>(json).unwrap_or_default().iter().filter_map(|n| Permission::parse(n)).collect()
}
