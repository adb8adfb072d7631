//! `sessiond-cli`: an operator's view of a sessiond daemon over the native
//! protocol, through the Rust client: statistics, an owner's sessions,
//! log-out-everywhere, one session, and the plain keys (KEY_SCAN), without
//! the Redis listener.
//!
//! Failures are one line on stderr (`sessiond-cli: no such session`) and a
//! non-zero exit: 2 for arguments that cannot work, 1 for everything else.

mod args;
mod commands;
mod output;

use std::process::ExitCode;

use clap::Parser;

use crate::commands::Failure;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    // One command, one connection: a single-threaded runtime is enough.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return fail(&Failure::Runtime(err)),
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) | Err(Failure::OutputClosed) => ExitCode::SUCCESS,
        Err(err) => fail(&err),
    }
}

fn fail(err: &Failure) -> ExitCode {
    // Messages may quote server text; keep them to one line whatever it holds.
    let message = err.to_string().replace(['\n', '\r'], " ");
    eprintln!("sessiond-cli: {message}");
    match err {
        Failure::Usage(_) => ExitCode::from(2),
        _ => ExitCode::FAILURE,
    }
}
