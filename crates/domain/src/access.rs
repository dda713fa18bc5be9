//! Who may do what, where (B5). Permissions are a closed list checked by the use-cases;
//! roles are named sets of them (five built in, more defined per chain); a grant gives a
//! role to a staff member for the whole chain or for one station. Pure rules: the
//! tables and sessions live in `store`/`app`.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::grade::str_enum;

/// One thing a staff member may do. The string forms are stable: they are stored in
/// custom roles and named in 403 answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Permission {
    /// Create chains: the platform operator only, never granted through a role.
    #[serde(rename = "chain.manage")]
    ChainManage,
    #[serde(rename = "chain.read")]
    ChainRead,
    #[serde(rename = "station.read")]
    StationRead,
    #[serde(rename = "station.manage")]
    StationManage,
    #[serde(rename = "equipment.manage")]
    EquipmentManage,
    #[serde(rename = "grade.manage")]
    GradeManage,
    #[serde(rename = "price.read")]
    PriceRead,
    #[serde(rename = "price.manage")]
    PriceManage,
    #[serde(rename = "staff.read")]
    StaffRead,
    #[serde(rename = "staff.manage")]
    StaffManage,
    #[serde(rename = "role.manage")]
    RoleManage,
    #[serde(rename = "audit.read")]
    AuditRead,
    #[serde(rename = "member.read")]
    MemberRead,
    /// See members' and staff's personal data unmasked (otherwise 138****1234).
    #[serde(rename = "pii.read")]
    PiiRead,
    #[serde(rename = "sales.read")]
    SalesRead,
    /// Sales of the nozzles assigned to oneself only (attendants).
    #[serde(rename = "sales.read_own")]
    SalesReadOwn,
    /// Take payment at the counter (B10): cash, card, payment code, member balance.
    #[serde(rename = "sales.collect")]
    SalesCollect,
    /// Refund orders, fully or partly (money goes back the way it came).
    #[serde(rename = "sales.refund")]
    SalesRefund,
    /// Register pump controllers and issue their keys (F1).
    #[serde(rename = "device.manage")]
    DeviceManage,
    /// Coupons, top-up bonus rules and the payment policy (C12, C14).
    #[serde(rename = "marketing.manage")]
    MarketingManage,
    /// Risk rules (S1), and releasing or refunding the payments they held.
    #[serde(rename = "risk.manage")]
    RiskManage,
    /// The channels' daily reconciliation and the notifications parked for staff (C3).
    #[serde(rename = "pay.reconcile")]
    PayReconcile,
    /// Acknowledge and resolve abnormal-order alerts (B3).
    #[serde(rename = "alert.handle")]
    AlertHandle,
    /// Deliveries, dips and tank gauges (B4); with `sales.read` also the stock reports.
    #[serde(rename = "inventory.manage")]
    InventoryManage,
}

str_enum!(Permission {
    ChainManage => "chain.manage",
    ChainRead => "chain.read",
    StationRead => "station.read",
    StationManage => "station.manage",
    EquipmentManage => "equipment.manage",
    GradeManage => "grade.manage",
    PriceRead => "price.read",
    PriceManage => "price.manage",
    StaffRead => "staff.read",
    StaffManage => "staff.manage",
    RoleManage => "role.manage",
    AuditRead => "audit.read",
    MemberRead => "member.read",
    PiiRead => "pii.read",
    SalesRead => "sales.read",
    SalesReadOwn => "sales.read_own",
    SalesCollect => "sales.collect",
    SalesRefund => "sales.refund",
    DeviceManage => "device.manage",
    MarketingManage => "marketing.manage",
    RiskManage => "risk.manage",
    PayReconcile => "pay.reconcile",
    AlertHandle => "alert.handle",
    InventoryManage => "inventory.manage",
});

impl Permission {
    /// Whether a chain's role may contain it (creating chains is the operator's alone).
    pub fn grantable(self) -> bool {
        self != Permission::ChainManage
    }
}

/// The roles every chain has, as SPEC B5 names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BuiltinRole {
    ChainAdmin,
    StationManager,
    Cashier,
    Attendant,
    Finance,
}

str_enum!(BuiltinRole {
    ChainAdmin => "chain_admin",
    StationManager => "station_manager",
    Cashier => "cashier",
    Attendant => "attendant",
    Finance => "finance",
});

impl BuiltinRole {
    pub fn name_zh(self) -> &'static str {
        match self {
            BuiltinRole::ChainAdmin => "连锁管理员",
            BuiltinRole::StationManager => "站长",
            BuiltinRole::Cashier => "收银员",
            BuiltinRole::Attendant => "加油员",
            BuiltinRole::Finance => "财务",
        }
    }

    pub fn permissions(self) -> BTreeSet<Permission> {
        use Permission::*;
        let list: &[Permission] = match self {
            BuiltinRole::ChainAdmin => {
                return Permission::ALL.iter().copied().filter(|p| p.grantable()).collect();
            }
            BuiltinRole::StationManager => &[
                ChainRead,
                StationRead,
                StationManage,
                EquipmentManage,
                PriceRead,
                PriceManage,
                StaffRead,
                // Reaches only station-scoped staff work: assigning nozzles to attendants.
                // Creating staff and granting roles are chain-level, out of a station's reach.
                StaffManage,
                AuditRead,
                MemberRead,
                SalesRead,
                SalesCollect,
                SalesRefund,
                DeviceManage,
                AlertHandle,
                InventoryManage,
            ],
            BuiltinRole::Cashier => &[ChainRead, StationRead, PriceRead, MemberRead, SalesRead, SalesCollect],
            BuiltinRole::Attendant => &[ChainRead, StationRead, PriceRead, SalesReadOwn],
            BuiltinRole::Finance => {
                &[ChainRead, StationRead, PriceRead, AuditRead, MemberRead, SalesRead, RiskManage, PayReconcile]
            }
        };
        list.iter().copied().collect()
    }
}

/// A role held for the whole chain (`station_id: None`) or one station.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub station_id: Option<i64>,
    pub permissions: BTreeSet<Permission>,
}

/// What the caller may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// The platform operator (the configured admin token): every permission in every
    /// chain. Used to create chains and their first administrator.
    Platform,
    Staff {
        staff_id: i64,
        chain_id: i64,
        grants: Vec<Grant>,
        nozzles: Vec<i64>,
    },
}

/// A refusal, naming the missing permission (the 403 says which).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("missing permission {permission:?}")]
pub struct Denied {
    pub permission: Permission,
}

/// Where an operation acts: on the chain as a whole, or on one of its stations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Chain(i64),
    Station { chain_id: i64, station_id: i64 },
}

/// Which stations of a chain a caller may see for a permission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visible {
    All,
    Only(Vec<i64>),
}

impl Access {
    /// Chain-level targets need a chain-wide grant; a station target is allowed by a
    /// chain-wide grant or a grant for that very station. Another chain is never allowed.
    pub fn check(&self, permission: Permission, target: Target) -> Result<(), Denied> {
        let denied = Err(Denied { permission });
        match self {
            Access::Platform => Ok(()),
            Access::Staff { chain_id, grants, .. } => {
                let (chain, station) = match target {
                    Target::Chain(c) => (c, None),
                    Target::Station { chain_id, station_id } => (chain_id, Some(station_id)),
                };
                if chain != *chain_id || !permission.grantable() {
                    return denied;
                }
                let ok = grants.iter().any(|g| {
                    g.permissions.contains(&permission) && (g.station_id.is_none() || g.station_id == station)
                });
                if ok { Ok(()) } else { denied }
            }
        }
    }

    /// The stations of `chain_id` on which the caller holds `permission`.
    pub fn visible(&self, permission: Permission, chain_id: i64) -> Visible {
        match self {
            Access::Platform => Visible::All,
            Access::Staff { chain_id: own, grants, .. } => {
                if *own != chain_id {
                    return Visible::Only(Vec::new());
                }
                let holding = grants.iter().filter(|g| g.permissions.contains(&permission));
                let mut ids = Vec::new();
                for g in holding {
                    match g.station_id {
                        None => return Visible::All,
                        Some(s) => ids.push(s),
                    }
                }
                ids.sort_unstable();
                ids.dedup();
                Visible::Only(ids)
            }
        }
    }

    /// True when the caller holds `permission` anywhere in `chain_id`.
    pub fn holds_anywhere(&self, permission: Permission, chain_id: i64) -> bool {
        self.visible(permission, chain_id) != Visible::Only(Vec::new())
    }

    /// The staff member's own chain (None for the platform operator).
    pub fn chain_id(&self) -> Option<i64> {
        match self {
            Access::Platform => None,
            Access::Staff { chain_id, .. } => Some(*chain_id),
        }
    }
}

/// Masks a phone number for callers without `pii.read`: 13812341234 → 138****1234;
/// shorter numbers keep their first and last two characters.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    match chars.len() {
        0 => String::new(),
        n if n >= 11 => {
            format!("{}****{}", chars[..3].iter().collect::<String>(), chars[n - 4..].iter().collect::<String>())
        }
        n if n > 4 => format!(
            "{}{}{}",
            chars[..2].iter().collect::<String>(),
            "*".repeat(n - 4),
            chars[n - 2..].iter().collect::<String>()
        ),
        n => "*".repeat(n),
    }
}

/// Masks a person's name: the first character stays, every other one becomes `*`
/// (张三 → 张*, 欧阳娜娜 → 欧***); a one-character name becomes `*`.
pub fn mask_name(name: &str) -> String {
    let mut chars = name.trim().chars();
    match chars.next() {
        None => String::new(),
        Some(first) => {
            let rest = chars.count();
            if rest == 0 { "*".to_owned() } else { format!("{first}{}", "*".repeat(rest)) }
        }
    }
}

/// Masks a resident ID number (身份证号): the first four (province and city) and the last
/// four characters stay, 5301**********1234. Shorter values keep only the last two.
pub fn mask_id_number(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    let n = chars.len();
    if n > 8 {
        format!(
            "{}{}{}",
            chars[..4].iter().collect::<String>(),
            "*".repeat(n - 8),
            chars[n - 4..].iter().collect::<String>()
        )
    } else if n > 2 {
        format!("{}{}", "*".repeat(n - 2), chars[n - 2..].iter().collect::<String>())
    } else {
        "*".repeat(n)
    }
}

/// Masks a normalised licence plate (`云A12345`, `粤BD12345`): province and issuing
/// letter stay, then `·`, stars, and the last two characters: 云A·***45, 粤B·****45.
pub fn mask_plate(plate: &str) -> String {
    let chars: Vec<char> = plate.chars().filter(|c| *c != '·').collect();
    let n = chars.len();
    if n <= 4 {
        return "*".repeat(n);
    }
    format!(
        "{}·{}{}",
        chars[..2].iter().collect::<String>(),
        "*".repeat(n - 4),
        chars[n - 2..].iter().collect::<String>()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staff(grants: Vec<(Option<i64>, BuiltinRole)>) -> Access {
        Access::Staff {
            staff_id: 1,
            chain_id: 10,
            grants: grants.into_iter().map(|(s, r)| Grant { station_id: s, permissions: r.permissions() }).collect(),
            nozzles: vec![],
        }
    }

    #[test]
    fn station_grants_reach_their_station_only() {
        let a = staff(vec![(Some(5), BuiltinRole::StationManager)]);
        let at = |s| Target::Station { chain_id: 10, station_id: s };
        assert!(a.check(Permission::PriceManage, at(5)).is_ok());
        assert_eq!(a.check(Permission::PriceManage, at(6)), Err(Denied { permission: Permission::PriceManage }));
        // A station grant never reaches chain-level operations.
        assert!(a.check(Permission::StationManage, Target::Chain(10)).is_err());
        assert_eq!(a.visible(Permission::PriceManage, 10), Visible::Only(vec![5]));
    }

    #[test]
    fn another_chain_is_never_reachable() {
        let a = staff(vec![(None, BuiltinRole::ChainAdmin)]);
        assert!(a.check(Permission::StationRead, Target::Chain(10)).is_ok());
        assert!(a.check(Permission::StationRead, Target::Chain(11)).is_err());
        assert!(a.check(Permission::StationRead, Target::Station { chain_id: 11, station_id: 5 }).is_err());
        assert_eq!(a.visible(Permission::StationRead, 11), Visible::Only(vec![]));
    }

    #[test]
    fn creating_chains_is_the_platforms_alone() {
        assert!(
            staff(vec![(None, BuiltinRole::ChainAdmin)]).check(Permission::ChainManage, Target::Chain(10)).is_err()
        );
        assert!(Access::Platform.check(Permission::ChainManage, Target::Chain(99)).is_ok());
        assert!(!BuiltinRole::ChainAdmin.permissions().contains(&Permission::ChainManage));
    }

    #[test]
    fn builtin_roles_match_the_spec() {
        let cashier = BuiltinRole::Cashier.permissions();
        assert!(!cashier.contains(&Permission::PriceManage), "a cashier may not change prices");
        assert!(!cashier.contains(&Permission::PiiRead), "a cashier sees masked personal data");
        let attendant = BuiltinRole::Attendant.permissions();
        assert!(attendant.contains(&Permission::SalesReadOwn) && !attendant.contains(&Permission::SalesRead));
        assert!(BuiltinRole::Finance.permissions().contains(&Permission::AuditRead));
        assert!(BuiltinRole::ChainAdmin.permissions().contains(&Permission::PiiRead));
    }

    #[test]
    fn permission_names_round_trip() {
        for p in Permission::ALL {
            assert_eq!(Permission::parse(p.as_str()), Some(*p));
            assert_eq!(serde_json::to_value(p).unwrap(), p.as_str());
        }
    }

    #[test]
    fn phones_are_masked_like_the_spec_says() {
        assert_eq!(mask_phone("13812341234"), "138****1234");
        assert_eq!(mask_phone("0871-63180618"), "087****0618");
        assert_eq!(mask_phone("123456"), "12**56");
        assert_eq!(mask_phone("123"), "***");
    }

    #[test]
    fn names_ids_and_plates_are_masked_like_the_spec_says() {
        assert_eq!(mask_name("张三"), "张*");
        assert_eq!(mask_name("欧阳娜娜"), "欧***");
        assert_eq!(mask_name("李"), "*");
        assert_eq!(mask_name(""), "");
        assert_eq!(mask_id_number("530102199003071234"), "5301**********1234");
        assert_eq!(mask_id_number("12345"), "***45");
        assert_eq!(mask_plate("云A12345"), "云A·***45");
        assert_eq!(mask_plate("云A·12345"), "云A·***45");
        assert_eq!(mask_plate("粤BD12345"), "粤B·****45");
        assert_eq!(mask_plate("ABC"), "***");
    }
}
