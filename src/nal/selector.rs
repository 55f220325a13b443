//! NAL_SELECTOR: waits for network events on attached listeners and
//! connections and keeps the per-object results of the last select.
//!
//! Implementation: descriptors are registered once with epoll (through mio,
//! edge-triggered) when an object is attached. Each entry caches what the
//! kernel last said (readable, writable, hang-up, error) and what the object
//! wants (read while its read buffer has room, send while its send buffer
//! holds data). Both change only through events, the library's own I/O, or
//! buffer watches, and every change re-evaluates that one entry and puts it
//! on the `ready` list if it can be reported. A select therefore costs
//! O(ready objects), however many idle objects are attached.

use super::buffer::BufferWatch;
use super::sys;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use parking_lot::Mutex;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

/// Result bits of a select, per object.
pub const READ: u8 = 0x01;
pub const SEND: u8 = 0x02;
pub const EXCEPT: u8 = 0x04;
pub const READ_SEND: u8 = READ | SEND;

/// A select answered from the ready list alone leaves new kernel events
/// queued; at most this many in a row do so.
const MAX_ROUNDS_WITHOUT_POLL: u32 = 4;

/// Descriptors ≥ this cannot be used with a select(2)-style selector.
const FD_SETSIZE: RawFd = 1024;

/// Counts forks. A forked child shares its parent's epoll instances, so a
/// child must never deregister through them (that would silently detach
/// the parent's objects): each selector notices a new generation and
/// rebuilds a private epoll instance first.
static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);
static FORK_HOOK: Once = Once::new();

extern "C" fn forked_child() {
    FORK_GENERATION.fetch_add(1, Ordering::Relaxed);
}

fn fork_generation() -> u64 {
    FORK_HOOK.call_once(|| sys::at_fork_child(forked_child));
    FORK_GENERATION.load(Ordering::Relaxed)
}

/// The implementation a selector was created with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelectorType {
    /// No implementation yet; becomes `FdPoll` at the first attach.
    Dynamic,
    FdSelect,
    FdPoll,
}

/// The descriptors of an attached object.
#[derive(Clone, Copy, Debug)]
pub enum EntryFds {
    /// One descriptor for both directions (sockets, `FD:n`).
    Single(RawFd),
    /// Separate read and write descriptors (`FD:r:w`); -1 = absent.
    Pair { read: RawFd, write: RawFd },
    /// A listening descriptor.
    Listen(RawFd),
}

impl EntryFds {
    fn each(&self, mut f: impl FnMut(RawFd, usize, Interest)) {
        match *self {
            EntryFds::Single(fd) => f(fd, 0, Interest::READABLE | Interest::WRITABLE),
            EntryFds::Pair { read, write } => {
                if read >= 0 {
                    f(read, 0, Interest::READABLE);
                }
                if write >= 0 {
                    f(write, 1, Interest::WRITABLE);
                }
            }
            EntryFds::Listen(fd) => f(fd, 0, Interest::READABLE),
        }
    }
}

/// What an object tells the selector when it attaches.
#[derive(Clone, Copy, Debug)]
pub struct EntrySpec {
    pub fds: EntryFds,
    pub listener: bool,
    pub want_read: bool,
    pub want_send: bool,
    pub connecting: bool,
}

/// What the kernel last reported for an entry.
#[derive(Default, Clone, Copy, Debug)]
struct Kernel {
    readable: bool,
    writable: bool,
    read_closed: bool,
    hangup: bool,
    error: bool,
}

/// One descriptor registered with epoll for an entry.
struct Registration {
    fd: RawFd,
    /// Held when the descriptor was already registered (another object on
    /// the same file): epoll then watches this duplicate instead.
    _dup: Option<OwnedFd>,
}

struct Entry {
    id: u64,
    spec: EntrySpec,
    registrations: Vec<Registration>,
    kernel: Kernel,
    /// Descriptors epoll refused (regular files...): poll(2) reports them
    /// always ready, so do we.
    always_ready: bool,
    /// Attached with `*_add_to_selector` (stays until detached).
    persistent: bool,
    /// Registered with the older one-shot calls for the next select only.
    oneshot: bool,
    oneshot_mask: u8,
    results: u8,
    on_ready_list: bool,
}

impl Entry {
    fn participates(&self) -> bool {
        self.persistent || self.oneshot
    }

    /// What a select would report for this entry right now.
    fn ready_bits(&self) -> u8 {
        if !self.participates() {
            return 0;
        }
        let k = &self.kernel;
        let readable = k.readable || k.read_closed || self.always_ready;
        let writable = k.writable || self.always_ready;
        let s = &self.spec;
        if s.listener {
            return if s.want_read && (readable || k.error) { READ } else { 0 };
        }
        if s.connecting {
            return if writable || k.error || k.hangup { SEND } else { 0 };
        }
        let mask = if self.persistent { READ_SEND } else { self.oneshot_mask };
        let mut bits = 0;
        if mask & READ != 0 && s.want_read && (readable || k.hangup || k.error) {
            bits |= READ;
        }
        if mask & SEND != 0 && s.want_send && (writable || k.error) {
            bits |= SEND;
        }
        if bits == 0 && (k.error || k.hangup) {
            bits = EXCEPT;
        }
        bits
    }
}

struct Engine {
    poll: Poll,
    events: Events,
    fork_generation: u64,
}

impl Engine {
    fn new() -> io::Result<Self> {
        Ok(Engine { poll: Poll::new()?, events: Events::with_capacity(1024), fork_generation: fork_generation() })
    }

    /// Registers every descriptor of an entry; false when some descriptor
    /// cannot be watched by epoll (regular files: always ready, as poll says).
    fn register(&self, slot: usize, fds: EntryFds, regs: &mut Vec<Registration>) -> bool {
        let mut ok = true;
        fds.each(|fd, dir, interest| {
            let token = Token(slot * 2 + dir);
            let registry = self.poll.registry();
            match registry.register(&mut SourceFd(&fd), token, interest) {
                Ok(()) => regs.push(Registration { fd, _dup: None }),
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                    let dup = sys::dup(fd).ok();
                    match dup.as_ref().map(|d| registry.register(&mut SourceFd(&d.as_raw_fd()), token, interest)) {
                        Some(Ok(())) => regs.push(Registration { fd: dup.as_ref().unwrap().as_raw_fd(), _dup: dup }),
                        _ => ok = false,
                    }
                }
                Err(_) => ok = false,
            }
        });
        ok
    }

    fn deregister(&self, regs: &[Registration]) {
        for r in regs {
            let _ = self.poll.registry().deregister(&mut SourceFd(&r.fd));
        }
    }
}

struct Inner {
    ty: SelectorType,
    /// Created at the first attach (or select) of a concrete selector.
    engine: Option<Engine>,
    /// True once the selector was freed: every attachment is stale.
    closed: bool,
    entries: Vec<Option<Entry>>,
    free_slots: Vec<usize>,
    next_id: u64,
    ready: Vec<usize>,
    with_results: Vec<usize>,
    /// Slots holding a one-shot registration for the next select.
    oneshots: Vec<usize>,
    participants: usize,
    /// Selects answered from the ready list without asking the kernel.
    rounds_without_poll: u32,
}

impl Inner {
    fn entry(&mut self, slot: usize, id: u64) -> Option<&mut Entry> {
        self.entries.get_mut(slot)?.as_mut().filter(|e| e.id == id)
    }

    /// Re-evaluates one entry after anything it depends on changed.
    fn refresh(&mut self, slot: usize) {
        if let Some(Some(e)) = self.entries.get_mut(slot) {
            if !e.on_ready_list && e.ready_bits() != 0 {
                e.on_ready_list = true;
                self.ready.push(slot);
            }
        }
    }

    fn is_concrete(&self) -> bool {
        self.ty != SelectorType::Dynamic || self.engine.is_some()
    }

    /// The epoll instance: created on first use, and rebuilt (with every
    /// entry registered again) in a forked child.
    fn engine(&mut self) -> io::Result<&mut Engine> {
        let stale = self.engine.as_ref().is_some_and(|e| e.fork_generation != fork_generation());
        if self.engine.is_none() || stale {
            let engine = Engine::new()?;
            if stale {
                for (slot, e) in self.entries.iter_mut().enumerate() {
                    if let Some(e) = e {
                        e.registrations.clear(); // duplicates close; the parent keeps its own
                        e.kernel = Kernel::default();
                        e.always_ready = !engine.register(slot, e.spec.fds, &mut e.registrations);
                    }
                }
            }
            self.engine = Some(engine); // dropping a stale one only closes our copy
        }
        Ok(self.engine.as_mut().expect("engine present"))
    }

    fn set_participation(&mut self, slot: usize, persistent: Option<bool>, oneshot: Option<bool>) {
        let Some(Some(e)) = self.entries.get_mut(slot) else {
            return;
        };
        let before = e.participates();
        if let Some(p) = persistent {
            e.persistent = p;
        }
        if let Some(o) = oneshot {
            if o && !e.oneshot {
                self.oneshots.push(slot);
            }
            e.oneshot = o;
        }
        let after = e.participates();
        match (before, after) {
            (false, true) => self.participants += 1,
            (true, false) => self.participants -= 1,
            _ => {}
        }
        self.refresh(slot);
    }

    fn remove(&mut self, slot: usize, id: u64) {
        if self.entry(slot, id).is_none() {
            return;
        }
        if self.engine.is_some() {
            let _ = self.engine(); // a forked child rebuilds before deregistering
        }
        let e = self.entries[slot].take().expect("checked");
        self.free_slots.push(slot);
        if e.participates() {
            self.participants -= 1;
        }
        if let Some(engine) = self.engine.as_ref() {
            engine.deregister(&e.registrations);
        }
    }

    /// Drops every entry (their objects find themselves detached).
    fn clear(&mut self) {
        self.entries.clear();
        self.free_slots.clear();
        self.ready.clear();
        self.with_results.clear();
        self.oneshots.clear();
        self.participants = 0;
        // A fresh epoll instance forgets every registration at once.
        self.engine = None;
    }
}

/// The state a selector shares with the objects attached to it.
pub struct SelectorShared {
    inner: Mutex<Inner>,
    /// Objects attached through the fd control protocol (ABI.md 8.8).
    ctrl: Mutex<CtrlTable>,
    /// Live entries of `ctrl`: 0 keeps `select` on its fast path.
    ctrl_count: AtomicUsize,
    /// Address of the C handle holding this selector (0: none recorded).
    handle: AtomicUsize,
}

/// An object that registers its descriptors itself each round, through
/// the fd control protocol (a C-defined transport, or a builtin object on a
/// selector that speaks the protocol).
pub trait CtrlObject: Send + Sync {
    /// Before the wait: register descriptors with [`Selector::ctrl_fdset`].
    fn pre_select(&self);
    /// After the wait: collect results with [`Selector::ctrl_fdtest`].
    fn post_select(&self);
    /// The selector was reset or freed: the object is no longer attached.
    fn detached(&self);
}

struct CtrlEntry {
    id: u64,
    object: Arc<dyn CtrlObject>,
    /// (descriptor, interest, result) registered for the current round.
    fds: Vec<(RawFd, u8, u8)>,
}

#[derive(Default)]
struct CtrlTable {
    entries: Vec<Option<CtrlEntry>>,
    free: Vec<usize>,
    next_id: u64,
}

/// Tokens of control-protocol entries: `id << 24 | (slot + 1)`, never 0;
/// the id makes a stale token miss instead of hitting a newer object.
const CTRL_SLOT_BITS: u32 = 24;

fn ctrl_token(slot: usize, id: u64) -> usize {
    ((id as usize) << CTRL_SLOT_BITS) | (slot + 1)
}

impl CtrlTable {
    fn find(&mut self, token: usize) -> Option<&mut CtrlEntry> {
        let slot = (token & ((1 << CTRL_SLOT_BITS) - 1)).checked_sub(1)?;
        let id = (token >> CTRL_SLOT_BITS) as u64;
        self.entries.get_mut(slot)?.as_mut().filter(|e| e.id == id)
    }
}

/// A selector (the C `NAL_SELECTOR`).
pub struct Selector {
    shared: Arc<SelectorShared>,
    /// Binding made by the C extension layer (`nal_devel.h`); empty for the
    /// builtin selectors.
    pub devel: super::DevelSlot,
}

impl Default for Selector {
    fn default() -> Self {
        Self::with_type(SelectorType::Dynamic)
    }
}

impl Drop for Selector {
    fn drop(&mut self) {
        self.clear_ctrl();
        let mut inner = self.shared.inner.lock();
        inner.clear();
        inner.closed = true;
    }
}

/// Outcome of a select.
#[derive(Debug)]
pub enum SelectError {
    /// A dynamic selector that never had anything attached (no errno).
    NothingAttached,
    /// The wait failed (typically EINTR); carries the OS error.
    Os(io::Error),
}

impl Selector {
    /// A dynamic selector (`NAL_SELECTOR_new`).
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_type(ty: SelectorType) -> Self {
        let inner = Inner {
            ty,
            engine: None,
            closed: false,
            entries: Vec::new(),
            free_slots: Vec::new(),
            next_id: 1,
            ready: Vec::new(),
            with_results: Vec::new(),
            oneshots: Vec::new(),
            rounds_without_poll: 0,
            participants: 0,
        };
        let shared = SelectorShared {
            inner: Mutex::new(inner),
            ctrl: Mutex::new(CtrlTable::default()),
            ctrl_count: AtomicUsize::new(0),
            handle: AtomicUsize::new(0),
        };
        Self { shared: Arc::new(shared), devel: Default::default() }
    }

    /// Records the address of the C handle that holds this selector, so
    /// attached objects can name it (`nal_connection_get_selector`).
    pub fn set_handle(&self, handle: usize) {
        self.shared.handle.store(handle, Ordering::Relaxed);
    }

    /// Turns a dynamic selector that has nothing attached yet into `ty`
    /// (`nal_selector_dynamic_set` with a builtin implementation). False
    /// when the selector is not of the dynamic kind any more.
    pub fn make_concrete(&self, ty: SelectorType) -> bool {
        let mut inner = self.shared.inner.lock();
        if inner.is_concrete() || ty == SelectorType::Dynamic {
            return false;
        }
        inner.ty = ty;
        true
    }

    /// Whether this is still a dynamic selector nothing was attached to.
    pub fn is_dynamic(&self) -> bool {
        !self.shared.inner.lock().is_concrete()
    }

    /// Attaches an object that speaks the fd control protocol; returns its
    /// token (never 0). None when the selector cannot take it.
    pub fn ctrl_attach(&self, object: Arc<dyn CtrlObject>) -> Option<usize> {
        {
            let mut inner = self.shared.inner.lock();
            if inner.closed {
                return None;
            }
            inner.engine().ok()?; // a dynamic selector becomes concrete
        }
        let mut t = self.shared.ctrl.lock();
        let slot = match t.free.pop() {
            Some(s) => s,
            None if t.entries.len() + 1 < (1 << CTRL_SLOT_BITS) => {
                t.entries.push(None);
                t.entries.len() - 1
            }
            None => return None, // the token space is full: refuse, never collide
        };
        t.next_id += 1;
        let id = t.next_id;
        t.entries[slot] = Some(CtrlEntry { id, object, fds: Vec::new() });
        self.shared.ctrl_count.fetch_add(1, Ordering::Relaxed);
        Some(ctrl_token(slot, id))
    }

    /// Forgets a control-protocol object; false for an unknown token.
    pub fn ctrl_detach(&self, token: usize) -> bool {
        let mut t = self.shared.ctrl.lock();
        let Some(slot) = t.find(token).map(|_| (token & ((1 << CTRL_SLOT_BITS) - 1)) - 1) else {
            return false;
        };
        t.entries[slot] = None;
        t.free.push(slot);
        self.shared.ctrl_count.fetch_sub(1, Ordering::Relaxed);
        true
    }

    /// FDSET: during `pre_select`, watch `fd` for `flags` on behalf of the
    /// object with `token`. False for an unknown token.
    pub fn ctrl_fdset(&self, token: usize, fd: RawFd, flags: u8) -> bool {
        let mut t = self.shared.ctrl.lock();
        match t.find(token) {
            Some(e) if fd >= 0 => {
                e.fds.push((fd, flags & (READ_SEND | EXCEPT), 0));
                true
            }
            _ => false,
        }
    }

    /// FDTEST: during `post_select`, the result bits of `fd` for the object
    /// with `token` (0 when it was not registered or nothing happened).
    pub fn ctrl_fdtest(&self, token: usize, fd: RawFd) -> Option<u8> {
        let mut t = self.shared.ctrl.lock();
        let e = t.find(token)?;
        Some(e.fds.iter().filter(|f| f.0 == fd).fold(0, |acc, f| acc | f.2))
    }

    fn ctrl_live(&self, token: usize) -> bool {
        self.shared.ctrl.lock().find(token).is_some()
    }

    /// Drops every control-protocol entry, telling each object.
    fn clear_ctrl(&self) {
        let objects: Vec<Arc<dyn CtrlObject>> = {
            let mut t = self.shared.ctrl.lock();
            let objects = t.entries.iter_mut().filter_map(|e| e.take()).map(|e| e.object).collect();
            t.entries.clear();
            t.free.clear();
            self.shared.ctrl_count.store(0, Ordering::Relaxed);
            objects
        };
        for o in objects {
            o.detached();
        }
    }

    /// A select with control-protocol objects attached: they register their
    /// descriptors, one poll(2) waits on those and on the epoll instance of
    /// the builtin objects, then each collects its results.
    fn select_mixed(&self, usec_timeout: u64, use_timeout: bool) -> Result<usize, SelectError> {
        let objects: Vec<(usize, Arc<dyn CtrlObject>)> = {
            let mut t = self.shared.ctrl.lock();
            let mut v = Vec::new();
            for (slot, e) in t.entries.iter_mut().enumerate() {
                if let Some(e) = e {
                    e.fds.clear();
                    v.push((ctrl_token(slot, e.id), e.object.clone()));
                }
            }
            v
        };
        for (token, o) in &objects {
            if self.ctrl_live(*token) {
                o.pre_select();
            }
        }
        let (epoll_fd, fast_ready, ty) = {
            let mut inner = self.shared.inner.lock();
            let fast_ready = !inner.ready.is_empty();
            let ty = inner.ty;
            let fd = inner.engine().map_err(SelectError::Os)?.poll.as_raw_fd();
            (fd, fast_ready, ty)
        };
        let mut pfds = vec![libc::pollfd { fd: epoll_fd, events: libc::POLLIN, revents: 0 }];
        let mut owners: Vec<(usize, usize)> = Vec::new();
        {
            let t = self.shared.ctrl.lock();
            for (slot, e) in t.entries.iter().enumerate() {
                let Some(e) = e else { continue };
                for (i, &(fd, flags, _)) in e.fds.iter().enumerate() {
                    let mut events = 0;
                    if flags & READ != 0 {
                        events |= libc::POLLIN;
                    }
                    if flags & SEND != 0 {
                        events |= libc::POLLOUT;
                    }
                    if flags & EXCEPT != 0 {
                        events |= libc::POLLPRI;
                    }
                    pfds.push(libc::pollfd { fd, events, revents: 0 });
                    owners.push((slot, i));
                }
            }
        }
        let wait = if fast_ready {
            Some(Duration::ZERO)
        } else {
            use_timeout.then(|| match ty {
                SelectorType::FdSelect => Duration::from_micros(usec_timeout),
                _ => Duration::from_millis(usec_timeout / 1000),
            })
        };
        sys::poll_fds(&mut pfds, wait).map_err(SelectError::Os)?;
        let fast = if pfds[0].revents != 0 || fast_ready {
            self.select_fast(0, true)?
        } else {
            self.select_fast_clear();
            0
        };
        let mut ready_objects = std::collections::HashSet::new();
        {
            let mut t = self.shared.ctrl.lock();
            for (p, &(slot, i)) in pfds[1..].iter().zip(&owners) {
                let Some(Some(e)) = t.entries.get_mut(slot) else { continue };
                let Some(f) = e.fds.get_mut(i) else { continue };
                let r = p.revents;
                let mut bits = 0;
                if r & libc::POLLIN != 0 || (r & libc::POLLHUP != 0 && f.1 & READ != 0) {
                    bits |= READ;
                }
                if r & libc::POLLOUT != 0 {
                    bits |= SEND;
                }
                if r & (libc::POLLERR | libc::POLLNVAL | libc::POLLPRI) != 0
                    || (r & libc::POLLHUP != 0 && f.1 & READ == 0)
                {
                    bits |= EXCEPT;
                }
                f.2 = bits;
                if bits != 0 {
                    ready_objects.insert(slot);
                }
            }
        }
        for (token, o) in &objects {
            if self.ctrl_live(*token) {
                o.post_select();
            }
        }
        Ok(fast + ready_objects.len())
    }

    /// Forgets the builtin objects' results of the previous round.
    fn select_fast_clear(&self) {
        let mut inner = self.shared.inner.lock();
        for slot in std::mem::take(&mut inner.with_results) {
            if let Some(Some(e)) = inner.entries.get_mut(slot) {
                e.results = 0;
            }
        }
        end_round(&mut inner);
    }

    /// The current type: a dynamic selector reports `FdPoll` once concrete.
    pub fn selector_type(&self) -> SelectorType {
        let inner = self.shared.inner.lock();
        match inner.ty {
            SelectorType::Dynamic if inner.engine.is_some() => SelectorType::FdPoll,
            ty => ty,
        }
    }

    /// Objects attached (persistently or for the next select).
    pub fn num_objects(&self) -> usize {
        self.shared.inner.lock().participants + self.shared.ctrl_count.load(Ordering::Relaxed)
    }

    pub(crate) fn same(&self, shared: &Arc<SelectorShared>) -> bool {
        Arc::ptr_eq(&self.shared, shared)
    }

    /// Detaches everything and clears all results; the type is kept.
    pub fn reset(&self) {
        self.clear_ctrl();
        self.shared.inner.lock().clear();
    }

    /// Registers an object. None when the selector cannot take it.
    pub(crate) fn attach(&self, spec: EntrySpec, persistent: bool, oneshot_mask: u8) -> Option<Attachment> {
        let mut inner = self.shared.inner.lock();
        if inner.closed {
            return None;
        }
        let mut too_big = false;
        spec.fds.each(|fd, _, _| too_big |= fd >= FD_SETSIZE);
        if inner.ty == SelectorType::FdSelect && too_big {
            return None;
        }
        let slot = inner.free_slots.pop().unwrap_or_else(|| {
            inner.entries.push(None);
            inner.entries.len() - 1
        });
        let id = inner.next_id;
        inner.next_id += 1;
        let mut registrations = Vec::new();
        let always_ready = match inner.engine() {
            Ok(engine) => !engine.register(slot, spec.fds, &mut registrations),
            Err(_) => {
                inner.free_slots.push(slot);
                return None;
            }
        };
        inner.entries[slot] = Some(Entry {
            id,
            spec,
            registrations,
            kernel: Kernel::default(),
            always_ready,
            persistent: false,
            oneshot: false,
            oneshot_mask,
            results: 0,
            on_ready_list: false,
        });
        inner.set_participation(slot, Some(persistent), Some(!persistent));
        Some(Attachment { shared: self.shared.clone(), slot, id, persistent })
    }

    /// One blocking round (`NAL_SELECTOR_select`). Ok(n>0): n objects have
    /// results; Ok(0): timed out.
    pub fn select(&self, usec_timeout: u64, use_timeout: bool) -> Result<usize, SelectError> {
        if self.shared.ctrl_count.load(Ordering::Relaxed) != 0 {
            return self.select_mixed(usec_timeout, use_timeout);
        }
        self.select_fast(usec_timeout, use_timeout)
    }

    fn select_fast(&self, usec_timeout: u64, use_timeout: bool) -> Result<usize, SelectError> {
        let mut guard = self.shared.inner.lock();
        let inner = &mut *guard;
        if !inner.is_concrete() {
            return Err(SelectError::NothingAttached);
        }
        let timeout = use_timeout.then(|| match inner.ty {
            SelectorType::FdSelect => Duration::from_micros(usec_timeout),
            // poll(2) semantics: milliseconds, truncated.
            _ => Duration::from_millis(usec_timeout / 1000),
        });
        let deadline = timeout.map(|t| Instant::now() + t);
        for slot in std::mem::take(&mut inner.with_results) {
            if let Some(Some(e)) = inner.entries.get_mut(slot) {
                e.results = 0;
            }
        }
        let mut waited = false;
        loop {
            let ready_now = collect_ready(inner);
            // Something is ready already. Usually that is the answer; every
            // few rounds also take one non-blocking look for queued events,
            // so objects that stay ready cannot starve the others.
            let wait = if ready_now {
                if waited || inner.rounds_without_poll < MAX_ROUNDS_WITHOUT_POLL {
                    inner.rounds_without_poll += !waited as u32;
                    break;
                }
                Some(Duration::ZERO)
            } else {
                deadline.map(|d| d.saturating_duration_since(Instant::now()))
            };
            let engine = inner.engine().map_err(SelectError::Os)?;
            if let Err(e) = engine.poll.poll(&mut engine.events, wait) {
                if ready_now {
                    break; // report what we have
                }
                return Err(SelectError::Os(e));
            }
            waited = true;
            let fired: Vec<(usize, usize, Kernel)> = engine
                .events
                .iter()
                .map(|ev| {
                    let k = Kernel {
                        readable: ev.is_readable(),
                        writable: ev.is_writable(),
                        read_closed: ev.is_read_closed(),
                        hangup: ev.is_read_closed() && ev.is_write_closed(),
                        error: ev.is_error(),
                    };
                    (ev.token().0 / 2, ev.token().0 % 2, k)
                })
                .collect();
            inner.rounds_without_poll = 0;
            for (slot, dir, k) in fired {
                if let Some(Some(e)) = inner.entries.get_mut(slot) {
                    let single = matches!(e.spec.fds, EntryFds::Single(_) | EntryFds::Listen(_));
                    if dir == 0 {
                        e.kernel.readable |= k.readable;
                        e.kernel.read_closed |= k.read_closed;
                    }
                    if dir == 1 || single {
                        e.kernel.writable |= k.writable;
                    }
                    e.kernel.hangup |= k.hangup;
                    e.kernel.error |= k.error;
                    inner.refresh(slot);
                }
            }
            if ready_now {
                break;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) && !collect_ready(inner) {
                end_round(inner);
                return Ok(0);
            }
        }
        // Store results for everything that can be reported.
        let mut count = 0;
        let ready = std::mem::take(&mut inner.ready);
        for slot in ready {
            let Some(Some(e)) = inner.entries.get_mut(slot) else {
                continue;
            };
            let bits = e.ready_bits();
            if bits == 0 {
                e.on_ready_list = false;
                continue;
            }
            e.results = bits;
            // select(2) counts a descriptor once per set it is in.
            count += if inner.ty == SelectorType::FdSelect { bits.count_ones() as usize } else { 1 };
            inner.with_results.push(slot);
            inner.ready.push(slot); // still ready until acted upon
        }
        end_round(inner);
        Ok(count)
    }
}

/// Drops entries that are no longer ready from the ready list; true when
/// anything remains.
fn collect_ready(inner: &mut Inner) -> bool {
    let Inner { ready, entries, .. } = inner;
    ready.retain(|&slot| match entries.get_mut(slot) {
        Some(Some(e)) if e.ready_bits() != 0 => true,
        Some(Some(e)) => {
            e.on_ready_list = false;
            false
        }
        _ => false,
    });
    !ready.is_empty()
}

/// One-shot registrations are consumed by the select that used them.
fn end_round(inner: &mut Inner) {
    for slot in std::mem::take(&mut inner.oneshots) {
        inner.set_participation(slot, None, Some(false));
    }
}

/// An object's link to the selector it is attached to.
pub struct Attachment {
    shared: Arc<SelectorShared>,
    slot: usize,
    id: u64,
    persistent: bool,
}

impl Attachment {
    fn with<R>(&self, f: impl FnOnce(&mut Inner, usize) -> R) -> Option<R> {
        let mut inner = self.shared.inner.lock();
        inner.entry(self.slot, self.id)?;
        Some(f(&mut inner, self.slot))
    }

    /// The C handle of the selector and a token naming this entry in it
    /// (never 0), while the attachment is live.
    pub fn handle_and_token(&self) -> Option<(usize, usize)> {
        let handle = self.shared.handle.load(Ordering::Relaxed);
        (self.is_live() && handle != 0).then(|| (handle, (1 << 63) | ((self.id as usize) << 24) | (self.slot + 1)))
    }

    /// Still registered (the selector was not freed or reset since).
    pub fn is_live(&self) -> bool {
        self.with(|_, _| ()).is_some()
    }

    /// Attached with `*_add_to_selector` (not just a one-shot registration).
    pub fn is_persistent(&self) -> bool {
        self.persistent && self.is_live()
    }

    pub(crate) fn selector(&self) -> &Arc<SelectorShared> {
        &self.shared
    }

    /// Results of the last select; `consume` bits are cleared.
    pub fn results(&self, consume: u8) -> u8 {
        self.with(|inner, slot| {
            let e = inner.entries[slot].as_mut().expect("checked");
            let r = e.results;
            e.results &= !consume;
            r
        })
        .unwrap_or(0)
    }

    /// Records what the object's own I/O learned: "would block" on read or
    /// send, or a completed connect.
    pub fn note_io(&self, read_drained: bool, send_blocked: bool, connected: bool) {
        self.with(|inner, slot| {
            let e = inner.entries[slot].as_mut().expect("checked");
            if read_drained {
                e.kernel.readable = false;
            }
            if send_blocked {
                e.kernel.writable = false;
            }
            if connected {
                e.spec.connecting = false;
            }
            inner.refresh(slot);
        });
    }

    /// Updates what the object wants (listeners: whether to watch at all).
    pub fn set_wants(&self, want_read: Option<bool>, want_send: Option<bool>) {
        self.with(|inner, slot| {
            let e = inner.entries[slot].as_mut().expect("checked");
            if let Some(r) = want_read {
                e.spec.want_read = r;
            }
            if let Some(s) = want_send {
                e.spec.want_send = s;
            }
            inner.refresh(slot);
        });
    }

    /// Re-arms a one-shot registration (older API), combining masks.
    pub fn register_oneshot(&self, mask: u8) {
        self.with(|inner, slot| {
            let e = inner.entries[slot].as_mut().expect("checked");
            if !e.oneshot {
                e.oneshot_mask = 0;
            }
            e.oneshot_mask |= mask;
            inner.set_participation(slot, None, Some(true));
        });
    }

    pub fn cancel_oneshot(&self) {
        self.with(|inner, slot| inner.set_participation(slot, None, Some(false)));
    }

    /// A buffer watch that keeps this entry's read or send interest current.
    pub fn watch(&self, role: WatchRole) -> Arc<dyn BufferWatch> {
        Arc::new(EntryWatch { shared: self.shared.clone(), slot: self.slot, id: self.id, role })
    }

    /// Removes the entry (no-op when already stale).
    pub fn detach(self) {
        self.shared.inner.lock().remove(self.slot, self.id);
    }
}

/// Which buffer of a connection a watch is installed on.
#[derive(Clone, Copy, Debug)]
pub enum WatchRole {
    Read,
    Send,
}

struct EntryWatch {
    shared: Arc<SelectorShared>,
    slot: usize,
    id: u64,
    role: WatchRole,
}

impl BufferWatch for EntryWatch {
    fn changed(&self, is_empty: bool, is_full: bool) {
        let mut inner = self.shared.inner.lock();
        if let Some(e) = inner.entry(self.slot, self.id) {
            match self.role {
                WatchRole::Read => e.spec.want_read = !is_full,
                WatchRole::Send => e.spec.want_send = !is_empty,
            }
            inner.refresh(self.slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    /// A control-protocol object that only records whether it was told the
    /// selector went away.
    struct Probe(AtomicBool);

    impl CtrlObject for Probe {
        fn pre_select(&self) {}
        fn post_select(&self) {}
        fn detached(&self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }

    #[test]
    fn ctrl_tokens_never_reach_a_newer_object() {
        let sel = Selector::new();
        let probe = Arc::new(Probe(AtomicBool::new(false)));
        let old = sel.ctrl_attach(probe.clone()).unwrap();
        assert!(sel.ctrl_detach(old));
        assert!(!sel.ctrl_detach(old), "detached twice");
        let new = sel.ctrl_attach(probe.clone()).unwrap();
        assert_ne!(old, new, "the slot is reused, the token is not");
        assert!(!sel.ctrl_fdset(old, 0, READ), "a stale token misses");
        assert_eq!(sel.ctrl_fdtest(old, 0), None);
        assert!(sel.ctrl_fdset(new, 0, READ));
        assert_eq!(sel.ctrl_fdtest(new, 0), Some(0)); // nothing selected yet
        assert!(!sel.ctrl_fdset(new, -1, READ), "negative descriptors are refused");
        assert_eq!(sel.num_objects(), 1);
        assert_eq!(sel.selector_type(), SelectorType::FdPoll, "the first attach makes it concrete");
        sel.reset();
        assert!(probe.0.load(Ordering::Relaxed), "reset tells the object");
        assert_eq!(sel.num_objects(), 0);
    }

    #[test]
    fn ctrl_objects_get_results_from_a_mixed_select() {
        struct Pipe {
            sel: std::sync::Weak<Selector>,
            token: Mutex<usize>,
            fd: RawFd,
            got: Mutex<u8>,
        }
        impl CtrlObject for Pipe {
            fn pre_select(&self) {
                let sel = self.sel.upgrade().unwrap();
                assert!(sel.ctrl_fdset(*self.token.lock(), self.fd, READ));
            }
            fn post_select(&self) {
                let sel = self.sel.upgrade().unwrap();
                *self.got.lock() = sel.ctrl_fdtest(*self.token.lock(), self.fd).unwrap();
            }
            fn detached(&self) {}
        }
        let (r, w) = sys::socket_pair().unwrap();
        let sel = Arc::new(Selector::with_type(SelectorType::FdPoll));
        let pipe =
            Arc::new(Pipe { sel: Arc::downgrade(&sel), token: Mutex::new(0), fd: r.as_raw_fd(), got: Mutex::new(0) });
        *pipe.token.lock() = sel.ctrl_attach(pipe.clone()).unwrap();
        assert_eq!(sel.select(10_000, true).unwrap(), 0, "nothing to read yet");
        assert_eq!(*pipe.got.lock(), 0);
        sys::write(w.as_raw_fd(), b"x").unwrap();
        assert_eq!(sel.select(1_000_000, true).unwrap(), 1);
        assert_eq!(*pipe.got.lock(), READ);
        sel.reset();
    }
}
