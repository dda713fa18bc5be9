//! Idempotency keys with Stripe's semantics (ARCHITECTURE, money-path rule 3).
//!
//! A client sends `Idempotency-Key: <key>` with a request that changes something. Per
//! caller (`scope`: `member:12`, `staff:5`, `device:3`, `admin`):
//!
//! - the first request with a key claims it ([`App::idem_start`] inserts a `pending`
//!   row; the unique key (scope, key) lets exactly one of concurrent duplicates win);
//! - the use-case stores its answer **in its own transaction**, as one of its last
//!   statements ([`App::idem_finish_in`]): the money change and the stored answer
//!   commit together or not at all, so a crash in between cannot let a retry pay twice;
//! - the same key with the same request (same [`fingerprint`]) replays the stored answer;
//!   with a different request it is refused (422 `idempotency_key_reused`); while the
//!   first is still in flight, a duplicate gets 409 `idempotency_in_progress`;
//! - when the use-case fails, [`App::idem_abandon`] deletes the claim and the client may
//!   retry with the same key;
//! - a claim whose request died before committing (older than [`PENDING_TAKEOVER_US`])
//!   is taken over by the next retry. Finishing is conditional on the row still being
//!   `pending`, so even then only one of the two requests can commit its change;
//! - keys live [`TTL_US`] (24 h) after their answer was stored; [`App::idem_purge`]
//!   deletes them afterwards.
//!
//! Stored answers may hold secrets (a device secret) and personal data: they are sealed
//! (context [`BODY_CONTEXT`]) and purged after 24 h.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use jiayou_domain::audit::canonical_json;
use jiayou_domain::{FieldError, FieldErrorKind};
use jiayou_store::entity::idempotency_key as idem;
use jiayou_store::{StoreError, now_us};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, Set};
use sha2::{Digest, Sha256};

use crate::error::internal;
use crate::{App, AppError, AppResult};

/// How long a key lives after its answer was stored (and at least after its claim).
pub const TTL_US: i64 = 24 * 3600 * 1_000_000;
/// A `pending` claim older than this is taken to belong to a request that died.
pub const PENDING_TAKEOVER_US: i64 = 60 * 1_000_000;
/// Sealing context of `idempotency_keys.response_body`.
pub const BODY_CONTEXT: &str = "idempotency_keys.response_body";
/// The header clients send; also the field named in errors about the key.
pub const HEADER: &str = "Idempotency-Key";
pub const MAX_KEY_LEN: usize = 128;
const MAX_SCOPE_LEN: usize = 64;
const PENDING: &str = "pending";
const DONE: &str = "done";

/// One request under an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdemRequest {
    /// Whose key: `member:12`, `staff:5`, `device:3`, `admin`. Keys of different
    /// scopes never meet.
    pub scope: String,
    pub key: String,
    /// [`fingerprint`] of the request: the same key with another fingerprint is refused.
    pub fingerprint: String,
}

/// What [`App::idem_start`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum IdemStart {
    /// The key is ours now: run the request.
    Fresh,
    /// The request was done before: answer this again.
    Replay { status: u16, body: serde_json::Value },
}

/// SHA-256 (hex) of the method, the path and the canonical JSON of the body.
pub fn fingerprint(method: &str, path: &str, body: &serde_json::Value) -> String {
    let mut h = Sha256::new();
    h.update(method.to_ascii_uppercase().as_bytes());
    h.update(b"\n");
    h.update(path.as_bytes());
    h.update(b"\n");
    h.update(canonical_json(body).as_bytes());
    hex::encode(h.finalize())
}

/// 1–128 printable ASCII characters (space allowed inside).
pub fn is_valid_key(key: &str) -> bool {
    (1..=MAX_KEY_LEN).contains(&key.len()) && key.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
}

fn invalid_key() -> AppError {
    AppError::field(FieldError::new(
        HEADER,
        FieldErrorKind::InvalidFormat { expected: "1 至 128 个可打印 ASCII 字符".into() },
    ))
}

fn in_progress() -> AppError {
    AppError::conflict(
        "idempotency_in_progress",
        Some(HEADER),
        "使用同一幂等键的请求正在处理中，请稍后重试（重试时保持同一幂等键）",
    )
}

fn reused() -> AppError {
    AppError::Unprocessable {
        code: "idempotency_key_reused",
        field: Some(HEADER),
        message_zh: "该幂等键已用于另一个不同的请求，请为新请求使用新的幂等键".into(),
    }
}

fn by_key(r: &IdemRequest) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(idem::Column::Scope.eq(r.scope.as_str()))
        .add(idem::Column::IdemKey.eq(r.key.as_str()))
}

impl App {
    /// Claims the key (inserts a `pending` row in its own short statement; the unique
    /// key (scope, idem_key) makes a concurrent duplicate fail → 409), or returns the
    /// stored response. A `pending` row older than [`PENDING_TAKEOVER_US`] (its request
    /// died before committing) is taken over with a conditional update; an expired row
    /// is replaced.
    pub async fn idem_start(&self, r: &IdemRequest) -> AppResult<IdemStart> {
        if !is_valid_key(&r.key) {
            return Err(invalid_key());
        }
        if r.scope.is_empty() || r.scope.len() > MAX_SCOPE_LEN || r.fingerprint.len() > 64 {
            return Err(internal("idempotency scope or fingerprint out of shape"));
        }
        // A few rounds: the row we collide with may vanish (abandoned, expired) meanwhile.
        for _ in 0..4 {
            let now = now_us();
            let claim = idem::ActiveModel {
                scope: Set(r.scope.clone()),
                idem_key: Set(r.key.clone()),
                request_hash: Set(r.fingerprint.clone()),
                state: Set(PENDING.into()),
                response_status: Set(None),
                response_body: Set(None),
                created_at_us: Set(now),
                expires_at_us: Set(now + TTL_US),
                ..Default::default()
            }
            .insert(self.db.writer())
            .await;
            match claim.map_err(StoreError::from) {
                Ok(_) => return Ok(IdemStart::Fresh),
                Err(StoreError::Duplicate { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            let Some(row) = idem::Entity::find().filter(by_key(r)).one(self.db.reader()).await? else {
                continue;
            };
            if row.expires_at_us < now {
                // Past its life: as if absent. Delete exactly that row and claim again.
                idem::Entity::delete_many()
                    .filter(idem::Column::Id.eq(row.id))
                    .filter(idem::Column::ExpiresAtUs.eq(row.expires_at_us))
                    .exec(self.db.writer())
                    .await?;
                continue;
            }
            if row.request_hash != r.fingerprint {
                return Err(reused());
            }
            if row.state == DONE {
                return self.replay(&row);
            }
            if row.created_at_us >= now - PENDING_TAKEOVER_US {
                return Err(in_progress());
            }
            // The first request died before committing: take its claim over, unless
            // someone else just did (or it finished after all).
            let taken = idem::Entity::update_many()
                .col_expr(idem::Column::CreatedAtUs, Expr::value(now))
                .col_expr(idem::Column::ExpiresAtUs, Expr::value(now + TTL_US))
                .filter(idem::Column::Id.eq(row.id))
                .filter(idem::Column::State.eq(PENDING))
                .filter(idem::Column::CreatedAtUs.eq(row.created_at_us))
                .exec(self.db.writer())
                .await?;
            if taken.rows_affected == 1 {
                return Ok(IdemStart::Fresh);
            }
        }
        Err(in_progress())
    }

    fn replay(&self, row: &idem::Model) -> AppResult<IdemStart> {
        let broken = |what: &str| {
            tracing::error!(id = row.id, what, "stored idempotent answer is unreadable");
            internal("stored idempotent answer is unreadable")
        };
        let status = row.response_status.and_then(|s| u16::try_from(s).ok()).ok_or_else(|| broken("status"))?;
        let sealed = BASE64.decode(row.response_body.as_deref().unwrap_or("")).map_err(|_| broken("encoding"))?;
        let text = self.keys.open(BODY_CONTEXT, &sealed).map_err(|_| broken("seal"))?;
        let body = serde_json::from_str(&text).map_err(|_| broken("json"))?;
        Ok(IdemStart::Replay { status, body })
    }

    /// Marks the key done with the response, if it is still our `pending` claim; the
    /// number of rows changed (0 or 1).
    async fn idem_store(
        &self,
        conn: &impl ConnectionTrait,
        r: &IdemRequest,
        status: u16,
        body: &serde_json::Value,
    ) -> AppResult<u64> {
        let sealed = BASE64.encode(self.keys.seal(BODY_CONTEXT, &body.to_string()));
        let now = now_us();
        let res = idem::Entity::update_many()
            .col_expr(idem::Column::State, Expr::value(DONE))
            .col_expr(idem::Column::ResponseStatus, Expr::value(i32::from(status)))
            .col_expr(idem::Column::ResponseBody, Expr::value(sealed))
            .col_expr(idem::Column::ExpiresAtUs, Expr::value(now + TTL_US))
            .filter(by_key(r))
            .filter(idem::Column::State.eq(PENDING))
            .filter(idem::Column::RequestHash.eq(r.fingerprint.as_str()))
            .exec(conn)
            .await?;
        Ok(res.rows_affected)
    }

    /// Inside the use-case's own transaction, as one of its last statements: marks the
    /// key done with the response. Fails with 409 `idempotency_in_progress` when the
    /// claim is no longer ours (another retry took it over and finished): the caller's
    /// transaction must then roll back, so the change happens once.
    pub async fn idem_finish_in(
        &self,
        tx: &DatabaseTransaction,
        r: &IdemRequest,
        status: u16,
        body: &serde_json::Value,
    ) -> AppResult<()> {
        if self.idem_store(tx, r, status, body).await? == 1 { Ok(()) } else { Err(in_progress()) }
    }

    /// The fallback for use-cases that did not call [`App::idem_finish_in`] (read-only
    /// answers): stores the response in its own transaction if the key is still
    /// pending. `false` when there was nothing to do (the use-case had stored it).
    pub async fn idem_finish(&self, r: &IdemRequest, status: u16, body: &serde_json::Value) -> AppResult<bool> {
        let tx = self.db.begin().await?;
        let n = self.idem_store(&tx, r, status, body).await?;
        tx.commit().await?;
        Ok(n == 1)
    }

    /// When the use-case failed (its transaction rolled back): deletes the pending claim
    /// so the client may retry. A finished key is never deleted here.
    pub async fn idem_abandon(&self, r: &IdemRequest) -> AppResult<()> {
        idem::Entity::delete_many()
            .filter(by_key(r))
            .filter(idem::Column::State.eq(PENDING))
            .filter(idem::Column::RequestHash.eq(r.fingerprint.as_str()))
            .exec(self.db.writer())
            .await?;
        Ok(())
    }

    /// Deletes keys past their expiry (a job calls it); the number deleted.
    pub async fn idem_purge(&self, now_us: i64) -> AppResult<u64> {
        let r = idem::Entity::delete_many().filter(idem::Column::ExpiresAtUs.lt(now_us)).exec(self.db.writer()).await?;
        Ok(r.rows_affected)
    }
}
