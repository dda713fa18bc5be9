//! SeaORM entities, one per table of the migration set. Rows are plain data; the
//! rules live in `jiayou_domain` and the use-cases in `jiayou_app`.

pub mod audit_head;
pub mod audit_log;
pub mod chain;
pub mod grade;
pub mod member;
pub mod member_consent;
pub mod member_session;
pub mod nozzle;
pub mod price_history;
pub mod pump;
pub mod role;
pub mod sms_code;
pub mod sms_throttle;
pub mod staff;
pub mod staff_grant;
pub mod staff_login_failure;
pub mod staff_nozzle;
pub mod staff_session;
pub mod station;
pub mod station_price;
pub mod tank;
pub mod vehicle;
