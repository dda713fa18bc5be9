//! The audit trail (SPEC S6): who did what, when, from where, with the state before and
//! after, for every state-changing staff call and every view of a member's personal data.
//!
//! - [`record`] appends one row **inside the caller's transaction**, so the row commits
//!   exactly when the change does and disappears with it on rollback.
//! - Rows are hash-chained per scope `(chain_id, station_id)` with a key kept outside the
//!   database ([`AuditKey`]; format and guarantees in [`jiayou_domain::audit`]). Writers
//!   of one scope take turns on the scope's head row; writers of different stations never
//!   wait for each other, so auditing does not serialise checkouts (ARCHITECTURE rule 7).
//! - [`verify`] re-checks every scope and its head and reports the first broken link.
//! - [`search`] and [`export_csv`] serve the console.
//!
//! There is deliberately no function to update or delete an audit row.
//!
//! # Personal data
//!
//! `before`/`after` and every other field are stored **in clear**. Never put personal data
//! (phone numbers, names, ID numbers, plates, vehicle details) into them: pass ids, or
//! values already masked for display (`138****1234`). A view of a member's personal data
//! is recorded as the action `member.pii.view` with the member's id as target and, at
//! most, the *names* of the fields shown, never their values.

use std::borrow::Cow;
use std::io::Write;

use chrono::{DateTime, SecondsFormat, Utc};
use jiayou_domain::audit::{AuditRecord, ChainVerifier, GENESIS_HASH, canonical_json};
use jiayou_domain::{FieldError, FieldErrorKind};
use jiayou_store::entity::{audit_head, audit_log};
use jiayou_store::{Db, now_us};
use sea_orm::sea_query::{LikeExpr, OnConflict, Query};
use sea_orm::{
    AccessMode, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait,
    IsolationLevel, Order, QueryFilter, QueryOrder, QuerySelect, Select, Statement, TransactionOptions,
    TransactionTrait,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub use jiayou_domain::audit::{ActorKind, AuditKey, Break, BreakReason};

use crate::chains::instant;
use crate::error::Problems;
use crate::paging::{self, Page, PageRequest};
use crate::{App, AppError, AppResult};

/// Longest `before`/`after` document accepted, in bytes of canonical JSON.
pub const MAX_JSON_BYTES: usize = 1 << 20;
const MAX_LABEL_CHARS: usize = 128;
const MAX_IP_CHARS: usize = 64;
const MAX_NAME_CHARS: usize = 64;
const MAX_TARGET_ID_CHARS: usize = 128;
/// Rows read per query by `verify` and `export_csv`.
const PAGE_ROWS: u64 = 500;

// ---------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------

/// Who acted. `label` is what people read in the trail (`staff:zhangsan`, `admin-token`):
/// a username or role, **never personal data** (no phone number, no real name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub kind: ActorKind,
    pub id: Option<i64>,
    /// At most 128 characters (longer labels are cut).
    pub label: String,
    /// Source address of the request (at most 64 characters; longer is cut).
    pub ip: Option<String>,
}

impl Actor {
    pub fn staff(staff_id: i64, label: impl Into<String>, ip: Option<String>) -> Actor {
        Actor { kind: ActorKind::Staff, id: Some(staff_id), label: label.into(), ip }
    }

    pub fn member(member_id: i64, ip: Option<String>) -> Actor {
        Actor { kind: ActorKind::Member, id: Some(member_id), label: format!("member:{member_id}"), ip }
    }

    pub fn device(device_id: i64, label: impl Into<String>, ip: Option<String>) -> Actor {
        Actor { kind: ActorKind::Device, id: Some(device_id), label: label.into(), ip }
    }

    /// The platform itself (jobs, scheduled changes, maintenance commands).
    pub fn system(label: impl Into<String>) -> Actor {
        Actor { kind: ActorKind::System, id: None, label: label.into(), ip: None }
    }

    /// The deployment's admin bearer token.
    pub fn admin_token(ip: Option<String>) -> Actor {
        Actor { kind: ActorKind::AdminToken, id: None, label: "admin-token".into(), ip }
    }
}

/// What happened. Build with [`AuditEntry::chain`] or [`AuditEntry::station`] and the
/// `target`/`before`/`after` setters, or as a struct literal.
///
/// **No personal data in clear** in any field, `before` and `after` included: use ids
/// and masked values (see the module documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// The chain the action belongs to; 0 for deployment-wide actions outside any chain.
    pub chain_id: i64,
    /// The station, or `None` (or `Some(0)`) for a chain-level action.
    pub station_id: Option<i64>,
    /// `noun.verb` in lowercase: `station.update`, `price.set`, `member.pii.view`.
    /// 1–64 of `a-z 0-9 . _ -`.
    pub action: Cow<'static, str>,
    /// The kind of thing acted on: `station`, `member`, … Same alphabet as `action`.
    pub target_type: Cow<'static, str>,
    /// Its id, at most 128 characters.
    pub target_id: Option<String>,
    /// State before and after (objects of the fields that matter). Stored as canonical
    /// JSON, at most [`MAX_JSON_BYTES`] each.
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

impl AuditEntry {
    /// A chain-level action.
    pub fn chain(
        chain_id: i64,
        action: impl Into<Cow<'static, str>>,
        target_type: impl Into<Cow<'static, str>>,
    ) -> AuditEntry {
        AuditEntry {
            chain_id,
            station_id: None,
            action: action.into(),
            target_type: target_type.into(),
            target_id: None,
            before: None,
            after: None,
        }
    }

    /// An action at one station.
    pub fn station(
        chain_id: i64,
        station_id: i64,
        action: impl Into<Cow<'static, str>>,
        target_type: impl Into<Cow<'static, str>>,
    ) -> AuditEntry {
        AuditEntry { station_id: Some(station_id), ..AuditEntry::chain(chain_id, action, target_type) }
    }

    pub fn target(mut self, id: impl ToString) -> Self {
        self.target_id = Some(id.to_string());
        self
    }

    pub fn before(mut self, v: serde_json::Value) -> Self {
        self.before = Some(v);
        self
    }

    pub fn after(mut self, v: serde_json::Value) -> Self {
        self.after = Some(v);
        self
    }
}

use crate::error::internal;

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars().count() <= MAX_NAME_CHARS
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

fn clip(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

/// Appends one audit row to the scope of `entry`, inside `tx`: the row commits with the
/// change it describes, or not at all.
///
/// `tx` must come from [`Db::begin`] (on SQLite that is `BEGIN IMMEDIATE` on the single
/// writer, which is what makes the scope exclusive there) at the default isolation level
/// (READ COMMITTED on PostgreSQL, REPEATABLE READ on MariaDB/MySQL).
///
/// The scope's head row is locked until `tx` ends: call `record` as the **last** statement
/// before commit, after the change itself. That keeps the lock short (the station's other
/// writers wait for it) and takes locks in one order everywhere (business rows, then the
/// audit head), so two use-cases cannot deadlock. When one transaction records in several
/// scopes, record chain-level first, then stations by ascending id.
///
/// Fails (as a server error) when `entry` breaks the limits documented on its fields.
pub async fn record(tx: &DatabaseTransaction, key: &AuditKey, actor: &Actor, entry: AuditEntry) -> AppResult<()> {
    let station_id = entry.station_id.unwrap_or(0);
    if entry.chain_id < 0 || station_id < 0 {
        return Err(internal(format!("audit scope ({}, {station_id}) is negative", entry.chain_id)));
    }
    if !is_name(&entry.action) || !is_name(&entry.target_type) {
        return Err(internal(format!(
            "audit action {:?} / target type {:?}: want 1–64 of a-z 0-9 . _ -",
            entry.action, entry.target_type
        )));
    }
    if entry.target_id.as_ref().is_some_and(|t| t.chars().count() > MAX_TARGET_ID_CHARS) {
        return Err(internal(format!("audit target id longer than {MAX_TARGET_ID_CHARS} characters")));
    }
    let before_json = entry.before.as_ref().map(canonical_json);
    let after_json = entry.after.as_ref().map(canonical_json);
    if [&before_json, &after_json].into_iter().flatten().any(|j| j.len() > MAX_JSON_BYTES) {
        return Err(internal(format!("audit before/after document larger than {MAX_JSON_BYTES} bytes")));
    }

    let head = lock_head(tx, entry.chain_id, station_id).await?;
    // Taken under the lock, so instants never go backwards within a scope on one server.
    let at_us = now_us();
    let mut row = AuditRecord {
        chain_id: entry.chain_id,
        station_id,
        seq: head.seq + 1,
        at_us,
        actor_kind: actor.kind.as_str().to_owned(),
        actor_id: actor.id,
        actor_label: clip(&actor.label, MAX_LABEL_CHARS),
        ip: actor.ip.as_deref().map(|ip| clip(ip, MAX_IP_CHARS)),
        action: entry.action.into_owned(),
        target_type: entry.target_type.into_owned(),
        target_id: entry.target_id,
        before_json,
        after_json,
        prev_hash: String::new(),
        hash: String::new(),
    };
    row.seal(key, &head.hash).ok_or_else(|| {
        internal(format!("audit head of scope ({}, {station_id}) holds a malformed hash", row.chain_id))
    })?;

    let (seq, hash) = (row.seq, row.hash.clone());
    audit_log::Entity::insert(active_row(row)).exec_without_returning(tx).await?;
    let moved = audit_head::Entity::update_many()
        .col_expr(audit_head::Column::Seq, seq.into())
        .col_expr(audit_head::Column::Hash, hash.into())
        .col_expr(audit_head::Column::UpdatedAtUs, at_us.into())
        .filter(audit_head::Column::ChainId.eq(entry.chain_id))
        .filter(audit_head::Column::StationId.eq(station_id))
        .filter(audit_head::Column::Seq.eq(head.seq))
        .exec(tx)
        .await?;
    if moved.rows_affected != 1 {
        // Cannot happen while the lock holds; refuse rather than fork the chain.
        return Err(internal("audit head moved while locked"));
    }
    Ok(())
}

fn active_row(r: AuditRecord) -> audit_log::ActiveModel {
    use sea_orm::ActiveValue::{NotSet, Set};
    audit_log::ActiveModel {
        id: NotSet,
        chain_id: Set(r.chain_id),
        station_id: Set(r.station_id),
        seq: Set(r.seq),
        at_us: Set(r.at_us),
        actor_kind: Set(r.actor_kind),
        actor_id: Set(r.actor_id),
        actor_label: Set(r.actor_label),
        ip: Set(r.ip),
        action: Set(r.action),
        target_type: Set(r.target_type),
        target_id: Set(r.target_id),
        before_json: Set(r.before_json),
        after_json: Set(r.after_json),
        prev_hash: Set(r.prev_hash),
        hash: Set(r.hash),
    }
}

/// The scope's head, locked for the rest of `tx`; created (seq 0, genesis hash) when the
/// scope is new.
///
/// PostgreSQL: `SELECT … FOR UPDATE`; when there is no head yet, `INSERT … ON CONFLICT
/// DO NOTHING` (which waits for a concurrent creator to finish) and select again.
///
/// MariaDB/MySQL: a locking read of a missing row takes a *gap* lock, and two writers
/// holding the same gap lock deadlock as soon as both insert. So the head is first
/// upserted with a no-op `ON DUPLICATE KEY UPDATE`, which takes an exclusive record lock
/// whether it inserts or not (the key is the primary key: no next-key lock), then read
/// with `FOR UPDATE`, which under REPEATABLE READ still reads the latest committed row.
///
/// SQLite: the transaction already holds the database's only write lock.
async fn lock_head(tx: &DatabaseTransaction, chain_id: i64, station_id: i64) -> AppResult<audit_head::Model> {
    let find = || audit_head::Entity::find_by_id((chain_id, station_id)).lock_exclusive();
    if tx.get_database_backend() != DbBackend::MySql
        && let Some(h) = find().one(tx).await?
    {
        return Ok(h);
    }
    let insert = Query::insert()
        .into_table(audit_head::Entity)
        .columns([
            audit_head::Column::ChainId,
            audit_head::Column::StationId,
            audit_head::Column::Seq,
            audit_head::Column::Hash,
            audit_head::Column::UpdatedAtUs,
        ])
        .values_panic([chain_id.into(), station_id.into(), 0i64.into(), GENESIS_HASH.into(), now_us().into()])
        .on_conflict(
            OnConflict::columns([audit_head::Column::ChainId, audit_head::Column::StationId])
                .do_nothing_on([audit_head::Column::ChainId])
                .to_owned(),
        )
        .to_owned();
    tx.execute(&insert).await?;
    find().one(tx).await?.ok_or_else(|| internal("audit head vanished after creation"))
}

impl App {
    /// [`record`] with the app's audit key.
    pub async fn audit(&self, tx: &DatabaseTransaction, actor: &Actor, entry: AuditEntry) -> AppResult<()> {
        record(tx, &self.audit_key, actor, entry).await
    }

    /// [`verify`] with the app's audit key.
    pub async fn verify_audit(&self) -> AppResult<VerifyReport> {
        verify(&self.db, &self.audit_key).await
    }

    /// [`search`] over the app's database.
    pub async fn search_audit(&self, filter: &AuditFilter, paging: &PageRequest) -> AppResult<Page<AuditView>> {
        search(&self.db, filter, paging).await
    }

    /// [`export_csv`] over the app's database.
    pub async fn export_audit_csv(&self, filter: &AuditFilter, out: &mut impl Write) -> Result<u64, ExportError> {
        export_csv(&self.db, filter, out).await
    }
}

// ---------------------------------------------------------------------------------------
// Verifying
// ---------------------------------------------------------------------------------------

/// The outcome of [`verify`]: one entry per scope, in (chain, station) order.
#[derive(Debug, Clone)]
pub struct VerifyReport {
    /// [`AuditKey::fingerprint`] of the key used.
    pub key_fingerprint: String,
    pub scopes: Vec<ScopeReport>,
}

#[derive(Debug, Clone)]
pub struct ScopeReport {
    pub chain_id: i64,
    /// 0 for the chain-level scope.
    pub station_id: i64,
    /// Rows verified as genuine (up to the break, if any).
    pub rows: u64,
    /// The head as stored: (seq, hash). Keep a copy outside the database: comparing it
    /// with a later run's catches a tail cut together with its head.
    pub head: Option<(i64, String)>,
    /// The first broken link, if any.
    pub broken: Option<Break>,
}

impl VerifyReport {
    /// True when every scope verified.
    pub fn ok(&self) -> bool {
        self.scopes.iter().all(|s| s.broken.is_none())
    }

    /// Scopes with a broken link.
    pub fn broken(&self) -> impl Iterator<Item = &ScopeReport> {
        self.scopes.iter().filter(|s| s.broken.is_some())
    }

    pub fn total_rows(&self) -> u64 {
        self.scopes.iter().map(|s| s.rows).sum()
    }
}

/// Verifies every scope: each row's seq, link and keyed hash in seq order (streamed in
/// pages), then the head against the last row. Each scope is read in one read-only
/// snapshot, so writers running meanwhile never cause a false alarm.
pub async fn verify(db: &Db, key: &AuditKey) -> AppResult<VerifyReport> {
    let reader = db.reader();
    let backend = reader.get_database_backend();
    let scopes: Vec<(i64, i64)> = reader
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT chain_id, station_id FROM audit_heads UNION SELECT chain_id, station_id FROM audit_log \
             ORDER BY chain_id, station_id",
        ))
        .await?
        .iter()
        .map(|r| Ok((r.try_get_by_index::<i64>(0)?, r.try_get_by_index::<i64>(1)?)))
        .collect::<Result<_, DbErr>>()?;
    let mut report = VerifyReport { key_fingerprint: key.fingerprint(), scopes: Vec::with_capacity(scopes.len()) };
    for (chain_id, station_id) in scopes {
        report.scopes.push(verify_scope(db, key, chain_id, station_id).await?);
    }
    Ok(report)
}

async fn verify_scope(db: &Db, key: &AuditKey, chain_id: i64, station_id: i64) -> AppResult<ScopeReport> {
    let reader = db.reader();
    let snapshot = if reader.get_database_backend() == DbBackend::Sqlite {
        // A deferred transaction on a WAL reader keeps one snapshot from its first read.
        TransactionOptions::default()
    } else {
        TransactionOptions {
            isolation_level: Some(IsolationLevel::RepeatableRead),
            access_mode: Some(AccessMode::ReadOnly),
            sqlite_transaction_mode: None,
        }
    };
    let tx = reader.begin_with_options(snapshot).await?;
    let head = audit_head::Entity::find_by_id((chain_id, station_id)).one(&tx).await?.map(|h| (h.seq, h.hash));
    let mut verifier = ChainVerifier::for_scope(key, chain_id, station_id);
    let mut rows = 0u64;
    let mut broken = None;
    // Keyset pagination over (seq, id), from the very bottom, so rows with seq ≤ 0 or a
    // duplicated seq are read (and reported) too.
    let mut cursor = (i64::MIN, i64::MIN);
    'pages: loop {
        let page =
            audit_log::Entity::find()
                .filter(audit_log::Column::ChainId.eq(chain_id))
                .filter(audit_log::Column::StationId.eq(station_id))
                .filter(Condition::any().add(audit_log::Column::Seq.gt(cursor.0)).add(
                    Condition::all().add(audit_log::Column::Seq.eq(cursor.0)).add(audit_log::Column::Id.gt(cursor.1)),
                ))
                .order_by_asc(audit_log::Column::Seq)
                .order_by_asc(audit_log::Column::Id)
                .limit(PAGE_ROWS)
                .all(&tx)
                .await?;
        let full = page.len() as u64 == PAGE_ROWS;
        for m in page {
            cursor = (m.seq, m.id);
            if let Err(b) = verifier.push(&m.into()) {
                broken = Some(b);
                break 'pages;
            }
            rows += 1;
        }
        if !full {
            break;
        }
    }
    tx.commit().await?;
    if broken.is_none() {
        broken = verifier.check_head(head.as_ref().map(|(s, h)| (*s, h.as_str()))).err();
    }
    Ok(ScopeReport { chain_id, station_id, rows, head, broken })
}

// ---------------------------------------------------------------------------------------
// Searching and exporting
// ---------------------------------------------------------------------------------------

/// Filters of the console's audit search; every one optional, all must match.
///
/// The HTTP layer must restrict `chain_id`/`station_id` to what the caller may see.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    pub chain_id: Option<i64>,
    /// A station; `0` for chain-level actions only.
    pub station_id: Option<i64>,
    pub actor_id: Option<i64>,
    /// Action prefix: `station.` finds `station.create`, `station.update`, …
    pub action: Option<String>,
    pub target_type: Option<String>,
    /// Needs `target_type`.
    pub target_id: Option<String>,
    /// From this instant (inclusive).
    pub from: Option<DateTime<Utc>>,
    /// Up to this instant (exclusive).
    pub to: Option<DateTime<Utc>>,
}

/// One audit row as the console shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditView {
    pub id: i64,
    pub chain_id: i64,
    /// `None` for chain-level actions.
    pub station_id: Option<i64>,
    /// Position in the scope's chain.
    pub seq: i64,
    pub at: DateTime<Utc>,
    /// staff, member, device, system, admin_token.
    pub actor_kind: String,
    pub actor_id: Option<i64>,
    pub actor_label: String,
    pub ip: Option<String>,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
    /// The row's chain hash (hex).
    pub hash: String,
}

/// Stored JSON as a value; text that no longer parses (edited by hand) is shown as is.
fn json_value(s: Option<String>) -> Option<serde_json::Value> {
    s.map(|s| serde_json::from_str(&s).unwrap_or(serde_json::Value::String(s)))
}

impl From<audit_log::Model> for AuditView {
    fn from(m: audit_log::Model) -> Self {
        AuditView {
            id: m.id,
            chain_id: m.chain_id,
            station_id: (m.station_id != 0).then_some(m.station_id),
            seq: m.seq,
            at: instant(m.at_us),
            actor_kind: m.actor_kind,
            actor_id: m.actor_id,
            actor_label: m.actor_label,
            ip: m.ip,
            action: m.action,
            target_type: m.target_type,
            target_id: m.target_id,
            before: json_value(m.before_json),
            after: json_value(m.after_json),
            hash: m.hash,
        }
    }
}

impl AuditFilter {
    /// The filter as a query, or every bad field.
    fn query(&self) -> AppResult<Select<audit_log::Entity>> {
        use audit_log::Column as C;
        let mut p = Problems::default();
        let mut q = audit_log::Entity::find();
        if let Some(v) = self.chain_id {
            q = q.filter(C::ChainId.eq(v));
        }
        if let Some(v) = self.station_id {
            q = q.filter(C::StationId.eq(v));
        }
        if let Some(v) = self.actor_id {
            q = q.filter(C::ActorId.eq(v));
        }
        if let Some(prefix) = self.action.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            if is_name(prefix) {
                // Names never hold `%`; `_` and the escape character itself are escaped.
                let escaped = prefix.replace('!', "!!").replace('_', "!_");
                q = q.filter(C::Action.like(LikeExpr::new(format!("{escaped}%")).escape('!')));
            } else {
                p.push(name_error("action"));
            }
        }
        if let Some(t) = self.target_type.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            if is_name(t) {
                q = q.filter(C::TargetType.eq(t));
            } else {
                p.push(name_error("target_type"));
            }
        }
        if let Some(id) = self.target_id.as_deref() {
            if self.target_type.is_none() {
                p.push(FieldError::new("target_type", FieldErrorKind::Required));
            } else if id.chars().count() > MAX_TARGET_ID_CHARS {
                p.push(FieldError::new("target_id", FieldErrorKind::TooLong { max: MAX_TARGET_ID_CHARS }));
            } else {
                q = q.filter(C::TargetId.eq(id));
            }
        }
        if let (Some(from), Some(to)) = (self.from, self.to)
            && to < from
        {
            p.push(FieldError::new("to", FieldErrorKind::Conflict { reason: "结束时间早于开始时间".into() }));
        }
        if let Some(v) = self.from {
            q = q.filter(C::AtUs.gte(v.timestamp_micros()));
        }
        if let Some(v) = self.to {
            q = q.filter(C::AtUs.lt(v.timestamp_micros()));
        }
        p.finish()?;
        Ok(q)
    }
}

fn name_error(field: &'static str) -> FieldError {
    FieldError::new(field, FieldErrorKind::InvalidFormat { expected: "小写字母、数字、点、下划线或连字符".into() })
}

/// Audit rows matching `filter`, newest first unless `paging.sort` says otherwise
/// (sortable: `at`, `id`, `seq`, `action`).
pub async fn search(db: &Db, filter: &AuditFilter, paging: &PageRequest) -> AppResult<Page<AuditView>> {
    let mut paging = paging.validate(&["at", "id", "seq", "action"]).map_err(AppError::Invalid)?;
    if paging.sort.is_empty() {
        paging.sort = vec![("at".into(), Order::Desc), ("id".into(), Order::Desc)];
    }
    let page = paging::fetch(
        db.reader(),
        filter.query()?,
        &paging,
        |f| match f {
            "id" => audit_log::Column::Id,
            "seq" => audit_log::Column::Seq,
            "action" => audit_log::Column::Action,
            _ => audit_log::Column::AtUs,
        },
        audit_log::Column::Id,
    )
    .await?;
    Ok(page.map(AuditView::from))
}

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    App(#[from] AppError),
    #[error("writing the export: {0}")]
    Io(#[from] std::io::Error),
}

impl From<DbErr> for ExportError {
    fn from(e: DbErr) -> Self {
        ExportError::App(e.into())
    }
}

/// Columns of the CSV export, in order.
pub const CSV_COLUMNS: [&str; 16] = [
    "id",
    "chain_id",
    "station_id",
    "seq",
    "at",
    "actor_kind",
    "actor_id",
    "actor_label",
    "ip",
    "action",
    "target_type",
    "target_id",
    "before",
    "after",
    "prev_hash",
    "hash",
];

/// Writes every row matching `filter`, newest first, as CSV to `out`: UTF-8 with a byte
/// order mark (so Excel opens Chinese text correctly), a header row of [`CSV_COLUMNS`],
/// CRLF line ends, fields quoted per RFC 4180 when they hold `,` `"` CR or LF. Rows are
/// read in pages (keyset on time and id), never all at once. `at` is RFC 3339 UTC with
/// microseconds; `station_id` is 0 for chain-level rows.
///
/// Text that a spreadsheet would run as a formula (starting with `=` `+` `-` `@`, tab or
/// CR) gets a leading `'`; ids, numbers, hashes and JSON never start that way.
///
/// Returns the number of rows written.
pub async fn export_csv(db: &Db, filter: &AuditFilter, out: &mut impl Write) -> Result<u64, ExportError> {
    let base = filter.query()?;
    out.write_all("\u{feff}".as_bytes())?;
    write_csv_line(out, CSV_COLUMNS.iter().map(|c| Cow::Borrowed(*c)))?;
    let mut written = 0u64;
    let mut cursor: Option<(i64, i64)> = None;
    loop {
        let mut q = base.clone();
        if let Some((at, id)) = cursor {
            q = q.filter(
                Condition::any()
                    .add(audit_log::Column::AtUs.lt(at))
                    .add(Condition::all().add(audit_log::Column::AtUs.eq(at)).add(audit_log::Column::Id.lt(id))),
            );
        }
        let page = q
            .order_by_desc(audit_log::Column::AtUs)
            .order_by_desc(audit_log::Column::Id)
            .limit(PAGE_ROWS)
            .all(db.reader())
            .await?;
        let full = page.len() as u64 == PAGE_ROWS;
        for m in page {
            cursor = Some((m.at_us, m.id));
            write_csv_line(out, csv_fields(m).into_iter())?;
            written += 1;
        }
        if !full {
            break;
        }
    }
    out.flush()?;
    Ok(written)
}

fn csv_fields(m: audit_log::Model) -> [Cow<'static, str>; 16] {
    let num = |v: i64| Cow::Owned(v.to_string());
    let opt_num = |v: Option<i64>| v.map_or(Cow::Borrowed(""), num);
    let text = |v: String| Cow::Owned(defuse_formula(v));
    let opt_text = |v: Option<String>| v.map_or(Cow::Borrowed(""), text);
    [
        num(m.id),
        num(m.chain_id),
        num(m.station_id),
        num(m.seq),
        Cow::Owned(instant(m.at_us).to_rfc3339_opts(SecondsFormat::Micros, true)),
        text(m.actor_kind),
        opt_num(m.actor_id),
        text(m.actor_label),
        opt_text(m.ip),
        text(m.action),
        text(m.target_type),
        opt_text(m.target_id),
        opt_text(m.before_json),
        opt_text(m.after_json),
        Cow::Owned(m.prev_hash),
        Cow::Owned(m.hash),
    ]
}

fn defuse_formula(s: String) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{s}") } else { s }
}

fn write_csv_line<'a>(out: &mut impl Write, fields: impl Iterator<Item = Cow<'a, str>>) -> std::io::Result<()> {
    for (i, f) in fields.enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        if f.contains([',', '"', '\r', '\n']) {
            out.write_all(b"\"")?;
            out.write_all(f.replace('"', "\"\"").as_bytes())?;
            out.write_all(b"\"")?;
        } else {
            out.write_all(f.as_bytes())?;
        }
    }
    out.write_all(b"\r\n")
}

// ---------------------------------------------------------------------------------------
// The console's view: searches scoped by permission

impl App {
    /// The chain and station scope `filter` asks for, after checking the caller holds
    /// `audit.read` there: staff always search their own chain; a station-scoped grant
    /// reaches its station only.
    fn audit_scope(&self, caller: &crate::Caller, filter: &AuditFilter) -> AppResult<AuditFilter> {
        use jiayou_domain::access::{Permission, Target};
        let chain_id = caller.access.chain_id().or(filter.chain_id).ok_or_else(|| {
            AppError::field(jiayou_domain::FieldError::new("chain_id", jiayou_domain::FieldErrorKind::Required))
        })?;
        if filter.chain_id.is_some_and(|c| c != chain_id) {
            return Err(AppError::Forbidden { permission: Permission::AuditRead });
        }
        match filter.station_id.filter(|s| *s != 0) {
            Some(station_id) => caller.require(Permission::AuditRead, Target::Station { chain_id, station_id })?,
            None => caller.require(Permission::AuditRead, Target::Chain(chain_id))?,
        }
        Ok(AuditFilter { chain_id: Some(chain_id), ..filter.clone() })
    }

    /// Audit rows the caller may read, newest first.
    pub async fn search_audit_as(
        &self,
        caller: &crate::Caller,
        filter: &AuditFilter,
        paging: &PageRequest,
    ) -> AppResult<Page<AuditView>> {
        let scoped = self.audit_scope(caller, filter)?;
        self.search_audit(&scoped, paging).await
    }

    /// CSV of the audit rows the caller may read (UTF-8 with BOM, opens in Excel).
    pub async fn export_audit_csv_as(&self, caller: &crate::Caller, filter: &AuditFilter) -> AppResult<Vec<u8>> {
        let scoped = self.audit_scope(caller, filter)?;
        let mut out = Vec::new();
        self.export_audit_csv(&scoped, &mut out).await.map_err(|e| internal(e.to_string()))?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_per_rfc_4180() {
        let mut out = Vec::new();
        let fields = ["plain", "a,b", "say \"hi\"", "two\r\nlines", "", "加油站"];
        write_csv_line(&mut out, fields.iter().map(|f| Cow::Borrowed(*f))).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\r\nlines\",,加油站\r\n");
    }

    #[test]
    fn formulas_are_defused() {
        assert_eq!(defuse_formula("=HYPERLINK(\"x\")".into()), "'=HYPERLINK(\"x\")");
        assert_eq!(defuse_formula("-1".into()), "'-1");
        assert_eq!(defuse_formula("staff:zhangsan".into()), "staff:zhangsan");
        assert_eq!(defuse_formula("{\"a\":1}".into()), "{\"a\":1}");
    }

    #[test]
    fn names_are_lowercase_ascii() {
        assert!(is_name("member.pii.view") && is_name("price_change.set") && is_name("x-1"));
        assert!(!is_name("") && !is_name("Station.update") && !is_name("a%") && !is_name("站点"));
        assert!(!is_name(&"a".repeat(65)));
    }

    #[test]
    fn filter_refuses_bad_fields_at_once() {
        let f = AuditFilter {
            action: Some("Station%".into()),
            target_id: Some("1".into()),
            from: Some(instant(10)),
            to: Some(instant(5)),
            ..Default::default()
        };
        let Err(AppError::Invalid(errs)) = f.query() else { panic!("expected invalid") };
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_ref()).collect();
        assert_eq!(fields, ["action", "target_type", "to"]);
    }

    #[test]
    fn entry_builders() {
        let e = AuditEntry::station(1, 2, "station.update", "station").target(2).after(serde_json::json!({"a": 1}));
        assert_eq!((e.chain_id, e.station_id, e.target_id.as_deref()), (1, Some(2), Some("2")));
        assert_eq!(AuditEntry::chain(1, "grade.create", "grade").station_id, None);
        assert_eq!(Actor::admin_token(None).kind, ActorKind::AdminToken);
    }
}
