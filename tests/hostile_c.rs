//! The hostile C stress program (tests/hostile_c/v2_stress.c: embedded mode, then
//! four threads, then embedded again, with calls from many threads), run plain,
//! under valgrind and with AddressSanitizer by tests/hostile_c/run.sh.

use std::path::Path;
use std::process::Command;

#[test]
fn the_c_stress_program_is_clean_plain_under_valgrind_and_asan() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("sh")
        .arg(root.join("tests/hostile_c/run.sh"))
        .env(
            "OUT",
            std::env::temp_dir().join(format!("connman-hostile-c-{}", std::process::id())),
        )
        .output()
        .expect("sh runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("all ok"),
        "tests/hostile_c/run.sh: {:?}\n{text}",
        out.status
    );
}
