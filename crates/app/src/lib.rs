//! Use-cases of jiayou. Each public function here is one thing a user or device can
//! do; it validates the command into domain values, owns the database transaction,
//! and returns a view. HTTP handlers call these and nothing below them.

pub mod alerts;
pub mod audit;
pub mod auth;
pub mod caller;
pub mod chains;
pub mod channels;
pub mod demo;
pub mod devices;
pub mod equipment;
pub mod error;
pub mod faults;
pub mod finder;
pub mod grades;
pub mod idempotency;
pub mod inventory;
pub mod marketing;
pub mod members;
pub mod orders;
pub mod paging;
pub mod prices;
pub mod reconcile;
pub mod risk;
pub mod roles;
pub mod staff;
pub mod stations;
pub(crate) mod stock;
pub mod wallet;

use std::sync::Arc;

use jiayou_domain::audit::AuditKey;
use jiayou_integrations::pay::PaymentChannel;

use crate::channels::{ChannelEntry, PayChannels};
use jiayou_integrations::sms::SmsSender;
use jiayou_integrations::wechat::WechatLogin;
use jiayou_store::Db;
use jiayou_store::crypto::KeyRing;

pub use caller::Caller;
pub use error::AppError;

/// Everything a use-case needs, cheap to clone (shared pools and keys).
#[derive(Clone)]
pub struct App {
    pub db: Db,
    pub keys: Arc<KeyRing>,
    /// Key of the audit hash chain (see [`audit`]). Kept outside the database.
    pub audit_key: Arc<AuditKey>,
    /// WeChat sign-in (jscode2session, getuserphonenumber); `None` answers 503.
    pub wechat: Option<Arc<dyn WechatLogin>>,
    /// SMS one-time codes for H5 sign-in; `None` answers 503.
    pub sms: Option<Arc<dyn SmsSender>>,
    /// The payment channels for app payments, top-ups and payment codes; none leaves
    /// balance, coupons, points, cash and card.
    pub pay: PayChannels,
    /// Failure injection for tests (see [`faults`]); inert unless armed.
    pub faults: Arc<faults::Faults>,
}

impl App {
    /// An app with a freshly generated audit key: fine for tests and demos, but a chain
    /// written under a random key cannot be verified after a restart. Deployments set
    /// the configured key with [`App::with_audit_key`].
    pub fn new(db: Db, keys: KeyRing) -> App {
        App {
            db,
            keys: Arc::new(keys),
            audit_key: Arc::new(AuditKey::generate()),
            wechat: None,
            sms: None,
            pay: PayChannels::default(),
            faults: Arc::default(),
        }
    }

    /// Uses `key` for the audit hash chain.
    pub fn with_audit_key(mut self, key: AuditKey) -> App {
        self.audit_key = Arc::new(key);
        self
    }

    /// Signs members in through `wechat` (a [`jiayou_integrations::wechat::WechatHttp`]).
    pub fn with_wechat(mut self, wechat: Arc<dyn WechatLogin>) -> App {
        self.wechat = Some(wechat);
        self
    }

    /// Takes payments through `channels`.
    pub fn with_pay_channels(mut self, channels: PayChannels) -> App {
        self.pay = channels;
        self
    }

    /// Takes payments of every chain through one `channel`, which notifies
    /// `{base_url}/api/v1/pay/{name}/notify`.
    pub fn with_payment_channel(self, channel: Arc<dyn PaymentChannel>, base_url: impl Into<String>) -> App {
        let mut channels = PayChannels::new(base_url);
        channels.add(ChannelEntry { chain: None, station: None, channel });
        self.with_pay_channels(channels)
    }

    /// Sends one-time sign-in codes through `sms` (a [`jiayou_integrations::sms::TencentSms`]).
    pub fn with_sms(mut self, sms: Arc<dyn SmsSender>) -> App {
        self.sms = Some(sms);
        self
    }
}

pub type AppResult<T> = Result<T, AppError>;
