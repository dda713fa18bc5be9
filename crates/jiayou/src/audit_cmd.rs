//! `jiayou audit verify`: checks every audit scope's hash chain and head with the
//! configured audit key and prints a report; the command fails when a link is broken.
//!
//! The report ends with each scope's head (seq and hash). Keep that output somewhere
//! outside the database: a later run whose heads are *behind* an earlier run's shows a
//! chain that was cut and had its head moved back, which no check inside the database
//! can see.

use std::io::Write;

use anyhow::Context;
use jiayou_app::audit::{self, VerifyReport};
use jiayou_domain::audit::AuditKey;
use jiayou_store::Db;

/// Verifies the whole audit trail, prints the report to stdout, and returns whether
/// every scope verified.
pub async fn verify(db: &Db, key: &AuditKey) -> anyhow::Result<bool> {
    let report = audit::verify(db, key).await.context("verifying the audit trail")?;
    let mut out = std::io::stdout().lock();
    write_report(&report, &mut out).context("writing the report")?;
    Ok(report.ok())
}

fn scope_name(chain_id: i64, station_id: i64) -> String {
    match (chain_id, station_id) {
        (0, 0) => "deployment".to_owned(),
        (c, 0) => format!("chain {c}"),
        (c, s) => format!("chain {c} station {s}"),
    }
}

/// The human-readable report: broken scopes first (with the first broken link of each),
/// then a summary, then every scope's head.
pub fn write_report(report: &VerifyReport, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "audit trail verification (key fingerprint {})", report.key_fingerprint)?;
    if report.scopes.is_empty() {
        writeln!(out, "no audit rows yet")?;
        return Ok(());
    }
    let broken: Vec<_> = report.broken().collect();
    for s in &broken {
        if let Some(b) = &s.broken {
            writeln!(
                out,
                "BROKEN  {}: first broken link at seq {}: {}",
                scope_name(s.chain_id, s.station_id),
                b.seq,
                b.reason
            )?;
        }
    }
    writeln!(
        out,
        "{} scope(s), {} row(s) verified, {} broken{}",
        report.scopes.len(),
        report.total_rows(),
        broken.len(),
        if broken.is_empty() { ": OK" } else { ": FAILED" }
    )?;
    writeln!(out, "heads (keep a copy outside the database and compare with the next run):")?;
    for s in &report.scopes {
        let head = match &s.head {
            Some((seq, hash)) => format!("seq {seq} {hash}"),
            None => "no head".to_owned(),
        };
        let status = if s.broken.is_some() { "BROKEN" } else { "ok" };
        writeln!(out, "  {:<32} {head}  {status}", scope_name(s.chain_id, s.station_id))?;
    }
    Ok(())
}
