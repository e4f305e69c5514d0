//! The soft-bounds device (MODEL.md §5, aihwkit's `SoftBoundsDevice`): the step falls linearly
//! to zero at the device's own bounds, `dw_up (1 - w / b_max)` up and `dw_down (1 - w / b_min)`
//! down. As in aihwkit it is the linear-step device with `gamma_up = gamma_down = 1`, no spread
//! of the gammas, and the device's own bounds as reference.

use serde::{Deserialize, Serialize};

use super::linear_step::LinearStepParameters;
use super::pulsed::{PulsedParameters, WriteNoiseParameters};
use crate::error::Result;

/// Configuration of the soft-bounds device; defaults are aihwkit's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SoftBoundsParameters {
    /// The parameters every pulsed model shares (flattened into the JSON object).
    #[serde(flatten)]
    pub pulsed: PulsedParameters,
    /// The write noise (flattened into the JSON object).
    #[serde(flatten)]
    pub write_noise: WriteNoiseParameters,
    /// Cycle-to-cycle noise multiplies the whole step (else only its constant part).
    pub mult_noise: bool,
    /// The up step grows with the weight instead (see [`LinearStepParameters::reverse_up`]).
    pub reverse_up: bool,
    /// The down step grows as the weight falls instead.
    pub reverse_down: bool,
    /// Offset of the reference bound of `reverse_up` / `reverse_down`.
    pub reverse_offset: f64,
}

impl Default for SoftBoundsParameters {
    fn default() -> Self {
        SoftBoundsParameters {
            pulsed: PulsedParameters::default(),
            write_noise: WriteNoiseParameters::default(),
            mult_noise: true,
            reverse_up: false,
            reverse_down: false,
            reverse_offset: 0.01,
        }
    }
}

impl SoftBoundsParameters {
    pub(crate) fn validate(&self, prefix: &str) -> Result<()> {
        self.as_linear_step().validate(prefix)
    }

    /// The linear-step device that behaves as this one.
    pub fn as_linear_step(&self) -> LinearStepParameters {
        LinearStepParameters {
            pulsed: self.pulsed.clone(),
            write_noise: self.write_noise.clone(),
            gamma_up: 1.0,
            gamma_down: 1.0,
            gamma_up_dtod: 0.0,
            gamma_down_dtod: 0.0,
            allow_increasing: false,
            mean_bound_reference: false,
            mult_noise: self.mult_noise,
            reverse_up: self.reverse_up,
            reverse_down: self.reverse_down,
            reverse_offset: self.reverse_offset,
        }
    }
}

/// The soft-bounds device draws linear-step devices ([`SoftBoundsParameters::as_linear_step`]).
impl super::PulsedModel for SoftBoundsParameters {
    type Drawn = super::LinearStep;

    fn validate(&self, prefix: &str) -> Result<()> {
        SoftBoundsParameters::validate(self, prefix)
    }

    fn pulsed(&self) -> &PulsedParameters {
        &self.pulsed
    }

    fn write_noise(&self) -> Option<&WriteNoiseParameters> {
        Some(&self.write_noise)
    }

    fn populate(&self, shape: super::pulsed::Shape) -> Result<super::LinearStep> {
        super::LinearStep::populate(&self.as_linear_step(), shape)
    }

    fn restore(&self, arrays: &mut super::NamedArrays, n: usize) -> Result<super::LinearStep> {
        super::LinearStep::from_named(&self.as_linear_step(), arrays, n)
    }
}
