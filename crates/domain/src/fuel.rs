//! Quantity/amount arithmetic of a dispenser (SPEC "Conventions"): a pump reports both
//! an amount (fen) and a quantity (thousandths of the grade's unit, e.g. mL), and the
//! two must agree with the unit price (fen per whole unit) within one volume step plus
//! one fen. Everything is exact integer arithmetic with `i128` intermediates: no float
//! touches money, and no product of two `i64`s can overflow.

/// The volume step of a typical dispenser: 10 thousandths (10 mL for litres). Used when
/// a nozzle's configuration does not say otherwise.
pub const DEFAULT_VOLUME_STEP: i64 = 10;

/// The amount in fen of `quantity` thousandths at `unit_price_fen` fen per whole unit,
/// rounded half up to the fen: what a pump shows when it measures the quantity and
/// derives the amount (a fuelling that was not preset to an amount).
///
/// Negative quantities (corrections) mirror positive ones, so
/// `amount_for_quantity(-q, p) == -amount_for_quantity(q, p)`. Results beyond the `i64`
/// range saturate; real prices and quantities are many orders of magnitude below that.
pub fn amount_for_quantity(quantity: i64, unit_price_fen: i64) -> i64 {
    mul_div_half_up(quantity, unit_price_fen, 1000)
}

/// The quantity a pump delivers when preset to `amount_fen`: the largest multiple of
/// `volume_step` whose [`amount_for_quantity`] does not exceed the amount, because the
/// pump stops on the last whole step it can still sell for the money.
///
/// Returns 0 when there is nothing sensible to deliver: a non-positive amount, price or
/// step (invalid pump configurations are refused where they are entered, not here).
/// A result beyond `i64` saturates to the largest step multiple that fits.
pub fn quantity_for_amount(amount_fen: i64, unit_price_fen: i64, volume_step: i64) -> i64 {
    if amount_fen <= 0 || unit_price_fen <= 0 || volume_step <= 0 {
        return 0;
    }
    // round((q·p)/1000) ≤ a  ⟺  q·p + 500 < 1000·(a + 1)  ⟺  q·p ≤ 1000·a + 499.
    let max_quantity = (1000 * amount_fen as i128 + 499) / unit_price_fen as i128;
    let step = volume_step as i128;
    let steps = (max_quantity / step).min(i64::MAX as i128 / step);
    (steps * step) as i64
}

/// Whether a sale reported by a dispenser is consistent: |amount − quantity × price| is
/// within one volume step's worth (step × price) plus one fen (SPEC "Conventions").
/// Only an inconsistent sale raises an alert, so this must accept every sale a working
/// pump produces, whether it measured the quantity or stopped at a preset amount.
///
/// Exact: both sides are multiplied by 1000, so no rounding decides the outcome.
/// A negative step counts as zero and a negative price by its magnitude.
pub fn is_consistent(amount_fen: i64, quantity: i64, unit_price_fen: i64, volume_step: i64) -> bool {
    let gap = (1000 * amount_fen as i128 - quantity as i128 * unit_price_fen as i128).abs();
    let tolerance = volume_step.max(0) as i128 * (unit_price_fen as i128).abs() + 1000;
    gap <= tolerance
}

/// `i128` to `i64`, saturating: the arithmetic helpers below never panic or wrap.
pub(crate) fn saturate(x: i128) -> i64 {
    x.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

/// `a × b / d` rounded half up (half away from zero for negative products), for the
/// rounding of money in fuel, coupon and settlement rules. `d` must be positive.
pub(crate) fn mul_div_half_up(a: i64, b: i64, d: i64) -> i64 {
    debug_assert!(d > 0, "divisor must be positive");
    let n = a as i128 * b as i128;
    let d = d as i128;
    let (q, r) = (n.abs() / d, n.abs() % d);
    let q = if 2 * r >= d { q + 1 } else { q };
    saturate(if n < 0 { -q } else { q })
}

/// `a × b / d` rounded down (towards −∞). `d` must be positive.
pub(crate) fn mul_div_floor(a: i64, b: i64, d: i64) -> i64 {
    debug_assert!(d > 0, "divisor must be positive");
    saturate((a as i128 * b as i128).div_euclid(d as i128))
}

/// `a × b / d` rounded up (towards +∞). `d` must be positive.
pub(crate) fn mul_div_ceil(a: i64, b: i64, d: i64) -> i64 {
    debug_assert!(d > 0, "divisor must be positive");
    let n = a as i128 * b as i128;
    let d = d as i128;
    saturate(n.div_euclid(d) + i128::from(n.rem_euclid(d) != 0))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn amount_rounds_half_up_to_the_fen() {
        // 30.000 L of 92# at ¥7.89: ¥236.70 exactly.
        assert_eq!(amount_for_quantity(30_000, 789), 23_670);
        // 1.234 L × 789 = 973.626 fen → 974; 0.5 fen rounds up.
        assert_eq!(amount_for_quantity(1_234, 789), 974);
        assert_eq!(amount_for_quantity(500, 1), 1);
        assert_eq!(amount_for_quantity(499, 1), 0);
        assert_eq!(amount_for_quantity(-500, 1), -1);
        assert_eq!(amount_for_quantity(0, 789), 0);
        assert_eq!(amount_for_quantity(i64::MAX, i64::MAX), i64::MAX);
        assert_eq!(amount_for_quantity(i64::MIN, i64::MAX), i64::MIN);
    }

    #[test]
    fn preset_amount_gives_whole_steps() {
        // ¥200 at ¥7.89/L, 10 mL steps: 25.340 L = ¥199.93; 25.350 L would be ¥200.01.
        let q = quantity_for_amount(20_000, 789, 10);
        assert_eq!(q, 25_340);
        assert_eq!(amount_for_quantity(q, 789), 19_993);
        assert!(amount_for_quantity(q + 10, 789) > 20_000);
        // Step 1 mL: 25.349 L costs 20000.361 fen, which rounds to exactly the preset;
        // 25.350 L would be ¥200.01.
        assert_eq!(quantity_for_amount(20_000, 789, 1), 25_349);
        assert_eq!(amount_for_quantity(25_349, 789), 20_000);
        assert_eq!(amount_for_quantity(25_350, 789), 20_001);
        assert_eq!(quantity_for_amount(0, 789, 10), 0);
        assert_eq!(quantity_for_amount(-5, 789, 10), 0);
        assert_eq!(quantity_for_amount(100, 0, 10), 0);
        assert_eq!(quantity_for_amount(100, 789, 0), 0);
        let huge = quantity_for_amount(i64::MAX, 1, 10);
        assert_eq!(huge % 10, 0);
        assert!(huge > i64::MAX - 10);
    }

    #[test]
    fn consistency_tolerates_a_step_and_a_fen() {
        // Step worth at ¥7.89 and 10 mL: 7.89 fen; tolerance 8.89 fen.
        let q = 30_000;
        assert!(is_consistent(23_670, q, 789, 10));
        assert!(is_consistent(23_670 + 8, q, 789, 10));
        assert!(!is_consistent(23_670 + 9, q, 789, 10));
        assert!(is_consistent(23_670 - 8, q, 789, 10));
        assert!(!is_consistent(23_670 - 9, q, 789, 10));
        // Step 0: only the fen of rounding.
        assert!(is_consistent(23_671, q, 789, 0));
        assert!(!is_consistent(23_672, q, 789, 0));
        assert!(!is_consistent(i64::MAX, i64::MIN, i64::MAX, i64::MAX));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn preset_quantity_is_the_last_affordable_step(
            amount in 1i64..100_000_000,
            price in 1i64..100_000,
            step in 1i64..100,
        ) {
            let q = quantity_for_amount(amount, price, step);
            prop_assert_eq!(q % step, 0);
            prop_assert!(q >= 0);
            prop_assert!(amount_for_quantity(q, price) <= amount);
            prop_assert!(amount_for_quantity(q + step, price) > amount);
        }

        #[test]
        fn pump_style_sales_are_consistent(
            quantity in 0i64..1_000_000_000,
            price in 1i64..100_000,
            step in 0i64..100,
        ) {
            let amount = amount_for_quantity(quantity, price);
            prop_assert!(is_consistent(amount, quantity, price, step));
        }

        #[test]
        fn preset_style_sales_are_consistent(
            amount in 1i64..100_000_000,
            price in 1i64..100_000,
            step in 1i64..100,
        ) {
            let q = quantity_for_amount(amount, price, step);
            // The pump shows the preset amount, or the amount of what it delivered.
            prop_assert!(is_consistent(amount, q, price, step));
            prop_assert!(is_consistent(amount_for_quantity(q, price), q, price, step));
        }

        #[test]
        fn amounts_off_by_a_step_and_two_fen_are_inconsistent(
            quantity in 0i64..1_000_000_000,
            price in 1i64..100_000,
            step in 0i64..100,
            up in any::<bool>(),
        ) {
            let amount = amount_for_quantity(quantity, price);
            let step_worth = mul_div_ceil(step, price, 1000);
            let off = if up { amount + step_worth + 2 } else { amount - step_worth - 2 };
            prop_assert!(!is_consistent(off, quantity, price, step));
        }

        #[test]
        fn rounding_helpers_bracket_the_exact_quotient(a in any::<i32>(), b in any::<i32>(), d in 1i64..1_000_000) {
            let (a, b) = (a as i64, b as i64);
            let exact = a as i128 * b as i128;
            let (f, c, h) = (mul_div_floor(a, b, d) as i128, mul_div_ceil(a, b, d) as i128, mul_div_half_up(a, b, d) as i128);
            let d = d as i128;
            prop_assert!(f * d <= exact && exact < (f + 1) * d);
            prop_assert!((c - 1) * d < exact && exact <= c * d);
            prop_assert!(h == f || h == c);
            // Within half a unit of the exact value.
            prop_assert!((2 * (h * d - exact)).abs() <= d);
        }
    }
}
