//! A small RESP2 codec, enough for a blocking Redis client.
//!
//! Commands are written as arrays of bulk strings into a reusable
//! [`CommandBuf`], so a whole pipeline goes out in one write. Replies are
//! read by a [`ReplyReader`] from a `BufReader` into reusable buffers: a
//! reply, however deeply nested, is stored as a flat list of frames in
//! pre-order plus one byte buffer, and handed out as a borrowed [`Value`].
//! After warm-up, neither direction allocates.
//!
//! Only RESP2 is spoken (no `HELLO 3`): simple strings, errors, integers,
//! bulk strings, arrays, and the null bulk string and null array, which
//! both read as [`Value::Nil`].

use std::fmt;
use std::io::{self, BufRead as _, BufReader, Read};

/// Longest bulk string accepted: Redis's own default `proto-max-bulk-len`.
const MAX_BULK: usize = 512 * 1024 * 1024;
/// Most elements accepted in one array.
const MAX_ARRAY: usize = 1 << 24;
/// Longest line (type byte, simple string or error text) accepted.
const MAX_LINE: u64 = 64 * 1024;
/// Deepest nesting of arrays accepted, so hostile input cannot overflow
/// the stack.
const MAX_DEPTH: usize = 32;
/// Capacity of the read buffer.
const READ_BUFFER: usize = 64 * 1024;

/// Why a reply could not be read, or why it says the command failed.
#[derive(Debug)]
pub enum RespError {
    /// The socket failed.
    Io(io::Error),
    /// The server closed the connection, possibly in the middle of a reply.
    Closed,
    /// The bytes received are not RESP2.
    Protocol(String),
    /// The server answered with an error reply.
    Server(String),
}

impl fmt::Display for RespError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RespError::Io(error) => write!(f, "connection failed: {error}"),
            RespError::Closed => f.write_str("the server closed the connection"),
            RespError::Protocol(what) => write!(f, "protocol error: {what}"),
            RespError::Server(message) => write!(f, "server error: {message}"),
        }
    }
}

impl std::error::Error for RespError {}

impl From<io::Error> for RespError {
    fn from(error: io::Error) -> Self {
        if error.kind() == io::ErrorKind::UnexpectedEof {
            RespError::Closed
        } else {
            RespError::Io(error)
        }
    }
}

/// Commands encoded back to back, ready to be sent in one write.
///
/// A command is started with [`CommandBuf::begin`], which takes its number
/// of arguments (the command name included), and followed by exactly that
/// many `arg*` calls.
#[derive(Debug, Default)]
pub struct CommandBuf {
    bytes: Vec<u8>,
    scratch: Vec<u8>,
}

impl CommandBuf {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets every command, keeping the memory.
    pub fn clear(&mut self) {
        self.bytes.clear();
    }

    /// The encoded commands.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Starts a command of `argc` arguments, the command name included.
    pub fn begin(&mut self, argc: usize) -> &mut Self {
        write_header(&mut self.bytes, b'*', argc);
        self
    }

    /// Appends an argument.
    pub fn arg(&mut self, arg: &[u8]) -> &mut Self {
        self.arg_parts(&[arg])
    }

    /// Appends one argument made of `parts` joined together, as in a
    /// `sess:` prefix followed by an id.
    pub fn arg_parts(&mut self, parts: &[&[u8]]) -> &mut Self {
        let len = parts.iter().map(|part| part.len()).sum();
        write_header(&mut self.bytes, b'$', len);
        for part in parts {
            self.bytes.extend_from_slice(part);
        }
        self.bytes.extend_from_slice(b"\r\n");
        self
    }

    /// Appends an argument written by `format_args!`.
    pub fn arg_fmt(&mut self, text: fmt::Arguments<'_>) -> &mut Self {
        use std::io::Write as _;
        self.scratch.clear();
        self.scratch
            .write_fmt(text)
            .expect("writing to a Vec cannot fail");
        let scratch = std::mem::take(&mut self.scratch);
        self.arg(&scratch);
        self.scratch = scratch;
        self
    }

    /// Appends a whole command.
    pub fn command(&mut self, args: &[&[u8]]) -> &mut Self {
        self.begin(args.len());
        for arg in args {
            self.arg(arg);
        }
        self
    }
}

/// Writes `{kind}{len}\r\n`.
fn write_header(out: &mut Vec<u8>, kind: u8, len: usize) {
    use std::io::Write as _;
    write!(out, "{}{len}\r\n", kind as char).expect("writing to a Vec cannot fail");
}

/// A byte range of a [`ReplyReader`]'s data buffer.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
}

/// One element of a reply, in pre-order.
#[derive(Debug, Clone, Copy)]
enum Frame {
    Simple(Span),
    Error(Span),
    Integer(i64),
    Bulk(Span),
    Nil,
    /// An array of `len` elements whose subtree takes the next `span`
    /// frames.
    Array {
        len: usize,
        span: usize,
    },
}

impl Frame {
    /// Frames after this one that belong to it.
    fn span(self) -> usize {
        match self {
            Frame::Array { span, .. } => span,
            _ => 0,
        }
    }
}

/// A reply, borrowed from the [`ReplyReader`] that read it.
#[derive(Clone, Copy)]
pub enum Value<'a> {
    /// A simple string (`+OK`).
    Simple(&'a [u8]),
    /// An error reply (`-ERR ...`), without the `-`.
    Error(&'a [u8]),
    /// An integer (`:1`).
    Integer(i64),
    /// A bulk string.
    Bulk(&'a [u8]),
    /// The null bulk string or the null array.
    Nil,
    /// An array.
    Array(Array<'a>),
}

impl<'a> Value<'a> {
    /// The reply itself, or [`RespError::Server`] if it is an error reply.
    pub fn check(self) -> Result<Self, RespError> {
        match self {
            Value::Error(message) => Err(RespError::Server(
                String::from_utf8_lossy(message).into_owned(),
            )),
            other => Ok(other),
        }
    }

    /// Succeeds if the reply is the simple string `expected` (`OK`,
    /// `QUEUED`, `PONG`).
    pub fn expect_simple(self, expected: &str) -> Result<(), RespError> {
        match self.check()? {
            Value::Simple(text) if text == expected.as_bytes() => Ok(()),
            other => Err(other.unexpected(expected)),
        }
    }

    /// The array this reply is, or an error if it is something else.
    pub fn into_array(self) -> Result<Array<'a>, RespError> {
        match self.check()? {
            Value::Array(array) => Ok(array),
            other => Err(other.unexpected("an array")),
        }
    }

    /// A protocol error saying that `expected` was wanted instead of this.
    pub fn unexpected(&self, expected: &str) -> RespError {
        RespError::Protocol(format!("expected {expected}, got {}", self.describe()))
    }

    /// A short description for error messages: the type and, for short
    /// text, the text.
    fn describe(&self) -> String {
        let text = |kind: &str, bytes: &[u8]| match bytes.len() {
            0..=40 => format!("{kind} `{}`", String::from_utf8_lossy(bytes)),
            n => format!("{kind} of {n} bytes"),
        };
        match self {
            Value::Simple(bytes) => text("simple string", bytes),
            Value::Error(bytes) => text("error", bytes),
            Value::Integer(n) => format!("integer {n}"),
            Value::Bulk(bytes) => text("bulk string", bytes),
            Value::Nil => "nil".to_owned(),
            Value::Array(array) => format!("array of {}", array.len()),
        }
    }
}

impl fmt::Debug for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Array(array) => array.fmt(f),
            other => f.write_str(&other.describe()),
        }
    }
}

/// The elements of an array reply.
#[derive(Clone, Copy)]
pub struct Array<'a> {
    /// The frames of the elements' subtrees.
    frames: &'a [Frame],
    data: &'a [u8],
    len: usize,
}

impl<'a> Array<'a> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The elements, in order.
    pub fn iter(&self) -> ArrayIter<'a> {
        ArrayIter {
            frames: self.frames,
            data: self.data,
            at: 0,
            left: self.len,
        }
    }
}

impl fmt::Debug for Array<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Iterator over an [`Array`]'s elements.
pub struct ArrayIter<'a> {
    frames: &'a [Frame],
    data: &'a [u8],
    at: usize,
    left: usize,
}

impl<'a> Iterator for ArrayIter<'a> {
    type Item = Value<'a>;

    fn next(&mut self) -> Option<Value<'a>> {
        if self.left == 0 {
            return None;
        }
        let value = value_at(self.frames, self.data, self.at);
        self.at += 1 + self.frames[self.at].span();
        self.left -= 1;
        Some(value)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for ArrayIter<'_> {}

/// The value whose frame is `frames[at]`.
fn value_at<'a>(frames: &'a [Frame], data: &'a [u8], at: usize) -> Value<'a> {
    let bytes = |span: Span| &data[span.start..span.end];
    match frames[at] {
        Frame::Simple(span) => Value::Simple(bytes(span)),
        Frame::Error(span) => Value::Error(bytes(span)),
        Frame::Integer(n) => Value::Integer(n),
        Frame::Bulk(span) => Value::Bulk(bytes(span)),
        Frame::Nil => Value::Nil,
        Frame::Array { len, span } => Value::Array(Array {
            frames: &frames[at + 1..=at + span],
            data,
            len,
        }),
    }
}

/// Reads replies from a byte stream, one at a time, into buffers it keeps.
pub struct ReplyReader<R> {
    reader: BufReader<R>,
    line: Vec<u8>,
    frames: Vec<Frame>,
    data: Vec<u8>,
}

impl<R: Read> ReplyReader<R> {
    /// A reader of the replies arriving on `inner`.
    pub fn new(inner: R) -> Self {
        ReplyReader {
            reader: BufReader::with_capacity(READ_BUFFER, inner),
            line: Vec::new(),
            frames: Vec::new(),
            data: Vec::new(),
        }
    }

    /// Reads the next whole reply, blocking until it has arrived. The
    /// reply borrows this reader's buffers until the next call.
    pub fn read_reply(&mut self) -> Result<Value<'_>, RespError> {
        self.frames.clear();
        self.data.clear();
        self.read_frame(0)?;
        Ok(value_at(&self.frames, &self.data, 0))
    }

    /// Reads one value, and for an array its elements, as frames.
    fn read_frame(&mut self, depth: usize) -> Result<(), RespError> {
        self.read_line()?;
        let (&kind, rest) = self
            .line
            .split_first()
            .ok_or_else(|| RespError::Protocol("empty line".into()))?;
        let frame = match kind {
            b'+' => Frame::Simple(push(&mut self.data, rest)),
            b'-' => Frame::Error(push(&mut self.data, rest)),
            b':' => Frame::Integer(parse_int(rest)?),
            b'$' => match parse_len(rest, MAX_BULK)? {
                Some(len) => Frame::Bulk(self.read_bulk(len)?),
                None => Frame::Nil,
            },
            b'*' => match parse_len(rest, MAX_ARRAY)? {
                Some(len) => return self.read_array(len, depth),
                None => Frame::Nil,
            },
            other => {
                return Err(RespError::Protocol(format!(
                    "unknown reply type byte 0x{other:02x}"
                )));
            }
        };
        self.frames.push(frame);
        Ok(())
    }

    /// Reads the `len` elements of an array whose header was just read.
    fn read_array(&mut self, len: usize, depth: usize) -> Result<(), RespError> {
        if depth >= MAX_DEPTH {
            return Err(RespError::Protocol(format!(
                "arrays nested deeper than {MAX_DEPTH}"
            )));
        }
        let at = self.frames.len();
        self.frames.push(Frame::Array { len, span: 0 });
        for _ in 0..len {
            self.read_frame(depth + 1)?;
        }
        let span = self.frames.len() - at - 1;
        self.frames[at] = Frame::Array { len, span };
        Ok(())
    }

    /// Reads `len` bytes and the CRLF after them into the data buffer.
    fn read_bulk(&mut self, len: usize) -> Result<Span, RespError> {
        let start = self.data.len();
        self.data.resize(start + len + 2, 0);
        self.reader.read_exact(&mut self.data[start..])?;
        if !self.data.ends_with(b"\r\n") {
            return Err(RespError::Protocol(
                "bulk string not followed by CRLF".into(),
            ));
        }
        self.data.truncate(start + len);
        Ok(Span {
            start,
            end: start + len,
        })
    }

    /// Reads one CRLF-terminated line into `self.line`, without the CRLF.
    fn read_line(&mut self) -> Result<(), RespError> {
        self.line.clear();
        let read = (&mut self.reader)
            .take(MAX_LINE)
            .read_until(b'\n', &mut self.line)?;
        if !self.line.ends_with(b"\n") {
            return Err(if read as u64 == MAX_LINE {
                RespError::Protocol(format!("line longer than {MAX_LINE} bytes"))
            } else {
                RespError::Closed
            });
        }
        if !self.line.ends_with(b"\r\n") {
            return Err(RespError::Protocol("line not ended by CRLF".into()));
        }
        self.line.truncate(self.line.len() - 2);
        Ok(())
    }
}

/// Appends `bytes` to `data`, returning where they went.
fn push(data: &mut Vec<u8>, bytes: &[u8]) -> Span {
    let start = data.len();
    data.extend_from_slice(bytes);
    Span {
        start,
        end: data.len(),
    }
}

/// Parses the decimal integer of an integer reply.
fn parse_int(text: &[u8]) -> Result<i64, RespError> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| {
            RespError::Protocol(format!(
                "`{}` is not an integer",
                String::from_utf8_lossy(text)
            ))
        })
}

/// Parses the length of a bulk string or array: `None` for the null
/// length `-1`.
fn parse_len(text: &[u8], max: usize) -> Result<Option<usize>, RespError> {
    match parse_int(text)? {
        -1 => Ok(None),
        len if len < 0 => Err(RespError::Protocol(format!("negative length {len}"))),
        len => match usize::try_from(len) {
            Ok(len) if len <= max => Ok(Some(len)),
            _ => Err(RespError::Protocol(format!(
                "length {len} is over the limit of {max}"
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream that hands out at most `chunk` bytes per read, as a socket
    /// may.
    struct Trickle<'a> {
        bytes: &'a [u8],
        chunk: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.chunk.min(buf.len()).min(self.bytes.len());
            buf[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    fn reader(bytes: &[u8]) -> ReplyReader<&[u8]> {
        ReplyReader::new(bytes)
    }

    fn protocol_error(bytes: &[u8]) -> String {
        match reader(bytes).read_reply() {
            Err(RespError::Protocol(what)) => what,
            other => panic!("expected a protocol error, got {other:?}"),
        }
    }

    #[test]
    fn encodes_commands_as_arrays_of_bulk_strings() {
        let mut buf = CommandBuf::new();
        buf.command(&[b"SET", b"key:1", b""]);
        buf.begin(3)
            .arg(b"GETEX")
            .arg_parts(&[b"sess:", b"abc"])
            .arg_fmt(format_args!("{}", 1800));
        assert_eq!(
            buf.as_bytes(),
            b"*3\r\n$3\r\nSET\r\n$5\r\nkey:1\r\n$0\r\n\r\n\
              *3\r\n$5\r\nGETEX\r\n$8\r\nsess:abc\r\n$4\r\n1800\r\n"
        );
        buf.clear();
        assert!(buf.as_bytes().is_empty());
    }

    #[test]
    fn binary_arguments_are_length_prefixed() {
        let mut buf = CommandBuf::new();
        buf.command(&[b"SET", b"a\r\nb", &[0, 255]]);
        assert_eq!(
            buf.as_bytes(),
            b"*3\r\n$3\r\nSET\r\n$4\r\na\r\nb\r\n$2\r\n\x00\xff\r\n"
        );
    }

    #[test]
    fn parses_every_scalar_type() {
        let mut replies =
            reader(b"+OK\r\n-ERR wrong\r\n:-42\r\n$5\r\nhe\r\no\r\n$0\r\n\r\n$-1\r\n");
        assert!(matches!(
            replies.read_reply().unwrap(),
            Value::Simple(b"OK")
        ));
        assert!(matches!(
            replies.read_reply().unwrap(),
            Value::Error(b"ERR wrong")
        ));
        assert!(matches!(replies.read_reply().unwrap(), Value::Integer(-42)));
        assert!(matches!(
            replies.read_reply().unwrap(),
            Value::Bulk(b"he\r\no")
        ));
        assert!(matches!(replies.read_reply().unwrap(), Value::Bulk(b"")));
        assert!(matches!(replies.read_reply().unwrap(), Value::Nil));
        assert!(matches!(replies.read_reply(), Err(RespError::Closed)));
    }

    #[test]
    fn parses_nested_arrays_with_nulls() {
        let bytes = b"*4\r\n*2\r\n:1\r\n*1\r\n$1\r\na\r\n$-1\r\n*0\r\n*-1\r\n+end\r\n";
        let mut replies = reader(bytes);
        let reply = replies.read_reply().unwrap();
        assert_eq!(
            format!("{reply:?}"),
            "[[integer 1, [bulk string `a`]], nil, [], nil]"
        );
        let outer = reply.into_array().unwrap();
        assert_eq!(outer.len(), 4);
        let Some(Value::Array(first)) = outer.iter().next() else {
            panic!("the first element is an array");
        };
        assert_eq!(first.iter().len(), 2);
        assert!(matches!(outer.iter().nth(3), Some(Value::Nil)));
        // The reader stops exactly at the end of the reply.
        assert!(matches!(
            replies.read_reply().unwrap(),
            Value::Simple(b"end")
        ));
    }

    #[test]
    fn partial_reads_assemble_whole_replies() {
        let bytes = b"*3\r\n$3\r\nabc\r\n:7\r\n*2\r\n+QUEUED\r\n$-1\r\n+OK\r\n";
        for chunk in [1, 2, 3, 5] {
            let mut replies = ReplyReader::new(Trickle { bytes, chunk });
            let reply = replies.read_reply().unwrap();
            assert_eq!(
                format!("{reply:?}"),
                "[bulk string `abc`, integer 7, [simple string `QUEUED`, nil]]"
            );
            replies.read_reply().unwrap().expect_simple("OK").unwrap();
        }
    }

    #[test]
    fn truncated_input_is_a_closed_connection() {
        let whole = b"*2\r\n$5\r\nhello\r\n:12\r\n";
        for cut in 0..whole.len() {
            let result = reader(&whole[..cut]).read_reply().map(|_| ());
            assert!(
                matches!(result, Err(RespError::Closed)),
                "cut at {cut}: {result:?}"
            );
        }
        assert!(reader(whole).read_reply().is_ok());
    }

    #[test]
    fn malformed_input_is_a_protocol_error() {
        assert!(protocol_error(b"!3\r\n").contains("type byte 0x21"));
        assert!(protocol_error(b"\r\n").contains("empty line"));
        assert!(protocol_error(b"+OK\n").contains("CRLF"));
        assert!(protocol_error(b":12a\r\n").contains("not an integer"));
        assert!(protocol_error(b"$-2\r\n").contains("negative length"));
        assert!(protocol_error(b"$3\r\nabcde\r\n").contains("not followed by CRLF"));
        assert!(protocol_error(b"$99999999999\r\n").contains("over the limit"));
        let deep = "*1\r\n".repeat(MAX_DEPTH + 1) + ":1\r\n";
        assert!(protocol_error(deep.as_bytes()).contains("nested deeper"));
        let long = format!("+{}\r\n", "x".repeat(MAX_LINE as usize));
        assert!(protocol_error(long.as_bytes()).contains("longer than"));
    }

    #[test]
    fn error_replies_become_server_errors_when_checked() {
        let mut replies = reader(b"-WRONGTYPE Operation against a key\r\n+QUEUED\r\n:1\r\n");
        let error = replies.read_reply().unwrap().check().unwrap_err();
        assert_eq!(
            error.to_string(),
            "server error: WRONGTYPE Operation against a key"
        );
        let error = replies
            .read_reply()
            .unwrap()
            .expect_simple("OK")
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "protocol error: expected OK, got simple string `QUEUED`"
        );
        let error = replies.read_reply().unwrap().into_array().unwrap_err();
        assert!(
            error
                .to_string()
                .contains("expected an array, got integer 1")
        );
    }

    #[test]
    fn buffers_are_reused_between_replies() {
        let mut replies = reader(b"$3\r\nabc\r\n$2\r\nde\r\n");
        assert!(matches!(replies.read_reply().unwrap(), Value::Bulk(b"abc")));
        assert!(matches!(replies.read_reply().unwrap(), Value::Bulk(b"de")));
        assert_eq!(replies.data.len(), 2);
        assert_eq!(replies.frames.len(), 1);
    }
}
