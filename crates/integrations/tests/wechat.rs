//! The WeChat adapter against its sandbox (and a few broken peers) over real HTTP.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use common::{closed_port, localhost, spawn_router, spawn_silent_peer};
use jiayou_integrations::wechat::{
    WechatConfig, WechatHttp, WechatLogin, WechatSandboxConfig, WechatSandboxHandle, WxLoginError, spawn_wechat_sandbox,
};

async fn sandbox() -> (WechatHttp, WechatSandboxHandle) {
    let config = WechatSandboxConfig::default();
    let (_, handle) = spawn_wechat_sandbox(localhost(), config.clone()).await.unwrap();
    let client =
        WechatHttp::new(WechatConfig::new(config.appid, config.secret).with_base_url(handle.base_url())).unwrap();
    (client, handle)
}

fn client_at(base_url: String, timeout: Duration) -> WechatHttp {
    let sb = WechatSandboxConfig::default();
    let mut config = WechatConfig::new(sb.appid, sb.secret).with_base_url(base_url);
    config.timeout = timeout;
    WechatHttp::new(config).unwrap()
}

#[tokio::test]
async fn a_test_code_signs_in_the_same_member_every_time() {
    let (wx, _sb) = sandbox().await;
    let first = wx.code_to_session("test-alice").await.unwrap();
    assert_eq!(first.openid, "o_sandbox_alice");
    assert_eq!(first.unionid, None);
    assert!(!first.session_key.expose().is_empty());
    assert!(!format!("{first:?}").contains(first.session_key.expose()), "Debug hides the session key");

    let again = wx.code_to_session("test-alice.second-login").await.unwrap();
    assert_eq!(again.openid, "o_sandbox_alice");
    assert_ne!(again.session_key, first.session_key, "each login gets its own session key");
}

#[tokio::test]
async fn a_unionid_code_returns_the_unionid() {
    let (wx, sb) = sandbox().await;
    let session = wx.code_to_session("test-bob-unionid").await.unwrap();
    assert_eq!(session.openid, "o_sandbox_bob");
    assert_eq!(session.unionid.as_deref(), Some("u_sandbox_bob"));

    let issued = sb.issue_code("carol", true);
    let session = wx.code_to_session(&issued).await.unwrap();
    assert_eq!((session.openid.as_str(), session.unionid.as_deref()), ("o_sandbox_carol", Some("u_sandbox_carol")));
}

#[tokio::test]
async fn a_replayed_code_is_code_used() {
    let (wx, _sb) = sandbox().await;
    wx.code_to_session("test-dave.1").await.unwrap();
    let err = wx.code_to_session("test-dave.1").await.unwrap_err();
    assert_eq!(err, WxLoginError::CodeUsed);
    assert_eq!(err.code(), "wechat_code_used");
    assert_eq!(err.errcode(), Some(40163));
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn a_code_older_than_five_minutes_is_invalid() {
    let (wx, sb) = sandbox().await;
    let code = sb.issue_code("erin", false);
    sb.advance(Duration::from_secs(301));
    assert_eq!(wx.code_to_session(&code).await.unwrap_err(), WxLoginError::CodeInvalid);

    let fresh = sb.issue_code("erin", false);
    sb.advance(Duration::from_secs(299));
    assert_eq!(wx.code_to_session(&fresh).await.unwrap().openid, "o_sandbox_erin");
}

#[tokio::test]
async fn each_wechat_error_code_has_its_own_variant_code_and_message() {
    let (wx, _sb) = sandbox().await;
    let cases = [
        ("err-40029", WxLoginError::CodeInvalid, "wechat_code_invalid", 40029),
        ("err-45011", WxLoginError::RateLimited, "wechat_rate_limited", 45011),
        ("err-40226", WxLoginError::UserBlocked, "wechat_user_blocked", 40226),
        ("err-busy", WxLoginError::Busy, "wechat_busy", -1),
        ("not-a-sandbox-code", WxLoginError::CodeInvalid, "wechat_code_invalid", 40029),
    ];
    for (js_code, variant, code, errcode) in cases {
        let err = wx.code_to_session(js_code).await.unwrap_err();
        assert_eq!(err, variant, "{js_code}");
        assert_eq!(err.code(), code, "{js_code}");
        assert_eq!(err.errcode(), Some(errcode), "{js_code}");
    }
    assert!(WxLoginError::Busy.is_retryable() && WxLoginError::RateLimited.is_retryable());
    assert!(!WxLoginError::UserBlocked.is_retryable() && !WxLoginError::CodeInvalid.is_retryable());
}

#[test]
fn every_error_has_a_distinct_code_and_a_chinese_message() {
    let all = [
        WxLoginError::CodeInvalid,
        WxLoginError::RateLimited,
        WxLoginError::UserBlocked,
        WxLoginError::Busy,
        WxLoginError::CodeUsed,
        WxLoginError::Other { errcode: 40125, errmsg: "invalid appsecret".into() },
        WxLoginError::WatermarkMismatch,
        WxLoginError::Unreachable("timed out"),
        WxLoginError::BadResponse("not JSON".into()),
    ];
    let codes: HashSet<_> = all.iter().map(WxLoginError::code).collect();
    let messages: HashSet<_> = all.iter().map(WxLoginError::user_message).collect();
    assert_eq!(codes.len(), all.len());
    assert_eq!(messages.len(), all.len());
    for err in &all {
        assert!(err.user_message().chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)), "{err:?}");
    }
}

#[tokio::test]
async fn a_wrong_secret_or_appid_is_a_wechat_error_that_does_not_leak_the_secret() {
    let (_, sb) = sandbox().await;
    let good = WechatSandboxConfig::default();

    let wrong_secret =
        WechatHttp::new(WechatConfig::new(good.appid.clone(), "not-the-secret").with_base_url(sb.base_url())).unwrap();
    let err = wrong_secret.code_to_session("test-frank").await.unwrap_err();
    assert!(matches!(err, WxLoginError::Other { errcode: 40125, .. }), "{err:?}");
    assert_eq!(err.code(), "wechat_error");
    assert!(!err.to_string().contains("not-the-secret") && !format!("{err:?}").contains("not-the-secret"));

    let wrong_appid =
        WechatHttp::new(WechatConfig::new("wx-someone-else", good.secret).with_base_url(sb.base_url())).unwrap();
    let err = wrong_appid.code_to_session("test-frank").await.unwrap_err();
    assert!(matches!(err, WxLoginError::Other { errcode: 40013, .. }), "{err:?}");
}

#[tokio::test]
async fn jscode2session_answers_text_plain_and_is_parsed_anyway() {
    let (wx, sb) = sandbox().await;
    let good = WechatSandboxConfig::default();
    let url = format!(
        "{}/sns/jscode2session?appid={}&secret={}&js_code=test-gina&grant_type=authorization_code",
        sb.base_url(),
        good.appid,
        good.secret
    );
    let raw = reqwest::get(url).await.unwrap();
    assert_eq!(raw.headers()["content-type"], "text/plain");
    assert_eq!(wx.code_to_session("test-gina.2").await.unwrap().openid, "o_sandbox_gina");
}

#[tokio::test]
async fn a_malformed_answer_is_a_bad_response() {
    let (wx, _sb) = sandbox().await;
    let err = wx.code_to_session("err-malformed").await.unwrap_err();
    assert!(matches!(err, WxLoginError::BadResponse(_)), "{err:?}");
    assert_eq!(err.code(), "wechat_bad_response");

    // JSON without openid, and an HTTP 502 page from a proxy in front of WeChat.
    let peer = spawn_router(
        Router::new()
            .route("/sns/jscode2session", get(|| async { r#"{"session_key":"abc"}"# }))
            .route("/cgi-bin/token", get(|| async { (StatusCode::BAD_GATEWAY, "<html>502</html>") })),
    )
    .await;
    let wx = client_at(format!("http://{peer}"), Duration::from_secs(5));
    assert!(matches!(wx.code_to_session("test-x").await.unwrap_err(), WxLoginError::BadResponse(_)));
    assert!(matches!(wx.phone_number("phone-13800138000").await.unwrap_err(), WxLoginError::Unreachable(_)));
}

#[tokio::test]
async fn a_peer_that_never_answers_is_unreachable_within_the_timeout() {
    let silent = spawn_silent_peer().await;
    let wx = client_at(format!("http://{silent}"), Duration::from_millis(300));
    let started = Instant::now();
    let err = wx.code_to_session("test-hang").await.unwrap_err();
    assert_eq!(err, WxLoginError::Unreachable("timed out"));
    assert_eq!(err.code(), "wechat_unreachable");
    assert!(started.elapsed() < Duration::from_secs(5), "gave up after {:?}", started.elapsed());

    let closed = closed_port().await;
    let wx = client_at(format!("http://{closed}"), Duration::from_secs(5));
    assert!(matches!(wx.code_to_session("test-x").await.unwrap_err(), WxLoginError::Unreachable(_)));
}

#[tokio::test]
async fn empty_codes_never_reach_wechat() {
    let (wx, sb) = sandbox().await;
    assert_eq!(wx.code_to_session("  ").await.unwrap_err(), WxLoginError::CodeInvalid);
    assert_eq!(wx.phone_number("").await.unwrap_err(), WxLoginError::CodeInvalid);
    assert_eq!(sb.session_requests(), 0);
    assert_eq!(sb.token_requests(), 0);
}

#[tokio::test]
async fn the_phone_number_flow_caches_the_access_token() {
    let (wx, sb) = sandbox().await;
    let phone = wx.phone_number("phone-13800138000").await.unwrap();
    assert_eq!(phone.phone_number, "13800138000");
    assert_eq!(phone.pure_phone_number, "13800138000");
    assert_eq!(phone.country_code, "86");
    assert!(phone.timestamp > 0);
    assert!(!format!("{phone:?}").contains("13800138000"), "Debug masks the number");

    let other = wx.phone_number("phone-13900139000").await.unwrap();
    assert_eq!(other.pure_phone_number, "13900139000");
    assert_eq!(sb.token_requests(), 1, "the second call reused the cached token");
}

#[tokio::test]
async fn a_stale_access_token_is_fetched_again_once() {
    let (wx, sb) = sandbox().await;
    wx.phone_number("phone-13800138000").await.unwrap();
    sb.revoke_tokens();
    assert_eq!(wx.phone_number("phone-13800138000.2").await.unwrap().pure_phone_number, "13800138000");
    assert_eq!(sb.token_requests(), 2);
}

#[tokio::test]
async fn an_expired_access_token_is_replaced() {
    let (wx, sb) = sandbox().await;
    wx.phone_number("phone-13800138000").await.unwrap();
    sb.advance(Duration::from_secs(7201));
    wx.phone_number("phone-13800138000.2").await.unwrap();
    assert_eq!(sb.token_requests(), 2);
}

#[tokio::test]
async fn a_phone_number_released_to_another_app_is_refused() {
    let (wx, _sb) = sandbox().await;
    let err = wx.phone_number("phone-otherapp-13800138000").await.unwrap_err();
    assert_eq!(err, WxLoginError::WatermarkMismatch);
    assert_eq!(err.code(), "wechat_watermark_mismatch");
}

#[tokio::test]
async fn phone_errors_map_like_login_errors() {
    let (wx, _sb) = sandbox().await;
    assert_eq!(wx.phone_number("phone-err-40029").await.unwrap_err(), WxLoginError::CodeInvalid);
    assert_eq!(wx.phone_number("phone-err-45011").await.unwrap_err(), WxLoginError::RateLimited);
    assert_eq!(wx.phone_number("phone-err-busy").await.unwrap_err(), WxLoginError::Busy);
    wx.phone_number("phone-13700137000").await.unwrap();
    assert_eq!(
        wx.phone_number("phone-13700137000").await.unwrap_err(),
        WxLoginError::CodeInvalid,
        "phone codes are single-use"
    );
}

#[tokio::test]
async fn a_wrong_secret_fails_the_token_request() {
    let (_, sb) = sandbox().await;
    let good = WechatSandboxConfig::default();
    let wx = WechatHttp::new(WechatConfig::new(good.appid, "wrong").with_base_url(sb.base_url())).unwrap();
    let err = wx.phone_number("phone-13800138000").await.unwrap_err();
    assert!(matches!(err, WxLoginError::Other { errcode: 40125, .. }), "{err:?}");
}

#[tokio::test]
async fn a_numeric_country_code_from_wechat_is_accepted() {
    let appid = WechatSandboxConfig::default().appid;
    let reply = format!(
        r#"{{"errcode":0,"errmsg":"ok","phone_info":{{"phoneNumber":"+85261234567","purePhoneNumber":"61234567","countryCode":852,"watermark":{{"timestamp":1637744274,"appid":"{appid}"}}}}}}"#
    );
    let peer = spawn_router(
        Router::new()
            .route("/cgi-bin/token", get(|| async { r#"{"access_token":"T","expires_in":7200}"# }))
            .route("/wxa/business/getuserphonenumber", post(move || async move { reply })),
    )
    .await;
    let phone = client_at(format!("http://{peer}"), Duration::from_secs(5)).phone_number("any").await.unwrap();
    assert_eq!((phone.country_code.as_str(), phone.pure_phone_number.as_str()), ("852", "61234567"));
}

#[tokio::test]
async fn the_sandbox_stops_when_asked() {
    let (wx, sb) = sandbox().await;
    wx.code_to_session("test-henry").await.unwrap();
    sb.shutdown();
    tokio::time::sleep(Duration::from_millis(50)).await;
    // New connections are refused once the listener is gone.
    let fresh = client_at(sb.base_url(), Duration::from_secs(2));
    assert!(matches!(fresh.code_to_session("test-henry.2").await.unwrap_err(), WxLoginError::Unreachable(_)));
}

#[test]
fn an_invalid_base_url_is_refused() {
    assert!(WechatHttp::new(WechatConfig::new("a", "b").with_base_url("api.weixin.qq.com")).is_err());
}
