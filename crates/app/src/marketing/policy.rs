//! The payment policy of a chain (C3): the order instruments cover an order in, the
//! points rates, how long a pre-order holds its nozzle, how long a paid pre-order waits
//! for the pump, and the largest sale plate pay charges without the driver. One row per
//! chain; no row means the defaults.

use chrono::{DateTime, Utc};
use jiayou_domain::FieldError;
use jiayou_domain::field;
use jiayou_domain::settlement::PaymentPolicy;
use jiayou_store::entity::payment_policy;
use jiayou_store::now_us;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{require_manage, require_read};
use crate::audit::AuditEntry;
use crate::caller::snapshot;
use crate::chains::instant;
use crate::error::{Problems, internal};
use crate::{App, AppResult, Caller};

/// A pre-order holds its nozzle this long unpaid (5 minutes).
pub const DEFAULT_HOLD_SECONDS: i64 = 300;
/// A paid pre-order waits this long for the pump before it is refunded (15 minutes).
pub const DEFAULT_PAY_WINDOW_SECONDS: i64 = 900;
/// Plate pay charges at most ¥1,000.00 without the driver.
pub const DEFAULT_AUTOPAY_MAX_FEN: i64 = 100_000;

const HOLD_RANGE: (i64, i64) = (60, 1_800);
const PAY_WINDOW_RANGE: (i64, i64) = (60, 3_600);
/// Plate pay limit: ¥0.01 to ¥10,000.00.
const AUTOPAY_RANGE: (i64, i64) = (1, 1_000_000);

/// A chain's payment policy as the back office shows it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PaymentPolicyView {
    pub policy: PaymentPolicy,
    /// How long a pre-order holds its nozzle before it expires unpaid (default 300).
    pub hold_seconds: i64,
    /// How long a paid pre-order waits for the pump before it is refunded (default 900).
    pub pay_window_seconds: i64,
    /// Largest sale plate pay (无感支付) charges without the driver, in fen (default
    /// 100000 = ¥1,000.00); larger sales fall back to the driver.
    pub autopay_max_fen: i64,
    /// When it was last changed; `null` while the chain uses the defaults.
    pub updated_at: Option<DateTime<Utc>>,
}

impl Default for PaymentPolicyView {
    fn default() -> Self {
        PaymentPolicyView {
            policy: PaymentPolicy::default(),
            hold_seconds: DEFAULT_HOLD_SECONDS,
            pay_window_seconds: DEFAULT_PAY_WINDOW_SECONDS,
            autopay_max_fen: DEFAULT_AUTOPAY_MAX_FEN,
            updated_at: None,
        }
    }
}

/// The whole policy, replacing the current one (the body of a GET can be sent back:
/// its `updated_at` is ignored).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentPolicyChange {
    /// Missing fields of the policy take their defaults.
    pub policy: PaymentPolicy,
    /// 60–1800.
    pub hold_seconds: i64,
    /// 60–3600.
    pub pay_window_seconds: i64,
    /// 1–1000000 fen.
    pub autopay_max_fen: i64,
    /// Ignored.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub updated_at: Option<serde_json::Value>,
}

fn view_of(m: &payment_policy::Model) -> AppResult<PaymentPolicyView> {
    let policy: PaymentPolicy = serde_json::from_str(&m.policy)
        .map_err(|e| internal(format!("payment_policies row {} holds an unreadable policy: {e}", m.id)))?;
    Ok(PaymentPolicyView {
        policy,
        hold_seconds: m.hold_seconds.into(),
        pay_window_seconds: m.pay_window_seconds.into(),
        autopay_max_fen: m.autopay_max_fen,
        updated_at: Some(instant(m.updated_at_us)),
    })
}

/// The policy's own field names are relative to it: `order[1]` becomes `policy.order[1]`.
fn in_policy(e: FieldError) -> FieldError {
    FieldError::new(format!("policy.{}", e.field), e.kind)
}

async fn load<C: ConnectionTrait>(conn: &C, chain_id: i64) -> AppResult<Option<payment_policy::Model>> {
    Ok(payment_policy::Entity::find().filter(payment_policy::Column::ChainId.eq(chain_id)).one(conn).await?)
}

impl App {
    /// The payment policy in force for `chain_id` (the defaults when the chain has not
    /// set one). No permission check: for the use-cases that apply it.
    pub async fn payment_policy(&self, chain_id: i64) -> AppResult<PaymentPolicyView> {
        match load(self.db.reader(), chain_id).await? {
            Some(m) => view_of(&m),
            None => Ok(PaymentPolicyView::default()),
        }
    }

    /// The payment policy of a chain, for its staff.
    pub async fn get_payment_policy(&self, caller: &Caller, chain_id: i64) -> AppResult<PaymentPolicyView> {
        require_read(caller, chain_id)?;
        self.get_chain_row(chain_id).await?;
        self.payment_policy(chain_id).await
    }

    /// Replaces the payment policy of a chain (audited `payment_policy.update`).
    pub async fn set_payment_policy(
        &self,
        caller: &Caller,
        chain_id: i64,
        cmd: PaymentPolicyChange,
    ) -> AppResult<PaymentPolicyView> {
        require_manage(caller, chain_id)?;
        let mut p = Problems::default();
        p.check(cmd.policy.validate().map_err(in_policy));
        p.check(field::int_range("hold_seconds", cmd.hold_seconds, HOLD_RANGE.0, HOLD_RANGE.1));
        p.check(field::int_range("pay_window_seconds", cmd.pay_window_seconds, PAY_WINDOW_RANGE.0, PAY_WINDOW_RANGE.1));
        p.check(field::int_range("autopay_max_fen", cmd.autopay_max_fen, AUTOPAY_RANGE.0, AUTOPAY_RANGE.1));
        p.finish()?;
        self.get_chain_row(chain_id).await?;

        // In range above, so these fit an i32.
        let hold = cmd.hold_seconds as i32;
        let window = cmd.pay_window_seconds as i32;
        let policy_json = serde_json::to_string(&cmd.policy).map_err(|e| internal(format!("policy as JSON: {e}")))?;
        let now = now_us();
        let tx = self.db.begin().await?;
        let before = match load(&tx, chain_id).await? {
            Some(m) => view_of(&m)?,
            None => PaymentPolicyView::default(),
        };
        let updated = payment_policy::Entity::update_many()
            .col_expr(payment_policy::Column::Policy, Expr::value(policy_json.clone()))
            .col_expr(payment_policy::Column::HoldSeconds, Expr::value(hold))
            .col_expr(payment_policy::Column::PayWindowSeconds, Expr::value(window))
            .col_expr(payment_policy::Column::AutopayMaxFen, Expr::value(cmd.autopay_max_fen))
            .col_expr(payment_policy::Column::UpdatedAtUs, Expr::value(now))
            .filter(payment_policy::Column::ChainId.eq(chain_id))
            .exec(&tx)
            .await?;
        if updated.rows_affected == 0 {
            payment_policy::ActiveModel {
                chain_id: Set(chain_id),
                policy: Set(policy_json),
                hold_seconds: Set(hold),
                pay_window_seconds: Set(window),
                autopay_max_fen: Set(cmd.autopay_max_fen),
                updated_at_us: Set(now),
                ..Default::default()
            }
            .insert(&tx)
            .await?;
        }
        let after = PaymentPolicyView {
            policy: cmd.policy,
            hold_seconds: cmd.hold_seconds,
            pay_window_seconds: cmd.pay_window_seconds,
            autopay_max_fen: cmd.autopay_max_fen,
            updated_at: Some(instant(now)),
        };
        let entry = AuditEntry::chain(chain_id, "payment_policy.update", "payment_policy")
            .target(chain_id)
            .before(snapshot(&before))
            .after(snapshot(&after));
        self.commit_audited(tx, caller, entry).await?;
        Ok(after)
    }
}
