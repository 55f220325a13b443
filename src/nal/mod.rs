//! libnal: non-blocking network abstraction (addresses, listeners,
//! connections, selectors, buffers and the byte codec).

pub mod accept_pause;
pub mod address;
pub mod buffer;
pub mod codec;
pub mod connection;
pub mod listener;
pub mod selector;
pub mod sys;
pub mod tls;

use std::sync::atomic::{AtomicBool, Ordering};

/// Largest size of any libnal buffer, in bytes.
pub const MAX_BUFFER_SIZE: usize = 32768;

/// Process-wide Nagle switch; off by default (TCP_NODELAY on new TCP
/// connections).
static NAGLE: AtomicBool = AtomicBool::new(false);

pub fn set_nagle(enabled: bool) {
    NAGLE.store(enabled, Ordering::Relaxed);
}

pub fn nagle_enabled() -> bool {
    NAGLE.load(Ordering::Relaxed)
}

/// Room for the C extension layer (`nal_devel.h`): the vtable binding of an
/// object bound to a C-defined vtable, or attached to a selector through the
/// fd-selector control protocol. Empty for objects on the builtin path, so
/// those pay one `is_empty` test and nothing else.
#[derive(Default)]
pub struct DevelSlot(Option<Box<dyn std::any::Any + Send + Sync>>);

impl DevelSlot {
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    pub fn get_mut<T: 'static>(&mut self) -> Option<&mut T> {
        self.0.as_mut()?.downcast_mut()
    }

    pub fn get<T: 'static>(&self) -> Option<&T> {
        self.0.as_ref()?.downcast_ref()
    }

    pub fn set<T: Send + Sync + 'static>(&mut self, value: T) {
        self.0 = Some(Box::new(value));
    }

    pub fn clear(&mut self) {
        self.0 = None;
    }
}

/// A copy of an object never carries the original's extension binding.
impl Clone for DevelSlot {
    fn clone(&self) -> Self {
        DevelSlot(None)
    }
}

impl std::fmt::Debug for DevelSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_empty() { "DevelSlot(empty)" } else { "DevelSlot(bound)" })
    }
}
