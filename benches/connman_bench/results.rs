//! The targets of issues 16 and 12 (printed with met / missed at the end of a
//! run) and the results as JSON (`docs/bench/results.json` for a full run), from
//! which `tools/plot_bench.py` draws the picture.

use crate::report::Table;
use std::fmt::Write as _;

/// Every target the benchmark decides: (key, what). A row of the table decides a
/// target when it carries its key; a target with several rows is met when all are.
pub(crate) const TARGETS: &[(&str, &str)] = &[
    ("16.1", "receive throughput ≥ 0.97x raw, fixed placement"),
    (
        "16.2",
        "echo RTT and conn.send RTT ≤ 1.03x raw (own thread)",
    ),
    ("16.2e", "embedded echo RTT ≤ 1.0x raw"),
    (
        "16.3",
        "drop → on_reconnect p50 ≤ 2x the raw handshake, p99 ≤ 3x",
    ),
    (
        "16.4a",
        "restart storm 10,000: all back ≤ 250 ms after listen, 0 ListenOverflows",
    ),
    (
        "16.4b",
        "restart storm 19,000: all back ≤ 500 ms, 0 ListenOverflows",
    ),
    ("16.5", "≤ 768 B RSS per idle connection at 10,000"),
    (
        "16.6",
        "open 10,000 ≤ 1.2x a raw client with the same socket options",
    ),
    ("12.1", "echo: embedded the fastest mode (≤ own thread)"),
    ("12.2", "drop → on_reconnect: embedded ≤ own thread"),
    (
        "12.3",
        "1,000 connections with work per message: 2 threads ≥ 1.7x 1 thread",
    ),
];

/// met / missed / not run for each target, from the rows that carry its key.
pub(crate) fn verdicts(t: &Table) -> Vec<(&'static str, &'static str, Option<bool>)> {
    TARGETS
        .iter()
        .map(|&(k, what)| {
            let rows: Vec<_> = t.rows.iter().filter(|r| r.key == Some(k)).collect();
            let met = if rows.is_empty() {
                None
            } else {
                Some(rows.iter().all(|r| r.met == Some(true)))
            };
            (k, what, met)
        })
        .collect()
}

pub(crate) fn print_targets(t: &Table, quick: bool) {
    println!();
    println!(
        "Targets (issues 16 and 12){}:",
        if quick {
            " -- quick mode: counts too small to judge"
        } else {
            ""
        }
    );
    for (k, what, met) in verdicts(t) {
        let v = match met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "not run",
        };
        println!("  {k:<6} {v:<8} {what}");
    }
}

/// A JSON string literal.
fn js(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// A JSON number (null for NaN and infinities).
fn jn(x: f64) -> String {
    if !x.is_finite() {
        "null".into()
    } else if x == x.trunc() && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x:.6}")
    }
}

fn jb(m: Option<bool>) -> &'static str {
    match m {
        Some(true) => "true",
        Some(false) => "false",
        None => "null",
    }
}

/// The whole run as JSON: `meta` (string pairs), the rows, the targets, the notes
/// and the sample series.
pub(crate) fn to_json(t: &Table, meta: &[(&str, String)]) -> String {
    let mut o = String::from("{\n  \"meta\": {");
    let m: Vec<String> = meta
        .iter()
        .map(|(k, v)| format!("\n    {}: {}", js(k), js(v)))
        .collect();
    o.push_str(&m.join(","));
    o.push_str("\n  },\n  \"targets\": [");
    let tg: Vec<String> = verdicts(t)
        .iter()
        .map(|(k, what, met)| {
            format!(
                "\n    {{\"key\": {}, \"target\": {}, \"met\": {}}}",
                js(k),
                js(what),
                jb(*met)
            )
        })
        .collect();
    o.push_str(&tg.join(","));
    o.push_str("\n  ],\n  \"rows\": [");
    let rows: Vec<String> = t
        .rows
        .iter()
        .map(|r| {
            let vals: Vec<String> = r.values.iter().map(|(k, v)| format!("{}: {}", js(k), jn(*v))).collect();
            format!(
                "\n    {{\"metric\": {}, \"key\": {}, \"connman\": {}, \"baseline\": {}, \"ratio\": {}, \"target\": {}, \"met\": {}, \"values\": {{{}}}}}",
                js(&r.metric),
                r.key.map_or("null".into(), js),
                js(&r.connman),
                js(&r.baseline),
                js(&r.ratio),
                js(&r.target),
                jb(r.met),
                vals.join(", ")
            )
        })
        .collect();
    o.push_str(&rows.join(","));
    o.push_str("\n  ],\n  \"notes\": [");
    let notes: Vec<String> = t.notes.iter().map(|n| format!("\n    {}", js(n))).collect();
    o.push_str(&notes.join(","));
    o.push_str("\n  ],\n  \"series\": {");
    let ser: Vec<String> = t
        .series
        .iter()
        .map(|(k, v)| {
            let xs: Vec<String> = v.iter().map(|&x| jn(x)).collect();
            format!("\n    {}: [{}]", js(k), xs.join(", "))
        })
        .collect();
    o.push_str(&ser.join(","));
    o.push_str("\n  }\n}\n");
    o
}

/// Output of a command, trimmed ("?" when it fails).
pub(crate) fn command_out(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "?".into())
}
