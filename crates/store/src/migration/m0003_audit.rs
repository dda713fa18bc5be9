//! The audit trail (S6): hash-chained rows per scope, and one head row per scope.
//!
//! A scope is `(chain_id, station_id)`; `station_id = 0` holds chain-level actions and
//! `chain_id = 0` deployment-wide ones, which is why neither column has a foreign key
//! (0 names no row). Each scope is its own chain `seq = 1, 2, …`, so audit writes in
//! different stations never wait for each other. See `jiayou_domain::audit` for the
//! hash and `jiayou_app::audit` for how rows are written.
//!
//! The product never updates or deletes `audit_log` rows; `audit_heads` is updated only
//! by the writer that appends the row it points at, in the same transaction.

use sea_orm_migration::prelude::*;

use super::{Engine, big, big_null, id, index, long_text_null, string, string_null, table};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0003_audit"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let b = Engine::detect(m).await?;

        m.create_table(
            table(b, "audit_log")
                .col(id())
                .col(big("chain_id"))
                // 0 for chain-level actions.
                .col(big("station_id"))
                // 1, 2, 3, … within (chain_id, station_id), without gaps.
                .col(big("seq"))
                .col(big("at_us"))
                // staff, member, device, system, admin_token.
                .col(string("actor_kind", 16))
                .col(big_null("actor_id"))
                // Who, for people (`staff:zhangsan`); never personal data.
                .col(string("actor_label", 128))
                .col(string_null("ip", 64))
                // `noun.verb`: station.update, member.pii.view, …
                .col(string("action", 64))
                .col(string("target_type", 64))
                .col(string_null("target_id", 128))
                // Canonical JSON, masked or id-only where personal data is concerned.
                .col(long_text_null(b, "before_json"))
                .col(long_text_null(b, "after_json"))
                // Lowercase hex of HMAC-SHA256 (64 characters).
                .col(string("prev_hash", 64))
                .col(string("hash", 64))
                .to_owned(),
        )
        .await?;
        m.create_index(index("uq_audit_log_scope_seq", "audit_log", &["chain_id", "station_id", "seq"], true)).await?;
        // The console's searches: by time, by action prefix, by target, by actor.
        m.create_index(index("ix_audit_log_chain_at", "audit_log", &["chain_id", "at_us"], false)).await?;
        m.create_index(index("ix_audit_log_chain_action", "audit_log", &["chain_id", "action"], false)).await?;
        m.create_index(index(
            "ix_audit_log_chain_target",
            "audit_log",
            &["chain_id", "target_type", "target_id"],
            false,
        ))
        .await?;
        m.create_index(index("ix_audit_log_chain_actor", "audit_log", &["chain_id", "actor_id"], false)).await?;

        // One row per scope: the last row's seq and hash. Writers lock it to take turns,
        // and `verify` checks it against the last row, which catches a deleted tail.
        // Keyed by the scope itself: on MySQL an upsert on a duplicate primary key takes
        // a record lock only (no next-key lock), which keeps first-time creation by
        // concurrent writers free of deadlocks.
        m.create_table(
            table(b, "audit_heads")
                .col(big("chain_id"))
                .col(big("station_id"))
                .col(big("seq"))
                .col(string("hash", 64))
                .col(big("updated_at_us"))
                .primary_key(Index::create().col("chain_id").col("station_id"))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in ["audit_heads", "audit_log"] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
