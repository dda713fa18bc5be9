//! The pure part of the simulator: when drivers arrive, what they buy and how they pay,
//! what a pump dispenses, and the arithmetic around it. Every random draw comes from one
//! seeded generator per station, in a fixed order, so a seed gives the same day.

use std::fmt;
use std::str::FromStr;

use jiayou_domain::fuel::{amount_for_quantity, quantity_for_amount};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::forecourt::{NozzleConfig, Unit};

// ---------------------------------------------------------------------------------------
// Payment ways and their mix
// ---------------------------------------------------------------------------------------

/// How a fueling is paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentWay {
    /// Pre-order in the app, paid, then the pump is authorised.
    Prepay,
    /// Fuel first, then claim the sale in the app and pay.
    PostpayApp,
    /// Fuel first, then pay the cashier (cash, card, payment code).
    Counter,
    /// The camera reads the plate; the server charges the balance (autopay).
    Plate,
}

impl PaymentWay {
    pub const ALL: [PaymentWay; 4] = [Self::Prepay, Self::PostpayApp, Self::Counter, Self::Plate];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Prepay => "prepay",
            Self::PostpayApp => "postpay_app",
            Self::Counter => "counter",
            Self::Plate => "plate",
        }
    }

    /// Whether a signed-in driver takes part.
    pub fn needs_driver(self) -> bool {
        !matches!(self, Self::Counter)
    }
}

impl fmt::Display for PaymentWay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Relative weights of the payment ways (they need not sum to anything).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mix {
    pub prepay: u32,
    pub postpay_app: u32,
    pub counter: u32,
    pub plate: u32,
}

impl Default for Mix {
    /// 40 % prepay, 30 % post-pay in the app, 20 % at the counter, 10 % plate pay.
    fn default() -> Self {
        Mix { prepay: 4, postpay_app: 3, counter: 2, plate: 1 }
    }
}

impl Mix {
    pub fn weight(&self, way: PaymentWay) -> u32 {
        match way {
            PaymentWay::Prepay => self.prepay,
            PaymentWay::PostpayApp => self.postpay_app,
            PaymentWay::Counter => self.counter,
            PaymentWay::Plate => self.plate,
        }
    }

    pub fn total(&self) -> u64 {
        PaymentWay::ALL.iter().map(|w| u64::from(self.weight(*w))).sum()
    }

    /// Weight of the ways a signed-in driver takes part in.
    pub fn app_total(&self) -> u64 {
        PaymentWay::ALL.iter().filter(|w| w.needs_driver()).map(|w| u64::from(self.weight(*w))).sum()
    }

    fn pick(&self, rng: &mut impl Rng) -> PaymentWay {
        let mut x = rng.random_range(0..self.total().max(1));
        for way in PaymentWay::ALL {
            let w = u64::from(self.weight(way));
            if x < w {
                return way;
            }
            x -= w;
        }
        PaymentWay::Counter
    }
}

impl FromStr for Mix {
    type Err = String;

    /// `prepay=4,postpay_app=3,counter=2,plate=1`; a way left out weighs 0.
    fn from_str(s: &str) -> Result<Mix, String> {
        let mut mix = Mix { prepay: 0, postpay_app: 0, counter: 0, plate: 0 };
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').ok_or_else(|| format!("expected way=weight, got {part:?}"))?;
            let v: u32 = v.trim().parse().map_err(|_| format!("weight of {k} is not a whole number: {v:?}"))?;
            match k.trim() {
                "prepay" => mix.prepay = v,
                "postpay_app" | "postpay" => mix.postpay_app = v,
                "counter" => mix.counter = v,
                "plate" => mix.plate = v,
                other => return Err(format!("unknown payment way {other:?} (prepay, postpay_app, counter, plate)")),
            }
        }
        if mix.total() == 0 {
            return Err("the mix needs at least one positive weight".into());
        }
        Ok(mix)
    }
}

/// How many of `drivers` bind a plate with autopay: in proportion to plate pay among the
/// ways drivers take part in, at least one when plate pay is in the mix.
pub fn plate_driver_count(mix: &Mix, drivers: usize) -> usize {
    if mix.plate == 0 || drivers == 0 {
        return 0;
    }
    let share = (drivers as u64 * u64::from(mix.plate) + mix.app_total() / 2) / mix.app_total().max(1);
    (share as usize).clamp(1, drivers)
}

// ---------------------------------------------------------------------------------------
// Arrivals over the day
// ---------------------------------------------------------------------------------------

/// Demand relative to an average hour, by local time of day (hours, 0 ≤ h < 24): quiet
/// nights, peaks 7–9 and 17–19.
pub fn demand_factor(hour: f64) -> f64 {
    let h = hour.rem_euclid(24.0);
    match h {
        h if h < 5.0 => 0.15,
        h if h < 6.0 => 0.4,
        h if h < 7.0 => 0.9,
        h if h < 9.0 => PEAK_FACTOR,
        h if h < 11.0 => 1.1,
        h if h < 14.0 => 1.2,
        h if h < 17.0 => 1.0,
        h if h < 19.0 => PEAK_FACTOR,
        h if h < 21.0 => 1.0,
        h if h < 23.0 => 0.5,
        _ => 0.25,
    }
}

/// The largest [`demand_factor`].
pub const PEAK_FACTOR: f64 = 2.0;

/// A uniform draw in (0, 1]: never 0, so its logarithm is finite.
fn unit_open(rng: &mut impl Rng) -> f64 {
    1.0 - rng.random::<f64>()
}

/// The next arrival after `t` (seconds since the start of the simulation), for a
/// non-homogeneous Poisson process of `per_hour` arrivals an hour at demand factor 1
/// that starts at `start_sec_of_day` local time: exponential inter-arrival times at the
/// peak rate, each kept with probability factor/peak (Lewis–Shedler thinning).
pub fn next_arrival(rng: &mut impl Rng, t: f64, start_sec_of_day: f64, per_hour: f64) -> f64 {
    let peak_rate = per_hour.max(1e-9) * PEAK_FACTOR / 3600.0;
    let mut t = t;
    loop {
        t += -unit_open(rng).ln() / peak_rate;
        let hour = (start_sec_of_day + t) / 3600.0;
        if rng.random::<f64>() * PEAK_FACTOR < demand_factor(hour) {
            return t;
        }
    }
}

/// A seeded stream of arrival times (seconds since the start).
pub struct ArrivalSchedule {
    rng: StdRng,
    t: f64,
    start_sec_of_day: f64,
    per_hour: f64,
}

impl ArrivalSchedule {
    pub fn new(seed: u64, start_sec_of_day: f64, per_hour: f64) -> ArrivalSchedule {
        ArrivalSchedule { rng: StdRng::seed_from_u64(seed), t: 0.0, start_sec_of_day, per_hour }
    }
}

impl Iterator for ArrivalSchedule {
    type Item = f64;

    fn next(&mut self) -> Option<f64> {
        self.t = next_arrival(&mut self.rng, self.t, self.start_sec_of_day, self.per_hour);
        Some(self.t)
    }
}

/// The seed of station `index` (and of `stream` within it) derived from the run's seed
/// (SplitMix64 finaliser), so stations draw independent, reproducible sequences.
pub fn derive_seed(seed: u64, index: u64, stream: u64) -> u64 {
    let mut z = seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED69);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

// ---------------------------------------------------------------------------------------
// What each arrival does
// ---------------------------------------------------------------------------------------

/// How a cashier is paid at the counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenderPlan {
    Cash,
    Card { reference: String },
    PaymentCode,
}

/// The payment code a driver's phone shows (a WeChat Pay sandbox code).
pub const SIM_PAYMENT_CODE: &str = "134567890123456780";

/// What a fueling will be, drawn when the driver arrives.
#[derive(Debug, Clone, PartialEq)]
pub struct Arrival {
    /// 0, 1, 2, … per station.
    pub seq: u64,
    /// Seconds since the start of the simulation.
    pub at_s: f64,
    /// Index into the station's nozzles (as the device config lists them).
    pub nozzle: usize,
    pub way: PaymentWay,
    /// Index of the driver (None at the counter).
    pub driver: Option<usize>,
    /// What the tank would take, in thousandths of the unit (not prepays).
    pub want_quantity: i64,
    /// A prepay's round amount (10 000, 20 000 or 30 000 fen).
    pub preset_amount_fen: Option<i64>,
    /// A prepay that stops short (the tank is full): the fraction of the preset quantity
    /// actually dispensed, in [0.4, 0.95].
    pub underfill: Option<f64>,
    /// Seconds from arriving to the nozzle lifted, then to the fuel flowing; seconds from
    /// the last drop to the nozzle hung up.
    pub lift_s: f64,
    pub start_s: f64,
    pub hang_up_s: f64,
    /// Flow in whole units per minute (litres/min for litre grades).
    pub flow_per_min: f64,
    pub tender: TenderPlan,
}

/// Probability that a prepay stops before its preset.
pub const UNDERFILL_PROBABILITY: f64 = 0.2;

/// Draws a station's arrivals and what each does; everything from one seeded generator.
pub struct Planner {
    rng: StdRng,
    t: f64,
    seq: u64,
    start_sec_of_day: f64,
    per_hour: f64,
    /// Per grade: (popularity weight, indices of its nozzles).
    grades: Vec<(u32, Vec<usize>)>,
    units: Vec<Unit>,
    mix: Mix,
    drivers: usize,
    plate_drivers: usize,
}

/// How popular a grade is (92# most).
pub fn grade_weight(code: &str) -> u32 {
    match code {
        "92" => 50,
        "95" => 25,
        "98" => 5,
        "0" | "-10" | "0#" => 15,
        _ => 5,
    }
}

impl Planner {
    /// `per_hour`: arrivals an hour at demand factor 1 (the station's size). Drivers
    /// `0..plate_drivers` are the plate drivers.
    pub fn new(
        seed: u64,
        start_sec_of_day: f64,
        per_hour: f64,
        nozzles: &[NozzleConfig],
        mix: Mix,
        drivers: usize,
    ) -> Planner {
        let mut grades: Vec<(String, u32, Vec<usize>)> = Vec::new();
        for (i, n) in nozzles.iter().enumerate() {
            match grades.iter_mut().find(|g| g.0 == n.grade_code) {
                Some(g) => g.2.push(i),
                None => grades.push((n.grade_code.clone(), grade_weight(&n.grade_code), vec![i])),
            }
        }
        // Drivers who would take part in no way do not count.
        let mix = if drivers == 0 { Mix { prepay: 0, postpay_app: 0, plate: 0, ..mix } } else { mix };
        Planner {
            rng: StdRng::seed_from_u64(seed),
            t: 0.0,
            seq: 0,
            start_sec_of_day,
            per_hour,
            grades: grades.into_iter().map(|(_, w, idx)| (w, idx)).collect(),
            units: nozzles.iter().map(|n| n.unit).collect(),
            mix,
            drivers,
            plate_drivers: plate_driver_count(&mix, drivers),
        }
    }

    pub fn plate_drivers(&self) -> usize {
        self.plate_drivers
    }

    fn pick_nozzle(&mut self) -> usize {
        let total: u32 = self.grades.iter().map(|g| g.0).sum();
        let mut x = self.rng.random_range(0..total.max(1));
        let mut chosen = 0;
        for (i, g) in self.grades.iter().enumerate() {
            if x < g.0 {
                chosen = i;
                break;
            }
            x -= g.0;
        }
        let idx = &self.grades[chosen].1;
        idx[self.rng.random_range(0..idx.len())]
    }

    /// The next driver to arrive.
    pub fn next_arrival(&mut self) -> Arrival {
        let rng = &mut self.rng;
        self.t = next_arrival(rng, self.t, self.start_sec_of_day, self.per_hour);
        let at_s = self.t;
        let nozzle = self.pick_nozzle();
        let rng = &mut self.rng;
        let way = self.mix.pick(rng);
        let driver = match way {
            PaymentWay::Counter => None,
            PaymentWay::Plate => Some(rng.random_range(0..self.plate_drivers.max(1))),
            _ => Some(rng.random_range(0..self.drivers.max(1))),
        };
        let unit = self.units[nozzle];
        let want_quantity = fill_quantity(rng, unit);
        let (preset_amount_fen, underfill) = if way == PaymentWay::Prepay {
            let amount = [10_000, 20_000, 20_000, 30_000][rng.random_range(0..4)];
            let under = rng.random_bool(UNDERFILL_PROBABILITY).then(|| rng.random_range(0.4..0.95));
            (Some(amount), under)
        } else {
            (None, None)
        };
        let lift_s = rng.random_range(10.0..40.0);
        let start_s = rng.random_range(3.0..12.0);
        let hang_up_s = rng.random_range(5.0..15.0);
        let flow_per_min = flow_rate(rng, unit);
        let tender = match rng.random_range(0..10) {
            0..4 => TenderPlan::Cash,
            4..6 => TenderPlan::Card { reference: format!("SIM{:012}", rng.random_range(0..1_000_000_000_000u64)) },
            _ => TenderPlan::PaymentCode,
        };
        let seq = self.seq;
        self.seq += 1;
        Arrival {
            seq,
            at_s,
            nozzle,
            way,
            driver,
            want_quantity,
            preset_amount_fen,
            underfill,
            lift_s,
            start_s,
            hang_up_s,
            flow_per_min,
            tender,
        }
    }
}

/// What a tank takes, in thousandths of the unit: for litres mostly 20–60 L, sometimes a
/// small top-up of 5–20 L.
pub fn fill_quantity(rng: &mut impl Rng, unit: Unit) -> i64 {
    let whole: f64 = match unit {
        Unit::Litre if rng.random_bool(0.15) => rng.random_range(5.0..20.0),
        Unit::Litre => rng.random_range(20.0..60.0),
        Unit::Kg => rng.random_range(40.0..150.0),
        Unit::M3 => rng.random_range(8.0..20.0),
        Unit::Kwh => rng.random_range(20.0..60.0),
    };
    (whole * 1000.0).round() as i64
}

/// Whole units a minute: 30–40 L/min for gasoline and diesel.
pub fn flow_rate(rng: &mut impl Rng, unit: Unit) -> f64 {
    match unit {
        Unit::Litre => rng.random_range(30.0..40.0),
        Unit::Kg => rng.random_range(15.0..25.0),
        Unit::M3 => rng.random_range(10.0..20.0),
        Unit::Kwh => rng.random_range(0.5..1.5),
    }
}

// ---------------------------------------------------------------------------------------
// Dispensing arithmetic
// ---------------------------------------------------------------------------------------

/// What the pump was authorised for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    None,
    Amount(i64),
    Quantity(i64),
}

/// One fueling as the dispenser reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dispensed {
    pub quantity: i64,
    pub amount_fen: i64,
    /// The pump stopped because it reached the preset (not because the tank was full).
    pub at_preset: bool,
}

/// What a pump dispenses and reports when the tank would take `want_quantity`. Measured
/// quantities are whole volume steps and the amount is derived (round half up); a pump
/// preset to an amount stops at the last step the amount pays for and reports the preset
/// amount; one that stops short of its preset reports the derived amount, never more
/// than the preset.
pub fn dispense(preset: Preset, want_quantity: i64, unit_price_fen: i64, volume_step: i64) -> Dispensed {
    let step = volume_step.max(1);
    let want = want_quantity.max(0) / step * step;
    let measured =
        |q: i64| Dispensed { quantity: q, amount_fen: amount_for_quantity(q, unit_price_fen), at_preset: false };
    match preset {
        Preset::None => measured(want),
        Preset::Amount(amount) => {
            let max_q = quantity_for_amount(amount, unit_price_fen, step);
            if want >= max_q {
                Dispensed { quantity: max_q, amount_fen: amount, at_preset: true }
            } else {
                let d = measured(want);
                Dispensed { amount_fen: d.amount_fen.min(amount), ..d }
            }
        }
        Preset::Quantity(q) => {
            let max_q = q.max(0) / step * step;
            if want >= max_q { Dispensed { at_preset: true, ..measured(max_q) } } else { measured(want) }
        }
    }
}

/// The largest quantity a preset allows at a price (for choosing an underfill).
pub fn preset_quantity(preset: Preset, unit_price_fen: i64, volume_step: i64) -> Option<i64> {
    match preset {
        Preset::None => None,
        Preset::Amount(a) => Some(quantity_for_amount(a, unit_price_fen, volume_step.max(1))),
        Preset::Quantity(q) => Some(q),
    }
}

/// What the tank takes for a prepay: the preset (or more) unless it stops short.
pub fn prepay_want(preset: Preset, underfill: Option<f64>, unit_price_fen: i64, volume_step: i64) -> i64 {
    match (preset_quantity(preset, unit_price_fen, volume_step), underfill) {
        (Some(max), Some(f)) => (max as f64 * f.clamp(0.0, 1.0)) as i64,
        (Some(max), None) => max,
        (None, _) => 0,
    }
}

/// A nozzle's mechanical totalizer: grows by exactly what it dispenses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totalizer {
    pub start: i64,
    pub current: i64,
}

impl Totalizer {
    pub fn new(start: i64) -> Totalizer {
        Totalizer { start, current: start }
    }

    /// Adds a dispensed quantity and returns the new reading.
    pub fn add(&mut self, quantity: i64) -> i64 {
        debug_assert!(quantity >= 0);
        self.current = self.current.saturating_add(quantity.max(0));
        self.current
    }

    pub fn dispensed(&self) -> i64 {
        self.current - self.start
    }
}

/// Seconds the fuel flows for `quantity` thousandths at `per_min` units a minute.
pub fn flow_seconds(quantity: i64, per_min: f64) -> f64 {
    quantity as f64 / 1000.0 / per_min.max(1e-6) * 60.0
}

/// Cash handed over: the amount rounded up to the next 10 yuan.
pub fn cash_received(amount_fen: i64) -> i64 {
    (amount_fen.max(0) + 999) / 1000 * 1000
}

/// A top-up that covers `shortfall_fen`: whole 500 yuan.
pub fn topup_for(shortfall_fen: i64) -> i64 {
    (shortfall_fen.max(1) + 49_999) / 50_000 * 50_000
}

/// The WeChat sandbox name of driver `n` of a station: `sim-<station>-<n>` (letters,
/// digits, `_`, `-`, at most 64), the station part hashed when too long.
pub fn driver_name(station: &str, n: usize) -> String {
    let name = format!("sim-{station}-{n}");
    if name.len() <= 64 { name } else { format!("sim-{}-{n}", &hex::encode(Sha256::digest(station.as_bytes()))[..16]) }
}

/// Plate letters after the city letter (no I or O, as on real plates).
const PLATE_CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789";

/// A plate `云A` + 5 characters for driver `n` of a station, attempt `attempt`: derived
/// from the names (not the seed), so the same driver gets the same plate on every run.
pub fn plate_for(chain: &str, station: &str, n: usize, attempt: u32) -> String {
    let h = Sha256::digest(format!("{chain}/{station}/{n}/{attempt}").as_bytes());
    let mut s = String::from("云A");
    s.push(PLATE_CHARS[h[0] as usize % PLATE_CHARS.len()] as char);
    for b in &h[1..5] {
        s.push((b'0' + b % 10) as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiayou_domain::fuel::is_consistent;

    fn nozzles() -> Vec<NozzleConfig> {
        let n = |id: i64, pump: i32, num: i32, grade: &str, price: i64| NozzleConfig {
            nozzle_id: id,
            pump_number: pump,
            nozzle_number: num,
            grade_id: id * 10,
            grade_code: grade.into(),
            unit: Unit::Litre,
            unit_price_fen: Some(price),
            price_version: Some(1),
            volume_step: 10,
            totalizer: Some(1_000_000),
        };
        vec![n(1, 1, 1, "92", 789), n(2, 1, 2, "95", 843), n(3, 2, 3, "92", 789), n(4, 2, 4, "0", 765)]
    }

    #[test]
    fn schedules_are_reproducible_from_the_seed() {
        let a: Vec<f64> = ArrivalSchedule::new(7, 8.0 * 3600.0, 24.0).take(500).collect();
        let b: Vec<f64> = ArrivalSchedule::new(7, 8.0 * 3600.0, 24.0).take(500).collect();
        let c: Vec<f64> = ArrivalSchedule::new(8, 8.0 * 3600.0, 24.0).take(500).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.windows(2).all(|w| w[0] < w[1]), "arrival times increase");
        assert!(a[0] > 0.0);

        let mut p1 = Planner::new(42, 0.0, 30.0, &nozzles(), Mix::default(), 10);
        let mut p2 = Planner::new(42, 0.0, 30.0, &nozzles(), Mix::default(), 10);
        for _ in 0..1000 {
            assert_eq!(p1.next_arrival(), p2.next_arrival());
        }
    }

    #[test]
    fn rush_hours_are_busier_than_the_night() {
        // Ten simulated days from midnight at 20 arrivals an hour.
        let times: Vec<f64> = ArrivalSchedule::new(1, 0.0, 20.0).take_while(|t| *t < 10.0 * 86_400.0).collect();
        let in_hours = |from: f64, to: f64| {
            times.iter().filter(|t| (from..to).contains(&((**t / 3600.0) % 24.0))).count() as f64 / (to - from)
        };
        let (morning, evening, night, midday) =
            (in_hours(7.0, 9.0), in_hours(17.0, 19.0), in_hours(1.0, 5.0), in_hours(14.0, 17.0));
        // Expected per hour over 10 days: peaks 400, night 30, afternoon 200.
        assert!(morning > 1.5 * midday && evening > 1.5 * midday, "{morning} {evening} {midday}");
        assert!(midday > 4.0 * night, "{midday} {night}");
        assert!((320.0..480.0).contains(&morning), "{morning}");
        // A whole day averages the factor: about 0.92 × 20 × 24.
        let per_day = times.len() as f64 / 10.0;
        assert!((380.0..500.0).contains(&per_day), "{per_day}");
    }

    #[test]
    fn arrivals_respect_the_mix_and_the_drivers() {
        let mix = Mix { prepay: 1, postpay_app: 1, counter: 1, plate: 1 };
        let mut p = Planner::new(3, 0.0, 30.0, &nozzles(), mix, 8);
        assert_eq!(p.plate_drivers(), 3);
        let mut counts = std::collections::HashMap::new();
        let mut underfilled = 0;
        for _ in 0..4000 {
            let a = p.next_arrival();
            *counts.entry(a.way).or_insert(0) += 1;
            match a.way {
                PaymentWay::Counter => assert_eq!(a.driver, None),
                PaymentWay::Plate => assert!(a.driver.unwrap() < 3),
                _ => assert!(a.driver.unwrap() < 8),
            }
            if a.way == PaymentWay::Prepay {
                assert!([10_000, 20_000, 30_000].contains(&a.preset_amount_fen.unwrap()));
                underfilled += usize::from(a.underfill.is_some());
            } else {
                assert_eq!(a.preset_amount_fen, None);
            }
            assert!((5_000..=60_000).contains(&a.want_quantity), "{}", a.want_quantity);
            assert!((30.0..40.0).contains(&a.flow_per_min));
            assert!(a.nozzle < 4);
        }
        for way in PaymentWay::ALL {
            assert!((800..1200).contains(&counts[&way]), "{way}: {}", counts[&way]);
        }
        let prepays = counts[&PaymentWay::Prepay] as f64;
        assert!((0.15..0.25).contains(&(underfilled as f64 / prepays)), "{underfilled}/{prepays}");

        // Without drivers only the counter remains.
        let mut p = Planner::new(3, 0.0, 30.0, &nozzles(), mix, 0);
        assert!((0..100).all(|_| p.next_arrival().way == PaymentWay::Counter));
    }

    #[test]
    fn measured_sales_are_consistent_and_in_steps() {
        let mut rng = StdRng::seed_from_u64(9);
        for _ in 0..10_000 {
            let price = rng.random_range(100..2000);
            let step = [1, 5, 10, 20][rng.random_range(0..4)];
            let want = rng.random_range(0..80_000);
            let d = dispense(Preset::None, want, price, step);
            assert_eq!(d.quantity % step, 0);
            assert!(d.quantity <= want && want - d.quantity < step);
            assert_eq!(d.amount_fen, amount_for_quantity(d.quantity, price));
            assert!(is_consistent(d.amount_fen, d.quantity, price, step));
        }
        // 40.00 L of 92# at 7.89 → 315.60 yuan; 25.35 L at 7.89 = 200.0115 → 200.01.
        assert_eq!(dispense(Preset::None, 40_004, 789, 10).amount_fen, 31_560);
        assert_eq!(dispense(Preset::None, 25_350, 789, 10).amount_fen, 20_001);
    }

    #[test]
    fn prepays_never_exceed_the_preset() {
        let mut rng = StdRng::seed_from_u64(11);
        for _ in 0..10_000 {
            let price = rng.random_range(100..2000);
            let step = [1, 10, 20][rng.random_range(0..3)];
            let amount = [10_000, 20_000, 30_000][rng.random_range(0..3)];
            let underfill = rng.random_bool(0.5).then(|| rng.random_range(0.4..0.95));
            let want = prepay_want(Preset::Amount(amount), underfill, price, step);
            let d = dispense(Preset::Amount(amount), want, price, step);
            assert!(d.amount_fen <= amount, "{d:?} > {amount}");
            assert!(amount_for_quantity(d.quantity, price) <= amount);
            assert_eq!(d.quantity % step, 0);
            assert!(is_consistent(d.amount_fen, d.quantity, price, step), "{d:?} at {price}/{step}");
            assert_eq!(d.at_preset, underfill.is_none());
            if d.at_preset {
                assert_eq!(d.amount_fen, amount);
            } else {
                assert!(d.quantity < quantity_for_amount(amount, price, step));
            }
            // A pump told to stop at a quantity.
            let q = rng.random_range(1_000..60_000);
            let d = dispense(Preset::Quantity(q), rng.random_range(0..80_000), price, step);
            assert!(d.quantity <= q);
            assert!(is_consistent(d.amount_fen, d.quantity, price, step));
        }
        // 200 yuan at 7.89: 25.34 L (25.35 L would cost 200.01).
        let d = dispense(Preset::Amount(20_000), i64::MAX, 789, 10);
        assert_eq!(d, Dispensed { quantity: 25_340, amount_fen: 20_000, at_preset: true });
    }

    #[test]
    fn totalizers_grow_by_exactly_what_was_dispensed() {
        let mut t = Totalizer::new(123_456_789);
        let mut rng = StdRng::seed_from_u64(5);
        let mut sum = 0;
        for _ in 0..1000 {
            let d = dispense(Preset::None, fill_quantity(&mut rng, Unit::Litre), 789, 10);
            let before = t.current;
            assert_eq!(t.add(d.quantity), before + d.quantity);
            sum += d.quantity;
        }
        assert_eq!(t.dispensed(), sum);
        assert_eq!(t.current, 123_456_789 + sum);
    }

    #[test]
    fn small_arithmetic() {
        assert_eq!(cash_received(31_560), 32_000);
        assert_eq!(cash_received(30_000), 30_000);
        assert_eq!(cash_received(1), 1_000);
        assert_eq!(topup_for(1), 50_000);
        assert_eq!(topup_for(50_001), 100_000);
        assert!((flow_seconds(35_000, 35.0) - 60.0).abs() < 1e-9);
        assert_eq!(driver_name("KM01-P1", 3), "sim-KM01-P1-3");
        let long = "x".repeat(64);
        assert!(driver_name(&long, 12).len() <= 64);
        let p = plate_for("YNDEMO", "KM01", 0, 0);
        assert_eq!(p, plate_for("YNDEMO", "KM01", 0, 0));
        assert_ne!(p, plate_for("YNDEMO", "KM01", 0, 1));
        assert!(p.starts_with("云A") && p.chars().count() == 7);
        assert_eq!(plate_driver_count(&Mix::default(), 10), 1);
        assert_eq!(plate_driver_count(&Mix { plate: 0, ..Mix::default() }, 10), 0);
        assert_eq!(plate_driver_count(&Mix { prepay: 0, postpay_app: 0, counter: 1, plate: 1 }, 4), 4);
        assert_eq!(
            "prepay=1, plate=2".parse::<Mix>().unwrap(),
            Mix { prepay: 1, postpay_app: 0, counter: 0, plate: 2 }
        );
        assert!("prepay=x".parse::<Mix>().is_err());
        assert!("cash=1".parse::<Mix>().is_err());
        assert!("prepay=0".parse::<Mix>().is_err());
        assert_ne!(derive_seed(1, 0, 0), derive_seed(1, 1, 0));
        assert_ne!(derive_seed(1, 0, 0), derive_seed(1, 0, 1));
    }
}
