//! A minimal client of the member (driver's phone) and staff (cashier) API: the calls the
//! simulator makes, with a bearer token.

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::wire::{Verb, Wire, new_idempotency_key};
use super::{
    AutopaySetting, Collect, ForecourtError, LoginToken, NewOrder, NewTopup, NewVehicle, NozzleSaleRef, Order,
    PayOrder, StaffLogin, Tender, Vehicle, Wallet, WechatLogin,
};

/// A signed-in (or not yet) API user. Mutating calls carry a fresh `Idempotency-Key`,
/// reused by the automatic retries of that call. Cheap to clone.
#[derive(Clone)]
pub struct ApiClient {
    wire: Wire,
    token: Option<String>,
}

impl fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiClient")
            .field("base", &self.wire.base().as_str())
            .field("signed_in", &self.token.is_some())
            .finish()
    }
}

impl ApiClient {
    pub fn new(base_url: &str) -> Result<ApiClient, ForecourtError> {
        Ok(ApiClient { wire: Wire::new(base_url)?, token: None })
    }

    pub fn with_timeout(mut self, timeout: Duration) -> ApiClient {
        self.wire = self.wire.with_timeout(timeout);
        self
    }

    /// The same client with a bearer token.
    pub fn with_token(&self, token: impl Into<String>) -> ApiClient {
        ApiClient { wire: self.wire.clone(), token: Some(token.into()) }
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    // --- sign-in --------------------------------------------------------------------

    /// `POST /api/v1/member/login/wechat` → a client signed in as that member.
    pub async fn member_login_wechat(&self, chain: &str, code: &str) -> Result<ApiClient, ForecourtError> {
        let body = WechatLogin { chain: chain.to_owned(), code: code.to_owned() };
        let t: LoginToken = self.call(Verb::Post, "/api/v1/member/login/wechat", Some(&body), false).await?;
        Ok(self.with_token(t.token))
    }

    /// `POST /api/v1/auth/login` → a client signed in as that staff member.
    pub async fn staff_login(&self, chain: &str, username: &str, password: &str) -> Result<ApiClient, ForecourtError> {
        let body = StaffLogin { chain: chain.to_owned(), username: username.to_owned(), password: password.to_owned() };
        let t: LoginToken = self.call(Verb::Post, "/api/v1/auth/login", Some(&body), false).await?;
        Ok(self.with_token(t.token))
    }

    // --- member ---------------------------------------------------------------------

    /// `POST /api/v1/member/orders`: a pre-order (holds the nozzle).
    pub async fn create_order(&self, order: &NewOrder) -> Result<Order, ForecourtError> {
        self.call(Verb::Post, "/api/v1/member/orders", Some(order), true).await
    }

    /// `POST /api/v1/member/orders/{id}/pay`.
    pub async fn pay_order(&self, order_id: i64, pay: &PayOrder) -> Result<Order, ForecourtError> {
        self.call(Verb::Post, &format!("/api/v1/member/orders/{order_id}/pay"), Some(pay), true).await
    }

    /// `POST /api/v1/member/orders/claim`: the nozzle's open (post-pay) sale.
    pub async fn claim_order(&self, station_id: i64, nozzle_number: i32) -> Result<Order, ForecourtError> {
        let body = NozzleSaleRef { station_id, nozzle_number };
        self.call(Verb::Post, "/api/v1/member/orders/claim", Some(&body), true).await
    }

    /// `POST /api/v1/member/orders/{id}/cancel`.
    pub async fn cancel_order(&self, order_id: i64) -> Result<Order, ForecourtError> {
        let path = format!("/api/v1/member/orders/{order_id}/cancel");
        self.call(Verb::Post, &path, Some(&serde_json::json!({})), true).await
    }

    /// `GET /api/v1/member/orders/{id}`.
    pub async fn order(&self, order_id: i64) -> Result<Order, ForecourtError> {
        self.call(Verb::Get, &format!("/api/v1/member/orders/{order_id}"), None::<&()>, false).await
    }

    /// `GET /api/v1/member/wallet`.
    pub async fn wallet(&self) -> Result<Wallet, ForecourtError> {
        self.call(Verb::Get, "/api/v1/member/wallet", None::<&()>, false).await
    }

    /// `POST /api/v1/member/topups`: a top-up order to pay through the channel.
    pub async fn topup(&self, amount_fen: i64) -> Result<Order, ForecourtError> {
        self.call(Verb::Post, "/api/v1/member/topups", Some(&NewTopup { amount_fen }), true).await
    }

    /// `POST /api/v1/member/vehicles`.
    pub async fn add_vehicle(&self, plate: &str) -> Result<Vehicle, ForecourtError> {
        self.call(Verb::Post, "/api/v1/member/vehicles", Some(&NewVehicle { plate: plate.to_owned() }), true).await
    }

    /// `GET /api/v1/member/vehicles`.
    pub async fn vehicles(&self) -> Result<Vec<Vehicle>, ForecourtError> {
        self.call(Verb::Get, "/api/v1/member/vehicles", None::<&()>, false).await
    }

    /// `PUT /api/v1/member/vehicles/{id}/autopay` (the answer's body is not read).
    pub async fn set_autopay(&self, vehicle_id: i64, enabled: bool) -> Result<(), ForecourtError> {
        let path = format!("/api/v1/member/vehicles/{vehicle_id}/autopay");
        self.send(Verb::Put, &path, Some(&AutopaySetting { enabled }), true).await.map(drop)
    }

    /// POSTs a payment's `confirm_url` (absolute, or a path under the base URL) with an
    /// empty JSON object, as the payer's phone would in the channel's sandbox. No token
    /// is sent: the URL belongs to the payment channel.
    pub async fn confirm_payment(&self, confirm_url: &str) -> Result<(), ForecourtError> {
        let url = self.wire.resolve(confirm_url);
        let none = |_: Verb, _: &str, _: &[u8]| Vec::new();
        self.wire.send(Verb::Post, url, Some(b"{}".to_vec()), None, &none).await.map(drop)
    }

    // --- staff ----------------------------------------------------------------------

    /// `POST /api/v1/counter/sales`: the cashier takes up a nozzle's open sale.
    pub async fn counter_sale(&self, station_id: i64, nozzle_number: i32) -> Result<Order, ForecourtError> {
        let body = NozzleSaleRef { station_id, nozzle_number };
        self.call(Verb::Post, "/api/v1/counter/sales", Some(&body), true).await
    }

    /// `POST /api/v1/orders/{id}/collect`.
    pub async fn collect(&self, order_id: i64, tenders: Vec<Tender>) -> Result<Order, ForecourtError> {
        let path = format!("/api/v1/orders/{order_id}/collect");
        self.call(Verb::Post, &path, Some(&Collect { tenders }), true).await
    }

    // --- plumbing -------------------------------------------------------------------

    async fn send<B: Serialize + ?Sized>(
        &self,
        verb: Verb,
        path: &str,
        body: Option<&B>,
        idempotent: bool,
    ) -> Result<(url::Url, super::wire::Answer), ForecourtError> {
        let url = self.wire.url(path);
        let bytes = body.map(|b| serde_json::to_vec(b).expect("request types serialise"));
        let key = idempotent.then(new_idempotency_key);
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let headers = |_: Verb, _: &str, _: &[u8]| match &auth {
            Some(a) => vec![("Authorization", a.clone())],
            None => Vec::new(),
        };
        let answer = self.wire.send(verb, url.clone(), bytes, key.as_deref(), &headers).await?;
        Ok((url, answer))
    }

    async fn call<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        verb: Verb,
        path: &str,
        body: Option<&B>,
        idempotent: bool,
    ) -> Result<T, ForecourtError> {
        let (url, answer) = self.send(verb, path, body, idempotent).await?;
        answer.json(verb, &url)
    }
}
