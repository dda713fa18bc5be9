//! Volume correction of refined products to 20 °C (B4): the ASTM D1250-80 / API MPMS
//! 11.1 (1980) equations for generalized products (Table 53B/54B at 15 °C), carried to
//! the 20 °C base that ISO 91-2 and GB/T 1885 (Tables 59B/60B) use in China.
//!
//! Pure: integers at the boundary, `f64` only inside the equations.
//! - volumes: thousandths of a litre (mL), `i64`;
//! - densities: kg/m³ × 10 (0.1 kg/m³), `i64`;
//! - temperatures: 0.01 °C, `i64`;
//! - volume correction factors: × 10 000 (the four decimals the 1980 tables print).
//!
//! The equations (API MPMS 11.1-1980, Table 54B, "generalized products"):
//! - thermal expansion at 15 °C: `α15 = K0/ρ15² + K1/ρ15`, except in the transition zone
//!   where `α15 = A + B/ρ15²`;
//! - `VCF15(t) = exp(−α15·Δt·(1 + 0.8·α15·Δt))`, `Δt = t − 15`;
//! - to the 20 °C base: `VCF20(t) = VCF15(t) / VCF15(20)` and `ρ20 = ρ15 · VCF15(20)`;
//! - observed density `ρt` to `ρ15` (Table 53B): iterate `ρ15 ← ρt / VCF15(ρ15, t)`
//!   from `ρ15 = ρt` until it moves less than 0.001 kg/m³.
//!
//! Rounding, as the 1980 tables do it: the temperature is taken to the nearest 0.05 °C,
//! densities to the nearest 0.1 kg/m³, the factor to 4 decimals; the corrected volume is
//! `V·VCF20` rounded half away from zero to the mL. α is not rounded (kept in `f64`).

use serde::{Deserialize, Serialize};

/// Product ranges of Table 54B, chosen by the density at 15 °C (kg/m³). Gasolines are
/// below 770; diesels (0#, −10#, ρ15 ≈ 820–850) fall in the jet/kerosene range or the
/// fuel-oil range according to their density, as the table prescribes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProductRange {
    /// 653 ≤ ρ15 < 770: K0 = 346.4228, K1 = 0.4388.
    Gasoline,
    /// 770 ≤ ρ15 < 778: α = A + B/ρ², A = −0.00336312, B = 2680.3206.
    Transition,
    /// 778 ≤ ρ15 < 839: K0 = 594.5418, K1 = 0.
    JetFuel,
    /// 839 ≤ ρ15 ≤ 1075: K0 = 186.9696, K1 = 0.4862.
    FuelOil,
}

pub const GASOLINE_K0: f64 = 346.4228;
pub const GASOLINE_K1: f64 = 0.4388;
pub const TRANSITION_A: f64 = -0.003_363_12;
pub const TRANSITION_B: f64 = 2680.3206;
pub const JET_K0: f64 = 594.5418;
pub const JET_K1: f64 = 0.0;
pub const FUEL_OIL_K0: f64 = 186.9696;
pub const FUEL_OIL_K1: f64 = 0.4862;

/// Lowest and highest ρ15 of Table 54B, kg/m³.
pub const MIN_RHO15: f64 = 653.0;
pub const MAX_RHO15: f64 = 1075.0;
/// Temperatures we accept, 0.01 °C: −30 °C to +60 °C (what a station's tanks see).
pub const MIN_TEMP_CENTI: i64 = -3000;
pub const MAX_TEMP_CENTI: i64 = 6000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VcfError {
    #[error("temperature out of range")]
    Temperature,
    /// The density (at 15 °C, after correction) is outside Table 54B (653–1075 kg/m³).
    #[error("density out of range")]
    Density,
    #[error("volume out of range")]
    Volume,
}

impl ProductRange {
    pub fn of(rho15: f64) -> Result<ProductRange, VcfError> {
        if !(MIN_RHO15..=MAX_RHO15).contains(&rho15) {
            return Err(VcfError::Density);
        }
        Ok(if rho15 < 770.0 {
            ProductRange::Gasoline
        } else if rho15 < 778.0 {
            ProductRange::Transition
        } else if rho15 < 839.0 {
            ProductRange::JetFuel
        } else {
            ProductRange::FuelOil
        })
    }
}

/// α15 of Table 54B (per °C).
pub fn alpha15(rho15: f64) -> Result<f64, VcfError> {
    let r2 = rho15 * rho15;
    Ok(match ProductRange::of(rho15)? {
        ProductRange::Gasoline => GASOLINE_K0 / r2 + GASOLINE_K1 / rho15,
        ProductRange::Transition => TRANSITION_A + TRANSITION_B / r2,
        ProductRange::JetFuel => JET_K0 / r2 + JET_K1 / rho15,
        ProductRange::FuelOil => FUEL_OIL_K0 / r2 + FUEL_OIL_K1 / rho15,
    })
}

/// Unrounded VCF to 15 °C at temperature `t` (°C).
pub fn vcf15_raw(rho15: f64, t: f64) -> Result<f64, VcfError> {
    let a = alpha15(rho15)?;
    let dt = t - 15.0;
    Ok((-a * dt * (1.0 + 0.8 * a * dt)).exp())
}

/// Unrounded VCF to 20 °C at temperature `t` (°C).
pub fn vcf20_raw(rho15: f64, t: f64) -> Result<f64, VcfError> {
    Ok(vcf15_raw(rho15, t)? / vcf15_raw(rho15, 20.0)?)
}

/// ρ15 from a density `rho_t` observed at `t` (Table 53B), unrounded.
pub fn rho15_from_observed(rho_t: f64, t: f64) -> Result<f64, VcfError> {
    let mut rho15 = rho_t;
    for _ in 0..50 {
        // Outside the table while iterating: clamp so the iteration can come back in;
        // the final value is checked.
        let probe = rho15.clamp(MIN_RHO15, MAX_RHO15);
        let next = rho_t / vcf15_raw(probe, t)?;
        if (next - rho15).abs() < 0.001 {
            rho15 = next;
            break;
        }
        rho15 = next;
    }
    ProductRange::of(rho15)?;
    Ok(rho15)
}

/// Temperature in 0.01 °C, rounded to the nearest 0.05 °C, as °C.
fn table_temperature(t_centi: i64) -> Result<f64, VcfError> {
    if !(MIN_TEMP_CENTI..=MAX_TEMP_CENTI).contains(&t_centi) {
        return Err(VcfError::Temperature);
    }
    let steps = (t_centi as f64 / 5.0).round();
    Ok(steps * 5.0 / 100.0)
}

/// A density in kg/m³, rounded to 0.1 kg/m³, in the boundary unit (× 10).
fn deci(rho: f64) -> i64 {
    (rho * 10.0).round() as i64
}

/// The result of correcting one observed volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Correction {
    /// Density at 15 °C, kg/m³ × 10.
    pub density15: i64,
    /// Density at 20 °C (标准密度), kg/m³ × 10.
    pub density20: i64,
    /// VCF to 20 °C × 10 000 (four decimals).
    pub vcf20: i64,
    /// Volume at 20 °C (标准体积), mL.
    pub volume20: i64,
    pub range: ProductRange,
}

/// The VCF20 (× 10 000) of a product of ρ15 `density15` (kg/m³ × 10) at `t_centi`.
pub fn vcf20(density15: i64, t_centi: i64) -> Result<i64, VcfError> {
    let t = table_temperature(t_centi)?;
    let v = vcf20_raw(density15 as f64 / 10.0, t)?;
    Ok((v * 10_000.0).round() as i64)
}

/// ρ20 (kg/m³ × 10) of a product of ρ15 `density15` (kg/m³ × 10).
pub fn density20(density15: i64) -> Result<i64, VcfError> {
    let rho15 = density15 as f64 / 10.0;
    Ok(deci(rho15 * vcf15_raw(rho15, 20.0)?))
}

/// ρ15 (kg/m³ × 10) from a density observed at `t_centi` (kg/m³ × 10).
pub fn density15_from_observed(density_obs: i64, t_centi: i64) -> Result<i64, VcfError> {
    let t = table_temperature(t_centi)?;
    let r = deci(rho15_from_observed(density_obs as f64 / 10.0, t)?);
    ProductRange::of(r as f64 / 10.0)?;
    Ok(r)
}

/// Corrects `volume_ml` observed at `t_centi` with a density `density_obs` observed at
/// the same temperature (both as the boundary units above) to 20 °C.
pub fn correct(volume_ml: i64, t_centi: i64, density_obs: i64) -> Result<Correction, VcfError> {
    if !(0..=1_000_000_000_000).contains(&volume_ml) {
        return Err(VcfError::Volume);
    }
    let density15 = density15_from_observed(density_obs, t_centi)?;
    let factor = vcf20(density15, t_centi)?;
    let volume20 = (volume_ml as i128 * factor as i128 + 5_000) / 10_000;
    Ok(Correction {
        density15,
        density20: density20(density15)?,
        vcf20: factor,
        volume20: volume20 as i64,
        range: ProductRange::of(density15 as f64 / 10.0)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Worked values computed independently by `scripts/vcf_vectors.py` (same published
    /// equations and constants, Python `math.exp`); see docs/inventory.md.
    /// (density observed kg/m³×10, temperature 0.01 °C, volume mL) →
    /// (ρ15, ρ20, VCF20×10⁴, V20 mL).
    type Vector = ((i64, i64, i64), (i64, i64, i64, i64));
    const VECTORS: &[Vector] = &[
        ((7250, 2500, 10_000_000), (7341, 7295, 9937, 9_937_000)),
        ((7400, 3000, 20_000_000), (7535, 7490, 9879, 19_758_000)),
        ((7300, 1000, 5_000_000), (7254, 7208, 10127, 5_063_500)),
        ((8350, 2500, 10_000_000), (8421, 8386, 9958, 9_958_000)),
        ((8300, 500, 30_000_000), (8228, 8192, 10132, 30_396_000)),
        ((8450, 3500, 12_345_678), (8591, 8556, 9876, 12_192_592)),
        ((7400, 2000, 10_000_000), (7445, 7400, 10000, 10_000_000)),
    ];

    #[test]
    fn worked_values() {
        for &((d, t, v), (r15, r20, f, v20)) in VECTORS {
            let c = correct(v, t, d).unwrap();
            assert_eq!((c.density15, c.density20, c.vcf20, c.volume20), (r15, r20, f, v20), "input {d} {t} {v}");
        }
    }

    #[test]
    fn constants_and_ranges() {
        assert_eq!(ProductRange::of(730.0), Ok(ProductRange::Gasoline));
        assert_eq!(ProductRange::of(775.0), Ok(ProductRange::Transition));
        assert_eq!(ProductRange::of(830.0), Ok(ProductRange::JetFuel));
        assert_eq!(ProductRange::of(850.0), Ok(ProductRange::FuelOil));
        assert_eq!(ProductRange::of(600.0), Err(VcfError::Density));
        assert_eq!(correct(1000, 7000, 7300), Err(VcfError::Temperature));
        assert_eq!(correct(1000, 2000, 5000), Err(VcfError::Density));
        // At 20 °C the factor is exactly 1 and ρ20 = the observed density.
        let c = correct(10_000_000, 2000, 7400).unwrap();
        assert_eq!((c.vcf20, c.volume20, c.density20), (10_000, 10_000_000, 7400));
    }

    proptest! {
        #[test]
        fn one_at_the_base(rho in 653.0f64..1075.0) {
            prop_assert!((vcf20_raw(rho, 20.0).unwrap() - 1.0).abs() < 1e-12);
            prop_assert!((vcf15_raw(rho, 15.0).unwrap() - 1.0).abs() < 1e-12);
            prop_assert_eq!(vcf20((rho * 10.0) as i64, 2000).unwrap(), 10_000);
        }

        #[test]
        fn decreasing_in_temperature(rho in 653.0f64..1075.0, t in -30.0f64..59.0, d in 0.01f64..1.0) {
            prop_assert!(vcf20_raw(rho, t + d).unwrap() < vcf20_raw(rho, t).unwrap());
        }

        /// Away from the range boundaries, where α jumps and ρt has no unique ρ15.
        #[test]
        fn observed_density_round_trips(
            rho15 in prop_oneof![660.0f64..765.0, 785.0f64..834.0, 845.0f64..1070.0],
            t in -20.0f64..50.0,
        ) {
            let rho_t = rho15 * vcf15_raw(rho15, t).unwrap();
            let back = rho15_from_observed(rho_t, t).unwrap();
            prop_assert!((back - rho15).abs() < 0.01, "{} vs {}", back, rho15);
        }

        #[test]
        fn integer_factor_monotonic(d in 6600i64..10700, t in -3000i64..5990) {
            prop_assert!(vcf20(d, t + 10).unwrap() <= vcf20(d, t).unwrap());
        }
    }
}
