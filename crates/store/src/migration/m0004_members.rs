//! Members (C5, C6, S2 v1): WeChat identity and the ID number on `members`, vehicles,
//! append-only consent records, member sessions, and one-time SMS sign-in codes.
//!
//! Personal data (ID number, plates, vehicle details) lives only in sealed columns with
//! a blind index beside it where exact lookups are needed, like `members.phone` in m0001.
//! `members` is extended with one `ALTER TABLE … ADD COLUMN` per column: SQLite accepts
//! only one change per statement.

use sea_orm_migration::prelude::*;

use super::{Engine, big, big_null, fk, id, index, int, sealed, string, string_null, table};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0004_members"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let b = Engine::detect(m).await?;

        // WeChat identity: the mini-program's openid (unique per chain; replaced by a
        // tombstone `erased:<id>` when the member deletes the account) and the Open
        // Platform unionid when WeChat gives one. Pseudonymous ids, not S2 personal data.
        for col in [
            string_null("openid", 128),
            string_null("unionid", 128),
            // Sealed; context "members.id_number". Blind index for exact lookups.
            sealed(b, "id_number", true),
            string_null("id_number_bidx", 32),
        ] {
            m.alter_table(Table::alter().table("members").add_column(col).to_owned()).await?;
        }
        m.create_index(index("uq_members_chain_openid", "members", &["chain_id", "openid"], true)).await?;
        m.create_index(index("uq_members_chain_unionid", "members", &["chain_id", "unionid"], true)).await?;
        m.create_index(index("ix_members_id_number_bidx", "members", &["id_number_bidx"], false)).await?;

        // Vehicles (C6). A removed vehicle keeps its row (fuel records will point at it)
        // with every personal column erased; NULL blind indexes never collide, so the
        // unique key holds for live plates only.
        m.create_table(
            table(b, "vehicles")
                .col(id())
                .col(big("chain_id"))
                .col(big("member_id"))
                // Sealed; context "vehicles.plate"; the normalised plate (京A12345).
                .col(sealed(b, "plate", true))
                .col(string_null("plate_bidx", 32))
                // Sealed; context "vehicles.details"; JSON {brand, model, colour, fuel_grade}.
                .col(sealed(b, "details", true))
                .col(big("created_at_us"))
                .col(big("updated_at_us"))
                .col(big_null("deleted_at_us"))
                .foreign_key(&mut fk("vehicles", "chain_id", "chains"))
                .foreign_key(&mut fk("vehicles", "member_id", "members"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("uq_vehicles_chain_plate", "vehicles", &["chain_id", "plate_bidx"], true)).await?;
        m.create_index(index("ix_vehicles_member", "vehicles", &["member_id"], false)).await?;

        // Consent (PIPL arts. 13–14, 24, 28–29): append-only; the state of a kind is its
        // latest row.
        m.create_table(
            table(b, "member_consents")
                .col(id())
                .col(big("chain_id"))
                .col(big("member_id"))
                // privacy_policy, location, personalised_marketing.
                .col(string("kind", 32))
                .col(int("granted"))
                .col(string("policy_version", 32))
                .col(big("at_us"))
                .col(string_null("ip", 64))
                .foreign_key(&mut fk("member_consents", "member_id", "members"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("ix_member_consents_member", "member_consents", &["member_id", "kind", "id"], false))
            .await?;

        m.create_table(
            table(b, "member_sessions")
                .col(id())
                .col(big("member_id"))
                // SHA-256 of the bearer token, as for staff sessions.
                .col(string("token_hash", 64))
                // wechat or sms.
                .col(string("method", 16))
                .col(big("created_at_us"))
                .col(big("last_seen_at_us"))
                .col(big("expires_at_us"))
                .col(big_null("revoked_at_us"))
                .col(string_null("ip", 64))
                .col(string_null("user_agent", 200))
                .foreign_key(&mut fk("member_sessions", "member_id", "members"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("uq_member_sessions_token", "member_sessions", &["token_hash"], true)).await?;
        m.create_index(index("ix_member_sessions_member", "member_sessions", &["member_id"], false)).await?;

        // One-time sign-in codes. The phone is present only as its blind index; the code
        // only as a keyed hash. Rate limits count these rows (several servers agree).
        m.create_table(
            table(b, "sms_codes")
                .col(id())
                .col(big("chain_id"))
                // Blind index of the phone, context "members.phone" (the member's own).
                .col(string("phone_bidx", 32))
                // HMAC of the code under the blind-index key (see jiayou_app::members).
                .col(string("code_hash", 32))
                .col(int("attempts"))
                .col(big("created_at_us"))
                .col(big("expires_at_us"))
                .col(big_null("consumed_at_us"))
                .col(string_null("ip", 64))
                .foreign_key(&mut fk("sms_codes", "chain_id", "chains"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("ix_sms_codes_phone", "sms_codes", &["chain_id", "phone_bidx", "created_at_us"], false))
            .await?;
        m.create_index(index("ix_sms_codes_ip", "sms_codes", &["chain_id", "ip", "created_at_us"], false)).await?;

        // One row per rate-limit scope (`phone:<chain>:<bidx>`, `ip:<chain>:<ip>`): senders
        // upsert it first, which locks it for the rest of their transaction, so two
        // servers cannot both pass a count and both send.
        m.create_table(
            table(b, "sms_throttles")
                .col(string("scope", 96).primary_key().to_owned())
                .col(big("touched_at_us"))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in ["sms_throttles", "sms_codes", "member_sessions", "member_consents", "vehicles"] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        for i in ["uq_members_chain_openid", "uq_members_chain_unionid", "ix_members_id_number_bidx"] {
            m.drop_index(Index::drop().name(i).table("members").to_owned()).await?;
        }
        for c in ["openid", "unionid", "id_number", "id_number_bidx"] {
            m.alter_table(Table::alter().table("members").drop_column(c).to_owned()).await?;
        }
        Ok(())
    }
}
