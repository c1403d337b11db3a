//! Remembering which deliveries were already accepted.
//!
//! ScaiHub delivers at least once: after a timeout, a network error or a
//! non-2xx answer it sends the same delivery again, with the same
//! `X-ScaiDrive-Delivery-Id`. It may also retry a request this receiver did
//! answer, if the answer got lost. [`SeenDeliveries`] is the bounded,
//! in-memory set of recent delivery ids that lets the receiver answer such a
//! repeat with 200 without doing the work twice.
//!
//! It forgets the oldest id once it holds `capacity` of them, and it forgets
//! everything on restart. ScaiHub's retries of one delivery span about 31
//! hours (30 s, 1 m, 5 m, 15 m, 1 h, 6 h, 24 h), so size it for that much
//! traffic, or replace it with a table keyed by delivery id (a unique index,
//! insert-if-absent) when processing twice would hurt.

use std::collections::{HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard};

/// A set of the most recent `capacity` delivery ids. Safe to share between
/// request handlers (`&self` methods, an internal lock held only briefly).
#[derive(Debug)]
pub struct SeenDeliveries {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    ids: HashSet<String>,
    /// Insertion order, oldest at the front, for eviction.
    order: VecDeque<String>,
}

impl SeenDeliveries {
    /// The size the example uses unless told otherwise.
    pub const DEFAULT_CAPACITY: usize = 10_000;

    /// An empty set that keeps at most `capacity` ids (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            capacity,
            inner: Mutex::new(Inner {
                ids: HashSet::with_capacity(capacity.min(Self::DEFAULT_CAPACITY)),
                order: VecDeque::with_capacity(capacity.min(Self::DEFAULT_CAPACITY)),
            }),
        }
    }

    /// Records `id`. Returns `true` the first time (process the delivery)
    /// and `false` if it is already remembered (a repeat: skip it). Checking
    /// and recording happen under one lock, so two concurrent copies of a
    /// delivery cannot both get `true`.
    pub fn insert(&self, id: &str) -> bool {
        let mut inner = self.lock();
        if inner.ids.contains(id) {
            return false;
        }
        if inner.order.len() == self.capacity
            && let Some(oldest) = inner.order.pop_front()
        {
            inner.ids.remove(&oldest);
        }
        inner.ids.insert(id.to_owned());
        inner.order.push_back(id.to_owned());
        true
    }

    /// Forgets `id`, so that the next delivery with it is processed. Use it
    /// when you recorded a delivery but then could not take it on after all
    /// (and answered non-2xx so that ScaiHub retries).
    pub fn remove(&self, id: &str) -> bool {
        let mut inner = self.lock();
        if !inner.ids.remove(id) {
            return false;
        }
        // Rare path; a linear scan of the order queue is fine.
        if let Some(pos) = inner.order.iter().position(|seen| seen == id) {
            inner.order.remove(pos);
        }
        true
    }

    /// Whether `id` is currently remembered.
    pub fn contains(&self, id: &str) -> bool {
        self.lock().ids.contains(id)
    }

    /// How many ids are remembered.
    pub fn len(&self) -> usize {
        self.lock().ids.len()
    }

    /// Whether no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most ids kept before the oldest is forgotten.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The set stays consistent even if a holder panicked: every method
        // finishes its changes before it could panic.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Default for SeenDeliveries {
    fn default() -> Self {
        Self::new(Self::DEFAULT_CAPACITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_sighting_then_repeat() {
        let seen = SeenDeliveries::new(10);
        assert!(seen.insert("dlv_1"));
        assert!(!seen.insert("dlv_1"));
        assert!(seen.insert("dlv_2"));
        assert_eq!(seen.len(), 2);
    }

    #[test]
    fn oldest_id_is_forgotten_at_capacity() {
        let seen = SeenDeliveries::new(3);
        for id in ["a", "b", "c", "d"] {
            assert!(seen.insert(id));
        }
        assert_eq!(seen.len(), 3);
        assert!(!seen.contains("a"));
        assert!(seen.contains("b") && seen.contains("c") && seen.contains("d"));
        // "a" counts as new again; that pushes out "b".
        assert!(seen.insert("a"));
        assert!(!seen.contains("b"));
    }

    #[test]
    fn a_repeat_does_not_refresh_or_grow() {
        let seen = SeenDeliveries::new(2);
        assert!(seen.insert("a"));
        assert!(seen.insert("b"));
        assert!(!seen.insert("a"));
        assert!(seen.insert("c"));
        assert!(
            !seen.contains("a"),
            "eviction follows first sighting, not the latest repeat"
        );
        assert_eq!(seen.len(), 2);
    }

    #[test]
    fn removed_id_is_processed_again_and_order_stays_consistent() {
        let seen = SeenDeliveries::new(2);
        assert!(seen.insert("a"));
        assert!(seen.insert("b"));
        assert!(seen.remove("a"));
        assert!(!seen.remove("a"));
        assert_eq!(seen.len(), 1);
        assert!(seen.insert("c"));
        assert!(seen.contains("b") && seen.contains("c"));
        assert!(seen.insert("a"));
        assert!(!seen.contains("b"));
        assert_eq!(seen.len(), 2);
    }

    #[test]
    fn zero_capacity_is_raised_to_one() {
        let seen = SeenDeliveries::new(0);
        assert_eq!(seen.capacity(), 1);
        assert!(seen.insert("a"));
        assert!(!seen.insert("a"));
        assert!(seen.insert("b"));
        assert!(!seen.contains("a"));
    }
}
