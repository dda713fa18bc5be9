//! Chains, grades, stations and their equipment, prices, and the first personal-data
//! table (members), which carries the encrypted-column convention from the start.

use sea_orm_migration::prelude::*;

use super::{Engine, big, big_null, fk, id, index, int, int_null, sealed, string, string_null, table, text};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0001_platform"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let b = Engine::detect(m).await?;

        // A chain is a tenant: one deployment may serve several (SaaS operator).
        m.create_table(
            table(b, "chains")
                .col(id())
                .col(string("code", 32))
                .col(string("name", 64))
                .col(string("time_zone", 64))
                .col(big("created_at_us"))
                .col(big("updated_at_us"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("uq_chains_code", "chains", &["code"], true)).await?;

        m.create_table(
            table(b, "grades")
                .col(id())
                .col(big("chain_id"))
                .col(string("code", 32))
                // The code while the grade is live: a retired grade frees its code.
                .col(string_null("active_code", 32))
                .col(string("name", 64))
                .col(string("energy_type", 16))
                .col(string("unit", 8))
                .col(big_null("retired_at_us"))
                .col(big("created_at_us"))
                .col(big("updated_at_us"))
                .foreign_key(&mut fk("grades", "chain_id", "chains"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("uq_grades_chain_code", "grades", &["chain_id", "active_code"], true)).await?;

        m.create_table(
            table(b, "stations")
                .col(id())
                .col(big("chain_id"))
                .col(string("code", 32))
                .col(string("name", 64))
                .col(string("address", 200))
                .col(string_null("phone", 32))
                // WGS-84 in 1e-7 degrees (≈1 cm): exact integers on every engine.
                .col(big("lng_e7"))
                .col(big("lat_e7"))
                // Latitude band of the grid index used by the nearby search.
                .col(int("grid_row"))
                .col(string("time_zone", 64))
                .col(text("hours"))
                .col(text("amenities"))
                .col(big_null("retired_at_us"))
                .col(big("created_at_us"))
                .col(big("updated_at_us"))
                .col(int("revision"))
                .foreign_key(&mut fk("stations", "chain_id", "chains"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("uq_stations_chain_code", "stations", &["chain_id", "code"], true)).await?;
        // The spatial index: a B-tree over (latitude band, longitude) turns a radius search
        // into a handful of narrow range scans, on all three engines, without extensions.
        m.create_index(index("ix_stations_grid", "stations", &["grid_row", "lng_e7"], false)).await?;

        m.create_table(
            table(b, "tanks")
                .col(id())
                .col(big("station_id"))
                .col(int("number"))
                .col(int_null("active_number"))
                .col(big("grade_id"))
                // Thousandths of the grade's unit (ml for litres).
                .col(big("capacity"))
                .col(big("safety_min"))
                .col(big("overstock_max"))
                .col(big_null("retired_at_us"))
                .col(big("created_at_us"))
                .col(big("updated_at_us"))
                .foreign_key(&mut fk("tanks", "station_id", "stations"))
                .foreign_key(&mut fk("tanks", "grade_id", "grades"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("uq_tanks_station_number", "tanks", &["station_id", "active_number"], true)).await?;

        m.create_table(
            table(b, "pumps")
                .col(id())
                .col(big("station_id"))
                .col(int("number"))
                .col(int_null("active_number"))
                .col(string_null("name", 64))
                .col(big_null("retired_at_us"))
                .col(big("created_at_us"))
                .col(big("updated_at_us"))
                .foreign_key(&mut fk("pumps", "station_id", "stations"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("uq_pumps_station_number", "pumps", &["station_id", "active_number"], true)).await?;

        m.create_table(
            table(b, "nozzles")
                .col(id())
                .col(big("station_id"))
                .col(big("pump_id"))
                // The number painted on the nozzle: unique among a station's live nozzles.
                .col(int("number"))
                .col(int_null("active_number"))
                .col(big("grade_id"))
                .col(big("tank_id"))
                .col(big_null("retired_at_us"))
                .col(big("created_at_us"))
                .col(big("updated_at_us"))
                .foreign_key(&mut fk("nozzles", "station_id", "stations"))
                .foreign_key(&mut fk("nozzles", "pump_id", "pumps"))
                .foreign_key(&mut fk("nozzles", "grade_id", "grades"))
                .foreign_key(&mut fk("nozzles", "tank_id", "tanks"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("uq_nozzles_station_number", "nozzles", &["station_id", "active_number"], true)).await?;
        m.create_index(index("ix_nozzles_pump", "nozzles", &["pump_id"], false)).await?;

        // Current price per station and grade. `version` increases with every change and
        // is what an order records; the history table below keeps every version.
        m.create_table(
            table(b, "station_prices")
                .col(id())
                .col(big("station_id"))
                .col(big("grade_id"))
                .col(big("list_price_fen"))
                .col(big("member_price_fen"))
                .col(big("version"))
                .col(big("updated_at_us"))
                .foreign_key(&mut fk("station_prices", "station_id", "stations"))
                .foreign_key(&mut fk("station_prices", "grade_id", "grades"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("uq_station_prices_station_grade", "station_prices", &["station_id", "grade_id"], true))
            .await?;

        m.create_table(
            table(b, "price_history")
                .col(id())
                .col(big("station_id"))
                .col(big("grade_id"))
                .col(big("list_price_fen"))
                .col(big("member_price_fen"))
                .col(big("version"))
                .col(big("effective_at_us"))
                .col(string_null("reason", 200))
                .col(big("created_at_us"))
                .foreign_key(&mut fk("price_history", "station_id", "stations"))
                .foreign_key(&mut fk("price_history", "grade_id", "grades"))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "ix_price_history_station_grade",
            "price_history",
            &["station_id", "grade_id", "effective_at_us"],
            false,
        ))
        .await?;

        // Members: the identity issue extends this. Personal fields are sealed from day one.
        m.create_table(
            table(b, "members")
                .col(id())
                .col(big("chain_id"))
                .col(sealed(b, "phone", true))
                .col(string_null("phone_bidx", 32))
                .col(sealed(b, "name", true))
                .col(big("created_at_us"))
                .col(big("updated_at_us"))
                .col(big_null("erased_at_us"))
                .foreign_key(&mut fk("members", "chain_id", "chains"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("uq_members_chain_phone", "members", &["chain_id", "phone_bidx"], true)).await?;

        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in
            ["members", "price_history", "station_prices", "nozzles", "pumps", "tanks", "stations", "grades", "chains"]
        {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
