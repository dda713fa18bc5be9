//! Staff, their roles and grants, sessions, and nozzle assignments (B5).

use sea_orm_migration::prelude::*;

use super::{Engine, big, big_null, fk, id, index, int, sealed, string, string_null, table, text};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0002_identity"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let b = Engine::detect(m).await?;

        m.create_table(
            table(b, "staff")
                .col(id())
                .col(big("chain_id"))
                .col(string("username", 64))
                .col(string("display_name", 64))
                .col(sealed(b, "phone", true))
                .col(string_null("phone_bidx", 32))
                // PHC string of argon2id: algorithm, parameters, salt and hash together.
                .col(string("password_hash", 255))
                .col(int("failed_logins"))
                .col(big_null("locked_until_us"))
                .col(big_null("disabled_at_us"))
                .col(big("created_at_us"))
                .col(big("updated_at_us"))
                .foreign_key(&mut fk("staff", "chain_id", "chains"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("uq_staff_chain_username", "staff", &["chain_id", "username"], true)).await?;
        m.create_index(index("ix_staff_phone_bidx", "staff", &["phone_bidx"], false)).await?;

        m.create_table(
            table(b, "staff_sessions")
                .col(id())
                .col(big("staff_id"))
                // SHA-256 of the bearer token: a database leak yields no usable tokens.
                .col(string("token_hash", 64))
                .col(big("created_at_us"))
                .col(big("last_seen_at_us"))
                .col(big("expires_at_us"))
                .col(big_null("revoked_at_us"))
                .col(string_null("ip", 64))
                .col(string_null("user_agent", 200))
                .foreign_key(&mut fk("staff_sessions", "staff_id", "staff"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("uq_staff_sessions_token", "staff_sessions", &["token_hash"], true)).await?;
        m.create_index(index("ix_staff_sessions_staff", "staff_sessions", &["staff_id"], false)).await?;

        m.create_table(
            table(b, "roles")
                .col(id())
                .col(big("chain_id"))
                .col(string("code", 32))
                .col(string("name", 64))
                // JSON array of permission names (`jiayou_domain::access::Permission`).
                .col(text("permissions"))
                .col(int("builtin"))
                .col(big("created_at_us"))
                .col(big("updated_at_us"))
                .foreign_key(&mut fk("roles", "chain_id", "chains"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("uq_roles_chain_code", "roles", &["chain_id", "code"], true)).await?;

        m.create_table(
            table(b, "staff_grants")
                .col(id())
                .col(big("staff_id"))
                .col(big("role_id"))
                // 0 = the whole chain. Not NULL, so the unique key below holds for it too.
                .col(big("station_id"))
                .col(big("created_at_us"))
                .foreign_key(&mut fk("staff_grants", "staff_id", "staff"))
                .foreign_key(&mut fk("staff_grants", "role_id", "roles"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("uq_staff_grants", "staff_grants", &["staff_id", "role_id", "station_id"], true)).await?;

        m.create_table(
            table(b, "staff_nozzles")
                .col(id())
                .col(big("staff_id"))
                .col(big("nozzle_id"))
                .col(big("created_at_us"))
                .foreign_key(&mut fk("staff_nozzles", "staff_id", "staff"))
                .foreign_key(&mut fk("staff_nozzles", "nozzle_id", "nozzles"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("uq_staff_nozzles", "staff_nozzles", &["staff_id", "nozzle_id"], true)).await?;

        // Failed staff sign-ins per client address, for the per-address limit (the
        // per-account lockout alone lets anyone lock any account they can name).
        m.create_table(table(b, "staff_login_failures").col(id()).col(string("ip", 64)).col(big("at_us")).to_owned())
            .await?;
        m.create_index(index("ix_staff_login_failures_ip", "staff_login_failures", &["ip", "at_us"], false)).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in ["staff_login_failures", "staff_nozzles", "staff_grants", "roles", "staff_sessions", "staff"] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
