//! The forecourt (F1): pump controllers ("devices") talking to jiayou, and a simulator
//! that drives a station's pumps, drivers and cashier realistically for demos, tests and
//! load.
//!
//! - [`DeviceClient`]: what a pump controller runs. Every request is signed with the
//!   device's secret ([`jiayou_domain::device_auth`]), with a fresh nonce per attempt;
//!   mutating requests carry an `Idempotency-Key` that a retry after a timeout reuses.
//! - [`ApiClient`]: the member (driver's phone) and staff (cashier) calls the simulator
//!   makes, with a bearer token.
//! - [`sim`]: the simulator. [`sim::run`] returns a [`sim::SimReport`].
//!
//! The wire types ([`DeviceConfig`], [`Order`], …) mirror the device and member API of
//! the server; unknown fields are ignored so the server may add some.

mod api;
mod device;
mod error;
pub mod sim;
mod types;
mod wire;

pub use api::ApiClient;
pub use device::DeviceClient;
pub use error::ForecourtError;
pub use types::*;
pub use wire::{new_idempotency_key, new_nonce};
