//! Buffers a tile keeps from call to call, so that its operations allocate nothing once they
//! have seen their sizes. They are not part of the tile's state: a clone or a restored tile
//! starts with empty ones, and two tiles compare equal whatever their buffers hold
//! ([`buffers_are_not_state`]). The front's buffers are here; a backend keeps its own
//! (`backend.rs`).

/// Implements `Clone` (a clone starts with empty buffers), `PartialEq` (buffers never make two
/// values differ) and `Debug` (the type's name only) for a type of buffers that implements
/// `Default`.
macro_rules! buffers_are_not_state {
    ($t:ty) => {
        impl Clone for $t {
            fn clone(&self) -> Self {
                <$t>::default()
            }
        }

        impl PartialEq for $t {
            fn eq(&self, _other: &Self) -> bool {
                true
            }
        }

        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(stringify!($t))
            }
        }
    };
}

pub(crate) use buffers_are_not_state;

/// The buffers of a tile's front (the digital periphery of weight scaling).
#[derive(Default)]
pub(crate) struct Workspace {
    /// The backward errors times the row scales.
    pub backward: Vec<f32>,
    /// The update's errors divided by the row scales.
    pub errors: UpdateErrors,
}

buffers_are_not_state!(Workspace);

/// The update's errors as weight scaling divides them, and the divisor of every row.
#[derive(Default)]
pub(crate) struct UpdateErrors {
    pub errors: Vec<f32>,
    pub divisors: Vec<f32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_clone_empty_and_never_differ() {
        let mut full = Workspace::default();
        full.backward.extend([1.0, 2.0]);
        full.errors.divisors.push(3.0);
        let clone = full.clone();
        assert!(clone.backward.is_empty() && clone.errors.divisors.is_empty());
        assert_eq!(full, Workspace::default());
        assert_eq!(format!("{full:?}"), "Workspace");
    }
}
