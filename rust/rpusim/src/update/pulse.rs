//! Update management and pulse trains (MODEL.md §3.3 and §4): how many pulses a sample asks
//! for, with which probability each row and column fires, and the sampled trains themselves.

use crate::config::UpdateParameters;
use crate::rng::{bernoulli_threshold, Stream};

/// Pulse-train plan of one sample: train length and the factors that turn `|d_i|` and `|x_j|`
/// into firing probabilities.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplePlan {
    /// Train length `BL` of this sample.
    pub bl: u32,
    /// Scales `|d_i|` (rows).
    pub a: f32,
    /// Scales `|x_j|` (columns).
    pub b: f32,
}

impl SamplePlan {
    /// Firing probability of a row with error `d`.
    #[inline(always)]
    pub fn p_row(&self, d: f32) -> f32 {
        (self.a * d.abs()).min(1.0)
    }

    /// Firing probability of a column with input `x`.
    #[inline(always)]
    pub fn p_col(&self, x: f32) -> f32 {
        (self.b * x.abs()).min(1.0)
    }
}

/// `fn $name(update, dw_min, lr, x_max, d_max) -> (BL, A, B)` of MODEL.md §3.3, computed in
/// `$t` operation by operation as aihwkit's `performUpdateManagement`.
macro_rules! plan_in {
    ($name:ident, $t:ty) => {
        fn $name(
            update: &UpdateParameters,
            dw_min: $t,
            lr: $t,
            x_max: $t,
            d_max: $t,
        ) -> (u32, $t, $t) {
            let bl_max = update.desired_bl as $t;
            // Pulses the largest entries need.
            let k = lr * x_max * d_max / dw_min;
            let bl = if update.update_bl_management {
                k.ceil().min(bl_max)
            } else {
                bl_max
            };
            let base = (lr / (dw_min * bl)).sqrt();
            let (mut a, mut b) = (base, base);
            if update.update_management || update.update_bl_management {
                let d_val = if k > bl_max {
                    d_max * (bl_max / k)
                } else {
                    d_max
                };
                a *= (x_max / d_val).sqrt();
                b *= (d_val / x_max).sqrt();
            }
            (bl as u32, a, b)
        }
    };
}

plan_in!(plan_f32, f32);
plan_in!(plan_f64, f64);

/// The plan for one sample with largest input `x_max` and largest error `d_max`, or `None` when
/// the sample asks for no pulses (`x_max == 0`, `d_max == 0` or `lr == 0`).
pub fn plan(
    update: &UpdateParameters,
    dw_min: f64,
    lr: f32,
    x_max: f32,
    d_max: f32,
) -> Option<SamplePlan> {
    if x_max == 0.0 || d_max == 0.0 || lr == 0.0 {
        return None;
    }
    // In float32, operation by operation as aihwkit's `performUpdateManagement` (a learning
    // rate of exactly `dw_min` in float32 then plans one pulse, not two), or in double where
    // float32 overflows.
    let (bl, a, b) = match plan_f32(update, dw_min as f32, lr, x_max, d_max) {
        (bl, a, b) if a.is_normal() && b.is_normal() => (bl, a, b),
        _ => {
            let (bl, a, b) = plan_f64(update, dw_min, lr.into(), x_max.into(), d_max.into());
            (bl, a as f32, b as f32)
        }
    };
    Some(SamplePlan { bl, a, b })
}

/// Lines of one side of a sample whose trains draw from one address of the side's stream (a
/// bound that keeps the draws' positions within 32 bits for any train length).
pub const LINES_PER_ADDRESS: usize = 1 << 20;

/// The address in a side's stream (rows or columns) that lines `chunk * LINES_PER_ADDRESS ..`
/// of sample `sample` draw their trains from. Of the `n` lines of such a chunk, slot `k` of line
/// `i` (counted from the chunk's first) draws word `k * n + i`: the lines' draws for one slot
/// are consecutive, so that sixteen lines take one vector load per slot.
#[inline]
pub fn train_address(sample: u32, chunk: usize) -> [u32; 3] {
    [sample, chunk as u32, 0]
}

/// The pulse train of a line with firing probability `p` from its draws `words` (one per slot,
/// in slot order): bit `k` of `mask` (little-endian 32-bit words) is set when draw `k` falls
/// below the threshold of `p`.
#[inline(always)]
pub fn train_of(words: impl Iterator<Item = u32>, p: f32, mask: &mut [u32]) {
    mask.fill(0);
    let threshold = bernoulli_threshold(p);
    for (k, w) in words.enumerate() {
        mask[k / 32] |= u32::from(u64::from(w) < threshold) << (k % 32);
    }
}

/// The pulse train of line `line` of the `lines` lines of one side of sample `sample` (see
/// [`train_address`]), with probability `p` and `bl` slots, its words drawn one by one from
/// `stream`.
pub fn train(
    stream: &Stream,
    sample: u32,
    (line, lines): (usize, usize),
    p: f32,
    bl: u32,
    mask: &mut [u32],
) {
    let chunk = line / LINES_PER_ADDRESS;
    let first = chunk * LINES_PER_ADDRESS;
    let n = (lines - first).min(LINES_PER_ADDRESS) as u32;
    let (address, i) = (train_address(sample, chunk), (line - first) as u32);
    train_of((0..bl).map(|k| stream.word_at(address, k * n + i)), p, mask);
}

/// Pulses of the `deterministic_implicit` type, `round(BL p_d p_x)`, from `s = BL p_d` (an f32
/// product) and `p_x`.
#[inline(always)]
pub fn implicit_pulses(s: f32, p_col: f32) -> u32 {
    (s * p_col).round_ties_even() as u32
}

/// Weight after the exact float update of pulse type `none`: `w - lr d x`, clipped to
/// `[lo, hi]` (the ideal device passes the float32 range: a step beyond it saturates, so that
/// the weights stay finite and the state loadable). A step that is NaN (`lr d` beyond float32
/// times an `x` of 0) leaves `w`: the product it stands for is 0.
#[inline(always)]
pub fn float_step(w: f32, lr: f32, d: f32, x: f32, lo: f32, hi: f32) -> f32 {
    let v = w - lr * d * x;
    let v = if v.is_nan() { w } else { v };
    v.max(lo).min(hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn um(bl_management: bool) -> UpdateParameters {
        UpdateParameters {
            update_bl_management: bl_management,
            ..UpdateParameters::default()
        }
    }

    #[test]
    fn plans_in_float32_as_aihwkit() {
        // lr = dw_min in float32: one pulse at probability 1 (in double, k = 1.00000005 would
        // ask for two slots).
        let p = plan(&um(true), 0.001, 0.001, 1.0, 1.0).unwrap();
        assert_eq!((p.bl, p.p_col(1.0), p.p_row(1.0)), (1, 1.0, 1.0));
        // Where float32 overflows, double takes over: still finite probabilities.
        let p = plan(&um(true), 1e-3, 1.0, 1e20, 1e20).unwrap();
        assert_eq!(p.bl, 31);
        assert!(p.a.is_finite() && p.b.is_finite() && p.a > 0.0 && p.b > 0.0);
    }

    #[test]
    fn um_gives_largest_x_and_d_equal_probability() {
        let up = um(false);
        let p = plan(&up, 0.001, 0.01, 0.8, 0.02).unwrap();
        let (px, pd) = (p.p_col(0.8), p.p_row(0.02));
        assert!((px - pd).abs() < 1e-6 * px, "{px} {pd}");
        // Expected pulses of the largest pair: BL p_x p_d = lr x d / dw_min.
        let expected = 0.01 * 0.8 * 0.02 / 0.001;
        assert!((f64::from(p.bl as f32 * px * pd) - expected).abs() < 1e-6);
    }

    #[test]
    fn without_um_the_sides_are_unbalanced() {
        let up = UpdateParameters {
            update_management: false,
            update_bl_management: false,
            ..UpdateParameters::default()
        };
        let p = plan(&up, 0.001, 0.01, 0.8, 0.02).unwrap();
        assert!(p.a == p.b);
        assert!(p.p_col(0.8) > 10.0 * p.p_row(0.02));
    }

    #[test]
    fn ublm_sets_bl_to_ceil_k_capped() {
        let up = um(true);
        // k = 0.01 * 1 * 0.25 / 0.001 = 2.5 -> BL 3.
        assert_eq!(plan(&up, 0.001, 0.01, 1.0, 0.25).unwrap().bl, 3);
        // k = 1000 -> capped at desired_bl.
        assert_eq!(plan(&up, 0.001, 1.0, 1.0, 1.0).unwrap().bl, 31);
        // k just above an integer.
        assert_eq!(plan(&up, 0.5, 1.0, 1.0, 0.5000001).unwrap().bl, 2);
        // Without UBLM the train is always desired_bl long.
        assert_eq!(plan(&um(false), 0.001, 0.01, 1.0, 0.25).unwrap().bl, 31);
    }

    #[test]
    fn no_pulses_for_zero_inputs() {
        let up = UpdateParameters::default();
        assert!(plan(&up, 0.001, 0.1, 0.0, 1.0).is_none());
        assert!(plan(&up, 0.001, 0.1, 1.0, 0.0).is_none());
        assert!(plan(&up, 0.001, 0.0, 1.0, 1.0).is_none());
    }

    #[test]
    fn trains_from_filled_draws_equal_single_trains() {
        use crate::rng::{Op, Purpose};
        let s = Stream::new(4, Op::Update, Purpose::PulseTrainD, 2);
        let p = [0.0f32, 0.3, 1.0, 0.999, 0.05, 1.5, 0.6, -0.2];
        let n = p.len();
        for bl in [1u32, 2, 3, 4, 5, 31, 64, 65, 200, 256] {
            let mut words = vec![0u32; n * bl as usize];
            s.fill_words(train_address(11, 0), &mut words);
            for (line, &pl) in p.iter().enumerate() {
                let mut one = [0u32; 8];
                train(&s, 11, (line, n), pl, bl, &mut one);
                let mut filled = [7u32; 8];
                let draws = (0..bl as usize).map(|k| words[k * n + line]);
                train_of(draws, pl, &mut filled);
                assert_eq!(filled, one, "bl {bl} line {line}");
            }
        }
    }

    #[test]
    fn trains_have_the_right_length_and_rate() {
        use crate::rng::{Op, Purpose};
        let s = Stream::new(11, Op::Update, Purpose::PulseTrainX, 0);
        let mut m = [0u32; 8];
        train(&s, 0, (0, 1), 1.0, 200, &mut m);
        assert_eq!(m.iter().map(|w| w.count_ones()).sum::<u32>(), 200);
        train(&s, 0, (0, 1), 0.0, 200, &mut m);
        assert_eq!(m, [0; 8]);
        let mut ones = 0u32;
        for a in 0..2000 {
            let mut m = [0u32; 1];
            train(&s, a, (1, 3), 0.25, 31, &mut m);
            assert_eq!(m[0] >> 31, 0);
            ones += m[0].count_ones();
        }
        let n = 2000.0 * 31.0;
        let se = (n * 0.25f64 * 0.75).sqrt();
        assert!((f64::from(ones) - 0.25 * n).abs() < 5.0 * se);
    }
}
