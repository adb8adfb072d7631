//! README.md's list of the Redis face's commands is generated from the
//! command table, so it cannot drift: this test renders the block between
//! the marker comments and fails when README holds anything else.
//! `SESSIOND_BLESS=1 cargo test -p sessiond-server readme` rewrites it.

use super::table::COMMANDS;
use std::collections::BTreeMap;

const BEGIN: &str = "<!-- commands:begin (generated from server/src/resp/table.rs) -->\n";
const END: &str = "<!-- commands:end -->\n";

/// One line a group (Redis's documentation groups, in name order), each
/// command upper-cased with its arity: `N` exactly N words with the name,
/// `N+` at least N.
fn render() -> String {
    let mut groups: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for spec in COMMANDS.iter() {
        let arity = if spec.arity < 0 {
            format!("{}+", -spec.arity)
        } else {
            spec.arity.to_string()
        };
        groups
            .entry(spec.group)
            .or_default()
            .push(format!("`{}` {arity}", spec.name.to_ascii_uppercase()));
    }
    let mut out = String::from(BEGIN);
    for (group, names) in groups {
        out.push_str(&format!("  - {group}: {}\n", names.join(", ")));
    }
    out.push_str(END);
    out
}

#[test]
fn readme_lists_the_command_table() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
    let readme = std::fs::read_to_string(path).expect("README.md");
    let start = readme
        .find(BEGIN)
        .expect("README.md has the commands:begin marker");
    let end = readme[start..]
        .find(END)
        .expect("README.md has the commands:end marker")
        + start
        + END.len();
    let want = render();
    let have = &readme[start..end];
    if have == want {
        return;
    }
    if std::env::var_os("SESSIOND_BLESS").is_some() {
        let blessed = format!("{}{want}{}", &readme[..start], &readme[end..]);
        std::fs::write(path, blessed).expect("write README.md");
        return;
    }
    let (want_lines, have_lines): (Vec<&str>, Vec<&str>) =
        (want.lines().collect(), have.lines().collect());
    let differs: Vec<String> = (0..want_lines.len().max(have_lines.len()))
        .filter_map(|i| {
            let (w, h) = (want_lines.get(i), have_lines.get(i));
            (w != h).then(|| format!("- {}\n+ {}", h.unwrap_or(&""), w.unwrap_or(&"")))
        })
        .collect();
    panic!(
        "README.md's command list differs from the command table; \
         regenerate it with `SESSIOND_BLESS=1 cargo test -p sessiond-server readme`:\n{}",
        differs.join("\n")
    );
}
