//! Sends a burst of datagrams on a connected UDP socket with as few system calls as the
//! platform allows: one `sendmmsg` on Linux. On loopback every separate send also woke the
//! receiver and handed it the CPU; one call per burst halved the sender's context switches
//! and took about a tenth off its CPU time (perf stat, 60 s of MP3 to shairport-sync).

use bytes::Bytes;
use std::io;
use tokio::net::UdpSocket;

/// Sends every datagram in order, waiting while the socket buffer is full. An error ends
/// the burst: the datagrams after it are not sent.
pub(super) async fn send_all(socket: &UdpSocket, datagrams: &[Bytes]) -> io::Result<()> {
    let mut rest = datagrams;
    while !rest.is_empty() {
        socket.writable().await?;
        match socket.try_io(tokio::io::Interest::WRITABLE, || send_some(socket, rest)) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "no datagram sent")),
            Ok(sent) => rest = rest.get(sent..).unwrap_or_default(),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Sends a prefix of `datagrams` (at least one, or an error); returns its length.
#[cfg(target_os = "linux")]
fn send_some(socket: &UdpSocket, datagrams: &[Bytes]) -> io::Result<usize> {
    use rustix::net::{MMsgHdr, SendAncillaryBuffer, SendFlags, sendmmsg};
    let slices: Vec<[io::IoSlice<'_>; 1]> =
        datagrams.iter().map(|d| [io::IoSlice::new(d)]).collect();
    let mut no_control: Vec<SendAncillaryBuffer<'_, '_, '_>> = datagrams
        .iter()
        .map(|_| SendAncillaryBuffer::default())
        .collect();
    let mut messages: Vec<MMsgHdr<'_>> = slices
        .iter()
        .zip(no_control.iter_mut())
        .map(|(slice, control)| MMsgHdr::new(slice, control))
        .collect();
    Ok(sendmmsg(socket, &mut messages, SendFlags::empty())?)
}

#[cfg(not(target_os = "linux"))]
fn send_some(socket: &UdpSocket, datagrams: &[Bytes]) -> io::Result<usize> {
    match datagrams.first() {
        Some(first) => socket.try_send(first).map(|_| 1),
        None => Ok(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_burst_arrives_whole_and_in_order() {
        let receiver = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        sender
            .connect(receiver.local_addr().unwrap())
            .await
            .unwrap();
        // Sizes differ, as compressed ALAC packets do.
        let burst: Vec<Bytes> = (0..100u16)
            .map(|i| Bytes::from(vec![(i % 251) as u8; 12 + usize::from(i) * 7]))
            .collect();
        send_all(&sender, &burst).await.unwrap();
        let mut buf = [0u8; 2048];
        for expected in &burst {
            let n = receiver.recv(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], &expected[..]);
        }
    }

    #[tokio::test]
    async fn a_closed_port_surfaces_as_an_error() {
        let gone = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let address = gone.local_addr().unwrap();
        drop(gone);
        let sender = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        sender.connect(address).await.unwrap();
        let burst = vec![Bytes::from_static(b"audio"); 4];
        // The ICMP "port unreachable" of the first burst fails a later one.
        let mut failed = None;
        for _ in 0..10 {
            if let Err(e) = send_all(&sender, &burst).await {
                failed = Some(e);
                break;
            }
        }
        let error = failed.expect("sending to a closed port never failed");
        assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);
    }
}
