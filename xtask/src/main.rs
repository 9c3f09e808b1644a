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
    ("strom-txn", &[]),
    (
        "strom-broker",
        &[
            "strom-protocol",
            "strom-storage",
            "strom-metadata",
            "strom-group",
            "strom-txn",
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
const NO_TOKIO: &[&str] = &["strom-protocol", "strom-storage", "strom-txn"];

/// Crates that may use `anyhow` in their normal dependencies: the binary, xtask, and the dev-only test support
/// crate. Library crates name what went wrong with `thiserror` enums (DESIGN.md, "Errors").
const ANYHOW_ALLOWED: &[&str] = &["strom", "xtask", "strom-test-support"];

/// A source file longer than this must be on `LONG_FILES` with its reason (DESIGN.md: split along Kafka's
/// manager lines when a file passes ~800 lines).
const MAX_FILE_LINES: usize = 800;

/// Files allowed past `MAX_FILE_LINES`, each with the reason it is one file. Paths are relative to the workspace
/// root. An entry whose file is gone or back under the limit is itself a tidy problem, so the list stays true.
const LONG_FILES: &[(&str, &str)] = &[];

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
            if normal && dep_name == "anyhow" && !ANYHOW_ALLOWED.contains(&name) {
                problems.push(format!(
                    "{name} must not depend on anyhow (library crates use thiserror enums)"
                ));
            }
        }
    }
    problems.extend(file_rules()?);
    problems.extend(import_circles()?);
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("tidy: {p}");
        }
        bail!("{} tidy problem(s)", problems.len());
    }
    eprintln!("tidy: ok");
    Ok(())
}

/// Every `.rs` file under `crates/` and `xtask/`, as (path relative to the root, text).
fn source_files() -> anyhow::Result<Vec<(String, String)>> {
    let root = root();
    let mut files = Vec::new();
    let mut stack = vec![root.join("crates"), root.join("xtask")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n == "target") {
                    continue;
                }
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path)?;
                let rel = path
                    .strip_prefix(&root)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .into_owned();
                files.push((rel, text));
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Every file opens with a `//!` saying what it owns; none passes `MAX_FILE_LINES` unless `LONG_FILES` says why.
fn file_rules() -> anyhow::Result<Vec<String>> {
    let mut problems = Vec::new();
    let files = source_files()?;
    for (path, text) in &files {
        let first = text
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_default();
        if !first.starts_with("//!") {
            problems.push(format!("{path}: must start with a `//!` file doc"));
        }
        let lines = text.lines().count();
        let allowed = LONG_FILES.iter().any(|(p, _)| p == path);
        if lines > MAX_FILE_LINES && !allowed {
            problems.push(format!(
                "{path}: {lines} lines (over {MAX_FILE_LINES}): split it along the domain's boundaries, \
                 or add it to xtask's LONG_FILES with the reason"
            ));
        }
    }
    for (path, _) in LONG_FILES {
        match files.iter().find(|(p, _)| p == path) {
            None => problems.push(format!("LONG_FILES names {path}, which does not exist")),
            Some((_, text)) if text.lines().count() <= MAX_FILE_LINES => problems.push(format!(
                "LONG_FILES names {path}, which is no longer over {MAX_FILE_LINES} lines: drop the entry"
            )),
            Some(_) => {}
        }
    }
    Ok(problems)
}

/// No two source files of one crate's `src/` refer to each other through `crate::`/`super::` paths (an import
/// circle). A module and the modules inside it are exempt: a module directory that splits one type's `impl`
/// across files (`log/append.rs` using `super::PartitionLog`, `log/mod.rs` declaring `mod append`) is
/// deliberate and says so in its `//!` doc. Only `src/` counts; tests and benches may use anything.
fn import_circles() -> anyhow::Result<Vec<String>> {
    use std::collections::{BTreeMap, BTreeSet};
    let mut problems = Vec::new();
    // crate src dir -> module path (["log", "append"]) -> file's text
    let mut crates: BTreeMap<String, BTreeMap<Vec<String>, String>> = BTreeMap::new();
    for (path, text) in source_files()? {
        let Some((krate, rest)) = path.split_once("/src/") else {
            continue;
        };
        let mut module: Vec<String> = rest
            .trim_end_matches(".rs")
            .split('/')
            .map(str::to_owned)
            .collect();
        if module
            .last()
            .is_some_and(|m| m == "mod" || m == "lib" || m == "main")
        {
            module.pop();
        }
        if module.first().is_some_and(|m| m == "bin") {
            continue;
        }
        crates
            .entry(krate.to_owned())
            .or_default()
            .insert(module, strip_test_modules(&text));
    }
    for (krate, modules) in &crates {
        let mut edges: BTreeSet<(Vec<String>, Vec<String>)> = BTreeSet::new();
        for (from, text) in modules {
            for target in referenced_paths(from, text) {
                // The longest module prefix of the path that is a file of this crate.
                let to = (1..=target.len())
                    .rev()
                    .map(|n| target[..n].to_vec())
                    .find(|m| modules.contains_key(m));
                if let Some(to) = to {
                    let nested = to.starts_with(from) || from.starts_with(&to);
                    if !nested {
                        edges.insert((from.clone(), to));
                    }
                }
            }
        }
        // Files that reach each other through these edges form one circle (a strongly connected component).
        let reach = |start: &Vec<String>| {
            let mut seen: BTreeSet<&Vec<String>> = BTreeSet::new();
            let mut todo = vec![start];
            while let Some(m) = todo.pop() {
                for (a, b) in &edges {
                    if a == m && seen.insert(b) {
                        todo.push(b);
                    }
                }
            }
            seen
        };
        let mut reported: BTreeSet<Vec<String>> = BTreeSet::new();
        for module in modules.keys() {
            if reported.contains(module) {
                continue;
            }
            let from_here = reach(module);
            let circle: Vec<&Vec<String>> = from_here
                .iter()
                .copied()
                .filter(|other| reach(other).contains(module))
                .collect();
            if circle.len() > 1 {
                reported.extend(circle.iter().map(|m| (*m).clone()));
                let names: Vec<String> = circle
                    .iter()
                    .map(|m| format!("`{}`", m.join("::")))
                    .collect();
                problems.push(format!(
                    "{krate}: import circle between {} (move the shared item to the side that owns it, or \
                     below them)",
                    names.join(", ")
                ));
            }
        }
    }
    Ok(problems)
}

/// The text of a file without its `#[cfg(test)]` module (tests may use anything of the crate).
fn strip_test_modules(text: &str) -> String {
    match text.find("#[cfg(test)]\nmod ") {
        Some(at) => text[..at].to_owned(),
        None => text.to_owned(),
    }
}

/// Absolute module paths (`["partition", "leader", "Item"]`) that a file in module `from` names through
/// `crate::…` or `super::…`, including the items of `use crate::a::{b, c::d}` groups.
fn referenced_paths(from: &[String], text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < code.len() {
        let rest = &code[i..];
        let (base, skip): (Vec<String>, usize) = if rest.starts_with("crate::") {
            (Vec::new(), "crate::".len())
        } else if rest.starts_with("super::") {
            let mut base = from.to_vec();
            let mut skip = 0;
            while code[i + skip..].starts_with("super::") {
                base.pop();
                skip += "super::".len();
            }
            (base, skip)
        } else {
            i += rest.chars().next().map_or(1, char::len_utf8);
            continue;
        };
        // An identifier character before `crate::` means this is e.g. `strom_crate::`, not ours.
        let preceded = i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        i += skip;
        if preceded {
            continue;
        }
        let segment_end = code[i..]
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .map_or(code.len(), |n| i + n);
        let mut path = base.clone();
        path.extend(
            code[i..segment_end]
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        );
        if code[segment_end..].starts_with('{') {
            // `use crate::a::{b, c::d}`: each member adds to the prefix (one level of braces is enough here).
            if let Some(close) = code[segment_end..].find('}') {
                for member in code[segment_end + 1..segment_end + close].split(',') {
                    let mut p = path.clone();
                    p.extend(
                        member
                            .trim()
                            .split("::")
                            .map(|s| s.trim().trim_start_matches('{'))
                            .filter(|s| !s.is_empty() && *s != "self")
                            .map(str::to_owned),
                    );
                    out.push(p);
                }
            }
        }
        out.push(path);
        i = segment_end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::referenced_paths;

    fn paths(from: &[&str], text: &str) -> Vec<String> {
        let from: Vec<String> = from.iter().map(|s| (*s).to_owned()).collect();
        let mut out: Vec<String> = referenced_paths(&from, text)
            .into_iter()
            .map(|p| p.join("::"))
            .collect();
        out.sort();
        out
    }

    #[test]
    fn crate_super_and_groups_resolve_to_absolute_paths() {
        let text = "use crate::partition::{leader::Append, Role};\n\
                    // use crate::commented::Out;\n\
                    fn f() { super::sibling::g(); strom_crate::x(); }\n";
        assert_eq!(
            paths(&["log", "append"], text),
            [
                "log::sibling::g",
                "partition",
                "partition::Role",
                "partition::leader::Append"
            ]
        );
    }
}
