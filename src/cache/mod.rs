//! Session caches behind a distcache server.
//!
//! [`Cache`] is what the server needs from a cache; [`BuiltinCache`] is the
//! default implementation. A C `DC_CACHE_cb` table is adapted to the same
//! trait by the C layer.
//!
//! [`AsyncStore`] is the other kind of backend: a store answered off the
//! event loop's thread ([`RedisStore`], Valkey/Redis standalone or Cluster).
//! The event loop hands it requests tagged with a number and collects the
//! answers when the store signals that some are ready.

mod builtin;
#[cfg(feature = "redis-store")]
pub mod redis;
pub mod snapshot;

pub use builtin::BuiltinCache;
#[cfg(feature = "redis-store")]
pub use redis::RedisStore;

/// Smallest and largest capacity of the builtin cache.
pub const MIN_SIZE: usize = 64;
pub const MAX_SIZE: usize = 60000;

/// The caller's notion of "now", exactly as a C `struct timeval` carries
/// it. Caches compare it with expiry instants; the server never reads a
/// clock itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Now {
    pub sec: i64,
    pub usec: i64,
}

impl Now {
    pub fn new(sec: i64, usec: i64) -> Self {
        Self { sec, usec }
    }

    /// Microseconds since the epoch of the clock (saturating).
    pub fn micros(&self) -> i64 {
        self.sec.saturating_mul(1_000_000).saturating_add(self.usec)
    }

    /// Truncated to whole milliseconds.
    pub fn millis(&self) -> i64 {
        self.micros().div_euclid(1000)
    }

    /// The current wall-clock time.
    pub fn wall_clock() -> Self {
        let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Self { sec: d.as_secs() as i64, usec: d.subsec_micros() as i64 }
    }
}

/// A failure of the cache itself (not a miss): the request cannot be
/// answered and the client is dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheFailure;

/// What a distcache server stores sessions in. Ids reach `add` already
/// checked (1..=64 bytes, data 1..=32768 bytes); other operations pass the
/// client's id unchecked.
pub trait Cache: Send {
    /// Stores a session; false if it could not be stored (a live session
    /// with the same id exists, or the cache failed).
    fn add(&mut self, now: Now, timeout_ms: u64, id: &[u8], data: &[u8]) -> bool;
    /// Replaces `out` with the session's data. Ok(false) on a miss.
    fn get(&mut self, now: Now, id: &[u8], out: &mut Vec<u8>) -> Result<bool, CacheFailure>;
    /// The session's data in place, for caches that can lend it (the
    /// server then frames it without a copy). None means "use `get`".
    fn peek(&mut self, _now: Now, _id: &[u8]) -> Option<&[u8]> {
        None
    }
    /// Removes a session; false if there was none.
    fn remove(&mut self, now: Now, id: &[u8]) -> bool;
    /// Whether a live session exists.
    fn have(&mut self, now: Now, id: &[u8]) -> bool;
    /// Number of live sessions.
    fn num_items(&mut self, now: Now) -> usize;
    /// Whether [`Cache::list`] works (snapshots need it).
    fn can_list(&self) -> bool {
        false
    }
    /// Appends to `out` up to `max` live sessions in expiry order,
    /// starting after `from` (None: from the first). Returns where to go
    /// on from, or None once every session was listed. Id and data are
    /// shared, not copied, so a listing in steps between requests costs
    /// little; sessions added or removed between steps are listed or not
    /// depending on where they fall.
    fn list(
        &mut self,
        _now: Now,
        _from: Option<ListCursor>,
        _max: usize,
        _out: &mut Vec<snapshot::Session>,
    ) -> Option<ListCursor> {
        None
    }
}

/// Where a [`Cache::list`] stopped: a position in the cache's expiry order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListCursor(pub i64, pub u64);
/// One request for an [`AsyncStore`]. Ids are already checked (1..=64
/// bytes); ADD's expiry has the floor applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreOp {
    /// Store if absent, expiring `ttl_ms` from now.
    Add {
        id: Vec<u8>,
        data: Vec<u8>,
        ttl_ms: u64,
    },
    Get {
        id: Vec<u8>,
    },
    Remove {
        id: Vec<u8>,
    },
    Have {
        id: Vec<u8>,
    },
}

impl StoreOp {
    /// The session id the request is about.
    pub fn id(&self) -> &[u8] {
        match self {
            StoreOp::Add { id, .. } | StoreOp::Get { id } | StoreOp::Remove { id } | StoreOp::Have { id } => id,
        }
    }
}

/// What an [`AsyncStore`] answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreAnswer {
    /// ADD stored it, REMOVE removed it, HAVE found it.
    Yes,
    /// ADD found a live session with the id; GET, REMOVE, HAVE found none.
    No,
    /// GET found the session.
    Data(Vec<u8>),
    /// The store did not answer (unreachable, timed out, refused): nothing
    /// is known about the session.
    Failed,
}

/// A session store answered off the event loop's thread. Every submitted
/// request gets exactly one answer, within the store's own time limit.
pub trait AsyncStore: Send {
    /// Called once before the first `submit`: `notify` is to be called
    /// (from any thread) when answers become ready to take.
    fn set_notify(&mut self, notify: Box<dyn Fn() + Send + Sync>);
    /// Sends one request; its answer comes back with the same `tag`.
    fn submit(&mut self, tag: u64, op: StoreOp);
    /// Moves the answers that are ready into `out` (in any order).
    fn take_done(&mut self, out: &mut Vec<(u64, StoreAnswer)>);
}

/// The synchronous cache of a server whose sessions live in an
/// [`AsyncStore`]: it holds nothing and refuses every ADD.
pub struct NoCache;

impl Cache for NoCache {
    fn add(&mut self, _now: Now, _timeout_ms: u64, _id: &[u8], _data: &[u8]) -> bool {
        false
    }
    fn get(&mut self, _now: Now, _id: &[u8], _out: &mut Vec<u8>) -> Result<bool, CacheFailure> {
        Ok(false)
    }
    fn remove(&mut self, _now: Now, _id: &[u8]) -> bool {
        false
    }
    fn have(&mut self, _now: Now, _id: &[u8]) -> bool {
        false
    }
    fn num_items(&mut self, _now: Now) -> usize {
        0
    }
}
