/// Masks a phone number for logs: 13800138000 and +8613800138000 → 138****8000.
///
/// The same shape the console shows a cashier (`jiayou_domain` masks stored numbers the
/// same way); the +86 prefix is dropped first so a log line never carries more digits.
pub fn mask_phone(phone: &str) -> String {
    let national = phone.strip_prefix("+86").unwrap_or(phone);
    let chars: Vec<char> = national.chars().collect();
    let take = |r: std::ops::Range<usize>| chars[r].iter().collect::<String>();
    match chars.len() {
        n if n >= 11 => format!("{}****{}", take(0..3), take(n - 4..n)),
        n if n > 4 => format!("{}{}{}", take(0..2), "*".repeat(n - 4), take(n - 2..n)),
        n => "*".repeat(n),
    }
}

#[cfg(test)]
mod tests {
    use super::mask_phone;

    #[test]
    fn masks_like_the_console() {
        assert_eq!(mask_phone("13800138000"), "138****8000");
        assert_eq!(mask_phone("+8613800138000"), "138****8000");
        assert_eq!(mask_phone("123456"), "12**56");
        assert_eq!(mask_phone("123"), "***");
    }
}
