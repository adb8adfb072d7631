//! The conversions between Lua values and Redis replies, as Redis 7.0
//! documents and does them: a command's reply into Lua for `redis.call`
//! (by the script's protocol, `redis.setresp`), and the script's return
//! value into the caller's reply.

use bytes::Bytes;
use mlua::{Lua, Table, Value as Lua_};

use crate::resp::reply::{Protocol, Value};

/// Deepest table nesting converted (Redis stops at its Lua stack limit).
const MAX_DEPTH: usize = 1000;

/// A Lua error table, `{err = "CODE message"}`, from an error line as
/// Redis reads one: a leading `-` means the first word is the code, and
/// text without one gets `ERR`; line breaks at the ends are trimmed.
pub(super) fn error_table(lua: &Lua, text: &[u8]) -> mlua::Result<Table> {
    let table = lua.create_table()?;
    table.raw_set("err", lua.create_string(error_line(text))?)?;
    Ok(table)
}

/// The `err` text of [`error_table`].
pub(super) fn error_line(text: &[u8]) -> Vec<u8> {
    let (code, message): (&[u8], &[u8]) = match text.strip_prefix(b"-") {
        Some(rest) => match rest.iter().position(|&b| b == b' ') {
            Some(space) => (&rest[..space], &rest[space + 1..]),
            None => (b"ERR", rest),
        },
        None => (b"ERR", text),
    };
    let trim = |b: &u8| *b == b'\r' || *b == b'\n';
    let start = message
        .iter()
        .position(|b| !trim(b))
        .unwrap_or(message.len());
    let end = message
        .iter()
        .rposition(|b| !trim(b))
        .map_or(start, |i| i + 1);
    let mut line = code.to_vec();
    line.push(b' ');
    line.extend_from_slice(&message[start..end.max(start)]);
    line
}

/// A command's reply as `redis.call` returns it to a script speaking
/// `resp` (2 or 3).
pub(super) fn to_lua(lua: &Lua, value: &Value, resp3: bool) -> mlua::Result<Lua_> {
    Ok(match value {
        Value::Simple(text) => {
            let t = lua.create_table()?;
            t.raw_set("ok", *text)?;
            Lua_::Table(t)
        }
        Value::Error(text) => {
            let mut line = b"-".to_vec();
            line.extend_from_slice(text.as_bytes());
            Lua_::Table(error_table(lua, &line)?)
        }
        Value::Integer(n) => Lua_::Number(*n as f64),
        Value::Bulk(bytes) | Value::Encoded(bytes) => Lua_::String(lua.create_string(bytes)?),
        Value::Verbatim(bytes) if resp3 => {
            let inner = lua.create_table()?;
            inner.raw_set("format", "txt")?;
            inner.raw_set("string", lua.create_string(bytes)?)?;
            let t = lua.create_table()?;
            t.raw_set("verbatim_string", inner)?;
            Lua_::Table(t)
        }
        Value::Verbatim(bytes) => Lua_::String(lua.create_string(bytes)?),
        Value::Null | Value::NullArray | Value::Silent => match resp3 {
            true => Lua_::Nil,
            false => Lua_::Boolean(false),
        },
        Value::Array(items) | Value::Push(items) | Value::Replies(items) => {
            array(lua, items.iter(), resp3)?
        }
        Value::Set(items) if resp3 => {
            let inner = lua.create_table()?;
            for item in items {
                inner.raw_set(to_lua(lua, item, resp3)?, true)?;
            }
            let t = lua.create_table()?;
            t.raw_set("set", inner)?;
            Lua_::Table(t)
        }
        Value::Set(items) => array(lua, items.iter(), resp3)?,
        Value::Map(pairs) if resp3 => {
            let inner = lua.create_table()?;
            for (key, value) in pairs {
                inner.raw_set(to_lua(lua, key, resp3)?, to_lua(lua, value, resp3)?)?;
            }
            let t = lua.create_table()?;
            t.raw_set("map", inner)?;
            Lua_::Table(t)
        }
        Value::Map(pairs) => array(lua, pairs.iter().flat_map(|(k, v)| [k, v]), resp3)?,
    })
}

fn array<'v>(lua: &Lua, items: impl Iterator<Item = &'v Value>, resp3: bool) -> mlua::Result<Lua_> {
    let t = lua.create_table()?;
    for (i, item) in items.enumerate() {
        t.raw_set(i + 1, to_lua(lua, item, resp3)?)?;
    }
    Ok(Lua_::Table(t))
}

/// The script's return value as its caller's reply (`caller`: the
/// caller's protocol; `resp3`: the script's, after `redis.setresp`).
pub(super) fn to_reply(value: &Lua_, resp3: bool, caller: Protocol) -> Value {
    to_reply_at(value, resp3, caller, 0)
}

fn to_reply_at(value: &Lua_, resp3: bool, caller: Protocol, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return Value::err("reached lua stack limit");
    }
    let c3 = caller == Protocol::Resp3;
    match value {
        Lua_::String(s) => Value::Bulk(s.as_bytes().to_vec()),
        Lua_::Boolean(b) if !resp3 => match b {
            true => Value::Integer(1),
            false => Value::Null,
        },
        Lua_::Boolean(b) => Value::Encoded(
            match (c3, b) {
                (true, true) => "#t\r\n",
                (true, false) => "#f\r\n",
                (false, true) => ":1\r\n",
                (false, false) => ":0\r\n",
            }
            .into(),
        ),
        Lua_::Integer(n) => Value::Integer(*n),
        Lua_::Number(n) => Value::Integer(*n as i64),
        Lua_::Table(t) => table_reply(t, resp3, caller, depth),
        _ => Value::Null,
    }
}

fn table_reply(t: &Table, resp3: bool, caller: Protocol, depth: usize) -> Value {
    let c3 = caller == Protocol::Resp3;
    let field = |name: &str| t.raw_get::<Lua_>(name).unwrap_or(Lua_::Nil);
    if let Lua_::String(err) = field("err") {
        return Value::Error(String::from_utf8_lossy(&err.as_bytes()).into_owned());
    }
    if let Lua_::String(ok) = field("ok") {
        return Value::Encoded(line(b'+', &ok.as_bytes()));
    }
    if let n @ (Lua_::Number(_) | Lua_::Integer(_)) = field("double") {
        let d = match n {
            Lua_::Integer(i) => i as f64,
            Lua_::Number(f) => f,
            _ => 0.0,
        };
        let text = match d.is_infinite() {
            true => if d > 0.0 { "inf" } else { "-inf" }.to_owned(),
            false => format_g17(d),
        };
        return match c3 {
            true => Value::Encoded(line(b',', text.as_bytes())),
            false => Value::Bulk(text.into_bytes()),
        };
    }
    if let Lua_::String(big) = field("big_number") {
        let clean: Vec<u8> = big.as_bytes().iter().map(|&b| clean_byte(b)).collect();
        return match c3 {
            true => Value::Encoded(line(b'(', &clean)),
            false => Value::Bulk(clean),
        };
    }
    if let Lua_::Table(v) = field("verbatim_string")
        && let Ok(Lua_::String(format)) = v.raw_get::<Lua_>("format")
        && let Ok(Lua_::String(text)) = v.raw_get::<Lua_>("string")
    {
        let text = text.as_bytes().to_vec();
        if !c3 {
            return Value::Bulk(text);
        }
        let mut ext = [b' '; 3];
        for (slot, b) in ext.iter_mut().zip(format.as_bytes().iter()) {
            *slot = *b;
        }
        let mut out = format!("={}\r\n", text.len() + 4).into_bytes();
        out.extend_from_slice(&ext);
        out.push(b':');
        out.extend_from_slice(&text);
        out.extend_from_slice(b"\r\n");
        return Value::Encoded(out);
    }
    if let Lua_::Table(map) = field("map") {
        let pairs = map
            .pairs::<Lua_, Lua_>()
            .filter_map(Result::ok)
            .map(|(k, v)| {
                (
                    to_reply_at(&k, resp3, caller, depth + 1),
                    to_reply_at(&v, resp3, caller, depth + 1),
                )
            })
            .collect();
        return Value::Map(pairs);
    }
    if let Lua_::Table(set) = field("set") {
        let items = set
            .pairs::<Lua_, Lua_>()
            .filter_map(Result::ok)
            .map(|(k, _)| to_reply_at(&k, resp3, caller, depth + 1))
            .collect();
        return Value::Set(items);
    }
    let mut items = Vec::new();
    for i in 1.. {
        match t.raw_get::<Lua_>(i) {
            Ok(Lua_::Nil) | Err(_) => break,
            Ok(item) => items.push(to_reply_at(&item, resp3, caller, depth + 1)),
        }
    }
    Value::Array(items)
}

/// A status or typed line: kind byte, text with line breaks as spaces.
fn line(kind: u8, text: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend(text.iter().map(|&b| clean_byte(b)));
    out.extend_from_slice(b"\r\n");
    out
}

fn clean_byte(b: u8) -> u8 {
    match b {
        b'\r' | b'\n' => b' ',
        other => other,
    }
}

/// A `redis.call` argument: a string as is, a number as C's `%.17g`
/// writes it; anything else is refused (`None`).
pub(super) fn argument(value: &Lua_) -> Option<Bytes> {
    match value {
        Lua_::String(s) => Some(Bytes::copy_from_slice(&s.as_bytes())),
        Lua_::Integer(n) => Some(Bytes::from(n.to_string())),
        Lua_::Number(n) => Some(Bytes::from(format_g17(*n))),
        _ => None,
    }
}

/// C's `printf("%.17g", x)`: 17 significant digits, trailing zeros
/// dropped, exponent form below 1e-4 and from 1e17.
pub(super) fn format_g17(x: f64) -> String {
    if x.is_nan() {
        return if x.is_sign_negative() { "-nan" } else { "nan" }.into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let sci = format!("{x:.16e}");
    let (mantissa, exp) = sci.split_once('e').expect("exponent form");
    let exp: i32 = exp.parse().expect("exponent");
    if !(-4..17).contains(&exp) {
        let mantissa = trim_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    let decimals = (16 - exp).max(0) as usize;
    trim_zeros(&format!("{x:.decimals$}")).to_owned()
}

fn trim_zeros(text: &str) -> &str {
    match text.contains('.') {
        true => text.trim_end_matches('0').trim_end_matches('.'),
        false => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_as_c_prints_them() {
        for (x, text) in [
            (3.5, "3.5"),
            (1.0, "1"),
            (0.1, "0.10000000000000001"),
            (-2.0, "-2"),
            (1e17, "1e+17"),
            (123456789012345680.0, "1.2345678901234568e+17"),
            (0.0001, "0.0001"),
            (0.00001, "1.0000000000000001e-05"),
            (1e16, "10000000000000000"),
        ] {
            assert_eq!(format_g17(x), text, "{x}");
        }
    }

    #[test]
    fn error_lines_split_as_redis_splits_them() {
        let lua = Lua::new();
        let err = |t: &[u8]| {
            let table = error_table(&lua, t).unwrap();
            table.raw_get::<String>("err").unwrap()
        };
        assert_eq!(err(b"-WRONGTYPE Operation"), "WRONGTYPE Operation");
        assert_eq!(err(b"-NOSPACE"), "ERR NOSPACE");
        assert_eq!(err(b"plain words"), "ERR plain words");
        assert_eq!(err(b"-MY err\r\n"), "MY err");
    }
}
