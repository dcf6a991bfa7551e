//! `specgate devices`: every audio host's input and output devices.

/// Lists devices (ids, names, default marks, channel counts, rates, formats) on stdout.
pub fn run() -> anyhow::Result<()> {
    #[cfg(feature = "device")]
    {
        crate::io::device::print_devices()
    }
    #[cfg(not(feature = "device"))]
    {
        anyhow::bail!("this build has no audio device support (rebuild with the `device` feature)")
    }
}
