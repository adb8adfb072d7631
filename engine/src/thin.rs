//! [`ThinBytes`]: an owned byte buffer behind an 8-byte pointer.
//!
//! `Box<[u8]>` is a fat pointer, 16 bytes: pointer and length. The session
//! table holds one per session (and the key table one per key), and a hash
//! table at a typical load carries each slot about 1.5 times, so the
//! length alone costs some 12 bytes per entry. `ThinBytes` keeps the length
//! inside the allocation instead, in front of the bytes: a session's slot
//! is 8 bytes, a key's 16 (its packed bytes and a set's box).
//!
//! This is the engine's only `unsafe` code. Its invariants are small:
//! - `ptr` points to an allocation made by [`ThinBytes::zeroed`] with
//!   `layout_for(len)`, whose first [`LEN`] bytes hold `len` as a
//!   little-endian `u32`, followed by `len` initialised bytes;
//! - the allocation is owned by exactly one `ThinBytes`, freed in `Drop`
//!   with the same layout, and never resized;
//! - the length prefix is never written after construction (only
//!   [`ThinBytes::as_mut_slice`] hands out mutable access, and it starts
//!   after the prefix).

use std::alloc::{Layout, alloc_zeroed, dealloc, handle_alloc_error};
use std::ptr::NonNull;

/// Bytes of the length prefix.
const LEN: usize = 4;

/// An owned, fixed-length byte buffer behind a thin pointer.
pub(crate) struct ThinBytes {
    ptr: NonNull<u8>,
}

// SAFETY: a ThinBytes owns its allocation exclusively, like Box<[u8]>, and
// offers no interior mutability; moving or sharing it across threads is as
// safe as for Box<[u8]>.
unsafe impl Send for ThinBytes {}
// SAFETY: as above: &ThinBytes only hands out &[u8].
unsafe impl Sync for ThinBytes {}

impl ThinBytes {
    /// A buffer of `len` zero bytes.
    ///
    /// # Panics
    /// If `len` does not fit in a `u32` (callers bound lengths far below).
    pub(crate) fn zeroed(len: usize) -> Self {
        let prefix = u32::try_from(len).expect("ThinBytes length fits in u32");
        let layout = layout_for(len);
        // SAFETY: the layout is never zero-sized (it includes the prefix).
        let raw = unsafe { alloc_zeroed(layout) };
        let Some(ptr) = NonNull::new(raw) else {
            handle_alloc_error(layout)
        };
        // SAFETY: the allocation is at least LEN bytes and u8-aligned.
        unsafe {
            ptr.as_ptr()
                .copy_from_nonoverlapping(prefix.to_le_bytes().as_ptr(), LEN)
        };
        ThinBytes { ptr }
    }

    /// Asks the CPU to start loading the first 256 bytes of the allocation
    /// into its cache, without waiting: a batch's reads prefetched before
    /// the first is answered wait for memory once, not once each.
    pub(crate) fn prefetch(&self) {
        #[cfg(target_arch = "x86_64")]
        for line in 0..4 {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            // SAFETY: a prefetch is a hint: it reads nothing into the
            // program and cannot fault, whatever the address.
            unsafe {
                _mm_prefetch::<_MM_HINT_T0>(self.ptr.as_ptr().wrapping_add(64 * line).cast())
            };
        }
    }

    /// Number of bytes held (not counting the prefix).
    pub(crate) fn len(&self) -> usize {
        let mut prefix = [0u8; LEN];
        // SAFETY: the first LEN bytes of the allocation are the prefix.
        unsafe {
            prefix
                .as_mut_ptr()
                .copy_from_nonoverlapping(self.ptr.as_ptr(), LEN)
        };
        u32::from_le_bytes(prefix) as usize
    }

    /// The bytes.
    pub(crate) fn as_slice(&self) -> &[u8] {
        // SAFETY: `len` initialised bytes follow the prefix, owned by self
        // and borrowed immutably for the lifetime of the returned slice.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(LEN), self.len()) }
    }

    /// The bytes, mutably; the length cannot change.
    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        let len = self.len();
        // SAFETY: as in as_slice, with exclusive access through &mut self;
        // the slice starts after the prefix, which thus stays unchanged.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr().add(LEN), len) }
    }
}

impl Drop for ThinBytes {
    fn drop(&mut self) {
        // SAFETY: allocated in `zeroed` with exactly this layout, since the
        // prefix the layout is computed from never changes.
        unsafe { dealloc(self.ptr.as_ptr(), layout_for(self.len())) }
    }
}

fn layout_for(len: usize) -> Layout {
    Layout::from_size_align(LEN + len, 1).expect("ThinBytes layout")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_and_mutates_bytes() {
        let mut thin = ThinBytes::zeroed(12);
        thin.as_mut_slice().copy_from_slice(b"hello, world");
        assert_eq!(thin.len(), 12);
        assert_eq!(thin.as_slice(), b"hello, world");
        thin.as_mut_slice()[0] = b'j';
        assert_eq!(thin.as_slice(), b"jello, world");
        assert_eq!(thin.len(), 12);
    }

    #[test]
    fn empty_and_large_buffers() {
        assert_eq!(ThinBytes::zeroed(0).as_slice(), b"");
        let big = ThinBytes::zeroed(1 << 20);
        assert_eq!(big.len(), 1 << 20);
        assert!(big.as_slice().iter().all(|b| *b == 0));
    }

    #[test]
    fn is_one_pointer_wide() {
        assert_eq!(size_of::<ThinBytes>(), size_of::<usize>());
        assert_eq!(size_of::<Option<ThinBytes>>(), size_of::<usize>());
    }
}
