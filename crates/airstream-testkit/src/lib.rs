//! Test support: the real receiver shairport-sync on loopback, a fake Apple TV, network
//! namespaces for mDNS and loss tests, a seeded UDP impairment relay, and PCM comparison.

pub mod compare;
pub mod signal;
