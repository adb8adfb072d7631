//! Reading Redis-protocol requests: RESP arrays of bulk strings, as every
//! client library sends them, and inline commands, as `redis-cli` piped
//! input and telnet send them.
//!
//! The limits and error texts are Redis's own, because clients and tests
//! compare them: an array longer than 1,048,576 elements, a bulk string
//! longer than the configured maximum, or a malformed length is a protocol
//! error after which Redis (and we) reply and close the connection, since
//! the framing cannot be trusted any more. Before a client authenticates
//! (when a token is set), Redis's stricter rule for unauthenticated
//! clients applies: an array of at most [`PRE_AUTH_MAX_ARGS`] elements,
//! each at most [`PRE_AUTH_MAX_BULK`] bytes, so that a client without the
//! token cannot make the server hold a large request.
//!
//! Parsing is incremental: a [`Parser`] lives as long as its connection
//! and remembers how far into an incomplete request it has got (the
//! arguments already framed, how far the current line has been searched
//! for its end), so a request that arrives in many reads is parsed once,
//! not again from its first argument at every read.

use bytes::{Buf, Bytes, BytesMut};

/// Most elements in one request array (Redis: 1024 * 1024).
pub(crate) const MAX_ARGS: usize = 1024 * 1024;
/// Longest inline command line (Redis: PROTO_INLINE_MAX_SIZE, 64 KiB).
pub(crate) const MAX_INLINE: usize = 64 * 1024;
/// Most elements in a request before authentication (Redis 7's rule for
/// unauthenticated clients in `processMultibulkBuffer`): AUTH and HELLO
/// need no more.
pub(crate) const PRE_AUTH_MAX_ARGS: usize = 10;
/// Longest argument before authentication (Redis 7: 16 KiB), well above
/// the longest token (1024 bytes).
pub(crate) const PRE_AUTH_MAX_BULK: usize = 16 * 1024;

/// A request that breaks the framing; the connection answers
/// `-ERR Protocol error: …` and closes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Protocol error: {0}")]
pub(crate) struct ProtocolError(pub &'static str);

/// What the next request may be: its arguments' bound and whether the
/// client has authenticated (if not, the pre-auth bounds apply instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bounds {
    /// Longest argument (Redis's `proto-max-bulk-len`).
    pub max_bulk: usize,
    /// Whether the client has authenticated, or needs not.
    pub authenticated: bool,
}

impl Bounds {
    /// Bounds for an authenticated client.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn open(max_bulk: usize) -> Bounds {
        Bounds {
            max_bulk,
            authenticated: true,
        }
    }
}

/// Reads requests off the front of a connection's input, reusing its
/// buffers (a pipelined batch of small commands then costs no allocation
/// per command for the argument list) and remembering where it stopped in
/// an incomplete request (see the module documentation).
///
/// The caller appends to the buffer between calls and never takes bytes
/// off its front: the parser does, once a request is complete.
#[derive(Default)]
pub(crate) struct Parser {
    spans: Vec<(usize, usize)>,
    args: Vec<Bytes>,
    /// The array being read, if one is incomplete.
    array: Option<Partial>,
    /// How many bytes of the line being read (a length line of the array,
    /// or an inline command) have been searched for its end in vain.
    searched: usize,
}

/// An array request read in part: its elements framed so far are in
/// `Parser::spans`.
#[derive(Debug, Clone, Copy)]
struct Partial {
    /// Elements still to come.
    left: usize,
    /// Where the next element's `$` line starts.
    at: usize,
}

impl Parser {
    /// Parses one request off the front of `buf`: `Ok(None)` if it is not
    /// all there yet. An empty request (`*0`, `*-1` or a blank inline line)
    /// yields no arguments, which the caller ignores as Redis does.
    pub(crate) fn next(
        &mut self,
        buf: &mut BytesMut,
        bounds: Bounds,
    ) -> Result<Option<&[Bytes]>, ProtocolError> {
        self.args.clear();
        let complete = match (self.array, buf.first()) {
            (Some(partial), _) => self.elements(buf, partial, bounds)?,
            (None, None) => false,
            (None, Some(b'*')) => self.array(buf, bounds)?,
            (None, Some(_)) => match self.inline(buf)? {
                Some(args) => {
                    self.args.extend(args);
                    true
                }
                None => false,
            },
        };
        Ok(complete.then_some(&self.args[..]))
    }

    /// `*N\r\n` followed by N `$LEN\r\nDATA\r\n`. Nothing is consumed
    /// until the whole request is there, so a partial request costs no
    /// copying; nothing is allocated for the declared sizes before their
    /// bytes arrive.
    fn array(&mut self, buf: &mut BytesMut, bounds: Bounds) -> Result<bool, ProtocolError> {
        let Some((count, at)) = self.line_number(buf, ProtocolError("invalid multibulk length"))?
        else {
            return Ok(false);
        };
        if count > MAX_ARGS as i64 {
            return Err(ProtocolError("invalid multibulk length"));
        }
        if !bounds.authenticated && count > PRE_AUTH_MAX_ARGS as i64 {
            return Err(ProtocolError("unauthenticated multibulk length"));
        }
        if count <= 0 {
            buf.advance(at);
            return Ok(true);
        }
        self.spans.clear();
        let partial = Partial {
            left: count as usize,
            at,
        };
        self.elements(buf, partial, bounds)
    }

    /// Frames the elements of an array from `partial` on; remembers where
    /// it stopped if the input ends first.
    fn elements(
        &mut self,
        buf: &mut BytesMut,
        mut partial: Partial,
        bounds: Bounds,
    ) -> Result<bool, ProtocolError> {
        self.array = None;
        while partial.left > 0 {
            let at = partial.at;
            match buf.get(at) {
                None => {
                    self.array = Some(partial);
                    return Ok(false);
                }
                Some(b'$') => {}
                Some(_) => return Err(ProtocolError("expected '$'")),
            }
            let Some((len, data)) =
                self.line_number(&buf[at..], ProtocolError("invalid bulk length"))?
            else {
                self.array = Some(partial);
                return Ok(false);
            };
            if len < 0 || len as u64 > bounds.max_bulk as u64 {
                return Err(ProtocolError("invalid bulk length"));
            }
            if !bounds.authenticated && len as u64 > PRE_AUTH_MAX_BULK as u64 {
                return Err(ProtocolError("unauthenticated bulk length"));
            }
            let start = at + data;
            let end = start + len as usize;
            if buf.len() < end + 2 {
                // The length line is read again when the data is here:
                // a few bytes, where the data is skipped, not read.
                self.array = Some(partial);
                return Ok(false);
            }
            if &buf[end..end + 2] != b"\r\n" {
                return Err(ProtocolError("expected CRLF after bulk string"));
            }
            self.spans.push((start, end));
            partial = Partial {
                left: partial.left - 1,
                at: end + 2,
            };
        }
        let request = buf.split_to(partial.at).freeze();
        let slices = self.spans.iter().map(|&(s, e)| request.slice(s..e));
        self.args.extend(slices);
        Ok(true)
    }

    /// Reads `PREFIX NUMBER \r\n` at the start of `bytes` (the prefix byte
    /// is skipped): the number and the length of the line, or `None` if
    /// the line is incomplete (then how far it was searched is kept, so
    /// the next call goes on from there).
    fn line_number(
        &mut self,
        bytes: &[u8],
        error: ProtocolError,
    ) -> Result<Option<(i64, usize)>, ProtocolError> {
        if self.searched == 0
            && let Some(found) = short_line_number(bytes)
        {
            return Ok(Some(found));
        }
        self.line_number_general(bytes, error)
    }

    /// [`Parser::line_number`] for any line, whole or not.
    fn line_number_general(
        &mut self,
        bytes: &[u8],
        error: ProtocolError,
    ) -> Result<Option<(i64, usize)>, ProtocolError> {
        let Some(end) = self.line_end(bytes, b'\r') else {
            return if bytes.len() > MAX_INLINE {
                Err(error)
            } else {
                Ok(None)
            };
        };
        if bytes.len() < end + 2 {
            return Ok(None);
        }
        self.searched = 0;
        if bytes[end + 1] != b'\n' {
            return Err(error);
        }
        let number = decimal(&bytes[1..end]).ok_or(error)?;
        Ok(Some((number, end + 2)))
    }

    /// Where `terminator` first is in the line at the start of `bytes`,
    /// searching on from where the last call stopped.
    ///
    /// Redis refuses a line that does not end within the inline limit
    /// rather than buffering forever. Looking no further than the limit
    /// refuses it however the bytes arrive: in pieces, the limit is passed
    /// before the terminator comes; at once, it is past the limit.
    fn line_end(&mut self, bytes: &[u8], terminator: u8) -> Option<usize> {
        let limit = bytes.len().min(MAX_INLINE + 1);
        let from = self.searched.min(limit);
        match bytes[from..limit].iter().position(|&b| b == terminator) {
            Some(found) => {
                // Kept until the line is taken, as the rest of the line
                // (`\n` after `\r`) may still be due.
                self.searched = from + found;
                Some(from + found)
            }
            None => {
                self.searched = limit;
                None
            }
        }
    }

    /// One line of space-separated arguments, with Redis's quoting:
    /// "double quotes" with \n \r \t \b \a \\ \" and \xHH escapes, and
    /// 'single quotes' with \' only.
    fn inline(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        // Past the limit, refused whether or not the newline has arrived
        // (see `line_end`).
        let Some(newline) = self.line_end(buf, b'\n') else {
            return if buf.len() > MAX_INLINE {
                Err(ProtocolError("too big inline request"))
            } else {
                Ok(None)
            };
        };
        self.searched = 0;
        let line = buf.split_to(newline + 1);
        let line = line[..newline]
            .strip_suffix(b"\r")
            .unwrap_or(&line[..newline]);
        split_args(line)
            .map(|args| Some(args.into_iter().map(Bytes::from).collect()))
            .ok_or(ProtocolError("unbalanced quotes in request"))
    }
}

/// The common line in one pass: a prefix byte, 1 to 18 digits and
/// `\r\n`, all there. Anything else (a sign, a longer number, a line not
/// all there, a malformed one) is `None`, for the general path, which
/// gives the same answer for these lines: it only takes more passes (the
/// search for `\r`, then the digits), and a request has a length line
/// per argument (MSET of 10 keys: 22).
fn short_line_number(bytes: &[u8]) -> Option<(i64, usize)> {
    // Indexes, not an iterator chain: this runs once per argument, and
    // `enumerate().skip().take()` did not compile down to this loop.
    let end = bytes.len().min(20);
    let mut value: i64 = 0;
    let mut i = 1;
    while i < end {
        let byte = bytes[i];
        if byte == b'\r' {
            return (i > 1 && bytes.get(i + 1) == Some(&b'\n')).then_some((value, i + 2));
        }
        if !byte.is_ascii_digit() || i > 18 {
            return None;
        }
        value = value * 10 + i64::from(byte - b'0');
        i += 1;
    }
    None
}

/// A length as `str::parse::<i64>` reads it (an optional sign, then
/// digits), without its UTF-8 check: every request has one or more.
fn decimal(digits: &[u8]) -> Option<i64> {
    let (negative, magnitude) = match digits {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, digits),
    };
    if magnitude.is_empty() {
        return None;
    }
    let mut value: i64 = 0;
    for &digit in magnitude {
        if !digit.is_ascii_digit() {
            return None;
        }
        let digit = i64::from(digit - b'0');
        value = value.checked_mul(10)?;
        value = match negative {
            true => value.checked_sub(digit)?,
            false => value.checked_add(digit)?,
        };
    }
    Some(value)
}

/// Splits an inline line as Redis's `sdssplitargs` does; `None` on
/// unbalanced quotes (or a closing quote not followed by a space).
fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == line.len() {
            return Some(args);
        }
        let arg = match line[i] {
            quote @ (b'"' | b'\'') => {
                let (arg, next) = quoted(line, i + 1, quote)?;
                i = next;
                arg
            }
            _ => {
                let start = i;
                while i < line.len() && !line[i].is_ascii_whitespace() {
                    i += 1;
                }
                line[start..i].to_vec()
            }
        };
        args.push(arg);
    }
}

/// Reads a quoted argument from just after its opening `quote`: the
/// argument and where the next one may start, or `None` if the quote is
/// never closed or its closing quote is not followed by a space.
fn quoted(line: &[u8], mut i: usize, quote: u8) -> Option<(Vec<u8>, usize)> {
    let mut arg = Vec::new();
    loop {
        let byte = *line.get(i)?;
        if byte == quote {
            i += 1;
            return match line.get(i) {
                Some(next) if !next.is_ascii_whitespace() => None,
                _ => Some((arg, i)),
            };
        }
        let (value, used) = if byte == b'\\' {
            unescape(line, i, quote)
        } else {
            (byte, 1)
        };
        arg.push(value);
        i += used;
    }
}

/// What the backslash at `line[i]` stands for inside `quote`, and how many
/// bytes it spans: in double quotes \n \r \t \b \a, \xHH, and any other
/// \c as c; in single quotes only \' is an escape.
fn unescape(line: &[u8], i: usize, quote: u8) -> (u8, usize) {
    let hex = |at: usize| line.get(at).filter(|b| b.is_ascii_hexdigit());
    match (quote, line.get(i + 1).copied()) {
        (b'\'', Some(b'\'')) => (b'\'', 2),
        (b'"', Some(b'x')) if hex(i + 2).is_some() && hex(i + 3).is_some() => {
            let digits = std::str::from_utf8(&line[i + 2..i + 4]).expect("hex digits are ASCII");
            (u8::from_str_radix(digits, 16).expect("two hex digits"), 4)
        }
        (b'"', Some(escaped)) => {
            let value = match escaped {
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                b'b' => 0x08,
                b'a' => 0x07,
                other => other,
            };
            (value, 2)
        }
        _ => (b'\\', 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MAX_BULK: Bounds = Bounds {
        max_bulk: 512 * 1024 * 1024,
        authenticated: true,
    };

    /// One request, its arguments owned.
    fn parse_request(
        buf: &mut BytesMut,
        bounds: Bounds,
    ) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        Parser::default()
            .next(buf, bounds)
            .map(|args| args.map(<[Bytes]>::to_vec))
    }

    fn parse(input: &[u8]) -> Result<Option<Vec<Vec<u8>>>, ProtocolError> {
        let mut buf = BytesMut::from(input);
        parse_request(&mut buf, MAX_BULK)
            .map(|r| r.map(|args| args.iter().map(|a| a.to_vec()).collect()))
    }

    fn args(list: &[&str]) -> Option<Vec<Vec<u8>>> {
        Some(list.iter().map(|a| a.as_bytes().to_vec()).collect())
    }

    #[test]
    fn arrays_of_bulk_strings() {
        assert_eq!(
            parse(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"),
            Ok(args(&["GET", "k"]))
        );
        assert_eq!(parse(b"*1\r\n$0\r\n\r\n"), Ok(args(&[""])));
        assert_eq!(parse(b"*0\r\n"), Ok(Some(vec![])));
        assert_eq!(parse(b"*-1\r\n"), Ok(Some(vec![])));
    }

    #[test]
    fn partial_input_waits_and_consumes_nothing() {
        let full = b"*2\r\n$3\r\nGET\r\n$5\r\nhello\r\n";
        for cut in 0..full.len() {
            let mut buf = BytesMut::from(&full[..cut]);
            assert_eq!(parse_request(&mut buf, MAX_BULK), Ok(None), "cut at {cut}");
            assert_eq!(buf.len(), cut);
        }
    }

    #[test]
    fn pipelined_requests_come_one_at_a_time() {
        let mut buf = BytesMut::from(&b"*1\r\n$4\r\nPING\r\nPING\r\n*1\r\n$4\r\nPI"[..]);
        assert_eq!(parse_request(&mut buf, MAX_BULK).unwrap().unwrap().len(), 1);
        assert_eq!(
            parse_request(&mut buf, MAX_BULK).unwrap().unwrap(),
            vec![Bytes::from("PING")]
        );
        assert_eq!(parse_request(&mut buf, MAX_BULK), Ok(None));
        assert_eq!(&buf[..], b"*1\r\n$4\r\nPI");
    }

    #[test]
    fn malformed_lengths_are_redis_protocol_errors() {
        let invalid_bulk = ProtocolError("invalid bulk length");
        assert_eq!(parse(b"*1\r\n$x\r\n"), Err(invalid_bulk.clone()));
        assert_eq!(parse(b"*1\r\n$-5\r\n"), Err(invalid_bulk.clone()));
        assert_eq!(parse(b"*1\r\n$536870913\r\n"), Err(invalid_bulk));
        assert_eq!(
            parse(b"*abc\r\n"),
            Err(ProtocolError("invalid multibulk length"))
        );
        assert_eq!(
            parse(b"*1048577\r\n"),
            Err(ProtocolError("invalid multibulk length"))
        );
        assert_eq!(parse(b"*1\r\n+OK\r\n"), Err(ProtocolError("expected '$'")));
        assert_eq!(
            ProtocolError("invalid bulk length").to_string(),
            "Protocol error: invalid bulk length"
        );
    }

    #[test]
    fn a_huge_declared_bulk_is_not_allocated_before_it_arrives() {
        let mut buf = BytesMut::from(&b"*1\r\n$500000000\r\nabc"[..]);
        assert_eq!(parse_request(&mut buf, MAX_BULK), Ok(None));
        assert!(
            buf.capacity() < 1024,
            "nothing reserved for the declared size"
        );
    }

    #[test]
    fn inline_commands_with_quotes() {
        assert_eq!(parse(b"PING\r\n"), Ok(args(&["PING"])));
        assert_eq!(parse(b"  set  k   v \n"), Ok(args(&["set", "k", "v"])));
        assert_eq!(
            parse(b"SET k \"a b\\n\\x41\"\r\n"),
            Ok(args(&["SET", "k", "a b\nA"]))
        );
        assert_eq!(
            parse(b"SET k 'it\\'s'\r\n"),
            Ok(args(&["SET", "k", "it's"]))
        );
        assert_eq!(parse(b"\r\n"), Ok(Some(vec![])));
        let unbalanced = Err(ProtocolError("unbalanced quotes in request"));
        assert_eq!(parse(b"SET k \"open\r\n"), unbalanced);
        assert_eq!(parse(b"SET k \"a\"b\r\n"), unbalanced);
        assert_eq!(parse(b"PING"), Ok(None), "no newline yet");
        assert_eq!(
            parse(&vec![b'a'; MAX_INLINE + 1]),
            Err(ProtocolError("too big inline request"))
        );
    }

    #[test]
    fn a_line_past_the_limit_is_refused_however_it_arrives() {
        // Found by the resp_pipeline fuzz target (fuzz/regressions): these
        // parsed when they came in one read, and were refused when split.
        let zeros = "0".repeat(MAX_INLINE + 10);
        let length_line = format!("*1\r\n${zeros}1\r\nx\r\n");
        assert_eq!(
            parse(length_line.as_bytes()),
            Err(ProtocolError("invalid bulk length"))
        );
        let count_line = format!("*{zeros}1\r\n$1\r\nx\r\n");
        assert_eq!(
            parse(count_line.as_bytes()),
            Err(ProtocolError("invalid multibulk length"))
        );
        let inline = format!("SET k {}\r\n", "v".repeat(MAX_INLINE));
        assert_eq!(
            parse(inline.as_bytes()),
            Err(ProtocolError("too big inline request"))
        );
        // At the limit, still a line.
        let longest = format!("PING {}\n", "v".repeat(MAX_INLINE - 5));
        assert_eq!(parse(longest.as_bytes()).unwrap().unwrap().len(), 2);
    }

    #[test]
    fn lengths_read_as_str_parse_reads_them() {
        for text in [
            "0",
            "7",
            "-1",
            "+12",
            "00",
            "9223372036854775807",
            "-9223372036854775808",
        ] {
            assert_eq!(decimal(text.as_bytes()), text.parse().ok(), "{text}");
        }
        for text in [
            "",
            "-",
            "+",
            "1a",
            " 1",
            "9223372036854775808",
            "--1",
            "1.0",
        ] {
            assert_eq!(decimal(text.as_bytes()), None, "{text}");
        }
    }

    #[test]
    fn a_reused_parser_forgets_the_last_request() {
        let mut parser = Parser::default();
        let mut buf = BytesMut::from(
            &b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*1\r\n$4\r\nPING\r\n*0\r\n"[..],
        );
        assert_eq!(parser.next(&mut buf, MAX_BULK).unwrap().unwrap().len(), 3);
        let ping = parser.next(&mut buf, MAX_BULK).unwrap().unwrap();
        assert_eq!(ping, [Bytes::from("PING")]);
        assert_eq!(parser.next(&mut buf, MAX_BULK), Ok(Some(&[][..])));
        assert_eq!(parser.next(&mut buf, MAX_BULK), Ok(None));
    }

    #[test]
    fn a_request_in_pieces_is_read_once() {
        // What was framed is not read again: corrupting the first
        // element's length line after it was framed goes unnoticed, where
        // a parser that starts over at every read would refuse it. That is
        // what keeps a large request arriving slowly linear, not quadratic.
        let mut parser = Parser::default();
        let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$1\r"[..]);
        assert_eq!(parser.next(&mut buf, MAX_BULK), Ok(None));
        buf[5] = b'x';
        buf.extend_from_slice(b"\nk\r\n");
        let request = parser.next(&mut buf, MAX_BULK).unwrap().unwrap();
        assert_eq!(request, [Bytes::from("GET"), Bytes::from("k")]);
        assert!(buf.is_empty());
        // A line is searched for its end once, whatever the reads.
        let mut buf = BytesMut::from(&b"PIN"[..]);
        assert_eq!(parser.next(&mut buf, MAX_BULK), Ok(None));
        buf[0] = b'\n';
        buf.extend_from_slice(b"G\r\n");
        assert_eq!(parser.next(&mut buf, MAX_BULK).unwrap().unwrap().len(), 1);
        assert!(buf.is_empty());
    }

    #[test]
    fn many_small_reads_give_what_one_read_gives() {
        let mut wire = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\nPING\r\n".to_vec();
        wire.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
        let mut parser = Parser::default();
        let mut buf = BytesMut::new();
        let mut requests = Vec::new();
        for &byte in &wire {
            buf.extend_from_slice(&[byte]);
            while let Some(args) = parser.next(&mut buf, MAX_BULK).unwrap() {
                requests.push(args.to_vec());
            }
        }
        assert_eq!(requests.len(), 3);
        assert_eq!(requests[0][2], Bytes::from("value"));
        assert!(buf.is_empty());
    }

    #[test]
    fn before_auth_only_small_requests() {
        let closed = Bounds {
            max_bulk: MAX_BULK.max_bulk,
            authenticated: false,
        };
        let read = |wire: &[u8], bounds| parse_request(&mut BytesMut::from(wire), bounds);
        assert_eq!(
            read(b"*11\r\n", closed),
            Err(ProtocolError("unauthenticated multibulk length"))
        );
        assert_eq!(
            read(b"*1\r\n$16385\r\n", closed),
            Err(ProtocolError("unauthenticated bulk length"))
        );
        assert_eq!(
            read(b"*1\r\n$536870913\r\n", closed),
            Err(ProtocolError("invalid bulk length"))
        );
        let mut largest = b"*10\r\n".to_vec();
        for _ in 0..10 {
            largest.extend_from_slice(b"$16384\r\n");
            largest.extend_from_slice(&[b'a'; 16384]);
            largest.extend_from_slice(b"\r\n");
        }
        assert_eq!(read(&largest, closed).unwrap().unwrap().len(), 10);
        // Once authenticated, the usual bounds.
        assert_eq!(read(b"*11\r\n", MAX_BULK), Ok(None));
        assert_eq!(read(b"*1\r\n$16385\r\n", MAX_BULK), Ok(None));
    }

    proptest! {
        #[test]
        fn decimal_agrees_with_str_parse(text in "[-+]?[0-9]{0,20}") {
            prop_assert_eq!(decimal(text.as_bytes()), text.parse::<i64>().ok());
        }

        #[test]
        fn the_short_line_path_agrees_with_the_general_one(line in "[*$][-+0-9]{0,21}(\r\n|\r|\n|x)?") {
            let bytes = line.as_bytes();
            let error = ProtocolError("invalid bulk length");
            if let Some(short) = short_line_number(bytes) {
                let mut general = Parser::default();
                prop_assert_eq!(general.line_number_general(bytes, error), Ok(Some(short)));
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let mut buf = BytesMut::from(&bytes[..]);
            while let Ok(Some(_)) = parse_request(&mut buf, Bounds::open(1024)) {
                if buf.is_empty() { break; }
            }
        }

        #[test]
        fn encoded_arrays_parse_back(items in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..8)) {
            let mut wire = format!("*{}\r\n", items.len()).into_bytes();
            for item in &items {
                wire.extend_from_slice(format!("${}\r\n", item.len()).as_bytes());
                wire.extend_from_slice(item);
                wire.extend_from_slice(b"\r\n");
            }
            prop_assert_eq!(parse(&wire), Ok(Some(items)));
        }
    }
}
