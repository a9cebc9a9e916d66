//! Counted work, for the tests that keep allocation O(log n) without looking at a clock.
//!
//! The allocator reports each search in a sorted map of `len` entries as ⌈log2(len + 1)⌉
//! steps (the depth of a balanced search) and each entry it visits in a walk as one step. In
//! test builds the steps add up in a per-thread counter; otherwise the calls are empty and
//! compile to nothing.

/// A search in a sorted map of `len` entries.
#[inline]
pub(super) fn search(len: usize) {
    add(u64::from(usize::BITS - len.leading_zeros()).max(1));
}

/// `entries` entries visited one after the other.
#[inline]
pub(super) fn visit(entries: usize) {
    add(entries as u64);
}

#[cfg(test)]
thread_local! {
    static STEPS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

#[cfg(test)]
fn add(steps: u64) {
    STEPS.with(|s| s.set(s.get() + steps));
}

#[cfg(not(test))]
#[inline]
fn add(_steps: u64) {}

/// The steps counted on this thread since the last call, and a fresh start.
#[cfg(test)]
pub(super) fn take() -> u64 {
    STEPS.with(|s| s.replace(0))
}
