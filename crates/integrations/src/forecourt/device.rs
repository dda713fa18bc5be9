//! The pump controller's side of the device API: every request signed with the device
//! secret (see [`jiayou_domain::device_auth`]).

use std::fmt;
use std::time::Duration;

use jiayou_domain::device_auth::{
    HEADER_DEVICE_ID, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP, canonical_request, is_valid_device_code, sign,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::wire::{Verb, Wire, new_idempotency_key, new_nonce};
use super::{
    Authorisation, DeviceConfig, ForecourtError, NozzleStatus, SaleReceipt, SaleReport, StatusAck, StatusReport,
};

/// A pump controller's client. Cheap to clone (the HTTP connection pool is shared).
///
/// Each attempt of a request is signed anew, with the current time and a fresh nonce;
/// a mutating request carries an `Idempotency-Key`, the same on every retry of it (a
/// retry follows a timeout, a failed connection, or a 502/503/504).
#[derive(Clone)]
pub struct DeviceClient {
    wire: Wire,
    device_code: String,
    secret: Vec<u8>,
}

impl fmt::Debug for DeviceClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceClient")
            .field("base", &self.wire.base().as_str())
            .field("device_code", &self.device_code)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl DeviceClient {
    /// `secret` is used as the bytes given (the device secret as issued).
    pub fn new(base_url: &str, device_code: &str, secret: impl AsRef<[u8]>) -> Result<DeviceClient, ForecourtError> {
        if !is_valid_device_code(device_code) {
            return Err(ForecourtError::InvalidDeviceCode(device_code.to_owned()));
        }
        Ok(DeviceClient {
            wire: Wire::new(base_url)?,
            device_code: device_code.to_owned(),
            secret: secret.as_ref().to_vec(),
        })
    }

    /// Per-attempt timeout (default 10 s).
    pub fn with_timeout(mut self, timeout: Duration) -> DeviceClient {
        self.wire = self.wire.with_timeout(timeout);
        self
    }

    /// Further attempts after a transport failure or a 502/503/504 (default 2).
    pub fn with_retries(mut self, retries: u32) -> DeviceClient {
        self.wire = self.wire.with_retries(retries);
        self
    }

    pub fn device_code(&self) -> &str {
        &self.device_code
    }

    /// `GET /api/v1/device/config`.
    pub async fn config(&self) -> Result<DeviceConfig, ForecourtError> {
        self.call(Verb::Get, "/api/v1/device/config", None::<&()>, None).await
    }

    /// `POST /api/v1/device/nozzles/{nozzle_id}/status`.
    pub async fn report_status(
        &self,
        nozzle_id: i64,
        status: NozzleStatus,
        totalizer: Option<i64>,
    ) -> Result<StatusAck, ForecourtError> {
        let path = format!("/api/v1/device/nozzles/{nozzle_id}/status");
        let key = new_idempotency_key();
        self.call(Verb::Post, &path, Some(&StatusReport { status, totalizer }), Some(&key)).await
    }

    /// `GET /api/v1/device/authorisations`: pending authorisations at this station.
    pub async fn authorisations(&self) -> Result<Vec<Authorisation>, ForecourtError> {
        self.call(Verb::Get, "/api/v1/device/authorisations", None::<&()>, None).await
    }

    /// `POST /api/v1/device/sales` with a fresh idempotency key.
    pub async fn report_sale(&self, sale: &SaleReport) -> Result<SaleReceipt, ForecourtError> {
        self.report_sale_with_key(sale, &new_idempotency_key()).await
    }

    /// `POST /api/v1/device/sales` with the caller's idempotency key: a controller that
    /// restarts after sending a sale resends it with the same key (and sale id).
    pub async fn report_sale_with_key(
        &self,
        sale: &SaleReport,
        idempotency_key: &str,
    ) -> Result<SaleReceipt, ForecourtError> {
        self.call(Verb::Post, "/api/v1/device/sales", Some(sale), Some(idempotency_key)).await
    }

    /// The signature headers for one attempt.
    pub fn signature_headers(&self, method: &str, path_and_query: &str, body: &[u8]) -> Vec<(&'static str, String)> {
        let timestamp = chrono::Utc::now().timestamp();
        let nonce = new_nonce();
        let canonical = canonical_request(method, path_and_query, timestamp, &nonce, body);
        vec![
            (HEADER_DEVICE_ID, self.device_code.clone()),
            (HEADER_TIMESTAMP, timestamp.to_string()),
            (HEADER_NONCE, nonce),
            (HEADER_SIGNATURE, sign(&self.secret, &canonical)),
        ]
    }

    async fn call<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        verb: Verb,
        path: &str,
        body: Option<&B>,
        idempotency_key: Option<&str>,
    ) -> Result<T, ForecourtError> {
        let url = self.wire.url(path);
        let bytes = body.map(|b| serde_json::to_vec(b).expect("request types serialise"));
        let headers = |verb: Verb, pq: &str, body: &[u8]| self.signature_headers(verb.as_str(), pq, body);
        let answer = self.wire.send(verb, url.clone(), bytes, idempotency_key, &headers).await?;
        answer.json(verb, &url)
    }
}

#[cfg(test)]
mod tests {
    //! The client against a tiny server that checks every request with
    //! `device_auth::verify`, as the real server does: proves both sides agree on the
    //! canonical form (method, path and query as sent, body hash, headers).

    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{HeaderMap, Method, StatusCode, Uri};
    use axum::response::{IntoResponse, Response};
    use jiayou_domain::device_auth::{SignedHeaders, verify};
    use serde_json::{Value, json};

    use super::*;

    const SECRET: &str = "s3cret-of-KM01-FC1";

    #[derive(Default)]
    struct Seen {
        requests: Vec<(String, String, Option<String>, String, Value)>,
        /// Answer 503 to this many sale attempts first.
        fail_sales: usize,
    }

    async fn handle(
        State(seen): State<Arc<Mutex<Seen>>>,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> Response {
        let problem = |status: StatusCode, code: &str| {
            (status, [("content-type", "application/problem+json")], json!({"code": code, "detail": code}).to_string())
                .into_response()
        };
        let signed = match SignedHeaders::parse(|name| headers.get(name).and_then(|v| v.to_str().ok())) {
            Ok(s) => s,
            Err(e) => return problem(StatusCode::UNAUTHORIZED, e.code()),
        };
        let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let now = chrono::Utc::now().timestamp();
        if let Err(e) = verify(SECRET.as_bytes(), &signed, method.as_str(), path_and_query, &body, now) {
            return problem(StatusCode::UNAUTHORIZED, e.code());
        }
        let key = headers.get("idempotency-key").map(|v| v.to_str().unwrap().to_owned());
        let json_body: Value = if body.is_empty() { Value::Null } else { serde_json::from_slice(&body).unwrap() };
        let mut seen = seen.lock().unwrap();
        seen.requests.push((
            method.to_string(),
            path_and_query.to_owned(),
            key,
            signed.nonce.clone(),
            json_body.clone(),
        ));
        match (method.as_str(), uri.path()) {
            ("GET", "/api/v1/device/config") => axum::Json(json!({
                "device_id": 1, "station_id": 7,
                "nozzles": [{"nozzle_id": 11, "pump_number": 1, "nozzle_number": 1, "grade_id": 3, "grade_code": "92",
                    "unit": "litre", "unit_price_fen": 789, "price_version": 4, "volume_step": 10, "totalizer": 123456}]
            }))
            .into_response(),
            ("POST", "/api/v1/device/nozzles/11/status") => {
                axum::Json(json!({"nozzle_id": 11, "status": json_body["status"]})).into_response()
            }
            ("GET", "/api/v1/device/authorisations") => axum::Json(json!([{
                "id": 5, "order_id": 9, "nozzle_id": 11, "preset_amount_fen": 20000, "preset_quantity": null,
                "unit_price_fen": 789, "price_version": 4, "expires_at": "2026-01-01T08:00:00Z"
            }]))
            .into_response(),
            ("POST", "/api/v1/device/sales") => {
                if seen.fail_sales > 0 {
                    seen.fail_sales -= 1;
                    return problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
                }
                let order = json!({
                    "id": 9, "order_no": "N9", "kind": "prepay", "status": "completed", "station_id": 7,
                    "nozzle_id": 11, "grade_id": 3, "unit_price_fen": 789, "gross_fen": 20000, "discount_fen": 0,
                    "points_fen": 0, "payable_fen": 20000, "paid_fen": 20000, "refunded_fen": 0,
                    "dispensed_quantity": json_body["quantity"], "dispensed_amount_fen": json_body["amount_fen"],
                    "payment": null
                });
                (StatusCode::CREATED, axum::Json(json!({"id": 77, "order": order, "autopay": null}))).into_response()
            }
            _ => problem(StatusCode::NOT_FOUND, "not_found"),
        }
    }

    async fn serve(seen: Arc<Mutex<Seen>>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().fallback(handle).with_state(seen);
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
    }

    fn sale() -> SaleReport {
        SaleReport {
            sale_id: "sim-1".into(),
            nozzle_id: 11,
            grade_id: 3,
            amount_fen: 20000,
            quantity: 25340,
            unit_price_fen: 789,
            totalizer: 148796,
            attendant_staff_id: None,
            plate: None,
            authorisation_id: Some(5),
        }
    }

    #[tokio::test]
    async fn the_server_verifies_what_the_client_signs() {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let base = serve(seen.clone()).await;
        let device = DeviceClient::new(&base, "KM01-FC1", SECRET).unwrap();

        let config = device.config().await.unwrap();
        assert_eq!(config.station_id, 7);
        assert_eq!(config.nozzles[0].totalizer, Some(123456));
        assert_eq!(config.nozzles[0].unit_price_fen, Some(789));
        let ack = device.report_status(11, NozzleStatus::Lifted, Some(123456)).await.unwrap();
        assert_eq!(ack.status, NozzleStatus::Lifted);
        let auths = device.authorisations().await.unwrap();
        assert_eq!(auths[0].preset_amount_fen, Some(20000));
        let receipt = device.report_sale(&sale()).await.unwrap();
        assert_eq!((receipt.id, receipt.order.dispensed_quantity, receipt.autopay), (77, Some(25340), None));

        let seen = seen.lock().unwrap();
        let r = &seen.requests;
        assert_eq!(r.len(), 4);
        // GETs carry no idempotency key, mutating calls do; every nonce is fresh.
        assert_eq!(r[0].2, None);
        assert!(r[1].2.is_some() && r[3].2.is_some());
        assert_ne!(r[1].2, r[3].2);
        let mut nonces: Vec<&str> = r.iter().map(|x| x.3.as_str()).collect();
        nonces.sort_unstable();
        nonces.dedup();
        assert_eq!(nonces.len(), 4);
        assert_eq!(r[1].4, json!({"status": "lifted", "totalizer": 123456}));
        assert_eq!(r[3].4["authorisation_id"], 5);
        assert_eq!(r[3].4["plate"], Value::Null);
    }

    #[tokio::test]
    async fn a_retry_reuses_the_idempotency_key_with_a_fresh_signature() {
        let seen = Arc::new(Mutex::new(Seen { fail_sales: 2, ..Seen::default() }));
        let base = serve(seen.clone()).await;
        let device = DeviceClient::new(&base, "KM01-FC1", SECRET).unwrap();
        device.report_sale(&sale()).await.unwrap();
        {
            let seen = seen.lock().unwrap();
            let r = &seen.requests;
            assert_eq!(r.len(), 3, "two 503s, then the success");
            assert!(r.iter().all(|x| x.2.is_some() && x.2 == r[0].2), "one key for all attempts");
            assert!(r[0].3 != r[1].3 && r[1].3 != r[2].3, "a fresh nonce per attempt");
        }

        // Without retries the 503 surfaces as the server's problem.
        let seen = Arc::new(Mutex::new(Seen { fail_sales: 1, ..Seen::default() }));
        let base = serve(seen).await;
        let device = DeviceClient::new(&base, "KM01-FC1", SECRET).unwrap().with_retries(0);
        let err = device.report_sale(&sale()).await.unwrap_err();
        assert_eq!((err.code(), err.status()), ("unavailable", Some(503)));
    }

    #[tokio::test]
    async fn a_wrong_secret_is_refused_by_the_verifier() {
        let base = serve(Arc::new(Mutex::new(Seen::default()))).await;
        let device = DeviceClient::new(&base, "KM01-FC1", "not-the-secret").unwrap();
        let err = device.config().await.unwrap_err();
        assert_eq!((err.code(), err.status()), ("device_signature_invalid", Some(401)));
        assert!(!format!("{device:?}").contains("not-the-secret"));
    }

    #[test]
    fn device_codes_are_checked_up_front() {
        let err = DeviceClient::new("http://127.0.0.1:1", "KM01 FC1", "s").unwrap_err();
        assert_eq!(err.code(), "invalid_device_code");
        assert!(DeviceClient::new("127.0.0.1:1", "KM01", "s").is_err());
    }

    #[tokio::test]
    async fn an_unreachable_server_is_a_transport_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let device = DeviceClient::new(&format!("http://{addr}"), "D1", "s").unwrap().with_retries(1);
        let err = device.config().await.unwrap_err();
        assert_eq!(err.code(), "transport");
        assert!(err.to_string().contains("/api/v1/device/config"));
    }
}
