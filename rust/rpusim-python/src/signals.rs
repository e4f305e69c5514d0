//! Ctrl-C during a long engine call: the poll of the engine's `Interrupt`.
//!
//! Python runs signal handlers only on the main thread and only with the GIL, which an engine
//! call has released. The engine asks the poll between chunks of samples on the calling thread;
//! at most every [`POLL_INTERVAL`] it takes the GIL back and runs the pending handlers
//! (`PyErr_CheckSignals`). The exception a handler raises (`KeyboardInterrupt` for Ctrl-C)
//! stops the call and is what the call raises. On another thread than the main one the check
//! finds nothing to run.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use pyo3::prelude::*;

/// How often a long call looks for signals: Ctrl-C stops it within this and one chunk of
/// samples, and a call shorter than this never takes the GIL back (the check costs one clock
/// read per chunk otherwise).
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// The poll of one engine call (see the module documentation).
pub(crate) struct SignalPoll {
    /// When to look for signals next.
    next: Mutex<Instant>,
    /// What a signal handler raised.
    raised: Mutex<Option<PyErr>>,
}

impl SignalPoll {
    pub(crate) fn new() -> Self {
        SignalPoll {
            next: Mutex::new(Instant::now() + POLL_INTERVAL),
            raised: Mutex::new(None),
        }
    }

    /// Whether a signal handler raised (and the call should stop); runs the handlers at most
    /// every [`POLL_INTERVAL`].
    pub(crate) fn poll(&self) -> bool {
        let now = Instant::now();
        {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            if now < *next {
                return false;
            }
            *next = now + POLL_INTERVAL;
        }
        match Python::attach(|py| py.check_signals()) {
            Ok(()) => false,
            Err(e) => {
                *self.raised.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
                true
            }
        }
    }

    /// The exception a signal handler raised during the call, if one did.
    pub(crate) fn raised(self) -> Option<PyErr> {
        self.raised.into_inner().unwrap_or_else(|e| e.into_inner())
    }
}
