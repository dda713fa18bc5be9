//! The cryptography WeChat Pay API v3 and Alipay (RSA2) have in common: SHA256withRSA
//! (RSASSA-PKCS1-v1_5 over SHA-256, base64), RSA keys as PEM or bare base64 DER, and
//! WeChat's AEAD_AES_256_GCM for notification resources.
//!
//! Signing and verification use `ring` (constant-time, the library our TLS already
//! trusts). The `rsa` crate is used only to *generate* keys for the local peers
//! ([`generate_key_pair`]), never on a money path: its private-key operations are not
//! constant time (RUSTSEC-2023-0071), which does not matter for a throwaway key of a
//! peer on the same machine.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ring::rand::SystemRandom;
use ring::signature::{self, RsaKeyPair, UnparsedPublicKey};
use std::sync::{Arc, OnceLock};

/// Why a key could not be loaded. The message names the problem, never the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(pub String);

/// A merchant's (or a peer's) RSA private key, for SHA256withRSA signatures.
#[derive(Clone)]
pub struct PrivateKey(Arc<RsaKeyPair>);

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateKey(..)")
    }
}

impl PrivateKey {
    /// Reads a PEM file's text (`PRIVATE KEY` = PKCS#8, as WeChat's `apiclient_key.pem`;
    /// `RSA PRIVATE KEY` = PKCS#1) or bare base64 DER of either (as Alipay's key tool
    /// prints it).
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let (label, der) = pem_or_base64(text)?;
        let pair = match label.as_deref() {
            Some("PRIVATE KEY") => RsaKeyPair::from_pkcs8(&der).map_err(|e| bad_key("PKCS#8 private key", e))?,
            Some("RSA PRIVATE KEY") => RsaKeyPair::from_der(&der).map_err(|e| bad_key("PKCS#1 private key", e))?,
            Some(other) => return Err(KeyError(format!("PEM block {other:?} is not an RSA private key"))),
            None => RsaKeyPair::from_pkcs8(&der)
                .or_else(|_| RsaKeyPair::from_der(&der))
                .map_err(|e| bad_key("private key (neither PKCS#8 nor PKCS#1)", e))?,
        };
        Ok(Self(Arc::new(pair)))
    }

    /// SHA256withRSA of `message`, base64 (standard alphabet, padded): what both
    /// channels put in `Authorization: ... signature="..."`, `paySign` and `sign`.
    /// PKCS#1 v1.5 is deterministic: the same key and message give the same signature.
    pub fn sign(&self, message: &[u8]) -> String {
        let mut out = vec![0; self.0.public().modulus_len()];
        self.0
            .sign(&signature::RSA_PKCS1_SHA256, &SystemRandom::new(), message, &mut out)
            .expect("signing into a buffer of the modulus length cannot fail");
        B64.encode(out)
    }

    /// The public half, e.g. to hand to the other side of a local peer.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(Arc::new(self.0.public().as_ref().to_vec()))
    }
}

/// An RSA public key (the channel's platform key, or a merchant's for the peers).
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey(Arc<Vec<u8>>); // PKCS#1 RSAPublicKey DER, what ring verifies with

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PublicKey(..)")
    }
}

impl PublicKey {
    /// Reads `PUBLIC KEY` (SubjectPublicKeyInfo, as WeChat's `pub_key.pem` and Alipay's
    /// 支付宝公钥), `RSA PUBLIC KEY` (PKCS#1), or bare base64 DER of either.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let (label, der) = pem_or_base64(text)?;
        let pkcs1 = match label.as_deref() {
            Some("PUBLIC KEY") => spki_to_pkcs1(&der)?,
            Some("RSA PUBLIC KEY") => der,
            Some(other) => return Err(KeyError(format!("PEM block {other:?} is not an RSA public key"))),
            None => spki_to_pkcs1(&der).unwrap_or(der),
        };
        // ring parses lazily: check the shape now, so a bad file fails at start-up, not at
        // the first payment.
        if !looks_like_rsa_public_key(&pkcs1) {
            return Err(KeyError("not an RSA public key".into()));
        }
        Ok(Self(Arc::new(pkcs1)))
    }

    /// Whether `signature_b64` is SHA256withRSA of `message` under this key. A signature
    /// that is not base64 is simply false.
    pub fn verify(&self, message: &[u8], signature_b64: &str) -> bool {
        let Ok(sig) = B64.decode(signature_b64.trim()) else { return false };
        UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, self.0.as_slice()).verify(message, &sig).is_ok()
    }

    /// SubjectPublicKeyInfo PEM, the form WeChat and Alipay publish keys in.
    pub fn to_pem(&self) -> String {
        pem("PUBLIC KEY", &pkcs1_to_spki(&self.0))
    }

    /// SubjectPublicKeyInfo DER in base64 without PEM lines (Alipay's console shows keys so).
    pub fn to_base64(&self) -> String {
        B64.encode(pkcs1_to_spki(&self.0))
    }
}

/// A fresh 2048-bit key pair as (PKCS#8 PEM private key, the parsed private key), for
/// the local peers. Generating one takes a moment, so a process makes one and reuses
/// it per `purpose` (each peer has its own, distinct from every other peer's).
pub fn generate_key_pair(purpose: &'static str) -> (String, PrivateKey) {
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};
    static KEYS: OnceLock<std::sync::Mutex<Vec<(&'static str, String)>>> = OnceLock::new();
    let keys = KEYS.get_or_init(Default::default);
    let mut keys = keys.lock().unwrap_or_else(|e| e.into_inner());
    let pem = match keys.iter().find(|(p, _)| *p == purpose) {
        Some((_, pem)) => pem.clone(),
        None => {
            let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("2048-bit RSA key generation");
            let pem = key.to_pkcs8_pem(LineEnding::LF).expect("PKCS#8 encoding").to_string();
            keys.push((purpose, pem.clone()));
            pem
        }
    };
    let parsed = PrivateKey::parse(&pem).expect("a generated key parses");
    (pem, parsed)
}

/// AEAD_AES_256_GCM as WeChat Pay v3 uses it for notification `resource`s and
/// encrypted fields: `key` is the 32-byte APIv3 key (ASCII), `nonce` 12 bytes (ASCII),
/// `associated_data` may be empty, `ciphertext_b64` = base64(ciphertext ‖ 16-byte tag).
pub fn aead_decrypt(key: &[u8], nonce: &[u8], associated_data: &[u8], ciphertext_b64: &str) -> Result<Vec<u8>, String> {
    let cipher = Aes256Gcm::new_from_slice(key).map_err(|_| "the APIv3 key must be 32 bytes".to_owned())?;
    if nonce.len() != 12 {
        return Err("the nonce must be 12 bytes".into());
    }
    let ct = B64.decode(ciphertext_b64.trim()).map_err(|_| "ciphertext is not base64".to_owned())?;
    cipher
        .decrypt(Nonce::from_slice(nonce), Payload { msg: &ct, aad: associated_data })
        .map_err(|_| "decryption failed: wrong APIv3 key, or the resource was altered".to_owned())
}

/// The inverse of [`aead_decrypt`] (for the local WeChat Pay peer and tests).
pub fn aead_encrypt(key: &[u8], nonce: &[u8], associated_data: &[u8], plaintext: &[u8]) -> Result<String, String> {
    let cipher = Aes256Gcm::new_from_slice(key).map_err(|_| "the APIv3 key must be 32 bytes".to_owned())?;
    if nonce.len() != 12 {
        return Err("the nonce must be 12 bytes".into());
    }
    let ct = cipher
        .encrypt(Nonce::from_slice(nonce), Payload { msg: plaintext, aad: associated_data })
        .map_err(|_| "encryption failed".to_owned())?;
    Ok(B64.encode(ct))
}

/// WeChat Pay v3's signed message: each part followed by `\n`. Requests sign
/// `[method, url, timestamp, nonce, body]`, answers and notifications
/// `[timestamp, nonce, body]`, `wx.requestPayment`'s paySign `[appId, timeStamp,
/// nonceStr, package]`.
pub fn wechat_message(parts: &[&str]) -> String {
    let mut s = String::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
    for p in parts {
        s.push_str(p);
        s.push('\n');
    }
    s
}

/// Alipay's string to sign: `key=value` pairs sorted by key (byte order), joined by
/// `&`, without `sign` and — for asynchronous notifications — `sign_type`, and without
/// empty keys or values (as the Java SDK's `getSignContent`); values raw (not URL-encoded). Requests keep `sign_type` in the string:
/// pass `exclude_sign_type = false`.
pub fn alipay_content<'a>(params: impl IntoIterator<Item = (&'a str, &'a str)>, exclude_sign_type: bool) -> String {
    let mut pairs: Vec<(&str, &str)> = params
        .into_iter()
        .filter(|(k, v)| {
            let dropped = *k == "sign" || (exclude_sign_type && *k == "sign_type");
            !(k.is_empty() || v.is_empty() || dropped)
        })
        .collect();
    pairs.sort_unstable();
    let mut s = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            s.push('&');
        }
        s.push_str(k);
        s.push('=');
        s.push_str(v);
    }
    s
}

fn bad_key(what: &str, e: ring::error::KeyRejected) -> KeyError {
    KeyError(format!("not a usable RSA {what}: {e}"))
}

/// Splits PEM into (label, DER); text without `-----BEGIN` is bare base64 (label `None`).
fn pem_or_base64(text: &str) -> Result<(Option<String>, Vec<u8>), KeyError> {
    let text = text.trim();
    let (label, body) = if let Some(rest) = text.strip_prefix("-----BEGIN ") {
        let (label, rest) = rest.split_once("-----").ok_or_else(|| KeyError("PEM header is malformed".into()))?;
        let end = format!("-----END {label}-----");
        let body = rest.split_once(end.as_str()).ok_or_else(|| KeyError(format!("PEM has no {end} line")))?.0;
        (Some(label.to_owned()), body)
    } else {
        (None, text)
    };
    let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    let der = B64.decode(b64).map_err(|_| KeyError("key is neither PEM nor base64".into()))?;
    Ok((label, der))
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = B64.encode(der);
    let mut s = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        s.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        s.push('\n');
    }
    s.push_str(&format!("-----END {label}-----\n"));
    s
}

// --- the few DER shapes of RSA public keys -------------------------------------------

/// rsaEncryption, 1.2.840.113549.1.1.1, as an AlgorithmIdentifier with NULL parameters.
const RSA_ALGORITHM_ID: [u8; 15] =
    [0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00];

/// SubjectPublicKeyInfo → the RSAPublicKey inside its BIT STRING.
fn spki_to_pkcs1(der: &[u8]) -> Result<Vec<u8>, KeyError> {
    let bad = || KeyError("not an RSA SubjectPublicKeyInfo".into());
    let (tag, spki, _) = der_item(der).ok_or_else(bad)?;
    if tag != 0x30 {
        return Err(bad());
    }
    let (tag, alg, rest) = der_item(spki).ok_or_else(bad)?;
    // The algorithm must be rsaEncryption (parameters NULL or absent).
    if tag != 0x30 || alg.len() < 11 || alg[..11] != RSA_ALGORITHM_ID[2..13] {
        return Err(bad());
    }
    let (tag, bits, _) = der_item(rest).ok_or_else(bad)?;
    if tag != 0x03 || bits.first() != Some(&0) {
        return Err(bad());
    }
    Ok(bits[1..].to_vec())
}

fn pkcs1_to_spki(pkcs1: &[u8]) -> Vec<u8> {
    let mut bits = vec![0u8];
    bits.extend_from_slice(pkcs1);
    let mut inner = RSA_ALGORITHM_ID.to_vec();
    inner.extend(der_wrap(0x03, &bits));
    der_wrap(0x30, &inner)
}

fn looks_like_rsa_public_key(der: &[u8]) -> bool {
    // RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
    let Some((0x30, seq, _)) = der_item(der) else { return false };
    let Some((0x02, _, rest)) = der_item(seq) else { return false };
    matches!(der_item(rest), Some((0x02, _, tail)) if tail.is_empty())
}

/// One DER TLV: (tag, contents, what follows).
fn der_item(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

fn der_wrap(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(contents);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_signs_and_its_public_key_verifies_in_every_encoding() {
        let (pem_text, key) = generate_key_pair("rsa-test");
        assert!(pem_text.starts_with("-----BEGIN PRIVATE KEY-----"));
        let sig = key.sign(b"hello");
        assert_eq!(sig, key.sign(b"hello"), "PKCS#1 v1.5 is deterministic");
        let public = key.public_key();
        for encoded in [public.to_pem(), public.to_base64()] {
            let parsed = PublicKey::parse(&encoded).unwrap();
            assert!(parsed.verify(b"hello", &sig));
            assert!(!parsed.verify(b"hellO", &sig), "another message");
            assert!(!parsed.verify(b"hello", "not base64!"));
        }
        // The same key as bare base64 PKCS#8 (Alipay's form) loads too.
        let bare: String = pem_text.lines().filter(|l| !l.starts_with("-----")).collect::<Vec<_>>().join("");
        assert_eq!(PrivateKey::parse(&bare).unwrap().sign(b"hello"), sig);
    }

    #[test]
    fn garbage_keys_are_refused_with_a_reason() {
        assert!(PrivateKey::parse("not a key").is_err());
        assert!(PublicKey::parse("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----").is_err());
        assert!(PublicKey::parse("AAAA").is_err());
    }

    #[test]
    fn aead_round_trips_and_detects_tampering() {
        let key = b"0123456789abcdef0123456789abcdef";
        let ct = aead_encrypt(key, b"abcdefghijkl", b"transaction", b"{\"a\":1}").unwrap();
        assert_eq!(aead_decrypt(key, b"abcdefghijkl", b"transaction", &ct).unwrap(), b"{\"a\":1}");
        assert!(aead_decrypt(key, b"abcdefghijkl", b"refund", &ct).is_err(), "other associated data");
        assert!(aead_decrypt(b"0123456789abcdef0123456789abcdeX", b"abcdefghijkl", b"transaction", &ct).is_err());
    }

    #[test]
    fn alipay_content_sorts_and_drops_sign_and_empty_values() {
        let params = [("sign", "x"), ("b", "2"), ("sign_type", "RSA2"), ("a", "1"), ("empty", ""), ("", "orphan")];
        assert_eq!(alipay_content(params, true), "a=1&b=2");
        assert_eq!(alipay_content(params, false), "a=1&b=2&sign_type=RSA2");
        assert_eq!(wechat_message(&["1", "n", "{}"]), "1\nn\n{}\n");
    }
}
