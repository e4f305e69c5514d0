//! The analog forward and backward passes (MODEL.md §2): noise management, DAC, the exact
//! float32 product, weight and output noise, ADC, and iterative bound management.
//!
//! The batch is processed in stages (all DAC inputs, one batched product, all ADC outputs) and
//! only the samples that saturate go round again; every sample gets exactly the numbers of the
//! sample-by-sample definition in `reference.rs`.

use crate::config::{BoundManagement, IoParameters, NoiseManagement};
use crate::mvm::{backward_product, forward_product};
use crate::rng::{Op, Purpose, Stream};
use std::cell::RefCell;

use crate::alloc::reserve;
use crate::cpu::{compiled_for, isa};
use crate::error::Result;
use crate::mvm::product_ns;
use crate::numeric::abs_max;
use crate::threads::{for_each_range, planned_threads, Disjoint};

/// Which product a pass computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `y = W x`: inputs on the columns, outputs on the rows.
    Forward,
    /// `z = W^T d`: inputs on the rows, outputs on the columns.
    Backward,
}

impl Direction {
    pub(crate) fn op(self) -> Op {
        match self {
            Direction::Forward => Op::Forward,
            Direction::Backward => Op::Backward,
        }
    }

    /// (input length, output length) of one sample on an `out_size x in_size` tile.
    pub fn sizes(self, out_size: usize, in_size: usize) -> (usize, usize) {
        match self {
            Direction::Forward => (in_size, out_size),
            Direction::Backward => (out_size, in_size),
        }
    }

    /// The exact product of a batch into `y`, in the summation order of `mvm.rs`; over the
    /// engine's threads when `split`, else on this one.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn product(
        self,
        w: &[f32],
        out_size: usize,
        in_size: usize,
        x: &[f32],
        n: usize,
        y: &mut [f32],
        split: bool,
    ) {
        match self {
            Direction::Forward => forward_product(w, out_size, in_size, x, n, y, split),
            Direction::Backward => backward_product(w, out_size, in_size, x, n, y, split),
        }
    }
}

/// Rounds `v` to a multiple of `step` (nearest, ties to even; or stochastic with the uniform
/// draw `u`: down with probability `1 - frac`, up with probability `frac`). `step <= 0`: no-op.
#[inline(always)]
pub fn quantize(v: f32, step: f32, stochastic: Option<f32>) -> f32 {
    if step <= 0.0 {
        return v;
    }
    match stochastic {
        None => round_ties_even(v / step) * step,
        Some(u) => floor(v / step + u) * step,
    }
}

/// `v.round_ties_even()` without a library call (x86-64 without SSE4.1 has no rounding
/// instruction, and LLVM speculates such calls inside vectorised loops): adding and removing
/// 2^23 rounds `|v| < 2^23` to an integer in the default rounding mode, exactly; larger floats
/// are integers already. Branch-free, so loops over it vectorise.
#[inline(always)]
fn round_ties_even(v: f32) -> f32 {
    const TWO_POW_23: f32 = 8_388_608.0;
    let a = v.abs();
    let rounded = ((a + TWO_POW_23) - TWO_POW_23).copysign(v);
    if a < TWO_POW_23 {
        rounded
    } else {
        v
    }
}

/// `v.floor()`, by way of [`round_ties_even`].
#[inline(always)]
fn floor(v: f32) -> f32 {
    let r = round_ties_even(v);
    if r > v {
        r - 1.0
    } else {
        r
    }
}

/// Clips `v` to `[-bound, bound]` when there is a bound.
#[inline(always)]
pub fn clip(v: f32, bound: Option<f32>) -> f32 {
    match bound {
        Some(b) => v.max(-b).min(b),
        None => v,
    }
}

/// Per-sample noise-management scale for every kind but `average_abs_max` (MODEL.md §3.1).
pub fn nm_scale(io: &IoParameters, x: &[f32]) -> f32 {
    let thres = io.nm_thres as f32;
    let clip_at_thres = |m: f32| if thres > 0.0 { m.min(thres) } else { m };
    match io.noise_management {
        NoiseManagement::None => 1.0,
        NoiseManagement::AbsMax | NoiseManagement::AverageAbsMax => clip_at_thres(abs_max(x)),
        NoiseManagement::Max => clip_at_thres(x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v))),
        NoiseManagement::Constant => {
            if thres > 0.0 {
                thres
            } else {
                1.0
            }
        }
    }
}

/// The scales of a batch, into `alphas`. For `average_abs_max` all samples share the running
/// average of the batches' mean abs-max, which `running` carries between calls. When `learn`
/// is set the batch advances the average first; otherwise the stored average is used as it is
/// (the batch mean only while there is none yet).
pub fn batch_scales(
    io: &IoParameters,
    x: &[f32],
    n: usize,
    k: usize,
    running: &mut Option<f32>,
    learn: bool,
    alphas: &mut Vec<f32>,
) {
    alphas.clear();
    if io.noise_management != NoiseManagement::AverageAbsMax {
        alphas.extend((0..n).map(|b| nm_scale(io, &x[b * k..(b + 1) * k])));
        return;
    }
    if n == 0 {
        return;
    }
    let average = match (*running, learn) {
        (Some(r), false) => r,
        _ => {
            let sum: f64 = (0..n)
                .map(|b| f64::from(nm_scale(io, &x[b * k..(b + 1) * k])))
                .sum();
            let mean = (sum / n as f64) as f32;
            let decay = io.nm_decay as f32;
            let average = match *running {
                None => mean,
                Some(r) => r * (1.0 - decay) + decay * mean,
            };
            if learn {
                *running = Some(average);
            }
            average
        }
    };
    alphas.resize(n, average);
}

/// The periphery of one pass as the f32 numbers the kernels use.
#[derive(Debug, Clone)]
pub struct Periphery {
    /// DAC step in input units (0: no quantisation).
    pub inp_step: f32,
    /// DAC clip level (`None`: unbounded).
    pub inp_clip: Option<f32>,
    /// Stochastic rounding in the DAC.
    pub inp_sto_round: bool,
    /// Standard deviation of the noise added to the DAC outputs.
    pub inp_noise: f32,
    /// Weight noise referred to the output, per unit of `||u||_2`.
    pub w_noise: f32,
    /// Standard deviation of the additive output noise.
    pub out_noise: f32,
    /// ADC step in output units (0: no quantisation).
    pub out_step: f32,
    /// ADC clip level (`None`: unbounded).
    pub out_clip: Option<f32>,
    /// Stochastic rounding in the ADC.
    pub out_sto_round: bool,
    /// Digital factor on every output.
    pub out_scale: f32,
    /// Iterative bound management (forward only).
    pub bound_management: bool,
    /// The reduction factor `r` may not exceed this; it doubles while `r <= r_limit`.
    pub r_limit: f64,
}

impl Periphery {
    /// The periphery `io` describes, for a pass in `direction` (bound management only
    /// forward).
    pub fn new(io: &IoParameters, direction: Direction) -> Self {
        let inp_step = io.inp_step();
        let res_limit = if inp_step > 0.0 {
            io.max_bm_res / inp_step
        } else {
            f64::INFINITY
        };
        Periphery {
            inp_step: inp_step as f32,
            inp_clip: io.inp_clip(),
            inp_sto_round: io.inp_sto_round,
            inp_noise: io.inp_noise as f32,
            w_noise: io.w_noise as f32,
            out_noise: io.out_noise as f32,
            out_step: io.out_step() as f32,
            out_clip: io.out_clip(),
            out_sto_round: io.out_sto_round,
            out_scale: io.out_scale as f32,
            bound_management: direction == Direction::Forward
                && io.bound_management == BoundManagement::Iterative,
            r_limit: io.max_bm_factor.min(res_limit),
        }
    }

    /// Estimated nanoseconds of one thread per input value of the DAC: a few float operations,
    /// and about 2.5 ns for every random number drawn (a Philox block and a Box-Muller
    /// transform per two normals, eight blocks at a time).
    pub(crate) fn dac_ns(&self) -> usize {
        let draws = usize::from(self.inp_sto_round) + usize::from(self.inp_noise > 0.0);
        1 + 3 * draws
    }

    /// Estimated nanoseconds of one thread per output value of the ADC, as [`Self::dac_ns`].
    pub(crate) fn adc_ns(&self) -> usize {
        let draws = usize::from(self.w_noise > 0.0)
            + usize::from(self.out_noise > 0.0)
            + usize::from(self.out_sto_round);
        1 + 3 * draws
    }

    /// Whether a saturated pass at reduction `r` is repeated at `2 r`.
    #[inline]
    pub fn repeats(&self, saturated: bool, r: f32) -> bool {
        self.bound_management && saturated && f64::from(r) <= self.r_limit
    }
}

/// The random streams of one call of a pass.
#[derive(Debug)]
pub struct PassStreams {
    /// The place of the batch's first sample among the samples the call's streams address
    /// (`shard * n` for shard `shard` of equal parts of a larger batch; 0 for a whole batch).
    pub first_sample: u64,
    /// Stochastic rounding of the DAC.
    pub input_rounding: Stream,
    /// Noise on the DAC outputs.
    pub input_noise: Stream,
    /// Weight noise.
    pub weight_noise: Stream,
    /// Additive output noise.
    pub output_noise: Stream,
    /// Stochastic rounding of the ADC.
    pub output_rounding: Stream,
}

impl PassStreams {
    /// The streams of call number `call` of a pass in `direction` of a tile seeded `seed`.
    pub fn new(seed: u64, direction: Direction, call: u64, first_sample: u64) -> Self {
        let s = |p| Stream::new(seed, direction.op(), p, call);
        PassStreams {
            first_sample,
            input_rounding: s(Purpose::InputRounding),
            input_noise: s(Purpose::InputNoise),
            weight_noise: s(Purpose::WeightNoise),
            output_noise: s(Purpose::OutputNoise),
            output_rounding: s(Purpose::OutputRounding),
        }
    }
}

/// The kinds of random numbers a pass draws, each in its own long sequence per round of the
/// pass (`[pass, 0]` of its stream): sample `b` takes elements `b k ..` (the DAC's, `k` per
/// sample) or `b m ..` (the ADC's), so that a group of consecutive samples fills its numbers
/// in one go.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    InputRounding,
    InputNoise,
    WeightNoise,
    OutputNoise,
    OutputRounding,
}

impl Kind {
    fn stream(self, st: &PassStreams) -> &Stream {
        match self {
            Kind::InputRounding => &st.input_rounding,
            Kind::InputNoise => &st.input_noise,
            Kind::WeightNoise => &st.weight_noise,
            Kind::OutputNoise => &st.output_noise,
            Kind::OutputRounding => &st.output_rounding,
        }
    }

    fn normal(self) -> bool {
        !matches!(self, Kind::InputRounding | Kind::OutputRounding)
    }

    /// Element `e` of the kind's sequence in round `pass`, one by one (for the reference).
    pub(crate) fn at(self, st: &PassStreams, pass: u32, e: u64) -> f32 {
        let stream = self.stream(st);
        if self.normal() {
            stream.normal_in([pass, 0], e)
        } else {
            stream.uniform_in([pass, 0], e)
        }
    }
}

thread_local! {
    /// A thread's random numbers of a group of samples, one buffer per kind, kept from call
    /// to call.
    static NUMBERS: RefCell<[Vec<f32>; 5]> = RefCell::default();
}

/// The numbers of kind `kind` of the samples `samples` (in round `pass`), `per` each, into
/// `out`: each run of consecutive samples in one fill.
fn fill_samples(
    st: &PassStreams,
    kind: Kind,
    pass: u32,
    samples: &[u32],
    per: usize,
    out: &mut Vec<f32>,
) {
    out.resize(samples.len() * per, 0.0);
    let stream = kind.stream(st);
    let mut q = 0;
    while q < samples.len() {
        let b0 = samples[q];
        let run = 1 + samples[q + 1..]
            .iter()
            .zip(1..)
            .take_while(|&(&b, d)| b == b0 + d)
            .count();
        let span = &mut out[q * per..(q + run) * per];
        let first = (u64::from(b0) + st.first_sample) * per as u64;
        if kind.normal() {
            stream.fill_normals_in([pass, 0], first, span);
        } else {
            stream.fill_uniforms_in([pass, 0], first, span);
        }
        q += run;
    }
}

/// Sample `q`'s `per` numbers of a group's buffer, when the kind is drawn.
#[inline(always)]
fn drawn(wanted: bool, numbers: &[f32], q: usize, per: usize) -> Option<&[f32]> {
    wanted.then(|| &numbers[q * per..(q + 1) * per])
}

/// DAC of one sample: `u = clip(quantize(x / denom)) + inp_noise N`, with the sample's
/// rounding draws and input noise when the periphery has them.
#[inline(always)]
fn dac(
    per: &Periphery,
    x: &[f32],
    denom: f32,
    u: &mut [f32],
    rounding: Option<&[f32]>,
    noise: Option<&[f32]>,
) {
    for (u, &x) in u.iter_mut().zip(x) {
        *u = x / denom;
    }
    match rounding {
        Some(r) => {
            for (u, &r) in u.iter_mut().zip(r) {
                *u = clip(quantize(*u, per.inp_step, Some(r)), per.inp_clip);
            }
        }
        None => {
            for u in u.iter_mut() {
                *u = clip(quantize(*u, per.inp_step, None), per.inp_clip);
            }
        }
    }
    if let Some(noise) = noise {
        for (u, &n) in u.iter_mut().zip(noise) {
            *u += per.inp_noise * n;
        }
    }
}

/// `||u||_2`, summed in order in f64.
#[inline]
pub fn l2_norm(u: &[f32]) -> f32 {
    u.iter()
        .map(|&v| f64::from(v) * f64::from(v))
        .sum::<f64>()
        .sqrt() as f32
}

/// ADC of one sample whose DAC outputs were `u`: weight noise, output noise, quantisation,
/// clipping, with the sample's draws of each kind the periphery has. Returns whether an output
/// exceeded the bound before clipping.
#[inline(always)]
fn adc(
    per: &Periphery,
    v: &mut [f32],
    u: &[f32],
    w_noise: Option<&[f32]>,
    out_noise: Option<&[f32]>,
    rounding: Option<&[f32]>,
) -> bool {
    if let Some(noise) = w_noise {
        let sigma = per.w_noise * l2_norm(u);
        for (v, &n) in v.iter_mut().zip(noise) {
            *v += sigma * n;
        }
    }
    if let Some(noise) = out_noise {
        for (v, &n) in v.iter_mut().zip(noise) {
            *v += per.out_noise * n;
        }
    }
    match rounding {
        Some(r) => {
            for (v, &r) in v.iter_mut().zip(r) {
                *v = quantize(*v, per.out_step, Some(r));
            }
        }
        None if per.out_step > 0.0 => {
            for v in v.iter_mut() {
                *v = quantize(*v, per.out_step, None);
            }
        }
        None => {}
    }
    match per.out_clip {
        Some(bound) => {
            let mut saturated = false;
            for v in v.iter_mut() {
                saturated |= v.abs() > bound;
                *v = clip(*v, per.out_clip);
            }
            saturated
        }
        None => false,
    }
}

/// Buffers of the passes of a tile, kept from call to call.
#[derive(Debug, Default)]
pub(crate) struct PassBuffers {
    /// The noise-management scale of every sample.
    pub alphas: Vec<f32>,
    /// The samples a round of the pass computes, and their bound-management factors.
    active: Vec<u32>,
    next: Vec<u32>,
    r: Vec<f32>,
    /// The DAC outputs and the products of the active samples.
    u: Vec<f32>,
    v: Vec<f32>,
    /// Whether each active sample goes round again.
    repeat: Vec<bool>,
}

impl PassBuffers {
    /// Makes room for a pass of `n` samples of `k` inputs and `m` outputs through `io`, so
    /// that the pass allocates none of these buffers (an error when they cannot be
    /// allocated). A perfect pass uses only the noise-management scales.
    pub(crate) fn reserve(
        &mut self,
        io: &IoParameters,
        n: usize,
        k: usize,
        m: usize,
    ) -> Result<()> {
        let what = "pass work space";
        reserve(&mut self.alphas, n, what)?;
        if io.is_perfect {
            return Ok(());
        }
        reserve(&mut self.r, n, what)?;
        for v in [&mut self.active, &mut self.next] {
            reserve(v, n, what)?;
        }
        reserve(&mut self.u, n.saturating_mul(k), what)?;
        reserve(&mut self.v, n.saturating_mul(m), what)?;
        reserve(&mut self.repeat, n, what)
    }
}

/// Samples a thread's group of a pass holds at least: enough for the product's blocks.
const MIN_GROUP: usize = 16;

/// Weights (floats) from which a pass on several threads splits its product over the outputs
/// rather than the samples: 1 MiB, a core's L2 on the machines measured.
const SPLIT_W_FLOATS: usize = 1 << 18;

/// One analog pass over a batch of `n` samples `x` (row-major `n x k`) with noise-management
/// scales `buf.alphas`, into `y` (`n x m`). `call` is the pass's call counter.
#[allow(clippy::too_many_arguments)]
pub(crate) fn analog_pass(
    io: &IoParameters,
    direction: Direction,
    w: &[f32],
    out_size: usize,
    in_size: usize,
    x: &[f32],
    n: usize,
    seed: u64,
    call: u64,
    first_sample: u64,
    y: &mut [f32],
    buf: &mut PassBuffers,
) {
    if io.is_perfect {
        return direction.product(w, out_size, in_size, x, n, y, true);
    }
    let (k, m) = direction.sizes(out_size, in_size);
    let per = Periphery::new(io, direction);
    let streams = PassStreams::new(seed, direction, call, first_sample);
    let isa = isa();
    let PassBuffers {
        alphas,
        active: buf_active,
        next,
        r: buf_r,
        u,
        v,
        repeat,
        ..
    } = buf;
    buf_r.clear();
    buf_r.resize(n, 1.0);
    buf_active.clear();
    // A zero (or, for `max`, negative) scale means a zero input: the output is exactly zero.
    for (b, yb) in y.chunks_mut(m).enumerate() {
        if alphas[b] > 0.0 {
            buf_active.push(b as u32);
        } else {
            yb.fill(0.0);
        }
    }
    let na = buf_active.len();
    u.resize(na * k, 0.0);
    v.resize(na * m, 0.0);
    repeat.resize(na, false);
    let (y, u, v, repeat) = (
        Disjoint::new(y),
        Disjoint::new(u),
        Disjoint::new(v),
        Disjoint::new(repeat),
    );
    let mut pass = 0u32;
    while !buf_active.is_empty() {
        let na = buf_active.len();
        let (active, alphas, r) = (&*buf_active, &*alphas, &*buf_r);
        let macs = na * out_size * in_size;
        let work = product_ns(macs) + na * (k * per.dac_ns() + m * per.adc_ns());
        // Many samples: each thread takes a group of them through DAC, product and ADC, all in
        // one parallel region. Few samples: one group, whose product splits over the outputs.
        // A large W (beyond a core's L2) splits its product over the outputs in any case, so
        // that each thread reads only its part of W; DAC and ADC then run in regions of their
        // own, over the same groups.
        let threads = planned_threads(work);
        let group = if na >= MIN_GROUP * threads {
            na.div_ceil(threads)
        } else {
            na
        };
        let split_w = threads > 1 && w.len() >= SPLIT_W_FLOATS;
        let fill = |wanted: bool, kind: Kind, samples: &[u32], per: usize, out: &mut Vec<f32>| {
            if wanted {
                fill_samples(&streams, kind, pass, samples, per, out);
            }
            wanted
        };
        // SAFETY (both): the groups' samples, and so their rows of u, v, repeat and y, are
        // disjoint.
        let dac_group = |range: std::ops::Range<usize>| {
            let (a0, g) = (range.start, range.len());
            let u = unsafe { u.slice(a0 * k, g * k) };
            let samples = &active[a0..a0 + g];
            NUMBERS.with_borrow_mut(|[in_round, in_noise, ..]| {
                let rounding = per.inp_sto_round && per.inp_step > 0.0;
                let rounding = fill(rounding, Kind::InputRounding, samples, k, in_round);
                let noise = fill(per.inp_noise > 0.0, Kind::InputNoise, samples, k, in_noise);
                compiled_for(
                    isa,
                    #[inline(always)]
                    || {
                        for (q, u) in u.chunks_mut(k).enumerate() {
                            let b = samples[q] as usize;
                            let x = &x[b * k..(b + 1) * k];
                            let (r_q, n_q) = (
                                drawn(rounding, in_round, q, k),
                                drawn(noise, in_noise, q, k),
                            );
                            dac(&per, x, alphas[b] * r[b], u, r_q, n_q);
                        }
                    },
                );
            });
        };
        let adc_group = |range: std::ops::Range<usize>| {
            let (a0, g) = (range.start, range.len());
            let (u, v, repeat) = unsafe {
                (
                    u.slice(a0 * k, g * k),
                    v.slice(a0 * m, g * m),
                    repeat.slice(a0, g),
                )
            };
            let samples = &active[a0..a0 + g];
            NUMBERS.with_borrow_mut(|[_, _, w_noise, out_noise, out_round]| {
                let wn = fill(per.w_noise > 0.0, Kind::WeightNoise, samples, m, w_noise);
                let on = fill(
                    per.out_noise > 0.0,
                    Kind::OutputNoise,
                    samples,
                    m,
                    out_noise,
                );
                let rounding = per.out_sto_round && per.out_step > 0.0;
                let or = fill(rounding, Kind::OutputRounding, samples, m, out_round);
                compiled_for(
                    isa,
                    #[inline(always)]
                    || {
                        for (q, (v, again)) in v.chunks_mut(m).zip(repeat.iter_mut()).enumerate() {
                            let b = samples[q] as usize;
                            let uq = &u[q * k..(q + 1) * k];
                            let draws = (drawn(wn, w_noise, q, m), drawn(on, out_noise, q, m));
                            let saturated =
                                adc(&per, v, uq, draws.0, draws.1, drawn(or, out_round, q, m));
                            *again = per.repeats(saturated, r[b]);
                            if !*again {
                                let scale = alphas[b] * r[b] * per.out_scale;
                                // SAFETY: row b of the output, which only sample b writes.
                                let yb = unsafe { y.slice(b * m, m) };
                                for (y, v) in yb.iter_mut().zip(v.iter()) {
                                    *y = v * scale;
                                }
                            }
                        }
                    },
                );
            });
        };
        // SAFETY (the products): no group runs while the whole of u and v is used.
        if split_w {
            let periphery = na * (k * per.dac_ns() + m * per.adc_ns());
            for_each_range(na, group, periphery, dac_group);
            let (u, v) = unsafe { (u.slice(0, na * k), v.slice(0, na * m)) };
            direction.product(w, out_size, in_size, u, na, v, true);
            for_each_range(na, group, periphery, adc_group);
        } else {
            for_each_range(na, group, work, |range| {
                let (a0, g) = (range.start, range.len());
                dac_group(range.clone());
                let (u, v) = unsafe { (u.slice(a0 * k, g * k), v.slice(a0 * m, g * m)) };
                direction.product(w, out_size, in_size, u, g, v, g == na);
                adc_group(range);
            });
        }
        next.clear();
        for (a, &b) in active.iter().enumerate() {
            // SAFETY: no group runs any more.
            if unsafe { repeat.slice(a, 1)[0] } {
                next.push(b);
                buf_r[b as usize] *= 2.0;
            }
        }
        std::mem::swap(buf_active, next);
        pass += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_helpers_equal_the_library() {
        let mut v = -300.0f32;
        while v < 300.0 {
            assert_eq!(round_ties_even(v), v.round_ties_even(), "{v}");
            assert_eq!(floor(v), v.floor(), "{v}");
            v += 0.125 / 3.0;
        }
        for v in [
            0.5f32,
            1.5,
            2.5,
            -0.5,
            -1.5,
            4_194_303.5,
            8_388_607.5,
            1e9,
            -1e9,
        ] {
            assert_eq!(round_ties_even(v), v.round_ties_even(), "{v}");
            assert_eq!(floor(v), v.floor(), "{v}");
        }
    }

    #[test]
    fn quantize_rounds_to_the_grid() {
        assert_eq!(quantize(0.26, 0.1, None), 0.3);
        assert_eq!(quantize(0.26, 0.0, None), 0.26);
        assert_eq!(quantize(0.25, 0.1, Some(0.0)), 0.2);
        assert_eq!(quantize(0.25, 0.1, Some(0.99)), 0.3);
    }
}
