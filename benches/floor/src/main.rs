//! The floor: a RESP server that does no work at all, so that what it
//! costs per request is what the kernel's loopback path costs (a read, a
//! write and a share of a wait), measured the same way as redis-server
//! and sessiond by `benches/floor.sh`.
//!
//! Every request is answered with a null bulk string (`$-1`), which is
//! what `redis-benchmark -t spop` hears from a server whose set is gone.
//! A request is counted by its `*` at the start of a line; nothing else
//! is parsed. One thread, two ways to wait:
//!
//! - `epoll`: nonblocking sockets, `epoll_wait`, then a `recv` and a
//!   `send` per ready connection, as Redis and sessiond do;
//! - `uring`: io_uring (single issuer, deferred task work), one
//!   `io_uring_enter` per loop for every receive and send of that loop:
//!   what "fewer system calls per request" can buy at most.
//!
//! `sessiond-floor epoll|uring PORT [POLLS]`
//!
//! With POLLS (epoll only), the loop first polls without blocking up to
//! that many times before it sleeps in `epoll_wait`: the experiment behind
//! sessiond's `--poll-us` (server/src/spin.rs), which showed that a server
//! still awake when the next request comes saves the sender the wake-up.

use std::collections::HashMap;
use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};

use io_uring::{IoUring, opcode, squeue, types};

/// Bytes a read may bring.
const READ_BYTES: usize = 16 * 1024;
const NULL: &[u8] = b"$-1\r\n";

/// Requests in what one read brought: each starts a line with `*`.
fn requests(data: &[u8]) -> usize {
    usize::from(data.first() == Some(&b'*')) + data.windows(2).filter(|w| w == b"\n*").count()
}

/// One connection's buffers; they live until the connection closes, so a
/// ring operation in flight never points at freed memory.
struct Conn {
    input: Box<[u8]>,
    output: Vec<u8>,
    /// Bytes of `output` already sent (the uring loop's partial sends).
    sent: usize,
}

impl Conn {
    fn new() -> Conn {
        Conn {
            input: vec![0; READ_BYTES].into_boxed_slice(),
            output: Vec::with_capacity(4096),
            sent: 0,
        }
    }

    /// Fills `output` with one answer per request in the first `n` bytes
    /// read.
    fn answer(&mut self, n: usize) {
        self.output.clear();
        self.sent = 0;
        for _ in 0..requests(&self.input[..n]) {
            self.output.extend_from_slice(NULL);
        }
    }
}

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(mode), Some(port)) = (args.next(), args.next()) else {
        eprintln!("usage: sessiond-floor epoll|uring PORT [POLLS]");
        std::process::exit(2);
    };
    let listener = TcpListener::bind(("127.0.0.1", port.parse().expect("a port number")))?;
    let polls = args
        .next()
        .map_or(0, |n| n.parse().expect("a number of polls"));
    match mode.as_str() {
        "epoll" => epoll(listener, polls),
        "uring" => uring(listener),
        other => {
            eprintln!("unknown mode {other}");
            std::process::exit(2);
        }
    }
}

/// The epoll loop; `polls` non-blocking waits come before each blocking
/// one.
fn epoll(listener: TcpListener, polls: usize) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    // SAFETY: plain system calls on descriptors this function owns; the
    // event array outlives every epoll_wait that writes into it.
    let ep = unsafe { libc::epoll_create1(0) };
    let add = |fd: RawFd| {
        let mut event = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: fd as u64,
        };
        // SAFETY: as above.
        unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut event) };
    };
    add(listener.as_raw_fd());
    let mut conns: HashMap<RawFd, (TcpStream, Conn)> = HashMap::new();
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
    loop {
        let mut ready = 0;
        for _ in 0..polls {
            // SAFETY: as above.
            ready = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), 256, 0) };
            if ready != 0 {
                break;
            }
        }
        if ready == 0 {
            // SAFETY: as above.
            ready = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), 256, -1) };
        }
        for event in &events[..ready.max(0) as usize] {
            let fd = event.u64 as RawFd;
            if fd == listener.as_raw_fd() {
                while let Ok((stream, _)) = listener.accept() {
                    stream.set_nonblocking(true)?;
                    add(stream.as_raw_fd());
                    conns.insert(stream.as_raw_fd(), (stream, Conn::new()));
                }
                continue;
            }
            let Some((stream, conn)) = conns.get_mut(&fd) else {
                continue;
            };
            match io::Read::read(stream, &mut conn.input) {
                Ok(0) => {}
                Ok(n) => {
                    conn.answer(n);
                    // Small answers to a client that reads: taken whole.
                    io::Write::write_all(stream, &conn.output)?;
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(_) => {}
            }
            conns.remove(&fd);
        }
    }
}

/// `user_data` of a ring operation: the descriptor and what it was.
const ACCEPT: u64 = 0;
const RECV: u64 = 1;
const SEND: u64 = 2;

fn tag(fd: RawFd, kind: u64) -> u64 {
    ((fd as u64) << 2) | kind
}

fn uring(listener: TcpListener) -> io::Result<()> {
    let mut ring: IoUring = IoUring::builder()
        .setup_coop_taskrun()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .build(4096)?;
    let listen_fd = listener.as_raw_fd();
    let mut conns: HashMap<RawFd, Conn> = HashMap::new();
    let mut queued: Vec<squeue::Entry> = vec![
        opcode::AcceptMulti::new(types::Fd(listen_fd))
            .build()
            .user_data(tag(listen_fd, ACCEPT)),
    ];
    let recv = |fd: RawFd, conn: &mut Conn| {
        opcode::Recv::new(types::Fd(fd), conn.input.as_mut_ptr(), READ_BYTES as u32)
            .build()
            .user_data(tag(fd, RECV))
    };
    let send = |fd: RawFd, conn: &Conn| {
        let rest = &conn.output[conn.sent..];
        opcode::Send::new(types::Fd(fd), rest.as_ptr(), rest.len() as u32)
            .build()
            .user_data(tag(fd, SEND))
    };
    loop {
        for entry in queued.drain(..) {
            // SAFETY: every buffer an entry points at belongs to a `Conn`
            // in `conns`, which is only dropped once its connection has
            // no operation in flight (a failed or empty receive, and each
            // connection has one operation in flight at a time).
            unsafe { ring.submission().push(&entry) }.expect("the ring has room");
        }
        ring.submit_and_wait(1)?;
        let done: Vec<(u64, i32)> = ring
            .completion()
            .map(|c| (c.user_data(), c.result()))
            .collect();
        for (user_data, result) in done {
            let fd = (user_data >> 2) as RawFd;
            match user_data & 3 {
                ACCEPT if result >= 0 => {
                    let conn = conns.entry(result).or_insert_with(Conn::new);
                    queued.push(recv(result, conn));
                }
                ACCEPT => {}
                RECV if result > 0 => {
                    let conn = conns.get_mut(&fd).expect("a receive's connection");
                    conn.answer(result as usize);
                    queued.push(send(fd, conn));
                }
                RECV => {
                    conns.remove(&fd);
                    // SAFETY: the descriptor came from the ring's accept
                    // and nothing else holds it.
                    drop(unsafe { TcpStream::from_raw_fd(fd) });
                }
                _ => {
                    let conn = conns.get_mut(&fd).expect("a send's connection");
                    conn.sent += result.max(0) as usize;
                    if result > 0 && conn.sent < conn.output.len() {
                        queued.push(send(fd, conn));
                    } else {
                        queued.push(recv(fd, conn));
                    }
                }
            }
        }
    }
}
