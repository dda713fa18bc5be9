//! Alipay's trade bill (`bill_type=trade`): a ZIP of GBK CSV files, of which the
//! 业务明细 file (not its 汇总 summary) lists every payment (业务类型 交易) and refund
//! (退款, negative amount) of the day. Read with a minimal ZIP reader over `miniz_oxide`
//! (stored and deflated entries, CRC-checked) and `encoding_rs` for GBK; the writer is
//! for the local gateway.

use chrono::{DateTime, Utc};

use super::wire::{parse_time, yuan_to_fen};
use crate::pay::{StatementKind, StatementLine};

/// The columns of the 业务明细 file, in the gateway's order. The reader finds columns by
/// name, so an added or moved column does not break it.
pub const COLUMNS: [&str; 25] = [
    "支付宝交易号",
    "商户订单号",
    "业务类型",
    "商品名称",
    "创建时间",
    "完成时间",
    "门店编号",
    "门店名称",
    "操作员",
    "终端号",
    "对方账户",
    "订单金额（元）",
    "商家实收（元）",
    "支付宝红包（元）",
    "集分宝（元）",
    "支付宝优惠（元）",
    "商家优惠（元）",
    "券核销金额（元）",
    "券名称",
    "商家红包消费金额（元）",
    "卡消费金额（元）",
    "退款批次号/请求号",
    "服务费（元）",
    "分润（元）",
    "备注",
];

/// One row of the bill as the gateway writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BillRow {
    pub trade_no: String,
    pub out_trade_no: String,
    pub kind: StatementKind,
    pub subject: String,
    pub created: DateTime<Utc>,
    pub finished: DateTime<Utc>,
    /// Positive; written negative for refunds, as Alipay does.
    pub amount_fen: i64,
    /// Refunds: the `out_request_no` (our `out_refund_no`).
    pub out_request_no: Option<String>,
}

/// The refund id we report for Alipay refunds, which have none of their own: the trade
/// number and the request number, which the refund answer, the notification and the
/// bill all carry.
pub fn refund_id(trade_no: &str, out_request_no: &str) -> String {
    format!("{trade_no}-{out_request_no}")
}

/// Reads the bill ZIP into statement lines.
pub fn parse_bill_zip(zip: &[u8]) -> Result<Vec<StatementLine>, String> {
    let entries = read_zip(zip)?;
    let (_, detail) = entries
        .iter()
        .find(|(name, _)| name.contains("业务明细") && !name.contains("汇总"))
        .ok_or("the bill has no 业务明细 file")?;
    let (text, _, _) = encoding_rs::GBK.decode(detail);
    parse_detail_csv(&text)
}

/// The 业务明细 CSV (decoded) → statement lines.
pub fn parse_detail_csv(text: &str) -> Result<Vec<StatementLine>, String> {
    let mut rows = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#'));
    let header = split_csv(rows.next().ok_or("the bill has no header line")?);
    let col = |name: &str| header.iter().position(|h| h == name).ok_or(format!("the bill has no column {name}"));
    let (c_trade, c_out, c_kind, c_done, c_amount, c_request) = (
        col("支付宝交易号")?,
        col("商户订单号")?,
        col("业务类型")?,
        col("完成时间")?,
        col("订单金额（元）")?,
        col("退款批次号/请求号")?,
    );
    let mut lines = Vec::new();
    for (n, row) in rows.enumerate() {
        let fields = split_csv(row);
        let field = |i: usize| fields.get(i).map(String::as_str).unwrap_or("");
        let bad = |what: &str| format!("bill row {}: {what}", n + 1);
        let kind = match field(c_kind) {
            "交易" => StatementKind::Payment,
            "退款" => StatementKind::Refund,
            _ => continue, // other business types are not ours to reconcile
        };
        let amount = yuan_to_fen(field(c_amount)).ok_or_else(|| bad("unreadable 订单金额"))?;
        let at = parse_time(field(c_done)).ok_or_else(|| bad("unreadable 完成时间"))?;
        let trade_no = field(c_trade).to_owned();
        let (out_refund_no, refund_id) = match kind {
            StatementKind::Payment => (None, None),
            StatementKind::Refund => {
                let request = field(c_request);
                if request.is_empty() {
                    return Err(bad("a refund without 退款批次号/请求号"));
                }
                (Some(request.to_owned()), Some(self::refund_id(&trade_no, request)))
            }
        };
        lines.push(StatementLine {
            kind,
            out_trade_no: field(c_out).to_owned(),
            transaction_id: trade_no,
            out_refund_no,
            refund_id,
            amount_fen: amount.abs(),
            at,
        });
    }
    Ok(lines)
}

/// One CSV line: fields trimmed of spaces and of the tabs Alipay pads values with;
/// double-quoted fields may hold commas.
fn split_csv(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                current.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut current).trim().to_owned()),
            c => current.push(c),
        }
    }
    fields.push(current.trim().to_owned());
    fields
}

/// The 业务明细 CSV the gateway writes (UTF-8; GBK-encode it for the ZIP).
pub fn detail_csv(account: &str, date: chrono::NaiveDate, rows: &[BillRow]) -> String {
    let day = date.format("%Y年%m月%d日");
    let next = date.succ_opt().unwrap_or(date).format("%Y年%m月%d日");
    let mut s = format!(
        "#支付宝业务明细查询\r\n#账号：[{account}]\r\n#起始日期：[{day} 00:00:00]   终止日期：[{next} 00:00:00]\r\n\
         #-----------------------------------------业务明细列表----------------------------------------\r\n{}\r\n",
        COLUMNS.join(",")
    );
    let time = super::wire::format_time;
    for r in rows {
        let (kind, amount) = match r.kind {
            StatementKind::Payment => ("交易", r.amount_fen),
            StatementKind::Refund => ("退款", -r.amount_fen),
        };
        let yuan = super::wire::fen_to_yuan(amount);
        let mut fields = vec![String::new(); COLUMNS.len()];
        fields[0] = r.trade_no.clone();
        fields[1] = r.out_trade_no.clone();
        fields[2] = kind.to_owned();
        fields[3] = r.subject.replace(',', "，");
        fields[4] = time(r.created);
        fields[5] = time(r.finished);
        fields[10] = "ali***@example.com".to_owned();
        fields[11] = yuan.clone();
        fields[12] = yuan;
        for f in [13, 14, 15, 16, 17, 19, 20, 22, 23] {
            fields[f] = "0.00".to_owned();
        }
        fields[21] = r.out_request_no.clone().unwrap_or_default();
        // Alipay pads every value with a tab so spreadsheets keep long numbers as text.
        s.push_str(&fields.iter().map(|f| format!("{f}\t")).collect::<Vec<_>>().join(","));
        s.push_str("\r\n");
    }
    let payments = rows.iter().filter(|r| r.kind == StatementKind::Payment).count();
    s.push_str("#-----------------------------------------业务明细列表结束------------------------------------\r\n");
    s.push_str(&format!("#交易合计：{payments}笔，退款合计：{}笔\r\n", rows.len() - payments));
    s
}

/// The whole bill as the gateway serves it: a ZIP of the 业务明细 and its 汇总, GBK.
pub fn bill_zip(account: &str, date: chrono::NaiveDate, rows: &[BillRow]) -> Vec<u8> {
    let stem = format!("{account}{}", date.format("_%Y%m%d"));
    let detail = detail_csv(account, date, rows);
    let total: i64 = rows.iter().map(|r| if r.kind == StatementKind::Payment { r.amount_fen } else { 0 }).sum();
    let summary = format!(
        "#支付宝业务汇总查询\r\n门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）\r\n,,{},{},{}\r\n",
        rows.iter().filter(|r| r.kind == StatementKind::Payment).count(),
        rows.iter().filter(|r| r.kind == StatementKind::Refund).count(),
        super::wire::fen_to_yuan(total)
    );
    let gbk = |s: &str| encoding_rs::GBK.encode(s).0.into_owned();
    write_zip(&[
        (gbk(&format!("{stem}_业务明细.csv")), gbk(&detail)),
        (gbk(&format!("{stem}_业务明细(汇总).csv")), gbk(&summary)),
    ])
}

// --- minimal ZIP -------------------------------------------------------------------

const LOCAL: u32 = 0x0403_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const END: u32 = 0x0605_4b50;

fn u16_at(b: &[u8], i: usize) -> Option<usize> {
    b.get(i..i + 2).map(|s| u16::from_le_bytes([s[0], s[1]]) as usize)
}

fn u32_at(b: &[u8], i: usize) -> Option<u32> {
    b.get(i..i + 4).map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// The files of a ZIP as (name, contents), through its central directory. Names are
/// UTF-8 when the entry says so (flag bit 11), otherwise GBK as Alipay writes them.
pub fn read_zip(zip: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let bad = |what: &str| format!("bill ZIP: {what}");
    let end = (0..zip.len().saturating_sub(21))
        .rev()
        .find(|&i| u32_at(zip, i) == Some(END))
        .ok_or_else(|| bad("no end of central directory"))?;
    let count = u16_at(zip, end + 10).ok_or_else(|| bad("truncated"))?;
    let mut at = u32_at(zip, end + 16).ok_or_else(|| bad("truncated"))? as usize;
    let mut files = Vec::with_capacity(count);
    for _ in 0..count {
        let field = |off: usize| u16_at(zip, at + off).ok_or_else(|| bad("truncated central directory"));
        if u32_at(zip, at) != Some(CENTRAL) {
            return Err(bad("broken central directory"));
        }
        let (flags, method) = (field(8)?, field(10)?);
        let crc = u32_at(zip, at + 16).ok_or_else(|| bad("truncated"))?;
        let packed = u32_at(zip, at + 20).ok_or_else(|| bad("truncated"))? as usize;
        let size = u32_at(zip, at + 24).ok_or_else(|| bad("truncated"))? as usize;
        let (name_len, extra_len, comment_len) = (field(28)?, field(30)?, field(32)?);
        let local = u32_at(zip, at + 42).ok_or_else(|| bad("truncated"))? as usize;
        let raw_name = zip.get(at + 46..at + 46 + name_len).ok_or_else(|| bad("truncated name"))?;
        let name = if flags & 0x800 != 0 {
            String::from_utf8_lossy(raw_name).into_owned()
        } else {
            encoding_rs::GBK.decode(raw_name).0.into_owned()
        };
        at += 46 + name_len + extra_len + comment_len;
        if u32_at(zip, local) != Some(LOCAL) || flags & 1 != 0 {
            return Err(bad("broken or encrypted entry"));
        }
        let data_at = local + 30 + u16_at(zip, local + 26).unwrap_or(0) + u16_at(zip, local + 28).unwrap_or(0);
        let data = zip.get(data_at..data_at + packed).ok_or_else(|| bad("truncated entry"))?;
        let contents = match method {
            0 => data.to_vec(),
            8 => miniz_oxide::inflate::decompress_to_vec_with_limit(data, size.max(1))
                .map_err(|_| bad("an entry does not inflate"))?,
            _ => return Err(bad("an entry uses an unsupported compression")),
        };
        if contents.len() != size || crc32(&contents) != crc {
            return Err(bad("an entry fails its CRC"));
        }
        files.push((name, contents));
    }
    Ok(files)
}

/// A ZIP of deflated entries with GBK names (no UTF-8 flag), as Alipay's bills are.
pub fn write_zip(files: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, contents) in files {
        let deflated = miniz_oxide::deflate::compress_to_vec(contents, 6);
        let (crc, size, packed) = (crc32(contents), contents.len() as u32, deflated.len() as u32);
        let offset = out.len() as u32;
        let common = |b: &mut Vec<u8>| {
            b.extend_from_slice(&20u16.to_le_bytes()); // version needed
            b.extend_from_slice(&0u16.to_le_bytes()); // flags
            b.extend_from_slice(&8u16.to_le_bytes()); // deflate
            b.extend_from_slice(&0u32.to_le_bytes()); // DOS time and date
            b.extend_from_slice(&crc.to_le_bytes());
            b.extend_from_slice(&packed.to_le_bytes());
            b.extend_from_slice(&size.to_le_bytes());
            b.extend_from_slice(&(name.len() as u16).to_le_bytes());
            b.extend_from_slice(&0u16.to_le_bytes()); // extra
        };
        out.extend_from_slice(&LOCAL.to_le_bytes());
        common(&mut out);
        out.extend_from_slice(name);
        out.extend_from_slice(&deflated);
        central.extend_from_slice(&CENTRAL.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes()); // version made by
        common(&mut central);
        central.extend_from_slice(&[0; 6]); // comment length, disk, internal attributes
        central.extend_from_slice(&0u32.to_le_bytes()); // external attributes
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name);
    }
    let central_at = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&END.to_le_bytes());
    out.extend_from_slice(&[0; 4]); // disk numbers
    out.extend_from_slice(&(files.len() as u16).to_le_bytes());
    out.extend_from_slice(&(files.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&central_at.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes()); // comment
    out
}

const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

fn crc32(data: &[u8]) -> u32 {
    !data.iter().fold(!0u32, |c, &b| CRC_TABLE[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_is_the_zip_one() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn zip_round_trips_with_gbk_names() {
        let name = encoding_rs::GBK.encode("账单_业务明细.csv").0.into_owned();
        let data_at = 30 + name.len();
        let zip = write_zip(&[(name, b"hello hello hello".to_vec()), (b"b.txt".to_vec(), Vec::new())]);
        let files = read_zip(&zip).unwrap();
        assert_eq!(files[0], ("账单_业务明细.csv".to_owned(), b"hello hello hello".to_vec()));
        assert_eq!(files[1], ("b.txt".to_owned(), Vec::new()));
        let mut broken = zip.clone();
        broken[data_at + 1] ^= 0xff; // inside the first entry's deflated data
        assert!(read_zip(&broken).is_err());
    }

    #[test]
    fn csv_fields_are_trimmed_and_may_be_quoted() {
        assert_eq!(split_csv("a\t, b ,\"c,d\",\"e\"\"f\""), ["a", "b", "c,d", "e\"f"]);
    }
}
