//! The periphery of an analog array: the forward and backward passes (`IoParameters`, MODEL.md
//! §2, §3.1, §3.2) and the pulsed update (`UpdateParameters`, §3.3, §4), as configuration.
//! Below the device models, so that a device model that runs passes and updates of its own (a
//! transfer compound) can hold them; `config.rs` re-exports them beside `TileConfig`.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How the digital input scale `alpha` of a forward or backward pass is chosen (MODEL.md §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoiseManagement {
    /// `alpha = 1`.
    None,
    /// `alpha = max_j |x_j|`, clipped from above at `nm_thres` when `nm_thres > 0`.
    AbsMax,
    /// `alpha = max_j x_j` (clipped like `abs_max`); a non-positive maximum gives a zero output.
    Max,
    /// `alpha = nm_thres` (1 when `nm_thres <= 0`, as in aihwkit).
    Constant,
    /// A running average over batches of the mean abs-max, with decay `nm_decay`.
    AverageAbsMax,
}

/// Whether a saturated forward pass is repeated with halved inputs (MODEL.md §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BoundManagement {
    /// Saturated outputs are clipped at `out_bound`.
    None,
    /// Halve the inputs and repeat the whole pass while an output saturates.
    Iterative,
}

/// How the update is realised (MODEL.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PulseType {
    /// Exact float update `W -= lr d x^T`, clipped to the device bounds.
    None,
    /// Stochastic pulse trains of length BL on rows and columns; coincidences fire.
    StochasticCompressed,
    /// `n_ij = round(BL p_d[i] p_x[j])` pulses, no sampled trains.
    DeterministicImplicit,
}

/// Periphery of one analog matrix-vector product (forward or backward), MODEL.md §2.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IoParameters {
    /// Bypass everything: the pass returns the exact float32 product.
    pub is_perfect: bool,
    /// DAC input range is `[-inp_bound, inp_bound]`.
    pub inp_bound: f64,
    /// DAC resolution as a fraction of the range (`1/126`: 7 bits); `<= 0` means none, `> 1`
    /// is read as a number of steps.
    pub inp_res: f64,
    /// Stochastic instead of nearest rounding in the DAC.
    pub inp_sto_round: bool,
    /// Standard deviation of Gaussian noise added to the DAC output.
    pub inp_noise: f64,
    /// ADC range is `[-out_bound, out_bound]`; `<= 0` or infinite means unbounded.
    pub out_bound: f64,
    /// ADC resolution as a fraction of the range (`1/510`: 9 bits); `<= 0` means none, `> 1`
    /// is read as a number of steps.
    pub out_res: f64,
    /// Stochastic instead of nearest rounding in the ADC.
    pub out_sto_round: bool,
    /// Standard deviation of the additive Gaussian output noise, fresh every pass.
    pub out_noise: f64,
    /// Weight noise referred to the output: `w_noise * ||u||_2 * N(0, 1)` per output.
    pub w_noise: f64,
    /// Digital factor applied to every output.
    pub out_scale: f64,
    /// How the input scale `alpha` is chosen.
    pub noise_management: NoiseManagement,
    /// Upper clip of the abs-max scale, or the constant scale of `constant` NM (`<= 0`: off).
    pub nm_thres: f64,
    /// Decay of the running average of `average_abs_max` NM, per batch.
    pub nm_decay: f64,
    /// Ignored in the backward pass, where bound management is never applied.
    pub bound_management: BoundManagement,
    /// Bound management stops once the input reduction factor exceeds this.
    pub max_bm_factor: f64,
    /// ... or once it exceeds `max_bm_res / inp_step` (the DAC would lose all resolution).
    pub max_bm_res: f64,
}

impl Default for IoParameters {
    fn default() -> Self {
        IoParameters {
            is_perfect: false,
            inp_bound: 1.0,
            inp_res: 1.0 / 126.0,
            inp_sto_round: false,
            inp_noise: 0.0,
            out_bound: 12.0,
            out_res: 1.0 / 510.0,
            out_sto_round: false,
            out_noise: 0.06,
            w_noise: 0.0,
            out_scale: 1.0,
            noise_management: NoiseManagement::AbsMax,
            nm_thres: 0.0,
            nm_decay: 1e-3,
            bound_management: BoundManagement::Iterative,
            max_bm_factor: 1000.0,
            max_bm_res: 0.25,
        }
    }
}

impl IoParameters {
    /// The exact float32 product, no periphery at all.
    pub fn perfect() -> Self {
        IoParameters {
            is_perfect: true,
            ..Self::default()
        }
    }

    /// Default periphery for the backward pass: as the forward, without bound management.
    pub fn default_backward() -> Self {
        IoParameters {
            bound_management: BoundManagement::None,
            ..Self::default()
        }
    }

    /// Quantisation step of the DAC in input units (0: none).
    pub fn inp_step(&self) -> f64 {
        quantization_step(self.inp_res, self.inp_bound)
    }

    /// Quantisation step of the ADC in output units (0: none).
    pub fn out_step(&self) -> f64 {
        quantization_step(self.out_res, self.out_bound)
    }

    /// The ADC clip level, or `None` when the output is unbounded.
    pub fn out_clip(&self) -> Option<f32> {
        (self.out_bound > 0.0 && self.out_bound.is_finite()).then_some(self.out_bound as f32)
    }

    /// The DAC clip level, or `None` when the input is unbounded.
    pub fn inp_clip(&self) -> Option<f32> {
        (self.inp_bound > 0.0 && self.inp_bound.is_finite()).then_some(self.inp_bound as f32)
    }

    /// Checks every value; errors name the field as `{prefix}.{field}` (`forward.out_noise`).
    pub(crate) fn validate(&self, prefix: &str) -> Result<()> {
        let field = |f: &str| format!("{prefix}.{f}");
        let finite = |name: &str, v: f64| -> Result<()> {
            if v.is_finite() {
                Ok(())
            } else {
                Err(Error::invalid(
                    field(name),
                    format!("must be finite, got {v}"),
                ))
            }
        };
        let non_negative = |name: &str, v: f64| -> Result<()> {
            finite(name, v)?;
            if v >= 0.0 {
                Ok(())
            } else {
                Err(Error::invalid(
                    field(name),
                    format!("must be >= 0, got {v}"),
                ))
            }
        };
        for (name, v) in [
            ("inp_noise", self.inp_noise),
            ("out_noise", self.out_noise),
            ("w_noise", self.w_noise),
            ("nm_thres", self.nm_thres),
            ("max_bm_res", self.max_bm_res),
        ] {
            non_negative(name, v)?;
        }
        for (name, v) in [
            ("inp_res", self.inp_res),
            ("out_res", self.out_res),
            ("out_scale", self.out_scale),
        ] {
            finite(name, v)?;
        }
        if self.inp_bound.is_nan() || self.out_bound.is_nan() {
            return Err(Error::invalid(
                field("inp_bound/out_bound"),
                "must not be NaN",
            ));
        }
        if !(0.0..=1.0).contains(&self.nm_decay) {
            return Err(Error::invalid(
                field("nm_decay"),
                format!("must be in [0, 1], got {}", self.nm_decay),
            ));
        }
        if self.max_bm_factor.is_nan() || self.max_bm_factor < 1.0 {
            return Err(Error::invalid(
                field("max_bm_factor"),
                format!("must be >= 1, got {}", self.max_bm_factor),
            ));
        }
        if self.inp_res > 0.0 && self.inp_clip().is_none() {
            return Err(Error::invalid(
                field("inp_bound"),
                format!(
                    "must be finite and > 0 when the DAC quantises (inp_res > 0), got {}",
                    self.inp_bound
                ),
            ));
        }
        if self.out_res > 0.0 && self.out_clip().is_none() {
            return Err(Error::invalid(
                field("out_bound"),
                format!(
                    "must be finite and > 0 when the ADC quantises (out_res > 0), got {}",
                    self.out_bound
                ),
            ));
        }
        Ok(())
    }
}

/// Step of a quantiser with resolution `res` (fraction of the range, or a number of steps when
/// `> 1`) over `[-bound, bound]`; 0 when `res <= 0`.
fn quantization_step(res: f64, bound: f64) -> f64 {
    if res <= 0.0 {
        0.0
    } else {
        let fraction = if res > 1.0 { 1.0 / res } else { res };
        fraction * 2.0 * bound
    }
}

/// The pulsed update (MODEL.md §3.3 and §4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpdateParameters {
    /// Maximal pulse-train length `BL_max`.
    pub desired_bl: u32,
    /// Balance the pulse probabilities of `x` and `d` (UM).
    pub update_management: bool,
    /// Shorten the train to the pulses needed, `BL = min(ceil(k), desired_bl)` (UBLM). Implies UM.
    pub update_bl_management: bool,
    /// How the update is realised.
    pub pulse_type: PulseType,
}

/// Longest pulse train the engine supports (four 64-bit words per row or column).
pub const MAX_BL: u32 = 256;

impl Default for UpdateParameters {
    fn default() -> Self {
        UpdateParameters {
            desired_bl: 31,
            update_management: true,
            update_bl_management: true,
            pulse_type: PulseType::StochasticCompressed,
        }
    }
}

impl UpdateParameters {
    /// Checks every value; errors name the field as `{prefix}.{field}` (`update.desired_bl`).
    pub(crate) fn validate(&self, prefix: &str) -> Result<()> {
        if self.desired_bl == 0 || self.desired_bl > MAX_BL {
            return Err(Error::invalid(
                format!("{prefix}.desired_bl"),
                format!("must be in [1, {MAX_BL}], got {}", self.desired_bl),
            ));
        }
        Ok(())
    }
}
