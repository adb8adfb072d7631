//! The Redis face's live connections, as CLIENT LIST, INFO and KILL see
//! them, and CLIENT PAUSE's state.
//!
//! The registry is one mutex over a map by client id, taken when a
//! connection opens or closes and by CLIENT LIST / KILL, never on a
//! command's path. What a connection's own commands change (its last
//! command, its activity, its name) sits in its [`ClientEntry`] as atomics
//! (the name behind a mutex only SETNAME and the listing take), written by
//! the connection's thread alone.
//!
//! Closing another connection is a flag and a waker in its entry: the
//! driver (`driver.rs`) polls it beside its socket and closes at once when
//! woken with the flag set; woken without it (a changed idle timeout), it
//! only looks at its deadlines again. A waker slot rather than a tokio
//! `Notify`: the driver polls it at every wake-up of the connection, and a
//! waiting `Notify` takes its waiter list's lock at every poll and again
//! when the wait is dropped (`Notify` showed in profiles of one-request
//! batches); the slot is one uncontended lock and two relaxed loads.
//!
//! Only RESP connections are registered: the native face has no CLIENT
//! command, and its clients are not Redis clients.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::Notify;

/// What a connection shows of itself, and the switch that closes it.
pub(crate) struct ClientEntry {
    pub id: u64,
    pub addr: SocketAddr,
    pub laddr: SocketAddr,
    /// The socket's file descriptor, as Redis shows it (`-1` unknown).
    pub fd: i32,
    pub created: Instant,
    /// Milliseconds after `created` of the last command.
    last_active_ms: AtomicU64,
    /// The last command's place in the command table, plus one (0: none).
    last_command: AtomicUsize,
    name: Mutex<Option<Bytes>>,
    /// 2 or 3.
    resp: AtomicU8,
    pub no_evict: AtomicBool,
    pub no_touch: AtomicBool,
    /// In MONITOR mode (CLIENT LIST's flag `O`).
    monitoring: AtomicBool,
    killed: AtomicBool,
    /// Set by [`ClientEntry::nudge`], cleared when the driver sees it.
    nudged: AtomicBool,
    /// The driver's waker, as of its last poll.
    waker: Mutex<Option<Waker>>,
}

impl ClientEntry {
    /// Notes a command (by its table index) starting now: one relaxed
    /// store each, on this connection's own entry.
    pub(crate) fn started(&self, command: usize, at: Instant) {
        self.last_command.store(command + 1, Ordering::Relaxed);
        let ms = at.saturating_duration_since(self.created).as_millis() as u64;
        self.last_active_ms.store(ms, Ordering::Relaxed);
    }

    /// The last command's table index, if any.
    pub(crate) fn last_command(&self) -> Option<usize> {
        self.last_command.load(Ordering::Relaxed).checked_sub(1)
    }

    /// Time since the last command (or since it connected).
    pub(crate) fn idle(&self, now: Instant) -> Duration {
        let at = self.created + Duration::from_millis(self.last_active_ms.load(Ordering::Relaxed));
        now.saturating_duration_since(at)
    }

    pub(crate) fn name(&self) -> Option<Bytes> {
        self.name.lock().clone()
    }

    pub(crate) fn set_name(&self, name: Option<Bytes>) {
        *self.name.lock() = name;
    }

    pub(crate) fn resp(&self) -> u8 {
        self.resp.load(Ordering::Relaxed)
    }

    pub(crate) fn set_resp(&self, version: u8) {
        self.resp.store(version, Ordering::Relaxed);
    }

    /// Notes MONITOR mode starting or ending.
    pub(crate) fn set_monitoring(&self, on: bool) {
        self.monitoring.store(on, Ordering::Relaxed);
    }

    /// Whether the connection is in MONITOR mode.
    pub(crate) fn monitoring(&self) -> bool {
        self.monitoring.load(Ordering::Relaxed)
    }

    /// Asks the connection to close (CLIENT KILL).
    pub(crate) fn kill(&self) {
        self.killed.store(true, Ordering::Relaxed);
        self.wake();
    }

    /// Whether CLIENT KILL closed it.
    pub(crate) fn killed(&self) -> bool {
        self.killed.load(Ordering::Relaxed)
    }

    /// Makes the driver look at its deadlines again (the idle timeout
    /// changed).
    pub(crate) fn nudge(&self) {
        self.nudged.store(true, Ordering::Relaxed);
        self.wake();
    }

    /// Wakes the driver after a flag was set. The flag is stored before
    /// the lock is taken and the driver loads it after its own lock, so
    /// either it sees the flag or its waker is the one woken here.
    fn wake(&self) {
        if let Some(waker) = &*self.waker.lock() {
            waker.wake_by_ref();
        }
    }

    /// Ready when [`ClientEntry::kill`] or [`ClientEntry::nudge`] was
    /// called (since the last time it was ready); otherwise the task of
    /// `cx` is woken when one is.
    pub(crate) fn poll_woken(&self, cx: &mut Context<'_>) -> Poll<()> {
        {
            let mut waker = self.waker.lock();
            if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *waker = Some(cx.waker().clone());
            }
        }
        if self.killed.load(Ordering::Relaxed)
            || (self.nudged.load(Ordering::Relaxed) && self.nudged.swap(false, Ordering::Relaxed))
        {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

/// The registry (see the module documentation).
#[derive(Default)]
pub(crate) struct Registry {
    clients: Mutex<BTreeMap<u64, Arc<ClientEntry>>>,
    /// CLIENT PAUSE's state.
    pub pause: Pause,
}

/// A connection's place in the registry, given up when dropped.
pub(crate) struct Registered<'a> {
    registry: &'a Registry,
    pub entry: Arc<ClientEntry>,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.registry.clients.lock().remove(&self.entry.id);
    }
}

impl Registry {
    /// Registers a connection that has just opened.
    pub(crate) fn register(
        &self,
        id: u64,
        addr: SocketAddr,
        laddr: SocketAddr,
        fd: i32,
    ) -> Registered<'_> {
        let entry = Arc::new(ClientEntry {
            id,
            addr,
            laddr,
            fd,
            created: Instant::now(),
            last_active_ms: AtomicU64::new(0),
            last_command: AtomicUsize::new(0),
            name: Mutex::new(None),
            resp: AtomicU8::new(2),
            no_evict: AtomicBool::new(false),
            no_touch: AtomicBool::new(false),
            monitoring: AtomicBool::new(false),
            killed: AtomicBool::new(false),
            nudged: AtomicBool::new(false),
            waker: Mutex::new(None),
        });
        self.clients.lock().insert(id, entry.clone());
        Registered {
            registry: self,
            entry,
        }
    }

    /// Every connection, by id, but those CLIENT KILL has closed (gone
    /// for Redis at once, here once their driver has let go).
    pub(crate) fn all(&self) -> Vec<Arc<ClientEntry>> {
        let clients = self.clients.lock();
        clients.values().filter(|e| !e.killed()).cloned().collect()
    }

    /// Wakes every connection to look at its deadlines again.
    pub(crate) fn nudge_all(&self) {
        for entry in self.clients.lock().values() {
            entry.nudge();
        }
    }
}

/// What CLIENT PAUSE holds back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PauseMode {
    /// Commands that write (the table's `write` flag).
    Write,
    /// Every command.
    All,
}

/// CLIENT PAUSE's state: a mode flag every command reads (one relaxed
/// load), and behind a mutex the deadline, taken only while paused.
#[derive(Default)]
pub(crate) struct Pause {
    /// 0: not paused; 1: writes; 2: all.
    mode: AtomicU8,
    until: Mutex<Option<(PauseMode, tokio::time::Instant)>>,
    unpaused: Notify,
}

impl Pause {
    /// Pauses until `until` (a pause in force is only ever widened, as in
    /// Redis: the later deadline and the stronger mode win).
    pub(crate) fn pause(&self, mode: PauseMode, until: tokio::time::Instant) {
        let mut state = self.until.lock();
        let (mode, until) = match *state {
            Some((old_mode, old_until)) => (
                match (old_mode, mode) {
                    (PauseMode::All, _) | (_, PauseMode::All) => PauseMode::All,
                    _ => PauseMode::Write,
                },
                old_until.max(until),
            ),
            None => (mode, until),
        };
        *state = Some((mode, until));
        let code = match mode {
            PauseMode::Write => 1,
            PauseMode::All => 2,
        };
        self.mode.store(code, Ordering::Relaxed);
    }

    /// Ends the pause now.
    pub(crate) fn unpause(&self) {
        *self.until.lock() = None;
        self.mode.store(0, Ordering::Relaxed);
        self.unpaused.notify_waiters();
    }

    /// Waits while a pause holds back a command that `writes` or not;
    /// whether a pause was in force (the wait may have been none).
    /// Costs one relaxed load when nothing is paused.
    pub(crate) async fn wait(&self, writes: bool) -> bool {
        if self.mode.load(Ordering::Relaxed) == 0 {
            return false;
        }
        self.wait_paused(writes).await;
        true
    }

    async fn wait_paused(&self, writes: bool) {
        loop {
            let unpaused = self.unpaused.notified();
            tokio::pin!(unpaused);
            unpaused.as_mut().enable();
            let until = {
                let mut state = self.until.lock();
                match *state {
                    Some((_, until)) if tokio::time::Instant::now() >= until => {
                        *state = None;
                        self.mode.store(0, Ordering::Relaxed);
                        return;
                    }
                    Some((PauseMode::All, until)) => until,
                    Some((PauseMode::Write, until)) if writes => until,
                    _ => return,
                }
            };
            tokio::select! {
                () = tokio::time::sleep_until(until) => {}
                () = &mut unpaused => {}
            }
        }
    }

    /// Whether a pause is in force, and of which kind (INFO, CLIENT LIST).
    pub(crate) fn mode(&self) -> Option<PauseMode> {
        match self.mode.load(Ordering::Relaxed) {
            0 => None,
            1 => Some(PauseMode::Write),
            _ => Some(PauseMode::All),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn a_connection_leaves_the_registry_when_it_closes() {
        let registry = Registry::default();
        let a = registry.register(1, addr(1), addr(2), 5);
        let b = registry.register(2, addr(3), addr(2), 6);
        assert_eq!(registry.all().len(), 2);
        b.entry.set_name(Some(Bytes::from("b")));
        assert_eq!(registry.all()[1].name().as_deref(), Some(&b"b"[..]));
        drop(b);
        assert_eq!(registry.all().len(), 1);
        assert_eq!(registry.all()[0].id, 1);
        a.entry.kill();
        assert!(a.entry.killed());
        assert!(
            registry.all().is_empty(),
            "a killed connection is not listed"
        );
    }

    #[tokio::test]
    async fn a_write_pause_holds_writes_until_its_deadline() {
        let pause = Pause::default();
        let start = tokio::time::Instant::now();
        pause.pause(PauseMode::Write, start + Duration::from_millis(200));
        pause.wait(false).await;
        assert!(start.elapsed() < Duration::from_millis(150), "reads pass");
        pause.wait(true).await;
        assert!(start.elapsed() >= Duration::from_millis(200), "writes wait");
        assert_eq!(pause.mode(), None);
        // A wider pause wins; UNPAUSE ends it for the waiters.
        pause.pause(PauseMode::Write, start + Duration::from_secs(60));
        pause.pause(PauseMode::All, start + Duration::from_millis(1));
        assert_eq!(pause.mode(), Some(PauseMode::All));
        let waiter = pause.wait(false);
        let unpause = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            pause.unpause();
        };
        tokio::join!(waiter, unpause);
        assert!(start.elapsed() < Duration::from_secs(10));
    }
}
