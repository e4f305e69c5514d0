//! The drawn devices of one pulsed model, whichever it is, and the dispatch from that choice to
//! the kernels that are generic over the model (one match per call, never per pulse).

use super::config::DeviceConfig;
use super::pulsed::{DeviceArrays, Shape};
use super::{ConstantStep, ExpStep, LinearStep, NamedArrays, PiecewiseStep, PowStep};
use crate::error::Result;

/// Drawn devices of one pulsed model (the soft-bounds device is a linear-step one).
#[derive(Debug, Clone, PartialEq)]
pub enum DeviceModel {
    ConstantStep(ConstantStep),
    LinearStep(LinearStep),
    ExpStep(ExpStep),
    PowStep(PowStep),
    PiecewiseStep(PiecewiseStep),
}

/// `with_model!(model, d => body)` evaluates `body` with `d` bound to the concrete drawn model
/// inside `model` (a `&DeviceModel`), so that `body` is compiled once per model.
macro_rules! with_model {
    ($model:expr, $d:ident => $body:expr) => {
        match $model {
            $crate::device::DeviceModel::ConstantStep($d) => $body,
            $crate::device::DeviceModel::LinearStep($d) => $body,
            $crate::device::DeviceModel::ExpStep($d) => $body,
            $crate::device::DeviceModel::PowStep($d) => $body,
            $crate::device::DeviceModel::PiecewiseStep($d) => $body,
        }
    };
}
pub(crate) use with_model;

impl DeviceModel {
    /// Draws the devices of a single pulsed model (`None` for the ideal device and unit cells).
    pub(crate) fn populate(config: &DeviceConfig, shape: Shape) -> Option<Self> {
        Some(match config {
            DeviceConfig::ConstantStep(p) => {
                DeviceModel::ConstantStep(ConstantStep::populate(p, shape))
            }
            DeviceConfig::LinearStep(p) => DeviceModel::LinearStep(LinearStep::populate(p, shape)),
            DeviceConfig::SoftBounds(p) => {
                DeviceModel::LinearStep(LinearStep::populate(&p.as_linear_step(), shape))
            }
            DeviceConfig::ExpStep(p) => DeviceModel::ExpStep(ExpStep::populate(p, shape)),
            DeviceConfig::PowStep(p) => DeviceModel::PowStep(PowStep::populate(p, shape)),
            DeviceConfig::PiecewiseStep(p) => {
                DeviceModel::PiecewiseStep(PiecewiseStep::populate(p, shape))
            }
            DeviceConfig::Ideal(_) | DeviceConfig::VectorUnitCell(_) => return None,
        })
    }

    /// The per-device bounds and steps.
    pub fn arrays(&self) -> &DeviceArrays {
        with_model!(self, d => &d.arrays)
    }

    /// The drawn arrays to save, by name (derived arrays are recomputed on loading).
    pub(crate) fn named(&self) -> Vec<(&'static str, &[f32])> {
        with_model!(self, d => d.named())
    }

    /// Rebuilds the devices of `config` from saved arrays (`None` for configurations without
    /// a single pulsed model).
    pub(crate) fn from_named(
        config: &DeviceConfig,
        arrays: &mut NamedArrays,
        n: usize,
    ) -> Result<Option<Self>> {
        Ok(Some(match config {
            DeviceConfig::ConstantStep(p) => {
                DeviceModel::ConstantStep(ConstantStep::from_named(p, arrays, n)?)
            }
            DeviceConfig::LinearStep(p) => {
                DeviceModel::LinearStep(LinearStep::from_named(p, arrays, n)?)
            }
            DeviceConfig::SoftBounds(p) => {
                DeviceModel::LinearStep(LinearStep::from_named(&p.as_linear_step(), arrays, n)?)
            }
            DeviceConfig::ExpStep(p) => DeviceModel::ExpStep(ExpStep::from_named(p, arrays, n)?),
            DeviceConfig::PowStep(p) => DeviceModel::PowStep(PowStep::from_named(p, arrays, n)?),
            DeviceConfig::PiecewiseStep(p) => {
                DeviceModel::PiecewiseStep(PiecewiseStep::from_named(p, arrays, n)?)
            }
            DeviceConfig::Ideal(_) | DeviceConfig::VectorUnitCell(_) => return Ok(None),
        }))
    }
}
