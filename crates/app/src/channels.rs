//! Which payment channel instance serves a payment.
//!
//! A deployment may configure several channels (WeChat Pay, Alipay, the sandbox) and,
//! per chain, several instances of one: a service provider's WeChat Pay with one
//! sub-merchant per station, an Alipay ISV app with one authorised merchant per station.
//! Each instance is a [`PaymentChannel`] bound to one merchant; this registry picks the
//! most specific one for a (chain, station, channel) and routes notifications to the
//! instance that holds the key they were signed with.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use jiayou_integrations::pay::{Notification, NotifyAnswer, NotifyError, Payer, PaymentChannel};
use jiayou_store::entity::{chain, member, order, payment, station};
use sea_orm::{ConnectionTrait, EntityTrait};

use crate::App;
use crate::AppResult;
use crate::error::{AppError, field_conflict};

/// One configured instance and where it applies.
#[derive(Clone)]
pub struct ChannelEntry {
    /// The chain (by code) it serves; `None` = every chain.
    pub chain: Option<String>,
    /// The station (by code) it serves, as a sub-merchant; `None` = the whole chain.
    pub station: Option<String>,
    pub channel: Arc<dyn PaymentChannel>,
}

/// The configured instances, in configuration order (the first that fits is the
/// default for a chain when a request names no channel).
#[derive(Clone, Default)]
pub struct PayChannels {
    entries: Vec<ChannelEntry>,
    /// Our public base URL; notifications go to `{base}/api/v1/pay/{channel}/notify`.
    notify_base: String,
}

impl PayChannels {
    pub fn new(notify_base: impl Into<String>) -> Self {
        Self { entries: Vec::new(), notify_base: notify_base.into().trim_end_matches('/').to_owned() }
    }

    pub fn add(&mut self, entry: ChannelEntry) {
        self.entries.push(entry);
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Names of the configured channels, without repeats, in configuration order.
    pub fn names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = Vec::new();
        for e in &self.entries {
            if !names.contains(&e.channel.name()) {
                names.push(e.channel.name());
            }
        }
        names
    }

    /// Where `channel` notifies us.
    pub fn notify_url(&self, channel: &str) -> String {
        format!("{}/api/v1/pay/{channel}/notify", self.notify_base)
    }

    /// The instance for a payment at `station` of `chain` through `wanted` (any channel
    /// when `None`): a station's own instance first, then the chain's, then a
    /// deployment-wide one.
    pub fn pick(&self, chain: &str, station: &str, wanted: Option<&str>) -> Option<Arc<dyn PaymentChannel>> {
        let fits = |e: &&ChannelEntry| {
            wanted.is_none_or(|w| e.channel.name() == w)
                && e.chain.as_deref().is_none_or(|c| c == chain)
                && e.station.as_deref().is_none_or(|s| s == station)
        };
        let rank = |e: &ChannelEntry| match (&e.chain, &e.station) {
            (_, Some(_)) => 0,
            (Some(_), None) => 1,
            (None, None) => 2,
        };
        // min_by_key keeps the first of equals: configuration order breaks ties.
        self.entries.iter().filter(fits).min_by_key(|e| rank(e)).map(|e| e.channel.clone())
    }

    /// Whether any instance could serve `chain` (through `wanted`, if named), for the
    /// answers that need to know before a station is involved.
    pub fn serves_chain(&self, chain: &str, wanted: Option<&str>) -> bool {
        self.entries
            .iter()
            .any(|e| wanted.is_none_or(|w| e.channel.name() == w) && e.chain.as_deref().is_none_or(|c| c == chain))
    }

    /// The instances of `channel` serving `chain`, one per merchant (each has its own
    /// statement to reconcile).
    pub fn instances_for_chain(&self, chain: &str, channel: &str) -> Vec<Arc<dyn PaymentChannel>> {
        let mut out: Vec<Arc<dyn PaymentChannel>> = Vec::new();
        for e in &self.entries {
            if e.channel.name() == channel
                && e.chain.as_deref().is_none_or(|c| c == chain)
                && !out.iter().any(|o| o.merchant_id() == e.channel.merchant_id())
            {
                out.push(e.channel.clone());
            }
        }
        out
    }

    /// How `channel` wants its notifications answered.
    pub fn notification_answer(&self, channel: &str, handled: bool) -> NotifyAnswer {
        match self.entries.iter().find(|e| e.channel.name() == channel) {
            Some(e) => e.channel.notification_answer(handled),
            None => NotifyAnswer { status: 404, content_type: "text/plain", body: "no such channel".into() },
        }
    }

    /// Verifies a notification for `channel` with each of its instances until one holds
    /// the key it was signed with.
    pub fn verify(
        &self,
        channel: &str,
        headers: &axum::http::HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Verified, NotifyError> {
        let mut refusal = None;
        for e in self.entries.iter().filter(|e| e.channel.name() == channel) {
            match e.channel.verify_notification(headers, body, now) {
                Ok(notification) => {
                    return Ok(Verified { notification, channel: e.channel.clone(), chain: e.chain.clone() });
                }
                // Another instance may hold that key; any other refusal is the answer
                // (every instance of one channel and key refuses the same way).
                Err(NotifyError::UnknownKey(k)) => {
                    refusal.get_or_insert(NotifyError::UnknownKey(k));
                }
                Err(other) => refusal = Some(other),
            }
        }
        Err(refusal.unwrap_or_else(|| NotifyError::UnknownKey(format!("no {channel} channel is configured"))))
    }
}

/// A notification one of the instances accepted.
pub struct Verified {
    pub notification: Notification,
    /// The instance that verified it.
    pub channel: Arc<dyn PaymentChannel>,
    /// That instance's chain (code), when it is bound to one.
    pub chain: Option<String>,
}

/// Which channel issued a payment code (付款码), from its published number ranges:
/// WeChat Pay 18 digits starting 10–15, Alipay 16–24 digits starting 25–30. `None` for
/// anything else (the sandbox's codes, or a mistyped one): the chain's default channel
/// decides.
pub fn channel_of_payment_code(code: &str) -> Option<&'static str> {
    let digits = code.bytes().all(|b| b.is_ascii_digit());
    let prefix: u8 = code.get(..2).and_then(|p| p.parse().ok()).unwrap_or(0);
    match (digits, code.len(), prefix) {
        (true, 18, 10..=15) => Some("wechat"),
        (true, 16..=24, 25..=30) => Some("alipay"),
        _ => None,
    }
}

impl App {
    /// The instance for a payment of `chain_id` at `station_id` (none for top-ups)
    /// through `wanted`. `None` when no instance fits; a named channel that is not
    /// configured at all is a clear refusal.
    pub(crate) async fn pick_channel(
        &self,
        db: &impl ConnectionTrait,
        chain_id: i64,
        station_id: Option<i64>,
        wanted: Option<&str>,
    ) -> AppResult<Option<Arc<dyn PaymentChannel>>> {
        if self.pay.is_empty() {
            return Ok(None);
        }
        if let Some(w) = wanted
            && !self.pay.names().contains(&w)
        {
            return Err(field_conflict("channel", format!("未开通该支付渠道：{w}")).into());
        }
        let (chain, station) = codes_of(db, chain_id, station_id).await?;
        Ok(self.pay.pick(&chain, &station, wanted))
    }

    /// The instance payment `p` was made through (its channel, its order's station).
    pub(crate) async fn channel_of_payment(
        &self,
        db: &impl ConnectionTrait,
        p: &payment::Model,
    ) -> AppResult<Arc<dyn PaymentChannel>> {
        let o = order::Entity::find_by_id(p.order_id).one(db).await?.ok_or(AppError::NotFound { entity: "order" })?;
        let (chain, station) = codes_of(db, o.chain_id, o.station_id).await?;
        self.pay.pick(&chain, &station, p.channel.as_deref()).ok_or(AppError::NotConfigured("payment"))
    }

    /// The instance and payer for a member paying in the app. WeChat JSAPI needs the
    /// member's openid (a member signed in by phone has none), so when the request names
    /// no channel, WeChat is skipped for such a member in favour of the next one
    /// configured. Alipay without a buyer id pays on its H5 page.
    pub(crate) async fn pick_app_channel(
        &self,
        db: &impl ConnectionTrait,
        chain_id: i64,
        station_id: Option<i64>,
        member_id: i64,
        wanted: Option<&str>,
    ) -> AppResult<Option<(Arc<dyn PaymentChannel>, Payer)>> {
        if self.pay.is_empty() {
            return Ok(None);
        }
        let openid = member::Entity::find_by_id(member_id)
            .one(db)
            .await?
            .and_then(|m| m.openid)
            .filter(|o| !o.starts_with("erased:"));
        let candidates: Vec<&str> = match wanted {
            Some(w) => vec![w],
            None => self.pay.names().into_iter().filter(|n| *n != "wechat" || openid.is_some()).collect(),
        };
        for name in candidates {
            if let Some(channel) = self.pick_channel(db, chain_id, station_id, Some(name)).await? {
                let openid = if name == "wechat" { openid.clone() } else { None };
                return Ok(Some((channel, Payer::App { openid })));
            }
        }
        Ok(None)
    }
}

/// The chain and station codes a payment of `chain_id` at `station_id` is routed by.
pub(crate) async fn codes_of(
    db: &impl ConnectionTrait,
    chain_id: i64,
    station_id: Option<i64>,
) -> AppResult<(String, String)> {
    let chain = chain::Entity::find_by_id(chain_id).one(db).await?.ok_or(AppError::NotFound { entity: "chain" })?;
    let station = match station_id {
        Some(id) => station::Entity::find_by_id(id).one(db).await?.map(|s| s.code).unwrap_or_default(),
        None => String::new(),
    };
    Ok((chain.code, station))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiayou_integrations::pay::{SandboxChannel, SandboxChannelConfig};

    fn sandbox(mchid: &str) -> Arc<dyn PaymentChannel> {
        let mut c = SandboxChannelConfig::new("http://127.0.0.1:9");
        c.mchid = mchid.to_owned();
        Arc::new(SandboxChannel::new(c).unwrap())
    }

    fn entry(chain: Option<&str>, station: Option<&str>, mchid: &str) -> ChannelEntry {
        ChannelEntry { chain: chain.map(Into::into), station: station.map(Into::into), channel: sandbox(mchid) }
    }

    #[test]
    fn the_most_specific_instance_serves_a_payment() {
        let mut reg = PayChannels::new("https://pay.example.com/");
        reg.add(entry(None, None, "global"));
        reg.add(entry(Some("A"), None, "chain-a"));
        reg.add(entry(Some("A"), Some("S1"), "station-s1"));
        reg.add(entry(Some("A"), None, "chain-a-second"));
        let pick = |chain, station| reg.pick(chain, station, Some("sandbox")).unwrap().merchant_id().to_owned();
        assert_eq!(pick("A", "S1"), "station-s1");
        assert_eq!(pick("A", "S2"), "chain-a", "the chain's first instance, in configuration order");
        assert_eq!(pick("B", "S1"), "global");
        assert!(reg.pick("A", "S1", Some("wechat")).is_none(), "no such channel");
        let merchants: Vec<String> =
            reg.instances_for_chain("A", "sandbox").iter().map(|c| c.merchant_id().to_owned()).collect();
        assert_eq!(merchants, ["global", "chain-a", "station-s1", "chain-a-second"]);
        assert_eq!(reg.instances_for_chain("B", "sandbox").len(), 1);
        assert_eq!(reg.notify_url("wechat"), "https://pay.example.com/api/v1/pay/wechat/notify");
    }

    #[test]
    fn payment_codes_are_told_apart_by_their_published_ranges() {
        assert_eq!(channel_of_payment_code("134567890123456789"), Some("wechat"));
        assert_eq!(channel_of_payment_code("104567890123456789"), Some("wechat"));
        assert_eq!(channel_of_payment_code("164567890123456789"), None, "16 is not WeChat's");
        assert_eq!(channel_of_payment_code("13456789012345678"), None, "17 digits");
        assert_eq!(channel_of_payment_code("2812345678901234"), Some("alipay"));
        assert_eq!(channel_of_payment_code("301234567890123456789012"), Some("alipay"));
        assert_eq!(channel_of_payment_code("3012345678901234567890123"), None, "25 digits");
        assert_eq!(channel_of_payment_code("31123456789012345"), None);
        assert_eq!(channel_of_payment_code("13456789012345678x"), None);
        assert_eq!(channel_of_payment_code(""), None);
    }
}
