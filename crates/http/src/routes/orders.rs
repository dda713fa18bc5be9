//! The money path over HTTP: the driver's orders, top-ups and plate pay; the pump
//! controllers' device API; the counter; staff order search, receipts and refunds; the
//! channel's notification callback. Handlers are thin: extract, call one use-case.
//!
//! Every mutating member and device call, and every staff call that moves money, takes
//! an `Idempotency-Key` header (see `crate::idempotency`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiayou_app::orders::OrderView;
use jiayou_app::orders::counter::{Collect, CounterSale};
use jiayou_app::orders::device::{
    Authorisation, DeviceConfig, NozzleStatusReport, NozzleStatusView, SaleReport, SaleResult,
};
use jiayou_app::orders::member::{AutopayChange, ClaimSale, NewPreorder, NewTopup, PayOrder, PublicNozzleStatus};
use jiayou_app::orders::staff::{AlertView, OrderFilter, RefundCommand, RefundView};
use jiayou_app::paging::Page;
use jiayou_app::wallet::LedgerCheck;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::Auth;
use crate::device_auth::SignedDevice;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::idempotency::{
    IdemReply, IdempotencyKey, caller_scope, device_scope, fingerprint, idempotent, member_scope,
};
use crate::member_auth::MemberSession;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(preorder, my_orders))
        .routes(routes!(my_order))
        .routes(routes!(pay))
        .routes(routes!(cancel))
        .routes(routes!(claim))
        .routes(routes!(topup))
        .routes(routes!(autopay))
        .routes(routes!(nozzle_status_public))
        .routes(routes!(device_config))
        .routes(routes!(device_nozzle_status))
        .routes(routes!(device_authorisations))
        .routes(routes!(device_sale))
        .routes(routes!(counter_sale))
        .routes(routes!(collect))
        .routes(routes!(search))
        .routes(routes!(get))
        .routes(routes!(receipt))
        .routes(routes!(refund, refunds))
        .routes(routes!(ledger_check))
        .routes(routes!(alerts))
        .routes(routes!(sandbox_notify))
        .routes(routes!(wechat_notify))
        .routes(routes!(alipay_notify))
}

type Idem = IdemReply;

/// Pre-order: holds the nozzle (409 `nozzle_held` when another driver holds it).
#[utoipa::path(post, path = "/api/v1/member/orders", tag = "orders", request_body = NewPreorder,
    params(("Idempotency-Key" = Option<String>, Header)), security(("member" = [])),
    responses((status = 201, body = OrderView), (status = 409), (status = 422)))]
pub async fn preorder(
    MemberSession(me): MemberSession,
    State(s): State<AppState>,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(cmd): ApiJson<NewPreorder>,
) -> ApiResult<Idem> {
    let fp = fingerprint("POST", "/api/v1/member/orders", &cmd);
    let scope = member_scope(me.member_id);
    let app = s.app.clone();
    idempotent(&s, scope, key, fp, StatusCode::CREATED, |idem| async move {
        app.member_preorder(&me, cmd, idem.as_ref()).await
    })
    .await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    pub page: Option<u64>,
    pub per_page: Option<u64>,
}

/// The member's orders, newest first.
#[utoipa::path(get, path = "/api/v1/member/orders", tag = "orders", params(PageQuery), security(("member" = [])),
    responses((status = 200, body = Page<OrderView>)))]
pub async fn my_orders(
    MemberSession(me): MemberSession,
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<OrderView>>> {
    Ok(Json(s.app.member_orders(&me, q.page.unwrap_or(1), q.per_page.unwrap_or(20)).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitQuery {
    /// Wait (up to 25 s) until the order's version is higher than this.
    pub after_version: Option<i64>,
}

/// One order; long-poll with `after_version` to learn of payment at once.
#[utoipa::path(get, path = "/api/v1/member/orders/{id}", tag = "orders", params(("id" = i64, Path), WaitQuery),
    security(("member" = [])), responses((status = 200, body = OrderView), (status = 404)))]
pub async fn my_order(
    MemberSession(me): MemberSession,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<WaitQuery>,
) -> ApiResult<Json<OrderView>> {
    Ok(Json(s.app.member_order(&me, id, q.after_version).await?))
}

/// Pays with coupons, points, balance and the channel in the policy's order.
/// `insufficient_balance` 409 when the channel is not allowed and the rest is not
/// covered; `coupon_*` 409 for coupons that cannot be used.
#[utoipa::path(post, path = "/api/v1/member/orders/{id}/pay", tag = "orders", params(("id" = i64, Path),
    ("Idempotency-Key" = Option<String>, Header)), request_body = PayOrder, security(("member" = [])),
    responses((status = 200, body = OrderView), (status = 404), (status = 409), (status = 422), (status = 502)))]
pub async fn pay(
    MemberSession(me): MemberSession,
    State(s): State<AppState>,
    IdempotencyKey(key): IdempotencyKey,
    ApiPath(id): ApiPath<i64>,
    ApiJson(cmd): ApiJson<PayOrder>,
) -> ApiResult<Idem> {
    let fp = fingerprint("POST", &format!("/api/v1/member/orders/{id}/pay"), &cmd);
    let app = s.app.clone();
    idempotent(&s, member_scope(me.member_id), key, fp, StatusCode::OK, |idem| async move {
        app.member_pay(&me, id, cmd, idem.as_ref()).await
    })
    .await
}

/// Cancels an unpaid or paid-but-not-fuelled pre-order; money goes back the way it came.
#[utoipa::path(post, path = "/api/v1/member/orders/{id}/cancel", tag = "orders", params(("id" = i64, Path),
    ("Idempotency-Key" = Option<String>, Header)), security(("member" = [])),
    responses((status = 200, body = OrderView), (status = 404), (status = 409)))]
pub async fn cancel(
    MemberSession(me): MemberSession,
    State(s): State<AppState>,
    IdempotencyKey(key): IdempotencyKey,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Idem> {
    let fp = fingerprint("POST", &format!("/api/v1/member/orders/{id}/cancel"), &());
    let app = s.app.clone();
    idempotent(&s, member_scope(me.member_id), key, fp, StatusCode::OK, |idem| async move {
        app.member_cancel(&me, id, idem.as_ref()).await
    })
    .await
}

/// Pay after fueling: takes the open sale of a nozzle (scanned code).
#[utoipa::path(post, path = "/api/v1/member/orders/claim", tag = "orders", request_body = ClaimSale,
    params(("Idempotency-Key" = Option<String>, Header)), security(("member" = [])),
    responses((status = 200, body = OrderView), (status = 404), (status = 409)))]
pub async fn claim(
    MemberSession(me): MemberSession,
    State(s): State<AppState>,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(cmd): ApiJson<ClaimSale>,
) -> ApiResult<Idem> {
    let fp = fingerprint("POST", "/api/v1/member/orders/claim", &cmd);
    let app = s.app.clone();
    idempotent(&s, member_scope(me.member_id), key, fp, StatusCode::OK, |idem| async move {
        app.member_claim(&me, cmd, idem.as_ref()).await
    })
    .await
}

/// Tops up the balance through the channel; the bonus rule in force applies.
#[utoipa::path(post, path = "/api/v1/member/topups", tag = "orders", request_body = NewTopup,
    params(("Idempotency-Key" = Option<String>, Header)), security(("member" = [])),
    responses((status = 201, body = OrderView), (status = 422), (status = 503)))]
pub async fn topup(
    MemberSession(me): MemberSession,
    State(s): State<AppState>,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(cmd): ApiJson<NewTopup>,
) -> ApiResult<Idem> {
    let fp = fingerprint("POST", "/api/v1/member/topups", &cmd);
    let app = s.app.clone();
    idempotent(&s, member_scope(me.member_id), key, fp, StatusCode::CREATED, |idem| async move {
        app.member_topup(&me, cmd, idem.as_ref()).await
    })
    .await
}

/// Plate pay (无感支付): allow or stop balance auto-pay for one of the member's vehicles.
#[utoipa::path(put, path = "/api/v1/member/vehicles/{id}/autopay", tag = "orders", params(("id" = i64, Path)),
    request_body = AutopayChange, security(("member" = [])), responses((status = 200, body = AutopayChange), (status = 404)))]
pub async fn autopay(
    MemberSession(me): MemberSession,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(cmd): ApiJson<AutopayChange>,
) -> ApiResult<Json<AutopayChange>> {
    Ok(Json(s.app.member_set_autopay(&me, id, cmd).await?))
}

/// Live status of a station's nozzles, for the driver picking one (C2). Public.
#[utoipa::path(get, path = "/api/v1/stations/{id}/nozzle-status", tag = "orders", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<PublicNozzleStatus>), (status = 404)))]
pub async fn nozzle_status_public(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Vec<PublicNozzleStatus>>> {
    Ok(Json(s.app.public_nozzle_status(id).await?))
}

/// The device's nozzles, grades and prices.
#[utoipa::path(get, path = "/api/v1/device/config", tag = "device", security(("device_hmac" = [])),
    responses((status = 200, body = DeviceConfig), (status = 401)))]
pub async fn device_config(State(s): State<AppState>, dev: SignedDevice<()>) -> ApiResult<Json<DeviceConfig>> {
    Ok(Json(s.app.device_config(&dev.device).await?))
}

/// A nozzle's status changed (idle, lifted, fuelling, finished).
#[utoipa::path(post, path = "/api/v1/device/nozzles/{id}/status", tag = "device", params(("id" = i64, Path)),
    request_body = NozzleStatusReport, security(("device_hmac" = [])),
    responses((status = 200, body = NozzleStatusView), (status = 401), (status = 422)))]
pub async fn device_nozzle_status(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    dev: SignedDevice<NozzleStatusReport>,
) -> ApiResult<Json<NozzleStatusView>> {
    Ok(Json(s.app.device_nozzle_status(&dev.device, id, dev.body).await?))
}

/// Paid pre-orders waiting for this station's pumps.
#[utoipa::path(get, path = "/api/v1/device/authorisations", tag = "device", security(("device_hmac" = [])),
    responses((status = 200, body = Vec<Authorisation>), (status = 401)))]
pub async fn device_authorisations(
    State(s): State<AppState>,
    dev: SignedDevice<()>,
) -> ApiResult<Json<Vec<Authorisation>>> {
    Ok(Json(s.app.device_authorisations(&dev.device).await?))
}

/// A sale: deducts tank stock, completes its prepaid order or opens a post-pay one
/// (plate pay charged at once). 409 `sale_duplicate` for a reused `sale_id`.
#[utoipa::path(post, path = "/api/v1/device/sales", tag = "device", request_body = SaleReport,
    params(("Idempotency-Key" = Option<String>, Header)), security(("device_hmac" = [])),
    responses((status = 201, body = SaleResult), (status = 401), (status = 409), (status = 422)))]
pub async fn device_sale(
    State(s): State<AppState>,
    IdempotencyKey(key): IdempotencyKey,
    dev: SignedDevice<SaleReport>,
) -> ApiResult<Idem> {
    let device = dev.device;
    let cmd = dev.body;
    let fp = fingerprint("POST", "/api/v1/device/sales", &cmd);
    let app = s.app.clone();
    idempotent(&s, device_scope(&device), key, fp, StatusCode::CREATED, |idem| async move {
        app.device_report_sale(&device, cmd, idem.as_ref()).await
    })
    .await
}

/// Opens a counter sale: a nozzle's open sale or store goods (permission `sales.collect`).
#[utoipa::path(post, path = "/api/v1/counter/sales", tag = "counter", request_body = CounterSale,
    params(("Idempotency-Key" = Option<String>, Header)), security(("bearer" = [])),
    responses((status = 200, body = OrderView), (status = 403), (status = 409), (status = 422)))]
pub async fn counter_sale(
    Auth(c): Auth,
    State(s): State<AppState>,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(cmd): ApiJson<CounterSale>,
) -> ApiResult<Idem> {
    let fp = fingerprint("POST", "/api/v1/counter/sales", &cmd);
    let app = s.app.clone();
    idempotent(&s, caller_scope(&c), key, fp, StatusCode::OK, |idem| async move {
        app.counter_sale(&c, cmd, idem.as_ref()).await
    })
    .await
}

/// Takes payment at the counter: cash, card, payment code or member balance.
#[utoipa::path(post, path = "/api/v1/orders/{id}/collect", tag = "counter", params(("id" = i64, Path),
    ("Idempotency-Key" = Option<String>, Header)), request_body = Collect, security(("bearer" = [])),
    responses((status = 200, body = OrderView), (status = 403), (status = 409), (status = 422), (status = 502)))]
pub async fn collect(
    Auth(c): Auth,
    State(s): State<AppState>,
    IdempotencyKey(key): IdempotencyKey,
    ApiPath(id): ApiPath<i64>,
    ApiJson(cmd): ApiJson<Collect>,
) -> ApiResult<Idem> {
    let fp = fingerprint("POST", &format!("/api/v1/orders/{id}/collect"), &cmd);
    let app = s.app.clone();
    idempotent(&s, caller_scope(&c), key, fp, StatusCode::OK, |idem| async move {
        app.counter_collect(&c, id, cmd, idem.as_ref()).await
    })
    .await
}

/// Orders of a chain (`sales.read`; attendants with `sales.read_own` see their nozzles').
#[utoipa::path(get, path = "/api/v1/orders", tag = "orders", params(OrderFilter), security(("bearer" = [])),
    responses((status = 200, body = Page<OrderView>), (status = 403), (status = 422)))]
pub async fn search(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiQuery(f): ApiQuery<OrderFilter>,
) -> ApiResult<Json<Page<OrderView>>> {
    Ok(Json(s.app.search_orders(&c, &f).await?))
}

#[utoipa::path(get, path = "/api/v1/orders/{id}", tag = "orders", params(("id" = i64, Path)),
    security(("bearer" = [])), responses((status = 200, body = OrderView), (status = 404)))]
pub async fn get(Auth(c): Auth, State(s): State<AppState>, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<OrderView>> {
    Ok(Json(s.app.staff_order(&c, id).await?))
}

/// The receipt (小票) as plain text for the counter printer.
#[utoipa::path(get, path = "/api/v1/orders/{id}/receipt", tag = "counter", params(("id" = i64, Path)),
    security(("bearer" = [])), responses((status = 200, content_type = "text/plain", body = String), (status = 404)))]
pub async fn receipt(Auth(c): Auth, State(s): State<AppState>, ApiPath(id): ApiPath<i64>) -> ApiResult<Response> {
    let text = s.app.receipt(&c, id).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

/// Refunds a completed order fully or partly (`sales.refund`).
#[utoipa::path(post, path = "/api/v1/orders/{id}/refunds", tag = "orders", params(("id" = i64, Path),
    ("Idempotency-Key" = Option<String>, Header)), request_body = RefundCommand, security(("bearer" = [])),
    responses((status = 201, body = RefundView), (status = 403), (status = 409), (status = 422)))]
pub async fn refund(
    Auth(c): Auth,
    State(s): State<AppState>,
    IdempotencyKey(key): IdempotencyKey,
    ApiPath(id): ApiPath<i64>,
    ApiJson(cmd): ApiJson<RefundCommand>,
) -> ApiResult<Idem> {
    let fp = fingerprint("POST", &format!("/api/v1/orders/{id}/refunds"), &cmd);
    let app = s.app.clone();
    idempotent(&s, caller_scope(&c), key, fp, StatusCode::CREATED, |idem| async move {
        app.refund_order(&c, id, cmd, idem.as_ref()).await
    })
    .await
}

#[utoipa::path(get, path = "/api/v1/orders/{id}/refunds", tag = "orders", params(("id" = i64, Path)),
    security(("bearer" = [])), responses((status = 200, body = Vec<RefundView>), (status = 404)))]
pub async fn refunds(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Vec<RefundView>>> {
    Ok(Json(s.app.order_refunds(&c, id).await?))
}

/// Every wallet of the chain against its ledger; `mismatches` is empty when sound.
#[utoipa::path(get, path = "/api/v1/chains/{id}/ledger-check", tag = "orders", params(("id" = i64, Path)),
    security(("bearer" = [])), responses((status = 200, body = LedgerCheck), (status = 403)))]
pub async fn ledger_check(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<LedgerCheck>> {
    Ok(Json(s.app.ledger_check_as(&c, id).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertQuery {
    pub chain_id: i64,
}

/// Abnormal-order alerts of the stations the caller may see, newest first.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "orders", params(AlertQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<AlertView>)))]
pub async fn alerts(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<AlertQuery>,
) -> ApiResult<Json<Vec<AlertView>>> {
    Ok(Json(s.app.alerts(&c, q.chain_id).await?))
}

/// WeChat Pay API v3 notifications (payments and refunds): `Wechatpay-Signature` checked
/// with the platform key named by `Wechatpay-Serial`, timestamp within 5 minutes,
/// `resource` decrypted with the APIv3 key, amount, currency and merchant checked against
/// the payment. 204 once handled (applied, a duplicate, or parked for staff); 401
/// `{"code": "FAIL"}` for a refused signature, 500 when not applied: WeChat retries both.
#[utoipa::path(post, path = "/api/v1/pay/wechat/notify", tag = "payments",
    request_body(content = String, content_type = "application/json", description = "signed, encrypted notification"),
    responses((status = 204, description = "handled"), (status = 401, description = "signature refused"),
        (status = 500, description = "not applied: retried")))]
pub async fn wechat_notify(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    channel_notify(&s, "wechat", &headers, &body).await
}

/// Alipay asynchronous notifications (form-encoded, RSA2 over the sorted parameters
/// without `sign` and `sign_type`; app id and amount checked). Answers the text `success`
/// once handled, `fail` otherwise (Alipay retries anything else).
#[utoipa::path(post, path = "/api/v1/pay/alipay/notify", tag = "payments",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "signed notification"),
    responses((status = 200, description = "`success` when handled, `fail` when not applied", content_type = "text/plain"),
        (status = 401, description = "`fail`: signature refused", content_type = "text/plain")))]
pub async fn alipay_notify(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    channel_notify(&s, "alipay", &headers, &body).await
}

/// The sandbox channel's notifications (see docs/payments.md). 204 once handled.
#[utoipa::path(post, path = "/api/v1/pay/sandbox/notify", tag = "payments",
    request_body(content = String, content_type = "application/json", description = "signed notification"),
    responses((status = 204, description = "handled"), (status = 401, description = "signature refused"),
        (status = 500, description = "not applied: retried")))]
pub async fn sandbox_notify(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    channel_notify(&s, "sandbox", &headers, &body).await
}

/// Verifies and applies one notification, and answers in the channel's own terms.
/// Anything but success makes the channel deliver it again later; nothing is applied
/// twice (the money path applies each state once).
async fn channel_notify(s: &AppState, channel: &str, headers: &HeaderMap, body: &[u8]) -> Response {
    let (handled, refused) = match s.app.handle_pay_notification(channel, headers, body).await {
        Ok(_) => (true, false),
        Err(jiayou_app::AppError::Unauthenticated { code, .. }) => {
            tracing::warn!(channel, code, "payment notification refused");
            (false, true)
        }
        Err(e) => {
            tracing::error!(channel, error = %e, "payment notification not applied; the channel will retry");
            (false, false)
        }
    };
    let answer = s.app.pay.notification_answer(channel, handled);
    // Both channels retry on any failure answer; a refused signature says so with 401.
    let status = match refused {
        true => StatusCode::UNAUTHORIZED,
        false => StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    };
    (status, [(axum::http::header::CONTENT_TYPE, answer.content_type)], answer.body).into_response()
}
