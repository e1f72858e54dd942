//! Generates include/omendb.h from src/ffi with cbindgen, rewriting the file only when its
//! bytes change (so an unchanged header never triggers rebuilds of C code), and gives the
//! shared library its SONAME.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    let version = std::env::var("CARGO_PKG_VERSION").unwrap();
    let major = version.split('.').next().unwrap_or("0").to_string();

    // ELF platforms: the shared library is `libomendb.so.MAJOR` to the loader, so a program
    // linked against this major version is never run against another (`make install` names
    // the file libomendb.so.MAJOR.MINOR.PATCH, with the two usual links to it).
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if matches!(os.as_str(), "linux" | "freebsd" | "netbsd" | "openbsd" | "dragonfly" | "android") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libomendb.so.{major}");
    }

    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let mut parts = version.split('.').map(|p| p.split('-').next().unwrap_or("0").to_string());
    let (major, minor, patch) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());

    let mut config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("read cbindgen.toml");
    config.after_includes = Some(format!(
        "\n/** The version of this header: \"MAJOR.MINOR.PATCH\" (compare with omendb_version()). */\n\
         #define OMENDB_VERSION \"{version}\"\n\
         /** Major version: changes on incompatible API changes. */\n#define OMENDB_VERSION_MAJOR {major}\n\
         /** Minor version: new functions, compatible. */\n#define OMENDB_VERSION_MINOR {minor}\n\
         /** Patch version. */\n#define OMENDB_VERSION_PATCH {patch}\n\n\
         /**\n * The `ef` of an exact search (SIZE_MAX; `omendb_index_search` and every other search\n \
         * function take it): every record, among those matching the filter if there is one, is\n \
         * scored at full precision with the SIMD kernels, no graph involved: recall 1 by\n \
         * construction, for a cost that grows with the number of records.\n */\n\
         #define OMENDB_EF_EXACT SIZE_MAX\n"
    ));
    // Only the ffi module (mod.rs and the files it declares) is parsed, so nothing but the
    // C API reaches the header.
    let builder = cbindgen::Builder::new().with_config(config).with_src(root.join("src/ffi/mod.rs"));
    let generated = match builder.generate() {
        Ok(g) => g,
        Err(e) => {
            // A half-edited source tree should not stop `cargo check`; the compile error
            // itself will say what is wrong.
            println!("cargo:warning=cbindgen could not generate include/omendb.h: {e}");
            return;
        }
    };
    let mut bytes = Vec::new();
    generated.write(&mut bytes);
    let path = root.join("include/omendb.h");
    if std::fs::read(&path).ok().as_deref() != Some(&bytes[..]) {
        std::fs::create_dir_all(root.join("include")).unwrap();
        std::fs::write(&path, &bytes).expect("write include/omendb.h");
    }
}
