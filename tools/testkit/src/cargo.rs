//! Building a workspace binary from inside a test or benchmark.
//!
//! Cargo gives a test `CARGO_BIN_EXE_<name>` only for binaries of its own package;
//! flaky-echo is a package of its own (so that installing the library installs no
//! binary), so the tests build it themselves, once per process, with the cargo
//! that runs them and the same profile. When it is fresh this is a no-op of a
//! fraction of a second.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (the library's directory).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.join("../..")
        .canonicalize()
        .unwrap_or_else(|_| here.join("../.."))
}

/// The cargo that runs us (`$CARGO`), else `cargo` from the PATH.
pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// The cargo profile arguments matching the running executable: `--release` when
/// it lives in `target/release/...`, nothing for `target/debug/...`.
fn profile_args() -> Vec<String> {
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/deps/NAME-HASH or target/<profile>/examples/NAME
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .and_then(Path::file_name)
        .and_then(|n| n.to_str())
        .unwrap_or("debug");
    match dir {
        "release" => vec!["--release".into()],
        "debug" => vec![],
        other
            if exe
                .parent()
                .and_then(Path::file_name)
                .is_some_and(|d| d == "deps") =>
        {
            vec!["--profile".into(), other.into()]
        }
        _ => vec![],
    }
}

/// Runs `cargo build <args>` in the workspace, with the caller's profile, and
/// returns the path of the executable it produced for target `name`. Cargo's
/// output is shown only if the build fails (in the error).
pub fn build(args: &[&str], name: &str) -> Result<PathBuf, String> {
    let line = build_artifact(args, name)?;
    json_string_after(&line, "\"executable\":\"")
        .map(PathBuf::from)
        .ok_or_else(|| format!("cargo build {args:?} made no executable named {name}"))
}

/// Like [`build`], for a library: the file of target `name` whose name ends with
/// `suffix` (e.g. ".so" for the cdylib).
pub fn build_lib(args: &[&str], name: &str, suffix: &str) -> Result<PathBuf, String> {
    let line = build_artifact(args, name)?;
    // "filenames":["/a/libx.so","/a/libx.a"] (paths with a quote or comma are not expected)
    let key = "\"filenames\":[";
    let list = line.find(key).map(|i| &line[i + key.len()..]).unwrap_or("");
    let list = &list[..list.find(']').unwrap_or(0)];
    list.split(',')
        .map(|f| f.trim_matches('"'))
        .find(|f| f.ends_with(suffix))
        .map(PathBuf::from)
        .ok_or_else(|| format!("cargo build {args:?} made no {suffix} for {name}"))
}

/// Runs the build; returns cargo's `compiler-artifact` JSON line for target `name`.
fn build_artifact(args: &[&str], name: &str) -> Result<String, String> {
    let mut cmd = Command::new(cargo());
    cmd.current_dir(workspace_root())
        .arg("build")
        .arg("--message-format=json-render-diagnostics")
        .args(profile_args())
        .args(args)
        // A make above us must not hand its jobserver to this cargo.
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS");
    let shown = format!("{cmd:?}");
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{shown} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("\"reason\":\"compiler-artifact\""))
        .find(|l| l.contains(&format!("\"name\":\"{name}\"")))
        .map(str::to_owned)
        .ok_or_else(|| format!("{shown} reported nothing built for {name}"))
}

/// The JSON string value that starts right after `key` (which ends with its
/// opening quote), unescaped.
fn json_string_after(line: &str, key: &str) -> Option<String> {
    let rest = &line[line.find(key)? + key.len()..];
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => out.push(chars.next()?),
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::json_string_after;

    #[test]
    fn finds_a_string_of_a_cargo_artifact_line() {
        let line = r#"{"reason":"compiler-artifact","target":{"name":"x"},"executable":"/a/b \"c\"/x","fresh":true}"#;
        assert_eq!(
            json_string_after(line, "\"executable\":\"").as_deref(),
            Some("/a/b \"c\"/x")
        );
        assert_eq!(
            json_string_after(r#"{"executable":null}"#, "\"executable\":\""),
            None
        );
    }
}
