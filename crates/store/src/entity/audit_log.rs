//! One audit row (`audit_log`). Written only by `jiayou_app::audit::record`; the product
//! has no way to update or delete one. See `jiayou_domain::audit` for the hash chain.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub chain_id: i64,
    /// 0 for chain-level actions.
    pub station_id: i64,
    pub seq: i64,
    pub at_us: i64,
    pub actor_kind: String,
    pub actor_id: Option<i64>,
    pub actor_label: String,
    pub ip: Option<String>,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub before_json: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub after_json: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl From<Model> for jiayou_domain::audit::AuditRecord {
    fn from(m: Model) -> Self {
        jiayou_domain::audit::AuditRecord {
            chain_id: m.chain_id,
            station_id: m.station_id,
            seq: m.seq,
            at_us: m.at_us,
            actor_kind: m.actor_kind,
            actor_id: m.actor_id,
            actor_label: m.actor_label,
            ip: m.ip,
            action: m.action,
            target_type: m.target_type,
            target_id: m.target_id,
            before_json: m.before_json,
            after_json: m.after_json,
            prev_hash: m.prev_hash,
            hash: m.hash,
        }
    }
}
