//! specgate: a streaming, real-time spectral-gate noise filter for SDR audio.
//!
//! Data path: [`dsp`] (pure math) → [`engine`] (the streaming processor) → `io` adapters → CLI.
pub mod cancel;
pub mod cli;
pub mod dsp;
pub mod engine;
pub mod eval;
pub mod io;
pub mod live;
pub mod params;
pub mod see;
pub mod stream;

pub use engine::{Engine, SignalKind};
pub use params::Params;
