//! The staff's view of a member (B7 v1): lookup by exact phone number through the
//! blind index, and one member by id. Personal data is masked (138****1234, 张*,
//! 5301**********1234, 云A·***45) unless the caller holds `pii.read`; vehicle details are
//! shown only then. Every view is recorded in the audit trail (`member.pii.view`, with
//! the field names shown and whether they were masked, never their values) in the same
//! transaction as the read.

use chrono::{DateTime, Utc};
use jiayou_domain::access::{Permission, Target, mask_id_number, mask_name, mask_phone, mask_plate};
use jiayou_domain::{FieldError, FieldErrorKind};
use jiayou_store::entity::{member, vehicle};
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::consent::{ConsentState, consent_state};
use super::validate::{display_plate, mobile};
use super::{ID_NUMBER, NAME, PHONE};
use crate::audit::AuditEntry;
use crate::chains::instant;
use crate::{App, AppError, AppResult, Caller};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MemberFilter {
    /// The chain (staff: their own chain, always).
    pub chain_id: Option<i64>,
    /// Exact mobile number to look up.
    pub phone: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberVehicleAdminView {
    pub id: i64,
    /// Masked (云A·***45) without `pii.read`.
    pub plate: String,
    /// Vehicle details: shown with `pii.read` only.
    pub brand: Option<String>,
    pub model: Option<String>,
    pub colour: Option<String>,
    pub fuel_grade: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberAdminView {
    pub id: i64,
    pub chain_id: i64,
    /// Masked (138****1234) without `pii.read`.
    pub phone: Option<String>,
    /// Masked (张*) without `pii.read`.
    pub name: Option<String>,
    /// Masked (5301**********1234) without `pii.read`.
    pub id_number: Option<String>,
    pub vehicles: Vec<MemberVehicleAdminView>,
    pub wechat_bound: bool,
    /// Whether personal fields were masked for this caller.
    pub masked: bool,
    pub consents: ConsentState,
    pub created_at: DateTime<Utc>,
    /// Set when the member deleted their account (personal data erased).
    pub erased_at: Option<DateTime<Utc>>,
}

impl App {
    /// Members of a chain with exactly this phone number (0 or 1).
    pub async fn find_members(&self, caller: &Caller, f: &MemberFilter) -> AppResult<Vec<MemberAdminView>> {
        let chain_id = caller
            .access
            .chain_id()
            .or(f.chain_id)
            .ok_or_else(|| AppError::field(FieldError::new("chain_id", FieldErrorKind::Required)))?;
        caller.require_anywhere(Permission::MemberRead, chain_id)?;
        let phone = mobile("phone", f.phone.as_deref().unwrap_or(""))?;
        let bidx = self.keys.blind_index(PHONE, &phone);
        let tx = self.db.begin().await?;
        let rows = member::Entity::find()
            .filter(member::Column::ChainId.eq(chain_id))
            .filter(member::Column::PhoneBidx.eq(bidx))
            .order_by_asc(member::Column::Id)
            .all(&tx)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for m in rows {
            out.push(self.admin_view(&tx, caller, m).await?);
        }
        tx.commit().await?;
        Ok(out)
    }

    pub async fn get_member(&self, caller: &Caller, id: i64) -> AppResult<MemberAdminView> {
        let tx = self.db.begin().await?;
        let m = member::Entity::find_by_id(id).one(&tx).await?.ok_or(AppError::NotFound { entity: "member" })?;
        caller.require_anywhere(Permission::MemberRead, m.chain_id)?;
        let view = self.admin_view(&tx, caller, m).await?;
        tx.commit().await?;
        Ok(view)
    }

    /// Reads the member's vehicles in `tx`, records the view in the audit trail, and
    /// builds the masked or full view.
    async fn admin_view(
        &self,
        tx: &DatabaseTransaction,
        caller: &Caller,
        m: member::Model,
    ) -> AppResult<MemberAdminView> {
        let full = caller.require(Permission::PiiRead, Target::Chain(m.chain_id)).is_ok();
        let vehicles = vehicle::Entity::find()
            .filter(vehicle::Column::MemberId.eq(m.id))
            .filter(vehicle::Column::DeletedAtUs.is_null())
            .order_by_asc(vehicle::Column::Id)
            .all(tx)
            .await?;
        let mut shown: Vec<&str> = Vec::new();
        for (present, name) in [
            (m.phone.is_some(), "phone"),
            (m.name.is_some(), "name"),
            (m.id_number.is_some(), "id_number"),
            (!vehicles.is_empty(), "vehicles.plate"),
        ] {
            if present {
                shown.push(name);
            }
        }
        if full && vehicles.iter().any(|v| v.details.is_some()) {
            shown.push("vehicles.details");
        }
        // audit: member.pii.view
        self.audit(
            tx,
            &caller.actor(),
            AuditEntry::chain(m.chain_id, "member.pii.view", "member")
                .target(m.id)
                .after(serde_json::json!({ "fields": shown, "masked": !full })),
        )
        .await?;

        let show = |plain: Option<String>, mask: fn(&str) -> String| plain.map(|p| if full { p } else { mask(&p) });
        let mut vs = Vec::with_capacity(vehicles.len());
        for v in &vehicles {
            let plate = self.vehicle_plate(v)?;
            let d = if full { self.vehicle_details(v)? } else { Default::default() };
            vs.push(MemberVehicleAdminView {
                id: v.id,
                plate: if full { display_plate(&plate) } else { mask_plate(&plate) },
                brand: d.brand,
                model: d.model,
                colour: d.colour,
                fuel_grade: d.fuel_grade,
            });
        }
        Ok(MemberAdminView {
            id: m.id,
            chain_id: m.chain_id,
            phone: show(self.open_sealed(PHONE, m.phone.as_ref())?, mask_phone),
            name: show(self.open_sealed(NAME, m.name.as_ref())?, mask_name),
            id_number: show(self.open_sealed(ID_NUMBER, m.id_number.as_ref())?, mask_id_number),
            vehicles: vs,
            wechat_bound: m.openid.as_deref().is_some_and(|o| !o.starts_with("erased:")),
            masked: !full,
            consents: consent_state(tx, m.id).await?,
            created_at: instant(m.created_at_us),
            erased_at: m.erased_at_us.map(instant),
        })
    }
}
