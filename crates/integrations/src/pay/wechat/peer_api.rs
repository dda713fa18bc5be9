//! The local peer's API work: what each signed endpoint does to the books. The HTTP
//! side (authentication, signing, dispatch) is in [`super::peer`].

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::bill::{BillRow, china, write_bill};
use super::client::nonce_str;
use super::peer::{PEER_APPID, PEER_MCHID, Peer};
use super::peer_ledger::{CodeKind, Fail, Kind, Ledger, PaymentRecord, RefundRecord, classify_code, lock};
use super::wire;
use crate::pay::is_valid_out_no;

/// A successful answer: status and JSON body (none for 204).
pub(super) type Work = Result<(StatusCode, Option<Value>), Fail>;

impl Peer {
    /// The merchant fields of a request: `mchid` (direct) or `sp_mchid` + `sub_mchid`.
    pub(super) fn check_merchant(
        &self,
        direct: &Option<String>,
        sp: &Option<String>,
        sub: &Option<String>,
        partner: bool,
    ) -> Result<(), Fail> {
        let ok = if partner {
            sp.as_deref() == Some(PEER_MCHID) && sub.as_deref().is_some_and(is_sub_mchid)
        } else {
            direct.as_deref() == Some(PEER_MCHID) && sub.is_none()
        };
        if !ok {
            return Err(Fail::new(StatusCode::BAD_REQUEST, "PARAM_ERROR", "商户号不正确"));
        }
        if let Some(sub) = sub {
            lock(&self.ledger).sub_mchids.insert(sub.clone());
        }
        Ok(())
    }

    pub(super) fn create(self: &Arc<Self>, body: &[u8], partner: bool, kind: Kind) -> Work {
        let req: wire::TransactionBody = serde_json::from_slice(body)
            .map_err(|_| Fail::new(StatusCode::BAD_REQUEST, "PARAM_ERROR", "请求体格式错误"))?;
        self.check_merchant(&req.mchid, &req.sp_mchid, &req.sub_mchid, partner)?;
        let appid_ok = if partner {
            req.sp_appid.as_deref() == Some(PEER_APPID)
        } else {
            req.appid.as_deref() == Some(PEER_APPID)
        };
        if !appid_ok {
            return Err(Fail::new(StatusCode::BAD_REQUEST, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配"));
        }
        if !is_valid_out_no(&req.out_trade_no) || req.amount.total <= 0 {
            return Err(Fail::new(StatusCode::BAD_REQUEST, "PARAM_ERROR", "out_trade_no 或 amount 不正确"));
        }
        if req.amount.currency.as_deref().is_some_and(|c| c != "CNY") {
            return Err(Fail::new(StatusCode::BAD_REQUEST, "PARAM_ERROR", "仅支持CNY"));
        }
        let now = Utc::now();
        let mut ledger = lock(&self.ledger);
        if ledger.faults.fail_creates > 0 {
            ledger.faults.fail_creates -= 1;
            return Err(Fail::new(StatusCode::INTERNAL_SERVER_ERROR, "SYSTEM_ERROR", "系统错误"));
        }
        let time_expire = match (&kind, &req.time_expire) {
            (Kind::Jsapi, Some(t)) => Some(
                DateTime::parse_from_rfc3339(t)
                    .map_err(|_| Fail::new(StatusCode::BAD_REQUEST, "PARAM_ERROR", "time_expire 格式错误"))?
                    .with_timezone(&Utc),
            ),
            _ => None,
        };
        if let Some(existing) = ledger.payments.get_mut(&req.out_trade_no) {
            existing.expire(now);
            if existing.request != req {
                return Err(Fail::new(StatusCode::BAD_REQUEST, "OUT_TRADE_NO_USED", "商户订单号重复"));
            }
            return match (existing.trade_state, &existing.prepay_id) {
                ("SUCCESS" | "REFUND", _) => Err(Fail::new(StatusCode::BAD_REQUEST, "ORDERPAID", "该订单已支付")),
                ("NOTPAY", Some(prepay_id)) => Ok((StatusCode::OK, Some(json!({ "prepay_id": prepay_id })))),
                (_, None) => Ok((StatusCode::OK, Some(serde_json::to_value(existing.to_wire()).unwrap_or_default()))),
                _ => Err(Fail::new(StatusCode::BAD_REQUEST, "ORDER_CLOSED", "订单已关闭")),
            };
        }
        let mut record = PaymentRecord::new(req, kind, time_expire);
        match kind {
            Kind::Jsapi => {
                let payer = &record.request.payer;
                if payer.openid.is_none() && payer.sp_openid.is_none() && payer.sub_openid.is_none() {
                    return Err(Fail::new(StatusCode::BAD_REQUEST, "PARAM_ERROR", "缺少参数 payer.openid"));
                }
                if time_expire.is_none_or(|t| t <= now) {
                    return Err(Fail::new(StatusCode::BAD_REQUEST, "PARAM_ERROR", "time_expire 已过"));
                }
                let prepay_id = format!("wx{}{}", now.format("%d%H%M%S"), nonce_str(24).to_lowercase());
                record.prepay_id = Some(prepay_id.clone());
                ledger.prepays.insert(prepay_id.clone(), record.request.out_trade_no.clone());
                ledger.payments.insert(record.request.out_trade_no.clone(), record);
                Ok((StatusCode::OK, Some(json!({ "prepay_id": prepay_id }))))
            }
            Kind::Codepay => {
                let code = record.request.payer.auth_code.clone().unwrap_or_default();
                let no = record.request.out_trade_no.clone();
                match classify_code(&code) {
                    CodeKind::Invalid => {
                        Err(Fail::new(StatusCode::BAD_REQUEST, "AUTH_CODE_INVALID", "付款码无效，请重新扫码"))
                    }
                    CodeKind::Insufficient => {
                        record.trade_state = "PAYERROR";
                        record.trade_state_desc = "用户余额不足".into();
                        ledger.payments.insert(no, record);
                        Err(Fail::new(StatusCode::FORBIDDEN, "NOTENOUGH", "用户余额不足"))
                    }
                    CodeKind::PaysLater => {
                        record.trade_state = "USERPAYING";
                        ledger.payments.insert(no.clone(), record);
                        self.settle_user_paying(no);
                        Ok((
                            StatusCode::ACCEPTED,
                            Some(json!({"code": "USERPAYING", "message": "需要用户输入支付密码"})),
                        ))
                    }
                    CodeKind::PaysNow => {
                        record.pay(now);
                        let t = record.to_wire();
                        ledger.payments.insert(no, record);
                        Ok((StatusCode::OK, Some(serde_json::to_value(t).unwrap_or_default())))
                    }
                }
            }
        }
    }

    /// A payment code ending in 9: the payer confirms on the phone for a while. WeChat
    /// does not notify payment-code payments: the counter queries.
    pub(super) fn settle_user_paying(self: &Arc<Self>, out_trade_no: String) {
        let peer = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(peer.config.user_paying_for).await;
            let mut ledger = lock(&peer.ledger);
            if let Some(record) = ledger.payments.get_mut(&out_trade_no).filter(|r| r.trade_state == "USERPAYING") {
                record.pay(Utc::now());
            }
        });
    }

    pub(super) fn query(&self, no: &str, partner: bool, q: &HashMap<String, String>) -> Work {
        let (direct, sp, sub) = (q.get("mchid").cloned(), q.get("sp_mchid").cloned(), q.get("sub_mchid").cloned());
        self.check_merchant(&direct, &sp, &sub, partner)?;
        let t = self.transaction(no)?;
        if t.sub_mchid != sub {
            return Err(Fail::order_not_exist());
        }
        Ok((StatusCode::OK, Some(serde_json::to_value(t).unwrap_or_default())))
    }

    pub(super) fn close(&self, no: &str, partner: bool, body: &[u8]) -> Work {
        let req: wire::CloseBody = serde_json::from_slice(body)
            .map_err(|_| Fail::new(StatusCode::BAD_REQUEST, "PARAM_ERROR", "请求体格式错误"))?;
        self.check_merchant(&req.mchid, &req.sp_mchid, &req.sub_mchid, partner)?;
        let mut ledger = lock(&self.ledger);
        let record = ledger.payments.get_mut(no).ok_or_else(Fail::order_not_exist)?;
        record.expire(Utc::now());
        match record.trade_state {
            "SUCCESS" | "REFUND" => Err(Fail::new(StatusCode::BAD_REQUEST, "ORDERPAID", "订单已支付")),
            "NOTPAY" | "USERPAYING" => {
                record.trade_state = "CLOSED";
                Ok((StatusCode::NO_CONTENT, None))
            }
            _ => Ok((StatusCode::NO_CONTENT, None)),
        }
    }

    pub(super) fn create_refund(self: &Arc<Self>, body: &[u8]) -> Work {
        let req: wire::RefundBody = serde_json::from_slice(body)
            .map_err(|_| Fail::new(StatusCode::BAD_REQUEST, "PARAM_ERROR", "请求体格式错误"))?;
        if !is_valid_out_no(&req.out_refund_no) || req.amount.refund <= 0 {
            return Err(Fail::new(StatusCode::BAD_REQUEST, "PARAM_ERROR", "out_refund_no 或 amount 不正确"));
        }
        let mut ledger = lock(&self.ledger);
        if let Some(existing) = ledger.refunds.get(&req.out_refund_no) {
            return if existing.request == req {
                Ok((StatusCode::OK, Some(serde_json::to_value(&existing.wire).unwrap_or_default())))
            } else {
                Err(Fail::new(StatusCode::BAD_REQUEST, "INVALID_REQUEST", "商户退款单号已用于其他退款"))
            };
        }
        let now = Utc::now();
        let payment = ledger
            .payments
            .get_mut(&req.out_trade_no)
            .ok_or_else(|| Fail::new(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", "订单不存在"))?;
        payment.expire(now);
        if payment.request.sub_mchid != req.sub_mchid {
            return Err(Fail::new(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", "订单不存在"));
        }
        if !payment.is_paid() {
            return Err(Fail::new(StatusCode::BAD_REQUEST, "INVALID_REQUEST", "订单未支付，不能退款"));
        }
        if req.amount.total != payment.request.amount.total {
            return Err(Fail::new(StatusCode::BAD_REQUEST, "INVALID_REQUEST", "订单金额与原订单不符"));
        }
        let transaction_id = payment.transaction_id.clone().unwrap_or_default();
        let refunded: i64 = ledger
            .refunds
            .values()
            .filter(|r| {
                r.request.out_trade_no == req.out_trade_no && r.wire.status != "ABNORMAL" && r.wire.status != "CLOSED"
            })
            .map(|r| r.request.amount.refund)
            .sum();
        if refunded + req.amount.refund > req.amount.total {
            return Err(Fail::new(StatusCode::BAD_REQUEST, "INVALID_REQUEST", "申请退款金额超过订单可退金额"));
        }
        let mut record = RefundRecord::new(req, transaction_id, now);
        if self.config.refund_settles_after.is_zero() {
            record.settle(now);
            mark_refunded(&mut ledger, &record.request.out_trade_no);
            let body = self.envelope("REFUND.SUCCESS", "refund", &record.resource);
            self.notify(&ledger, &record.request.notify_url.clone().unwrap_or_default(), body);
        } else {
            self.settle_refund(record.request.out_refund_no.clone());
        }
        let answer = serde_json::to_value(&record.wire).unwrap_or_default();
        ledger.refunds.insert(record.request.out_refund_no.clone(), record);
        Ok((StatusCode::OK, Some(answer)))
    }

    pub(super) fn settle_refund(self: &Arc<Self>, out_refund_no: String) {
        let peer = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(peer.config.refund_settles_after).await;
            let mut ledger = lock(&peer.ledger);
            let Some(record) = ledger.refunds.get_mut(&out_refund_no).filter(|r| r.wire.status == "PROCESSING") else {
                return;
            };
            record.settle(Utc::now());
            let body = peer.envelope("REFUND.SUCCESS", "refund", &record.resource);
            let url = record.request.notify_url.clone().unwrap_or_default();
            let out_trade_no = record.request.out_trade_no.clone();
            mark_refunded(&mut ledger, &out_trade_no);
            peer.notify(&ledger, &url, body);
        });
    }

    pub(super) fn get_refund(&self, no: &str, q: &HashMap<String, String>) -> Work {
        let ledger = lock(&self.ledger);
        let record = ledger
            .refunds
            .get(no)
            .filter(|r| r.request.sub_mchid.as_ref() == q.get("sub_mchid"))
            .ok_or_else(|| Fail::new(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", "退款单不存在"))?;
        Ok((StatusCode::OK, Some(serde_json::to_value(&record.wire).unwrap_or_default())))
    }

    /// Everything settled on `bill_date` in China time, for the merchant or one sub-merchant.
    pub(super) fn tradebill(&self, q: &HashMap<String, String>) -> Work {
        let date = q
            .get("bill_date")
            .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            .ok_or_else(|| Fail::new(StatusCode::BAD_REQUEST, "PARAM_ERROR", "bill_date 格式错误"))?;
        if date > Utc::now().with_timezone(&china()).date_naive() {
            return Err(Fail::new(StatusCode::BAD_REQUEST, "STATEMENT_CREATING", "账单生成中，请稍后再试"));
        }
        let sub = q.get("sub_mchid").cloned();
        let mut ledger = lock(&self.ledger);
        let lines = ledger.bill_lines(date, sub.as_deref());
        if lines.is_empty() {
            return Err(Fail::new(StatusCode::BAD_REQUEST, "NO_STATEMENT_EXIST", "账单文件不存在"));
        }
        let rows: Vec<BillRow<'_>> = lines
            .iter()
            .map(|(line, openid, description)| BillRow {
                line,
                appid: PEER_APPID,
                mchid: PEER_MCHID,
                sub_mchid: sub.as_deref().unwrap_or_default(),
                openid,
                description,
            })
            .collect();
        let file = write_bill(&rows);
        let hash = hex::encode(ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, file.as_bytes()));
        let token = nonce_str(32);
        ledger.bill_files.insert(token.clone(), file);
        let link = wire::BillLink {
            hash_type: "SHA1".into(),
            hash_value: hash,
            download_url: format!("{}/v3/billdownload/file?token={token}", self.base_url),
        };
        Ok((StatusCode::OK, Some(serde_json::to_value(link).unwrap_or_default())))
    }
}

/// WeChat reports a paid payment with a settled refund as `REFUND`.
pub(super) fn mark_refunded(ledger: &mut Ledger, out_trade_no: &str) {
    if let Some(p) = ledger.payments.get_mut(out_trade_no).filter(|p| p.trade_state == "SUCCESS") {
        p.trade_state = "REFUND";
        p.trade_state_desc = "转入退款".into();
    }
}

pub(super) fn is_sub_mchid(s: &str) -> bool {
    s.len() == 10 && s.bytes().all(|b| b.is_ascii_digit())
}
