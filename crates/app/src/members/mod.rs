//! Members: sign-in (C5: WeChat mini-program login and phone binding, SMS codes for H5),
//! their personal data (S2 v1: view, export, correct, delete), vehicles (C6), consent
//! records, and the staff's masked view of a member.
//!
//! Personal data — phone, name, ID number, plates, vehicle details — is stored only
//! sealed with [`jiayou_store::crypto::KeyRing::seal`] under a per-column context and
//! found by blind index; it is never logged (log lines carry member ids only).
//!
//! Member sessions work like staff sessions ([`crate::auth`]): a random 256-bit bearer
//! token given once, stored as its SHA-256, here with a 30-day lifetime.

mod consent;
mod error;
mod login;
mod profile;
mod staff_view;
pub(crate) mod validate;
mod vehicles;

pub use consent::{ConsentChange, ConsentKind, ConsentRecord, ConsentState, ConsentStatus, PRIVACY_POLICY_VERSION};
pub use error::{MemberError, MemberResult};
pub use login::{
    MemberLogin, SMS_CODE_TTL_US, SMS_MAX_ATTEMPTS, SMS_PER_HOUR, SMS_PER_IP_HOUR, SmsLoginRequest, SmsSendRequest,
    SmsSent, WechatLoginRequest, WechatPhoneRequest,
};
pub use profile::{MemberExport, MemberProfile, MemberSessionView, ProfileChange, SmsCodeRecord, WechatIdentity};
pub use staff_view::{MemberAdminView, MemberFilter, MemberVehicleAdminView};
pub use vehicles::{NewVehicle, VehicleChange, VehicleView};

use jiayou_store::entity::member;
use sea_orm::{ConnectionTrait, EntityTrait};

use crate::{App, AppError, AppResult};

/// Sealing contexts, one per column (`table.column`).
pub(crate) const PHONE: &str = "members.phone";
pub(crate) const NAME: &str = "members.name";
pub(crate) const ID_NUMBER: &str = "members.id_number";
pub(crate) const PLATE: &str = "vehicles.plate";
pub(crate) const DETAILS: &str = "vehicles.details";
/// Blind-index context of SMS code hashes (keyed, so a database copy cannot be
/// brute-forced without the key).
pub(crate) const SMS_CODE: &str = "sms_codes.code";

/// A member session's absolute lifetime.
pub const MEMBER_SESSION_US: i64 = 30 * 24 * 3600 * 1_000_000;

/// A resolved member session.
#[derive(Debug, Clone)]
pub struct MemberAuth {
    pub member_id: i64,
    pub chain_id: i64,
    pub session_id: i64,
    /// Source address of the request.
    pub ip: Option<String>,
}

pub(crate) use crate::error::internal;

impl App {
    /// Opens a sealed column; a value that fails to open is a server error (the message
    /// names the column, never the value).
    pub(crate) fn open_sealed(&self, context: &str, sealed: Option<&Vec<u8>>) -> AppResult<Option<String>> {
        sealed.map(|v| self.keys.open(context, v).map_err(|e| internal(format!("{context}: {e}")))).transpose()
    }

    /// The live member of a session.
    pub(crate) async fn member_row<C: ConnectionTrait>(&self, conn: &C, me: &MemberAuth) -> AppResult<member::Model> {
        member::Entity::find_by_id(me.member_id)
            .one(conn)
            .await?
            .filter(|m| m.erased_at_us.is_none())
            .ok_or(AppError::Unauthenticated { code: "invalid_member_session", message_zh: session_message() })
    }
}

pub(crate) fn session_message() -> String {
    "会员登录已失效（过期、已注销或令牌无效），请重新登录".into()
}
