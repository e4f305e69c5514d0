//! The constant-step device: every pulse moves the weight by the device's own up or down step,
//! whatever the weight (MODEL.md §5, first row of the table).

use super::pulsed::{DeviceArrays, PulsedParameters, Shape};
use super::{NamedArrays, PulsedDevice};
use crate::error::Result;

/// Drawn constant-step devices of one tile.
#[derive(Debug, Clone, PartialEq)]
pub struct ConstantStep {
    pub arrays: DeviceArrays,
    pub dw_min_std: f32,
}

impl ConstantStep {
    pub(crate) fn populate(p: &PulsedParameters, shape: Shape) -> Self {
        ConstantStep {
            arrays: DeviceArrays::populate(p, shape),
            dw_min_std: p.dw_min_std as f32,
        }
    }

    pub(crate) fn named(&self) -> Vec<(&'static str, &[f32])> {
        self.arrays.named()
    }

    pub(crate) fn from_named(
        p: &PulsedParameters,
        arrays: &mut NamedArrays,
        n: usize,
    ) -> Result<Self> {
        Ok(ConstantStep {
            arrays: DeviceArrays::from_named(arrays, n)?,
            dw_min_std: p.dw_min_std as f32,
        })
    }
}

impl PulsedDevice for ConstantStep {
    #[inline]
    fn arrays(&self) -> &DeviceArrays {
        &self.arrays
    }

    #[inline]
    fn c2c_std(&self) -> f32 {
        self.dw_min_std
    }

    #[inline(always)]
    fn step(&self, k: usize, _w: f32, up: bool) -> f32 {
        if up {
            self.arrays.dw_up[k]
        } else {
            self.arrays.dw_down[k]
        }
    }
}
