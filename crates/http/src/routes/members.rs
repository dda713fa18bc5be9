//! Members: the customer API under `/api/v1/member/…` (sign-in, personal data, vehicles,
//! consent) and the staff's member lookup under `/api/v1/members`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiayou_app::members::{
    ConsentChange, ConsentState, MemberAdminView, MemberExport, MemberFilter, MemberLogin, MemberProfile, NewVehicle,
    ProfileChange, SmsLoginRequest, SmsSendRequest, SmsSent, VehicleChange, VehicleView, WechatLoginRequest,
    WechatPhoneRequest,
};

use crate::AppState;
use crate::auth::{Auth, Client};
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::member_auth::MemberSession;

// ---------------------------------------------------------------------------------------
// Sign-in (public)
// ---------------------------------------------------------------------------------------

/// Sign in with the code of `wx.login` (mini-program). Creates the member on first
/// sign-in; links by unionid when WeChat gives one. WeChat's errors keep their own codes:
/// `wechat_code_invalid` / `wechat_code_used` 400, `wechat_rate_limited` 429,
/// `wechat_user_blocked` 403, `wechat_busy` / `wechat_unreachable` 503.
#[utoipa::path(post, path = "/api/v1/member/login/wechat", tag = "member", request_body = WechatLoginRequest,
    responses((status = 200, body = MemberLogin), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem), (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn login_wechat(
    State(s): State<AppState>,
    Client(client): Client,
    ApiJson(req): ApiJson<WechatLoginRequest>,
) -> ApiResult<Json<MemberLogin>> {
    Ok(Json(s.app.member_login_wechat(req, client).await?))
}

/// Send a six-digit sign-in code by SMS (H5). Limits: one a minute and five an hour per
/// number, twenty an hour per address; over a limit → 429 with `Retry-After`.
#[utoipa::path(post, path = "/api/v1/member/sms/send", tag = "member", request_body = SmsSendRequest,
    responses((status = 202, body = SmsSent), (status = 422, body = Problem), (status = 429, body = Problem),
        (status = 503, body = Problem)))]
pub async fn sms_send(
    State(s): State<AppState>,
    Client(client): Client,
    ApiJson(req): ApiJson<SmsSendRequest>,
) -> ApiResult<(StatusCode, Json<SmsSent>)> {
    Ok((StatusCode::ACCEPTED, Json(s.app.member_sms_send(req, client).await?)))
}

/// Sign in with a phone number and the SMS code (H5). Codes live 5 minutes, are single
/// use, and allow 5 attempts: `sms_code_wrong`, `sms_code_expired`, `sms_code_used`,
/// `sms_code_attempts_exceeded` (400).
#[utoipa::path(post, path = "/api/v1/member/login/sms", tag = "member", request_body = SmsLoginRequest,
    responses((status = 200, body = MemberLogin), (status = 400, body = Problem), (status = 422, body = Problem)))]
pub async fn login_sms(
    State(s): State<AppState>,
    Client(client): Client,
    ApiJson(req): ApiJson<SmsLoginRequest>,
) -> ApiResult<Json<MemberLogin>> {
    Ok(Json(s.app.member_login_sms(req, client).await?))
}

// ---------------------------------------------------------------------------------------
// The signed-in member
// ---------------------------------------------------------------------------------------

/// Bind the phone number of a `getPhoneNumber` button. A number bound to another member
/// of the chain → 409 `phone_taken`.
#[utoipa::path(post, path = "/api/v1/member/phone/wechat", tag = "member", request_body = WechatPhoneRequest,
    security(("bearer" = [])), responses((status = 200, body = MemberProfile), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 409, body = Problem), (status = 503, body = Problem)))]
pub async fn bind_phone_wechat(
    State(s): State<AppState>,
    MemberSession(me): MemberSession,
    ApiJson(req): ApiJson<WechatPhoneRequest>,
) -> ApiResult<Json<MemberProfile>> {
    Ok(Json(s.app.member_bind_phone_wechat(&me, req).await?))
}

/// Sign out (revoke this session).
#[utoipa::path(post, path = "/api/v1/member/logout", tag = "member", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem)))]
pub async fn logout(State(s): State<AppState>, MemberSession(me): MemberSession) -> ApiResult<StatusCode> {
    s.app.member_logout(&me).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The member's own data, in full.
#[utoipa::path(get, path = "/api/v1/member/me", tag = "member", security(("bearer" = [])),
    responses((status = 200, body = MemberProfile), (status = 401, body = Problem)))]
pub async fn me(State(s): State<AppState>, MemberSession(me): MemberSession) -> ApiResult<Json<MemberProfile>> {
    Ok(Json(s.app.member_profile(&me).await?))
}

/// Correct name and ID number (an empty string removes the value).
#[utoipa::path(patch, path = "/api/v1/member/me", tag = "member", request_body = ProfileChange,
    security(("bearer" = [])), responses((status = 200, body = MemberProfile), (status = 401, body = Problem),
        (status = 422, body = Problem)))]
pub async fn update_me(
    State(s): State<AppState>,
    MemberSession(me): MemberSession,
    ApiJson(cmd): ApiJson<ProfileChange>,
) -> ApiResult<Json<MemberProfile>> {
    Ok(Json(s.app.member_update_profile(&me, cmd).await?))
}

/// Delete the account: personal data erased, sessions revoked; transaction records kept.
#[utoipa::path(delete, path = "/api/v1/member/me", tag = "member", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem)))]
pub async fn delete_me(State(s): State<AppState>, MemberSession(me): MemberSession) -> ApiResult<StatusCode> {
    s.app.member_delete(&me).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Everything held about the member, as one JSON document.
#[utoipa::path(get, path = "/api/v1/member/me/export", tag = "member", security(("bearer" = [])),
    responses((status = 200, body = MemberExport), (status = 401, body = Problem)))]
pub async fn export(State(s): State<AppState>, MemberSession(me): MemberSession) -> ApiResult<Response> {
    let doc = s.app.member_export(&me).await?;
    let mut res = Json(doc).into_response();
    res.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"jiayou-member-export.json\""),
    );
    Ok(res)
}

/// The member's consent decisions, current state per kind.
#[utoipa::path(get, path = "/api/v1/member/consents", tag = "member", security(("bearer" = [])),
    responses((status = 200, body = ConsentState), (status = 401, body = Problem)))]
pub async fn consents(State(s): State<AppState>, MemberSession(me): MemberSession) -> ApiResult<Json<ConsentState>> {
    Ok(Json(s.app.member_consents(&me).await?))
}

/// Grant or withdraw consent: privacy policy, location, personalised marketing (each
/// optional; opting out of marketing is `{"personalised_marketing": false}`).
#[utoipa::path(put, path = "/api/v1/member/consents", tag = "member", request_body = ConsentChange,
    security(("bearer" = [])), responses((status = 200, body = ConsentState), (status = 401, body = Problem),
        (status = 422, body = Problem)))]
pub async fn set_consents(
    State(s): State<AppState>,
    MemberSession(me): MemberSession,
    ApiJson(cmd): ApiJson<ConsentChange>,
) -> ApiResult<Json<ConsentState>> {
    Ok(Json(s.app.member_set_consents(&me, cmd).await?))
}

/// The member's vehicles.
#[utoipa::path(get, path = "/api/v1/member/vehicles", tag = "member", security(("bearer" = [])),
    responses((status = 200, body = Vec<VehicleView>), (status = 401, body = Problem)))]
pub async fn vehicles(
    State(s): State<AppState>,
    MemberSession(me): MemberSession,
) -> ApiResult<Json<Vec<VehicleView>>> {
    Ok(Json(s.app.member_vehicles(&me).await?))
}

/// Add a vehicle. A plate already bound in the chain → 409 `plate_taken`.
#[utoipa::path(post, path = "/api/v1/member/vehicles", tag = "member", request_body = NewVehicle,
    security(("bearer" = [])), responses((status = 201, body = VehicleView), (status = 401, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn add_vehicle(
    State(s): State<AppState>,
    MemberSession(me): MemberSession,
    ApiJson(cmd): ApiJson<NewVehicle>,
) -> ApiResult<(StatusCode, Json<VehicleView>)> {
    Ok((StatusCode::CREATED, Json(s.app.member_add_vehicle(&me, cmd).await?)))
}

/// Change a vehicle's plate or details.
#[utoipa::path(patch, path = "/api/v1/member/vehicles/{id}", tag = "member", params(("id" = i64, Path)),
    request_body = VehicleChange, security(("bearer" = [])), responses((status = 200, body = VehicleView),
        (status = 401, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
pub async fn update_vehicle(
    State(s): State<AppState>,
    MemberSession(me): MemberSession,
    ApiPath(id): ApiPath<i64>,
    ApiJson(cmd): ApiJson<VehicleChange>,
) -> ApiResult<Json<VehicleView>> {
    Ok(Json(s.app.member_update_vehicle(&me, id, cmd).await?))
}

/// Remove a vehicle (its plate and details are erased).
#[utoipa::path(delete, path = "/api/v1/member/vehicles/{id}", tag = "member", params(("id" = i64, Path)),
    security(("bearer" = [])), responses((status = 204), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn delete_vehicle(
    State(s): State<AppState>,
    MemberSession(me): MemberSession,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    s.app.member_delete_vehicle(&me, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------
// Staff
// ---------------------------------------------------------------------------------------

/// Look a member up by exact phone number (`member.read`). Personal data is masked
/// unless the caller holds `pii.read`; every view is audited (`member.pii.view`).
#[utoipa::path(get, path = "/api/v1/members", tag = "members", params(MemberFilter), security(("bearer" = [])),
    responses((status = 200, body = Vec<MemberAdminView>), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn find(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiQuery(f): ApiQuery<MemberFilter>,
) -> ApiResult<Json<Vec<MemberAdminView>>> {
    Ok(Json(s.app.find_members(&c, &f).await?))
}

/// One member (`member.read`), masked unless the caller holds `pii.read`; audited.
#[utoipa::path(get, path = "/api/v1/members/{id}", tag = "members", params(("id" = i64, Path)),
    security(("bearer" = [])), responses((status = 200, body = MemberAdminView), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<MemberAdminView>> {
    Ok(Json(s.app.get_member(&c, id).await?))
}
