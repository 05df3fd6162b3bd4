//! `airstream pair`: PIN pairing with an Apple TV or AirPlay 2 device (legacy or HAP, picked
//! from what the device advertises; a device that takes transient pairing needs none), and
//! the credential store (`--list`, `--forget`).
//!
//! Credentials are stored under the device's identifier: the id discovery reports
//! (`AA:BB:CC:DD:EE:FF`) for `--device`, or the `--address` string exactly as given. `play`
//! and `stream` look them up the same way (and also by resolved address), so pair and play
//! a device the same way and the credentials are found.

use crate::stored;
use crate::target::{Target, TargetArgs};
use airstream::airplay::AirPlayDevice;
use airstream::credentials::CredentialStore;
use airstream::discovery::ServiceKind;
use airstream::pairing::{CannotPair, PairingKind, pairing_kind};
use anyhow::Context;
use std::io::{BufRead, IsTerminal, Write};

/// No `Debug`: it holds the PIN and maybe a key.
#[derive(clap::Args)]
#[command(group(
    clap::ArgGroup::new("action")
        .required(true)
        .args(["device", "address", "list", "forget"])
))]
pub(crate) struct Args {
    /// The Apple TV's name (any case), id or IP address, found with mDNS.
    #[arg(long, value_name = "NAME|ID|ADDRESS")]
    device: Option<String>,
    /// Talk to HOST:PORT directly (the AirPlay port, usually 7000), without mDNS.
    #[arg(long, value_name = "HOST:PORT")]
    address: Option<String>,
    /// How long to look for --device, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    discovery_timeout: f64,
    /// The PIN the device shows; asked for on the terminal when not given.
    // Checked in `run`, not by clap, which would echo a rejected value.
    #[arg(
        long,
        value_name = "PIN",
        env = "AIRSTREAM_PIN",
        hide_env_values = true
    )]
    pin: Option<String>,
    /// Pair with these credentials instead of fresh random ones.
    #[arg(long, value_name = "ID:KEY", conflicts_with_all = ["list", "forget"])]
    credentials: Option<String>,
    /// List the paired devices (identifiers and names, never keys).
    #[arg(long)]
    list: bool,
    /// Delete the stored credentials of DEVICE (an identifier or a name from --list).
    #[arg(long, value_name = "DEVICE")]
    forget: Option<String>,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    // Store errors become airstream errors, so a corrupt or insecure store exits with the
    // documented code of its kind rather than 1.
    let store = CredentialStore::open_default().map_err(airstream::Error::from)?;
    if args.list {
        return list(&store);
    }
    if let Some(device) = &args.forget {
        return forget(&store, device);
    }
    pair(args, &store).await
}

async fn pair(args: Args, store: &CredentialStore) -> anyhow::Result<()> {
    let credentials = args
        .credentials
        .as_deref()
        .map(stored::parse_flag)
        .transpose()?;
    let pin = args.pin.map(|pin| pin.trim().to_string());
    if pin.as_deref().is_some_and(|pin| !is_pin(pin)) {
        return Err(airstream::Error::InvalidInput(
            "--pin (or AIRSTREAM_PIN) must be 1 to 8 digits, as the device shows it".into(),
        )
        .into());
    }
    let target = TargetArgs {
        device: args.device.into_iter().collect(),
        address: args.address.into_iter().collect(),
        discovery_timeout: args.discovery_timeout,
    }
    .resolve(Some(ServiceKind::AirPlay))
    .await?;
    let mut device = airplay_device(&target);
    let can_get_pin = pin.is_some() || std::io::stdin().is_terminal();
    // Given by address, a device says what it is in `GET /info` (AirPlay 2 devices do). Not
    // asked when no PIN could be had anyway: then nothing contacts the device at all.
    if device.capabilities.is_none()
        && can_get_pin
        && let Some(capabilities) = airstream::hap::probe_capabilities(device.address).await?
    {
        device = device.with_capabilities(capabilities);
    }
    let kind = pairing_kind(device.capabilities.as_ref(), pin.is_some())
        .map_err(|why| cannot_pair(&device, why))?;
    if kind == PairingKind::Transient {
        eprintln!(
            "{} needs no pairing: it takes {} on every connection (give --pin to pair with \
             a PIN anyway)",
            target.label,
            kind.describe()
        );
        return Ok(());
    }
    // Checked before contacting the device, so it does not show a PIN nobody can enter.
    if !can_get_pin {
        return Err(airstream::Error::InvalidInput(
            "no PIN: give --pin PIN or set AIRSTREAM_PIN (stdin is not a terminal, so \
             airstream cannot ask for the PIN the device shows)"
                .into(),
        )
        .into());
    }
    tracing::info!(device = %target.label, "pairing kind: {}", kind.describe());
    let label = target.label.clone();
    let ask_pin = || async move {
        match pin {
            Some(pin) => Ok(pin),
            None => prompt(label).await,
        }
    };
    // Printed once below: the one place the key is shown. The user may want it for another
    // machine, and it must not be lost if storing it fails (the device already trusts it).
    let stored = if kind == PairingKind::HapPin {
        if credentials.is_some() {
            return Err(airstream::Error::InvalidInput(format!(
                "--credentials: {} takes {}, which makes its own keys; leave --credentials \
                 out",
                target.label,
                kind.describe()
            ))
            .into());
        }
        let credentials = airstream::hap::pair(&device, ask_pin).await?;
        println!("{}", credentials.to_secret_string());
        store.put_hap(&target.store_id, &store_name(&target), &credentials)
    } else {
        let credentials = airstream::pairing::pair(&device, ask_pin, credentials).await?;
        println!("{}", credentials.to_secret_string());
        store.put(&target.store_id, &store_name(&target), &credentials)
    };
    stored.context(
        "paired, but the credentials printed above could not be stored (give them to play \
         and stream with --credentials)",
    )?;
    eprintln!(
        "paired with {} ({}); credentials stored in {} under {}",
        target.label,
        kind.describe(),
        store.path().display(),
        target.store_id
    );
    Ok(())
}

fn cannot_pair(device: &AirPlayDevice, why: CannotPair) -> airstream::Error {
    let why = match why {
        CannotPair::Disabled => "its AirPlay access control switches pairing off (acl=1)",
        CannotPair::HomeOnly => "it only lets members of its home connect (act=2)",
    };
    airstream::Error::Unsupported(format!("{} cannot be paired: {why}", device.label()))
}

/// The device `play` and `pair` talk to: discovered devices bring their name and TXT
/// capabilities (pairing flags, public key); an `--address` device has neither.
pub(crate) fn airplay_device(target: &Target) -> AirPlayDevice {
    let device = AirPlayDevice::new(target.addr);
    if target.discovered {
        device
            .with_name(target.device.name.clone())
            .with_capabilities(target.device.capabilities.clone())
    } else {
        device
    }
}

fn store_name(target: &Target) -> String {
    if target.discovered && !target.device.name.is_empty() {
        target.device.name.clone()
    } else {
        target.store_id.clone()
    }
}

fn is_pin(pin: &str) -> bool {
    (1..=8).contains(&pin.len()) && pin.bytes().all(|b| b.is_ascii_digit())
}

/// Asks on the terminal (stderr for the question, stdin for the answer). A PIN shown on a
/// TV screen is no secret from the room, so it is read with echo like any line.
async fn prompt(label: String) -> airstream::Result<String> {
    let read = tokio::task::spawn_blocking(move || {
        eprint!("PIN shown on {label}: ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        let read = std::io::stdin().lock().read_line(&mut line);
        (read, line)
    })
    .await;
    match read {
        Ok((Ok(n), line)) if n > 0 => Ok(line.trim().to_string()),
        Ok((Ok(_), _)) => Err(airstream::Error::InvalidInput(
            "no PIN entered (end of input)".into(),
        )),
        Ok((Err(e), _)) => Err(airstream::Error::InvalidInput(format!(
            "cannot read the PIN: {e}"
        ))),
        Err(e) => Err(airstream::Error::InvalidInput(format!(
            "cannot read the PIN: {e}"
        ))),
    }
}

fn list(store: &CredentialStore) -> anyhow::Result<()> {
    let entries = store.list().map_err(airstream::Error::from)?;
    let hap = store.list_hap().map_err(airstream::Error::from)?;
    if entries.is_empty() && hap.is_empty() {
        eprintln!("no paired devices (store: {})", store.path().display());
    }
    for entry in entries {
        println!("{}\t{}", entry.device_id, entry.name);
    }
    for entry in hap {
        println!("{}\t{}\t(AirPlay 2)", entry.device_id, entry.name);
    }
    Ok(())
}

/// Forgets by identifier, or else by a name that matches exactly one entry.
fn forget(store: &CredentialStore, device: &str) -> anyhow::Result<()> {
    if store.forget(device).map_err(airstream::Error::from)? {
        eprintln!("forgot {device}");
        return Ok(());
    }
    let mut named: Vec<(String, String)> = store
        .list()
        .map_err(airstream::Error::from)?
        .into_iter()
        .map(|entry| (entry.device_id, entry.name))
        .collect();
    named.extend(
        store
            .list_hap()
            .map_err(airstream::Error::from)?
            .into_iter()
            .map(|entry| (entry.device_id, entry.name)),
    );
    named.retain(|(_, name)| name.eq_ignore_ascii_case(device));
    match named.as_slice() {
        [(device_id, name)] => {
            store.forget(device_id).map_err(airstream::Error::from)?;
            eprintln!("forgot {device_id} ({name})");
            Ok(())
        }
        [] => Err(airstream::Error::NotFound(format!(
            "no stored credentials for {device} (see `airstream pair --list`)"
        ))
        .into()),
        _ => Err(airstream::Error::NotFound(format!(
            "{} paired devices are named {device}; forget one by its identifier (see \
             `airstream pair --list`)",
            named.len()
        ))
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        pair: Args,
    }

    fn parse(args: &[&str]) -> Option<Args> {
        Cli::try_parse_from(std::iter::once("pair").chain(args.iter().copied()))
            .ok()
            .map(|c| c.pair)
    }

    #[test]
    fn exactly_one_action() {
        assert!(parse(&[]).is_none());
        assert!(parse(&["--list", "--forget", "x"]).is_none());
        assert!(parse(&["--device", "x", "--address", "1.2.3.4:7000"]).is_none());
        assert!(parse(&["--list", "--address", "1.2.3.4:7000"]).is_none());
        assert!(parse(&["--list", "--credentials", "a:b"]).is_none());
        assert!(parse(&["--list"]).expect("list").list);
        let args = parse(&["--address", "1.2.3.4:7000", "--pin", "1234"]).expect("pair");
        assert_eq!(args.pin.as_deref(), Some("1234"));
        assert_eq!(
            parse(&["--forget", "Den"])
                .expect("forget")
                .forget
                .as_deref(),
            Some("Den")
        );
    }

    #[test]
    fn pins_are_one_to_eight_digits() {
        for good in ["7", "0042", "12345678"] {
            assert!(is_pin(good), "{good}");
        }
        for bad in ["", "123456789", "12a4", "-123", "١٢٣٤"] {
            assert!(!is_pin(bad), "{bad}");
        }
    }
}
