//! TLS 1.3 with mutual certificates for the dc_client ↔ dc_server link
//! (rustls, ring provider). Applications keep speaking plain distcache to
//! their local dc_client; only the cross-host TCP link is wrapped.
//!
//! Loading: [`server_config`] and [`client_config`] read PEM files and
//! refuse a private key that group or others may read. Driving: both ends
//! are non-blocking. The server end ([`ServerLink`]) is moved by
//! dc_server's event loop (rustls' buffered API: it encrypts the large
//! answers with the fewest copies); the client end ([`ClientLink`]) lives
//! inside a libnal [`Connection`](super::connection::Connection) and is
//! moved by its `io` (rustls' unbuffered API: it decrypts the answers in a
//! buffer the link reads the socket into).

use super::buffer::SharedBuffer;
use super::sys;
use rustls::client::UnbufferedClientConnection;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::unbuffered::{ConnectionState, EncodeError, EncodeTlsData, EncryptError, InsufficientSizeError};
use rustls::{ClientConfig, RootCertStore, ServerConfig, ServerConnection};
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
            Err(e) => return Err(handshake_or_closed(conn.is_handshaking(), &e.to_string())),
        }
        if conn.wants_write() {
            flush_tls(conn, fd).map_err(|e| handshake_or_closed(conn.is_handshaking(), &e.to_string()))?;
        }
    }
}

fn handshake_or_closed(handshaking: bool, why: &str) -> LinkEnd {
    if handshaking {
        LinkEnd::Refused(format!("connection lost during the TLS handshake ({why})"))
    } else {
        LinkEnd::Closed
    }
}

fn eof_end(handshaking: bool, side: &str) -> LinkEnd {
    if handshaking {
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
                        _ => Err(eof_end(self.conn.is_handshaking(), "client")),
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
        flush_tls(&mut self.conn, fd).map_err(|e| handshake_or_closed(self.conn.is_handshaking(), &e.to_string()))
    }

    /// TLS output waits for the socket.
    pub fn output_waits(&self) -> bool {
        self.conn.wants_write()
    }
}

/// Ciphertext read from the socket ahead of rustls (server end): one
/// system call takes what the socket holds (a whole 30 KiB session), rustls
/// then takes it in its own small pieces.
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

/// The client end of one link, inside a libnal connection. It runs
/// rustls' unbuffered connection: ciphertext goes from the socket straight
/// into `input`, where rustls decrypts it, and each record's plaintext is
/// then copied into the connection's read buffer. (The buffered API copies
/// the ciphertext into a buffer of its own, zeroed on each read, and the
/// plaintext once more into a queue of its own.) Requests, the small side
/// of the link, cost one copy more than with the buffered API: rustls
/// 0.23 encrypts each record in a vector and copies it into `output`.
pub struct ClientLink {
    conn: UnbufferedClientConnection,
    /// Why the link failed, once it did.
    failure: Option<String>,
    /// Ciphertext from the socket; `input[in_start..in_end]` is what
    /// rustls has not consumed yet (at most a partial record, or the
    /// records of a handshake message still being joined).
    input: Box<[u8]>,
    in_start: usize,
    in_end: usize,
    /// How many bytes from `in_start` rustls has been shown: it may hold
    /// on to them (records of a handshake message being joined), so it is
    /// never shown less.
    shown: usize,
    /// TLS output (handshake messages, alerts, encrypted requests) waiting
    /// for the socket: `output[out_start..out_end]`.
    output: Vec<u8>,
    out_start: usize,
    out_end: usize,
    /// Plaintext decrypted while the read buffer had no room; handed on
    /// before anything newer.
    held: Vec<u8>,
    held_pos: usize,
    /// The server sent its close_notify.
    peer_closed: bool,
}

/// The largest TLS 1.3 record on the wire: 16 KiB of plaintext plus the
/// header and the most expansion the protocol allows.
const MAX_RECORD: usize = 5 + 16384 + 256;
/// The client's ciphertext buffer: a whole 30 KiB answer (or a 64 KiB
/// handshake message, rustls' limit) in one read, plus a partial record.
const CLIENT_INPUT: usize = 64 * 1024 + MAX_RECORD;
/// Request bytes encrypted in one go: four full records.
const SEND_CHUNK: usize = 4 * 16384;
/// What TLS 1.3 adds to each record: header, content type, AEAD tag.
const RECORD_OVERHEAD: usize = 5 + 1 + 16;
/// A TLS record header: content type, version, length.
const RECORD_HEADER: usize = 5;
/// The client's output buffer: one [`SEND_CHUNK`] as records, and room
/// for a key update rustls may put first.
const CLIENT_OUTPUT: usize = SEND_CHUNK + 4 * RECORD_OVERHEAD + 1024;
/// Rounds of [`ClientLink::transfer`] (read, decrypt, encrypt, send) in
/// one call at most.
const MAX_ROUNDS: usize = 64;

/// What one [`ClientLink::transfer`] did, for the selector.
pub struct Moved {
    /// The socket was read until empty and no decrypted bytes wait.
    pub read_drained: bool,
    /// The socket refused output.
    pub send_blocked: bool,
    /// TLS output waits (the selector must watch writability).
    pub wants_send: bool,
}

/// One read of the socket into the client's ciphertext buffer.
enum Pulled {
    /// Bytes came; the socket may hold more (the read filled the room).
    Got { more: bool },
    /// Nothing waits in the socket.
    Empty,
    /// The ciphertext buffer is full of records waiting for room in the
    /// read buffer.
    NoRoom,
}

/// Copies a handshake message or alert rustls encoded into the output
/// buffer (which grows for a flight larger than it: certificate chains).
fn encode_into<Data>(
    enc: &mut EncodeTlsData<'_, Data>,
    output: &mut Vec<u8>,
    out_start: &mut usize,
    out_end: &mut usize,
) -> Result<(), rustls::Error> {
    if *out_start == *out_end {
        *out_start = 0;
        *out_end = 0;
    }
    match enc.encode(&mut output[*out_end..]) {
        Ok(n) => {
            *out_end += n;
            return Ok(());
        }
        Err(EncodeError::InsufficientSize(InsufficientSizeError { required_size })) => {
            output.copy_within(*out_start..*out_end, 0);
            *out_end -= *out_start;
            *out_start = 0;
            if output.len() < *out_end + required_size {
                output.resize(*out_end + required_size, 0);
            }
        }
        Err(EncodeError::AlreadyEncoded) => return Ok(()),
    }
    let n = enc.encode(&mut output[*out_end..]).map_err(|_| rustls::Error::EncryptError)?;
    *out_end += n;
    Ok(())
}

/// Hands one record's plaintext to the read buffer; what does not fit
/// (or must wait behind older held bytes) is held.
fn take_record(payload: &[u8], held: &mut Vec<u8>, held_pos: &mut usize, read: &SharedBuffer) {
    let n = if *held_pos == held.len() { read.modify(|b| b.write(payload)) } else { 0 };
    if n < payload.len() {
        if *held_pos == held.len() {
            held.clear();
            *held_pos = 0;
        }
        held.extend_from_slice(&payload[n..]);
    }
}

impl ClientLink {
    pub fn new(config: &Arc<ClientConfig>, name: ServerName<'static>) -> Result<Self, String> {
        let conn = UnbufferedClientConnection::new(config.clone(), name).map_err(|e| e.to_string())?;
        let mut link = Self {
            conn,
            failure: None,
            input: vec![0; CLIENT_INPUT].into_boxed_slice(),
            in_start: 0,
            in_end: 0,
            shown: 0,
            output: vec![0; CLIENT_OUTPUT],
            out_start: 0,
            out_end: 0,
            held: Vec::new(),
            held_pos: 0,
            peer_closed: false,
        };
        // The ClientHello, sent once the socket connects.
        link.encode_pending();
        Ok(link)
    }

    /// Why the link failed (None while it works or closed normally).
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    /// TLS output waits (a ClientHello right after connecting).
    pub fn wants_write(&self) -> bool {
        self.out_start < self.out_end
    }

    /// The handshake is not over yet.
    pub fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    fn fail(&mut self, end: LinkEnd) -> Option<Moved> {
        if let LinkEnd::Refused(why) = end {
            self.failure = Some(why);
        }
        None
    }

    /// Moves handshake messages and alerts rustls has queued into the
    /// output buffer (nothing else: no record is decrypted).
    fn encode_pending(&mut self) {
        for _ in 0..MAX_ROUNDS {
            let end = self.in_start + self.shown;
            let status = self.conn.process_tls_records(&mut self.input[self.in_start..end]);
            let discard = status.discard;
            let go_on = match status.state {
                Ok(ConnectionState::EncodeTlsData(mut enc)) => {
                    encode_into(&mut enc, &mut self.output, &mut self.out_start, &mut self.out_end).is_ok()
                }
                Ok(ConnectionState::TransmitTlsData(t)) => {
                    t.done();
                    true
                }
                _ => false,
            };
            self.discard(discard);
            if !go_on {
                break;
            }
        }
    }

    /// Drops ciphertext rustls is done with from the front of the input
    /// (never more than it was shown).
    fn discard(&mut self, n: usize) {
        let n = n.min(self.shown);
        self.in_start += n;
        self.shown -= n;
    }

    /// Ends the link for a TLS error: the alert telling the server why
    /// goes out first, best effort.
    fn refuse(&mut self, fd: RawFd, e: &rustls::Error) -> Option<Moved> {
        self.encode_pending();
        let _ = self.send_output(fd);
        self.fail(LinkEnd::Refused(describe(e)))
    }

    /// Hands held plaintext on to the read buffer, as much as fits.
    fn hand_on_held(&mut self, read: &SharedBuffer) {
        if self.held_pos < self.held.len() {
            let rest = &self.held[self.held_pos..];
            self.held_pos += read.modify(|b| b.write(rest));
            if self.held_pos == self.held.len() {
                self.held.clear();
                self.held_pos = 0;
            }
        }
    }

    fn holds_plaintext(&self) -> bool {
        self.held_pos < self.held.len()
    }

    /// How far into the ciphertext rustls may look. During the handshake,
    /// all of it. After it, whole records only as long as their plaintext
    /// finds `room` in the read buffer (the last one may overflow into
    /// `held`): rustls decrypts every record it is shown into a queue of
    /// its own, so plaintext without room would be copied twice more.
    fn visible_end(&self, room: usize) -> usize {
        let least = self.in_start + self.shown;
        if self.conn.is_handshaking() {
            return self.in_end;
        }
        let mut pos = self.in_start;
        let mut room = room;
        while room > 0 && self.in_end - pos >= RECORD_HEADER {
            let len = RECORD_HEADER + usize::from(u16::from_be_bytes([self.input[pos + 3], self.input[pos + 4]]));
            if self.in_end - pos < len {
                break;
            }
            pos += len;
            room = room.saturating_sub(len.saturating_sub(RECORD_OVERHEAD));
        }
        pos.max(least)
    }

    /// Runs rustls over the ciphertext that arrived: answers the
    /// handshake, decrypts every complete record into `read` (or `held`),
    /// and encrypts what `send` holds once the handshake is over and the
    /// output buffer is empty. Returns whether request bytes were taken.
    fn drive(&mut self, read: &SharedBuffer, send: &SharedBuffer) -> Result<bool, rustls::Error> {
        self.hand_on_held(read);
        let mut took = false;
        for _ in 0..MAX_ROUNDS * 4 {
            let room = if self.holds_plaintext() { 0 } else { read.with(|b| b.unused()) };
            let end = self.visible_end(room);
            self.shown = end - self.in_start;
            let status = self.conn.process_tls_records(&mut self.input[self.in_start..end]);
            let mut discard = status.discard;
            let state = match status.state {
                Ok(state) => state,
                Err(e) => {
                    self.discard(discard);
                    return Err(e);
                }
            };
            let mut stop = false;
            let mut failed = None;
            match state {
                ConnectionState::ReadTraffic(mut traffic) => {
                    while let Some(record) = traffic.next_record() {
                        match record {
                            Ok(record) => {
                                discard += record.discard;
                                take_record(record.payload, &mut self.held, &mut self.held_pos, read);
                            }
                            Err(e) => {
                                failed = Some(e);
                                break;
                            }
                        }
                    }
                }
                ConnectionState::EncodeTlsData(mut enc) => {
                    if let Err(e) = encode_into(&mut enc, &mut self.output, &mut self.out_start, &mut self.out_end) {
                        failed = Some(e);
                    }
                }
                ConnectionState::TransmitTlsData(t) => t.done(),
                ConnectionState::WriteTraffic(mut traffic) => {
                    stop = true;
                    if self.out_start == self.out_end {
                        self.out_start = 0;
                        self.out_end = 0;
                        let output = &mut self.output;
                        let sealed = send.modify(|b| {
                            if b.is_empty() {
                                return Ok(0);
                            }
                            let n = b.used().min(SEND_CHUNK);
                            match traffic.encrypt(&b.data()[..n], &mut output[..]) {
                                Ok(written) => {
                                    b.consume(n);
                                    Ok(written)
                                }
                                // Not now: after the output went out.
                                Err(EncryptError::InsufficientSize(_)) => Ok(0),
                                Err(EncryptError::EncryptExhausted) => Err(rustls::Error::EncryptError),
                            }
                        });
                        match sealed {
                            Ok(written) => {
                                self.out_end = written;
                                took = written > 0;
                            }
                            Err(e) => failed = Some(e),
                        }
                    }
                }
                ConnectionState::PeerClosed | ConnectionState::Closed => self.peer_closed = true,
                // BlockedHandshake: more ciphertext is needed. Early data
                // is the server's.
                _ => stop = true,
            }
            self.discard(discard);
            if let Some(e) = failed {
                return Err(e);
            }
            if stop {
                break;
            }
        }
        Ok(took)
    }

    /// Writes waiting TLS output until done or the socket is full;
    /// Ok(true) when nothing is left.
    fn send_output(&mut self, fd: RawFd) -> io::Result<bool> {
        while self.out_start < self.out_end {
            match sys::send(fd, &self.output[self.out_start..self.out_end]) {
                Ok(0) => return Ok(false),
                Ok(n) => self.out_start += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.out_start = 0;
        self.out_end = 0;
        Ok(true)
    }

    /// Reads the socket once, straight into the ciphertext buffer.
    fn pull(&mut self, fd: RawFd) -> Result<Pulled, LinkEnd> {
        if self.in_start == self.in_end {
            self.in_start = 0;
            self.in_end = 0;
        } else if self.input.len() - self.in_end < MAX_RECORD && self.in_start > 0 {
            // Only a partial record (or an unfinished handshake message)
            // is left: move it to the front.
            self.input.copy_within(self.in_start..self.in_end, 0);
            self.in_end -= self.in_start;
            self.in_start = 0;
        }
        let room = self.input.len() - self.in_end;
        if room == 0 {
            if self.visible_end(usize::MAX) > self.in_start + self.shown {
                return Ok(Pulled::NoRoom);
            }
            return Err(LinkEnd::Refused("the server sent a TLS message larger than 64 KiB".into()));
        }
        loop {
            return match sys::read(fd, &mut self.input[self.in_end..]) {
                Ok(0) => Err(eof_end(self.conn.is_handshaking(), "server")),
                Ok(n) => {
                    self.in_end += n;
                    // A short read emptied the socket (saves the system
                    // call that would say so).
                    Ok(Pulled::Got { more: n == room })
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Pulled::Empty),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Err(handshake_or_closed(self.conn.is_handshaking(), &e.to_string())),
            };
        }
    }

    /// Reads the socket (when `readable`), moves plaintext into `read`,
    /// takes `send`'s bytes into TLS and writes TLS output. None when the
    /// link is finished (closed or failed; see [`ClientLink::failure`]).
    pub fn transfer(&mut self, fd: RawFd, readable: bool, read: &SharedBuffer, send: &SharedBuffer) -> Option<Moved> {
        let mut socket_empty = false;
        let mut send_blocked = false;
        for _ in 0..MAX_ROUNDS {
            let took = match self.drive(read, send) {
                Ok(took) => took,
                Err(e) => return self.refuse(fd, &e),
            };
            match self.send_output(fd) {
                Ok(done) => send_blocked = !done,
                Err(e) => {
                    let end = handshake_or_closed(self.conn.is_handshaking(), &e.to_string());
                    return self.fail(end);
                }
            }
            if self.peer_closed && !self.holds_plaintext() {
                return self.fail(LinkEnd::Closed);
            }
            let read_full = self.holds_plaintext() || read.with(|b| b.is_full());
            if readable && !socket_empty && !read_full {
                match self.pull(fd) {
                    Ok(Pulled::Got { more }) => {
                        socket_empty = !more;
                        continue;
                    }
                    Ok(Pulled::Empty) => socket_empty = true,
                    Ok(Pulled::NoRoom) => {}
                    Err(end) => {
                        // What arrived before the end is still handed on.
                        let _ = self.drive(read, send);
                        return self.fail(end);
                    }
                }
            }
            // More requests than one go takes, and the socket took the last.
            if !(took && !send_blocked && send.with(|b| !b.is_empty())) {
                break;
            }
        }
        let read_full = self.holds_plaintext() || read.with(|b| b.is_full());
        // Requests wait for the handshake's end, not for writability.
        let send_waits = !self.conn.is_handshaking() && send.with(|b| !b.is_empty());
        Some(Moved {
            read_drained: socket_empty && !read_full,
            send_blocked,
            wants_send: self.wants_write() || send_waits,
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
