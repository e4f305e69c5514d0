//! The one-sided unit cell (aihwkit's `OneSidedUnitCell`; docs/model_notes.md, "One-sided
//! unit cell"): two devices per cross-point, each only ever potentiated, the weight their
//! difference, and a refresh that resets and rewrites a pair when its devices saturate. This
//! file holds the configuration and the drawn cells; the update with its refreshes is the
//! crate's `one_sided.rs`.

use serde::{Deserialize, Serialize};

use super::config::DeviceConfig;
use super::effects::AfterUpdate;
use super::layer::DeviceLayer;
use super::named::NamedArrays;
use super::pulsed::Shape;
use super::state::{DeviceState, UnitCell};
use crate::alloc::zeros;
use crate::error::{Error, Result};
use crate::numeric::{check_finite, saturate};
use crate::periphery::{IoParameters, UpdateParameters};
use crate::rng::Stream;

/// The devices of a one-sided cell: the one that takes the pulses lowering the weight
/// (aihwkit's `g_minus`, its device 0) and the one that takes those raising it (`g_plus`,
/// device 1).
pub const ONE_SIDED_DEVICES: usize = 2;

/// Configuration of a pair of one-sided devices per cross-point (aihwkit's
/// `OneSidedUnitCell`; names and defaults are aihwkit 1.1's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OneSidedUnitCellParameters {
    /// The device model of both devices: one single pulsed model, or two equal ones (aihwkit
    /// draws both devices from the first and only checks that a second has the same type).
    /// Default: one `ConstantStep` (aihwkit's default, an empty list, cannot make a tile).
    pub unit_cell_devices: Vec<DeviceConfig>,
    /// A refresh every `refresh_every` samples, or batches with `units_in_mbatch` (default 0:
    /// never; >= 0).
    pub refresh_every: i64,
    /// `refresh_every` counts batches: the period is `refresh_every` times the batch size in
    /// samples (default true).
    pub units_in_mbatch: bool,
    /// A pair is refreshed when its larger device, relative to `|w_max|`, is above this
    /// threshold (default 0.75) ...
    pub refresh_upper_thres: f64,
    /// ... and its smaller one above this one (default 0.25).
    pub refresh_lower_thres: f64,
    /// The periphery of the refresh's reads (forward passes of one-hot inputs through each
    /// device), used as it is. Default: the forward periphery's defaults.
    pub refresh_forward: IoParameters,
    /// The pulsed update that rewrites a refreshed pair's difference (default: the update's
    /// defaults, `desired_bl = 31`, update management and UBLM on).
    pub refresh_update: UpdateParameters,
    /// aihwkit's use of the mirrored "down" response for the second device (default false;
    /// only false is supported).
    pub copy_inverted: bool,
}

impl Default for OneSidedUnitCellParameters {
    fn default() -> Self {
        OneSidedUnitCellParameters {
            unit_cell_devices: vec![DeviceConfig::default()],
            refresh_every: 0,
            units_in_mbatch: true,
            refresh_upper_thres: 0.75,
            refresh_lower_thres: 0.25,
            refresh_forward: IoParameters::default(),
            refresh_update: UpdateParameters::default(),
            copy_inverted: false,
        }
    }
}

impl OneSidedUnitCellParameters {
    pub(crate) fn validate(&self, prefix: &str) -> Result<()> {
        let n = self.unit_cell_devices.len();
        if !(1..=ONE_SIDED_DEVICES).contains(&n) {
            return Err(Error::invalid(
                format!("{prefix}.unit_cell_devices"),
                format!("must hold 1 or 2 devices (both drawn from the first), got {n}"),
            ));
        }
        let first = &self.unit_cell_devices[0];
        let at = format!("{prefix}.unit_cell_devices[0]");
        if first.pulsed().is_none() {
            return Err(Error::invalid(at, "must be a single pulsed device model"));
        }
        first.validate_as(&at)?;
        if n == 2 && self.unit_cell_devices[1] != *first {
            return Err(Error::invalid(
                format!("{prefix}.unit_cell_devices[1]"),
                "must equal unit_cell_devices[0]: both devices are drawn from the first \
                 (aihwkit discards a second one)",
            ));
        }
        if self.refresh_every < 0 {
            return Err(Error::invalid(
                format!("{prefix}.refresh_every"),
                format!("must be >= 0 (0: no refresh), got {}", self.refresh_every),
            ));
        }
        check_finite(
            format!("{prefix}.refresh_upper_thres"),
            self.refresh_upper_thres,
            false,
        )?;
        check_finite(
            format!("{prefix}.refresh_lower_thres"),
            self.refresh_lower_thres,
            false,
        )?;
        self.refresh_forward
            .validate(&format!("{prefix}.refresh_forward"))?;
        self.refresh_update
            .validate(&format!("{prefix}.refresh_update"))?;
        if self.copy_inverted {
            return Err(Error::invalid(
                format!("{prefix}.copy_inverted"),
                "must be false (the mirrored device of aihwkit's copy_inverted is not supported)",
            ));
        }
        let write_noise = first.write_noise().map_or(0.0, |w| w.write_noise_std);
        if self.refresh_every > 0 && write_noise > 0.0 {
            return Err(Error::invalid(
                format!("{prefix}.unit_cell_devices[0].write_noise_std"),
                format!(
                    "must be 0 with refresh_every > 0 (a refresh resets single devices, which \
                     aihwkit does not support with write noise), got {write_noise}"
                ),
            ));
        }
        Ok(())
    }

    /// The device model of both devices.
    pub fn device(&self) -> &DeviceConfig {
        &self.unit_cell_devices[0]
    }

    /// Samples between refreshes in a batch of `n` samples (0: no refresh).
    pub fn period(&self, n: usize) -> u64 {
        let every = self.refresh_every.max(0) as u64;
        if self.units_in_mbatch {
            every.saturating_mul(n as u64)
        } else {
            every
        }
    }

    /// `|w_max|` of the device model: both devices' weights are compared to it.
    pub fn w_max(&self) -> f32 {
        self.device().pulsed().map_or(1.0, |p| p.w_max.abs() as f32)
    }
}

/// Where a one-sided cell's updates and refreshes stand (saved with the state).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OneSidedCounters {
    /// Samples of gradient updates since the weights were set (aihwkit's
    /// `current_update_idx`): a refresh follows the samples that make it a multiple of the
    /// period.
    pub samples: u64,
    /// Devices refreshed since the weights were set (aihwkit's `refresh_counter`).
    pub refreshed: u64,
    /// Update calls made on the devices (the pieces of the tile's updates and the
    /// characterisation pulses): their random streams.
    pub updates: u64,
    /// Refreshes made: the random streams of their reads, resets and writes.
    pub refreshes: u64,
}

/// The drawn cells of a one-sided unit cell: `W = w_1 - w_0`.
#[derive(Debug, Clone, PartialEq)]
pub struct OneSidedCell {
    /// The device that takes the pulses lowering the weight (0) and the one that takes those
    /// raising it (1), each a single pulsed layer drawn from d2d address `[i, j, k]`.
    pub arrays: [DeviceState; ONE_SIDED_DEVICES],
    /// The weights of the two devices, row-major `out_size x in_size` each (both >= their
    /// lower bounds, which the default bounds put below 0).
    pub weights: [Vec<f32>; ONE_SIDED_DEVICES],
    /// Where the updates and refreshes stand.
    pub counters: OneSidedCounters,
}

impl OneSidedCell {
    /// Draws the two devices of every cross-point from the cell's one device model; device
    /// `k` draws from d2d address `[i, j, k]`. `None` when it is not a single pulsed model.
    pub(crate) fn populate(p: &OneSidedUnitCellParameters, shape: Shape) -> Result<Option<Self>> {
        let mut layers = Vec::with_capacity(ONE_SIDED_DEVICES);
        for k in 0..ONE_SIDED_DEVICES {
            let sub = Shape {
                sub: k as u32,
                ..shape
            };
            match DeviceLayer::populate(p.device(), sub)? {
                Some(layer) => layers.push(layer),
                None => return Ok(None),
            }
        }
        let mut weights = Vec::with_capacity(ONE_SIDED_DEVICES);
        for _ in 0..ONE_SIDED_DEVICES {
            weights.push(zeros(shape.len(), "one-sided unit cell weights")?);
        }
        Ok(Some(Self::assemble(
            layers,
            weights,
            OneSidedCounters::default(),
        )?))
    }

    fn assemble(
        layers: Vec<DeviceLayer>,
        weights: Vec<Vec<f32>>,
        counters: OneSidedCounters,
    ) -> Result<Self> {
        let single = |layer| DeviceState {
            cell: UnitCell::Single(layer),
            programs: 0,
            resets: 0,
        };
        let arrays: Vec<DeviceState> = layers.into_iter().map(single).collect();
        let wrong = |what: &str| Error::State(format!("a one-sided unit cell needs two {what}"));
        Ok(OneSidedCell {
            arrays: arrays.try_into().map_err(|_| wrong("device layers"))?,
            weights: weights.try_into().map_err(|_| wrong("weight arrays"))?,
            counters,
        })
    }

    /// The pulsed layers of devices 0 and 1.
    pub(crate) fn layers(&self) -> Vec<&DeviceLayer> {
        self.arrays.iter().flat_map(DeviceState::layers).collect()
    }

    /// The layer of device `k` and its weights.
    pub(crate) fn layer_mut(&mut self, k: usize) -> Option<(&mut DeviceLayer, &mut Vec<f32>)> {
        match &mut self.arrays[k].cell {
            UnitCell::Single(layer) => Some((layer, &mut self.weights[k])),
            _ => None,
        }
    }

    /// The weight of every cross-point, `out[k] = w_1[k] - w_0[k]`.
    pub fn reduce(&self, out: &mut [f32]) {
        let [minus, plus] = &self.weights;
        for (k, o) in out.iter_mut().enumerate() {
            *o = saturate(plus[k] - minus[k]);
        }
    }

    /// Programs the weights `w` as aihwkit's `onSetWeights`: device 1 takes the positive part
    /// `max(w, 0)`, device 0 the negative part `max(-w, 0)`, each clipped to its bounds (device
    /// `k` draws write noise from rows `[i, k, 0]` of `stream`); the counters of samples and
    /// refreshed devices start again. Then `out` is set to the cross-points' weights.
    pub(crate) fn program(&mut self, out: &mut [f32], w: &[f32], in_size: usize, stream: &Stream) {
        let targets = [
            w.iter()
                .map(|&v| if v < 0.0 { -v } else { 0.0 })
                .collect::<Vec<f32>>(),
            w.iter().map(|&v| if v > 0.0 { v } else { 0.0 }).collect(),
        ];
        for (k, target) in targets.iter().enumerate() {
            if let Some((layer, weights)) = self.layer_mut(k) {
                layer.program(weights, target, in_size, stream, k as u32);
            }
        }
        self.counters.samples = 0;
        self.counters.refreshed = 0;
        self.reduce(out);
    }

    /// Diffusion, then decay, of both devices after the tile's update call `call` (as
    /// aihwkit's `post_update_step`, once per update of the tile; device `k` draws from rows
    /// `[i, k, 0]`), then the weights read `weights` brought up to date.
    pub(crate) fn diffuse_and_decay(
        &mut self,
        weights: &mut [f32],
        in_size: usize,
        seed: u64,
        call: u64,
    ) {
        if !self.layers().iter().any(|l| l.effects.after_update()) {
            return;
        }
        let streams = AfterUpdate::new(seed, call);
        for k in 0..ONE_SIDED_DEVICES {
            if let Some((layer, w)) = self.layer_mut(k) {
                layer.diffuse_and_decay(w, in_size, &streams, k as u32);
            }
        }
        self.reduce(weights);
    }

    /// Arrays to save: each device's weights and drawn and hidden arrays, prefixed `{k}.`
    /// (as a unit cell's).
    pub(crate) fn named(&self) -> Vec<(String, &[f32])> {
        let mut v = Vec::new();
        for (k, (array, weights)) in self.arrays.iter().zip(&self.weights).enumerate() {
            v.push((format!("{k}.weights"), weights.as_slice()));
            for (name, a) in array.named_arrays() {
                v.push((format!("{k}.{name}"), a));
            }
        }
        v
    }

    /// Rebuilds the cells of `p` from saved arrays and counters.
    pub(crate) fn from_named(
        p: &OneSidedUnitCellParameters,
        arrays: &mut NamedArrays,
        n: usize,
        counters: OneSidedCounters,
    ) -> Result<Self> {
        let mut layers = Vec::with_capacity(ONE_SIDED_DEVICES);
        let mut weights = Vec::with_capacity(ONE_SIDED_DEVICES);
        for k in 0..ONE_SIDED_DEVICES {
            arrays.prefix = format!("{k}.");
            weights.push(arrays.take("weights", n)?);
            let layer = DeviceLayer::from_named(p.device(), arrays, n)?.ok_or_else(|| {
                Error::State(format!("one-sided unit cell device {k} is not pulsed"))
            })?;
            layers.push(layer);
        }
        arrays.prefix.clear();
        if counters.refreshed > counters.samples.saturating_mul(n as u64) {
            return Err(Error::State(format!(
                "device_counters.one_sided.refreshed: {} devices refreshed in {} samples of \
                 {n} cross-points (at most one per cross-point and sample)",
                counters.refreshed, counters.samples
            )));
        }
        Self::assemble(layers, weights, counters)
    }
}
