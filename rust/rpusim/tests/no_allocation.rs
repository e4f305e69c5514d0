//! Once warm, the hot paths make no heap allocation: after a few calls of each operation with
//! the same sizes, further calls of `forward_into`, `backward_into` and `update` allocate
//! nothing (but rayon's job queue, see the two-thread test), and thousands of updates leave
//! the heap as it was.
//!
//! Its own test binary, with a counting global allocator. It counts the allocations of the
//! thread that opened a counting window and, while a window is open, of the engine's worker
//! threads (rayon workers); the test harness's own threads are not counted. The tests take
//! turns (the thread count and the windows are process-wide).
//!
//! `RPUSIM_ALLOC_BACKTRACE=3 cargo test -p rpusim --release --test no_allocation -- --nocapture`
//! prints the backtraces of the first three allocations of every counting window (a value
//! that is no number: one).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard};

use common::uniform;
use rpusim::{set_num_threads, IoParameters, MappingParameters, Matrix, TileArray, TileConfig};

// --- The counting allocator -------------------------------------------------------------

struct Counting;

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allocations (`alloc`, `alloc_zeroed`, `realloc`) of the counted threads.
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
/// Bytes allocated minus bytes freed by the counted threads.
static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);
/// A window is open: the worker threads count too.
static WINDOW: AtomicBool = AtomicBool::new(false);
/// Backtraces to print of the first allocations of every window (`RPUSIM_ALLOC_BACKTRACE`).
static BACKTRACES: AtomicUsize = AtomicUsize::new(0);
/// Backtraces the open window has yet to print.
static TO_PRINT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread opened the window.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    /// This thread is taking a backtrace (its allocations are not counted).
    static REPORTING: Cell<bool> = const { Cell::new(false) };
}

fn counted() -> bool {
    let local = |c: &'static std::thread::LocalKey<Cell<bool>>| c.try_with(Cell::get);
    if local(&REPORTING).unwrap_or(true) {
        return false;
    }
    local(&COUNTING).unwrap_or(false)
        || (WINDOW.load(Relaxed) && rayon::current_thread_index().is_some())
}

fn record(bytes: isize, allocation: bool) {
    if !counted() {
        return;
    }
    LIVE_BYTES.fetch_add(bytes, Relaxed);
    if allocation {
        ALLOCATIONS.fetch_add(1, Relaxed);
        let print = TO_PRINT.fetch_update(Relaxed, Relaxed, |k| k.checked_sub(1));
        if print.is_ok() {
            REPORTING.with(|r| r.set(true));
            let backtrace = std::backtrace::Backtrace::force_capture();
            eprintln!("allocation of {bytes} bytes in a counting window:\n{backtrace}");
            REPORTING.with(|r| r.set(false));
        }
    }
}

// SAFETY: every call goes to `System` as it is; the bookkeeping allocates nothing (the
// backtrace's allocations are not counted, so they do not recurse into it).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as the caller promised.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            record(layout.size() as isize, true);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as the caller promised.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            record(layout.size() as isize, true);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as the caller promised.
        unsafe { System.dealloc(ptr, layout) };
        record(-(layout.size() as isize), false);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as the caller promised.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            record(new_size as isize - layout.size() as isize, true);
        }
        p
    }
}

/// What the counted threads did on the heap during `f`: the allocations made, and the change
/// of the live bytes.
fn heap_use(f: impl FnOnce()) -> (usize, isize) {
    let (allocations, bytes) = (ALLOCATIONS.load(Relaxed), LIVE_BYTES.load(Relaxed));
    TO_PRINT.store(BACKTRACES.load(Relaxed), Relaxed);
    WINDOW.store(true, Relaxed);
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    WINDOW.store(false, Relaxed);
    (
        ALLOCATIONS.load(Relaxed) - allocations,
        LIVE_BYTES.load(Relaxed) - bytes,
    )
}

/// One test at a time, with `threads` engine threads.
fn exclusive(threads: usize) -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let backtraces = std::env::var("RPUSIM_ALLOC_BACKTRACE").map_or(0, |v| v.parse().unwrap_or(1));
    BACKTRACES.store(backtraces, Relaxed);
    set_num_threads(threads).unwrap();
    if threads > 1 {
        // A new pool's workers allocate as they start (their queues, their thread-locals):
        // work on the pool first, so that none of it falls into a counting window.
        Bench::new(TileConfig::default(), LARGE);
    }
    guard
}

// --- The workload -------------------------------------------------------------------------

/// Calls of each operation that are counted.
const N: usize = 50;
/// Rounds of all three operations before counting.
const WARM_UP: usize = 3;
/// Input sets the calls go through in turn.
const INPUTS: usize = 4;

/// The configurations: the default, with weight scaling (and the default learning-rate
/// compensation), with perfect forward and backward peripheries, and on a grid of arrays of
/// at most 32 x 48 (2 x 2 of them for the small tile).
fn configs() -> Vec<(&'static str, TileConfig)> {
    let scaled = TileConfig {
        mapping: MappingParameters {
            weight_scaling_omega: 0.6,
            ..MappingParameters::default()
        },
        ..TileConfig::default()
    };
    let perfect = TileConfig {
        forward: IoParameters::perfect(),
        backward: IoParameters::perfect(),
        ..TileConfig::default()
    };
    let mut grid = scaled.clone();
    grid.mapping.max_output_size = 32;
    grid.mapping.max_input_size = 48;
    vec![
        ("default", TileConfig::default()),
        ("scaled", scaled),
        ("perfect", perfect),
        ("grid", grid),
    ]
}

/// A tile of `out x inp` and its inputs for batches of `n`, warmed up.
struct Bench {
    tile: TileArray,
    n: usize,
    x: Vec<Vec<f32>>,
    d: Vec<Vec<f32>>,
    y: Vec<f32>,
    z: Vec<f32>,
}

impl Bench {
    fn new(config: TileConfig, (out, inp, n): (usize, usize, usize)) -> Bench {
        let mut tile = TileArray::new(out, inp, config, 7).unwrap();
        tile.set_weights(
            Matrix::new(
                &uniform(out * inp, -0.3, 0.3, 8),
                tile.out_size(),
                tile.in_size(),
            )
            .unwrap(),
        )
        .unwrap();
        let x = (0..INPUTS as u64)
            .map(|s| uniform(n * inp, -1.0, 1.0, s))
            .collect();
        let d = (0..INPUTS as u64)
            .map(|s| uniform(n * out, -0.1, 0.1, s + 100))
            .collect();
        let (y, z) = (vec![0.0; n * out], vec![0.0; n * inp]);
        let mut b = Bench {
            tile,
            n,
            x,
            d,
            y,
            z,
        };
        for call in 0..WARM_UP * INPUTS {
            b.forward(call);
            b.backward(call);
            b.update(call);
        }
        b
    }

    fn forward(&mut self, call: usize) {
        let x = Matrix::new(&self.x[call % INPUTS], self.n, self.tile.in_size()).unwrap();
        self.tile.forward_into(x, false, &mut self.y).unwrap();
    }

    fn backward(&mut self, call: usize) {
        let d = Matrix::new(&self.d[call % INPUTS], self.n, self.tile.out_size()).unwrap();
        self.tile.backward_into(d, &mut self.z).unwrap();
    }

    fn update(&mut self, call: usize) {
        let x = Matrix::new(&self.x[call % INPUTS], self.n, self.tile.in_size()).unwrap();
        let d = Matrix::new(&self.d[call % INPUTS], self.n, self.tile.out_size()).unwrap();
        self.tile.update(x, d, 0.05).unwrap();
    }
}

/// An operation.
struct Operation {
    name: &'static str,
    call: fn(&mut Bench, usize),
}

const OPERATIONS: [Operation; 3] = [
    Operation {
        name: "forward_into",
        call: Bench::forward,
    },
    Operation {
        name: "backward_into",
        call: Bench::backward,
    },
    Operation {
        name: "update",
        call: Bench::update,
    },
];

/// Asserts that `N` warm calls of every operation on a tile of `shape` make at most `queue`
/// allocations, in every configuration.
fn check_allocations(shape: (usize, usize, usize), queue: usize) {
    let mut wrong = Vec::new();
    for (config, tile_config) in configs() {
        let mut bench = Bench::new(tile_config, shape);
        for op in &OPERATIONS {
            let (count, _) = heap_use(|| (0..N).for_each(|c| (op.call)(&mut bench, c)));
            if count > queue {
                wrong.push((config, op.name, count));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "heap allocations in {N} warm calls, for {shape:?} (config, operation, allocations): \
         {wrong:?}"
    );
}

/// A small tile: nothing goes to the worker threads.
const SMALL: (usize, usize, usize) = (64, 96, 20);
/// Large enough that passes and updates run on the worker threads with two of them.
const LARGE: (usize, usize, usize) = (512, 384, 64);

#[test]
fn warm_calls_allocate_nothing_on_one_thread() {
    let _turn = exclusive(1);
    check_allocations(SMALL, 0);
}

/// On two threads the small tile stays on the calling thread. The large one sends work to the
/// pool: rayon's job queue (`crossbeam_deque::Injector`) allocates a block of 63 jobs (1520
/// bytes, freed by the worker that takes its last job) every 63 `ThreadPool::install` calls
/// from outside the pool, one or two blocks in `N` calls; the rest allocates nothing.
#[test]
fn warm_calls_allocate_nothing_but_jobs_on_two_threads() {
    let _turn = exclusive(2);
    check_allocations(SMALL, 0);
    check_allocations(LARGE, N.div_ceil(10));
}

/// The default configuration and weight scaling (whose update keeps the scaled errors in a
/// buffer of the tile); the periphery of `perfect` plays no part in the update.
#[test]
fn ten_thousand_updates_leave_the_heap_as_it_was() {
    let _turn = exclusive(1);
    for (name, config) in configs().into_iter().filter(|(name, _)| *name != "perfect") {
        let mut bench = Bench::new(config, SMALL);
        let (_, bytes) = heap_use(|| (0..10_000).for_each(|c| bench.update(c)));
        assert_eq!(bytes, 0, "{name}: live bytes grew by {bytes}");
    }
}
