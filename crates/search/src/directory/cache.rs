//! A byte-budgeted cache of decrypted plaintext, shared by every file of one
//! directory. Eviction is CLOCK (second chance): cheap to keep under a mutex,
//! close enough to LRU for postings and fast-field reads that repeat.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use tantivy::directory::OwnedBytes;

/// A plaintext byte range of one file (by random file id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub(crate) file: u128,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

pub(crate) struct PlainCache {
    budget: usize,
    inner: Mutex<Clock>,
}

#[derive(Default)]
struct Clock {
    slots: HashMap<Key, Slot>,
    ring: VecDeque<Key>,
    bytes: usize,
}

struct Slot {
    bytes: OwnedBytes,
    referenced: bool,
}

impl PlainCache {
    pub(crate) fn new(budget: usize) -> Self {
        Self { budget, inner: Mutex::new(Clock::default()) }
    }

    pub(crate) fn budget(&self) -> usize {
        self.budget
    }

    pub(crate) fn get(&self, key: &Key) -> Option<OwnedBytes> {
        let mut clock = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let slot = clock.slots.get_mut(key)?;
        slot.referenced = true;
        Some(slot.bytes.clone())
    }

    pub(crate) fn insert(&self, key: Key, bytes: OwnedBytes) {
        let len = bytes.len();
        if len > self.budget {
            return;
        }
        let mut clock = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if clock.slots.contains_key(&key) {
            return;
        }
        while clock.bytes + len > self.budget {
            let Some(victim) = clock.ring.pop_front() else { break };
            let Some(slot) = clock.slots.get_mut(&victim) else { continue };
            if slot.referenced {
                slot.referenced = false;
                clock.ring.push_back(victim);
            } else if let Some(slot) = clock.slots.remove(&victim) {
                clock.bytes -= slot.bytes.len();
            }
        }
        clock.bytes += len;
        clock.ring.push_back(key);
        clock.slots.insert(key, Slot { bytes, referenced: false });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(start: usize) -> Key {
        Key { file: 1, start, end: start + 10 }
    }

    #[test]
    fn stays_within_budget_and_keeps_what_is_used() {
        let cache = PlainCache::new(30);
        for start in 0..3 {
            cache.insert(key(start), OwnedBytes::new(vec![0u8; 10]));
        }
        // Touch the first entry: the second chance keeps it over the others.
        assert!(cache.get(&key(0)).is_some());
        cache.insert(key(3), OwnedBytes::new(vec![0u8; 10]));
        assert!(cache.get(&key(0)).is_some());
        assert!(cache.get(&key(1)).is_none());
        assert!(cache.get(&key(3)).is_some());
        let clock = cache.inner.lock().unwrap();
        assert!(clock.bytes <= 30);
        assert_eq!(clock.slots.len(), clock.ring.len());
    }

    #[test]
    fn refuses_what_cannot_fit() {
        let cache = PlainCache::new(5);
        cache.insert(key(0), OwnedBytes::new(vec![0u8; 10]));
        assert!(cache.get(&key(0)).is_none());
    }
}
