//! The store's one session-event listener on this server, which wakes
//! the readers that wait for events (the native EVENTS_READ with a
//! timeout; the Redis face's blocking stream reads can wait here too,
//! [`EventWake::after`] with no deadline for `BLOCK 0`): each waits on its
//! own connection thread, none holds a thread hostage.
//!
//! The listener holds this value, not the server, so that the store
//! (which keeps its listeners for its life) makes no cycle with the
//! server that would keep either alive. It costs a change one atomic
//! `fetch_max` and a `notify_waiters`, which with no reader waiting
//! touches only the `Notify`'s own state.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sessiond::Store;
use tokio::sync::Notify;
use tokio::time::{Instant, sleep_until};

/// The newest event seq the store announced, and the readers to wake.
pub(crate) struct EventWake {
    last: AtomicU64,
    notify: Notify,
}

impl EventWake {
    /// Listens to `store`'s events from now on.
    pub(crate) fn install(store: &Store) -> Arc<EventWake> {
        let wake = Arc::new(EventWake {
            last: AtomicU64::new(store.events_info().last_seq),
            notify: Notify::new(),
        });
        let listener = Arc::clone(&wake);
        store.on_events(Arc::new(move |seq| {
            listener.last.fetch_max(seq, Ordering::AcqRel);
            listener.notify.notify_waiters();
        }));
        wake
    }

    /// Resolves once an event after seq `after` has been logged, or at
    /// `deadline` (`None`: none), whichever comes first.
    pub(crate) async fn after(&self, after: u64, deadline: Option<Instant>) {
        loop {
            // Registered before the check, so that an event announced
            // between the check and the wait still wakes it.
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.last.load(Ordering::Acquire) > after
                || deadline.is_some_and(|d| Instant::now() >= d)
            {
                return;
            }
            match deadline {
                Some(deadline) => tokio::select! {
                    () = &mut notified => {}
                    () = sleep_until(deadline) => return,
                },
                None => notified.await,
            }
        }
    }
}
