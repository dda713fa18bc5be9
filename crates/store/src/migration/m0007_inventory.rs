//! Inventory (B4): deliveries into tanks and measured stock from dips or tank gauges,
//! each with its 20 °C correction (ASTM D1250-80 Table 54B carried to 20 °C as ISO 91-2
//! and GB/T 1885 do; see `jiayou_domain::vcf`). Conventions as in `super`: volumes in
//! mL (thousandths of a litre), densities kg/m³ × 10, temperatures 0.01 °C, VCF × 10 000.

use sea_orm_migration::prelude::*;

use super::{Engine, big, big_null, fk, id, index, int, int_null, string, table};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0007_inventory"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let b = Engine::detect(m).await?;

        // One delivery (卸油) into one tank, with the supplier's note and the dips either side.
        m.create_table(
            table(b, "tank_deliveries")
                .col(id())
                .col(big("chain_id"))
                .col(big("station_id"))
                .col(big("tank_id"))
                .col(string("supplier", 100))
                .col(string("note_no", 64))
                .col(big("quantity"))
                .col(int("temperature"))
                .col(int("density"))
                .col(int("density20"))
                .col(int("vcf20"))
                .col(big("volume20"))
                .col(big_null("dip_before"))
                .col(big_null("dip_after"))
                .col(big_null("staff_id"))
                .col(big("delivered_at_us"))
                .foreign_key(&mut fk("tank_deliveries", "station_id", "stations"))
                .foreign_key(&mut fk("tank_deliveries", "tank_id", "tanks"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("uq_tank_deliveries_station_note", "tank_deliveries", &["station_id", "note_no"], true))
            .await?;
        m.create_index(index("ix_tank_deliveries_tank", "tank_deliveries", &["tank_id", "delivered_at_us"], false))
            .await?;

        // Measured stock: a manual dip (量油) or a tank gauge (液位仪) reading.
        m.create_table(
            table(b, "tank_readings")
                .col(id())
                .col(big("chain_id"))
                .col(big("station_id"))
                .col(big("tank_id"))
                .col(string("source", 16))
                .col(int_null("level_mm"))
                .col(big("volume"))
                .col(int("temperature"))
                .col(int("density"))
                .col(int("density20"))
                .col(int("vcf20"))
                .col(big("volume20"))
                .col(big_null("staff_id"))
                .col(big("read_at_us"))
                .foreign_key(&mut fk("tank_readings", "station_id", "stations"))
                .foreign_key(&mut fk("tank_readings", "tank_id", "tanks"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("ix_tank_readings_tank", "tank_readings", &["tank_id", "read_at_us"], false)).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in ["tank_readings", "tank_deliveries"] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
