//! The power-step device (MODEL.md §5, aihwkit's `PowStepDevice`, after Fusi & Abbott 2007):
//! with `omega = (b_max - w) / (b_max - b_min)` the distance to the upper bound,
//!
//! ```text
//! up:   dw_up   * omega^gamma_up
//! down: dw_down * (1 - omega)^gamma_down
//! ```
//!
//! The exponents vary from device to device like the steps do (aihwkit's definition):
//! `gamma_up = |(up_bias + gain + r) pow_gamma|`, `gamma_down = |(down_bias + gain - r) pow_gamma|`
//! with `gain = 1 + pow_gamma_dtod xi5`, `r = pow_up_down_dtod xi6`, and the biases of
//! `pow_up_down` as for `up_down` (a positive value lowers the down exponent).

use serde::{Deserialize, Serialize};

use super::pulsed::{
    draw_devices, up_down_biases, DeviceArrays, PulsedParameters, Shape, WriteNoiseParameters,
};
use super::{math, NamedArrays, PulsedDevice};
use crate::alloc::collect;
use crate::error::Result;
use crate::numeric::check_finite;

/// Configuration of the power-step device; defaults are aihwkit's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PowStepParameters {
    /// The parameters every pulsed model shares (flattened into the JSON object).
    #[serde(flatten)]
    pub pulsed: PulsedParameters,
    /// The write noise (flattened into the JSON object).
    #[serde(flatten)]
    pub write_noise: WriteNoiseParameters,
    /// Mean exponent.
    pub pow_gamma: f64,
    /// Device-to-device spread of the exponent, relative to `pow_gamma`.
    pub pow_gamma_dtod: f64,
    /// Up/down asymmetry of the exponent, relative to `pow_gamma`.
    pub pow_up_down: f64,
    /// Device-to-device spread of the asymmetry, relative to `pow_gamma`.
    pub pow_up_down_dtod: f64,
}

impl Default for PowStepParameters {
    fn default() -> Self {
        PowStepParameters {
            pulsed: PulsedParameters::default(),
            write_noise: WriteNoiseParameters::default(),
            pow_gamma: 1.0,
            pow_gamma_dtod: 0.1,
            pow_up_down: 0.0,
            pow_up_down_dtod: 0.0,
        }
    }
}

impl PowStepParameters {
    pub(crate) fn validate(&self, prefix: &str) -> Result<()> {
        self.pulsed.validate(prefix)?;
        self.write_noise.validate(prefix)?;
        check_finite(format!("{prefix}.pow_gamma"), self.pow_gamma, false)?;
        check_finite(format!("{prefix}.pow_up_down"), self.pow_up_down, false)?;
        check_finite(
            format!("{prefix}.pow_gamma_dtod"),
            self.pow_gamma_dtod,
            true,
        )?;
        check_finite(
            format!("{prefix}.pow_up_down_dtod"),
            self.pow_up_down_dtod,
            true,
        )
    }

    /// The step update management plans with, aihwkit's weight granularity of the model
    /// (`calcWeightGranularity` in `rpu_powstep_device.h`): `dw_min 0.5^pow_gamma`, the step of
    /// the mean device in the middle of its range (`omega = 1/2`), or `dw_min` when that is not
    /// a positive finite number.
    pub(crate) fn granularity(&self) -> f64 {
        let g = self.pulsed.dw_min * 0.5f64.powf(self.pow_gamma);
        if g > 0.0 && g.is_finite() {
            g
        } else {
            self.pulsed.dw_min
        }
    }

    /// The exponents of a device from its extra normals `xi5`, `xi6`.
    fn exponents(&self, xi: &[f32; 4]) -> [f32; 2] {
        let gain = 1.0 + self.pow_gamma_dtod * f64::from(xi[0]);
        let r = self.pow_up_down_dtod * f64::from(xi[1]);
        let (up_bias, down_bias) = up_down_biases(self.pow_up_down);
        [
            ((up_bias + gain + r) * self.pow_gamma).abs() as f32,
            ((down_bias + gain - r) * self.pow_gamma).abs() as f32,
        ]
    }
}

/// Drawn power-step devices of one tile.
#[derive(Debug, Clone, PartialEq)]
pub struct PowStep {
    /// The drawn bounds and steps.
    pub arrays: DeviceArrays,
    /// The drawn exponent of the up step, per device.
    pub gamma_up: Vec<f32>,
    /// The drawn exponent of the down step, per device.
    pub gamma_down: Vec<f32>,
    /// `1 / (b_max - b_min)` per device (0 for a device without range), derived, not saved.
    pub inv_range: Vec<f32>,
    /// Relative cycle-to-cycle spread of a pulse (`dw_min_std`).
    pub dw_min_std: f32,
}

impl PowStep {
    pub(crate) fn populate(p: &PowStepParameters, shape: Shape) -> Result<Self> {
        let [b_min, b_max, dw_up, dw_down, gamma_up, gamma_down] =
            draw_devices(shape, true, |xi, extra| {
                let d = p.pulsed.draw(xi);
                let [gu, gd] = p.exponents(extra);
                [d.b_min, d.b_max, d.dw_up, d.dw_down, gu, gd]
            })?;
        let arrays = DeviceArrays {
            b_min,
            b_max,
            dw_up,
            dw_down,
        };
        Self::with_arrays(p, arrays, gamma_up, gamma_down)
    }

    fn with_arrays(
        p: &PowStepParameters,
        arrays: DeviceArrays,
        gamma_up: Vec<f32>,
        gamma_down: Vec<f32>,
    ) -> Result<Self> {
        let inv_range = collect(
            arrays.b_min.len(),
            arrays
                .b_min
                .iter()
                .zip(&arrays.b_max)
                .map(|(&lo, &hi)| if hi > lo { 1.0 / (hi - lo) } else { 0.0 }),
            "device arrays",
        )?;
        Ok(PowStep {
            arrays,
            gamma_up,
            gamma_down,
            inv_range,
            dw_min_std: p.pulsed.dw_min_std as f32,
        })
    }

    pub(crate) fn named(&self) -> Vec<(&'static str, &[f32])> {
        let mut v = self.arrays.named();
        v.push(("gamma_up", &self.gamma_up));
        v.push(("gamma_down", &self.gamma_down));
        v
    }

    pub(crate) fn from_named(
        p: &PowStepParameters,
        arrays: &mut NamedArrays,
        n: usize,
    ) -> Result<Self> {
        let device_arrays = DeviceArrays::from_named(arrays, n)?;
        // The exponents are drawn as magnitudes.
        let gamma_up = arrays.take_within("gamma_up", n, |g| g >= 0.0, ">= 0")?;
        let gamma_down = arrays.take_within("gamma_down", n, |g| g >= 0.0, ">= 0")?;
        Self::with_arrays(p, device_arrays, gamma_up, gamma_down)
    }
}

impl PulsedDevice for PowStep {
    /// `inv_range`.
    const DERIVED_ARRAYS: usize = 1;

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
        let a = &self.arrays;
        // A weight outside the bounds gives a negative (or NaN) base: `pow` counts it as 0.
        if up {
            let omega = (a.b_max[k] - w) * self.inv_range[k];
            a.dw_up[k] * math::pow(omega, self.gamma_up[k])
        } else {
            let omega = (w - a.b_min[k]) * self.inv_range[k];
            a.dw_down[k] * math::pow(omega, self.gamma_down[k])
        }
    }
}

impl super::PulsedModel for PowStepParameters {
    type Drawn = PowStep;

    fn validate(&self, prefix: &str) -> Result<()> {
        PowStepParameters::validate(self, prefix)
    }

    fn pulsed(&self) -> &PulsedParameters {
        &self.pulsed
    }

    fn write_noise(&self) -> Option<&WriteNoiseParameters> {
        Some(&self.write_noise)
    }

    fn granularity(&self) -> f64 {
        PowStepParameters::granularity(self)
    }

    fn populate(&self, shape: Shape) -> Result<PowStep> {
        PowStep::populate(self, shape)
    }

    fn restore(&self, arrays: &mut NamedArrays, n: usize) -> Result<PowStep> {
        PowStep::from_named(self, arrays, n)
    }
}
