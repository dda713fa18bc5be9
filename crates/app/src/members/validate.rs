//! Validation of members' personal data: mobile numbers, names, resident ID numbers
//! (GB 11643-1999) and licence plates (GA 36). Errors name the field and never echo the
//! value (it is personal data).

use chrono::{Datelike, NaiveDate, Utc};
use jiayou_domain::{FieldError, FieldErrorKind, field};
use jiayou_store::crypto::{normalize_phone, normalize_plate};

fn invalid(name: &'static str, expected: &'static str) -> FieldError {
    FieldError::new(name, FieldErrorKind::InvalidFormat { expected: expected.into() })
}

/// A mainland China mobile number (11 digits, 1[3-9]…), normalised (`+86`, spaces and
/// dashes dropped).
pub(crate) fn mobile(name: &'static str, s: &str) -> Result<String, FieldError> {
    let n = normalize_phone(s);
    if n.is_empty() {
        return Err(FieldError::new(name, FieldErrorKind::Required));
    }
    let b = n.as_bytes();
    if b.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1]) && b.iter().all(u8::is_ascii_digit) {
        Ok(n)
    } else {
        Err(invalid(name, "11 位中国大陆手机号"))
    }
}

/// A person's name as written on their ID: 1–32 characters, no digits or control
/// characters.
pub(crate) fn person_name(name: &'static str, s: &str) -> Result<String, FieldError> {
    let v = field::text(name, s, 32)?;
    if v.chars().any(|c| c.is_ascii_digit()) {
        return Err(invalid(name, "不含数字的姓名"));
    }
    Ok(v)
}

/// GB 11643-1999 weights of the first 17 characters (2^(17-i) mod 11).
const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check character by the weighted sum modulo 11.
const ID_CHECK: &[u8; 11] = b"10X98765432";

/// The GB 11643 check character of the first 17 digits.
pub(crate) fn id_check_char(first17: &[u8]) -> char {
    let sum: u32 = first17.iter().zip(ID_WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
    ID_CHECK[(sum % 11) as usize] as char
}

/// An 18-character resident ID number (居民身份证号码): region code, valid date of birth,
/// sequence, and the GB 11643 check character (a lowercase x is accepted as X).
pub(crate) fn id_number(name: &'static str, s: &str) -> Result<String, FieldError> {
    let v: String = s.trim().chars().map(|c| c.to_ascii_uppercase()).collect();
    if v.is_empty() {
        return Err(FieldError::new(name, FieldErrorKind::Required));
    }
    let b = v.as_bytes();
    let well_formed = b.len() == 18
        && b[..17].iter().all(u8::is_ascii_digit)
        && (b[17].is_ascii_digit() || b[17] == b'X')
        && (b'1'..=b'9').contains(&b[0]);
    if !well_formed {
        return Err(invalid(name, "18 位身份证号码（17 位数字加 1 位数字或 X）"));
    }
    let num = |r: std::ops::Range<usize>| v[r].parse::<u32>().unwrap_or(0);
    let born = NaiveDate::from_ymd_opt(num(6..10) as i32, num(10..12), num(12..14));
    let this_year = Utc::now().year();
    if !born.is_some_and(|d| d.year() >= 1900 && d <= Utc::now().date_naive()) || num(6..10) as i32 > this_year {
        return Err(invalid(name, "出生日期有效的身份证号码（第 7–14 位为出生日期）"));
    }
    if id_check_char(&b[..17]) != b[17] as char {
        return Err(invalid(name, "校验位正确的身份证号码（GB 11643 校验码不符，请核对）"));
    }
    Ok(v)
}

/// Province abbreviations that begin a civil plate.
const PROVINCES: &str = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼";
/// Last characters of special plates (driving school, police, trailer, HK, Macao, ...).
const SPECIAL_LAST: &str = "学警挂港澳领试超使";

/// A licence plate, normalised (`京a·12345` → `京A12345`): province character, the
/// issuing authority's letter, then 5 letters/digits (or 4 and a special character such
/// as 学), or 6 for new-energy vehicles (first of the six A–K, or last D/F).
pub(crate) fn plate(name: &'static str, s: &str) -> Result<String, FieldError> {
    let p = normalize_plate(s);
    if p.is_empty() {
        return Err(FieldError::new(name, FieldErrorKind::Required));
    }
    let c: Vec<char> = p.chars().collect();
    let alnum = |x: &char| x.is_ascii_uppercase() || x.is_ascii_digit();
    let ok = c.len() >= 7
        && PROVINCES.contains(c[0])
        && c[1].is_ascii_uppercase()
        && match c.len() - 2 {
            5 => c[2..6].iter().all(alnum) && (alnum(&c[6]) || SPECIAL_LAST.contains(c[6])),
            6 => c[2..].iter().all(alnum) && ("ABCDEFGHJK".contains(c[2]) || "DF".contains(c[7])),
            _ => false,
        };
    if ok {
        Ok(p)
    } else {
        Err(invalid(name, "车牌号（省份简称 + 字母 + 5 位字母数字，新能源车 6 位），如 云A12345"))
    }
}

/// The way a plate is written for people: 云A·12345.
pub(crate) fn display_plate(normalised: &str) -> String {
    let c: Vec<char> = normalised.chars().collect();
    if c.len() < 3 {
        return normalised.to_owned();
    }
    format!("{}{}·{}", c[0], c[1], c[2..].iter().collect::<String>())
}

/// A policy version label: 1–32 of letters, digits, `.`, `-`, `_`.
pub(crate) fn policy_version(name: &'static str, s: &str) -> Result<String, FieldError> {
    let v = s.trim();
    if v.is_empty() {
        return Err(FieldError::new(name, FieldErrorKind::Required));
    }
    if v.len() > 32 || !v.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
        return Err(invalid(name, "1 至 32 位字母、数字、. _ -（如 2026-01）"));
    }
    Ok(v.to_owned())
}

/// A code from `wx.login` or a `getPhoneNumber` button: 1–256 printable ASCII characters.
pub(crate) fn wechat_code(name: &'static str, s: &str) -> Result<String, FieldError> {
    let v = s.trim();
    if v.is_empty() {
        return Err(FieldError::new(name, FieldErrorKind::Required));
    }
    if v.len() > 256 || !v.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid(name, "微信返回的 code（不超过 256 个可打印字符）"));
    }
    Ok(v.to_owned())
}

/// A six-digit SMS code.
pub(crate) fn sms_code(name: &'static str, s: &str) -> Result<String, FieldError> {
    let v = s.trim();
    if v.is_empty() {
        return Err(FieldError::new(name, FieldErrorKind::Required));
    }
    if v.len() != 6 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(name, "6 位数字验证码"));
    }
    Ok(v.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_numbers_follow_gb_11643() {
        // The standard's own example (GB 11643-1999, appendix) and a widely cited one.
        assert_eq!(id_number("id", "11010519491231002X").unwrap(), "11010519491231002X");
        assert_eq!(id_number("id", "11010519491231002x").unwrap(), "11010519491231002X");
        assert_eq!(id_number("id", "440524188001010014").unwrap_err().field, "id", "born before 1900");
        assert_eq!(id_check_char(b"44052418800101001"), '4');
        let e = id_number("id", "110105194912310021").unwrap_err();
        assert!(matches!(&e.kind, FieldErrorKind::InvalidFormat { expected } if expected.contains("校验")));
        let e = id_number("id", "110105194913310021").unwrap_err();
        assert!(matches!(&e.kind, FieldErrorKind::InvalidFormat { expected } if expected.contains("出生日期")));
        assert!(id_number("id", "11010519491231002").is_err());
        assert!(id_number("id", "1101051949123100XX").is_err());
        assert_eq!(id_number("id", " ").unwrap_err().kind, FieldErrorKind::Required);
    }

    #[test]
    fn plates_follow_the_formats() {
        assert_eq!(plate("plate", "云a·12345").unwrap(), "云A12345");
        assert_eq!(plate("plate", "粤B D12345").unwrap(), "粤BD12345");
        assert_eq!(plate("plate", "粤B12345F").unwrap(), "粤B12345F");
        assert_eq!(plate("plate", "沪A1234学").unwrap(), "沪A1234学");
        for bad in ["云A1234", "AA12345", "云112345", "云A1234567", "粤BX12345", "云A12#45", "云A1234你"] {
            assert!(plate("plate", bad).is_err(), "{bad}");
        }
        assert_eq!(display_plate("云A12345"), "云A·12345");
    }

    #[test]
    fn mobiles() {
        assert_eq!(mobile("phone", "+86 139-1234-5678").unwrap(), "13912345678");
        assert!(mobile("phone", "12912345678").is_err());
        assert!(mobile("phone", "1391234567").is_err());
        assert_eq!(mobile("phone", "").unwrap_err().kind, FieldErrorKind::Required);
    }
}
