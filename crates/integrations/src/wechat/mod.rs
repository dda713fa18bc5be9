//! WeChat mini-program sign-in (`code2Session`) and phone binding (`getPhoneNumber`).
//!
//! Sources for the protocol (shapes, error codes), cited where each is used:
//! - code2Session: <https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/user-login/code2Session.html>
//!   (errors 40029 invalid code, 45011 minute quota, 40226 high-risk user blocked, -1 busy);
//!   a code is single-use and lives 5 minutes.
//! - getPhoneNumber: <https://developers.weixin.qq.com/miniprogram/dev/server/API/user-info/phone-number/api_getphonenumber>
//! - access token: `GET /cgi-bin/token?grant_type=client_credential&appid=&secret=`.

mod error;
mod http;
mod login;
pub mod sandbox;
mod token;

pub use error::WxLoginError;
pub use http::{WechatConfig, WechatHttp};
pub use login::{SessionKey, WechatLogin, WxPhone, WxSession};
pub use sandbox::{WechatSandboxConfig, WechatSandboxHandle, spawn_wechat_sandbox};
