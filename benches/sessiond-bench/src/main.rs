//! `sessiond-bench`: a load generator for sessiond.
//!
//! It exists so that performance claims about sessiond (operations per
//! second, tail latency, bytes per session) come from one reproducible
//! tool instead of ad-hoc loops, and so the same workload can be pointed at
//! Redis (and later at the daemon) for comparison. See `--help`.

mod cli;
mod delivery;
mod error;
mod events;
mod expiry;
mod failover;
mod fill;
mod native;
mod persist;
mod redis;
mod report;
mod resp;
mod rng;
mod target;
mod workload;

use std::process::ExitCode;
use std::time::Instant;

use clap::Parser as _;

use crate::cli::Args;
use crate::error::{Error, Result};
use crate::report::{Memory, Report};
use crate::target::TargetSpec;

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(error) if !error.use_stderr() => {
            // --help or --version: not an error.
            let _ = error.print();
            return ExitCode::SUCCESS;
        }
        Err(error) => return fail(first_line(&error.to_string()), 2),
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error.to_string(), 1),
    }
}

/// Prefills the target, runs the workload unless `--memory-only`, and
/// prints the report.
fn run(args: &Args) -> Result<()> {
    let plan = args.plan();
    if args.expiry_only {
        if args.target != TargetSpec::Embedded {
            return Err(Error::new("--expiry-only measures the embedded store only"));
        }
        return expiry::run(&plan, args.json);
    }
    if args.fill_only {
        if args.target != TargetSpec::Embedded {
            return Err(Error::new("--fill-only measures the embedded store only"));
        }
        let shape = fill::FillShape {
            shards: args.shards,
            ttl_spread: args.ttl_spread.unwrap_or(0),
        };
        return fill::run(&plan, &shape, args.json);
    }
    if let Some(dir) = &args.persist_only {
        if args.target != TargetSpec::Embedded {
            return Err(Error::new(
                "--persist-only measures the embedded store only",
            ));
        }
        return persist::run(&plan, dir, args.json);
    }
    if args.events_delivery {
        let TargetSpec::Sessiond(spec) = &args.target else {
            return Err(Error::new("--events-delivery needs a sessiond:// target"));
        };
        let plan = events::EventsPlan {
            spec: spec.clone(),
            rate: args.rate,
            subscribers: args.subscribers as usize,
            duration: args.duration,
            cpu_of: args.cpu_of.clone(),
        };
        return events::run(&plan, args.json);
    }
    if !args.failover.is_empty() {
        return failover::run(&args.failover, args.duration, plan.payload);
    }
    let target = target::open(&args.target, args.redis_wait_replicas)?;
    target.ensure_empty(args.flush)?;
    let mut conn = target.connect()?;
    let mut ids = plan.id_buffer();

    let rss_before = target.resident_bytes()?;
    let bytes_used_before = target.bytes_used()?;
    let progress = report::progress_bar(plan.population, "prefill", args.json);
    let started = Instant::now();
    workload::prefill(conn.as_mut(), &plan, &mut ids, &progress)?;
    let prefill = started.elapsed();
    progress.finish_and_clear();
    let memory = Memory {
        rss_before,
        rss_after: target.resident_bytes()?,
        bytes_used_before,
        bytes_used: target.bytes_used()?,
        source: target.memory_source(),
    };
    drop(conn);

    let run = if args.memory_only {
        None
    } else {
        Some(workload::run(target.as_ref(), &plan, ids)?)
    };
    let report = Report {
        target: args.target.to_string(),
        plan: &plan,
        per_owner: args.per_owner,
        prefill,
        memory,
        batch_latency: target.batch_latency(),
        run,
    };
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_text());
    }
    Ok(())
}

/// Reports `message` on one line of stderr and exits with `code`.
fn fail(message: &str, code: u8) -> ExitCode {
    eprintln!("sessiond-bench: error: {message}");
    ExitCode::from(code)
}

/// The first line of a clap error, without its own `error: ` prefix.
fn first_line(message: &str) -> &str {
    let line = message.lines().next().unwrap_or(message);
    line.strip_prefix("error: ").unwrap_or(line)
}
