//! The pump simulator (F1): drives one or more stations' pumps through the device API,
//! with drivers paying in the app and a cashier at the counter, for demos, tests and load.
//!
//! Per station it fetches the device config, signs its drivers in (WeChat sandbox) and
//! has each top up once; plate drivers bind a plate and enable autopay. Then drivers
//! arrive (a Poisson process following a daily curve with peaks 7–9 and 17–19, in the
//! station's local time, Asia/Shanghai), each picks a grade and a pump and pays one of
//! the [`PaymentWay`]s. A pump serves one driver at a time (its nozzles are never used
//! at once); pumps and stations run concurrently. Each fueling reports the nozzle
//! statuses `lifted → fuelling → finished`, the sale, and `idle` once the sale is
//! settled; each nozzle's totalizer grows by exactly what it dispensed.
//!
//! Every decision (arrival times, grades, pumps, payment ways, quantities, amounts,
//! tenders) comes from a generator seeded by [`SimConfig::seed`]: the same seed against
//! the same station configuration gives the same fuelings, whatever the network timing.
//! Request nonces, idempotency keys and sandbox sign-in codes are random (they must not
//! repeat across runs).
//!
//! ```no_run
//! # async fn demo() -> Result<(), jiayou_integrations::forecourt::sim::SimError> {
//! use jiayou_integrations::forecourt::sim::{self, SimConfig, SimStation};
//! let mut cfg = SimConfig::new("http://127.0.0.1:8080", "YNDEMO", vec![SimStation::new("KM01-FC1", "secret")]);
//! cfg.fuelings_per_station = Some(50);
//! cfg.cashier = Some(("shouyin".into(), "jiayou-demo-2026".into()));
//! let (_stop_tx, stop) = tokio::sync::watch::channel(false);
//! let report = sim::run(cfg, stop).await?;
//! println!("{}", report.summary());
//! # Ok(()) }
//! ```

mod model;
mod report;
mod runtime;
#[cfg(test)]
mod tests;

pub use model::{
    Arrival, ArrivalSchedule, Dispensed, Mix, PaymentWay, Planner, Preset, SIM_PAYMENT_CODE, TenderPlan, Totalizer,
    UNDERFILL_PROBABILITY, cash_received, demand_factor, derive_seed, dispense, driver_name, fill_quantity, flow_rate,
    flow_seconds, next_arrival, plate_driver_count, plate_for, prepay_want, preset_quantity, topup_for,
};
pub use report::{GradeTotal, MAX_ERROR_EXAMPLES, NozzleTotal, SimReport, WayTotal};
pub use runtime::run;

use std::fmt;

use chrono::NaiveTime;

use super::ForecourtError;

/// One station's pump controller, as the simulator signs in to the device API.
#[derive(Clone)]
pub struct SimStation {
    pub device_code: String,
    pub secret: String,
}

impl SimStation {
    pub fn new(device_code: impl Into<String>, secret: impl Into<String>) -> SimStation {
        SimStation { device_code: device_code.into(), secret: secret.into() }
    }
}

impl fmt::Debug for SimStation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimStation").field("device_code", &self.device_code).finish_non_exhaustive()
    }
}

#[derive(Clone)]
pub struct SimConfig {
    /// The jiayou server, e.g. `http://127.0.0.1:8080`.
    pub base_url: String,
    /// The chain's code (member sign-in and staff sign-in).
    pub chain_code: String,
    pub stations: Vec<SimStation>,
    pub seed: u64,
    /// Simulated seconds per real second: `None` as fast as possible; `Some(60.0)` one
    /// simulated minute a second; `Some(1.0)` real time.
    pub speed: Option<f64>,
    /// Stop after this many arrivals per station (then [`run`] returns once they are
    /// settled); `None` runs until the stop signal.
    pub fuelings_per_station: Option<u64>,
    /// The cashier's (username, password) for counter sales; needed when the mix has
    /// counter sales. The cashier must be allowed at every simulated station.
    pub cashier: Option<(String, String)>,
    /// Signed-in drivers per station (prepay, post-pay in the app, plate pay).
    pub drivers_per_station: usize,
    pub mix: Mix,
    /// Arrivals per pump an hour at an average hour (the daily curve doubles it at
    /// peaks and cuts it to 0.15× at night). Default 6.
    pub arrivals_per_pump_hour: f64,
    /// Local (Asia/Shanghai) time of day at which simulated time starts; `None`: now.
    pub start_time: Option<NaiveTime>,
}

impl fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimConfig")
            .field("base_url", &self.base_url)
            .field("chain_code", &self.chain_code)
            .field("stations", &self.stations)
            .field("seed", &self.seed)
            .field("speed", &self.speed)
            .field("fuelings_per_station", &self.fuelings_per_station)
            .field("cashier", &self.cashier.as_ref().map(|(u, _)| u))
            .field("drivers_per_station", &self.drivers_per_station)
            .field("mix", &self.mix)
            .field("arrivals_per_pump_hour", &self.arrivals_per_pump_hour)
            .field("start_time", &self.start_time)
            .finish()
    }
}

impl SimConfig {
    /// Defaults: seed 1, as fast as possible, forever, no cashier (so no counter sales),
    /// 10 drivers a station, the default mix without counter sales, 6 arrivals a pump
    /// an hour, starting now.
    pub fn new(base_url: impl Into<String>, chain_code: impl Into<String>, stations: Vec<SimStation>) -> SimConfig {
        SimConfig {
            base_url: base_url.into(),
            chain_code: chain_code.into(),
            stations,
            seed: 1,
            speed: None,
            fuelings_per_station: None,
            cashier: None,
            drivers_per_station: 10,
            mix: Mix { counter: 0, ..Mix::default() },
            arrivals_per_pump_hour: 6.0,
            start_time: None,
        }
    }

    fn validate(&self) -> Result<(), SimError> {
        let bad = |m: &str| Err(SimError::Config(m.to_owned()));
        if self.stations.is_empty() {
            return bad("no station to simulate");
        }
        if let Some(s) = self.speed
            && !(s.is_finite() && s > 0.0)
        {
            return bad("speed must be a positive number of simulated seconds per second");
        }
        if self.mix.total() == 0 {
            return bad("the payment mix has no positive weight");
        }
        if self.mix.counter > 0 && self.cashier.is_none() {
            return bad("counter sales need a cashier (username and password)");
        }
        if self.mix.app_total() > 0 && self.drivers_per_station == 0 {
            return bad("prepay, post-pay in the app and plate pay need at least one driver per station");
        }
        if !(self.arrivals_per_pump_hour.is_finite() && self.arrivals_per_pump_hour > 0.0) {
            return bad("arrivals_per_pump_hour must be positive");
        }
        let mut codes: Vec<&str> = self.stations.iter().map(|s| s.device_code.as_str()).collect();
        codes.sort_unstable();
        if codes.windows(2).any(|w| w[0] == w[1]) {
            return bad("a device code is listed twice");
        }
        Ok(())
    }
}

/// `HH:MM` or `HH:MM:SS` as a time of day, for [`SimConfig::start_time`].
pub fn parse_start_time(s: &str) -> Result<NaiveTime, String> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M:%S")
        .or_else(|_| NaiveTime::parse_from_str(s.trim(), "%H:%M"))
        .map_err(|_| format!("expected a time of day HH:MM, got {s:?}"))
}

/// Why the simulation could not run. Failures of single fuelings are not errors: they
/// are counted in the [`SimReport`].
#[derive(Debug, Clone, thiserror::Error)]
pub enum SimError {
    #[error("invalid simulator configuration: {0}")]
    Config(String),
    /// Setting a station up failed (config, driver sign-in, top-up, plate binding).
    #[error("{station}: {stage}: {error}")]
    Setup { station: String, stage: &'static str, error: Box<ForecourtError> },
    /// A station that cannot be simulated as configured (no nozzles, no free plate).
    #[error("{station}: {reason}")]
    Station { station: String, reason: String },
    /// A simulator task panicked (a bug).
    #[error("simulator task failed: {0}")]
    Task(String),
}

#[cfg(test)]
mod config_tests {
    use super::*;

    #[test]
    fn configs_are_checked() {
        let ok = SimConfig::new("http://127.0.0.1:1", "C", vec![SimStation::new("D1", "s")]);
        assert!(ok.validate().is_ok());
        let mut c = ok.clone();
        c.mix.counter = 1;
        assert!(c.validate().is_err());
        c.cashier = Some(("u".into(), "p".into()));
        assert!(c.validate().is_ok());
        let mut c = ok.clone();
        c.speed = Some(0.0);
        assert!(c.validate().is_err());
        let mut c = ok.clone();
        c.drivers_per_station = 0;
        assert!(c.validate().is_err());
        let mut c = ok.clone();
        c.stations.push(SimStation::new("D1", "t"));
        assert!(c.validate().is_err());
        assert!(!format!("{:?}", SimStation::new("D1", "topsecret")).contains("topsecret"));
        assert_eq!(parse_start_time("07:30"), Ok(NaiveTime::from_hms_opt(7, 30, 0).unwrap()));
        assert_eq!(parse_start_time("17:05:09"), Ok(NaiveTime::from_hms_opt(17, 5, 9).unwrap()));
        assert!(parse_start_time("25:00").is_err());
    }
}
