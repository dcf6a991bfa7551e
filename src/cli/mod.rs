//! The `specgate` command line (clap derive). One file per subcommand; each exposes an
//! `Args` struct and a `run(args) -> anyhow::Result<()>`. `main.rs` only calls [`main`], which exits 128 + N after
//! signal N (see [`crate::cancel`]).

pub mod common;
pub mod completions;
pub mod demo;
pub mod devices;
pub mod eval;
pub mod features;
pub mod filter;
pub mod info;
pub mod invert;
pub mod latency;
pub mod run;
pub mod spectrogram;

use clap::{Parser, Subcommand};

/// Streaming spectral-gate noise filter for SDR audio.
#[derive(Debug, Parser)]
#[command(name = "specgate", version = env!("SPECGATE_VERSION"), about, long_about = None)]
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
    /// List every audio host's input and output devices.
    Devices(devices::Args),
    /// Filter live: from a device (or stdin, or UDP) to a device (or stdout, or a WAV file).
    Run(Box<run::Args>),
    /// Render a spectrogram PNG (optionally input/output/mask stacked).
    Spectrogram(spectrogram::Args),
    /// Detect emissions (carriers, CW, bursts, voice…) and describe each: one table row each.
    #[command(
        after_help = "Examples (SDRuno I/Q WAV → features.csv, JSONL, pipes, evaluation): specgate features --help",
        after_long_help = features::EXAMPLES
    )]
    Features(Box<features::Args>),
    /// Reconstruct audio from a magnitude spectrogram (fast Griffin-Lim).
    Invert(invert::Args),
    /// Measure the algorithmic latency and per-hop compute time of the engine.
    Latency(Box<latency::Args>),
    /// Describe a recording: format, rate, duration, centre frequency, times, IQ or audio.
    Info(info::Args),
    /// Measure quality on known signals mixed with known noise (SI-SDR, segSNR, LSD, musical noise).
    Eval(Box<eval::Args>),
    /// Synthesise an SDR-like recording (CW + voice in noise), filter it, write WAVs, print gains.
    Demo(Box<demo::Args>),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish) to stdout.
    Completions(completions::CompletionsArgs),
    /// Print the man page (roff) to stdout: `specgate man > specgate.1`.
    Man,
}

/// Parses the command line and runs the subcommand; errors go to stderr with a non-zero exit.
pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Presets => common::print_presets(),
        Command::Filter(a) => filter::run(*a),
        Command::Devices(a) => devices::run(a),
        Command::Run(a) => run::run(a),
        Command::Spectrogram(a) => spectrogram::run(a),
        Command::Features(a) => features::run(*a),
        Command::Invert(a) => invert::run(a),
        Command::Latency(a) => latency::run(*a),
        Command::Info(a) => info::run(&a),
        Command::Eval(a) => eval::run(*a),
        Command::Demo(a) => demo::run(*a),
        Command::Completions(a) => completions::run(&a),
        Command::Man => completions::man(),
    };
    let code = match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<crate::cancel::Interrupted>().is_some() => {
            eprintln!("specgate: {e:#}; no partial output was left");
            std::process::ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("specgate: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    };
    // After signal N the exit status is 128 + N, whatever the command made of it (a stdin
    // stream that ended normally keeps its output and still reports the signal).
    match crate::cancel::exit_code() {
        Some(c) => std::process::ExitCode::from(c),
        None => code,
    }
}
