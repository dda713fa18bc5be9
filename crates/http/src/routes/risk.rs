//! The back office's side of payments: risk rules and the payments they hold (S1), the
//! channels' daily reconciliation and the notifications parked for staff (C3).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::NaiveDate;
use jiayou_app::reconcile::{ParkedNotification, ReconcileRequest, ReconciliationView, Resolution};
use jiayou_app::risk::{HoldDecision, RiskHoldView, RiskRuleChange, RiskRuleView};
use jiayou_domain::risk::RiskScope;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_rules))
        .routes(routes!(set_rule, delete_rule))
        .routes(routes!(list_holds))
        .routes(routes!(release_hold))
        .routes(routes!(refund_hold))
        .routes(routes!(run_reconciliation, list_reconciliations))
        .routes(routes!(get_reconciliation))
        .routes(routes!(parked_notifications))
        .routes(routes!(resolve_notification))
}

/// The chain's risk rules (`risk.manage`).
#[utoipa::path(get, path = "/api/v1/chains/{chain_id}/risk-rules", tag = "risk",
    params(("chain_id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = Vec<RiskRuleView>), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn list_rules(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiPath(chain_id): ApiPath<i64>,
) -> ApiResult<Json<Vec<RiskRuleView>>> {
    Ok(Json(s.app.risk_rules(&c, chain_id).await?))
}

/// Set the rule of one scope (`member`, `plate`, `device`; `risk.manage`): a single-payment
/// ceiling, and/or at most `max_count` payments within `window_minutes`. A payment that
/// breaks it is taken but held for review. Audited.
#[utoipa::path(put, path = "/api/v1/chains/{chain_id}/risk-rules/{scope}", tag = "risk",
    params(("chain_id" = i64, Path), ("scope" = RiskScope, Path)), request_body = RiskRuleChange,
    security(("bearer" = [])),
    responses((status = 200, body = RiskRuleView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
pub async fn set_rule(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiPath((chain_id, scope)): ApiPath<(i64, RiskScope)>,
    ApiJson(cmd): ApiJson<RiskRuleChange>,
) -> ApiResult<Json<RiskRuleView>> {
    Ok(Json(s.app.set_risk_rule(&c, chain_id, scope, cmd).await?))
}

/// Remove the rule of one scope (`risk.manage`). Audited.
#[utoipa::path(delete, path = "/api/v1/chains/{chain_id}/risk-rules/{scope}", tag = "risk",
    params(("chain_id" = i64, Path), ("scope" = RiskScope, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn delete_rule(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiPath((chain_id, scope)): ApiPath<(i64, RiskScope)>,
) -> ApiResult<StatusCode> {
    s.app.delete_risk_rule(&c, chain_id, scope).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HoldQuery {
    /// pending (default), released or refunded.
    pub status: Option<String>,
}

/// Payments held by a risk rule (`risk.manage`), newest first.
#[utoipa::path(get, path = "/api/v1/chains/{chain_id}/risk-holds", tag = "risk",
    params(("chain_id" = i64, Path), HoldQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<RiskHoldView>), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn list_holds(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiPath(chain_id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<HoldQuery>,
) -> ApiResult<Json<Vec<RiskHoldView>>> {
    Ok(Json(s.app.risk_holds(&c, chain_id, q.status.as_deref()).await?))
}

/// Release a held payment (`risk.manage`): it proceeds as if never held (the pump is
/// authorised, the sale completed with its points, the top-up credited). 409
/// `hold_decided` when already decided. Audited.
#[utoipa::path(post, path = "/api/v1/risk-holds/{id}/release", tag = "risk",
    params(("id" = i64, Path)), request_body = HoldDecision, security(("bearer" = [])),
    responses((status = 200, body = RiskHoldView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
pub async fn release_hold(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(cmd): ApiJson<HoldDecision>,
) -> ApiResult<Json<RiskHoldView>> {
    Ok(Json(s.app.release_hold(&c, id, cmd).await?))
}

/// Refund a held payment in full, the way it came (`risk.manage`): balance, coupons and
/// points back at once, channel money through the channel. 409 `hold_decided` when
/// already decided. Audited.
#[utoipa::path(post, path = "/api/v1/risk-holds/{id}/refund", tag = "risk",
    params(("id" = i64, Path)), request_body = HoldDecision, security(("bearer" = [])),
    responses((status = 200, body = RiskHoldView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
pub async fn refund_hold(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(cmd): ApiJson<HoldDecision>,
) -> ApiResult<Json<RiskHoldView>> {
    Ok(Json(s.app.refund_hold(&c, id, cmd).await?))
}

/// Reconcile one channel's statement of one day (before today, China time) against our
/// payments and refunds, for every merchant of the chain on it (`pay.reconcile`). Runs
/// now and replaces an earlier result of that day; the daily job does the same for
/// yesterday after 10:00.
#[utoipa::path(post, path = "/api/v1/chains/{chain_id}/reconciliations", tag = "payments",
    params(("chain_id" = i64, Path)), request_body = ReconcileRequest, security(("bearer" = [])),
    responses((status = 200, body = Vec<ReconciliationView>), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn run_reconciliation(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiPath(chain_id): ApiPath<i64>,
    ApiJson(cmd): ApiJson<ReconcileRequest>,
) -> ApiResult<Json<Vec<ReconciliationView>>> {
    Ok(Json(s.app.reconcile(&c, chain_id, cmd).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReconciliationQuery {
    pub channel: Option<String>,
    /// YYYY-MM-DD.
    pub date: Option<NaiveDate>,
}

/// The chain's reconciliations, newest day first (`pay.reconcile`).
#[utoipa::path(get, path = "/api/v1/chains/{chain_id}/reconciliations", tag = "payments",
    params(("chain_id" = i64, Path), ReconciliationQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<ReconciliationView>), (status = 403, body = Problem)))]
pub async fn list_reconciliations(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiPath(chain_id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<ReconciliationQuery>,
) -> ApiResult<Json<Vec<ReconciliationView>>> {
    Ok(Json(s.app.reconciliations(&c, chain_id, q.channel.as_deref(), q.date).await?))
}

/// One reconciliation with every difference (`pay.reconcile`).
#[utoipa::path(get, path = "/api/v1/reconciliations/{id}", tag = "payments",
    params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = ReconciliationView), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_reconciliation(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<ReconciliationView>> {
    Ok(Json(s.app.reconciliation(&c, id).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ParkedQuery {
    /// Include those already resolved (default false).
    #[serde(default)]
    pub include_resolved: bool,
}

/// Channel notifications parked for staff (`pay.reconcile`): for an order we do not
/// know, or with an amount, currency or merchant that differs from ours. Nothing of them
/// was applied.
#[utoipa::path(get, path = "/api/v1/chains/{chain_id}/pay-notifications", tag = "payments",
    params(("chain_id" = i64, Path), ParkedQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<ParkedNotification>), (status = 403, body = Problem)))]
pub async fn parked_notifications(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiPath(chain_id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<ParkedQuery>,
) -> ApiResult<Json<Vec<ParkedNotification>>> {
    Ok(Json(s.app.parked_notifications(&c, chain_id, q.include_resolved).await?))
}

/// Record what was done about a parked notification (`pay.reconcile`); 409
/// `notification_resolved` when already resolved. Audited.
#[utoipa::path(post, path = "/api/v1/chains/{chain_id}/pay-notifications/{id}/resolve", tag = "payments",
    params(("chain_id" = i64, Path), ("id" = i64, Path)), request_body = Resolution, security(("bearer" = [])),
    responses((status = 200, body = ParkedNotification), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn resolve_notification(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiPath((chain_id, id)): ApiPath<(i64, i64)>,
    ApiJson(cmd): ApiJson<Resolution>,
) -> ApiResult<Json<ParkedNotification>> {
    Ok(Json(s.app.resolve_notification(&c, chain_id, id, cmd).await?))
}
