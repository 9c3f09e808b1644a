//! Project automation: `cargo xtask ci` (everything CI checks: format, lints, layering, tests) and
//! `cargo xtask tidy` (the layering and file-doc rules of ARCHITECTURE.md, checked from `cargo metadata`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

fn main() -> anyhow::Result<()> {
    let task = std::env::args().nth(1).unwrap_or_default();
    match task.as_str() {
        "ci" => ci(),
        "tidy" => tidy(),
        _ => {
            eprintln!("usage: cargo xtask <ci|tidy>");
            std::process::exit(2);
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn run(program: &str, args: &[&str]) -> anyhow::Result<()> {
    eprintln!("$ {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .current_dir(root())
        .status()
        .with_context(|| format!("starting {program}"))?;
    if !status.success() {
        bail!("`{program} {}` failed with {status}", args.join(" "));
    }
    Ok(())
}

fn ci() -> anyhow::Result<()> {
    run("cargo", &["fmt", "--all", "--check"])?;
    tidy()?;
    run(
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    // Every criterion benchmark once, in test mode, so the hot-path benches cannot rot (~30 s once built).
    run(
        "cargo",
        &[
            "test",
            "-p",
            "strom-storage",
            "-p",
            "strom-protocol",
            "--benches",
        ],
    )?;
    test_with_summary()
}

/// Runs the whole test suite, echoing its output, and ends with one plain `N passed, N failed` line summed over
/// every test binary (cargo's own last line is the empty doc-test run of the last crate).
fn test_with_summary() -> anyhow::Result<()> {
    use std::io::{BufRead, BufReader};
    let args = ["test", "--workspace", "--no-fail-fast"];
    eprintln!("$ cargo {}", args.join(" "));
    let mut child = Command::new("cargo")
        .args(args)
        .current_dir(root())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("starting cargo test")?;
    let (mut passed, mut failed, mut ignored) = (0u64, 0u64, 0u64);
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            let line = line?;
            println!("{line}");
            if let Some(rest) = line.strip_prefix("test result: ") {
                for part in rest.split(';') {
                    let mut words = part.split_whitespace().rev();
                    let (Some(kind), Some(n)) = (words.next(), words.next()) else {
                        continue;
                    };
                    let n: u64 = n.parse().unwrap_or(0);
                    match kind {
                        "passed" => passed += n,
                        "failed" => failed += n,
                        "ignored" => ignored += n,
                        _ => {}
                    }
                }
            }
        }
    }
    let status = child.wait()?;
    println!("{passed} passed, {failed} failed, {ignored} skipped");
    if !status.success() || failed > 0 {
        bail!("tests failed");
    }
    Ok(())
}

/// Which workspace crates each crate may depend on (DESIGN.md's dependency direction).
const ALLOWED: &[(&str, &[&str])] = &[
    ("strom-protocol", &[]),
    ("strom-storage", &[]),
    ("strom-metadata", &["strom-protocol"]),
    ("strom-client", &["strom-protocol"]),
    ("strom-group", &["strom-protocol"]),
    (
        "strom-broker",
        &[
            "strom-protocol",
            "strom-storage",
            "strom-metadata",
            "strom-group",
            "strom-client",
        ],
    ),
    ("strom-test-support", &["strom-client"]),
    (
        "strom",
        &[
            "strom-broker",
            "strom-client",
            "strom-protocol",
            "strom-storage",
            "strom-test-support",
        ],
    ),
    ("xtask", &[]),
];

/// Crates that must not do I/O or async: no tokio in their normal dependencies.
const NO_TOKIO: &[&str] = &["strom-protocol", "strom-storage"];

fn tidy() -> anyhow::Result<()> {
    let out = Command::new("cargo")
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(root())
        .output()
        .context("running cargo metadata")?;
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let mut problems = Vec::new();
    for package in meta["packages"].as_array().into_iter().flatten() {
        let name = package["name"].as_str().unwrap_or_default();
        let Some((_, allowed)) = ALLOWED.iter().find(|(n, _)| *n == name) else {
            problems.push(format!("{name}: not in xtask's layering table"));
            continue;
        };
        for dep in package["dependencies"].as_array().into_iter().flatten() {
            let dep_name = dep["name"].as_str().unwrap_or_default();
            let normal = dep["kind"].is_null();
            if dep_name.starts_with("strom") && !allowed.contains(&dep_name) {
                problems.push(format!("{name} must not depend on {dep_name}"));
            }
            if normal && dep_name == "tokio" && NO_TOKIO.contains(&name) {
                problems.push(format!("{name} must not depend on tokio (no I/O layer)"));
            }
        }
    }
    // Every source file opens with a `//!` saying what it owns.
    let mut stack = vec![root().join("crates"), root().join("xtask")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path)?;
                let first = text
                    .lines()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or_default();
                if !first.starts_with("//!") {
                    problems.push(format!(
                        "{}: must start with a `//!` file doc",
                        path.display()
                    ));
                }
            }
        }
    }
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("tidy: {p}");
        }
        bail!("{} tidy problem(s)", problems.len());
    }
    eprintln!("tidy: ok");
    Ok(())
}
