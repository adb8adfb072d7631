//! Long responses written a piece at a time.
//!
//! A LIST of an owner with a million sessions, or a KEY_SCAN with a large
//! COUNT, is one frame of many megabytes. Encoded whole, it would sit in
//! the server's output buffer at once, past the output cap that protects
//! the server from clients that do not read. [`Pieces`] writes the frame's
//! length and header first (the length is measured, item by item, before
//! anything is written) and then the items as the connection drains, so
//! the buffer holds about one piece and the reply the store returned.
//! The bytes are exactly [`encode_response`](super::encode_response)'s.

use bytes::{BufMut, BytesMut};

use super::STATUS_OK;
use super::writer::WireWrite;
use crate::SessionInfo;
use crate::wire::message::{Reply, Response};

/// Items above which a reply is written in pieces; smaller ones are
/// encoded whole, as every other reply is.
const PIECES_ABOVE: usize = 1024;

/// The rest of a long reply, after its frame's length and header.
#[derive(Debug)]
pub struct Pieces {
    items: Items,
}

#[derive(Debug)]
enum Items {
    List(std::vec::IntoIter<SessionInfo>),
    Keys(std::vec::IntoIter<Vec<u8>>),
}

impl Pieces {
    /// Starts writing `response` to `out`: the whole frame if it is short
    /// or not a LIST or KEY_SCAN reply (`None`), else its length, status,
    /// tag and the fields before the items; [`Pieces::write`] goes on.
    ///
    /// # Panics
    /// As [`encode_response`](super::encode_response).
    pub fn start(response: Response, out: &mut BytesMut) -> Option<Pieces> {
        let reply = match response {
            Ok(reply @ (Reply::List(_) | Reply::Scan { .. })) => reply,
            other => {
                super::encode_response(&other, out);
                return None;
            }
        };
        let tag = reply.tag();
        match reply {
            Reply::List(infos) if infos.len() > PIECES_ABOVE => {
                // Measured by encoding each item into one small scratch
                // buffer: twice the encoding work for a long LIST, and no
                // second description of the format that could drift.
                let mut scratch = BytesMut::new();
                let items: usize = infos
                    .iter()
                    .map(|info| {
                        scratch.clear();
                        scratch.put_info(info);
                        scratch.len()
                    })
                    .sum();
                put_head(out, tag, 4 + items);
                out.put_len32(infos.len());
                Some(Pieces {
                    items: Items::List(infos.into_iter()),
                })
            }
            Reply::Scan { cursor, keys } if keys.len() > PIECES_ABOVE => {
                let items: usize = keys.iter().map(|key| 2 + key.len()).sum();
                put_head(out, tag, 8 + 4 + items);
                out.put_u64(cursor);
                out.put_len32(keys.len());
                Some(Pieces {
                    items: Items::Keys(keys.into_iter()),
                })
            }
            short => {
                super::encode_response(&Ok(short), out);
                None
            }
        }
    }

    /// Writes items until `out` holds `until` bytes or none are left;
    /// whether the reply is done.
    pub fn write(&mut self, out: &mut BytesMut, until: usize) -> bool {
        while out.len() < until {
            let more = match &mut self.items {
                Items::List(infos) => infos.next().map(|info| out.put_info(&info)),
                Items::Keys(keys) => keys.next().map(|key| out.put_bytes16(&key)),
            };
            if more.is_none() {
                return true;
            }
        }
        match &self.items {
            Items::List(infos) => infos.len() == 0,
            Items::Keys(keys) => keys.len() == 0,
        }
    }
}

/// The frame's length (a body of status, tag and `fields` bytes), status
/// and tag.
fn put_head(out: &mut BytesMut, tag: u8, fields: usize) {
    let len = u32::try_from(2 + fields).expect("a frame body is shorter than 4 GiB");
    out.put_u32(len);
    out.put_u8(STATUS_OK);
    out.put_u8(tag);
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::wire::message::ServerError;
    use crate::{Labels, SessionId};

    fn whole(response: &Response) -> Vec<u8> {
        let mut out = BytesMut::new();
        super::super::encode_response(response, &mut out);
        out.to_vec()
    }

    /// Writes `response` in pieces of about `piece` bytes; the bytes and
    /// how many pieces it took.
    fn in_pieces(response: Response, piece: usize) -> (Vec<u8>, usize) {
        let mut out = BytesMut::new();
        let Some(mut rest) = Pieces::start(response, &mut out) else {
            return (out.to_vec(), 1);
        };
        let mut pieces = 1;
        while !rest.write(&mut out, pieces * piece) {
            assert!(
                out.len() < pieces * piece + 512,
                "a piece stops near its size"
            );
            pieces += 1;
            assert!(pieces < 100_000);
        }
        (out.to_vec(), pieces)
    }

    fn info(i: u64) -> SessionInfo {
        let mut labels = Labels::new();
        labels.insert("device", format!("phone {i}"));
        SessionInfo {
            id: SessionId::from_bytes(i.to_be_bytes().repeat(2).try_into().unwrap()),
            labels,
            created_at: i,
            last_seen_at: i + 1,
            idle_timeout: Duration::from_secs(i % 7),
            absolute_deadline: i.is_multiple_of(2).then_some(i + 100),
            expires_at: i + 50,
            version: 1,
        }
    }

    #[test]
    fn a_long_list_in_pieces_is_the_whole_frame_byte_for_byte() {
        let response: Response = Ok(Reply::List((0..5000).map(info).collect()));
        let expected = whole(&response);
        let (bytes, pieces) = in_pieces(response, 4096);
        assert!(pieces > 10, "{pieces}");
        assert_eq!(bytes, expected);
    }

    #[test]
    fn a_long_scan_in_pieces_is_the_whole_frame_byte_for_byte() {
        let keys = (0..3000).map(|i| format!("key:{i}").into_bytes()).collect();
        let response: Response = Ok(Reply::Scan { cursor: 77, keys });
        let expected = whole(&response);
        let (bytes, pieces) = in_pieces(response, 1000);
        assert!(pieces > 10, "{pieces}");
        assert_eq!(bytes, expected);
    }

    #[test]
    fn short_and_other_replies_are_written_whole() {
        for response in [
            Ok(Reply::List((0..10).map(info).collect())),
            Ok(Reply::Scan {
                cursor: 0,
                keys: vec![b"a".to_vec()],
            }),
            Ok(Reply::Count(3)),
            Err(ServerError::AuthRequired),
        ] {
            let expected = whole(&response);
            let mut out = BytesMut::new();
            assert!(Pieces::start(response, &mut out).is_none());
            assert_eq!(out.to_vec(), expected);
        }
    }
}
