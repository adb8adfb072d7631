//! Decoding costs memory in proportion to the body, never to what the body
//! claims: a LIST reply that announces four billion sessions, or a field
//! that announces 4 GiB, must not reserve room for them.
//!
//! This file holds a single test because it measures allocations through a
//! global allocator, which other tests running at the same time would
//! disturb.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use sessiond_protocol::wire::{decode_request, decode_response};

/// The system allocator, noting the sizes asked for while `MEASURING`.
struct Measuring;

static MEASURING: AtomicBool = AtomicBool::new(false);
static LARGEST: AtomicUsize = AtomicUsize::new(0);
static TOTAL: AtomicUsize = AtomicUsize::new(0);

impl Measuring {
    fn note(size: usize) {
        if MEASURING.load(Ordering::Relaxed) {
            LARGEST.fetch_max(size, Ordering::Relaxed);
            TOTAL.fetch_add(size, Ordering::Relaxed);
        }
    }
}

// SAFETY: every call is passed on to `System` unchanged.
unsafe impl GlobalAlloc for Measuring {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Measuring::note(layout.size());
        // SAFETY: the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller upholds `dealloc`'s contract.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        Measuring::note(new_size);
        // SAFETY: the caller upholds `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Measuring = Measuring;

/// The largest single allocation and the total allocated while decoding
/// `body` both ways.
fn measure(body: &[u8]) -> (usize, usize) {
    LARGEST.store(0, Ordering::Relaxed);
    TOTAL.store(0, Ordering::Relaxed);
    MEASURING.store(true, Ordering::Relaxed);
    let request = decode_request(body);
    let response = decode_response(body);
    MEASURING.store(false, Ordering::Relaxed);
    drop((request, response));
    (
        LARGEST.load(Ordering::Relaxed),
        TOTAL.load(Ordering::Relaxed),
    )
}

/// What decoding `body` may cost: a few times its length (the decoded
/// values are larger than their encoding: a 57-byte `info` is a ~100-byte
/// `SessionInfo`, a 4-byte label two `String`s), plus a constant for error
/// messages and the label vector's growth.
fn allowance(body: &[u8]) -> usize {
    16 * body.len() + 16 * 1024
}

fn assert_proportionate(name: &str, body: &[u8]) {
    let (largest, total) = measure(body);
    assert!(
        total <= allowance(body),
        "{name}: {total} bytes allocated ({largest} at once) for a body of {}",
        body.len()
    );
}

/// Bodies whose counts and lengths promise far more than they hold.
fn boastful_bodies() -> Vec<(&'static str, Vec<u8>)> {
    let many_infos = [&[0, 0x06, 0xff, 0xff, 0xff, 0xff][..], &[0; 200]].concat();
    let many_stats = [&[0, 0x0b, 0xff, 0xff][..], &[0; 90]].concat();
    let huge_value = [&[0, 0x08, 1, 0xff, 0xff, 0xff, 0xff][..], &[7; 100]].concat();
    let huge_data = [
        &[0x12][..],
        &[0; 16],
        &[0],
        &[0xff, 0xff, 0xff, 0xff],
        &[1; 50],
    ]
    .concat();
    let mut many_labels = vec![0x10, 0, 0, 1, b'u', 0xff];
    for k in 0..=u8::MAX {
        many_labels.push(2);
        many_labels.extend(format!("{k:02x}").bytes());
        many_labels.extend([0, 0]);
    }
    vec![
        ("LIST of 4 billion", many_infos),
        ("STATS of 65 535", many_stats),
        ("VALUE of 4 GiB", huge_value),
        ("UPDATE with 4 GiB of data", huge_data),
        ("CREATE with 255 labels", many_labels),
    ]
}

#[test]
fn decoding_allocates_in_proportion_to_the_body() {
    for (name, body) in boastful_bodies() {
        assert_proportionate(name, &body);
    }

    let mut runner = TestRunner::new(Config::with_cases(2000));
    runner
        .run(&vec(any::<u8>(), 0..512), |body| {
            assert_proportionate("random body", &body);
            Ok(())
        })
        .unwrap();
}
