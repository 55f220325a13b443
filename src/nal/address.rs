//! NAL_ADDRESS: parsed, transport-tagged locations such as `IP:host:port`,
//! `IPv6:[::1]:9001`, `UNIX:/path` and `FD:r:w`.

use super::sys::{self, UNIX_PATH_MAX};
use super::MAX_BUFFER_SIZE;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Where an active address points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// `IP:`/`IPv4:`; no host means "any" (listen only).
    Ipv4 { host: Option<Ipv4Addr>, port: u16 },
    /// `IPv6:`; no host means "any" (listen only).
    Ipv6 { host: Option<Ipv6Addr>, port: u16 },
    /// `UNIX:`; at most 107 bytes (longer paths are cut, as the originals did).
    Unix { path: Vec<u8> },
    /// `FD:`; -1 marks an absent direction.
    Fd { read: i32, write: i32 },
}

impl Transport {
    pub fn can_connect(&self) -> bool {
        match self {
            Transport::Ipv4 { host, .. } => host.is_some(),
            Transport::Ipv6 { host, .. } => host.is_some(),
            Transport::Unix { .. } | Transport::Fd { .. } => true,
        }
    }
}

/// An address: unused until `create` succeeds.
#[derive(Debug, Default, Clone)]
pub struct Address {
    transport: Option<Transport>,
    def_buffer_size: u32,
    /// Binding made by the C extension layer (`nal_devel.h`); empty on the
    /// builtin path.
    pub devel: super::DevelSlot,
}

impl Address {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn transport(&self) -> Option<&Transport> {
        self.transport.as_ref()
    }

    pub fn is_active(&self) -> bool {
        self.transport.is_some()
    }

    /// Parses `text`. Fails on an active address, a size over 32768, a
    /// string outside 2..=255 bytes, or any grammar error. The buffer size
    /// is stored before parsing, so it stays even when parsing fails.
    pub fn create(&mut self, text: &[u8], def_buffer_size: u32) -> bool {
        self.create_with(text, def_buffer_size, &SystemResolver)
    }

    /// `create` with a chosen way of resolving host names (tests and fuzzing
    /// parse without touching the network).
    pub fn create_with(&mut self, text: &[u8], def_buffer_size: u32, resolver: &dyn Resolver) -> bool {
        if self.is_active() || def_buffer_size as usize > MAX_BUFFER_SIZE {
            return false;
        }
        self.def_buffer_size = def_buffer_size;
        if !(2..=255).contains(&text.len()) {
            return false;
        }
        self.transport = parse(text, resolver);
        self.is_active()
    }

    /// Back to unused; the default buffer size is kept.
    pub fn reset(&mut self) {
        self.transport = None;
    }

    pub fn def_buffer_size(&self) -> u32 {
        self.def_buffer_size
    }

    pub fn set_def_buffer_size(&mut self, size: u32) -> bool {
        if size as usize > MAX_BUFFER_SIZE {
            return false;
        }
        self.def_buffer_size = size;
        true
    }

    pub fn can_connect(&self) -> bool {
        self.transport.as_ref().is_some_and(Transport::can_connect)
    }

    pub fn can_listen(&self) -> bool {
        self.is_active()
    }
}

/// Turns host names into addresses.
pub trait Resolver {
    fn ipv4(&self, host: &str) -> Option<Ipv4Addr>;
    fn ipv6(&self, host: &str) -> Option<Ipv6Addr>;
}

/// The system's resolver (getaddrinfo), as the originals used.
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn ipv4(&self, host: &str) -> Option<Ipv4Addr> {
        sys::resolve_v4(host)
    }

    fn ipv6(&self, host: &str) -> Option<Ipv6Addr> {
        sys::resolve_v6(host)
    }
}

/// Accepts only numeric addresses (plus "localhost"); never does I/O.
pub struct NumericResolver;

impl Resolver for NumericResolver {
    fn ipv4(&self, host: &str) -> Option<Ipv4Addr> {
        if host == "localhost" {
            return Some(Ipv4Addr::LOCALHOST);
        }
        host.parse().ok()
    }

    fn ipv6(&self, host: &str) -> Option<Ipv6Addr> {
        if host == "localhost" {
            return Some(Ipv6Addr::LOCALHOST);
        }
        host.parse().ok()
    }
}

/// The prefixes the builtin parser understands.
pub const BUILTIN_PREFIXES: [&str; 5] = ["IP:", "IPv4:", "UNIX:", "FD:", "IPv6:"];

/// Whether `text` starts with a prefix of the builtin address types.
pub fn has_builtin_prefix(text: &[u8]) -> bool {
    BUILTIN_PREFIXES.iter().any(|p| text.starts_with(p.as_bytes()))
}

/// Prefixes in the order they are tried (case-sensitive).
fn parse(text: &[u8], resolver: &dyn Resolver) -> Option<Transport> {
    if let Some(rest) = text.strip_prefix(b"IP:").or_else(|| text.strip_prefix(b"IPv4:")) {
        return parse_ipv4(rest, resolver);
    }
    if let Some(rest) = text.strip_prefix(b"UNIX:") {
        let n = rest.len().min(UNIX_PATH_MAX);
        return Some(Transport::Unix { path: rest[..n].to_vec() });
    }
    if let Some(rest) = text.strip_prefix(b"FD:") {
        return parse_fd(rest);
    }
    if let Some(rest) = text.strip_prefix(b"IPv6:") {
        return parse_ipv6(rest, resolver);
    }
    None
}

fn parse_ipv4(rest: &[u8], resolver: &dyn Resolver) -> Option<Transport> {
    let rest = std::str::from_utf8(rest).ok()?;
    if rest.is_empty() {
        return None;
    }
    match rest.find(':') {
        None => Some(Transport::Ipv4 { host: None, port: parse_port(rest)? }),
        Some(0) => Some(Transport::Ipv4 { host: None, port: parse_port(&rest[1..])? }),
        Some(i) => {
            let port = parse_port(&rest[i + 1..])?;
            let host = resolver.ipv4(&rest[..i])?;
            Some(Transport::Ipv4 { host: Some(host), port })
        }
    }
}

/// `IPv6:[host]:port` (host a literal or a name), `IPv6:port` and
/// `IPv6::port` (any address, listen only).
fn parse_ipv6(rest: &[u8], resolver: &dyn Resolver) -> Option<Transport> {
    let rest = std::str::from_utf8(rest).ok()?;
    if let Some(bracketed) = rest.strip_prefix('[') {
        let close = bracketed.find(']')?;
        let port = parse_port(bracketed[close + 1..].strip_prefix(':')?)?;
        let host = resolver.ipv6(&bracketed[..close])?;
        return Some(Transport::Ipv6 { host: Some(host), port });
    }
    let port_text = rest.strip_prefix(':').unwrap_or(rest);
    if port_text.is_empty() || port_text.contains(':') {
        return None;
    }
    Some(Transport::Ipv6 { host: None, port: parse_port(port_text)? })
}

fn skip_space(s: &str) -> &str {
    s.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r'])
}

/// Splits a decimal number the way `strtol`/`strtoul` read it: leading white
/// space, an optional sign, then only digits to the end. Returns (negative,
/// magnitude).
fn signed_decimal(text: &str) -> Option<(bool, u64)> {
    let s = skip_space(text);
    let (negative, digits) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((negative, digits.parse().ok()?))
}

/// A port with `strtoul` rules: the value must be at most 65535 (a negated
/// value wraps, so only `-0` passes).
fn parse_port(text: &str) -> Option<u16> {
    let (negative, value) = signed_decimal(text)?;
    u16::try_from(if negative { 0u64.wrapping_sub(value) } else { value }).ok()
}

/// A descriptor number with `strtol` rules.
fn parse_fd_number(text: &str) -> Option<i64> {
    let (negative, value) = signed_decimal(text)?;
    let value = i64::try_from(value).ok()?;
    Some(if negative { -value } else { value })
}

fn parse_fd(rest: &[u8]) -> Option<Transport> {
    let rest = std::str::from_utf8(rest).ok()?;
    let fields: Vec<&str> = rest.split(':').collect();
    match fields.as_slice() {
        [one] => {
            let fd = parse_fd_number(one)?;
            (0..=65535).contains(&fd).then_some(Transport::Fd { read: fd as i32, write: fd as i32 })
        }
        [r, w] => {
            let (r, w) = (parse_fd_number(r)?, parse_fd_number(w)?);
            let ok = |v: i64| (-1..=65535).contains(&v);
            (ok(r) && ok(w) && !(r == -1 && w == -1)).then_some(Transport::Fd { read: r as i32, write: w as i32 })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(s: &str) -> Option<Transport> {
        let mut a = Address::new();
        a.create(s.as_bytes(), 0).then(|| a.transport().cloned().unwrap())
    }

    #[test]
    fn ipv4_grammar_matches_the_originals() {
        for ok in ["IP:9001", "IP: 9001", "IP:+9001", "IP:1.2.3.4:-0", "IP:65535", "IP::9001", "IPv4:127.0.0.1:9001"] {
            assert!(parsed(ok).is_some(), "{ok}");
        }
        for bad in ["IP:127.0.0.1:65536", "IP:127.0.0.1:", "IP:", "IP:x", "IP:a:b:9001", "IP:1.2.3.4:0x10", "ip:9001"] {
            assert!(parsed(bad).is_none(), "{bad}");
        }
        assert_eq!(parsed("IP:1.2.3.4:-0"), Some(Transport::Ipv4 { host: Some(Ipv4Addr::new(1, 2, 3, 4)), port: 0 }));
    }

    #[test]
    fn capabilities() {
        let mut a = Address::new();
        assert!(a.create(b"IP:9001", 0));
        assert!(!a.can_connect() && a.can_listen());
        let mut b = Address::new();
        assert!(b.create(b"IPv4:127.0.0.1:9001", 0));
        assert!(b.can_connect() && b.can_listen());
        let mut c = Address::new();
        assert!(c.create(b"IPv6:9001", 0));
        assert!(!c.can_connect());
        let mut d = Address::new();
        assert!(d.create(b"IPv6:[::1]:9001", 0));
        assert!(d.can_connect());
    }

    #[test]
    fn fd_grammar() {
        assert_eq!(parsed("FD:3"), Some(Transport::Fd { read: 3, write: 3 }));
        assert_eq!(parsed("FD: 3"), Some(Transport::Fd { read: 3, write: 3 }));
        assert_eq!(parsed("FD:-1:4"), Some(Transport::Fd { read: -1, write: 4 }));
        for bad in ["FD:-1", "FD:-5:3", "FD:3:4:5", "FD:3:", "FD:-1:-1", "FD:65536", "FD:x"] {
            assert!(parsed(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn unix_paths_are_cut() {
        let long = format!("UNIX:/{}", "a".repeat(200));
        match parsed(&long) {
            Some(Transport::Unix { path }) => assert_eq!(path.len(), 107),
            other => panic!("{other:?}"),
        }
        assert_eq!(parsed("UNIX:"), Some(Transport::Unix { path: vec![] }));
    }

    #[test]
    fn size_rules() {
        let mut a = Address::new();
        assert!(!a.create(b"IP:9001", 32769));
        assert!(!a.create(b"x", 100));
        assert_eq!(a.def_buffer_size(), 100); // stored before parsing
        assert!(a.create(b"IP:9001", 200));
        assert!(!a.create(b"IP:9002", 300)); // active
        a.reset();
        assert_eq!(a.def_buffer_size(), 200);
        assert!(!a.create(format!("UNIX:{}", "x".repeat(251)).as_bytes(), 0));
    }
}
