//! From random words to numbers: uniforms, Bernoulli thresholds and Gaussian normals.
//!
//! The normals come from the Box–Muller transform with a logarithm and a sine/cosine written
//! here as fixed polynomials of plain float operations. They give the same bits on every
//! platform and in scalar or SIMD code (no library calls, no fused multiply-add), so a batch of
//! normals can be computed eight at a time and still equal the one-at-a-time definition.

const TWO_POW_M24: f32 = 1.0 / 16_777_216.0;
const TWO_POW_M22: f32 = 1.0 / 4_194_304.0;

/// A 32-bit word as a uniform number in `[0, 1)` with 24 bits: exact in f32.
#[inline(always)]
pub fn unit_uniform(word: u32) -> f32 {
    (word >> 8) as f32 * TWO_POW_M24
}

/// Threshold that turns a 32-bit word into a Bernoulli bit with probability `p`:
/// the bit is set when `word < threshold`. `p >= 1` always fires, `p <= 0` never.
#[inline]
pub fn bernoulli_threshold(p: f32) -> u64 {
    if p >= 1.0 {
        1 << 32
    } else if p > 0.0 {
        // Below 2^32: the signed conversion (one instruction) gives the same integer.
        (f64::from(p) * 4_294_967_296.0) as i64 as u64
    } else {
        0
    }
}

/// The argument reduction of a logarithm of a positive normal `x = 2^e m`: `(e, s)` with the
/// mantissa `m` centred on 1 (`[sqrt(1/2), sqrt(2))`) and `s = (m - 1) / (m + 1)`, `|s| <
/// 0.172`, so that `ln x = e ln 2 + 2 atanh(s)` and `atanh` is a short odd polynomial.
#[inline(always)]
pub(crate) fn log_reduce(x: f32) -> (f32, f32) {
    let bits = x.to_bits();
    let exponent = ((bits >> 23) & 0xff) as i32 - 127;
    let mantissa = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    let high = mantissa > std::f32::consts::SQRT_2;
    let m = if high { mantissa * 0.5 } else { mantissa };
    let e = if high { exponent + 1 } else { exponent } as f32;
    let f = m - 1.0;
    (e, f / (2.0 + f))
}

/// `ln(u)` for `u` in `(0, 1]`: [`log_reduce`], then `2 atanh(s)` (truncation error below
/// 1e-9).
#[inline(always)]
fn ln_unit(u: f32) -> f32 {
    let (e, s) = log_reduce(u);
    let z = s * s;
    let series = 1.0 + z * (1.0 / 3.0 + z * (1.0 / 5.0 + z * (1.0 / 7.0 + z * (1.0 / 9.0))));
    e * std::f32::consts::LN_2 + 2.0 * s * series
}

/// `(sin, cos)` of `2 pi t` for the angle word `w`, `t = w / 2^32` at 24 bits: the top two bits
/// pick the quadrant, the next 22 give `theta` in `[0, pi/2)`, where Taylor polynomials of
/// degree 11 and 12 are accurate to 6e-8.
#[inline(always)]
fn sincos_turn(w: u32) -> (f32, f32) {
    let quadrant = w >> 30;
    let theta = ((w >> 8) & 0x003f_ffff) as f32 * TWO_POW_M22 * std::f32::consts::FRAC_PI_2;
    let z = theta * theta;
    let s = theta
        * (1.0
            + z * (-1.0 / 6.0
                + z * (1.0 / 120.0
                    + z * (-1.0 / 5040.0 + z * (1.0 / 362_880.0 + z * (-1.0 / 39_916_800.0))))));
    let c = 1.0
        + z * (-0.5
            + z * (1.0 / 24.0
                + z * (-1.0 / 720.0
                    + z * (1.0 / 40_320.0
                        + z * (-1.0 / 3_628_800.0 + z * (1.0 / 479_001_600.0))))));
    // Rotate by the quadrant: q = 1 -> (c, -s), 2 -> (-s, -c), 3 -> (-c, s).
    let (sin, cos) = if quadrant & 1 == 1 { (c, s) } else { (s, c) };
    let sin_negative = quadrant & 2 != 0;
    let cos_negative = (quadrant ^ (quadrant >> 1)) & 1 != 0;
    (
        if sin_negative { -sin } else { sin },
        if cos_negative { -cos } else { cos },
    )
}

/// Two standard normals from two words (Box–Muller). The radius word gives `u` in `(0, 1]`, so
/// the logarithm is finite and `|n| < 5.8`.
#[inline(always)]
pub fn box_muller(w_radius: u32, w_angle: u32) -> (f32, f32) {
    let u = ((w_radius >> 8) + 1) as f32 * TWO_POW_M24;
    let radius = (-2.0 * ln_unit(u)).sqrt();
    let (sin, cos) = sincos_turn(w_angle);
    (radius * cos, radius * sin)
}

/// Four standard normals from one block: words (0, 1) and (2, 3) are two Box–Muller pairs.
#[inline(always)]
pub fn normals_of_block(words: [u32; 4]) -> [f32; 4] {
    let (a0, a1) = box_muller(words[0], words[1]);
    let (b0, b1) = box_muller(words[2], words[3]);
    [a0, a1, b0, b1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln_is_accurate_over_the_unit_interval() {
        let mut worst = 0.0f64;
        for k in 1..=100_000u32 {
            let u = (k as f32) / 100_000.0;
            let err = (f64::from(ln_unit(u)) - f64::from(u).ln()).abs();
            worst = worst.max(err);
        }
        assert!(worst < 2e-6, "worst absolute error {worst}");
        assert_eq!(ln_unit(1.0), 0.0);
    }

    #[test]
    fn sincos_is_accurate_around_the_circle() {
        let mut worst = 0.0f64;
        for k in 0..100_000u32 {
            let w = k.wrapping_mul(42_949);
            let t = f64::from(w >> 8) / 16_777_216.0 * std::f64::consts::TAU;
            let (s, c) = sincos_turn(w);
            worst = worst.max((f64::from(s) - t.sin()).abs());
            worst = worst.max((f64::from(c) - t.cos()).abs());
        }
        assert!(worst < 1e-6, "worst absolute error {worst}");
    }
}
