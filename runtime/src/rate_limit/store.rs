//! The clients' GCRA states of one limiter: governor's keyed state store, with each
//! thread remembering the state of the client it checked last.
//!
//! Governor's `DashMap` store takes a shard's read lock for every check: two atomic
//! read-modify-writes on a cache line every thread shares, on top of the state's own
//! compare-and-swap. A server's threads check the same few clients over and over, so each
//! thread here keeps its last client's state (an `Arc`) and goes to the map only for another
//! client. Under load from one client on two worker threads, the check then touches one
//! shared line instead of two (`rate_limit::micro` has the figures).

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use governor::nanos::Nanos;
use governor::state::keyed::ShrinkableKeyedStateStore;
use governor::state::{InMemoryState, NotKeyed, StateStore};
use thread_local::ThreadLocal;

use super::ClientKey;

/// Clients' states, hashed with foldhash (SipHash, the default, was a third of a check).
type Map = dashmap::DashMap<ClientKey, Arc<InMemoryState>, foldhash::fast::RandomState>;

/// A thread's last client: its key, its state, and the map's epoch when it was looked up.
type Last = RefCell<Option<(u64, ClientKey, Arc<InMemoryState>)>>;

#[derive(Default)]
pub(super) struct Clients {
    map: Map,
    /// Bumped when states are dropped from the map: a thread's remembered state may be one
    /// of them, so it is looked up again.
    epoch: AtomicU64,
    last: ThreadLocal<Last>,
}

impl Clients {
    /// The theoretical arrival time a state holds (none for a fresh one), read without
    /// changing it: the measuring function refuses, so nothing is written.
    fn arrival(state: &InMemoryState) -> Option<Nanos> {
        state
            .measure_and_replace(&NotKeyed::NonKey, Err::<((), Nanos), _>)
            .unwrap_err()
    }
}

impl StateStore for Clients {
    type Key = ClientKey;

    fn measure_and_replace<T, F, E>(&self, key: &ClientKey, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        let last = self.last.get_or_default();
        let epoch = self.epoch.load(Ordering::Acquire);
        if let Some((seen, k, state)) = &*last.borrow()
            && *seen == epoch
            && k == key
        {
            return state.measure_and_replace(&NotKeyed::NonKey, f);
        }
        let state = match self.map.get(key) {
            Some(state) => Arc::clone(&state),
            None => Arc::clone(&self.map.entry(key.clone()).or_default()),
        };
        let measured = state.measure_and_replace(&NotKeyed::NonKey, f);
        *last.borrow_mut() = Some((epoch, key.clone(), state));
        measured
    }
}

/// Drops the states that are as good as fresh (what governor's own stores do). A thread
/// that checks its remembered state while it is being dropped counts one request in a
/// bucket that was full anyway: its client may get one request more, once.
impl ShrinkableKeyedStateStore<ClientKey> for Clients {
    fn retain_recent(&self, drop_below: Nanos) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.map
            .retain(|_, state| Self::arrival(state).is_some_and(|tat| tat > drop_below));
    }

    fn shrink_to_fit(&self) {
        self.map.shrink_to_fit();
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;

    fn addr(last: u8) -> ClientKey {
        ClientKey::Addr(IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)))
    }

    /// Counts a request (a state's arrival time moved on by 1 s).
    fn count(clients: &Clients, key: &ClientKey) -> u64 {
        clients
            .measure_and_replace(key, |tat| {
                let next = tat.map_or(0, u64::from) + 1_000_000_000;
                Ok::<_, ()>((next, Nanos::from(next)))
            })
            .unwrap()
    }

    #[test]
    fn each_client_has_its_own_state_whichever_thread_checks_it() {
        let clients = Clients::default();
        assert_eq!(count(&clients, &addr(1)), 1_000_000_000);
        assert_eq!(count(&clients, &addr(1)), 2_000_000_000);
        assert_eq!(count(&clients, &addr(2)), 1_000_000_000);
        assert_eq!(count(&clients, &addr(1)), 3_000_000_000);
        std::thread::scope(|s| {
            s.spawn(|| assert_eq!(count(&clients, &addr(1)), 4_000_000_000));
        });
        assert_eq!(count(&clients, &addr(1)), 5_000_000_000);
        assert_eq!(clients.len(), 2);
    }

    #[test]
    fn dropped_states_are_not_used_from_a_threads_memory() {
        let clients = Clients::default();
        count(&clients, &addr(2));
        count(&clients, &addr(2));
        // This thread remembers client 1 last; at 1.5 s its state (1 s) is as good as fresh
        // and dropped, client 2's (2 s) is kept.
        count(&clients, &addr(1));
        clients.retain_recent(Nanos::from(1_500_000_000));
        assert_eq!(clients.len(), 1);
        assert_eq!(count(&clients, &addr(1)), 1_000_000_000, "a fresh state");
        assert_eq!(count(&clients, &addr(2)), 3_000_000_000);
    }
}
