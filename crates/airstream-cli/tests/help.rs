//! What `--help`, `--version`, completions and man pages say, and that the README says the
//! same (the exit codes and the environment variables).

// Test helpers may unwrap: a panic is a test failure with a message.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

fn airstream(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_airstream"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md")).unwrap()
}

/// The lines of one `Heading:` section of the long help.
fn section<'a>(help: &'a str, heading: &str) -> Vec<&'a str> {
    help.lines()
        .skip_while(|l| *l != heading)
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect()
}

/// The rows of the README table whose header row starts with `| {first} |`.
fn readme_table(readme: &str, first: &str) -> Vec<(String, String)> {
    readme
        .lines()
        .skip_while(|l| !l.starts_with(&format!("| {first} |")))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split(" | ").map(str::trim).collect();
            (cells[0].trim_matches('`').to_string(), cells[1].to_string())
        })
        .collect()
}

#[test]
fn the_exit_codes_in_help_are_the_readmes() {
    let help = airstream(&["--help"]);
    let from_help: Vec<(String, String)> = section(&help, "Exit codes:")
        .iter()
        .map(|l| {
            let (code, meaning) = l.trim().split_once("  ").unwrap();
            (code.to_string(), meaning.trim().to_string())
        })
        .collect();
    assert!(from_help.len() >= 12, "{help}");
    assert_eq!(readme_table(&readme(), "exit code"), from_help);
}

#[test]
fn every_environment_variable_is_in_help_and_readme() {
    let help = airstream(&["--help"]);
    let in_help: Vec<String> = section(&help, "Environment:")
        .iter()
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    let in_readme: Vec<String> = readme_table(&readme(), "variable")
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(in_help, in_readme);
    // Every variable the sources read is listed.
    let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for entry in std::fs::read_dir(sources).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for (i, _) in text.match_indices("env = \"") {
            let name = text[i + 7..].split('"').next().unwrap();
            assert!(
                in_help.iter().any(|n| n == name),
                "{name} is not documented"
            );
        }
    }
    for name in ["AIRSTREAM_CONFIG_DIR", "AIRSTREAM_RUNTIME_DIR", "NO_COLOR"] {
        assert!(in_help.iter().any(|n| n == name), "{name}");
    }
}

#[test]
fn help_has_examples_files_and_consistent_names() {
    let help = airstream(&["--help"]);
    assert!(help.contains("Examples:\n  airstream demo"), "{help}");
    assert!(
        help.contains("config.toml"),
        "the config file's path: {help}"
    );
    assert!(airstream(&["-h"]).contains("`airstream --help` adds examples"));

    let stream = airstream(&["stream", "--help"]);
    assert!(stream.contains("Examples:"), "{stream}");
    assert!(stream.contains("--volume <LEVEL>"), "{stream}");
    assert!(stream.contains("to play on several in sync"), "{stream}");
    let volume = airstream(&["volume", "--help"]);
    // The level is optional: without it, `volume` prints the receiver's.
    assert!(volume.contains("[LEVEL]"), "{volume}");
    // A command for one device does not talk about groups.
    for command in ["info", "volume", "pause", "play", "pair"] {
        let help = airstream(&[command, "--help"]);
        assert!(!help.contains("several"), "{command}: {help}");
    }
    // One name for the discovery timeout; `scan --timeout` still works, unlisted.
    let scan = airstream(&["scan", "--help"]);
    assert!(scan.contains("--discovery-timeout <SECONDS>"), "{scan}");
    assert!(!scan.contains("--timeout"), "{scan}");
}

#[test]
fn version_names_the_commit_and_the_features() {
    let version = airstream(&["--version"]);
    let expected_start = format!("airstream {} (commit ", env!("CARGO_PKG_VERSION"));
    assert!(version.starts_with(&expected_start), "{version}");
    assert!(
        version.trim_end().ends_with(", features: none)"),
        "{version}"
    );
    // Built from a git checkout here: the commit is known, and it is HEAD's.
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let head = String::from_utf8(head.stdout).unwrap();
    assert!(version.contains(head.trim()), "{version} vs HEAD {head}");
}

#[test]
fn completions_and_man_pages_come_from_the_command_line_definition() {
    let bash = airstream(&["completions", "bash"]);
    assert!(bash.contains("_airstream()"), "{bash}");
    assert!(bash.contains("--discovery-timeout"), "{bash}");
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        assert!(
            airstream(&["completions", shell]).contains("stream"),
            "{shell}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    airstream(&["manpages", dir.path().to_str().unwrap()]);
    let main = std::fs::read_to_string(dir.path().join("airstream.1")).unwrap();
    assert!(main.starts_with(".ie"), "{main}");
    assert!(main.contains(".TH airstream 1"), "{main}");
    let stream = std::fs::read_to_string(dir.path().join("airstream-stream.1")).unwrap();
    assert!(stream.contains("\\-\\-latency"), "{stream}");
    assert!(!dir.path().join("airstream-help.1").exists());
    assert!(!dir.path().join("airstream-manpages.1").exists());
}

#[test]
fn the_readme_install_step_and_rust_version_are_true() {
    let readme = readme();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let rust_version = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .unwrap()
        .trim_matches('"');
    assert_eq!(rust_version, env!("CARGO_PKG_RUST_VERSION"));
    assert!(
        readme.contains(&format!("Needs Rust {rust_version} or newer")),
        "the README names rust-version {rust_version}"
    );
    assert!(readme.contains("cargo install --path crates/airstream-cli"));
    assert!(root.join("crates/airstream-cli/Cargo.toml").is_file());
}
