//! The exponential and power the device models evaluate per pulse, as `2^t` and `log2`, written
//! as fixed polynomials of plain float operations (no library calls, no fused multiply-add):
//! the same bits on every platform, and several times faster than `libm`'s `expf`/`powf`.
//!
//! Pulses of one device depend on each other, so the latency of one step is what counts: the
//! polynomials are evaluated in Estrin's scheme, and callers fold constant factors (`log2 e`)
//! into per-device constants. Relative error below `4e-7` for [`exp2`] and below `5e-7` per unit
//! of `|e log2 base|` for [`pow`] (tested against `f64`).

/// `1.5 * 2^23`: adding and subtracting it rounds a float below `2^22` to an integer (ties to
/// even), with plain float operations.
const ROUND: f32 = 12_582_912.0;

/// `2^t`: 0 below `-126` (no subnormal results), `+inf` from `128` on, NaN for NaN.
#[inline(always)]
pub(crate) fn exp2(t: f32) -> f32 {
    if t >= 128.0 {
        return f32::INFINITY;
    }
    if t < -126.0 {
        return 0.0;
    }
    // t = n + f with n an integer and |f| <= 1/2 (exact); 2^f = e^(f ln 2) by its Taylor
    // polynomial of degree 6 (truncation error below 2e-8). A NaN stays NaN through `f`.
    let n = (t + ROUND) - ROUND;
    let f = t - n;
    let f2 = f * f;
    const C: [f32; 7] = [
        1.0,
        std::f32::consts::LN_2,
        0.240_226_5,     // ln2^2 / 2
        0.055_504_11,    // ln2^3 / 6
        0.009_618_129,   // ln2^4 / 24
        0.001_333_355_8, // ln2^5 / 120
        0.000_154_035_3, // ln2^6 / 720
    ];
    let low = (C[0] + f * C[1]) + f2 * (C[2] + f * C[3]);
    let high = (C[4] + f * C[5]) + f2 * C[6];
    let p = low + (f2 * f2) * high;
    // 2^n for n in [-126, 127], from its exponent bits; n = 128 (t just below 128) as 2 * 2^127.
    let n = n as i32;
    if n > 127 {
        return 2.0 * p * f32::from_bits(254 << 23);
    }
    p * f32::from_bits(((n + 127) as u32) << 23)
}

/// The argument reduction of a logarithm of a positive normal `x = 2^e m`: `(e, s)` with the
/// mantissa `m` centred on 1 (`[sqrt(1/2), sqrt(2))`) and `s = (m - 1) / (m + 1)`, `|s| <
/// 0.172`, so that `ln x = e ln 2 + 2 atanh(s)` and `atanh` is a short odd polynomial.
#[inline(always)]
fn log_reduce(x: f32) -> (f32, f32) {
    let bits = x.to_bits();
    let exponent = ((bits >> 23) & 0xff) as i32 - 127;
    let mantissa = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    let high = mantissa > std::f32::consts::SQRT_2;
    let m = if high { mantissa * 0.5 } else { mantissa };
    let e = if high { exponent + 1 } else { exponent } as f32;
    let f = m - 1.0;
    (e, f / (2.0 + f))
}

/// `log2 x` for a positive normal `x` (others: see [`pow`], the only caller that needs them).
#[inline(always)]
fn log2(x: f32) -> f32 {
    // ln m = 2 atanh(s): 2 s (1 + z/3 + z^2/5 + z^3/7 + z^4/9) with z = s^2 (truncation error
    // below 1e-9), Estrin's scheme.
    let (e, s) = log_reduce(x);
    let z = s * s;
    let z2 = z * z;
    let series = (1.0 + z * (1.0 / 3.0)) + z2 * ((1.0 / 5.0 + z * (1.0 / 7.0)) + z2 * (1.0 / 9.0));
    const TWO_LOG2_E: f32 = 2.0 * std::f32::consts::LOG2_E;
    e + (TWO_LOG2_E * s) * series
}

/// `base^e` for `e >= 0`, as `2^(e log2 base)`; `0^e` is 0, and 1 for `e = 0`. A base below
/// the smallest normal float (negative ones and NaN included) counts as 0.
#[inline(always)]
pub(crate) fn pow(base: f32, e: f32) -> f32 {
    // Also taken for a NaN base.
    if base.is_nan() || base < f32::MIN_POSITIVE {
        return if e == 0.0 { 1.0 } else { 0.0 };
    }
    exp2(e * log2(base))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relative(a: f32, b: f64) -> f64 {
        (f64::from(a) - b).abs() / b.abs().max(f64::MIN_POSITIVE)
    }

    #[test]
    fn exp2_is_accurate_over_its_range() {
        let mut worst = 0.0f64;
        for k in 0..400_000 {
            let t = -126.0 + 254.0 * k as f32 / 400_000.0;
            worst = worst.max(relative(exp2(t), f64::from(t).exp2()));
        }
        assert!(worst < 4e-7, "worst relative error {worst}");
        assert_eq!(exp2(0.0), 1.0);
        assert_eq!(exp2(-3.0), 0.125);
        assert_eq!(exp2(-200.0), 0.0);
        assert_eq!(exp2(200.0), f32::INFINITY);
        assert!(exp2(f32::NAN).is_nan());
        assert!(exp2(127.9).is_finite());
    }

    #[test]
    fn log2_is_accurate_for_all_normal_floats() {
        let mut worst = 0.0f64;
        for k in 0..200_000u32 {
            // Spread over the whole exponent range.
            let x = f32::from_bits(0x0080_0000 + k.wrapping_mul(10_601));
            if x.is_finite() {
                let exact = f64::from(x).log2();
                let err = (f64::from(log2(x)) - exact).abs() / exact.abs().max(1.0);
                worst = worst.max(err);
            }
        }
        assert!(worst < 2e-7, "worst error {worst}");
        assert_eq!(log2(1.0), 0.0);
        assert_eq!(log2(0.5), -1.0);
    }

    #[test]
    fn pow_is_accurate_on_the_unit_interval() {
        let mut worst = 0.0f64;
        for &e in &[0.1f32, 0.5, 1.0, 1.7, 3.0, 10.0] {
            for k in 1..=20_000 {
                let base = k as f32 / 20_000.0;
                let exact = f64::from(base).powf(f64::from(e));
                // The float32 product e log2(base) alone is off by up to |e log2 base| 6e-8.
                let scale = (f64::from(e) * f64::from(base).log2()).abs().max(1.0);
                if exact > 1e-37 {
                    worst = worst.max(relative(pow(base, e), exact) / scale);
                }
            }
        }
        assert!(
            worst < 5e-7,
            "worst relative error per unit of |e log2 base|: {worst}"
        );
        assert_eq!(pow(0.0, 2.0), 0.0);
        assert_eq!(pow(0.0, 0.0), 1.0);
        assert_eq!(pow(0.25, 0.0), 1.0);
        assert_eq!(pow(1.0, 3.3), 1.0);
        assert_eq!(pow(-0.5, 2.0), 0.0);
    }
}
