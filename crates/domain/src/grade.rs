//! Grades (油品) are data, not code: gasoline 92#/95#/98#, diesel 0#/-10#, LNG, CNG,
//! and later kWh or hydrogen all fit one model: an energy type plus a unit of sale.

use serde::{Deserialize, Serialize};

/// What a grade physically is; drives invoices (refined-oil rules) and icons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EnergyType {
    Gasoline,
    Diesel,
    Lng,
    Cng,
    Electricity,
    Hydrogen,
}

/// The unit a grade is sold in. Quantities are integer thousandths of it
/// (SPEC: millilitres for litres, grams for kg, litres for m³, Wh for kWh); unit
/// prices are fen per whole unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Litre,
    Kg,
    M3,
    Kwh,
}

macro_rules! str_enum {
    ($ty:ident { $($variant:ident => $s:literal),+ $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];
            pub const NAMES: &'static [&'static str] = &[$($s),+];
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $s),+ }
            }
            pub fn parse(s: &str) -> Option<$ty> {
                match s { $($s => Some($ty::$variant),)+ _ => None }
            }
        }
    };
}
pub(crate) use str_enum;

str_enum!(EnergyType {
    Gasoline => "gasoline",
    Diesel => "diesel",
    Lng => "lng",
    Cng => "cng",
    Electricity => "electricity",
    Hydrogen => "hydrogen",
});

str_enum!(Unit { Litre => "litre", Kg => "kg", M3 => "m3", Kwh => "kwh" });

impl Unit {
    /// Chinese unit label for price boards and invoices.
    pub fn label_zh(self) -> &'static str {
        match self {
            Unit::Litre => "升",
            Unit::Kg => "千克",
            Unit::M3 => "立方米",
            Unit::Kwh => "千瓦时",
        }
    }
}

impl EnergyType {
    /// The unit a grade of this type is normally sold in; the API accepts another
    /// (LNG is sometimes sold by m³) but uses this when none is given.
    pub fn default_unit(self) -> Unit {
        match self {
            EnergyType::Gasoline | EnergyType::Diesel => Unit::Litre,
            EnergyType::Lng | EnergyType::Hydrogen => Unit::Kg,
            EnergyType::Cng => Unit::M3,
            EnergyType::Electricity => Unit::Kwh,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for u in Unit::ALL {
            assert_eq!(Unit::parse(u.as_str()), Some(*u));
            assert_eq!(serde_json::to_value(u).unwrap(), u.as_str());
        }
        for e in EnergyType::ALL {
            assert_eq!(EnergyType::parse(e.as_str()), Some(*e));
            assert_eq!(serde_json::to_value(e).unwrap(), e.as_str());
        }
        assert_eq!(Unit::parse("litres"), None);
    }
}
