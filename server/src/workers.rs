//! Connection threads: each runs a single-threaded tokio runtime, and a
//! connection lives on one of them, round robin, for its whole life.
//!
//! Why not tokio's multi-thread scheduler, which balances tasks by
//! stealing them between threads: a session store's requests are short,
//! and a request-response client (no pipelining) sends one, waits, sends
//! the next. Under the work-stealing scheduler each of those wake-ups may
//! land on another thread than the socket's readiness, and a parked thread
//! must be woken with a futex to take it; those hand-offs cost about as
//! much as the request itself. A connection pinned to one thread, whose
//! runtime polls its own epoll, is woken where its socket's events arrive,
//! and an idle thread simply sleeps in epoll. Measured on the 2-core
//! benchmark machine, same run, 50 connections without pipelining: the
//! session mix went from 58k to 82k requests/s (median of 3), its p99 from
//! 2.1 ms to 0.8 ms (docs/benchmarks.md). The price is no rebalancing: a
//! few very busy connections can share a thread while another idles, and a
//! long command (KEYS, FLUSHALL, a large SMEMBERS) holds up the other
//! connections of its thread until it is done, where the stealing
//! scheduler would have moved them. With thousands of connections of
//! similar weight, as a session store sees from application servers'
//! pools, and commands that take microseconds, round robin keeps the
//! threads even.
//!
//! The accept loop stays on the caller's runtime and hands each socket
//! over as a std socket, so that it is registered with the epoll of the
//! thread that will serve it.

use std::io;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use tokio::runtime::{Builder, Handle};
use tokio::sync::watch;

use crate::spin;

/// The connection threads of one server. Dropping this tells them to stop:
/// each then drops its runtime, and the tasks left on it, as soon as it
/// sees that (the threads are not joined).
pub(crate) struct Workers {
    handles: Vec<Handle>,
    next: usize,
    /// Dropping the sender ends every thread's runtime (and any task left
    /// on it).
    _stop: watch::Sender<()>,
}

impl Workers {
    /// Starts `count` threads (at least one), each polling for
    /// `poll_window` after a read before it sleeps (`spin.rs`).
    pub(crate) fn start(count: usize, poll_window: Duration) -> io::Result<Workers> {
        let (stop, stopped) = watch::channel(());
        let turn = spin::Turn::default();
        let handles = (0..count.max(1))
            .map(|i| start_thread(i, poll_window, turn.clone(), stopped.clone()))
            .collect::<io::Result<_>>()?;
        Ok(Workers {
            handles,
            next: 0,
            _stop: stop,
        })
    }

    /// The runtime the next connection goes to.
    pub(crate) fn next(&mut self) -> &Handle {
        let handle = &self.handles[self.next % self.handles.len()];
        self.next = self.next.wrapping_add(1);
        handle
    }
}

/// One thread with its own runtime, running until `stopped` sees the
/// sender dropped.
///
/// The runtime is built on its own thread and only its handle comes back:
/// a runtime must not be dropped inside another one's async context, which
/// is where [`Workers::start`] is called from.
fn start_thread(
    index: usize,
    poll_window: Duration,
    turn: spin::Turn,
    mut stopped: watch::Receiver<()>,
) -> io::Result<Handle> {
    let (send, receive) = mpsc::sync_channel(1);
    thread::Builder::new()
        .name(format!("sessiond-conn-{index}"))
        .spawn(move || {
            let runtime = match Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = send.send(Err(e));
                    return;
                }
            };
            if send.send(Ok(runtime.handle().clone())).is_err() {
                return;
            }
            if !poll_window.is_zero() {
                runtime.spawn(spin::poll_between_requests(poll_window, turn));
            }
            // `changed` fails once the sender is gone: the server is done.
            runtime.block_on(async move { while stopped.changed().await.is_ok() {} });
        })?;
    receive
        .recv()
        .map_err(|_| io::Error::other("a connection thread ended while starting"))?
}

/// How many connection threads to start when the configuration says 0:
/// one per core.
pub(crate) fn default_count() -> usize {
    thread::available_parallelism().map_or(1, usize::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    fn thread_name() -> String {
        thread::current().name().unwrap_or("").to_owned()
    }

    #[tokio::test]
    async fn connections_go_round_robin_each_to_one_thread() {
        let mut workers = Workers::start(2, Duration::ZERO).unwrap();
        let mut names = Vec::new();
        for _ in 0..4 {
            names.push(workers.next().spawn(async { thread_name() }).await.unwrap());
        }
        assert_eq!(
            names,
            [
                "sessiond-conn-0",
                "sessiond-conn-1",
                "sessiond-conn-0",
                "sessiond-conn-1"
            ]
        );
    }

    #[tokio::test]
    async fn a_task_stays_on_its_thread_across_awaits() {
        let mut workers = Workers::start(2, Duration::ZERO).unwrap();
        let seen = workers
            .next()
            .spawn(async {
                let mut seen = Vec::new();
                for _ in 0..20 {
                    seen.push(thread_name());
                    tokio::task::yield_now().await;
                }
                seen
            })
            .await
            .unwrap();
        assert!(seen.iter().all(|name| *name == seen[0]), "{seen:?}");
    }

    #[test]
    fn dropping_the_workers_ends_their_tasks() {
        struct Signal(mpsc::Sender<()>);
        impl Drop for Signal {
            fn drop(&mut self) {
                let _ = self.0.send(());
            }
        }
        let (sent, ended) = mpsc::channel();
        let mut workers = Workers::start(1, Duration::ZERO).unwrap();
        workers.next().spawn(async move {
            let _signal = Signal(sent);
            std::future::pending::<()>().await;
        });
        assert!(ended.recv_timeout(Duration::from_millis(200)).is_err());
        drop(workers);
        ended
            .recv_timeout(Duration::from_secs(5))
            .expect("the task was dropped with its runtime");
    }
}
