//! What a call is aimed at: a `Device` from `scan()`, a name or id (any case) found with mDNS,
//! or a `"host:port"` address used directly (its capabilities are then assumed: no
//! encryption, no password, every kind of metadata). A list of them is a group.

use crate::device::Device;
use crate::errors::{invalid, to_py};
use airstream::discovery::{self, DeviceQuery, FindOptions, ServiceKind};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple};
use std::net::SocketAddr;
use std::time::Duration;

/// How long resolving a host name in an address may take.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// A target as given, before discovery or name lookup.
#[derive(Clone)]
pub(crate) enum Spec {
    Found(Box<discovery::Device>),
    Query(String),
    Address(String),
}

/// A target resolved to the address of the service a call needs.
pub(crate) struct Target {
    /// How messages name it.
    pub(crate) label: String,
    pub(crate) addr: SocketAddr,
    /// What discovery found, or a device with assumed capabilities.
    pub(crate) device: discovery::Device,
    /// Found with mDNS (as opposed to given as an address).
    pub(crate) discovered: bool,
}

/// One target from Python.
pub(crate) fn spec(object: &Bound<'_, PyAny>) -> PyResult<Spec> {
    if let Ok(device) = object.cast::<Device>() {
        return Ok(Spec::Found(Box::new(device.get().inner.clone())));
    }
    let Ok(text) = object.cast::<PyString>() else {
        return Err(invalid(format!(
            "a target is a Device from scan(), a name, an id or \"host:port\", not a {}",
            object.get_type().name()?
        )));
    };
    let text: String = text.extract()?;
    let text = text.trim().to_string();
    if text.is_empty() {
        return Err(invalid(
            "the target is empty: give a name, an id or \"host:port\"",
        ));
    }
    Ok(if is_address(&text) {
        Spec::Address(text)
    } else {
        Spec::Query(text)
    })
}

/// A target or a list (or tuple) of them: a group.
pub(crate) fn specs(object: &Bound<'_, PyAny>) -> PyResult<Vec<Spec>> {
    if object.is_instance_of::<PyList>() || object.is_instance_of::<PyTuple>() {
        let specs = object
            .try_iter()?
            .map(|item| spec(&item?))
            .collect::<PyResult<Vec<_>>>()?;
        if specs.is_empty() {
            return Err(invalid("the group is empty: give at least one target"));
        }
        return Ok(specs);
    }
    Ok(vec![spec(object)?])
}

/// `host:port`, `[v6]:port` or `v4:port`; a device id (`AA:BB:CC:DD:EE:FF`) is not one.
fn is_address(text: &str) -> bool {
    if text.parse::<SocketAddr>().is_ok() {
        return true;
    }
    text.rsplit_once(':').is_some_and(|(host, port)| {
        !host.is_empty() && !host.contains(':') && port.parse::<u16>().is_ok()
    })
}

/// Resolves one target for `service` (mDNS for names, a lookup for host names).
pub(crate) async fn resolve(
    spec: Spec,
    service: ServiceKind,
    discovery_timeout: Duration,
) -> PyResult<Target> {
    match spec {
        Spec::Found(device) => found(*device, service),
        Spec::Query(query) => {
            let mut options = FindOptions::new(discovery_timeout);
            options.service = Some(service);
            let device = discovery::find_with(&DeviceQuery::parse(&query), &options)
                .await
                .map_err(|e| to_py(&e))?;
            found(device, service)
        }
        Spec::Address(address) => {
            let addr = lookup(&address).await?;
            Ok(Target {
                label: address,
                addr,
                device: discovery::Device::from_address(addr, service),
                discovered: false,
            })
        }
    }
}

/// Resolves every target of a group, in order; the same receiver named twice counts once.
pub(crate) async fn resolve_all(
    specs: Vec<Spec>,
    service: ServiceKind,
    discovery_timeout: Duration,
) -> PyResult<Vec<Target>> {
    let mut targets: Vec<Target> = Vec::with_capacity(specs.len());
    for spec in specs {
        let target = resolve(spec, service, discovery_timeout).await?;
        if !targets.iter().any(|t| t.addr == target.addr) {
            targets.push(target);
        }
    }
    Ok(targets)
}

fn found(device: discovery::Device, service: ServiceKind) -> PyResult<Target> {
    let addr = device.socket_addr(service).ok_or_else(|| {
        to_py(&airstream::Error::NotFound(format!(
            "{} advertises no {service} service with an address",
            device.describe()
        )))
    })?;
    Ok(Target {
        label: format!("{} ({addr})", device.name),
        addr,
        device,
        discovered: true,
    })
}

async fn lookup(address: &str) -> PyResult<SocketAddr> {
    if let Ok(addr) = address.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let not_found = |detail: String| {
        to_py(&airstream::Error::NotFound(format!(
            "cannot resolve {address}: {detail}"
        )))
    };
    tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host(address))
        .await
        .map_err(|_| not_found(format!("no answer within {} s", LOOKUP_TIMEOUT.as_secs())))?
        .map_err(|e| not_found(e.to_string()))?
        .next()
        .ok_or_else(|| not_found("no addresses".into()))
}
