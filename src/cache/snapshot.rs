//! Snapshots of a session cache on disk: the file format, reading it
//! back, and writing it atomically and durably.
//!
//! The format (version 1; docs/snapshots.md describes it for operators):
//!
//! ```text
//! header   "DCSNAP\r\n"  version u32  flags u32 (0)  written_ms i64  crc u32
//! record   'S'  expiry_ms i64  id_len u16  data_len u32  crc u32
//!          id  data  crc u32
//! trailer  'E'  records u64  crc u32
//! ```
//!
//! All integers are big-endian; every crc is CRC-32C of the bytes before
//! it in the same part (a record's second crc covers its id and data).
//! The header's layout (magic, version, flags, time, crc) is the same in
//! every version. Because a record's header has its own checksum, a damaged id or data
//! costs that one session: the lengths are known good, so reading goes on
//! with the next record. A damaged record header (or a file cut short)
//! ends reading there; the sessions before it are kept. The trailer
//! proves the file is complete.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// First bytes of every snapshot file.
pub const MAGIC: [u8; 8] = *b"DCSNAP\r\n";
/// The version this code writes and reads.
pub const VERSION: u32 = 1;
const HEADER_LEN: usize = 8 + 4 + 4 + 8 + 4;
const RECORD_TAG: u8 = b'S';
const TRAILER_TAG: u8 = b'E';
const RECORD_HEAD_LEN: usize = 1 + 8 + 2 + 4 + 4;
const TRAILER_LEN: usize = 1 + 8 + 4;
/// Limits of what a cache stores (see [`super::Cache`]).
pub const MAX_ID: usize = 64;
pub const MAX_DATA: usize = 32768;

/// One session as a snapshot holds it: absolute expiry (milliseconds of
/// the wall clock since the epoch), id and data. Id and data are shared
/// with the cache, so listing sessions copies no session bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub expiry_ms: i64,
    pub id: Arc<[u8]>,
    pub data: Arc<[u8]>,
}

// ------------------------------------------------------------------ CRC-32C

/// A running CRC-32C (Castagnoli), from the `crc32c` crate (hardware
/// instructions where the processor has them).
#[derive(Clone, Copy)]
pub struct Crc(u32);

impl Crc {
    pub fn new() -> Self {
        Crc(0)
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.0 = ::crc32c::crc32c_append(self.0, bytes);
    }

    pub fn value(&self) -> u32 {
        self.0
    }
}

impl Default for Crc {
    fn default() -> Self {
        Self::new()
    }
}

/// CRC-32C of `bytes`.
pub fn crc32c(bytes: &[u8]) -> u32 {
    ::crc32c::crc32c(bytes)
}

// ------------------------------------------------------------------ writing

/// Writes a snapshot as a stream: [`Encoder::header`], a
/// [`Encoder::session`] per session, [`Encoder::trailer`].
pub struct Encoder<W: Write> {
    out: W,
    records: u64,
    bytes: u64,
}

impl<W: Write> Encoder<W> {
    /// Writes the header; `written_ms` is the wall-clock time of the
    /// snapshot (informational).
    pub fn header(mut out: W, written_ms: i64) -> io::Result<Self> {
        let mut h = Vec::with_capacity(HEADER_LEN);
        h.extend_from_slice(&MAGIC);
        h.extend_from_slice(&VERSION.to_be_bytes());
        h.extend_from_slice(&0u32.to_be_bytes());
        h.extend_from_slice(&written_ms.to_be_bytes());
        let crc = crc32c(&h);
        h.extend_from_slice(&crc.to_be_bytes());
        out.write_all(&h)?;
        Ok(Self { out, records: 0, bytes: HEADER_LEN as u64 })
    }

    /// Appends one session. Ids of 1..=64 and data of 1..=32768 bytes
    /// only (what a cache holds); others are refused with InvalidInput.
    pub fn session(&mut self, s: &Session) -> io::Result<()> {
        if s.id.is_empty() || s.id.len() > MAX_ID || s.data.is_empty() || s.data.len() > MAX_DATA {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "session id or data size out of range"));
        }
        let mut h = [0u8; RECORD_HEAD_LEN];
        h[0] = RECORD_TAG;
        h[1..9].copy_from_slice(&s.expiry_ms.to_be_bytes());
        h[9..11].copy_from_slice(&(s.id.len() as u16).to_be_bytes());
        h[11..15].copy_from_slice(&(s.data.len() as u32).to_be_bytes());
        let crc = crc32c(&h[..15]);
        h[15..19].copy_from_slice(&crc.to_be_bytes());
        self.out.write_all(&h)?;
        self.out.write_all(&s.id)?;
        self.out.write_all(&s.data)?;
        let mut c = Crc::new();
        c.update(&s.id);
        c.update(&s.data);
        self.out.write_all(&c.value().to_be_bytes())?;
        self.records += 1;
        self.bytes += (RECORD_HEAD_LEN + s.id.len() + s.data.len() + 4) as u64;
        Ok(())
    }

    /// Writes the trailer and hands back the output, the number of
    /// sessions and of bytes written.
    pub fn trailer(mut self) -> io::Result<(W, u64, u64)> {
        let mut t = [0u8; TRAILER_LEN];
        t[0] = TRAILER_TAG;
        t[1..9].copy_from_slice(&self.records.to_be_bytes());
        let crc = crc32c(&t[..9]);
        t[9..13].copy_from_slice(&crc.to_be_bytes());
        self.out.write_all(&t)?;
        self.bytes += TRAILER_LEN as u64;
        Ok((self.out, self.records, self.bytes))
    }
}

/// A snapshot of `sessions` as bytes (tests and tools).
pub fn encode(written_ms: i64, sessions: &[Session]) -> Vec<u8> {
    let mut e = Encoder::header(Vec::new(), written_ms).expect("writing to memory");
    for s in sessions {
        e.session(s).expect("sessions within limits");
    }
    e.trailer().expect("writing to memory").0
}

// ------------------------------------------------------------------ reading

/// What is wrong with a snapshot file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The file has no bytes at all.
    Empty,
    /// The file does not start with the snapshot magic.
    NotASnapshot,
    /// A version this program does not read.
    Version(u32),
    /// The header's checksum does not match.
    HeaderChecksum,
    /// The file ends inside the header, a record or the trailer, or has
    /// no trailer: the write that made it did not finish.
    Truncated { offset: u64 },
    /// A record header (or the trailer) failed its checksum or makes no
    /// sense: nothing after it can be trusted.
    DamagedRecordHeader { offset: u64 },
    /// A record's id or data failed its checksum: that session is left
    /// out, reading goes on.
    DamagedSession { offset: u64 },
    /// The trailer counts a different number of records than were read.
    CountMismatch { trailer: u64, read: u64 },
    /// Bytes follow the trailer.
    TrailingBytes { offset: u64 },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Empty => write!(f, "the file is empty"),
            Problem::NotASnapshot => write!(f, "not a dc_server snapshot (wrong magic bytes)"),
            Problem::Version(v) => write!(f, "format version {v} (this dc_server reads version {VERSION})"),
            Problem::HeaderChecksum => write!(f, "header checksum mismatch"),
            Problem::Truncated { offset } => {
                write!(f, "truncated: the file ends at byte {offset}, inside a record or before the trailer")
            }
            Problem::DamagedRecordHeader { offset } => {
                write!(f, "damaged record header at byte {offset}; nothing after it can be read")
            }
            Problem::DamagedSession { offset } => {
                write!(f, "checksum mismatch in the session at byte {offset}; that session is left out")
            }
            Problem::CountMismatch { trailer, read } => {
                write!(f, "the trailer counts {trailer} sessions but {read} were found")
            }
            Problem::TrailingBytes { offset } => write!(f, "unexpected bytes after the trailer at byte {offset}"),
        }
    }
}

/// The outcome of reading a snapshot.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ReadReport {
    /// Sessions that verified and were handed on.
    pub sessions: u64,
    /// When the snapshot was written (0 if the header did not verify).
    pub written_ms: i64,
    /// Everything that was wrong; empty for a good file. A session that
    /// failed its checksum adds one entry; the first fatal problem ends
    /// the list.
    pub problems: Vec<Problem>,
}

impl ReadReport {
    pub fn is_good(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Reads exactly `buf.len()` bytes, or as many as there are: returns the
/// number read (short only at the end of the input).
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Reads a snapshot from `r`, handing every session that verifies to
/// `take`, in file order. Errors only for I/O errors of `r`; everything
/// wrong with the content is in the report.
pub fn read(r: impl Read, mut take: impl FnMut(Session)) -> io::Result<ReadReport> {
    let mut r = r;
    let mut report = ReadReport::default();
    let mut h = [0u8; HEADER_LEN];
    let n = read_full(&mut r, &mut h)?;
    if n == 0 {
        report.problems.push(Problem::Empty);
        return Ok(report);
    }
    if n < MAGIC.len() || h[..8] != MAGIC {
        report.problems.push(if h[..n.min(8)] == MAGIC[..n.min(8)] {
            Problem::Truncated { offset: n as u64 }
        } else {
            Problem::NotASnapshot
        });
        return Ok(report);
    }
    if n < HEADER_LEN {
        report.problems.push(Problem::Truncated { offset: n as u64 });
        return Ok(report);
    }
    // The header's layout is the same in every version, so its checksum
    // tells a damaged version field from a file of another version.
    if be_u32(&h[24..28]) != crc32c(&h[..24]) {
        report.problems.push(Problem::HeaderChecksum);
        return Ok(report);
    }
    let version = be_u32(&h[8..12]);
    if version != VERSION {
        report.problems.push(Problem::Version(version));
        return Ok(report);
    }
    report.written_ms = i64::from_be_bytes(h[16..24].try_into().expect("8 bytes"));
    let mut offset = HEADER_LEN as u64;
    let mut records = 0u64;
    let mut body = Vec::new();
    loop {
        let mut tag = [0u8; 1];
        if read_full(&mut r, &mut tag)? == 0 {
            report.problems.push(Problem::Truncated { offset });
            return Ok(report);
        }
        if tag[0] == TRAILER_TAG {
            let mut t = [0u8; TRAILER_LEN];
            t[0] = TRAILER_TAG;
            let got = read_full(&mut r, &mut t[1..])?;
            if got < TRAILER_LEN - 1 {
                report.problems.push(Problem::Truncated { offset: offset + 1 + got as u64 });
                return Ok(report);
            }
            if be_u32(&t[9..13]) != crc32c(&t[..9]) {
                report.problems.push(Problem::DamagedRecordHeader { offset });
                return Ok(report);
            }
            let counted = u64::from_be_bytes(t[1..9].try_into().expect("8 bytes"));
            if counted != records {
                report.problems.push(Problem::CountMismatch { trailer: counted, read: records });
            }
            let end = offset + TRAILER_LEN as u64;
            let mut extra = [0u8; 1];
            if read_full(&mut r, &mut extra)? > 0 {
                report.problems.push(Problem::TrailingBytes { offset: end });
            }
            return Ok(report);
        }
        let mut rh = [0u8; RECORD_HEAD_LEN];
        rh[0] = tag[0];
        let got = read_full(&mut r, &mut rh[1..])?;
        if got < RECORD_HEAD_LEN - 1 {
            report.problems.push(Problem::Truncated { offset: offset + 1 + got as u64 });
            return Ok(report);
        }
        let id_len = usize::from(u16::from_be_bytes([rh[9], rh[10]]));
        let data_len = be_u32(&rh[11..15]) as usize;
        if rh[0] != RECORD_TAG
            || be_u32(&rh[15..19]) != crc32c(&rh[..15])
            || !(1..=MAX_ID).contains(&id_len)
            || !(1..=MAX_DATA).contains(&data_len)
        {
            report.problems.push(Problem::DamagedRecordHeader { offset });
            return Ok(report);
        }
        let expiry_ms = i64::from_be_bytes(rh[1..9].try_into().expect("8 bytes"));
        let len = id_len + data_len + 4;
        body.resize(len, 0);
        let got = read_full(&mut r, &mut body)?;
        if got < len {
            report.problems.push(Problem::Truncated { offset: offset + (RECORD_HEAD_LEN + got) as u64 });
            return Ok(report);
        }
        records += 1;
        if be_u32(&body[len - 4..]) == crc32c(&body[..len - 4]) {
            report.sessions += 1;
            take(Session { expiry_ms, id: body[..id_len].into(), data: body[id_len..len - 4].into() });
        } else {
            report.problems.push(Problem::DamagedSession { offset });
        }
        offset += (RECORD_HEAD_LEN + len) as u64;
    }
}

// ------------------------------------------------------------ files on disk

/// Why a snapshot file could not be opened for reading.
#[derive(Debug)]
pub enum OpenError {
    /// There is no file: nothing to load.
    Missing,
    /// A directory (or other non-file) is in the way.
    NotAFile,
    /// The OS refused (permissions, I/O error, ...).
    Io(io::Error),
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::Missing => write!(f, "no such file"),
            OpenError::NotAFile => write!(f, "not a regular file (a directory or device is in the way)"),
            OpenError::Io(e) => write!(f, "cannot read it: {e}"),
        }
    }
}

/// Opens a snapshot for reading, with a buffer.
pub fn open(path: &Path) -> Result<impl Read, OpenError> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(OpenError::Missing),
        Err(e) => return Err(OpenError::Io(e)),
    };
    if !meta.is_file() {
        return Err(OpenError::NotAFile);
    }
    let f = File::open(path).map_err(OpenError::Io)?;
    Ok(BufReader::with_capacity(1 << 20, f))
}

/// Where a write stopped, with the OS reason.
#[derive(Debug)]
pub struct WriteError {
    /// What was being done ("create '/x/snap.tmp'", "fsync", ...).
    pub step: String,
    pub error: io::Error,
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {}", self.step, self.error)
    }
}

/// The temporary file a snapshot is written to before the rename.
pub fn temp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A snapshot being written: a new temporary file beside the target,
/// mode 0600, created fresh (a stale one from a crash is removed first;
/// symbolic links are not followed).
pub struct FileWriter {
    path: PathBuf,
    tmp: PathBuf,
    enc: Option<Encoder<BufWriter<File>>>,
}

impl FileWriter {
    pub fn create(path: &Path, written_ms: i64) -> Result<Self, WriteError> {
        let tmp = temp_path(path);
        let step = |what: &str, error: io::Error| WriteError { step: format!("{what} '{}'", tmp.display()), error };
        if fs::symlink_metadata(&tmp).is_ok() {
            match fs::remove_file(&tmp) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(step("removing the stale", e)),
            }
        }
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)
            .map_err(|e| step("creating", e))?;
        let mut w = Self { path: path.to_path_buf(), tmp: tmp.clone(), enc: None };
        // The umask can only take bits away; make it exactly 0600.
        file.set_permissions(fs::Permissions::from_mode(0o600)).map_err(|e| step("chmod 0600 of", e))?;
        let enc =
            Encoder::header(BufWriter::with_capacity(1 << 20, file), written_ms).map_err(|e| step("writing", e))?;
        w.enc = Some(enc);
        Ok(w)
    }

    pub fn session(&mut self, s: &Session) -> Result<(), WriteError> {
        let enc = self.enc.as_mut().expect("open until finished");
        enc.session(s).map_err(|e| WriteError { step: format!("writing '{}'", self.tmp.display()), error: e })
    }

    /// Trailer, fsync, rename over the target, fsync of the directory.
    /// Returns the number of sessions and bytes written.
    pub fn finish(mut self) -> Result<(u64, u64), WriteError> {
        let res = self.finish_inner();
        if res.is_err() {
            // Nothing half-written stays behind (the target is untouched
            // unless the rename happened).
            let _ = fs::remove_file(&self.tmp);
        }
        res
    }

    fn finish_inner(&mut self) -> Result<(u64, u64), WriteError> {
        let tmp = self.tmp.clone();
        let step = |what: String, error: io::Error| WriteError { step: what, error };
        let enc = self.enc.take().expect("open until finished");
        let (buf, records, bytes) = enc.trailer().map_err(|e| step(format!("writing '{}'", tmp.display()), e))?;
        let file = buf.into_inner().map_err(|e| step(format!("writing '{}'", tmp.display()), e.into_error()))?;
        file.sync_all().map_err(|e| step(format!("fsync of '{}'", tmp.display()), e))?;
        drop(file);
        fs::rename(&tmp, &self.path)
            .map_err(|e| step(format!("renaming '{}' to '{}'", tmp.display(), self.path.display()), e))?;
        let dir = parent_dir(&self.path);
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| step(format!("fsync of the directory '{}'", dir.display()), e))?;
        Ok((records, bytes))
    }
}

impl Drop for FileWriter {
    /// An unfinished write leaves no temporary file behind.
    fn drop(&mut self) {
        if self.enc.is_some() {
            self.enc = None;
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Checks that snapshots can be written beside `path` by creating and
/// removing the temporary file.
pub fn probe_writable(path: &Path) -> Result<(), WriteError> {
    let w = FileWriter::create(path, 0)?;
    drop(w);
    Ok(())
}

/// `YYYYMMDDTHHMMSSZ` for a time in seconds since the epoch (UTC).
pub fn utc_stamp(secs: i64) -> String {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    // Civil date from a day count (proleptic Gregorian calendar).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Moves a bad snapshot (file or whatever is in the way) aside as
/// `PATH.bad-<UTC time>` (with `.N` added if that exists), never over
/// anything. Returns the new name.
pub fn move_aside(path: &Path, now_secs: i64) -> io::Result<PathBuf> {
    let mut base = path.as_os_str().to_owned();
    base.push(format!(".bad-{}", utc_stamp(now_secs)));
    for n in 0..1000 {
        let mut name = base.clone();
        if n > 0 {
            name.push(format!(".{n}"));
        }
        let target = PathBuf::from(name);
        if fs::symlink_metadata(&target).is_ok() {
            continue;
        }
        fs::rename(path, &target)?;
        return Ok(target);
    }
    Err(io::Error::new(io::ErrorKind::AlreadyExists, "too many moved-aside snapshots with this time stamp"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(i: u32, len: usize) -> Session {
        let id: Vec<u8> = format!("id-{i}").into_bytes();
        let data: Vec<u8> = (0..len).map(|k| (k as u32 ^ i.wrapping_mul(31)) as u8).collect();
        Session { expiry_ms: 1_700_000_000_000 + i64::from(i) * 7, id: id.into(), data: data.into() }
    }

    fn sample() -> Vec<Session> {
        vec![session(1, 1), session(2, 5), session(3, 17)]
    }

    fn decode(bytes: &[u8]) -> (Vec<Session>, ReadReport) {
        let mut got = Vec::new();
        let report = read(bytes, |s| got.push(s)).expect("memory reads do not fail");
        (got, report)
    }

    #[test]
    fn crc32c_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(b""), 0);
        let long: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        let mut c = Crc::new();
        c.update(&long[..333]);
        c.update(&long[333..]);
        assert_eq!(c.value(), crc32c(&long), "incremental equals one-shot");
    }

    #[test]
    fn round_trip_and_layout() {
        let s = sample();
        let bytes = encode(42, &s);
        assert_eq!(&bytes[..8], b"DCSNAP\r\n");
        assert_eq!(&bytes[8..12], &[0, 0, 0, 1], "version 1, big-endian");
        let expect_len =
            HEADER_LEN + s.iter().map(|x| RECORD_HEAD_LEN + x.id.len() + x.data.len() + 4).sum::<usize>() + TRAILER_LEN;
        assert_eq!(bytes.len(), expect_len);
        let (got, report) = decode(&bytes);
        assert_eq!(got, s);
        assert_eq!(report, ReadReport { sessions: 3, written_ms: 42, problems: vec![] });
        let (got, report) = decode(&encode(7, &[]));
        assert!(got.is_empty() && report.is_good());
    }

    #[test]
    fn encoder_refuses_out_of_range_sessions() {
        let mut e = Encoder::header(Vec::new(), 0).unwrap();
        for (id, data) in [(0, 1), (65, 1), (1, 0), (1, 32769)] {
            let s = Session { expiry_ms: 0, id: vec![1; id].into(), data: vec![2; data].into() };
            assert_eq!(e.session(&s).unwrap_err().kind(), io::ErrorKind::InvalidInput);
        }
        let s = Session { expiry_ms: 0, id: vec![1; 64].into(), data: vec![2; 32768].into() };
        e.session(&s).unwrap();
    }

    #[test]
    fn empty_wrong_magic_wrong_version() {
        assert_eq!(decode(b"").1.problems, vec![Problem::Empty]);
        assert_eq!(decode(b"hello world, this is not it").1.problems, vec![Problem::NotASnapshot]);
        let mut b = encode(0, &sample());
        b[11] = 2;
        assert_eq!(decode(&b).1.problems, vec![Problem::HeaderChecksum], "a damaged version field");
        let crc = crc32c(&b[..24]);
        b[24..28].copy_from_slice(&crc.to_be_bytes());
        let (got, report) = decode(&b);
        assert!(got.is_empty());
        assert_eq!(report.problems, vec![Problem::Version(2)], "a file of another version");
        assert!(report.problems[0].to_string().contains("version 2"));
    }

    /// Every prefix of a good file: never a panic, never a session that
    /// was not in the file, always the sessions whose records are whole,
    /// always reported as truncated (except the whole file).
    #[test]
    fn every_truncation_point() {
        let s = sample();
        let bytes = encode(5, &s);
        let mut ends = Vec::new(); // end offset of each record
        let mut off = HEADER_LEN;
        for x in &s {
            off += RECORD_HEAD_LEN + x.id.len() + x.data.len() + 4;
            ends.push(off);
        }
        for cut in 0..bytes.len() {
            let (got, report) = decode(&bytes[..cut]);
            let whole = ends.iter().filter(|&&e| e <= cut).count();
            assert_eq!(got, s[..whole].to_vec(), "cut at {cut}");
            assert_eq!(report.problems.len(), 1, "cut at {cut}: {:?}", report.problems);
            let p = &report.problems[0];
            match cut {
                0 => assert_eq!(*p, Problem::Empty),
                _ => assert_eq!(*p, Problem::Truncated { offset: cut as u64 }, "cut at {cut}"),
            }
        }
        assert!(decode(&bytes).1.is_good());
    }

    /// Every single byte flipped (each bit pattern tried at every
    /// position would be 8x the work; a full inversion and a low-bit flip
    /// cover the header fields and lengths): never a panic, never a wrong
    /// session, always a problem reported, at most one session lost when
    /// only an id or data byte was hit.
    #[test]
    fn every_byte_flipped() {
        let s = sample();
        let bytes = encode(5, &s);
        let mut starts = Vec::new();
        let mut off = HEADER_LEN;
        for x in &s {
            starts.push(off);
            off += RECORD_HEAD_LEN + x.id.len() + x.data.len() + 4;
        }
        for pos in 0..bytes.len() {
            for mask in [0xffu8, 0x01, 0x80] {
                let mut b = bytes.clone();
                b[pos] ^= mask;
                let (got, report) = decode(&b);
                assert!(!report.is_good(), "flip {mask:#x} at {pos} went unnoticed");
                for g in &got {
                    assert!(s.contains(g), "flip {mask:#x} at {pos} produced a session not in the file");
                }
                // A byte inside a record's id, data or body crc loses that
                // record only.
                if let Some(k) = starts.iter().rposition(|&st| st <= pos) {
                    let body_start = starts[k] + RECORD_HEAD_LEN;
                    let end = starts.get(k + 1).copied().unwrap_or(off);
                    if pos >= body_start && pos < end {
                        assert_eq!(got.len(), s.len() - 1, "flip at {pos}");
                        assert!(!got.contains(&s[k]));
                        assert_eq!(report.problems, vec![Problem::DamagedSession { offset: starts[k] as u64 }]);
                    }
                }
            }
        }
    }

    #[test]
    fn trailer_count_and_trailing_bytes() {
        let s = sample();
        let mut b = encode(5, &s[..2]);
        let n = b.len();
        // a trailer claiming 3 records, with a valid crc
        b[n - 12..n - 4].copy_from_slice(&3u64.to_be_bytes());
        let crc = crc32c(&b[n - 13..n - 4]);
        b[n - 4..].copy_from_slice(&crc.to_be_bytes());
        let (got, report) = decode(&b);
        assert_eq!(got.len(), 2);
        assert_eq!(report.problems, vec![Problem::CountMismatch { trailer: 3, read: 2 }]);
        let mut b = encode(5, &s);
        b.push(0);
        let (got, report) = decode(&b);
        assert_eq!(got, s);
        assert!(matches!(report.problems[..], [Problem::TrailingBytes { .. }]));
    }

    #[test]
    fn utc_stamps() {
        assert_eq!(utc_stamp(0), "19700101T000000Z");
        assert_eq!(utc_stamp(951_782_400), "20000229T000000Z");
        assert_eq!(utc_stamp(1_796_396_759), "20261204T150559Z");
    }

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("dc-snap-test-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn file_write_is_0600_atomic_and_reads_back() {
        let d = temp_dir("write");
        let path = d.join("snap");
        fs::write(&path, b"old").unwrap();
        let mut w = FileWriter::create(&path, 9).unwrap();
        for x in sample() {
            w.session(&x).unwrap();
        }
        // until finished the old file is untouched
        assert_eq!(fs::read(&path).unwrap(), b"old");
        let (n, bytes) = w.finish().unwrap();
        assert_eq!(n, 3);
        assert_eq!(fs::metadata(&path).unwrap().len(), bytes);
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(!temp_path(&path).exists());
        let mut got = Vec::new();
        let report = read(open(&path).ok().unwrap(), |s| got.push(s)).unwrap();
        assert!(report.is_good());
        assert_eq!(got, sample());
        // an abandoned write leaves nothing and keeps the good file
        let w = FileWriter::create(&path, 10).unwrap();
        drop(w);
        assert!(!temp_path(&path).exists());
        assert!(read(open(&path).ok().unwrap(), |_| {}).unwrap().is_good());
        // a directory in the way, a missing file
        assert!(matches!(open(&d), Err(OpenError::NotAFile)));
        assert!(matches!(open(&d.join("none")), Err(OpenError::Missing)));
        // moving aside never overwrites
        let a = move_aside(&path, 0).unwrap();
        assert!(a.to_string_lossy().ends_with("snap.bad-19700101T000000Z"));
        fs::write(&path, b"x").unwrap();
        let b = move_aside(&path, 0).unwrap();
        assert!(b.to_string_lossy().ends_with("snap.bad-19700101T000000Z.1"));
        assert!(a.exists() && b.exists() && !path.exists());
        fs::remove_dir_all(&d).unwrap();
    }
}
