//! The credential store on a real file system: modes, atomic replacement, concurrent
//! writers (threads and processes), and keys kept out of logs.

// Helpers unwrap too (clippy.toml allows it only inside #[test] fns): a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;

use airstream::credentials::{CONFIG_DIR_ENV, CredentialStore, StoreError, StoredCredentials};
use airstream_proto::pairing::Credentials;

fn credentials(n: u8) -> Credentials {
    Credentials::new([n; 8], [n.wrapping_mul(7).wrapping_add(1); 32])
}

fn store_in(dir: &Path) -> CredentialStore {
    CredentialStore::in_dir(dir.join("config").join("airstream"))
}

#[test]
fn put_get_list_forget() {
    let temp = tempfile::tempdir().unwrap();
    let store = store_in(temp.path());
    assert_eq!(store.list().unwrap(), vec![]);
    assert_eq!(store.get("AA:BB:CC:DD:EE:01").unwrap(), None);

    store
        .put("AA:BB:CC:DD:EE:02", "Bedroom", &credentials(2))
        .unwrap();
    store
        .put("AA:BB:CC:DD:EE:01", "Living Room", &credentials(1))
        .unwrap();
    let listed = store.list().unwrap();
    assert_eq!(
        listed,
        vec![
            StoredCredentials {
                device_id: "AA:BB:CC:DD:EE:01".into(),
                name: "Living Room".into(),
                credentials: credentials(1),
            },
            StoredCredentials {
                device_id: "AA:BB:CC:DD:EE:02".into(),
                name: "Bedroom".into(),
                credentials: credentials(2),
            },
        ]
    );
    // Lookups ignore ASCII case; a put for the same device replaces its entry.
    assert_eq!(
        store.get("aa:bb:cc:dd:ee:01").unwrap().unwrap().credentials,
        credentials(1)
    );
    store
        .put("aa:bb:cc:dd:ee:01", "Lounge", &credentials(3))
        .unwrap();
    let replaced = store.get("AA:BB:CC:DD:EE:01").unwrap().unwrap();
    assert_eq!(
        (replaced.name.as_str(), replaced.credentials),
        ("Lounge", credentials(3))
    );
    assert_eq!(store.list().unwrap().len(), 2);

    assert!(store.forget("AA:BB:CC:DD:EE:02").unwrap());
    assert!(!store.forget("AA:BB:CC:DD:EE:02").unwrap());
    assert_eq!(store.get("AA:BB:CC:DD:EE:02").unwrap(), None);
    assert_eq!(store.list().unwrap().len(), 1);

    // A second handle (another process, in effect) sees the same contents.
    let again = CredentialStore::in_dir(store.dir());
    assert_eq!(again.list().unwrap(), store.list().unwrap());
}

#[cfg(unix)]
#[test]
fn store_file_is_0600_and_created_directories_0700() {
    use std::os::unix::fs::PermissionsExt;
    let temp = tempfile::tempdir().unwrap();
    let store = store_in(temp.path());
    store.put("dev", "Dev", &credentials(1)).unwrap();
    let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&store.path()), 0o600);
    assert_eq!(mode(store.dir()), 0o700);
    assert_eq!(mode(store.dir().parent().unwrap()), 0o700);
    // Every rewrite keeps the mode, even if someone loosened the file in between.
    fs::set_permissions(store.path(), fs::Permissions::from_mode(0o644)).unwrap();
    store.put("dev2", "Dev 2", &credentials(2)).unwrap();
    assert_eq!(mode(&store.path()), 0o600);
    // No temp files are left behind.
    let names: Vec<String> = fs::read_dir(store.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut names = names;
    names.sort();
    assert_eq!(names, ["credentials.json", "credentials.lock"]);
}

#[test]
fn a_crashed_writers_temp_file_does_not_corrupt_the_store() {
    let temp = tempfile::tempdir().unwrap();
    let store = store_in(temp.path());
    store.put("dev-1", "One", &credentials(1)).unwrap();
    let before = fs::read(store.path()).unwrap();

    // A writer died after writing half its temp file, before the rename.
    let leftover = store
        .dir()
        .join(".credentials.json.tmp-99999-00000000deadbeef");
    fs::write(&leftover, &before[..before.len() / 2]).unwrap();
    assert_eq!(fs::read(store.path()).unwrap(), before);
    assert_eq!(store.list().unwrap().len(), 1);
    assert_eq!(
        store.get("dev-1").unwrap().unwrap().credentials,
        credentials(1)
    );

    // The next writer succeeds and clears the leftover.
    store.put("dev-2", "Two", &credentials(2)).unwrap();
    assert!(!leftover.exists());
    assert_eq!(store.list().unwrap().len(), 2);
}

#[test]
fn a_corrupt_store_is_reported_not_overwritten() {
    let temp = tempfile::tempdir().unwrap();
    let store = store_in(temp.path());
    store.put("dev-1", "One", &credentials(1)).unwrap();
    let good = fs::read_to_string(store.path()).unwrap();
    let truncated = &good[..good.len() / 2];
    fs::write(store.path(), truncated).unwrap();

    assert!(matches!(store.list(), Err(StoreError::Corrupt { .. })));
    let err = store.put("dev-2", "Two", &credentials(2)).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("credentials.json"), "{err}");
    assert_eq!(fs::read_to_string(store.path()).unwrap(), truncated);

    // A bad credentials value names the device, never the value.
    let secret = credentials(1).to_secret_string();
    let key = secret.split(':').nth(1).unwrap();
    fs::write(store.path(), good.replace(key, &key[..40])).unwrap();
    let err = store.list().unwrap_err().to_string();
    assert!(err.contains("dev-1"), "{err}");
    assert!(!err.contains(&key[..40]), "{err}");
}

#[test]
fn readers_never_see_a_partial_file_while_writers_replace_it() {
    let temp = tempfile::tempdir().unwrap();
    let store = store_in(temp.path());
    store.put("seed", "Seed", &credentials(0)).unwrap();
    let writer = {
        let store = store.clone();
        thread::spawn(move || {
            for n in 1..=60u8 {
                store
                    .put(&format!("dev-{n:03}"), "Writer", &credentials(n))
                    .unwrap();
            }
        })
    };
    let mut last_len = 1;
    while !writer.is_finished() {
        // Every read parses, and entries only ever grow.
        let len = store.list().unwrap().len();
        assert!(len >= last_len);
        last_len = len;
    }
    writer.join().unwrap();
    assert_eq!(store.list().unwrap().len(), 61);
}

#[test]
fn concurrent_writer_threads_do_not_lose_entries() {
    let temp = tempfile::tempdir().unwrap();
    let store = store_in(temp.path());
    let threads: Vec<_> = (0..6u8)
        .map(|t| {
            // Separate handles, as separate callers would have.
            let store = CredentialStore::in_dir(store.dir());
            thread::spawn(move || {
                for i in 0..8u8 {
                    let n = t * 8 + i;
                    store
                        .put(&format!("t{t}-{i}"), "Thread", &credentials(n))
                        .unwrap();
                    if i % 3 == 0 {
                        store
                            .put(&format!("t{t}-tmp"), "Temp", &credentials(n))
                            .unwrap();
                        assert!(store.forget(&format!("t{t}-tmp")).unwrap());
                    }
                }
            })
        })
        .collect();
    for handle in threads {
        handle.join().unwrap();
    }
    let entries = store.list().unwrap();
    assert_eq!(entries.len(), 48);
    for t in 0..6u8 {
        for i in 0..8u8 {
            let entry = store.get(&format!("t{t}-{i}")).unwrap().unwrap();
            assert_eq!(entry.credentials, credentials(t * 8 + i));
        }
    }
}

const CHILD_ENV: &str = "AIRSTREAM_TEST_STORE_CHILD";

#[test]
fn concurrent_writer_processes_do_not_lose_entries() {
    // Child mode: this same test, re-run by the parent below in a separate process, with
    // the store located only through AIRSTREAM_CONFIG_DIR.
    if let Ok(child) = std::env::var(CHILD_ENV) {
        let store = CredentialStore::open_default().unwrap();
        let child: u8 = child.parse().unwrap();
        for i in 0..10u8 {
            let n = child * 10 + i;
            store
                .put(&format!("p{child}-{i}"), "Process", &credentials(n))
                .unwrap();
        }
        return;
    }

    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("shared-store");
    let children: Vec<_> = (0..4u8)
        .map(|child| {
            Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "concurrent_writer_processes_do_not_lose_entries"])
                .args(["--test-threads", "1"])
                .env(CHILD_ENV, child.to_string())
                .env(CONFIG_DIR_ENV, &dir)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "child writer failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let store = CredentialStore::in_dir(&dir);
    assert_eq!(store.list().unwrap().len(), 40);
    for child in 0..4u8 {
        for i in 0..10u8 {
            let entry = store.get(&format!("p{child}-{i}")).unwrap().unwrap();
            assert_eq!(entry.credentials, credentials(child * 10 + i));
        }
    }
}

/// Collects everything a `fmt` subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn keys_never_reach_trace_logs_or_debug_output() {
    let temp = tempfile::tempdir().unwrap();
    let store = store_in(temp.path());
    let secret = Credentials::new([0xa1; 8], [0x3c; 32]);
    let key_upper = "3C".repeat(32);

    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        store.put("AA:BB", "Den", &secret).unwrap();
        let found = store.get("AA:BB").unwrap().unwrap();
        tracing::trace!(?found, "caller logs what it got");
        store.list().unwrap();
        store.forget("AA:BB").unwrap();
    });
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    // The events really were captured, with the identifier...
    assert!(logs.contains("storing credentials"), "{logs}");
    assert!(logs.contains("A1A1A1A1A1A1A1A1"), "{logs}");
    // ...and without the key, in any case.
    assert!(!logs.to_uppercase().contains(&key_upper[..16]), "{logs}");

    let entry = StoredCredentials {
        device_id: "AA:BB".into(),
        name: "Den".into(),
        credentials: secret.clone(),
    };
    let debug = format!("{entry:?} {entry:#?} {store:?} {}", entry.credentials);
    assert!(!debug.to_uppercase().contains(&key_upper[..16]), "{debug}");
    // The file itself does hold it: that is what it is for.
    store.put("AA:BB", "Den", &secret).unwrap();
    assert!(
        fs::read_to_string(store.path())
            .unwrap()
            .contains(&key_upper)
    );
}
