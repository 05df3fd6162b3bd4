//! `airstream pair --list` on a credential store that is malformed or readable by others:
//! the documented exit code (18, bad input), a message that says where and what, never the
//! keys inside the file.

#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output, Stdio};

use airstream::credentials::CredentialStore;
use airstream_proto::pairing::Credentials;

fn airstream_list(dir: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_airstream"))
        .args(["pair", "--list"])
        .env("AIRSTREAM_CONFIG_DIR", dir)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn malformed_store_exits_18_without_the_key() {
    let temp = tempfile::tempdir().unwrap();
    let store = CredentialStore::in_dir(temp.path());
    store
        .put("dev", "Dev", &Credentials::new([1; 8], [2; 32]))
        .unwrap();
    let key = "5A".repeat(32);
    std::fs::write(
        store.path(),
        format!("{{\"version\":1,\"devices\":[\"0A0B0C0D0E0F1011:{key}\"]}}"),
    )
    .unwrap();
    let out = airstream_list(temp.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(18), "{stderr}");
    assert!(stderr.contains("credentials.json"), "{stderr}");
    assert!(stderr.contains("line 1 column"), "{stderr}");
    assert!(!stderr.contains(&key), "{stderr}");
}

#[test]
fn store_readable_by_others_exits_18_and_says_how_to_fix_it() {
    let temp = tempfile::tempdir().unwrap();
    let store = CredentialStore::in_dir(temp.path());
    store
        .put("dev", "Dev", &Credentials::new([1; 8], [2; 32]))
        .unwrap();
    std::fs::set_permissions(store.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = airstream_list(temp.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(18), "{stderr}");
    assert!(
        stderr.contains(&format!("chmod 600 {}", store.path().display())),
        "{stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
