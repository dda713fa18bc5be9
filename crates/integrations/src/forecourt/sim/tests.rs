//! The whole simulator against an in-memory fake of the server's contract. The fake
//! verifies every device signature, refuses replayed nonces and duplicate sale ids,
//! replays idempotent requests, and records every violation of what a real forecourt
//! guarantees: nozzles of one pump used at once, totalizers that do not move by exactly
//! the quantity sold, inconsistent amounts, a prepay dispensing more than its preset,
//! cash short of the amount. The end-to-end test against the real server lives with it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use jiayou_domain::device_auth::{SignedHeaders, verify};
use jiayou_domain::fuel::is_consistent;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::*;
use crate::forecourt::{
    Authorisation, NozzleConfig, Order, OrderKind, OrderStatus, PayParams, Payment, SaleReport, Tender, Unit,
};

struct FakeNozzle {
    cfg: NozzleConfig,
    station_id: i64,
    status: String,
    /// The totalizer as of the last status report and the last sale.
    status_totalizer: i64,
    sale_totalizer: i64,
    held_by: Option<i64>,
    open_sale: Option<i64>,
}

struct FakeOrder {
    order: Order,
    member: Option<i64>,
    paid_by_balance: bool,
}

#[derive(Default)]
struct Fake {
    base: String,
    devices: HashMap<String, (String, i64)>,
    nozzles: HashMap<i64, FakeNozzle>,
    nonces: HashSet<(String, String)>,
    idempotent: HashMap<String, (StatusCode, Value)>,
    members: HashMap<String, i64>,
    balances: HashMap<i64, i64>,
    vehicles: Vec<(i64, i64, String, bool)>,
    orders: HashMap<i64, FakeOrder>,
    auths: Vec<Authorisation>,
    sale_ids: HashSet<String>,
    next_id: i64,
    violations: Vec<String>,
    /// Per nozzle: (sales, quantity, amount).
    sold: HashMap<i64, (u64, i64, i64)>,
    /// Sale reports by payment way as seen by the server.
    sales: Vec<SaleReport>,
    /// Set: plate sales answer autopay "failed".
    autopay_fails: bool,
}

type Shared = Arc<Mutex<Fake>>;

fn nozzle(id: i64, pump: i32, number: i32, grade: &str, price: Option<i64>, totalizer: Option<i64>) -> NozzleConfig {
    NozzleConfig {
        nozzle_id: id,
        pump_number: pump,
        nozzle_number: number,
        grade_id: match grade {
            "92" => 1,
            "95" => 2,
            _ => 3,
        },
        grade_code: grade.into(),
        unit: Unit::Litre,
        unit_price_fen: price,
        price_version: price.map(|_| 1),
        volume_step: 10,
        totalizer,
    }
}

impl Fake {
    fn new() -> Fake {
        let mut f = Fake { next_id: 1000, ..Fake::default() };
        f.devices.insert("KM01-FC1".into(), ("secret-one".into(), 1));
        f.devices.insert("KM02-FC1".into(), ("secret-two".into(), 2));
        let station1 = [
            nozzle(11, 1, 1, "92", Some(789), Some(5_000_000)),
            nozzle(12, 1, 2, "95", Some(843), Some(7_000_000)),
            nozzle(13, 2, 3, "92", Some(789), None),
            nozzle(14, 2, 4, "0", Some(765), Some(1)),
        ];
        // Nozzle 23 sells a grade without a price yet: never used.
        let station2 = [
            nozzle(21, 1, 1, "92", Some(792), Some(0)),
            nozzle(22, 1, 2, "95", Some(846), Some(10)),
            nozzle(23, 2, 3, "98", None, Some(0)),
        ];
        for (station_id, list) in [(1, &station1[..]), (2, &station2[..])] {
            for n in list {
                let t = n.totalizer.unwrap_or(0);
                f.nozzles.insert(
                    n.nozzle_id,
                    FakeNozzle {
                        cfg: n.clone(),
                        station_id,
                        status: "idle".into(),
                        status_totalizer: t,
                        sale_totalizer: t,
                        held_by: None,
                        open_sale: None,
                    },
                );
            }
        }
        f
    }

    fn id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    fn violation(&mut self, v: String) {
        self.violations.push(v);
    }

    fn new_order(&mut self, kind: OrderKind, member: Option<i64>, amount: i64, nozzle: Option<&NozzleConfig>) -> i64 {
        let id = self.id();
        let order = Order {
            id,
            order_no: format!("N{id}"),
            kind,
            status: OrderStatus::AwaitingPayment,
            station_id: nozzle.map(|n| self.nozzles[&n.nozzle_id].station_id),
            nozzle_id: nozzle.map(|n| n.nozzle_id),
            grade_id: nozzle.map(|n| n.grade_id),
            unit_price_fen: nozzle.and_then(|n| n.unit_price_fen),
            gross_fen: amount,
            discount_fen: 0,
            points_fen: 0,
            payable_fen: amount,
            paid_fen: 0,
            refunded_fen: 0,
            dispensed_quantity: None,
            dispensed_amount_fen: None,
            payment: None,
        };
        self.orders.insert(id, FakeOrder { order, member, paid_by_balance: false });
        id
    }

    fn order_json(&self, id: i64) -> Value {
        serde_json::to_value(&self.orders[&id].order).unwrap()
    }

    /// The order is paid in full: a prepay becomes authorised (and the pump may fuel),
    /// anything already dispensed completes.
    fn paid(&mut self, id: i64) {
        let o = self.orders.get_mut(&id).unwrap();
        o.order.paid_fen = o.order.payable_fen;
        if let Some(p) = o.order.payment.as_mut() {
            p.status = "success".into();
        }
        match o.order.kind {
            OrderKind::Prepay => {
                o.order.status = OrderStatus::Authorised;
                let n = &self.nozzles[&o.order.nozzle_id.unwrap()].cfg;
                let auth = Authorisation {
                    id: id + 500_000,
                    order_id: id,
                    nozzle_id: n.nozzle_id,
                    preset_amount_fen: Some(o.order.payable_fen),
                    preset_quantity: None,
                    unit_price_fen: n.unit_price_fen.unwrap(),
                    price_version: n.price_version.unwrap(),
                    expires_at: chrono::Utc::now() + chrono::Duration::minutes(10),
                };
                self.auths.push(auth);
            }
            OrderKind::Topup => {
                o.order.status = OrderStatus::Completed;
                let (member, amount) = (o.member.unwrap(), o.order.payable_fen);
                *self.balances.entry(member).or_default() += amount;
            }
            OrderKind::Postpay | OrderKind::Counter => {
                o.order.status = OrderStatus::Completed;
                let n = o.order.nozzle_id.unwrap();
                self.nozzles.get_mut(&n).unwrap().open_sale = None;
            }
        }
    }

    fn channel(&mut self, id: i64, absolute: bool) {
        let base = if absolute { self.base.clone() } else { String::new() };
        let o = self.orders.get_mut(&id).unwrap();
        o.order.payment = Some(Payment {
            method: Some("channel".into()),
            out_trade_no: Some(format!("T{id}")),
            status: "pending".into(),
            pay_params: Some(PayParams {
                confirm_url: Some(format!("{base}/sandbox/pay/T{id}/confirm?sig=x")),
                cashier_url: None,
                sandbox_pay_url: None,
            }),
        });
    }

    fn device(&mut self, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Result<i64, Value> {
        let signed = SignedHeaders::parse(|name| headers.get(name).and_then(|v| v.to_str().ok()))
            .map_err(|e| json!({"code": e.code()}))?;
        let Some((secret, station)) = self.devices.get(&signed.device_code).cloned() else {
            return Err(json!({"code": "device_unknown"}));
        };
        let pq = uri.path_and_query().unwrap().as_str();
        verify(secret.as_bytes(), &signed, method.as_str(), pq, body, chrono::Utc::now().timestamp())
            .map_err(|e| json!({"code": e.code()}))?;
        if !self.nonces.insert((signed.device_code.clone(), signed.nonce.clone())) {
            self.violation(format!("nonce replayed: {}", signed.nonce));
            return Err(json!({"code": "device_nonce_replayed"}));
        }
        Ok(station)
    }

    fn member(&self, headers: &HeaderMap) -> Option<i64> {
        let t = headers.get("authorization")?.to_str().ok()?.strip_prefix("Bearer member-")?;
        t.parse().ok()
    }

    fn route(&mut self, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> (StatusCode, Value) {
        let path = uri.path().to_owned();
        let seg: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let b: Value = if body.is_empty() { Value::Null } else { serde_json::from_slice(body).unwrap() };
        let problem = |status: u16, code: &str| (StatusCode::from_u16(status).unwrap(), json!({"code": code}));
        let m = method.as_str();
        if seg.starts_with(&["api", "v1", "device"]) {
            let station = match self.device(method, uri, headers, body) {
                Ok(s) => s,
                Err(p) => return (StatusCode::UNAUTHORIZED, p),
            };
            return self.device_route(m, &seg[3..], station, b);
        }
        match (m, &seg[..]) {
            ("POST", ["api", "v1", "member", "login", "wechat"]) => {
                let code = b["code"].as_str().unwrap();
                let name = code.strip_prefix("test-").unwrap().split('.').next().unwrap().to_owned();
                assert_eq!(b["chain"], "YNSIM");
                let next = self.members.len() as i64 + 1;
                let id = *self.members.entry(name).or_insert(next);
                (StatusCode::OK, json!({"token": format!("member-{id}"), "member_id": id}))
            }
            ("POST", ["api", "v1", "auth", "login"]) => {
                if b["username"] == "shouyin" && b["password"] == "pw" {
                    (StatusCode::OK, json!({"token": "staff-1"}))
                } else {
                    problem(401, "login_failed")
                }
            }
            ("POST", ["sandbox", "pay", trade, "confirm"]) => {
                assert_eq!(uri.query(), Some("sig=x"));
                let id: i64 = trade.trim_start_matches('T').parse().unwrap();
                if self.orders[&id].order.status == OrderStatus::AwaitingPayment {
                    self.paid(id);
                }
                (StatusCode::OK, json!({"ok": true}))
            }
            ("POST", ["api", "v1", "counter", "sales"]) | ("POST", ["api", "v1", "orders", _, "collect"]) => {
                if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer staff-1") {
                    return problem(401, "unauthorized");
                }
                self.staff_route(&seg[2..], b)
            }
            _ => {
                let Some(member) = self.member(headers) else { return problem(401, "unauthorized") };
                if !seg.starts_with(&["api", "v1", "member"]) {
                    return problem(404, "not_found");
                }
                self.member_route(m, &seg[3..], member, b)
            }
        }
    }

    fn device_route(&mut self, m: &str, seg: &[&str], station: i64, b: Value) -> (StatusCode, Value) {
        match (m, seg) {
            ("GET", ["config"]) => {
                let mut list: Vec<&FakeNozzle> = self.nozzles.values().filter(|n| n.station_id == station).collect();
                list.sort_by_key(|n| n.cfg.nozzle_id);
                let nozzles: Vec<NozzleConfig> = list.iter().map(|n| n.cfg.clone()).collect();
                (StatusCode::OK, json!({"device_id": station, "station_id": station, "nozzles": nozzles}))
            }
            ("GET", ["authorisations"]) => {
                let mine: Vec<&Authorisation> =
                    self.auths.iter().filter(|a| self.nozzles[&a.nozzle_id].station_id == station).collect();
                (StatusCode::OK, serde_json::to_value(mine).unwrap())
            }
            ("POST", ["nozzles", id, "status"]) => {
                let id: i64 = id.parse().unwrap();
                let status = b["status"].as_str().unwrap().to_owned();
                let n = &self.nozzles[&id];
                let pump = n.cfg.pump_number;
                let mut v = Vec::new();
                let busy_sibling = self.nozzles.values().any(|o| {
                    o.station_id == station && o.cfg.pump_number == pump && o.cfg.nozzle_id != id && o.status != "idle"
                });
                let expected_prev = match status.as_str() {
                    "lifted" => "idle",
                    "fuelling" => "lifted",
                    "finished" => "fuelling",
                    _ => "finished",
                };
                if n.status != expected_prev {
                    v.push(format!("nozzle {id}: {} → {status}", n.status));
                }
                if status == "lifted" && busy_sibling {
                    v.push(format!("nozzle {id} lifted while another nozzle of pump {pump} is in use"));
                }
                if let Some(t) = b["totalizer"].as_i64() {
                    if status == "lifted" && t != n.status_totalizer {
                        v.push(format!("nozzle {id} lifted at totalizer {t}, last {}", n.status_totalizer));
                    }
                    if t < n.status_totalizer {
                        v.push(format!("nozzle {id} totalizer went back"));
                    }
                }
                for x in v {
                    self.violation(x);
                }
                let n = self.nozzles.get_mut(&id).unwrap();
                n.status = status.clone();
                if let Some(t) = b["totalizer"].as_i64() {
                    n.status_totalizer = t;
                }
                (StatusCode::OK, json!({"nozzle_id": id, "status": status}))
            }
            ("POST", ["sales"]) => self.sale(station, serde_json::from_value(b).unwrap()),
            _ => (StatusCode::NOT_FOUND, json!({"code": "not_found"})),
        }
    }

    fn sale(&mut self, station: i64, s: SaleReport) -> (StatusCode, Value) {
        if !self.sale_ids.insert(s.sale_id.clone()) {
            return (StatusCode::CONFLICT, json!({"code": "sale_duplicate"}));
        }
        let n = &self.nozzles[&s.nozzle_id];
        let mut v = Vec::new();
        if n.station_id != station || n.cfg.grade_id != s.grade_id {
            v.push(format!("sale {} for a nozzle or grade not of the station", s.sale_id));
        }
        if s.totalizer != n.sale_totalizer + s.quantity {
            v.push(format!(
                "sale {}: totalizer {} ≠ previous {} + quantity {}",
                s.sale_id, s.totalizer, n.sale_totalizer, s.quantity
            ));
        }
        if !is_consistent(s.amount_fen, s.quantity, s.unit_price_fen, n.cfg.volume_step) {
            v.push(format!(
                "sale {} inconsistent: {} fen for {} at {}",
                s.sale_id, s.amount_fen, s.quantity, s.unit_price_fen
            ));
        }
        if s.quantity % n.cfg.volume_step != 0 {
            v.push(format!("sale {}: quantity not in volume steps", s.sale_id));
        }
        let cfg = n.cfg.clone();
        let e = self.sold.entry(s.nozzle_id).or_default();
        e.0 += 1;
        e.1 += s.quantity;
        e.2 += s.amount_fen;
        self.nozzles.get_mut(&s.nozzle_id).unwrap().sale_totalizer = s.totalizer;
        self.sales.push(s.clone());
        let sale_id = self.id();
        let mut autopay = Value::Null;
        let order_id = if let Some(auth_id) = s.authorisation_id {
            let Some(i) = self.auths.iter().position(|a| a.id == auth_id) else {
                for x in v {
                    self.violation(x);
                }
                return (StatusCode::CONFLICT, json!({"code": "authorisation_unknown"}));
            };
            let auth = self.auths.remove(i);
            if s.amount_fen > auth.preset_amount_fen.unwrap() {
                v.push(format!("prepay sale {} of {} over its preset", s.sale_id, s.amount_fen));
            }
            if s.unit_price_fen != auth.unit_price_fen {
                v.push(format!("prepay sale {} at another price", s.sale_id));
            }
            let o = self.orders.get_mut(&auth.order_id).unwrap();
            let refund = o.order.paid_fen - s.amount_fen;
            o.order.status = OrderStatus::Completed;
            o.order.refunded_fen = refund;
            o.order.dispensed_quantity = Some(s.quantity);
            o.order.dispensed_amount_fen = Some(s.amount_fen);
            if o.paid_by_balance {
                let member = o.member.unwrap();
                *self.balances.get_mut(&member).unwrap() += refund;
            }
            self.nozzles.get_mut(&s.nozzle_id).unwrap().held_by = None;
            auth.order_id
        } else {
            if Some(s.unit_price_fen) != cfg.unit_price_fen {
                v.push(format!("sale {} at a price not current", s.sale_id));
            }
            if self.nozzles[&s.nozzle_id].open_sale.is_some() {
                v.push(format!("sale {} while nozzle {} has an unpaid sale", s.sale_id, s.nozzle_id));
            }
            let id = self.new_order(OrderKind::Postpay, None, s.amount_fen, Some(&cfg));
            let o = self.orders.get_mut(&id).unwrap();
            o.order.dispensed_quantity = Some(s.quantity);
            o.order.dispensed_amount_fen = Some(s.amount_fen);
            self.nozzles.get_mut(&s.nozzle_id).unwrap().open_sale = Some(id);
            if let Some(plate) = &s.plate {
                let owner = self.vehicles.iter().find(|x| &x.2 == plate && x.3).map(|x| x.1);
                if let Some(member) = owner {
                    let balance = self.balances.entry(member).or_default();
                    if !self.autopay_fails && *balance >= s.amount_fen {
                        *balance -= s.amount_fen;
                        self.orders.get_mut(&id).unwrap().member = Some(member);
                        self.paid(id);
                        autopay = json!("charged");
                    } else {
                        autopay = json!("failed");
                    }
                } else {
                    v.push(format!("sale {} with plate {plate} not bound with autopay", s.sale_id));
                }
            }
            id
        };
        for x in v {
            self.violation(x);
        }
        (StatusCode::CREATED, json!({"id": sale_id, "order": self.order_json(order_id), "autopay": autopay}))
    }

    fn member_route(&mut self, m: &str, seg: &[&str], member: i64, b: Value) -> (StatusCode, Value) {
        let problem = |status: u16, code: &str| (StatusCode::from_u16(status).unwrap(), json!({"code": code}));
        match (m, seg) {
            ("GET", ["wallet"]) => {
                let bal = self.balances.get(&member).copied().unwrap_or(0);
                (StatusCode::OK, json!({"paid_fen": bal, "bonus_fen": 0, "balance_fen": bal, "points": 0}))
            }
            ("POST", ["topups"]) => {
                let id = self.new_order(OrderKind::Topup, Some(member), b["amount_fen"].as_i64().unwrap(), None);
                self.channel(id, true);
                (StatusCode::CREATED, self.order_json(id))
            }
            ("POST", ["vehicles"]) => {
                let plate = b["plate"].as_str().unwrap().to_owned();
                if self.vehicles.iter().any(|v| v.2 == plate) {
                    return problem(409, "plate_taken");
                }
                let id = self.id();
                self.vehicles.push((id, member, plate.clone(), false));
                (StatusCode::CREATED, json!({"id": id, "plate": format!("{}·{}", &plate[..4], &plate[4..])}))
            }
            ("GET", ["vehicles"]) => {
                let mine: Vec<Value> = self
                    .vehicles
                    .iter()
                    .filter(|v| v.1 == member)
                    .map(|v| json!({"id": v.0, "plate": format!("{}·{}", &v.2[..4], &v.2[4..])}))
                    .collect();
                (StatusCode::OK, json!(mine))
            }
            ("PUT", ["vehicles", id, "autopay"]) => {
                let id: i64 = id.parse().unwrap();
                let v = self.vehicles.iter_mut().find(|v| v.0 == id && v.1 == member).unwrap();
                v.3 = b["enabled"].as_bool().unwrap();
                (StatusCode::OK, json!({"id": id, "autopay": v.3}))
            }
            ("POST", ["orders"]) => {
                let nozzle_id = b["nozzle_id"].as_i64().unwrap();
                let n = &self.nozzles[&nozzle_id];
                if n.held_by.is_some() || n.status != "idle" || n.open_sale.is_some() {
                    return problem(409, "nozzle_held");
                }
                assert_eq!(b["station_id"].as_i64(), Some(n.station_id));
                let cfg = n.cfg.clone();
                let id = self.new_order(OrderKind::Prepay, Some(member), b["amount_fen"].as_i64().unwrap(), Some(&cfg));
                self.nozzles.get_mut(&nozzle_id).unwrap().held_by = Some(id);
                (StatusCode::CREATED, self.order_json(id))
            }
            ("POST", ["orders", "claim"]) => {
                let station = b["station_id"].as_i64().unwrap();
                let number = b["nozzle_number"].as_i64().unwrap();
                let open = self
                    .nozzles
                    .values()
                    .find(|n| n.station_id == station && i64::from(n.cfg.nozzle_number) == number)
                    .and_then(|n| n.open_sale);
                let Some(id) = open else { return problem(404, "no_open_sale") };
                self.orders.get_mut(&id).unwrap().member = Some(member);
                (StatusCode::OK, self.order_json(id))
            }
            ("POST", ["orders", id, "pay"]) => {
                let id: i64 = id.parse().unwrap();
                let o = &self.orders[&id];
                if o.member != Some(member) || o.order.status != OrderStatus::AwaitingPayment {
                    return problem(409, "order_state_conflict");
                }
                let payable = o.order.payable_fen;
                if b["use_balance"] == true && self.balances.get(&member).copied().unwrap_or(0) >= payable {
                    *self.balances.get_mut(&member).unwrap() -= payable;
                    self.orders.get_mut(&id).unwrap().paid_by_balance = true;
                    self.paid(id);
                } else if b["use_channel"] == true {
                    self.channel(id, false);
                } else {
                    return problem(409, "balance_insufficient");
                }
                (StatusCode::OK, self.order_json(id))
            }
            ("POST", ["orders", id, "cancel"]) => {
                let id: i64 = id.parse().unwrap();
                let o = self.orders.get_mut(&id).unwrap();
                o.order.status = OrderStatus::Cancelled;
                let n = o.order.nozzle_id.unwrap();
                self.nozzles.get_mut(&n).unwrap().held_by = None;
                self.auths.retain(|a| a.order_id != id);
                (StatusCode::OK, self.order_json(id))
            }
            ("GET", ["orders", id]) => {
                let id: i64 = id.parse().unwrap();
                if self.orders.get(&id).and_then(|o| o.member) != Some(member) {
                    return problem(404, "order_not_found");
                }
                (StatusCode::OK, self.order_json(id))
            }
            _ => problem(404, "not_found"),
        }
    }

    fn staff_route(&mut self, seg: &[&str], b: Value) -> (StatusCode, Value) {
        match seg {
            ["counter", "sales"] => {
                let station = b["station_id"].as_i64().unwrap();
                let number = b["nozzle_number"].as_i64().unwrap();
                let open = self
                    .nozzles
                    .values()
                    .find(|n| n.station_id == station && i64::from(n.cfg.nozzle_number) == number)
                    .and_then(|n| n.open_sale);
                let Some(id) = open else { return (StatusCode::NOT_FOUND, json!({"code": "no_open_sale"})) };
                self.orders.get_mut(&id).unwrap().order.kind = OrderKind::Counter;
                (StatusCode::OK, self.order_json(id))
            }
            ["orders", id, "collect"] => {
                let id: i64 = id.parse().unwrap();
                let tenders: Vec<Tender> = serde_json::from_value(b["tenders"].clone()).unwrap();
                let payable = self.orders[&id].order.payable_fen;
                let mut total = 0;
                for t in &tenders {
                    match t {
                        Tender::Cash { amount_fen, received_fen } => {
                            total += amount_fen;
                            if received_fen < amount_fen
                                || received_fen % 1000 != 0
                                || received_fen - amount_fen >= 1000
                            {
                                self.violation(format!("cash {received_fen} for {amount_fen}"));
                            }
                        }
                        Tender::Card { amount_fen, reference } => {
                            total += amount_fen;
                            assert!(reference.starts_with("SIM"));
                        }
                        Tender::PaymentCode { amount_fen, auth_code } => {
                            total += amount_fen;
                            assert_eq!(auth_code, "134567890123456780");
                        }
                        Tender::Balance { .. } => self.violation("the simulator never tenders the balance".into()),
                    }
                }
                if total != payable {
                    return (StatusCode::UNPROCESSABLE_ENTITY, json!({"code": "tender_mismatch"}));
                }
                self.paid(id);
                (StatusCode::OK, self.order_json(id))
            }
            _ => (StatusCode::NOT_FOUND, json!({"code": "not_found"})),
        }
    }
}

async fn handle(State(fake): State<Shared>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let mut f = fake.lock().unwrap();
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(|k| format!("{}:{k}", uri.path()));
    if let Some((status, body)) = key.as_ref().and_then(|k| f.idempotent.get(k)) {
        return (*status, axum::Json(body.clone())).into_response();
    }
    let (status, body) = f.route(&method, &uri, &headers, &body);
    if let Some(k) = key {
        f.idempotent.insert(k, (status, body.clone()));
    }
    (status, axum::Json(body)).into_response()
}

async fn spawn_fake(fake: Fake) -> (String, Shared) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let shared = Arc::new(Mutex::new(Fake { base: base.clone(), ..fake }));
    let app = Router::new().fallback(handle).with_state(shared.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, shared)
}

fn config(base: &str, seed: u64, fuelings: u64) -> SimConfig {
    let mut cfg = SimConfig::new(
        base,
        "YNSIM",
        vec![SimStation::new("KM01-FC1", "secret-one"), SimStation::new("KM02-FC1", "secret-two")],
    );
    cfg.seed = seed;
    cfg.fuelings_per_station = Some(fuelings);
    cfg.cashier = Some(("shouyin".into(), "pw".into()));
    cfg.mix = Mix { prepay: 3, postpay_app: 2, counter: 2, plate: 2 };
    cfg.drivers_per_station = 5;
    cfg
}

fn never_stop() -> watch::Receiver<bool> {
    watch::channel(false).1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_simulated_day_settles_every_fueling_and_keeps_the_totalizers() {
    let (base, fake) = spawn_fake(Fake::new()).await;
    let report = run(config(&base, 7, 60), never_stop()).await.unwrap();
    eprintln!("{}", report.summary());
    let f = fake.lock().unwrap();
    assert!(f.violations.is_empty(), "violations: {:#?}", f.violations);
    assert_eq!(report.errors, 0, "{}", report.summary());
    assert_eq!(report.stations, 2);
    assert_eq!(report.fuelings, 120);
    assert_eq!(report.completed, 120, "{}", report.summary());
    assert_eq!(report.sales_reported, 120);
    assert_eq!(f.sales.len(), 120);
    for way in PaymentWay::ALL {
        assert!(report.by_way[&way].fuelings > 0, "no {way} in {}", report.summary());
    }
    // 2 stations × 5 drivers topped up once (plate drivers may top up again).
    assert!(report.topups >= 10);
    assert_eq!(report.autopay_charged, report.by_way[&PaymentWay::Plate].fuelings);
    assert_eq!(report.counter_collections, report.by_way[&PaymentWay::Counter].fuelings);

    // What the pumps say they dispensed is what the server was told, nozzle by nozzle,
    // and every totalizer moved by exactly that.
    assert!(report.totalizers_balance());
    for (id, n) in &report.by_nozzle {
        let sold = f.sold.get(id).copied().unwrap_or_default();
        assert_eq!((n.fuelings, n.quantity, n.amount_fen), sold, "nozzle {id}");
        assert_eq!(n.totalizer_end, f.nozzles[id].sale_totalizer, "nozzle {id}");
        assert_eq!(n.totalizer_end, f.nozzles[id].status_totalizer, "nozzle {id}");
        assert_eq!(f.nozzles[id].status, "idle");
    }
    assert_eq!(report.by_nozzle[&13].totalizer_start, 0, "a nozzle without a totalizer starts at 0");
    assert_eq!(report.by_nozzle[&11].totalizer_start, 5_000_000);
    assert!(!report.by_nozzle.contains_key(&23), "a nozzle without a price is not used");
    assert_eq!(f.nozzles[&23].status, "idle");
    let grade_total: i64 = report.by_grade.values().map(|g| g.quantity).sum();
    assert_eq!(grade_total, report.quantity);
    let way_total: i64 = report.by_way.values().map(|w| w.amount_fen).sum();
    assert_eq!(way_total, report.amount_fen);
    // Fills are realistic: 5–60 L, prepays up to 300 yuan.
    for s in &f.sales {
        assert!((1_000..=60_000).contains(&s.quantity), "{s:?}");
        if s.authorisation_id.is_some() {
            assert!(s.amount_fen <= 30_000);
        }
    }
    assert!(f.auths.is_empty(), "every authorisation was used");
    assert!(f.nozzles.values().all(|n| n.held_by.is_none() && n.open_sale.is_none()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_seed_gives_the_same_day() {
    let summary = |r: &SimReport| {
        let nozzles: Vec<_> = r.by_nozzle.iter().map(|(id, n)| (*id, n.fuelings, n.quantity, n.amount_fen)).collect();
        let ways: Vec<_> = r.by_way.iter().map(|(w, t)| (*w, t.fuelings, t.quantity, t.amount_fen)).collect();
        (nozzles, ways, r.prepay_underfilled, r.simulated_seconds)
    };
    let mut results = Vec::new();
    for seed in [3, 3, 4] {
        let (base, _fake) = spawn_fake(Fake::new()).await;
        let mut cfg = config(&base, seed, 25);
        cfg.start_time = Some(chrono::NaiveTime::from_hms_opt(6, 30, 0).unwrap());
        let report = run(cfg, never_stop()).await.unwrap();
        assert_eq!(report.errors, 0, "{}", report.summary());
        results.push(summary(&report));
    }
    assert_eq!(results[0], results[1]);
    assert_ne!(results[0], results[2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_autopay_falls_back_to_claiming_the_sale() {
    let (base, fake) = spawn_fake(Fake { autopay_fails: true, ..Fake::new() }).await;
    let mut cfg = config(&base, 5, 20);
    cfg.mix = Mix { prepay: 0, postpay_app: 0, counter: 0, plate: 1 };
    cfg.cashier = None;
    let report = run(cfg, never_stop()).await.unwrap();
    assert_eq!(report.errors, 0, "{}", report.summary());
    assert_eq!((report.autopay_failed, report.completed), (40, 40));
    assert!(fake.lock().unwrap().violations.is_empty());
    assert!(report.sales_reported == 40 && report.by_way[&PaymentWay::Plate].completed == 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paced_run_stops_on_the_signal() {
    let (base, fake) = spawn_fake(Fake::new()).await;
    let mut cfg = config(&base, 9, 0);
    cfg.fuelings_per_station = None;
    // 10 simulated minutes a second: a few arrivals a second at 2 stations.
    cfg.speed = Some(600.0);
    cfg.arrivals_per_pump_hour = 30.0;
    cfg.start_time = Some(chrono::NaiveTime::from_hms_opt(8, 0, 0).unwrap());
    let (tx, rx) = watch::channel(false);
    let running = tokio::spawn(run(cfg, rx));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    tx.send(true).unwrap();
    let report =
        tokio::time::timeout(Duration::from_secs(20), running).await.expect("stops promptly").unwrap().unwrap();
    let f = fake.lock().unwrap();
    assert!(f.violations.is_empty(), "violations: {:#?}", f.violations);
    assert!(report.fuelings > 0, "{}", report.summary());
    assert!(report.simulated_seconds > 0.0);
    assert!(report.totalizers_balance());
    // Fuelings under way when the signal came were finished, not abandoned.
    assert!(f.nozzles.values().all(|n| n.status == "idle"), "{}", report.summary());
}

#[tokio::test]
async fn setup_failures_name_the_station_and_the_stage() {
    let (base, _fake) = spawn_fake(Fake::new()).await;
    let mut cfg = config(&base, 1, 1);
    cfg.stations[1].secret = "wrong".into();
    let err = run(cfg, never_stop()).await.unwrap_err();
    match err {
        SimError::Setup { station, stage, error } => {
            assert_eq!((station.as_str(), stage), ("KM02-FC1", "reading the device config"));
            assert_eq!(error.code(), "device_signature_invalid");
        }
        other => panic!("{other}"),
    }
    let mut cfg = config(&base, 1, 1);
    cfg.cashier = Some(("shouyin".into(), "nope".into()));
    assert!(matches!(run(cfg, never_stop()).await, Err(SimError::Setup { stage: "staff sign-in", .. })));
}
