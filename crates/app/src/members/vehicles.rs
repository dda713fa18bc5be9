//! A member's vehicles (C6). The plate is sealed with a blind index (one live vehicle
//! per plate in a chain); brand, model, colour and preferred grade are sealed together
//! as one JSON document. A removed vehicle keeps its row with every personal column
//! erased, for the fuel records that will point at it.

use chrono::{DateTime, Utc};
use jiayou_domain::{FieldError, FieldErrorKind, field};
use jiayou_store::entity::{grade, vehicle};
use jiayou_store::now_us;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::validate::{display_plate, plate as valid_plate};
use super::{DETAILS, MemberAuth, PLATE, internal};
use crate::chains::instant;
use crate::error::Problems;
use crate::{App, AppError, AppResult};

/// Vehicles one member may have.
pub const MAX_VEHICLES: u64 = 10;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVehicle {
    /// 云A12345, 粤BD12345 (dots, spaces and lowercase are accepted).
    pub plate: String,
    pub brand: Option<String>,
    pub model: Option<String>,
    pub colour: Option<String>,
    /// Code of the grade usually bought, e.g. `92`; must be a live grade of the chain.
    pub fuel_grade: Option<String>,
}

/// Changes; for the details an empty string removes the value, an absent field keeps it.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VehicleChange {
    pub plate: Option<String>,
    pub brand: Option<String>,
    pub model: Option<String>,
    pub colour: Option<String>,
    pub fuel_grade: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VehicleView {
    pub id: i64,
    /// 云A·12345.
    pub plate: String,
    pub brand: Option<String>,
    pub model: Option<String>,
    pub colour: Option<String>,
    pub fuel_grade: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The sealed `vehicles.details` document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Details {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub colour: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel_grade: Option<String>,
}

/// Detail fields of a command: absent keeps, empty clears.
struct DetailsPatch<'a> {
    brand: Option<&'a str>,
    model: Option<&'a str>,
    colour: Option<&'a str>,
    fuel_grade: Option<&'a str>,
}

fn plate_taken() -> AppError {
    AppError::conflict("plate_taken", Some("plate"), "该车牌已被本连锁的会员绑定")
}

fn map_duplicate(e: AppError) -> AppError {
    match e {
        AppError::Conflict { code: "duplicate", field: Some("plate"), .. } => plate_taken(),
        e => e,
    }
}

impl App {
    pub(crate) fn vehicle_details(&self, v: &vehicle::Model) -> AppResult<Details> {
        match self.open_sealed(DETAILS, v.details.as_ref())? {
            Some(json) => serde_json::from_str(&json).map_err(|_| internal("vehicles.details: not a details document")),
            None => Ok(Details::default()),
        }
    }

    pub(crate) fn vehicle_plate(&self, v: &vehicle::Model) -> AppResult<String> {
        Ok(self.open_sealed(PLATE, v.plate.as_ref())?.unwrap_or_default())
    }

    fn vehicle_view(&self, v: &vehicle::Model) -> AppResult<VehicleView> {
        let d = self.vehicle_details(v)?;
        Ok(VehicleView {
            id: v.id,
            plate: display_plate(&self.vehicle_plate(v)?),
            brand: d.brand,
            model: d.model,
            colour: d.colour,
            fuel_grade: d.fuel_grade,
            created_at: instant(v.created_at_us),
            updated_at: instant(v.updated_at_us),
        })
    }

    /// Validates the details of a command against the previous ones.
    async fn merge_details(
        &self,
        chain_id: i64,
        p: &mut Problems,
        mut d: Details,
        patch: DetailsPatch<'_>,
    ) -> AppResult<Details> {
        let DetailsPatch { brand, model, colour, fuel_grade } = patch;
        if let Some(v) = brand {
            d.brand = p.check(field::optional_text("brand", Some(v), 32)).flatten();
        }
        if let Some(v) = model {
            d.model = p.check(field::optional_text("model", Some(v), 32)).flatten();
        }
        if let Some(v) = colour {
            d.colour = p.check(field::optional_text("colour", Some(v), 16)).flatten();
        }
        if let Some(v) = fuel_grade {
            d.fuel_grade = None;
            if !v.trim().is_empty()
                && let Some(code) = p.check(field::code("fuel_grade", v))
            {
                let live = grade::Entity::find()
                    .filter(grade::Column::ChainId.eq(chain_id))
                    .filter(grade::Column::ActiveCode.eq(code.as_str()))
                    .count(self.db.reader())
                    .await?;
                if live == 0 {
                    p.push(FieldError::new("fuel_grade", FieldErrorKind::NotFound));
                }
                d.fuel_grade = Some(code);
            }
        }
        Ok(d)
    }

    fn seal_details(&self, d: &Details) -> Option<Vec<u8>> {
        (*d != Details::default())
            .then(|| self.keys.seal(DETAILS, &serde_json::to_string(d).expect("a struct of strings serialises")))
    }

    pub async fn member_vehicles(&self, me: &MemberAuth) -> AppResult<Vec<VehicleView>> {
        let rows = vehicle::Entity::find()
            .filter(vehicle::Column::MemberId.eq(me.member_id))
            .filter(vehicle::Column::DeletedAtUs.is_null())
            .order_by_asc(vehicle::Column::Id)
            .all(self.db.reader())
            .await?;
        rows.iter().map(|v| self.vehicle_view(v)).collect()
    }

    pub async fn member_add_vehicle(&self, me: &MemberAuth, cmd: NewVehicle) -> AppResult<VehicleView> {
        let mut p = Problems::default();
        let plate = p.check(valid_plate("plate", &cmd.plate));
        let details = self
            .merge_details(
                me.chain_id,
                &mut p,
                Details::default(),
                DetailsPatch {
                    brand: cmd.brand.as_deref(),
                    model: cmd.model.as_deref(),
                    colour: cmd.colour.as_deref(),
                    fuel_grade: cmd.fuel_grade.as_deref(),
                },
            )
            .await?;
        p.finish()?;
        let plate = plate.unwrap_or_default();
        let bidx = self.keys.blind_index(PLATE, &plate);
        let now = now_us();
        let tx = self.db.begin().await?;
        self.member_row(&tx, me).await?;
        let live = vehicle::Entity::find()
            .filter(vehicle::Column::MemberId.eq(me.member_id))
            .filter(vehicle::Column::DeletedAtUs.is_null())
            .count(&tx)
            .await?;
        if live >= MAX_VEHICLES {
            return Err(AppError::conflict(
                "vehicle_limit",
                None,
                format!("每个会员最多绑定 {MAX_VEHICLES} 辆车，请先删除不用的车辆"),
            ));
        }
        let taken = vehicle::Entity::find()
            .filter(vehicle::Column::ChainId.eq(me.chain_id))
            .filter(vehicle::Column::PlateBidx.eq(bidx.as_str()))
            .count(&tx)
            .await?;
        if taken > 0 {
            return Err(plate_taken());
        }
        let v = vehicle::ActiveModel {
            chain_id: Set(me.chain_id),
            member_id: Set(me.member_id),
            plate: Set(Some(self.keys.seal(PLATE, &plate))),
            plate_bidx: Set(Some(bidx)),
            details: Set(self.seal_details(&details)),
            created_at_us: Set(now),
            updated_at_us: Set(now),
            deleted_at_us: Set(None),
            ..Default::default()
        }
        .insert(&tx)
        .await
        .map_err(|e| map_duplicate(e.into()))?;
        tx.commit().await?;
        tracing::info!(member_id = me.member_id, vehicle_id = v.id, "member added a vehicle");
        self.vehicle_view(&v)
    }

    async fn own_vehicle<C: sea_orm::ConnectionTrait>(
        &self,
        conn: &C,
        me: &MemberAuth,
        id: i64,
    ) -> AppResult<vehicle::Model> {
        vehicle::Entity::find_by_id(id)
            .one(conn)
            .await?
            .filter(|v| v.member_id == me.member_id && v.deleted_at_us.is_none())
            .ok_or(AppError::NotFound { entity: "vehicle" })
    }

    pub async fn member_update_vehicle(&self, me: &MemberAuth, id: i64, cmd: VehicleChange) -> AppResult<VehicleView> {
        let v = self.own_vehicle(self.db.reader(), me, id).await?;
        let mut p = Problems::default();
        let plate = cmd.plate.as_deref().map(|s| p.check(valid_plate("plate", s)));
        let before = self.vehicle_details(&v)?;
        let details = self
            .merge_details(
                me.chain_id,
                &mut p,
                before.clone(),
                DetailsPatch {
                    brand: cmd.brand.as_deref(),
                    model: cmd.model.as_deref(),
                    colour: cmd.colour.as_deref(),
                    fuel_grade: cmd.fuel_grade.as_deref(),
                },
            )
            .await?;
        p.finish()?;
        let tx = self.db.begin().await?;
        let v = self.own_vehicle(&tx, me, id).await?;
        let mut q = vehicle::Entity::update_many().col_expr(vehicle::Column::UpdatedAtUs, Expr::value(now_us()));
        if let Some(Some(plate)) = plate {
            let bidx = self.keys.blind_index(PLATE, &plate);
            if v.plate_bidx.as_deref() != Some(bidx.as_str()) {
                let taken = vehicle::Entity::find()
                    .filter(vehicle::Column::ChainId.eq(me.chain_id))
                    .filter(vehicle::Column::PlateBidx.eq(bidx.as_str()))
                    .count(&tx)
                    .await?;
                if taken > 0 {
                    return Err(plate_taken());
                }
                q = q
                    .col_expr(vehicle::Column::Plate, Expr::value(Some(self.keys.seal(PLATE, &plate))))
                    .col_expr(vehicle::Column::PlateBidx, Expr::value(Some(bidx)));
            }
        }
        if details != before {
            q = q.col_expr(vehicle::Column::Details, Expr::value(self.seal_details(&details)));
        }
        q.filter(vehicle::Column::Id.eq(v.id)).exec(&tx).await.map_err(|e| map_duplicate(e.into()))?;
        let v = self.own_vehicle(&tx, me, id).await?;
        tx.commit().await?;
        tracing::info!(member_id = me.member_id, vehicle_id = v.id, "member changed a vehicle");
        self.vehicle_view(&v)
    }

    /// Removes a vehicle: its plate and details are erased, the row stays.
    pub async fn member_delete_vehicle(&self, me: &MemberAuth, id: i64) -> AppResult<()> {
        let tx = self.db.begin().await?;
        let v = self.own_vehicle(&tx, me, id).await?;
        let now = now_us();
        vehicle::Entity::update_many()
            .col_expr(vehicle::Column::Plate, Expr::value(Option::<Vec<u8>>::None))
            .col_expr(vehicle::Column::PlateBidx, Expr::value(Option::<String>::None))
            .col_expr(vehicle::Column::Details, Expr::value(Option::<Vec<u8>>::None))
            .col_expr(vehicle::Column::DeletedAtUs, Expr::value(Some(now)))
            .col_expr(vehicle::Column::UpdatedAtUs, Expr::value(now))
            .filter(vehicle::Column::Id.eq(v.id))
            .exec(&tx)
            .await?;
        tx.commit().await?;
        tracing::info!(member_id = me.member_id, vehicle_id = v.id, "member removed a vehicle");
        Ok(())
    }
}
