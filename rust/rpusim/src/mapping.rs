//! Weight scaling (MODEL.md §3.4): how float weights are mapped onto the device range, and the
//! digital scales that undo the mapping in every operation.
//!
//! A tile holds analog weights `W_a` and one digital scale `alpha_i` per output row (all equal
//! for per-tile scaling, all 1 without scaling). The network sees `W = diag(alpha) W_a`:
//! forward outputs are multiplied by `alpha`, backward errors enter multiplied by `alpha`
//! (`W^T d = W_a^T (alpha d)`, the only way a per-row scale reaches the backward pass; with a
//! per-tile scale and abs-max noise management it equals scaling the outputs), and the update
//! divides the errors by `alpha`, so that training is SGD on `diag(alpha) W_a`.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::pulse::abs_max;

/// How weights are mapped onto the devices, and the digital factors of the update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingParameters {
    /// Map `max |W|` (per tile, or per row) onto this analog weight when weights are set;
    /// 0 switches weight scaling off (the weights are programmed as they are).
    pub weight_scaling_omega: f64,
    /// One scale per output row instead of one per tile.
    pub weight_scaling_columnwise: bool,
    /// Divide the update's errors by the scales (training is SGD on the scaled weights);
    /// without it the analog weights get the learning rate as it is.
    pub weight_scaling_lr_compensation: bool,
    /// Digital factor on the learning rate of every update of the tile.
    pub lr_scale: f64,
}

impl Default for MappingParameters {
    fn default() -> Self {
        MappingParameters {
            weight_scaling_omega: 0.0,
            weight_scaling_columnwise: false,
            weight_scaling_lr_compensation: true,
            lr_scale: 1.0,
        }
    }
}

impl MappingParameters {
    pub(crate) fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("weight_scaling_omega", self.weight_scaling_omega),
            ("lr_scale", self.lr_scale),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::invalid(
                    format!("mapping.{name}"),
                    format!("must be finite and >= 0, got {v}"),
                ));
            }
        }
        Ok(())
    }

    /// The scales that map the float weights `w` (`out_size` rows) onto `omega`: `max |w| /
    /// omega` per tile or per row; 1 where scaling is off or the weights are all zero.
    pub fn scales(&self, w: &[f32], out_size: usize) -> Vec<f32> {
        let omega = self.weight_scaling_omega;
        if omega <= 0.0 || out_size == 0 {
            return vec![1.0; out_size];
        }
        let in_size = w.len() / out_size;
        // All-zero weights (and a scale too small for f32) keep the scale 1.
        let scale = |max: f32| {
            let s = (f64::from(max) / omega) as f32;
            if s.is_normal() {
                s
            } else {
                1.0
            }
        };
        let row_max: Vec<f32> = w.chunks(in_size.max(1)).map(abs_max).collect();
        if self.weight_scaling_columnwise {
            row_max.into_iter().map(scale).collect()
        } else {
            vec![scale(abs_max(&row_max)); out_size]
        }
    }
}

/// `v[b][i] = op(v[b][i], scales[i])` for a batch `v` of `n x scales.len()` outputs or errors.
pub(crate) fn scale_batch(v: &mut [f32], scales: &[f32], op: fn(f32, f32) -> f32) {
    for row in v.chunks_mut(scales.len().max(1)) {
        for (x, &s) in row.iter_mut().zip(scales) {
            *x = op(*x, s);
        }
    }
}

/// `w[i][j] = op(w[i][j], scales[i])` for a weight matrix `w` of `scales.len()` rows.
pub(crate) fn scale_weights(w: &mut [f32], scales: &[f32], op: fn(f32, f32) -> f32) {
    let in_size = w.len() / scales.len().max(1);
    for (row, &s) in w.chunks_mut(in_size.max(1)).zip(scales) {
        for x in row.iter_mut() {
            *x = op(*x, s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_map_the_largest_weight_onto_omega() {
        let w = [0.1, -0.4, 0.2, 0.0, 0.0, 0.05];
        let off = MappingParameters::default();
        assert_eq!(off.scales(&w, 2), vec![1.0, 1.0]);
        let tile = MappingParameters {
            weight_scaling_omega: 0.8,
            ..MappingParameters::default()
        };
        assert_eq!(tile.scales(&w, 2), vec![0.5, 0.5]);
        let rows = MappingParameters {
            weight_scaling_columnwise: true,
            ..tile.clone()
        };
        assert_eq!(rows.scales(&w, 2), vec![0.5, 0.0625]);
        assert_eq!(rows.scales(&[0.0; 6], 2), vec![1.0, 1.0]);
    }
}
