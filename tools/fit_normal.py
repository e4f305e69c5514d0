"""Fits the coefficients of rpusim's 16-bit inverse-CDF normal (rust/rpusim/src/rng/normal.rs).

A 16-bit word h gives one standard normal: its top bit is the sign, its low 15 bits k pick the
magnitude |z| = Phi^-1(1 - v / 2) with v = (2k + 1) / 2^16, the midpoint of k's bin of the
upper-tail probability P(|Z| > |z|). With x = 2k + 1 = 2^e m (e in 0..15, m in [1, 2)), |z| is
a polynomial of degree 5 in t = m - 1.5 per octave e, evaluated in float32 by Horner's rule,
multiplies and adds rounded one by one. This script fits the 16 x 6 coefficients (minimax by
Lawson's iteration on the points of each octave, exact interpolation where an octave has six
points or fewer), rounds them to float32, checks the float32 evaluation against the exact
quantile at all 32 768 points, and prints the table as Rust source. Needs numpy and scipy:

    .venv/bin/python tools/fit_normal.py
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

DEGREE = 5


def octave(e: int) -> tuple[np.ndarray, np.ndarray]:
    """The points t and the exact |z| of octave e."""
    x = np.arange(2**e, 2 ** (e + 1), dtype=np.float64)
    x = x[x % 2 == 1]
    return x / 2**e - 1.5, -ndtri(x / 2**17)


def fit(t: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Coefficients c0 .. c5 (lowest first)."""
    if len(t) <= DEGREE + 1:
        c = np.polynomial.polynomial.polyfit(t, z, len(t) - 1)
        return np.concatenate([c, np.zeros(DEGREE + 1 - len(c))])
    weights = np.ones_like(t)
    for _ in range(100):
        c = np.polynomial.polynomial.polyfit(t, z, DEGREE, w=np.sqrt(weights))
        err = np.abs(np.polynomial.polynomial.polyval(t, c) - z)
        weights = weights * (err + 1e-300)
        weights /= weights.sum()
    return c


def horner32(c: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The float32 evaluation of the engine, rounding after every multiply and add."""
    t = t.astype(np.float32)
    p = np.full_like(t, c[DEGREE])
    for k in range(DEGREE - 1, -1, -1):
        p = np.float32(c[k]) + t * p
    return p


def main() -> None:
    table = []
    worst = 0.0
    for e in range(16):
        t, z = octave(e)
        c = fit(t, z).astype(np.float32)
        worst = max(worst, float(np.abs(horner32(c, t).astype(np.float64) - z).max()))
        table.append(c)
    print(f"// largest error of the float32 evaluation: {worst:.3g}")
    print(f"const COEFFICIENTS: [[f32; 16]; {DEGREE + 1}] = [")
    for k in range(DEGREE + 1):
        values = ", ".join(str(table[e][k]) for e in range(16))
        print(f"    [{values}],")
    print("];")


if __name__ == "__main__":
    main()
