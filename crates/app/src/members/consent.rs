//! Consent (PIPL arts. 13–14 basis, 24 automated marketing, 28–29 sensitive data):
//! append-only rows of (kind, granted, policy version, when, from where); the current
//! state of a kind is its latest row. Location and personalised marketing are separate
//! opt-ins; opting out of marketing is one call.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use jiayou_domain::FieldError;
use jiayou_store::entity::member_consent;
use jiayou_store::now_us;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::MemberAuth;
use super::validate::policy_version;
use crate::chains::instant;
use crate::error::Problems;
use crate::{App, AppResult};

/// The privacy policy version this server presents; clients send the version they showed.
pub const PRIVACY_POLICY_VERSION: &str = "2026-01";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentKind {
    /// The privacy policy (个人信息处理规则) as a whole.
    PrivacyPolicy,
    /// Use of precise location (station finder).
    Location,
    /// Personalised marketing (个性化推荐/营销); opt-in, withdrawable in one call.
    PersonalisedMarketing,
}

impl ConsentKind {
    pub const ALL: [ConsentKind; 3] =
        [ConsentKind::PrivacyPolicy, ConsentKind::Location, ConsentKind::PersonalisedMarketing];

    pub fn as_str(self) -> &'static str {
        match self {
            ConsentKind::PrivacyPolicy => "privacy_policy",
            ConsentKind::Location => "location",
            ConsentKind::PersonalisedMarketing => "personalised_marketing",
        }
    }

    fn parse(s: &str) -> Option<ConsentKind> {
        ConsentKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Consent decisions to record; absent kinds are left as they are.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentChange {
    pub privacy_policy: Option<bool>,
    pub location: Option<bool>,
    pub personalised_marketing: Option<bool>,
    /// The policy version the member was shown; default: the server's current version.
    pub policy_version: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct ConsentStatus {
    pub granted: bool,
    /// The policy version of the latest decision; absent when never asked.
    pub policy_version: Option<String>,
    pub at: Option<DateTime<Utc>>,
}

/// The current state of each kind (its latest decision).
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct ConsentState {
    pub privacy_policy: ConsentStatus,
    pub location: ConsentStatus,
    pub personalised_marketing: ConsentStatus,
}

/// One recorded decision (the history, for the export).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConsentRecord {
    pub kind: ConsentKind,
    pub granted: bool,
    pub policy_version: String,
    pub at: DateTime<Utc>,
    pub ip: Option<String>,
}

/// Appends one decision inside the caller's transaction.
pub(crate) async fn record_consent<C: ConnectionTrait>(
    conn: &C,
    chain_id: i64,
    member_id: i64,
    kind: ConsentKind,
    granted: bool,
    version: &str,
    ip: Option<&str>,
) -> AppResult<()> {
    member_consent::ActiveModel {
        chain_id: Set(chain_id),
        member_id: Set(member_id),
        kind: Set(kind.as_str().to_owned()),
        granted: Set(i32::from(granted)),
        policy_version: Set(version.to_owned()),
        at_us: Set(now_us()),
        ip: Set(ip.map(|v| v.chars().take(64).collect())),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok(())
}

pub(crate) async fn consent_history<C: ConnectionTrait>(conn: &C, member_id: i64) -> AppResult<Vec<ConsentRecord>> {
    Ok(member_consent::Entity::find()
        .filter(member_consent::Column::MemberId.eq(member_id))
        .order_by_asc(member_consent::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .filter_map(|r| {
            Some(ConsentRecord {
                kind: ConsentKind::parse(&r.kind)?,
                granted: r.granted != 0,
                policy_version: r.policy_version,
                at: instant(r.at_us),
                ip: r.ip,
            })
        })
        .collect())
}

/// The latest decision per kind.
pub(crate) async fn consent_state<C: ConnectionTrait>(conn: &C, member_id: i64) -> AppResult<ConsentState> {
    let mut latest: HashMap<ConsentKind, ConsentRecord> = HashMap::new();
    for r in consent_history(conn, member_id).await? {
        latest.insert(r.kind, r);
    }
    let status = |k: ConsentKind| {
        latest
            .get(&k)
            .map(|r| ConsentStatus {
                granted: r.granted,
                policy_version: Some(r.policy_version.clone()),
                at: Some(r.at),
            })
            .unwrap_or_default()
    };
    Ok(ConsentState {
        privacy_policy: status(ConsentKind::PrivacyPolicy),
        location: status(ConsentKind::Location),
        personalised_marketing: status(ConsentKind::PersonalisedMarketing),
    })
}

impl App {
    pub async fn member_consents(&self, me: &MemberAuth) -> AppResult<ConsentState> {
        self.member_row(self.db.reader(), me).await?;
        consent_state(self.db.reader(), me.member_id).await
    }

    /// Records each given decision as a new row; answers the resulting state.
    pub async fn member_set_consents(&self, me: &MemberAuth, cmd: ConsentChange) -> AppResult<ConsentState> {
        let mut p = Problems::default();
        let version = match cmd.policy_version.as_deref() {
            Some(v) => p.check(policy_version("policy_version", v)),
            None => Some(PRIVACY_POLICY_VERSION.to_owned()),
        };
        let decisions: Vec<(ConsentKind, bool)> = [
            (ConsentKind::PrivacyPolicy, cmd.privacy_policy),
            (ConsentKind::Location, cmd.location),
            (ConsentKind::PersonalisedMarketing, cmd.personalised_marketing),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect();
        if decisions.is_empty() {
            p.push(FieldError::new(
                "privacy_policy",
                jiayou_domain::FieldErrorKind::Conflict {
                    reason: "至少给出 privacy_policy、location、personalised_marketing 中的一项".into(),
                },
            ));
        }
        p.finish()?;
        let version = version.unwrap_or_default();
        let tx = self.db.begin().await?;
        self.member_row(&tx, me).await?;
        for (kind, granted) in decisions {
            record_consent(&tx, me.chain_id, me.member_id, kind, granted, &version, me.ip.as_deref()).await?;
        }
        tx.commit().await?;
        tracing::info!(member_id = me.member_id, "member consent recorded");
        consent_state(self.db.reader(), me.member_id).await
    }
}
