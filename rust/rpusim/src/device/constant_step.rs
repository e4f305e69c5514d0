//! The constant-step device: every pulse moves the weight by the device's own up or down step,
//! whatever the weight (MODEL.md §5, first row of the table).

use super::pulsed::{DeviceArrays, PulsedParameters, Shape};
use super::{NamedArrays, PulsedDevice};
use crate::error::Result;

/// Drawn constant-step devices of one tile.
#[derive(Debug, Clone, PartialEq)]
pub struct ConstantStep {
    /// The drawn bounds and steps.
    pub arrays: DeviceArrays,
    /// Relative cycle-to-cycle spread of a pulse (`dw_min_std`).
    pub dw_min_std: f32,
}

impl ConstantStep {
    pub(crate) fn populate(p: &PulsedParameters, shape: Shape) -> Result<Self> {
        Ok(ConstantStep {
            arrays: DeviceArrays::populate(p, shape)?,
            dw_min_std: p.dw_min_std as f32,
        })
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
            let step = _mm512_mask_blend_ps(
                up,
                _mm512_maskz_loadu_ps(lanes, a.dw_down[k0..].as_ptr()),
                _mm512_maskz_loadu_ps(lanes, a.dw_up[k0..].as_ptr()),
            );
            let factor = _mm512_add_ps(
                _mm512_set1_ps(1.0),
                _mm512_mul_ps(_mm512_set1_ps(self.dw_min_std), xi),
            );
            super::move_by16(w, _mm512_mul_ps(step, factor), up)
        }
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

/// The constant-step model's parameters are the shared ones.
impl super::PulsedModel for PulsedParameters {
    type Drawn = ConstantStep;

    fn validate(&self, prefix: &str) -> Result<()> {
        PulsedParameters::validate(self, prefix)
    }

    fn pulsed(&self) -> &PulsedParameters {
        self
    }

    fn write_noise(&self) -> Option<&super::pulsed::WriteNoiseParameters> {
        None
    }

    fn populate(&self, shape: Shape) -> Result<ConstantStep> {
        ConstantStep::populate(self, shape)
    }

    fn restore(&self, arrays: &mut NamedArrays, n: usize) -> Result<ConstantStep> {
        ConstantStep::from_named(self, arrays, n)
    }
}
