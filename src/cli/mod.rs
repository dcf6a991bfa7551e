//! The `specgate` command line (clap derive). One file per subcommand; each exposes an
//! `Args` struct and a `run(args) -> anyhow::Result<()>`. `main.rs` only calls [`main`].

pub mod common;
pub mod demo;
pub mod eval;
pub mod filter;

use clap::{Parser, Subcommand};

/// Streaming spectral-gate noise filter for SDR audio.
#[derive(Debug, Parser)]
#[command(name = "specgate", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the presets with their key values.
    Presets,
    /// Filter a WAV file or a raw sample stream (files and pipes).
    #[command(
        after_help = "Examples (rtl_fm | specgate | aplay, files, --noise-clip): specgate filter --help",
        after_long_help = filter::EXAMPLES
    )]
    Filter(Box<filter::FilterArgs>),
    /// Measure quality on known signals mixed with known noise (SI-SDR, segSNR, LSD, musical noise).
    Eval(Box<eval::Args>),
    /// Synthesise an SDR-like recording (CW + voice in noise), filter it, write WAVs, print gains.
    Demo(Box<demo::Args>),
}

/// Parses the command line and runs the subcommand; errors go to stderr with a non-zero exit.
pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Presets => common::print_presets(),
        Command::Filter(a) => filter::run(*a),
        Command::Eval(a) => eval::run(*a),
        Command::Demo(a) => demo::run(*a),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("specgate: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
