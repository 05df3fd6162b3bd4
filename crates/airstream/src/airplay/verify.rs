//! Legacy pair-verify on the playback connection, before `/play` (airplay.md §1.3 a).

use super::device::AirPlayDevice;
use crate::connection::Connection;
use crate::error::Result;
use crate::pairing::verify::VerifyPeer;
use airstream_proto::pairing::Credentials;

pub(crate) async fn pair_verify(
    conn: &mut Connection,
    device: &AirPlayDevice,
    credentials: &Credentials,
) -> Result<()> {
    // With the key it advertises (TXT `pk`, from discovery) the device's signature is checked
    // too; a bare address gives no key.
    let peer = VerifyPeer {
        label: device.label(),
        pair_command: device.pair_command(),
        device_key: device
            .capabilities
            .as_ref()
            .and_then(|c| c.public_key)
            .map(|pk| pk.0),
    };
    crate::pairing::verify::pair_verify(conn, credentials, &peer).await
}
