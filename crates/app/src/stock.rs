//! Tank book stock: every change is an atomic add on `tanks.book_stock` plus one
//! append-only `tank_movements` row, in the caller's transaction (the stock counterpart
//! of the money ledger). Sales take stock when the pump reports them; deliveries and
//! adjustments put it back (B4 adds deliveries and dips).

use jiayou_store::entity::{tank, tank_movement};
use jiayou_store::now_us;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, Set};

use crate::AppResult;

/// Moves `quantity` (signed thousandths: a sale is negative) into tank `tank_id`. Book
/// stock may go below zero: fuel that left the tank has left it, whatever the books say.
pub(crate) async fn move_stock(
    tx: &DatabaseTransaction,
    tank_id: i64,
    station_id: i64,
    kind: &str,
    quantity: i64,
    pump_sale_id: Option<i64>,
) -> AppResult<()> {
    tank::Entity::update_many()
        .col_expr(tank::Column::BookStock, Expr::col(tank::Column::BookStock).add(quantity))
        .filter(tank::Column::Id.eq(tank_id))
        .exec(tx)
        .await?;
    crate::inventory::alerts::after_move(tx, tank_id, quantity).await?;
    tank_movement::ActiveModel {
        tank_id: Set(tank_id),
        station_id: Set(station_id),
        kind: Set(kind.to_owned()),
        quantity: Set(quantity),
        pump_sale_id: Set(pump_sale_id),
        created_at_us: Set(now_us()),
        ..Default::default()
    }
    .insert(tx)
    .await?;
    Ok(())
}
