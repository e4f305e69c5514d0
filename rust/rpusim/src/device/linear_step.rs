//! The linear-step device (MODEL.md §5, aihwkit's `LinearStepDevice`): the step shrinks (or
//! grows) linearly with the weight,
//!
//! ```text
//! up:   w += (dw_up   + slope_up   * w) * s        slope_up   = -|gamma_up   + gamma_up_dtod   xi5| dw_up   / w_max
//! down: w -= (dw_down + slope_down * w) * s        slope_down = -|gamma_down + gamma_down_dtod xi6| dw_down / w_min
//! ```
//!
//! that is `dw_up (1 - gamma_up w / w_max)` and `dw_down (1 - gamma_down w / w_min)`, with
//! `s = 1 + dw_min_std N(0, 1)` (`mult_noise`) or the noise on the constant part only
//! (`w += slope w + dw (1 + dw_min_std N(0, 1))`, additive noise). The reference bound is the
//! mean bound (`mean_bound_reference`) or the device's own; `reverse_up` / `reverse_down` take
//! the opposite bound (minus / plus `reverse_offset`) so that the step grows towards the bound.

use serde::{Deserialize, Serialize};

use super::pulsed::{draw_devices, DeviceArrays, PulsedParameters, Shape, WriteNoiseParameters};
use super::{move_by, NamedArrays, PulsedDevice};
use crate::error::{Error, Result};
use crate::numeric::check_finite;

/// Configuration of the linear-step device; defaults are aihwkit's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinearStepParameters {
    /// The parameters every pulsed model shares (flattened into the JSON object).
    #[serde(flatten)]
    pub pulsed: PulsedParameters,
    /// The write noise (flattened into the JSON object).
    #[serde(flatten)]
    pub write_noise: WriteNoiseParameters,
    /// Relative decrease of the up step at the upper reference bound.
    pub gamma_up: f64,
    /// Relative decrease of the down step at the lower reference bound.
    pub gamma_down: f64,
    /// Device-to-device spread (absolute) of `gamma_up`.
    pub gamma_up_dtod: f64,
    /// Device-to-device spread (absolute) of `gamma_down`.
    pub gamma_down_dtod: f64,
    /// Keep the sign of a drawn gamma (steps may then grow towards the bounds); otherwise its
    /// absolute value is used.
    pub allow_increasing: bool,
    /// Slopes refer to the mean bounds `w_max`, `w_min` rather than the device's own.
    pub mean_bound_reference: bool,
    /// Cycle-to-cycle noise multiplies the whole step (else only its constant part).
    pub mult_noise: bool,
    /// The up step grows with the weight (reference bound `w_min - reverse_offset`).
    pub reverse_up: bool,
    /// The down step grows as the weight falls (reference bound `w_max + reverse_offset`).
    pub reverse_down: bool,
    /// Offset of the reference bound of `reverse_up` / `reverse_down`.
    pub reverse_offset: f64,
}

impl Default for LinearStepParameters {
    fn default() -> Self {
        LinearStepParameters {
            pulsed: PulsedParameters::default(),
            write_noise: WriteNoiseParameters::default(),
            gamma_up: 0.0,
            gamma_down: 0.0,
            gamma_up_dtod: 0.05,
            gamma_down_dtod: 0.05,
            allow_increasing: false,
            mean_bound_reference: true,
            mult_noise: true,
            reverse_up: false,
            reverse_down: false,
            reverse_offset: 0.01,
        }
    }
}

impl LinearStepParameters {
    pub(crate) fn validate(&self, prefix: &str) -> Result<()> {
        self.pulsed.validate(prefix)?;
        self.write_noise.validate(prefix)?;
        for (name, v) in [("gamma_up", self.gamma_up), ("gamma_down", self.gamma_down)] {
            check_finite(format!("{prefix}.{name}"), v, false)?;
        }
        for (name, v) in [
            ("gamma_up_dtod", self.gamma_up_dtod),
            ("gamma_down_dtod", self.gamma_down_dtod),
            ("reverse_offset", self.reverse_offset),
        ] {
            check_finite(format!("{prefix}.{name}"), v, true)?;
        }
        if (self.reverse_up || self.reverse_down) && !self.mult_noise {
            return Err(Error::invalid(
                format!("{prefix}.mult_noise"),
                "must be true when reverse_up or reverse_down is set (as in aihwkit)",
            ));
        }
        Ok(())
    }

    /// The slopes of a device with bounds `b_min`, `b_max` and steps `dw_up`, `dw_down`, from
    /// its extra normals `xi5`, `xi6`.
    fn slopes(&self, b_min: f32, b_max: f32, dw_up: f32, dw_down: f32, xi: &[f32; 4]) -> [f32; 2] {
        let p = &self.pulsed;
        let mut g_up = self.gamma_up + self.gamma_up_dtod * f64::from(xi[0]);
        let mut g_down = self.gamma_down + self.gamma_down_dtod * f64::from(xi[1]);
        if !self.allow_increasing {
            g_up = g_up.abs();
            g_down = g_down.abs();
        }
        let (max, min) = if self.mean_bound_reference {
            (p.w_max, p.w_min)
        } else {
            (f64::from(b_max), f64::from(b_min))
        };
        let ref_up = if self.reverse_up {
            min - self.reverse_offset
        } else {
            max
        };
        let ref_down = if self.reverse_down {
            max + self.reverse_offset
        } else {
            min
        };
        let slope = |g: f64, dw: f32, reference: f64| {
            if reference == 0.0 {
                0.0
            } else {
                (-g * f64::from(dw) / reference) as f32
            }
        };
        [slope(g_up, dw_up, ref_up), slope(g_down, dw_down, ref_down)]
    }
}

/// Drawn linear-step devices of one tile (also the soft-bounds device).
#[derive(Debug, Clone, PartialEq)]
pub struct LinearStep {
    /// The drawn bounds and steps.
    pub arrays: DeviceArrays,
    /// Change of the up step per unit of weight (negative: the step shrinks as `w` grows).
    pub slope_up: Vec<f32>,
    /// Change of the down step per unit of weight (positive: the step shrinks as `w` falls).
    pub slope_down: Vec<f32>,
    /// Relative cycle-to-cycle spread of a pulse (`dw_min_std`).
    pub dw_min_std: f32,
    /// Cycle-to-cycle noise multiplies the whole step (else only its constant part).
    pub mult_noise: bool,
}

impl LinearStep {
    pub(crate) fn populate(p: &LinearStepParameters, shape: Shape) -> Result<Self> {
        let [b_min, b_max, dw_up, dw_down, slope_up, slope_down] =
            draw_devices(shape, true, |xi, extra| {
                let d = p.pulsed.draw(xi);
                let [su, sd] = p.slopes(d.b_min, d.b_max, d.dw_up, d.dw_down, extra);
                [d.b_min, d.b_max, d.dw_up, d.dw_down, su, sd]
            })?;
        Ok(LinearStep {
            arrays: DeviceArrays {
                b_min,
                b_max,
                dw_up,
                dw_down,
            },
            slope_up,
            slope_down,
            dw_min_std: p.pulsed.dw_min_std as f32,
            mult_noise: p.mult_noise,
        })
    }

    pub(crate) fn named(&self) -> Vec<(&'static str, &[f32])> {
        let mut v = self.arrays.named();
        v.push(("slope_up", &self.slope_up));
        v.push(("slope_down", &self.slope_down));
        v
    }

    pub(crate) fn from_named(
        p: &LinearStepParameters,
        arrays: &mut NamedArrays,
        n: usize,
    ) -> Result<Self> {
        Ok(LinearStep {
            arrays: DeviceArrays::from_named(arrays, n)?,
            slope_up: arrays.take("slope_up", n)?,
            slope_down: arrays.take("slope_down", n)?,
            dw_min_std: p.pulsed.dw_min_std as f32,
            mult_noise: p.mult_noise,
        })
    }
}

impl PulsedDevice for LinearStep {
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
            self.arrays.dw_up[k] + self.slope_up[k] * w
        } else {
            self.arrays.dw_down[k] + self.slope_down[k] * w
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn pulse16(
        &self,
        k0: usize,
        w: std::arch::x86_64::__m512,
        up: u16,
        xi: std::arch::x86_64::__m512,
        lanes: u16,
    ) -> std::arch::x86_64::__m512 {
        use std::arch::x86_64::*;
        let a = &self.arrays;
        // SAFETY: masked loads of the devices in `lanes`, AVX-512 F (the caller's contract).
        unsafe {
            let pick = |down: &[f32], up_: &[f32]| {
                _mm512_mask_blend_ps(
                    up,
                    _mm512_maskz_loadu_ps(lanes, down[k0..].as_ptr()),
                    _mm512_maskz_loadu_ps(lanes, up_[k0..].as_ptr()),
                )
            };
            let dw = pick(&a.dw_down, &a.dw_up);
            let slope = pick(&self.slope_down, &self.slope_up);
            let factor = _mm512_add_ps(
                _mm512_set1_ps(1.0),
                _mm512_mul_ps(_mm512_set1_ps(self.dw_min_std), xi),
            );
            let change = if self.mult_noise {
                _mm512_mul_ps(_mm512_add_ps(dw, _mm512_mul_ps(slope, w)), factor)
            } else {
                _mm512_add_ps(_mm512_mul_ps(slope, w), _mm512_mul_ps(dw, factor))
            };
            super::move_by16(w, change, up)
        }
    }

    #[inline(always)]
    fn pulse(&self, k: usize, w: f32, up: bool, xi: f32) -> f32 {
        let factor = 1.0 + self.dw_min_std * xi;
        let change = if self.mult_noise {
            self.step(k, w, up) * factor
        } else if up {
            self.slope_up[k] * w + self.arrays.dw_up[k] * factor
        } else {
            self.slope_down[k] * w + self.arrays.dw_down[k] * factor
        };
        move_by(w, change, up)
    }
}

impl super::PulsedModel for LinearStepParameters {
    type Drawn = LinearStep;

    fn validate(&self, prefix: &str) -> Result<()> {
        LinearStepParameters::validate(self, prefix)
    }

    fn pulsed(&self) -> &PulsedParameters {
        &self.pulsed
    }

    fn write_noise(&self) -> Option<&WriteNoiseParameters> {
        Some(&self.write_noise)
    }

    fn populate(&self, shape: Shape) -> Result<LinearStep> {
        LinearStep::populate(self, shape)
    }

    fn restore(&self, arrays: &mut NamedArrays, n: usize) -> Result<LinearStep> {
        LinearStep::from_named(self, arrays, n)
    }
}
