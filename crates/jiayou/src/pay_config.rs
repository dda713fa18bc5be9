//! The `[pay]` section: which payment channels a deployment takes money through, per
//! chain and, in service-provider mode, per station. Keys are read from files, like a
//! real install keeps them (`apiclient_key.pem`, `pub_key.pem`, the Alipay key pair);
//! every file and setting is checked at start-up, naming the offending entry.
//!
//! ```toml
//! [pay]
//! public_base_url = "https://pay.example.com"   # how the channels reach us (notify URLs)
//!
//! [[pay.wechat]]                                 # direct merchant, whole chain
//! chain = "YNDEMO"
//! mchid = "1900000109"
//! appid = "wxd678efh567hg6787"
//! apiv3_key_file = "/etc/jiayou/wechat/apiv3.key"
//! merchant_serial = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
//! merchant_key_file = "/etc/jiayou/wechat/apiclient_key.pem"
//! platform_key_id = "PUB_KEY_ID_0114232134912410000000000000"
//! platform_key_file = "/etc/jiayou/wechat/pub_key.pem"
//!
//! [[pay.alipay]]
//! chain = "YNDEMO"
//! app_id = "2021000000000000"
//! app_private_key_file = "/etc/jiayou/alipay/app_private_key.pem"
//! alipay_public_key_file = "/etc/jiayou/alipay/alipay_public_key.pem"
//! seller_id = "2088000000000000"
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use jiayou_app::channels::{ChannelEntry, PayChannels};
use jiayou_integrations::pay::PaymentChannel;
use jiayou_integrations::pay::alipay::{AlipayChannel, AlipayConfig};
use jiayou_integrations::pay::rsa::{PrivateKey, PublicKey};
use jiayou_integrations::pay::wechat::{WechatPayChannel, WechatPayConfig};
use serde::Deserialize;

use crate::config::ConfigError;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayFile {
    /// Our address as the channels see it; notifications go to
    /// `{public_base_url}/api/v1/pay/{wechat|alipay}/notify`. Default: http://{listen}.
    pub public_base_url: Option<String>,
    #[serde(default)]
    pub wechat: Vec<WechatFile>,
    #[serde(default)]
    pub alipay: Vec<AlipayFile>,
}

/// One WeChat Pay merchant (or, with `sub_mchid`, one station as sub-merchant).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WechatFile {
    /// The chain (code) it serves; absent = every chain.
    pub chain: Option<String>,
    /// The station (code) it serves; with `sub_mchid`, the station's sub-merchant.
    pub station: Option<String>,
    pub base_url: Option<String>,
    pub mchid: String,
    pub appid: String,
    pub sub_mchid: Option<String>,
    pub sub_appid: Option<String>,
    /// A file holding the 32-character APIv3 key (kept out of the config file).
    pub apiv3_key_file: PathBuf,
    pub merchant_serial: String,
    pub merchant_key_file: PathBuf,
    pub platform_key_id: String,
    pub platform_key_file: PathBuf,
    pub timeout_ms: Option<u64>,
}

/// One Alipay app (or, with `app_auth_token`, one authorising merchant).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlipayFile {
    pub chain: Option<String>,
    pub station: Option<String>,
    pub gateway_url: Option<String>,
    pub app_id: String,
    pub app_private_key_file: PathBuf,
    pub alipay_public_key_file: PathBuf,
    pub seller_id: Option<String>,
    pub app_auth_token: Option<String>,
    pub return_url: Option<String>,
    pub timeout_ms: Option<u64>,
}

/// Validated channel settings: what the server builds its instances from.
#[derive(Debug, Clone, Default)]
pub struct PaySettings {
    pub public_base_url: Option<String>,
    pub instances: Vec<Instance>,
}

#[derive(Debug, Clone)]
pub struct Instance {
    pub chain: Option<String>,
    pub station: Option<String>,
    pub channel: ChannelConfig,
}

#[derive(Debug, Clone)]
pub enum ChannelConfig {
    Wechat(WechatPayConfig),
    Alipay(AlipayConfig),
}

fn invalid(key: String, message: impl Into<String>) -> ConfigError {
    ConfigError::Channel { key, message: message.into() }
}

fn read(key: &str, path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| invalid(key.to_owned(), format!("cannot read {}: {e}", path.display())))
}

impl PaySettings {
    pub fn load(f: PayFile) -> Result<PaySettings, ConfigError> {
        if let Some(u) = &f.public_base_url
            && url::Url::parse(u).map(|u| !matches!(u.scheme(), "http" | "https")).unwrap_or(true)
        {
            return Err(invalid("pay.public_base_url".into(), "must be an http(s) URL"));
        }
        let mut instances = Vec::new();
        for (i, w) in f.wechat.into_iter().enumerate() {
            let key = |k: &str| format!("pay.wechat[{i}].{k}");
            let apiv3_key = read(&key("apiv3_key_file"), &w.apiv3_key_file)?.trim().to_owned();
            let merchant_key = PrivateKey::parse(&read(&key("merchant_key_file"), &w.merchant_key_file)?)
                .map_err(|e| invalid(key("merchant_key_file"), e.to_string()))?;
            let platform_key = PublicKey::parse(&read(&key("platform_key_file"), &w.platform_key_file)?)
                .map_err(|e| invalid(key("platform_key_file"), e.to_string()))?;
            let mut c = WechatPayConfig::direct(
                w.mchid,
                w.appid,
                apiv3_key,
                w.merchant_serial,
                merchant_key,
                w.platform_key_id,
                platform_key,
            );
            if let Some(u) = w.base_url {
                c.base_url = u;
            }
            c.sub_mchid = w.sub_mchid;
            c.sub_appid = w.sub_appid;
            if let Some(ms) = w.timeout_ms {
                c.timeout = Duration::from_millis(ms);
            }
            // Build once now: a bad setting stops start-up here, naming the entry.
            WechatPayChannel::new(c.clone()).map_err(|e| invalid(format!("pay.wechat[{i}]"), e.to_string()))?;
            instances.push(Instance { chain: w.chain, station: w.station, channel: ChannelConfig::Wechat(c) });
        }
        for (i, a) in f.alipay.into_iter().enumerate() {
            let key = |k: &str| format!("pay.alipay[{i}].{k}");
            let private = PrivateKey::parse(&read(&key("app_private_key_file"), &a.app_private_key_file)?)
                .map_err(|e| invalid(key("app_private_key_file"), e.to_string()))?;
            let public = PublicKey::parse(&read(&key("alipay_public_key_file"), &a.alipay_public_key_file)?)
                .map_err(|e| invalid(key("alipay_public_key_file"), e.to_string()))?;
            let mut c = AlipayConfig::new(a.app_id, private, public);
            if let Some(u) = a.gateway_url {
                c.gateway_url = u;
            }
            c.seller_id = a.seller_id;
            c.app_auth_token = a.app_auth_token;
            c.return_url = a.return_url;
            if let Some(ms) = a.timeout_ms {
                c.timeout = Duration::from_millis(ms);
            }
            AlipayChannel::new(c.clone()).map_err(|e| invalid(format!("pay.alipay[{i}]"), e.to_string()))?;
            instances.push(Instance { chain: a.chain, station: a.station, channel: ChannelConfig::Alipay(c) });
        }
        Ok(PaySettings { public_base_url: f.public_base_url, instances })
    }

    /// The registry the app uses; `listen` is the fallback base of notify URLs.
    pub fn channels(&self, listen: std::net::SocketAddr) -> anyhow::Result<PayChannels> {
        let base = self.public_base_url.clone().unwrap_or_else(|| format!("http://{listen}"));
        let mut channels = PayChannels::new(base);
        for i in &self.instances {
            let channel: Arc<dyn PaymentChannel> = match &i.channel {
                ChannelConfig::Wechat(c) => Arc::new(WechatPayChannel::new(c.clone())?),
                ChannelConfig::Alipay(c) => Arc::new(AlipayChannel::new(c.clone())?),
            };
            channels.add(ChannelEntry { chain: i.chain.clone(), station: i.station.clone(), channel });
        }
        Ok(channels)
    }
}
