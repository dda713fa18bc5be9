//! Encrypted columns for personal data (ARCHITECTURE rule 8, SPEC S2).
//!
//! Phone numbers, names, ID numbers, licence plates and vehicle details are stored
//! **only** through this module: an AES-256-GCM ciphertext carrying its key version,
//! plus, where exact lookups are needed, an HMAC-SHA256 *blind index* column.
//!
//! # Sealed format (version tag 0x01)
//!
//! ```text
//! byte  0        format tag, 0x01
//! byte  1        key version (1..=255) the value was sealed under
//! bytes 2..14    96-bit nonce, fresh from a CSPRNG (rand's thread RNG) for every seal
//! bytes 14..     AES-256-GCM ciphertext of the UTF-8 plaintext, followed by the 16-byte tag
//! ```
//!
//! The associated data (AAD) authenticated by GCM is `byte0 || byte1 || context`, where
//! `context` is the column's name, `"table.column"` (e.g. `"members.phone"`). So a
//! ciphertext copied into another column, or with its header edited, fails to open.
//! The shortest valid value (empty plaintext) is 30 bytes.
//!
//! # Blind index
//!
//! `blind_index(context, value)` = lowercase hex of the first 16 bytes of
//! `HMAC-SHA256(blind_index_key, context || 0x00 || value)`: 32 hex characters,
//! deterministic, keyed with a key separate from every encryption key, and
//! domain-separated by context so one phone number gives different indexes in
//! different columns. `context` must not contain a NUL byte.
//!
//! **Normalisation is the caller's job**: the blind index of `"138 1234 5678"` and of
//! `"13812345678"` differ. Normalise before both writing and looking up, with
//! [`normalize_phone`], [`normalize_plate`] or your own rule for other kinds of data.
//! Encryption needs no normalisation; seal what the user typed if you want to show it back.
//!
//! # Keys
//!
//! A [`KeyRing`] holds every key version still needed to read old data, the active version
//! used for new seals, and the blind-index key. Key bytes are zeroized on drop and never
//! printed (`Debug` shows the versions only); errors never contain plaintext or keys.
//! Rotation: add a new version, make it active, then re-encrypt rows for which
//! [`KeyRing::needs_rotation`] is true (see [`KeyRing::reseal`]). The blind-index key is
//! not rotated this way: changing it means recomputing every index column.

use std::collections::BTreeMap;
use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

/// Byte 0 of every sealed value in the current format.
pub const FORMAT_TAG: u8 = 0x01;
/// Length of the header: format tag, key version, nonce.
const HEADER_LEN: usize = 2 + NONCE_LEN;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Shortest well-formed sealed value (empty plaintext).
pub const MIN_SEALED_LEN: usize = HEADER_LEN + TAG_LEN;
/// Bytes of the HMAC kept in a blind index (hex doubles it to 32 characters).
const BLIND_INDEX_BYTES: usize = 16;

/// What went wrong with a key ring or a sealed value. Never carries plaintext or key material.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum CryptoError {
    /// The value was sealed under a key version this ring does not hold.
    #[error("sealed value uses key version {0}, which is not in the key ring")]
    UnknownKeyVersion(u8),
    /// The bytes are not a sealed value of a known format (too short, wrong tag, ...).
    #[error("sealed value is malformed: {0}")]
    Malformed(&'static str),
    /// GCM authentication failed: the value was tampered with, belongs to another
    /// column (context), or was sealed under a different key with the same version.
    #[error("sealed value failed authentication (tampered, sealed for another column, or wrong key)")]
    AuthenticationFailed,
    /// The key configuration is invalid; `part` names which part.
    #[error("invalid encryption key configuration, {part}: {reason}")]
    Config { part: String, reason: String },
}

impl CryptoError {
    fn config(part: impl Into<String>, reason: impl Into<String>) -> Self {
        CryptoError::Config { part: part.into(), reason: reason.into() }
    }
}

/// Encryption keys by version, the active version, and the blind-index key.
pub struct KeyRing {
    keys: BTreeMap<u8, Zeroizing<[u8; 32]>>,
    active: u8,
    blind_index_key: Zeroizing<[u8; 32]>,
}

/// Freshly generated key material in config-string form (see [`KeyRing::from_config`]).
///
/// These strings are secrets: persist them in the deployment's secret store, never in logs.
/// `Debug` redacts them.
#[derive(Clone)]
pub struct GeneratedKeys {
    /// `"1:BASE64"`: the key list for [`KeyRing::from_config`].
    pub keys: String,
    /// The active key version.
    pub active: u8,
    /// Base64 of the 32-byte blind-index key.
    pub blind_index_key: String,
}

impl fmt::Debug for GeneratedKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedKeys")
            .field("keys", &"<redacted>")
            .field("active", &self.active)
            .field("blind_index_key", &"<redacted>")
            .finish()
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("versions", &self.versions())
            .field("active", &self.active)
            .field("blind_index_key", &"<redacted>")
            .finish()
    }
}

impl KeyRing {
    /// Build a ring from raw keys.
    ///
    /// `keys`: `(version, key)` pairs, versions 1..=255, no duplicates, at least one.
    /// `active` must be one of the versions. `blind_index_key` must differ from every
    /// encryption key.
    pub fn new(keys: Vec<(u8, [u8; 32])>, active: u8, blind_index_key: [u8; 32]) -> Result<Self, CryptoError> {
        let blind_index_key = Zeroizing::new(blind_index_key);
        let mut map = BTreeMap::new();
        for (version, key) in keys {
            let key = Zeroizing::new(key);
            if version == 0 {
                return Err(CryptoError::config("keys", "key version 0 is reserved; versions are 1..=255"));
            }
            if *key == *blind_index_key {
                return Err(CryptoError::config(
                    "blind_index_key",
                    format!("must differ from the encryption key of version {version}"),
                ));
            }
            if map.insert(version, key).is_some() {
                return Err(CryptoError::config("keys", format!("duplicate key version {version}")));
            }
        }
        if map.is_empty() {
            return Err(CryptoError::config("keys", "no encryption key configured"));
        }
        if !map.contains_key(&active) {
            let versions: Vec<u8> = map.keys().copied().collect();
            return Err(CryptoError::config(
                "active",
                format!("active key version {active} is not among the configured versions {versions:?}"),
            ));
        }
        Ok(KeyRing { keys: map, active, blind_index_key })
    }

    /// Parse a ring from config strings.
    ///
    /// `keys` is `"1:BASE64,2:BASE64"`: comma-separated `version:key` entries, each key the
    /// standard (padded) base64 of 32 bytes; whitespace around entries is ignored.
    /// `blind_index_key` is the standard base64 of 32 bytes. Errors name the bad part
    /// (entry position and version) but never echo key material.
    pub fn from_config(keys: &str, active: u8, blind_index_key: &str) -> Result<Self, CryptoError> {
        let mut parsed: Vec<(u8, [u8; 32])> = Vec::new();
        let result = (|| {
            if keys.trim().is_empty() {
                return Err(CryptoError::config("keys", "no encryption key configured"));
            }
            for (i, entry) in keys.split(',').enumerate() {
                let n = i + 1;
                let entry = entry.trim();
                if entry.is_empty() {
                    return Err(CryptoError::config(format!("keys entry #{n}"), "empty entry"));
                }
                let Some((version, b64)) = entry.split_once(':') else {
                    return Err(CryptoError::config(format!("keys entry #{n}"), "expected VERSION:BASE64"));
                };
                let version: u8 = match version.trim().parse() {
                    Ok(v) if v != 0 => v,
                    _ => {
                        return Err(CryptoError::config(
                            format!("keys entry #{n}"),
                            "key version must be an integer 1..=255",
                        ));
                    }
                };
                let part = format!("keys entry #{n} (version {version})");
                if parsed.iter().any(|(v, _)| *v == version) {
                    return Err(CryptoError::config(part, format!("duplicate key version {version}")));
                }
                let key = decode_key(b64.trim(), &part)?;
                parsed.push((version, *key));
            }
            let bidx = decode_key(blind_index_key.trim(), "blind_index_key")?;
            KeyRing::new(parsed.clone(), active, *bidx)
        })();
        for (_, key) in parsed.iter_mut() {
            key.zeroize();
        }
        result
    }

    /// Fresh random key material (version 1 active) for a new deployment or a demo.
    /// Returns the ring and the config strings to persist.
    pub fn generate() -> (Self, GeneratedKeys) {
        let mut key = Zeroizing::new([0u8; 32]);
        let mut bidx = Zeroizing::new([0u8; 32]);
        rand::fill(&mut key[..]);
        loop {
            rand::fill(&mut bidx[..]);
            if *bidx != *key {
                break;
            }
        }
        let generated = GeneratedKeys {
            keys: format!("1:{}", BASE64.encode(&key[..])),
            active: 1,
            blind_index_key: BASE64.encode(&bidx[..]),
        };
        let ring = KeyRing::new(vec![(1, *key)], 1, *bidx).expect("freshly generated keys form a valid ring");
        (ring, generated)
    }

    /// The version new seals are written under.
    pub fn active_version(&self) -> u8 {
        self.active
    }

    /// Every key version this ring can open, ascending.
    pub fn versions(&self) -> Vec<u8> {
        self.keys.keys().copied().collect()
    }

    /// Encrypt `plaintext` under the active key. `context` is the column, `"table.column"`;
    /// it is authenticated, so the value opens only with the same context.
    pub fn seal(&self, context: &str, plaintext: &str) -> Vec<u8> {
        let key = &self.keys[&self.active];
        let mut nonce = [0u8; NONCE_LEN];
        rand::fill(&mut nonce[..]);
        let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
        out.push(FORMAT_TAG);
        out.push(self.active);
        out.extend_from_slice(&nonce);
        let aad = aad(FORMAT_TAG, self.active, context);
        out.extend_from_slice(&gcm_encrypt(key, &nonce, &aad, plaintext.as_bytes()));
        out
    }

    /// Decrypt a value produced by [`seal`](Self::seal) with the same `context`.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<String, CryptoError> {
        let (version, nonce, body) = parse(sealed)?;
        let key = self.keys.get(&version).ok_or(CryptoError::UnknownKeyVersion(version))?;
        let aad = aad(FORMAT_TAG, version, context);
        let plaintext = gcm_decrypt(key, nonce, &aad, body)?;
        String::from_utf8(plaintext).map_err(|e| {
            let mut bytes = e.into_bytes();
            bytes.zeroize();
            CryptoError::Malformed("plaintext is not UTF-8")
        })
    }

    /// True if `sealed` is a well-formed value written under a key version other than the
    /// active one, i.e. a re-encryption job should [`reseal`](Self::reseal) it.
    /// Malformed input gives `false`; [`open`](Self::open) reports what is wrong with it.
    pub fn needs_rotation(&self, sealed: &[u8]) -> bool {
        matches!(parse(sealed), Ok((version, _, _)) if version != self.active)
    }

    /// Open `sealed` and seal it again under the active key (for re-encryption jobs).
    pub fn reseal(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let plaintext = Zeroizing::new(self.open(context, sealed)?);
        Ok(self.seal(context, &plaintext))
    }

    /// Blind index of an already-normalised `value` in column `context`, for exact-match
    /// lookups: lowercase hex, 32 characters (first 16 bytes of
    /// `HMAC-SHA256(blind_index_key, context || 0x00 || value)`).
    pub fn blind_index(&self, context: &str, value: &str) -> String {
        debug_assert!(!context.contains('\0'), "blind index context must not contain NUL");
        let mac = hmac_sha256(&self.blind_index_key[..], &[context.as_bytes(), &[0u8], value.as_bytes()]);
        hex::encode(&mac[..BLIND_INDEX_BYTES])
    }
}

/// Normalise a phone number for the blind index: drop whitespace and dashes (ASCII and
/// full-width forms are folded to ASCII first) and a leading `+86` / `0086` country code
/// (also a bare `86` in front of an 11-digit mobile number starting with 1). A landline
/// given with the country code gets its domestic `0` back.
///
/// `"+86 138-1234-5678"`, `"0086 13812345678"` and `"138 1234 5678"` all give
/// `"13812345678"`. Validation is not done here.
pub fn normalize_phone(s: &str) -> String {
    let compact: String = s.chars().map(fold_fullwidth).filter(|c| !c.is_whitespace() && *c != '-').collect();
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let is_mobile = |s: &str| s.len() == 11 && s.starts_with('1') && all_digits(s);
    let national = if let Some(r) = compact.strip_prefix("+86") {
        r
    } else if let Some(r) = compact.strip_prefix("0086") {
        r
    } else if compact.len() == 13 && compact.starts_with("86") && is_mobile(&compact[2..]) {
        &compact[2..]
    } else {
        return compact;
    };
    // A landline written internationally ("+86 10 8888 6666") gets its domestic trunk
    // prefix back, so it matches the way it is written at home ("010 8888 6666").
    if all_digits(national) && !national.starts_with('0') && !is_mobile(national) {
        format!("0{national}")
    } else {
        national.to_string()
    }
}

/// Normalise a licence plate for the blind index: fold full-width letters and digits to
/// ASCII, uppercase, drop whitespace, dots (`.`, `·`, `•`, `・`, `．`) and dashes; the
/// province character (京, 沪, 粤, ...) is kept. `"京a·12345"` gives `"京A12345"`.
pub fn normalize_plate(s: &str) -> String {
    s.chars()
        .map(fold_fullwidth)
        .filter(|c| !c.is_whitespace() && !matches!(c, '.' | '·' | '•' | '・' | '-' | '－' | '—' | '–'))
        .flat_map(char::to_uppercase)
        .collect()
}

/// Full-width ASCII forms (U+FF01..=U+FF5E) to their ASCII counterparts.
fn fold_fullwidth(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        _ => c,
    }
}

fn decode_key(b64: &str, part: &str) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    let bytes = Zeroizing::new(BASE64.decode(b64).map_err(|_| CryptoError::config(part, "not valid standard base64"))?);
    if bytes.len() != 32 {
        return Err(CryptoError::config(part, format!("key decodes to {} bytes, expected 32", bytes.len())));
    }
    let mut key = Zeroizing::new([0u8; 32]);
    key.copy_from_slice(&bytes);
    Ok(key)
}

/// Split a sealed value into (version, nonce, ciphertext||tag), checking tag and length.
fn parse(sealed: &[u8]) -> Result<(u8, &[u8; NONCE_LEN], &[u8]), CryptoError> {
    if sealed.len() < 2 {
        return Err(CryptoError::Malformed("too short"));
    }
    if sealed[0] != FORMAT_TAG {
        return Err(CryptoError::Malformed("unknown format tag"));
    }
    if sealed.len() < MIN_SEALED_LEN {
        return Err(CryptoError::Malformed("too short"));
    }
    let nonce: &[u8; NONCE_LEN] = sealed[2..HEADER_LEN].try_into().expect("slice of NONCE_LEN bytes");
    Ok((sealed[1], nonce, &sealed[HEADER_LEN..]))
}

fn aad(tag: u8, version: u8, context: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(2 + context.len());
    aad.push(tag);
    aad.push(version);
    aad.extend_from_slice(context.as_bytes());
    aad
}

/// AES-256-GCM encryption, 96-bit nonce, 128-bit tag: returns ciphertext || tag.
fn gcm_encrypt(key: &[u8; 32], nonce: &[u8; NONCE_LEN], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key));
    cipher
        .encrypt(Nonce::from_slice(nonce), Payload { msg: plaintext, aad })
        .expect("AES-GCM encryption cannot fail for inputs under 64 GiB")
}

/// AES-256-GCM decryption of ciphertext || tag; any authentication failure is one error.
fn gcm_decrypt(
    key: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    ciphertext_and_tag: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key));
    cipher
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext_and_tag, aad })
        .map_err(|_| CryptoError::AuthenticationFailed)
}

/// HMAC-SHA256 of the concatenation of `parts`.
fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: [u8; 32] = [0x11; 32];
    const K2: [u8; 32] = [0x22; 32];
    const BIDX: [u8; 32] = [0xB1; 32];

    fn ring_v1() -> KeyRing {
        KeyRing::new(vec![(1, K1)], 1, BIDX).unwrap()
    }

    fn ring_v1_v2() -> KeyRing {
        KeyRing::new(vec![(1, K1), (2, K2)], 2, BIDX).unwrap()
    }

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    fn config_part(err: CryptoError) -> (String, String) {
        match err {
            CryptoError::Config { part, reason } => (part, reason),
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn round_trip_ascii_chinese_and_empty() {
        let ring = ring_v1();
        for text in ["13812345678", "张三丰", "京A·12345 比亚迪 汉 EV", "", "a\0b"] {
            let sealed = ring.seal("members.name", text);
            assert_eq!(sealed[0], FORMAT_TAG);
            assert_eq!(sealed[1], 1);
            assert_eq!(sealed.len(), MIN_SEALED_LEN + text.len());
            assert_eq!(ring.open("members.name", &sealed).unwrap(), text);
        }
    }

    #[test]
    fn sealing_twice_gives_different_ciphertexts() {
        let ring = ring_v1();
        let a = ring.seal("members.phone", "13812345678");
        let b = ring.seal("members.phone", "13812345678");
        assert_ne!(a, b);
        assert_ne!(a[2..HEADER_LEN], b[2..HEADER_LEN], "nonces must differ");
    }

    #[test]
    fn wrong_context_fails() {
        let ring = ring_v1();
        let sealed = ring.seal("members.phone", "13812345678");
        assert_eq!(ring.open("members.id_number", &sealed), Err(CryptoError::AuthenticationFailed));
    }

    #[test]
    fn every_tampered_byte_fails() {
        let ring = ring_v1();
        let sealed = ring.seal("vehicles.plate", "京A12345");
        for i in 0..sealed.len() {
            let mut t = sealed.clone();
            t[i] ^= 0x01;
            let err = ring.open("vehicles.plate", &t).unwrap_err();
            match i {
                0 => assert_eq!(err, CryptoError::Malformed("unknown format tag")),
                1 => assert_eq!(err, CryptoError::UnknownKeyVersion(0)),
                _ => assert_eq!(err, CryptoError::AuthenticationFailed, "byte {i}"),
            }
        }
    }

    #[test]
    fn tampered_version_byte_pointing_at_another_key_fails() {
        let ring = ring_v1_v2();
        let mut sealed = ring.seal("members.phone", "13812345678");
        sealed[1] = 1;
        assert_eq!(ring.open("members.phone", &sealed), Err(CryptoError::AuthenticationFailed));
    }

    #[test]
    fn truncated_input_fails() {
        let ring = ring_v1();
        let sealed = ring.seal("members.phone", "13812345678");
        for len in 0..sealed.len() {
            let err = ring.open("members.phone", &sealed[..len]).unwrap_err();
            if len < MIN_SEALED_LEN {
                assert_eq!(err, CryptoError::Malformed("too short"), "len {len}");
            } else {
                assert_eq!(err, CryptoError::AuthenticationFailed, "len {len}");
            }
        }
    }

    #[test]
    fn unknown_version_fails() {
        let v2_only = KeyRing::new(vec![(2, K2)], 2, BIDX).unwrap();
        let sealed = ring_v1().seal("members.phone", "13812345678");
        assert_eq!(v2_only.open("members.phone", &sealed), Err(CryptoError::UnknownKeyVersion(1)));
    }

    #[test]
    fn wrong_key_same_version_fails() {
        let other = KeyRing::new(vec![(1, K2)], 1, BIDX).unwrap();
        let sealed = ring_v1().seal("members.phone", "13812345678");
        assert_eq!(other.open("members.phone", &sealed), Err(CryptoError::AuthenticationFailed));
    }

    #[test]
    fn rotation() {
        let old = ring_v1();
        let sealed_v1 = old.seal("members.phone", "13812345678");
        assert!(!old.needs_rotation(&sealed_v1));

        let ring = ring_v1_v2();
        assert_eq!(ring.active_version(), 2);
        assert_eq!(ring.versions(), vec![1, 2]);
        assert_eq!(ring.open("members.phone", &sealed_v1).unwrap(), "13812345678");
        assert!(ring.needs_rotation(&sealed_v1));

        let sealed_v2 = ring.seal("members.phone", "13812345678");
        assert_eq!(sealed_v2[1], 2);
        assert!(!ring.needs_rotation(&sealed_v2));

        let resealed = ring.reseal("members.phone", &sealed_v1).unwrap();
        assert_eq!(resealed[1], 2);
        assert!(!ring.needs_rotation(&resealed));
        assert_eq!(ring.open("members.phone", &resealed).unwrap(), "13812345678");
        assert_eq!(ring.reseal("members.name", &sealed_v1), Err(CryptoError::AuthenticationFailed));

        assert!(!ring.needs_rotation(&[]));
        assert!(!ring.needs_rotation(&sealed_v1[..10]));
    }

    #[test]
    fn blind_index_is_deterministic_keyed_and_domain_separated() {
        let ring = ring_v1();
        let a = ring.blind_index("members.phone", "13812345678");
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(a, ring.blind_index("members.phone", "13812345678"));
        // Independent of the encryption keys and the active version.
        assert_eq!(a, ring_v1_v2().blind_index("members.phone", "13812345678"));
        assert_ne!(a, ring.blind_index("members.phone", "13812345679"));
        assert_ne!(a, ring.blind_index("invoices.phone", "13812345678"));
        // The 0x00 separator keeps context/value boundaries apart.
        assert_ne!(ring.blind_index("members.phone1", "3812345678"), ring.blind_index("members.phone", "13812345678"));
        let other_key = KeyRing::new(vec![(1, K1)], 1, [0xB2; 32]).unwrap();
        assert_ne!(a, other_key.blind_index("members.phone", "13812345678"));
        // It is exactly HMAC-SHA256(bidx, context || 0x00 || value), truncated to 16 bytes.
        let full = hmac_sha256(&BIDX, &[b"members.phone\x0013812345678"]);
        assert_eq!(a, hex::encode(&full[..16]));
    }

    /// RFC 4231, section 4.2 (test case 1) and 4.3 (test case 2), HMAC-SHA-256.
    #[test]
    fn hmac_sha256_rfc4231() {
        assert_eq!(
            hex::encode(hmac_sha256(&[0x0b; 20], &[b"Hi There"])),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", &[b"what do ya ", b"want for nothing?"])),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    /// McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)" (the GCM spec submitted
    /// to NIST, SP 800-38D's source), appendix B, Test Case 16: AES-256, 96-bit IV, with AAD.
    #[test]
    fn aes256_gcm_spec_test_case_16() {
        let key: [u8; 32] =
            unhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308").try_into().unwrap();
        let iv: [u8; 12] = unhex("cafebabefacedbaddecaf888").try_into().unwrap();
        let plaintext = unhex(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
             1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        );
        let aad = unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        let expected = unhex(
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
             8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662\
             76fc6ece0f4e1768cddf8853bb2d551b",
        );
        let sealed = gcm_encrypt(&key, &iv, &aad, &plaintext);
        assert_eq!(hex::encode(&sealed), hex::encode(&expected));
        assert_eq!(gcm_decrypt(&key, &iv, &aad, &expected).unwrap(), plaintext);
        let mut bad = expected.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(gcm_decrypt(&key, &iv, &aad, &bad), Err(CryptoError::AuthenticationFailed));
    }

    #[test]
    fn sealed_format_is_as_documented() {
        // Rebuild a sealed value by hand from the documented layout and open it.
        let ring = ring_v1();
        let nonce = [7u8; 12];
        let mut sealed = vec![FORMAT_TAG, 1];
        sealed.extend_from_slice(&nonce);
        let mut aad = vec![FORMAT_TAG, 1];
        aad.extend_from_slice(b"members.phone");
        sealed.extend_from_slice(&gcm_encrypt(&K1, &nonce, &aad, "13812345678".as_bytes()));
        assert_eq!(ring.open("members.phone", &sealed).unwrap(), "13812345678");
    }

    #[test]
    fn from_config_parses_and_round_trips_generate() {
        let (ring, generated) = KeyRing::generate();
        assert_eq!(generated.active, 1);
        assert!(generated.keys.starts_with("1:"));
        let parsed = KeyRing::from_config(&generated.keys, generated.active, &generated.blind_index_key).unwrap();
        let sealed = ring.seal("members.phone", "13812345678");
        assert_eq!(parsed.open("members.phone", &sealed).unwrap(), "13812345678");
        assert_eq!(
            parsed.blind_index("members.phone", "13812345678"),
            ring.blind_index("members.phone", "13812345678")
        );
        // Two generations differ.
        let (_, again) = KeyRing::generate();
        assert_ne!(again.keys, generated.keys);
        assert_ne!(again.blind_index_key, generated.blind_index_key);

        let k1 = BASE64.encode(K1);
        let k2 = BASE64.encode(K2);
        let bidx = BASE64.encode(BIDX);
        let ring = KeyRing::from_config(&format!(" 1:{k1} , 2:{k2} "), 2, &bidx).unwrap();
        assert_eq!(ring.versions(), vec![1, 2]);
        assert_eq!(ring.active_version(), 2);
        let v1 = ring_v1().seal("members.phone", "x");
        assert_eq!(ring.open("members.phone", &v1).unwrap(), "x");
    }

    #[test]
    fn from_config_errors_name_the_bad_part() {
        let k1 = BASE64.encode(K1);
        let k2 = BASE64.encode(K2);
        let bidx = BASE64.encode(BIDX);
        let short = BASE64.encode([0x33; 31]);

        let (part, reason) = config_part(KeyRing::from_config(&format!("1:{k1},2:not base64!"), 1, &bidx).unwrap_err());
        assert_eq!(part, "keys entry #2 (version 2)");
        assert!(reason.contains("base64"), "{reason}");

        let (part, reason) = config_part(KeyRing::from_config(&format!("1:{k1},3:{short}"), 1, &bidx).unwrap_err());
        assert_eq!(part, "keys entry #2 (version 3)");
        assert!(reason.contains("31 bytes"), "{reason}");

        let (part, reason) = config_part(KeyRing::from_config(&format!("1:{k1},1:{k2}"), 1, &bidx).unwrap_err());
        assert_eq!(part, "keys entry #2 (version 1)");
        assert!(reason.contains("duplicate"), "{reason}");

        let (part, reason) = config_part(KeyRing::from_config(&format!("1:{k1},2:{k2}"), 3, &bidx).unwrap_err());
        assert_eq!(part, "active");
        assert!(reason.contains("3") && reason.contains("[1, 2]"), "{reason}");

        let (part, reason) = config_part(KeyRing::from_config(&format!("1:{k1}"), 1, "%%%").unwrap_err());
        assert_eq!(part, "blind_index_key");
        assert!(reason.contains("base64"), "{reason}");

        let (part, _) = config_part(KeyRing::from_config(&format!("1:{k1}"), 1, &short).unwrap_err());
        assert_eq!(part, "blind_index_key");

        let (part, reason) = config_part(KeyRing::from_config(&format!("1:{k1}"), 1, &k1).unwrap_err());
        assert_eq!(part, "blind_index_key");
        assert!(reason.contains("differ"), "{reason}");

        for bad in ["0:", "256:", "x:", "1"] {
            let cfg = format!("{bad}{k1}");
            let (part, _) = config_part(KeyRing::from_config(&cfg, 1, &bidx).unwrap_err());
            assert_eq!(part, "keys entry #1", "{bad}");
        }
        let (part, _) = config_part(KeyRing::from_config(&format!("1:{k1},"), 1, &bidx).unwrap_err());
        assert_eq!(part, "keys entry #2");
        let (part, _) = config_part(KeyRing::from_config("  ", 1, &bidx).unwrap_err());
        assert_eq!(part, "keys");

        // No error message echoes key material.
        let err = KeyRing::from_config(&format!("1:{k1},2:{short}"), 1, &bidx).unwrap_err();
        let msg = err.to_string();
        assert!(!msg.contains(&k1) && !msg.contains(&short), "{msg}");
    }

    #[test]
    fn new_rejects_bad_rings() {
        assert_eq!(config_part(KeyRing::new(vec![], 1, BIDX).unwrap_err()).0, "keys");
        assert_eq!(config_part(KeyRing::new(vec![(0, K1)], 0, BIDX).unwrap_err()).0, "keys");
        assert_eq!(config_part(KeyRing::new(vec![(1, K1), (1, K2)], 1, BIDX).unwrap_err()).0, "keys");
        assert_eq!(config_part(KeyRing::new(vec![(1, K1)], 2, BIDX).unwrap_err()).0, "active");
        assert_eq!(config_part(KeyRing::new(vec![(1, K1)], 1, K1).unwrap_err()).0, "blind_index_key");
        assert!(KeyRing::new(vec![(255, K1)], 255, BIDX).is_ok());
    }

    #[test]
    fn debug_output_contains_no_key_material() {
        let ring = ring_v1_v2();
        let dbg = format!("{ring:?} {ring:#?}");
        assert!(dbg.contains("versions") && dbg.contains("[1, 2]"), "{dbg}");
        for key in [K1, K2, BIDX] {
            assert!(!dbg.contains(&hex::encode(key)), "{dbg}");
            assert!(!dbg.contains(&BASE64.encode(key)), "{dbg}");
            // Debug of a byte array would print the decimal bytes.
            assert!(!dbg.contains(&format!("{:?}", &key[..4])), "{dbg}");
        }
        let (ring, generated) = KeyRing::generate();
        let dbg = format!("{ring:?} {generated:?}");
        assert!(!dbg.contains(&generated.keys[2..]), "{dbg}");
        assert!(!dbg.contains(&generated.blind_index_key), "{dbg}");
    }

    #[test]
    fn errors_never_contain_plaintext() {
        let ring = ring_v1();
        let sealed = ring.seal("members.phone", "13812345678");
        for err in
            [ring.open("members.name", &sealed).unwrap_err(), ring.open("members.phone", &sealed[..5]).unwrap_err()]
        {
            assert!(!format!("{err} {err:?}").contains("13812345678"));
        }
    }

    #[test]
    fn normalize_phone_examples() {
        for input in [
            "13812345678",
            "138 1234 5678",
            "138-1234-5678",
            "+86 138 1234 5678",
            "+86-13812345678",
            "0086 13812345678",
            "8613812345678",
            " １３８１２３４５６７８ ",
            "＋86\u{3000}138 1234 5678",
        ] {
            assert_eq!(normalize_phone(input), "13812345678", "{input:?}");
        }
        // Landlines: domestic and international forms agree; a bare 86 prefix on
        // something that is not a mobile number is kept.
        assert_eq!(normalize_phone("010-8888 6666"), "01088886666");
        assert_eq!(normalize_phone("+86 10 8888 6666"), "01088886666");
        assert_eq!(normalize_phone("0086-851-8888-6666"), "085188886666");
        assert_eq!(normalize_phone("86123"), "86123");
        assert_eq!(normalize_phone(""), "");
    }

    #[test]
    fn normalize_plate_examples() {
        for input in ["京A12345", "京a12345", "京A·12345", "京 A-12345", "京A.12345", "京Ａ１２３４５"] {
            assert_eq!(normalize_plate(input), "京A12345", "{input:?}");
        }
        // New-energy plates (8 characters) and trailing characters like 学/警 survive.
        assert_eq!(normalize_plate("粤b d12345"), "粤BD12345");
        assert_eq!(normalize_plate("沪A·1234学"), "沪A1234学");
        assert_eq!(normalize_plate(""), "");
    }
}
