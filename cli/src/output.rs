//! How results look: aligned tables for people, JSON for scripts.
//!
//! Both faces show bytes (owners, data, keys) through [`printable`], so that
//! a key holding a newline or a terminal escape can neither break a line of
//! output nor reach the terminal raw; the escaping is reversible, so a
//! script loses nothing. JSON keeps times as Unix seconds and a session's
//! metadata under the names of the protocol's golden vectors
//! (`protocol/vectors/`: `created`, `last_seen`, `expires_at`, …), with
//! labels as an object.

use serde_json::{Value, json};
use sessiond_client::protocol::{Session, SessionInfo, UtcDateTime};

/// `bytes` as text: UTF-8 kept as it is, except `\` (written `\\`) and
/// control characters (`\n`, `\t`, `\r`, others `\xNN`); bytes that are not
/// UTF-8 become `\xNN`.
pub fn printable(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                c if c.is_control() => {
                    // Every control character is below U+00A0: one byte of
                    // UTF-8 or two, each shown as \xNN.
                    let mut buf = [0; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        out.push_str(&format!("\\x{b:02x}"));
                    }
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// A Unix time as UTC ISO-8601 (`2026-01-01T00:00:00Z`).
pub fn iso_time(unix_secs: u64) -> String {
    let t = UtcDateTime::from_unix(unix_secs);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

/// Rows under a header, each column as wide as its widest cell, two spaces
/// apart; the last column is not padded, so lines carry no trailing blanks.
pub fn table<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header = header.map(str::to_owned);
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
            if i + 1 == N {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  "));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Labels as `key=value` pairs, comma-separated, or `-` for none.
pub fn labels_text(info: &SessionInfo) -> String {
    if info.labels.is_empty() {
        return "-".into();
    }
    let pairs: Vec<String> = info
        .labels
        .iter()
        .map(|(k, v)| format!("{}={}", printable(k.as_bytes()), printable(v.as_bytes())))
        .collect();
    pairs.join(", ")
}

/// An owner's sessions as a table, one per line.
pub fn sessions_table(infos: &[SessionInfo]) -> String {
    let rows: Vec<[String; 6]> = infos
        .iter()
        .map(|info| {
            [
                info.id.to_string(),
                iso_time(info.created_at),
                iso_time(info.last_seen_at),
                iso_time(info.expires_at),
                info.version.to_string(),
                labels_text(info),
            ]
        })
        .collect();
    table(
        ["ID", "CREATED", "LAST SEEN", "EXPIRES", "VERSION", "LABELS"],
        &rows,
    )
}

/// One session, a field per line.
pub fn session_table(session: &Session) -> String {
    let info = &session.info;
    let idle = match info.idle_timeout.as_secs() {
        0 => "none".to_owned(),
        secs => format!("{secs} s"),
    };
    let rows = [
        ["id".into(), info.id.to_string()],
        ["owner".into(), printable(&session.owner)],
        ["created".into(), iso_time(info.created_at)],
        ["last seen".into(), iso_time(info.last_seen_at)],
        ["expires".into(), iso_time(info.expires_at)],
        ["idle timeout".into(), idle],
        [
            "absolute deadline".into(),
            info.absolute_deadline.map_or("none".into(), iso_time),
        ],
        ["version".into(), info.version.to_string()],
        ["labels".into(), labels_text(info)],
        [
            "data".into(),
            format!("{} bytes: {}", session.data.len(), printable(&session.data)),
        ],
    ];
    table(["FIELD", "VALUE"], &rows)
}

/// A session's metadata, under the golden vectors' `info` names.
pub fn info_json(info: &SessionInfo) -> Value {
    let labels: serde_json::Map<String, Value> = info
        .labels
        .iter()
        .map(|(k, v)| (k.to_owned(), Value::from(v)))
        .collect();
    json!({
        "id": info.id.to_string(),
        "created": info.created_at,
        "last_seen": info.last_seen_at,
        "idle_secs": info.idle_timeout.as_secs(),
        "absolute_deadline": info.absolute_deadline,
        "expires_at": info.expires_at,
        "version": info.version,
        "labels": labels,
    })
}

/// A whole session: owner and data through [`printable`], and its info.
pub fn session_json(session: &Session) -> Value {
    json!({
        "owner": printable(&session.owner),
        "data": printable(&session.data),
        "info": info_json(&session.info),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_iso_8601() {
        assert_eq!(iso_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso_time(1_767_225_600), "2026-01-01T00:00:00Z");
        // A leap day, and the second before a new year.
        assert_eq!(iso_time(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso_time(1_767_225_599), "2025-12-31T23:59:59Z");
        assert_eq!(iso_time(4_107_542_400), "2100-03-01T00:00:00Z");
    }

    #[test]
    fn bytes_are_shown_reversibly_and_never_raw_control_characters() {
        assert_eq!(printable(b"user:42"), "user:42");
        assert_eq!(printable("Zürich".as_bytes()), "Zürich");
        assert_eq!(printable(b"a\nb\\c\x1b[0m"), "a\\nb\\\\c\\x1b[0m");
        assert_eq!(printable(b"\xff\xfe ok"), "\\xff\\xfe ok");
    }

    #[test]
    fn tables_align_their_columns_without_trailing_blanks() {
        let rows = [
            ["a".to_owned(), "1".to_owned()],
            ["longer".to_owned(), "22".to_owned()],
        ];
        assert_eq!(
            table(["NAME", "N"], &rows),
            "NAME    N\na       1\nlonger  22\n"
        );
    }
}
