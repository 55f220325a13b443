//! TLS 1.3 with mutual certificates for the dc_client ↔ dc_server link
//! (rustls, ring provider). Applications keep speaking plain distcache to
//! their local dc_client; only the cross-host TCP link is wrapped.
//!
//! Loading: [`server_config`] and [`client_config`] read PEM files and
//! refuse a private key that group or others may read. Driving: both ends
//! are non-blocking. The server end ([`ServerLink`]) is moved by
//! dc_server's event loop; the client end ([`ClientLink`]) lives inside a
//! libnal [`Connection`](super::connection::Connection) and is moved by its
//! `io`.

use super::buffer::SharedBuffer;
use super::sys;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};
use std::io::{self, Read, Write};
use std::os::fd::RawFd;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

/// The three PEM files of one end: its certificate chain, its private key
/// and the CA certificate(s) the other end must chain to.
#[derive(Clone, Debug, Default)]
pub struct TlsFiles {
    pub cert: String,
    pub key: String,
    pub ca: String,
}

/// ring's TLS 1.3 suites, AES-128-GCM first: the cache link moves whole
/// sessions (up to 32 KiB) per request, and AES-128 encrypts them about a
/// third faster than AES-256 at a security level well beyond the link's
/// needs.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    use rustls::crypto::ring::cipher_suite;
    let mut p = rustls::crypto::ring::default_provider();
    p.cipher_suites = vec![
        cipher_suite::TLS13_AES_128_GCM_SHA256,
        cipher_suite::TLS13_AES_256_GCM_SHA384,
        cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
    ];
    Arc::new(p)
}

fn load_certs(path: &str, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let iter = CertificateDer::pem_file_iter(path).map_err(|e| format!("can't read the {what} file '{path}': {e}"))?;
    let certs: Vec<_> =
        iter.collect::<Result<_, _>>().map_err(|e| format!("the {what} file '{path}' is not valid PEM: {e}"))?;
    if certs.is_empty() {
        return Err(format!("the {what} file '{path}' holds no PEM certificate"));
    }
    Ok(certs)
}

fn load_key(path: &str) -> Result<PrivateKeyDer<'static>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("can't read the private key file '{path}': {e}"))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "the private key file '{path}' may be read by group or others (mode {mode:04o}); \
             it must be readable by its owner only (chmod 600 '{path}')"
        ));
    }
    PrivateKeyDer::from_pem_file(path)
        .map_err(|e| format!("the private key file '{path}' holds no usable PEM key: {e}"))
}

fn load_roots(path: &str) -> Result<Arc<RootCertStore>, String> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(path, "CA")? {
        roots.add(cert).map_err(|e| format!("the CA file '{path}' holds an unusable certificate: {e}"))?;
    }
    Ok(Arc::new(roots))
}

/// dc_server's configuration: TLS 1.3 only, a client certificate chained
/// to `files.ca` required. Errors name the file at fault.
pub fn server_config(files: &TlsFiles) -> Result<Arc<ServerConfig>, String> {
    let certs = load_certs(&files.cert, "certificate")?;
    let key = load_key(&files.key)?;
    let roots = load_roots(&files.ca)?;
    let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider())
        .build()
        .map_err(|e| format!("the CA file '{}' can't verify clients: {e}", files.ca))?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| format!("TLS 1.3 is not available: {e}"))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| format!("the key in '{}' does not fit the certificate in '{}': {e}", files.key, files.cert))?;
    Ok(Arc::new(config))
}

/// dc_client's (and dc_snoop's) configuration: TLS 1.3 only, the server
/// verified against `files.ca`, our certificate presented. Sessions are
/// remembered for resumption after a reconnect.
pub fn client_config(files: &TlsFiles) -> Result<Arc<ClientConfig>, String> {
    let certs = load_certs(&files.cert, "certificate")?;
    let key = load_key(&files.key)?;
    let roots = load_roots(&files.ca)?;
    let config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| format!("TLS 1.3 is not available: {e}"))?
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, key)
        .map_err(|e| format!("the key in '{}' does not fit the certificate in '{}': {e}", files.key, files.cert))?;
    Ok(Arc::new(config))
}

/// The host part of a libnal connect address (`IP:host:port`,
/// `IPv4:host:port`, `IPv6:[host]:port`): the name the server's
/// certificate must carry. None for other transports.
pub fn host_of_address(text: &str) -> Option<String> {
    if let Some(rest) = text.strip_prefix("IPv6:") {
        let inner = rest.strip_prefix('[')?;
        return inner.split_once(']').map(|(h, _)| h.to_string()).filter(|h| !h.is_empty());
    }
    let rest = text.strip_prefix("IP:").or_else(|| text.strip_prefix("IPv4:"))?;
    let (host, _) = rest.rsplit_once(':')?;
    let host = host.trim();
    (!host.is_empty()).then(|| host.to_string())
}

/// A checked server name (DNS name or IP literal).
pub fn server_name(name: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(name.to_string()).map_err(|_| format!("'{name}' is not a valid server name"))
}

/// A descriptor as the reader and writer rustls moves ciphertext with.
struct FdIo(RawFd);

impl Read for FdIo {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        sys::read(self.0, buf)
    }
}

impl Write for FdIo {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        sys::send(self.0, buf)
    }
    // Several TLS records in one system call.
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        sys::send_vectored(self.0, bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Why a TLS link ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEnd {
    /// The peer closed (or the socket failed) after the handshake.
    Closed,
    /// The handshake or the record layer failed: the reason, for the log.
    Refused(String),
}

/// A rustls error in words an operator can act on.
pub fn describe(e: &rustls::Error) -> String {
    use rustls::{CertificateError, Error};
    match e {
        Error::NoCertificatesPresented => "no client certificate presented".into(),
        Error::InvalidCertificate(CertificateError::Expired | CertificateError::ExpiredContext { .. }) => {
            "certificate expired".into()
        }
        Error::InvalidCertificate(CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. }) => {
            "certificate not valid yet".into()
        }
        Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            "certificate not issued by the trusted CA (unknown issuer)".into()
        }
        Error::InvalidCertificate(CertificateError::NotValidForName)
        | Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. }) => {
            "server certificate not valid for the expected server name".into()
        }
        Error::InvalidMessage(_) => format!("not a TLS peer or corrupt TLS data ({e})"),
        Error::AlertReceived(alert) => format!("the peer refused the handshake (TLS alert: {alert:?})"),
        other => other.to_string(),
    }
}

/// Writes queued TLS output until done or the socket is full; Ok(true)
/// when nothing is left.
fn flush_tls(conn: &mut rustls::Connection, fd: RawFd) -> io::Result<bool> {
    let mut out = FdIo(fd);
    while conn.wants_write() {
        match conn.write_tls(&mut out) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Reads ciphertext until the socket is empty (or rustls holds enough
/// plaintext), decrypting as it goes; answers the handshake. Returns
/// whether the socket was found empty, and whether the peer closed;
/// `heard` is set once any byte arrived.
fn pull_tls(
    conn: &mut rustls::Connection,
    fd: RawFd,
    input: &mut dyn Read,
    heard: &mut bool,
) -> Result<(bool, bool), LinkEnd> {
    loop {
        match conn.read_tls(input) {
            Ok(0) => return Ok((true, true)),
            Ok(_) => {
                *heard = true;
                if let Err(e) = conn.process_new_packets() {
                    // The alert telling the peer why, best effort.
                    let _ = flush_tls(conn, fd);
                    return Err(LinkEnd::Refused(describe(&e)));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok((true, false)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // rustls holds as much plaintext as it takes: leave the rest
            // in the socket until it is read.
            Err(e) if e.raw_os_error().is_none() && e.kind() == io::ErrorKind::Other => return Ok((false, false)),
            Err(e) => return Err(handshake_or_closed(conn, &e.to_string())),
        }
        if conn.wants_write() {
            flush_tls(conn, fd).map_err(|e| handshake_or_closed(conn, &e.to_string()))?;
        }
    }
}

fn handshake_or_closed(conn: &rustls::Connection, why: &str) -> LinkEnd {
    if conn.is_handshaking() {
        LinkEnd::Refused(format!("connection lost during the TLS handshake ({why})"))
    } else {
        LinkEnd::Closed
    }
}

fn eof_end(conn: &rustls::Connection, side: &str) -> LinkEnd {
    if conn.is_handshaking() {
        LinkEnd::Refused(format!(
            "the {side} closed the connection during the TLS handshake (not a TLS peer, or it refused us)"
        ))
    } else {
        LinkEnd::Closed
    }
}

/// Moves decrypted bytes into `buf`; Ok(0) when none wait. Err(Closed)
/// once the peer sent its close_notify and everything was read.
fn take_plaintext(conn: &mut rustls::Connection, buf: &mut [u8]) -> Result<usize, LinkEnd> {
    if buf.is_empty() {
        return Ok(0);
    }
    match conn.reader().read(buf) {
        Ok(0) => Err(LinkEnd::Closed),
        Ok(n) => Ok(n),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
        Err(_) => Err(LinkEnd::Closed),
    }
}

/// The server end of one link, moved by dc_server's event loop.
pub struct ServerLink {
    conn: rustls::Connection,
    /// Some bytes arrived (a connection closed before sending anything is
    /// a port probe, not a refusal).
    heard: bool,
    /// An end found while request bytes were still to be answered: the
    /// next read reports it.
    pending_end: Option<LinkEnd>,
    inbox: Inbox,
}

impl ServerLink {
    pub fn new(config: &Arc<ServerConfig>) -> Result<Self, String> {
        let mut conn = ServerConnection::new(config.clone()).map_err(|e| e.to_string())?;
        // Output is limited by the event loop (it stops reading requests
        // while answers wait), not by rustls.
        conn.set_buffer_limit(None);
        Ok(Self { conn: conn.into(), heard: false, pending_end: None, inbox: Inbox::new() })
    }

    /// Fills `buf` with request bytes from the socket `fd`. Returns how
    /// many, and whether the socket (or rustls) may hold more.
    pub fn read(&mut self, fd: RawFd, buf: &mut [u8]) -> Result<(usize, bool), LinkEnd> {
        if let Some(end) = self.pending_end.take() {
            return Err(end);
        }
        let mut got = 0;
        loop {
            match take_plaintext(&mut self.conn, &mut buf[got..]) {
                Ok(n) => got += n,
                Err(end) if got == 0 => return Err(end),
                Err(_) => return Ok((got, true)),
            }
            if got == buf.len() {
                return Ok((got, true));
            }
            let pulled = pull_tls(&mut self.conn, fd, &mut self.inbox.reader(fd), &mut self.heard);
            match pulled {
                Ok((_, true)) if got > 0 => return Ok((got, true)),
                Ok((_, true)) => {
                    // Plaintext that came with the end is still handed on.
                    return match take_plaintext(&mut self.conn, buf) {
                        Ok(n) if n > 0 => Ok((n, true)),
                        _ if !self.heard => Err(LinkEnd::Closed),
                        _ => Err(eof_end(&self.conn, "client")),
                    };
                }
                Ok((true, false)) => {
                    let n = take_plaintext(&mut self.conn, &mut buf[got..]).unwrap_or(0);
                    got += n;
                    // Still more decrypted than fitted: come back.
                    return Ok((got, got == buf.len()));
                }
                Ok((false, false)) => {}
                Err(end) if got > 0 => {
                    // Answer what came before; the end shows next time.
                    self.pending_end = Some(end);
                    return Ok((got, true));
                }
                Err(end) => return Err(end),
            }
        }
    }

    /// Encrypts `bytes` (all of them) and sends what the socket takes.
    /// Ok(true) when nothing waits for the socket.
    pub fn write(&mut self, fd: RawFd, bytes: &[u8]) -> Result<bool, LinkEnd> {
        if !bytes.is_empty() {
            self.conn.writer().write_all(bytes).map_err(|_| LinkEnd::Closed)?;
        }
        self.flush(fd)
    }

    /// Sends waiting TLS output; Ok(true) once none is left.
    pub fn flush(&mut self, fd: RawFd) -> Result<bool, LinkEnd> {
        flush_tls(&mut self.conn, fd).map_err(|e| handshake_or_closed(&self.conn, &e.to_string()))
    }

    /// TLS output waits for the socket.
    pub fn output_waits(&self) -> bool {
        self.conn.wants_write()
    }
}

/// The client end of one link, inside a libnal connection.
pub struct ClientLink {
    conn: rustls::Connection,
    /// Why the link failed, once it did.
    failure: Option<String>,
    inbox: Inbox,
}

/// Ciphertext read from the socket ahead of rustls: one system call takes
/// what the socket holds (a whole 30 KiB session), rustls then takes it in
/// its own small pieces.
struct Inbox {
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    /// The last read was short: the socket is empty until the next
    /// readiness event (saves the system call that would say so).
    drained: bool,
}

impl Inbox {
    fn new() -> Self {
        Self { buf: vec![0; INBOX_SIZE].into_boxed_slice(), start: 0, end: 0, drained: false }
    }

    /// A reader for one round after a readiness event.
    fn reader(&mut self, fd: RawFd) -> InboxReader<'_> {
        self.drained = false;
        InboxReader { inbox: self, fd }
    }
}

const INBOX_SIZE: usize = 64 * 1024;

/// The socket as rustls reads it, through the inbox.
struct InboxReader<'a> {
    inbox: &'a mut Inbox,
    fd: RawFd,
}

impl Read for InboxReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let inbox = &mut *self.inbox;
        if inbox.start == inbox.end {
            if inbox.drained {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = sys::read(self.fd, &mut inbox.buf)?;
            inbox.start = 0;
            inbox.end = n;
            // End of file (0) is reported as it is, every time.
            inbox.drained = n > 0 && n < inbox.buf.len();
        }
        let n = out.len().min(inbox.end - inbox.start);
        out[..n].copy_from_slice(&inbox.buf[inbox.start..inbox.start + n]);
        inbox.start += n;
        Ok(n)
    }
}

/// What one [`ClientLink::transfer`] did, for the selector.
pub struct Moved {
    /// The socket was read until empty and no decrypted bytes wait.
    pub read_drained: bool,
    /// The socket refused output.
    pub send_blocked: bool,
    /// TLS output waits (the selector must watch writability).
    pub wants_send: bool,
}

impl ClientLink {
    pub fn new(config: &Arc<ClientConfig>, name: ServerName<'static>) -> Result<Self, String> {
        let conn = ClientConnection::new(config.clone(), name).map_err(|e| e.to_string())?;
        Ok(Self { conn: conn.into(), failure: None, inbox: Inbox::new() })
    }

    /// Why the link failed (None while it works or closed normally).
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    /// TLS output waits (a ClientHello right after connecting).
    pub fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    /// The handshake is over.
    pub fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    fn fail(&mut self, end: LinkEnd) -> Option<Moved> {
        if let LinkEnd::Refused(why) = end {
            self.failure = Some(why);
        }
        None
    }

    /// Reads the socket (when `readable`), moves plaintext into `read`,
    /// takes `send`'s bytes into TLS and writes TLS output. None when the
    /// link is finished (closed or failed; see [`ClientLink::failure`]).
    pub fn transfer(&mut self, fd: RawFd, readable: bool, read: &SharedBuffer, send: &SharedBuffer) -> Option<Moved> {
        let mut socket_empty = false;
        let read_full = loop {
            // rustls holds at most 16 KiB of plaintext: a larger answer is
            // taken in turns, as long as the read buffer has room.
            let mut more = false;
            if readable {
                let mut input = self.inbox.reader(fd);
                match pull_tls(&mut self.conn, fd, &mut input, &mut true) {
                    Ok((_, true)) => {
                        // What arrived before the end stays readable.
                        let conn = &mut self.conn;
                        let _ = read.modify(|b| take_plaintext(conn, b.spare_mut()).map(|n| b.wrote(n)));
                        let end = eof_end(&self.conn, "server");
                        return self.fail(end);
                    }
                    Ok((empty, false)) => {
                        socket_empty = empty;
                        more = !empty;
                    }
                    Err(end) => return self.fail(end),
                }
            }
            let conn = &mut self.conn;
            let taken = read.modify(|b| {
                let spare = b.spare_mut();
                let room = spare.len();
                let n = take_plaintext(conn, spare)?;
                b.wrote(n);
                Ok::<bool, LinkEnd>(n == room)
            });
            match taken {
                Ok(full) if full || !more => break full,
                Ok(_) => {}
                Err(end) => return self.fail(end),
            }
        };
        let conn = &mut self.conn;
        let took = send.modify(|b| {
            if b.is_empty() {
                return Ok::<(), io::Error>(());
            }
            let n = conn.writer().write(b.data())?;
            b.consume(n);
            Ok(())
        });
        if took.is_err() {
            return self.fail(LinkEnd::Closed);
        }
        let flushed = match flush_tls(&mut self.conn, fd) {
            Ok(done) => done,
            Err(e) => {
                let end = handshake_or_closed(&self.conn, &e.to_string());
                return self.fail(end);
            }
        };
        Some(Moved {
            read_drained: socket_empty && !read_full,
            send_blocked: !flushed,
            wants_send: self.conn.wants_write() || send.with(|b| !b.is_empty()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_of_address_takes_the_host_part() {
        assert_eq!(host_of_address("IP:127.0.0.1:9001").as_deref(), Some("127.0.0.1"));
        assert_eq!(host_of_address("IPv4:cache.example:9001").as_deref(), Some("cache.example"));
        assert_eq!(host_of_address("IPv6:[::1]:9001").as_deref(), Some("::1"));
        assert_eq!(host_of_address("IP:9001"), None);
        assert_eq!(host_of_address("UNIX:/tmp/x"), None);
        assert_eq!(host_of_address("FD:3"), None);
    }

    #[test]
    fn missing_files_are_named() {
        let files = TlsFiles { cert: "/nonexistent/c.pem".into(), key: "/nonexistent/k.pem".into(), ca: "x".into() };
        let e = server_config(&files).unwrap_err();
        assert!(e.contains("/nonexistent/c.pem"), "{e}");
        let e = client_config(&files).unwrap_err();
        assert!(e.contains("/nonexistent/c.pem"), "{e}");
    }
}
