//! nqptp's interface, from the facts in its `nqptp-shm-structures.h` (version 10): the
//! shared memory `/nqptp` holds a u16 version, then two copies of {master clock id, local
//! time, local-to-master offset, mastership start}, each four native-endian u64s at 8-byte
//! alignment; a read is valid when both copies match. Its local clock is
//! CLOCK_MONOTONIC_RAW. It takes commands on UDP 127.0.0.1:9000: `<interface> T <ip>` to
//! follow the master at that address, `<interface> B` when play begins.

use std::io;
use std::net::UdpSocket;
use std::time::Duration;

const SHM_VERSION: u16 = 10;
const SET_OFFSET: usize = 8;
const SET_LEN: usize = 32;
const SHM_LEN: usize = SET_OFFSET + 2 * SET_LEN;
const INTERFACE: &str = "/nqptp";
const CONTROL_PORT: u16 = 9000;

/// One consistent reading of nqptp's shared memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NqptpClock {
    /// The grandmaster identity from the master's Announce, as a big-endian number.
    pub master_clock_id: u64,
    /// CLOCK_MONOTONIC_RAW nanoseconds when the offset was taken.
    pub local_time: u64,
    /// Add to local time to get master time (wrapping).
    pub local_to_master_offset: u64,
    pub master_clock_start_time: u64,
}

impl NqptpClock {
    /// Master time at local (CLOCK_MONOTONIC_RAW) time `local_nanos`, by nqptp's offset.
    pub fn master_nanos_at(&self, local_nanos: u64) -> u64 {
        local_nanos.wrapping_add(self.local_to_master_offset)
    }
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_ne_bytes(a)
}

/// Reads the shared memory's bytes: `Ok(None)` while nqptp follows no master or when the
/// two copies differ (a concurrent update; read again).
pub(crate) fn read_clock(bytes: &[u8]) -> io::Result<Option<NqptpClock>> {
    if bytes.len() < SHM_LEN {
        return Err(io::Error::other(format!(
            "nqptp shared memory is {} bytes, expected {SHM_LEN}",
            bytes.len()
        )));
    }
    let version = u16::from_ne_bytes([bytes[0], bytes[1]]);
    if version != SHM_VERSION {
        return Err(io::Error::other(format!(
            "nqptp shared memory version {version}, expected {SHM_VERSION}"
        )));
    }
    let main = &bytes[SET_OFFSET..SET_OFFSET + SET_LEN];
    let secondary = &bytes[SET_OFFSET + SET_LEN..SHM_LEN];
    if main != secondary {
        return Ok(None);
    }
    let clock = NqptpClock {
        master_clock_id: u64_at(main, 0),
        local_time: u64_at(main, 8),
        local_to_master_offset: u64_at(main, 16),
        master_clock_start_time: u64_at(main, 24),
    };
    Ok((clock.master_clock_id != 0).then_some(clock))
}

/// Sends one command to nqptp; call from a thread inside the receiver's namespace.
pub(crate) fn control(command: &str) -> io::Result<()> {
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    // nqptp overwrites the datagram's last byte with a NUL: give it one to overwrite.
    let message = format!("{INTERFACE} {command}\0");
    socket.send_to(message.as_bytes(), ("127.0.0.1", CONTROL_PORT))?;
    Ok(())
}

/// CLOCK_MONOTONIC_RAW, nqptp's local clock (the same in every namespace).
pub fn monotonic_raw() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::MonotonicRaw);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shm(main: [u64; 4], secondary: [u64; 4]) -> Vec<u8> {
        let mut b = vec![0u8; SHM_LEN];
        b[..2].copy_from_slice(&SHM_VERSION.to_ne_bytes());
        for (i, v) in main.iter().chain(secondary.iter()).enumerate() {
            b[SET_OFFSET + 8 * i..SET_OFFSET + 8 * i + 8].copy_from_slice(&v.to_ne_bytes());
        }
        b
    }

    #[test]
    fn reads_a_consistent_record() {
        let set = [0x0A1B_2CFF_FE3D_4E5F, 5, 7, 3];
        assert_eq!(
            read_clock(&shm(set, set)).unwrap_or_default(),
            Some(NqptpClock {
                master_clock_id: 0x0A1B_2CFF_FE3D_4E5F,
                local_time: 5,
                local_to_master_offset: 7,
                master_clock_start_time: 3
            })
        );
    }

    #[test]
    fn torn_empty_or_foreign_records_are_not_a_clock() {
        let set = [1, 5, 7, 3];
        assert_eq!(read_clock(&shm(set, [1, 6, 7, 3])).ok(), Some(None));
        assert_eq!(read_clock(&shm([0; 4], [0; 4])).ok(), Some(None));
        let mut old = shm(set, set);
        old[0] = 9;
        assert!(read_clock(&old).is_err());
        assert!(read_clock(&old[..10]).is_err());
    }
}
