//! `--device NAME|ID|ADDRESS` / `--address HOST:PORT`: how every command that talks to one
//! device names it. Flatten [`TargetArgs`] into a command's `Args` and call
//! [`TargetArgs::resolve`] with the service it needs (`Some(ServiceKind::Raop)` for `stream`
//! and `volume`, `Some(ServiceKind::AirPlay)` for `play` and `pair`).

use airstream::discovery::{self, Device, DeviceQuery, FindOptions, ServiceKind};
use airstream_proto::capabilities::Capabilities;
use std::net::SocketAddr;
use std::time::Duration;

/// How long resolving a host name in `--address` may take.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(clap::Args, Debug, Clone, PartialEq)]
pub(crate) struct TargetArgs {
    /// The device's name (any case), id (MAC) or IP address, found with mDNS.
    /// Default: `device` in the config file.
    #[arg(long, value_name = "NAME|ID|ADDRESS")]
    pub(crate) device: Vec<String>,
    /// Talk to HOST:PORT directly, without mDNS (for devices that do not advertise; their
    /// capabilities are then assumed: no encryption, no password, no metadata).
    #[arg(long, value_name = "HOST:PORT")]
    pub(crate) address: Vec<String>,
    /// How long to look for --device, in seconds (more than 0, at most 3600).
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    pub(crate) discovery_timeout: f64,
}

/// The device to talk to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Target {
    /// How messages name it.
    pub(crate) label: String,
    /// Where to connect first.
    pub(crate) addr: SocketAddr,
    /// Every address to try, best first.
    pub(crate) addrs: Vec<SocketAddr>,
    /// What discovery found, or for `--address` a device with assumed capabilities.
    pub(crate) device: Device,
    /// Found with mDNS (`--device`), as opposed to given by `--address`.
    pub(crate) discovered: bool,
    /// What the credential store files it under: the discovered device id
    /// (`AA:BB:CC:DD:EE:FF`), or for `--address` the address exactly as given.
    pub(crate) store_id: String,
}

impl Target {
    pub(crate) fn capabilities(&self) -> &Capabilities {
        &self.device.capabilities
    }

    /// Connects to its `_airplay._tcp` port (AirPlay 2) where it advertises one; a device
    /// given by address, or one without that service, keeps its address.
    pub(crate) fn use_airplay_service(&mut self) {
        if !self.discovered {
            return;
        }
        let addrs = self.device.socket_addrs(ServiceKind::AirPlay);
        if let Some(&addr) = addrs.first() {
            self.label = format!("{} ({addr})", self.device.name);
            self.addr = addr;
            self.addrs = addrs;
        }
    }

    /// Store keys its credentials may be under, best first: [`Target::store_id`], then each
    /// resolved address (a device paired by `--address` and now found by name, or the other
    /// way round).
    pub(crate) fn store_keys(&self) -> Vec<String> {
        let mut keys = vec![self.store_id.clone()];
        for addr in &self.addrs {
            let key = addr.to_string();
            if !keys.iter().any(|k| k.eq_ignore_ascii_case(&key)) {
                keys.push(key);
            }
        }
        keys
    }
}

/// Parses a positive number of seconds (at most an hour) given to `flag`.
pub(crate) fn seconds(flag: &str, value: f64) -> Result<Duration, airstream::Error> {
    if value.is_finite() && value > 0.0 && value <= 3600.0 {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(airstream::Error::InvalidInput(format!(
            "{flag} must be more than 0 and at most 3600 seconds, not {value}"
        )))
    }
}

impl TargetArgs {
    /// Finds the one device named, with mDNS for `--device` or directly for `--address`, and
    /// the address of the service the command needs. `None`: any service will do (RAOP
    /// preferred), and an `--address` device counts as a RAOP receiver.
    pub(crate) async fn resolve(&self, service: Option<ServiceKind>) -> anyhow::Result<Target> {
        let mut targets = self.resolve_all(service).await?;
        if targets.len() != 1 {
            anyhow::bail!(airstream::Error::InvalidInput(
                "this command talks to one device: give one --device or --address".into()
            ));
        }
        Ok(targets.remove(0))
    }

    /// Every device named, in the order given (`--device`s first, then `--address`es).
    pub(crate) async fn resolve_all(
        &self,
        service: Option<ServiceKind>,
    ) -> anyhow::Result<Vec<Target>> {
        let (devices, addresses) = if self.device.is_empty() && self.address.is_empty() {
            let config = crate::config::Config::load()?;
            (config.device, config.address)
        } else {
            (self.device.clone(), self.address.clone())
        };
        if devices.is_empty() && addresses.is_empty() {
            return Err(airstream::Error::InvalidInput(format!(
                "name the receiver with --device NAME|ID|ADDRESS (found with mDNS) or \
                 --address HOST:PORT, or set `device` in {}",
                crate::config::path_for_help()
            ))
            .into());
        }
        let mut targets = Vec::new();
        for query in &devices {
            targets.push(self.find(query, service).await?);
        }
        for address in &addresses {
            targets.push(Self::direct(address, service).await?);
        }
        Ok(merge_duplicates(targets))
    }

    /// Finds one `--device` with mDNS, stopping as soon as it is known.
    async fn find(&self, query: &str, service: Option<ServiceKind>) -> anyhow::Result<Target> {
        let timeout = seconds("--discovery-timeout", self.discovery_timeout)?;
        let mut options = FindOptions::new(timeout);
        options.service = service;
        let device = discovery::find_with(&DeviceQuery::parse(query), &options).await?;
        let kind = service.unwrap_or(if device.has(ServiceKind::Raop) {
            ServiceKind::Raop
        } else {
            ServiceKind::AirPlay
        });
        let addrs = device.socket_addrs(kind);
        let Some(&addr) = addrs.first() else {
            return Err(airstream::Error::NotFound(format!(
                "{} advertises {kind} but no address",
                device.describe()
            ))
            .into());
        };
        Ok(Target {
            label: format!("{} ({addr})", device.name),
            store_id: device.id.clone().unwrap_or_else(|| addr.to_string()),
            addr,
            addrs,
            device,
            discovered: true,
        })
    }

    /// One `--address`, without discovery: its capabilities are assumed.
    async fn direct(address: &str, service: Option<ServiceKind>) -> anyhow::Result<Target> {
        let addrs = lookup(address).await?;
        let kind = service.unwrap_or(ServiceKind::Raop);
        Ok(Target {
            label: address.to_string(),
            store_id: address.to_string(),
            addr: addrs[0],
            device: Device::from_address(addrs[0], kind),
            addrs,
            discovered: false,
        })
    }
}

/// The same receiver named twice (`--device Kitchen --address 10.0.0.2:5000`, or one name
/// repeated) is streamed to once: a second session to it would only be refused as busy.
fn merge_duplicates(targets: Vec<Target>) -> Vec<Target> {
    let mut merged: Vec<Target> = Vec::with_capacity(targets.len());
    for target in targets {
        let same_id = |t: &Target| {
            t.discovered && target.discovered && t.store_id.eq_ignore_ascii_case(&target.store_id)
        };
        match merged.iter().find(|t| t.addr == target.addr || same_id(t)) {
            Some(kept) => tracing::info!(
                "{} and {} are the same receiver: streaming to it once",
                kept.label,
                target.label
            ),
            None => merged.push(target),
        }
    }
    merged
}

/// `HOST:PORT` (IPv6 in brackets) to addresses; never empty on success.
async fn lookup(address: &str) -> Result<Vec<SocketAddr>, airstream::Error> {
    if let Ok(addr) = address.parse::<SocketAddr>() {
        return Ok(vec![addr]);
    }
    let not_found = |detail: String| {
        airstream::Error::NotFound(format!("cannot resolve --address {address}: {detail}"))
    };
    if address
        .rsplit_once(':')
        .is_none_or(|(host, port)| host.is_empty() || port.parse::<u16>().is_err())
    {
        // A typo, not a missing device: the input is wrong.
        return Err(airstream::Error::InvalidInput(format!(
            "--address {address}: expected HOST:PORT, e.g. 192.168.1.20:7000 or \
             [fe80::1%eth0]:7000"
        )));
    }
    let addrs: Vec<SocketAddr> =
        tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host(address))
            .await
            .map_err(|_| not_found(format!("no answer within {} s", LOOKUP_TIMEOUT.as_secs())))?
            .map_err(|e| not_found(e.to_string()))?
            .collect();
    if addrs.is_empty() {
        return Err(not_found("no addresses".into()));
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use airstream_testkit::mdns::{Advertiser, FAKE_SUBNET, FakeDevice};
    use airstream_testkit::netns::Netns;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        target: TargetArgs,
    }

    fn parse(args: &[&str]) -> Result<TargetArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("test").chain(args.iter().copied())).map(|c| c.target)
    }

    fn resolve(netns: &Netns, args: &TargetArgs, service: ServiceKind) -> anyhow::Result<Target> {
        netns
            .run(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime")
                    .block_on(args.resolve(Some(service)))
            })
            .expect("thread in the namespace")
    }

    fn kind_of(error: &anyhow::Error) -> Option<airstream::ErrorKind> {
        error
            .downcast_ref::<airstream::Error>()
            .map(airstream::Error::kind)
    }

    #[test]
    fn parses_devices_and_addresses() {
        // Neither is required by the parser: the config file may name the default.
        assert!(parse(&[]).is_ok());
        let args = parse(&["--device", "Kitchen", "--discovery-timeout", "2.5"]).expect("args");
        assert_eq!(args.device, ["Kitchen"]);
        assert!((args.discovery_timeout - 2.5).abs() < f64::EPSILON);
        let args = parse(&["--address", "[::1]:7000"]).expect("args");
        assert_eq!(args.address, ["[::1]:7000"]);
        let args =
            parse(&["--device", "x", "--address", "1.2.3.4:5", "--device", "y"]).expect("args");
        assert_eq!(
            (args.device.len(), args.address.len()),
            (2, 1),
            "a group for stream"
        );
    }

    #[tokio::test]
    async fn an_address_needs_no_discovery_and_assumes_defaults() {
        let args = parse(&["--address", "127.0.0.1:5000"]).expect("args");
        let target = args.resolve(Some(ServiceKind::Raop)).await.expect("target");
        assert_eq!(
            target.addr,
            "127.0.0.1:5000".parse::<SocketAddr>().expect("addr")
        );
        assert_eq!(
            target.capabilities(),
            &Capabilities::assumed(ServiceKind::Raop)
        );
        assert!(!target.discovered);
        assert_eq!(target.store_id, "127.0.0.1:5000");
        assert_eq!(target.store_keys(), ["127.0.0.1:5000"]);
        let args = parse(&["--address", "[::1]:7000"]).expect("args");
        let target = args
            .resolve(Some(ServiceKind::AirPlay))
            .await
            .expect("target");
        assert_eq!(
            target.addrs,
            ["[::1]:7000".parse::<SocketAddr>().expect("addr")]
        );
        assert_eq!(
            target.capabilities(),
            &Capabilities::assumed(ServiceKind::AirPlay)
        );
        for bad in ["127.0.0.1", "no-port", "host:99999", ":5000"] {
            let args = parse(&["--address", bad]).expect("args");
            let err = args.resolve(Some(ServiceKind::Raop)).await.expect_err(bad);
            assert_eq!(kind_of(&err), Some(airstream::ErrorKind::Input), "{bad}");
            assert!(
                err.to_string().contains("expected HOST:PORT"),
                "{bad}: {err}"
            );
        }
        let args = parse(&["--device", "x", "--discovery-timeout=-1"]).expect("args");
        let err = args
            .resolve(Some(ServiceKind::Raop))
            .await
            .expect_err("bad timeout");
        assert_eq!(kind_of(&err), Some(airstream::ErrorKind::Input));
        assert!(
            err.to_string()
                .contains("more than 0 and at most 3600 seconds, not -1"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn the_same_receiver_twice_is_one_target() {
        let args = parse(&[
            "--address",
            "127.0.0.1:5000",
            "--address",
            "127.0.0.1:5001",
            "--address",
            "127.0.0.1:5000",
        ])
        .expect("args");
        let targets = args
            .resolve_all(Some(ServiceKind::Raop))
            .await
            .expect("targets");
        let addrs: Vec<String> = targets.iter().map(|t| t.addr.to_string()).collect();
        assert_eq!(addrs, ["127.0.0.1:5000", "127.0.0.1:5001"]);
    }

    #[test]
    fn a_device_name_resolves_to_the_address_of_the_wanted_service() {
        let netns = Netns::create().expect("network namespace");
        netns.add_address(FAKE_SUBNET).expect("fake subnet");
        let mut devices = vec![FakeDevice::apple_tv(), FakeDevice::airport_express()];
        devices.extend(FakeDevice::speaker_twins());
        let _advertiser = Advertiser::start(&netns, &devices).expect("advertiser");

        let args = parse(&["--device", "KITCHEN"]).expect("args");
        let target = resolve(&netns, &args, ServiceKind::Raop).expect("Kitchen");
        assert_eq!(
            target.addr,
            "10.77.0.11:5000".parse::<SocketAddr>().expect("addr")
        );
        assert_eq!(target.label, "Kitchen (10.77.0.11:5000)");
        assert_eq!(
            target.capabilities().model.as_deref(),
            Some("AirPort10,115")
        );
        assert!(target.discovered);

        let args = parse(&["--device", "living room"]).expect("args");
        let target = resolve(&netns, &args, ServiceKind::AirPlay).expect("Apple TV");
        assert_eq!(target.addr.port(), 7000);
        assert!(target.capabilities().airplay);
        // Credentials are filed under the device id, and also found by address.
        assert_eq!(target.store_id, "58:55:CA:1A:E2:88");
        let keys = target.store_keys();
        assert_eq!(keys[0], "58:55:CA:1A:E2:88");
        assert!(keys.contains(&target.addr.to_string()), "{keys:?}");

        let args = parse(&["--device", "Speaker", "--discovery-timeout", "10"]).expect("args");
        let err = resolve(&netns, &args, ServiceKind::Raop).expect_err("ambiguous");
        assert_eq!(kind_of(&err), Some(airstream::ErrorKind::NotFound));
        assert!(err.to_string().contains("0A:00:00:00:00:01"), "{err}");
        assert!(err.to_string().contains("0A:00:00:00:00:02"), "{err}");

        let args = parse(&["--device", "kitchen", "--discovery-timeout", "1.5"]).expect("args");
        let err = resolve(&netns, &args, ServiceKind::AirPlay).expect_err("no AirPlay service");
        assert_eq!(kind_of(&err), Some(airstream::ErrorKind::Unsupported));
    }
}
