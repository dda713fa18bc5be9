//! Pure business rules of jiayou. No I/O, no async, no SQL: everything here can be
//! tested without a database, and every other crate builds on these types.

pub mod access;
pub mod audit;
pub mod coupon;
pub mod device_auth;
pub mod field;
pub mod fuel;
pub mod geo;
pub mod grade;
pub mod hours;
pub mod money;
pub mod order;
pub mod risk;
pub mod settlement;
pub mod station;
pub mod vcf;

pub use field::{FieldError, FieldErrorKind};
pub use money::Fen;
