//! SeaORM entities, one per table of the migration set. Rows are plain data; the
//! rules live in `jiayou_domain` and the use-cases in `jiayou_app`.

pub mod chain;
pub mod grade;
pub mod member;
pub mod nozzle;
pub mod price_history;
pub mod pump;
pub mod station;
pub mod station_price;
pub mod tank;
