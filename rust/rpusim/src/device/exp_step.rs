//! The exponential-step device (MODEL.md §5, aihwkit's `ExpStepDevice`, a fit of ReRAM and
//! CMOS-like responses):
//!
//! ```text
//! z    = 2 a w / (b_max - b_min) + b
//! up:   dw_up   * max(1 - A_up   exp( gamma_up   z), 0)
//! down: dw_down * max(1 - A_down exp(-gamma_down z), 0)
//! ```
//!
//! `a`, `b`, `A_*`, `gamma_*` are the same for every device (no device-to-device spread). The
//! cycle-to-cycle noise multiplies the step, unless `dw_min_std_add` or `dw_min_std_slope` is
//! set: then (aihwkit's "complex noise") a pulse adds
//! `dw_min_std (|dw| + dw_min_std_add + dw_min_std_slope |w|) N(0, 1)` to the mean step `dw`.

use serde::{Deserialize, Serialize};

use super::pulsed::{up_down_biases, DeviceArrays, PulsedParameters, Shape, WriteNoiseParameters};
use super::{math, move_by, NamedArrays, PulsedDevice};
use crate::alloc::collect;
use crate::error::Result;
use crate::numeric::check_finite;

/// Configuration of the exponential-step device; defaults are aihwkit's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExpStepParameters {
    /// The parameters every pulsed model shares (flattened into the JSON object).
    #[serde(flatten)]
    pub pulsed: PulsedParameters,
    /// The write noise (flattened into the JSON object).
    #[serde(flatten)]
    pub write_noise: WriteNoiseParameters,
    /// Factor `A` of the up direction.
    #[serde(rename = "A_up")]
    pub a_up: f64,
    /// Factor `A` of the down direction.
    #[serde(rename = "A_down")]
    pub a_down: f64,
    /// Exponent of the up direction.
    pub gamma_up: f64,
    /// Exponent of the down direction.
    pub gamma_down: f64,
    /// Global slope `a` of `z`.
    pub a: f64,
    /// Global offset `b` of `z`.
    pub b: f64,
    /// Additive part of the cycle-to-cycle noise (weight units, times `dw_min_std`).
    pub dw_min_std_add: f64,
    /// Part of the cycle-to-cycle noise proportional to `|w|` (times `dw_min_std`).
    pub dw_min_std_slope: f64,
}

impl Default for ExpStepParameters {
    fn default() -> Self {
        ExpStepParameters {
            pulsed: PulsedParameters::default(),
            write_noise: WriteNoiseParameters::default(),
            a_up: 0.00081,
            a_down: 0.36833,
            gamma_up: 12.44625,
            gamma_down: 12.78785,
            a: 0.244,
            b: 0.2425,
            dw_min_std_add: 0.0,
            dw_min_std_slope: 0.0,
        }
    }
}

impl ExpStepParameters {
    pub(crate) fn validate(&self, prefix: &str) -> Result<()> {
        self.pulsed.validate(prefix)?;
        self.write_noise.validate(prefix)?;
        for (name, v) in [
            ("A_up", self.a_up),
            ("A_down", self.a_down),
            ("gamma_up", self.gamma_up),
            ("gamma_down", self.gamma_down),
            ("a", self.a),
            ("b", self.b),
            ("dw_min_std_add", self.dw_min_std_add),
            ("dw_min_std_slope", self.dw_min_std_slope),
        ] {
            check_finite(format!("{prefix}.{name}"), v, false)?;
        }
        Ok(())
    }

    /// The step update management plans with, aihwkit's weight granularity of the model
    /// (`calcWeightGranularity` in `rpu_expstep_device.h`): the down step of the mean device at
    /// `w = 0`, `(1 + down_bias) dw_min max(1 - A_down exp(-gamma_down b), 0)` with the bias of
    /// `up_down` (aihwkit averages this down step with itself; the up step does not enter), or
    /// `dw_min` when that is not positive.
    pub(crate) fn granularity(&self) -> f64 {
        let dw_min = self.pulsed.dw_min;
        let (_, down_bias) = up_down_biases(self.pulsed.up_down);
        let y = (1.0 - self.a_down * (-self.gamma_down * self.b).exp()).max(0.0);
        let g = (1.0 + down_bias) * dw_min * y;
        // `g > 0` is false for NaN too (an infinite exponential times a zero factor).
        if g > 0.0 && g.is_finite() {
            g
        } else {
            dw_min
        }
    }
}

/// Drawn exponential-step devices of one tile.
///
/// The exponentials are evaluated as `2^(c w + g)`: `c_up = gamma_up z_scale log2(e)` per
/// device with `z_scale = 2 a / (b_max - b_min)` (0 for a device without range), and
/// `g_up = gamma_up b log2(e)` for all (`c_down`, `g_down` with `-gamma_down`).
#[derive(Debug, Clone, PartialEq)]
pub struct ExpStep {
    /// The drawn bounds and steps.
    pub arrays: DeviceArrays,
    /// Derived from the bounds, not saved.
    pub c_up: Vec<f32>,
    /// Derived from the bounds, not saved.
    pub c_down: Vec<f32>,
    /// `gamma_up b log2(e)`, the same for every device.
    pub g_up: f32,
    /// `-gamma_down b log2(e)`, the same for every device.
    pub g_down: f32,
    /// `A_up`.
    pub a_up: f32,
    /// `A_down`.
    pub a_down: f32,
    /// Relative cycle-to-cycle spread of a pulse (`dw_min_std`).
    pub dw_min_std: f32,
    /// `dw_min_std_add`: the constant part of the complex noise's spread.
    pub std_add: f32,
    /// `dw_min_std_slope`: the part of the complex noise's spread proportional to `|w|`.
    pub std_slope: f32,
    /// Whether the noise is aihwkit's "complex noise" (`std_add` or `std_slope` set).
    pub complex_noise: bool,
}

impl ExpStep {
    pub(crate) fn populate(p: &ExpStepParameters, shape: Shape) -> Result<Self> {
        Self::with_arrays(p, DeviceArrays::populate(&p.pulsed, shape)?)
    }

    fn with_arrays(p: &ExpStepParameters, arrays: DeviceArrays) -> Result<Self> {
        let log2_e = std::f64::consts::LOG2_E;
        let n = arrays.b_min.len();
        let z_scale: Vec<f64> = collect(
            n,
            arrays.b_min.iter().zip(&arrays.b_max).map(|(&lo, &hi)| {
                let range = f64::from(hi) - f64::from(lo);
                if range > 0.0 {
                    2.0 * p.a / range
                } else {
                    0.0
                }
            }),
            "device arrays",
        )?;
        let scaled = |gamma: f64| -> Result<Vec<f32>> {
            collect(
                n,
                z_scale.iter().map(|z| (gamma * z * log2_e) as f32),
                "device arrays",
            )
        };
        let std = p.pulsed.dw_min_std;
        Ok(ExpStep {
            c_up: scaled(p.gamma_up)?,
            c_down: scaled(-p.gamma_down)?,
            g_up: (p.gamma_up * p.b * log2_e) as f32,
            g_down: (-p.gamma_down * p.b * log2_e) as f32,
            arrays,
            a_up: p.a_up as f32,
            a_down: p.a_down as f32,
            dw_min_std: std as f32,
            std_add: p.dw_min_std_add as f32,
            std_slope: p.dw_min_std_slope as f32,
            complex_noise: std > 0.0 && (p.dw_min_std_add != 0.0 || p.dw_min_std_slope != 0.0),
        })
    }

    pub(crate) fn named(&self) -> Vec<(&'static str, &[f32])> {
        self.arrays.named()
    }

    pub(crate) fn from_named(
        p: &ExpStepParameters,
        arrays: &mut NamedArrays,
        n: usize,
    ) -> Result<Self> {
        Self::with_arrays(p, DeviceArrays::from_named(arrays, n)?)
    }
}

impl PulsedDevice for ExpStep {
    /// `c_up`, `c_down`.
    const DERIVED_ARRAYS: usize = 2;

    #[inline]
    fn arrays(&self) -> &DeviceArrays {
        &self.arrays
    }

    #[inline]
    fn c2c_std(&self) -> f32 {
        self.dw_min_std
    }

    #[inline(always)]
    fn step(&self, k: usize, w: f32, up: bool) -> f32 {
        if up {
            let y = 1.0 - self.a_up * math::exp2(self.c_up[k] * w + self.g_up);
            self.arrays.dw_up[k] * y.max(0.0)
        } else {
            let y = 1.0 - self.a_down * math::exp2(self.c_down[k] * w + self.g_down);
            self.arrays.dw_down[k] * y.max(0.0)
        }
    }

    #[inline(always)]
    fn pulse(&self, k: usize, w: f32, up: bool, xi: f32) -> f32 {
        let dw = self.step(k, w, up);
        if self.complex_noise {
            let std = self.dw_min_std * (dw + self.std_add + self.std_slope * w.abs());
            move_by(w, dw, up) + std * xi
        } else {
            move_by(w, dw * (1.0 + self.dw_min_std * xi), up)
        }
    }
}

impl super::PulsedModel for ExpStepParameters {
    type Drawn = ExpStep;

    fn validate(&self, prefix: &str) -> Result<()> {
        ExpStepParameters::validate(self, prefix)
    }

    fn pulsed(&self) -> &PulsedParameters {
        &self.pulsed
    }

    fn write_noise(&self) -> Option<&WriteNoiseParameters> {
        Some(&self.write_noise)
    }

    fn granularity(&self) -> f64 {
        ExpStepParameters::granularity(self)
    }

    fn populate(&self, shape: Shape) -> Result<ExpStep> {
        ExpStep::populate(self, shape)
    }

    fn restore(&self, arrays: &mut NamedArrays, n: usize) -> Result<ExpStep> {
        ExpStep::from_named(self, arrays, n)
    }
}
