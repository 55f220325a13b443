//! Links the fuzz binaries against libFuzzer's runtime (which supplies
//! `main` and calls `LLVMFuzzerTestOneInput`). tools/fuzz.sh finds the
//! archive and passes it in `LIBFUZZER_LIB`.

fn main() {
    println!("cargo:rerun-if-env-changed=LIBFUZZER_LIB");
    match std::env::var("LIBFUZZER_LIB") {
        Ok(lib) if !lib.is_empty() => {
            println!("cargo:rustc-link-arg-bins={lib}");
            println!("cargo:rustc-link-arg-bins=-lstdc++");
        }
        _ => println!("cargo:warning=LIBFUZZER_LIB is not set: build through tools/fuzz.sh"),
    }
}
