//! `DC_SERVER`, `DC_CLIENT` and the `DC_CACHE_cb` adapter.

use super::nal_connection::{NAL_CONNECTION_io, NAL_CONNECTION};
use super::{guard, guard_void, obj};
use crate::cache::{BuiltinCache, Cache, CacheFailure, Now};
use crate::nal::connection::Connection;
use crate::protocol::{Plug, MAX_TOTAL_DATA};
use crate::server::Server;
use libc::{c_int, c_uchar, c_uint, c_ulong, c_void, timeval};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Opaque cache instance of a caller-supplied implementation.
pub type DC_CACHE = c_void;

/// The caller-visible callback table (field order is ABI).
#[repr(C)]
pub struct DC_CACHE_cb {
    pub cache_new: Option<extern "C" fn(c_uint) -> *mut DC_CACHE>,
    pub cache_free: Option<extern "C" fn(*mut DC_CACHE)>,
    pub cache_add: Option<
        extern "C" fn(*mut DC_CACHE, *const timeval, c_ulong, *const c_uchar, c_uint, *const c_uchar, c_uint) -> c_int,
    >,
    pub cache_get:
        Option<extern "C" fn(*mut DC_CACHE, *const timeval, *const c_uchar, c_uint, *mut c_uchar, c_uint) -> c_uint>,
    pub cache_remove: Option<extern "C" fn(*mut DC_CACHE, *const timeval, *const c_uchar, c_uint) -> c_int>,
    pub cache_have: Option<extern "C" fn(*mut DC_CACHE, *const timeval, *const c_uchar, c_uint) -> c_int>,
    pub cache_num_items: Option<extern "C" fn(*mut DC_CACHE, *const timeval) -> c_uint>,
}

const CLIENT_NOFREE_CONN: c_uint = 0x1;
const CLIENT_IN_SERVER: c_uint = 0x2;

/// Process-wide implementation for new servers: 0 none selected yet,
/// 1 the builtin cache, otherwise the address of a caller's table.
static IMPLEMENTATION: AtomicUsize = AtomicUsize::new(0);
const BUILTIN: usize = 1;

/// A caller-supplied cache behind the [`Cache`] trait.
struct CCache {
    cb: &'static DC_CACHE_cb,
    cache: *mut DC_CACHE,
}

// SAFETY: the instance pointer is only used through the callbacks, by the
// one server that owns it; servers are not shared between threads by the
// C API, so moving it with its server is fine.
unsafe impl Send for CCache {}

fn tv(now: Now) -> timeval {
    timeval { tv_sec: now.sec as libc::time_t, tv_usec: now.usec as libc::suseconds_t }
}

fn len32(b: &[u8]) -> c_uint {
    b.len().min(c_uint::MAX as usize) as c_uint
}

impl Cache for CCache {
    fn add(&mut self, now: Now, timeout_ms: u64, id: &[u8], data: &[u8]) -> bool {
        let t = tv(now);
        let f = self.cb.cache_add.expect("checked at selection");
        f(self.cache, &t, timeout_ms as c_ulong, id.as_ptr(), len32(id), data.as_ptr(), len32(data)) != 0
    }

    fn get(&mut self, now: Now, id: &[u8], out: &mut Vec<u8>) -> Result<bool, CacheFailure> {
        let t = tv(now);
        let f = self.cb.cache_get.expect("checked at selection");
        let len = f(self.cache, &t, id.as_ptr(), len32(id), std::ptr::null_mut(), 0) as usize;
        if len == 0 {
            return Ok(false);
        }
        if len > MAX_TOTAL_DATA {
            return Err(CacheFailure);
        }
        out.clear();
        out.resize(MAX_TOTAL_DATA, 0);
        let got = f(self.cache, &t, id.as_ptr(), len32(id), out.as_mut_ptr(), MAX_TOTAL_DATA as c_uint) as usize;
        if got == 0 || got > MAX_TOTAL_DATA {
            return Err(CacheFailure);
        }
        out.truncate(got);
        Ok(true)
    }

    fn remove(&mut self, now: Now, id: &[u8]) -> bool {
        let t = tv(now);
        self.cb.cache_remove.expect("checked at selection")(self.cache, &t, id.as_ptr(), len32(id)) != 0
    }

    fn have(&mut self, now: Now, id: &[u8]) -> bool {
        let t = tv(now);
        self.cb.cache_have.expect("checked at selection")(self.cache, &t, id.as_ptr(), len32(id)) != 0
    }

    fn num_items(&mut self, now: Now) -> usize {
        let t = tv(now);
        self.cb.cache_num_items.expect("checked at selection")(self.cache, &t) as usize
    }
}

impl Drop for CCache {
    fn drop(&mut self) {
        if let Some(f) = self.cb.cache_free {
            f(self.cache);
        }
    }
}

/// A server: the request-answering core plus its clients in creation order.
pub struct DC_SERVER {
    server: Option<Server>,
    clients: BTreeMap<u64, *mut DC_CLIENT>,
    next_client: u64,
}

/// A client of a server: a server-end plug on one connection.
pub struct DC_CLIENT {
    server: *mut DC_SERVER,
    key: u64,
    conn: *mut NAL_CONNECTION,
    flags: c_uint,
    plug: Plug,
}

fn now_of(now: *const timeval) -> Option<Now> {
    // SAFETY: a non-NULL `now` points at the caller's struct timeval.
    unsafe { now.as_ref() }.map(|t| Now::new(i64::from(t.tv_sec), i64::from(t.tv_usec)))
}

fn server<'a>(s: *mut DC_SERVER) -> Option<&'a mut DC_SERVER> {
    // SAFETY: non-NULL servers come from DC_SERVER_new and live until
    // DC_SERVER_free; the C API does not share them between threads.
    unsafe { s.as_mut() }
}

fn client<'a>(c: *mut DC_CLIENT) -> Option<&'a mut DC_CLIENT> {
    // SAFETY: non-NULL clients come from DC_SERVER_new_client and live
    // until deleted (by the caller or by their server).
    unsafe { c.as_mut() }
}

/// Destroys a client (and its connection unless NOFREE_CONN). The caller
/// has already unlinked it from its server.
fn destroy_client(c: *mut DC_CLIENT) {
    // SAFETY: `c` came from Box::into_raw in DC_SERVER_new_client and was
    // just unlinked from its server, so nothing else refers to it.
    let boxed = unsafe { Box::from_raw(c) };
    if boxed.flags & CLIENT_NOFREE_CONN == 0 {
        // As NAL_CONNECTION_free: a C transport's on_destroy hook runs.
        super::nal_connection::NAL_CONNECTION_free(boxed.conn);
    }
}

impl DC_CLIENT {
    /// Answers at most one request; false when the client must go.
    fn process(&mut self, srv: &mut Server, now: Now) -> bool {
        let Some(conn) = obj::<Connection>(self.conn) else {
            return false;
        };
        let (Some(read), Some(send)) = (conn.read_buffer(), conn.send_buffer()) else {
            return false;
        };
        let (read, send) = (read.clone(), send.clone());
        srv.process(&mut self.plug, &read, &send, now).is_ok()
    }
}

/// Selects the builtin cache for servers created afterwards. Returns 1.
#[no_mangle]
pub extern "C" fn DC_SERVER_set_default_cache() -> c_int {
    IMPLEMENTATION.store(BUILTIN, Ordering::SeqCst);
    1
}

/// Selects a caller-supplied cache (all seven callbacks required) for
/// servers created afterwards; only the pointer is kept.
#[no_mangle]
pub extern "C" fn DC_SERVER_set_cache(impl_: *const DC_CACHE_cb) -> c_int {
    guard(0, || {
        let Some(t) = obj(impl_) else { return 0 };
        let complete = t.cache_new.is_some()
            && t.cache_free.is_some()
            && t.cache_add.is_some()
            && t.cache_get.is_some()
            && t.cache_remove.is_some()
            && t.cache_have.is_some()
            && t.cache_num_items.is_some();
        if !complete {
            return 0;
        }
        IMPLEMENTATION.store(impl_ as usize, Ordering::SeqCst);
        1
    })
}

/// A server with a new cache for `max_sessions` sessions (builtin cache:
/// 64..60000). NULL if no cache was selected or the cache refused.
#[no_mangle]
pub extern "C" fn DC_SERVER_new(max_sessions: c_uint) -> *mut DC_SERVER {
    guard(std::ptr::null_mut(), || {
        let cache: Box<dyn Cache> = match IMPLEMENTATION.load(Ordering::SeqCst) {
            0 => return std::ptr::null_mut(),
            BUILTIN => match BuiltinCache::new(max_sessions as usize) {
                Some(c) => Box::new(c),
                None => return std::ptr::null_mut(),
            },
            addr => {
                // SAFETY: DC_SERVER_set_cache stored the address of a
                // complete table the caller keeps valid while servers live.
                let cb: &'static DC_CACHE_cb = unsafe { &*(addr as *const DC_CACHE_cb) };
                let cache = cb.cache_new.expect("checked at selection")(max_sessions);
                if cache.is_null() {
                    return std::ptr::null_mut();
                }
                Box::new(CCache { cb, cache })
            }
        };
        Box::into_raw(Box::new(DC_SERVER {
            server: Some(Server::new(cache)),
            clients: BTreeMap::new(),
            next_client: 0,
        }))
    })
}

/// Frees the cache, then every remaining client, then the server.
#[no_mangle]
pub extern "C" fn DC_SERVER_free(ctx: *mut DC_SERVER) {
    guard_void(|| {
        if ctx.is_null() {
            return;
        }
        // SAFETY: servers come from Box::into_raw in DC_SERVER_new and the
        // caller frees each one once.
        let mut s = unsafe { Box::from_raw(ctx) };
        drop(s.server.take());
        for (_, c) in std::mem::take(&mut s.clients) {
            destroy_client(c);
        }
    })
}

/// Number of live sessions (the builtin cache purges expired ones first).
#[no_mangle]
pub extern "C" fn DC_SERVER_items_stored(ctx: *mut DC_SERVER, now: *const timeval) -> c_uint {
    guard(0, || match (server(ctx).and_then(|s| s.server.as_mut()), now_of(now)) {
        (Some(s), Some(now)) => s.items_stored(now) as c_uint,
        _ => 0,
    })
}

#[no_mangle]
pub extern "C" fn DC_SERVER_reset_operations(ctx: *mut DC_SERVER) {
    guard_void(|| {
        if let Some(s) = server(ctx).and_then(|s| s.server.as_mut()) {
            s.reset_operations()
        }
    })
}

/// Requests answered since creation or the last reset (misses and refused
/// adds count; requests that made a client fail do not).
#[no_mangle]
pub extern "C" fn DC_SERVER_num_operations(ctx: *mut DC_SERVER) -> c_ulong {
    guard(0, || server(ctx).and_then(|s| s.server.as_ref()).map_or(0, |s| s.operations() as c_ulong))
}

/// Creates a client for an active connection (owned by the client unless
/// DC_CLIENT_FLAG_NOFREE_CONN; driven by DC_SERVER_clients_io with
/// DC_CLIENT_FLAG_IN_SERVER).
#[no_mangle]
pub extern "C" fn DC_SERVER_new_client(
    ctx: *mut DC_SERVER,
    conn: *mut NAL_CONNECTION,
    flags: c_uint,
) -> *mut DC_CLIENT {
    guard(std::ptr::null_mut(), || {
        let Some(s) = server(ctx) else {
            return std::ptr::null_mut();
        };
        if conn.is_null() {
            return std::ptr::null_mut();
        }
        let key = s.next_client;
        s.next_client += 1;
        let c = Box::into_raw(Box::new(DC_CLIENT { server: ctx, key, conn, flags, plug: Plug::new(false) }));
        s.clients.insert(key, c);
        c
    })
}

/// Removes and destroys a client. 1 if it was found.
#[no_mangle]
pub extern "C" fn DC_SERVER_del_client(clnt: *mut DC_CLIENT) -> c_int {
    guard(0, || {
        let Some(c) = client(clnt) else { return 0 };
        let Some(s) = server(c.server) else { return 0 };
        if s.clients.remove(&c.key) != Some(clnt) {
            return 0;
        }
        destroy_client(clnt);
        1
    })
}

/// Assembles any buffered request, answers at most one, and pushes
/// response frames into the send buffer. 0 when the client must be
/// deleted (corrupt input, an ADD shorter than 8 bytes, a cache failure).
/// A request waiting behind a response that is still being sent is left
/// for a later call (1).
#[no_mangle]
pub extern "C" fn DC_SERVER_process_client(clnt: *mut DC_CLIENT, now: *const timeval) -> c_int {
    guard(0, || {
        let (Some(c), Some(now)) = (client(clnt), now_of(now)) else {
            return 0;
        };
        let Some(srv) = server(c.server).and_then(|s| s.server.as_mut()) else {
            return 0;
        };
        c.process(srv, now) as c_int
    })
}

/// For every DC_CLIENT_FLAG_IN_SERVER client in creation order: network
/// I/O and at most one request; clients that fail are destroyed. 1 (0 for
/// NULL arguments).
#[no_mangle]
pub extern "C" fn DC_SERVER_clients_io(ctx: *mut DC_SERVER, now: *const timeval) -> c_int {
    guard(0, || {
        let (Some(s), Some(now)) = (server(ctx), now_of(now)) else {
            return 0;
        };
        let Some(srv) = s.server.as_mut() else {
            return 0;
        };
        let mut dead = Vec::new();
        for (&key, &cp) in &s.clients {
            let Some(c) = client(cp) else { continue };
            if c.flags & CLIENT_IN_SERVER == 0 {
                continue;
            }
            let ok = NAL_CONNECTION_io(c.conn, std::ptr::null_mut()) != 0 && c.process(srv, now);
            if !ok {
                dead.push(key);
            }
        }
        for key in dead {
            if let Some(c) = s.clients.remove(&key) {
                destroy_client(c);
            }
        }
        1
    })
}

/// 1 when the server has no clients (or is NULL), else 0.
#[no_mangle]
pub extern "C" fn DC_SERVER_clients_empty(ctx: *const DC_SERVER) -> c_int {
    guard(1, || obj(ctx).map_or(1, |s| s.clients.is_empty() as c_int))
}
