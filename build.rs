//! Generates the installed C headers under include/ with cbindgen.
//!
//! Each header has a template in src/capi/headers/ holding what a compiler
//! and existing code look at verbatim (include guards, macros with their
//! casts, opaque typedefs, structs whose tags C code names); cbindgen turns
//! the exported functions of the matching src/capi/ modules into the
//! prototypes that replace the @PROTOTYPES@ marker.

use std::fs;
use std::path::{Path, PathBuf};

struct Header {
    template: &'static str,
    output: &'static str,
    /// Source files (relative to src/capi/) whose exports go in this header.
    sources: &'static [&'static str],
    /// Functions declared by hand in the template.
    hand_written: &'static [&'static str],
}

const HEADERS: &[Header] = &[
    Header {
        template: "nal.h.in",
        output: "libnal/nal.h",
        sources: &[
            "nal_global.rs",
            "nal_address.rs",
            "nal_listener.rs",
            "nal_connection.rs",
            "nal_selector.rs",
            "nal_buffer.rs",
            "nal_codec.rs",
        ],
        hand_written: &["NAL_CONNECTION_io"],
    },
    Header { template: "nal_devel.h.in", output: "libnal/nal_devel.h", sources: &["nal_devel.rs"], hand_written: &[] },
    Header { template: "dc_client.h.in", output: "distcache/dc_client.h", sources: &["dc_ctx.rs"], hand_written: &[] },
    Header { template: "dc_plug.h.in", output: "distcache/dc_plug.h", sources: &["dc_plug.rs"], hand_written: &[] },
    Header {
        template: "dc_server.h.in",
        output: "distcache/dc_server.h",
        sources: &["dc_server.rs"],
        hand_written: &[],
    },
    Header { template: "escrow.h.in", output: "escrow.h", sources: &["escrow.rs"], hand_written: &[] },
];

/// Headers with no prototypes (older include paths that forward).
const PLAIN: &[(&str, &str)] = &[
    ("common.h.in", "libnal/common.h"),
    ("old_dc_client.h.in", "libdistcache/dc_client.h"),
    ("old_dc_enc.h.in", "libdistcache/dc_enc.h"),
    ("old_dc_server.h.in", "libdistcacheserver/dc_server.h"),
];

fn prototypes(capi: &Path, header: &Header) -> String {
    let sources: Vec<PathBuf> = header.sources.iter().map(|s| capi.join(s)).filter(|p| p.exists()).collect();
    if sources.is_empty() {
        return String::new();
    }
    let mut config = cbindgen::Config {
        language: cbindgen::Language::C,
        style: cbindgen::Style::Type,
        no_includes: true,
        documentation: true,
        documentation_style: cbindgen::DocumentationStyle::Doxy,
        sort_by: cbindgen::SortKey::None,
        ..Default::default()
    };
    config.export.item_types = vec![cbindgen::ItemType::Functions];
    config.export.exclude = header.hand_written.iter().map(|s| s.to_string()).collect();
    for (from, to) in [("timeval", "struct timeval"), ("escrow", "struct escrow")] {
        config.export.rename.insert(from.into(), to.into());
    }
    let mut builder = cbindgen::Builder::new().with_config(config);
    for s in &sources {
        builder = builder.with_src(s);
    }
    let bindings = builder.generate().expect("cbindgen failed");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("utf8").trim().to_string()
}

fn write_if_changed(path: &Path, contents: &str) {
    if fs::read_to_string(path).ok().as_deref() == Some(contents) {
        return;
    }
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, contents).unwrap();
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let capi = root.join("src/capi");
    let templates = capi.join("headers");
    let include = root.join("include");
    println!("cargo:rerun-if-changed=src/capi");
    for h in HEADERS {
        let template = fs::read_to_string(templates.join(h.template)).expect(h.template);
        let text = template.replace("@PROTOTYPES@", &prototypes(&capi, h));
        write_if_changed(&include.join(h.output), &text);
    }
    for (template, output) in PLAIN {
        let text = fs::read_to_string(templates.join(template)).expect(template);
        write_if_changed(&include.join(output), &text);
    }
    // SONAME of the core library (the filter libraries point at it).
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libdistcache_core.so.1");
}
