//! The rig's network: a bridge in the sender namespace, and a veth from it to each
//! receiver's namespace. Links are created directly inside the namespaces, so nothing ever
//! appears in the host's.

use crate::netns::Netns;
use std::io;
use std::net::{IpAddr, Ipv4Addr};

/// The sender's address on the rig's /24, 10.77.9.0/24 (no other testkit subnet uses it).
pub const SENDER_ADDRESS: Ipv4Addr = Ipv4Addr::new(10, 77, 9, 1);
const PREFIX_LEN: u8 = 24;
const FIRST_RECEIVER_HOST: u8 = 10;
/// Receivers per rig (host numbers 10..=249 stay within the /24).
pub(crate) const MAX_RECEIVERS: u8 = 240;
/// The bridge in the sender namespace that every receiver's veth hangs on.
pub const SENDER_BRIDGE: &str = "ap2br";
/// The receiver's end of its veth, inside the receiver namespace.
const RECEIVER_LINK: &str = "ap2s";

/// Receiver `index`'s address.
pub fn receiver_address(index: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 77, 9, FIRST_RECEIVER_HOST + index)
}

pub(crate) use crate::netns::ip;

/// The sender's namespace with its bridge up and addressed.
pub(crate) fn sender_namespace() -> io::Result<Netns> {
    let ns = Netns::create()?;
    let n = ns.name();
    ip(&["-n", n, "link", "add", SENDER_BRIDGE, "type", "bridge"])?;
    ip(&[
        "-n",
        n,
        "addr",
        "add",
        &format!("{SENDER_ADDRESS}/{PREFIX_LEN}"),
        "dev",
        SENDER_BRIDGE,
    ])?;
    ip(&["-n", n, "link", "set", SENDER_BRIDGE, "up"])?;
    Ok(ns)
}

/// A receiver namespace joined to the sender's bridge, with address `receiver_address(index)`.
pub(crate) fn receiver_namespace(sender: &Netns, index: u8) -> io::Result<Netns> {
    let ns = Netns::create()?;
    let s = sender.name();
    let sender_end = format!("ap2r{index}");
    ip(&[
        "-n",
        s,
        "link",
        "add",
        &sender_end,
        "type",
        "veth",
        "peer",
        "name",
        RECEIVER_LINK,
        "netns",
        ns.name(),
    ])?;
    ip(&["-n", s, "link", "set", &sender_end, "master", SENDER_BRIDGE])?;
    ip(&["-n", s, "link", "set", &sender_end, "up"])?;
    let address = IpAddr::V4(receiver_address(index));
    ip(&[
        "-n",
        ns.name(),
        "addr",
        "add",
        &format!("{address}/{PREFIX_LEN}"),
        "dev",
        RECEIVER_LINK,
    ])?;
    ip(&["-n", ns.name(), "link", "set", RECEIVER_LINK, "up"])?;
    Ok(ns)
}
