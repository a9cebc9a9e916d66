//! The free addresses of one pool, as maximal runs of consecutive addresses.
//!
//! A pool starts as one run (`first → last`, whatever its size: an IPv6 /64 is two numbers).
//! Taking an address splits or shortens the run holding it; giving one back merges it with the
//! runs on either side. There are never two adjacent runs, so the number of runs is at most the
//! number of used addresses plus one, and the lowest free address is the first key. Each
//! operation is one or two searches in a `BTreeMap`: O(log runs).

use std::collections::BTreeMap;

use super::cost;

/// Free addresses as runs `first → last` (both inclusive), disjoint and never adjacent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct FreeRuns(BTreeMap<u128, u128>);

impl FreeRuns {
    /// Every address of `[first, last]` free.
    pub(super) fn new(first: u128, last: u128) -> Self {
        FreeRuns(BTreeMap::from([(first, last)]))
    }

    /// The lowest free address.
    pub(super) fn lowest(&self) -> Option<u128> {
        cost::search(self.0.len());
        self.0.keys().next().copied()
    }

    /// Marks `addr` used. It must be free.
    pub(super) fn take(&mut self, addr: u128) {
        cost::search(self.0.len());
        let (first, last) = self
            .run_holding(addr)
            .expect("an address taken from the free runs is free");
        cost::search(self.0.len());
        self.0.remove(&first);
        if first < addr {
            cost::search(self.0.len());
            self.0.insert(first, addr - 1);
        }
        if addr < last {
            cost::search(self.0.len());
            self.0.insert(addr + 1, last);
        }
    }

    /// Marks `addr` free again. It must be used (not in any run).
    pub(super) fn give(&mut self, addr: u128) {
        debug_assert!(self.run_holding(addr).is_none(), "{addr} is already free");
        cost::search(self.0.len());
        let mut first = addr;
        let mut last = addr;
        // The run ending just below `addr`, if any, is extended up to it.
        if let Some((&below_first, &below_last)) = self.0.range(..addr).next_back() {
            if below_last.checked_add(1) == Some(addr) {
                first = below_first;
            }
        }
        // The run starting just above `addr`, if any, is absorbed.
        if let Some(above) = addr.checked_add(1) {
            cost::search(self.0.len());
            if let Some(above_last) = self.0.remove(&above) {
                last = above_last;
            }
        }
        cost::search(self.0.len());
        self.0.insert(first, last);
    }

    /// Whether `addr` is free.
    #[cfg(test)]
    pub(super) fn contains(&self, addr: u128) -> bool {
        self.run_holding(addr).is_some()
    }

    /// The runs, lowest first.
    #[cfg(test)]
    pub(super) fn runs(&self) -> impl Iterator<Item = (u128, u128)> + '_ {
        self.0.iter().map(|(f, l)| (*f, *l))
    }

    fn run_holding(&self, addr: u128) -> Option<(u128, u128)> {
        self.0
            .range(..=addr)
            .next_back()
            .filter(|(_, last)| **last >= addr)
            .map(|(f, l)| (*f, *l))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(f: &FreeRuns) -> Vec<(u128, u128)> {
        f.runs().collect()
    }

    #[test]
    fn take_splits_and_give_merges() {
        let mut f = FreeRuns::new(10, 20);
        f.take(10);
        f.take(15);
        f.take(20);
        assert_eq!(runs(&f), [(11, 14), (16, 19)]);
        assert_eq!(f.lowest(), Some(11));
        f.give(15);
        assert_eq!(runs(&f), [(11, 19)]);
        f.give(10);
        f.give(20);
        assert_eq!(runs(&f), [(10, 20)]);
    }

    #[test]
    fn single_addresses_and_exhaustion() {
        let mut f = FreeRuns::new(7, 7);
        f.take(7);
        assert_eq!(f.lowest(), None);
        f.give(7);
        assert_eq!(runs(&f), [(7, 7)]);
    }

    #[test]
    fn edges_of_the_address_space_do_not_overflow() {
        let mut f = FreeRuns::new(0, u128::MAX);
        f.take(0);
        f.take(u128::MAX);
        assert_eq!(runs(&f), [(1, u128::MAX - 1)]);
        f.take(u128::MAX - 1);
        f.give(u128::MAX);
        f.give(0);
        assert_eq!(runs(&f), [(0, u128::MAX - 2), (u128::MAX, u128::MAX)]);
        f.give(u128::MAX - 1);
        assert_eq!(runs(&f), [(0, u128::MAX)]);
        assert!(f.contains(42) && f.contains(u128::MAX));
    }

    #[test]
    fn giving_back_between_two_runs_joins_them() {
        let mut f = FreeRuns::new(1, 5);
        for a in [2, 3, 4] {
            f.take(a);
        }
        f.give(3);
        assert_eq!(runs(&f), [(1, 1), (3, 3), (5, 5)]);
        f.give(2);
        f.give(4);
        assert_eq!(runs(&f), [(1, 5)]);
    }
}
