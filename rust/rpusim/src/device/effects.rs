//! What every pulsed device does besides answering a pulse (aihwkit's `PulsedDevice`): it
//! diffuses and decays after every update call, its columns can be reset, and it can count the
//! pulses it takes.
//!
//! Drawn once per device, from block 0 of its address `[i, j, sub]` in the `DeviceEffects`
//! stream of the tile's initialisation (normals `xi_a, xi_b, xi_c`), as aihwkit's
//! `PulsedRPUDevice::populate` draws them:
//!
//! ```text
//! diffusion rate  rho = |diffusion (1 + diffusion_dtod xi_a)|
//! reset point     b   = reset + reset_dtod xi_b                (additive, as aihwkit's code)
//! decay factor    s   = 1 - 1 / t,  t = lifetime (1 + lifetime_dtod xi_c)   (0 when t <= 1)
//! ```
//!
//! After every update call (aihwkit's `post_update_step`, once per mini-batch): first
//! `w += rho N(0, 1)`, clipped to the device's bounds, then `w = (w - b) s + b`, clipped (with
//! write noise on the persistent weight, whose weight read is then drawn anew). A reset writes
//! `b + reset_std N(0, 1)`, clipped. Only the arrays a configuration uses are drawn and saved,
//! so that a configuration without these effects draws and saves what it did before.

use super::layer::DeviceLayer;
use super::named::NamedArrays;
use super::pulsed::{draw_per_device, DeviceArrays, PulsedParameters, Shape};
use crate::error::Result;
use crate::rng::{bernoulli_threshold, Op, Purpose, Stream};
use crate::threads::sum_chunks;

/// The per-device effects of one pulsed model's devices.
#[derive(Debug, Clone, PartialEq)]
pub struct Effects {
    /// Every device's diffusion rate `rho` (when `diffusion > 0`).
    pub diffusion_rates: Option<Vec<f32>>,
    /// Every device's decay factor per update call `s` (when `lifetime > 0`).
    pub decay_scales: Option<Vec<f32>>,
    /// Every device's reset point `b` (when `reset` or `reset_dtod` is not 0; else 0).
    pub reset_bias: Option<Vec<f32>>,
    /// Cycle-to-cycle spread of a reset (`reset_std`).
    pub reset_std: f32,
    /// The pulses every device took (with `count_pulses`): `[down, up]`, that is first the
    /// pulses that lowered the weight (positive `d x`, aihwkit's positive counter), then those
    /// that raised it.
    pub pulse_counts: Option<Vec<[u64; 2]>>,
}

/// Whether the devices of `p` have reset points other than 0.
fn has_reset_bias(p: &PulsedParameters) -> bool {
    p.reset != 0.0 || p.reset_dtod > 0.0
}

impl PulsedParameters {
    /// One device's diffusion rate, reset point and decay factor from its normals.
    fn draw_effects(&self, xi: &[f32; 8]) -> [f32; 3] {
        let rate = (self.diffusion * (1.0 + self.diffusion_dtod * f64::from(xi[0]))).abs();
        let bias = self.reset + self.reset_dtod * f64::from(xi[1]);
        let scale = if self.lifetime > 0.0 {
            let t = self.lifetime * (1.0 + self.lifetime_dtod * f64::from(xi[2]));
            if t > 1.0 {
                1.0 - 1.0 / t
            } else {
                0.0
            }
        } else {
            1.0
        };
        [rate as f32, bias as f32, scale as f32]
    }
}

impl Effects {
    /// Draws the effects of the devices of `shape` (nothing is drawn for a configuration
    /// without diffusion, decay and reset point).
    pub(crate) fn populate(p: &PulsedParameters, shape: Shape) -> Result<Self> {
        let mut effects = Self::undrawn(p, shape.len());
        if p.diffusion > 0.0 || p.lifetime > 0.0 || has_reset_bias(p) {
            let [rates, bias, scales] =
                draw_per_device(shape, Purpose::DeviceEffects, |xi| p.draw_effects(xi))?;
            effects.diffusion_rates = (p.diffusion > 0.0).then_some(rates);
            effects.reset_bias = has_reset_bias(p).then_some(bias);
            effects.decay_scales = (p.lifetime > 0.0).then_some(scales);
        }
        Ok(effects)
    }

    /// The effects of `p` before any array is drawn, with zeroed pulse counters.
    fn undrawn(p: &PulsedParameters, n: usize) -> Self {
        Effects {
            diffusion_rates: None,
            decay_scales: None,
            reset_bias: None,
            reset_std: p.reset_std as f32,
            pulse_counts: p.count_pulses.then(|| vec![[0; 2]; n]),
        }
    }

    /// Whether an update call ends with diffusion or decay.
    pub(crate) fn after_update(&self) -> bool {
        self.diffusion_rates.is_some() || self.decay_scales.is_some()
    }

    /// The reset point of device `k`.
    #[inline]
    pub(crate) fn reset_point(&self, k: usize) -> f32 {
        self.reset_bias.as_ref().map_or(0.0, |b| b[k])
    }

    /// The drawn arrays to save, by name (aihwkit's names).
    pub(crate) fn named(&self) -> Vec<(&'static str, &[f32])> {
        [
            ("diffusion_rates", &self.diffusion_rates),
            ("decay_scales", &self.decay_scales),
            ("reset_bias", &self.reset_bias),
        ]
        .into_iter()
        .filter_map(|(name, a)| a.as_deref().map(|a| (name, a)))
        .collect()
    }

    /// The pulse counters to save: `n` down counts, then `n` up counts.
    pub(crate) fn counts_named(&self) -> Option<(&'static str, Vec<u64>)> {
        let counts = self.pulse_counts.as_ref()?;
        let blocks = (0..2).flat_map(|d| counts.iter().map(move |c| c[d]));
        Some(("pulse_counts", blocks.collect()))
    }

    /// Rebuilds the effects of `p` from saved arrays of `n` values each; the pulse counters of
    /// a state saved before they existed (or without them) start at zero.
    pub(crate) fn from_named(
        p: &PulsedParameters,
        arrays: &mut NamedArrays,
        n: usize,
    ) -> Result<Self> {
        let mut effects = Self::undrawn(p, n);
        if p.diffusion > 0.0 {
            effects.diffusion_rates =
                Some(arrays.take_within("diffusion_rates", n, |r| r >= 0.0, ">= 0")?);
        }
        if p.lifetime > 0.0 {
            let unit = |s: f32| (0.0..=1.0).contains(&s);
            effects.decay_scales =
                Some(arrays.take_within("decay_scales", n, unit, "in [0, 1]")?);
        }
        if has_reset_bias(p) {
            effects.reset_bias = Some(arrays.take("reset_bias", n)?);
        }
        if let Some(counts) = &mut effects.pulse_counts {
            if let Some(saved) = arrays.take_counts("pulse_counts", 2 * n)? {
                for (k, c) in counts.iter_mut().enumerate() {
                    *c = [saved[k], saved[n + k]];
                }
            }
        }
        Ok(effects)
    }
}

/// The streams of the diffusion after update call `call` and of the write noise drawn after it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AfterUpdate {
    pub diffusion: Stream,
    pub write_noise: Stream,
}

impl AfterUpdate {
    /// The streams of update call `call` of the tile seeded `seed`.
    pub(crate) fn new(seed: u64, call: u64) -> Self {
        AfterUpdate {
            diffusion: Stream::new(seed, Op::Update, Purpose::Diffusion, call),
            write_noise: Stream::new(seed, Op::Update, Purpose::WriteNoise, call),
        }
    }
}

impl DeviceLayer {
    /// Diffusion, then decay, of every device after an update call (see the module
    /// documentation), in parallel over blocks of rows; `weights` are the weights read, `sub`
    /// the layer's index in its unit cell. Row `i` draws its diffusion normals, in column
    /// order, from the sequence `[i, sub, 0]` of `streams.diffusion`, and with write noise the
    /// normals of its weights read from the same address of `streams.write_noise`.
    pub(crate) fn diffuse_and_decay(
        &mut self,
        weights: &mut [f32],
        in_size: usize,
        streams: &AfterUpdate,
        sub: u32,
    ) {
        if !self.effects.after_update() || in_size == 0 {
            return;
        }
        let DeviceLayer {
            model,
            write_noise,
            persistent,
            effects,
            ..
        } = self;
        let arrays = model.arrays();
        let write_noise = *write_noise;
        let rows = (8192 / in_size).clamp(1, 64);
        let work = 4 * weights.len();
        sum_chunks(
            weights,
            persistent.as_deref_mut(),
            rows * in_size,
            work,
            |c, read, stored| {
                let mut normals = vec![0.0f32; in_size];
                let first = c * rows;
                let Some(stored) = stored else {
                    effects.diffuse_and_decay_rows(
                        read,
                        first,
                        in_size,
                        arrays,
                        streams,
                        sub,
                        &mut normals,
                    );
                    return 0;
                };
                effects.diffuse_and_decay_rows(
                    stored,
                    first,
                    in_size,
                    arrays,
                    streams,
                    sub,
                    &mut normals,
                );
                redraw_read(
                    read,
                    stored,
                    first,
                    write_noise,
                    &streams.write_noise,
                    sub,
                    &mut normals,
                );
                0
            },
        );
    }

    /// Resets the devices of the columns where `columns` is true (aihwkit's `resetCols`): each
    /// with probability `prob` (always when `prob >= 1`), to its reset point plus `reset_std
    /// N(0, 1)`, clipped to its bounds; with write noise on the persistent weight, after which
    /// every weight read is drawn anew. Device `(i, j)` draws word `j` of the sequence `[i,
    /// sub, 0]` of `streams.choice` (it resets when the word is below `prob 2^32`) and normal
    /// `j` of the same address of `streams.noise` and `streams.write_noise`.
    pub(crate) fn reset_columns(
        &mut self,
        weights: &mut [f32],
        in_size: usize,
        columns: &[bool],
        prob: f32,
        streams: &ResetStreams,
        sub: u32,
    ) {
        self.reset_where(weights, in_size, &|_, j| columns[j], prob, streams, sub);
    }

    /// [`DeviceLayer::reset_columns`] of the devices `(i, j)` where `chosen(i, j)` is true
    /// (the refresh of a one-sided unit cell resets single devices).
    pub(crate) fn reset_where(
        &mut self,
        weights: &mut [f32],
        in_size: usize,
        chosen: &dyn Fn(usize, usize) -> bool,
        prob: f32,
        streams: &ResetStreams,
        sub: u32,
    ) {
        let DeviceLayer {
            model,
            write_noise,
            persistent,
            effects,
            ..
        } = self;
        let arrays = model.arrays();
        let threshold = bernoulli_threshold(prob);
        let mut normals = vec![0.0f32; in_size];
        let mut words = vec![0u32; in_size];
        let stored: &mut [f32] = persistent.as_deref_mut().unwrap_or(&mut *weights);
        for (i, row) in stored.chunks_mut(in_size.max(1)).enumerate() {
            let address = [i as u32, sub, 0];
            streams.noise.fill_normals(address, &mut normals);
            if threshold <= u64::from(u32::MAX) {
                streams.choice.fill_words(address, &mut words);
            }
            for (j, w) in row.iter_mut().enumerate() {
                if !chosen(i, j) || u64::from(words[j]) >= threshold {
                    continue;
                }
                let k = i * in_size + j;
                let spread = if effects.reset_std > 0.0 {
                    effects.reset_std * normals[j]
                } else {
                    0.0
                };
                *w = (effects.reset_point(k) + spread)
                    .max(arrays.b_min[k])
                    .min(arrays.b_max[k]);
            }
        }
        if let Some(p) = persistent {
            redraw_read(
                weights,
                p,
                0,
                *write_noise,
                &streams.write_noise,
                sub,
                &mut normals,
            );
        }
    }
}

impl Effects {
    /// Diffusion, then decay, of the rows `first ..` whose stored weights are `block`.
    #[allow(clippy::too_many_arguments)]
    fn diffuse_and_decay_rows(
        &self,
        block: &mut [f32],
        first: usize,
        in_size: usize,
        arrays: &DeviceArrays,
        streams: &AfterUpdate,
        sub: u32,
        normals: &mut [f32],
    ) {
        for (r, row) in block.chunks_mut(in_size).enumerate() {
            let k0 = (first + r) * in_size;
            let (lo, hi) = (&arrays.b_min[k0..], &arrays.b_max[k0..]);
            if let Some(rates) = &self.diffusion_rates {
                streams
                    .diffusion
                    .fill_normals([(first + r) as u32, sub, 0], normals);
                for (j, w) in row.iter_mut().enumerate() {
                    *w = (*w + rates[k0 + j] * normals[j]).max(lo[j]).min(hi[j]);
                }
            }
            if let Some(scales) = &self.decay_scales {
                for (j, w) in row.iter_mut().enumerate() {
                    let b = self.reset_point(k0 + j);
                    *w = ((*w - b) * scales[k0 + j] + b).max(lo[j]).min(hi[j]);
                }
            }
        }
    }
}

/// Draws the weights read of rows `first ..` anew, `read = stored + write_noise N(0, 1)`, row
/// `i` from the normal sequence `[i, sub, 0]` of `stream` in column order (`normals` is one
/// row long).
fn redraw_read(
    read: &mut [f32],
    stored: &[f32],
    first: usize,
    write_noise: f32,
    stream: &Stream,
    sub: u32,
    normals: &mut [f32],
) {
    let in_size = normals.len();
    for (r, (row, p)) in read
        .chunks_mut(in_size)
        .zip(stored.chunks(in_size))
        .enumerate()
    {
        stream.fill_normals([(first + r) as u32, sub, 0], normals);
        for ((w, &p), &xi) in row.iter_mut().zip(p).zip(normals.iter()) {
            *w = p + write_noise * xi;
        }
    }
}

/// The streams of reset number `call` of a tile's devices.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ResetStreams {
    pub choice: Stream,
    pub noise: Stream,
    pub write_noise: Stream,
}

impl ResetStreams {
    /// The streams of reset `call` of the tile seeded `seed`.
    pub(crate) fn new(seed: u64, call: u64) -> Self {
        let stream = |p| Stream::new(seed, Op::Reset, p, call);
        ResetStreams {
            choice: stream(Purpose::ResetChoice),
            noise: stream(Purpose::ResetNoise),
            write_noise: stream(Purpose::WriteNoise),
        }
    }
}
