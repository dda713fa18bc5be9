//! Pump controllers ("devices", F1): registered per station, each with its own HMAC key,
//! and the authentication of their signed requests (see [`jiayou_domain::device_auth`]).
//!
//! # The secret
//!
//! A device secret is 32 random bytes written as 64 lowercase hex characters; the HMAC
//! key is that text as issued (its ASCII bytes, not the decoded bytes). It is shown once,
//! in the answer to registration or rotation, and stored only sealed (context
//! [`SECRET_CONTEXT`]). It never reaches a log or an audit row. An idempotent
//! registration's stored answer holds it too, sealed, until the key expires (24 h, see
//! [`crate::idempotency`]).
//!
//! # Replays
//!
//! Every accepted request's nonce is recorded in `device_nonces` after the signature has
//! been verified; the unique key (device, nonce) refuses it a second time. Nonces are
//! kept [`NONCE_KEEP_S`] (the protocol's [`NONCE_RETENTION_S`] plus a margin for clock
//! differences between servers) and purged every [`PURGE_EVERY`] authentications.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use jiayou_domain::access::Permission;
use jiayou_domain::device_auth::{self, DeviceAuthError, NONCE_RETENTION_S, SignedHeaders};
use jiayou_domain::{FieldError, FieldErrorKind, field};
use jiayou_store::entity::{device, device_nonce, station};
use jiayou_store::{StoreError, now_us};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, Condition, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::audit::AuditEntry;
use crate::caller::snapshot;
use crate::chains::instant;
use crate::error::{Problems, internal};
use crate::idempotency::IdemRequest;
use crate::{App, AppError, AppResult, Caller};

/// Sealing context of `devices.secret`.
pub const SECRET_CONTEXT: &str = "devices.secret";
/// How long an accepted nonce is kept, in seconds: the protocol's minimum plus a minute
/// for servers whose clocks differ.
pub const NONCE_KEEP_S: i64 = NONCE_RETENTION_S + 60;
/// Old nonces are purged once every this many authentications (per process).
pub const PURGE_EVERY: u64 = 64;
/// `last_seen_at` is written at most this often, in seconds.
pub const LAST_SEEN_EVERY_S: i64 = 60;
const MAX_NAME_CHARS: usize = 64;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDevice {
    /// What the device sends as `X-Device-Id`: 1–64 of `A-Z a-z 0-9 _ -`, unique in the
    /// deployment, case-sensitive.
    #[schema(example = "KM01-P1")]
    pub code: String,
    /// For people: "1号加油机控制器".
    pub name: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeviceView {
    pub id: i64,
    pub chain_id: i64,
    pub station_id: i64,
    pub code: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// Last authenticated request (updated at most once a minute).
    pub last_seen_at: Option<DateTime<Utc>>,
    /// Set once retired: a retired device is refused.
    pub retired_at: Option<DateTime<Utc>>,
}

impl From<device::Model> for DeviceView {
    fn from(m: device::Model) -> Self {
        DeviceView {
            id: m.id,
            chain_id: m.chain_id,
            station_id: m.station_id,
            code: m.code,
            name: m.name,
            created_at: instant(m.created_at_us),
            last_seen_at: m.last_seen_at_us.map(instant),
            retired_at: m.retired_at_us.map(instant),
        }
    }
}

/// A device with its secret, answered once (registration, rotation).
#[derive(Clone, Serialize, ToSchema)]
pub struct IssuedDevice {
    pub device: DeviceView,
    /// The HMAC key: 64 hex characters, used as given (its ASCII bytes). Shown only in
    /// this answer; store it in the device.
    pub secret: String,
}

impl std::fmt::Debug for IssuedDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedDevice").field("device", &self.device).field("secret", &"<redacted>").finish()
    }
}

/// A device whose request was authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAuth {
    pub device_id: i64,
    pub chain_id: i64,
    pub station_id: i64,
    pub code: String,
}

/// A fresh secret: 32 bytes of the thread's CSPRNG as lowercase hex.
fn new_secret() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

fn refused(code: &'static str, message_zh: impl Into<String>) -> AppError {
    AppError::Unauthenticated { code, message_zh: message_zh.into() }
}

/// The 401 answer to a refused signature (its code, the zh-CN message naming the header).
pub fn auth_error(e: DeviceAuthError) -> AppError {
    let message = match e.header() {
        Some(h) if matches!(e, DeviceAuthError::MissingHeader(_) | DeviceAuthError::MalformedHeader(_)) => {
            format!("{}（{h}）", e.message_zh())
        }
        _ => e.message_zh().to_owned(),
    };
    refused(e.code(), message)
}

fn unknown_device() -> AppError {
    refused("device_unknown", "设备未登记或已停用")
}

fn device_retired() -> AppError {
    AppError::conflict("device_retired", None, "该设备已停用，不能修改")
}

/// Counts authentications so that old nonces are purged now and then.
static AUTHENTICATIONS: AtomicU64 = AtomicU64::new(0);

impl App {
    /// The device row and its station, after checking `device.manage` there.
    async fn authorize_device(&self, caller: &Caller, id: i64) -> AppResult<(device::Model, station::Model)> {
        let d = device::Entity::find_by_id(id)
            .one(self.db.reader())
            .await?
            .ok_or(AppError::NotFound { entity: "device" })?;
        let st = self.authorize_station(caller, Permission::DeviceManage, d.station_id).await?;
        Ok((d, st))
    }

    /// Registers a pump controller at a station and issues its secret (shown once).
    /// With `idem`, the answer is stored for replay in the same transaction.
    pub async fn register_device(
        &self,
        caller: &Caller,
        station_id: i64,
        cmd: NewDevice,
        idem: Option<&IdemRequest>,
    ) -> AppResult<IssuedDevice> {
        let st = self.authorize_station(caller, Permission::DeviceManage, station_id).await?;
        let mut p = Problems::default();
        let code = cmd.code.trim();
        if code.is_empty() {
            p.push(FieldError::new("code", FieldErrorKind::Required));
        } else if !device_auth::is_valid_device_code(code) {
            p.push(FieldError::new(
                "code",
                FieldErrorKind::InvalidFormat { expected: "1 至 64 位字母、数字、- 或 _".into() },
            ));
        }
        let name = p.check(field::text("name", &cmd.name, MAX_NAME_CHARS));
        p.finish()?;
        let name = name.unwrap_or_default();
        self.live_station(station_id).await?;

        let secret = new_secret();
        let now = now_us();
        let tx = self.db.begin().await?;
        let m = device::ActiveModel {
            chain_id: Set(st.chain_id),
            station_id: Set(station_id),
            code: Set(code.to_owned()),
            name: Set(name),
            secret: Set(self.keys.seal(SECRET_CONTEXT, &secret)),
            created_at_us: Set(now),
            updated_at_us: Set(now),
            last_seen_at_us: Set(None),
            retired_at_us: Set(None),
            ..Default::default()
        }
        .insert(&tx)
        .await?;
        let view = DeviceView::from(m);
        let issued = IssuedDevice { device: view.clone(), secret };
        if let Some(r) = idem {
            let body = serde_json::to_value(&issued).map_err(|e| internal(e.to_string()))?;
            self.idem_finish_in(&tx, r, 201, &body).await?;
        }
        let entry = AuditEntry::station(st.chain_id, station_id, "device.register", "device")
            .target(view.id)
            .after(snapshot(&view));
        self.commit_audited(tx, caller, entry).await?;
        Ok(issued)
    }

    /// A station's devices, retired ones included, by code.
    pub async fn list_devices(&self, caller: &Caller, station_id: i64) -> AppResult<Vec<DeviceView>> {
        self.authorize_station(caller, Permission::DeviceManage, station_id).await?;
        Ok(device::Entity::find()
            .filter(device::Column::StationId.eq(station_id))
            .order_by_asc(device::Column::Code)
            .all(self.db.reader())
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    pub async fn get_device(&self, caller: &Caller, id: i64) -> AppResult<DeviceView> {
        Ok(self.authorize_device(caller, id).await?.0.into())
    }

    /// Issues a new secret (shown once); the old one stops working at once.
    pub async fn rotate_device_secret(&self, caller: &Caller, id: i64) -> AppResult<IssuedDevice> {
        let (_, st) = self.authorize_device(caller, id).await?;
        let tx = self.db.begin().await?;
        let row = device::Entity::find_by_id(id).one(&tx).await?.ok_or(AppError::NotFound { entity: "device" })?;
        if row.retired_at_us.is_some() {
            return Err(device_retired());
        }
        let secret = new_secret();
        let mut m = row.into_active_model();
        m.secret = Set(self.keys.seal(SECRET_CONTEXT, &secret));
        m.updated_at_us = Set(now_us());
        let view = DeviceView::from(m.update(&tx).await?);
        // The audit row says that the secret changed, never what it is.
        let entry = AuditEntry::station(st.chain_id, st.id, "device.rotate_secret", "device")
            .target(view.id)
            .after(snapshot(&view));
        self.commit_audited(tx, caller, entry).await?;
        Ok(IssuedDevice { device: view, secret })
    }

    /// Retires a device: its requests are refused from now on. Retiring again is a no-op.
    pub async fn retire_device(&self, caller: &Caller, id: i64) -> AppResult<DeviceView> {
        let (_, st) = self.authorize_device(caller, id).await?;
        let tx = self.db.begin().await?;
        let row = device::Entity::find_by_id(id).one(&tx).await?.ok_or(AppError::NotFound { entity: "device" })?;
        if row.retired_at_us.is_some() {
            return Ok(row.into());
        }
        let before = snapshot(&DeviceView::from(row.clone()));
        let now = now_us();
        let mut m = row.into_active_model();
        m.retired_at_us = Set(Some(now));
        m.updated_at_us = Set(now);
        let view = DeviceView::from(m.update(&tx).await?);
        let entry = AuditEntry::station(st.chain_id, st.id, "device.retire", "device")
            .target(view.id)
            .before(before)
            .after(snapshot(&view));
        self.commit_audited(tx, caller, entry).await?;
        Ok(view)
    }

    /// Authenticates a signed device request: the live device by its code, its secret,
    /// the timestamp and signature ([`device_auth::verify`] over the exact body bytes),
    /// then the nonce, which must be new. `now_us` is the server's clock (µs since epoch).
    ///
    /// Refusals are 401 with a stable code: `device_unknown` (no such live device),
    /// `device_auth_missing`, `device_auth_malformed`, `device_timestamp_stale`,
    /// `device_signature_invalid`, `device_nonce_replayed`.
    pub async fn authenticate_device(
        &self,
        headers: SignedHeaders,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        now_us: i64,
    ) -> AppResult<DeviceAuth> {
        let d = device::Entity::find()
            .filter(device::Column::Code.eq(headers.device_code.as_str()))
            .one(self.db.reader())
            .await?
            .filter(|d| d.retired_at_us.is_none())
            .ok_or_else(unknown_device)?;
        let secret = self.keys.open(SECRET_CONTEXT, &d.secret).map_err(|e| {
            tracing::error!(device_id = d.id, error = %e, "device secret cannot be opened");
            internal("device secret cannot be opened")
        })?;
        device_auth::verify(secret.as_bytes(), &headers, method, path_and_query, body, now_us.div_euclid(1_000_000))
            .map_err(auth_error)?;

        // Only now, with the signature good, does the nonce count (a forger cannot burn
        // a device's nonces). The unique key refuses a replay, also between servers.
        let inserted = device_nonce::ActiveModel {
            device_id: Set(d.id),
            nonce: Set(headers.nonce.clone()),
            seen_at_us: Set(now_us),
            ..Default::default()
        }
        .insert(self.db.writer())
        .await;
        match inserted.map_err(StoreError::from) {
            Ok(_) => {}
            Err(StoreError::Duplicate { .. }) => {
                return Err(refused(
                    "device_nonce_replayed",
                    "该请求的随机数（X-Nonce）已使用过，请为每个请求生成新的随机数",
                ));
            }
            Err(e) => return Err(e.into()),
        }

        if AUTHENTICATIONS.fetch_add(1, Ordering::Relaxed).is_multiple_of(PURGE_EVERY)
            && let Err(e) = self.purge_device_nonces(now_us).await
        {
            tracing::warn!(error = %e, "purging old device nonces failed");
        }
        if d.last_seen_at_us.is_none_or(|t| t <= now_us - LAST_SEEN_EVERY_S * 1_000_000) {
            // Conditional, so that concurrent requests write it once.
            let cutoff = now_us - LAST_SEEN_EVERY_S * 1_000_000;
            let r = device::Entity::update_many()
                .col_expr(device::Column::LastSeenAtUs, Expr::value(now_us))
                .filter(device::Column::Id.eq(d.id))
                .filter(
                    Condition::any()
                        .add(device::Column::LastSeenAtUs.is_null())
                        .add(device::Column::LastSeenAtUs.lte(cutoff)),
                )
                .exec(self.db.writer())
                .await;
            if let Err(e) = r {
                tracing::warn!(device_id = d.id, error = %e, "recording last_seen_at failed");
            }
        }
        Ok(DeviceAuth { device_id: d.id, chain_id: d.chain_id, station_id: d.station_id, code: d.code })
    }

    /// Deletes the nonces too old to matter (older than [`NONCE_KEEP_S`] before `now_us`).
    /// Authentication calls it now and then; a job may call it too.
    pub async fn purge_device_nonces(&self, now_us: i64) -> AppResult<u64> {
        let r = device_nonce::Entity::delete_many()
            .filter(device_nonce::Column::SeenAtUs.lt(now_us - NONCE_KEEP_S * 1_000_000))
            .exec(self.db.writer())
            .await?;
        Ok(r.rows_affected)
    }
}
