//! The piecewise-step device (MODEL.md §5, aihwkit's `PiecewiseStepDevice`): the step is
//! `dw_up f_up(w)` up and `dw_down f_down(w)` down, where `f_up`, `f_down` interpolate linearly
//! between the node values `piecewise_up`, `piecewise_down`, spread evenly over the device's own
//! range `[b_min, b_max]` (first node at `b_min`, last at `b_max`; beyond them the end nodes).

use serde::{Deserialize, Serialize};

use super::pulsed::{DeviceArrays, PulsedParameters, Shape, WriteNoiseParameters};
use super::{NamedArrays, PulsedDevice};
use crate::alloc::collect;
use crate::error::{Error, Result};
use crate::numeric::check_finite;

/// Most nodes a piecewise response may have.
pub const MAX_NODES: usize = 4096;

/// Configuration of the piecewise-step device; defaults are aihwkit's (one node: constant step).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PiecewiseStepParameters {
    /// The parameters every pulsed model shares (flattened into the JSON object).
    #[serde(flatten)]
    pub pulsed: PulsedParameters,
    /// The write noise (flattened into the JSON object).
    #[serde(flatten)]
    pub write_noise: WriteNoiseParameters,
    /// Relative up step at nodes spread evenly from `b_min` to `b_max`.
    pub piecewise_up: Vec<f64>,
    /// Relative down step at the same nodes; as many values as `piecewise_up`.
    pub piecewise_down: Vec<f64>,
}

impl Default for PiecewiseStepParameters {
    fn default() -> Self {
        PiecewiseStepParameters {
            pulsed: PulsedParameters::default(),
            write_noise: WriteNoiseParameters::default(),
            piecewise_up: vec![1.0],
            piecewise_down: vec![1.0],
        }
    }
}

impl PiecewiseStepParameters {
    pub(crate) fn validate(&self, prefix: &str) -> Result<()> {
        self.pulsed.validate(prefix)?;
        self.write_noise.validate(prefix)?;
        for (name, nodes) in [
            ("piecewise_up", &self.piecewise_up),
            ("piecewise_down", &self.piecewise_down),
        ] {
            if nodes.is_empty() || nodes.len() > MAX_NODES {
                return Err(Error::invalid(
                    format!("{prefix}.{name}"),
                    format!("must have 1 to {MAX_NODES} values, got {}", nodes.len()),
                ));
            }
            for (i, &v) in nodes.iter().enumerate() {
                check_finite(format!("{prefix}.{name}[{i}]"), v, false)?;
            }
        }
        if self.piecewise_up.len() != self.piecewise_down.len() {
            return Err(Error::invalid(
                format!("{prefix}.piecewise_down"),
                format!(
                    "must have as many values as piecewise_up ({}), got {}",
                    self.piecewise_up.len(),
                    self.piecewise_down.len()
                ),
            ));
        }
        Ok(())
    }

    /// The step that update management plans with: `dw_min` times the middle up node (as
    /// aihwkit's weight granularity).
    pub(crate) fn granularity(&self) -> f64 {
        self.pulsed.dw_min * self.piecewise_up[self.piecewise_up.len() / 2]
    }
}

/// Drawn piecewise-step devices of one tile.
#[derive(Debug, Clone, PartialEq)]
pub struct PiecewiseStep {
    /// The drawn bounds and steps.
    pub arrays: DeviceArrays,
    /// The up response `f_up` (the nodes of `piecewise_up`), the same for every device.
    pub nodes_up: Nodes,
    /// The down response `f_down` (the nodes of `piecewise_down`), the same for every device.
    pub nodes_down: Nodes,
    /// `(nodes - 1) / (b_max - b_min)` per device (0 without range), derived, not saved.
    pub node_scale: Vec<f32>,
    /// Relative cycle-to-cycle spread of a pulse (`dw_min_std`).
    pub dw_min_std: f32,
}

impl PiecewiseStep {
    pub(crate) fn populate(p: &PiecewiseStepParameters, shape: Shape) -> Result<Self> {
        Self::with_arrays(p, DeviceArrays::populate(&p.pulsed, shape)?)
    }

    fn with_arrays(p: &PiecewiseStepParameters, arrays: DeviceArrays) -> Result<Self> {
        let sections = (p.piecewise_up.len() - 1) as f32;
        let node_scale = collect(
            arrays.b_min.len(),
            arrays.b_min.iter().zip(&arrays.b_max).map(|(&lo, &hi)| {
                if hi > lo {
                    sections / (hi - lo)
                } else {
                    0.0
                }
            }),
            "device arrays",
        )?;
        Ok(PiecewiseStep {
            arrays,
            nodes_up: Nodes::new(&p.piecewise_up),
            nodes_down: Nodes::new(&p.piecewise_down),
            node_scale,
            dw_min_std: p.pulsed.dw_min_std as f32,
        })
    }

    pub(crate) fn named(&self) -> Vec<(&'static str, &[f32])> {
        self.arrays.named()
    }

    pub(crate) fn from_named(
        p: &PiecewiseStepParameters,
        arrays: &mut NamedArrays,
        n: usize,
    ) -> Result<Self> {
        Self::with_arrays(p, DeviceArrays::from_named(arrays, n)?)
    }
}

/// Node values and the differences to the next node, for the interpolation.
#[derive(Debug, Clone, PartialEq)]
pub struct Nodes {
    /// The node values.
    pub values: Vec<f32>,
    /// `values[i + 1] - values[i]`; empty for a single node.
    pub slopes: Vec<f32>,
}

impl Nodes {
    fn new(values: &[f64]) -> Self {
        let values: Vec<f32> = values.iter().map(|&v| v as f32).collect();
        let slopes = values.windows(2).map(|p| p[1] - p[0]).collect();
        Nodes { values, slopes }
    }

    /// The node values interpolated at `t` node spacings from the first node (the end values
    /// beyond the ends).
    #[inline(always)]
    fn at(&self, t: f32) -> f32 {
        let sections = self.slopes.len();
        if sections == 0 {
            return self.values[0];
        }
        let t = t.max(0.0);
        // `as i32` saturates (and maps NaN to 0): no panic for any weight.
        let i = (t as i32).min(sections as i32 - 1) as usize;
        let q = (t - i as f32).min(1.0);
        self.values[i] + q * self.slopes[i]
    }
}

impl PulsedDevice for PiecewiseStep {
    /// `node_scale`.
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
        let t = (w - a.b_min[k]) * self.node_scale[k];
        if up {
            a.dw_up[k] * self.nodes_up.at(t)
        } else {
            a.dw_down[k] * self.nodes_down.at(t)
        }
    }
}

impl super::PulsedModel for PiecewiseStepParameters {
    type Drawn = PiecewiseStep;

    fn validate(&self, prefix: &str) -> Result<()> {
        PiecewiseStepParameters::validate(self, prefix)
    }

    fn pulsed(&self) -> &PulsedParameters {
        &self.pulsed
    }

    fn write_noise(&self) -> Option<&WriteNoiseParameters> {
        Some(&self.write_noise)
    }

    fn granularity(&self) -> f64 {
        PiecewiseStepParameters::granularity(self)
    }

    fn populate(&self, shape: Shape) -> Result<PiecewiseStep> {
        PiecewiseStep::populate(self, shape)
    }

    fn restore(&self, arrays: &mut NamedArrays, n: usize) -> Result<PiecewiseStep> {
        PiecewiseStep::from_named(self, arrays, n)
    }
}
