//! What a simulation did.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::PaymentWay;

/// Error examples kept (the first ones seen).
pub const MAX_ERROR_EXAMPLES: usize = 10;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SimReport {
    pub stations: usize,
    /// Arrivals handled (each a fueling attempt).
    pub fuelings: u64,
    /// Fuelings whose order ended `completed` (paid).
    pub completed: u64,
    /// Fuelings during which something went wrong (see `errors`).
    pub failed: u64,
    /// Sale reports the server accepted.
    pub sales_reported: u64,
    /// Everything the pumps dispensed (reported or not).
    pub quantity: i64,
    pub amount_fen: i64,
    pub by_way: BTreeMap<PaymentWay, WayTotal>,
    /// By nozzle id.
    pub by_nozzle: BTreeMap<i64, NozzleTotal>,
    /// By grade code.
    pub by_grade: BTreeMap<String, GradeTotal>,
    /// Prepays that stopped short of their preset (tank full).
    pub prepay_underfilled: u64,
    pub autopay_charged: u64,
    pub autopay_failed: u64,
    /// Plate sales the server answered with `autopay: null`.
    pub autopay_not_attempted: u64,
    /// Member payments from the balance and through the channel (confirm URL).
    pub balance_payments: u64,
    pub channel_payments: u64,
    /// Counter collections.
    pub counter_collections: u64,
    pub topups: u64,
    pub topup_fen: i64,
    pub errors: u64,
    /// Errors by code (the server's problem code, or the simulator's own).
    pub error_codes: BTreeMap<String, u64>,
    /// The first [`MAX_ERROR_EXAMPLES`] errors, described.
    pub error_examples: Vec<String>,
    /// Simulated time covered, from the start to the last arrival (longest station).
    pub simulated_seconds: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WayTotal {
    pub fuelings: u64,
    pub completed: u64,
    pub quantity: i64,
    pub amount_fen: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GradeTotal {
    pub fuelings: u64,
    pub quantity: i64,
    pub amount_fen: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NozzleTotal {
    pub station_id: i64,
    pub pump_number: i32,
    pub nozzle_number: i32,
    pub grade_code: String,
    pub fuelings: u64,
    pub quantity: i64,
    pub amount_fen: i64,
    pub totalizer_start: i64,
    pub totalizer_end: i64,
}

impl SimReport {
    pub(crate) fn error(&mut self, code: &str, example: impl FnOnce() -> String) {
        self.errors += 1;
        *self.error_codes.entry(code.to_owned()).or_default() += 1;
        if self.error_examples.len() < MAX_ERROR_EXAMPLES {
            self.error_examples.push(example());
        }
    }

    pub(crate) fn nozzle(&mut self, nozzle_id: i64, init: impl FnOnce() -> NozzleTotal) -> &mut NozzleTotal {
        self.by_nozzle.entry(nozzle_id).or_insert_with(init)
    }

    pub(crate) fn dispensed(&mut self, way: PaymentWay, nozzle_id: i64, grade: &str, quantity: i64, amount: i64) {
        self.quantity += quantity;
        self.amount_fen += amount;
        let w = self.by_way.entry(way).or_default();
        w.quantity += quantity;
        w.amount_fen += amount;
        let g = self.by_grade.entry(grade.to_owned()).or_default();
        g.fuelings += 1;
        g.quantity += quantity;
        g.amount_fen += amount;
        if let Some(n) = self.by_nozzle.get_mut(&nozzle_id) {
            n.fuelings += 1;
            n.quantity += quantity;
            n.amount_fen += amount;
            n.totalizer_end += quantity;
        }
    }

    pub(crate) fn finished(&mut self, way: PaymentWay, completed: bool, failed: bool) {
        self.fuelings += 1;
        let w = self.by_way.entry(way).or_default();
        w.fuelings += 1;
        if completed {
            self.completed += 1;
            w.completed += 1;
        }
        if failed {
            self.failed += 1;
        }
    }

    /// Whether every nozzle's totalizer moved by exactly what it dispensed (by
    /// construction; a check for tests).
    pub fn totalizers_balance(&self) -> bool {
        self.by_nozzle.values().all(|n| n.totalizer_end - n.totalizer_start == n.quantity)
    }

    /// A few lines for people.
    pub fn summary(&self) -> String {
        let yuan = |fen: i64| format!("{}.{:02}", fen / 100, (fen % 100).abs());
        let units = |q: i64| format!("{}.{:03}", q / 1000, (q % 1000).abs());
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} station(s), {:.1} simulated hours: {} fuelings, {} completed, {} with errors, {} sales reported",
            self.stations,
            self.simulated_seconds / 3600.0,
            self.fuelings,
            self.completed,
            self.failed,
            self.sales_reported
        );
        let _ = writeln!(s, "dispensed {} units for ¥{}", units(self.quantity), yuan(self.amount_fen));
        for (way, t) in &self.by_way {
            let _ = writeln!(
                s,
                "  {:<12} {:>6} fuelings {:>6} completed {:>12} units ¥{:>12}",
                way.as_str(),
                t.fuelings,
                t.completed,
                units(t.quantity),
                yuan(t.amount_fen)
            );
        }
        for (grade, t) in &self.by_grade {
            let _ = writeln!(
                s,
                "  grade {:<6} {:>6} fuelings {:>12} units ¥{:>12}",
                grade,
                t.fuelings,
                units(t.quantity),
                yuan(t.amount_fen)
            );
        }
        let _ = writeln!(
            s,
            "prepays underfilled {}; autopay charged {}, failed {}, not attempted {}; payments balance {}, channel {}, counter {}; top-ups {} (¥{})",
            self.prepay_underfilled,
            self.autopay_charged,
            self.autopay_failed,
            self.autopay_not_attempted,
            self.balance_payments,
            self.channel_payments,
            self.counter_collections,
            self.topups,
            yuan(self.topup_fen)
        );
        if self.errors > 0 {
            let codes: Vec<String> = self.error_codes.iter().map(|(c, n)| format!("{c} ×{n}")).collect();
            let _ = writeln!(s, "{} error(s): {}", self.errors, codes.join(", "));
            for e in &self.error_examples {
                let _ = writeln!(s, "  - {e}");
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_add_up_and_examples_are_capped() {
        let mut r = SimReport::default();
        r.nozzle(7, || NozzleTotal { totalizer_start: 100, totalizer_end: 100, ..Default::default() });
        r.dispensed(PaymentWay::Prepay, 7, "92", 25_340, 20_000);
        r.dispensed(PaymentWay::Counter, 7, "92", 40_000, 31_560);
        r.finished(PaymentWay::Prepay, true, false);
        r.finished(PaymentWay::Counter, false, true);
        for i in 0..20 {
            r.error("x", || format!("e{i}"));
        }
        assert_eq!(r.by_nozzle[&7].totalizer_end, 100 + 65_340);
        assert!(r.totalizers_balance());
        assert_eq!(r.by_grade["92"].amount_fen, 51_560);
        assert_eq!((r.fuelings, r.completed, r.failed), (2, 1, 1));
        assert_eq!(r.error_examples.len(), MAX_ERROR_EXAMPLES);
        assert_eq!(r.error_codes["x"], 20);
        assert!(r.summary().contains("prepay"));
    }
}
