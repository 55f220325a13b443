//! Shared helpers of the vector tests: a minimal JSON reader for the
//! JSON-lines vector files, hex decoding and the vectors' data pattern.
#![allow(dead_code)]

use std::collections::BTreeMap;

/// A parsed JSON value (numbers are kept as text; the vectors need none).
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<Json>),
    Obj(BTreeMap<String, Json>),
}

impl Json {
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(m) => m.get(key),
            _ => None,
        }
    }
    pub fn str(&self, key: &str) -> Option<&str> {
        match self.get(key)? {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn arr(&self, key: &str) -> Option<&[Json]> {
        match self.get(key)? {
            Json::Arr(a) => Some(a),
            _ => None,
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn eat(&mut self, c: u8) -> Result<(), String> {
        self.ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected '{}' at {}", c as char, self.i))
        }
    }
    fn value(&mut self) -> Result<Json, String> {
        self.ws();
        match self.s.get(self.i).copied() {
            Some(b'{') => {
                self.i += 1;
                let mut m = BTreeMap::new();
                self.ws();
                if self.s.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(Json::Obj(m));
                }
                loop {
                    self.ws();
                    let k = self.string()?;
                    self.eat(b':')?;
                    let v = self.value()?;
                    m.insert(k, v);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Json::Obj(m));
                        }
                        _ => return Err(format!("bad object at {}", self.i)),
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut a = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(Json::Arr(a));
                }
                loop {
                    a.push(self.value()?);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Json::Arr(a));
                        }
                        _ => return Err(format!("bad array at {}", self.i)),
                    }
                }
            }
            Some(b'"') => Ok(Json::Str(self.string()?)),
            Some(b't') if self.s[self.i..].starts_with(b"true") => {
                self.i += 4;
                Ok(Json::Bool(true))
            }
            Some(b'f') if self.s[self.i..].starts_with(b"false") => {
                self.i += 5;
                Ok(Json::Bool(false))
            }
            Some(b'n') if self.s[self.i..].starts_with(b"null") => {
                self.i += 4;
                Ok(Json::Null)
            }
            Some(c) if c == b'-' || c.is_ascii_digit() => {
                let start = self.i;
                while self.i < self.s.len() && b"+-.eE0123456789".contains(&self.s[self.i]) {
                    self.i += 1;
                }
                Ok(Json::Num(String::from_utf8_lossy(&self.s[start..self.i]).into()))
            }
            _ => Err(format!("unexpected input at {}", self.i)),
        }
    }
    fn string(&mut self) -> Result<String, String> {
        if self.s.get(self.i) != Some(&b'"') {
            return Err(format!("expected string at {}", self.i));
        }
        self.i += 1;
        let mut out = String::new();
        loop {
            let c = *self.s.get(self.i).ok_or("unterminated string")?;
            self.i += 1;
            match c {
                b'"' => return Ok(out),
                b'\\' => {
                    let e = *self.s.get(self.i).ok_or("bad escape")?;
                    self.i += 1;
                    match e {
                        b'n' => out.push('\n'),
                        b't' => out.push('\t'),
                        b'r' => out.push('\r'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'u' => {
                            let h = std::str::from_utf8(&self.s[self.i..self.i + 4]).map_err(|e| e.to_string())?;
                            let cp = u32::from_str_radix(h, 16).map_err(|e| e.to_string())?;
                            out.push(char::from_u32(cp).unwrap_or('\u{fffd}'));
                            self.i += 4;
                        }
                        other => out.push(other as char),
                    }
                }
                _ => {
                    // copy a UTF-8 run verbatim
                    let start = self.i - 1;
                    while self.i < self.s.len() && self.s[self.i] != b'"' && self.s[self.i] != b'\\' {
                        self.i += 1;
                    }
                    out.push_str(std::str::from_utf8(&self.s[start..self.i]).map_err(|e| e.to_string())?);
                }
            }
        }
    }
}

pub fn parse_json(line: &str) -> Result<Json, String> {
    let mut p = Parser { s: line.as_bytes(), i: 0 };
    let v = p.value()?;
    p.ws();
    if p.i != line.len() {
        return Err(format!("trailing input at {}", p.i));
    }
    Ok(v)
}

pub fn hex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit")).collect()
}

/// The vectors' fill function: byte i = (i * 31 + seed * 7 + 3) & 0xff.
pub fn pattern(n: usize, seed: usize) -> Vec<u8> {
    (0..n).map(|i| ((i * 31 + seed * 7 + 3) & 0xff) as u8).collect()
}

/// The distcache vector file, one parsed JSON object per line.
pub fn distcache_vectors() -> Vec<Json> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/distcache-vectors.jsonl");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let v: Vec<Json> =
        text.lines().filter(|l| !l.trim().is_empty()).map(|l| parse_json(l).expect("valid JSON line")).collect();
    assert_eq!(v.len(), 13, "expected 13 distcache vector lines");
    v
}

/// Deterministic pseudo-random numbers for split tests.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self, below: usize) -> usize {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % below.max(1)
    }
}

#[test]
fn json_reader() {
    let v = parse_json(r#"{"a": "x\"y", "b": [1, true, null, {"c": "\u0041"}], "d": -2.5e3}"#).unwrap();
    assert_eq!(v.str("a"), Some("x\"y"));
    assert_eq!(v.arr("b").unwrap()[3].str("c"), Some("A"));
    assert_eq!(v.get("d"), Some(&Json::Num("-2.5e3".into())));
    assert!(parse_json("{\"a\": }").is_err());
    assert!(parse_json("{} x").is_err());
    assert_eq!(pattern(8, 9), hex("4261809fbeddfc1b"));
}

/// The inputs behind each recorded case (vectors/README.md, 1.3).
pub struct Case {
    pub name: &'static str,
    /// DC_CMD value: 1 ADD, 2 GET, 3 REMOVE, 4 HAVE.
    pub cmd: i32,
    pub uid: u32,
    pub id: Vec<u8>,
    pub data: Vec<u8>,
    pub timeout: u32,
    /// Expected response payload.
    pub reply: Vec<u8>,
}

pub fn cases() -> Vec<Case> {
    let id1 = pattern(16, 1);
    let id2 = pattern(64, 2);
    let c = |name, cmd, uid, id: &Vec<u8>, data: Vec<u8>, timeout, reply: Vec<u8>| Case {
        name,
        cmd,
        uid,
        id: id.clone(),
        data,
        timeout,
        reply,
    };
    vec![
        c("add_small", 1, 1, &id1, pattern(100, 4), 60000, vec![0]),
        c("add_dup", 1, 2, &id1, pattern(100, 4), 60000, vec![0x65]),
        c("get_small", 2, 3, &id1, vec![], 0, pattern(100, 4)),
        c("have_hit", 4, 4, &id1, vec![], 0, vec![0]),
        c("add_big", 1, 5, &id2, pattern(5000, 3), 3600000, vec![0]),
        c("get_big", 2, 6, &id2, vec![], 0, pattern(5000, 3)),
        c("remove_hit", 3, 7, &id1, vec![], 0, vec![0]),
        c("remove_miss", 3, 8, &id1, vec![], 0, vec![1]),
        c("get_miss", 2, 9, &id1, vec![], 0, vec![1]),
        c("have_miss", 4, 10, &id1, vec![], 0, vec![1]),
        c("add_max", 1, 11, &vec![0x42], pattern(32759, 5), 1000, vec![0]),
        c("get_max", 2, 12, &vec![0x42], vec![], 0, pattern(32759, 5)),
    ]
}

/// The four operations of `persistent_sequence`.
pub fn persistent_cases() -> Vec<Case> {
    let id = pattern(8, 9);
    let data = pattern(300, 10);
    vec![
        Case { name: "p_add", cmd: 1, uid: 1, id: id.clone(), data: data.clone(), timeout: 1000, reply: vec![0] },
        Case { name: "p_get", cmd: 2, uid: 2, id: id.clone(), data: vec![], timeout: 0, reply: data },
        Case { name: "p_have", cmd: 4, uid: 3, id: id.clone(), data: vec![], timeout: 0, reply: vec![0] },
        Case { name: "p_remove", cmd: 3, uid: 4, id, data: vec![], timeout: 0, reply: vec![0] },
    ]
}

impl Case {
    /// The request payload the case's inputs encode to.
    pub fn request_payload(&self) -> Vec<u8> {
        if self.cmd == 1 {
            let mut p = self.timeout.to_be_bytes().to_vec();
            p.extend((self.id.len() as u32).to_be_bytes());
            p.extend(&self.id);
            p.extend(&self.data);
            p
        } else {
            self.id.clone()
        }
    }
}

/// (request bytes, response bytes) of every exchange, cases 1..12 then the
/// persistent sequence's four, each paired with its inputs.
pub fn recorded() -> Vec<(Case, Vec<u8>, Vec<u8>)> {
    let v = distcache_vectors();
    let mut out = Vec::new();
    for (line, case) in v.iter().take(12).zip(cases()) {
        assert_eq!(line.str("case"), Some(case.name));
        out.push((case, hex(line.str("request").unwrap()), hex(line.str("response").unwrap())));
    }
    let seq = &v[12];
    assert_eq!(seq.str("case"), Some("persistent_sequence"));
    let ex = seq.arr("exchanges").unwrap();
    assert_eq!(ex.len(), 8);
    for (pair, case) in ex.chunks(2).zip(persistent_cases()) {
        assert_eq!(pair[0].str("dir"), Some("c2s"));
        assert_eq!(pair[1].str("dir"), Some("s2c"));
        out.push((case, hex(pair[0].str("hex").unwrap()), hex(pair[1].str("hex").unwrap())));
    }
    out
}

pub mod replay;
