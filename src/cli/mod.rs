//! The `specgate` command line (clap derive). One file per subcommand; each exposes an
//! `Args` struct and a `run(args) -> anyhow::Result<()>`. `main.rs` only calls [`main`].

pub mod common;
pub mod info;

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
    /// Describe a recording: format, rate, duration, centre frequency, times, IQ or audio.
    Info(info::Args),
}

/// Parses the command line and runs the subcommand; errors go to stderr with a non-zero exit.
pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Presets => common::print_presets(),
        Command::Info(a) => info::run(&a),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("specgate: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
