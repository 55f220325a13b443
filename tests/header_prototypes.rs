//! Binds the generated C headers back into Rust with bindgen and checks that
//! every declared function has exactly the signature of the function the
//! library exports (as written in src/capi/), and that nothing is exported
//! without a declaration or declared without an export.

use std::collections::BTreeMap;
use std::fs;

const HEADERS: &[&str] = &[
    "libnal/nal.h",
    "libnal/nal_devel.h",
    "distcache/dc_client.h",
    "distcache/dc_plug.h",
    "distcache/dc_server.h",
    "escrow.h",
];

/// The one function whose C prototype is chosen by a macro (see nal.h): it
/// is exported with the two-argument form, and the default header declares
/// the one-argument form.
const DUAL_FORM: &str = "NAL_CONNECTION_io";

type Signatures = BTreeMap<String, String>;

/// Collapses a Rust type to a canonical spelling.
fn canonical_type(t: &str) -> String {
    let mut t: String = t.split_whitespace().collect::<Vec<_>>().join(" ");
    for prefix in ["::std::os::raw::", "std::os::raw::", "::core::ffi::", "core::ffi::", "libc::"] {
        t = t.replace(prefix, "");
    }
    for (from, to) in [
        ("uint32_t", "u32"),
        ("int32_t", "i32"),
        ("int16_t", "i16"),
        ("st_", ""),
        ("* mut", "*mut"),
        ("* const", "*const"),
    ] {
        t = t.replace(from, to);
    }
    t.trim().to_string()
}

/// Splits "a: T, b: U" at top-level commas and keeps the types.
fn arg_types(args: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0, 0);
    let bytes = args.as_bytes();
    for i in 0..=bytes.len() {
        let c = if i == bytes.len() { b',' } else { bytes[i] };
        match c {
            b'(' | b'<' | b'[' => depth += 1,
            b')' | b'>' | b']' => depth -= 1,
            b',' if depth == 0 => {
                let part = args[start..i].trim();
                if !part.is_empty() {
                    let ty = part.split_once(':').map_or(part, |(_, t)| t);
                    out.push(canonical_type(ty));
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    out
}

/// Finds `fn NAME(args) -> ret` after each occurrence of `marker`.
fn signatures(text: &str, marker: &str, end: char) -> Signatures {
    let mut sigs = Signatures::new();
    let mut rest = text;
    while let Some(i) = rest.find(marker) {
        rest = &rest[i + marker.len()..];
        let Some(open) = rest.find('(') else { break };
        let name = rest[..open].trim().to_string();
        let mut depth = 0;
        let mut close = open;
        for (j, c) in rest[open..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        close = open + j;
                        break;
                    }
                }
                _ => {}
            }
        }
        let args = arg_types(&rest[open + 1..close]);
        let tail = &rest[close + 1..];
        let stop = tail.find(end).unwrap_or(tail.len());
        let ret = tail[..stop].trim().strip_prefix("->").map_or("()".to_string(), canonical_type);
        sigs.insert(name, format!("({}) -> {}", args.join(", "), ret));
        rest = &rest[close..];
    }
    sigs
}

fn exported() -> Signatures {
    let mut all = Signatures::new();
    for entry in fs::read_dir("src/capi").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            all.extend(signatures(&fs::read_to_string(&path).unwrap(), "extern \"C\" fn ", '{'));
        }
    }
    // Callbacks defined for C (extern "C" fn items that are not exported)
    // are private: keep only what the core library exports.
    all.retain(|name, _| !name.starts_with('_') && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic()));
    all
}

fn declared(seed_api: bool) -> Signatures {
    let mut contents = String::new();
    if seed_api {
        contents.push_str("#define NAL_SEED_API\n");
    }
    for h in HEADERS {
        contents.push_str(&format!("#include <{h}>\n"));
    }
    let bindings = bindgen::Builder::default()
        .header_contents("all_headers.h", &contents)
        .clang_arg("-Iinclude")
        .allowlist_function("(NAL|nal|DC|escrow|sel)_.*|escrowd.*")
        .layout_tests(false)
        .generate()
        .expect("bindgen could not parse the generated headers")
        .to_string();
    signatures(&bindings, "pub fn ", ';')
}

#[test]
fn every_declared_prototype_matches_its_export() {
    let exported = exported();
    let declared = declared(false);
    let mut problems = Vec::new();
    for (name, sig) in &declared {
        match exported.get(name) {
            None => problems.push(format!("declared but not exported: {name}")),
            Some(e)
                if name == DUAL_FORM
                    && (sig != "(*mut NAL_CONNECTION) -> c_int"
                        || e != "(*mut NAL_CONNECTION, *mut NAL_SELECTOR) -> c_int") =>
            {
                problems.push(format!("{name}: header {sig}, export {e}"))
            }
            Some(_) if name == DUAL_FORM => {}
            Some(e) if e != sig => problems.push(format!("{name}: header {sig}, export {e}")),
            _ => {}
        }
    }
    for name in exported.keys() {
        if !declared.contains_key(name) && !name.starts_with("escrowd") {
            problems.push(format!("exported but not declared: {name}"));
        }
    }
    assert!(problems.is_empty(), "{} mismatches:\n{}", problems.len(), problems.join("\n"));
    assert!(declared.len() > 100, "only {} functions found in the headers", declared.len());
}

#[test]
fn older_api_form_of_nal_connection_io_matches_the_export() {
    let seed = declared(true);
    assert_eq!(seed.get(DUAL_FORM).map(String::as_str), Some("(*mut NAL_CONNECTION, *mut NAL_SELECTOR) -> c_int"));
    assert_eq!(exported().get(DUAL_FORM), seed.get(DUAL_FORM));
}
