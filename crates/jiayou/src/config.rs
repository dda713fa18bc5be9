//! Settings: a TOML file (optional) overlaid by environment variables. An unknown key
//! or an invalid value stops start-up with a message naming it; a typo in a config file
//! must never be silently ignored on a system that handles money.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use jiayou_domain::audit::AuditKey;
use jiayou_integrations::sms::{SmsConfig, TencentSms};
use jiayou_integrations::wechat::{WechatConfig, WechatHttp};
use jiayou_store::crypto::KeyRing;
use serde::Deserialize;

use crate::pay_config::{PayFile, PaySettings};

pub const DEFAULT_DATABASE_URL: &str = "sqlite://./data/jiayou.db?mode=rwc";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// The config file as written by an operator. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub database_url: Option<String>,
    pub listen: Option<String>,
    pub redis_url: Option<String>,
    pub admin_token: Option<String>,
    /// Behind a reverse proxy you run: take client addresses from X-Forwarded-For.
    pub trust_forwarded_for: Option<bool>,
    pub log_level: Option<String>,
    pub log_format: Option<String>,
    pub crypto: Option<CryptoFile>,
    pub audit: Option<AuditFile>,
    pub wechat: Option<WechatFile>,
    pub sms: Option<SmsFile>,
    /// Payment channels (see `crate::pay_config`).
    pub pay: Option<PayFile>,
}

/// The WeChat mini-program (member sign-in, phone binding).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WechatFile {
    pub base_url: Option<String>,
    pub appid: Option<String>,
    pub secret: Option<String>,
}

/// Tencent Cloud SMS (sign-in codes for the H5 app).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsFile {
    pub base_url: Option<String>,
    pub secret_id: Option<String>,
    pub secret_key: Option<String>,
    pub sdk_app_id: Option<String>,
    pub sign_name: Option<String>,
    pub template_id: Option<String>,
    pub region: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditFile {
    /// BASE64 of the 32-byte key of the audit hash chain. Keep it outside the database
    /// (and its backups): with it, a re-hashed chain would verify.
    pub key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CryptoFile {
    /// `1:BASE64,2:BASE64`: every data-key version still needed to read old rows.
    pub keys: Option<String>,
    /// The version new rows are sealed with.
    pub active_key: Option<u8>,
    /// BASE64 of the 32-byte blind-index key. Never rotate it without re-indexing.
    pub blind_index_key: Option<String>,
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub listen: SocketAddr,
    pub redis_url: Option<url::Url>,
    pub admin_token: Option<String>,
    pub trust_forwarded_for: bool,
    pub log_level: String,
    pub log_json: bool,
    pub crypto: Option<CryptoSettings>,
    /// BASE64 audit-chain key, validated.
    pub audit_key: Option<String>,
    /// WeChat mini-program settings (all of appid and secret, or none).
    pub wechat: Option<WechatConfig>,
    /// SMS provider settings (all required keys, or none).
    pub sms: Option<SmsConfig>,
    /// Payment channel instances (none: balance, coupons, points, cash and card only).
    pub pay: PaySettings,
}

#[derive(Debug, Clone)]
pub struct CryptoSettings {
    pub keys: String,
    pub active_key: u8,
    pub blind_index_key: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid value for {key}: {message}")]
    Invalid { key: &'static str, message: String },
    /// A payment channel entry, e.g. `pay.wechat[0].merchant_key_file`.
    #[error("invalid value for {key}: {message}")]
    Channel { key: String, message: String },
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key, message: message.into() }
}

/// Where settings come from; `env` is injectable so tests need not touch the process.
pub struct Sources<'a> {
    pub file: Option<&'a Path>,
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

impl Config {
    pub fn load(src: Sources<'_>) -> Result<Config, ConfigError> {
        let file = match src.file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
                toml::from_str::<FileConfig>(&text)
                    .map_err(|e| ConfigError::Parse { path: path.to_owned(), message: e.to_string() })?
            }
            None => FileConfig::default(),
        };
        let env = |k: &str| (src.env)(k).filter(|v| !v.trim().is_empty());
        let crypto_file = file.crypto.unwrap_or_default();

        let database_url =
            env("JIAYOU_DATABASE_URL").or(file.database_url).unwrap_or_else(|| DEFAULT_DATABASE_URL.into());
        let scheme_ok = ["sqlite:", "postgres://", "postgresql://", "mysql://", "mariadb://"]
            .iter()
            .any(|p| database_url.starts_with(p));
        if !scheme_ok {
            return Err(invalid(
                "database_url (JIAYOU_DATABASE_URL)",
                "must start with sqlite:, postgres://, or mysql://",
            ));
        }
        // sqlx speaks MariaDB through its MySQL driver.
        let database_url = database_url.replacen("mariadb://", "mysql://", 1);

        let listen_s = env("JIAYOU_LISTEN").or(file.listen).unwrap_or_else(|| DEFAULT_LISTEN.into());
        let listen = listen_s.parse().map_err(|_| {
            invalid("listen (JIAYOU_LISTEN)", format!("{listen_s:?} is not an address like 127.0.0.1:8080"))
        })?;

        let redis_url = match env("JIAYOU_REDIS_URL").or(file.redis_url) {
            None => None,
            Some(s) => {
                let u = url::Url::parse(&s).map_err(|e| invalid("redis_url (JIAYOU_REDIS_URL)", e.to_string()))?;
                if !matches!(u.scheme(), "redis" | "rediss") {
                    return Err(invalid("redis_url (JIAYOU_REDIS_URL)", "scheme must be redis:// or rediss://"));
                }
                Some(u)
            }
        };

        let admin_token = env("JIAYOU_ADMIN_TOKEN").or(file.admin_token);
        if let Some(t) = &admin_token
            && t.len() < 16
        {
            return Err(invalid("admin_token (JIAYOU_ADMIN_TOKEN)", "must be at least 16 characters"));
        }

        let trust_forwarded_for = match env("JIAYOU_TRUST_FORWARDED_FOR") {
            Some(v) => match v.as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => return Err(invalid("trust_forwarded_for (JIAYOU_TRUST_FORWARDED_FOR)", "use true or false")),
            },
            None => file.trust_forwarded_for.unwrap_or(false),
        };

        let log_level = env("JIAYOU_LOG").or(file.log_level).unwrap_or_else(|| "info".into());
        if tracing_subscriber::EnvFilter::try_new(&log_level).is_err() {
            return Err(invalid(
                "log_level (JIAYOU_LOG)",
                format!("{log_level:?} is not a log filter like info or jiayou=debug"),
            ));
        }
        let log_json = match env("JIAYOU_LOG_FORMAT").or(file.log_format).as_deref() {
            None | Some("text") => false,
            Some("json") => true,
            Some(other) => {
                return Err(invalid("log_format (JIAYOU_LOG_FORMAT)", format!("{other:?}: use text or json")));
            }
        };

        let keys = env("JIAYOU_CRYPTO_KEYS").or(crypto_file.keys);
        let active = match env("JIAYOU_CRYPTO_ACTIVE_KEY") {
            Some(v) => Some(
                v.parse::<u8>()
                    .map_err(|_| invalid("crypto.active_key (JIAYOU_CRYPTO_ACTIVE_KEY)", "must be 1–255"))?,
            ),
            None => crypto_file.active_key,
        };
        let bidx = env("JIAYOU_CRYPTO_BLIND_INDEX_KEY").or(crypto_file.blind_index_key);
        let crypto = match (keys, bidx) {
            (None, None) => None,
            (Some(keys), Some(blind_index_key)) => {
                let active_key = active.unwrap_or(1);
                // Parse now so a bad key stops start-up here, naming the part.
                KeyRing::from_config(&keys, active_key, &blind_index_key)
                    .map_err(|e| invalid("crypto", e.to_string()))?;
                Some(CryptoSettings { keys, active_key, blind_index_key })
            }
            (Some(_), None) => {
                return Err(invalid(
                    "crypto.blind_index_key (JIAYOU_CRYPTO_BLIND_INDEX_KEY)",
                    "missing; keys given without it",
                ));
            }
            (None, Some(_)) => {
                return Err(invalid("crypto.keys (JIAYOU_CRYPTO_KEYS)", "missing; blind_index_key given without it"));
            }
        };

        let audit_key = env("JIAYOU_AUDIT_KEY").or(file.audit.and_then(|a| a.key));
        if let Some(k) = &audit_key {
            AuditKey::from_base64(k).map_err(|e| invalid("audit.key (JIAYOU_AUDIT_KEY)", e.to_string()))?;
        }

        let wechat = wechat_settings(&env, file.wechat.unwrap_or_default())?;
        let sms = sms_settings(&env, file.sms.unwrap_or_default())?;
        let pay = PaySettings::load(file.pay.unwrap_or_default())?;

        Ok(Config {
            database_url,
            listen,
            redis_url,
            admin_token,
            trust_forwarded_for,
            log_level,
            log_json,
            crypto,
            audit_key,
            wechat,
            sms,
            pay,
        })
    }

    /// The key ring, or an error telling the operator how to make one.
    pub fn key_ring(&self) -> anyhow::Result<KeyRing> {
        let c = self.crypto.as_ref().ok_or_else(|| {
            anyhow::anyhow!(
                "no encryption keys configured for personal data: run `jiayou keys generate` and put its output \
                 in the [crypto] section of the config file (or JIAYOU_CRYPTO_* variables)"
            )
        })?;
        Ok(KeyRing::from_config(&c.keys, c.active_key, &c.blind_index_key)?)
    }

    /// The audit-chain key, or an error telling the operator how to make one.
    pub fn audit_key(&self) -> anyhow::Result<AuditKey> {
        let k = self.audit_key.as_deref().ok_or_else(|| {
            anyhow::anyhow!(
                "no audit key configured: run `jiayou keys generate` and put its [audit] section in the config \
                 file (or set JIAYOU_AUDIT_KEY); keep it outside the database"
            )
        })?;
        Ok(AuditKey::from_base64(k)?)
    }
}

fn wechat_settings(env: &dyn Fn(&str) -> Option<String>, f: WechatFile) -> Result<Option<WechatConfig>, ConfigError> {
    let appid = env("JIAYOU_WECHAT_APPID").or(f.appid);
    let secret = env("JIAYOU_WECHAT_SECRET").or(f.secret);
    let base_url = env("JIAYOU_WECHAT_BASE_URL").or(f.base_url);
    let (appid, secret) = match (appid, secret) {
        (None, None) if base_url.is_none() => return Ok(None),
        (Some(a), Some(s)) => (a, s),
        (None, _) => {
            return Err(invalid(
                "wechat.appid (JIAYOU_WECHAT_APPID)",
                "missing; the [wechat] section needs appid and secret",
            ));
        }
        (_, None) => {
            return Err(invalid(
                "wechat.secret (JIAYOU_WECHAT_SECRET)",
                "missing; the [wechat] section needs appid and secret",
            ));
        }
    };
    let mut c = WechatConfig::new(appid, secret);
    if let Some(u) = base_url {
        c = c.with_base_url(u);
    }
    // Build the client once now so a bad base URL stops start-up here, naming the key.
    WechatHttp::new(c.clone()).map_err(|e| invalid("wechat.base_url (JIAYOU_WECHAT_BASE_URL)", e.to_string()))?;
    Ok(Some(c))
}

fn sms_settings(env: &dyn Fn(&str) -> Option<String>, f: SmsFile) -> Result<Option<SmsConfig>, ConfigError> {
    let get = |var: &str, v: Option<String>| env(var).or(v);
    let base_url = get("JIAYOU_SMS_BASE_URL", f.base_url);
    let region = get("JIAYOU_SMS_REGION", f.region);
    let required = [
        ("sms.secret_id (JIAYOU_SMS_SECRET_ID)", get("JIAYOU_SMS_SECRET_ID", f.secret_id)),
        ("sms.secret_key (JIAYOU_SMS_SECRET_KEY)", get("JIAYOU_SMS_SECRET_KEY", f.secret_key)),
        ("sms.sdk_app_id (JIAYOU_SMS_SDK_APP_ID)", get("JIAYOU_SMS_SDK_APP_ID", f.sdk_app_id)),
        ("sms.sign_name (JIAYOU_SMS_SIGN_NAME)", get("JIAYOU_SMS_SIGN_NAME", f.sign_name)),
        ("sms.template_id (JIAYOU_SMS_TEMPLATE_ID)", get("JIAYOU_SMS_TEMPLATE_ID", f.template_id)),
    ];
    if required.iter().all(|(_, v)| v.is_none()) && base_url.is_none() && region.is_none() {
        return Ok(None);
    }
    if let Some((key, _)) = required.iter().find(|(_, v)| v.is_none()) {
        return Err(invalid(
            key,
            "missing; the [sms] section needs secret_id, secret_key, sdk_app_id, sign_name and template_id",
        ));
    }
    let [id, key, app, sign, template] = required.map(|(_, v)| v.unwrap_or_default());
    let mut c = SmsConfig::new(id, key, app, sign, template);
    if let Some(u) = base_url {
        c = c.with_base_url(u);
    }
    if let Some(r) = region {
        c.region = r;
    }
    TencentSms::new(c.clone()).map_err(|e| invalid("sms.base_url (JIAYOU_SMS_BASE_URL)", e.to_string()))?;
    Ok(Some(c))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn load(file: Option<&str>, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jiayou.toml");
        if let Some(text) = file {
            std::fs::write(&path, text).unwrap();
        }
        let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let get = move |k: &str| env.get(k).cloned();
        Config::load(Sources { file: file.map(|_| path.as_path()), env: &get })
    }

    #[test]
    fn defaults_without_file_or_env() {
        let c = load(None, &[]).unwrap();
        assert_eq!(c.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert!(c.redis_url.is_none() && c.crypto.is_none() && c.admin_token.is_none());
    }

    #[test]
    fn unknown_key_is_named() {
        let e = load(Some("listn = \"0.0.0.0:80\"\n"), &[]).unwrap_err().to_string();
        assert!(e.contains("listn"), "{e}");
        let e = load(Some("[crypto]\nkey = \"x\"\n"), &[]).unwrap_err().to_string();
        assert!(e.contains("key"), "{e}");
    }

    #[test]
    fn invalid_values_are_named() {
        let e = load(Some("listen = \"localhost\"\n"), &[]).unwrap_err().to_string();
        assert!(e.contains("listen"), "{e}");
        let e = load(None, &[("JIAYOU_REDIS_URL", "http://x")]).unwrap_err().to_string();
        assert!(e.contains("redis_url"), "{e}");
        let e = load(None, &[("JIAYOU_TRUST_FORWARDED_FOR", "maybe")]).unwrap_err().to_string();
        assert!(e.contains("trust_forwarded_for"), "{e}");
        assert!(load(Some("trust_forwarded_for = true\n"), &[]).unwrap().trust_forwarded_for);
        let e = load(None, &[("JIAYOU_DATABASE_URL", "oracle://x")]).unwrap_err().to_string();
        assert!(e.contains("database_url"), "{e}");
        let e = load(None, &[("JIAYOU_CRYPTO_KEYS", "1:abc"), ("JIAYOU_CRYPTO_BLIND_INDEX_KEY", "abc")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("crypto"), "{e}");
    }

    #[test]
    fn environment_overrides_file() {
        let c = load(Some("listen = \"127.0.0.1:1\"\n"), &[("JIAYOU_LISTEN", "127.0.0.1:2")]).unwrap();
        assert_eq!(c.listen.port(), 2);
        let c = load(None, &[("JIAYOU_DATABASE_URL", "mariadb://root@127.0.0.1/test")]).unwrap();
        assert_eq!(c.database_url, "mysql://root@127.0.0.1/test");
    }

    #[test]
    fn adapters_are_all_or_nothing_and_validated() {
        let c = load(Some("[wechat]\nappid = \"wx1\"\nsecret = \"s\"\n"), &[]).unwrap();
        assert_eq!(c.wechat.as_ref().map(|w| w.appid.as_str()), Some("wx1"));
        let e = load(Some("[wechat]\nappid = \"wx1\"\n"), &[]).unwrap_err().to_string();
        assert!(e.contains("wechat.secret"), "{e}");
        let e = load(
            None,
            &[("JIAYOU_WECHAT_APPID", "a"), ("JIAYOU_WECHAT_SECRET", "b"), ("JIAYOU_WECHAT_BASE_URL", "ftp://x")],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("wechat.base_url"), "{e}");
        let e = load(None, &[("JIAYOU_SMS_SECRET_ID", "a")]).unwrap_err().to_string();
        assert!(e.contains("sms.secret_key"), "{e}");
        let sms = "[sms]\nsecret_id = \"a\"\nsecret_key = \"b\"\nsdk_app_id = \"1400\"\nsign_name = \"加油站\"\ntemplate_id = \"1\"\nregion = \"ap-beijing\"\n";
        assert_eq!(load(Some(sms), &[]).unwrap().sms.map(|s| s.region), Some("ap-beijing".into()));
        let e = load(Some("[sms]\nsecret = \"x\"\n"), &[]).unwrap_err().to_string();
        assert!(e.contains("secret"), "unknown keys are named: {e}");
    }

    #[test]
    fn generated_keys_load() {
        let (_, g) = KeyRing::generate();
        let audit = AuditKey::generate().to_base64();
        let c = load(
            None,
            &[
                ("JIAYOU_CRYPTO_KEYS", &g.keys),
                ("JIAYOU_CRYPTO_BLIND_INDEX_KEY", &g.blind_index_key),
                ("JIAYOU_AUDIT_KEY", &audit),
            ],
        )
        .unwrap();
        assert!(c.key_ring().is_ok() && c.audit_key().is_ok());
        let e = load(None, &[("JIAYOU_AUDIT_KEY", "c2hvcnQ=")]).unwrap_err().to_string();
        assert!(e.contains("audit.key"), "{e}");
    }
}
