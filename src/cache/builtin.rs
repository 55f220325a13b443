//! The default session cache.
//!
//! Sessions are indexed twice: by id (hash map) for lookups, and by
//! `(expiry, insertion sequence)` (ordered map) for purging and eviction.
//! Every operation is O(log n) amortised: expired sessions are purged from
//! the front of the ordered index, and a full cache evicts the batch of
//! sessions closest to expiry in one go.
//!
//! Ids and data are reference-counted so that a snapshot can list the
//! sessions without copying their bytes (see `snapshot.rs`).

use super::snapshot::Session;
use super::{Cache, CacheFailure, ListCursor, Now, MAX_SIZE, MIN_SIZE};
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::Arc;

struct Entry {
    key: (i64, u64),
    data: Arc<[u8]>,
}

/// Fixed-capacity session cache with expiry (see the module docs).
pub struct BuiltinCache {
    max: usize,
    by_id: HashMap<Arc<[u8]>, Entry>,
    by_expiry: BTreeMap<(i64, u64), Arc<[u8]>>,
    seq: u64,
}

impl BuiltinCache {
    /// A cache for `max_sessions` sessions; None outside 64..=60000.
    pub fn new(max_sessions: usize) -> Option<Self> {
        if !(MIN_SIZE..=MAX_SIZE).contains(&max_sessions) {
            return None;
        }
        Some(Self {
            max: max_sessions,
            by_id: HashMap::with_capacity(max_sessions),
            by_expiry: BTreeMap::new(),
            seq: 0,
        })
    }

    pub fn capacity(&self) -> usize {
        self.max
    }

    /// Sessions evicted at once when an add finds the cache full.
    pub fn eviction_batch(&self) -> usize {
        (self.max / 30).max(1)
    }

    /// Drops every session whose expiry instant lies strictly before `now`.
    fn purge(&mut self, now: Now) {
        let now_us = now.micros();
        while let Some((&(expiry, _), _)) = self.by_expiry.first_key_value() {
            if expiry.saturating_mul(1000) >= now_us {
                break;
            }
            let (_, id) = self.by_expiry.pop_first().expect("non-empty");
            self.by_id.remove(&id);
        }
    }

    fn evict_batch(&mut self) {
        for _ in 0..self.eviction_batch() {
            match self.by_expiry.pop_first() {
                Some((_, id)) => {
                    self.by_id.remove(&id);
                }
                None => break,
            }
        }
    }
}

impl Cache for BuiltinCache {
    fn add(&mut self, now: Now, timeout_ms: u64, id: &[u8], data: &[u8]) -> bool {
        self.purge(now);
        if self.by_id.contains_key(id) {
            return false;
        }
        if self.by_id.len() >= self.max {
            self.evict_batch();
        }
        let expiry = now.millis().saturating_add(i64::try_from(timeout_ms).unwrap_or(i64::MAX));
        self.seq += 1;
        let key = (expiry, self.seq);
        let id: Arc<[u8]> = id.into();
        self.by_expiry.insert(key, id.clone());
        self.by_id.insert(id, Entry { key, data: data.into() });
        true
    }

    fn get(&mut self, now: Now, id: &[u8], out: &mut Vec<u8>) -> Result<bool, CacheFailure> {
        self.purge(now);
        match self.by_id.get(id) {
            Some(e) => {
                out.clear();
                out.extend_from_slice(&e.data);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn peek(&mut self, now: Now, id: &[u8]) -> Option<&[u8]> {
        self.purge(now);
        self.by_id.get(id).map(|e| &e.data[..])
    }

    fn remove(&mut self, now: Now, id: &[u8]) -> bool {
        self.purge(now);
        match self.by_id.remove(id) {
            Some(e) => {
                self.by_expiry.remove(&e.key);
                true
            }
            None => false,
        }
    }

    fn have(&mut self, now: Now, id: &[u8]) -> bool {
        self.purge(now);
        self.by_id.contains_key(id)
    }

    fn num_items(&mut self, now: Now) -> usize {
        self.purge(now);
        self.by_id.len()
    }

    fn can_list(&self) -> bool {
        true
    }

    fn list(&mut self, now: Now, from: Option<ListCursor>, max: usize, out: &mut Vec<Session>) -> Option<ListCursor> {
        self.purge(now);
        let start = match from {
            Some(ListCursor(e, s)) => Bound::Excluded((e, s)),
            None => Bound::Unbounded,
        };
        let mut last = None;
        for (&key, id) in self.by_expiry.range((start, Bound::Unbounded)).take(max) {
            let data = self.by_id.get(id).expect("both indexes hold every session").data.clone();
            out.push(Session { expiry_ms: key.0, id: id.clone(), data });
            last = Some(ListCursor(key.0, key.1));
        }
        let last = last?;
        // More may follow only if this step was full.
        self.by_expiry.range((Bound::Excluded((last.0, last.1)), Bound::Unbounded)).next().map(|_| last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> Now {
        Now::new(ms.div_euclid(1000), ms.rem_euclid(1000) * 1000)
    }

    #[test]
    fn capacity_limits() {
        assert!(BuiltinCache::new(63).is_none());
        assert!(BuiltinCache::new(60001).is_none());
        assert_eq!(BuiltinCache::new(64).unwrap().eviction_batch(), 2);
        assert_eq!(BuiltinCache::new(100).unwrap().eviction_batch(), 3);
        assert_eq!(BuiltinCache::new(512).unwrap().eviction_batch(), 17);
        assert_eq!(BuiltinCache::new(60000).unwrap().eviction_batch(), 2000);
    }

    #[test]
    fn add_get_remove_have() {
        let mut c = BuiltinCache::new(64).unwrap();
        let now = at(1_000_000);
        let mut out = Vec::new();
        assert!(c.add(now, 1000, b"id", b"data"));
        assert!(!c.add(now, 5000, b"id", b"other"), "duplicates are refused");
        assert_eq!(c.get(now, b"id", &mut out), Ok(true));
        assert_eq!(out, b"data");
        assert_eq!(c.get(now, b"i", &mut out), Ok(false));
        assert!(c.have(now, b"id"));
        assert_eq!(c.num_items(now), 1);
        assert!(c.remove(now, b"id"));
        assert!(!c.remove(now, b"id"));
        assert!(!c.have(now, b"id"));
        assert_eq!(c.num_items(now), 0);
    }

    #[test]
    fn expiry_is_strict_and_truncated_to_ms() {
        let mut c = BuiltinCache::new(64).unwrap();
        // added at 10.000999 s: expiry = 10.000 + 100 ms = 10.100 s
        assert!(c.add(Now::new(10, 999), 100, b"a", b"x"));
        assert!(c.have(Now::new(10, 100_000), b"a"), "equal to expiry: live");
        assert!(!c.have(Now::new(10, 100_001), b"a"), "strictly later: expired");
        // zero timeout: expired on the next microsecond
        assert!(c.add(Now::new(20, 0), 0, b"z", b"x"));
        assert!(c.have(Now::new(20, 0), b"z"));
        let mut out = Vec::new();
        assert_eq!(c.get(Now::new(20, 1), b"z", &mut out), Ok(false));
        // an expired duplicate does not block a new add
        assert!(c.add(Now::new(20, 1), 10, b"z", b"y"));
    }

    #[test]
    fn full_cache_evicts_batch_closest_to_expiry() {
        let mut c = BuiltinCache::new(64).unwrap();
        let now = at(5_000);
        // timeouts 1000..=64000 in a scrambled order
        for i in 0..64u64 {
            let t = (i * 37) % 64 + 1;
            assert!(c.add(now, t * 1000, &t.to_be_bytes(), b"v"));
        }
        assert_eq!(c.num_items(now), 64);
        assert!(c.add(now, 500_000, b"new", b"v"));
        assert_eq!(c.num_items(now), 63);
        assert!(!c.have(now, &1u64.to_be_bytes()));
        assert!(!c.have(now, &2u64.to_be_bytes()));
        assert!(c.have(now, &3u64.to_be_bytes()));
        assert!(c.have(now, b"new"));
        // equal expiry: the earlier insertion goes first
        let mut c = BuiltinCache::new(64).unwrap();
        for i in 0..64u32 {
            assert!(c.add(now, 1000, &i.to_be_bytes(), b"v"));
        }
        assert!(c.add(now, 1000, b"x", b"v"));
        assert!(!c.have(now, &0u32.to_be_bytes()));
        assert!(!c.have(now, &1u32.to_be_bytes()));
        assert!(c.have(now, &2u32.to_be_bytes()));
    }

    #[test]
    fn list_in_steps_in_expiry_order() {
        let mut c = BuiltinCache::new(64).unwrap();
        let now = at(1_000);
        for i in 0..10u64 {
            assert!(c.add(now, (10 - i) * 100, &i.to_be_bytes(), &[i as u8; 3]));
        }
        assert!(c.can_list());
        let mut out = Vec::new();
        let cur = c.list(now, None, 4, &mut out).expect("more to come");
        assert_eq!(out.len(), 4);
        // a session removed and one added behind the cursor between steps
        assert!(c.remove(now, &0u64.to_be_bytes()));
        assert!(c.add(now, 1, b"early", b"x"));
        let mut cur = Some(cur);
        while let Some(from) = cur {
            cur = c.list(now, Some(from), 4, &mut out);
        }
        assert_eq!(out.len(), 9, "the removed one is gone, the early one is behind the cursor");
        let expiries: Vec<i64> = out.iter().map(|s| s.expiry_ms).collect();
        assert!(expiries.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(out[0].expiry_ms, 1_000 + 100);
        assert_eq!(&out[0].id[..], &9u64.to_be_bytes());
        assert_eq!(&out[0].data[..], &[9u8; 3]);
        // expired sessions are not listed; an exact-size step ends the listing
        let mut out = Vec::new();
        assert_eq!(c.list(at(1_000 + 750), None, 3, &mut out), None);
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn long_timeouts_do_not_overflow() {
        let mut c = BuiltinCache::new(64).unwrap();
        assert!(c.add(Now::new(i64::MAX / 2, 0), u64::MAX, b"a", b"x"));
        assert!(c.have(Now::new(i64::MAX / 2, 0), b"a"));
        assert!(c.add(at(0), 604_800_000, b"b", b"x"));
        assert!(c.have(at(604_800_000), b"b"));
        assert!(!c.have(at(604_800_001), b"b"));
    }
}
