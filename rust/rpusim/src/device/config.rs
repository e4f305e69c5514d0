//! The device model of a tile as configuration: one serde enum, tagged by the model's name
//! (`{"type": "LinearStep", "dw_min": 0.001, ...}`), field names and defaults as in aihwkit.

use serde::{Deserialize, Serialize};

use super::exp_step::ExpStepParameters;
use super::linear_step::LinearStepParameters;
use super::piecewise_step::PiecewiseStepParameters;
use super::pow_step::PowStepParameters;
use super::pulsed::{PulsedParameters, WriteNoiseParameters};
use super::soft_bounds::SoftBoundsParameters;
use super::vector::VectorUnitCellParameters;
use crate::error::Result;

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
    LinearStep(LinearStepParameters),
    SoftBounds(SoftBoundsParameters),
    ExpStep(ExpStepParameters),
    PowStep(PowStepParameters),
    PiecewiseStep(PiecewiseStepParameters),
    #[serde(rename = "IdealDevice")]
    Ideal(IdealParameters),
    /// Several devices per cross-point (MODEL.md §3.5).
    VectorUnitCell(VectorUnitCellParameters),
}

impl Default for DeviceConfig {
    fn default() -> Self {
        DeviceConfig::ConstantStep(PulsedParameters::default())
    }
}

/// The JSON tags of the device models, in the order of [`DeviceConfig`].
pub const DEVICE_TYPES: [&str; 8] = [
    "ConstantStep",
    "LinearStep",
    "SoftBounds",
    "ExpStep",
    "PowStep",
    "PiecewiseStep",
    "IdealDevice",
    "VectorUnitCell",
];

impl DeviceConfig {
    /// The model named `name` (a JSON tag of [`DEVICE_TYPES`]) with its default parameters.
    pub fn default_of(name: &str) -> Option<DeviceConfig> {
        Some(match name {
            "ConstantStep" => DeviceConfig::ConstantStep(Default::default()),
            "LinearStep" => DeviceConfig::LinearStep(Default::default()),
            "SoftBounds" => DeviceConfig::SoftBounds(Default::default()),
            "ExpStep" => DeviceConfig::ExpStep(Default::default()),
            "PowStep" => DeviceConfig::PowStep(Default::default()),
            "PiecewiseStep" => DeviceConfig::PiecewiseStep(Default::default()),
            "IdealDevice" => DeviceConfig::Ideal(Default::default()),
            "VectorUnitCell" => DeviceConfig::VectorUnitCell(Default::default()),
            _ => return None,
        })
    }

    /// Checks every value; errors name the field as `{prefix}.{field}`.
    pub(crate) fn validate_as(&self, prefix: &str) -> Result<()> {
        match self {
            DeviceConfig::ConstantStep(p) => p.validate(prefix),
            DeviceConfig::LinearStep(p) => p.validate(prefix),
            DeviceConfig::SoftBounds(p) => p.validate(prefix),
            DeviceConfig::ExpStep(p) => p.validate(prefix),
            DeviceConfig::PowStep(p) => p.validate(prefix),
            DeviceConfig::PiecewiseStep(p) => p.validate(prefix),
            DeviceConfig::Ideal(_) => Ok(()),
            DeviceConfig::VectorUnitCell(p) => p.validate(prefix),
        }
    }

    /// The common parameters of a single pulsed device (`None` for the ideal device and for
    /// unit cells).
    pub fn pulsed(&self) -> Option<&PulsedParameters> {
        match self {
            DeviceConfig::ConstantStep(p) => Some(p),
            DeviceConfig::LinearStep(p) => Some(&p.pulsed),
            DeviceConfig::SoftBounds(p) => Some(&p.pulsed),
            DeviceConfig::ExpStep(p) => Some(&p.pulsed),
            DeviceConfig::PowStep(p) => Some(&p.pulsed),
            DeviceConfig::PiecewiseStep(p) => Some(&p.pulsed),
            DeviceConfig::Ideal(_) | DeviceConfig::VectorUnitCell(_) => None,
        }
    }

    /// The write-noise parameters of a single pulsed device that has them.
    pub fn write_noise(&self) -> Option<&WriteNoiseParameters> {
        match self {
            DeviceConfig::LinearStep(p) => Some(&p.write_noise),
            DeviceConfig::SoftBounds(p) => Some(&p.write_noise),
            DeviceConfig::ExpStep(p) => Some(&p.write_noise),
            DeviceConfig::PowStep(p) => Some(&p.write_noise),
            DeviceConfig::PiecewiseStep(p) => Some(&p.write_noise),
            DeviceConfig::ConstantStep(_)
            | DeviceConfig::Ideal(_)
            | DeviceConfig::VectorUnitCell(_) => None,
        }
    }

    /// The weight change of one pulse that update management plans with (aihwkit's weight
    /// granularity): `dw_min` for the constant step, linear step and soft bounds; for the
    /// exponential step the mean device's down step at `w = 0`, for the power step
    /// `dw_min 0.5^pow_gamma`, for the piecewise step `dw_min` times its middle up node, for a
    /// unit cell the mean over its devices; `None` for the ideal device.
    pub fn granularity(&self) -> Option<f64> {
        match self {
            DeviceConfig::ExpStep(p) => Some(p.granularity()),
            DeviceConfig::PowStep(p) => Some(p.granularity()),
            DeviceConfig::PiecewiseStep(p) => Some(p.granularity()),
            DeviceConfig::VectorUnitCell(p) => p.granularity(),
            DeviceConfig::Ideal(_) => None,
            other => other.pulsed().map(|p| p.dw_min),
        }
    }

    /// Devices per cross-point: 1, or the size of a unit cell (0 for the ideal device).
    pub fn devices_per_cross_point(&self) -> usize {
        match self {
            DeviceConfig::Ideal(_) => 0,
            DeviceConfig::VectorUnitCell(p) => p.devices.len(),
            _ => 1,
        }
    }

    /// The configuration as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a DeviceConfig always serialises")
    }

    /// Whether `other` describes the same drawn devices (only then can a running tile switch).
    pub fn same_devices(&self, other: &DeviceConfig) -> bool {
        self == other
    }
}
