//! The command line: connection options shared by every subcommand, and
//! the subcommands themselves.
//!
//! The token is read from the environment or a file, never from a flag:
//! a flag's value shows in `ps` and in shell history.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Operate a sessiond daemon over its native protocol.
#[derive(Debug, Parser)]
#[command(name = "sessiond-cli", version)]
pub struct Cli {
    #[command(flatten)]
    pub connection: Connection,
    /// Print JSON for scripts: one document, or one line per key for `keys`.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// Where the daemon is and how to prove who we are.
#[derive(Debug, clap::Args)]
pub struct Connection {
    /// The daemon: sessiond://host:port, or sessiond+tls://host:port.
    #[arg(
        long,
        global = true,
        env = "SESSIOND_URL",
        default_value = "sessiond://127.0.0.1:7878"
    )]
    pub url: String,
    /// The CA that signed the server's certificate (PEM), for sessiond+tls://.
    #[arg(long, global = true, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// A file holding the auth token (one trailing newline is ignored);
    /// otherwise the token is taken from SESSIOND_AUTH_TOKEN, if set.
    #[arg(long, global = true, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The server's statistics.
    Stats {
        /// Refresh every SECS seconds (default 2) until Ctrl-C.
        #[arg(
            long,
            value_name = "SECS",
            num_args = 0..=1,
            default_missing_value = "2",
            value_parser = clap::value_parser!(u64).range(1..=3600)
        )]
        watch: Option<u64>,
    },
    /// An owner's live sessions, most recently seen first.
    List {
        /// The owner (a user id, as the application files sessions).
        owner: String,
    },
    /// How many live sessions an owner has.
    Count {
        /// The owner.
        owner: String,
    },
    /// End every session of an owner (log out everywhere), but one.
    Kick {
        /// The owner.
        owner: String,
        /// The session to leave alone (its 22-character id, which may
        /// begin with `-`: base64url has it among its digits).
        #[arg(long, value_name = "ID", allow_hyphen_values = true)]
        keep: Option<String>,
    },
    /// One session, read without touching it (its idle deadline stays).
    Get {
        /// The session's 22-character id (it may begin with `-`).
        #[arg(allow_hyphen_values = true)]
        id: String,
    },
    /// End one session.
    Revoke {
        /// The session's 22-character id (it may begin with `-`).
        #[arg(allow_hyphen_values = true)]
        id: String,
    },
    /// Every plain key matching a Redis glob, streamed as the scan goes.
    Keys {
        /// The glob (`*`, `?`, `[...]`, `\` escapes); quote it for the shell.
        pattern: String,
    },
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{Cli, Command};

    /// Base64url ids begin with `-` one time in 64: they are values, not
    /// flags (the CLI test that draws random ids hit this).
    #[test]
    fn ids_that_begin_with_a_dash_are_values() {
        let id = "-UA4E83a-TT3KSsBz9LJLQ";
        let cli = Cli::try_parse_from(["sessiond-cli", "kick", "user:42", "--keep", id]).unwrap();
        assert!(matches!(cli.command, Command::Kick { keep: Some(k), .. } if k == id));
        let cli = Cli::try_parse_from(["sessiond-cli", "revoke", id]).unwrap();
        assert!(matches!(cli.command, Command::Revoke { id: i } if i == id));
        let cli = Cli::try_parse_from(["sessiond-cli", "get", id]).unwrap();
        assert!(matches!(cli.command, Command::Get { id: i } if i == id));
    }
}
