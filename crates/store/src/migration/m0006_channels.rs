//! Payment channels (C3) and risk (S1): parked notifications get a chain and a staff
//! resolution; per-chain risk rules and the payments they hold for review; the daily
//! reconciliation of our ledger against each channel's statement. Conventions as in
//! `super`.

use sea_orm_migration::prelude::*;

use super::{Engine, big, big_null, fk, id, index, int_null, long_text_null, string, string_null, table};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0006_channels"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let b = Engine::detect(m).await?;

        // One column per ALTER: SQLite adds only one at a time.
        for col in
            [big_null("chain_id"), big_null("resolved_at_us"), big_null("resolved_by"), string_null("resolution", 200)]
        {
            m.alter_table(Table::alter().table("channel_notifications").add_column(col).to_owned()).await?;
        }
        m.create_index(index(
            "ix_channel_notifications_chain",
            "channel_notifications",
            &["chain_id", "outcome"],
            false,
        ))
        .await?;

        // S1 v1: per chain and scope (member, plate, device), a single-payment ceiling and a frequency limit.
        m.create_table(
            table(b, "risk_rules")
                .col(id())
                .col(big("chain_id"))
                .col(string("scope", 16))
                .col(big_null("max_single_fen"))
                .col(int_null("max_count"))
                .col(int_null("window_minutes"))
                .col(big("updated_at_us"))
                .foreign_key(&mut fk("risk_rules", "chain_id", "chains"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("uq_risk_rules_chain_scope", "risk_rules", &["chain_id", "scope"], true)).await?;

        // A payment a rule held for review: the money is taken, the order waits for staff to release or refund it.
        m.create_table(
            table(b, "risk_holds")
                .col(id())
                .col(big("chain_id"))
                .col(big_null("station_id"))
                .col(big("order_id"))
                .col(string("scope", 16))
                .col(string("reason", 200))
                .col(string("status", 16))
                .col(big("created_at_us"))
                .col(big_null("decided_at_us"))
                .col(big_null("decided_by"))
                .col(string_null("note", 200))
                .foreign_key(&mut fk("risk_holds", "chain_id", "chains"))
                .foreign_key(&mut fk("risk_holds", "order_id", "orders"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("uq_risk_holds_order", "risk_holds", &["order_id"], true)).await?;
        m.create_index(index("ix_risk_holds_chain_status", "risk_holds", &["chain_id", "status", "id"], false)).await?;

        // One reconciliation of a channel merchant's statement for one day against our ledger.
        m.create_table(
            table(b, "reconciliations")
                .col(id())
                .col(big("chain_id"))
                .col(string("channel", 16))
                .col(string("merchant_id", 64))
                .col(string("bill_date", 10))
                .col(string("status", 16))
                .col(big("ours_count"))
                .col(big("ours_fen"))
                .col(big("theirs_count"))
                .col(big("theirs_fen"))
                .col(big("difference_count"))
                .col(long_text_null(b, "differences"))
                .col(string_null("error", 400))
                .col(big("started_at_us"))
                .col(big_null("finished_at_us"))
                .foreign_key(&mut fk("reconciliations", "chain_id", "chains"))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "uq_reconciliations_day",
            "reconciliations",
            &["chain_id", "channel", "merchant_id", "bill_date"],
            true,
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in ["reconciliations", "risk_holds", "risk_rules"] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        m.drop_index(Index::drop().name("ix_channel_notifications_chain").table("channel_notifications").to_owned())
            .await?;
        for c in ["resolution", "resolved_by", "resolved_at_us", "chain_id"] {
            m.alter_table(Table::alter().table("channel_notifications").drop_column(c).to_owned()).await?;
        }
        Ok(())
    }
}
