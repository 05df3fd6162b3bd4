//! Where the built peer is: scripts/test runs shared/peers/build-airplay2-receiver.sh and
//! passes its output directory in [`PEER_BIN_ENV`].

use std::io;
use std::path::PathBuf;

/// The environment variable naming the directory with `shairport-sync` (AirPlay 2) and `nqptp`.
pub const PEER_BIN_ENV: &str = "AIRSTREAM_AP2_PEER_BIN";

/// The peer's bin directory; an error that says what to do when it is not there.
pub fn bin_dir() -> io::Result<PathBuf> {
    let missing = |why: String| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "AirPlay 2 test peer not available ({why}): run scripts/test, which builds \
                 shairport-sync 4.3.7 + nqptp (shared/peers/build-airplay2-receiver.sh) and sets \
                 {PEER_BIN_ENV}"
            ),
        )
    };
    let dir = std::env::var_os(PEER_BIN_ENV)
        .map(PathBuf::from)
        .ok_or_else(|| missing(format!("{PEER_BIN_ENV} is not set")))?;
    for program in ["shairport-sync", "nqptp"] {
        if !dir.join(program).is_file() {
            return Err(missing(format!("no {program} in {}", dir.display())));
        }
    }
    Ok(dir)
}
