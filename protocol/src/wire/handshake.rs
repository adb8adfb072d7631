//! The handshake that opens every connection (SPEC.md §5).
//!
//! Before any frame, the client sends 8 bytes and the server answers 16. The
//! exchange settles the protocol version, tells the client whether it must
//! authenticate and how large a frame may be, and lets the server turn away
//! peers that are not sessiond clients — browsers and `curl` included, which
//! get a readable HTTP answer instead of a binary error frame.

use super::message::ServerError;

/// The four bytes every handshake starts with: `"SSND"`.
pub const MAGIC: [u8; 4] = *b"SSND";

/// The highest protocol version this crate speaks.
pub const VERSION: u16 = 1;

/// The lowest protocol version this crate speaks.
pub const LOWEST_VERSION: u16 = 1;

/// Bit 0 of the server hello's flags: authenticate before anything but
/// `PING` and `AUTH`.
const FLAG_AUTH_REQUIRED: u16 = 1;

/// Why a hello is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// The first four bytes are not [`MAGIC`].
    #[error("wrong magic {0:02x?}, expected \"SSND\"")]
    BadMagic([u8; 4]),
    /// A reserved field is not zero.
    #[error("reserved bytes are not zero")]
    ReservedNotZero,
    /// The server hello sets flag bits that version 1 does not define.
    #[error("unknown flags 0x{0:04x} in the server hello")]
    UnknownFlags(u16),
}

impl From<HandshakeError> for ServerError {
    /// A client hello that does not decode is answered `BAD_HANDSHAKE`.
    fn from(err: HandshakeError) -> Self {
        ServerError::BadHandshake(err.to_string())
    }
}

/// What the client sends first: the highest version it speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientHello {
    /// The highest protocol version the client speaks.
    pub version: u16,
}

impl ClientHello {
    /// Length on the wire, in bytes.
    pub const LEN: usize = 8;

    /// The hello of a client that speaks up to [`VERSION`].
    pub const CURRENT: ClientHello = ClientHello { version: VERSION };

    /// The 8 bytes on the wire: magic, version, two reserved zero bytes.
    pub fn encode(&self) -> [u8; 8] {
        let mut bytes = [0; 8];
        bytes[..4].copy_from_slice(&MAGIC);
        bytes[4..6].copy_from_slice(&self.version.to_be_bytes());
        bytes
    }

    /// Reads the 8 bytes a client sent.
    ///
    /// # Errors
    /// [`HandshakeError::BadMagic`] or [`HandshakeError::ReservedNotZero`];
    /// the server answers `BAD_HANDSHAKE` (`ServerError::from`) and closes.
    /// On a bad magic it should first ask [`looks_like_http`] whether to
    /// answer with [`HTTP_REPLY`] instead.
    pub fn decode(bytes: &[u8; 8]) -> Result<ClientHello, HandshakeError> {
        check_magic([bytes[0], bytes[1], bytes[2], bytes[3]])?;
        if bytes[6..8] != [0, 0] {
            return Err(HandshakeError::ReservedNotZero);
        }
        Ok(ClientHello {
            version: u16::from_be_bytes([bytes[4], bytes[5]]),
        })
    }
}

/// The server's answer: the version both speak, and the connection's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerHello {
    /// The version both sides speak from now on.
    pub version: u16,
    /// Whether requests other than `PING` and `AUTH` need an `AUTH` first.
    pub auth_required: bool,
    /// The largest frame body the server accepts, in bytes.
    pub max_frame: u32,
}

impl ServerHello {
    /// Length on the wire, in bytes.
    pub const LEN: usize = 16;

    /// The 16 bytes on the wire: magic, version, flags, max frame and four
    /// reserved zero bytes.
    pub fn encode(&self) -> [u8; 16] {
        let flags = if self.auth_required {
            FLAG_AUTH_REQUIRED
        } else {
            0
        };
        let mut bytes = [0; 16];
        bytes[..4].copy_from_slice(&MAGIC);
        bytes[4..6].copy_from_slice(&self.version.to_be_bytes());
        bytes[6..8].copy_from_slice(&flags.to_be_bytes());
        bytes[8..12].copy_from_slice(&self.max_frame.to_be_bytes());
        bytes
    }

    /// Reads the 16 bytes a server answered.
    ///
    /// # Errors
    /// A wrong magic, flag bits other than bit 0, or non-zero reserved
    /// bytes: version 1 defines them as zero, so a server that sets them
    /// speaks something else.
    pub fn decode(bytes: &[u8; 16]) -> Result<ServerHello, HandshakeError> {
        check_magic([bytes[0], bytes[1], bytes[2], bytes[3]])?;
        if bytes[12..16] != [0; 4] {
            return Err(HandshakeError::ReservedNotZero);
        }
        let flags = u16::from_be_bytes([bytes[6], bytes[7]]);
        if flags & !FLAG_AUTH_REQUIRED != 0 {
            return Err(HandshakeError::UnknownFlags(flags));
        }
        Ok(ServerHello {
            version: u16::from_be_bytes([bytes[4], bytes[5]]),
            auth_required: flags & FLAG_AUTH_REQUIRED != 0,
            max_frame: u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]),
        })
    }
}

/// Checks the first four bytes of a hello.
fn check_magic(magic: [u8; 4]) -> Result<(), HandshakeError> {
    if magic == MAGIC {
        Ok(())
    } else {
        Err(HandshakeError::BadMagic(magic))
    }
}

/// The version a server speaks with a client whose highest is
/// `client_version`: the highest this crate speaks that is not above it.
///
/// # Errors
/// [`ServerError::UnsupportedVersion`] when the client's version is below
/// [`LOWEST_VERSION`]; the server sends it and closes.
pub fn negotiate(client_version: u16) -> Result<u16, ServerError> {
    if client_version < LOWEST_VERSION {
        return Err(ServerError::UnsupportedVersion {
            lowest: LOWEST_VERSION,
            highest: VERSION,
        });
    }
    Ok(client_version.min(VERSION))
}

/// How HTTP requests start (the methods of RFC 9110 and PATCH), each at
/// least four bytes so that the first four bytes of a hello tell.
const HTTP_METHOD_PREFIXES: [&[u8]; 9] = [
    b"GET ", b"POST", b"PUT ", b"HEAD", b"DELETE", b"OPTIONS", b"PATCH", b"CONNECT", b"TRACE",
];

/// Whether the first bytes of a connection look like an HTTP request, to
/// be answered with [`HTTP_REPLY`] rather than an error frame.
///
/// Pass the bytes read so far (a client hello's 8 are enough for every
/// method).
pub fn looks_like_http(first_bytes: &[u8]) -> bool {
    HTTP_METHOD_PREFIXES
        .iter()
        .any(|method| first_bytes.starts_with(method))
}

/// The complete answer to an HTTP request: `400 Bad Request` with a
/// one-line plain-text body, after which the server closes the connection.
pub const HTTP_REPLY: &[u8] = b"HTTP/1.1 400 Bad Request\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Length: 73\r\n\
Connection: close\r\n\
\r\n\
This is a sessiond server: it speaks its own binary protocol, not HTTP.\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_hello_layout() {
        let bytes = ClientHello::CURRENT.encode();
        assert_eq!(bytes, [0x53, 0x53, 0x4e, 0x44, 0, 1, 0, 0]);
        assert_eq!(ClientHello::decode(&bytes), Ok(ClientHello::CURRENT));
    }

    #[test]
    fn client_hello_refuses_bad_magic_and_reserved_bytes() {
        assert_eq!(
            ClientHello::decode(b"GET / HT"),
            Err(HandshakeError::BadMagic(*b"GET "))
        );
        assert_eq!(
            ClientHello::decode(b"SSND\0\x01\0\x01"),
            Err(HandshakeError::ReservedNotZero)
        );
    }

    #[test]
    fn server_hello_layout() {
        let hello = ServerHello {
            version: 1,
            auth_required: true,
            max_frame: 0x0020_0000,
        };
        let bytes = hello.encode();
        assert_eq!(
            bytes,
            [
                0x53, 0x53, 0x4e, 0x44, 0, 1, 0, 1, 0, 0x20, 0, 0, 0, 0, 0, 0
            ]
        );
        assert_eq!(ServerHello::decode(&bytes), Ok(hello));
    }

    #[test]
    fn server_hello_refuses_unknown_flags_and_reserved_bytes() {
        let mut bytes = ServerHello {
            version: 1,
            auth_required: false,
            max_frame: 1,
        }
        .encode();
        bytes[7] = 0b10;
        assert_eq!(
            ServerHello::decode(&bytes),
            Err(HandshakeError::UnknownFlags(2))
        );
        bytes[7] = 0;
        bytes[15] = 1;
        assert_eq!(
            ServerHello::decode(&bytes),
            Err(HandshakeError::ReservedNotZero)
        );
    }

    #[test]
    fn negotiation_settles_on_the_highest_common_version() {
        assert_eq!(negotiate(1), Ok(1));
        assert_eq!(negotiate(7), Ok(VERSION));
        assert_eq!(
            negotiate(0),
            Err(ServerError::UnsupportedVersion {
                lowest: 1,
                highest: 1
            })
        );
    }

    #[test]
    fn recognises_http() {
        for start in [
            "GET / HTTP/1.1",
            "POST /x",
            "PUT /x H",
            "HEAD / H",
            "DELETE /",
            "OPTIONS ",
            "PATCH /x",
            "CONNECT ",
            "TRACE / ",
        ] {
            assert!(looks_like_http(start.as_bytes()), "{start}");
        }
        assert!(!looks_like_http(b"SSND\0\x01\0\0"));
        assert!(!looks_like_http(b"GETX"));
        assert!(!looks_like_http(b"GE"));
    }

    #[test]
    fn http_reply_has_the_right_content_length() {
        let text = std::str::from_utf8(HTTP_REPLY).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"));
        assert!(head.contains("\r\nConnection: close"));
        assert!(head.contains("\r\nContent-Type: text/plain"));
        let declared = head
            .lines()
            .find_map(|line| line.strip_prefix("Content-Length: "))
            .unwrap();
        assert_eq!(declared.parse::<usize>().unwrap(), body.len());
        assert_eq!(body.lines().count(), 1);
    }

    #[test]
    fn handshake_errors_become_bad_handshake() {
        let err = ServerError::from(HandshakeError::ReservedNotZero);
        assert_eq!(
            err,
            ServerError::BadHandshake("reserved bytes are not zero".into())
        );
    }
}
