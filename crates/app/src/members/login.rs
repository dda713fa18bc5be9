//! Member sign-in: WeChat mini-program login (`jscode2session`), phone binding
//! (`getuserphonenumber`), and one-time SMS codes for the H5 page.
//!
//! SMS codes: six random digits, stored as a keyed hash with a 5-minute expiry and an
//! attempt counter; only the latest code of a phone counts. Every verification takes an
//! attempt with a conditional UPDATE first (so parallel guesses cannot exceed the limit),
//! and a successful one consumes the code with `UPDATE … WHERE consumed_at_us IS NULL`
//! in the sign-in transaction, so two concurrent uses cannot both win. Sending is
//! limited per phone (1 a minute, 5 an hour) and per address (20 an hour per chain) by
//! counting recent rows under a lock row per scope, which holds across several servers.

use chrono::{DateTime, Utc};
use jiayou_domain::{FieldError, FieldErrorKind, field};
use jiayou_store::StoreError;
use jiayou_store::entity::{member, member_session, sms_code, sms_throttle};
use jiayou_store::now_us;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::consent::{ConsentKind, record_consent};
use super::error::{MemberError, MemberResult};
use super::validate::{mobile, policy_version, sms_code as valid_sms_code, wechat_code};
use super::{MEMBER_SESSION_US, MemberAuth, PHONE, SMS_CODE, session_message};
use crate::auth::{ClientInfo, hash_token};
use crate::chains::instant;
use crate::error::Problems;
use crate::{App, AppError, AppResult};

/// How long an SMS code can be used.
pub const SMS_CODE_TTL_US: i64 = 5 * 60 * 1_000_000;
/// Verification attempts per code, right or wrong.
pub const SMS_MAX_ATTEMPTS: i32 = 5;
/// Codes per phone: one a minute, this many an hour.
pub const SMS_PER_HOUR: u64 = 5;
/// Codes per source address and chain an hour.
pub const SMS_PER_IP_HOUR: u64 = 20;
const MINUTE_US: i64 = 60 * 1_000_000;
const HOUR_US: i64 = 3600 * 1_000_000;
/// SMS rows older than this are deleted when the phone asks for a new code.
const SMS_KEEP_US: i64 = 24 * HOUR_US;
/// `last_seen` is refreshed at most this often.
const SEEN_REFRESH_US: i64 = 60 * 1_000_000;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WechatLoginRequest {
    /// The chain's code, e.g. `YNDEMO`.
    pub chain: String,
    /// The code from `wx.login` (single use, valid 5 minutes).
    pub code: String,
    /// The privacy policy version the member accepted on the sign-in page; recorded as
    /// privacy consent when given.
    pub consent_version: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WechatPhoneRequest {
    /// The code from a `getPhoneNumber` button.
    pub code: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SmsSendRequest {
    pub chain: String,
    /// Mainland mobile number, 11 digits (`+86`, spaces and dashes allowed).
    pub phone: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SmsSent {
    /// Seconds the code can be used.
    pub expires_in: u64,
    /// Seconds before another code can be requested for this number.
    pub resend_after: u64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SmsLoginRequest {
    pub chain: String,
    pub phone: String,
    /// The six digits received by SMS.
    pub code: String,
    /// As in WeChat sign-in.
    pub consent_version: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberLogin {
    /// Bearer token for the member API (`Authorization: Bearer …`); shown once.
    pub token: String,
    pub session_id: i64,
    pub expires_at: DateTime<Utc>,
    pub member_id: i64,
    pub chain_id: i64,
    /// True when this sign-in created the member.
    pub new_member: bool,
    /// Whether a phone number is bound (WeChat members bind one with `phone/wechat`).
    pub phone_bound: bool,
}

fn secs_until(at_us: i64, now: i64) -> u64 {
    let us = std::cmp::max(at_us - now, 0);
    std::cmp::max((us + 999_999) / 1_000_000, 1) as u64
}

/// Compares without an early exit.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn is_duplicate(e: &AppError) -> bool {
    matches!(e, AppError::Conflict { code: "duplicate", .. })
}

impl App {
    /// The chain a customer names by code; unknown → 422 on `chain`.
    async fn member_chain(&self, code: &str) -> AppResult<i64> {
        self.chain_id_by_code(code)
            .await?
            .ok_or_else(|| AppError::field(FieldError::new("chain", FieldErrorKind::NotFound)))
    }

    /// Signs a member in with the code of `wx.login`; creates the member on first sign-in.
    pub async fn member_login_wechat(&self, req: WechatLoginRequest, client: ClientInfo) -> MemberResult<MemberLogin> {
        let mut p = Problems::default();
        let chain = p.check(field::text("chain", &req.chain, 32));
        let code = p.check(wechat_code("code", &req.code));
        let consent = req.consent_version.as_deref().and_then(|v| p.check(policy_version("consent_version", v)));
        p.finish()?;
        let (Some(chain), Some(code)) = (chain, code) else { unreachable!("validated above") };
        let wechat = self.wechat.clone().ok_or(MemberError::NotConfigured("wechat"))?;
        let chain_id = self.member_chain(&chain).await?;
        // WeChat answers a replayed code with 40163 before anything is written here.
        let wx = wechat.code_to_session(&code).await.map_err(MemberError::Wechat)?;
        // Two first sign-ins of one person at once: the loser of the unique key retries
        // and finds the member the winner created.
        let mut tries = 0;
        loop {
            tries += 1;
            let tx = self.db.begin().await?;
            let result = async {
                let (m, created) = find_or_create_by_openid(&tx, chain_id, &wx.openid, wx.unionid.as_deref()).await?;
                open_session(&tx, &m, "wechat", &client, created, consent.as_deref()).await
            }
            .await;
            match result {
                Ok(login) => {
                    tx.commit().await?;
                    tracing::info!(member_id = login.member_id, new = login.new_member, "member signed in with WeChat");
                    return Ok(login);
                }
                Err(e) if is_duplicate(&e) && tries < 3 => {
                    tx.rollback().await?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Binds the phone number WeChat vouches for to the signed-in member.
    pub async fn member_bind_phone_wechat(
        &self,
        me: &MemberAuth,
        req: WechatPhoneRequest,
    ) -> MemberResult<super::MemberProfile> {
        let code = wechat_code("code", &req.code)?;
        let wechat = self.wechat.clone().ok_or(MemberError::NotConfigured("wechat"))?;
        self.member_row(self.db.reader(), me).await?;
        let phone = wechat.phone_number(&code).await.map_err(MemberError::Wechat)?;
        let cc = phone.country_code.trim_start_matches('+');
        let number = if cc == "86" || cc.is_empty() {
            jiayou_store::crypto::normalize_phone(&phone.pure_phone_number)
        } else {
            format!("+{cc}{}", phone.pure_phone_number)
        };
        let bidx = self.keys.blind_index(PHONE, &number);
        let tx = self.db.begin().await?;
        let m = self.member_row(&tx, me).await?;
        if m.phone_bidx.as_deref() != Some(bidx.as_str()) {
            let taken = member::Entity::find()
                .filter(member::Column::ChainId.eq(m.chain_id))
                .filter(member::Column::PhoneBidx.eq(bidx.as_str()))
                .filter(member::Column::Id.ne(m.id))
                .count(&tx)
                .await?;
            if taken > 0 {
                return Err(phone_taken());
            }
            member::Entity::update_many()
                .col_expr(member::Column::Phone, Expr::value(self.keys.seal(PHONE, &number)))
                .col_expr(member::Column::PhoneBidx, Expr::value(bidx))
                .col_expr(member::Column::UpdatedAtUs, Expr::value(now_us()))
                .filter(member::Column::Id.eq(m.id))
                .exec(&tx)
                .await
                .map_err(|e| match AppError::from(e) {
                    e if is_duplicate(&e) => phone_taken(),
                    e => e,
                })?;
        }
        tx.commit().await?;
        tracing::info!(member_id = me.member_id, "member bound a phone number through WeChat");
        self.member_profile(me).await
    }

    /// Sends a one-time sign-in code by SMS.
    pub async fn member_sms_send(&self, req: SmsSendRequest, client: ClientInfo) -> MemberResult<SmsSent> {
        let mut p = Problems::default();
        let chain = p.check(field::text("chain", &req.chain, 32));
        let phone = p.check(mobile("phone", &req.phone));
        p.finish()?;
        let (Some(chain), Some(phone)) = (chain, phone) else { unreachable!("validated above") };
        let sms = self.sms.clone().ok_or(MemberError::NotConfigured("sms"))?;
        let chain_id = self.member_chain(&chain).await?;
        let bidx = self.keys.blind_index(PHONE, &phone);
        let code = format!("{:06}", rand::random_range(0..1_000_000u32));
        let ip = client.ip.as_deref().map(|v| v.chars().take(64).collect::<String>());

        let now = now_us();
        let tx = self.db.begin().await?;
        // Lock the phone's scope, then the address's: always in this order.
        lock_scope(&tx, &format!("phone:{chain_id}:{bidx}"), now).await?;
        if let Some(ip) = &ip {
            lock_scope(&tx, &format!("ip:{chain_id}:{ip}"), now).await?;
        }
        let recent: Vec<i64> = sms_code::Entity::find()
            .select_only()
            .column(sms_code::Column::CreatedAtUs)
            .filter(sms_code::Column::ChainId.eq(chain_id))
            .filter(sms_code::Column::PhoneBidx.eq(bidx.as_str()))
            .filter(sms_code::Column::CreatedAtUs.gt(now - HOUR_US))
            .order_by_desc(sms_code::Column::CreatedAtUs)
            .into_tuple()
            .all(&tx)
            .await?;
        if let Some(last) = recent.first().filter(|t| **t > now - MINUTE_US) {
            return Err(MemberError::RateLimited {
                field: Some("phone"),
                code: "sms_too_frequent",
                retry_after_s: secs_until(last + MINUTE_US, now),
                message_zh: "验证码发送过于频繁：同一手机号每分钟只能获取一次，请稍后再试".into(),
            });
        }
        if recent.len() as u64 >= SMS_PER_HOUR {
            // The code that leaves the window first frees a slot.
            let frees = recent[SMS_PER_HOUR as usize - 1];
            return Err(MemberError::RateLimited {
                field: Some("phone"),
                code: "sms_hourly_limit",
                retry_after_s: secs_until(frees + HOUR_US, now),
                message_zh: format!("同一手机号每小时最多获取 {SMS_PER_HOUR} 次验证码，请稍后再试"),
            });
        }
        if let Some(ip) = &ip {
            let from_ip: Vec<i64> = sms_code::Entity::find()
                .select_only()
                .column(sms_code::Column::CreatedAtUs)
                .filter(sms_code::Column::ChainId.eq(chain_id))
                .filter(sms_code::Column::Ip.eq(ip.as_str()))
                .filter(sms_code::Column::CreatedAtUs.gt(now - HOUR_US))
                .order_by_desc(sms_code::Column::CreatedAtUs)
                .into_tuple()
                .all(&tx)
                .await?;
            if from_ip.len() as u64 >= SMS_PER_IP_HOUR {
                let frees = from_ip[SMS_PER_IP_HOUR as usize - 1];
                return Err(MemberError::RateLimited {
                    field: Some("phone"),
                    code: "sms_ip_limit",
                    retry_after_s: secs_until(frees + HOUR_US, now),
                    message_zh: "当前网络请求验证码过于频繁，请稍后再试".into(),
                });
            }
        }
        sms_code::Entity::delete_many()
            .filter(sms_code::Column::ChainId.eq(chain_id))
            .filter(sms_code::Column::PhoneBidx.eq(bidx.as_str()))
            .filter(sms_code::Column::CreatedAtUs.lt(now - SMS_KEEP_US))
            .exec(&tx)
            .await?;
        let row = sms_code::ActiveModel {
            chain_id: Set(chain_id),
            phone_bidx: Set(bidx.clone()),
            code_hash: Set(self.sms_code_hash(&bidx, &code)),
            attempts: Set(0),
            created_at_us: Set(now),
            expires_at_us: Set(now + SMS_CODE_TTL_US),
            consumed_at_us: Set(None),
            ip: Set(ip.clone()),
            ..Default::default()
        }
        .insert(&tx)
        .await?;
        tx.commit().await?;

        // Outside the transaction: no lock is held across the provider's round trip.
        if let Err(e) = sms.send_code(&phone, &code).await {
            // The failed attempt still counts towards the limits (it may have cost a
            // message), but its code can never sign in.
            sms_code::Entity::update_many()
                .col_expr(sms_code::Column::ConsumedAtUs, Expr::value(now_us()))
                .filter(sms_code::Column::Id.eq(row.id))
                .exec(self.db.writer())
                .await?;
            tracing::warn!(code = e.code(), "SMS sign-in code not sent");
            return Err(MemberError::Sms(e));
        }
        tracing::info!(chain_id, "SMS sign-in code sent");
        Ok(SmsSent { expires_in: (SMS_CODE_TTL_US / 1_000_000) as u64, resend_after: 60 })
    }

    /// Signs in with a phone number and the code sent to it; creates the member on first
    /// sign-in.
    pub async fn member_login_sms(&self, req: SmsLoginRequest, client: ClientInfo) -> MemberResult<MemberLogin> {
        let mut p = Problems::default();
        let chain = p.check(field::text("chain", &req.chain, 32));
        let phone = p.check(mobile("phone", &req.phone));
        let code = p.check(valid_sms_code("code", &req.code));
        let consent = req.consent_version.as_deref().and_then(|v| p.check(policy_version("consent_version", v)));
        p.finish()?;
        let (Some(chain), Some(phone), Some(code)) = (chain, phone, code) else { unreachable!("validated above") };
        let chain_id = self.member_chain(&chain).await?;
        let bidx = self.keys.blind_index(PHONE, &phone);
        let wrong = |left: Option<i32>| {
            AppError::code_refused(
                "sms_code_wrong",
                match left {
                    Some(left) if left > 0 => format!("验证码错误，还可尝试 {left} 次"),
                    Some(_) => "验证码错误，尝试次数已用完，请重新获取验证码".to_owned(),
                    None => "验证码错误，请核对或重新获取验证码".to_owned(),
                },
            )
        };
        let used = || AppError::code_refused("sms_code_used", "验证码已使用，请重新获取验证码");
        let expired = || AppError::code_refused("sms_code_expired", "验证码已过期（有效期 5 分钟），请重新获取");
        let exhausted =
            || AppError::code_refused("sms_code_attempts_exceeded", "验证码错误次数过多，已失效，请重新获取验证码");

        // Only the latest code of the phone counts.
        let Some(row) = sms_code::Entity::find()
            .filter(sms_code::Column::ChainId.eq(chain_id))
            .filter(sms_code::Column::PhoneBidx.eq(bidx.as_str()))
            .order_by_desc(sms_code::Column::Id)
            .one(self.db.reader())
            .await?
        else {
            return Err(wrong(None));
        };
        let now = now_us();
        if row.consumed_at_us.is_some() {
            return Err(if row.attempts >= SMS_MAX_ATTEMPTS { exhausted() } else { used() });
        }
        if row.expires_at_us <= now {
            return Err(expired());
        }
        // Take an attempt first, atomically: parallel guesses cannot exceed the limit.
        let took = sms_code::Entity::update_many()
            .col_expr(sms_code::Column::Attempts, Expr::col(sms_code::Column::Attempts).add(1))
            .filter(sms_code::Column::Id.eq(row.id))
            .filter(sms_code::Column::Attempts.lt(SMS_MAX_ATTEMPTS))
            .filter(sms_code::Column::ConsumedAtUs.is_null())
            .exec(self.db.writer())
            .await?;
        if took.rows_affected != 1 {
            let again = sms_code::Entity::find_by_id(row.id).one(self.db.writer()).await?;
            return Err(match again {
                Some(r) if r.attempts >= SMS_MAX_ATTEMPTS => exhausted(),
                _ => used(),
            });
        }
        let attempt = row.attempts + 1;
        let expected = self.sms_code_hash(&bidx, &code);
        if !constant_time_eq(expected.as_bytes(), row.code_hash.as_bytes()) {
            tracing::info!(chain_id, attempt, "wrong SMS sign-in code");
            return Err(wrong(Some(SMS_MAX_ATTEMPTS - attempt)));
        }

        let mut tries = 0;
        loop {
            tries += 1;
            let tx = self.db.begin().await?;
            let consumed = sms_code::Entity::update_many()
                .col_expr(sms_code::Column::ConsumedAtUs, Expr::value(now_us()))
                .filter(sms_code::Column::Id.eq(row.id))
                .filter(sms_code::Column::ConsumedAtUs.is_null())
                .filter(sms_code::Column::ExpiresAtUs.gt(now_us()))
                .exec(&tx)
                .await?;
            if consumed.rows_affected != 1 {
                tx.rollback().await?;
                return Err(used());
            }
            let result = async {
                let (m, created) = self.find_or_create_by_phone(&tx, chain_id, &phone, &bidx).await?;
                open_session(&tx, &m, "sms", &client, created, consent.as_deref()).await
            }
            .await;
            match result {
                Ok(login) => {
                    tx.commit().await?;
                    tracing::info!(member_id = login.member_id, new = login.new_member, "member signed in with SMS");
                    return Ok(login);
                }
                Err(e) if is_duplicate(&e) && tries < 3 => tx.rollback().await?,
                Err(e) => return Err(e),
            }
        }
    }

    /// Keyed hash of a code, bound to the phone it was sent to.
    fn sms_code_hash(&self, phone_bidx: &str, code: &str) -> String {
        self.keys.blind_index(SMS_CODE, &format!("{phone_bidx}:{code}"))
    }

    async fn find_or_create_by_phone(
        &self,
        tx: &DatabaseTransaction,
        chain_id: i64,
        phone: &str,
        bidx: &str,
    ) -> AppResult<(member::Model, bool)> {
        if let Some(m) = member::Entity::find()
            .filter(member::Column::ChainId.eq(chain_id))
            .filter(member::Column::PhoneBidx.eq(bidx))
            .one(tx)
            .await?
        {
            return Ok((m, false));
        }
        let now = now_us();
        let m = member::ActiveModel {
            chain_id: Set(chain_id),
            phone: Set(Some(self.keys.seal(PHONE, phone))),
            phone_bidx: Set(Some(bidx.to_owned())),
            created_at_us: Set(now),
            updated_at_us: Set(now),
            ..Default::default()
        }
        .insert(tx)
        .await?;
        Ok((m, true))
    }

    /// Resolves a member's bearer token.
    pub async fn authenticate_member(&self, token: &str, ip: Option<String>) -> AppResult<MemberAuth> {
        let now = now_us();
        let bad = || AppError::Unauthenticated { code: "invalid_member_session", message_zh: session_message() };
        let session = member_session::Entity::find()
            .filter(member_session::Column::TokenHash.eq(hash_token(token)))
            .one(self.db.reader())
            .await?
            .filter(|s| s.revoked_at_us.is_none() && s.expires_at_us > now)
            .ok_or_else(bad)?;
        let m = member::Entity::find_by_id(session.member_id)
            .one(self.db.reader())
            .await?
            .filter(|m| m.erased_at_us.is_none())
            .ok_or_else(bad)?;
        if now - session.last_seen_at_us > SEEN_REFRESH_US {
            member_session::Entity::update_many()
                .col_expr(member_session::Column::LastSeenAtUs, Expr::value(now))
                .filter(member_session::Column::Id.eq(session.id))
                .exec(self.db.writer())
                .await?;
        }
        Ok(MemberAuth { member_id: m.id, chain_id: m.chain_id, session_id: session.id, ip })
    }

    /// Signs out: revokes the session of this request.
    pub async fn member_logout(&self, me: &MemberAuth) -> AppResult<()> {
        member_session::Entity::update_many()
            .col_expr(member_session::Column::RevokedAtUs, Expr::value(now_us()))
            .filter(member_session::Column::Id.eq(me.session_id))
            .filter(member_session::Column::RevokedAtUs.is_null())
            .exec(self.db.writer())
            .await?;
        Ok(())
    }
}

fn phone_taken() -> AppError {
    AppError::conflict("phone_taken", Some("phone"), "该手机号已绑定本连锁的另一个会员账号")
}

/// The member with this openid, or the one with this unionid (linked: its openid is
/// updated), or a new one.
async fn find_or_create_by_openid(
    tx: &DatabaseTransaction,
    chain_id: i64,
    openid: &str,
    unionid: Option<&str>,
) -> AppResult<(member::Model, bool)> {
    let now = now_us();
    let by_unionid = |u: &str| {
        member::Entity::find()
            .filter(member::Column::ChainId.eq(chain_id))
            .filter(member::Column::Unionid.eq(u.to_owned()))
            .filter(member::Column::ErasedAtUs.is_null())
    };
    if let Some(m) = member::Entity::find()
        .filter(member::Column::ChainId.eq(chain_id))
        .filter(member::Column::Openid.eq(openid))
        .filter(member::Column::ErasedAtUs.is_null())
        .one(tx)
        .await?
    {
        // Learn the unionid when WeChat starts giving one, unless another member has it.
        if let Some(u) = unionid
            && m.unionid.is_none()
            && by_unionid(u).count(tx).await? == 0
        {
            member::Entity::update_many()
                .col_expr(member::Column::Unionid, Expr::value(u.to_owned()))
                .col_expr(member::Column::UpdatedAtUs, Expr::value(now))
                .filter(member::Column::Id.eq(m.id))
                .exec(tx)
                .await?;
        }
        return Ok((m, false));
    }
    if let Some(u) = unionid
        && let Some(m) = by_unionid(u).one(tx).await?
    {
        // The same person known through another app of the chain's Open Platform account.
        member::Entity::update_many()
            .col_expr(member::Column::Openid, Expr::value(openid.to_owned()))
            .col_expr(member::Column::UpdatedAtUs, Expr::value(now))
            .filter(member::Column::Id.eq(m.id))
            .exec(tx)
            .await?;
        return Ok((m, false));
    }
    let m = member::ActiveModel {
        chain_id: Set(chain_id),
        openid: Set(Some(openid.to_owned())),
        unionid: Set(unionid.map(str::to_owned)),
        created_at_us: Set(now),
        updated_at_us: Set(now),
        ..Default::default()
    }
    .insert(tx)
    .await?;
    Ok((m, true))
}

/// Upserts the lock row of a rate-limit scope, which holds it for the rest of `tx`
/// (PostgreSQL and MySQL lock the row; SQLite's `BEGIN IMMEDIATE` already holds the
/// database's write lock). Upsert rather than `SELECT … FOR UPDATE`: on MySQL a locking
/// read of a missing row takes a gap lock that deadlocks two first-time creators.
async fn lock_scope(tx: &DatabaseTransaction, scope: &str, now: i64) -> AppResult<()> {
    sms_throttle::Entity::insert(sms_throttle::ActiveModel { scope: Set(scope.to_owned()), touched_at_us: Set(now) })
        .on_conflict(
            OnConflict::column(sms_throttle::Column::Scope).update_column(sms_throttle::Column::TouchedAtUs).to_owned(),
        )
        .exec_without_returning(tx)
        .await
        .map_err(|e| AppError::from(StoreError::from(e)))?;
    Ok(())
}

/// Opens a member session after a successful sign-in, first recording the privacy
/// consent the app sent with it (the same transaction: no session without its consent).
async fn open_session<C: ConnectionTrait>(
    conn: &C,
    m: &member::Model,
    method: &str,
    client: &ClientInfo,
    created: bool,
    consent_version: Option<&str>,
) -> AppResult<MemberLogin> {
    if let Some(v) = consent_version {
        record_consent(conn, m.chain_id, m.id, ConsentKind::PrivacyPolicy, true, v, client.ip.as_deref()).await?;
    }
    let token = crate::auth::new_token();
    let now = now_us();
    let s = member_session::ActiveModel {
        member_id: Set(m.id),
        token_hash: Set(hash_token(&token)),
        method: Set(method.to_owned()),
        created_at_us: Set(now),
        last_seen_at_us: Set(now),
        expires_at_us: Set(now + MEMBER_SESSION_US),
        revoked_at_us: Set(None),
        ip: Set(client.ip.as_ref().map(|v| v.chars().take(64).collect())),
        user_agent: Set(client.user_agent.as_ref().map(|v| v.chars().take(200).collect())),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok(MemberLogin {
        token,
        session_id: s.id,
        expires_at: instant(s.expires_at_us),
        member_id: m.id,
        chain_id: m.chain_id,
        new_member: created,
        phone_bound: m.phone_bidx.is_some(),
    })
}
