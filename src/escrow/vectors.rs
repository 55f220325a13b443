//! Loader for the recorded escrow wire vectors (tests only).
//!
//! The file lives in the repository:
//! `tests/vectors/escrow-vectors.jsonl`, one JSON object per line with
//! the fields `step`, `dir`, `fd_attached` and `hex`.

use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    ClientToServer,
    ServerToClient,
}

#[derive(Debug, Clone)]
pub struct Vector {
    pub step: String,
    pub dir: Dir,
    pub fd_attached: bool,
    pub bytes: Vec<u8>,
}

pub fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/escrow-vectors.jsonl")
}

pub fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit")).collect()
}

/// The value of a string field `"name": "value"` (no escapes in the file).
fn string_field(line: &str, name: &str) -> String {
    let key = format!("\"{name}\": \"");
    let start = line.find(&key).unwrap_or_else(|| panic!("no {name} in {line}")) + key.len();
    let end = line[start..].find('"').expect("closing quote") + start;
    line[start..end].to_string()
}

fn bool_field(line: &str, name: &str) -> bool {
    let key = format!("\"{name}\": ");
    let start = line.find(&key).unwrap_or_else(|| panic!("no {name} in {line}")) + key.len();
    if line[start..].starts_with("true") {
        true
    } else if line[start..].starts_with("false") {
        false
    } else {
        panic!("bad {name} in {line}")
    }
}

pub fn load() -> Vec<Vector> {
    let text = std::fs::read_to_string(path()).unwrap_or_else(|e| panic!("{}: {e}", path().display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| Vector {
            step: string_field(line, "step"),
            dir: match string_field(line, "dir").as_str() {
                "c2s" => Dir::ClientToServer,
                "s2c" => Dir::ServerToClient,
                other => panic!("bad dir {other}"),
            },
            fd_attached: bool_field(line, "fd_attached"),
            bytes: unhex(&string_field(line, "hex")),
        })
        .collect()
}
