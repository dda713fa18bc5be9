//! `pay::rsa` against published vectors: test data copied from the official WeChat Pay
//! (`wechatpay-apiv3/*`) and Alipay (`alipay/*`) SDKs' own test files. The data and, for
//! each vector, the repository, path, commit and test it comes from are in
//! `tests/fixtures/pay/official_vectors.json`.
//!
//! RSASSA-PKCS1-v1_5 is deterministic, so wherever a vector gives the private key our
//! signature must equal the SDK's byte for byte; every verification is also checked to
//! fail for a one-byte change of the message.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use jiayou_integrations::pay::rsa::{
    PrivateKey, PublicKey, aead_decrypt, aead_encrypt, alipay_content, wechat_message,
};
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/pay/official_vectors.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture readable")).expect("fixture is JSON")
}

fn group(name: &str) -> Vec<Value> {
    let v = vectors()[name].as_array().unwrap_or_else(|| panic!("fixture group {name}")).clone();
    assert!(!v.is_empty(), "fixture group {name} is empty");
    v
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("field {key} in {v}"))
}

fn origin(v: &Value) -> String {
    format!("{} {} ({})", s(&v["source"], "repo"), s(&v["source"], "path"), s(&v["source"], "test"))
}

/// The same message with its last byte changed (or one byte added if empty).
fn one_byte_off(message: &str) -> Vec<u8> {
    let mut m = message.as_bytes().to_vec();
    match m.last_mut() {
        Some(b) => *b ^= 0x01,
        None => m.push(b'x'),
    }
    m
}

/// The SubjectPublicKeyInfo of an X.509 certificate (PEM), as bare base64: what WeChat's
/// platform certificate and Alipay's app certificate carry. Only the few DER steps needed
/// to walk `Certificate → tbsCertificate → subjectPublicKeyInfo`.
fn certificate_spki_base64(pem: &str) -> String {
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect::<Vec<_>>().concat();
    let der = B64.decode(b64).expect("certificate base64");
    fn tlv(d: &[u8]) -> (u8, usize, usize) {
        // (tag, header length, content length)
        let tag = d[0];
        let first = d[1] as usize;
        if first < 0x80 {
            (tag, 2, first)
        } else {
            let n = first & 0x7f;
            let len = d[2..2 + n].iter().fold(0usize, |a, b| (a << 8) | *b as usize);
            (tag, 2 + n, len)
        }
    }
    let (tag, h, _) = tlv(&der);
    assert_eq!(tag, 0x30, "Certificate is a SEQUENCE");
    let tbs = &der[h..];
    let (tag, h, len) = tlv(tbs);
    assert_eq!(tag, 0x30, "tbsCertificate is a SEQUENCE");
    let mut rest = &tbs[h..h + len];
    let mut fields = Vec::new();
    while !rest.is_empty() {
        let (tag, h, len) = tlv(rest);
        fields.push((tag, &rest[..h + len]));
        rest = &rest[h + len..];
    }
    // [0] version (optional), serialNumber, signature, issuer, validity, subject, spki
    let skip = usize::from(fields[0].0 == 0xa0);
    let spki = fields[skip + 5].1;
    B64.encode(spki)
}

fn wechat_private_key(v: &Value) -> PrivateKey {
    let mut pem = s(v, "private_key_pem").to_owned();
    if let Some(pair) = v["label_replace"].as_array() {
        // The SDK's own test helper does this before loading (see the fixture's note).
        pem = pem.replace(pair[0].as_str().unwrap(), pair[1].as_str().unwrap());
    }
    PrivateKey::parse(&pem)
        .unwrap_or_else(|e| panic!("{}: our PrivateKey::parse refused the SDK's key: {e}", origin(v)))
}

#[test]
fn wechat_sha256_rsa_signatures_equal_the_sdks_byte_for_byte() {
    for v in group("wechat_sign") {
        let key = wechat_private_key(&v);
        let ours = key.sign(s(&v, "message").as_bytes());
        assert_eq!(ours, s(&v, "signature"), "{}: signature differs", origin(&v));
        // and our own public half verifies it, not a changed message
        let public = key.public_key();
        assert!(public.verify(s(&v, "message").as_bytes(), &ours), "{}", origin(&v));
        assert!(!public.verify(&one_byte_off(s(&v, "message")), &ours), "{}", origin(&v));
    }
}

#[test]
fn wechat_public_key_verifier_agrees_with_the_sdk() {
    for v in group("wechat_verify") {
        let public = PublicKey::parse(s(&v, "public_key_pem")).unwrap_or_else(|e| panic!("{}: {e}", origin(&v)));
        for case in v["cases"].as_array().unwrap() {
            let message = s(case, "message");
            let expected = case["valid"].as_bool().unwrap();
            assert_eq!(
                public.verify(message.as_bytes(), s(&v, "signature")),
                expected,
                "{}: case {:?}",
                origin(&v),
                s(case, "name")
            );
            if expected {
                assert!(!public.verify(&one_byte_off(message), s(&v, "signature")), "{}: one byte off", origin(&v));
            }
        }
        // The public key in PEM re-encodes to the same SubjectPublicKeyInfo.
        let spki: String = s(&v, "public_key_pem").lines().filter(|l| !l.starts_with("-----")).collect();
        assert_eq!(public.to_base64(), spki, "{}: to_base64 round trip", origin(&v));
    }
}

#[test]
fn wechat_notification_signature_verifies_with_the_platform_certificate_key() {
    for v in group("wechat_notification") {
        let public = PublicKey::parse(&certificate_spki_base64(s(&v, "certificate_pem")))
            .unwrap_or_else(|e| panic!("{}: {e}", origin(&v)));
        let h = &v["headers"];
        let body = s(&v, "body");
        let message = wechat_message(&[s(h, "Wechatpay-Timestamp"), s(h, "Wechatpay-Nonce"), body]);
        assert_eq!(message, format!("{}\n{}\n{}\n", s(h, "Wechatpay-Timestamp"), s(h, "Wechatpay-Nonce"), body));
        let signature = s(h, "Wechatpay-Signature");
        assert!(public.verify(message.as_bytes(), signature), "{}: valid notification refused", origin(&v));
        assert!(!public.verify(&one_byte_off(&message), signature), "{}: altered body accepted", origin(&v));
        let other_nonce = wechat_message(&[s(h, "Wechatpay-Timestamp"), "EcZ9Cmy4Xyx1i6RlJQzLcCyEqDa26NBZ", body]);
        assert!(!public.verify(other_nonce.as_bytes(), signature), "{}: other nonce accepted", origin(&v));

        // The resource's key in this SDK test is 16 bytes (AES-128-GCM, not WeChat's
        // AEAD_AES_256_GCM): we must refuse it, not decrypt with a shorter key.
        let resource: Value = serde_json::from_str(body).unwrap();
        let r = &resource["resource"];
        assert_eq!(s(r, "associated_data"), s(&v["resource"], "associated_data"));
        let key = s(&v, "apiv3_key").as_bytes();
        assert_eq!(key.len(), 16);
        let refused =
            aead_decrypt(key, s(r, "nonce").as_bytes(), s(r, "associated_data").as_bytes(), s(r, "ciphertext"));
        assert_eq!(refused, Err("the APIv3 key must be 32 bytes".to_owned()), "{}", origin(&v));
    }
}

#[test]
fn wechat_aead_aes_256_gcm_matches_the_sdk_both_ways() {
    for v in group("wechat_aead") {
        let (key, nonce, aad) =
            (s(&v, "key").as_bytes(), s(&v, "nonce").as_bytes(), s(&v, "associated_data").as_bytes());
        assert_eq!(key.len(), 32);
        let plain =
            aead_decrypt(key, nonce, aad, s(&v, "ciphertext")).unwrap_or_else(|e| panic!("{}: {e}", origin(&v)));
        assert_eq!(String::from_utf8(plain).unwrap(), s(&v, "plaintext"), "{}: decrypt", origin(&v));
        let ct = aead_encrypt(key, nonce, aad, s(&v, "plaintext").as_bytes()).unwrap();
        assert_eq!(ct, s(&v, "ciphertext"), "{}: encrypt", origin(&v));
        // tampering: other associated data, one ciphertext byte changed
        assert!(aead_decrypt(key, nonce, b"associatedDatA", s(&v, "ciphertext")).is_err());
        let mut raw = B64.decode(s(&v, "ciphertext")).unwrap();
        raw[0] ^= 1;
        assert!(aead_decrypt(key, nonce, aad, &B64.encode(raw)).is_err());
    }
    for v in group("wechat_aead_non_256") {
        let r = aead_decrypt(
            s(&v, "key").as_bytes(),
            s(&v, "nonce").as_bytes(),
            s(&v, "associated_data").as_bytes(),
            s(&v, "ciphertext"),
        );
        assert_eq!(r, Err("the APIv3 key must be 32 bytes".to_owned()), "{}", origin(&v));
    }
}

fn params(v: &Value) -> Vec<(String, String)> {
    v["params"].as_object().unwrap().iter().map(|(k, x)| (k.clone(), x.as_str().unwrap().to_owned())).collect()
}

fn content(p: &[(String, String)], exclude_sign_type: bool) -> String {
    alipay_content(p.iter().map(|(k, v)| (k.as_str(), v.as_str())), exclude_sign_type)
}

#[test]
fn alipay_notifications_verify_as_the_sdk_says() {
    for v in group("alipay_notify") {
        let public = PublicKey::parse(s(&v, "public_key")).unwrap_or_else(|e| panic!("{}: {e}", origin(&v)));
        let p = params(&v);
        let sign = p.iter().find(|(k, _)| k == "sign").unwrap().1.clone();
        let exclude = v["exclude_sign_type"].as_bool().unwrap();
        let valid = v["valid"].as_bool().unwrap();
        let signed = content(&p, exclude);
        assert!(!signed.contains("sign="), "sign itself is never signed");
        assert_eq!(public.verify(signed.as_bytes(), &sign), valid, "{}", origin(&v));
        // The other content rule (keep / drop sign_type) never verifies.
        assert!(!public.verify(content(&p, !exclude).as_bytes(), &sign), "{}: other sign_type rule", origin(&v));
        if valid {
            assert!(!public.verify(&one_byte_off(&signed), &sign), "{}: one byte off", origin(&v));
            // The parameters' order in the notification does not matter.
            let mut reversed = p.clone();
            reversed.reverse();
            assert_eq!(content(&reversed, exclude), signed);
        }
    }
}

#[test]
fn alipay_rsa2_sign_content_and_signature_equal_the_java_sdks() {
    for v in group("alipay_rsa2") {
        let p = params(&v);
        let exclude = v["exclude_sign_type"].as_bool().unwrap();
        let signed = content(&p, exclude);
        assert_eq!(signed, s(&v, "content"), "{}: sign content", origin(&v));
        let key = PrivateKey::parse(s(&v, "private_key"))
            .unwrap_or_else(|e| panic!("{}: our PrivateKey::parse refused the SDK's bare base64 key: {e}", origin(&v)));
        let expected = &p.iter().find(|(k, _)| k == "sign").unwrap().1;
        assert_eq!(&key.sign(signed.as_bytes()), expected, "{}: signature differs", origin(&v));
        let public = PublicKey::parse(&certificate_spki_base64(s(&v, "certificate_pem"))).unwrap();
        assert_eq!(public, key.public_key(), "{}: the certificate holds the key's public half", origin(&v));
        assert!(public.verify(signed.as_bytes(), expected), "{}", origin(&v));
        assert!(!public.verify(&one_byte_off(&signed), expected), "{}: one byte off", origin(&v));
    }
}
