//! Safety-stock and overstock alerts (B4), raised once per crossing: when a movement
//! takes the book stock from at or above `safety_min` to below it (`stock_low`), or
//! from at or below `overstock_max` to above it (`stock_overstock`). A sale that leaves
//! the stock low, or a second one deeper below, raises nothing more.

use jiayou_store::entity::{station, tank};
use sea_orm::{DatabaseTransaction, EntityTrait};

use crate::AppResult;
use crate::orders::device::raise_alert;

/// Called by `stock::move_stock` after it moved `quantity` into tank `tank_id`, in the
/// same transaction (the tank row is locked by that update on PostgreSQL and MariaDB;
/// SQLite has one writer), so the before/after pair is exact.
pub(crate) async fn after_move(tx: &DatabaseTransaction, tank_id: i64, quantity: i64) -> AppResult<()> {
    let Some(t) = tank::Entity::find_by_id(tank_id).one(tx).await? else {
        return Ok(());
    };
    let after = t.book_stock;
    let before = after - quantity;
    let crossing = if before >= t.safety_min && after < t.safety_min {
        Some(("stock_low", "warning", t.safety_min))
    } else if before <= t.overstock_max && after > t.overstock_max {
        Some(("stock_overstock", "warning", t.overstock_max))
    } else {
        None
    };
    let Some((kind, severity, threshold)) = crossing else {
        return Ok(());
    };
    let Some(st) = station::Entity::find_by_id(t.station_id).one(tx).await? else {
        return Ok(());
    };
    raise_alert(
        tx,
        st.chain_id,
        Some(st.id),
        kind,
        severity,
        None,
        None,
        serde_json::json!({
            "tank_id": t.id, "tank_number": t.number, "book_stock": after, "threshold": threshold,
            "capacity": t.capacity,
        }),
    )
    .await
}
