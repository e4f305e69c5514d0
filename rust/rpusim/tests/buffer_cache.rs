//! `BufferCache` as this test binary's global allocator: a freed large block is handed out
//! again for the same size, zeroed when asked, the cache stays within its bounds, and threads
//! allocating and freeing at once each get blocks of their own. The checks that depend on what
//! the cache holds run one after the other in one test (the tests of a binary run at once and
//! share the allocator), with sizes no other test uses.

use std::alloc::{GlobalAlloc, Layout};

use rpusim::buffer_cache::{MAX_BLOCKS, MAX_CACHED_BYTES, MIN_BYTES};
use rpusim::BufferCache;

#[global_allocator]
static ALLOCATOR: BufferCache = BufferCache::new();

const MB: usize = 1 << 20;

#[test]
fn reuse_small_allocations_growth_and_bounds() {
    a_freed_large_block_is_reused_for_the_same_size_and_zeroed_when_asked();
    small_allocations_are_not_cached();
    growing_and_shrinking_keeps_the_values();
    the_cache_keeps_at_most_its_bounds();
}

fn a_freed_large_block_is_reused_for_the_same_size_and_zeroed_when_asked() {
    let n = (9 * MB + 123) / 4;
    let mut v = vec![0.0f32; n];
    v.iter_mut()
        .enumerate()
        .for_each(|(k, x)| *x = k as f32 + 1.0);
    let first = v.as_ptr();
    drop(v);
    // The same rounded size (10 MB): the same block, and `vec![0.0; n]` (alloc_zeroed) zero.
    let w = vec![0.0f32; n - 7];
    assert_eq!(w.as_ptr(), first);
    assert!(w.iter().all(|&x| x == 0.0));
    drop(w);
    // Another rounded size gets another block.
    let other: Vec<u8> = Vec::with_capacity(13 * MB);
    assert_ne!(other.as_ptr(), first.cast());
}

fn small_allocations_are_not_cached() {
    let small = Layout::from_size_align(MIN_BYTES - 1, 8).unwrap();
    // SAFETY: a valid layout of non-zero size, freed with it.
    unsafe {
        let p = ALLOCATOR.alloc(small);
        assert!(!p.is_null());
        p.write_bytes(7, small.size());
        ALLOCATOR.dealloc(p, small);
    }
    let (blocks, bytes) = ALLOCATOR.cached().unwrap_or((0, 0));
    assert!(blocks <= MAX_BLOCKS && bytes <= MAX_CACHED_BYTES);
}

fn the_cache_keeps_at_most_its_bounds() {
    // More blocks than it keeps, of sizes of their own (41 MB + k * 2 MB; not written, so
    // their pages are never faulted in).
    let buffers: Vec<Vec<u8>> = (0..MAX_BLOCKS + 8)
        .map(|k| Vec::with_capacity(41 * MB + 2 * MB * k))
        .collect();
    drop(buffers);
    let (blocks, bytes) = ALLOCATOR.cached().expect("no other thread in the cache");
    assert!(blocks <= MAX_BLOCKS, "{blocks} blocks");
    assert!(bytes <= MAX_CACHED_BYTES, "{bytes} bytes");
}

fn growing_and_shrinking_keeps_the_values() {
    let mut v: Vec<u32> = (0..(MB / 4) as u32).collect();
    for _ in 0..5 {
        let len = v.len() as u32;
        v.extend(len..2 * len); // through the small and the large path of realloc
    }
    assert!(v.iter().enumerate().all(|(k, &x)| x == k as u32));
    v.truncate(1000);
    v.shrink_to_fit();
    assert!(v.iter().enumerate().all(|(k, &x)| x == k as u32));
}

#[test]
fn threads_allocating_at_once_get_blocks_of_their_own() {
    std::thread::scope(|s| {
        for t in 0..4u8 {
            s.spawn(move || {
                for round in 0..20usize {
                    // Sizes the threads share, so blocks go from one thread to another.
                    let n = (5 + round % 3) * MB;
                    let v = vec![t; n];
                    assert!(v.iter().all(|&x| x == t), "thread {t} round {round}");
                    let z = vec![0u8; n];
                    assert!(z.iter().all(|&x| x == 0), "thread {t} round {round}");
                }
            });
        }
    });
}
