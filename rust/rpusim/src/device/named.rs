//! The saved form of drawn devices: arrays by name, taken out one by one when a state is
//! restored.

use crate::error::{Error, Result};

/// Saved arrays by name, taken out one by one when a state is restored; names are looked up
/// with `prefix` in front (a unit cell's device `k` saves under `{k}.`).
#[derive(Debug, Default)]
pub(crate) struct NamedArrays {
    pub entries: Vec<(String, Vec<f32>)>,
    /// Saved counters (integer arrays) by name.
    pub counts: Vec<(String, Vec<u64>)>,
    pub prefix: String,
}

impl NamedArrays {
    /// Takes out the array `{prefix}{name}`, which must hold `n` values.
    pub(crate) fn take(&mut self, name: &str, n: usize) -> Result<Vec<f32>> {
        let full = format!("{}{name}", self.prefix);
        let pos = self
            .entries
            .iter()
            .position(|(k, _)| *k == full)
            .ok_or_else(|| Error::State(format!("device array {full} is missing")))?;
        let (_, v) = self.entries.swap_remove(pos);
        if v.len() != n {
            return Err(Error::State(format!(
                "device array {full} has {} values, expected {n}",
                v.len()
            )));
        }
        Ok(v)
    }

    /// Takes out the array `{prefix}{name}` of `n` values, each of which must be in the domain
    /// `ok` (described by `domain`, as `>= 0`): an error names the array and the first device
    /// outside it (a forged state).
    pub(crate) fn take_within(
        &mut self,
        name: &str,
        n: usize,
        ok: impl Fn(f32) -> bool,
        domain: &str,
    ) -> Result<Vec<f32>> {
        let v = self.take(name, n)?;
        if let Some(k) = v.iter().position(|&x| !ok(x)) {
            return Err(Error::State(format!(
                "device array {}{name}: device {k} holds {}, expected a value {domain}",
                self.prefix, v[k]
            )));
        }
        Ok(v)
    }

    /// Takes out the counters `{prefix}{name}`, which must hold `n` values, if they were saved.
    pub(crate) fn take_counts(&mut self, name: &str, n: usize) -> Result<Option<Vec<u64>>> {
        let full = format!("{}{name}", self.prefix);
        let Some(pos) = self.counts.iter().position(|(k, _)| *k == full) else {
            return Ok(None);
        };
        let (_, v) = self.counts.swap_remove(pos);
        if v.len() != n {
            return Err(Error::State(format!(
                "counters {full} hold {} values, expected {n}",
                v.len()
            )));
        }
        Ok(Some(v))
    }
}
