//! The store-wide gate that makes a group of commands atomic: a
//! transaction's EXEC, and a script's EVAL (the scripting thread passes
//! it exclusively for the whole script, `resp/scripting/`).
//!
//! Every command of both faces passes the gate *shared* for as long as its
//! handler runs (never across an `.await`: handlers are synchronous), and
//! EXEC passes it *exclusively* while it runs its queue. So no other
//! client's command, on any connection thread and touching any shard,
//! runs between two commands of a transaction, and a command that started
//! before the EXEC has finished when the queue starts. In a replication
//! group the state machine passes it exclusively to apply a transaction's
//! log entry (the same on every node), and other log entries not at all:
//! the state machine is the only writer there, and the reads served
//! beside it pass shared. The expiry cycle does not pass it: expiry
//! removes only keys whose deadline has passed, which a transaction may
//! see go at any moment in Redis too.
//!
//! The shared side is on every command's path, so it must not be one lock
//! word that all the connection threads write: that cache line would
//! bounce between cores on every command. The gate is a set of read-write
//! locks, one per slot, each on its own cache line; a thread passes
//! shared through its own slot only (threads are given slots round robin
//! when they first pass), and the exclusive side takes every slot in
//! order. An uncontended shared pass is then a compare-and-swap and a
//! subtract on a line that stays in its core's cache. Measured (a
//! release build of this file's code in a loop, on the 2-core development
//! machine under a load average of 9, so an upper bound): 36 ns per pass
//! on one thread, the same as one plain `RwLock`; with two threads both
//! were ~72 ns there, as the two threads were not truly running at once.
//! Against the 5-20 µs a RESP request costs end to end (parse, dispatch,
//! the store, the write), that is under 1%; the slots are for machines
//! with many connection threads, where one shared lock word would be
//! written from every core. EXEC pays one pass per slot, [`SLOTS`] of
//! them.
//!
//! parking_lot's lock lets a waiting exclusive passer in before new shared
//! ones, so a stream of commands cannot starve an EXEC. A thread that
//! holds the gate never asks for it again (EXEC runs its queue's handlers
//! directly, not through the dispatch that passes the gate; a script's
//! `redis.call` runs its handler directly too), as parking_lot's locks
//! are not reentrant.
//!
//! A script that runs past `busy-reply-threshold` must not make every
//! other command wait on the gate for as long as it loops: the dispatch
//! passes with [`Gate::command_unless`], which gives up for Redis's BUSY
//! once the script is marked timed out, so that SCRIPT KILL (which never
//! passes the gate) can reach it.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Slots of the gate: at least the connection threads of a busy server.
pub(crate) const SLOTS: usize = 16;

/// One slot, alone on its cache line (128 bytes covers the adjacent-line
/// prefetch of x86 and the line of Apple's ARM cores).
#[repr(align(128))]
#[derive(Default)]
struct Slot(RwLock<()>);

/// The gate (see the module documentation).
pub(crate) struct Gate {
    slots: [Slot; SLOTS],
    next: AtomicUsize,
}

impl Default for Gate {
    fn default() -> Self {
        Gate {
            slots: std::array::from_fn(|_| Slot::default()),
            next: AtomicUsize::new(0),
        }
    }
}

thread_local! {
    /// This thread's slot, plus one (0: none given yet).
    static SLOT: Cell<usize> = const { Cell::new(0) };
}

/// A shared pass: one command runs.
pub(crate) struct Shared<'a>(#[allow(dead_code)] RwLockReadGuard<'a, ()>);

/// The exclusive pass: nothing else runs.
pub(crate) struct Exclusive<'a>(#[allow(dead_code)] Vec<RwLockWriteGuard<'a, ()>>);

impl Gate {
    /// Passes shared, for one command; hold it while the handler runs.
    #[inline]
    pub(crate) fn command(&self) -> Shared<'_> {
        Shared(self.slots[self.slot()].0.read())
    }

    /// Passes shared as [`Gate::command`] does, unless `busy` turns true
    /// while it waits (a script that runs too long holds the gate
    /// exclusively): `None` then, and the command hears BUSY instead of
    /// waiting for the script. Uncontended, this is the same one
    /// compare-and-swap; a waiting command looks at `busy` every 10 ms.
    #[inline]
    pub(crate) fn command_unless(&self, busy: impl Fn() -> bool) -> Option<Shared<'_>> {
        let lock = &self.slots[self.slot()].0;
        if let Some(pass) = lock.try_read() {
            return Some(Shared(pass));
        }
        loop {
            if busy() {
                return None;
            }
            if let Some(pass) = lock.try_read_for(std::time::Duration::from_millis(10)) {
                return Some(Shared(pass));
            }
        }
    }

    /// This thread's slot.
    #[inline]
    fn slot(&self) -> usize {
        SLOT.with(|slot| match slot.get() {
            0 => {
                let given = self.next.fetch_add(1, Ordering::Relaxed) % SLOTS;
                slot.set(given + 1);
                given
            }
            n => n - 1,
        })
    }

    /// Passes exclusively, for a transaction (or a script): waits for the
    /// commands running to finish and holds every other off until dropped.
    pub(crate) fn exclusive(&self) -> Exclusive<'_> {
        Exclusive(self.slots.iter().map(|slot| slot.0.write()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;

    #[test]
    fn a_waiting_command_gives_up_once_busy() {
        let gate = Arc::new(Gate::default());
        assert!(
            gate.command_unless(|| true).is_some(),
            "uncontended: passes"
        );
        let busy = Arc::new(AtomicBool::new(false));
        let held = Arc::new(AtomicBool::new(false));
        let holder = {
            let (gate, busy, held) = (gate.clone(), busy.clone(), held.clone());
            std::thread::spawn(move || {
                let _all = gate.exclusive();
                held.store(true, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(50));
                busy.store(true, Ordering::SeqCst);
                // Held well past the waiter's giving up, however late
                // this thread woke.
                std::thread::sleep(Duration::from_millis(2000));
            })
        };
        while !held.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        let started = std::time::Instant::now();
        assert!(
            gate.command_unless(|| busy.load(Ordering::SeqCst))
                .is_none()
        );
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "gave up before the end"
        );
        holder.join().unwrap();
        assert!(
            gate.command_unless(|| busy.load(Ordering::SeqCst))
                .is_some()
        );
    }

    #[test]
    fn the_exclusive_pass_waits_for_commands_and_holds_them_off() {
        let gate = Arc::new(Gate::default());
        let running = gate.command();
        let done = Arc::new(AtomicBool::new(false));
        let exclusive = {
            let (gate, done) = (gate.clone(), done.clone());
            std::thread::spawn(move || {
                let _all = gate.exclusive();
                done.store(true, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(50));
                done.store(false, Ordering::SeqCst);
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(!done.load(Ordering::SeqCst), "EXEC waited for the command");
        drop(running);
        while !done.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        // Commands on other threads (other slots) wait for the EXEC.
        let others: Vec<_> = (0..SLOTS + 2)
            .map(|_| {
                let (gate, done) = (gate.clone(), done.clone());
                std::thread::spawn(move || {
                    let _pass = gate.command();
                    assert!(!done.load(Ordering::SeqCst), "a command ran inside EXEC");
                })
            })
            .collect();
        exclusive.join().unwrap();
        for other in others {
            other.join().unwrap();
        }
    }
}
