//! Storage errors, with unique-constraint violations translated to the field they
//! protect. The raw driver message is never shown to users: MariaDB's contains the
//! duplicate *value*, which may be personal data.

use sea_orm::{DbErr, SqlErr};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique key refused the write; `field` is the API field it protects.
    #[error("duplicate value for {field}")]
    Duplicate { field: &'static str },
    /// A foreign key refused the write (a referenced row is missing or still in use).
    #[error("reference violated")]
    Reference,
    #[error("database error: {0}")]
    Db(DbErr),
}

/// Every unique index of the schema, the columns SQLite names in its message, and the
/// API field to blame. PostgreSQL and MariaDB name the index itself.
const UNIQUE_KEYS: &[(&str, &str, &str)] = &[
    ("uq_chains_code", "chains.code", "code"),
    ("uq_grades_chain_code", "grades.chain_id, grades.active_code", "code"),
    ("uq_stations_chain_code", "stations.chain_id, stations.code", "code"),
    ("uq_tanks_station_number", "tanks.station_id, tanks.active_number", "number"),
    ("uq_pumps_station_number", "pumps.station_id, pumps.active_number", "number"),
    ("uq_nozzles_station_number", "nozzles.station_id, nozzles.active_number", "number"),
    ("uq_station_prices_station_grade", "station_prices.station_id, station_prices.grade_id", "grade_id"),
    ("uq_members_chain_phone", "members.chain_id, members.phone_bidx", "phone"),
    ("uq_members_chain_openid", "members.chain_id, members.openid", "openid"),
    ("uq_members_chain_unionid", "members.chain_id, members.unionid", "unionid"),
    ("uq_vehicles_chain_plate", "vehicles.chain_id, vehicles.plate_bidx", "plate"),
    ("uq_member_sessions_token", "member_sessions.token_hash", "token"),
    ("uq_audit_log_scope_seq", "audit_log.chain_id, audit_log.station_id, audit_log.seq", "seq"),
    ("uq_staff_chain_username", "staff.chain_id, staff.username", "username"),
    ("uq_staff_sessions_token", "staff_sessions.token_hash", "token"),
    ("uq_roles_chain_code", "roles.chain_id, roles.code", "code"),
    ("uq_staff_grants", "staff_grants.staff_id, staff_grants.role_id, staff_grants.station_id", "grants"),
    ("uq_staff_nozzles", "staff_nozzles.staff_id, staff_nozzles.nozzle_id", "nozzle_ids"),
    ("uq_wallets_member", "wallets.member_id", "member_id"),
    ("uq_orders_order_no", "orders.order_no", "order_no"),
    ("uq_payments_out_trade_no", "payments.out_trade_no", "out_trade_no"),
    ("uq_refunds_out_refund_no", "refunds.out_refund_no", "out_refund_no"),
    ("uq_idempotency_keys_scope_key", "idempotency_keys.scope, idempotency_keys.idem_key", "idempotency_key"),
    ("uq_devices_code", "devices.code", "code"),
    ("uq_device_nonces", "device_nonces.device_id, device_nonces.nonce", "nonce"),
    ("uq_nozzle_states_nozzle", "nozzle_states.nozzle_id", "nozzle_id"),
    ("uq_pump_sales_device_sale", "pump_sales.device_id, pump_sales.device_sale_id", "sale_id"),
    ("uq_pump_authorisations_order", "pump_authorisations.order_id", "order_id"),
    ("uq_payment_policies_chain", "payment_policies.chain_id", "chain_id"),
    ("uq_risk_rules_chain_scope", "risk_rules.chain_id, risk_rules.scope", "scope"),
    ("uq_risk_holds_order", "risk_holds.order_id", "order_id"),
    ("uq_tank_deliveries_station_note", "tank_deliveries.station_id, tank_deliveries.note_no", "note_no"),
    (
        "uq_reconciliations_day",
        "reconciliations.chain_id, reconciliations.channel, reconciliations.merchant_id, reconciliations.bill_date",
        "bill_date",
    ),
];

impl From<DbErr> for StoreError {
    fn from(e: DbErr) -> Self {
        match e.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(msg)) => {
                let field = UNIQUE_KEYS
                    .iter()
                    .find(|(index, sqlite_cols, _)| msg.contains(index) || msg.contains(sqlite_cols))
                    .map(|(_, _, field)| *field)
                    .unwrap_or("id");
                StoreError::Duplicate { field }
            }
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => StoreError::Reference,
            _ => StoreError::Db(e),
        }
    }
}
