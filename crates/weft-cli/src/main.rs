//! `weft`: the lab that measures every mechanism of the concurrency survey on this machine.
//!
//! With no subcommand it runs the lab (the quick profile of every section); `weft --help`
//! lists the options. Subcommands: `weft lab` (the same, spelled out) and
//! `weft ccs ...` (the CCS tool). `weft probe` is hidden: the lab starts it in child processes.

mod ccs;
mod lab;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Measures the concurrency survey's claims here and now: kernel and green threads, and the
/// mechanisms built on them, next to the peers (std, tokio, may, ...).
#[derive(Debug, Parser)]
#[command(name = "weft", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    lab: lab::LabArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the lab (what `weft` with no subcommand does).
    Lab(lab::LabArgs),
    /// Milner's CCS as a tool: transition systems, equivalences, deadlocks, HML.
    Ccs(ccs::CcsArgs),
    /// Run one probe of a section in this process and print its result as one JSON line
    /// (used by the lab for its child processes).
    #[command(hide = true)]
    Probe(lab::child::ProbeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        None => lab::run(&cli.lab),
        Some(Command::Lab(args)) => lab::run(&args),
        Some(Command::Ccs(args)) => ccs::run(&args),
        Some(Command::Probe(args)) => lab::child::serve(&args),
    }
}
