//! specgate: a streaming, real-time spectral-gate noise filter for SDR audio.
//!
//! Data path: [`dsp`] (pure math) → [`engine`] (the streaming processor) → `io` adapters → CLI.
//!
//! # Embedding the engine
//!
//! An [`Engine`] takes interleaved `f32` blocks of any length and returns as many samples,
//! delayed by [`Engine::latency_samples`]. It allocates only in [`Engine::new`]: `process` and
//! `reset` are safe to call from an audio callback. Non-finite or absurd input samples are
//! replaced by silence and counted in [`engine::EngineStats`].
//!
//! ```
//! use specgate::{params, Engine, SignalKind};
//!
//! // The `voice` preset, 20 dB reduction, at 8 kHz mono.
//! let p = params::resolve("voice", None, &params::ParamsPatch::default())?;
//! let mut engine = Engine::new(&p, 8_000, 1, SignalKind::Real)?;
//!
//! // Two seconds of a keyed 1 kHz tone in noise, fed in 160-sample blocks (20 ms callbacks).
//! let mut seed = 1u32;
//! let input: Vec<f32> = (0..16_000)
//!     .map(|i| {
//!         seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
//!         let noise = (seed >> 8) as f32 / (1 << 24) as f32 - 0.5;
//!         let tone = if i % 4000 < 2000 { (i as f32 * 0.785).sin() } else { 0.0 };
//!         0.5 * tone + 0.05 * noise
//!     })
//!     .collect();
//! let mut output = vec![0.0; input.len()];
//! for (x, y) in input.chunks(160).zip(output.chunks_mut(160)) {
//!     engine.process(x, y);
//! }
//!
//! // Output sample t is input sample t − latency (the voice preset: under 10 ms, 79 samples at
//! // 8 kHz), gated: the noise is attenuated.
//! assert_eq!(engine.latency_samples(), 79);
//! let stats = engine.stats();
//! assert!(stats.attenuation_db() > 1.0, "{} dB", stats.attenuation_db());
//! assert!(output.iter().all(|v| v.is_finite()));
//!
//! // Back to a fresh state (e.g. the user retuned) without allocating.
//! engine.reset();
//! assert_eq!(engine.stats().frames, 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
pub mod cancel;
#[cfg(feature = "cli")]
pub mod cli;
pub mod dsp;
pub mod engine;
#[cfg(feature = "eval")]
pub mod eval;
pub mod features;
pub mod io;
pub mod live;
pub mod params;
#[cfg(feature = "render")]
pub mod see;
pub mod stream;
pub mod units;

pub use engine::{Engine, SignalKind};
pub use params::Params;
