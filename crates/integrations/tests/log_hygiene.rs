//! What reaches the logs: the SMS sandbox's code does (a developer signs in with it);
//! phone numbers, secrets, session keys and access tokens do not.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::localhost;
use jiayou_integrations::sms::{SmsConfig, SmsSandboxConfig, SmsSender, TencentSms, spawn_sms_sandbox};
use jiayou_integrations::wechat::{WechatConfig, WechatHttp, WechatLogin, WechatSandboxConfig, spawn_wechat_sandbox};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_reach_the_sandbox_log_and_personal_data_and_secrets_never_do() {
    let captured = Captured::default();
    let sink = captured.clone();
    // Global, so the servers' tasks on other threads are captured too. This file holds a
    // single test for that reason.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .init();

    let wx_conf = WechatSandboxConfig::default();
    let (_, wx_sb) = spawn_wechat_sandbox(localhost(), wx_conf.clone()).await.unwrap();
    let wx = WechatHttp::new(
        WechatConfig::new(wx_conf.appid.clone(), wx_conf.secret.clone()).with_base_url(wx_sb.base_url()),
    )
    .unwrap();
    let session = wx.code_to_session("test-alice-unionid").await.unwrap();
    let phone = wx.phone_number("phone-13800138000").await.unwrap();
    assert_eq!(phone.pure_phone_number, "13800138000");
    wx.code_to_session("test-alice-unionid").await.unwrap_err();
    wx.code_to_session("err-40029").await.unwrap_err();
    let wrong =
        WechatHttp::new(WechatConfig::new(wx_conf.appid.clone(), "wrong-secret-x").with_base_url(wx_sb.base_url()))
            .unwrap();
    wrong.code_to_session("test-bob").await.unwrap_err();

    let sms_conf = SmsSandboxConfig::default();
    let (_, sms_sb) = spawn_sms_sandbox(localhost(), sms_conf.clone()).await.unwrap();
    let sms_config = SmsConfig::new(
        sms_conf.secret_id.clone(),
        sms_conf.secret_key.clone(),
        sms_conf.sdk_app_id.clone(),
        "加油站",
        "1110",
    )
    .with_base_url(sms_sb.base_url());
    TencentSms::new(sms_config.clone()).unwrap().send_code("13800138000", "246810").await.unwrap();
    let mut bad = sms_config;
    bad.secret_key = "wrong-sms-key-y".into();
    TencentSms::new(bad).unwrap().send_code("13900139000", "112233").await.unwrap_err();

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("246810"), "the sandbox logs the code for the developer:\n{logs}");
    assert!(logs.contains("138****8000"), "numbers appear masked:\n{logs}");
    for secret in [
        "13800138000",
        "13900139000",
        wx_conf.secret.as_str(),
        "wrong-secret-x",
        session.session_key.expose(),
        sms_conf.secret_key.as_str(),
        "wrong-sms-key-y",
        "access_token=",
    ] {
        assert!(!logs.contains(secret), "{secret:?} reached the log:\n{logs}");
    }
    assert!(!logs.contains("112233"), "a refused message's code is not logged");
}
