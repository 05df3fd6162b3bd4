//! Finding AirPlay devices with mDNS: browse `_raop._tcp` and `_airplay._tcp`, merge the two
//! services of each physical device, and parse their TXT records into
//! [`Capabilities`](airstream_proto::capabilities::Capabilities).
//!
//! [`scan`] listens for the whole timeout (it cannot know when every device has answered).
//! [`find`] returns as soon as the device is known: an id match at once, a name or address
//! match after a short settle window ([`DEFAULT_SETTLE`]) in which the device's second service
//! and any other device of the same name still arrive, so ambiguity is reported, not guessed.

mod devices;
mod query;

pub use airstream_proto::capabilities::ServiceKind;
pub use devices::Device;
pub use query::DeviceQuery;

use crate::{Error, Result};
use devices::{DeviceSet, ServiceUpdate};
use mdns_sd::{Receiver, ResolvedService, ScopedIp, ServiceDaemon, ServiceEvent};
use std::net::IpAddr;
use std::time::Duration;
use tokio::time::Instant;

/// How long a name or address search keeps listening after its first match. mDNS responders
/// delay shared answers by 20–120 ms (RFC 6762 §6), so siblings and namesakes land within it.
pub const DEFAULT_SETTLE: Duration = Duration::from_millis(300);

/// Options for [`find_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindOptions {
    /// Give up after this long.
    pub timeout: Duration,
    /// The service the caller will use; a match without it keeps the search going (and fails
    /// with `Unsupported` at the timeout).
    pub service: Option<ServiceKind>,
    /// See [`DEFAULT_SETTLE`].
    pub settle: Duration,
}

impl FindOptions {
    /// Browse for `timeout`, both services, with the default settle time.
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            service: None,
            settle: DEFAULT_SETTLE,
        }
    }

    /// Browse only this service type (builder form).
    #[must_use]
    pub fn service(mut self, service: ServiceKind) -> Self {
        self.service = Some(service);
        self
    }
}

/// Browses for `timeout` and returns every device that answered, sorted by name.
pub async fn scan(timeout: Duration) -> Result<Vec<Device>> {
    let mut browser = Browser::start()?;
    let deadline = Instant::now() + timeout;
    let mut set = DeviceSet::default();
    while let Some(change) = browser.next(deadline).await? {
        change.apply(&mut set);
    }
    let devices = set.into_devices();
    for device in &devices {
        for warning in &device.capabilities.warnings {
            tracing::debug!("{}: {warning}", device.name);
        }
    }
    Ok(devices)
}

/// Finds one device by name (case-insensitive), id/MAC or IP address; see [`find_with`].
pub async fn find(query: &str, timeout: Duration) -> Result<Device> {
    find_with(&DeviceQuery::parse(query), &FindOptions::new(timeout)).await
}

/// Browses until `query` names exactly one device (see the module docs for when that is
/// decided), then stops. Errors: `NotFound` when nothing matched in time or the name is
/// ambiguous (the message lists the candidates), `Unsupported` when the device lacks the
/// requested service.
pub async fn find_with(query: &DeviceQuery, options: &FindOptions) -> Result<Device> {
    let started = Instant::now();
    let deadline = started + options.timeout;
    let mut browser = Browser::start()?;
    let mut set = DeviceSet::default();
    let mut settle_until: Option<Instant> = None;
    let usable = |d: &Device| options.service.is_none_or(|s| d.has(s));
    loop {
        // Past the settle point only the deadline is left to wait for.
        let wake = settle_until
            .filter(|s| *s > Instant::now())
            .map_or(deadline, |s| s.min(deadline));
        let change = browser.next(wake).await?;
        let timed_out = change.is_none() && Instant::now() >= deadline;
        if let Some(change) = change {
            change.apply(&mut set);
        }
        let matches: Vec<&Device> = set.devices().iter().filter(|d| query.matches(d)).collect();
        if matches.is_empty() {
            settle_until = None;
        } else if settle_until.is_none() {
            settle_until = Some(Instant::now() + options.settle);
            tracing::debug!(
                "{query}: first match after {} ms",
                started.elapsed().as_millis()
            );
        }
        let settled = settle_until.is_some_and(|s| Instant::now() >= s);
        let early = query.is_unique() && options.service.is_some();
        match matches.as_slice() {
            [device] if usable(device) && (settled || early || timed_out) => {
                tracing::debug!(
                    "found {} after {} ms",
                    device.describe(),
                    started.elapsed().as_millis()
                );
                return Ok((*device).clone());
            }
            [_, _, ..] if settled || timed_out => return Err(ambiguous(query, &matches)),
            _ if timed_out => return Err(not_found(query, options, &set)),
            _ => {}
        }
    }
}

fn ambiguous(query: &DeviceQuery, matches: &[&Device]) -> Error {
    let list: Vec<String> = matches.iter().map(|d| d.describe()).collect();
    Error::NotFound(format!(
        "{query} matches {} devices: {}; name one by its id or address instead",
        matches.len(),
        list.join(", ")
    ))
}

fn not_found(query: &DeviceQuery, options: &FindOptions, set: &DeviceSet) -> Error {
    if let Some(service) = options.service
        && let Some(device) = set.devices().iter().find(|d| query.matches(d))
    {
        return Error::Unsupported(format!(
            "{} was found but advertises no {service} service",
            device.describe()
        ));
    }
    let seen: Vec<String> = set.devices().iter().map(Device::describe).collect();
    let seen = if seen.is_empty() {
        "no AirPlay device answered".to_string()
    } else {
        format!("devices that answered: {}", seen.join(", "))
    };
    Error::NotFound(format!(
        "no AirPlay device with {query} answered within {:.1} s ({seen})",
        options.timeout.as_secs_f64()
    ))
}

/// One thing the browser learned.
enum Change {
    Resolved(ServiceUpdate),
    Removed(ServiceKind, String),
}

impl Change {
    fn apply(self, set: &mut DeviceSet) {
        match self {
            Change::Resolved(update) => set.upsert(update),
            Change::Removed(kind, instance) => set.remove(kind, &instance),
        }
    }
}

fn mdns_error(e: mdns_sd::Error) -> Error {
    Error::network("mDNS discovery", std::io::Error::other(e))
}

/// Instance part of `<instance>.<service type>`.
fn instance_name(fullname: &str, kind: ServiceKind) -> String {
    fullname
        .strip_suffix(kind.service_type())
        .and_then(|s| s.strip_suffix('.'))
        .unwrap_or(fullname)
        .to_string()
}

fn update_from(kind: ServiceKind, resolved: &ResolvedService) -> ServiceUpdate {
    let addresses = resolved
        .get_addresses()
        .iter()
        .map(|scoped| {
            let ip = scoped.to_ip_addr();
            // A link-local IPv6 address is only usable with the interface it was seen on.
            let scope = match (scoped, ip) {
                (ScopedIp::V6(v6), IpAddr::V6(addr)) if addr.segments()[0] & 0xffc0 == 0xfe80 => {
                    v6.scope_id().index
                }
                _ => 0,
            };
            (ip, scope)
        })
        .collect();
    let mut txt = airstream_proto::capabilities::TxtRecord::new();
    for property in resolved.get_properties().iter() {
        txt.push(property.key(), property.val());
    }
    ServiceUpdate {
        kind,
        instance: instance_name(resolved.get_fullname(), kind),
        host: resolved.get_hostname().to_string(),
        port: resolved.get_port(),
        addresses,
        txt,
    }
}

/// An mdns-sd daemon browsing both service types; shut down when dropped.
struct Browser {
    daemon: ServiceDaemon,
    raop: Option<Receiver<ServiceEvent>>,
    airplay: Option<Receiver<ServiceEvent>>,
}

impl Browser {
    fn start() -> Result<Self> {
        let daemon = ServiceDaemon::new().map_err(mdns_error)?;
        let browser = Self {
            raop: Some(
                daemon
                    .browse(ServiceKind::Raop.service_type())
                    .map_err(mdns_error)?,
            ),
            airplay: Some(
                daemon
                    .browse(ServiceKind::AirPlay.service_type())
                    .map_err(mdns_error)?,
            ),
            daemon,
        };
        Ok(browser)
    }

    /// The next change, or `None` once `until` has passed.
    async fn next(&mut self, until: Instant) -> Result<Option<Change>> {
        loop {
            if self.raop.is_none() && self.airplay.is_none() {
                return Err(Error::ConnectionLost(
                    "the mDNS daemon stopped while browsing".to_string(),
                ));
            }
            let (kind, event) = tokio::select! {
                event = recv(self.raop.as_ref()), if self.raop.is_some() => (ServiceKind::Raop, event),
                event = recv(self.airplay.as_ref()), if self.airplay.is_some() => {
                    (ServiceKind::AirPlay, event)
                }
                () = tokio::time::sleep_until(until) => return Ok(None),
            };
            let Some(event) = event else {
                // That browse ended (the daemon is going away); keep listening to the other.
                match kind {
                    ServiceKind::Raop => self.raop = None,
                    ServiceKind::AirPlay => self.airplay = None,
                }
                continue;
            };
            match event {
                ServiceEvent::ServiceResolved(resolved) if resolved.is_valid() => {
                    return Ok(Some(Change::Resolved(update_from(kind, &resolved))));
                }
                ServiceEvent::ServiceRemoved(_, fullname) => {
                    return Ok(Some(Change::Removed(kind, instance_name(&fullname, kind))));
                }
                other => tracing::trace!("mDNS {kind}: {other:?}"),
            }
        }
    }
}

async fn recv(receiver: Option<&Receiver<ServiceEvent>>) -> Option<ServiceEvent> {
    match receiver {
        Some(receiver) => receiver.recv_async().await.ok(),
        None => std::future::pending().await,
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Stops the daemon thread and its sockets; the status reply is not worth waiting for.
        let _ = self.daemon.shutdown();
    }
}
