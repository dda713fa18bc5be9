//! The tamper-evident audit trail (SPEC S6): the canonical encoding of an audit row,
//! the keyed hash chain over those rows, and its verification. Pure: no database, no
//! clock; `jiayou_app::audit` stores and reads the rows.
//!
//! # Scopes
//!
//! Rows are chained per *scope* `(chain_id, station_id)`, `station_id = 0` for actions
//! on the chain as a whole (and `chain_id = 0` for deployment-wide actions outside any
//! chain). Each scope is an independent chain numbered `seq = 1, 2, 3, …`, so writers in
//! different stations never wait for each other, and a scope's writers never fork it
//! (they take turns on the scope's head row, see `jiayou_app::audit::record`).
//!
//! # The hash chain
//!
//! ```text
//! hash_n = HMAC-SHA256(audit_key, raw(prev_hash_n) || canonical_bytes(row_n))
//! prev_hash_1 = GENESIS_HASH (64 × '0'),  prev_hash_n = hash_{n-1}
//! ```
//!
//! Hashes are stored as 64 lowercase hex characters; `raw()` is the 32 bytes they spell.
//! The key is kept outside the database (configuration), so someone who can write the
//! database and knows this algorithm still cannot produce a chain that verifies: editing
//! a row, deleting one, reordering them, or re-hashing the whole chain with a key of
//! their own is reported at the first row that no longer matches.
//!
//! # Canonical bytes (format `jiayou.audit.v1`)
//!
//! Every field of the row except the storage id, the hash itself and `prev_hash` (which
//! enters the HMAC directly, above), in this order, each length-prefixed or fixed-size so
//! no two different rows share an encoding:
//!
//! ```text
//! "jiayou.audit.v1"                     15 bytes, format label
//! i64 chain_id, i64 station_id, i64 seq, i64 at_us
//! str actor_kind, opt_i64 actor_id, str actor_label, opt_str ip
//! str action, str target_type, opt_str target_id
//! opt_str before_json, opt_str after_json
//!
//! i64(v)        8 bytes, big-endian two's complement
//! str(s)        u64 big-endian byte length, then the UTF-8 bytes
//! opt_x(None)   0x00
//! opt_x(Some v) 0x01, then x(v)
//! ```
//!
//! `before_json`/`after_json` are hashed exactly as stored. They are written in the
//! canonical JSON form of [`canonical_json`] (object keys sorted, no whitespace), so the
//! same change always gives the same text, and verification never re-formats JSON:
//! any changed byte of the stored text breaks the chain.
//!
//! # What a database writer can still do undetected
//!
//! Cut the newest rows of a scope *and* move its head back to the new last row, or delete
//! a whole scope (rows and head): every remaining link is genuine. Only a copy of the
//! heads kept outside the database catches that; `jiayou audit verify` prints each
//! scope's head (seq and hash) for exactly this purpose.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

/// The `prev_hash` of the first row of every scope.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Label that starts every row's canonical bytes; a new encoding gets a new label.
pub const FORMAT_LABEL: &[u8] = b"jiayou.audit.v1";

type HmacSha256 = Hmac<Sha256>;

// ---------------------------------------------------------------------------------------
// Actors
// ---------------------------------------------------------------------------------------

/// Who acted: the kind of principal behind an audit row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// A signed-in staff member (`actor_id` = staff id).
    Staff,
    /// A member (customer) acting on their own data (`actor_id` = member id).
    Member,
    /// A forecourt device or terminal (`actor_id` = device id).
    Device,
    /// The platform itself: jobs, scheduled changes, maintenance commands.
    System,
    /// The deployment's admin bearer token (no individual behind it).
    AdminToken,
}

impl ActorKind {
    pub const ALL: [ActorKind; 5] =
        [ActorKind::Staff, ActorKind::Member, ActorKind::Device, ActorKind::System, ActorKind::AdminToken];

    /// The stored form: `staff`, `member`, `device`, `system`, `admin_token`.
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::Staff => "staff",
            ActorKind::Member => "member",
            ActorKind::Device => "device",
            ActorKind::System => "system",
            ActorKind::AdminToken => "admin_token",
        }
    }

    pub fn parse(s: &str) -> Option<ActorKind> {
        ActorKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for ActorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// ---------------------------------------------------------------------------------------
// The key
// ---------------------------------------------------------------------------------------

/// The 32-byte key of the audit hash chain. Kept outside the database (configuration);
/// without it nobody can extend or rewrite a chain so that it verifies.
///
/// `Debug` shows only a fingerprint; the bytes are zeroized on drop.
#[derive(Clone)]
pub struct AuditKey(Zeroizing<[u8; 32]>);

/// Why a configured audit key was refused. Never contains key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditKeyError {
    #[error("audit key is not valid standard base64")]
    Base64,
    #[error("audit key must be 32 bytes, got {0}")]
    Length(usize),
}

impl AuditKey {
    pub fn from_bytes(bytes: [u8; 32]) -> AuditKey {
        AuditKey(Zeroizing::new(bytes))
    }

    /// Parses the standard (padded) base64 of 32 bytes; whitespace around it is ignored.
    pub fn from_base64(s: &str) -> Result<AuditKey, AuditKeyError> {
        let bytes = Zeroizing::new(BASE64.decode(s.trim()).map_err(|_| AuditKeyError::Base64)?);
        let arr: [u8; 32] = bytes.as_slice().try_into().map_err(|_| AuditKeyError::Length(bytes.len()))?;
        Ok(AuditKey::from_bytes(arr))
    }

    /// A fresh random key from the thread CSPRNG.
    pub fn generate() -> AuditKey {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::fill(&mut key[..]);
        AuditKey(key)
    }

    /// The key as standard base64, for writing it into configuration. A secret.
    pub fn to_base64(&self) -> String {
        BASE64.encode(&self.0[..])
    }

    /// 16 hex characters that identify the key without revealing it (an HMAC of a fixed
    /// label), so a report can say which key it verified with.
    pub fn fingerprint(&self) -> String {
        let mut mac = self.mac();
        mac.update(b"jiayou.audit.key-fingerprint");
        hex::encode(&mac.finalize().into_bytes()[..8])
    }

    fn mac(&self) -> HmacSha256 {
        <HmacSha256 as Mac>::new_from_slice(&self.0[..]).expect("HMAC accepts any key length")
    }
}

impl fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditKey").field("fingerprint", &self.fingerprint()).finish_non_exhaustive()
    }
}

// ---------------------------------------------------------------------------------------
// Rows and their encoding
// ---------------------------------------------------------------------------------------

/// One audit row as stored, without its storage id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    pub chain_id: i64,
    /// 0 for chain-level actions.
    pub station_id: i64,
    /// 1, 2, 3, … within the scope `(chain_id, station_id)`.
    pub seq: i64,
    /// Microseconds since the Unix epoch, UTC.
    pub at_us: i64,
    /// [`ActorKind::as_str`]; kept as text so a tampered value still verifies as a break,
    /// not as a parse error.
    pub actor_kind: String,
    pub actor_id: Option<i64>,
    /// Who, for people reading the trail (`staff:zhangsan`); never personal data.
    pub actor_label: String,
    pub ip: Option<String>,
    /// What was done, `noun.verb` (`station.update`, `member.pii.view`).
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    /// Canonical JSON ([`canonical_json`]) of the state before/after; masked or id-only
    /// for personal data.
    pub before_json: Option<String>,
    pub after_json: Option<String>,
    /// The previous row's `hash`, or [`GENESIS_HASH`] for `seq = 1`.
    pub prev_hash: String,
    pub hash: String,
}

impl AuditRecord {
    /// The canonical bytes of the row (see the module documentation).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let text_len = [
            self.actor_kind.len(),
            self.actor_label.len(),
            self.ip.as_ref().map_or(0, String::len),
            self.action.len(),
            self.target_type.len(),
            self.target_id.as_ref().map_or(0, String::len),
            self.before_json.as_ref().map_or(0, String::len),
            self.after_json.as_ref().map_or(0, String::len),
        ]
        .iter()
        .sum::<usize>();
        let mut out = Vec::with_capacity(FORMAT_LABEL.len() + 4 * 8 + 9 + 8 * 9 + 6 + text_len);
        out.extend_from_slice(FORMAT_LABEL);
        for v in [self.chain_id, self.station_id, self.seq, self.at_us] {
            put_i64(&mut out, v);
        }
        put_str(&mut out, &self.actor_kind);
        put_opt(&mut out, self.actor_id.as_ref(), |o, v| put_i64(o, *v));
        put_str(&mut out, &self.actor_label);
        put_opt(&mut out, self.ip.as_deref(), put_str);
        put_str(&mut out, &self.action);
        put_str(&mut out, &self.target_type);
        put_opt(&mut out, self.target_id.as_deref(), put_str);
        put_opt(&mut out, self.before_json.as_deref(), put_str);
        put_opt(&mut out, self.after_json.as_deref(), put_str);
        out
    }

    /// The hash this row must carry given its `prev_hash`, or `None` when `prev_hash`
    /// is not 64 lowercase hex characters.
    pub fn expected_hash(&self, key: &AuditKey) -> Option<String> {
        chain_hash(key, &self.prev_hash, &self.canonical_bytes())
    }

    /// Links the row behind `prev_hash`: sets `prev_hash` and `hash`. `None` when
    /// `prev_hash` is not a well-formed hash.
    pub fn seal(&mut self, key: &AuditKey, prev_hash: &str) -> Option<()> {
        let hash = chain_hash(key, prev_hash, &self.canonical_bytes())?;
        self.prev_hash = prev_hash.to_owned();
        self.hash = hash;
        Some(())
    }
}

fn put_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_opt<T>(out: &mut Vec<u8>, v: Option<T>, put: impl FnOnce(&mut Vec<u8>, T)) {
    match v {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            put(out, v);
        }
    }
}

/// The 32 bytes a stored hash spells, if it is exactly 64 lowercase hex characters.
pub fn parse_hash(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

/// One step of the chain: `HMAC-SHA256(key, raw(prev_hash) || canonical)` as lowercase
/// hex, or `None` when `prev_hash` is not a well-formed hash.
pub fn chain_hash(key: &AuditKey, prev_hash: &str, canonical: &[u8]) -> Option<String> {
    let prev = parse_hash(prev_hash)?;
    let mut mac = key.mac();
    mac.update(&prev);
    mac.update(canonical);
    Some(hex::encode(mac.finalize().into_bytes()))
}

/// The canonical text of a JSON value: object keys sorted by their UTF-8 bytes, no
/// insignificant whitespace, strings and numbers written as `serde_json` writes them.
/// Independent of how the map type orders keys (serde_json's `preserve_order` feature).
pub fn canonical_json(v: &serde_json::Value) -> String {
    let mut out = String::new();
    write_canonical(&mut out, v);
    out
}

fn write_canonical(out: &mut String, v: &serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_json_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (k, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(out, k);
                out.push(':');
                write_canonical(out, item);
            }
            out.push('}');
        }
    }
}

fn write_json_string(out: &mut String, s: &str) {
    // serde_json's escaping: `"`, `\`, and control characters; everything else verbatim.
    out.push_str(&serde_json::to_string(s).expect("a string always serialises"));
}

// ---------------------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------------------

/// The first place a chain stops being genuine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Break {
    /// The seq where the chain breaks: the row that is wrong, or the seq that is missing.
    pub seq: i64,
    pub reason: BreakReason,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BreakReason {
    /// The row at this position carries another seq: a row was deleted, duplicated,
    /// inserted or moved.
    SeqGap { found: i64 },
    /// The row belongs to another scope.
    ScopeMismatch { chain_id: i64, station_id: i64 },
    /// `prev_hash` is not the previous row's hash (or the genesis hash for seq 1).
    PrevHashMismatch,
    /// The stored hash is not the keyed hash of the row: the row was edited, or the
    /// chain was hashed with another key.
    HashMismatch,
    /// Rows exist but the scope has no head.
    HeadMissing,
    /// The head does not point at the last row: rows after `last_seq` were deleted
    /// (`head_seq > last_seq`), rows were added behind the head's back
    /// (`head_seq < last_seq`), or the head's hash differs.
    HeadMismatch { head_seq: i64, last_seq: i64 },
}

impl fmt::Display for BreakReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BreakReason::SeqGap { found } => write!(f, "sequence broken: found seq {found} here"),
            BreakReason::ScopeMismatch { chain_id, station_id } => {
                write!(f, "row belongs to another scope (chain {chain_id}, station {station_id})")
            }
            BreakReason::PrevHashMismatch => f.write_str("prev_hash does not match the previous row's hash"),
            BreakReason::HashMismatch => {
                f.write_str("hash does not match the row (row altered, or chain hashed with another key)")
            }
            BreakReason::HeadMissing => f.write_str("the scope's head row is missing"),
            BreakReason::HeadMismatch { head_seq, last_seq } if head_seq > last_seq => {
                write!(f, "head is at seq {head_seq} but the chain ends at seq {last_seq}: rows deleted")
            }
            BreakReason::HeadMismatch { head_seq, last_seq } if head_seq < last_seq => {
                write!(f, "head is at seq {head_seq} but the chain goes on to seq {last_seq}: rows added outside")
            }
            BreakReason::HeadMismatch { .. } => f.write_str("head hash does not match the last row"),
        }
    }
}

impl fmt::Display for Break {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seq {}: {}", self.seq, self.reason)
    }
}

/// Checks a scope's rows one at a time, in seq order, so a long chain can be streamed.
/// After the first [`Break`] the verifier should not be fed further.
pub struct ChainVerifier<'k> {
    key: &'k AuditKey,
    scope: Option<(i64, i64)>,
    last_seq: i64,
    last_hash: String,
}

impl<'k> ChainVerifier<'k> {
    /// A verifier that takes the scope from the first row.
    pub fn new(key: &'k AuditKey) -> Self {
        ChainVerifier { key, scope: None, last_seq: 0, last_hash: GENESIS_HASH.to_owned() }
    }

    /// A verifier that also checks every row belongs to `(chain_id, station_id)`.
    pub fn for_scope(key: &'k AuditKey, chain_id: i64, station_id: i64) -> Self {
        ChainVerifier { scope: Some((chain_id, station_id)), ..ChainVerifier::new(key) }
    }

    /// Verifies the next row: seq continuity, linkage to the previous row, and the hash.
    pub fn push(&mut self, row: &AuditRecord) -> Result<(), Break> {
        let seq = self.last_seq + 1;
        let fail = |reason| Err(Break { seq, reason });
        match self.scope {
            Some(scope) if scope != (row.chain_id, row.station_id) => {
                return fail(BreakReason::ScopeMismatch { chain_id: row.chain_id, station_id: row.station_id });
            }
            Some(_) => {}
            None => self.scope = Some((row.chain_id, row.station_id)),
        }
        if row.seq != seq {
            return fail(BreakReason::SeqGap { found: row.seq });
        }
        if row.prev_hash != self.last_hash {
            return fail(BreakReason::PrevHashMismatch);
        }
        // `prev_hash` equals a hash verified before (or the genesis hash): well-formed.
        match row.expected_hash(self.key) {
            Some(h) if h == row.hash => {}
            _ => return fail(BreakReason::HashMismatch),
        }
        self.last_seq = seq;
        self.last_hash.clone_from(&row.hash);
        Ok(())
    }

    /// Seq of the last verified row (0 before any).
    pub fn last_seq(&self) -> i64 {
        self.last_seq
    }

    /// Hash of the last verified row ([`GENESIS_HASH`] before any).
    pub fn last_hash(&self) -> &str {
        &self.last_hash
    }

    /// Checks the scope's head `(seq, hash)` against the last verified row.
    pub fn check_head(&self, head: Option<(i64, &str)>) -> Result<(), Break> {
        check_head(self.last_seq, &self.last_hash, head)
    }
}

/// Verifies a whole scope given in seq order; `Ok` when every row is a genuine link.
/// Deleting the *last* rows is invisible here: check the head too ([`check_head`]).
pub fn verify_chain<'a>(key: &AuditKey, rows: impl IntoIterator<Item = &'a AuditRecord>) -> Result<(), Break> {
    let mut v = ChainVerifier::new(key);
    rows.into_iter().try_for_each(|r| v.push(r))
}

/// Compares a scope's head with its last row (`last_seq = 0` and [`GENESIS_HASH`] when
/// the scope has no rows).
pub fn check_head(last_seq: i64, last_hash: &str, head: Option<(i64, &str)>) -> Result<(), Break> {
    match head {
        None if last_seq == 0 => Ok(()),
        None => Err(Break { seq: last_seq, reason: BreakReason::HeadMissing }),
        Some((head_seq, head_hash)) if head_seq == last_seq && head_hash == last_hash => Ok(()),
        Some((head_seq, _)) => {
            let seq = if head_seq > last_seq {
                last_seq + 1
            } else if head_seq < last_seq {
                head_seq + 1
            } else {
                last_seq
            };
            Err(Break { seq, reason: BreakReason::HeadMismatch { head_seq, last_seq } })
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn key(b: u8) -> AuditKey {
        AuditKey::from_bytes([b; 32])
    }

    fn row(seq: i64) -> AuditRecord {
        AuditRecord {
            chain_id: 7,
            station_id: 3,
            seq,
            at_us: 1_700_000_000_000_000 + seq,
            actor_kind: "staff".into(),
            actor_id: Some(42),
            actor_label: "staff:zhangsan".into(),
            ip: Some("203.0.113.9".into()),
            action: "station.update".into(),
            target_type: "station".into(),
            target_id: Some("3".into()),
            before_json: Some(canonical_json(&json!({"name": "一号站", "revision": seq}))),
            after_json: Some(canonical_json(&json!({"name": "一号站（新）", "revision": seq + 1}))),
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    fn seal_all(key: &AuditKey, rows: &mut [AuditRecord]) {
        let mut prev = GENESIS_HASH.to_owned();
        for r in rows {
            r.seal(key, &prev).expect("well-formed prev hash");
            prev = r.hash.clone();
        }
    }

    fn chain(n: i64) -> Vec<AuditRecord> {
        let mut rows: Vec<_> = (1..=n).map(row).collect();
        seal_all(&key(1), &mut rows);
        rows
    }

    #[test]
    fn a_sealed_chain_verifies_and_its_head_matches() {
        let rows = chain(5);
        assert_eq!(rows[0].prev_hash, GENESIS_HASH);
        assert!(rows.windows(2).all(|w| w[1].prev_hash == w[0].hash));
        assert!(rows.iter().all(|r| parse_hash(&r.hash).is_some()));
        assert_eq!(verify_chain(&key(1), &rows), Ok(()));
        let k = key(1);
        let mut v = ChainVerifier::for_scope(&k, 7, 3);
        rows.iter().try_for_each(|r| v.push(r)).unwrap();
        assert_eq!(v.last_seq(), 5);
        assert_eq!(v.check_head(Some((5, &rows[4].hash))), Ok(()));
        assert_eq!(verify_chain(&key(1), &[]), Ok(()));
        assert_eq!(check_head(0, GENESIS_HASH, None), Ok(()));
    }

    #[test]
    fn a_chain_hashed_with_another_key_breaks_at_seq_1() {
        let mut rows = chain(4);
        seal_all(&key(2), &mut rows);
        let err = verify_chain(&key(1), &rows).unwrap_err();
        assert_eq!(err, Break { seq: 1, reason: BreakReason::HashMismatch });
    }

    #[test]
    fn the_head_catches_a_cut_tail_and_rows_behind_its_back() {
        let rows = chain(4);
        let h = |i: usize| rows[i].hash.as_str();
        // The last row deleted, the head untouched.
        let err = check_head(3, h(2), Some((4, h(3)))).unwrap_err();
        assert_eq!(err, Break { seq: 4, reason: BreakReason::HeadMismatch { head_seq: 4, last_seq: 3 } });
        // Rows beyond the head.
        let err = check_head(4, h(3), Some((2, h(1)))).unwrap_err();
        assert_eq!(err.seq, 3);
        // Same seq, other hash; no head at all; every row gone.
        assert_eq!(check_head(4, h(3), Some((4, h(2)))).unwrap_err().seq, 4);
        assert_eq!(check_head(4, h(3), None).unwrap_err(), Break { seq: 4, reason: BreakReason::HeadMissing });
        assert_eq!(check_head(0, GENESIS_HASH, Some((4, h(3)))).unwrap_err().seq, 1);
    }

    #[test]
    fn scope_is_checked() {
        let mut rows = chain(2);
        rows[1].station_id = 4;
        let k = key(1);
        // The hash covers the scope too, but the scope check names the real problem.
        let err = verify_chain(&k, &rows).unwrap_err();
        assert_eq!(err, Break { seq: 2, reason: BreakReason::ScopeMismatch { chain_id: 7, station_id: 4 } });
    }

    #[test]
    fn canonical_bytes_are_stable_and_unambiguous() {
        let r = row(1);
        let b = r.canonical_bytes();
        assert!(b.starts_with(FORMAT_LABEL));
        assert_eq!(&b[15..23], &7i64.to_be_bytes());
        // Moving a byte between adjacent text fields changes the encoding.
        let mut a = r.clone();
        a.actor_kind = "staffs".into();
        a.actor_label = "taff:zhangsan".into();
        assert_ne!(a.canonical_bytes(), b);
        // An absent value differs from an empty one.
        let mut a = r.clone();
        a.ip = Some(String::new());
        let mut c = r.clone();
        c.ip = None;
        assert_ne!(a.canonical_bytes(), c.canonical_bytes());
        // A pinned vector, so the encoding and the HMAC never change silently. Computed
        // independently from the documented format with Python's struct/hmac/hashlib:
        //   b = b'jiayou.audit.v1' + pack('>q', 7) + pack('>q', 3) + pack('>q', 1)
        //       + pack('>q', 1700000000000001) + s('staff') + b'\x01' + pack('>q', 42)
        //       + s('staff:zhangsan') + b'\x01' + s('203.0.113.9') + s('station.update')
        //       + s('station') + b'\x01' + s('3') + b'\x01' + s(before) + b'\x01' + s(after)
        //   s(x) = pack('>Q', len(x.encode())) + x.encode()
        //   before/after = json.dumps(obj, sort_keys=True, separators=(',', ':'), ensure_ascii=False)
        //   hmac.new(bytes([1] * 32), bytes(32) + b, hashlib.sha256).hexdigest()
        assert_eq!(b.len(), 251);
        let mut fixed = row(1);
        fixed.seal(&key(1), GENESIS_HASH).unwrap();
        assert_eq!(fixed.hash, "1a64e8a45c3f94b75d3932d8b5faf4bb054d0029eee1721d4e57c8b78bfb0ed8");
    }

    #[test]
    fn hmac_step_matches_an_independent_computation() {
        // RFC 4231 test case 2 ("Jefe"), to pin the primitive the chain uses.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // chain_hash is HMAC(key, raw(prev) || canonical).
        let k = key(9);
        let prev = "ab".repeat(32);
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&[9u8; 32]).unwrap();
        mac.update(&[0xab; 32]);
        mac.update(b"payload");
        assert_eq!(chain_hash(&k, &prev, b"payload").unwrap(), hex::encode(mac.finalize().into_bytes()));
        // Malformed previous hashes are refused, including upper case.
        assert!(chain_hash(&k, &"AB".repeat(32), b"x").is_none());
        assert!(chain_hash(&k, "abc", b"x").is_none());
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let a = json!({"b": 1, "a": {"z": [3, {"y": true, "x": null}], "é": "双引号\"\n"}, "A": -2.5});
        let b: serde_json::Value = serde_json::from_str(
            r#"{ "A": -2.5, "a": { "é": "双引号\"\n", "z": [3, {"x": null, "y": true}] }, "b": 1 }"#,
        )
        .unwrap();
        assert_eq!(canonical_json(&a), canonical_json(&b));
        assert_eq!(canonical_json(&a), r#"{"A":-2.5,"a":{"z":[3,{"x":null,"y":true}],"é":"双引号\"\n"},"b":1}"#);
        assert_eq!(canonical_json(&json!(null)), "null");
        assert_eq!(canonical_json(&json!([])), "[]");
        assert_eq!(canonical_json(&json!({})), "{}");
    }

    #[test]
    fn key_parses_generates_and_hides() {
        let k = AuditKey::generate();
        let again = AuditKey::from_base64(&format!("  {}\n", k.to_base64())).unwrap();
        assert_eq!(k.fingerprint(), again.fingerprint());
        assert_ne!(k.fingerprint(), AuditKey::generate().fingerprint());
        assert_eq!(k.fingerprint().len(), 16);
        let shown = format!("{k:?}");
        assert!(!shown.contains(&k.to_base64()) && shown.contains(&k.fingerprint()), "{shown}");
        assert_eq!(AuditKey::from_base64("not base64!").unwrap_err(), AuditKeyError::Base64);
        assert_eq!(AuditKey::from_base64("AAAA").unwrap_err(), AuditKeyError::Length(3));
        assert!(!AuditKeyError::Length(3).to_string().contains("AAAA"));
    }

    #[test]
    fn actor_kinds_round_trip() {
        for k in ActorKind::ALL {
            assert_eq!(ActorKind::parse(k.as_str()), Some(k));
            assert_eq!(serde_json::to_value(k).unwrap(), json!(k.as_str()));
        }
        assert_eq!(ActorKind::parse("Staff"), None);
    }

    // ---------- properties ----------

    fn text() -> impl Strategy<Value = String> {
        "[a-z0-9:._ 站号油价{}\"-]{0,12}"
    }

    fn record() -> impl Strategy<Value = AuditRecord> {
        (
            (0i64..1000, 0i64..50, any::<i64>()),
            (text(), proptest::option::of(any::<i64>()), text(), proptest::option::of(text())),
            (text(), text(), proptest::option::of(text())),
            (proptest::option::of(text()), proptest::option::of(text())),
        )
            .prop_map(
                |((chain_id, station_id, at_us), (kind, actor_id, label, ip), (action, tt, tid), (b, a))| AuditRecord {
                    chain_id,
                    station_id,
                    seq: 0,
                    at_us,
                    actor_kind: kind,
                    actor_id,
                    actor_label: label,
                    ip,
                    action,
                    target_type: tt,
                    target_id: tid,
                    before_json: b,
                    after_json: a,
                    prev_hash: String::new(),
                    hash: String::new(),
                },
            )
    }

    /// A sealed chain of 1..8 rows in one scope.
    fn sealed_chain() -> impl Strategy<Value = Vec<AuditRecord>> {
        proptest::collection::vec(record(), 1..8).prop_map(|mut rows| {
            let (c, s) = (rows[0].chain_id, rows[0].station_id);
            for (i, r) in rows.iter_mut().enumerate() {
                r.chain_id = c;
                r.station_id = s;
                r.seq = i as i64 + 1;
            }
            seal_all(&key(1), &mut rows);
            rows
        })
    }

    /// Changes one byte of a string: an ASCII byte gets one of its low bits flipped (still
    /// ASCII); a byte of a multi-byte character gets its whole character replaced; an
    /// empty string gains one byte.
    fn change_one_byte(s: &mut String, pos: usize, bit: u8) {
        if s.is_empty() {
            s.push(char::from(b'a' + bit % 26));
            return;
        }
        let i = pos % s.len();
        let b = s.as_bytes()[i];
        if b.is_ascii() {
            let mut bytes = std::mem::take(s).into_bytes();
            bytes[i] = b ^ (1 << (bit % 7));
            *s = String::from_utf8(bytes).expect("ASCII stays UTF-8");
        } else {
            let start = (0..=i).rev().find(|&j| s.is_char_boundary(j)).unwrap_or(0);
            let ch = s[start..].chars().next().expect("a char starts here");
            s.replace_range(start..start + ch.len_utf8(), "x");
        }
    }

    fn change_opt(s: &mut Option<String>, pos: usize, bit: u8) {
        match s {
            Some(_) if bit.is_multiple_of(5) => *s = None,
            Some(v) => change_one_byte(v, pos, bit),
            None => *s = Some(String::new()),
        }
    }

    /// Applies a one-byte change to field `field` (0..15) of `r`.
    fn tamper(r: &mut AuditRecord, field: usize, pos: usize, bit: u8) {
        let flip = |v: &mut i64| *v ^= 1i64 << (pos % 64);
        match field {
            0 => flip(&mut r.chain_id),
            1 => flip(&mut r.station_id),
            2 => flip(&mut r.seq),
            3 => flip(&mut r.at_us),
            4 => change_one_byte(&mut r.actor_kind, pos, bit),
            5 => match &mut r.actor_id {
                Some(_) if bit.is_multiple_of(5) => r.actor_id = None,
                Some(v) => flip(v),
                None => r.actor_id = Some(0),
            },
            6 => change_one_byte(&mut r.actor_label, pos, bit),
            7 => change_opt(&mut r.ip, pos, bit),
            8 => change_one_byte(&mut r.action, pos, bit),
            9 => change_one_byte(&mut r.target_type, pos, bit),
            10 => change_opt(&mut r.target_id, pos, bit),
            11 => change_opt(&mut r.before_json, pos, bit),
            12 => change_opt(&mut r.after_json, pos, bit),
            13 => change_one_byte(&mut r.prev_hash, pos, bit),
            _ => change_one_byte(&mut r.hash, pos, bit),
        }
    }

    proptest! {
        #[test]
        fn any_one_byte_change_breaks_at_that_row(
            rows in sealed_chain(),
            which in any::<prop::sample::Index>(),
            field in 0usize..15,
            pos in any::<usize>(),
            bit in any::<u8>(),
        ) {
            let k = key(1);
            prop_assert_eq!(verify_chain(&k, &rows), Ok(()));
            let i = which.index(rows.len());
            let mut tampered = rows.clone();
            tamper(&mut tampered[i], field, pos, bit);
            prop_assert_ne!(&tampered[i], &rows[i]);
            let err = verify_chain(&k, &tampered).unwrap_err();
            prop_assert_eq!(err.seq, i as i64 + 1, "field {} of row {}: {:?}", field, i, err);
        }

        #[test]
        fn deleting_or_moving_a_row_breaks_the_chain(
            rows in sealed_chain(),
            a in any::<prop::sample::Index>(),
            b in any::<prop::sample::Index>(),
        ) {
            let k = key(1);
            let n = rows.len();
            // Delete any row but the last: broken at the missing seq.
            if n >= 2 {
                let i = a.index(n - 1);
                let mut cut = rows.clone();
                cut.remove(i);
                let err = verify_chain(&k, &cut).unwrap_err();
                prop_assert_eq!(err.seq, i as i64 + 1);
                prop_assert_eq!(err.reason, BreakReason::SeqGap { found: i as i64 + 2 });
            }
            // Deleting the last row leaves genuine links: the head catches it.
            let mut cut = rows.clone();
            cut.pop();
            prop_assert_eq!(verify_chain(&k, &cut), Ok(()));
            let last_hash = cut.last().map_or(GENESIS_HASH, |r| r.hash.as_str());
            let head = rows.last().map(|r| (r.seq, r.hash.as_str()));
            prop_assert_eq!(check_head(cut.len() as i64, last_hash, head).unwrap_err().seq, n as i64);
            // Swap two different rows: broken at the earlier position.
            let (i, j) = (a.index(n), b.index(n));
            if i != j {
                let mut moved = rows.clone();
                moved.swap(i, j);
                prop_assert_eq!(verify_chain(&k, &moved).unwrap_err().seq, i.min(j) as i64 + 1);
                // Even with seq and links rewritten to fit, the hashes give it away.
                let mut relinked = moved.clone();
                let mut prev = GENESIS_HASH.to_owned();
                for (p, r) in relinked.iter_mut().enumerate() {
                    r.seq = p as i64 + 1;
                    r.prev_hash = prev.clone();
                    prev = r.hash.clone();
                }
                prop_assert_eq!(verify_chain(&k, &relinked).unwrap_err().seq, i.min(j) as i64 + 1);
            }
        }

        #[test]
        fn rehashing_with_any_other_key_breaks_at_seq_1(rows in sealed_chain(), other in any::<[u8; 32]>()) {
            prop_assume!(other != [1u8; 32]);
            let mut forged = rows.clone();
            seal_all(&AuditKey::from_bytes(other), &mut forged);
            prop_assert_eq!(verify_chain(&AuditKey::from_bytes(other), &forged), Ok(()));
            let err = verify_chain(&key(1), &forged).unwrap_err();
            prop_assert_eq!(err, Break { seq: 1, reason: BreakReason::HashMismatch });
        }

        #[test]
        fn canonical_json_ignores_key_order(
            pairs in proptest::collection::vec(("[a-z站]{1,4}", any::<i32>()), 0..8),
        ) {
            let mut fwd = serde_json::Map::new();
            for (k, v) in &pairs { fwd.insert(k.clone(), json!(v)); }
            let mut rev = serde_json::Map::new();
            for (k, v) in pairs.iter().rev() { rev.insert(k.clone(), json!(v)); }
            // Duplicate keys keep the last value in each: compare only when they agree.
            if fwd == rev {
                let (a, b) = (serde_json::Value::Object(fwd.clone()), serde_json::Value::Object(rev));
                prop_assert_eq!(canonical_json(&a), canonical_json(&b));
            }
            let text = canonical_json(&serde_json::Value::Object(fwd.clone()));
            let back: serde_json::Value = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(back, serde_json::Value::Object(fwd));
        }
    }
}
