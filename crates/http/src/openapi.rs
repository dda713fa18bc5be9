//! The OpenAPI 3.1 document, assembled from the handlers' annotations as they are
//! routed, so a route cannot exist without its documentation.

use std::sync::Arc;

use axum::{Extension, Json};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::routes::{audit, auth, chains, equipment, finder, grades, health, members, prices, roles, staff, stations};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "jiayou API",
        description = "加油站连锁数字化服务 API。错误为 application/problem+json，带稳定的 code 字段；分页参数 page、per_page、sort。",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerAuth),
    components(schemas(crate::Problem, crate::error::FieldProblem)),
    tags(
        (name = "platform", description = "健康检查与指标"),
        (name = "finder", description = "附近油站（车主端）"),
        (name = "chains", description = "连锁"),
        (name = "stations", description = "油站"),
        (name = "equipment", description = "油罐、加油机、油枪"),
        (name = "grades", description = "油品"),
        (name = "prices", description = "油价"),
        (name = "auth", description = "员工登录与会话"),
        (name = "audit", description = "审计日志"),
        (name = "staff", description = "员工、角色与授权"),
        (name = "member", description = "车主端：会员登录（微信、短信验证码）、个人信息、车辆、授权同意"),
        (name = "members", description = "会员查询（后台，按角色脱敏，查看留痕）"),
        (name = "orders", description = "订单：预约下单、支付、认领、取消、充值、无感支付；后台查询、退款、对账"),
        (name = "counter", description = "收银台：现金、银行卡、付款码、会员余额，小票"),
        (name = "device", description = "加油机控制器接口（设备签名 HMAC-SHA256）"),
        (name = "devices", description = "加油机控制器（设备）：登记、密钥、停用"),
        (name = "marketing", description = "储值赠送规则、优惠券、支付策略、会员钱包"),
        (name = "payments", description = "支付渠道（微信支付、支付宝）回调通知、每日对账、待处理通知"),
        (name = "risk", description = "风控规则与待审核支付（S1）"),
        (name = "inventory", description = "库存：卸油、量油、进销存与加油量核对（B4、S3）"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "员工会话令牌（POST /api/v1/auth/login），或平台运营方的管理令牌（配置项 admin_token）",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            crate::device_auth::SECURITY_SCHEME,
            SecurityScheme::ApiKey(utoipa::openapi::security::ApiKey::Header(
                utoipa::openapi::security::ApiKeyValue::with_description(
                    "X-Signature",
                    "加油机控制器（设备）的请求签名，四个请求头一起发送：X-Device-Id（设备编码）、X-Timestamp（Unix 秒，与服务器相差不超过 300 秒）、\
                     X-Nonce（16–64 位 [A-Za-z0-9_-]，每个请求一个新值）、X-Signature（HMAC-SHA256 的小写十六进制，密钥为登记或轮换时下发的设备密钥原文，\
                     签名内容为 METHOD\\nPATH_AND_QUERY\\nTIMESTAMP\\nNONCE\\nHEX(SHA256(body))\\n）",
                ),
            )),
        );
    }
}

/// This document, in OpenAPI 3.1 JSON.
#[utoipa::path(get, path = "/api/openapi.json", tag = "platform", responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn serve_document(
    Extension(doc): Extension<Arc<utoipa::openapi::OpenApi>>,
) -> Json<utoipa::openapi::OpenApi> {
    Json(doc.as_ref().clone())
}

#[derive(OpenApi)]
#[openapi(paths(serve_document))]
struct DocumentRoute;

/// Adds the document's own route, which is served outside the routed API (it needs
/// the finished document).
pub fn finish(mut doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    doc.merge(DocumentRoute::openapi());
    doc
}

pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
        .routes(routes!(finder::nearby))
        .routes(routes!(chains::create, chains::list))
        .routes(routes!(chains::get))
        .routes(routes!(grades::create, grades::list))
        .routes(routes!(grades::get, grades::update))
        .routes(routes!(grades::retire))
        .routes(routes!(stations::create, stations::list))
        .routes(routes!(stations::get, stations::update))
        .routes(routes!(stations::retire))
        .routes(routes!(equipment::tanks::create, equipment::tanks::list))
        .routes(routes!(equipment::tanks::get, equipment::tanks::update))
        .routes(routes!(equipment::tanks::retire))
        .routes(routes!(equipment::pumps::create, equipment::pumps::list))
        .routes(routes!(equipment::pumps::get, equipment::pumps::update))
        .routes(routes!(equipment::pumps::retire))
        .routes(routes!(equipment::nozzles::create, equipment::nozzles::list))
        .routes(routes!(equipment::nozzles::get, equipment::nozzles::update))
        .routes(routes!(equipment::nozzles::retire))
        .routes(routes!(prices::list))
        .routes(routes!(prices::set))
        .routes(routes!(prices::history))
        .routes(routes!(audit::search))
        .routes(routes!(audit::export))
        .routes(routes!(auth::login))
        .routes(routes!(auth::sessions))
        .routes(routes!(auth::revoke))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::change_password))
        .routes(routes!(staff::create, staff::list))
        .routes(routes!(staff::get, staff::update))
        .routes(routes!(staff::grants))
        .routes(routes!(staff::nozzles))
        .routes(routes!(roles::create, roles::list))
        .routes(routes!(roles::get, roles::update))
        .routes(routes!(members::login_wechat))
        .routes(routes!(members::sms_send))
        .routes(routes!(members::login_sms))
        .routes(routes!(members::bind_phone_wechat))
        .routes(routes!(members::logout))
        .routes(routes!(members::me, members::update_me, members::delete_me))
        .routes(routes!(members::export))
        .routes(routes!(members::consents, members::set_consents))
        .routes(routes!(members::vehicles, members::add_vehicle))
        .routes(routes!(members::update_vehicle, members::delete_vehicle))
        .routes(routes!(members::find))
        .routes(routes!(members::get))
        .merge(crate::routes::devices::router())
        .merge(crate::routes::marketing::router())
        .merge(crate::routes::orders::router())
        .merge(crate::routes::risk::router())
        .merge(crate::routes::alerts::router())
        .merge(crate::routes::inventory::router())
}
