//! Small numeric helpers the engine shares: the largest magnitude and the first non-finite
//! value of a slice (written so that the compiler vectorises them), and the check of a finite
//! parameter.

use std::fmt::Display;

use crate::error::{Error, Result};

/// Lanes of the helpers' partial results: independent, so the loops vectorise.
const LANES: usize = 16;

/// The largest absolute value of `v` (0 for an empty one); NaNs are skipped. Exact whatever
/// the order, as the maximum only selects.
#[inline]
pub fn abs_max(v: &[f32]) -> f32 {
    let mut lanes = [0.0f32; LANES];
    let mut chunks = v.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (m, x) in lanes.iter_mut().zip(chunk) {
            let a = x.abs();
            *m = if a > *m { a } else { *m };
        }
    }
    let mut m = 0.0f32;
    for a in lanes
        .into_iter()
        .chain(chunks.remainder().iter().map(|x| x.abs()))
    {
        m = if a > m { a } else { m };
    }
    m
}

/// `v` clipped to the finite float32 range: the weights a tile reads stay finite (and its state
/// loadable) when a write noise, a unit cell's weighting or an exact float step would carry
/// them beyond it. The identity on finite values, so it changes no bits of a finite result.
#[inline(always)]
pub fn saturate(v: f32) -> f32 {
    v.clamp(-f32::MAX, f32::MAX)
}

/// `count + 1`, or an error naming the counter `name` when `count` is the largest u64: a
/// call counter places the random streams of its call, and one that wrapped to 0 would draw
/// the numbers of the first call again.
pub(crate) fn next_count(count: u64, name: &str) -> Result<u64> {
    count.checked_add(1).ok_or_else(|| {
        Error::State(format!(
            "{name}: at {count}, the largest count: this call cannot be counted (make a new \
             tile from the weights)"
        ))
    })
}

/// The index of the first NaN or infinity in `v`, if there is one.
#[inline]
pub fn first_non_finite(v: &[f32]) -> Option<usize> {
    // All exponent bits set: an infinity or a NaN. A whole chunk at a time, branch-free.
    const EXPONENT: u32 = 0x7f80_0000;
    let bad = |x: &f32| x.to_bits() & EXPONENT == EXPONENT;
    let chunk = v
        .chunks(256)
        .position(|c| c.iter().fold(false, |any, x| any | bad(x)))?;
    let at = chunk * 256;
    v[at..].iter().position(bad).map(|i| at + i)
}

/// Checks the value `v` of parameter `name`: finite and, with `non_negative`, `>= 0`. The error
/// names the parameter and says the rule it breaks.
pub(crate) fn check_finite<T: Copy + Into<f64> + Display>(
    name: impl Into<String>,
    v: T,
    non_negative: bool,
) -> Result<()> {
    let value: f64 = v.into();
    if non_negative && !(value.is_finite() && value >= 0.0) {
        return Err(Error::invalid(
            name,
            format!("must be finite and >= 0, got {v}"),
        ));
    }
    if !value.is_finite() {
        return Err(Error::invalid(name, format!("must be finite, got {v}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abs_max_is_the_largest_magnitude() {
        assert_eq!(abs_max(&[]), 0.0);
        let v: Vec<f32> = (0..1000)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.1)
            .collect();
        let expected = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        for n in [1, 15, 16, 17, 100, 1000] {
            let e = v[..n].iter().fold(0.0f32, |m, x| m.max(x.abs()));
            assert_eq!(abs_max(&v[..n]), e, "n {n}");
        }
        assert_eq!(abs_max(&v), expected);
        assert_eq!(abs_max(&[-0.0, f32::NAN, -3.0]), 3.0);
    }

    #[test]
    fn non_finite_values_are_found_where_they_are() {
        let mut v = vec![1.0f32; 1000];
        assert_eq!(first_non_finite(&v), None);
        for (at, bad) in [
            (0, f32::NAN),
            (255, f32::INFINITY),
            (256, -f32::INFINITY),
            (999, f32::NAN),
        ] {
            v[at] = bad;
            assert_eq!(first_non_finite(&v), Some(at));
            v[at] = f32::MAX;
        }
        assert_eq!(first_non_finite(&v), None);
    }

    #[test]
    fn parameter_checks_name_the_parameter_and_the_rule() {
        assert!(check_finite("a", 0.0f32, true).is_ok());
        assert!(check_finite("a", -1.5f64, false).is_ok());
        let message = |r: Result<()>| r.unwrap_err().to_string();
        // The value as the caller's type prints it (an f32 stays short).
        assert_eq!(
            message(check_finite("lr", -0.1f32, true)),
            "lr: must be finite and >= 0, got -0.1"
        );
        assert_eq!(
            message(check_finite("m.x", f64::INFINITY, true)),
            "m.x: must be finite and >= 0, got inf"
        );
        assert_eq!(
            message(check_finite("m.y", f64::NAN, false)),
            "m.y: must be finite, got NaN"
        );
    }
}
