//! Fallible allocation of the engine's large buffers (tile weights, device arrays, work space,
//! outputs): a failed allocation is [`Error::OutOfMemory`] naming the buffer, never the abort
//! of the process that `Vec`'s infallible allocation ends in.
//!
//! Large buffers are also given to the kernel's transparent huge pages where it offers them
//! (Linux, `madvise` mode). The first write of a page of fresh memory is a page fault, and on a
//! virtual machine the faults of 4 KiB pages made writing a fresh 226 MB buffer (the patches of
//! one VGG-8 convolution) take 0.5 s against 9 ms for writing it again; with 2 MiB pages there
//! are 512 times fewer faults. Only where the memory is: the values are the same.

use crate::error::{Error, Result};

/// The error of a buffer `what` of `count` values of `T` that could not be allocated.
fn out_of_memory<T>(what: &str, count: usize) -> Error {
    Error::OutOfMemory {
        what: what.to_string(),
        bytes: (count as u128 * std::mem::size_of::<T>() as u128).min(u64::MAX as u128) as u64,
    }
}

/// Buffers from this size on are advised to use huge pages (smaller ones hold few of them).
const HUGE_PAGE_MIN_BYTES: usize = 4 << 20;

/// Asks the kernel to back the 2 MiB-aligned pages inside `bytes` bytes at `ptr` with huge
/// pages when they are first written. Advice only: where the kernel has no huge pages, or
/// refuses, nothing changes.
pub(crate) fn advise_huge_pages(ptr: *mut u8, bytes: usize) {
    #[cfg(target_os = "linux")]
    if bytes >= HUGE_PAGE_MIN_BYTES {
        const HUGE: usize = 2 << 20;
        let start = (ptr as usize).next_multiple_of(HUGE);
        let end = (ptr as usize + bytes) / HUGE * HUGE;
        if end > start {
            // SAFETY: the range lies inside an allocation this crate owns; MADV_HUGEPAGE
            // changes how its pages are backed, never their contents.
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (ptr, bytes, HUGE_PAGE_MIN_BYTES);
}

/// Makes `v` able to hold `total` values without reallocating.
pub(crate) fn reserve<T>(v: &mut Vec<T>, total: usize, what: &str) -> Result<()> {
    let more = total.saturating_sub(v.len());
    if more > v.capacity() - v.len() {
        v.try_reserve_exact(more)
            .map_err(|_| out_of_memory::<T>(what, total))?;
        let spare = v.spare_capacity_mut();
        advise_huge_pages(spare.as_mut_ptr().cast(), std::mem::size_of_val(spare));
    }
    Ok(())
}

/// `n` copies of `value`.
pub(crate) fn filled<T: Clone>(n: usize, value: T, what: &str) -> Result<Vec<T>> {
    let mut v = Vec::new();
    reserve(&mut v, n, what)?;
    v.resize(n, value);
    Ok(v)
}

/// `n` zeros, from zeroed pages (as `vec![0.0; n]`, without writing them).
pub fn zeros(n: usize, what: &str) -> Result<Vec<f32>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let layout = std::alloc::Layout::array::<f32>(n).map_err(|_| out_of_memory::<f32>(what, n))?;
    // SAFETY: a layout of non-zero size; the pointer, when not null, is that allocation of `n`
    // f32 (all zero bits: 0.0), with the capacity and alignment `Vec<f32>` expects.
    unsafe {
        let ptr = std::alloc::alloc_zeroed(layout);
        if ptr.is_null() {
            return Err(out_of_memory::<f32>(what, n));
        }
        // Fresh pages of a large allocation are not written by the allocator (the kernel's
        // pages are zero), so the advice comes before their first write.
        advise_huge_pages(ptr, layout.size());
        Ok(Vec::from_raw_parts(ptr.cast::<f32>(), n, n))
    }
}

/// A copy of `values`.
pub fn copied(values: &[f32], what: &str) -> Result<Vec<f32>> {
    let mut v = Vec::new();
    reserve(&mut v, values.len(), what)?;
    v.extend_from_slice(values);
    Ok(v)
}

/// The `n` items of `items` collected.
pub(crate) fn collect<T>(n: usize, items: impl Iterator<Item = T>, what: &str) -> Result<Vec<T>> {
    let mut v = Vec::new();
    reserve(&mut v, n, what)?;
    v.extend(items.take(n));
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_allocation_too_large_is_an_error_naming_the_buffer() {
        let e = filled(usize::MAX / 8, 0.0f32, "weights").unwrap_err();
        assert!(e.to_string().starts_with("weights: cannot allocate"), "{e}");
        let e = zeros(usize::MAX / 2, "output").unwrap_err();
        assert!(matches!(e, Error::OutOfMemory { .. }), "{e}");
        let e = collect(usize::MAX / 4, std::iter::repeat(1u32), "trains").unwrap_err();
        assert!(e.to_string().contains("trains"), "{e}");
        let mut v = vec![1u8];
        assert!(reserve(&mut v, usize::MAX, "bytes").is_err());
    }

    #[test]
    fn allocations_that_fit_hold_what_was_asked() {
        assert_eq!(filled(3, 1.5f32, "a").unwrap(), vec![1.5; 3]);
        assert_eq!(zeros(5, "b").unwrap(), vec![0.0; 5]);
        assert!(zeros(0, "c").unwrap().is_empty());
        assert_eq!(collect(2, [7, 8, 9].into_iter(), "d").unwrap(), vec![7, 8]);
        let mut v = vec![1.0f32];
        reserve(&mut v, 100, "e").unwrap();
        assert!(v.capacity() >= 100 && v == [1.0]);
    }
}
