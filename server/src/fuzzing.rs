//! The daemon's entry points for fuzzing (fuzz/, `--features fuzzing`):
//! crate-private code run over arbitrary bytes, and nothing else. Not an
//! API: hidden from the docs, off by default, and free to change.

use bytes::BytesMut;

use crate::resp::{Bounds, Parser};

/// What the RESP face made of a connection's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RespRead {
    /// Every request parsed, in order, as its arguments (an empty request,
    /// `*0` or a blank line, is an empty list; the connection skips it).
    pub requests: Vec<Vec<Vec<u8>>>,
    /// The protocol error that would close the connection (its text, as
    /// the client would read it after `-ERR `), if one came.
    pub error: Option<String>,
    /// The bytes still waiting for the rest of a request (with no error).
    pub pending: Vec<u8>,
}

/// Feeds `reads` to the RESP parser one after the other, as a connection
/// gets them from its socket: each appended to the input, then every
/// complete request taken off its front, until the input holds none or a
/// protocol error ends the connection. `max_bulk` bounds each argument, as
/// the store's largest value does on a real connection.
pub fn resp_read(reads: &[&[u8]], max_bulk: usize) -> RespRead {
    let mut input = BytesMut::new();
    let mut requests = Vec::new();
    // One parser for the whole input, as a connection has: it goes on
    // where the last read left it.
    let mut parser = Parser::default();
    for read in reads {
        input.extend_from_slice(read);
        loop {
            match parser.next(&mut input, Bounds::open(max_bulk)) {
                Ok(None) => break,
                Ok(Some(args)) => requests.push(args.iter().map(|a| a.to_vec()).collect()),
                Err(e) => {
                    return RespRead {
                        requests,
                        error: Some(e.to_string()),
                        pending: Vec::new(),
                    };
                }
            }
        }
    }
    RespRead {
        requests,
        error: None,
        pending: input.to_vec(),
    }
}
