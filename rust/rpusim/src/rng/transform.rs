//! From random words to numbers: uniforms and Bernoulli thresholds (the normals are in
//! `normal.rs`).

pub(crate) const TWO_POW_M24: f32 = 1.0 / 16_777_216.0;

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
