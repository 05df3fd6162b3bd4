//! What a new user runs first: the README's two commands. The README names exactly the
//! commands that work, and `scripts/test` runs as root without sudo installed, re-runs
//! itself with sudo as a user who has it, and says what to do as a user who has not.

// Test helpers may unwrap: a panic is a test failure with a message.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The lines of the README's first fenced code block.
fn first_code_block(readme: &str) -> Vec<String> {
    readme
        .split("```")
        .nth(1)
        .unwrap()
        .lines()
        .skip(1) // the language tag
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

#[test]
fn the_readme_starts_with_the_two_commands_that_work() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    assert_eq!(
        first_code_block(&readme),
        ["cargo run --release -- demo", "./scripts/test"]
    );
    // `cargo run` from the root runs this binary, and it has a `demo`.
    let manifest = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    assert!(manifest.contains(r#"default-members = ["crates/airstream-cli"]"#));
    let out = Command::new(env!("CARGO_BIN_EXE_airstream"))
        .args(["demo", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    // `./scripts/test` runs as written: executable, and no other privilege command in front.
    let mode = std::fs::metadata(repo().join("scripts/test"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0o111, "scripts/test is executable");
    assert!(!readme.contains("sudo ./scripts/test"));
}

/// A PATH holding only what the top of scripts/test uses, with `id -u` answering `uid`,
/// and a `sudo` that records its arguments when `with_sudo`.
struct FakeSystem {
    dir: tempfile::TempDir,
}

impl FakeSystem {
    fn new(uid: u32, with_sudo: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        for tool in ["bash", "dirname"] {
            let real = which(tool);
            std::os::unix::fs::symlink(real, dir.path().join(tool)).unwrap();
        }
        script(&dir.path().join("id"), &format!("echo {uid}"));
        if with_sudo {
            let log = dir.path().join("sudo.log");
            script(
                &dir.path().join("sudo"),
                &format!("printf '%s\\n' \"$@\" > '{}'", log.display()),
            );
        }
        Self { dir }
    }

    /// Runs scripts/test from another directory, as a user whose home holds a rustup
    /// toolchain (no CARGO_HOME there, and none in the environment).
    fn run(&self, args: &[&str]) -> Output {
        let home = self.dir.path().join("home");
        std::fs::create_dir_all(home.join(".rustup")).unwrap();
        Command::new(repo().join("scripts/test"))
            .args(args)
            .current_dir(self.dir.path())
            .env("PATH", self.dir.path())
            .env("HOME", &home)
            .env_remove("RUSTUP_HOME")
            .env_remove("CARGO_HOME")
            .output()
            .unwrap()
    }

    fn sudo_args(&self) -> Option<Vec<String>> {
        std::fs::read_to_string(self.dir.path().join("sudo.log"))
            .ok()
            .map(|log| log.lines().map(String::from).collect())
    }
}

fn which(tool: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(tool))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| panic!("{tool} on PATH"))
}

fn script(path: &Path, body: &str) {
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn as_root_without_sudo_it_runs_the_tests() {
    let system = FakeSystem::new(0, false);
    let out = system.run(&["--dry-run"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "would run: the tests as root (installing what is missing)\n"
    );
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
}

#[test]
fn as_a_user_with_sudo_it_re_runs_itself_with_sudo() {
    let system = FakeSystem::new(1000, true);
    let out = system.run(&["-p", "airstream-cli"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("re-running with sudo"),
        "{}",
        text(&out.stderr)
    );
    let args = system.sudo_args().expect("sudo was run");
    // The same toolchain for root (sudo resets PATH and HOME), the script by its absolute
    // path (it was started from elsewhere), the arguments as given.
    let path = format!("PATH={}", system.dir.path().display());
    let rustup = format!(
        "RUSTUP_HOME={}",
        system.dir.path().join("home/.rustup").display()
    );
    assert_eq!(args[..3], ["env".to_string(), path, rustup]);
    assert_eq!(
        Path::new(&args[3]).canonicalize().unwrap(),
        repo().join("scripts/test").canonicalize().unwrap()
    );
    assert_eq!(args[4..], ["-p", "airstream-cli"], "the arguments pass on");
    // The dry run says the same and runs nothing.
    let system = FakeSystem::new(1000, true);
    let out = system.run(&["--dry-run"]);
    assert!(out.status.success());
    assert!(text(&out.stdout).starts_with("would run: sudo env PATH="));
    assert!(system.sudo_args().is_none());
}

#[test]
fn as_a_user_without_sudo_it_says_to_run_it_as_root() {
    let system = FakeSystem::new(1000, false);
    let out = system.run(&[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("sudo is not installed"), "{stderr}");
    assert!(stderr.contains("run it as root"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}
