//! Pure signal processing: no I/O, no threads.
pub mod analysis;
pub mod floor;
pub mod gain;
pub mod griffin_lim;
pub mod noise;
pub mod rfft;
pub mod stft;
pub mod windows;
