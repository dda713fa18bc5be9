//! Structured logs (P3): human-readable text by default, JSON lines for log shippers.
//! Personal data never reaches a log line: handlers log ids, not payloads.

use tracing_subscriber::EnvFilter;

use crate::config::Config;

pub fn init(config: &Config) {
    let filter = EnvFilter::try_new(&config.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    // `try_init` fails only if a subscriber is already set (tests); keep that one.
    let _ = if config.log_json { builder.json().try_init() } else { builder.try_init() };
}
