//! A global allocator that keeps freed large buffers for the next allocation of the same size.
//!
//! A training step allocates and frees the same large buffers again and again: the copies of a
//! batch, the outputs of the passes, the patches of a convolution (226 MB each for the second
//! convolution of VGG-8 at batch 128). The system allocator returns such blocks to the kernel
//! when they are freed, so every step faults all of them in again, page by page: on a virtual
//! machine that was 1 to 4 s of system time per VGG-8 step, as long as the engine's work. With
//! [`BufferCache`] as the global allocator (the Python extension installs it) a freed block of
//! at least [`MIN_BYTES`] is kept, up to [`MAX_BLOCKS`] blocks and [`MAX_CACHED_BYTES`] in all,
//! and handed out again for the next request of the same rounded size; smaller allocations go
//! to the system allocator unchanged.
//!
//! The cache never blocks: a thread that finds it in use by another goes to the system
//! allocator. A process forked while another thread held it (a torch DataLoader worker) so
//! allocates normally instead of deadlocking.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;

use crate::alloc::advise_huge_pages;

/// Allocations from this size on are cached.
pub const MIN_BYTES: usize = 4 << 20;
/// The most blocks kept.
pub const MAX_BLOCKS: usize = 32;
/// The most bytes kept in all (idle memory the process holds).
pub const MAX_CACHED_BYTES: usize = 2 << 30;
/// Cached sizes are rounded up to a multiple of this (a huge page).
const GRANULE: usize = 2 << 20;

/// A freed block: its address, its (rounded) size and the alignment it was allocated with.
#[derive(Clone, Copy)]
struct Block {
    ptr: usize,
    size: usize,
    align: usize,
}

struct Blocks {
    blocks: [Block; MAX_BLOCKS],
    len: usize,
    bytes: usize,
}

impl Blocks {
    /// A kept block of exactly `size` bytes and at least `align`, oldest first.
    fn take(&mut self, size: usize, align: usize) -> Option<*mut u8> {
        let k = (0..self.len)
            .find(|&k| self.blocks[k].size == size && self.blocks[k].align >= align)?;
        let block = self.blocks[k];
        self.blocks.copy_within(k + 1..self.len, k);
        self.len -= 1;
        self.bytes -= block.size;
        Some(block.ptr as *mut u8)
    }

    /// Keeps `block`, giving the oldest blocks back to the system while there is no room.
    fn put(&mut self, block: Block) {
        while self.len == MAX_BLOCKS || (self.len > 0 && self.bytes + block.size > MAX_CACHED_BYTES)
        {
            let old = self.blocks[0];
            self.blocks.copy_within(1..self.len, 0);
            self.len -= 1;
            self.bytes -= old.size;
            // SAFETY: a block this cache took from `System` with this size and alignment.
            unsafe { System.dealloc(old.ptr as *mut u8, system_layout(old.size, old.align)) };
        }
        self.blocks[self.len] = block;
        self.len += 1;
        self.bytes += block.size;
    }
}

/// The layout a cached block of `size` (a multiple of [`GRANULE`]) is allocated with.
fn system_layout(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size, align).expect("a rounded size of a valid layout")
}

/// The size a large allocation of `layout` is given, or `None` for one that is not cached.
fn rounded(layout: Layout) -> Option<usize> {
    if layout.size() < MIN_BYTES || layout.align() > GRANULE {
        return None;
    }
    layout
        .size()
        .checked_next_multiple_of(GRANULE)
        .filter(|&s| s <= MAX_CACHED_BYTES && Layout::from_size_align(s, layout.align()).is_ok())
}

/// The global allocator of this module: the system allocator, with freed large blocks kept for
/// reuse (see the module documentation). Install it with
/// `#[global_allocator] static ALLOCATOR: BufferCache = BufferCache::new();`.
pub struct BufferCache {
    blocks: Mutex<Blocks>,
}

impl BufferCache {
    /// An empty cache.
    pub const fn new() -> Self {
        BufferCache {
            blocks: Mutex::new(Blocks {
                blocks: [Block {
                    ptr: 0,
                    size: 0,
                    align: 0,
                }; MAX_BLOCKS],
                len: 0,
                bytes: 0,
            }),
        }
    }

    /// The blocks and bytes kept now (`None` while another thread uses the cache).
    pub fn cached(&self) -> Option<(usize, usize)> {
        let blocks = self.blocks.try_lock().ok()?;
        Some((blocks.len, blocks.bytes))
    }

    /// A kept block for `layout` of the rounded `size`, if there is one and the cache is free.
    fn take(&self, size: usize, layout: Layout) -> Option<*mut u8> {
        self.blocks.try_lock().ok()?.take(size, layout.align())
    }

    /// A new block of `size` from the system (zeroed when `zeroed`), advised to huge pages.
    ///
    /// # Safety
    /// `size` and `align` make a valid layout of non-zero size.
    unsafe fn fresh(size: usize, align: usize, zeroed: bool) -> *mut u8 {
        let layout = system_layout(size, align);
        // SAFETY: the caller's guarantee.
        let ptr = unsafe {
            if zeroed {
                System.alloc_zeroed(layout)
            } else {
                System.alloc(layout)
            }
        };
        if !ptr.is_null() {
            advise_huge_pages(ptr, size);
        }
        ptr
    }
}

impl std::fmt::Debug for BufferCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("BufferCache");
        match self.cached() {
            Some((blocks, bytes)) => d.field("blocks", &blocks).field("bytes", &bytes),
            None => d.field("blocks", &"in use"),
        }
        .finish()
    }
}

impl Default for BufferCache {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: every block handed out is a live allocation of `System` of at least the requested
// size and alignment, owned by the caller until it is freed; a freed cached block is kept only
// until it is handed out again or given back to `System` with the layout it was allocated with.
unsafe impl GlobalAlloc for BufferCache {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match rounded(layout) {
            // SAFETY: a rounded size of a valid layout of non-zero size.
            Some(size) => self
                .take(size, layout)
                .unwrap_or_else(|| unsafe { Self::fresh(size, layout.align(), false) }),
            // SAFETY: the caller's guarantee.
            None => unsafe { System.alloc(layout) },
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match rounded(layout) {
            Some(size) => match self.take(size, layout) {
                Some(ptr) => {
                    // SAFETY: a kept block of at least `layout.size()` bytes.
                    unsafe { ptr.write_bytes(0, layout.size()) };
                    ptr
                }
                // SAFETY: as in `alloc`.
                None => unsafe { Self::fresh(size, layout.align(), true) },
            },
            // SAFETY: the caller's guarantee.
            None => unsafe { System.alloc_zeroed(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some(size) = rounded(layout) else {
            // SAFETY: the caller's guarantee; small blocks come from `System` as they are.
            return unsafe { System.dealloc(ptr, layout) };
        };
        let block = Block {
            ptr: ptr as usize,
            size,
            align: layout.align(),
        };
        match self.blocks.try_lock() {
            Ok(mut blocks) => blocks.put(block),
            // SAFETY: a block of `System` allocated with this rounded layout.
            Err(_) => unsafe { System.dealloc(ptr, system_layout(size, layout.align())) },
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new_layout = Layout::from_size_align(new_size, layout.align());
        match new_layout {
            // Small to small: the system allocator's own realloc.
            Ok(new) if rounded(layout).is_none() && rounded(new).is_none() => {
                // SAFETY: the caller's guarantee.
                unsafe { System.realloc(ptr, layout, new_size) }
            }
            Ok(new) => {
                // SAFETY: `new` is valid and of non-zero size (the caller's guarantee); the
                // old block holds `layout.size()` bytes and is freed once copied.
                unsafe {
                    let out = self.alloc(new);
                    if !out.is_null() {
                        std::ptr::copy_nonoverlapping(ptr, out, layout.size().min(new_size));
                        self.dealloc(ptr, layout);
                    }
                    out
                }
            }
            Err(_) => std::ptr::null_mut(),
        }
    }
}
