//! The lock of a tile that a forked process can tell it inherited.
//!
//! A process forked while another thread was inside a call on a tile (torch DataLoader workers,
//! `multiprocessing` with fork) inherits the tile locked by a thread that does not exist in it:
//! waiting on an ordinary mutex would hang forever. The lock here is the id of the process
//! whose thread holds the tile, so the child sees its parent's id and refuses the tile with an
//! error; the tile is mid-call in the child's memory, neither before nor after it, so reading
//! or saving it is refused too. Other tiles work in the child.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use pyo3::exceptions::PyRuntimeError;
use pyo3::PyErr;

/// The first and the longest wait of a thread for a tile another thread of this process is
/// using. The wait doubles up to the longest: a call on a tile takes microseconds to seconds,
/// so a waiting thread starts its call at most a millisecond late and wakes seldom meanwhile.
const FIRST_WAIT: Duration = Duration::from_micros(20);
const LONGEST_WAIT: Duration = Duration::from_millis(1);

/// A value that one thread at a time uses, refused in a process forked while a thread held it.
pub(crate) struct ForkAwareLock<T> {
    /// 0 when free, else the id of the process whose thread holds the value (a process id is
    /// never 0).
    holder: AtomicU32,
    /// The value; locked only by the thread that set `holder`, so never waited on.
    value: Mutex<T>,
}

/// The value of a [`ForkAwareLock`] while this thread holds it.
pub(crate) struct Held<'a, T> {
    guard: Option<MutexGuard<'a, T>>,
    holder: &'a AtomicU32,
}

impl<T> std::ops::Deref for Held<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.guard.as_ref().expect("held until dropped")
    }
}

impl<T> std::ops::DerefMut for Held<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.guard.as_mut().expect("held until dropped")
    }
}

impl<T> Drop for Held<'_, T> {
    fn drop(&mut self) {
        // The value first, then the holder: a process forked in between sees the holder set
        // and refuses the value instead of finding its mutex locked.
        drop(self.guard.take());
        self.holder.store(0, Ordering::Release);
    }
}

impl<T> ForkAwareLock<T> {
    pub(crate) fn new(value: T) -> Self {
        ForkAwareLock {
            holder: AtomicU32::new(0),
            value: Mutex::new(value),
        }
    }

    /// The value, once no other thread of this process holds it; a `RuntimeError` in a process
    /// forked while a thread of its parent held it.
    pub(crate) fn lock(&self) -> Result<Held<'_, T>, PyErr> {
        let me = std::process::id();
        let mut wait = FIRST_WAIT;
        loop {
            match self
                .holder
                .compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(0) => continue,
                Err(holder) if holder == me => {
                    thread::sleep(wait);
                    wait = (wait * 2).min(LONGEST_WAIT);
                }
                Err(_) => {
                    return Err(PyRuntimeError::new_err(
                        "tile was in use by another thread when the process forked: its state \
                         in this process is that of a call half done; make the tile anew here \
                         (from a state saved before the fork, or in the parent after the call)",
                    ))
                }
            }
        }
        let guard = self.value.lock().unwrap_or_else(|e| e.into_inner());
        Ok(Held {
            guard: Some(guard),
            holder: &self.holder,
        })
    }
}
