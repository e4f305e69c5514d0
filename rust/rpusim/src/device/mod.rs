//! Device models (MODEL.md §5): the parameters every device draws once (device-to-device
//! variation) and the response of one device to one pulse (cycle-to-cycle variation).
//!
//! A model is two things: a configuration (serde, aihwkit's field names) and a set of per-device
//! arrays drawn from it. The update kernels only see the [`PulsedDevice`] trait.

mod constant_step;

pub use constant_step::ConstantStep;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::rng::{normals_of_block, Normal, Op, Purpose, Sequence, Stream};

/// Parameters common to all pulsed devices. Defaults are aihwkit's generic `PulsedDevice`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PulsedParameters {
    /// Mean weight change of one pulse.
    pub dw_min: f64,
    /// Device-to-device spread of the step, relative to `dw_min`.
    pub dw_min_dtod: f64,
    /// Cycle-to-cycle spread of every single pulse, relative to the step.
    pub dw_min_std: f64,
    /// Global asymmetry between up and down steps.
    pub up_down: f64,
    /// Device-to-device spread of the asymmetry.
    pub up_down_dtod: f64,
    /// Upper weight bound (mean over devices).
    pub w_max: f64,
    /// Lower weight bound (mean over devices).
    pub w_min: f64,
    /// Device-to-device spread of the upper bound, relative to `w_max`.
    pub w_max_dtod: f64,
    /// Device-to-device spread of the lower bound, relative to `w_min`.
    pub w_min_dtod: f64,
}

impl Default for PulsedParameters {
    fn default() -> Self {
        PulsedParameters {
            dw_min: 0.001,
            dw_min_dtod: 0.3,
            dw_min_std: 0.3,
            up_down: 0.0,
            up_down_dtod: 0.01,
            w_max: 0.6,
            w_min: -0.6,
            w_max_dtod: 0.3,
            w_min_dtod: 0.3,
        }
    }
}

impl PulsedParameters {
    pub(crate) fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("dw_min_dtod", self.dw_min_dtod),
            ("dw_min_std", self.dw_min_std),
            ("up_down_dtod", self.up_down_dtod),
            ("w_max_dtod", self.w_max_dtod),
            ("w_min_dtod", self.w_min_dtod),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::invalid(
                    format!("device.{name}"),
                    format!("must be finite and >= 0, got {v}"),
                ));
            }
        }
        if !(self.dw_min.is_finite() && self.dw_min > 0.0) {
            return Err(Error::invalid(
                "device.dw_min",
                format!("must be finite and > 0, got {}", self.dw_min),
            ));
        }
        if !self.up_down.is_finite() {
            return Err(Error::invalid("device.up_down", "must be finite"));
        }
        if !(self.w_min.is_finite()
            && self.w_max.is_finite()
            && self.w_min <= 0.0
            && self.w_max >= 0.0)
        {
            return Err(Error::invalid(
                "device.w_min/w_max",
                format!(
                    "[w_min, w_max] must be finite and contain 0, got [{}, {}]",
                    self.w_min, self.w_max
                ),
            ));
        }
        Ok(())
    }

    /// Draws the per-device bounds and steps (MODEL.md §5) for device `(i, j)`.
    ///
    /// Normals 0..4 of the device's d2d sequence are xi1..xi4; models with more parameters take
    /// the following ones.
    fn draw(&self, xi: &[f32; 4]) -> DrawnDevice {
        let mut b_max = (self.w_max * (1.0 + self.w_max_dtod * f64::from(xi[0]))) as f32;
        let mut b_min = (self.w_min * (1.0 + self.w_min_dtod * f64::from(xi[1]))) as f32;
        // As aihwkit's `enforce_consistency`: keep 0 inside the bounds.
        if b_min > b_max {
            std::mem::swap(&mut b_min, &mut b_max);
        }
        let gain = 1.0 + self.dw_min_dtod * f64::from(xi[2]);
        let r = self.up_down_dtod * f64::from(xi[3]);
        let up_bias = self.up_down.min(0.0);
        let down_bias = -self.up_down.max(0.0);
        DrawnDevice {
            b_max: b_max.abs(),
            b_min: -b_min.abs(),
            dw_up: ((up_bias + gain + r) * self.dw_min).abs() as f32,
            dw_down: ((down_bias + gain - r) * self.dw_min).abs() as f32,
        }
    }
}

struct DrawnDevice {
    b_max: f32,
    b_min: f32,
    dw_up: f32,
    dw_down: f32,
}

/// The ideal device: the exact float update, no bounds, no pulses (aihwkit's `IdealDevice`).
/// With perfect forward and backward passes a tile computes in plain float32 arithmetic.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdealParameters {}

/// The device model of a tile, by name (`{"type": "ConstantStep", ...}` in JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum DeviceConfig {
    ConstantStep(PulsedParameters),
    #[serde(rename = "IdealDevice")]
    Ideal(IdealParameters),
}

impl Default for DeviceConfig {
    fn default() -> Self {
        DeviceConfig::ConstantStep(PulsedParameters::default())
    }
}

impl DeviceConfig {
    pub(crate) fn validate(&self) -> Result<()> {
        match self.pulsed() {
            Some(p) => p.validate(),
            None => Ok(()),
        }
    }

    /// The parameters of a pulsed device (`None` for the ideal device); update management plans
    /// with their nominal step `dw_min`.
    pub fn pulsed(&self) -> Option<&PulsedParameters> {
        match self {
            DeviceConfig::ConstantStep(p) => Some(p),
            DeviceConfig::Ideal(_) => None,
        }
    }

    /// Whether `other` describes the same drawn devices (only then can a running tile switch).
    pub fn same_devices(&self, other: &DeviceConfig) -> bool {
        self == other
    }

    /// Draws the per-device arrays of an `out_size x in_size` tile from `seed`.
    pub(crate) fn populate(&self, out_size: usize, in_size: usize, seed: u64) -> DeviceState {
        match self {
            DeviceConfig::ConstantStep(p) => {
                DeviceState::ConstantStep(ConstantStep::populate(p, out_size, in_size, seed))
            }
            DeviceConfig::Ideal(_) => DeviceState::Ideal,
        }
    }
}

/// Per-device bounds and step sizes drawn once; row-major like the weights.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceArrays {
    pub b_min: Vec<f32>,
    pub b_max: Vec<f32>,
    pub dw_up: Vec<f32>,
    pub dw_down: Vec<f32>,
}

impl DeviceArrays {
    /// Draws the common arrays for all devices, in parallel over rows; each device reads its own
    /// address `(i, j)` of the d2d stream, so the result does not depend on the split.
    fn populate(p: &PulsedParameters, out_size: usize, in_size: usize, seed: u64) -> Self {
        let stream = Stream::new(seed, Op::Init, Purpose::DeviceToDevice, 0);
        let mut drawn = vec![[0.0f32; 4]; out_size * in_size];
        let work = 64 * drawn.len();
        crate::threads::for_each_chunk(&mut drawn, in_size, work, |i, row| {
            for (j, d) in row.iter_mut().enumerate() {
                let xi = normals_of_block(stream.block([i as u32, j as u32, 0], 0));
                let dev = p.draw(&xi);
                *d = [dev.b_min, dev.b_max, dev.dw_up, dev.dw_down];
            }
        });
        let column = |c: usize| drawn.iter().map(|d| d[c]).collect::<Vec<f32>>();
        DeviceArrays {
            b_min: column(0),
            b_max: column(1),
            dw_up: column(2),
            dw_down: column(3),
        }
    }

    fn named(&self) -> Vec<(&'static str, &[f32])> {
        vec![
            ("b_min", &self.b_min),
            ("b_max", &self.b_max),
            ("dw_up", &self.dw_up),
            ("dw_down", &self.dw_down),
        ]
    }

    fn from_named(mut arrays: NamedArrays, n: usize) -> Result<Self> {
        Ok(DeviceArrays {
            b_min: arrays.take("b_min", n)?,
            b_max: arrays.take("b_max", n)?,
            dw_up: arrays.take("dw_up", n)?,
            dw_down: arrays.take("dw_down", n)?,
        })
    }
}

/// The drawn devices of a tile.
#[derive(Debug, Clone, PartialEq)]
pub enum DeviceState {
    ConstantStep(ConstantStep),
    /// Nothing to draw: no bounds, no steps.
    Ideal,
}

impl DeviceState {
    /// The per-device bounds and steps (`None` for the ideal device).
    pub fn arrays(&self) -> Option<&DeviceArrays> {
        match self {
            DeviceState::ConstantStep(d) => Some(&d.arrays),
            DeviceState::Ideal => None,
        }
    }

    /// `w` clipped to the bounds of device `k`, as programming it would.
    #[inline]
    pub fn clip(&self, k: usize, w: f32) -> f32 {
        match self.arrays() {
            Some(a) => w.max(a.b_min[k]).min(a.b_max[k]),
            None => w,
        }
    }

    /// The arrays to save, by name.
    pub(crate) fn named_arrays(&self) -> Vec<(&'static str, &[f32])> {
        self.arrays().map(DeviceArrays::named).unwrap_or_default()
    }

    /// Rebuilds the state of `config` from saved arrays.
    pub(crate) fn from_named_arrays(
        config: &DeviceConfig,
        arrays: NamedArrays,
        n: usize,
    ) -> Result<Self> {
        match config {
            DeviceConfig::ConstantStep(p) => Ok(DeviceState::ConstantStep(ConstantStep {
                arrays: DeviceArrays::from_named(arrays, n)?,
                dw_min_std: p.dw_min_std as f32,
            })),
            DeviceConfig::Ideal(_) => Ok(DeviceState::Ideal),
        }
    }
}

/// Saved arrays by name, taken out one by one when a state is restored.
#[derive(Debug, Default)]
pub(crate) struct NamedArrays(pub Vec<(String, Vec<f32>)>);

impl NamedArrays {
    pub(crate) fn take(&mut self, name: &str, n: usize) -> Result<Vec<f32>> {
        let pos = self
            .0
            .iter()
            .position(|(k, _)| k == name)
            .ok_or_else(|| Error::State(format!("device array {name} is missing")))?;
        let (_, v) = self.0.swap_remove(pos);
        if v.len() != n {
            return Err(Error::State(format!(
                "device array {name} has {} values, expected {n}",
                v.len()
            )));
        }
        Ok(v)
    }
}

/// What the update kernels need of a device model: the step of one pulse.
pub trait PulsedDevice: Sync {
    /// The per-device bounds and steps.
    fn arrays(&self) -> &DeviceArrays;

    /// Relative cycle-to-cycle spread of a pulse (`dw_min_std`).
    fn c2c_std(&self) -> f32;

    /// Mean change of weight `w` of device `k` by one pulse, as a magnitude.
    fn step(&self, k: usize, w: f32, up: bool) -> f32;

    /// Applies `n` pulses in direction `up` to weight `w` of device `k`, one after the other:
    /// each moves the weight by its step times `1 + c2c_std * N(0, 1)`, the normal drawn from
    /// `noise` (the sequence of the device's row in this sample), then clips it to the device's
    /// bounds. Without cycle-to-cycle noise nothing is drawn.
    #[inline(always)]
    fn apply_pulses(
        &self,
        k: usize,
        mut w: f32,
        n: u32,
        up: bool,
        noise: &mut Sequence<'_, Normal>,
    ) -> f32 {
        let arrays = self.arrays();
        let (lo, hi) = (arrays.b_min[k], arrays.b_max[k]);
        let std = self.c2c_std();
        let sign = if up { 1.0 } else { -1.0 };
        for _ in 0..n {
            let factor = if std > 0.0 {
                1.0 + std * noise.draw()
            } else {
                1.0
            };
            w += sign * self.step(k, w, up) * factor;
            // max/min rather than clamp: never panics, whatever bounds a loaded state holds.
            w = w.max(lo).min(hi);
        }
        w
    }
}
