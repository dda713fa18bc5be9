//! Coordinates: the three datums Chinese maps use, conversions between them,
//! great-circle distance, and the helpers behind the stations' grid index (C1).
//!
//! - **WGS-84** is what GPS receivers and the rest of the world use. Stations
//!   are stored in WGS-84.
//! - **GCJ-02** ("Mars coordinates") is the obfuscated datum mainland-China maps
//!   must use (Tencent, AMap, the WeChat mini-program's `wx.getLocation` with
//!   `type: 'gcj02'`). It is WGS-84 plus a smooth, position-dependent shift of
//!   a few hundred metres, applied only inside a rough China bounding box.
//! - **BD-09** is Baidu's further offset on top of GCJ-02.
//!
//! The forward formulas are the widely published ones (Krasovsky 1940 ellipsoid,
//! the `transformLat`/`transformLng` polynomials, Baidu's `x_pi = π·3000/180`
//! rotation). The inverses are computed by iteration on the forward formulas,
//! because the published one-step inverses are off by metres (GCJ-02→WGS-84)
//! or by up to 2.1e-6° ≈ 0.2 m (BD-09→GCJ-02). Agreement with independent
//! implementations is checked in `tests/geo_vectors.rs`.
//!
//! Box behaviour, following the reference implementations (gcoord, coord-convert,
//! prcoords, wandergis/coordtransform): WGS-84↔GCJ-02 is the identity outside the
//! box lng 72.004–137.8347, lat 0.8293–55.8271; the BD-09 offset is applied
//! everywhere, even outside the box, because the published BD-09 formula has no
//! box test (only eviltransform differs there). Neither datum means anything
//! outside China, so callers outside China should simply use WGS-84.

use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A coordinate datum accepted by the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum CoordSystem {
    /// GPS, and how stations are stored.
    #[serde(rename = "wgs84")]
    Wgs84,
    /// Tencent / AMap / WeChat `gcj02`.
    #[serde(rename = "gcj02")]
    Gcj02,
    /// Baidu.
    #[serde(rename = "bd09")]
    Bd09,
}

impl CoordSystem {
    /// Every datum, for listing in documentation and error messages.
    pub const ALL: [CoordSystem; 3] = [CoordSystem::Wgs84, CoordSystem::Gcj02, CoordSystem::Bd09];
    /// Their names, in the same order (for `FieldErrorKind::UnknownValue`).
    pub const NAMES: [&'static str; 3] = ["wgs84", "gcj02", "bd09"];

    /// The name used in JSON and query strings: `wgs84`, `gcj02` or `bd09`.
    pub fn as_str(self) -> &'static str {
        match self {
            CoordSystem::Wgs84 => "wgs84",
            CoordSystem::Gcj02 => "gcj02",
            CoordSystem::Bd09 => "bd09",
        }
    }
}

impl fmt::Display for CoordSystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A datum name that is not one of `wgs84`, `gcj02`, `bd09`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown coordinate system {0:?}: expected one of wgs84, gcj02, bd09")]
pub struct UnknownCoordSystem(pub String);

/// Same rules as [`FromStr`]: query strings and JSON accept `GCJ02` as well as `gcj02`.
impl<'de> Deserialize<'de> for CoordSystem {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(|_| serde::de::Error::unknown_variant(&s, &["wgs84", "gcj02", "bd09"]))
    }
}

impl FromStr for CoordSystem {
    type Err = UnknownCoordSystem;

    /// Case-insensitive, because query strings written by hand say `GCJ02` as
    /// often as `gcj02`; surrounding whitespace is not accepted.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CoordSystem::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownCoordSystem(s.to_owned()))
    }
}

/// An invalid coordinate; says which field is wrong so the API can point at it.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum GeoError {
    #[error("lng must be a finite number from -180 to 180, got {0}")]
    InvalidLng(f64),
    #[error("lat must be a finite number from -90 to 90, got {0}")]
    InvalidLat(f64),
}

impl GeoError {
    /// The offending field's name in the API: `"lng"` or `"lat"`.
    pub fn field(&self) -> &'static str {
        match self {
            GeoError::InvalidLng(_) => "lng",
            GeoError::InvalidLat(_) => "lat",
        }
    }
}

impl From<GeoError> for crate::field::FieldError {
    /// For the HTTP layer's problem+json; NaN and infinities are "out of range" too.
    fn from(e: GeoError) -> Self {
        use crate::field::{FieldError, FieldErrorKind};
        let (min, max) = match e {
            GeoError::InvalidLng(_) => ("-180", "180"),
            GeoError::InvalidLat(_) => ("-90", "90"),
        };
        FieldError::new(e.field(), FieldErrorKind::OutOfRange { min: min.to_owned(), max: max.to_owned() })
    }
}

/// A longitude/latitude pair in degrees, in whatever datum the context says.
///
/// Deserialising validates the ranges (through [`LngLat::new`]), so a `LngLat`
/// read from a request is always in range. Values produced by [`convert`] are
/// not clamped: BD-09's constant offset can push a point on the antimeridian a
/// few metres past ±180°, exactly as the published formula does.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawLngLat")]
pub struct LngLat {
    pub lng: f64,
    pub lat: f64,
}

/// Unvalidated wire form of [`LngLat`].
#[derive(Deserialize)]
struct RawLngLat {
    lng: f64,
    lat: f64,
}

impl TryFrom<RawLngLat> for LngLat {
    type Error = GeoError;
    fn try_from(raw: RawLngLat) -> Result<Self, GeoError> {
        LngLat::new(raw.lng, raw.lat)
    }
}

impl LngLat {
    /// A validated point: `lng` in [-180, 180], `lat` in [-90, 90], both finite.
    /// `lng` is checked first, so a point wrong in both reports `lng`.
    pub fn new(lng: f64, lat: f64) -> Result<LngLat, GeoError> {
        // `contains` is false for NaN, and the closed ranges reject ±inf.
        if !(-180.0..=180.0).contains(&lng) {
            return Err(GeoError::InvalidLng(lng));
        }
        if !(-90.0..=90.0).contains(&lat) {
            return Err(GeoError::InvalidLat(lat));
        }
        Ok(LngLat { lng, lat })
    }
}

// ---------------------------------------------------------------------------
// Datum conversion
// ---------------------------------------------------------------------------

/// Krasovsky 1940 semi-major axis (m), as in the published GCJ-02 algorithm.
const KRASOVSKY_A: f64 = 6_378_245.0;
/// Krasovsky 1940 first eccentricity squared (f = 1/298.3).
const KRASOVSKY_EE: f64 = 0.006_693_421_622_965_943;
/// Baidu's angular factor `x_pi = π · 3000 / 180`.
const X_PI: f64 = std::f64::consts::PI * 3000.0 / 180.0;
/// Baidu's constant offsets (degrees).
const BD_DLNG: f64 = 0.0065;
const BD_DLAT: f64 = 0.006;

/// The box inside which the published algorithm shifts WGS-84 to GCJ-02.
pub const CHINA_LNG_MIN: f64 = 72.004;
pub const CHINA_LNG_MAX: f64 = 137.8347;
pub const CHINA_LAT_MIN: f64 = 0.8293;
pub const CHINA_LAT_MAX: f64 = 55.8271;

/// Inverses stop once the forward image is this close (degrees, per axis) to
/// the target: 1e-10° ≈ 0.01 mm, far below the brief's 1e-9° and the 0.01 m
/// round-trip requirement, and still well above f64 resolution at 180°.
const INVERSE_TOLERANCE_DEG: f64 = 1e-10;
/// The fixed-point maps contract by a factor of ~0.003 (GCJ) and ~0.02 (BD)
/// per step, so 4–6 steps suffice; the bound only guards against NaN input.
const INVERSE_MAX_STEPS: usize = 32;

/// Whether the published algorithm treats `p` as inside China.
pub fn in_china_box(p: LngLat) -> bool {
    (CHINA_LNG_MIN..=CHINA_LNG_MAX).contains(&p.lng) && (CHINA_LAT_MIN..=CHINA_LAT_MAX).contains(&p.lat)
}

/// Convert `p` from datum `from` to datum `to`. All nine pairs; same datum is
/// the identity. See the module docs for the China-box behaviour.
pub fn convert(p: LngLat, from: CoordSystem, to: CoordSystem) -> LngLat {
    use CoordSystem::*;
    match (from, to) {
        (Wgs84, Wgs84) | (Gcj02, Gcj02) | (Bd09, Bd09) => p,
        (Wgs84, Gcj02) => wgs84_to_gcj02(p),
        (Gcj02, Wgs84) => gcj02_to_wgs84(p),
        (Gcj02, Bd09) => gcj02_to_bd09(p),
        (Bd09, Gcj02) => bd09_to_gcj02(p),
        (Wgs84, Bd09) => gcj02_to_bd09(wgs84_to_gcj02(p)),
        (Bd09, Wgs84) => gcj02_to_wgs84(bd09_to_gcj02(p)),
    }
}

/// The published polynomial for the latitude shift, in metres-ish units, of
/// (x, y) = (lng − 105, lat − 35).
fn transform_lat(x: f64, y: f64) -> f64 {
    use std::f64::consts::PI;
    let mut ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * x.abs().sqrt();
    ret += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    ret += (20.0 * (y * PI).sin() + 40.0 * (y / 3.0 * PI).sin()) * 2.0 / 3.0;
    ret += (160.0 * (y / 12.0 * PI).sin() + 320.0 * (y * PI / 30.0).sin()) * 2.0 / 3.0;
    ret
}

/// The published polynomial for the longitude shift.
fn transform_lng(x: f64, y: f64) -> f64 {
    use std::f64::consts::PI;
    let mut ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * x.abs().sqrt();
    ret += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    ret += (20.0 * (x * PI).sin() + 40.0 * (x / 3.0 * PI).sin()) * 2.0 / 3.0;
    ret += (150.0 * (x / 12.0 * PI).sin() + 300.0 * (x / 30.0 * PI).sin()) * 2.0 / 3.0;
    ret
}

/// The GCJ-02 shift (degrees) at WGS-84 point `p`, without the box test: the
/// polynomials' metres divided by the length of a degree on Krasovsky's
/// ellipsoid at that latitude.
fn gcj_shift(p: LngLat) -> (f64, f64) {
    use std::f64::consts::PI;
    let d_lat = transform_lat(p.lng - 105.0, p.lat - 35.0);
    let d_lng = transform_lng(p.lng - 105.0, p.lat - 35.0);
    let rad_lat = p.lat / 180.0 * PI;
    let magic = 1.0 - KRASOVSKY_EE * rad_lat.sin() * rad_lat.sin();
    let sqrt_magic = magic.sqrt();
    let d_lat = (d_lat * 180.0) / ((KRASOVSKY_A * (1.0 - KRASOVSKY_EE)) / (magic * sqrt_magic) * PI);
    let d_lng = (d_lng * 180.0) / (KRASOVSKY_A / sqrt_magic * rad_lat.cos() * PI);
    (d_lng, d_lat)
}

fn wgs84_to_gcj02(p: LngLat) -> LngLat {
    if !in_china_box(p) {
        return p;
    }
    let (d_lng, d_lat) = gcj_shift(p);
    LngLat { lng: p.lng + d_lng, lat: p.lat + d_lat }
}

/// Solve `w + shift(w) = g` by fixed-point iteration `w ← w − (F(w) − g)`.
///
/// The shift is smooth and small (its Jacobian is ~1e-3), so the map is a strong
/// contraction and converges in a handful of steps; Newton would need the
/// Jacobian of `sqrt(|lng − 105|)`, which is unbounded at 105°E. The box test
/// is made once, on the GCJ-02 input, as the reference implementations do;
/// the iteration itself uses the unboxed shift so that it stays smooth. Within
/// a few hundred metres of the box's edge the forward map is not one-to-one,
/// so there no inverse can be exact; everywhere else the round trip is
/// sub-millimetre (see the tests).
fn gcj02_to_wgs84(g: LngLat) -> LngLat {
    if !in_china_box(g) {
        return g;
    }
    let mut w = g;
    for _ in 0..INVERSE_MAX_STEPS {
        let (d_lng, d_lat) = gcj_shift(w);
        let err_lng = w.lng + d_lng - g.lng;
        let err_lat = w.lat + d_lat - g.lat;
        if err_lng.abs() < INVERSE_TOLERANCE_DEG && err_lat.abs() < INVERSE_TOLERANCE_DEG {
            break;
        }
        w.lng -= err_lng;
        w.lat -= err_lat;
    }
    w
}

/// Baidu's published forward formula (no box test, see the module docs).
fn gcj02_to_bd09(p: LngLat) -> LngLat {
    let (x, y) = (p.lng, p.lat);
    let z = (x * x + y * y).sqrt() + 0.00002 * (y * X_PI).sin();
    let theta = y.atan2(x) + 0.000003 * (x * X_PI).cos();
    LngLat { lng: z * theta.cos() + BD_DLNG, lat: z * theta.sin() + BD_DLAT }
}

/// The published one-step inverse, used as the starting point only: it is up
/// to 2.1e-6° (~0.2 m) off the exact inverse, so it is refined by the same
/// fixed-point iteration as GCJ-02→WGS-84.
fn bd09_to_gcj02_one_step(p: LngLat) -> LngLat {
    let x = p.lng - BD_DLNG;
    let y = p.lat - BD_DLAT;
    let z = (x * x + y * y).sqrt() - 0.00002 * (y * X_PI).sin();
    let theta = y.atan2(x) - 0.000003 * (x * X_PI).cos();
    LngLat { lng: z * theta.cos(), lat: z * theta.sin() }
}

fn bd09_to_gcj02(b: LngLat) -> LngLat {
    let mut g = bd09_to_gcj02_one_step(b);
    for _ in 0..INVERSE_MAX_STEPS {
        let f = gcj02_to_bd09(g);
        let err_lng = f.lng - b.lng;
        let err_lat = f.lat - b.lat;
        if err_lng.abs() < INVERSE_TOLERANCE_DEG && err_lat.abs() < INVERSE_TOLERANCE_DEG {
            break;
        }
        g.lng -= err_lng;
        g.lat -= err_lat;
    }
    g
}

// ---------------------------------------------------------------------------
// Distance
// ---------------------------------------------------------------------------

/// Mean Earth radius (IUGG R1 = (2a + b) / 3 of WGS-84), in metres. A sphere is
/// within 0.5 % of the ellipsoid everywhere, plenty for ranking stations.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Great-circle distance in metres between two points of the same datum, by the
/// haversine formula on a sphere of radius [`EARTH_RADIUS_M`] (well conditioned
/// for the short distances that matter here, unlike the spherical law of cosines).
pub fn haversine_m(a: LngLat, b: LngLat) -> f64 {
    let (lat1, lat2) = (a.lat.to_radians(), b.lat.to_radians());
    let d_lat = lat2 - lat1;
    let d_lng = (b.lng - a.lng).to_radians();
    let h = (d_lat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (d_lng / 2.0).sin().powi(2);
    // Rounding can push h a hair above 1 for antipodal points; asin would be NaN.
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

// ---------------------------------------------------------------------------
// Grid index helpers
// ---------------------------------------------------------------------------

/// Stations store WGS-84 degrees as integers of 1e-7° (≈ 1.1 cm), exact in
/// every database and comparable with plain integer indexes.
pub const E7: f64 = 1e7;

/// Degrees to 1e-7° units, rounded to nearest. Non-finite input gives 0 or the
/// saturated `i64` bounds (Rust's `as`), so validate with [`LngLat::new`] first.
pub fn to_e7(deg: f64) -> i64 {
    (deg * E7).round() as i64
}

/// 1e-7° units back to degrees.
pub fn from_e7(v: i64) -> f64 {
    v as f64 / E7
}

/// Height of one latitude band of the grid index (≈ 5.6 km).
pub const GRID_ROW_DEG: f64 = 0.05;
/// [`GRID_ROW_DEG`] in 1e-7° units.
const GRID_ROW_E7: i64 = 500_000;

/// The grid row (latitude band) of a latitude: ⌊lat / GRID_ROW_DEG⌋.
///
/// Computed on the 1e-7° integer rather than by float division, because
/// 0.15 / 0.05 is 2.9999999999999996 in floating point: the row stored with a
/// station must agree exactly with the row its stored `lat_e7` falls in.
pub fn grid_row(lat: f64) -> i32 {
    grid_row_e7(to_e7(lat))
}

/// The grid row of a latitude given in 1e-7° units.
pub fn grid_row_e7(lat_e7: i64) -> i32 {
    // |lat| ≤ 90° gives |row| ≤ 1800; saturate rather than wrap on garbage.
    let row = lat_e7.div_euclid(GRID_ROW_E7);
    row.clamp(i32::MIN as i64, i32::MAX as i64) as i32
}

/// A bounding box for a radius query against the grid index. Every point
/// within the radius has `grid_row` in `rows`, `lat_e7` in
/// `[lat_min_e7, lat_max_e7]` and `lng_e7` in one of `lng_ranges_e7`
/// (inclusive bounds). It is a superset: filter the candidates with
/// [`haversine_m`] afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchWindow {
    pub rows: RangeInclusive<i32>,
    /// One range, or two when the window crosses the ±180° meridian.
    pub lng_ranges_e7: Vec<(i64, i64)>,
    pub lat_min_e7: i64,
    pub lat_max_e7: i64,
}

const LAT_MAX_E7: i64 = 900_000_000;
const LNG_MAX_E7: i64 = 1_800_000_000;
/// Extra width, in 1e-7° units, on every side of the box: covers the rounding
/// of stored coordinates to 1e-7° and of the trigonometry below.
const WINDOW_MARGIN_E7: i64 = 2;

/// The search window around `center` (WGS-84) for `radius_m` metres.
///
/// Uses the exact extent of a spherical cap (J. P. Matuschek, "Finding Points
/// Within a Distance of a Latitude/Longitude Using Bounding Coordinates"):
/// latitude ± r/R, and longitude ± asin(sin(r/R) / cos(lat)), which is the
/// widest point of the cap, not its width at the centre's latitude. When the
/// cap reaches a pole every longitude is in range. A negative or NaN radius is
/// taken as 0; an infinite one as the whole globe.
pub fn search_window(center: LngLat, radius_m: f64) -> SearchWindow {
    let radius_m = if radius_m.is_nan() { 0.0 } else { radius_m.max(0.0) };
    // Radians; beyond π the cap is the whole globe, and capping keeps the
    // arithmetic below finite for an infinite radius.
    let angular = (radius_m / EARTH_RADIUS_M).min(std::f64::consts::PI);
    let angular_deg = angular.to_degrees();

    let lat_min = center.lat - angular_deg;
    let lat_max = center.lat + angular_deg;
    let lat_min_e7 = ((lat_min * E7).floor() as i64).saturating_sub(WINDOW_MARGIN_E7).max(-LAT_MAX_E7);
    let lat_max_e7 = ((lat_max * E7).ceil() as i64).saturating_add(WINDOW_MARGIN_E7).min(LAT_MAX_E7);

    let full = vec![(-LNG_MAX_E7, LNG_MAX_E7)];
    let lng_ranges_e7 = if lat_min <= -90.0 || lat_max >= 90.0 || angular >= std::f64::consts::FRAC_PI_2 {
        // The cap contains a pole (or is a hemisphere or more): all meridians.
        full
    } else {
        let ratio = angular.sin() / center.lat.to_radians().cos();
        if ratio >= 1.0 {
            full
        } else {
            let half = ratio.asin().to_degrees();
            let lo = ((center.lng - half) * E7).floor() as i64 - WINDOW_MARGIN_E7;
            let hi = ((center.lng + half) * E7).ceil() as i64 + WINDOW_MARGIN_E7;
            if hi - lo >= 2 * LNG_MAX_E7 {
                full
            } else if lo < -LNG_MAX_E7 {
                // Wraps west past -180°: the overflow reappears at the east edge.
                vec![(lo + 2 * LNG_MAX_E7, LNG_MAX_E7), (-LNG_MAX_E7, hi)]
            } else if hi > LNG_MAX_E7 {
                vec![(lo, LNG_MAX_E7), (-LNG_MAX_E7, hi - 2 * LNG_MAX_E7)]
            } else {
                vec![(lo, hi)]
            }
        }
    };

    SearchWindow { rows: grid_row_e7(lat_min_e7)..=grid_row_e7(lat_max_e7), lng_ranges_e7, lat_min_e7, lat_max_e7 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(lng: f64, lat: f64) -> LngLat {
        LngLat { lng, lat }
    }

    /// Distance in metres between two points, for round-trip checks.
    fn gap_m(a: LngLat, b: LngLat) -> f64 {
        haversine_m(a, b)
    }

    /// Points well inside the China box: the round trip cannot be exact within a
    /// few hundred metres of its edges, where the forward map folds (see
    /// `gcj02_to_wgs84`), so keep 0.02° (≈ 2 km) away.
    fn china() -> impl Strategy<Value = LngLat> {
        (CHINA_LNG_MIN + 0.02..CHINA_LNG_MAX - 0.02, CHINA_LAT_MIN + 0.02..CHINA_LAT_MAX - 0.02)
            .prop_map(|(lng, lat)| p(lng, lat))
    }

    fn anywhere() -> impl Strategy<Value = LngLat> {
        (-180.0..=180.0f64, -90.0..=90.0f64).prop_map(|(lng, lat)| p(lng, lat))
    }

    #[test]
    fn coord_system_names() {
        for (c, name) in CoordSystem::ALL.into_iter().zip(CoordSystem::NAMES) {
            assert_eq!(c.as_str(), name);
            assert_eq!(c.as_str().parse::<CoordSystem>(), Ok(c));
            assert_eq!(c.as_str().to_uppercase().parse::<CoordSystem>(), Ok(c));
            assert_eq!(serde_json::to_string(&c).unwrap(), format!("\"{}\"", c.as_str()));
            assert_eq!(serde_json::from_str::<CoordSystem>(&format!("\"{c}\"")).unwrap(), c);
        }
        assert_eq!("Gcj02".parse::<CoordSystem>(), Ok(CoordSystem::Gcj02));
        let err = "wgs-84".parse::<CoordSystem>().unwrap_err();
        assert!(err.to_string().contains("wgs-84"), "{err}");
        assert!("".parse::<CoordSystem>().is_err());
        assert!(" wgs84".parse::<CoordSystem>().is_err());
        assert!(serde_json::from_str::<CoordSystem>("\"mars\"").is_err());
        // JSON and query strings follow the same case-insensitive rule as FromStr.
        assert_eq!(serde_json::from_str::<CoordSystem>("\"GCJ02\"").unwrap(), CoordSystem::Gcj02);
    }

    #[test]
    fn lnglat_validation_names_the_field() {
        assert!(LngLat::new(180.0, -90.0).is_ok());
        assert!(LngLat::new(-180.0, 90.0).is_ok());
        for (lng, lat, field) in [
            (180.000_001, 0.0, "lng"),
            (-181.0, 0.0, "lng"),
            (f64::NAN, 0.0, "lng"),
            (f64::INFINITY, 0.0, "lng"),
            (0.0, 90.5, "lat"),
            (0.0, -91.0, "lat"),
            (0.0, f64::NAN, "lat"),
            (0.0, f64::NEG_INFINITY, "lat"),
            (200.0, 100.0, "lng"),
        ] {
            let err = LngLat::new(lng, lat).unwrap_err();
            assert_eq!(err.field(), field, "{lng},{lat}");
            assert!(err.to_string().starts_with(field), "{err}");
            let fe = crate::field::FieldError::from(err);
            assert_eq!((fe.field.as_ref(), fe.code()), (field, "field_out_of_range"));
        }
    }

    #[test]
    fn lnglat_serde_validates() {
        let ok: LngLat = serde_json::from_str(r#"{"lng":102.7,"lat":25.04}"#).unwrap();
        assert_eq!(ok, p(102.7, 25.04));
        assert_eq!(serde_json::to_string(&ok).unwrap(), r#"{"lng":102.7,"lat":25.04}"#);
        let err = serde_json::from_str::<LngLat>(r#"{"lng":102.7,"lat":95}"#).unwrap_err();
        assert!(err.to_string().contains("lat must be"), "{err}");
        assert!(serde_json::from_str::<LngLat>(r#"{"lng":102.7}"#).is_err());
    }

    #[test]
    fn identity_pairs() {
        let k = p(102.7123, 25.0406);
        for c in CoordSystem::ALL {
            assert_eq!(convert(k, c, c), k);
        }
    }

    #[test]
    fn inverse_at_the_kink_of_the_polynomial() {
        // sqrt(|lng - 105|) has an unbounded derivative at 105°E; the fixed
        // point must still converge there.
        for lng in [105.0, 105.0 + 1e-12, 105.0 - 1e-9] {
            let w = p(lng, 35.0);
            let back =
                convert(convert(w, CoordSystem::Wgs84, CoordSystem::Gcj02), CoordSystem::Gcj02, CoordSystem::Wgs84);
            assert!(gap_m(w, back) < 1e-3, "{lng}: {}", gap_m(w, back));
        }
    }

    #[test]
    fn nan_input_terminates() {
        let n = p(f64::NAN, f64::NAN);
        for from in CoordSystem::ALL {
            for to in CoordSystem::ALL {
                let _ = convert(n, from, to);
            }
        }
    }

    #[test]
    fn shift_is_hundreds_of_metres_in_china() {
        // Sanity: the GCJ shift is real (a few hundred metres), so a test that
        // forgot to convert would notice.
        let w = p(102.7123, 25.0406);
        let g = convert(w, CoordSystem::Wgs84, CoordSystem::Gcj02);
        let d = gap_m(w, g);
        assert!((100.0..1000.0).contains(&d), "{d}");
    }

    #[test]
    fn haversine_known_distances() {
        // One degree of latitude on the mean sphere: R·π/180.
        let d = haversine_m(p(0.0, 0.0), p(0.0, 1.0));
        assert!((d - EARTH_RADIUS_M.to_radians()).abs() < 1e-6, "{d}");
        // Antipodes: half the circumference, and no NaN.
        let d = haversine_m(p(0.0, 0.0), p(180.0, 0.0));
        assert!((d - EARTH_RADIUS_M * std::f64::consts::PI).abs() < 1e-3, "{d}");
        // Across the antimeridian is short, not half the world.
        let d = haversine_m(p(179.9, 0.0), p(-179.9, 0.0));
        assert!((d - 2.0 * 0.1f64.to_radians() * EARTH_RADIUS_M).abs() < 1e-3, "{d}");
        // Beijing Tiananmen to Shanghai People's Square, ~1067 km.
        let d = haversine_m(p(116.3975, 39.9087), p(121.4737, 31.2304));
        assert!((1_060_000.0..1_075_000.0).contains(&d), "{d}");
    }

    #[test]
    fn e7_and_rows() {
        assert_eq!(to_e7(102.712_345_67), 1_027_123_457);
        assert_eq!(to_e7(-0.000_000_05), -1); // half away from zero
        assert_eq!(from_e7(1_027_123_457), 102.712_345_7);
        assert_eq!(grid_row(0.0), 0);
        assert_eq!(grid_row(0.049_999_9), 0);
        assert_eq!(grid_row(0.05), 1);
        assert_eq!(grid_row(0.15), 3); // float division would give 2
        assert_eq!(grid_row(-0.000_000_1), -1);
        assert_eq!(grid_row(-0.05), -1);
        assert_eq!(grid_row(90.0), 1800);
        assert_eq!(grid_row(-90.0), -1800);
        assert_eq!(grid_row_e7(i64::MAX), i32::MAX);
    }

    #[test]
    fn window_shapes() {
        let w = search_window(p(102.7, 25.0), 5_000.0);
        assert_eq!(w.lng_ranges_e7.len(), 1);
        assert!(w.rows.end() - w.rows.start() <= 3, "{w:?}");

        // Across the antimeridian: two ranges, one at each edge.
        let w = search_window(p(179.99, -16.5), 10_000.0);
        assert_eq!(w.lng_ranges_e7.len(), 2, "{w:?}");
        assert_eq!(w.lng_ranges_e7[0].1, LNG_MAX_E7);
        assert_eq!(w.lng_ranges_e7[1].0, -LNG_MAX_E7);
        let w = search_window(p(-179.99, -16.5), 10_000.0);
        assert_eq!(w.lng_ranges_e7.len(), 2, "{w:?}");

        // A cap containing the pole takes every meridian.
        let w = search_window(p(10.0, 89.99), 5_000.0);
        assert_eq!(w.lng_ranges_e7, vec![(-LNG_MAX_E7, LNG_MAX_E7)]);
        assert_eq!(w.lat_max_e7, LAT_MAX_E7);

        // Bad radii do not panic.
        let w = search_window(p(0.0, 0.0), f64::NAN);
        assert!(w.lat_min_e7 <= 0 && w.lat_max_e7 >= 0);
        let w = search_window(p(0.0, 0.0), -5.0);
        assert!(w.lat_max_e7 - w.lat_min_e7 <= 2 * WINDOW_MARGIN_E7);
        let w = search_window(p(0.0, 0.0), f64::INFINITY);
        assert_eq!(w.lng_ranges_e7, vec![(-LNG_MAX_E7, LNG_MAX_E7)]);
        assert_eq!((w.lat_min_e7, w.lat_max_e7), (-LAT_MAX_E7, LAT_MAX_E7));
    }

    /// Destination point from `from` after `dist_m` on initial `bearing` (rad),
    /// on the same sphere, with longitude folded into [-180, 180].
    fn destination(from: LngLat, bearing: f64, dist_m: f64) -> LngLat {
        let d = dist_m / EARTH_RADIUS_M;
        let (lat1, lng1) = (from.lat.to_radians(), from.lng.to_radians());
        let lat2 = (lat1.sin() * d.cos() + lat1.cos() * d.sin() * bearing.cos()).clamp(-1.0, 1.0).asin();
        let lng2 = lng1 + (bearing.sin() * d.sin() * lat1.cos()).atan2(d.cos() - lat1.sin() * lat2.sin());
        let mut lng = lng2.to_degrees();
        while lng > 180.0 {
            lng -= 360.0;
        }
        while lng < -180.0 {
            lng += 360.0;
        }
        p(lng, lat2.to_degrees().clamp(-90.0, 90.0))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn wgs_gcj_wgs_round_trip_within_1cm(w in china()) {
            let g = convert(w, CoordSystem::Wgs84, CoordSystem::Gcj02);
            let back = convert(g, CoordSystem::Gcj02, CoordSystem::Wgs84);
            prop_assert!(gap_m(w, back) < 0.01, "{:?} -> {:?}: {} m", w, back, gap_m(w, back));
        }

        #[test]
        fn gcj_wgs_gcj_round_trip_within_1cm(g in china()) {
            let w = convert(g, CoordSystem::Gcj02, CoordSystem::Wgs84);
            let back = convert(w, CoordSystem::Wgs84, CoordSystem::Gcj02);
            prop_assert!(gap_m(g, back) < 0.01, "{} m", gap_m(g, back));
        }

        #[test]
        fn gcj_bd_gcj_round_trip(g in china()) {
            let b = convert(g, CoordSystem::Gcj02, CoordSystem::Bd09);
            let back = convert(b, CoordSystem::Bd09, CoordSystem::Gcj02);
            prop_assert!((back.lng - g.lng).abs() < 1e-6 && (back.lat - g.lat).abs() < 1e-6, "{:?} {:?}", g, back);
            // In fact far better than that:
            prop_assert!(gap_m(g, back) < 0.001);
        }

        #[test]
        fn bd_wgs_bd_round_trip(b in china()) {
            let w = convert(b, CoordSystem::Bd09, CoordSystem::Wgs84);
            let back = convert(w, CoordSystem::Wgs84, CoordSystem::Bd09);
            prop_assert!((back.lng - b.lng).abs() < 1e-6 && (back.lat - b.lat).abs() < 1e-6, "{:?} {:?}", b, back);
            prop_assert!(gap_m(b, back) < 0.01);
        }

        #[test]
        fn wgs_bd_wgs_round_trip(w in china()) {
            let b = convert(w, CoordSystem::Wgs84, CoordSystem::Bd09);
            let back = convert(b, CoordSystem::Bd09, CoordSystem::Wgs84);
            prop_assert!(gap_m(w, back) < 0.01, "{} m", gap_m(w, back));
        }

        #[test]
        fn outside_box_passes_through(q in anywhere()) {
            prop_assume!(!in_china_box(q));
            prop_assert_eq!(convert(q, CoordSystem::Wgs84, CoordSystem::Gcj02), q);
            prop_assert_eq!(convert(q, CoordSystem::Gcj02, CoordSystem::Wgs84), q);
        }

        #[test]
        fn bd_offset_everywhere_and_invertible(q in anywhere()) {
            // Away from the origin of Baidu's polar formula, BD-09 is a shift of
            // roughly (0.0065°, 0.006°) and its inverse undoes it.
            prop_assume!(q.lng.hypot(q.lat) > 1.0);
            let b = convert(q, CoordSystem::Gcj02, CoordSystem::Bd09);
            prop_assert!((b.lng - q.lng - 0.0065).abs() < 1e-2 && (b.lat - q.lat - 0.006).abs() < 1e-2);
            let back = convert(b, CoordSystem::Bd09, CoordSystem::Gcj02);
            prop_assert!((back.lng - q.lng).abs() < 1e-9 && (back.lat - q.lat).abs() < 1e-9, "{:?} {:?}", q, back);
        }

        #[test]
        fn haversine_symmetric_zero_nonnegative(a in anywhere(), b in anywhere()) {
            prop_assert_eq!(haversine_m(a, a), 0.0);
            let (ab, ba) = (haversine_m(a, b), haversine_m(b, a));
            prop_assert!((ab - ba).abs() <= 1e-9 * ab.max(1.0));
            prop_assert!((0.0..=EARTH_RADIUS_M * std::f64::consts::PI + 1e-6).contains(&ab));
        }

        #[test]
        fn haversine_triangle_inequality(a in anywhere(), b in anywhere(), c in anywhere()) {
            let (ab, bc, ac) = (haversine_m(a, b), haversine_m(b, c), haversine_m(a, c));
            // A millimetre of slack for rounding on 20 000 km sides.
            prop_assert!(ac <= ab + bc + 1e-3, "{} > {} + {}", ac, ab, bc);
        }

        #[test]
        fn window_contains_every_point_within_radius(
            center in anywhere(),
            radius_m in 1.0..200_000.0f64,
            bearing in 0.0..std::f64::consts::TAU,
            frac in 0.0..=1.0f64,
        ) {
            let q = destination(center, bearing, radius_m * frac);
            prop_assume!(haversine_m(center, q) <= radius_m);
            check_window(center, radius_m, q)?;
        }

        #[test]
        fn window_near_poles_and_antimeridian(
            lng in prop_oneof![-180.0..-179.0f64, 179.0..=180.0f64, -180.0..=180.0f64],
            lat in prop_oneof![-90.0..-88.0f64, 88.0..=90.0f64, -89.9..89.9f64],
            radius_m in 1.0..300_000.0f64,
            bearing in 0.0..std::f64::consts::TAU,
            frac in 0.9..=1.0f64,
        ) {
            let center = p(lng, lat);
            let q = destination(center, bearing, radius_m * frac);
            prop_assume!(haversine_m(center, q) <= radius_m);
            check_window(center, radius_m, q)?;
        }
    }

    fn check_window(center: LngLat, radius_m: f64, q: LngLat) -> Result<(), TestCaseError> {
        let w = search_window(center, radius_m);
        let (lng_e7, lat_e7) = (to_e7(q.lng), to_e7(q.lat));
        prop_assert!(w.rows.contains(&grid_row(q.lat)), "row {} not in {:?} for {:?}", grid_row(q.lat), w.rows, q);
        prop_assert!((w.lat_min_e7..=w.lat_max_e7).contains(&lat_e7), "{:?} {:?}", q, w);
        prop_assert!(
            w.lng_ranges_e7.iter().any(|&(lo, hi)| (lo..=hi).contains(&lng_e7)),
            "lng {} outside {:?} (center {:?}, r {})",
            lng_e7,
            w.lng_ranges_e7,
            center,
            radius_m
        );
        for &(lo, hi) in &w.lng_ranges_e7 {
            prop_assert!(-LNG_MAX_E7 <= lo && lo <= hi && hi <= LNG_MAX_E7, "{:?}", w);
        }
        Ok(())
    }
}
