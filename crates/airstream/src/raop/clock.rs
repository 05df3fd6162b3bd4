//! The one place the stream reads the clock: everything else gets `now` passed in, so the
//! engine and its tests run on any time line.

use std::time::Instant;

/// The current monotonic time.
pub(super) fn now() -> Instant {
    Instant::now()
}
