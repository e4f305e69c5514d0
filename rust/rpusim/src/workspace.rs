//! Buffers a tile keeps from call to call, so that its operations allocate nothing once they
//! have seen their sizes. They are not part of the tile's state: a clone or a restored tile
//! starts with empty ones, and two tiles compare equal whatever their buffers hold.

use crate::io::PassBuffers;
use crate::update::Lines;

#[derive(Default)]
pub(crate) struct Workspace {
    /// The forward and backward passes' buffers.
    pub pass: PassBuffers,
    /// The firing lines of the update, one buffer per task of samples.
    pub lines: Vec<Lines>,
    /// The update's errors divided by the row scales (weight scaling).
    pub errors: UpdateErrors,
}

/// The update's errors as weight scaling divides them, and the divisor of every row.
#[derive(Default)]
pub(crate) struct UpdateErrors {
    pub errors: Vec<f32>,
    pub divisors: Vec<f32>,
}

impl Clone for Workspace {
    fn clone(&self) -> Self {
        Workspace::default()
    }
}

impl PartialEq for Workspace {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for Workspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Workspace")
    }
}
