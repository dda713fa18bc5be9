//! What travels between us and the Alipay gateway: signed parameter lists, the signed
//! JSON answer envelope, yuan amounts and China-time timestamps. Shared by the channel
//! ([`super::AlipayChannel`]) and the local gateway ([`super::peer`]).

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::pay::rsa::{PrivateKey, PublicKey, alipay_content};

/// The one format, charset, signature type and version the gateway is spoken with.
pub const FORMAT: &str = "JSON";
pub const CHARSET: &str = "utf-8";
pub const SIGN_TYPE: &str = "RSA2";
pub const VERSION: &str = "1.0";

/// Answer codes of the gateway.
pub const CODE_SUCCESS: &str = "10000";
/// The payer is confirming a payment code on the phone (`alipay.trade.pay`).
pub const CODE_PAYING: &str = "10003";
pub const CODE_SYSTEM_ERROR: &str = "20000";
pub const CODE_INVALID_ARGUMENTS: &str = "40002";
pub const CODE_BUSINESS_FAILED: &str = "40004";

/// An ordered list of request or notification parameters.
pub type Params = Vec<(String, String)>;

/// China Standard Time, the time of every Alipay timestamp and business day.
pub fn china() -> FixedOffset {
    // Invariant: 8 hours is within the ±24 h FixedOffset accepts.
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// `yyyy-MM-dd HH:mm:ss` in China time (`timestamp`, `time_expire`, `gmt_payment`).
pub fn format_time(t: DateTime<Utc>) -> String {
    t.with_timezone(&china()).format("%Y-%m-%d %H:%M:%S").to_string()
}

/// Reads `yyyy-MM-dd HH:mm:ss` (optionally with `.SSS`, as `gmt_refund` has) in China time.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").ok()?;
    china().from_local_datetime(&naive).single().map(|t| t.with_timezone(&Utc))
}

/// 1234 fen → `"12.34"`, exactly (integer arithmetic).
pub fn fen_to_yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", fen.unsigned_abs() / 100, fen.unsigned_abs() % 100)
}

/// `"12.34"`, `"12.3"`, `"12"`, `"-0.05"` → fen, exactly; `None` for anything else (more
/// than two decimals, exponents, spaces inside, overflow). Never goes through `f64`.
pub fn yuan_to_fen(s: &str) -> Option<i64> {
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !all_digits(whole) || !all_digits(frac) || frac.len() > 2 || digits.ends_with('.') {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let frac: i64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().ok()? * 10,
        _ => frac.parse().ok()?,
    };
    let fen = whole.checked_mul(100)?.checked_add(frac)?;
    Some(if negative { -fen } else { fen })
}

/// `alipay.trade.query` → `alipay_trade_query_response`, the key of its answer.
pub fn response_key(method: &str) -> String {
    format!("{}_response", method.replace('.', "_"))
}

/// Adds `sign` = RSA2 over [`alipay_content`] of the request's parameters (`sign_type`
/// included, as requests sign it).
pub fn sign_request(params: &mut Params, key: &PrivateKey) {
    let content = alipay_content(params.iter().map(|(k, v)| (k.as_str(), v.as_str())), false);
    params.push(("sign".to_owned(), key.sign(content.as_bytes())));
}

/// Adds `sign` over the notification's parameters (`sign_type` excluded, as notifications sign).
pub fn sign_notification(params: &mut Params, key: &PrivateKey) {
    let content = alipay_content(params.iter().map(|(k, v)| (k.as_str(), v.as_str())), true);
    params.push(("sign".to_owned(), key.sign(content.as_bytes())));
}

/// Whether `params` carry a `sign` that `key` made over them; `None` when there is no sign.
pub fn verify_params(params: &[(String, String)], key: &PublicKey, exclude_sign_type: bool) -> Option<bool> {
    let sign = params.iter().find(|(k, _)| k == "sign").map(|(_, v)| v.as_str()).filter(|s| !s.is_empty())?;
    let content = alipay_content(params.iter().map(|(k, v)| (k.as_str(), v.as_str())), exclude_sign_type);
    Some(key.verify(content.as_bytes(), sign))
}

pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
}

/// `application/x-www-form-urlencoded` (UTF-8) of the parameters.
pub fn form_encode(params: &[(String, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(params.iter()).finish()
}

pub fn form_decode(body: &[u8]) -> Params {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// The answer envelope as the gateway signs it: `{"<key>":<inner>,"sign":"..."}` where
/// `sign` covers the exact text of `<inner>`.
pub fn signed_answer(key: &PrivateKey, response_key: &str, inner: &Value) -> String {
    let text = inner.to_string();
    let sign = key.sign(text.as_bytes());
    format!("{{\"{response_key}\":{text},\"sign\":{}}}", Value::String(sign))
}

/// The fields every answer has.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Common {
    pub code: String,
    #[serde(default)]
    pub msg: String,
    #[serde(default)]
    pub sub_code: Option<String>,
    #[serde(default)]
    pub sub_msg: Option<String>,
}

/// An answer whose signature has been checked: the inner object and its common fields.
#[derive(Debug)]
pub struct Answer {
    pub common: Common,
    pub body: Value,
}

impl Answer {
    pub fn is_success(&self) -> bool {
        self.common.code == CODE_SUCCESS
    }

    pub fn str(&self, field: &str) -> Option<&str> {
        self.body.get(field).and_then(Value::as_str).filter(|s| !s.is_empty())
    }

    pub fn sub_code(&self) -> &str {
        self.common.sub_code.as_deref().unwrap_or("")
    }
}

/// Reads an answer of `method`: finds `<method>_response` (or the gateway's
/// `error_response`), checks `sign` over its exact text with `key`, then parses it.
/// An answer without `sign` is believed only when it is an `error_response` refusal (the
/// gateway does not sign some of those); anything else unsigned or badly signed is `Err`.
pub fn read_answer(body: &str, method: &str, key: &PublicKey) -> Result<Answer, String> {
    let members = top_level_members(body).ok_or("not a JSON object")?;
    let expected = response_key(method);
    let (name, raw) = members
        .iter()
        .find(|(k, _)| *k == expected || k == "error_response")
        .ok_or_else(|| format!("no {expected} in the answer"))?;
    let sign = members.iter().find(|(k, _)| k == "sign").and_then(|(_, raw)| serde_json::from_str::<String>(raw).ok());
    match &sign {
        Some(sign) => {
            if !key.verify(raw.as_bytes(), sign) {
                return Err("the answer's sign does not verify with the Alipay public key".into());
            }
        }
        None if name == "error_response" => {}
        None => return Err("the answer is not signed".into()),
    }
    let body: Value = serde_json::from_str(raw).map_err(|_| "the answer object is not JSON")?;
    let common: Common = serde_json::from_value(body.clone()).map_err(|_| "the answer has no code")?;
    if sign.is_none() && common.code == CODE_SUCCESS {
        return Err("an unsigned success".into());
    }
    Ok(Answer { common, body })
}

/// The top-level members of a JSON object as (key, exact raw text of the value), so a
/// signature can be checked over the bytes as they arrived, not as re-serialised.
pub fn top_level_members(text: &str) -> Option<Vec<(String, &str)>> {
    let b = text.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(b, i + 1);
    let mut members = Vec::new();
    if b.get(i) == Some(&b'}') {
        return Some(members);
    }
    loop {
        let key_end = scan_string(b, i)?;
        let key: String = serde_json::from_str(&text[i..key_end]).ok()?;
        i = skip_ws(b, key_end);
        if b.get(i) != Some(&b':') {
            return None;
        }
        let start = skip_ws(b, i + 1);
        let end = scan_value(b, start)?;
        members.push((key, &text[start..end]));
        i = skip_ws(b, end);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            Some(b'}') => return Some(members),
            _ => return None,
        }
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(|c| c.is_ascii_whitespace()) {
        i += 1;
    }
    i
}

/// `b[i]` opens a string: the index after its closing quote.
fn scan_string(b: &[u8], mut i: usize) -> Option<usize> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    i += 1;
    loop {
        match b.get(i)? {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
}

/// The index after the JSON value starting at `b[i]`.
fn scan_value(b: &[u8], mut i: usize) -> Option<usize> {
    match b.get(i)? {
        b'"' => scan_string(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            loop {
                match b.get(i)? {
                    b'"' => {
                        i = scan_string(b, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        _ => {
            let start = i;
            while b.get(i).is_some_and(|c| !matches!(c, b',' | b'}' | b']') && !c.is_ascii_whitespace()) {
                i += 1;
            }
            (i > start).then_some(i)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_converts_exactly_both_ways() {
        assert_eq!(yuan_to_fen("12.34"), Some(1234));
        assert_eq!(yuan_to_fen("12.3"), Some(1230));
        assert_eq!(yuan_to_fen("12"), Some(1200));
        assert_eq!(yuan_to_fen("0.01"), Some(1));
        assert_eq!(yuan_to_fen("-10.50"), Some(-1050));
        assert_eq!(yuan_to_fen("0.29"), Some(29), "0.29 * 100 is 28.999... in f64");
        assert_eq!(yuan_to_fen("92233720368547758.07"), Some(i64::MAX));
        for bad in ["", "1.234", "1.", ".5", "1e3", " 1.00", "1,00", "+1", "--1", "92233720368547758.08", "abc"] {
            assert_eq!(yuan_to_fen(bad), None, "{bad:?}");
        }
        assert_eq!(fen_to_yuan(1234), "12.34");
        assert_eq!(fen_to_yuan(5), "0.05");
        assert_eq!(fen_to_yuan(-150), "-1.50");
    }

    #[test]
    fn times_are_china_time() {
        let t = parse_time("2024-01-02 08:30:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2024-01-02T00:30:00+00:00");
        assert_eq!(format_time(t), "2024-01-02 08:30:00");
        assert_eq!(parse_time("2024-01-02 08:30:00.123").unwrap().timestamp(), t.timestamp());
        assert!(parse_time("2024-01-02T08:30:00").is_none());
    }

    #[test]
    fn members_keep_the_raw_text() {
        let body = r#" {"a_response" : {"code":"10000","x":"a\"}b","n":[1,{"y":2}]} , "sign":"c2ln"}"#;
        let members = top_level_members(body).unwrap();
        assert_eq!(members[0], ("a_response".to_owned(), r#"{"code":"10000","x":"a\"}b","n":[1,{"y":2}]}"#));
        assert_eq!(members[1], ("sign".to_owned(), r#""c2ln""#));
        assert!(top_level_members("[1]").is_none());
        assert!(top_level_members(r#"{"a":{"b":1}"#).is_none());
    }
}
