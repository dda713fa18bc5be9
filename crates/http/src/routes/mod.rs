//! Handlers, one module per resource. Each handler is a thin adapter: extract, call one
//! use-case on `App`, wrap the result. Paths are absolute so the OpenAPI document and
//! the router cannot disagree.

pub mod alerts;
pub mod audit;
pub mod auth;
pub mod chains;
pub mod devices;
pub mod equipment;
pub mod finder;
pub mod grades;
pub mod health;
pub mod inventory;
pub mod marketing;
pub mod members;
pub mod orders;
pub mod prices;
pub mod risk;
pub mod roles;
pub mod staff;
pub mod stations;
