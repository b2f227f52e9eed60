//! The committed header must be exactly what cbindgen generates from the source, and
//! must compile cleanly as C99 and as C++11.

use std::path::Path;
use std::process::Command;

#[test]
fn committed_header_matches_generated() {
    let generated = std::fs::read_to_string(concat!(env!("OUT_DIR"), "/connman.h")).unwrap();
    let committed =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("include/connman.h"))
            .unwrap();
    assert!(
        generated == committed,
        "include/connman.h is stale: run `CONNMAN_WRITE_HEADER=1 cargo build` and commit it"
    );
}

#[test]
fn header_compiles_as_c99_and_cpp11() {
    let dir = std::env::temp_dir().join(format!("connman-header-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let include = Path::new(env!("CARGO_MANIFEST_DIR")).join("include");
    let src = "#include \"connman.h\"\nint main(void) { connman_options o = connman_options_default(); (void)o; return 0; }\n";
    for (compiler, std, file) in [("cc", "-std=c99", "h.c"), ("c++", "-std=c++11", "h.cpp")] {
        let path = dir.join(file);
        std::fs::write(&path, src).unwrap();
        let out = Command::new(compiler)
            .args([
                std,
                "-Wall",
                "-Wextra",
                "-pedantic",
                "-Werror",
                "-fsyntax-only",
                "-I",
            ])
            .arg(&include)
            .arg(&path)
            .output()
            .expect("a C and a C++ compiler are installed");
        assert!(
            out.status.success(),
            "{compiler} {std}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
