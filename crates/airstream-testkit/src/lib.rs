//! Test support: the real receiver shairport-sync on loopback, the AirPlay 2 receiver
//! (shairport-sync 4.3.7 + nqptp) behind a veth, a fake Apple TV, network namespaces for mDNS
//! and loss tests, a seeded UDP impairment relay, and PCM comparison.

pub mod airplay2;
pub mod avahi;
pub mod compare;
pub mod fake_apple_tv;
pub mod fixtures;
pub mod http;
pub mod mdns;
pub mod netns;
pub mod process;
pub mod receive_process;
pub mod relay;
pub mod shairport;
pub mod signal;
pub mod stalling;
