//! Connection slots: at most [`MAX_CONNECTIONS`](crate::MAX_CONNECTIONS) RTSP connections are
//! served at once, and strangers cannot use that cap to lock a real sender out.
//!
//! When every slot is taken, a new connection takes the slot of the connection that has
//! been quiet longest (no complete request for the longest time) among those that hold no
//! session; that connection is told to close. The session's own connection is never
//! displaced, and a real sender setting up a session is the most recently active of all, so
//! idle connections, however many, only ever displace each other.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::oneshot;

/// The slots of one receiver.
pub(crate) struct Slots {
    capacity: usize,
    table: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    entries: Vec<Entry>,
    /// Counts accepts and completed requests: orders connections by their last activity.
    ticks: u64,
}

impl Table {
    fn tick(&mut self) -> u64 {
        self.ticks += 1;
        self.ticks
    }
}

struct Entry {
    /// The tick it was accepted at: its identity.
    id: u64,
    /// The tick of its accept or its last completed request.
    last_active: u64,
    /// It holds the receiver's session: never displaced.
    in_session: bool,
    /// Fired when another connection takes this slot.
    displace: oneshot::Sender<()>,
}

/// A connection's slot; dropping it frees the slot.
pub(crate) struct Slot {
    slots: Arc<Slots>,
    id: u64,
}

impl Slots {
    pub(crate) fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            capacity,
            table: Mutex::new(Table::default()),
        })
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        // The table stays consistent across a panic elsewhere: every change is one push,
        // remove or field write.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A slot for a new connection, and what tells it that it lost the slot; `None` when
    /// every slot holds a session (only with a capacity of one).
    pub(crate) fn admit(self: &Arc<Self>) -> Option<(Slot, oneshot::Receiver<()>)> {
        let mut table = self.table();
        if table.entries.len() >= self.capacity {
            let quietest = table
                .entries
                .iter()
                .enumerate()
                .filter(|(_, e)| !e.in_session)
                .min_by_key(|(_, e)| e.last_active)
                .map(|(i, _)| i)?;
            let displaced = table.entries.swap_remove(quietest);
            tracing::debug!("{} connections open: closing the quietest", self.capacity);
            let _ = displaced.displace.send(());
        }
        let id = table.tick();
        let (displace, displaced) = oneshot::channel();
        table.entries.push(Entry {
            id,
            last_active: id,
            in_session: false,
            displace,
        });
        Some((
            Slot {
                slots: Arc::clone(self),
                id,
            },
            displaced,
        ))
    }
}

impl Slot {
    /// The connection completed a request; `in_session`: it now holds the session.
    pub(crate) fn active(&self, in_session: bool) {
        let mut table = self.slots.table();
        let now = table.tick();
        if let Some(entry) = table.entries.iter_mut().find(|e| e.id == self.id) {
            entry.last_active = now;
            entry.in_session = in_session;
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.table().entries.retain(|e| e.id != self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_table_displaces_the_quietest_connection_without_the_session() {
        let slots = Slots::new(3);
        let (session, mut session_told) = slots.admit().expect("free slot");
        let (_idle, mut idle_told) = slots.admit().expect("free slot");
        let (busy, mut busy_told) = slots.admit().expect("free slot");
        session.active(true);
        busy.active(false);
        // Full: the idle one is the quietest without the session.
        let (_new, mut new_told) = slots.admit().expect("a slot by displacing");
        assert!(idle_told.try_recv().is_ok());
        assert!(session_told.try_recv().is_err());
        assert!(busy_told.try_recv().is_err());
        // Then the one that was active before the newcomer arrived.
        let (_newer, _) = slots.admit().expect("a slot by displacing");
        assert!(busy_told.try_recv().is_ok());
        assert!(new_told.try_recv().is_err());
        assert!(session_told.try_recv().is_err());
        assert_eq!(slots.table().entries.len(), 3);
        drop(session);
        assert_eq!(slots.table().entries.len(), 2);
    }

    #[test]
    fn a_single_slot_held_by_the_session_refuses() {
        let slots = Slots::new(1);
        let (session, _told) = slots.admit().expect("free slot");
        session.active(true);
        assert!(slots.admit().is_none());
        drop(session);
        assert!(slots.admit().is_some());
    }
}
