//! The committed `include/osprey.h` matches what cbindgen generates from
//! the sources. Regenerate with `OSPREY_BLESS=1 cargo test -p osprey-ffi
//! --test header`.

use std::path::Path;

#[test]
fn committed_header_is_up_to_date() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config =
        cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml parses");
    let bindings = cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header");
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    let generated = String::from_utf8(generated).expect("header is UTF-8");

    let path = crate_dir.join("include/osprey.h");
    if std::env::var_os("OSPREY_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != generated {
        let line = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || committed.lines().count().min(generated.lines().count()) + 1,
                |i| i + 1,
            );
        panic!(
            "{} is stale (first difference at line {line}).\n\
             Regenerate it with: OSPREY_BLESS=1 cargo test -p osprey-ffi --test header",
            path.display()
        );
    }
}

#[test]
fn header_has_guards_includes_and_docs() {
    let header = include_str!("../include/osprey.h");
    for needle in [
        "#ifndef OSPREY_H",
        "#define OSPREY_H",
        "#include <stdint.h>",
        "#include <stdbool.h>",
        "#ifdef __cplusplus",
        "extern \"C\" {",
        "OSPREY_OK = 0,",
        "enum osprey_result osprey_init(const char *config);",
        "const char *osprey_result_text(int result);",
        "#define OSPREY_TRACEPARENT_LEN 56",
        // Doc comments flow into the header.
        "Stops Osprey: recording stops",
    ] {
        assert!(header.contains(needle), "osprey.h lacks {needle:?}");
    }
}
