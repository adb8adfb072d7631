//! Each subcommand: connect, ask, print.
//!
//! Output goes through one [`Out`], so that a closed pipe (`keys '*' |
//! head`) ends the command quietly instead of as an error.

use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use sessiond_client::protocol::SessionId;
use sessiond_client::{Client, ClientConfig, ClientError, Roots, SessionStore, StoreError};

use crate::args::{Cli, Command, Connection};
use crate::output::{self, printable};

/// Keys the server looks at per KEY_SCAN step: large enough that a walk
/// takes few round trips, small enough that a step's reply stays small.
const SCAN_COUNT: u32 = 1000;

/// The environment variable that holds the token unless `--token-file`
/// names a file.
const TOKEN_VAR: &str = "SESSIOND_AUTH_TOKEN";

/// Why a command failed; `main` prints it as one line.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The arguments cannot work (a bad id, a CA for a plain URL, …).
    #[error("{0}")]
    Usage(String),
    /// No connection could be opened.
    #[error("cannot connect to {url}: {source}")]
    Connect {
        /// Where we tried.
        url: String,
        /// Why it failed.
        source: ClientError,
    },
    /// The server refused or the request failed on the way.
    #[error("{0}")]
    Request(#[from] ClientError),
    /// The async runtime could not start.
    #[error("cannot start: {0}")]
    Runtime(io::Error),
    /// Writing the output failed (other than a closed pipe).
    #[error("writing output: {0}")]
    Output(io::Error),
    /// Standard output was closed by its reader: not an error, but there
    /// is nothing more to do.
    #[error("output closed")]
    OutputClosed,
}

impl From<io::Error> for Failure {
    fn from(err: io::Error) -> Self {
        match err.kind() {
            io::ErrorKind::BrokenPipe => Failure::OutputClosed,
            _ => Failure::Output(err),
        }
    }
}

/// Runs the command the arguments name.
pub async fn run(cli: Cli) -> Result<(), Failure> {
    let client = connect(&cli.connection).await?;
    let mut out = Out {
        json: cli.json,
        stdout: io::stdout().lock(),
    };
    match cli.command {
        Command::Stats { watch: None } => stats(&client, &mut out, false).await,
        Command::Stats { watch: Some(secs) } => watch(&client, &mut out, secs).await,
        Command::List { owner } => list(&client, &mut out, &owner).await,
        Command::Count { owner } => {
            let count = client.count(owner.as_bytes()).await?;
            out.show(json!({ "owner": owner, "count": count }), || {
                format!("{count}\n")
            })
        }
        Command::Kick { owner, keep } => {
            let keep = keep.as_deref().map(parse_id).transpose()?;
            let ended = client.delete_owner(owner.as_bytes(), keep.as_ref()).await?;
            let kept = keep.map(|id| id.to_string());
            out.show(
                json!({ "owner": owner, "ended": ended, "kept": kept }),
                || match &kept {
                    Some(id) => format!("ended {ended} sessions of {owner}, kept {id}\n"),
                    None => format!("ended {ended} sessions of {owner}\n"),
                },
            )
        }
        Command::Get { id } => {
            let session = client.peek(&parse_id(&id)?).await?;
            out.show(output::session_json(&session), || {
                output::session_table(&session)
            })
        }
        Command::Revoke { id } => {
            let id = parse_id(&id)?;
            // Nothing there is an error, as for `get`: an operator who
            // revokes a mistyped id must hear that nothing was ended.
            if !client.delete(&id).await? {
                return Err(ClientError::Store(StoreError::NotFound).into());
            }
            out.show(json!({ "id": id.to_string(), "revoked": true }), || {
                format!("revoked {id}\n")
            })
        }
        Command::Keys { pattern } => keys(&client, &mut out, &pattern).await,
    }
}

/// A client from the connection options: one connection is plenty for
/// one command, and a request may take a while (a LIST of thousands).
async fn connect(options: &Connection) -> Result<Client, Failure> {
    let url = options.url.as_str();
    let tls = url.starts_with("sessiond+tls://");
    let config = match (&options.ca, tls) {
        (Some(ca), true) => ClientConfig::from_url_with_roots(url, Roots::PemFile(ca.clone())),
        (Some(_), false) => {
            return Err(Failure::Usage(format!(
                "--ca applies to sessiond+tls:// URLs only, not {url}"
            )));
        }
        (None, true) if !url.contains("ca=") => {
            return Err(Failure::Usage(format!(
                "{url}: TLS needs --ca FILE, the CA that signed the server's certificate"
            )));
        }
        (None, _) => ClientConfig::from_url(url),
    }
    .map_err(usage)?;
    let config = with_token(config, options.token_file.as_deref())?
        .pool_size(1)
        .connect_timeout(Duration::from_secs(5))
        .request_timeout(Duration::from_secs(30));
    Client::connect(config)
        .await
        .map_err(|source| match source {
            ClientError::Config(message) => Failure::Usage(message),
            source => Failure::Connect {
                url: url.to_owned(),
                source,
            },
        })
}

/// The token from `--token-file`, else from the environment, else none.
fn with_token(config: ClientConfig, file: Option<&Path>) -> Result<ClientConfig, Failure> {
    match file {
        Some(path) => config.auth_token_from_file(path).map_err(usage),
        None if std::env::var_os(TOKEN_VAR).is_some() => {
            config.auth_token_from_env(TOKEN_VAR).map_err(usage)
        }
        None => Ok(config),
    }
}

/// A configuration error's text without the client's "client configuration: ".
fn usage(err: ClientError) -> Failure {
    match err {
        ClientError::Config(message) => Failure::Usage(message),
        other => Failure::Usage(other.to_string()),
    }
}

fn parse_id(text: &str) -> Result<SessionId, Failure> {
    text.parse()
        .map_err(|e| Failure::Usage(format!("not a session id: {text:?}: {e}")))
}

async fn stats(client: &Client, out: &mut Out<'_>, compact: bool) -> Result<(), Failure> {
    let stats = client.stats().await?;
    let document: serde_json::Map<String, Value> = stats
        .iter()
        .map(|(name, value)| (name.clone(), Value::from(*value)))
        .collect();
    if out.json && compact {
        return out.line(&Value::Object(document));
    }
    out.show(Value::Object(document), || {
        let rows: Vec<[String; 2]> = stats
            .iter()
            .map(|(name, value)| [name.clone(), value.to_string()])
            .collect();
        output::table(["NAME", "VALUE"], &rows)
    })
}

/// Statistics every `secs` seconds until Ctrl-C, which ends it normally.
/// With `--json`, one line per refresh.
async fn watch(client: &Client, out: &mut Out<'_>, secs: u64) -> Result<(), Failure> {
    let mut stop = std::pin::pin!(tokio::signal::ctrl_c());
    // Poll once so that the handler is in place before the first request:
    // a Ctrl-C from then on ends the loop instead of killing the process.
    tokio::select! {
        biased;
        _ = &mut stop => return Ok(()),
        () = std::future::ready(()) => {}
    }
    loop {
        if !out.json {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            out.text(&format!("-- {} --\n", output::iso_time(now)))?;
        }
        stats(client, out, true).await?;
        tokio::select! {
            _ = &mut stop => return Ok(()),
            () = tokio::time::sleep(Duration::from_secs(secs)) => {}
        }
    }
}

async fn list(client: &Client, out: &mut Out<'_>, owner: &str) -> Result<(), Failure> {
    let infos = client.list(owner.as_bytes()).await?;
    let sessions: Vec<Value> = infos.iter().map(output::info_json).collect();
    out.show(json!({ "owner": owner, "sessions": sessions }), || {
        output::sessions_table(&infos)
    })
}

/// Walks KEY_SCAN to its end, printing each step's keys as they come.
/// The cursor only moves forward (shard, then position), so a cursor that
/// does not is a server bug, and stopping there keeps the loop finite.
async fn keys(client: &Client, out: &mut Out<'_>, pattern: &str) -> Result<(), Failure> {
    let mut cursor = 0;
    loop {
        let (next, keys) = client
            .scan_keys(cursor, SCAN_COUNT, Some(pattern.as_bytes()))
            .await?;
        for key in &keys {
            match out.json {
                true => out.line(&json!({ "key": printable(key) }))?,
                false => out.text(&format!("{}\n", printable(key)))?,
            }
        }
        out.stdout.flush()?;
        if next == 0 {
            return Ok(());
        }
        if next <= cursor {
            return Err(ClientError::Protocol(format!(
                "KEY_SCAN's cursor went from {cursor} back to {next}"
            ))
            .into());
        }
        cursor = next;
    }
}

/// Standard output, in the format the user chose.
struct Out<'a> {
    json: bool,
    stdout: io::StdoutLock<'a>,
}

impl Out<'_> {
    /// `document` as pretty JSON, or the table `text` builds.
    fn show(&mut self, document: Value, text: impl FnOnce() -> String) -> Result<(), Failure> {
        if self.json {
            let pretty = serde_json::to_string_pretty(&document).expect("JSON values serialize");
            self.text(&(pretty + "\n"))
        } else {
            self.text(&text())
        }
    }

    /// `document` as one line of JSON.
    fn line(&mut self, document: &Value) -> Result<(), Failure> {
        self.text(&format!("{document}\n"))
    }

    fn text(&mut self, text: &str) -> Result<(), Failure> {
        self.stdout.write_all(text.as_bytes())?;
        Ok(())
    }
}
