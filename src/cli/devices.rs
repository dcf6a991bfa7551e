//! `specgate devices`: every audio host's input and output devices, one line each.

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Also show what the audio libraries print on stderr while probing (ALSA, JACK).
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

/// Lists devices (ids, names, default marks, channel counts, rates, formats) on stdout.
pub fn run(args: Args) -> anyhow::Result<()> {
    #[cfg(feature = "device")]
    {
        Ok(crate::live::device::print_devices(args.verbose)?)
    }
    #[cfg(not(feature = "device"))]
    {
        let _ = args;
        anyhow::bail!("this build has no audio device support (rebuild with the `device` feature)")
    }
}
