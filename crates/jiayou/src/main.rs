//! `jiayou`: the one binary. `serve` runs the HTTP server, `migrate` applies the schema,
//! `demo` seeds and serves a demo chain, `geo convert` converts coordinates, and
//! `keys generate` makes encryption keys for a new deployment.

mod audit_cmd;
mod config;
mod pay_config;
mod simulate;
mod telemetry;

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};
use jiayou_app::App;
use std::sync::Arc;

use jiayou_domain::audit::AuditKey;
use jiayou_domain::geo::{self, CoordSystem, LngLat};
use jiayou_integrations::forecourt::sim::{SimConfig, SimStation};
use jiayou_integrations::pay::alipay::{AlipayPeerConfig, AlipayPeerHandle, spawn_alipay_peer};
use jiayou_integrations::pay::wechat::{WechatPeerConfig, WechatPeerHandle, spawn_wechat_peer};
use jiayou_integrations::sms::{SmsConfig, SmsSandboxConfig, TencentSms, spawn_sms_sandbox};
use jiayou_integrations::wechat::{WechatConfig, WechatHttp, WechatSandboxConfig, spawn_wechat_sandbox};
use jiayou_store::Db;
use jiayou_store::crypto::KeyRing;

use crate::config::{Config, Sources};

#[derive(Parser)]
#[command(name = "jiayou", version, about = "加油站连锁数字化服务 / software for gas-station chains")]
struct Cli {
    /// Config file (TOML). Default: ./jiayou.toml when it exists.
    #[arg(long, global = true, env = "JIAYOU_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Create (or reuse) a demo database with a Kunming chain, print the URLs, and serve.
    Demo {
        /// Directory for the demo database and its keys.
        #[arg(long, default_value = "./data/demo")]
        data_dir: PathBuf,
    },
    /// Coordinate tools.
    Geo {
        #[command(subcommand)]
        command: GeoCommand,
    },
    /// Encryption keys for personal data and the audit-chain key.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Drive stations' pumps, drivers and a cashier against a running server (F1).
    Simulate(simulate::Args),
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check every audit hash chain with the configured key; exits 1 at a broken link.
    Verify,
}

#[derive(Subcommand)]
enum GeoCommand {
    /// Convert a coordinate between WGS-84, GCJ-02 and BD-09; prints `LNG LAT`.
    #[command(allow_negative_numbers = true)]
    Convert {
        #[arg(long)]
        from: CoordSystem,
        #[arg(long)]
        to: CoordSystem,
        lng: f64,
        lat: f64,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Print fresh [crypto] and [audit] config sections (keep them secret, keep a copy
    /// outside the database: without them personal data cannot be read nor the audit
    /// trail verified).
    Generate,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("jiayou: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Geo { command: GeoCommand::Convert { from, to, lng, lat } } => {
            let p = LngLat::new(lng, lat).map_err(|e| anyhow::anyhow!("{}: {e}", e.field()))?;
            let q = geo::convert(p, from, to);
            println!("{:.8} {:.8}", q.lng, q.lat);
            Ok(())
        }
        Command::Keys { command: KeysCommand::Generate } => {
            let (_, g) = KeyRing::generate();
            println!(
                "[crypto]\nkeys = \"{}\"\nactive_key = {}\nblind_index_key = \"{}\"",
                g.keys, g.active, g.blind_index_key
            );
            println!("\n[audit]\nkey = \"{}\"", AuditKey::generate().to_base64());
            Ok(())
        }
        Command::Serve => {
            let config = load_config(cli.config.as_deref())?;
            telemetry::init(&config);
            runtime()?.block_on(serve(config))
        }
        Command::Migrate => {
            let config = load_config(cli.config.as_deref())?;
            telemetry::init(&config);
            runtime()?.block_on(async {
                let db = Db::connect(&config.database_url).await.context("connecting to the database")?;
                db.migrate().await.context("applying migrations")?;
                let applied = db.applied_migrations().await?;
                println!("migrations applied: {}", applied.join(", "));
                Ok(())
            })
        }
        Command::Audit { command: AuditCommand::Verify } => {
            let config = load_config(cli.config.as_deref())?;
            telemetry::init(&config);
            let key = config.audit_key()?;
            let intact = runtime()?.block_on(async {
                let db = Db::connect(&config.database_url).await.context("connecting to the database")?;
                audit_cmd::verify(&db, &key).await
            })?;
            if intact { Ok(()) } else { anyhow::bail!("the audit trail is broken (see above)") }
        }
        Command::Simulate(args) => {
            let config = load_config(cli.config.as_deref())?;
            telemetry::init(&config);
            runtime()?.block_on(simulate::run(args))
        }
        Command::Demo { data_dir } => {
            let config = load_config(cli.config.as_deref())?;
            telemetry::init(&config);
            runtime()?.block_on(demo(config, &data_dir))
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    let default = Path::new("jiayou.toml");
    let file = path.or_else(|| default.exists().then_some(default));
    let env = |k: &str| std::env::var(k).ok();
    Ok(Config::load(Sources { file, env: &env })?)
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let keys = config.key_ring()?;
    let audit_key = config.audit_key()?;
    let db = Db::connect(&config.database_url).await.context("connecting to the database")?;
    // Migrations are explicit (`jiayou migrate`) for shared databases; on the embedded
    // SQLite default there is no one else to run them, so apply them here.
    if config.database_url.starts_with("sqlite:") {
        db.migrate().await.context("applying migrations")?;
    }
    let app = with_adapters(App::new(db, keys).with_audit_key(audit_key), &config)?;
    run_server(&config, app).await
}

/// Plugs the configured WeChat and SMS adapters into the app; without them, member
/// sign-in through that channel answers 503 `*_not_configured`.
fn with_adapters(mut app: App, config: &Config) -> anyhow::Result<App> {
    if let Some(c) = &config.wechat {
        app = app.with_wechat(Arc::new(WechatHttp::new(c.clone())?));
    }
    if let Some(c) = &config.sms {
        app = app.with_sms(Arc::new(TencentSms::new(c.clone())?));
    }
    if !config.pay.instances.is_empty() {
        app = app.with_pay_channels(config.pay.channels(config.listen)?);
    }
    Ok(app)
}

/// Runs the money jobs (settle unanswered channel payments, expire holds, retry refunds,
/// purge idempotency keys) every two seconds. Every server may run them: each step claims
/// its rows with a conditional update.
fn spawn_jobs(app: App) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
        loop {
            tick.tick().await;
            if let Err(e) = app.run_jobs(jiayou_store::now_us()).await {
                tracing::warn!(error = %e, "money jobs round failed; retried in 2 s");
            }
        }
    });
}

async fn run_server(config: &Config, app: App) -> anyhow::Result<()> {
    spawn_jobs(app.clone());
    if config.redis_url.is_some() {
        tracing::info!("redis_url is set; this version keeps caches and live events in-process");
    }
    let router = jiayou_http::router(
        app,
        jiayou_http::HttpConfig {
            admin_token: config.admin_token.clone(),
            trust_forwarded_for: config.trust_forwarded_for,
        },
    );
    let listener =
        tokio::net::TcpListener::bind(config.listen).await.with_context(|| format!("binding {}", config.listen))?;
    tracing::info!(listen = %config.listen, "jiayou serving");
    jiayou_http::serve(listener, router, shutdown_signal()).await?;
    tracing::info!("jiayou stopped");
    Ok(())
}

async fn demo(mut config: Config, data_dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    // The demo keeps its own database and keys beside each other: convenient, and only
    // acceptable because the data is fictional. Production keys never live with the data.
    if std::env::var("JIAYOU_DATABASE_URL").is_err() {
        config.database_url = format!("sqlite://{}?mode=rwc", data_dir.join("jiayou-demo.db").display());
    }
    let keys = demo_keys(data_dir)?;
    let audit_key =
        AuditKey::from_base64(&demo_secret(&data_dir.join("audit-key"), || AuditKey::generate().to_base64())?)?;
    let token = match &config.admin_token {
        Some(t) => t.clone(),
        None => demo_secret(&data_dir.join("admin-token"), || {
            use rand::Rng;
            let random: String = rand::rng().sample_iter(rand::distr::Alphanumeric).take(24).map(char::from).collect();
            format!("demo-{random}")
        })?,
    };
    config.admin_token = Some(token.clone());
    let db = Db::connect(&config.database_url).await.context("opening the demo database")?;
    db.migrate().await.context("applying migrations")?;
    // The demo runs fully offline: unless real adapters are configured, local peers
    // speaking the WeChat and Tencent SMS protocols stand in. Their handles must live as
    // long as the server (dropping the last one stops a peer).
    let mut sandboxes = (None, None);
    if config.wechat.is_none() {
        let sc = WechatSandboxConfig::default();
        let (_, handle) = spawn_wechat_sandbox("127.0.0.1:0".parse()?, sc.clone()).await?;
        config.wechat = Some(WechatConfig::new(sc.appid, sc.secret).with_base_url(handle.base_url()));
        sandboxes.0 = Some(handle);
    }
    if config.sms.is_none() {
        let sc = SmsSandboxConfig::default();
        let (_, handle) = spawn_sms_sandbox("127.0.0.1:0".parse()?, sc.clone()).await?;
        config.sms = Some(
            SmsConfig::new(sc.secret_id, sc.secret_key, sc.sdk_app_id, "加油站", "1110")
                .with_base_url(handle.base_url()),
        );
        sandboxes.1 = Some(handle);
    }
    // Unless channels are configured, payments go to local WeChat Pay and Alipay peers
    // with their own keys, configured through key files exactly as a real install is.
    let peers = if config.pay.instances.is_empty() {
        let (settings, peers) = demo_pay_peers(data_dir).await.context("starting the payment peers")?;
        config.pay = settings;
        Some(peers)
    } else {
        None
    };
    let app = with_adapters(App::new(db, keys).with_audit_key(audit_key), &config)?;
    let summary = jiayou_app::demo::seed(&app).await.context("seeding demo data")?;
    let devices = jiayou_app::demo::pump_controllers(&app, summary.chain_id).await.context("demo pump controllers")?;
    let base = format!("http://{}", config.listen);
    println!();
    println!(
        "  jiayou demo — {} ({} stations, {} nozzles{})",
        summary.chain_code,
        summary.stations,
        summary.nozzles,
        if summary.created { ", freshly created" } else { ", reused" }
    );
    println!("  API            {base}/api/v1/");
    println!("  OpenAPI        {base}/api/openapi.json");
    println!("  Nearby (try)   {base}/api/v1/stations/nearby?lng=102.7186&lat=25.0463&coord=gcj02&radius_m=10000");
    println!("  Health         {base}/healthz   {base}/readyz   {base}/metrics");
    println!("  Admin token    {token}   (Authorization: Bearer …; the platform operator)");
    println!(
        "  Staff sign-in  POST {base}/api/v1/auth/login  {{\"chain\": \"{}\", \"username\": …, \"password\": \"{}\"}}",
        summary.chain_code,
        jiayou_app::demo::STAFF_PASSWORD
    );
    for (username, name, ..) in jiayou_app::demo::STAFF {
        println!("                 {username:<12} {name}");
    }
    println!("  Database       {}", config.database_url);
    if sandboxes.0.is_some() {
        println!(
            "  Member sign-in WeChat sandbox: code test-<name> signs in as <name> (single-use: next time test-<name>.2); phone codes phone-<digits>"
        );
    }
    if sandboxes.1.is_some() {
        println!("                 SMS sandbox: the code is written to this log (\"SMS sandbox: sign-in code …\")");
    }
    if let Some((wx, ali)) = &peers {
        println!(
            "  Payments       WeChat Pay v3 peer {} (open pay_params.sandbox_pay_url to pay as the driver; payment codes 18 digits from 10–15)",
            wx.base_url()
        );
        println!(
            "                 Alipay gateway {} (open pay_params.pay_url; payment codes 16–24 digits from 25–30); keys in {}",
            ali.gateway_url(),
            data_dir.join("pay").display()
        );
    }
    println!(
        "  Pumps          simulated: {} stations, 1 simulated minute per second (jiayou simulate --help)",
        devices.len()
    );
    println!();
    let mut sim = SimConfig::new(
        base.clone(),
        summary.chain_code.clone(),
        devices.into_iter().map(|(c, s)| SimStation::new(c, s)).collect(),
    );
    sim.cashier = Some(("admin".into(), jiayou_app::demo::STAFF_PASSWORD.into()));
    sim.speed = Some(60.0);
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        // Give the server a moment to listen.
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        match jiayou_integrations::forecourt::sim::run(sim, stop_rx).await {
            Ok(report) => tracing::info!("pump simulator stopped: {}", report.summary()),
            Err(e) => tracing::warn!(error = %e, "pump simulator stopped"),
        }
    });
    let served = run_server(&config, app).await;
    drop((sandboxes, peers));
    served
}

/// Starts the local WeChat Pay and Alipay peers, writes their merchant keys and the
/// peers' public keys under `data_dir/pay/` and loads them through the `[pay]` settings.
async fn demo_pay_peers(
    data_dir: &Path,
) -> anyhow::Result<(pay_config::PaySettings, (WechatPeerHandle, AlipayPeerHandle))> {
    let wx = spawn_wechat_peer(WechatPeerConfig::default()).await?;
    let ali = spawn_alipay_peer(AlipayPeerConfig::default()).await?;
    let dir = data_dir.join("pay");
    std::fs::create_dir_all(&dir)?;
    let write = |name: &str, text: &str| -> anyhow::Result<PathBuf> {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    };
    let w = wx.channel_config();
    let a = ali.channel_config();
    let file = pay_config::PayFile {
        public_base_url: None,
        wechat: vec![pay_config::WechatFile {
            base_url: Some(w.base_url.clone()),
            mchid: w.mchid.clone(),
            appid: w.appid.clone(),
            apiv3_key_file: write("wechat_apiv3.key", &w.apiv3_key)?,
            merchant_serial: w.merchant_serial.clone(),
            merchant_key_file: write("wechat_apiclient_key.pem", &wx.merchant_key_pem())?,
            platform_key_id: w.platform_key_id.clone(),
            platform_key_file: write("wechat_pub_key.pem", &wx.platform_public_key_pem())?,
            ..Default::default()
        }],
        alipay: vec![pay_config::AlipayFile {
            gateway_url: Some(a.gateway_url.clone()),
            app_id: a.app_id.clone(),
            app_private_key_file: write("alipay_app_private_key.pem", &ali.app_private_key_pem())?,
            alipay_public_key_file: write("alipay_public_key.pem", &ali.alipay_public_key_pem())?,
            seller_id: a.seller_id.clone(),
            ..Default::default()
        }],
    };
    let mut settings = pay_config::PaySettings::load(file)?;
    // Demo only: pay_params carry the peer's payer page, for the driver and the simulator.
    for i in &mut settings.instances {
        if let pay_config::ChannelConfig::Wechat(c) = &mut i.channel {
            c.payer_page_url = w.payer_page_url.clone();
        }
    }
    Ok((settings, (wx, ali)))
}

/// Reads the demo's key ring from `data_dir/keys.toml`, creating it on first run.
fn demo_keys(data_dir: &Path) -> anyhow::Result<KeyRing> {
    let text = demo_secret(&data_dir.join("keys.toml"), || {
        let (_, g) = KeyRing::generate();
        format!("keys = \"{}\"\nactive_key = {}\nblind_index_key = \"{}\"\n", g.keys, g.active, g.blind_index_key)
    })?;
    let c: config::CryptoFile = toml::from_str(&text).context("reading demo keys.toml")?;
    let (Some(keys), Some(bidx)) = (c.keys, c.blind_index_key) else {
        anyhow::bail!("demo keys.toml is incomplete; delete the demo data directory to start afresh");
    };
    Ok(KeyRing::from_config(&keys, c.active_key.unwrap_or(1), &bidx)?)
}

/// Reads a file, or creates it with `make()` (mode 0600) when missing.
fn demo_secret(path: &Path, make: impl FnOnce() -> String) -> anyhow::Result<String> {
    if let Ok(s) = std::fs::read_to_string(path) {
        return Ok(s.trim().to_owned());
    }
    let s = make();
    std::fs::write(path, &s).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(s.trim().to_owned())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: draining requests");
}
