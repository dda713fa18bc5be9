//! The outside world, each part behind a trait with a local sandbox.
//!
//! Every adapter has three pieces: a trait saying what the app needs, an HTTP client
//! speaking the provider's real protocol, and a sandbox peer (an axum server) speaking
//! the same protocol. Tests and the demo point the real client at the sandbox, so the
//! code that talks to WeChat or the SMS provider in production is the code under test.
//!
//! Secrets, session keys, access tokens, phone numbers and SMS codes never reach a log
//! line from the real adapters (ARCHITECTURE.md, rule 8 of the money path); only the SMS
//! sandbox logs the code it "sent", so a developer can sign in on the demo.

pub mod forecourt;
mod http;
mod mask;
pub mod pay;
pub mod sms;
pub mod wechat;

pub use http::InvalidBaseUrl;
pub use mask::mask_phone;
