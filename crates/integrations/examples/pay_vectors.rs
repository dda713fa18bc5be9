//! Prints OUR payment-channel cryptography outputs as JSON, for `scripts/pay_vectors`
//! to recompute and check with independent implementations (PyPI `wechatpayv3`,
//! `python-alipay-sdk`, `cryptography`).
//!
//! Reads the cases on stdin (written by `scripts/pay_vectors.py --inputs`):
//! ```json
//! {"wechat": [{"kind": "request|notification|paysign", "parts": ["..."]}],
//!  "aead":   [{"key": "...", "nonce": "...", "aad": "...", "plaintext": "...", "their_ciphertext": "..."}],
//!  "alipay": [{"params": [["k", "v"]], "exclude_sign_type": false}]}
//! ```
//! and signs with the fixed test key `tests/fixtures/pay/test_rsa_key.pem`.
//!
//!     scripts/pay_vectors.py --inputs | cargo run -q -p jiayou-integrations --example pay_vectors

use std::io::Read;

use jiayou_integrations::pay::rsa::{PrivateKey, aead_decrypt, aead_encrypt, alipay_content, wechat_message};
use serde_json::{Value, json};

const KEY_PEM: &str = include_str!("../tests/fixtures/pay/test_rsa_key.pem");

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("input field {key:?} missing in {v}"))
}

fn main() {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).expect("read stdin");
    let input: Value = serde_json::from_str(&input).expect("stdin is JSON");
    let key = PrivateKey::parse(KEY_PEM).expect("the committed test key parses");

    let wechat: Vec<Value> = input["wechat"]
        .as_array()
        .expect("wechat cases")
        .iter()
        .map(|case| {
            let parts: Vec<&str> = case["parts"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
            let message = wechat_message(&parts);
            json!({"kind": case["kind"], "message": message, "signature": key.sign(message.as_bytes())})
        })
        .collect();

    let aead: Vec<Value> = input["aead"]
        .as_array()
        .expect("aead cases")
        .iter()
        .map(|case| {
            let (k, n, a) =
                (str_of(case, "key").as_bytes(), str_of(case, "nonce").as_bytes(), str_of(case, "aad").as_bytes());
            let ciphertext = aead_encrypt(k, n, a, str_of(case, "plaintext").as_bytes());
            let decrypt = |ct: &str| match aead_decrypt(k, n, a, ct) {
                Ok(p) => json!({"ok": String::from_utf8(p).expect("UTF-8 plaintext")}),
                Err(e) => json!({"err": e}),
            };
            json!({
                "ciphertext": ciphertext.as_ref().map_or(Value::Null, |c| json!(c)),
                "encrypt_error": ciphertext.as_ref().err(),
                "decrypted_ours": ciphertext.as_ref().map_or(Value::Null, |c| decrypt(c)),
                "decrypted_theirs": decrypt(str_of(case, "their_ciphertext")),
            })
        })
        .collect();

    let alipay: Vec<Value> = input["alipay"]
        .as_array()
        .expect("alipay cases")
        .iter()
        .map(|case| {
            let params: Vec<(&str, &str)> = case["params"]
                .as_array()
                .unwrap()
                .iter()
                .map(|kv| (kv[0].as_str().unwrap(), kv[1].as_str().unwrap()))
                .collect();
            let content = alipay_content(params, case["exclude_sign_type"].as_bool().unwrap());
            json!({"content": content, "signature": key.sign(content.as_bytes())})
        })
        .collect();

    let out = json!({
        "public_key_pem": key.public_key().to_pem(),
        "public_key_base64": key.public_key().to_base64(),
        "wechat": wechat,
        "aead": aead,
        "alipay": alipay,
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
}
