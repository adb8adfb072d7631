//! A native-protocol connection that never panics on a dead or paused
//! node (the fault tests' client), and the retry loop a failover-aware
//! client runs: follow redirects, try the other nodes, give up after a
//! bound.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use sessiond_protocol::wire::codec;
use sessiond_protocol::wire::handshake::{ClientHello, VERSION};
use sessiond_protocol::wire::{Request, Response, ServerError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const STEP: Duration = Duration::from_secs(2);

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "no answer in time")
}

/// One connection.
pub(crate) struct Link {
    pub addr: SocketAddr,
    stream: TcpStream,
    buffer: BytesMut,
}

impl Link {
    /// Connects and does the handshake, within a bound.
    pub async fn open(addr: SocketAddr) -> io::Result<Link> {
        let open = async {
            let mut stream = TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            stream
                .write_all(&ClientHello { version: VERSION }.encode())
                .await?;
            let mut hello = [0u8; 16];
            stream.read_exact(&mut hello).await?;
            Ok(Link {
                addr,
                stream,
                buffer: BytesMut::new(),
            })
        };
        tokio::time::timeout(STEP, open)
            .await
            .map_err(|_| timed_out())?
    }

    /// Sends a request and reads its response, within a bound.
    pub async fn call(&mut self, request: &Request) -> io::Result<Response> {
        let call = async {
            let mut frame = BytesMut::new();
            codec::encode_request(request, &mut frame);
            self.stream.write_all(&frame).await?;
            loop {
                if let Some(body) = codec::next_frame(&mut self.buffer, u32::MAX)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?
                {
                    return codec::decode_response(&body)
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()));
                }
                if self.stream.read_buf(&mut self.buffer).await? == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
            }
        };
        // A paused server has the connection open and says nothing.
        tokio::time::timeout(Duration::from_secs(5), call)
            .await
            .map_err(|_| timed_out())?
    }
}

/// What a request to the group came to.
pub(crate) struct Served {
    /// The leader's answer.
    pub response: Response,
    /// Whether an earlier attempt may have been applied (sent, then the
    /// connection failed or the answer was UNAVAILABLE).
    pub uncertain: bool,
    /// Which node answered.
    pub by: SocketAddr,
}

/// A client of the whole group: keeps a connection to whoever leads.
pub(crate) struct GroupClient {
    nodes: Vec<SocketAddr>,
    link: Option<Link>,
    next: usize,
}

impl GroupClient {
    pub fn new(nodes: Vec<SocketAddr>) -> GroupClient {
        GroupClient {
            nodes,
            link: None,
            next: 0,
        }
    }

    /// Sends `request` to the leader, following redirects and trying every
    /// node, for up to `within`; `None` if no node served it in that time.
    pub async fn call(&mut self, request: &Request, within: Duration) -> Option<Served> {
        let started = Instant::now();
        let mut uncertain = false;
        let mut target: Option<SocketAddr> = None;
        while started.elapsed() < within {
            if self.link.is_none() {
                let addr = target.take().unwrap_or_else(|| {
                    self.next = (self.next + 1) % self.nodes.len();
                    self.nodes[self.next]
                });
                match Link::open(addr).await {
                    Ok(link) => self.link = Some(link),
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                }
            }
            let link = self.link.as_mut().expect("connected above");
            let by = link.addr;
            match link.call(request).await {
                Ok(Err(ServerError::NotLeader { leader })) => {
                    self.link = None;
                    target = leader.and_then(|a| a.parse().ok());
                    if target.is_none() {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
                Ok(Err(ServerError::Unavailable(_))) => {
                    uncertain = true;
                    self.link = None;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Ok(response) => {
                    return Some(Served {
                        response,
                        uncertain,
                        by,
                    });
                }
                Err(_) => {
                    uncertain = true;
                    self.link = None;
                }
            }
        }
        None
    }
}
