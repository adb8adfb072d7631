//! Glob matching with Redis's rules, for KEYS and SCAN MATCH.
//!
//! A port of Redis's `stringmatchlen` (util.c), quirks included, because
//! clients send patterns written against Redis and must get the same keys:
//! `*` any run, `?` any one byte, `[abc]`, `[^abc]`, `[a-z]` (a reversed
//! range counts as the same range), `\x` a literal `x`. An unterminated
//! `[` class ends at the end of the pattern. Bytes are compared as bytes,
//! never as UTF-8.
//!
//! Like Redis, a failed `*` tells its callers to stop trying longer
//! matches: if the rest of the pattern cannot match any suffix, no earlier
//! `*` can help, which keeps patterns like `a*a*a*a*b` linear-ish instead
//! of exponential.

/// Whether `string` matches the glob `pattern`.
pub fn glob_match(pattern: &[u8], string: &[u8]) -> bool {
    let mut skip_longer = false;
    match_from(pattern, string, &mut skip_longer)
}

fn match_from(mut pattern: &[u8], mut string: &[u8], skip_longer: &mut bool) -> bool {
    while !pattern.is_empty() && !string.is_empty() {
        match pattern[0] {
            b'*' => {
                while pattern.len() > 1 && pattern[1] == b'*' {
                    pattern = &pattern[1..];
                }
                if pattern.len() == 1 {
                    return true;
                }
                while !string.is_empty() {
                    if match_from(&pattern[1..], string, skip_longer) {
                        return true;
                    }
                    if *skip_longer {
                        return false;
                    }
                    string = &string[1..];
                }
                *skip_longer = true;
                return false;
            }
            b'?' => string = &string[1..],
            b'[' => {
                let (matched, rest) = class(&pattern[1..], string[0]);
                if !matched {
                    return false;
                }
                // `rest` starts at the closing `]` (or is empty), which the
                // step below moves past.
                pattern = rest;
                string = &string[1..];
                if pattern.is_empty() {
                    break;
                }
            }
            b'\\' if pattern.len() >= 2 => {
                if pattern[1] != string[0] {
                    return false;
                }
                pattern = &pattern[1..];
                string = &string[1..];
            }
            literal => {
                if literal != string[0] {
                    return false;
                }
                string = &string[1..];
            }
        }
        pattern = &pattern[1..];
        if string.is_empty() {
            while pattern.first() == Some(&b'*') {
                pattern = &pattern[1..];
            }
            break;
        }
    }
    pattern.is_empty() && string.is_empty()
}

/// Matches `c` against a class whose body starts at `pattern` (just past
/// the `[`). Returns whether it matched and the pattern from the closing
/// `]` on (empty if the class ran to the end of the pattern).
fn class(mut pattern: &[u8], c: u8) -> (bool, &[u8]) {
    let negated = pattern.first() == Some(&b'^');
    if negated {
        pattern = &pattern[1..];
    }
    let mut matched = false;
    loop {
        match pattern {
            [b'\\', escaped, ..] => {
                matched |= *escaped == c;
                pattern = &pattern[2..];
            }
            [b']', ..] | [] => break,
            [start, b'-', end, ..] => {
                let (low, high) = if start <= end {
                    (*start, *end)
                } else {
                    (*end, *start)
                };
                matched |= (low..=high).contains(&c);
                pattern = &pattern[3..];
            }
            [other, ..] => {
                matched |= *other == c;
                pattern = &pattern[1..];
            }
        }
    }
    (matched != negated, pattern)
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    fn m(pattern: &str, string: &str) -> bool {
        glob_match(pattern.as_bytes(), string.as_bytes())
    }

    #[test]
    fn stars_and_question_marks() {
        // As in Redis's matcher, an empty string matches only the empty
        // pattern (keys are never empty, so KEYS * still sees them all).
        assert!(!m("*", ""));
        assert!(m("*", "anything"));
        assert!(m("user:*", "user:42"));
        assert!(!m("user:*", "session:42"));
        assert!(m("*:42", "user:42"));
        assert!(m("u*r*2", "user:42"));
        assert!(m("h?llo", "hello"));
        assert!(!m("h?llo", "hllo"));
        assert!(m("a**b", "axxb"));
        assert!(m("ab*", "ab"));
        assert!(!m("", "a"));
        assert!(m("", ""));
        assert!(!m("a*a*a*a*a*a*a*a*b", &"a".repeat(60)));
    }

    #[test]
    fn classes() {
        assert!(m("h[ae]llo", "hello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(
            m("h[b-a]llo", "hallo"),
            "a reversed range is the same range"
        );
        assert!(!m("h[a-b]llo", "hcllo"));
        assert!(m("[\\]]", "]"));
        assert!(m("x[abc", "xb"), "an unterminated class ends the pattern");
        assert!(!m("x[abc", "xbc"));
    }

    #[test]
    fn escapes() {
        assert!(m("h\\*llo", "h*llo"));
        assert!(!m("h\\*llo", "hello"));
        assert!(m("h\\?", "h?"));
        assert!(m("a\\", "a\\"), "a trailing backslash is literal");
    }
}
