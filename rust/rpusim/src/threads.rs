//! The engine's worker threads.
//!
//! One rayon pool, owned here rather than rayon's global pool so that the thread count can be
//! changed at run time. Results never depend on the count: work is split into chunks whose
//! outputs are computed wholly by one worker in a fixed order.
//!
//! Fork safety: a process forked after the pool started (torch DataLoader workers, for
//! instance) inherits a pool whose threads do not exist in the child. The pool remembers the
//! process id that built it; a child sees another id and builds a fresh pool.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use rayon::prelude::*;
use rayon::ThreadPool;

use crate::error::{Error, Result};
use crate::interrupt::Interrupt;

struct Pool {
    pid: u32,
    threads: usize,
    pool: Arc<ThreadPool>,
}

static POOL: Mutex<Option<Pool>> = Mutex::new(None);
/// Requested thread count; 0 means "not set": `RPUSIM_NUM_THREADS` or all cores.
static REQUESTED: AtomicUsize = AtomicUsize::new(0);

/// Work (in estimated nanoseconds of one thread) below which a call runs on the calling
/// thread. One parallel region (`install` from a thread outside the pool: waking the workers,
/// and the caller's wake-up at the end) was measured at 15-20 us when the workers are still
/// awake and 50-80 us when they have gone to sleep, as they do between the calls of a
/// training loop (2-vCPU virtual machine; a desktop takes 5-15 us). At 200 us of work two
/// threads save more than waking them costs even then, and more as the work grows.
pub(crate) const PARALLEL_MIN_NS: usize = 200_000;

/// The most worker threads the engine starts. A pool reserves a stack (2 MiB of address space)
/// per thread and splits its work as many ways; past the cores that only costs, so the cap is
/// what keeps a typo (`RPUSIM_NUM_THREADS=100000`) from starting 10^5 threads. Fixed rather
/// than a multiple of the cores, so that a setting valid on one machine is valid on all; the
/// largest machines at hand have a few hundred hardware threads.
pub const MAX_THREADS: usize = 1024;

/// The environment variable that sets the default thread count.
const THREADS_VAR: &str = "RPUSIM_NUM_THREADS";

/// The thread count `value` of [`THREADS_VAR`] asks for: a whole number in `[1,`
/// [`MAX_THREADS`]`]`, or an error naming the variable.
fn parse_threads(value: &str) -> Result<usize> {
    match value.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_THREADS).contains(&n) => Ok(n),
        _ => Err(Error::invalid(
            THREADS_VAR,
            format!("expected a whole number of threads in [1, {MAX_THREADS}], got {value:?}"),
        )),
    }
}

/// The thread count `RPUSIM_NUM_THREADS` sets (`None` when it is unset or empty), or an error
/// naming it: the binding calls this when it is loaded, so that a bad value is refused at once
/// rather than ignored.
pub fn env_threads() -> Result<Option<usize>> {
    match std::env::var(THREADS_VAR) {
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) => parse_threads(&v).map(Some),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(v)) => Err(Error::invalid(
            THREADS_VAR,
            format!("expected a whole number of threads in [1, {MAX_THREADS}], got {v:?}"),
        )),
    }
}

/// [`THREADS_VAR`] or all cores (at most [`MAX_THREADS`]), read once: the environment and the
/// CPU count (which reads cgroup files) are not consulted again on every call. A bad value of
/// the variable is refused by [`env_threads`] (the binding raises it on import); an embedding
/// program that did not ask gets all cores.
fn default_threads() -> usize {
    static DEFAULT: OnceLock<usize> = OnceLock::new();
    *DEFAULT.get_or_init(|| {
        env_threads().ok().flatten().unwrap_or_else(|| {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            cores.min(MAX_THREADS)
        })
    })
}

fn wanted_threads() -> usize {
    match REQUESTED.load(Ordering::Relaxed) {
        0 => default_threads(),
        n => n,
    }
}

/// Whether work of `work_ns` estimated nanoseconds in `chunks` independent pieces goes to the
/// pool.
#[inline]
fn goes_parallel(work_ns: usize, chunks: usize) -> bool {
    chunks >= 2 && planned_threads(work_ns) >= 2
}

fn build(threads: usize) -> Result<Pool> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("rpusim-{i}"))
        .build()
        .map_err(|e| Error::Threads(e.to_string()))?;
    Ok(Pool {
        pid: std::process::id(),
        threads,
        pool: Arc::new(pool),
    })
}

/// The number of threads work of `work_ns` estimated nanoseconds will run on: 1 below the
/// parallel threshold, else the thread count (for choosing how finely to split it).
pub(crate) fn planned_threads(work_ns: usize) -> usize {
    if work_ns >= PARALLEL_MIN_NS {
        wanted_threads()
    } else {
        1
    }
}

/// Sets the number of worker threads for all tiles (`1 <= n <=` [`MAX_THREADS`]).
pub fn set_num_threads(n: usize) -> Result<()> {
    if !(1..=MAX_THREADS).contains(&n) {
        return Err(Error::invalid(
            "num_threads",
            format!("must be in [1, {MAX_THREADS}], got {n}"),
        ));
    }
    let new = build(n)?;
    REQUESTED.store(n, Ordering::Relaxed);
    let mut slot = POOL.lock().unwrap_or_else(|e| e.into_inner());
    replace(&mut slot, new);
    Ok(())
}

/// The number of worker threads the next call will use.
pub fn num_threads() -> usize {
    wanted_threads()
}

fn replace(slot: &mut Option<Pool>, new: Pool) {
    if let Some(old) = slot.replace(new) {
        if old.pid != std::process::id() {
            // Inherited through fork: its threads are gone, so never run its destructor.
            std::mem::forget(old);
        }
    }
}

fn current_pool() -> Option<Arc<ThreadPool>> {
    let mut slot = POOL.lock().unwrap_or_else(|e| e.into_inner());
    let pid = std::process::id();
    let wanted = wanted_threads();
    let stale = match slot.as_ref() {
        Some(p) => p.pid != pid || p.threads != wanted,
        None => true,
    };
    if stale {
        match build(wanted) {
            Ok(new) => replace(&mut slot, new),
            // Without a pool of our own, rayon's global pool does the work.
            Err(_) => return None,
        }
    }
    slot.as_ref().map(|p| Arc::clone(&p.pool))
}

/// Runs `f` inside the engine's pool.
pub(crate) fn install<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    match current_pool() {
        Some(pool) => pool.install(f),
        None => f(),
    }
}

/// Calls `f(chunk_index, chunk)` for every `chunk_len`-sized chunk of `data` and collects the
/// results in chunk order: on the pool when `work_ns` (estimated nanoseconds of one thread, in
/// all) is large enough, else in order on this thread. The results are the same either way,
/// because each chunk is handled by one call.
pub(crate) fn map_chunks<T, R, F>(data: &mut [T], chunk_len: usize, work_ns: usize, f: F) -> Vec<R>
where
    T: Send,
    R: Send,
    F: Fn(usize, &mut [T]) -> R + Send + Sync,
{
    let chunk_len = chunk_len.max(1);
    let chunks = data.len().div_ceil(chunk_len);
    if !goes_parallel(work_ns, chunks) {
        data.chunks_mut(chunk_len)
            .enumerate()
            .map(|(c, chunk)| f(c, chunk))
            .collect()
    } else {
        install(|| {
            data.par_chunks_mut(chunk_len)
                .enumerate()
                .map(|(c, chunk)| f(c, chunk))
                .collect()
        })
    }
}

/// The sum of `f(chunk_index, chunk, other_chunk)` over the `chunk_len`-sized chunks of `data`
/// and, when there is one, of `other` (as long as `data`), split alike: on the pool when
/// `work_ns` is large enough, else in order on this thread. Allocates nothing.
pub(crate) fn sum_chunks<T, U, F>(
    data: &mut [T],
    other: Option<&mut [U]>,
    chunk_len: usize,
    work_ns: usize,
    f: F,
) -> u64
where
    T: Send,
    U: Send,
    F: Fn(usize, &mut [T], Option<&mut [U]>) -> u64 + Send + Sync,
{
    let chunk_len = chunk_len.max(1);
    let chunks = data.len().div_ceil(chunk_len);
    if !goes_parallel(work_ns, chunks) {
        return match other {
            None => data
                .chunks_mut(chunk_len)
                .enumerate()
                .map(|(c, a)| f(c, a, None))
                .sum(),
            Some(other) => data
                .chunks_mut(chunk_len)
                .zip(other.chunks_mut(chunk_len))
                .enumerate()
                .map(|(c, (a, b))| f(c, a, Some(b)))
                .sum(),
        };
    }
    install(|| match other {
        None => data
            .par_chunks_mut(chunk_len)
            .enumerate()
            .map(|(c, a)| f(c, a, None))
            .sum(),
        Some(other) => data
            .par_chunks_mut(chunk_len)
            .zip(other.par_chunks_mut(chunk_len))
            .enumerate()
            .map(|(c, (a, b))| f(c, a, Some(b)))
            .sum(),
    })
}

/// How long the calling thread waits between two asks of an interrupt while the pool works
/// for it (the poll is cheap, and the job wakes the thread at once when it ends).
const ASK_EVERY: Duration = Duration::from_millis(10);

/// Marks the job of [`for_each_pair_asking`] done when dropped (also when it panics, so that
/// the waiting thread never waits for it forever), and wakes the waiting thread.
struct JobDone<'a> {
    done: &'a AtomicBool,
    waiting: &'a std::thread::Thread,
}

impl Drop for JobDone<'_> {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Release);
        self.waiting.unpark();
    }
}

/// Calls `f(k, data[k], other[k])` for every `k` (`other` as long as `data`): on the pool when
/// `work_ns` is large enough, else in order on this thread. When `interrupt` has a poll, the
/// calling thread, instead of sleeping until the pool is done, asks it every [`ASK_EVERY`], so
/// that the work (which reads its answer) can stop early; that costs one job on the heap per
/// call, so without a poll the pool runs the work as [`map_chunks`] does, allocating nothing.
/// The results are the same either way.
pub(crate) fn for_each_pair_asking<T, U, F>(
    data: &mut [T],
    other: &mut [U],
    work_ns: usize,
    interrupt: &Interrupt<'_>,
    f: F,
) where
    T: Send,
    U: Send,
    F: Fn(usize, &mut T, &mut U) + Send + Sync,
{
    let each = |(k, (a, b)): (usize, (&mut T, &mut U))| f(k, a, b);
    if !goes_parallel(work_ns, data.len()) {
        data.iter_mut()
            .zip(other.iter_mut())
            .enumerate()
            .for_each(each);
        return;
    }
    let mut parallel = || {
        data.par_iter_mut()
            .zip(other.par_iter_mut())
            .enumerate()
            .for_each(each)
    };
    let pool = match interrupt.polls() {
        true => current_pool(),
        false => None,
    };
    let Some(pool) = pool else {
        return install(parallel);
    };
    let done = AtomicBool::new(false);
    let waiting = std::thread::current();
    pool.in_place_scope(|scope| {
        let (done, waiting) = (&done, &waiting);
        scope.spawn(move |_| {
            let _done = JobDone { done, waiting };
            parallel();
        });
        while !done.load(Ordering::Acquire) {
            interrupt.requested();
            std::thread::park_timeout(ASK_EVERY);
        }
    });
}

/// Calls `f(range)` for the `chunk`-sized ranges of `0 .. n`: on the pool when `work_ns` is
/// large enough, else in order on this thread.
pub(crate) fn for_each_range<F>(n: usize, chunk: usize, work_ns: usize, f: F)
where
    F: Fn(std::ops::Range<usize>) + Send + Sync,
{
    let chunk = chunk.max(1);
    let chunks = n.div_ceil(chunk);
    let range = |c: usize| c * chunk..((c + 1) * chunk).min(n);
    if !goes_parallel(work_ns, chunks) {
        (0..chunks).for_each(|c| f(range(c)));
    } else {
        install(|| (0..chunks).into_par_iter().for_each(|c| f(range(c))));
    }
}

/// A slice that threads write in disjoint parts.
#[derive(Debug)]
pub(crate) struct Disjoint<T> {
    ptr: *mut T,
    len: usize,
}

impl<T> Clone for Disjoint<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Disjoint<T> {}

// SAFETY: the users write disjoint elements only (see [`Disjoint::slice`]).
unsafe impl<T: Send> Send for Disjoint<T> {}
unsafe impl<T: Send> Sync for Disjoint<T> {}

impl<T> Disjoint<T> {
    pub(crate) fn new(v: &mut [T]) -> Self {
        Disjoint {
            ptr: v.as_mut_ptr(),
            len: v.len(),
        }
    }

    /// The slice from element `at` on (checked against the length), for users that address
    /// their part relative to it.
    pub(crate) fn offset(self, at: usize) -> Self {
        assert!(at <= self.len);
        Disjoint {
            ptr: self.ptr.wrapping_add(at),
            len: self.len - at,
        }
    }

    /// Elements `at .. at + n` (checked against the length).
    ///
    /// # Safety
    /// No other thread touches them while the slice lives.
    #[inline(always)]
    pub(crate) unsafe fn slice<'a>(self, at: usize, n: usize) -> &'a mut [T] {
        assert!(at + n <= self.len);
        // SAFETY: inside the slice `new` took; exclusive by the caller's guarantee.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(at), n) }
    }
}

/// [`map_chunks`] for work that returns nothing.
pub(crate) fn for_each_chunk<T, F>(data: &mut [T], chunk_len: usize, work_ns: usize, f: F)
where
    T: Send,
    F: Fn(usize, &mut [T]) + Send + Sync,
{
    map_chunks(data, chunk_len, work_ns, f);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thread_variable_takes_a_count_in_range_and_refuses_the_rest() {
        assert_eq!(parse_threads("4"), Ok(4));
        assert_eq!(parse_threads(" 1024 "), Ok(MAX_THREADS));
        for bad in ["abc", "0", "-1", "1025", "100000", "2.5", "4 threads"] {
            let message = parse_threads(bad).unwrap_err().to_string();
            assert_eq!(
                message,
                format!(
                    "RPUSIM_NUM_THREADS: expected a whole number of threads in [1, 1024], \
                     got {bad:?}"
                ),
            );
        }
    }

    #[test]
    fn set_num_threads_refuses_counts_past_the_cap() {
        for bad in [0, MAX_THREADS + 1, 100_000] {
            let message = set_num_threads(bad).unwrap_err().to_string();
            assert_eq!(
                message,
                format!("num_threads: must be in [1, 1024], got {bad}")
            );
        }
    }
}
