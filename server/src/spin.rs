//! Polling between requests (`--poll-us N`, off by default): a connection
//! thread that has just read a request keeps looking at its sockets for N
//! microseconds before it goes to sleep in `epoll_wait`.
//!
//! Why: on loopback, and on a network card whose interrupt lands on the
//! client's core, the cost of waking a sleeping server is paid by the
//! *client's* `send`: the kernel runs the server socket's receive path
//! and then the wake-up (finding the sleeping thread, queueing it on its
//! core, an inter-processor interrupt) inside the sender's system call.
//! A thread that is still polling when the next request arrives is not
//! asleep, so the packet only joins its ready list, and the thread takes
//! it without the switch back in from sleep. Measured with
//! `redis-benchmark -c 50 -P 1` on the 2-core machine (docs/benchmarks.md,
//! "Polling before sleeping"): a RESP server that does nothing went from
//! 1.00x redis-server's throughput to 1.06x when it polled 20 times before
//! sleeping, and spent less CPU per request (0.93x Redis's), because the
//! sleeps and wake-ups it saved cost more than the polls; sessiond with
//! one thread went from 0.97x-1.02x to 1.07x-1.16x with a 10 µs window.
//!
//! Why off by default: a client that keeps many requests in flight from
//! several threads rarely leaves a thread idle for a window, so the polls
//! are spent for nothing; on the same machine `sessiond-bench`'s session
//! mix went from 1.36x Redis to 1.32x with polling on, its CPU per request
//! from 0.80x Redis's to 0.84x. And while traffic is light every request may cost a window
//! of polling. So only one thread of a server polls at a time ([`Turn`]),
//! which keeps polling to one core, and a thread that saw no request in a
//! whole window sleeps until a connection of its thread reads one.
//!
//! How: one task per connection thread. While polling, it yields to the
//! runtime again and again; a single-threaded tokio runtime with nothing
//! else to run then polls its epoll without blocking, runs whatever
//! connections that woke, and comes back to the task. Connections tell it
//! they read a request through a thread-local counter, so the hot path
//! costs a thread-local increment.

use std::cell::Cell;
use std::future::poll_fn;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

thread_local! {
    /// Requests read on this thread, ever (wrapping).
    static READS: Cell<u64> = const { Cell::new(0) };
    /// The poller, while it sleeps waiting for a request.
    static SLEEPING: Cell<Option<Waker>> = const { Cell::new(None) };
}

/// Called by a connection each time it reads from its socket.
pub(crate) fn read_one() {
    READS.with(|reads| reads.set(reads.get().wrapping_add(1)));
    if let Some(poller) = SLEEPING.with(Cell::take) {
        poller.wake();
    }
}

fn reads() -> u64 {
    READS.with(Cell::get)
}

/// The right to poll, which one connection thread of a server holds at a
/// time, so that polling never keeps more than one core busy.
#[derive(Clone, Default)]
pub(crate) struct Turn(Arc<AtomicBool>);

impl Turn {
    /// Takes the turn if no other thread holds it.
    fn take(&self) -> Option<HeldTurn<'_>> {
        self.0
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
            // Made only on success: a guard made and dropped on failure
            // would give back a turn another thread holds.
            .then(|| HeldTurn(self))
    }
}

/// A turn taken; given back when dropped.
struct HeldTurn<'a>(&'a Turn);

impl Drop for HeldTurn<'_> {
    fn drop(&mut self) {
        self.0.0.store(false, Ordering::Release);
    }
}

/// The poller of one connection thread: runs on that thread's runtime
/// until the runtime is dropped.
pub(crate) async fn poll_between_requests(window: Duration, turn: Turn) {
    loop {
        // Sleep until a connection of this thread reads something.
        let seen = reads();
        poll_fn(|cx| {
            if reads() != seen {
                return Poll::Ready(());
            }
            SLEEPING.with(|s| s.set(Some(cx.waker().clone())));
            Poll::Pending
        })
        .await;
        // Then, if no other thread is polling, poll until a whole window
        // passes with no read.
        let Some(_held) = turn.take() else {
            continue;
        };
        let mut seen = reads();
        let mut since = Instant::now();
        loop {
            tokio::task::yield_now().await;
            let now = reads();
            if now != seen {
                seen = now;
                since = Instant::now();
            } else if since.elapsed() >= window {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asleep() -> bool {
        SLEEPING.with(|sleeping| {
            let waker = sleeping.take();
            let asleep = waker.is_some();
            sleeping.set(waker);
            asleep
        })
    }

    /// Yields to the runtime until `done`, at most 1,000 times.
    async fn until(done: impl Fn() -> bool) -> bool {
        for _ in 0..1000 {
            if done() {
                return true;
            }
            tokio::task::yield_now().await;
        }
        done()
    }

    #[test]
    fn one_thread_holds_the_turn_until_it_gives_it_back() {
        let turn = Turn::default();
        let other = turn.clone();
        let held = turn.take().expect("a free turn is taken");
        assert!(other.take().is_none(), "held by the first");
        assert!(other.take().is_none(), "a refusal does not give it back");
        drop(held);
        assert!(other.take().is_some(), "free again once given back");
    }

    #[test]
    fn the_poller_polls_after_a_read_and_sleeps_after_a_quiet_window() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            // Long enough that a loaded machine's pauses do not end it.
            tokio::spawn(poll_between_requests(
                Duration::from_millis(300),
                Turn::default(),
            ));
            assert!(until(asleep).await, "with nothing read the poller sleeps");
            read_one();
            assert!(!asleep(), "a read wakes it");
            tokio::task::yield_now().await;
            assert!(!asleep(), "it polls while the window runs");
            // A read in the window starts the window again.
            tokio::time::sleep(Duration::from_millis(200)).await;
            read_one();
            tokio::time::sleep(Duration::from_millis(200)).await;
            assert!(!asleep(), "a read within the window keeps it polling");
            tokio::time::sleep(Duration::from_millis(600)).await;
            assert!(asleep(), "a whole window with no read puts it to sleep");
        });
    }
}
