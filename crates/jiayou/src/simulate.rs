//! `jiayou simulate`: drives stations' pumps, drivers and a cashier against a running
//! jiayou server (the F1 forecourt simulator), then prints what happened.

use anyhow::Context;
use jiayou_integrations::forecourt::sim::{self, Mix, SimConfig, SimStation};

/// Arguments of `jiayou simulate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The jiayou server.
    #[arg(long, env = "JIAYOU_SIM_BASE_URL", default_value = "http://127.0.0.1:8080")]
    pub base_url: String,
    /// The chain's code.
    #[arg(long, env = "JIAYOU_SIM_CHAIN", default_value = "YNDEMO")]
    pub chain: String,
    /// A station's pump controller as DEVICE_CODE:SECRET; repeat for more stations. Keep
    /// secrets off the command line with JIAYOU_SIM_DEVICES (comma-separated).
    #[arg(
        long = "device",
        value_name = "CODE:SECRET",
        env = "JIAYOU_SIM_DEVICES",
        hide_env_values = true,
        value_delimiter = ',',
        required = true,
        value_parser = parse_device
    )]
    pub devices: Vec<SimStation>,
    /// Seed of every random decision: the same seed replays the same day.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Simulated seconds per real second (60: a simulated minute each second; 1: real time).
    #[arg(long, default_value_t = 60.0, conflicts_with = "fast")]
    pub speed: f64,
    /// Run as fast as the server answers, without waiting.
    #[arg(long)]
    pub fast: bool,
    /// Stop after this many fuelings per station (default: until Ctrl-C).
    #[arg(long)]
    pub fuelings: Option<u64>,
    /// The cashier who takes counter sales, as USERNAME:PASSWORD (or JIAYOU_SIM_CASHIER).
    /// Without it counter sales are left out of the mix.
    #[arg(long, value_name = "USERNAME:PASSWORD", env = "JIAYOU_SIM_CASHIER", hide_env_values = true,
        value_parser = parse_cashier)]
    pub cashier: Option<(String, String)>,
    /// Signed-in drivers per station (WeChat sandbox members sim-<device>-<n>).
    #[arg(long, default_value_t = 10)]
    pub drivers: usize,
    /// Relative weights of the payment ways.
    #[arg(long, default_value = "prepay=4,postpay_app=3,counter=2,plate=1")]
    pub mix: Mix,
    /// Arrivals per pump an hour at an average hour (doubled at the 7–9 and 17–19 peaks).
    #[arg(long, default_value_t = 6.0)]
    pub arrivals_per_pump_hour: f64,
    /// Local time of day (Asia/Shanghai) the simulated clock starts at, HH:MM; default now.
    #[arg(long, value_name = "HH:MM")]
    pub start_time: Option<String>,
}

fn parse_device(s: &str) -> Result<SimStation, String> {
    match s.split_once(':') {
        Some((code, secret)) if !code.is_empty() && !secret.is_empty() => Ok(SimStation::new(code, secret)),
        _ => Err("expected DEVICE_CODE:SECRET".into()),
    }
}

fn parse_cashier(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((user, password)) if !user.is_empty() && !password.is_empty() => Ok((user.into(), password.into())),
        _ => Err("expected USERNAME:PASSWORD".into()),
    }
}

/// Runs the simulation until `--fuelings` per station are settled or Ctrl-C (the
/// fuelings under way are finished first), then prints the report.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let mut mix = args.mix;
    if args.cashier.is_none() && mix.counter > 0 {
        eprintln!("note: no --cashier given, so counter sales are left out of the mix");
        mix.counter = 0;
    }
    let start_time = match args.start_time.as_deref() {
        Some(s) => Some(sim::parse_start_time(s).map_err(|e| anyhow::anyhow!("--start-time: {e}"))?),
        None => None,
    };
    let mut cfg = SimConfig::new(args.base_url, args.chain, args.devices);
    cfg.seed = args.seed;
    cfg.speed = if args.fast { None } else { Some(args.speed) };
    cfg.fuelings_per_station = args.fuelings;
    cfg.cashier = args.cashier;
    cfg.drivers_per_station = args.drivers;
    cfg.mix = mix;
    cfg.arrivals_per_pump_hour = args.arrivals_per_pump_hour;
    cfg.start_time = start_time;

    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("stopping: finishing the fuelings under way…");
            let _ = stop_tx.send(true);
        }
    });
    let report = sim::run(cfg, stop).await.context("simulating the forecourt")?;
    print!("{}", report.summary());
    Ok(())
}
