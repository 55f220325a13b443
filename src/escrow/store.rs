//! The daemon's table of escrowed entries: `nr_tags` tags, each mapping
//! indices `0..MAX_INDEX` to an entry.

use super::message::MAX_INDEX;
use std::collections::HashMap;
use std::os::fd::OwnedFd;

/// Largest number of tags (the tag field is 16 bits wide and signed).
pub const MAX_TAGS: i32 = 32768;

/// One escrowed item.
#[derive(Debug)]
pub struct Entry {
    /// The sender's descriptor number at add time (informational).
    pub ufd: i32,
    /// The daemon's copy of the descriptor; `None` for payload-only entries.
    pub fd: Option<OwnedFd>,
    pub payload: Vec<u8>,
}

#[derive(Debug, Default)]
struct Tag {
    entries: HashMap<i32, Entry>,
    /// Sum of the payload sizes of `entries`.
    total: u64,
}

/// Allocation failed (answered with ENOMEM instead of aborting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoMemory;

#[derive(Debug)]
pub struct Store {
    tags: Vec<Tag>,
}

impl Store {
    /// A store with `nr_tags` tags; `None` unless `1 <= nr_tags <= MAX_TAGS`.
    pub fn new(nr_tags: i32) -> Option<Store> {
        if !(1..=MAX_TAGS).contains(&nr_tags) {
            return None;
        }
        let mut tags = Vec::new();
        tags.try_reserve_exact(nr_tags as usize).ok()?;
        tags.resize_with(nr_tags as usize, Tag::default);
        Some(Store { tags })
    }

    pub fn nr_tags(&self) -> i32 {
        self.tags.len() as i32
    }

    pub fn valid_tag(&self, tag: i16) -> bool {
        tag >= 0 && (tag as usize) < self.tags.len()
    }

    pub fn valid(&self, tag: i16, idx: i32) -> bool {
        self.valid_tag(tag) && (0..MAX_INDEX).contains(&idx)
    }

    /// Stores `entry`, returning the entry it replaced. The replaced entry
    /// is handed back only after the new one is in place, so a failure
    /// leaves the table as it was. The caller validated `tag`/`idx`.
    pub fn insert(&mut self, tag: i16, idx: i32, entry: Entry) -> Result<Option<Entry>, (NoMemory, Entry)> {
        let t = &mut self.tags[tag as usize];
        if let Err(_e) = t.entries.try_reserve(1) {
            return Err((NoMemory, entry));
        }
        let added = entry.payload.len() as u64;
        let old = t.entries.insert(idx, entry);
        if let Some(old) = &old {
            t.total -= old.payload.len() as u64;
        }
        t.total += added;
        Ok(old)
    }

    pub fn get(&self, tag: i16, idx: i32) -> Option<&Entry> {
        self.tags.get(usize::try_from(tag).ok()?)?.entries.get(&idx)
    }

    pub fn remove(&mut self, tag: i16, idx: i32) -> Option<Entry> {
        let t = self.tags.get_mut(usize::try_from(tag).ok()?)?;
        let old = t.entries.remove(&idx)?;
        t.total -= old.payload.len() as u64;
        Some(old)
    }

    /// Number of entries in `tag` and the sum of their payload sizes.
    pub fn info(&self, tag: i16) -> Option<(usize, u64)> {
        let t = self.tags.get(usize::try_from(tag).ok()?)?;
        Some((t.entries.len(), t.total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: usize) -> Entry {
        Entry { ufd: -1, fd: None, payload: vec![1; n] }
    }

    #[test]
    fn tag_count_limits() {
        assert!(Store::new(0).is_none());
        assert!(Store::new(-3).is_none());
        assert!(Store::new(MAX_TAGS + 1).is_none());
        assert_eq!(Store::new(MAX_TAGS).unwrap().nr_tags(), MAX_TAGS);
        let s = Store::new(32).unwrap();
        assert!(s.valid(31, MAX_INDEX - 1));
        assert!(!s.valid(32, 0));
        assert!(!s.valid(-1, 0));
        assert!(!s.valid(0, MAX_INDEX));
        assert!(!s.valid(0, -1));
    }

    #[test]
    fn count_and_total_follow_insert_replace_remove() {
        let mut s = Store::new(4).unwrap();
        assert!(s.insert(1, 2, entry(10)).unwrap().is_none());
        assert!(s.insert(1, 7, entry(5)).unwrap().is_none());
        assert_eq!(s.info(1), Some((2, 15)));
        let old = s.insert(1, 7, entry(1)).unwrap().unwrap();
        assert_eq!(old.payload.len(), 5);
        assert_eq!(s.info(1), Some((2, 11)));
        assert_eq!(s.remove(1, 2).unwrap().payload.len(), 10);
        assert!(s.remove(1, 2).is_none());
        assert_eq!(s.info(1), Some((1, 1)));
        assert_eq!(s.info(0), Some((0, 0)));
        assert_eq!(s.info(4), None);
        assert!(s.get(1, 7).is_some() && s.get(1, 8).is_none());
    }
}
