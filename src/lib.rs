//! specgate: a streaming, real-time spectral-gate noise filter for SDR audio.
//!
//! Data path: [`dsp`] (pure math) → [`engine`] (the streaming processor) → `io` adapters → CLI.
pub mod cancel;
#[cfg(feature = "cli")]
pub mod cli;
pub mod dsp;
pub mod engine;
#[cfg(feature = "eval")]
pub mod eval;
pub mod io;
pub mod live;
pub mod params;
#[cfg(feature = "render")]
pub mod see;

pub use engine::{Engine, SignalKind};
pub use params::Params;
