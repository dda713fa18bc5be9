//! The money path (C2, C3, C12, C14, B10, F1): orders and how they were paid, wallets and
//! their append-only ledger, coupons, top-up rules, idempotency keys, pump controllers
//! with their sales and authorisations, live nozzle states, tank stock movements, alerts
//! and the outbox. Conventions as in `super`.

use sea_orm_migration::prelude::*;

use super::{
    Engine, big, big_null, fk, id, index, int, int_null, long_text_null, sealed, string, string_null, table, text,
};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0005_money"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let b = Engine::detect(m).await?;

        // Book stock of each tank in thousandths; sales deduct it (fuel left the tank).
        m.alter_table(
            Table::alter()
                .table("tanks")
                .add_column(ColumnDef::new("book_stock").big_integer().not_null().default(0))
                .to_owned(),
        )
        .await?;
        // Plate pay (无感支付): set while the member allows balance auto-pay for this plate.
        m.alter_table(Table::alter().table("vehicles").add_column(big_null("autopay_enabled_at_us")).to_owned())
            .await?;

        // Per chain: the order payment instruments are applied in, points rates, hold and payment windows, plate-pay limit.
        m.create_table(
            table(b, "payment_policies")
                .col(id())
                .col(big("chain_id"))
                .col(text("policy"))
                .col(int("hold_seconds"))
                .col(int("pay_window_seconds"))
                .col(big("autopay_max_fen"))
                .col(big("updated_at_us"))
                .foreign_key(&mut fk("payment_policies", "chain_id", "chains"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("uq_payment_policies_chain", "payment_policies", &["chain_id"], true)).await?;

        // Stored value and points of a member (C12). Every change has its ledger rows; the sums must match.
        m.create_table(
            table(b, "wallets")
                .col(id())
                .col(big("chain_id"))
                .col(big("member_id"))
                .col(big("paid_fen"))
                .col(big("bonus_fen"))
                .col(big("points"))
                .col(big("updated_at_us"))
                .foreign_key(&mut fk("wallets", "chain_id", "chains"))
                .foreign_key(&mut fk("wallets", "member_id", "members"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("uq_wallets_member", "wallets", &["member_id"], true)).await?;

        // Append-only money and points movements. Never updated or deleted.
        m.create_table(
            table(b, "ledger_entries")
                .col(id())
                .col(big("chain_id"))
                .col(big_null("station_id"))
                .col(big_null("member_id"))
                .col(big_null("order_id"))
                .col(big_null("refund_id"))
                .col(string("account", 24))
                .col(string("kind", 24))
                .col(big("amount"))
                .col(big("created_at_us"))
                .foreign_key(&mut fk("ledger_entries", "chain_id", "chains"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("ix_ledger_entries_member", "ledger_entries", &["member_id", "account"], false)).await?;
        m.create_index(index("ix_ledger_entries_order", "ledger_entries", &["order_id"], false)).await?;
        m.create_index(index("ix_ledger_entries_chain", "ledger_entries", &["chain_id", "created_at_us"], false))
            .await?;

        // A coupon in a member's wallet (C14). Used once: the claim is a conditional update on `status`.
        m.create_table(
            table(b, "coupons")
                .col(id())
                .col(big("chain_id"))
                .col(big("member_id"))
                .col(string("title", 64))
                .col(text("rule"))
                .col(int("stackable"))
                .col(text("grade_ids"))
                .col(big("valid_from_us"))
                .col(big("valid_until_us"))
                .col(string("status", 16))
                .col(big_null("used_order_id"))
                .col(big_null("used_at_us"))
                .col(string("source", 32))
                .col(big("created_at_us"))
                .foreign_key(&mut fk("coupons", "chain_id", "chains"))
                .foreign_key(&mut fk("coupons", "member_id", "members"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("ix_coupons_member", "coupons", &["member_id", "status"], false)).await?;

        // Top-up bonus rules (充500送50, 充1000送券, 充100送积分).
        m.create_table(
            table(b, "topup_rules")
                .col(id())
                .col(big("chain_id"))
                .col(string("name", 64))
                .col(big("min_amount_fen"))
                .col(big("bonus_fen"))
                .col(big("bonus_points"))
                .col(long_text_null(b, "coupon_rule"))
                .col(int("coupon_count"))
                .col(int("coupon_valid_days"))
                .col(big("created_at_us"))
                .col(big_null("retired_at_us"))
                .foreign_key(&mut fk("topup_rules", "chain_id", "chains"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("ix_topup_rules_chain", "topup_rules", &["chain_id"], false)).await?;

        // An order: a fueling, a counter sale or a top-up, with its status (see `jiayou_domain::order`).
        m.create_table(
            table(b, "orders")
                .col(id())
                .col(big("chain_id"))
                .col(big_null("station_id"))
                .col(string("order_no", 32))
                .col(string("kind", 16))
                .col(string("status", 24))
                .col(big_null("member_id"))
                .col(big_null("nozzle_id"))
                .col(big_null("grade_id"))
                .col(big_null("pump_sale_id"))
                .col(big_null("price_version"))
                .col(big_null("unit_price_fen"))
                .col(string_null("price_kind", 16))
                .col(big_null("requested_amount_fen"))
                .col(big_null("requested_quantity"))
                .col(big("gross_fen"))
                .col(big("discount_fen"))
                .col(big("points_used"))
                .col(big("points_fen"))
                .col(big("payable_fen"))
                .col(big("paid_fen"))
                .col(big("refunded_fen"))
                .col(big("points_earned"))
                .col(big_null("dispensed_quantity"))
                .col(big_null("dispensed_amount_fen"))
                .col(long_text_null(b, "plan"))
                .col(long_text_null(b, "items"))
                .col(long_text_null(b, "promotion_versions"))
                .col(string_null("acquisition_channel", 32))
                .col(big_null("reservation_id"))
                .col(big_null("hold_expires_at_us"))
                .col(big_null("cashier_staff_id"))
                .col(big_null("attendant_staff_id"))
                .col(big_null("topup_rule_id"))
                .col(big("version"))
                .col(big("created_at_us"))
                .col(big("updated_at_us"))
                .col(big_null("paid_at_us"))
                .col(big_null("completed_at_us"))
                .col(big_null("closed_at_us"))
                .foreign_key(&mut fk("orders", "chain_id", "chains"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("uq_orders_order_no", "orders", &["order_no"], true)).await?;
        m.create_index(index("ix_orders_station_created", "orders", &["station_id", "created_at_us"], false)).await?;
        m.create_index(index("ix_orders_member_created", "orders", &["member_id", "created_at_us"], false)).await?;
        m.create_index(index("ix_orders_status_hold", "orders", &["status", "hold_expires_at_us"], false)).await?;
        m.create_index(index("ix_orders_nozzle_status", "orders", &["nozzle_id", "status"], false)).await?;
        m.create_index(index("ix_orders_chain_created", "orders", &["chain_id", "created_at_us"], false)).await?;

        // One attempt to take money from outside the wallet: a channel payment, cash, card or a payment code.
        m.create_table(
            table(b, "payments")
                .col(id())
                .col(big("chain_id"))
                .col(big("order_id"))
                .col(string("method", 16))
                .col(string_null("channel", 16))
                .col(string_null("out_trade_no", 32))
                .col(string_null("transaction_id", 64))
                .col(big("amount_fen"))
                .col(big_null("received_fen"))
                .col(string_null("reference", 64))
                .col(long_text_null(b, "pay_params"))
                .col(string("status", 16))
                .col(big_null("next_query_at_us"))
                .col(int("query_attempts"))
                .col(big_null("claimed_until_us"))
                .col(big("created_at_us"))
                .col(big("updated_at_us"))
                .col(big_null("settled_at_us"))
                .foreign_key(&mut fk("payments", "chain_id", "chains"))
                .foreign_key(&mut fk("payments", "order_id", "orders"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("uq_payments_out_trade_no", "payments", &["out_trade_no"], true)).await?;
        m.create_index(index("ix_payments_order", "payments", &["order_id"], false)).await?;
        m.create_index(index("ix_payments_status_next", "payments", &["status", "next_query_at_us"], false)).await?;

        // Money given back for an order: by staff, underfill (预付退差), cancellation or a late channel success.
        m.create_table(
            table(b, "refunds")
                .col(id())
                .col(big("chain_id"))
                .col(big("order_id"))
                .col(string("out_refund_no", 32))
                .col(big("amount_fen"))
                .col(string("reason", 200))
                .col(string("kind", 24))
                .col(string("status", 16))
                .col(text("lines"))
                .col(big_null("staff_id"))
                .col(big("points_reversed"))
                .col(big("created_at_us"))
                .col(big_null("settled_at_us"))
                .foreign_key(&mut fk("refunds", "chain_id", "chains"))
                .foreign_key(&mut fk("refunds", "order_id", "orders"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("uq_refunds_out_refund_no", "refunds", &["out_refund_no"], true)).await?;
        m.create_index(index("ix_refunds_order", "refunds", &["order_id"], false)).await?;
        // The refund job and every money call look for refunds still pending at the channel.
        m.create_index(index("ix_refunds_status", "refunds", &["status", "id"], false)).await?;

        // Stripe-style idempotency keys: the first response is stored and replayed.
        m.create_table(
            table(b, "idempotency_keys")
                .col(id())
                .col(string("scope", 64))
                .col(string("idem_key", 128))
                .col(string("request_hash", 64))
                .col(string("state", 16))
                .col(int_null("response_status"))
                .col(long_text_null(b, "response_body"))
                .col(big("created_at_us"))
                .col(big("expires_at_us"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("uq_idempotency_keys_scope_key", "idempotency_keys", &["scope", "idem_key"], true))
            .await?;
        m.create_index(index("ix_idempotency_keys_expires", "idempotency_keys", &["expires_at_us"], false)).await?;

        // A pump controller with its own HMAC key (F1).
        m.create_table(
            table(b, "devices")
                .col(id())
                .col(big("chain_id"))
                .col(big("station_id"))
                .col(string("code", 64))
                .col(string("name", 64))
                .col(sealed(b, "secret", false))
                .col(big("created_at_us"))
                .col(big("updated_at_us"))
                .col(big_null("last_seen_at_us"))
                .col(big_null("retired_at_us"))
                .foreign_key(&mut fk("devices", "chain_id", "chains"))
                .foreign_key(&mut fk("devices", "station_id", "stations"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("uq_devices_code", "devices", &["code"], true)).await?;
        m.create_index(index("ix_devices_station", "devices", &["station_id"], false)).await?;

        // Nonces seen from devices within the signature window: a replay collides here.
        m.create_table(
            table(b, "device_nonces")
                .col(id())
                .col(big("device_id"))
                .col(string("nonce", 64))
                .col(big("seen_at_us"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("uq_device_nonces", "device_nonces", &["device_id", "nonce"], true)).await?;
        m.create_index(index("ix_device_nonces_seen", "device_nonces", &["seen_at_us"], false)).await?;

        // Live state of a nozzle and who holds it. Holds are conditional updates.
        m.create_table(
            table(b, "nozzle_states")
                .col(id())
                .col(big("nozzle_id"))
                .col(big("station_id"))
                .col(string("status", 16))
                .col(big_null("held_order_id"))
                .col(big_null("hold_expires_at_us"))
                .col(big("totalizer"))
                .col(big("updated_at_us"))
                .foreign_key(&mut fk("nozzle_states", "nozzle_id", "nozzles"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("uq_nozzle_states_nozzle", "nozzle_states", &["nozzle_id"], true)).await?;
        m.create_index(index("ix_nozzle_states_station", "nozzle_states", &["station_id"], false)).await?;

        // A sale as the pump reported it. Immutable; the order it became is linked.
        m.create_table(
            table(b, "pump_sales")
                .col(id())
                .col(big("chain_id"))
                .col(big("station_id"))
                .col(big("device_id"))
                .col(string("device_sale_id", 64))
                .col(big("nozzle_id"))
                .col(big("grade_id"))
                .col(big("tank_id"))
                .col(big("amount_fen"))
                .col(big("quantity"))
                .col(big("unit_price_fen"))
                .col(big("totalizer"))
                .col(big_null("attendant_staff_id"))
                .col(string_null("plate_bidx", 32))
                .col(big_null("authorisation_id"))
                .col(big_null("order_id"))
                .col(int("consistent"))
                .col(big("reported_at_us"))
                .foreign_key(&mut fk("pump_sales", "chain_id", "chains"))
                .foreign_key(&mut fk("pump_sales", "device_id", "devices"))
                .foreign_key(&mut fk("pump_sales", "nozzle_id", "nozzles"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("uq_pump_sales_device_sale", "pump_sales", &["device_id", "device_sale_id"], true))
            .await?;
        m.create_index(index("ix_pump_sales_station", "pump_sales", &["station_id", "reported_at_us"], false)).await?;
        m.create_index(index("ix_pump_sales_nozzle", "pump_sales", &["nozzle_id", "reported_at_us"], false)).await?;

        // A paid pre-order waiting for its pump.
        m.create_table(
            table(b, "pump_authorisations")
                .col(id())
                .col(big("chain_id"))
                .col(big("station_id"))
                .col(big("nozzle_id"))
                .col(big("order_id"))
                .col(big_null("preset_amount_fen"))
                .col(big_null("preset_quantity"))
                .col(big("unit_price_fen"))
                .col(big("price_version"))
                .col(string("status", 16))
                .col(big("expires_at_us"))
                .col(big("created_at_us"))
                .col(big("updated_at_us"))
                .foreign_key(&mut fk("pump_authorisations", "order_id", "orders"))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "ix_pump_authorisations_station",
            "pump_authorisations",
            &["station_id", "status"],
            false,
        ))
        .await?;
        m.create_index(index("uq_pump_authorisations_order", "pump_authorisations", &["order_id"], true)).await?;

        // Append-only movements of a tank's book stock (sales now; deliveries with B4).
        m.create_table(
            table(b, "tank_movements")
                .col(id())
                .col(big("tank_id"))
                .col(big("station_id"))
                .col(string("kind", 16))
                .col(big("quantity"))
                .col(big_null("pump_sale_id"))
                .col(big("created_at_us"))
                .foreign_key(&mut fk("tank_movements", "tank_id", "tanks"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("ix_tank_movements_tank", "tank_movements", &["tank_id", "created_at_us"], false)).await?;

        // Abnormal situations for staff (B3): inconsistent sales now, more with B3.
        m.create_table(
            table(b, "alerts")
                .col(id())
                .col(big("chain_id"))
                .col(big_null("station_id"))
                .col(string("kind", 32))
                .col(string("severity", 16))
                .col(big_null("order_id"))
                .col(big_null("pump_sale_id"))
                .col(text("detail"))
                .col(string("status", 16))
                .col(big("created_at_us"))
                .col(big_null("acknowledged_by"))
                .col(big_null("acknowledged_at_us"))
                .col(big_null("resolved_at_us"))
                .foreign_key(&mut fk("alerts", "chain_id", "chains"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("ix_alerts_chain_status", "alerts", &["chain_id", "status", "created_at_us"], false))
            .await?;

        // Events written in the transaction of the change; publishers and pollers read them.
        m.create_table(
            table(b, "outbox_events")
                .col(id())
                .col(big("chain_id"))
                .col(big_null("station_id"))
                .col(big_null("member_id"))
                .col(big_null("order_id"))
                .col(string("topic", 48))
                .col(text("payload"))
                .col(big("created_at_us"))
                .col(big_null("published_at_us"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("ix_outbox_events_order", "outbox_events", &["order_id", "id"], false)).await?;
        m.create_index(index("ix_outbox_events_station", "outbox_events", &["station_id", "id"], false)).await?;
        m.create_index(index("ix_outbox_events_unpublished", "outbox_events", &["published_at_us", "id"], false))
            .await?;

        // Every verified channel notification and what was done with it; unknown orders stay parked for staff.
        m.create_table(
            table(b, "channel_notifications")
                .col(id())
                .col(string("channel", 16))
                .col(string("kind", 16))
                .col(string_null("out_trade_no", 32))
                .col(string_null("out_refund_no", 32))
                .col(big("amount_fen"))
                .col(string("outcome", 24))
                .col(long_text_null(b, "body"))
                .col(big("received_at_us"))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "ix_channel_notifications_outcome",
            "channel_notifications",
            &["outcome", "received_at_us"],
            false,
        ))
        .await?;

        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            "channel_notifications",
            "outbox_events",
            "alerts",
            "tank_movements",
            "pump_authorisations",
            "pump_sales",
            "nozzle_states",
            "device_nonces",
            "devices",
            "idempotency_keys",
            "refunds",
            "payments",
            "orders",
            "topup_rules",
            "coupons",
            "ledger_entries",
            "wallets",
            "payment_policies",
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
