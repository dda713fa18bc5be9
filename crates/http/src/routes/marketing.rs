//! Marketing (C3 policy, C12 top-up rules, C14 coupons) for the back office, and the
//! member's coupons, top-up offers and wallet under `/api/v1/member/…`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jiayou_app::marketing::{
    CouponFilter, CouponView, IssuedCoupons, LedgerEntryView, MemberCouponFilter, NewCoupons, NewTopupRule,
    PaymentPolicyChange, PaymentPolicyView, TopupRuleView, WalletView,
};
use jiayou_app::paging::{Page, PageRequest};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::member_auth::MemberSession;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_policy, set_policy))
        .routes(routes!(issue_coupons, list_coupons))
        .routes(routes!(create_topup_rule, list_topup_rules))
        .routes(routes!(retire_topup_rule))
        .routes(routes!(member_wallet))
        .routes(routes!(member_coupons))
        .routes(routes!(member_topup_rules))
        .routes(routes!(my_wallet))
        .routes(routes!(my_ledger))
}

// ---------------------------------------------------------------------------------------
// Back office
// ---------------------------------------------------------------------------------------

/// The chain's payment policy (defaults until set): `marketing.manage`, or `sales.read`
/// anywhere in the chain.
#[utoipa::path(get, path = "/api/v1/chains/{chain_id}/payment-policy", tag = "marketing",
    params(("chain_id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = PaymentPolicyView), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_policy(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiPath(chain_id): ApiPath<i64>,
) -> ApiResult<Json<PaymentPolicyView>> {
    Ok(Json(s.app.get_payment_policy(&c, chain_id).await?))
}

/// Replace the chain's payment policy (`marketing.manage`): instrument order (each once,
/// with balance or channel), points rates, hold 60–1800 s, payment window 60–3600 s,
/// plate-pay limit 1–1000000 fen. Audited.
#[utoipa::path(put, path = "/api/v1/chains/{chain_id}/payment-policy", tag = "marketing",
    params(("chain_id" = i64, Path)), request_body = PaymentPolicyChange, security(("bearer" = [])),
    responses((status = 200, body = PaymentPolicyView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
pub async fn set_policy(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiPath(chain_id): ApiPath<i64>,
    ApiJson(cmd): ApiJson<PaymentPolicyChange>,
) -> ApiResult<Json<PaymentPolicyView>> {
    Ok(Json(s.app.set_payment_policy(&c, chain_id, cmd).await?))
}

/// Issue the same coupon to 1–500 members of the chain (`marketing.manage`): all or
/// none; an unknown or deleted member → 422 naming `member_ids[i]`. Audited.
#[utoipa::path(post, path = "/api/v1/chains/{chain_id}/coupons", tag = "marketing",
    params(("chain_id" = i64, Path)), request_body = NewCoupons, security(("bearer" = [])),
    responses((status = 201, body = IssuedCoupons), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn issue_coupons(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiPath(chain_id): ApiPath<i64>,
    ApiJson(cmd): ApiJson<NewCoupons>,
) -> ApiResult<(StatusCode, Json<IssuedCoupons>)> {
    Ok((StatusCode::CREATED, Json(s.app.issue_coupons(&c, chain_id, cmd).await?)))
}

/// Coupons of the chain, by member and status (`available`, `used`, `expired`);
/// paginated, sortable by `id`, `created_at`, `valid_until`.
#[utoipa::path(get, path = "/api/v1/chains/{chain_id}/coupons", tag = "marketing",
    params(("chain_id" = i64, Path), CouponFilter, PageRequest), security(("bearer" = [])),
    responses((status = 200, body = Page<CouponView>), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn list_coupons(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiPath(chain_id): ApiPath<i64>,
    ApiQuery(f): ApiQuery<CouponFilter>,
    ApiQuery(p): ApiQuery<PageRequest>,
) -> ApiResult<Json<Page<CouponView>>> {
    Ok(Json(s.app.list_coupons(&c, chain_id, &f, &p).await?))
}

/// Create a top-up bonus rule (`marketing.manage`): bonus balance, points and/or
/// coupons from a minimum amount. One live rule per amount (409 `duplicate`). Audited.
#[utoipa::path(post, path = "/api/v1/chains/{chain_id}/topup-rules", tag = "marketing",
    params(("chain_id" = i64, Path)), request_body = NewTopupRule, security(("bearer" = [])),
    responses((status = 201, body = TopupRuleView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_topup_rule(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiPath(chain_id): ApiPath<i64>,
    ApiJson(cmd): ApiJson<NewTopupRule>,
) -> ApiResult<(StatusCode, Json<TopupRuleView>)> {
    Ok((StatusCode::CREATED, Json(s.app.create_topup_rule(&c, chain_id, cmd).await?)))
}

/// The chain's live top-up rules, lowest threshold first.
#[utoipa::path(get, path = "/api/v1/chains/{chain_id}/topup-rules", tag = "marketing",
    params(("chain_id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = Vec<TopupRuleView>), (status = 403, body = Problem)))]
pub async fn list_topup_rules(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiPath(chain_id): ApiPath<i64>,
) -> ApiResult<Json<Vec<TopupRuleView>>> {
    Ok(Json(s.app.list_topup_rules(&c, chain_id).await?))
}

/// Retire a top-up rule: new top-ups no longer get it (`marketing.manage`). Idempotent;
/// audited.
#[utoipa::path(post, path = "/api/v1/topup-rules/{id}/retire", tag = "marketing", params(("id" = i64, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = TopupRuleView), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn retire_topup_rule(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<TopupRuleView>> {
    Ok(Json(s.app.retire_topup_rule(&c, id).await?))
}

/// A member's stored value and points (`member.read` in the member's chain).
#[utoipa::path(get, path = "/api/v1/members/{id}/wallet", tag = "members", params(("id" = i64, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = WalletView), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn member_wallet(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<WalletView>> {
    Ok(Json(s.app.staff_member_wallet(&c, id).await?))
}

// ---------------------------------------------------------------------------------------
// The signed-in member
// ---------------------------------------------------------------------------------------

/// The member's coupons, by status (`available`, `used`, `expired`; default all):
/// available ones soonest-expiring first, the others newest first.
#[utoipa::path(get, path = "/api/v1/member/coupons", tag = "member", params(MemberCouponFilter),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<CouponView>), (status = 401, body = Problem), (status = 422, body = Problem)))]
pub async fn member_coupons(
    State(s): State<AppState>,
    MemberSession(me): MemberSession,
    ApiQuery(f): ApiQuery<MemberCouponFilter>,
) -> ApiResult<Json<Vec<CouponView>>> {
    Ok(Json(s.app.member_coupons(&me, &f).await?))
}

/// The top-up offers of the member's chain (充500送50…), lowest threshold first.
#[utoipa::path(get, path = "/api/v1/member/topup-rules", tag = "member", security(("bearer" = [])),
    responses((status = 200, body = Vec<TopupRuleView>), (status = 401, body = Problem)))]
pub async fn member_topup_rules(
    State(s): State<AppState>,
    MemberSession(me): MemberSession,
) -> ApiResult<Json<Vec<TopupRuleView>>> {
    Ok(Json(s.app.member_topup_rules(&me).await?))
}

/// The member's stored value (paid and bonus money) and points; zeros until the first
/// top-up.
#[utoipa::path(get, path = "/api/v1/member/wallet", tag = "member", security(("bearer" = [])),
    responses((status = 200, body = WalletView), (status = 401, body = Problem)))]
pub async fn my_wallet(State(s): State<AppState>, MemberSession(me): MemberSession) -> ApiResult<Json<WalletView>> {
    Ok(Json(s.app.member_wallet(&me).await?))
}

/// The member's wallet movements (balance and points), newest first; paginated.
#[utoipa::path(get, path = "/api/v1/member/wallet/ledger", tag = "member", params(PageRequest),
    security(("bearer" = [])),
    responses((status = 200, body = Page<LedgerEntryView>), (status = 401, body = Problem),
        (status = 422, body = Problem)))]
pub async fn my_ledger(
    State(s): State<AppState>,
    MemberSession(me): MemberSession,
    ApiQuery(p): ApiQuery<PageRequest>,
) -> ApiResult<Json<Page<LedgerEntryView>>> {
    Ok(Json(s.app.member_ledger(&me, &p).await?))
}
