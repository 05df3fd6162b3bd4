//! HAP credentials in the credential store beside legacy ones, and a store that is
//! malformed or readable by others: refused with a message that names the file and the
//! fix, never its contents.

#![allow(clippy::unwrap_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use airstream::ErrorKind;
use airstream::credentials::{CredentialStore, StoreError, StoredHapCredentials};
use airstream_proto::hap::{ClientIdentity, HapCredentials};
use airstream_proto::pairing::Credentials;

fn hap(n: u8) -> HapCredentials {
    HapCredentials::new(
        [n; 32],
        ClientIdentity::new([n.wrapping_add(0x40); 32], b"4D797FD3-3538-427E".to_vec()),
        b"AA:BB:CC:DD:EE:FF".to_vec(),
    )
}

fn store_in(dir: &Path) -> CredentialStore {
    CredentialStore::in_dir(dir.join("airstream"))
}

#[test]
fn hap_and_legacy_entries_live_side_by_side() {
    let temp = tempfile::tempdir().unwrap();
    let store = store_in(temp.path());
    store
        .put("legacy-tv", "Den", &Credentials::new([1; 8], [2; 32]))
        .unwrap();
    store.put_hap("homepod", "Kitchen", &hap(3)).unwrap();

    assert_eq!(store.list().unwrap().len(), 1);
    assert_eq!(
        store.list_hap().unwrap(),
        vec![StoredHapCredentials {
            device_id: "homepod".into(),
            name: "Kitchen".into(),
            credentials: hap(3),
        }]
    );
    assert_eq!(
        store.get_hap("HOMEPOD").unwrap().unwrap().credentials,
        hap(3)
    );
    assert_eq!(store.get("homepod").unwrap(), None);
    assert_eq!(store.get_hap("legacy-tv").unwrap(), None);

    // A device has one pairing: HAP credentials replace legacy ones for the same id.
    store.put_hap("legacy-tv", "Den", &hap(4)).unwrap();
    assert_eq!(store.get("legacy-tv").unwrap(), None);
    assert_eq!(
        store.get_hap("legacy-tv").unwrap().unwrap().credentials,
        hap(4)
    );

    // pyatv's form on disk, readable by pyatv.
    let text = fs::read_to_string(store.path()).unwrap();
    assert!(text.contains(&hap(3).to_secret_string()), "{text}");

    assert!(store.forget("homepod").unwrap());
    assert_eq!(store.get_hap("homepod").unwrap(), None);
}

#[test]
fn a_malformed_store_error_never_quotes_the_contents() {
    let temp = tempfile::tempdir().unwrap();
    let store = store_in(temp.path());
    store
        .put("dev", "Dev", &Credentials::new([1; 8], [2; 32]))
        .unwrap();
    let key = "3C".repeat(32);
    // A list of strings where entries belong: serde's own message quotes the string.
    fs::write(
        store.path(),
        format!("{{\"version\":1,\"devices\":[\"0102030405060708:{key}\"]}}"),
    )
    .unwrap();
    let err = store.list().unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{text}");
    assert!(!text.contains(&key), "{text}");
    assert!(!text.contains("0102030405060708"), "{text}");
    assert!(text.contains("line 1 column"), "{text}");
    assert!(text.contains("credentials.json"), "{text}");

    // The same for a broken HAP entry: the device is named, the value is not.
    let secret = hap(5).to_secret_string();
    let broken = secret.replacen(':', "zz:", 1);
    fs::write(
        store.path(),
        format!(
            "{{\"version\":1,\"devices\":[{{\"id\":\"hp\",\"name\":\"H\",\"credentials\":\"{broken}\"}}]}}"
        ),
    )
    .unwrap();
    let text = store.list_hap().unwrap_err().to_string();
    assert!(text.contains("hp"), "{text}");
    assert!(!text.contains(&secret[66..130]), "{text}");
}

#[test]
fn a_store_readable_by_others_is_refused_with_the_fix() {
    let temp = tempfile::tempdir().unwrap();
    let store = store_in(temp.path());
    store.put_hap("homepod", "Kitchen", &hap(1)).unwrap();
    fs::set_permissions(store.path(), fs::Permissions::from_mode(0o644)).unwrap();

    let err = store.get_hap("homepod").unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, StoreError::Insecure { mode: 0o644, .. }),
        "{text}"
    );
    assert!(
        text.contains(&format!("chmod 600 {}", store.path().display())),
        "{text}"
    );
    fs::set_permissions(store.path(), fs::Permissions::from_mode(0o600)).unwrap();
    assert!(store.get_hap("homepod").unwrap().is_some());

    // A write rewrites the file at 0600, which is a fix as good as the chmod.
    fs::set_permissions(store.path(), fs::Permissions::from_mode(0o604)).unwrap();
    store.put_hap("other", "Other", &hap(2)).unwrap();
    assert_eq!(store.list_hap().unwrap().len(), 2);
}

#[test]
fn store_errors_map_to_a_documented_kind() {
    let temp = tempfile::tempdir().unwrap();
    let store = store_in(temp.path());
    store.put_hap("homepod", "Kitchen", &hap(1)).unwrap();
    fs::write(store.path(), "{").unwrap();
    let err: airstream::Error = store.list().unwrap_err().into();
    assert_eq!(err.kind(), ErrorKind::Input);
    fs::set_permissions(store.path(), fs::Permissions::from_mode(0o640)).unwrap();
    let err: airstream::Error = store.list().unwrap_err().into();
    assert_eq!(err.kind(), ErrorKind::Input);
}

#[test]
fn hap_keys_never_reach_debug_output() {
    let stored = StoredHapCredentials {
        device_id: "homepod".into(),
        name: "Kitchen".into(),
        credentials: hap(7),
    };
    let debug = format!("{stored:?}");
    assert!(!debug.contains(&hex::encode([7u8; 32])), "{debug}");
    assert!(!debug.contains(&hex::encode([0x47u8; 32])), "{debug}");
    assert!(debug.contains("homepod"), "{debug}");
}
