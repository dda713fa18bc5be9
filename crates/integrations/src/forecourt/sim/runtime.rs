//! The simulator at work: set stations up, dispatch arrivals to pumps, and play each
//! fueling through the device, member and staff API.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{FixedOffset, Timelike, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use super::model::{
    Arrival, Dispensed, PaymentWay, Planner, Preset, SIM_PAYMENT_CODE, TenderPlan, Totalizer, cash_received,
    derive_seed, dispense, driver_name, flow_seconds, plate_driver_count, plate_for, prepay_want, topup_for,
};
use super::report::{NozzleTotal, SimReport};
use super::{SimConfig, SimError};
use crate::forecourt::wire::random_hex;
use crate::forecourt::{
    ApiClient, Authorisation, Autopay, DeviceClient, DeviceConfig, ForecourtError, NewOrder, NozzleConfig,
    NozzleStatus, Order, OrderStatus, PayOrder, SaleReceipt, SaleReport, Tender,
};

/// How often and how long to wait for a state the server reaches on its own (a payment
/// confirmed, an authorisation visible): real time, whatever the simulation speed.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
const POLL_ATTEMPTS: u32 = 100;
/// Cars waiting behind a pump before the next arrival waits to be dispatched.
const PUMP_QUEUE: usize = 4;
/// Simulated seconds between two reads of the prices (device config).
const PRICE_REFRESH_S: f64 = 900.0;
/// Attempts at finding a free plate for a plate driver.
const PLATE_ATTEMPTS: u32 = 8;

/// Runs the simulation until `fuelings_per_station` arrivals per station are settled,
/// or until `stop` turns true (then fuelings under way finish at once, simulated waits
/// skipped, and queued arrivals are dropped). A dropped sender never stops the run.
///
/// Setting up (device config, sign-ins, top-ups, plates) must succeed for every station
/// or the run fails; failures during fuelings are counted in the report instead.
pub async fn run(cfg: SimConfig, stop: watch::Receiver<bool>) -> Result<SimReport, SimError> {
    cfg.validate()?;
    let stop = Stop(stop);
    let api = ApiClient::new(&cfg.base_url).map_err(|e| SimError::Config(e.to_string()))?;
    let cashier = match &cfg.cashier {
        Some((user, password)) => Some(api.staff_login(&cfg.chain_code, user, password).await.map_err(|source| {
            SimError::Setup { station: "cashier".into(), stage: "staff sign-in", error: Box::new(source) }
        })?),
        None => None,
    };
    let shared = Arc::new(Shared {
        chain: cfg.chain_code.clone(),
        report: Mutex::new(SimReport { stations: cfg.stations.len(), ..SimReport::default() }),
        cashier,
        run_id: random_hex(4),
    });

    let mut setups = JoinSet::new();
    for (index, st) in cfg.stations.iter().enumerate() {
        let (shared, cfg, st, api) = (shared.clone(), cfg.clone(), st.clone(), api.clone());
        setups.spawn(async move { setup_station(&shared, &cfg, index, &st.device_code, &st.secret, &api).await });
    }
    let mut stations = Vec::new();
    while let Some(joined) = setups.join_next().await {
        stations.push(Arc::new(joined.map_err(|e| SimError::Task(e.to_string()))??));
    }
    stations.sort_by_key(|s| s.index);

    let clock = Clock { start: tokio::time::Instant::now(), speed: cfg.speed };
    let start_sec_of_day = match cfg.start_time {
        Some(t) => f64::from(t.num_seconds_from_midnight()),
        None => f64::from(Utc::now().with_timezone(&china()).num_seconds_from_midnight()),
    };
    let mut runs = JoinSet::new();
    for station in stations {
        let (shared, cfg, stop) = (shared.clone(), cfg.clone(), stop.clone());
        let clock = clock.clone();
        runs.spawn(async move { run_station(shared, station, &cfg, clock, start_sec_of_day, stop).await });
    }
    let mut simulated = 0.0f64;
    while let Some(joined) = runs.join_next().await {
        simulated = simulated.max(joined.map_err(|e| SimError::Task(e.to_string()))?);
    }
    let mut report = lock(&shared.report).clone();
    report.simulated_seconds = simulated;
    Ok(report)
}

fn china() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

// ---------------------------------------------------------------------------------------
// Time and stopping
// ---------------------------------------------------------------------------------------

#[derive(Clone)]
struct Stop(watch::Receiver<bool>);

impl Stop {
    fn is_set(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves when the stop signal is set; never when its sender is gone unset.
    async fn wait(&mut self) {
        if self.0.wait_for(|v| *v).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[derive(Clone)]
struct Clock {
    start: tokio::time::Instant,
    speed: Option<f64>,
}

impl Clock {
    fn real(&self, sim_s: f64) -> Duration {
        match self.speed {
            Some(speed) => Duration::from_secs_f64((sim_s / speed).clamp(0.0, 1e9)),
            None => Duration::ZERO,
        }
    }

    /// Waits until simulated time `sim_s`; false when stopped.
    async fn sleep_until(&self, sim_s: f64, stop: &mut Stop) -> bool {
        if self.speed.is_some() {
            let target = self.start + self.real(sim_s);
            tokio::select! {
                _ = tokio::time::sleep_until(target) => {}
                _ = stop.wait() => {}
            }
        }
        !stop.is_set()
    }

    /// Waits `sim_s` simulated seconds, or less when stopped.
    async fn sleep(&self, sim_s: f64, stop: &mut Stop) {
        let d = self.real(sim_s);
        if d > Duration::ZERO && !stop.is_set() {
            tokio::select! {
                _ = tokio::time::sleep(d) => {}
                _ = stop.wait() => {}
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Stations and drivers
// ---------------------------------------------------------------------------------------

struct Shared {
    chain: String,
    report: Mutex<SimReport>,
    cashier: Option<ApiClient>,
    /// Makes sale ids unique across runs.
    run_id: String,
}

struct Driver {
    api: ApiClient,
    plate: Option<String>,
    /// A driver is at one pump at a time.
    busy: tokio::sync::Mutex<()>,
}

struct Station {
    index: usize,
    label: String,
    device: DeviceClient,
    config: DeviceConfig,
    drivers: Vec<Arc<Driver>>,
    /// nozzle id → unit price, refreshed from the device config.
    prices: Mutex<HashMap<i64, i64>>,
}

impl Station {
    fn price(&self, nozzle: &NozzleConfig) -> i64 {
        lock(&self.prices).get(&nozzle.nozzle_id).copied().or(nozzle.unit_price_fen).unwrap_or(0)
    }
}

async fn setup_station(
    shared: &Shared,
    cfg: &SimConfig,
    index: usize,
    device_code: &str,
    secret: &str,
    api: &ApiClient,
) -> Result<Station, SimError> {
    let label = device_code.to_owned();
    let setup = |stage: &'static str| {
        let station = label.clone();
        move |source: ForecourtError| SimError::Setup { station, stage, error: Box::new(source) }
    };
    let step = |e: StepError| match e {
        StepError::Api { stage, err } => SimError::Setup { station: label.clone(), stage, error: Box::new(err) },
        StepError::Sim { code, detail } => {
            SimError::Station { station: label.clone(), reason: format!("{code}: {detail}") }
        }
    };
    let device = DeviceClient::new(&cfg.base_url, device_code, secret).map_err(setup("device client"))?;
    let mut config = device.config().await.map_err(setup("reading the device config"))?;
    // A grade without a price is not sold.
    let unpriced: Vec<i32> =
        config.nozzles.iter().filter(|n| n.unit_price_fen.is_none()).map(|n| n.nozzle_number).collect();
    if !unpriced.is_empty() {
        tracing::warn!(station = %label, nozzles = ?unpriced, "forecourt simulator: nozzles without a price are not used");
    }
    config.nozzles.retain(|n| n.unit_price_fen.is_some_and(|p| p > 0));
    if config.nozzles.is_empty() {
        return Err(SimError::Station {
            station: label.clone(),
            reason: "the device config lists no priced nozzle".into(),
        });
    }
    let drivers_needed = if cfg.mix.app_total() > 0 { cfg.drivers_per_station } else { 0 };
    let plate_drivers = plate_driver_count(&cfg.mix, drivers_needed);
    let mut rng = StdRng::seed_from_u64(derive_seed(cfg.seed, index as u64, 1));
    let mut drivers = Vec::with_capacity(drivers_needed);
    for n in 0..drivers_needed {
        let code = format!("test-{}.{}", driver_name(&label, n), random_hex(6));
        let member = api.member_login_wechat(&cfg.chain_code, &code).await.map_err(setup("driver sign-in"))?;
        let amount = [50_000, 100_000, 200_000][rng.random_range(0..3)];
        topup(shared, &member, amount).await.map_err(step)?;
        let plate = if n < plate_drivers {
            Some(bind_plate(&shared.chain, &label, n, &member).await.map_err(step)?)
        } else {
            None
        };
        drivers.push(Arc::new(Driver { api: member, plate, busy: tokio::sync::Mutex::new(()) }));
    }
    let pumps: std::collections::BTreeSet<i32> = config.nozzles.iter().map(|n| n.pump_number).collect();
    tracing::info!(
        station = %label,
        station_id = config.station_id,
        nozzles = config.nozzles.len(),
        pumps = pumps.len(),
        drivers = drivers.len(),
        plate_drivers,
        "forecourt simulator: station ready"
    );
    let prices = Mutex::new(config.nozzles.iter().filter_map(|n| Some((n.nozzle_id, n.unit_price_fen?))).collect());
    Ok(Station { index, label, device, config, drivers, prices })
}

/// Binds the driver's plate (the same one on every run) and enables autopay. A plate
/// already bound (409) is looked up among the driver's vehicles; one bound by somebody
/// else makes the driver try another.
async fn bind_plate(chain: &str, station: &str, n: usize, api: &ApiClient) -> Result<String, StepError> {
    for attempt in 0..PLATE_ATTEMPTS {
        let plate = plate_for(chain, station, n, attempt);
        let vehicle = match api.add_vehicle(&plate).await {
            Ok(v) => Some(v),
            Err(e) if e.status() == Some(409) => {
                let mine = api.vehicles().await.at("listing the driver's vehicles")?;
                mine.into_iter().find(|v| v.plate_normalised() == plate)
            }
            Err(err) => return Err(StepError::Api { stage: "binding a plate", err }),
        };
        if let Some(v) = vehicle {
            api.set_autopay(v.id, true).await.at("enabling autopay")?;
            return Ok(plate);
        }
    }
    Err(StepError::sim("plate_unavailable", format!("{PLATE_ATTEMPTS} plates tried, all bound to other members")))
}

async fn topup(shared: &Shared, api: &ApiClient, amount_fen: i64) -> Result<(), StepError> {
    let order = api.topup(amount_fen).await.at("creating a top-up")?;
    let order = settle_channel(api, order).await?;
    if order.status != OrderStatus::Completed {
        return Err(StepError::sim("topup_not_completed", format!("top-up order {} is {:?}", order.id, order.status)));
    }
    let mut r = lock(&shared.report);
    r.topups += 1;
    r.topup_fen += amount_fen;
    Ok(())
}

/// Confirms a channel payment (as the payer's phone) and waits until the order moves on.
async fn settle_channel(api: &ApiClient, order: Order) -> Result<Order, StepError> {
    if order.status != OrderStatus::AwaitingPayment {
        return Ok(order);
    }
    let url = order.confirm_url().ok_or_else(|| {
        StepError::sim("confirm_url_missing", format!("order {} awaits payment without a confirm_url", order.id))
    })?;
    api.confirm_payment(url).await.at("confirming the channel payment")?;
    let id = order.id;
    poll(|| api.order(id), |o| o.status != OrderStatus::AwaitingPayment)
        .await
        .at("reading the order")?
        .ok_or_else(|| StepError::sim("payment_not_confirmed", format!("order {id} still awaits payment")))
}

/// Calls `f` until `done` holds, [`POLL_ATTEMPTS`] times at most.
async fn poll<T, F, Fut>(mut f: F, done: impl Fn(&T) -> bool) -> Result<Option<T>, ForecourtError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ForecourtError>>,
{
    for attempt in 0..POLL_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(POLL_INTERVAL).await;
        }
        let v = f().await?;
        if done(&v) {
            return Ok(Some(v));
        }
    }
    Ok(None)
}

// ---------------------------------------------------------------------------------------
// Errors within a fueling
// ---------------------------------------------------------------------------------------

#[derive(Debug)]
enum StepError {
    Api { stage: &'static str, err: ForecourtError },
    Sim { code: &'static str, detail: String },
}

impl StepError {
    fn sim(code: &'static str, detail: impl Into<String>) -> StepError {
        StepError::Sim { code, detail: detail.into() }
    }

    fn code(&self) -> &str {
        match self {
            StepError::Api { err, .. } => err.code(),
            StepError::Sim { code, .. } => code,
        }
    }
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StepError::Api { stage, err } => write!(f, "{stage}: {err}"),
            StepError::Sim { code, detail } => write!(f, "{code}: {detail}"),
        }
    }
}

trait At<T> {
    fn at(self, stage: &'static str) -> Result<T, StepError>;
}

impl<T> At<T> for Result<T, ForecourtError> {
    fn at(self, stage: &'static str) -> Result<T, StepError> {
        self.map_err(|err| StepError::Api { stage, err })
    }
}

// ---------------------------------------------------------------------------------------
// Dispatching arrivals to pumps
// ---------------------------------------------------------------------------------------

/// Runs one station until its arrivals are done or the stop signal; returns the time of
/// its last arrival (simulated seconds).
async fn run_station(
    shared: Arc<Shared>,
    station: Arc<Station>,
    cfg: &SimConfig,
    clock: Clock,
    start_sec_of_day: f64,
    mut stop: Stop,
) -> f64 {
    let nozzles = &station.config.nozzles;
    let mut by_pump: BTreeMap<i32, Vec<usize>> = BTreeMap::new();
    for (i, n) in nozzles.iter().enumerate() {
        by_pump.entry(n.pump_number).or_default().push(i);
    }
    let mut senders = HashMap::new();
    let mut pumps = JoinSet::new();
    {
        let mut report = lock(&shared.report);
        for n in nozzles {
            let start = n.totalizer.unwrap_or(0);
            report.nozzle(n.nozzle_id, || NozzleTotal {
                station_id: station.config.station_id,
                pump_number: n.pump_number,
                nozzle_number: n.nozzle_number,
                grade_code: n.grade_code.clone(),
                totalizer_start: start,
                totalizer_end: start,
                ..NozzleTotal::default()
            });
        }
    }
    for (&pump, idx) in &by_pump {
        let (tx, rx) = mpsc::channel::<Arrival>(PUMP_QUEUE);
        senders.insert(pump, tx);
        let totalizers = idx.iter().map(|&i| (i, Totalizer::new(nozzles[i].totalizer.unwrap_or(0)))).collect();
        let pump_task = PumpTask {
            shared: shared.clone(),
            station: station.clone(),
            clock: clock.clone(),
            stop: stop.clone(),
            totalizers,
        };
        pumps.spawn(pump_task.serve(rx));
    }

    let drivers = station.drivers.len();
    let per_hour = cfg.arrivals_per_pump_hour * by_pump.len() as f64;
    let seed = derive_seed(cfg.seed, station.index as u64, 0);
    let mut planner = Planner::new(seed, start_sec_of_day, per_hour, nozzles, cfg.mix, drivers);
    let mut dispatched = 0u64;
    let mut last_at = 0.0;
    let mut prices_read_at = 0.0;
    while cfg.fuelings_per_station.is_none_or(|limit| dispatched < limit) {
        let arrival = planner.next_arrival();
        if !clock.sleep_until(arrival.at_s, &mut stop).await {
            break;
        }
        if arrival.at_s - prices_read_at >= PRICE_REFRESH_S {
            prices_read_at = arrival.at_s;
            refresh_prices(&shared, &station).await;
        }
        last_at = arrival.at_s;
        let tx = &senders[&nozzles[arrival.nozzle].pump_number];
        tokio::select! {
            sent = tx.send(arrival) => {
                if sent.is_err() {
                    break;
                }
            }
            _ = stop.wait() => break,
        }
        dispatched += 1;
    }
    drop(senders);
    while pumps.join_next().await.is_some() {}
    last_at
}

async fn refresh_prices(shared: &Shared, station: &Station) {
    match station.device.config().await {
        Ok(c) => {
            let mut prices = lock(&station.prices);
            for n in c.nozzles {
                if let Some(price) = n.unit_price_fen {
                    prices.insert(n.nozzle_id, price);
                }
            }
        }
        Err(e) => {
            let code = e.code().to_owned();
            lock(&shared.report).error(&code, || format!("{}: reading prices: {e}", station.label));
        }
    }
}

// ---------------------------------------------------------------------------------------
// A pump serving its queue
// ---------------------------------------------------------------------------------------

struct PumpTask {
    shared: Arc<Shared>,
    station: Arc<Station>,
    clock: Clock,
    stop: Stop,
    /// By index into the station's nozzles.
    totalizers: HashMap<usize, Totalizer>,
}

impl PumpTask {
    async fn serve(mut self, mut rx: mpsc::Receiver<Arrival>) {
        loop {
            let arrival = tokio::select! {
                biased;
                _ = self.stop.wait() => break,
                a = rx.recv() => match a {
                    Some(a) => a,
                    None => break,
                },
            };
            self.fuel_one(&arrival).await;
            if self.stop.is_set() {
                break;
            }
        }
    }

    async fn fuel_one(&mut self, a: &Arrival) {
        let station = self.station.clone();
        let driver = a.driver.and_then(|i| station.drivers.get(i).cloned());
        let _busy = match &driver {
            Some(d) => Some(d.busy.lock().await),
            None => None,
        };
        let nozzle = &station.config.nozzles[a.nozzle];
        let totalizer = self.totalizers.get_mut(&a.nozzle).expect("every nozzle of the pump has a totalizer");
        let mut f = Fueling {
            shared: &self.shared,
            station: &station,
            clock: &self.clock,
            stop: &mut self.stop,
            a,
            nozzle,
            totalizer,
            failed: false,
        };
        let outcome = match (a.way, driver.as_deref()) {
            (PaymentWay::Prepay, Some(d)) => f.prepay(d).await,
            (PaymentWay::PostpayApp, Some(d)) => f.postpay(d).await,
            (PaymentWay::Plate, Some(d)) => f.plate(d).await,
            (PaymentWay::Counter, _) => f.counter().await,
            (way, None) => Err(StepError::sim("no_driver", format!("{way} needs a signed-in driver"))),
        };
        let completed = match outcome {
            Ok(()) => true,
            Err(e) => {
                f.record(&e);
                false
            }
        };
        let failed = f.failed;
        tracing::debug!(station = %station.label, seq = a.seq, way = %a.way, completed, failed, "fueling done");
        lock(&self.shared.report).finished(a.way, completed, failed);
    }
}

/// One fueling at one nozzle.
struct Fueling<'a> {
    shared: &'a Shared,
    station: &'a Station,
    clock: &'a Clock,
    stop: &'a mut Stop,
    a: &'a Arrival,
    nozzle: &'a NozzleConfig,
    totalizer: &'a mut Totalizer,
    failed: bool,
}

impl Fueling<'_> {
    fn record(&mut self, e: &StepError) {
        self.failed = true;
        let code = e.code().to_owned();
        let (station, a, n) = (&self.station.label, self.a, self.nozzle);
        tracing::debug!(station = %station, seq = a.seq, way = %a.way, error = %e, "fueling error");
        lock(&self.shared.report).error(&code, || {
            format!("{station} arrival {} ({}, pump {} nozzle {}): {e}", a.seq, a.way, n.pump_number, n.nozzle_number)
        });
    }

    async fn status(&mut self, status: NozzleStatus, totalizer: Option<i64>) {
        if let Err(err) = self.station.device.report_status(self.nozzle.nozzle_id, status, totalizer).await {
            let stage = match status {
                NozzleStatus::Idle => "reporting the nozzle idle",
                NozzleStatus::Lifted => "reporting the nozzle lifted",
                NozzleStatus::Fuelling => "reporting the nozzle fuelling",
                NozzleStatus::Finished => "reporting the nozzle finished",
            };
            self.record(&StepError::Api { stage, err });
        }
    }

    async fn idle(&mut self) {
        let t = self.totalizer.current;
        self.status(NozzleStatus::Idle, Some(t)).await;
    }

    /// The physical fueling: lift, flow, hang up. The totalizer grows by the quantity.
    async fn pump_fuel(&mut self, preset: Preset, want: i64, unit_price_fen: i64) -> Dispensed {
        let a = self.a;
        self.clock.sleep(a.lift_s, self.stop).await;
        self.status(NozzleStatus::Lifted, Some(self.totalizer.current)).await;
        self.clock.sleep(a.start_s, self.stop).await;
        self.status(NozzleStatus::Fuelling, None).await;
        let d = dispense(preset, want, unit_price_fen, self.nozzle.volume_step);
        self.clock.sleep(flow_seconds(d.quantity, a.flow_per_min), self.stop).await;
        let reading = self.totalizer.add(d.quantity);
        self.status(NozzleStatus::Finished, Some(reading)).await;
        self.clock.sleep(a.hang_up_s, self.stop).await;
        let n = self.nozzle;
        lock(&self.shared.report).dispensed(a.way, n.nozzle_id, &n.grade_code, d.quantity, d.amount_fen);
        d
    }

    async fn report_sale(
        &mut self,
        d: &Dispensed,
        unit_price_fen: i64,
        plate: Option<String>,
        authorisation_id: Option<i64>,
    ) -> Result<SaleReceipt, StepError> {
        let sale = SaleReport {
            sale_id: format!("sim-{}-{}-{}", self.shared.run_id, self.station.index, self.a.seq),
            nozzle_id: self.nozzle.nozzle_id,
            grade_id: self.nozzle.grade_id,
            amount_fen: d.amount_fen,
            quantity: d.quantity,
            unit_price_fen,
            totalizer: self.totalizer.current,
            attendant_staff_id: None,
            plate,
            authorisation_id,
        };
        let receipt = self.station.device.report_sale(&sale).await.at("reporting the sale")?;
        lock(&self.shared.report).sales_reported += 1;
        Ok(receipt)
    }

    /// Pays a member's order from the balance when it covers the payable amount, else
    /// through the channel (confirm URL), and waits for the outcome.
    async fn pay(&mut self, api: &ApiClient, order: Order) -> Result<Order, StepError> {
        let wallet = api.wallet().await.at("reading the wallet")?;
        let by_balance = wallet.balance_fen >= order.payable_fen;
        let how = if by_balance { PayOrder::balance() } else { PayOrder::channel() };
        let paid = api.pay_order(order.id, &how).await.at("paying the order")?;
        {
            let mut r = lock(&self.shared.report);
            if by_balance {
                r.balance_payments += 1;
            } else {
                r.channel_payments += 1;
            }
        }
        settle_channel(api, paid).await
    }

    async fn prepay(&mut self, driver: &Driver) -> Result<(), StepError> {
        let a = self.a;
        let amount = a.preset_amount_fen.unwrap_or(20_000);
        let new = NewOrder {
            station_id: self.station.config.station_id,
            nozzle_id: self.nozzle.nozzle_id,
            amount_fen: Some(amount),
            quantity: None,
        };
        let order = driver.api.create_order(&new).await.at("creating the pre-order")?;
        let auth = match self.authorise(driver, order.clone()).await {
            Ok(auth) => auth,
            Err(e) => {
                // Give the nozzle back; the error that matters is the first one.
                let _ = driver.api.cancel_order(order.id).await;
                return Err(e);
            }
        };
        let preset = match (auth.preset_amount_fen, auth.preset_quantity) {
            (Some(amount), _) => Preset::Amount(amount),
            (None, Some(quantity)) => Preset::Quantity(quantity),
            (None, None) => Preset::Amount(amount),
        };
        let price = auth.unit_price_fen;
        let want = prepay_want(preset, a.underfill, price, self.nozzle.volume_step);
        let d = self.pump_fuel(preset, want, price).await;
        if d.quantity == 0 {
            self.idle().await;
            let _ = driver.api.cancel_order(order.id).await;
            return Err(StepError::sim("nothing_dispensed", format!("preset {preset:?} at {price} fen per unit")));
        }
        if !d.at_preset {
            lock(&self.shared.report).prepay_underfilled += 1;
        }
        let receipt = self.report_sale(&d, price, None, Some(auth.id)).await;
        self.idle().await;
        let receipt = receipt?;
        if receipt.order.id != order.id {
            return Err(StepError::sim(
                "sale_order_mismatch",
                format!("sale of authorisation {} settled order {}, not {}", auth.id, receipt.order.id, order.id),
            ));
        }
        self.await_completed(&driver.api, receipt.order, "prepay_not_completed").await
    }

    /// Pays the pre-order and waits for the pump's authorisation.
    async fn authorise(&mut self, driver: &Driver, order: Order) -> Result<Authorisation, StepError> {
        let order = self.pay(&driver.api, order).await?;
        if order.status != OrderStatus::Authorised {
            return Err(StepError::sim("prepay_not_authorised", format!("order {} is {:?}", order.id, order.status)));
        }
        let id = order.id;
        let device = &self.station.device;
        let found = poll(|| device.authorisations(), |list| list.iter().any(|a| a.order_id == id))
            .await
            .at("reading the authorisations")?;
        found
            .and_then(|list| list.into_iter().find(|a| a.order_id == id))
            .ok_or_else(|| StepError::sim("authorisation_missing", format!("no authorisation for order {id}")))
    }

    /// A member order the sale report settled is completed (or becomes so shortly).
    async fn await_completed(&mut self, api: &ApiClient, order: Order, code: &'static str) -> Result<(), StepError> {
        if order.status == OrderStatus::Completed {
            return Ok(());
        }
        let id = order.id;
        match poll(|| api.order(id), |o| o.status == OrderStatus::Completed).await.at("reading the order")? {
            Some(_) => Ok(()),
            None => Err(StepError::sim(code, format!("order {id} is {:?}", order.status))),
        }
    }

    async fn postpay(&mut self, driver: &Driver) -> Result<(), StepError> {
        let price = self.station.price(self.nozzle);
        let d = self.pump_fuel(Preset::None, self.a.want_quantity, price).await;
        let receipt = match self.report_sale(&d, price, None, None).await {
            Ok(r) => r,
            Err(e) => {
                self.idle().await;
                return Err(e);
            }
        };
        let paid = self.claim_and_pay(driver, receipt.order.id).await;
        self.idle().await;
        paid
    }

    /// The driver claims the nozzle's open sale in the app and pays it.
    async fn claim_and_pay(&mut self, driver: &Driver, expected_order: i64) -> Result<(), StepError> {
        let station_id = self.station.config.station_id;
        let order = driver.api.claim_order(station_id, self.nozzle.nozzle_number).await.at("claiming the sale")?;
        if order.id != expected_order {
            return Err(StepError::sim(
                "claim_mismatch",
                format!("claimed order {} instead of the sale's order {expected_order}", order.id),
            ));
        }
        let paid = self.pay(&driver.api, order).await?;
        if paid.status != OrderStatus::Completed {
            return Err(StepError::sim("postpay_not_completed", format!("order {} is {:?}", paid.id, paid.status)));
        }
        Ok(())
    }

    async fn counter(&mut self) -> Result<(), StepError> {
        let price = self.station.price(self.nozzle);
        let d = self.pump_fuel(Preset::None, self.a.want_quantity, price).await;
        let result = self.collect_at_counter(&d, price).await;
        self.idle().await;
        result
    }

    async fn collect_at_counter(&mut self, d: &Dispensed, price: i64) -> Result<(), StepError> {
        let receipt = self.report_sale(d, price, None, None).await?;
        let Some(cashier) = self.shared.cashier.as_ref() else {
            return Err(StepError::sim("no_cashier", "counter sale without a cashier"));
        };
        let station_id = self.station.config.station_id;
        let order = cashier
            .counter_sale(station_id, self.nozzle.nozzle_number)
            .await
            .at("taking up the sale at the counter")?;
        if order.id != receipt.order.id {
            return Err(StepError::sim(
                "counter_sale_mismatch",
                format!("the counter took up order {} instead of the sale's order {}", order.id, receipt.order.id),
            ));
        }
        let amount_fen = order.payable_fen - order.paid_fen;
        let tender = match &self.a.tender {
            TenderPlan::Cash => Tender::Cash { amount_fen, received_fen: cash_received(amount_fen) },
            TenderPlan::Card { reference } => Tender::Card { amount_fen, reference: reference.clone() },
            TenderPlan::PaymentCode => Tender::PaymentCode { amount_fen, auth_code: SIM_PAYMENT_CODE.to_owned() },
        };
        let done = cashier.collect(order.id, vec![tender]).await.at("collecting at the counter")?;
        lock(&self.shared.report).counter_collections += 1;
        if done.status != OrderStatus::Completed {
            return Err(StepError::sim("counter_not_completed", format!("order {} is {:?}", done.id, done.status)));
        }
        Ok(())
    }

    async fn plate(&mut self, driver: &Driver) -> Result<(), StepError> {
        let Some(plate) = driver.plate.clone() else {
            return Err(StepError::sim("no_plate", "plate pay by a driver without a plate"));
        };
        let price = self.station.price(self.nozzle);
        let expected = dispense(Preset::None, self.a.want_quantity, price, self.nozzle.volume_step).amount_fen;
        let wallet = driver.api.wallet().await.at("reading the wallet")?;
        if wallet.balance_fen < expected {
            topup(self.shared, &driver.api, topup_for(expected - wallet.balance_fen)).await?;
        }
        let d = self.pump_fuel(Preset::None, self.a.want_quantity, price).await;
        let receipt = match self.report_sale(&d, price, Some(plate), None).await {
            Ok(r) => r,
            Err(e) => {
                self.idle().await;
                return Err(e);
            }
        };
        let result = match receipt.autopay {
            Some(Autopay::Charged) => {
                lock(&self.shared.report).autopay_charged += 1;
                self.await_completed(&driver.api, receipt.order, "autopay_not_completed").await
            }
            other => {
                {
                    let mut r = lock(&self.shared.report);
                    if other.is_some() {
                        r.autopay_failed += 1;
                    } else {
                        r.autopay_not_attempted += 1;
                    }
                }
                self.claim_and_pay(driver, receipt.order.id).await
            }
        };
        self.idle().await;
        result
    }
}
