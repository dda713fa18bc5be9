//! Stations as the driver sees them: amenities, and how nearby results are ranked.

use serde::{Deserialize, Serialize};

use crate::grade::str_enum;

/// Services a station offers. A closed list so that filters are exact and the apps can
/// show an icon for each; extend it here when the business needs a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Amenity {
    ConvenienceStore,
    CarWash,
    Restroom,
    EvCharging,
    Restaurant,
    Parking,
    AirPump,
    Atm,
    RestArea,
    VehicleCheck,
    TruckLane,
}

str_enum!(Amenity {
    ConvenienceStore => "convenience_store",
    CarWash => "car_wash",
    Restroom => "restroom",
    EvCharging => "ev_charging",
    Restaurant => "restaurant",
    Parking => "parking",
    AirPump => "air_pump",
    Atm => "atm",
    RestArea => "rest_area",
    VehicleCheck => "vehicle_check",
    TruckLane => "truck_lane",
});

/// How `/stations/nearby` orders its results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NearbySort {
    /// Nearest first.
    #[default]
    Distance,
    /// Cheapest list price of the requested grade first (stations without a price for
    /// it last), ties broken by distance.
    Price,
}

str_enum!(NearbySort { Distance => "distance", Price => "price" });

/// The inputs of ranking, for one candidate station.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RankKey {
    pub distance_m: f64,
    /// List price in fen of the grade the driver asked for, if the station sells it.
    pub price_fen: Option<i64>,
    /// Stable tie-breaker (the station id) so pages never shuffle between requests.
    pub id: i64,
}

/// Orders candidates in place by the chosen sort.
pub fn rank<T>(items: &mut [T], sort: NearbySort, key: impl Fn(&T) -> RankKey) {
    items.sort_by(|a, b| {
        let (a, b) = (key(a), key(b));
        let by_distance = a.distance_m.total_cmp(&b.distance_m).then(a.id.cmp(&b.id));
        match sort {
            NearbySort::Distance => by_distance,
            NearbySort::Price => match (a.price_fen, b.price_fen) {
                (Some(x), Some(y)) => x.cmp(&y).then(by_distance),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => by_distance,
            },
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(id: i64, d: f64, p: Option<i64>) -> RankKey {
        RankKey { distance_m: d, price_fen: p, id }
    }

    #[test]
    fn price_sort_puts_cheapest_first_and_unpriced_last() {
        let mut v = vec![k(1, 100.0, Some(790)), k(2, 50.0, None), k(3, 900.0, Some(760)), k(4, 10.0, Some(790))];
        rank(&mut v, NearbySort::Price, |x| *x);
        assert_eq!(v.iter().map(|x| x.id).collect::<Vec<_>>(), vec![3, 4, 1, 2]);
    }

    #[test]
    fn distance_sort_is_stable_by_id() {
        let mut v = vec![k(9, 5.0, None), k(2, 5.0, None), k(1, 1.0, Some(1))];
        rank(&mut v, NearbySort::Distance, |x| *x);
        assert_eq!(v.iter().map(|x| x.id).collect::<Vec<_>>(), vec![1, 2, 9]);
    }

    #[test]
    fn amenity_names_round_trip() {
        for a in Amenity::ALL {
            assert_eq!(Amenity::parse(a.as_str()), Some(*a));
        }
    }
}
