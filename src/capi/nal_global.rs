//! Process-wide libnal settings.

use super::guard_void;
use libc::c_int;

/// Nagle's algorithm for TCP connections created or accepted afterwards:
/// 0 (the default) sets TCP_NODELAY on them, non-zero leaves it off.
#[no_mangle]
pub extern "C" fn NAL_config_set_nagle(enabled: c_int) {
    guard_void(|| crate::nal::set_nagle(enabled != 0))
}
