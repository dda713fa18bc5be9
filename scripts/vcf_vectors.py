#!/usr/bin/env python3
"""Independent worked values for crates/domain/src/vcf.rs (B4, docs/inventory.md).

Computes, from the published ASTM D1250-80 / API MPMS 11.1 (1980) Table 53B/54B
equations and constants for generalized products, the 20 degC base of ISO 91-2 /
GB/T 1885 (VCF20 = VCF15(t) / VCF15(20), rho20 = rho15 * VCF15(20)):

  alpha15 = K0 / rho15**2 + K1 / rho15     (transition zone: A + B / rho15**2)
  VCF15   = exp(-alpha15 * dt * (1 + 0.8 * alpha15 * dt)),  dt = t - 15

Rounding (1980 tables): temperature to 0.05 degC, densities to 0.1 kg/m3, VCF to
4 decimals, volume = V * VCF20 to the mL (half up). Written separately from the Rust
code (Decimal rounding, its own iteration) so the two check each other.

Usage: python3 scripts/vcf_vectors.py
"""
import math
from decimal import Decimal, ROUND_HALF_UP

RANGES = [  # (lower bound inclusive, kind, p, q)
    (653.0, "k", 346.4228, 0.4388),      # gasolines
    (770.0, "ab", -0.00336312, 2680.3206),  # transition zone
    (778.0, "k", 594.5418, 0.0),         # jet fuels, kerosene
    (839.0, "k", 186.9696, 0.4862),      # fuel oils, diesels
]


def alpha(rho15):
    assert 653.0 <= rho15 <= 1075.0, rho15
    row = [r for r in RANGES if rho15 >= r[0]][-1]
    _, kind, p, q = row
    if kind == "k":
        return p / rho15 ** 2 + q / rho15
    return p + q / rho15 ** 2


def vcf15(rho15, t):
    a = alpha(rho15)
    dt = t - 15.0
    return math.exp(-a * dt * (1.0 + 0.8 * a * dt))


def rnd(x, places):
    q = Decimal(1).scaleb(-places)
    return Decimal(repr(x)).quantize(q, rounding=ROUND_HALF_UP)


def rho15_of(rho_t, t):
    r = rho_t
    while True:
        n = rho_t / vcf15(min(max(r, 653.0), 1075.0), t)
        if abs(n - r) < 0.001:
            return n
        r = n


def correct(d_obs_x10, t_centi, vol_ml):
    t = float(rnd(t_centi / 5, 0)) * 5 / 100
    rho15 = rnd(rho15_of(d_obs_x10 / 10, t), 1)
    r15 = float(rho15)
    rho20 = rnd(r15 * vcf15(r15, 20.0), 1)
    f = rnd(vcf15(r15, t) / vcf15(r15, 20.0), 4)
    v20 = (Decimal(vol_ml) * f).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return int(rho15 * 10), int(rho20 * 10), int(f * 10000), int(v20)


CASES = [
    # (observed density kg/m3 x10, temperature 0.01 degC, volume mL)
    (7250, 2500, 10_000_000),   # 92# gasoline, 25 degC
    (7400, 3000, 20_000_000),   # 95# gasoline, 30 degC
    (7300, 1000, 5_000_000),    # gasoline, 10 degC
    (8350, 2500, 10_000_000),   # 0# diesel, 25 degC
    (8300, 500, 30_000_000),    # diesel, 5 degC
    (8450, 3500, 12_345_678),   # heavy diesel, 35 degC
    (7400, 2000, 10_000_000),   # at the base
]

if __name__ == "__main__":
    for c in CASES:
        print(c, "->", correct(*c))
    # Table 54B spot values at 15 degC base (unrounded, 5 decimals) for the docs.
    for rho15, t in [(730.0, 25.0), (840.0, 25.0), (820.0, 30.0)]:
        print(f"VCF15(rho15={rho15}, t={t}) = {vcf15(rho15, t):.5f}")
