//! Test support: the real receiver shairport-sync on loopback, a fake Apple TV, network
//! namespaces for mDNS and loss tests, a seeded UDP impairment relay, and PCM comparison.

pub mod avahi;
pub mod compare;
pub mod fake_apple_tv;
pub mod fixtures;
pub mod http;
pub mod mdns;
pub mod netns;
pub mod process;
pub mod relay;
pub mod shairport;
pub mod signal;
