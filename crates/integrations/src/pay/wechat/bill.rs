//! WeChat Pay's trade bill (交易账单, `bill_type=ALL`): reading it into
//! [`StatementLine`]s, and writing one (for the peer).
//!
//! The file is CSV in UTF-8: a header line of column names, one line per payment or
//! refund whose every field starts with a backtick (so spreadsheets keep long numbers
//! as text), then two summary lines (`总交易单数,...` and its values). Amounts are yuan
//! with two decimals, times `yyyy-MM-dd HH:mm:ss` in China time. Columns are found by
//! name, not position: the service provider's bill and later versions add columns.
//!
//! A `SUCCESS` line is a payment of 订单金额 (the order amount, what we asked for;
//! 应结订单金额 when the column is absent: it differs only by coupons). A `REFUND` line
//! is a refund of 申请退款金额 (what we asked to refund; 退款金额 when absent) with
//! 微信退款单号 and 商户退款单号. Other states (`REVOKED`, ...) are skipped.

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};

use crate::pay::{StatementKind, StatementLine};

/// The columns of a direct merchant's `ALL` bill, in WeChat's order.
pub const COLUMNS: [&str; 27] = [
    "交易时间",
    "公众账号ID",
    "商户号",
    "特约商户号",
    "设备号",
    "微信订单号",
    "商户订单号",
    "用户标识",
    "交易类型",
    "交易状态",
    "付款银行",
    "货币种类",
    "应结订单金额",
    "代金券金额",
    "微信退款单号",
    "商户退款单号",
    "退款金额",
    "充值券退款金额",
    "退款类型",
    "退款状态",
    "商品名称",
    "商户数据包",
    "手续费",
    "费率",
    "订单金额",
    "申请退款金额",
    "费率备注",
];

const SUMMARY_HEADER: &str =
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额";

/// China time, the business day of the bills.
pub(crate) fn china() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset") // invariant: constant in range
}

/// `"12.34"` → 1234 fen, exactly (no floating point). Accepts `12`, `12.3`, `12.34` and
/// a leading `-`; refuses more than two decimals and anything else.
pub fn parse_yuan(s: &str) -> Option<i64> {
    let s = s.trim();
    let (negative, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || whole.len() > 15 || frac.len() > 2 || !digits(whole) || !digits(frac) {
        return None;
    }
    if s.ends_with('.') {
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

/// 1234 → `"12.34"`.
pub fn format_yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", fen.unsigned_abs() / 100, fen.unsigned_abs() % 100)
}

/// Reads a trade bill. `Err` names the first line that does not fit, never its content
/// beyond the column.
pub fn parse_bill(text: &str) -> Result<Vec<StatementLine>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let Some(header) = lines.next() else { return Ok(Vec::new()) };
    let columns: Vec<&str> = header.split(',').map(str::trim).collect();
    let index = |name: &str| columns.iter().position(|c| *c == name);
    let need = |name: &'static str| index(name).ok_or_else(|| format!("the bill has no column {name}"));
    let time = need("交易时间")?;
    let transaction = need("微信订单号")?;
    let out_trade_no = need("商户订单号")?;
    let state = need("交易状态")?;
    let paid = index("订单金额").map_or_else(|| need("应结订单金额"), Ok)?;
    let refund_id = need("微信退款单号")?;
    let out_refund_no = need("商户退款单号")?;
    let refunded = index("申请退款金额").map_or_else(|| need("退款金额"), Ok)?;

    let mut out = Vec::new();
    for (n, line) in lines.enumerate() {
        let line_no = n + 2;
        if line.starts_with("总交易单数") {
            break; // the summary: its values line follows and is not a trade
        }
        // Every field starts with a backtick, so ",`" separates fields even when a
        // product name holds a comma.
        let fields: Vec<&str> = match line.trim().strip_prefix('`') {
            Some(rest) => rest.split(",`").map(str::trim).collect(),
            None => line.split(',').map(str::trim).collect(),
        };
        if fields.len() < columns.len() {
            return Err(format!("bill line {line_no} has {} fields, the header {}", fields.len(), columns.len()));
        }
        let kind = match fields[state] {
            "SUCCESS" => StatementKind::Payment,
            "REFUND" => StatementKind::Refund,
            _ => continue,
        };
        let at = NaiveDateTime::parse_from_str(fields[time], "%Y-%m-%d %H:%M:%S")
            .ok()
            .and_then(|t| china().from_local_datetime(&t).single())
            .ok_or_else(|| format!("bill line {line_no}: 交易时间 is not yyyy-MM-dd HH:mm:ss"))?
            .with_timezone(&Utc);
        let amount_column = if kind == StatementKind::Payment { paid } else { refunded };
        let amount_fen = parse_yuan(fields[amount_column])
            .ok_or_else(|| format!("bill line {line_no}: {} is not an amount in yuan", columns[amount_column]))?;
        let optional = |i: usize| Some(fields[i].to_owned()).filter(|s| !s.is_empty() && kind == StatementKind::Refund);
        out.push(StatementLine {
            kind,
            out_trade_no: fields[out_trade_no].to_owned(),
            transaction_id: fields[transaction].to_owned(),
            out_refund_no: optional(out_refund_no),
            refund_id: optional(refund_id),
            amount_fen,
            at,
        });
    }
    Ok(out)
}

/// What the peer knows of a bill line beyond the [`StatementLine`].
pub(crate) struct BillRow<'a> {
    pub line: &'a StatementLine,
    pub appid: &'a str,
    pub mchid: &'a str,
    pub sub_mchid: &'a str,
    pub openid: &'a str,
    pub description: &'a str,
}

/// Writes a bill as WeChat does (for the peer).
pub(crate) fn write_bill(rows: &[BillRow<'_>]) -> String {
    let mut out = COLUMNS.join(",");
    out.push_str("\r\n");
    let (mut paid, mut refunded, mut count) = (0i64, 0i64, 0usize);
    for row in rows {
        let l = row.line;
        let at = l.at.with_timezone(&china()).format("%Y-%m-%d %H:%M:%S").to_string();
        let amount = format_yuan(l.amount_fen);
        let is_refund = l.kind == StatementKind::Refund;
        let (state, paid_amount, refund_amount) = if is_refund {
            refunded += l.amount_fen;
            ("REFUND", "0.00".to_owned(), amount.clone())
        } else {
            paid += l.amount_fen;
            ("SUCCESS", amount.clone(), "0.00".to_owned())
        };
        count += 1;
        let fields: [String; 27] = [
            at,
            row.appid.to_owned(),
            row.mchid.to_owned(),
            // WeChat writes 0 in the id columns that do not apply.
            if row.sub_mchid.is_empty() { "0".into() } else { row.sub_mchid.to_owned() },
            String::new(),
            l.transaction_id.clone(),
            l.out_trade_no.clone(),
            row.openid.to_owned(),
            "JSAPI".into(),
            state.into(),
            "OTHERS".into(),
            "CNY".into(),
            paid_amount.clone(),
            "0.00".into(),
            l.refund_id.clone().unwrap_or_else(|| "0".into()),
            l.out_refund_no.clone().unwrap_or_else(|| "0".into()),
            refund_amount.clone(),
            "0.00".into(),
            if is_refund { "ORIGINAL".into() } else { String::new() },
            if is_refund { "SUCCESS".into() } else { String::new() },
            row.description.to_owned(),
            String::new(),
            "0.00000".into(),
            "0.60%".into(),
            paid_amount,
            refund_amount,
            String::new(),
        ];
        let line: Vec<String> = fields.iter().map(|f| format!("`{f}")).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out.push_str(SUMMARY_HEADER);
    out.push_str("\r\n");
    let (p, r) = (format_yuan(paid), format_yuan(refunded));
    out.push_str(&format!("`{count},`{p},`{r},`0.00,`0.00,`{p},`{r}\r\n"));
    out
}

/// `at` as WeChat writes times in JSON: RFC 3339 in China time.
pub(crate) fn rfc3339_china(at: DateTime<Utc>) -> String {
    at.with_timezone(&china()).to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}
