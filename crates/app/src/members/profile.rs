//! A member's own data (S2 v1): view, correct, export everything we hold, delete the
//! account. Deletion erases the personal columns and blind indexes, revokes every
//! session and replaces the openid by a tombstone; the member row stays, so transaction
//! records that point at it are kept (signing in again later creates a new member).

use chrono::{DateTime, Utc};
use jiayou_store::entity::{member, member_session, sms_code, sms_throttle, vehicle};
use jiayou_store::now_us;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::consent::{ConsentRecord, ConsentState, consent_history, consent_state};
use super::validate::{id_number, person_name};
use super::vehicles::VehicleView;
use super::{ID_NUMBER, MemberAuth, NAME, PHONE};
use crate::audit::{Actor, AuditEntry};
use crate::chains::instant;
use crate::error::Problems;
use crate::{App, AppResult};

/// What a member sees of themselves: their own data in full.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberProfile {
    pub id: i64,
    pub chain_id: i64,
    pub phone: Option<String>,
    pub name: Option<String>,
    /// 身份证号.
    pub id_number: Option<String>,
    /// Whether the account is linked to WeChat.
    pub wechat_bound: bool,
    pub consents: ConsentState,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Corrections; an empty string removes the value, an absent field keeps it.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileChange {
    /// Name as on the ID card, 1–32 characters.
    pub name: Option<String>,
    /// 18-character resident ID number; the GB 11643 check character is verified.
    pub id_number: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WechatIdentity {
    pub openid: Option<String>,
    pub unionid: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberSessionView {
    pub id: i64,
    /// wechat or sms.
    pub method: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The session this request was made with.
    pub current: bool,
}

/// An SMS code sent to the member's number (the code itself is never kept).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SmsCodeRecord {
    pub sent_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub attempts: i32,
    pub ip: Option<String>,
}

/// Everything jiayou holds about a member (PIPL art. 45).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberExport {
    pub exported_at: DateTime<Utc>,
    pub profile: MemberProfile,
    pub wechat: WechatIdentity,
    pub vehicles: Vec<VehicleView>,
    /// Every consent decision, oldest first.
    pub consents: Vec<ConsentRecord>,
    pub sessions: Vec<MemberSessionView>,
    /// SMS sign-in codes sent to the member's number in the last day.
    pub sms_codes: Vec<SmsCodeRecord>,
}

impl App {
    pub(crate) async fn profile_of(&self, m: &member::Model) -> AppResult<MemberProfile> {
        Ok(MemberProfile {
            id: m.id,
            chain_id: m.chain_id,
            phone: self.open_sealed(PHONE, m.phone.as_ref())?,
            name: self.open_sealed(NAME, m.name.as_ref())?,
            id_number: self.open_sealed(ID_NUMBER, m.id_number.as_ref())?,
            wechat_bound: m.openid.as_deref().is_some_and(|o| !o.starts_with("erased:")),
            consents: consent_state(self.db.reader(), m.id).await?,
            created_at: instant(m.created_at_us),
            updated_at: instant(m.updated_at_us),
        })
    }

    pub async fn member_profile(&self, me: &MemberAuth) -> AppResult<MemberProfile> {
        let m = self.member_row(self.db.reader(), me).await?;
        self.profile_of(&m).await
    }

    /// Corrects the member's name and ID number.
    pub async fn member_update_profile(&self, me: &MemberAuth, cmd: ProfileChange) -> AppResult<MemberProfile> {
        let mut p = Problems::default();
        let clear = |v: &str| v.trim().is_empty();
        let name =
            cmd.name.as_deref().map(|v| if clear(v) { Some(None) } else { p.check(person_name("name", v)).map(Some) });
        let id = cmd
            .id_number
            .as_deref()
            .map(|v| if clear(v) { Some(None) } else { p.check(id_number("id_number", v)).map(Some) });
        p.finish()?;
        let tx = self.db.begin().await?;
        let m = self.member_row(&tx, me).await?;
        let mut q = member::Entity::update_many().col_expr(member::Column::UpdatedAtUs, Expr::value(now_us()));
        if let Some(Some(name)) = name {
            q = q.col_expr(member::Column::Name, Expr::value(name.map(|n| self.keys.seal(NAME, &n))));
        }
        if let Some(Some(id)) = id {
            q = q
                .col_expr(
                    member::Column::IdNumberBidx,
                    Expr::value(id.as_ref().map(|v| self.keys.blind_index(ID_NUMBER, v))),
                )
                .col_expr(member::Column::IdNumber, Expr::value(id.map(|v| self.keys.seal(ID_NUMBER, &v))));
        }
        q.filter(member::Column::Id.eq(m.id)).exec(&tx).await?;
        tx.commit().await?;
        tracing::info!(member_id = me.member_id, "member corrected their profile");
        self.member_profile(me).await
    }

    /// Everything we hold about the member, as one JSON document.
    pub async fn member_export(&self, me: &MemberAuth) -> AppResult<MemberExport> {
        let db = self.db.reader();
        let m = self.member_row(db, me).await?;
        let sessions = member_session::Entity::find()
            .filter(member_session::Column::MemberId.eq(m.id))
            .order_by_asc(member_session::Column::Id)
            .all(db)
            .await?
            .into_iter()
            .map(|s| MemberSessionView {
                current: s.id == me.session_id,
                id: s.id,
                method: s.method,
                created_at: instant(s.created_at_us),
                last_seen_at: instant(s.last_seen_at_us),
                expires_at: instant(s.expires_at_us),
                revoked_at: s.revoked_at_us.map(instant),
                ip: s.ip,
                user_agent: s.user_agent,
            })
            .collect();
        let sms_codes = match &m.phone_bidx {
            Some(bidx) => sms_code::Entity::find()
                .filter(sms_code::Column::ChainId.eq(m.chain_id))
                .filter(sms_code::Column::PhoneBidx.eq(bidx.as_str()))
                .order_by_asc(sms_code::Column::Id)
                .all(db)
                .await?
                .into_iter()
                .map(|c| SmsCodeRecord {
                    sent_at: instant(c.created_at_us),
                    expires_at: instant(c.expires_at_us),
                    used_at: c.consumed_at_us.map(instant),
                    attempts: c.attempts,
                    ip: c.ip,
                })
                .collect(),
            None => Vec::new(),
        };
        tracing::info!(member_id = me.member_id, "member exported their data");
        Ok(MemberExport {
            exported_at: Utc::now(),
            profile: self.profile_of(&m).await?,
            wechat: WechatIdentity { openid: m.openid.clone(), unionid: m.unionid.clone() },
            vehicles: self.member_vehicles(me).await?,
            consents: consent_history(db, m.id).await?,
            sessions,
            sms_codes,
        })
    }

    /// Deletes the account: personal data erased, sessions revoked, the row kept.
    pub async fn member_delete(&self, me: &MemberAuth) -> AppResult<()> {
        let now = now_us();
        let tx = self.db.begin().await?;
        let m = self.member_row(&tx, me).await?;
        member::Entity::update_many()
            .col_expr(member::Column::Phone, Expr::value(Option::<Vec<u8>>::None))
            .col_expr(member::Column::PhoneBidx, Expr::value(Option::<String>::None))
            .col_expr(member::Column::Name, Expr::value(Option::<Vec<u8>>::None))
            .col_expr(member::Column::IdNumber, Expr::value(Option::<Vec<u8>>::None))
            .col_expr(member::Column::IdNumberBidx, Expr::value(Option::<String>::None))
            // A tombstone keeps the openid column unique and matches no WeChat user.
            .col_expr(member::Column::Openid, Expr::value(Some(format!("erased:{}", m.id))))
            .col_expr(member::Column::Unionid, Expr::value(Option::<String>::None))
            .col_expr(member::Column::ErasedAtUs, Expr::value(Some(now)))
            .col_expr(member::Column::UpdatedAtUs, Expr::value(now))
            .filter(member::Column::Id.eq(m.id))
            .exec(&tx)
            .await?;
        vehicle::Entity::update_many()
            .col_expr(vehicle::Column::Plate, Expr::value(Option::<Vec<u8>>::None))
            .col_expr(vehicle::Column::PlateBidx, Expr::value(Option::<String>::None))
            .col_expr(vehicle::Column::Details, Expr::value(Option::<Vec<u8>>::None))
            .col_expr(vehicle::Column::DeletedAtUs, Expr::value(Some(now)))
            .col_expr(vehicle::Column::UpdatedAtUs, Expr::value(now))
            .filter(vehicle::Column::MemberId.eq(m.id))
            .filter(vehicle::Column::DeletedAtUs.is_null())
            .exec(&tx)
            .await?;
        member_session::Entity::update_many()
            .col_expr(member_session::Column::RevokedAtUs, Expr::value(Some(now)))
            .filter(member_session::Column::MemberId.eq(m.id))
            .filter(member_session::Column::RevokedAtUs.is_null())
            .exec(&tx)
            .await?;
        // Where and on what device they signed in is personal data too. (Consent rows keep
        // their address: it is the evidence that consent was given, PIPL art. 14.)
        member_session::Entity::update_many()
            .col_expr(member_session::Column::Ip, Expr::value(Option::<String>::None))
            .col_expr(member_session::Column::UserAgent, Expr::value(Option::<String>::None))
            .filter(member_session::Column::MemberId.eq(m.id))
            .exec(&tx)
            .await?;
        // The codes' rows still carry the phone's blind index.
        if let Some(bidx) = &m.phone_bidx {
            sms_code::Entity::delete_many()
                .filter(sms_code::Column::ChainId.eq(m.chain_id))
                .filter(sms_code::Column::PhoneBidx.eq(bidx.as_str()))
                .exec(&tx)
                .await?;
            sms_throttle::Entity::delete_by_id(format!("phone:{}:{bidx}", m.chain_id)).exec(&tx).await?;
        }
        // Evidence that the request was honoured; ids only.
        self.audit(
            &tx,
            &Actor::member(m.id, me.ip.clone()),
            AuditEntry::chain(m.chain_id, "member.erase", "member").target(m.id),
        )
        .await?;
        tx.commit().await?;
        tracing::info!(member_id = m.id, "member deleted their account; personal data erased");
        Ok(())
    }
}
