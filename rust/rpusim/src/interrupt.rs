//! Stopping a long update early (Ctrl-C in Python): the caller's poll, asked between chunks of
//! samples.
//!
//! The engine knows nothing of signals: the caller hands it a function that says whether to
//! stop. The engine asks it only on the thread that made the call (in Python only the main
//! thread sees signals, and asking needs the GIL there), between whole samples: a stopped update
//! has applied a whole number of samples, in order, to every device of a physical array. The
//! worker threads read the answer the calling thread got.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::ThreadId;

/// A caller's request to stop an update early, asked between chunks of samples (see the
/// module documentation).
pub struct Interrupt<'a> {
    /// Whether to stop; asked on the calling thread only.
    poll: &'a (dyn Fn() -> bool + Sync),
    /// Whether there is a poll to ask (false for [`Interrupt::never`]).
    polls: bool,
    /// The thread that made the call.
    caller: ThreadId,
    /// Whether the poll said to stop (once true, stays true).
    requested: AtomicBool,
}

impl std::fmt::Debug for Interrupt<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interrupt")
            .field("caller", &self.caller)
            .field("requested", &self.requested)
            .finish_non_exhaustive()
    }
}

/// The poll of [`Interrupt::never`].
fn never_stop() -> bool {
    false
}

impl<'a> Interrupt<'a> {
    /// An interrupt that asks `poll` whether to stop, on the thread that makes this call.
    pub fn new(poll: &'a (dyn Fn() -> bool + Sync)) -> Self {
        Interrupt {
            poll,
            polls: true,
            caller: std::thread::current().id(),
            requested: AtomicBool::new(false),
        }
    }

    /// An interrupt that never stops the call (the plain operations use it).
    pub fn never() -> Interrupt<'static> {
        Interrupt {
            polls: false,
            ..Interrupt::new(&never_stop)
        }
    }

    /// Whether the interrupt has a poll to ask, so that waiting threads should ask it.
    pub(crate) fn polls(&self) -> bool {
        self.polls
    }

    /// Whether the call should stop now: the poll's answer on the calling thread, and on every
    /// thread whether the calling thread was told to stop.
    pub(crate) fn requested(&self) -> bool {
        if self.requested.load(Ordering::Relaxed) {
            return true;
        }
        if !self.polls || std::thread::current().id() != self.caller || !(self.poll)() {
            return false;
        }
        self.requested.store(true, Ordering::Relaxed);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn only_the_calling_thread_polls_and_every_thread_sees_the_answer() {
        let asked = AtomicUsize::new(0);
        let poll = || asked.fetch_add(1, Ordering::Relaxed) >= 1;
        let interrupt = Interrupt::new(&poll);
        std::thread::scope(|s| {
            s.spawn(|| assert!(!interrupt.requested())).join().unwrap();
        });
        assert_eq!(asked.load(Ordering::Relaxed), 0, "another thread polled");
        assert!(!interrupt.requested());
        assert!(interrupt.requested());
        std::thread::scope(|s| {
            s.spawn(|| assert!(interrupt.requested())).join().unwrap();
        });
        assert_eq!(asked.load(Ordering::Relaxed), 2);
        assert!(interrupt.polls());
        assert!(!Interrupt::never().requested() && !Interrupt::never().polls());
    }
}
