//! Bounded FIFO of bytes, stored contiguously from the start of its storage.

use super::MAX_BUFFER_SIZE;

/// A byte FIFO with a fixed capacity of 0..=32768 bytes.
///
/// Held bytes always start at offset 0: reading shifts the remainder to the
/// front, so the data can be handed out as one slice.
#[derive(Debug, Default)]
pub struct Buffer {
    storage: Box<[u8]>,
    used: usize,
}

impl Buffer {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_size(size: usize) -> Option<Self> {
        let mut buf = Self::new();
        buf.set_size(size).then_some(buf)
    }

    pub fn size(&self) -> usize {
        self.storage.len()
    }

    pub fn used(&self) -> usize {
        self.used
    }

    pub fn unused(&self) -> usize {
        self.size() - self.used
    }

    pub fn is_empty(&self) -> bool {
        self.used == 0
    }

    /// Full when every byte of capacity is used (a size-0 buffer is full).
    pub fn is_full(&self) -> bool {
        self.used == self.size()
    }

    /// The held bytes.
    pub fn data(&self) -> &[u8] {
        &self.storage[..self.used]
    }

    /// Whole storage, for handing out raw pointers (NULL-able by size).
    pub fn storage_mut(&mut self) -> &mut [u8] {
        &mut self.storage
    }

    pub fn storage(&self) -> &[u8] {
        &self.storage
    }

    /// The free space after the held bytes.
    pub fn spare_mut(&mut self) -> &mut [u8] {
        let used = self.used;
        &mut self.storage[used..]
    }

    /// Empties the buffer, keeping its capacity.
    pub fn clear(&mut self) {
        self.used = 0;
    }

    /// Changes the capacity. Keeps the first `min(used, size)` bytes, so
    /// growing preserves everything and shrinking crops. `size == 0`
    /// releases the storage. Returns false (nothing changed) above 32768.
    pub fn set_size(&mut self, size: usize) -> bool {
        if size > MAX_BUFFER_SIZE {
            return false;
        }
        if size == self.size() {
            return true;
        }
        let keep = self.used.min(size);
        let mut storage = vec![0u8; size].into_boxed_slice();
        storage[..keep].copy_from_slice(&self.storage[..keep]);
        self.storage = storage;
        self.used = keep;
        true
    }

    /// Appends as much of `src` as fits; returns the count.
    pub fn write(&mut self, src: &[u8]) -> usize {
        let n = src.len().min(self.unused());
        let used = self.used;
        self.storage[used..used + n].copy_from_slice(&src[..n]);
        self.used += n;
        n
    }

    /// Removes up to `max` bytes from the front, copying them into `dest`
    /// when given (a `dest` shorter than `max` limits the count).
    pub fn read(&mut self, dest: Option<&mut [u8]>, max: usize) -> usize {
        let n = match &dest {
            Some(d) => max.min(d.len()),
            None => max,
        }
        .min(self.used);
        if let Some(d) = dest {
            d[..n].copy_from_slice(&self.storage[..n]);
        }
        self.consume(n);
        n
    }

    /// Discards `n` bytes (clamped) from the front.
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.used);
        self.storage.copy_within(n..self.used, 0);
        self.used -= n;
    }

    /// Declares that `n` bytes were written into the spare space; clamps to
    /// the free space and returns the amount actually added.
    pub fn wrote(&mut self, n: usize) -> usize {
        let n = n.min(self.unused());
        self.used += n;
        n
    }

    /// Moves up to `max` bytes (0 = no limit) from the front of `src` to the
    /// end of `self`.
    pub fn transfer_from(&mut self, src: &mut Buffer, max: usize) -> usize {
        let mut n = self.unused().min(src.used);
        if max != 0 {
            n = n.min(max);
        }
        let used = self.used;
        self.storage[used..used + n].copy_from_slice(&src.storage[..n]);
        self.used += n;
        src.consume(n);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_buffer_is_empty_and_full() {
        let b = Buffer::new();
        assert!(b.is_empty() && b.is_full());
        assert_eq!(b.size(), 0);
    }

    #[test]
    fn write_read_shift() {
        let mut b = Buffer::with_size(8).unwrap();
        assert_eq!(b.write(b"hello world"), 8);
        assert!(b.is_full());
        let mut out = [0u8; 3];
        assert_eq!(b.read(Some(&mut out), 3), 3);
        assert_eq!(&out, b"hel");
        assert_eq!(b.data(), b"lo wo");
        assert_eq!(b.read(None, 100), 5);
        assert!(b.is_empty());
    }

    #[test]
    fn set_size_crops_and_keeps() {
        let mut b = Buffer::with_size(10).unwrap();
        b.write(b"abcdef");
        assert!(b.set_size(20));
        assert_eq!(b.data(), b"abcdef");
        assert!(b.set_size(4));
        assert_eq!(b.data(), b"abcd");
        assert!(b.is_full());
        assert!(!b.set_size(MAX_BUFFER_SIZE + 1));
        assert_eq!(b.size(), 4);
        assert!(b.set_size(0));
        assert_eq!(b.size(), 0);
    }

    #[test]
    fn wrote_clamps() {
        let mut b = Buffer::with_size(4).unwrap();
        b.write(b"ab");
        assert_eq!(b.wrote(10), 2);
        assert!(b.is_full());
    }

    #[test]
    fn transfer_respects_limits() {
        let mut a = Buffer::with_size(4).unwrap();
        let mut b = Buffer::with_size(10).unwrap();
        b.write(b"0123456789");
        assert_eq!(a.transfer_from(&mut b, 0), 4);
        assert_eq!(a.data(), b"0123");
        assert_eq!(b.data(), b"456789");
        a.clear();
        assert_eq!(a.transfer_from(&mut b, 2), 2);
        assert_eq!(b.data(), b"6789");
    }
}

/// Receives a buffer's "empty"/"full" transitions, so a selector can keep a
/// connection's interest current without scanning every connection.
pub trait BufferWatch: Send + Sync {
    fn changed(&self, is_empty: bool, is_full: bool);
}

/// A [`Buffer`] that C code and the library share: standalone buffers and
/// the read/send buffers of connections are all of this type.
#[derive(Default)]
pub struct SharedBuffer {
    inner: parking_lot::Mutex<SharedInner>,
    /// Set for buffers that belong to a connection: C must not free them.
    owned_by_connection: bool,
}

#[derive(Default)]
struct SharedInner {
    buf: Buffer,
    watch: Option<std::sync::Arc<dyn BufferWatch>>,
}

impl SharedBuffer {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn for_connection(size: usize) -> Self {
        let mut b = Self { owned_by_connection: true, ..Self::default() };
        b.inner.get_mut().buf.set_size(size);
        b
    }

    pub fn owned_by_connection(&self) -> bool {
        self.owned_by_connection
    }

    /// Read-only access.
    pub fn with<R>(&self, f: impl FnOnce(&Buffer) -> R) -> R {
        f(&self.inner.lock().buf)
    }

    /// Mutating access; reports empty/full transitions to the watch.
    pub fn modify<R>(&self, f: impl FnOnce(&mut Buffer) -> R) -> R {
        let mut g = self.inner.lock();
        let before = (g.buf.is_empty(), g.buf.is_full());
        let r = f(&mut g.buf);
        let after = (g.buf.is_empty(), g.buf.is_full());
        if before != after {
            if let Some(w) = g.watch.clone() {
                drop(g);
                w.changed(after.0, after.1);
            }
        }
        r
    }

    /// Installs (or removes) the watch; returns the current (empty, full).
    pub fn set_watch(&self, watch: Option<std::sync::Arc<dyn BufferWatch>>) -> (bool, bool) {
        let mut g = self.inner.lock();
        g.watch = watch;
        (g.buf.is_empty(), g.buf.is_full())
    }

    /// Moves bytes from `src` into `self` (0 = no limit). Same buffer → 0.
    pub fn transfer_from(&self, src: &SharedBuffer, max: usize) -> usize {
        if std::ptr::eq(self, src) {
            return 0;
        }
        // Copy out under the source lock, then write under the destination
        // lock: never hold both, so no lock-order concerns.
        let room = self.with(|d| d.unused());
        let limit = if max == 0 { room } else { room.min(max) };
        let mut tmp = vec![0u8; limit.min(src.with(|s| s.used()))];
        let n = src.modify(|s| s.read(Some(&mut tmp), usize::MAX));
        let written = self.modify(|d| d.write(&tmp[..n]));
        debug_assert_eq!(written, n);
        written
    }
}
