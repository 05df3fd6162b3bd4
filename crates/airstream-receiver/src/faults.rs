//! Reads the fault-injection switches of [`Behaviour`]: the test suite's misbehaviours exist
//! only with the `fault-injection` feature, so the receiver `airstream receive` ships cannot
//! be told to drop, hang or die; without the feature every switch reads as "behave".

use crate::Behaviour;

#[cfg(feature = "fault-injection")]
impl Behaviour {
    pub(crate) fn busy(&self) -> bool {
        self.busy
    }
    pub(crate) fn close_on_connect(&self) -> bool {
        self.close_on_connect
    }
    pub(crate) fn drops_packet(&self, index: u64) -> bool {
        self.drop_packets.contains(&index)
    }
    pub(crate) fn die_after_packets(&self) -> Option<u64> {
        self.die_after_packets
    }
    pub(crate) fn hang_after_packets(&self) -> Option<u64> {
        self.hang_after_packets
    }
    pub(crate) fn reject_volume(&self) -> bool {
        self.reject_volume
    }
    pub(crate) fn reject_metadata(&self) -> bool {
        self.reject_metadata
    }
    pub(crate) fn no_timing(&self) -> bool {
        self.no_timing
    }
    pub(crate) fn require_auth_setup(&self) -> bool {
        self.require_auth_setup
    }
    pub(crate) fn require_pairing(&self) -> bool {
        self.require_pairing
    }
    pub(crate) fn audio_latency(&self) -> Option<u32> {
        self.audio_latency
    }
}

#[cfg(not(feature = "fault-injection"))]
#[allow(clippy::unused_self)]
impl Behaviour {
    pub(crate) fn busy(&self) -> bool {
        false
    }
    pub(crate) fn close_on_connect(&self) -> bool {
        false
    }
    pub(crate) fn drops_packet(&self, _index: u64) -> bool {
        false
    }
    pub(crate) fn die_after_packets(&self) -> Option<u64> {
        None
    }
    pub(crate) fn hang_after_packets(&self) -> Option<u64> {
        None
    }
    pub(crate) fn reject_volume(&self) -> bool {
        false
    }
    pub(crate) fn reject_metadata(&self) -> bool {
        false
    }
    pub(crate) fn no_timing(&self) -> bool {
        false
    }
    pub(crate) fn require_auth_setup(&self) -> bool {
        false
    }
    pub(crate) fn require_pairing(&self) -> bool {
        false
    }
    pub(crate) fn audio_latency(&self) -> Option<u32> {
        None
    }
}
