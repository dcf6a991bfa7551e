//! `specgate completions SHELL` and `specgate man`: shell completion scripts (clap_complete) and
//! the man page (clap_mangen), both generated from the one clap definition of the command line,
//! so they cannot drift from it. Both write to stdout.

use clap::CommandFactory;
use std::io::Write;

/// Arguments of `specgate completions`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// Shell to generate the completion script for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Prints the completion script for `args.shell`.
pub fn run(args: &CompletionsArgs) -> anyhow::Result<()> {
    let mut cmd = super::Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "specgate", &mut out);
    write_stdout(&out)
}

/// Prints the man page (roff): `specgate man > specgate.1`, then `man ./specgate.1`.
pub fn man() -> anyhow::Result<()> {
    let cmd = super::Cli::command();
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut out)?;
    write_stdout(&out)
}

fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    let mut o = std::io::stdout().lock();
    o.write_all(bytes)?;
    o.flush()?;
    Ok(())
}
