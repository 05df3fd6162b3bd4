//! The credential store: pairing credentials per device, in one JSON file per user.
//!
//! The file lives in `$AIRSTREAM_CONFIG_DIR`, or else in `airstream/` under the platform's
//! config directory (`~/.config/airstream` on Linux). It is only ever replaced whole:
//! writers build a temp file in the same directory, fsync it and rename it over the store,
//! so readers (which take no lock) see the old or the new file, never a half-written one.
//! Writers serialise on an advisory lock file, so concurrent `put`/`forget` calls from
//! threads or processes never lose each other's entries. The store file is mode 0600 and
//! a directory we create is mode 0700, and a store file others can read or write is refused
//! (with the `chmod` that fixes it) rather than used.
//!
//! Two kinds of credentials live side by side, one entry per device: legacy pairing
//! credentials (`ID:KEY`, [`StoredCredentials`]) and HAP credentials of AirPlay 2 devices
//! (pyatv's `LTPK:LTSK:DEVICE_ID:CLIENT_ID`, [`StoredHapCredentials`]).
//!
//! The calls are blocking file I/O of a few KiB; from async code, run them on a blocking
//! thread if that matters.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use airstream_proto::hap::HapCredentials;
use airstream_proto::pairing::Credentials;
use serde::{Deserialize, Serialize};

/// Environment variable naming the directory that holds the store.
pub const CONFIG_DIR_ENV: &str = "AIRSTREAM_CONFIG_DIR";

const STORE_FILE: &str = "credentials.json";
const LOCK_FILE: &str = "credentials.lock";
/// Temp files start with this; leftovers from a crashed writer are removed by the next one.
const TEMP_PREFIX: &str = ".credentials.json.tmp-";
const FORMAT_VERSION: u32 = 1;
/// A writer holds the lock for one small read-modify-write; waiting longer than this means
/// something is wrong, and we say so instead of hanging.
const LOCK_TIMEOUT: Duration = Duration::from_secs(10);
const LOCK_POLL: Duration = Duration::from_millis(5);

/// Credentials stored for one device. `Debug` shows the key only as `<redacted>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCredentials {
    /// The device's identifier (as discovery reports it); lookups ignore ASCII case.
    pub device_id: String,
    /// A human-readable name for listings.
    pub name: String,
    /// The legacy pairing identifier and key pair-verify proves.
    pub credentials: Credentials,
}

/// HAP credentials stored for one AirPlay 2 device. `Debug` shows only the identifiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredHapCredentials {
    /// The device's identifier (as discovery reports it); lookups ignore ASCII case.
    pub device_id: String,
    /// A human-readable name for listings.
    pub name: String,
    /// The HAP long-term keys and identifiers pair-verify proves.
    pub credentials: HapCredentials,
}

/// One entry of the store, of either kind.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Legacy(StoredCredentials),
    Hap(StoredHapCredentials),
}

impl Entry {
    fn device_id(&self) -> &str {
        match self {
            Entry::Legacy(entry) => &entry.device_id,
            Entry::Hap(entry) => &entry.device_id,
        }
    }

    fn is_for(&self, device_id: &str) -> bool {
        self.device_id().eq_ignore_ascii_case(device_id)
    }
}

/// Why the credential store could not be read or written. Messages name the file and
/// what is wrong with it, never its contents. As an [`crate::Error`] (via `From`), every
/// kind is [`crate::ErrorKind::Input`] except `Locked`, which is
/// [`crate::ErrorKind::Timeout`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Neither the environment variable nor the platform names a config directory.
    #[error("no per-user config directory on this system; set {CONFIG_DIR_ENV}")]
    NoConfigDir,
    /// Reading, writing or locking the store file failed.
    #[error("credential store {}: {source}", path.display())]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The store file cannot be parsed.
    #[error("credential store {} is corrupt: {detail}", path.display())]
    Corrupt {
        /// The store file.
        path: PathBuf,
        /// What is wrong in it (never the secrets it holds).
        detail: String,
    },
    /// The store file is readable or writable by group or others, so the keys in it may
    /// have leaked: reading refuses it. (A write rewrites it at 0600, which also fixes it.)
    #[error(
        "credential store {} is accessible to other users (mode {mode:03o}); run `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    Insecure {
        /// The store file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Another process held the store's lock for longer than we wait.
    #[error(
        "credential store {} is locked by another airstream process (waited {} s)",
        path.display(),
        LOCK_TIMEOUT.as_secs()
    )]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
}

/// Handle on the store in one directory. Cheap to create; every call reads the file anew,
/// so several handles (and processes) share one consistent view.
#[derive(Debug, Clone)]
pub struct CredentialStore {
    dir: PathBuf,
}

impl CredentialStore {
    /// The store in `$AIRSTREAM_CONFIG_DIR`, or else `<platform config dir>/airstream`.
    pub fn open_default() -> Result<Self, StoreError> {
        default_dir(std::env::var_os(CONFIG_DIR_ENV), dirs::config_dir())
            .map(CredentialStore::in_dir)
            .ok_or(StoreError::NoConfigDir)
    }

    /// The store in `dir` (created on first write).
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        CredentialStore { dir: dir.into() }
    }

    /// The directory the store lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of the store file itself.
    pub fn path(&self) -> PathBuf {
        self.dir.join(STORE_FILE)
    }

    /// Every device stored with legacy credentials, ordered by device id.
    pub fn list(&self) -> Result<Vec<StoredCredentials>, StoreError> {
        Ok(self
            .read()?
            .into_iter()
            .filter_map(|entry| match entry {
                Entry::Legacy(entry) => Some(entry),
                Entry::Hap(_) => None,
            })
            .collect())
    }

    /// Every device stored with HAP credentials, ordered by device id.
    pub fn list_hap(&self) -> Result<Vec<StoredHapCredentials>, StoreError> {
        Ok(self
            .read()?
            .into_iter()
            .filter_map(|entry| match entry {
                Entry::Hap(entry) => Some(entry),
                Entry::Legacy(_) => None,
            })
            .collect())
    }

    /// The legacy credentials stored for `device_id` (ASCII case ignored).
    pub fn get(&self, device_id: &str) -> Result<Option<StoredCredentials>, StoreError> {
        let found = self.read()?.into_iter().find_map(|entry| match entry {
            Entry::Legacy(entry) if entry.device_id.eq_ignore_ascii_case(device_id) => Some(entry),
            _ => None,
        });
        tracing::trace!(device = device_id, ?found, "credential store lookup");
        Ok(found)
    }

    /// The HAP credentials stored for `device_id` (ASCII case ignored).
    pub fn get_hap(&self, device_id: &str) -> Result<Option<StoredHapCredentials>, StoreError> {
        let found = self.read()?.into_iter().find_map(|entry| match entry {
            Entry::Hap(entry) if entry.device_id.eq_ignore_ascii_case(device_id) => Some(entry),
            _ => None,
        });
        tracing::trace!(device = device_id, ?found, "credential store lookup (HAP)");
        Ok(found)
    }

    /// Stores legacy `credentials` for `device_id`, replacing what was stored for it.
    pub fn put(
        &self,
        device_id: &str,
        name: &str,
        credentials: &Credentials,
    ) -> Result<(), StoreError> {
        tracing::debug!(device = device_id, name, ?credentials, path = %self.path().display(),
            "storing credentials");
        self.replace_entry(Entry::Legacy(StoredCredentials {
            device_id: device_id.to_owned(),
            name: name.to_owned(),
            credentials: credentials.clone(),
        }))
    }

    /// Stores HAP `credentials` for `device_id`, replacing what was stored for it (of
    /// either kind).
    pub fn put_hap(
        &self,
        device_id: &str,
        name: &str,
        credentials: &HapCredentials,
    ) -> Result<(), StoreError> {
        tracing::debug!(device = device_id, name, ?credentials, path = %self.path().display(),
            "storing HAP credentials");
        self.replace_entry(Entry::Hap(StoredHapCredentials {
            device_id: device_id.to_owned(),
            name: name.to_owned(),
            credentials: credentials.clone(),
        }))
    }

    fn replace_entry(&self, new: Entry) -> Result<(), StoreError> {
        self.update(|entries| {
            entries.retain(|entry| !entry.is_for(new.device_id()));
            entries.push(new);
            true
        })
        .map(|_| ())
    }

    /// Removes the entry for `device_id` (of either kind); `false` if there was none.
    pub fn forget(&self, device_id: &str) -> Result<bool, StoreError> {
        let removed = self.update(|entries| {
            let before = entries.len();
            entries.retain(|entry| !entry.is_for(device_id));
            entries.len() != before
        })?;
        tracing::debug!(device = device_id, removed, "forgetting credentials");
        Ok(removed)
    }

    /// Reads the store, refusing one that others can read or write.
    fn read(&self) -> Result<Vec<Entry>, StoreError> {
        self.read_entries(true)
    }

    /// `check_mode` is off only for writers: they rewrite the file at 0600, which is the fix.
    fn read_entries(&self, check_mode: bool) -> Result<Vec<Entry>, StoreError> {
        let path = self.path();
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(StoreError::Io { path, source }),
        };
        if check_mode {
            check_private(&path)?;
        }
        let entries = decode(&text).map_err(|detail| StoreError::Corrupt {
            path: path.clone(),
            detail,
        })?;
        tracing::trace!(path = %path.display(), entries = entries.len(), "read credential store");
        Ok(entries)
    }

    /// Read-modify-write under the writer lock. `change` returns whether it changed
    /// anything; unchanged stores are not rewritten.
    fn update(&self, change: impl FnOnce(&mut Vec<Entry>) -> bool) -> Result<bool, StoreError> {
        create_private_dir(&self.dir).map_err(|source| io_error(&self.dir, source))?;
        let _lock = self.lock()?;
        self.remove_stale_temp_files();
        let mut entries = self.read_entries(false)?;
        if !change(&mut entries) {
            return Ok(false);
        }
        entries.sort_by(|a, b| a.device_id().cmp(b.device_id()));
        self.replace_file(&encode(&entries))?;
        Ok(true)
    }

    /// Exclusive advisory lock on a side file (the store itself is replaced by rename, so
    /// a lock on it would be a lock on a soon-unlinked inode). Released when dropped.
    fn lock(&self) -> Result<File, StoreError> {
        let path = self.dir.join(LOCK_FILE);
        let file = private_file_options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| io_error(&path, source))?;
        let deadline = Instant::now() + LOCK_TIMEOUT;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(file),
                Err(fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    thread::sleep(LOCK_POLL);
                }
                Err(fs::TryLockError::WouldBlock) => return Err(StoreError::Locked { path }),
                Err(fs::TryLockError::Error(source)) => return Err(io_error(&path, source)),
            }
        }
    }

    /// Temp file in the same directory, fsync, rename over the store, fsync the directory.
    fn replace_file(&self, contents: &[u8]) -> Result<(), StoreError> {
        let temp_path = self.dir.join(format!(
            "{TEMP_PREFIX}{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        let written = private_file_options()
            .create_new(true)
            .write(true)
            .open(&temp_path)
            .and_then(|mut file| {
                file.write_all(contents)?;
                file.sync_all()
            })
            .and_then(|()| fs::rename(&temp_path, self.path()));
        if let Err(source) = written {
            // Best effort: the next writer removes leftovers anyway.
            let _ = fs::remove_file(&temp_path);
            return Err(io_error(&temp_path, source));
        }
        // Make the rename itself durable.
        File::open(&self.dir)
            .and_then(|dir| dir.sync_all())
            .map_err(|source| io_error(&self.dir, source))
    }

    /// Leftovers of writers that crashed between creating and renaming their temp file.
    /// Only called under the writer lock, so no live writer owns one.
    fn remove_stale_temp_files(&self) {
        let Ok(listing) = fs::read_dir(&self.dir) else {
            return;
        };
        for entry in listing.flatten() {
            if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                tracing::debug!(file = %entry.path().display(), "removing stale temp file");
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

fn io_error(path: &Path, source: io::Error) -> StoreError {
    StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// `$AIRSTREAM_CONFIG_DIR` if set and non-empty, else `<config dir>/airstream`.
fn default_dir(env_value: Option<OsString>, config_dir: Option<PathBuf>) -> Option<PathBuf> {
    match env_value {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => config_dir.map(|dir| dir.join("airstream")),
    }
}

/// On-disk layout, versioned so a future format can be told apart.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreFile {
    version: u32,
    devices: Vec<DeviceEntry>,
}

/// No `Debug`: `credentials` holds the key in clear.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceEntry {
    id: String,
    name: String,
    credentials: String,
}

fn decode(text: &str) -> Result<Vec<Entry>, String> {
    let file: StoreFile = serde_json::from_str(text).map_err(|err| describe_json_error(&err))?;
    if file.version != FORMAT_VERSION {
        return Err(format!(
            "format version {} (this airstream reads version {FORMAT_VERSION})",
            file.version
        ));
    }
    file.devices
        .into_iter()
        .map(|entry| {
            let DeviceEntry {
                id,
                name,
                credentials,
            } = entry;
            // Two parts: legacy `ID:KEY`; four: HAP. Errors name the device, never the value.
            if credentials.split(':').count() == 4 {
                let credentials = credentials
                    .parse()
                    .map_err(|err| format!("entry for device {id}: {err}"))?;
                Ok(Entry::Hap(StoredHapCredentials {
                    device_id: id,
                    name,
                    credentials,
                }))
            } else {
                let credentials = credentials
                    .parse()
                    .map_err(|err| format!("entry for device {id}: {err}"))?;
                Ok(Entry::Legacy(StoredCredentials {
                    device_id: id,
                    name,
                    credentials,
                }))
            }
        })
        .collect()
}

/// Where and what kind of problem serde found, without serde's own text: that quotes the
/// offending value, which may be a key.
fn describe_json_error(err: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match err.classify() {
        Category::Syntax => "not valid JSON",
        Category::Eof => "cut short (incomplete JSON)",
        Category::Data => "valid JSON, but not the layout of a credential store",
        Category::Io => "unreadable",
    };
    format!("{what} at line {} column {}", err.line(), err.column())
}

fn encode(entries: &[Entry]) -> Vec<u8> {
    let file = StoreFile {
        version: FORMAT_VERSION,
        devices: entries
            .iter()
            .map(|entry| match entry {
                Entry::Legacy(entry) => DeviceEntry {
                    id: entry.device_id.clone(),
                    name: entry.name.clone(),
                    credentials: entry.credentials.to_secret_string(),
                },
                Entry::Hap(entry) => DeviceEntry {
                    id: entry.device_id.clone(),
                    name: entry.name.clone(),
                    credentials: entry.credentials.to_secret_string(),
                },
            })
            .collect(),
    };
    let mut text = serde_json::to_vec_pretty(&file).expect("strings and integers always serialise");
    text.push(b'\n');
    text
}

/// Refuses a store file that group or others may read or write.
#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(path)
        .map_err(|source| io_error(path, source))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(StoreError::Insecure {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), StoreError> {
    Ok(())
}

impl From<StoreError> for crate::Error {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Locked { .. } => crate::Error::Timeout(err.to_string()),
            _ => crate::Error::InvalidInput(err.to_string()),
        }
    }
}

#[cfg(unix)]
fn private_file_options() -> OpenOptions {
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = OpenOptions::new();
    options.mode(0o600);
    options
}

#[cfg(not(unix))]
fn private_file_options() -> OpenOptions {
    OpenOptions::new()
}

/// Creates `dir` (and missing parents) as 0700. An existing directory is left as it is:
/// `AIRSTREAM_CONFIG_DIR` may name a directory that is not ours to chmod, and the store
/// file is 0600 regardless.
fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_var_wins_over_the_platform_dir() {
        let platform = Some(PathBuf::from("/home/u/.config"));
        assert_eq!(
            default_dir(Some("/tmp/x".into()), platform.clone()),
            Some(PathBuf::from("/tmp/x"))
        );
        assert_eq!(
            default_dir(Some(OsString::new()), platform.clone()),
            Some(PathBuf::from("/home/u/.config/airstream"))
        );
        assert_eq!(
            default_dir(None, platform),
            Some(PathBuf::from("/home/u/.config/airstream"))
        );
        assert_eq!(default_dir(None, None), None);
    }

    #[test]
    fn format_round_trips_and_rejects_other_versions() {
        let entries = vec![Entry::Legacy(StoredCredentials {
            device_id: "AA:BB".into(),
            name: "Living \"Room\"".into(),
            credentials: Credentials::new([1; 8], [2; 32]),
        })];
        let text = String::from_utf8(encode(&entries)).unwrap();
        assert_eq!(decode(&text).unwrap(), entries);
        let future = text.replace("\"version\": 1", "\"version\": 2");
        assert!(decode(&future).unwrap_err().contains("version 2"));
        assert!(decode("{").is_err());
    }
}
