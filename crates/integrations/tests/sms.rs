//! The Tencent Cloud SMS adapter against its sandbox over real HTTP, and the TC3
//! signature against published vectors.

mod common;

use std::time::{Duration, Instant};

use common::{localhost, spawn_silent_peer};
use jiayou_integrations::sms::sandbox::{BLOCKED_PHONE, RATE_LIMITED_PHONE};
use jiayou_integrations::sms::{
    SmsConfig, SmsError, SmsSandboxConfig, SmsSandboxHandle, SmsSender, TencentSms, spawn_sms_sandbox, tc3,
};
use serde_json::Value;

fn config_for(sb: &SmsSandboxConfig, base_url: String) -> SmsConfig {
    SmsConfig::new(sb.secret_id.clone(), sb.secret_key.clone(), sb.sdk_app_id.clone(), "加油站", "1110")
        .with_base_url(base_url)
}

async fn sandbox() -> (TencentSms, SmsSandboxHandle) {
    let config = SmsSandboxConfig::default();
    let (_, handle) = spawn_sms_sandbox(localhost(), config.clone()).await.unwrap();
    (TencentSms::new(config_for(&config, handle.base_url())).unwrap(), handle)
}

#[tokio::test]
async fn a_sent_code_reaches_the_peer_with_a_valid_signature() {
    let (sms, sb) = sandbox().await;
    sms.send_code("13800138000", "246810").await.unwrap();
    assert_eq!(sb.last_code("13800138000").as_deref(), Some("246810"));
    assert_eq!(sb.last_code("+8613800138000").as_deref(), Some("246810"));
    assert_eq!(sb.last_code("13900139000"), None);
    let sent = sb.messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].phone.as_str(), sent[0].sign_name.as_str(), sent[0].template_id.as_str()),
        ("+8613800138000", "加油站", "1110")
    );
    assert_eq!(sb.auth_failures(), 0);

    sms.send_code("+8613800138000", "135790").await.unwrap();
    assert_eq!(sb.last_code("13800138000").as_deref(), Some("135790"), "the latest code wins");
}

#[tokio::test]
async fn a_wrong_secret_key_is_refused_by_the_peer() {
    let (_, sb) = sandbox().await;
    let mut config = config_for(&SmsSandboxConfig::default(), sb.base_url());
    config.secret_key = "not-the-key".into();
    let err = TencentSms::new(config).unwrap().send_code("13800138000", "111111").await.unwrap_err();
    assert_eq!(err, SmsError::AuthFailed("AuthFailure.SignatureFailure".into()));
    assert_eq!(err.code(), "sms_auth_failed");
    assert_eq!(sb.last_code("13800138000"), None);
    assert_eq!(sb.auth_failures(), 1);
}

#[tokio::test]
async fn an_unknown_secret_id_is_refused() {
    let (_, sb) = sandbox().await;
    let mut config = config_for(&SmsSandboxConfig::default(), sb.base_url());
    config.secret_id = "AKIDnobody".into();
    let err = TencentSms::new(config).unwrap().send_code("13800138000", "111111").await.unwrap_err();
    assert_eq!(err, SmsError::AuthFailed("AuthFailure.SecretIdNotFound".into()));
}

/// Sends a request signed by hand, optionally spoiled after signing.
async fn raw_send(sb: &SmsSandboxHandle, timestamp: i64, tamper: impl FnOnce(&mut Vec<u8>, &mut String)) -> Value {
    let config = SmsSandboxConfig::default();
    let host = sb.addr().to_string();
    let mut body =
        br#"{"PhoneNumberSet":["+8613800138000"],"SmsSdkAppId":"1400000000","SignName":"x","TemplateId":"1","TemplateParamSet":["999999"]}"#.to_vec();
    let headers =
        [("content-type", "application/json; charset=utf-8"), ("host", host.as_str()), ("x-tc-action", "SendSms")];
    let request = tc3::Request { method: "POST", path: "/", query: "", headers: &headers, payload: &body };
    let mut authorization = tc3::authorization(&config.secret_id, &config.secret_key, "sms", timestamp, &request);
    tamper(&mut body, &mut authorization);
    reqwest::Client::new()
        .post(sb.base_url())
        .header("authorization", authorization)
        .header("content-type", "application/json; charset=utf-8")
        .header("x-tc-action", "SendSms")
        .header("x-tc-version", "2021-01-11")
        .header("x-tc-timestamp", timestamp.to_string())
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn error_code(reply: &Value) -> Option<&str> {
    reply["Response"]["Error"]["Code"].as_str()
}

#[tokio::test]
async fn the_peer_rejects_tampered_signatures_bodies_and_old_timestamps() {
    let (_, sb) = sandbox().await;
    let now = chrono::Utc::now().timestamp();

    let untouched = raw_send(&sb, now, |_, _| {}).await;
    assert_eq!(error_code(&untouched), None, "{untouched}");
    assert_eq!(untouched["Response"]["SendStatusSet"][0]["Code"], "Ok");
    assert_eq!(sb.last_code("13800138000").as_deref(), Some("999999"));

    let flipped_signature = raw_send(&sb, now, |_, auth| {
        let last = auth.pop().unwrap();
        auth.push(if last == '0' { '1' } else { '0' });
    })
    .await;
    assert_eq!(error_code(&flipped_signature), Some("AuthFailure.SignatureFailure"));

    let changed_body = raw_send(&sb, now, |body, _| {
        let text = String::from_utf8(body.clone()).unwrap().replace("999999", "000000");
        *body = text.into_bytes();
    })
    .await;
    assert_eq!(error_code(&changed_body), Some("AuthFailure.SignatureFailure"));

    let stale = raw_send(&sb, now - 600, |_, _| {}).await;
    assert_eq!(error_code(&stale), Some("AuthFailure.SignatureExpire"));

    assert_eq!(sb.auth_failures(), 3);
    assert_eq!(sb.messages().len(), 1, "only the untouched request was delivered");
}

#[tokio::test]
async fn invalid_phones_never_reach_the_provider() {
    let (sms, sb) = sandbox().await;
    for phone in ["", "12345", "2380013800a", "+"] {
        let err = sms.send_code(phone, "123456").await.unwrap_err();
        assert_eq!(err, SmsError::InvalidPhone, "{phone:?}");
        assert_eq!(err.code(), "sms_invalid_phone");
    }
    assert!(sb.messages().is_empty());
}

#[tokio::test]
async fn per_number_refusals_map_to_distinct_errors() {
    let (sms, _sb) = sandbox().await;
    let err = sms.send_code(RATE_LIMITED_PHONE, "123456").await.unwrap_err();
    assert_eq!(err, SmsError::RateLimited("LimitExceeded.PhoneNumberOneHourLimit".into()));
    assert_eq!(err.code(), "sms_rate_limited");
    let err = sms.send_code(BLOCKED_PHONE, "123456").await.unwrap_err();
    assert_eq!(err, SmsError::Rejected("FailedOperation.PhoneNumberInBlacklist".into()));
    assert_eq!(err.code(), "sms_rejected");
    assert_ne!(SmsError::RateLimited(String::new()).user_message(), SmsError::Rejected(String::new()).user_message());
}

#[tokio::test]
async fn a_provider_that_never_answers_is_unreachable_within_the_timeout() {
    let silent = spawn_silent_peer().await;
    let mut config = config_for(&SmsSandboxConfig::default(), format!("http://{silent}"));
    config.timeout = Duration::from_millis(300);
    let started = Instant::now();
    let err = TencentSms::new(config).unwrap().send_code("13800138000", "123456").await.unwrap_err();
    assert_eq!(err, SmsError::Unreachable("timed out"));
    assert_eq!(err.code(), "sms_unreachable");
    assert!(started.elapsed() < Duration::from_secs(5), "gave up after {:?}", started.elapsed());
}

/// Published TC3-HMAC-SHA256 vectors. Each fixes every input of the signature.
mod vectors {
    use super::tc3;

    /// TencentCloud/tencentcloud-sdk-nodejs, test/common/sign.test.ts ("should generate
    /// sign3 signature correctly"): POST to cvm.tencentcloudapi.com, payload
    /// {"Action":"DescribeInstances","Version":"2017-03-12"} as JSON, timestamp
    /// 1640995200, secret id/key "test-secret-id"/"test-secret-key".
    #[test]
    fn official_nodejs_sdk_post_vector() {
        let payload = br#"{"Action":"DescribeInstances","Version":"2017-03-12"}"#;
        let headers = [("Content-Type", "application/json"), ("Host", "cvm.tencentcloudapi.com")];
        let req = tc3::Request { method: "POST", path: "/", query: "", headers: &headers, payload };
        assert_eq!(
            tc3::authorization("test-secret-id", "test-secret-key", "cvm", 1_640_995_200, &req),
            "TC3-HMAC-SHA256 Credential=test-secret-id/2022-01-01/cvm/tc3_request, SignedHeaders=content-type;host, \
             Signature=96473b50fe407833672a5d6d067238d88bb44c8abcc39ef83baa3132afbfadd3"
        );
    }

    /// Same file, "should handle GET requests correctly": the same inputs sent as GET with
    /// Content-Type application/x-www-form-urlencoded (the SDK still hashes the JSON payload).
    #[test]
    fn official_nodejs_sdk_get_vector() {
        let payload = br#"{"Action":"DescribeInstances","Version":"2017-03-12"}"#;
        let headers = [("Content-Type", "application/x-www-form-urlencoded"), ("Host", "cvm.tencentcloudapi.com")];
        let req = tc3::Request { method: "GET", path: "/", query: "", headers: &headers, payload };
        let (canonical, _) = tc3::canonical_request(&req);
        let sig = tc3::signature(
            "test-secret-key",
            "2022-01-01",
            "cvm",
            &tc3::string_to_sign(1_640_995_200, "cvm", &canonical),
        );
        assert_eq!(sig, "39ce411ac32014b7d814118b33f82d3445be566f67e1f4b369ccdc3791ce9a13");
    }

    /// An independent implementation: the doctest of `TencentCloud.Core.common_headers/2`
    /// in the Elixir package tencent_cloud_core 0.1.1 (hexdocs.pm/tencent_cloud_core/0.1.1):
    /// ChatBot on nlp.tencentcloudapi.com at 1632706407 with a UTF-8 body and the
    /// `application/json; charset=utf-8` content type our SMS requests use.
    #[test]
    fn independent_elixir_vector_with_a_utf8_body() {
        let payload = "{\"Query\":\"你好，红领巾，我叫白胡子\"}".as_bytes();
        let headers = [("Content-Type", "application/json; charset=utf-8"), ("Host", "nlp.tencentcloudapi.com")];
        let req = tc3::Request { method: "POST", path: "/", query: "", headers: &headers, payload };
        assert_eq!(
            tc3::authorization(
                "GebjUWWJJVnL1en1gtgb52CmNJN8CqdKC0ne",
                "QtXXc6HftX/LEwrSi+MR4OyVEnEslwyg",
                "nlp",
                1_632_706_407,
                &req
            ),
            "TC3-HMAC-SHA256 Credential=GebjUWWJJVnL1en1gtgb52CmNJN8CqdKC0ne/2021-09-27/nlp/tc3_request, \
             SignedHeaders=content-type;host, Signature=3ec0d092a50635e6bdfcf051750d55dca5bc39e270348d8e46f928d50d3ed833"
        );
    }

    #[test]
    fn the_scope_date_is_utc() {
        // 2022-01-01 00:30 in Beijing is still 2021-12-31 in UTC.
        assert_eq!(tc3::utc_date(1_640_968_200), "2021-12-31");
    }
}
