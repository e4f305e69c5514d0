//! The one error type of the engine. Every message names the parameter it is about, so that the
//! Python binding can pass it on unchanged.

use thiserror::Error;

/// What can go wrong when a tile is built, used, or restored.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum Error {
    /// An array has the wrong number of elements for the tile and batch.
    #[error("{name}: expected shape {expected}, got {got}")]
    Shape {
        /// The argument.
        name: &'static str,
        /// The shape the tile expects.
        expected: String,
        /// The shape it got.
        got: String,
    },
    /// An input array holds NaN or an infinity.
    #[error("{name}: non-finite value {value} at index {index}")]
    NonFinite {
        /// The argument.
        name: &'static str,
        /// The flat index of the first non-finite value.
        index: usize,
        /// That value.
        value: f32,
    },
    /// A configuration value or call argument is out of its range.
    #[error("{name}: {reason}")]
    InvalidParameter {
        /// The parameter, as a configuration path (`forward.out_noise`) or an argument name.
        name: String,
        /// What is wrong with its value.
        reason: String,
    },
    /// A configuration document could not be read.
    #[error("configuration: {0}")]
    Config(String),
    /// Saved state bytes are corrupt, truncated, or from an unknown format version.
    #[error("state: {0}")]
    State(String),
    /// An update stopped early because the caller's [`crate::Interrupt`] asked it to.
    #[error("update interrupted after {applied} of its {samples} samples")]
    Interrupted {
        /// The samples applied (the first ones of the batch, in order).
        applied: usize,
        /// The samples of the batch.
        samples: usize,
    },
    /// A buffer could not be allocated (the memory or the address space is exhausted).
    #[error("{what}: cannot allocate {bytes} bytes")]
    OutOfMemory {
        /// The buffer, and for a tile the estimate of all it takes.
        what: String,
        /// The size of the allocation that failed.
        bytes: u64,
    },
    /// The worker threads could not be started.
    #[error("threads: {0}")]
    Threads(String),
}

impl Error {
    pub(crate) fn invalid(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidParameter {
            name: name.into(),
            reason: reason.into(),
        }
    }
}

/// Result with the engine's error.
pub type Result<T> = std::result::Result<T, Error>;
