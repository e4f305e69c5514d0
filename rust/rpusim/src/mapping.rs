//! Weight scaling (MODEL.md §3.4): how float weights are mapped onto the device range, and the
//! digital scales that undo the mapping in every operation.
//!
//! A tile holds analog weights `W_a` and one digital scale `alpha_i` per output row (all equal
//! for per-tile scaling, all 1 without scaling). The network sees `W = diag(alpha) W_a`:
//! forward outputs are multiplied by `alpha`, backward errors enter multiplied by `alpha`
//! (`W^T d = W_a^T (alpha d)`, the only way a per-row scale reaches the backward pass; with a
//! per-tile scale and abs-max noise management it equals scaling the outputs), and the update
//! divides the errors by `alpha`, so that training is SGD on `diag(alpha) W_a`, as aihwkit's
//! `TileWithPeriphery.pre_update` does. Learning-rate compensation only moves the mean scale from
//! the errors into the learning rate.
//!
//! It also holds the largest physical array (MODEL.md §3.5): a larger matrix is held by a grid of
//! arrays ([`crate::TileArray`]).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::numeric::{abs_max, check_finite};

/// How weights are mapped onto the devices, and the digital factors of the update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MappingParameters {
    /// Map `max |W|` (per tile, or per row) onto this analog weight when weights are set;
    /// 0 switches weight scaling off (the weights are programmed as they are).
    pub weight_scaling_omega: f64,
    /// One scale per output row instead of one per tile.
    pub weight_scaling_columnwise: bool,
    /// Move the mean of the scales from the update's errors into its learning rate
    /// (`lr / mean(alpha)`, errors `d mean(alpha) / alpha`, as aihwkit): the expected update is
    /// the same, update management splits the pulse probabilities differently.
    pub weight_scaling_lr_compensation: bool,
    /// Digital factor on the learning rate of every update of the tile.
    pub lr_scale: f64,
    /// Most inputs (columns) of one physical array; a wider matrix is split over several. 0:
    /// no limit.
    pub max_input_size: usize,
    /// Most outputs (rows) of one physical array; a taller matrix is split over several. 0:
    /// no limit.
    pub max_output_size: usize,
}

impl Default for MappingParameters {
    fn default() -> Self {
        MappingParameters {
            weight_scaling_omega: 0.0,
            weight_scaling_columnwise: false,
            weight_scaling_lr_compensation: false,
            lr_scale: 1.0,
            max_input_size: 512,
            max_output_size: 512,
        }
    }
}

impl MappingParameters {
    /// Checks every value; errors name the field as `{prefix}.{field}` (`mapping.lr_scale`).
    pub(crate) fn validate(&self, prefix: &str) -> Result<()> {
        for (name, v) in [
            ("weight_scaling_omega", self.weight_scaling_omega),
            ("lr_scale", self.lr_scale),
        ] {
            check_finite(format!("{prefix}.{name}"), v, true)?;
        }
        for (name, v) in [
            ("max_input_size", self.max_input_size),
            ("max_output_size", self.max_output_size),
        ] {
            if v > u32::MAX as usize {
                return Err(Error::invalid(
                    format!("{prefix}.{name}"),
                    format!("must be in [0, 2^32 - 1], got {v}"),
                ));
            }
        }
        Ok(())
    }

    /// The update's divisor of the errors of every row, `alpha_i` (or `alpha_i / mean(alpha)`
    /// with learning-rate compensation), into `divisors`, and the factor on the learning rate
    /// (1, or `1 / mean(alpha)`).  Per-tile scales give divisors of exactly 1 with
    /// compensation.
    pub(crate) fn update_divisors(&self, scales: &[f32], divisors: &mut Vec<f32>) -> f64 {
        divisors.clear();
        if !self.weight_scaling_lr_compensation {
            divisors.extend_from_slice(scales);
            return 1.0;
        }
        let mean = scales.iter().map(|&s| f64::from(s)).sum::<f64>() / scales.len().max(1) as f64;
        divisors.extend(scales.iter().map(|&s| (f64::from(s) / mean) as f32));
        1.0 / mean
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

    #[test]
    fn compensation_moves_the_mean_scale_into_the_rate() {
        let mut divisors = Vec::new();
        let mut m = MappingParameters::default();
        assert_eq!(m.update_divisors(&[0.5, 2.0], &mut divisors), 1.0);
        assert_eq!(divisors, vec![0.5, 2.0]);
        m.weight_scaling_lr_compensation = true;
        assert_eq!(m.update_divisors(&[0.5, 2.0], &mut divisors), 0.8);
        assert_eq!(divisors, vec![0.4, 1.6]);
        // One scale per tile: the errors stay as they are, the rate takes the whole scale.
        assert_eq!(
            m.update_divisors(&[0.3, 0.3], &mut divisors),
            1.0 / 0.3f32 as f64
        );
        assert_eq!(divisors, vec![1.0, 1.0]);
    }
}
