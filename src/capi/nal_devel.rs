//! `nal_devel.h`: the extension API (ABI.md section 8). C code defines
//! address types, transports and selectors through vtables; the builtin
//! transports and selectors are published as vtables C can call and wrap.
//!
//! Objects bound to the builtin vtables stay on the fast path: their
//! `devel` slot is empty and every API function goes straight to the safe
//! core. An object gets a [`Binding`] in its slot when it is bound to a C
//! vtable, or when it joins a selector the fast path cannot serve (a
//! C-defined selector, or any selector through the fd control protocol);
//! from then on the API functions dispatch through the bound vtable, whose
//! builtin hooks again act on the core. The builtin objects keep their
//! state in the core object, so the builtin vtables ask for no vtdata.

use super::nal_address::NAL_ADDRESS;
use super::nal_buffer::{buffer_ptr, NAL_BUFFER};
use super::nal_connection::NAL_CONNECTION;
use super::nal_listener::NAL_LISTENER;
use super::nal_selector::{is_live_selector, new_selector, release_selector, NAL_SELECTOR};
use super::{c_bytes, guard, guard_void, obj, obj_mut, set_errno};
use crate::nal::address::has_builtin_prefix;
use crate::nal::selector::{CtrlObject, SelectError, SelectorType};
use crate::nal::{DevelSlot, MAX_BUFFER_SIZE};
use libc::{c_char, c_int, c_uint, c_ulong, c_void};
use parking_lot::Mutex;
use std::cell::UnsafeCell;
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub type NAL_SELECTOR_TOKEN = *mut c_void;
pub type NAL_SELECTOR_TYPE = c_int;

const TYPE_ERROR: c_int = 0;
const TYPE_DYNAMIC: c_int = 1;
const TYPE_FDSELECT: c_int = 2;
const TYPE_FDPOLL: c_int = 3;
/// The fd-selector control commands (ABI.md 8.8).
const CTRL_FDSET: c_int = 0x100;
const CTRL_FDTEST: c_int = 0x101;

type AddrFn = unsafe extern "C" fn(*mut NAL_ADDRESS);
type ListFn = unsafe extern "C" fn(*mut NAL_LISTENER);
type ConnFn = unsafe extern "C" fn(*mut NAL_CONNECTION);
type SelFn = unsafe extern "C" fn(*mut NAL_SELECTOR);

#[repr(C)]
pub struct NAL_ADDRESS_vtable {
    pub unique_name: *const c_char,
    pub vtdata_size: usize,
    pub prefixes: *const *const c_char,
    pub on_create: Option<unsafe extern "C" fn(*mut NAL_ADDRESS) -> c_int>,
    pub on_destroy: Option<AddrFn>,
    pub on_reset: Option<AddrFn>,
    pub pre_close: Option<AddrFn>,
    pub parse: Option<unsafe extern "C" fn(*mut NAL_ADDRESS, *const c_char) -> c_int>,
    pub can_connect: Option<unsafe extern "C" fn(*const NAL_ADDRESS) -> c_int>,
    pub can_listen: Option<unsafe extern "C" fn(*const NAL_ADDRESS) -> c_int>,
    pub create_listener: Option<unsafe extern "C" fn(*const NAL_ADDRESS) -> *const NAL_LISTENER_vtable>,
    pub create_connection: Option<unsafe extern "C" fn(*const NAL_ADDRESS) -> *const NAL_CONNECTION_vtable>,
    pub next: *mut NAL_ADDRESS_vtable,
}

#[repr(C)]
pub struct NAL_LISTENER_vtable {
    pub vtdata_size: usize,
    pub on_create: Option<unsafe extern "C" fn(*mut NAL_LISTENER) -> c_int>,
    pub on_destroy: Option<ListFn>,
    pub on_reset: Option<ListFn>,
    pub pre_close: Option<ListFn>,
    pub listen: Option<unsafe extern "C" fn(*mut NAL_LISTENER, *const NAL_ADDRESS) -> c_int>,
    pub pre_accept: Option<unsafe extern "C" fn(*mut NAL_LISTENER) -> *const NAL_CONNECTION_vtable>,
    pub finished: Option<unsafe extern "C" fn(*const NAL_LISTENER) -> c_int>,
    pub pre_selector_add: Option<unsafe extern "C" fn(*mut NAL_LISTENER, *mut NAL_SELECTOR) -> c_int>,
    pub post_selector_add:
        Option<unsafe extern "C" fn(*mut NAL_LISTENER, *mut NAL_SELECTOR, NAL_SELECTOR_TOKEN) -> c_int>,
    pub pre_selector_del: Option<unsafe extern "C" fn(*mut NAL_LISTENER, *mut NAL_SELECTOR, NAL_SELECTOR_TOKEN)>,
    pub post_selector_del: Option<unsafe extern "C" fn(*mut NAL_LISTENER, *mut NAL_SELECTOR)>,
    pub pre_select: Option<unsafe extern "C" fn(*mut NAL_LISTENER, *mut NAL_SELECTOR, NAL_SELECTOR_TOKEN)>,
    pub post_select: Option<unsafe extern "C" fn(*mut NAL_LISTENER, *mut NAL_SELECTOR, NAL_SELECTOR_TOKEN)>,
    pub set_fs_owner: Option<unsafe extern "C" fn(*mut NAL_LISTENER, *const c_char, *const c_char) -> c_int>,
    pub set_fs_perms: Option<unsafe extern "C" fn(*mut NAL_LISTENER, *const c_char) -> c_int>,
}

#[repr(C)]
pub struct NAL_CONNECTION_vtable {
    pub vtdata_size: usize,
    pub on_create: Option<unsafe extern "C" fn(*mut NAL_CONNECTION) -> c_int>,
    pub on_destroy: Option<ConnFn>,
    pub on_reset: Option<ConnFn>,
    pub pre_close: Option<ConnFn>,
    pub connect: Option<unsafe extern "C" fn(*mut NAL_CONNECTION, *const NAL_ADDRESS) -> c_int>,
    pub accept: Option<unsafe extern "C" fn(*mut NAL_CONNECTION, *const NAL_LISTENER) -> c_int>,
    pub set_size: Option<unsafe extern "C" fn(*mut NAL_CONNECTION, c_uint) -> c_int>,
    pub get_read: Option<unsafe extern "C" fn(*const NAL_CONNECTION) -> *mut NAL_BUFFER>,
    pub get_send: Option<unsafe extern "C" fn(*const NAL_CONNECTION) -> *mut NAL_BUFFER>,
    pub is_established: Option<unsafe extern "C" fn(*const NAL_CONNECTION) -> c_int>,
    pub pre_selector_add: Option<unsafe extern "C" fn(*mut NAL_CONNECTION, *mut NAL_SELECTOR) -> c_int>,
    pub post_selector_add:
        Option<unsafe extern "C" fn(*mut NAL_CONNECTION, *mut NAL_SELECTOR, NAL_SELECTOR_TOKEN) -> c_int>,
    pub pre_selector_del: Option<unsafe extern "C" fn(*mut NAL_CONNECTION, *mut NAL_SELECTOR, NAL_SELECTOR_TOKEN)>,
    pub post_selector_del: Option<unsafe extern "C" fn(*mut NAL_CONNECTION, *mut NAL_SELECTOR)>,
    pub pre_select: Option<unsafe extern "C" fn(*mut NAL_CONNECTION, *mut NAL_SELECTOR, NAL_SELECTOR_TOKEN)>,
    pub post_select: Option<unsafe extern "C" fn(*mut NAL_CONNECTION, *mut NAL_SELECTOR, NAL_SELECTOR_TOKEN)>,
    pub do_io: Option<unsafe extern "C" fn(*mut NAL_CONNECTION) -> c_int>,
}

#[repr(C)]
pub struct NAL_SELECTOR_vtable {
    pub vtdata_size: usize,
    pub on_create: Option<unsafe extern "C" fn(*mut NAL_SELECTOR) -> c_int>,
    pub on_destroy: Option<SelFn>,
    pub on_reset: Option<SelFn>,
    pub pre_close: Option<SelFn>,
    pub get_type: Option<unsafe extern "C" fn(*const NAL_SELECTOR) -> NAL_SELECTOR_TYPE>,
    pub select: Option<unsafe extern "C" fn(*mut NAL_SELECTOR, c_ulong, c_int) -> c_int>,
    pub num_objects: Option<unsafe extern "C" fn(*const NAL_SELECTOR) -> c_uint>,
    pub add_listener: Option<unsafe extern "C" fn(*mut NAL_SELECTOR, *mut NAL_LISTENER) -> NAL_SELECTOR_TOKEN>,
    pub add_connection: Option<unsafe extern "C" fn(*mut NAL_SELECTOR, *mut NAL_CONNECTION) -> NAL_SELECTOR_TOKEN>,
    pub del_listener: Option<unsafe extern "C" fn(*mut NAL_SELECTOR, *mut NAL_LISTENER, NAL_SELECTOR_TOKEN)>,
    pub del_connection: Option<unsafe extern "C" fn(*mut NAL_SELECTOR, *mut NAL_CONNECTION, NAL_SELECTOR_TOKEN)>,
    pub ctrl: Option<unsafe extern "C" fn(*mut NAL_SELECTOR, c_int, *mut c_void) -> c_int>,
}

/// FDSET argument (ABI.md 8.8).
#[repr(C)]
struct FdSet {
    token: NAL_SELECTOR_TOKEN,
    fd: c_int,
    flags: u8,
}

/// FDTEST argument (ABI.md 8.8).
#[repr(C)]
struct FdTest {
    flags: u8,
    token: NAL_SELECTOR_TOKEN,
    fd: c_int,
}

// ---------------------------------------------------------------------------
// Shared statics: the builtin vtables and the list of address types.

/// A static C reads (and, for the address list, `NAL_ADDRESS_vtable_link`
/// writes under [`LINK`]).
#[repr(transparent)]
struct Shared<T>(UnsafeCell<T>);
// SAFETY: the vtables are immutable after start-up except the address
// list's `next` links, which are only written under the LINK lock.
unsafe impl<T> Sync for Shared<T> {}

#[repr(transparent)]
struct Prefixes<const N: usize>([*const c_char; N]);
// SAFETY: pointers to immutable string literals.
unsafe impl<const N: usize> Sync for Prefixes<N> {}

static STD_PREFIXES: Prefixes<5> =
    Prefixes([c"IP:".as_ptr(), c"IPv4:".as_ptr(), c"IPv6:".as_ptr(), c"UNIX:".as_ptr(), null()]);
static FD_PREFIXES: Prefixes<2> = Prefixes([c"FD:".as_ptr(), null()]);

const fn address_vt(name: &'static std::ffi::CStr, prefixes: *const *const c_char) -> NAL_ADDRESS_vtable {
    NAL_ADDRESS_vtable {
        unique_name: name.as_ptr(),
        vtdata_size: 0,
        prefixes,
        on_create: Some(_std_on_create::<NAL_ADDRESS>),
        on_destroy: Some(_addr_reset_core),
        on_reset: Some(_addr_reset_core),
        pre_close: None,
        parse: Some(_addr_parse),
        can_connect: Some(_addr_can_connect),
        can_listen: Some(_addr_can_listen),
        create_listener: Some(_addr_create_listener),
        create_connection: Some(_addr_create_connection),
        next: null_mut(),
    }
}

static PROTO_STD: Shared<NAL_ADDRESS_vtable> =
    Shared(UnsafeCell::new(address_vt(c"proto_std", STD_PREFIXES.0.as_ptr())));
static PROTO_FD: Shared<NAL_ADDRESS_vtable> = Shared(UnsafeCell::new(address_vt(c"proto_fd", FD_PREFIXES.0.as_ptr())));

static BUILTIN_LISTENER: Shared<NAL_LISTENER_vtable> = Shared(UnsafeCell::new(NAL_LISTENER_vtable {
    vtdata_size: 0,
    on_create: Some(_std_on_create::<NAL_LISTENER>),
    on_destroy: Some(_list_reset_core),
    on_reset: Some(_list_reset_core),
    pre_close: None,
    listen: Some(_list_listen),
    pre_accept: Some(_list_pre_accept),
    finished: Some(_list_finished),
    pre_selector_add: Some(_list_pre_selector_add),
    post_selector_add: None,
    pre_selector_del: None,
    post_selector_del: Some(_list_post_selector_del),
    pre_select: Some(_list_pre_select),
    post_select: Some(_list_post_select),
    set_fs_owner: Some(_list_set_fs_owner),
    set_fs_perms: Some(_list_set_fs_perms),
}));

static BUILTIN_CONNECTION: Shared<NAL_CONNECTION_vtable> = Shared(UnsafeCell::new(NAL_CONNECTION_vtable {
    vtdata_size: 0,
    on_create: Some(_std_on_create::<NAL_CONNECTION>),
    on_destroy: Some(_conn_reset_core),
    on_reset: Some(_conn_reset_core),
    pre_close: None,
    connect: Some(_conn_connect),
    accept: Some(_conn_accept),
    set_size: Some(_conn_set_size),
    get_read: Some(_conn_get_read),
    get_send: Some(_conn_get_send),
    is_established: Some(_conn_is_established),
    pre_selector_add: Some(_conn_pre_selector_add),
    post_selector_add: None,
    pre_selector_del: None,
    post_selector_del: Some(_conn_post_selector_del),
    pre_select: Some(_conn_pre_select),
    post_select: Some(_conn_post_select),
    do_io: Some(_conn_do_io),
}));

const fn selector_vt(
    get_type: unsafe extern "C" fn(*const NAL_SELECTOR) -> NAL_SELECTOR_TYPE,
    on_create: unsafe extern "C" fn(*mut NAL_SELECTOR) -> c_int,
) -> NAL_SELECTOR_vtable {
    NAL_SELECTOR_vtable {
        vtdata_size: 0,
        on_create: Some(on_create),
        on_destroy: Some(_sel_reset_core),
        on_reset: Some(_sel_reset_core),
        pre_close: None,
        get_type: Some(get_type),
        select: Some(_sel_select),
        num_objects: Some(_sel_num_objects),
        add_listener: Some(_sel_add_listener),
        add_connection: Some(_sel_add_connection),
        del_listener: Some(_sel_del_listener),
        del_connection: Some(_sel_del_connection),
        ctrl: Some(_sel_ctrl),
    }
}

static SEL_FDSELECT: Shared<NAL_SELECTOR_vtable> =
    Shared(UnsafeCell::new(selector_vt(_type_fdselect, _create_fdselect)));
static SEL_FDPOLL: Shared<NAL_SELECTOR_vtable> = Shared(UnsafeCell::new(selector_vt(_type_fdpoll, _create_fdpoll)));
static SEL_DYNAMIC: Shared<NAL_SELECTOR_vtable> = Shared(UnsafeCell::new(NAL_SELECTOR_vtable {
    vtdata_size: 0,
    on_create: Some(_std_on_create::<NAL_SELECTOR>),
    on_destroy: Some(_sel_reset_core),
    on_reset: Some(_sel_reset_core),
    pre_close: None,
    get_type: Some(_type_dynamic),
    select: Some(_dynamic_select),
    num_objects: Some(_dynamic_num_objects),
    add_listener: None,
    add_connection: None,
    del_listener: None,
    del_connection: None,
    ctrl: None,
}));

fn proto_std() -> *mut NAL_ADDRESS_vtable {
    PROTO_STD.0.get()
}
fn proto_fd() -> *mut NAL_ADDRESS_vtable {
    PROTO_FD.0.get()
}
fn builtin_listener() -> *const NAL_LISTENER_vtable {
    BUILTIN_LISTENER.0.get()
}
fn builtin_connection() -> *const NAL_CONNECTION_vtable {
    BUILTIN_CONNECTION.0.get()
}
fn sel_builtin(ty: SelectorType) -> *const NAL_SELECTOR_vtable {
    match ty {
        SelectorType::Dynamic => SEL_DYNAMIC.0.get(),
        SelectorType::FdSelect => SEL_FDSELECT.0.get(),
        SelectorType::FdPoll => SEL_FDPOLL.0.get(),
    }
}

/// Guards the address-type list (`NAL_ADDRESS_vtable_link`).
static LINK: Mutex<()> = Mutex::new(());
/// Set once a C address type was linked: until then `NAL_ADDRESS_create`
/// never looks at the list.
static LINKED: AtomicBool = AtomicBool::new(false);

// ---------------------------------------------------------------------------
// Bindings and the lifecycle of ABI.md 8.1.

/// 16-byte aligned, zeroed storage for an object's vtdata.
#[derive(Clone, Copy)]
#[repr(C, align(16))]
struct Chunk([u8; 16]);

#[derive(Default)]
struct Vtdata(Vec<Chunk>);

impl Vtdata {
    fn len(&self) -> usize {
        self.0.len() * 16
    }
    fn ptr(&mut self) -> *mut c_void {
        if self.0.is_empty() {
            null_mut()
        } else {
            self.0.as_mut_ptr().cast()
        }
    }
    fn zero(&mut self) {
        self.0.iter_mut().for_each(|c| *c = Chunk([0; 16]));
    }
    fn zeroed(size: usize) -> Self {
        Vtdata(vec![Chunk([0; 16]); size.div_ceil(16)])
    }
}

/// The vtable binding of a listener, connection or address.
struct Binding<V> {
    vt: *const V,
    pending: *const V,
    vtdata: Vtdata,
    /// The selector and token recorded by the attach (or `_set_selector_raw`).
    sel: *mut NAL_SELECTOR,
    token: NAL_SELECTOR_TOKEN,
    /// The builtin selector entry made by a builtin `add_*` for this object.
    ctrl: Option<(*mut NAL_SELECTOR, usize)>,
    /// Result bits collected by the builtin `post_select` hook.
    results: u8,
}

// SAFETY: the raw pointers are handles and vtables owned by C; an object is
// used by one thread at a time (the API's rule), as before.
unsafe impl<V> Send for Binding<V> {}
// SAFETY: as above; nothing is reached through a shared reference.
unsafe impl<V> Sync for Binding<V> {}

/// However the object goes (even freed by code that skips the lifecycle),
/// a builtin selector never keeps an entry pointing at it.
impl<V> Drop for Binding<V> {
    fn drop(&mut self) {
        if let Some((s, token)) = self.ctrl.take() {
            if is_live_selector(s) {
                if let Some(core) = obj(s) {
                    core.ctrl_detach(token);
                }
            }
        }
    }
}

impl<V> Binding<V> {
    fn new(vt: *const V) -> Self {
        Binding {
            vt,
            pending: null(),
            vtdata: Vtdata::default(),
            sel: null_mut(),
            token: null_mut(),
            ctrl: None,
            results: 0,
        }
    }
}

/// The hooks the lifecycle needs from a vtable.
trait Vtable: 'static {
    type Obj;
    fn size(&self) -> usize;
    fn create(&self) -> Option<unsafe extern "C" fn(*mut Self::Obj) -> c_int>;
    fn destroy(&self) -> Option<unsafe extern "C" fn(*mut Self::Obj)>;
    fn reset(&self) -> Option<unsafe extern "C" fn(*mut Self::Obj)>;
    fn pre_close(&self) -> Option<unsafe extern "C" fn(*mut Self::Obj)>;
}

macro_rules! vtable_impl {
    ($vt:ty, $obj:ty) => {
        impl Vtable for $vt {
            type Obj = $obj;
            fn size(&self) -> usize {
                self.vtdata_size
            }
            fn create(&self) -> Option<unsafe extern "C" fn(*mut $obj) -> c_int> {
                self.on_create
            }
            fn destroy(&self) -> Option<unsafe extern "C" fn(*mut $obj)> {
                self.on_destroy
            }
            fn reset(&self) -> Option<unsafe extern "C" fn(*mut $obj)> {
                self.on_reset
            }
            fn pre_close(&self) -> Option<unsafe extern "C" fn(*mut $obj)> {
                self.pre_close
            }
        }
    };
}
vtable_impl!(NAL_ADDRESS_vtable, NAL_ADDRESS);
vtable_impl!(NAL_LISTENER_vtable, NAL_LISTENER);
vtable_impl!(NAL_CONNECTION_vtable, NAL_CONNECTION);

/// Objects that carry a devel slot.
trait HasDevel: 'static {
    fn devel(&mut self) -> &mut DevelSlot;
    /// The builtin vtable this object is implicitly bound to (active core).
    fn implicit(&self) -> *const c_void;
}

impl HasDevel for NAL_ADDRESS {
    fn devel(&mut self) -> &mut DevelSlot {
        &mut self.devel
    }
    fn implicit(&self) -> *const c_void {
        match self.transport() {
            Some(crate::nal::address::Transport::Fd { .. }) => proto_fd() as *const c_void,
            Some(_) => proto_std() as *const c_void,
            None => null(),
        }
    }
}

impl HasDevel for NAL_LISTENER {
    fn devel(&mut self) -> &mut DevelSlot {
        &mut self.devel
    }
    fn implicit(&self) -> *const c_void {
        if self.is_active() {
            builtin_listener().cast()
        } else {
            null()
        }
    }
}

impl HasDevel for NAL_CONNECTION {
    fn devel(&mut self) -> &mut DevelSlot {
        &mut self.devel
    }
    fn implicit(&self) -> *const c_void {
        if self.is_active() {
            builtin_connection().cast()
        } else {
            null()
        }
    }
}

/// The binding of `p`, if it has one. The reference must not be held
/// across a call into C (hooks may re-enter the API on the same object).
fn binding<'a, V: 'static, O: HasDevel>(p: *const O) -> Option<&'a mut Binding<V>> {
    obj_mut(p as *mut O)?.devel().get_mut::<Binding<V>>()
}

/// Gives `p` a binding, reflecting the builtin vtable its core is
/// implicitly bound to; returns it.
fn ensure_binding<'a, V: 'static, O: HasDevel>(p: *mut O) -> Option<&'a mut Binding<V>> {
    let o = obj_mut(p)?;
    if o.devel().is_empty() {
        let implicit = o.implicit() as *const V;
        o.devel().set(Binding::<V>::new(implicit));
    }
    binding(p)
}

fn has_devel<O: HasDevel>(p: *const O) -> bool {
    obj_mut(p as *mut O).is_some_and(|o| !o.devel().is_empty())
}

/// Whether all compulsory lifecycle hooks are present.
fn usable<V: Vtable>(vt: &V) -> bool {
    vt.create().is_some() && vt.destroy().is_some() && vt.reset().is_some()
}

/// Binds `p` to `vt` (ABI.md 8.1); `detach` takes the object off its
/// selector. 1 bound, 0 refused (NULL or incomplete vtable, on_create 0).
fn bind<V: Vtable>(p: *mut V::Obj, vt: *const V, detach: fn(*mut V::Obj)) -> c_int
where
    V::Obj: HasDevel,
{
    // SAFETY: a non-NULL vtable pointer from C points at a live vtable.
    let Some(new) = (unsafe { vt.as_ref() }) else { return 0 };
    if !usable(new) {
        return 0;
    }
    let Some(b) = ensure_binding::<V, V::Obj>(p) else { return 0 };
    let old = b.vt;
    if !old.is_null() {
        unbind_to_pending(p, old, detach);
    }
    let Some(b) = binding::<V, V::Obj>(p) else { return 0 };
    let pending = b.pending;
    if !pending.is_null() && pending != vt {
        b.pending = null();
        // SAFETY: pending was a bound vtable, still live (C keeps vtables).
        if let Some(f) = unsafe { (*pending).destroy() } {
            // SAFETY: the hook of the vtable `p` was bound to, on `p`.
            unsafe { f(p) };
        }
        if let Some(b) = binding::<V, V::Obj>(p) {
            b.vtdata.zero();
        }
    }
    let Some(b) = binding::<V, V::Obj>(p) else { return 0 };
    if new.size() > b.vtdata.len() {
        b.vtdata = Vtdata::zeroed(new.size());
    }
    let create = new.create().expect("checked by usable");
    // SAFETY: on_create of the vtable being bound, on its object.
    if unsafe { create(p) } == 0 {
        return 0;
    }
    match binding::<V, V::Obj>(p) {
        Some(b) => {
            b.vt = vt;
            b.pending = null();
            1
        }
        None => 0,
    }
}

/// pre_close, detach, on_reset; remember as reset-pending; unbind.
fn unbind_to_pending<V: Vtable>(p: *mut V::Obj, old: *const V, detach: fn(*mut V::Obj))
where
    V::Obj: HasDevel,
{
    // SAFETY: old is the vtable `p` is bound to, kept alive by C.
    let oldv = unsafe { &*old };
    if let Some(f) = oldv.pre_close() {
        // SAFETY: hook of the bound vtable on its object.
        unsafe { f(p) };
    }
    detach(p);
    if let Some(f) = oldv.reset() {
        // SAFETY: hook of the bound vtable on its object.
        unsafe { f(p) };
    }
    if let Some(b) = binding::<V, V::Obj>(p) {
        b.pending = old;
        b.vt = null();
    }
}

/// `NAL_*_reset` of an object with a binding.
fn lifecycle_reset<V: Vtable>(p: *mut V::Obj, detach: fn(*mut V::Obj))
where
    V::Obj: HasDevel,
{
    let Some(b) = binding::<V, V::Obj>(p) else { return };
    let vt = b.vt;
    if !vt.is_null() {
        unbind_to_pending(p, vt, detach);
    }
}

/// `NAL_*_free` of an object with a binding, up to releasing it.
fn lifecycle_free<V: Vtable>(p: *mut V::Obj, detach: fn(*mut V::Obj))
where
    V::Obj: HasDevel,
{
    let Some(b) = binding::<V, V::Obj>(p) else { return };
    let (vt, pending) = (b.vt, b.pending);
    if !vt.is_null() {
        // SAFETY: the bound vtable, kept alive by C.
        let v = unsafe { &*vt };
        if let Some(f) = v.pre_close() {
            // SAFETY: hook of the bound vtable on its object.
            unsafe { f(p) };
        }
        detach(p);
        if let Some(f) = v.destroy() {
            // SAFETY: hook of the bound vtable on its object.
            unsafe { f(p) };
        }
    } else if !pending.is_null() {
        // SAFETY: the reset-pending vtable, kept alive by C.
        if let Some(f) = unsafe { (*pending).destroy() } {
            // SAFETY: hook of the vtable the object was bound to.
            unsafe { f(p) };
        }
    }
}

/// Drops the binding of an object that is not bound (only reset-pending),
/// so the fast path can take it: the pending vtable's on_destroy runs, as
/// binding to a different (builtin) vtable would do. False when the object
/// is bound.
fn release_to_fast<V: Vtable>(p: *mut V::Obj) -> bool
where
    V::Obj: HasDevel,
{
    let Some(b) = binding::<V, V::Obj>(p) else { return true };
    if !b.vt.is_null() {
        return false;
    }
    let pending = b.pending;
    b.pending = null();
    if !pending.is_null() {
        // SAFETY: the reset-pending vtable, kept alive by C.
        if let Some(f) = unsafe { (*pending).destroy() } {
            // SAFETY: hook of the vtable the object was bound to.
            unsafe { f(p) };
        }
    }
    if let Some(o) = obj_mut(p) {
        o.devel().clear();
    }
    true
}

fn bound_vt<V: 'static, O: HasDevel>(p: *const O) -> *const V {
    match binding::<V, O>(p) {
        Some(b) => b.vt,
        None => obj_mut(p as *mut O).map_or(null(), |o| o.implicit() as *const V),
    }
}

// ---------------------------------------------------------------------------
// Builtin hooks: they act on the core object, whatever vtable it is bound to.

unsafe extern "C" fn _std_on_create<T>(_: *mut T) -> c_int {
    guard(0, || 1)
}

unsafe extern "C" fn _addr_reset_core(a: *mut NAL_ADDRESS) {
    guard_void(|| {
        if let Some(a) = obj_mut(a) {
            a.reset()
        }
    })
}

unsafe extern "C" fn _addr_parse(a: *mut NAL_ADDRESS, s: *const c_char) -> c_int {
    guard(0, || match (obj_mut(a), c_bytes(s)) {
        (Some(a), Some(s)) => {
            let size = a.def_buffer_size();
            a.create(s, size) as c_int
        }
        _ => 0,
    })
}

unsafe extern "C" fn _addr_can_connect(a: *const NAL_ADDRESS) -> c_int {
    guard(0, || obj(a).is_some_and(|a| a.can_connect()) as c_int)
}

unsafe extern "C" fn _addr_can_listen(a: *const NAL_ADDRESS) -> c_int {
    guard(0, || obj(a).is_some_and(|a| a.can_listen()) as c_int)
}

unsafe extern "C" fn _addr_create_listener(_: *const NAL_ADDRESS) -> *const NAL_LISTENER_vtable {
    guard(null(), builtin_listener)
}

unsafe extern "C" fn _addr_create_connection(_: *const NAL_ADDRESS) -> *const NAL_CONNECTION_vtable {
    guard(null(), builtin_connection)
}

unsafe extern "C" fn _list_reset_core(l: *mut NAL_LISTENER) {
    guard_void(|| {
        if let Some(l) = obj_mut(l) {
            l.reset()
        }
    })
}

unsafe extern "C" fn _list_listen(l: *mut NAL_LISTENER, a: *const NAL_ADDRESS) -> c_int {
    guard(0, || match (obj_mut(l), obj(a)) {
        (Some(l), Some(a)) => l.create(a) as c_int,
        _ => 0,
    })
}

unsafe extern "C" fn _list_pre_accept(l: *mut NAL_LISTENER) -> *const NAL_CONNECTION_vtable {
    guard(null(), || {
        let Some(core) = obj(l) else { return null() };
        let reported = if core.has_attachment() {
            core.select_reported()
        } else {
            binding::<NAL_LISTENER_vtable, _>(l).is_some_and(|b| b.results & 0x01 != 0)
        };
        if reported && !core.finished() {
            builtin_connection()
        } else {
            null()
        }
    })
}

unsafe extern "C" fn _list_finished(l: *const NAL_LISTENER) -> c_int {
    guard(0, || obj(l).is_some_and(|l| l.finished()) as c_int)
}

/// Builtin objects join selectors of the fd types, and make a dynamic one
/// the poll implementation.
fn fd_selector_accepts(sel: *mut NAL_SELECTOR) -> bool {
    match nal_selector_get_type(sel) {
        TYPE_FDSELECT | TYPE_FDPOLL => true,
        TYPE_DYNAMIC => nal_selector_dynamic_set(sel, sel_fdpoll()) != 0,
        _ => false,
    }
}

unsafe extern "C" fn _list_pre_selector_add(l: *mut NAL_LISTENER, sel: *mut NAL_SELECTOR) -> c_int {
    guard(0, || (obj(l).is_some_and(|l| l.is_active()) && fd_selector_accepts(sel)) as c_int)
}

unsafe extern "C" fn _list_post_selector_del(_: *mut NAL_LISTENER, _: *mut NAL_SELECTOR) {
    guard_void(|| ())
}

unsafe extern "C" fn _list_pre_select(l: *mut NAL_LISTENER, sel: *mut NAL_SELECTOR, token: NAL_SELECTOR_TOKEN) {
    guard_void(|| {
        if let Some(b) = binding::<NAL_LISTENER_vtable, _>(l) {
            b.results = 0;
        }
        if let Some(fd) = obj(l).and_then(|l| l.fd_interest()) {
            let mut arg = FdSet { token, fd, flags: 0x01 };
            nal_selector_ctrl(sel, CTRL_FDSET, (&mut arg as *mut FdSet).cast());
        }
    })
}

unsafe extern "C" fn _list_post_select(l: *mut NAL_LISTENER, sel: *mut NAL_SELECTOR, token: NAL_SELECTOR_TOKEN) {
    guard_void(|| {
        let Some(fd) = obj(l).and_then(|l| l.fd_interest()) else { return };
        let mut arg = FdTest { flags: 0, token, fd };
        if nal_selector_ctrl(sel, CTRL_FDTEST, (&mut arg as *mut FdTest).cast()) == 0 {
            arg.flags = 0;
        }
        if let Some(b) = binding::<NAL_LISTENER_vtable, _>(l) {
            b.results = arg.flags;
        }
    })
}

fn name_arg<'a>(p: *const c_char) -> Result<Option<&'a str>, ()> {
    match c_bytes(p) {
        None => Ok(None),
        Some(b) => std::str::from_utf8(b).map(Some).map_err(|_| ()),
    }
}

unsafe extern "C" fn _list_set_fs_owner(l: *mut NAL_LISTENER, owner: *const c_char, group: *const c_char) -> c_int {
    guard(0, || match (obj(l), name_arg(owner), name_arg(group)) {
        (Some(l), Ok(o), Ok(g)) => l.set_fs_owner(o, g) as c_int,
        _ => 0,
    })
}

unsafe extern "C" fn _list_set_fs_perms(l: *mut NAL_LISTENER, octal: *const c_char) -> c_int {
    guard(0, || match (obj(l), name_arg(octal)) {
        (Some(l), Ok(Some(s))) => l.set_fs_perms(s) as c_int,
        _ => 0,
    })
}

unsafe extern "C" fn _conn_reset_core(c: *mut NAL_CONNECTION) {
    guard_void(|| {
        if let Some(c) = obj_mut(c) {
            c.reset()
        }
    })
}

unsafe extern "C" fn _conn_connect(c: *mut NAL_CONNECTION, a: *const NAL_ADDRESS) -> c_int {
    guard(0, || match (obj_mut(c), obj(a)) {
        (Some(c), Some(a)) => c.create(a) as c_int,
        _ => 0,
    })
}

unsafe extern "C" fn _conn_accept(c: *mut NAL_CONNECTION, l: *const NAL_LISTENER) -> c_int {
    guard(0, || {
        let (Some(conn), Some(list)) = (obj_mut(c), obj_mut(l as *mut NAL_LISTENER)) else { return 0 };
        let ok = if list.has_attachment() { conn.accept(list) } else { conn.accept_next(list) };
        if let Some(b) = binding::<NAL_LISTENER_vtable, _>(l) {
            b.results &= !0x01;
        }
        ok as c_int
    })
}

unsafe extern "C" fn _conn_set_size(c: *mut NAL_CONNECTION, size: c_uint) -> c_int {
    guard(0, || obj_mut(c).is_some_and(|c| c.set_size(size)) as c_int)
}

unsafe extern "C" fn _conn_get_read(c: *const NAL_CONNECTION) -> *mut NAL_BUFFER {
    guard(null_mut(), || obj(c).and_then(|c| c.read_buffer()).map_or(null_mut(), buffer_ptr))
}

unsafe extern "C" fn _conn_get_send(c: *const NAL_CONNECTION) -> *mut NAL_BUFFER {
    guard(null_mut(), || obj(c).and_then(|c| c.send_buffer()).map_or(null_mut(), buffer_ptr))
}

unsafe extern "C" fn _conn_is_established(c: *const NAL_CONNECTION) -> c_int {
    guard(0, || obj(c).is_some_and(|c| c.is_established()) as c_int)
}

unsafe extern "C" fn _conn_pre_selector_add(c: *mut NAL_CONNECTION, sel: *mut NAL_SELECTOR) -> c_int {
    guard(0, || (obj(c).is_some_and(|c| c.is_active()) && fd_selector_accepts(sel)) as c_int)
}

unsafe extern "C" fn _conn_post_selector_del(_: *mut NAL_CONNECTION, _: *mut NAL_SELECTOR) {
    guard_void(|| ())
}

unsafe extern "C" fn _conn_pre_select(c: *mut NAL_CONNECTION, sel: *mut NAL_SELECTOR, token: NAL_SELECTOR_TOKEN) {
    guard_void(|| {
        if let Some(b) = binding::<NAL_CONNECTION_vtable, _>(c) {
            b.results = 0;
        }
        let interest = obj(c).map(|c| c.fd_interest()).unwrap_or_default();
        for (fd, flags) in interest {
            let mut arg = FdSet { token, fd, flags };
            nal_selector_ctrl(sel, CTRL_FDSET, (&mut arg as *mut FdSet).cast());
        }
    })
}

unsafe extern "C" fn _conn_post_select(c: *mut NAL_CONNECTION, sel: *mut NAL_SELECTOR, token: NAL_SELECTOR_TOKEN) {
    guard_void(|| {
        let interest = obj(c).map(|c| c.fd_interest()).unwrap_or_default();
        let mut results = 0;
        for (fd, _) in interest {
            let mut arg = FdTest { flags: 0, token, fd };
            if nal_selector_ctrl(sel, CTRL_FDTEST, (&mut arg as *mut FdTest).cast()) != 0 {
                results |= arg.flags;
            }
        }
        if let Some(b) = binding::<NAL_CONNECTION_vtable, _>(c) {
            b.results = results;
        }
    })
}

unsafe extern "C" fn _conn_do_io(c: *mut NAL_CONNECTION) -> c_int {
    guard(0, || {
        let Some(core) = obj_mut(c) else { return 0 };
        if core.is_attached() {
            return core.io() as c_int;
        }
        let results = binding::<NAL_CONNECTION_vtable, _>(c).map_or(0, |b| std::mem::take(&mut b.results));
        core.io_with_results(results) as c_int
    })
}

unsafe extern "C" fn _sel_reset_core(s: *mut NAL_SELECTOR) {
    guard_void(|| {
        if let Some(s) = obj(s) {
            s.reset()
        }
    })
}

unsafe extern "C" fn _type_fdselect(_: *const NAL_SELECTOR) -> NAL_SELECTOR_TYPE {
    guard(TYPE_ERROR, || TYPE_FDSELECT)
}
unsafe extern "C" fn _type_fdpoll(_: *const NAL_SELECTOR) -> NAL_SELECTOR_TYPE {
    guard(TYPE_ERROR, || TYPE_FDPOLL)
}
unsafe extern "C" fn _type_dynamic(_: *const NAL_SELECTOR) -> NAL_SELECTOR_TYPE {
    guard(TYPE_ERROR, || TYPE_DYNAMIC)
}

unsafe extern "C" fn _create_fdselect(s: *mut NAL_SELECTOR) -> c_int {
    guard(0, || {
        if let Some(s) = obj(s) {
            s.make_concrete(SelectorType::FdSelect);
        }
        1
    })
}

unsafe extern "C" fn _create_fdpoll(s: *mut NAL_SELECTOR) -> c_int {
    guard(0, || {
        if let Some(s) = obj(s) {
            s.make_concrete(SelectorType::FdPoll);
        }
        1
    })
}

/// The builtin select: one round of the core selector (errno on failure).
pub(crate) fn core_select(s: *mut NAL_SELECTOR, usec: c_ulong, use_timeout: c_int) -> c_int {
    let Some(s) = obj(s) else { return -1 };
    match s.select(u64::from(usec), use_timeout != 0) {
        Ok(n) => n.min(c_int::MAX as usize) as c_int,
        Err(SelectError::NothingAttached) => -1,
        Err(SelectError::Os(e)) => {
            set_errno(e.raw_os_error().unwrap_or(libc::EIO));
            -1
        }
    }
}

unsafe extern "C" fn _sel_select(s: *mut NAL_SELECTOR, usec: c_ulong, use_timeout: c_int) -> c_int {
    guard(-1, || core_select(s, usec, use_timeout))
}

unsafe extern "C" fn _sel_num_objects(s: *const NAL_SELECTOR) -> c_uint {
    guard(0, || obj(s).map_or(0, |s| s.num_objects().min(c_uint::MAX as usize) as c_uint))
}

unsafe extern "C" fn _dynamic_select(_: *mut NAL_SELECTOR, _: c_ulong, _: c_int) -> c_int {
    guard(-1, || -1)
}
unsafe extern "C" fn _dynamic_num_objects(_: *const NAL_SELECTOR) -> c_uint {
    guard(0, || 0)
}

/// An object attached to a builtin selector through the control protocol:
/// the selector calls back through the object's own vtable.
struct CtrlHandle {
    listener: bool,
    obj: usize,
    sel: usize,
}

impl CtrlObject for CtrlHandle {
    fn pre_select(&self) {
        if self.listener {
            nal_listener_pre_select(self.obj as *mut NAL_LISTENER)
        } else {
            nal_connection_pre_select(self.obj as *mut NAL_CONNECTION)
        }
    }
    fn post_select(&self) {
        if self.listener {
            nal_listener_post_select(self.obj as *mut NAL_LISTENER)
        } else {
            nal_connection_post_select(self.obj as *mut NAL_CONNECTION)
        }
    }
    fn detached(&self) {
        let sel = self.sel as *mut NAL_SELECTOR;
        if self.listener {
            forget_selector::<NAL_LISTENER_vtable, NAL_LISTENER>(self.obj as *mut NAL_LISTENER, sel)
        } else {
            forget_selector::<NAL_CONNECTION_vtable, NAL_CONNECTION>(self.obj as *mut NAL_CONNECTION, sel)
        }
    }
}

/// The selector `sel` went away: the object no longer names it.
fn forget_selector<V: 'static, O: HasDevel>(p: *mut O, sel: *mut NAL_SELECTOR) {
    if let Some(b) = binding::<V, O>(p) {
        if b.ctrl.is_some_and(|(s, _)| s == sel) {
            b.ctrl = None;
        }
        if b.sel == sel {
            b.sel = null_mut();
            b.token = null_mut();
        }
        b.results = 0;
    }
}

fn ctrl_add<V: 'static, O: HasDevel>(s: *mut NAL_SELECTOR, p: *mut O, listener: bool) -> NAL_SELECTOR_TOKEN {
    let Some(core) = obj(s) else { return null_mut() };
    if p.is_null() || ensure_binding::<V, O>(p).is_none_or(|b| b.ctrl.is_some()) {
        return null_mut();
    }
    let handle = CtrlHandle { listener, obj: p as usize, sel: s as usize };
    let Some(token) = core.ctrl_attach(Arc::new(handle)) else { return null_mut() };
    if let Some(b) = binding::<V, O>(p) {
        b.ctrl = Some((s, token));
    }
    token as NAL_SELECTOR_TOKEN
}

fn ctrl_del<V: 'static, O: HasDevel>(s: *mut NAL_SELECTOR, p: *mut O, token: NAL_SELECTOR_TOKEN) {
    if let Some(core) = obj(s) {
        core.ctrl_detach(token as usize);
    }
    if let Some(b) = binding::<V, O>(p) {
        if b.ctrl.is_some_and(|(cs, t)| cs == s && t == token as usize) {
            b.ctrl = None;
            b.results = 0;
        }
    }
}

unsafe extern "C" fn _sel_add_listener(s: *mut NAL_SELECTOR, l: *mut NAL_LISTENER) -> NAL_SELECTOR_TOKEN {
    guard(null_mut(), || ctrl_add::<NAL_LISTENER_vtable, _>(s, l, true))
}

unsafe extern "C" fn _sel_add_connection(s: *mut NAL_SELECTOR, c: *mut NAL_CONNECTION) -> NAL_SELECTOR_TOKEN {
    guard(null_mut(), || ctrl_add::<NAL_CONNECTION_vtable, _>(s, c, false))
}

unsafe extern "C" fn _sel_del_listener(s: *mut NAL_SELECTOR, l: *mut NAL_LISTENER, t: NAL_SELECTOR_TOKEN) {
    guard_void(|| ctrl_del::<NAL_LISTENER_vtable, _>(s, l, t))
}

unsafe extern "C" fn _sel_del_connection(s: *mut NAL_SELECTOR, c: *mut NAL_CONNECTION, t: NAL_SELECTOR_TOKEN) {
    guard_void(|| ctrl_del::<NAL_CONNECTION_vtable, _>(s, c, t))
}

/// The builtin control handler: FDSET and FDTEST; 0 for anything else
/// (the original aborted).
unsafe extern "C" fn _sel_ctrl(s: *mut NAL_SELECTOR, cmd: c_int, arg: *mut c_void) -> c_int {
    guard(0, || {
        let Some(core) = obj(s) else { return 0 };
        match cmd {
            CTRL_FDSET => {
                // SAFETY: FDSET's argument is an FdSet (ABI.md 8.8); NULL refused.
                let Some(a) = (unsafe { (arg as *const FdSet).as_ref() }) else { return 0 };
                core.ctrl_fdset(a.token as usize, a.fd, a.flags) as c_int
            }
            CTRL_FDTEST => {
                // SAFETY: FDTEST's argument is an FdTest (ABI.md 8.8); NULL refused.
                let Some(a) = (unsafe { (arg as *mut FdTest).as_mut() }) else { return 0 };
                match core.ctrl_fdtest(a.token as usize, a.fd) {
                    Some(bits) => {
                        a.flags = bits;
                        1
                    }
                    None => 0,
                }
            }
            _ => 0,
        }
    })
}

// ---------------------------------------------------------------------------
// Selector bindings.

struct SelBinding {
    vt: *const NAL_SELECTOR_vtable,
    vtdata: Vtdata,
}
// SAFETY: a C vtable pointer; a selector is used by one thread at a time.
unsafe impl Send for SelBinding {}
// SAFETY: as above.
unsafe impl Sync for SelBinding {}

fn sel_binding<'a>(s: *const NAL_SELECTOR) -> Option<&'a mut SelBinding> {
    obj_mut(s as *mut NAL_SELECTOR)?.devel.get_mut::<SelBinding>()
}

/// The C vtable a selector is bound to (None: a builtin selector).
fn sel_c_vt<'a>(s: *const NAL_SELECTOR) -> Option<&'a NAL_SELECTOR_vtable> {
    // SAFETY: a bound C vtable stays alive while the selector exists.
    sel_binding(s).and_then(|b| unsafe { b.vt.as_ref() })
}

pub(crate) fn selector_has_devel(s: *const NAL_SELECTOR) -> bool {
    obj(s).is_some_and(|s| !s.devel.is_empty())
}

/// `nal_selector_add_listener`: the selector's add handler.
fn selector_add_listener(s: *mut NAL_SELECTOR, l: *mut NAL_LISTENER) -> NAL_SELECTOR_TOKEN {
    match sel_c_vt(s) {
        // SAFETY: the selector's own hook, on the selector.
        Some(vt) => vt.add_listener.map_or(null_mut(), |f| unsafe { f(s, l) }),
        None => ctrl_add::<NAL_LISTENER_vtable, _>(s, l, true),
    }
}

fn selector_add_connection(s: *mut NAL_SELECTOR, c: *mut NAL_CONNECTION) -> NAL_SELECTOR_TOKEN {
    match sel_c_vt(s) {
        // SAFETY: the selector's own hook, on the selector.
        Some(vt) => vt.add_connection.map_or(null_mut(), |f| unsafe { f(s, c) }),
        None => ctrl_add::<NAL_CONNECTION_vtable, _>(s, c, false),
    }
}

fn selector_del_listener(s: *mut NAL_SELECTOR, l: *mut NAL_LISTENER, t: NAL_SELECTOR_TOKEN) {
    match sel_c_vt(s) {
        Some(vt) => {
            if let Some(f) = vt.del_listener {
                // SAFETY: the selector's own hook, on the selector.
                unsafe { f(s, l, t) }
            }
        }
        None => ctrl_del::<NAL_LISTENER_vtable, _>(s, l, t),
    }
}

fn selector_del_connection(s: *mut NAL_SELECTOR, c: *mut NAL_CONNECTION, t: NAL_SELECTOR_TOKEN) {
    match sel_c_vt(s) {
        Some(vt) => {
            if let Some(f) = vt.del_connection {
                // SAFETY: the selector's own hook, on the selector.
                unsafe { f(s, c, t) }
            }
        }
        None => ctrl_del::<NAL_CONNECTION_vtable, _>(s, c, t),
    }
}

/// `NAL_SELECTOR_select` of a C-bound selector.
pub(crate) fn selector_select_slow(s: *mut NAL_SELECTOR, usec: c_ulong, use_timeout: c_int) -> c_int {
    match sel_c_vt(s) {
        // SAFETY: the selector's own hook, on the selector.
        Some(vt) => vt.select.map_or(-1, |f| unsafe { f(s, usec, use_timeout) }),
        None => core_select(s, usec, use_timeout),
    }
}

pub(crate) fn selector_num_objects_slow(s: *const NAL_SELECTOR) -> c_uint {
    match sel_c_vt(s) {
        // SAFETY: the selector's own hook, on the selector.
        Some(vt) => vt.num_objects.map_or(0, |f| unsafe { f(s) }),
        None => obj(s).map_or(0, |s| s.num_objects().min(c_uint::MAX as usize) as c_uint),
    }
}

/// `NAL_SELECTOR_reset` of a C-bound selector: pre_close, on_reset.
pub(crate) fn selector_reset_slow(s: *mut NAL_SELECTOR) {
    if let Some(vt) = sel_c_vt(s) {
        if let Some(f) = vt.pre_close {
            // SAFETY: the selector's own hook, on the selector.
            unsafe { f(s) }
        }
        if let Some(f) = vt.on_reset {
            // SAFETY: the selector's own hook, on the selector.
            unsafe { f(s) }
        }
    }
}

/// `NAL_SELECTOR_free` of a C-bound selector, before the handle goes:
/// pre_close, on_destroy.
pub(crate) fn selector_free_slow(s: *mut NAL_SELECTOR) {
    if let Some(vt) = sel_c_vt(s) {
        if let Some(f) = vt.pre_close {
            // SAFETY: the selector's own hook, on the selector.
            unsafe { f(s) }
        }
        if let Some(f) = vt.on_destroy {
            // SAFETY: the selector's own hook, on the selector.
            unsafe { f(s) }
        }
    }
}

// ---------------------------------------------------------------------------
// The slow paths of the public API (objects with a binding).

fn list_detach(l: *mut NAL_LISTENER) {
    listener_del_slow(l);
    if let Some(core) = obj_mut(l) {
        core.del_from_selector();
    }
}

fn conn_detach(c: *mut NAL_CONNECTION) {
    connection_del_slow(c);
    if let Some(core) = obj_mut(c) {
        core.del_from_selector();
    }
}

fn addr_detach(_: *mut NAL_ADDRESS) {}

/// The recorded selector, if it still exists.
fn live_sel<V: 'static, O: HasDevel>(p: *const O) -> Option<(*mut NAL_SELECTOR, NAL_SELECTOR_TOKEN)> {
    let b = binding::<V, O>(p)?;
    (!b.sel.is_null() && is_live_selector(b.sel)).then_some((b.sel, b.token))
}

macro_rules! selector_attach_fns {
    ($add:ident, $del:ident, $vt:ty, $obj:ty, $sel_add:ident, $sel_del:ident) => {
        /// `*_add_to_selector` through the bound vtable (ABI.md 8.3).
        pub(crate) fn $add(p: *mut $obj, s: *mut NAL_SELECTOR) -> c_int {
            if p.is_null() || s.is_null() || obj(p).is_some_and(|o| o.is_attached()) {
                return 0;
            }
            let Some(b) = ensure_binding::<$vt, $obj>(p) else { return 0 };
            // SAFETY: a bound vtable stays alive while bound.
            let Some(vt) = (unsafe { b.vt.as_ref() }) else { return 0 };
            if !b.sel.is_null() && is_live_selector(b.sel) {
                return 0;
            }
            let Some(pre) = vt.pre_selector_add else { return 0 };
            // SAFETY: hook of the bound vtable on its object.
            if unsafe { pre(p, s) } == 0 {
                return 0;
            }
            let token = $sel_add(s, p);
            if token.is_null() {
                if let Some(f) = vt.post_selector_del {
                    // SAFETY: hook of the bound vtable on its object.
                    unsafe { f(p, s) }
                }
                return 0;
            }
            if let Some(b) = binding::<$vt, $obj>(p) {
                b.sel = s;
                b.token = token;
            }
            if let Some(post) = vt.post_selector_add {
                // SAFETY: hook of the bound vtable on its object.
                if unsafe { post(p, s, token) } == 0 {
                    $del(p);
                    return 0;
                }
            }
            1
        }

        /// `*_del_from_selector` through the bound vtable.
        pub(crate) fn $del(p: *mut $obj) {
            let Some(b) = binding::<$vt, $obj>(p) else { return };
            let (vt, sel, token) = (b.vt, b.sel, b.token);
            if sel.is_null() {
                return;
            }
            b.sel = null_mut();
            b.token = null_mut();
            // SAFETY: a bound vtable stays alive while bound.
            let Some(vt) = (unsafe { vt.as_ref() }) else { return };
            if !is_live_selector(sel) {
                return; // the selector is gone; nothing to tell it
            }
            if let Some(f) = vt.pre_selector_del {
                // SAFETY: hook of the bound vtable on its object.
                unsafe { f(p, sel, token) }
            }
            $sel_del(sel, p, token);
            if let Some(f) = vt.post_selector_del {
                // SAFETY: hook of the bound vtable on its object.
                unsafe { f(p, sel) }
            }
        }
    };
}
selector_attach_fns!(
    listener_add_slow,
    listener_del_slow,
    NAL_LISTENER_vtable,
    NAL_LISTENER,
    selector_add_listener,
    selector_del_listener
);
selector_attach_fns!(
    connection_add_slow,
    connection_del_slow,
    NAL_CONNECTION_vtable,
    NAL_CONNECTION,
    selector_add_connection,
    selector_del_connection
);

/// Removes what a builtin selector still holds for an object about to be
/// freed (a C selector that did not forward its del handler).
fn drop_ctrl_entry<V: 'static, O: HasDevel>(p: *mut O) {
    if let Some((s, token)) = binding::<V, O>(p).and_then(|b| b.ctrl.take()) {
        if is_live_selector(s) {
            if let Some(core) = obj(s) {
                core.ctrl_detach(token);
            }
        }
    }
}

pub(crate) fn address_has_devel(a: *const NAL_ADDRESS) -> bool {
    has_devel(a)
}
pub(crate) fn listener_has_devel(l: *const NAL_LISTENER) -> bool {
    has_devel(l)
}
pub(crate) fn connection_has_devel(c: *const NAL_CONNECTION) -> bool {
    has_devel(c)
}

/// Whether `NAL_ADDRESS_create` must look beyond the builtin types.
pub(crate) fn address_needs_slow_create(a: *const NAL_ADDRESS, text: &[u8]) -> bool {
    has_devel(a) || (LINKED.load(Ordering::Acquire) && !has_builtin_prefix(text))
}

/// The first linked C address type one of whose prefixes starts `text`.
fn find_linked(text: &[u8]) -> *const NAL_ADDRESS_vtable {
    let _lock = LINK.lock();
    // SAFETY: the list is only changed under LINK, which we hold; linked
    // vtables stay alive for the life of the process (the API's rule).
    let mut vt = unsafe { (*proto_fd()).next };
    // SAFETY: each link is NULL or a live vtable (as above).
    while let Some(v) = unsafe { vt.as_ref() } {
        let mut pre = v.prefixes;
        // SAFETY: a NULL-terminated array of C strings (checked non-NULL).
        while !pre.is_null() && !unsafe { *pre }.is_null() {
            // SAFETY: as above.
            if let Some(p) = c_bytes(unsafe { *pre }) {
                if !p.is_empty() && text.starts_with(p) {
                    return v;
                }
            }
            // SAFETY: still inside the NULL-terminated array.
            pre = unsafe { pre.add(1) };
        }
        vt = v.next;
    }
    null()
}

pub(crate) fn address_create_slow(a: *mut NAL_ADDRESS, s: *const c_char, size: c_uint) -> c_int {
    let Some(text) = c_bytes(s) else { return 0 };
    if !bound_vt::<NAL_ADDRESS_vtable, _>(a).is_null() {
        return 0;
    }
    if size as usize > MAX_BUFFER_SIZE {
        return 0;
    }
    if let Some(core) = obj_mut(a) {
        core.set_def_buffer_size(size);
    }
    if !(2..=255).contains(&text.len()) {
        return 0;
    }
    if has_builtin_prefix(text) {
        release_to_fast::<NAL_ADDRESS_vtable>(a);
        return obj_mut(a).is_some_and(|core| core.create(text, size)) as c_int;
    }
    let vt = find_linked(text);
    if vt.is_null() || bind(a, vt, addr_detach) == 0 {
        return 0;
    }
    // SAFETY: the bound, linked vtable.
    let parse = unsafe { (*vt).parse };
    // SAFETY: hook of the bound vtable on its object.
    if parse.is_none_or(|f| unsafe { f(a, s) } == 0) {
        address_reset_slow(a);
        return 0;
    }
    1
}

pub(crate) fn address_reset_slow(a: *mut NAL_ADDRESS) {
    lifecycle_reset::<NAL_ADDRESS_vtable>(a, addr_detach)
}

pub(crate) fn address_free_slow(a: *mut NAL_ADDRESS) {
    lifecycle_free::<NAL_ADDRESS_vtable>(a, addr_detach)
}

pub(crate) fn address_can_slow(a: *const NAL_ADDRESS, listen: bool) -> c_int {
    // SAFETY: a bound vtable stays alive while bound.
    let Some(vt) = (unsafe { bound_vt::<NAL_ADDRESS_vtable, _>(a).as_ref() }) else { return 0 };
    let f = if listen { vt.can_listen } else { vt.can_connect };
    // SAFETY: hook of the bound vtable on its object.
    f.map_or(0, |f| unsafe { f(a) })
}

pub(crate) fn listener_create_slow(l: *mut NAL_LISTENER, a: *const NAL_ADDRESS) -> c_int {
    if l.is_null() || a.is_null() || !bound_vt::<NAL_LISTENER_vtable, _>(l).is_null() {
        return 0;
    }
    let vt = nal_address_get_listener(a);
    if vt.is_null() {
        return 0;
    }
    if vt == builtin_listener() && release_to_fast::<NAL_LISTENER_vtable>(l) {
        return match (obj_mut(l), obj(a)) {
            (Some(l), Some(a)) => l.create(a) as c_int,
            _ => 0,
        };
    }
    if bind(l, vt, list_detach) == 0 {
        return 0;
    }
    // SAFETY: the bound vtable.
    let listen = unsafe { (*vt).listen };
    // SAFETY: hook of the bound vtable on its object.
    if listen.is_none_or(|f| unsafe { f(l, a) } == 0) {
        listener_reset_slow(l);
        return 0;
    }
    1
}

pub(crate) fn listener_reset_slow(l: *mut NAL_LISTENER) {
    lifecycle_reset::<NAL_LISTENER_vtable>(l, list_detach)
}

pub(crate) fn listener_free_slow(l: *mut NAL_LISTENER) {
    lifecycle_free::<NAL_LISTENER_vtable>(l, list_detach);
    drop_ctrl_entry::<NAL_LISTENER_vtable, _>(l);
}

pub(crate) fn listener_finished_slow(l: *const NAL_LISTENER) -> c_int {
    // SAFETY: a bound vtable stays alive while bound.
    let Some(vt) = (unsafe { bound_vt::<NAL_LISTENER_vtable, _>(l).as_ref() }) else { return 0 };
    // SAFETY: hook of the bound vtable on its object.
    vt.finished.map_or(0, |f| unsafe { f(l) })
}

pub(crate) fn listener_fs_owner_slow(l: *mut NAL_LISTENER, o: *const c_char, g: *const c_char) -> c_int {
    // SAFETY: a bound vtable stays alive while bound.
    let Some(vt) = (unsafe { bound_vt::<NAL_LISTENER_vtable, _>(l).as_ref() }) else { return 0 };
    // SAFETY: hook of the bound vtable on its object.
    vt.set_fs_owner.map_or(0, |f| unsafe { f(l, o, g) })
}

pub(crate) fn listener_fs_perms_slow(l: *mut NAL_LISTENER, s: *const c_char) -> c_int {
    // SAFETY: a bound vtable stays alive while bound.
    let Some(vt) = (unsafe { bound_vt::<NAL_LISTENER_vtable, _>(l).as_ref() }) else { return 0 };
    // SAFETY: hook of the bound vtable on its object.
    vt.set_fs_perms.map_or(0, |f| unsafe { f(l, s) })
}

pub(crate) fn connection_create_slow(c: *mut NAL_CONNECTION, a: *const NAL_ADDRESS) -> c_int {
    if c.is_null() || a.is_null() || !bound_vt::<NAL_CONNECTION_vtable, _>(c).is_null() {
        return 0;
    }
    let vt = nal_address_get_connection(a);
    if vt.is_null() {
        return 0;
    }
    if vt == builtin_connection() && release_to_fast::<NAL_CONNECTION_vtable>(c) {
        return match (obj_mut(c), obj(a)) {
            (Some(c), Some(a)) => c.create(a) as c_int,
            _ => 0,
        };
    }
    if bind(c, vt, conn_detach) == 0 {
        return 0;
    }
    // SAFETY: the bound vtable.
    let connect = unsafe { (*vt).connect };
    // SAFETY: hook of the bound vtable on its object.
    if connect.is_none_or(|f| unsafe { f(c, a) } == 0) {
        connection_reset_slow(c);
        return 0;
    }
    1
}

pub(crate) fn connection_accept_slow(c: *mut NAL_CONNECTION, l: *mut NAL_LISTENER) -> c_int {
    if c.is_null() || l.is_null() || !bound_vt::<NAL_CONNECTION_vtable, _>(c).is_null() {
        return 0;
    }
    let vt = nal_listener_pre_accept(l);
    if vt.is_null() {
        return 0;
    }
    if vt == builtin_connection() && release_to_fast::<NAL_CONNECTION_vtable>(c) {
        // SAFETY: the builtin hook, on a connection on the builtin path.
        return unsafe { _conn_accept(c, l) };
    }
    if bind(c, vt, conn_detach) == 0 {
        return 0;
    }
    // SAFETY: the bound vtable.
    let accept = unsafe { (*vt).accept };
    // SAFETY: hook of the bound vtable on its object.
    if accept.is_none_or(|f| unsafe { f(c, l) } == 0) {
        connection_reset_slow(c);
        return 0;
    }
    1
}

pub(crate) fn connection_reset_slow(c: *mut NAL_CONNECTION) {
    lifecycle_reset::<NAL_CONNECTION_vtable>(c, conn_detach)
}

pub(crate) fn connection_free_slow(c: *mut NAL_CONNECTION) {
    lifecycle_free::<NAL_CONNECTION_vtable>(c, conn_detach);
    drop_ctrl_entry::<NAL_CONNECTION_vtable, _>(c);
}

/// An unbound connection with a binding returns to the fast path for
/// `create_pair`/`create_dummy`; false when it is bound.
pub(crate) fn connection_release(c: *mut NAL_CONNECTION) -> bool {
    release_to_fast::<NAL_CONNECTION_vtable>(c)
}

fn conn_vt<'a>(c: *const NAL_CONNECTION) -> Option<&'a NAL_CONNECTION_vtable> {
    // SAFETY: a bound vtable stays alive while bound.
    unsafe { bound_vt::<NAL_CONNECTION_vtable, _>(c).as_ref() }
}

pub(crate) fn connection_set_size_slow(c: *mut NAL_CONNECTION, size: c_uint) -> c_int {
    if size as usize > MAX_BUFFER_SIZE {
        return 0;
    }
    // SAFETY: hook of the bound vtable on its object.
    conn_vt(c).and_then(|v| v.set_size).map_or(0, |f| unsafe { f(c, size) })
}

pub(crate) fn connection_buffer_slow(c: *const NAL_CONNECTION, send: bool) -> *mut NAL_BUFFER {
    let f = conn_vt(c).and_then(|v| if send { v.get_send } else { v.get_read });
    // SAFETY: hook of the bound vtable on its object.
    f.map_or(null_mut(), |f| unsafe { f(c) })
}

pub(crate) fn connection_established_slow(c: *const NAL_CONNECTION) -> c_int {
    // SAFETY: hook of the bound vtable on its object.
    conn_vt(c).and_then(|v| v.is_established).map_or(0, |f| unsafe { f(c) })
}

/// `NAL_CONNECTION_io` of a connection with a binding: the bound do_io,
/// only while attached.
pub(crate) fn connection_io_slow(c: *mut NAL_CONNECTION) -> c_int {
    let attached = live_sel::<NAL_CONNECTION_vtable, _>(c).is_some() || obj(c).is_some_and(|c| c.is_attached());
    if !attached {
        return 0;
    }
    // SAFETY: hook of the bound vtable on its object.
    conn_vt(c).and_then(|v| v.do_io).map_or(0, |f| unsafe { f(c) })
}

// ---------------------------------------------------------------------------
// Exported functions (nal_devel.h).

#[no_mangle]
pub extern "C" fn nal_address_set_vtable(addr: *mut NAL_ADDRESS, vt: *const NAL_ADDRESS_vtable) -> c_int {
    guard(0, || if addr.is_null() { 0 } else { bind(addr, vt, addr_detach) })
}

#[no_mangle]
pub extern "C" fn nal_address_get_vtable(addr: *const NAL_ADDRESS) -> *const NAL_ADDRESS_vtable {
    guard(null(), || bound_vt::<NAL_ADDRESS_vtable, _>(addr))
}

#[no_mangle]
pub extern "C" fn nal_address_get_vtdata(addr: *const NAL_ADDRESS) -> *mut c_void {
    guard(null_mut(), || binding::<NAL_ADDRESS_vtable, _>(addr).map_or(null_mut(), |b| b.vtdata.ptr()))
}

#[no_mangle]
pub extern "C" fn nal_address_get_listener(addr: *const NAL_ADDRESS) -> *const NAL_LISTENER_vtable {
    guard(null(), || {
        // SAFETY: a bound vtable stays alive while bound.
        let Some(vt) = (unsafe { bound_vt::<NAL_ADDRESS_vtable, _>(addr).as_ref() }) else { return null() };
        // SAFETY: hook of the bound vtable on its object.
        vt.create_listener.map_or(null(), |f| unsafe { f(addr) })
    })
}

#[no_mangle]
pub extern "C" fn nal_address_get_connection(addr: *const NAL_ADDRESS) -> *const NAL_CONNECTION_vtable {
    guard(null(), || {
        // SAFETY: a bound vtable stays alive while bound.
        let Some(vt) = (unsafe { bound_vt::<NAL_ADDRESS_vtable, _>(addr).as_ref() }) else { return null() };
        // SAFETY: hook of the bound vtable on its object.
        vt.create_connection.map_or(null(), |f| unsafe { f(addr) })
    })
}

#[no_mangle]
pub extern "C" fn nal_listener_set_vtable(list: *mut NAL_LISTENER, vt: *const NAL_LISTENER_vtable) -> c_int {
    guard(0, || if list.is_null() { 0 } else { bind(list, vt, list_detach) })
}

#[no_mangle]
pub extern "C" fn nal_listener_get_vtable(list: *const NAL_LISTENER) -> *const NAL_LISTENER_vtable {
    guard(null(), || bound_vt::<NAL_LISTENER_vtable, _>(list))
}

#[no_mangle]
pub extern "C" fn nal_listener_get_vtdata(list: *const NAL_LISTENER) -> *mut c_void {
    guard(null_mut(), || binding::<NAL_LISTENER_vtable, _>(list).map_or(null_mut(), |b| b.vtdata.ptr()))
}

#[no_mangle]
pub extern "C" fn nal_listener_pre_accept(list: *mut NAL_LISTENER) -> *const NAL_CONNECTION_vtable {
    guard(null(), || {
        // SAFETY: a bound vtable stays alive while bound.
        let Some(vt) = (unsafe { bound_vt::<NAL_LISTENER_vtable, _>(list).as_ref() }) else { return null() };
        // SAFETY: hook of the bound vtable on its object.
        vt.pre_accept.map_or(null(), |f| unsafe { f(list) })
    })
}

/// Calls the listener's pre_select hook with its selector and token; a
/// no-op unless it is bound and attached.
#[no_mangle]
pub extern "C" fn nal_listener_pre_select(list: *mut NAL_LISTENER) {
    guard_void(|| {
        let Some((sel, token)) = live_sel::<NAL_LISTENER_vtable, _>(list) else { return };
        // SAFETY: a bound vtable stays alive while bound.
        if let Some(f) = unsafe { bound_vt::<NAL_LISTENER_vtable, _>(list).as_ref() }.and_then(|v| v.pre_select) {
            // SAFETY: hook of the bound vtable on its object.
            unsafe { f(list, sel, token) }
        }
    })
}

#[no_mangle]
pub extern "C" fn nal_listener_post_select(list: *mut NAL_LISTENER) {
    guard_void(|| {
        let Some((sel, token)) = live_sel::<NAL_LISTENER_vtable, _>(list) else { return };
        // SAFETY: a bound vtable stays alive while bound.
        if let Some(f) = unsafe { bound_vt::<NAL_LISTENER_vtable, _>(list).as_ref() }.and_then(|v| v.post_select) {
            // SAFETY: hook of the bound vtable on its object.
            unsafe { f(list, sel, token) }
        }
    })
}

/// The attached selector (NULL when not attached); the token is written
/// only when attached and `token` is not NULL.
#[no_mangle]
pub extern "C" fn nal_listener_get_selector(
    list: *const NAL_LISTENER,
    token: *mut NAL_SELECTOR_TOKEN,
) -> *mut NAL_SELECTOR {
    guard(null_mut(), || {
        let found = live_sel::<NAL_LISTENER_vtable, _>(list).or_else(|| {
            obj(list).and_then(|l| l.selector_link()).map(|(s, t)| (s as *mut NAL_SELECTOR, t as NAL_SELECTOR_TOKEN))
        });
        write_token(found, token)
    })
}

fn write_token(
    found: Option<(*mut NAL_SELECTOR, NAL_SELECTOR_TOKEN)>,
    out: *mut NAL_SELECTOR_TOKEN,
) -> *mut NAL_SELECTOR {
    match found {
        Some((sel, t)) => {
            if let Some(out) = obj_mut(out) {
                *out = t;
            }
            sel
        }
        None => null_mut(),
    }
}

/// Overwrites the recorded selector and token without telling anyone.
#[no_mangle]
pub extern "C" fn nal_listener_set_selector_raw(
    list: *mut NAL_LISTENER,
    sel: *mut NAL_SELECTOR,
    token: NAL_SELECTOR_TOKEN,
) {
    guard_void(|| {
        if let Some(b) = ensure_binding::<NAL_LISTENER_vtable, _>(list) {
            b.sel = sel;
            b.token = token;
        }
    })
}

#[no_mangle]
pub extern "C" fn nal_connection_set_vtable(conn: *mut NAL_CONNECTION, vt: *const NAL_CONNECTION_vtable) -> c_int {
    guard(0, || if conn.is_null() { 0 } else { bind(conn, vt, conn_detach) })
}

#[no_mangle]
pub extern "C" fn nal_connection_get_vtable(conn: *const NAL_CONNECTION) -> *const NAL_CONNECTION_vtable {
    guard(null(), || bound_vt::<NAL_CONNECTION_vtable, _>(conn))
}

#[no_mangle]
pub extern "C" fn nal_connection_get_vtdata(conn: *const NAL_CONNECTION) -> *mut c_void {
    guard(null_mut(), || binding::<NAL_CONNECTION_vtable, _>(conn).map_or(null_mut(), |b| b.vtdata.ptr()))
}

#[no_mangle]
pub extern "C" fn nal_connection_pre_select(conn: *mut NAL_CONNECTION) {
    guard_void(|| {
        let Some((sel, token)) = live_sel::<NAL_CONNECTION_vtable, _>(conn) else { return };
        if let Some(f) = conn_vt(conn).and_then(|v| v.pre_select) {
            // SAFETY: hook of the bound vtable on its object.
            unsafe { f(conn, sel, token) }
        }
    })
}

#[no_mangle]
pub extern "C" fn nal_connection_post_select(conn: *mut NAL_CONNECTION) {
    guard_void(|| {
        let Some((sel, token)) = live_sel::<NAL_CONNECTION_vtable, _>(conn) else { return };
        if let Some(f) = conn_vt(conn).and_then(|v| v.post_select) {
            // SAFETY: hook of the bound vtable on its object.
            unsafe { f(conn, sel, token) }
        }
    })
}

#[no_mangle]
pub extern "C" fn nal_connection_get_selector(
    conn: *const NAL_CONNECTION,
    token: *mut NAL_SELECTOR_TOKEN,
) -> *mut NAL_SELECTOR {
    guard(null_mut(), || {
        let found = live_sel::<NAL_CONNECTION_vtable, _>(conn).or_else(|| {
            obj(conn).and_then(|c| c.selector_link()).map(|(s, t)| (s as *mut NAL_SELECTOR, t as NAL_SELECTOR_TOKEN))
        });
        write_token(found, token)
    })
}

#[no_mangle]
pub extern "C" fn nal_connection_set_selector_raw(
    conn: *mut NAL_CONNECTION,
    sel: *mut NAL_SELECTOR,
    token: NAL_SELECTOR_TOKEN,
) {
    guard_void(|| {
        if let Some(b) = ensure_binding::<NAL_CONNECTION_vtable, _>(conn) {
            b.sel = sel;
            b.token = token;
        }
    })
}

/// Head of the list of address types: `proto_std` (IP:, IPv4:, IPv6:,
/// UNIX:) then `proto_fd` (FD:), then the linked C types.
#[no_mangle]
pub extern "C" fn NAL_ADDRESS_vtable_builtins() -> *const NAL_ADDRESS_vtable {
    guard(null(), || {
        let _lock = LINK.lock();
        // SAFETY: written only under LINK, held here.
        unsafe {
            if (*proto_std()).next.is_null() {
                (*proto_std()).next = proto_fd();
            }
        }
        proto_std()
    })
}

/// Appends `vt` and the vtables chained from it to the list of address
/// types; one whose unique_name is already listed (or without a name or
/// prefixes) is skipped. Process-wide, under a lock.
#[no_mangle]
pub extern "C" fn NAL_ADDRESS_vtable_link(vt: *mut NAL_ADDRESS_vtable) {
    guard_void(|| {
        NAL_ADDRESS_vtable_builtins();
        let _lock = LINK.lock();
        let mut next = vt;
        let mut budget = 10_000; // a chain that loops back on itself ends here
        while !next.is_null() && budget > 0 {
            budget -= 1;
            let cur = next;
            // SAFETY: C passes live vtables; the list is changed under LINK.
            next = unsafe { (*cur).next };
            // SAFETY: as above.
            let name = c_bytes(unsafe { (*cur).unique_name });
            // SAFETY: as above.
            let unusable = name.is_none() || unsafe { (*cur).prefixes.is_null() };
            let mut tail = proto_std();
            let mut dup = unusable;
            // SAFETY: walking the list under LINK.
            while let Some(v) = unsafe { tail.as_mut() } {
                if std::ptr::eq(v, cur) || c_bytes(v.unique_name) == name {
                    dup = true;
                }
                if v.next.is_null() {
                    break;
                }
                tail = v.next;
            }
            if dup {
                continue;
            }
            // SAFETY: tail is the last live vtable; cur is the caller's.
            unsafe {
                (*cur).next = null_mut();
                (*tail).next = cur;
            }
            LINKED.store(true, Ordering::Release);
        }
    })
}

/// The builtin select(2)-style selector vtable.
#[no_mangle]
pub extern "C" fn sel_fdselect() -> *const NAL_SELECTOR_vtable {
    guard(null(), || SEL_FDSELECT.0.get() as *const NAL_SELECTOR_vtable)
}

/// The builtin poll(2)-style selector vtable.
#[no_mangle]
pub extern "C" fn sel_fdpoll() -> *const NAL_SELECTOR_vtable {
    guard(null(), || SEL_FDPOLL.0.get() as *const NAL_SELECTOR_vtable)
}

/// A selector bound to `vt` (zeroed vtdata, then on_create); NULL when
/// `vt` is NULL, lacks on_create/on_destroy/on_reset, or on_create fails.
#[no_mangle]
pub extern "C" fn nal_selector_new(vt: *const NAL_SELECTOR_vtable) -> *mut NAL_SELECTOR {
    guard(null_mut(), || {
        if vt.is_null() {
            return null_mut();
        }
        for ty in [SelectorType::Dynamic, SelectorType::FdSelect, SelectorType::FdPoll] {
            if vt == sel_builtin(ty) {
                return new_selector(ty);
            }
        }
        let s = new_selector(SelectorType::Dynamic);
        if bind_selector(s, vt) == 0 {
            release_selector(s);
            return null_mut();
        }
        s
    })
}

/// Binds a selector handle to a C vtable and runs on_create.
fn bind_selector(s: *mut NAL_SELECTOR, vt: *const NAL_SELECTOR_vtable) -> c_int {
    // SAFETY: a non-NULL vtable pointer from C points at a live vtable.
    let Some(v) = (unsafe { vt.as_ref() }) else { return 0 };
    let (Some(create), Some(_), Some(_)) = (v.on_create, v.on_destroy, v.on_reset) else { return 0 };
    let Some(core) = obj_mut(s) else { return 0 };
    core.devel.set(SelBinding { vt, vtdata: Vtdata::zeroed(v.vtdata_size) });
    // SAFETY: on_create of the vtable being bound, on its selector.
    if unsafe { create(s) } == 0 {
        if let Some(core) = obj_mut(s) {
            core.devel.clear();
        }
        return 0;
    }
    1
}

#[no_mangle]
pub extern "C" fn nal_selector_get_vtable(sel: *const NAL_SELECTOR) -> *const NAL_SELECTOR_vtable {
    guard(null(), || match sel_binding(sel) {
        Some(b) => b.vt,
        None => obj(sel).map_or(null(), |s| sel_builtin(s.selector_type())),
    })
}

#[no_mangle]
pub extern "C" fn nal_selector_get_vtdata(sel: *const NAL_SELECTOR) -> *mut c_void {
    guard(null_mut(), || sel_binding(sel).map_or(null_mut(), |b| b.vtdata.ptr()))
}

/// The bound vtable's type: NAL_SELECTOR_TYPE_DYNAMIC (1) until the first
/// attach of a NAL_SELECTOR_new selector, then FDPOLL (3); FDSELECT (2) /
/// FDPOLL for the explicit constructors; ERROR (0) for NULL.
#[no_mangle]
pub extern "C" fn nal_selector_get_type(sel: *const NAL_SELECTOR) -> NAL_SELECTOR_TYPE {
    guard(TYPE_ERROR, || {
        if let Some(vt) = sel_c_vt(sel) {
            // SAFETY: the selector's own hook, on the selector.
            return vt.get_type.map_or(TYPE_ERROR, |f| unsafe { f(sel) });
        }
        match obj(sel).map(|s| s.selector_type()) {
            None => TYPE_ERROR,
            Some(SelectorType::Dynamic) => TYPE_DYNAMIC,
            Some(SelectorType::FdSelect) => TYPE_FDSELECT,
            Some(SelectorType::FdPoll) => TYPE_FDPOLL,
        }
    })
}

/// The bound vtable's ctrl handler; 0 when it has none or does not know
/// the command.
#[no_mangle]
pub extern "C" fn nal_selector_ctrl(sel: *mut NAL_SELECTOR, cmd: c_int, arg: *mut c_void) -> c_int {
    guard(0, || {
        if sel.is_null() {
            return 0;
        }
        match sel_c_vt(sel) {
            // SAFETY: the selector's own hook, on the selector.
            Some(vt) => vt.ctrl.map_or(0, |f| unsafe { f(sel, cmd, arg) }),
            None if obj(sel).is_some_and(|s| s.is_dynamic()) => 0,
            // SAFETY: the builtin handler on a builtin selector.
            None => unsafe { _sel_ctrl(sel, cmd, arg) },
        }
    })
}

/// Binds a selector still of the builtin dynamic kind to `vt`; 1/0 (0 for
/// any other selector, where the original asserted).
#[no_mangle]
pub extern "C" fn nal_selector_dynamic_set(sel: *mut NAL_SELECTOR, vt: *const NAL_SELECTOR_vtable) -> c_int {
    guard(0, || {
        let Some(core) = obj(sel) else { return 0 };
        if vt.is_null() || !core.devel.is_empty() || !core.is_dynamic() {
            return 0;
        }
        if vt == sel_builtin(SelectorType::FdPoll) {
            return core.make_concrete(SelectorType::FdPoll) as c_int;
        }
        if vt == sel_builtin(SelectorType::FdSelect) {
            return core.make_concrete(SelectorType::FdSelect) as c_int;
        }
        if vt == sel_builtin(SelectorType::Dynamic) {
            return 0;
        }
        bind_selector(sel, vt)
    })
}
