//! The streaming processor: interleaved chunks in, the same number of samples out.
//!
//! One [`Engine`] per stream. It owns one STFT geometry, and for every channel the stream state,
//! the noise tracker and the gain state. Chunks may have any length (a multiple of the frame
//! width: `channels` samples, or 2 per complex channel); output sample `t` is input sample
//! `t − latency_samples()` after masking, whatever the chunking.
//!
//! Real time: [`Engine::process`] never allocates, locks or blocks. Everything is sized in
//! [`Engine::new`].

use crate::dsp::gain::{fmax, GainParams, GainState};
use crate::dsp::noise::{McraTracker, NoiseProfile, TrackerParams};
use crate::dsp::stft::{
    ComplexStft, ComplexTransform, RealStft, RealTransform, Stft, StftChannel, StftConfig,
    StftError, TimeSample, Transform,
};
use crate::params::Params;
use num_complex::Complex32;

/// Real audio or complex I/Q.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalKind {
    /// Each channel is a real signal; channels are independent.
    Real,
    /// Channels come in (I, Q) pairs; each pair is one complex signal with a two-sided spectrum.
    Complex,
}

/// Why an engine cannot be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Stft(#[from] StftError),
    #[error("sample rate must be positive (got {0})")]
    Rate(u32),
    #[error("sample rate {0} Hz is above the limit of {max} Hz", max = crate::params::MAX_RATE)]
    RateTooHigh(u32),
    #[error("channel count must be at least 1 (got {0})")]
    Channels(usize),
    #[error("{0} channels is more than the limit of {max}", max = crate::params::MAX_CHANNELS)]
    TooManyChannels(usize),
    #[error(
        "this configuration needs about {need_mib} MiB (limit {limit_mib} MiB): use shorter \
         frames (frame_ms, frame, fft_size) or fewer channels"
    )]
    Memory { need_mib: u64, limit_mib: u64 },
    #[error("complex (I/Q) input needs an even channel count (got {0})")]
    OddIq(usize),
    #[error("noise profile has {got} bins; this configuration needs {expected}")]
    ProfileBins { expected: usize, got: usize },
    #[error(transparent)]
    Param(#[from] crate::params::ParamError),
}

/// Geometry derived from the parameters at a given rate.
///
/// Latency (see [`crate::dsp::stft`]): `frame − 1` samples with symmetric windows. With
/// `latency_ms` > 0 the latency is at most `L = ⌊latency_ms · rate / 1000⌋` samples: if the
/// frame fits (`frame − 1 ≤ L`) nothing changes; otherwise the low-delay STFT keeps the frame for
/// analysis and uses a synthesis window of `S` samples, latency `S − 1`: `hop = ⌊(L + 1)/2⌋`,
/// `S = 2·hop` (the asymmetric pair's product then overlap-adds to a constant), or, with an
/// explicit `hop`, `S = L + 1`. E.g. 3 ms at 48 kHz: L = 144, hop 72, S = 144, latency 143
/// samples (2.98 ms); 10 ms at 44.1 kHz: L = 441, hop 221, S = 442, latency 441 (10.0 ms).
pub fn stft_config(p: &Params, rate: u32) -> StftConfig {
    let frame = if p.frame > 0 {
        p.frame as usize
    } else {
        ((p.frame_ms * rate as f64 / 1000.0).round() as usize).max(2)
    };
    // Largest latency allowed, in samples (floor: never above the limit).
    let limit = (p.latency_ms > 0.0).then(|| (p.latency_ms * rate as f64 / 1000.0 + 1e-9) as usize);
    if let Some(l) = limit.filter(|l| frame > l + 1) {
        let (hop, synth_len) = if p.hop > 0 {
            (p.hop as usize, l + 1)
        } else {
            let h = l.div_ceil(2); // ⌊(l + 1)/2⌋; 0 (a limit under one sample) is refused
            (h, 2 * h)
        };
        // Zero-padding by the synthesis length: a mask's impulse response wraps around the
        // frame, and without padding its tail lands on the newest samples — the only ones this
        // short synthesis window outputs (+0.3 dB ΔSI-SDR at 10 ms, `specgate eval`).
        return StftConfig {
            frame_len: frame,
            synth_len,
            hop,
            fft_len: if p.fft_size > 0 {
                p.fft_size as usize
            } else {
                fast_fft_len(frame + synth_len)
            },
            window: p.window,
        };
    }
    let hop = if p.hop > 0 {
        p.hop as usize
    } else {
        (frame as f64 / p.overlap.max(1) as f64).round().max(1.0) as usize
    };
    let fft_len = if p.fft_size > 0 {
        p.fft_size as usize
    } else {
        frame
    };
    StftConfig {
        frame_len: frame,
        synth_len: frame,
        hop,
        fft_len,
        window: p.window,
    }
}

/// Input samples beyond ±`ABSURD_LEVEL` (2¹⁰ = +60 dB over full scale) are not signal: float
/// audio may exceed ±1 (headroom, inter-sample overs, hot gain staging) but not by a factor of a
/// thousand; such values come from corruption (byte-swapped floats, uninitialised buffers,
/// ±3.4e38 sentinels). They are replaced by zero, like NaN and ±Inf, and counted
/// ([`EngineStats::absurd`]). The bound also keeps every power sum finite in f32 (1024² times
/// the longest frame is ~1e18, far below 3.4e38), so one bad sample can only change the frames
/// that contain it, never spread NaN through the noise tracker.
pub const ABSURD_LEVEL: f32 = 1024.0;

/// The memory an engine for this configuration will allocate, in bytes (an upper estimate),
/// computed without allocating. [`Engine::new`] refuses more than
/// [`crate::params::MAX_ENGINE_BYTES`]; callers may check earlier.
pub fn memory_estimate(p: &Params, rate: u32, channels: usize, kind: SignalKind) -> u64 {
    let cfg = stft_config(p, rate);
    let complex = kind == SignalKind::Complex;
    let (frame, hop, fft) = (cfg.frame_len as u64, cfg.hop as u64, cfg.fft_len as u64);
    let bins = if complex { fft } else { fft / 2 + 1 };
    let sample = if complex { 8 } else { 4 };
    let n = if complex { channels / 2 } else { channels }.max(1) as u64;
    let delay = frame.div_ceil(hop.max(1)).max(2);
    // Shared: windows (f64 while validating), FFT buffers, plans (twiddles) and scratch.
    let shared = frame * 16 + fft * 8 * 8 + bins * 8 * 4 + BLOCK as u64 * sample * 3;
    // Per STFT channel: stream (input and accumulator, each with its slack; ready), delay
    // line, tracker (6 sub-window minima, 8 vectors, decision history), learning (f64) and
    // profile, gain.
    let slack = cfg.stream_slack() as u64;
    let per = (2 * (frame + slack) + hop + frame) * sample
        + bins * 4 * (6 + 8 + delay)
        + bins * (8 + 4)
        + bins * 4 * 8;
    (shared + n * per).saturating_mul(5) / 4
}

/// The smallest EVEN length ≥ `n` whose only prime factors are 2, 3 and 5 (fast for the FFT).
/// Even, because realfft computes an odd-length real transform as a full complex one: the
/// 10 ms voice preset's 1824 samples rounded to 1875 (3·5⁴) cost twice as much per hop as
/// 1920 (2⁷·3·5), and the FFTs alone were more than half of a file run.
pub fn fast_fft_len(n: usize) -> usize {
    (n.max(2).next_multiple_of(2)..)
        .step_by(2)
        .find(|&m| {
            let mut k = m;
            for p in [2, 3, 5] {
                while k % p == 0 {
                    k /= p;
                }
            }
            k == 1
        })
        .unwrap_or(n)
}

/// Running totals since construction (or the last [`Engine::reset_stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EngineStats {
    /// Frames analysed (summed over channels).
    pub frames: u64,
    /// Σ|X|² before and after the mask, over all frames and channels.
    pub energy_in: f64,
    pub energy_out: f64,
    /// Non-finite input samples (NaN, ±Inf) that were replaced by zero.
    pub nonfinite: u64,
    /// Finite input samples beyond ±[`ABSURD_LEVEL`] that were replaced by zero.
    pub absurd: u64,
}

impl EngineStats {
    /// Input samples replaced by zero (non-finite or absurd): worth a warning at the end.
    pub fn replaced(&self) -> u64 {
        self.nonfinite + self.absurd
    }

    /// Mean attenuation in dB (positive = removed energy).
    pub fn attenuation_db(&self) -> f64 {
        if self.energy_in <= 0.0 || self.energy_out <= 0.0 {
            0.0
        } else {
            10.0 * (self.energy_in / self.energy_out).log10()
        }
    }
}

/// Where a channel's noise floor comes from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum NoiseMode {
    /// Blind tracking.
    Track,
    /// The fixed profile in `ChannelNoise::profile` (learned or given).
    Fixed,
    /// Tracking while learning; at the channel's frame `until` the learned mean becomes the
    /// fixed profile. Counted in each channel's own frames, so the switch happens at the same
    /// sample whatever the chunking.
    Learning { until: u64 },
}

/// A channel's noise floor: the blind tracker, the learning accumulator and the fixed profile,
/// all allocated up front.
struct ChannelNoise {
    mode: NoiseMode,
    frames: u64,
    /// Leading frames of the stream that are partly empty history: not learned from.
    warmup: u64,
    tracker: McraTracker,
    learn: NoiseProfile,
    profile: Vec<f32>,
    /// Changes whenever the floor `update` returns may have changed (every tracked frame, every
    /// write of the profile): the gain reuses its reciprocals while it stays.
    floor_gen: u64,
}

impl ChannelNoise {
    /// The floor's values are about to change (or may have): see `floor_gen`.
    fn touch(&mut self) {
        self.floor_gen = self.floor_gen.wrapping_add(1);
    }

    /// Updates from one frame's power; returns the floor to use for it and its generation.
    #[inline]
    fn update(&mut self, power: &[f32]) -> (&[f32], u64) {
        self.frames += 1;
        if self.mode != NoiseMode::Fixed {
            self.touch();
        }
        let generation = self.floor_gen;
        let floor = match self.mode {
            NoiseMode::Track => {
                self.tracker.update(power);
                self.tracker.noise()
            }
            NoiseMode::Fixed => &self.profile,
            NoiseMode::Learning { until } => {
                self.tracker.update(power);
                if self.frames > self.warmup {
                    self.learn.accumulate(power);
                }
                if self.frames >= until {
                    self.profile.fill(0.0);
                    if self.learn.add_mean_to(&mut self.profile) {
                        self.profile.iter_mut().for_each(|v| *v = v.max(1e-30));
                        self.mode = NoiseMode::Fixed;
                    } else {
                        self.mode = NoiseMode::Track;
                    }
                    // From the next frame on the floor is another vector.
                    self.touch();
                }
                self.tracker.noise()
            }
        };
        (floor, generation)
    }
}

struct ChannelDsp<S> {
    stream: StftChannel<S>,
    noise: ChannelNoise,
    gain: GainState,
    delay: DelayLine<S>,
}

struct Path<T: Transform> {
    stft: Stft<T>,
    chans: Vec<ChannelDsp<T::Sample>>,
    /// De-interleaved input, masked output and dry (delayed) output of one sub-block.
    x: Vec<T::Sample>,
    wet: Vec<T::Sample>,
    dry: Vec<T::Sample>,
}

enum Paths {
    Real(Path<RealTransform>),
    Complex(Path<ComplexTransform>),
}

/// Frames per internal sub-block: chunks of any size are processed in pieces of this many
/// frames through preallocated per-channel buffers.
const BLOCK: usize = 1024;

/// Fixed delay of `len` samples (the bypass path: bit-exact).
struct DelayLine<S> {
    buf: Vec<S>,
    pos: usize,
}
impl<S: TimeSample> DelayLine<S> {
    fn new(len: usize) -> Self {
        DelayLine {
            buf: vec![S::default(); len],
            pos: 0,
        }
    }
    /// `out[i] = in[i − len]` across calls.
    fn process(&mut self, input: &[S], out: &mut [S]) {
        let len = self.buf.len();
        if len == 0 {
            out.copy_from_slice(input);
            return;
        }
        // Per sample: `*y = buf[pos]; buf[pos] = *x; pos = (pos + 1) % len` — done as slice
        // copies up to each wrap of the ring.
        let mut i = 0;
        while i < input.len() {
            let take = (len - self.pos).min(input.len() - i);
            let ring = &mut self.buf[self.pos..self.pos + take];
            out[i..i + take].copy_from_slice(ring);
            ring.copy_from_slice(&input[i..i + take]);
            self.pos += take;
            if self.pos == len {
                self.pos = 0;
            }
            i += take;
        }
    }

    /// [`DelayLine::process`] without the output: the same state afterwards. Only the last
    /// `len` samples are kept, so a long block costs one copy of `len` samples.
    fn feed(&mut self, input: &[S]) {
        let len = self.buf.len();
        if input.len() >= len {
            // The ring holds the last `len` inputs, oldest at `pos`: start it at 0.
            self.buf.copy_from_slice(&input[input.len() - len..]);
            self.pos = 0;
            return;
        }
        let mut i = 0;
        while i < input.len() {
            let take = (len - self.pos).min(input.len() - i);
            self.buf[self.pos..self.pos + take].copy_from_slice(&input[i..i + take]);
            self.pos += take;
            if self.pos == len {
                self.pos = 0;
            }
            i += take;
        }
    }
}

/// One analysed frame as the gate saw it (see [`Engine::process_with_frames`]).
#[derive(Debug, Clone, Copy)]
pub struct FrameView<'a> {
    /// STFT channel: a real channel, or an I/Q pair.
    pub channel: usize,
    /// Per-bin amplitude gains applied (1 = passed).
    pub mask: &'a [f32],
    /// Per-bin power |X|² of the windowed frame.
    pub power: &'a [f32],
    /// Per-bin noise floor power used for this frame.
    pub floor: &'a [f32],
}

/// Per-frame shared scratch (power and gain vectors).
struct FrameScratch {
    power: Vec<f32>,
    gain: Vec<f32>,
    /// The burst guard's power-over-floor ratios (reordered by the quartile selection) and its
    /// raised floor.
    ratio: Vec<f32>,
    floor: Vec<f32>,
}

/// The streaming spectral-gate processor.
pub struct Engine {
    params: Params,
    rate: u32,
    channels: usize,
    kind: SignalKind,
    cfg: StftConfig,
    gain_params: GainParams,
    /// [`overlap_corr`] of the geometry (for [`gain_params`] on parameter changes).
    overlap_corr: f64,
    paths: Paths,
    scratch: FrameScratch,
    stats: EngineStats,
    /// Bypass crossfade: 0 = processed, 1 = bypassed; moves by `mix_step` per sample.
    mix: f32,
    mix_target: f32,
    mix_step: f32,
}

impl Engine {
    /// Builds an engine for `channels` interleaved channels at `rate` Hz.
    pub fn new(
        params: &Params,
        rate: u32,
        channels: usize,
        kind: SignalKind,
    ) -> Result<Engine, EngineError> {
        params.validate()?;
        // Limits first: nothing is sized from the rate or the channel count before these.
        if rate == 0 {
            return Err(EngineError::Rate(rate));
        }
        if rate > crate::params::MAX_RATE {
            return Err(EngineError::RateTooHigh(rate));
        }
        if channels == 0 {
            return Err(EngineError::Channels(channels));
        }
        if channels > crate::params::MAX_CHANNELS {
            return Err(EngineError::TooManyChannels(channels));
        }
        if kind == SignalKind::Complex && channels % 2 != 0 {
            return Err(EngineError::OddIq(channels));
        }
        let need = memory_estimate(params, rate, channels, kind);
        if need > crate::params::MAX_ENGINE_BYTES {
            return Err(EngineError::Memory {
                need_mib: need.div_ceil(1 << 20),
                limit_mib: crate::params::MAX_ENGINE_BYTES >> 20,
            });
        }
        let cfg = stft_config(params, rate);
        cfg.validate()?;
        let latency = cfg.latency_samples();
        let overlapping = cfg.frame_len.div_ceil(cfg.hop).saturating_sub(1);
        let tp = TrackerParams {
            hop_s: cfg.hop as f32 / rate as f32,
            smoothing_s: params.smoothing_s as f32,
            window_s: params.window_s as f32,
            noise_tau_s: params.noise_tau_s as f32,
            presence_ratio: params.presence_ratio as f32,
            decision_delay: overlapping.max(1),
            // Steady-tone protection is for one-sided audio spectra (not two-sided IQ).
            tone_ratio: if params.tone_protect_db > 0.0 && kind == SignalKind::Real {
                10f32.powf(params.tone_protect_db as f32 / 10.0)
            } else {
                0.0
            },
            tone_min_bin: (crate::dsp::noise::HUM_ZONE_HZ * cfg.fft_len as f32 / rate as f32).ceil()
                as usize,
            infra_bins: if kind == SignalKind::Real {
                crate::dsp::noise::infra_bins(rate as f32 / cfg.fft_len as f32)
            } else {
                0
            },
        };
        let complex = kind == SignalKind::Complex;
        let bins = cfg.bins(complex);
        fn path<T: Transform>(
            stft: Stft<T>,
            n: usize,
            bins: usize,
            tp: TrackerParams,
            latency: usize,
            warmup: u64,
        ) -> Path<T> {
            let chans = (0..n)
                .map(|_| ChannelDsp {
                    stream: stft.channel(),
                    noise: ChannelNoise {
                        mode: NoiseMode::Track,
                        frames: 0,
                        warmup,
                        tracker: McraTracker::new(bins, tp),
                        learn: NoiseProfile::new(bins),
                        profile: vec![0.0; bins],
                        floor_gen: 0,
                    },
                    gain: GainState::new(bins),
                    delay: DelayLine::new(latency),
                })
                .collect();
            Path {
                stft,
                chans,
                x: vec![T::Sample::default(); BLOCK],
                wet: vec![T::Sample::default(); BLOCK],
                dry: vec![T::Sample::default(); BLOCK],
            }
        }
        let warmup = overlapping as u64;
        let paths = if complex {
            Paths::Complex(path(
                ComplexStft::new_complex(cfg)?,
                channels / 2,
                bins,
                tp,
                latency,
                warmup,
            ))
        } else {
            Paths::Real(path(
                RealStft::new_real(cfg)?,
                channels,
                bins,
                tp,
                latency,
                warmup,
            ))
        };
        // An open gate (reduction 0 dB) takes the bit-exact dry path, as bypass does: its gains
        // are all 1, and the dry path makes "output = input" exact rather than within rounding.
        let corr = overlap_corr(&cfg);
        let gp = gain_params(params, &cfg, rate, complex, corr);
        let bypass = if params.bypass || gp.is_open() {
            1.0
        } else {
            0.0
        };
        let mut e = Engine {
            params: *params,
            rate,
            channels,
            kind,
            cfg,
            gain_params: gp,
            overlap_corr: corr,
            paths,
            scratch: FrameScratch {
                power: vec![0.0; bins],
                gain: vec![1.0; bins],
                ratio: vec![0.0; bins],
                floor: vec![0.0; bins],
            },
            stats: EngineStats::default(),
            mix: bypass,
            mix_target: bypass,
            mix_step: 1.0 / (0.01 * rate as f32).max(1.0),
        };
        if params.learn > 0.0 {
            e.learn(params.learn);
        }
        Ok(e)
    }

    /// Output sample `t` is input sample `t − latency_samples()` (per channel, in frames of the
    /// interleaved stream).
    pub fn latency_samples(&self) -> usize {
        self.cfg.latency_samples()
    }
    /// Latency in seconds.
    pub fn latency_seconds(&self) -> f64 {
        self.latency_samples() as f64 / self.rate as f64
    }
    pub fn stft_config(&self) -> &StftConfig {
        &self.cfg
    }
    pub fn params(&self) -> &Params {
        &self.params
    }
    pub fn rate(&self) -> u32 {
        self.rate
    }
    pub fn channels(&self) -> usize {
        self.channels
    }
    pub fn kind(&self) -> SignalKind {
        self.kind
    }
    /// Bins per spectrum.
    pub fn bins(&self) -> usize {
        self.scratch.power.len()
    }
    pub fn stats(&self) -> EngineStats {
        self.stats
    }
    pub fn reset_stats(&mut self) {
        self.stats = EngineStats::default();
    }

    /// Back to the state right after [`Engine::new`] with the current parameters: streams,
    /// noise trackers, learned or given profiles, gains, delay lines, bypass mix and stats.
    /// Allocation-free (callable from a real-time thread); the next input is processed exactly
    /// as a fresh engine would process it. A profile set with [`Engine::set_noise_profile`]
    /// is dropped (blind tracking, or learning again if `learn` is set), as after `new`.
    pub fn reset(&mut self) {
        fn chans<S: TimeSample>(c: &mut [ChannelDsp<S>]) {
            for ch in c {
                ch.stream.reset();
                let n = &mut ch.noise;
                n.mode = NoiseMode::Track;
                n.frames = 0;
                n.tracker.reset();
                n.learn.reset();
                n.profile.fill(0.0);
                n.touch();
                ch.gain.reset();
                ch.delay.buf.fill(S::default());
                ch.delay.pos = 0;
            }
        }
        match &mut self.paths {
            Paths::Real(p) => chans(&mut p.chans),
            Paths::Complex(p) => chans(&mut p.chans),
        }
        self.scratch.power.fill(0.0);
        self.scratch.gain.fill(1.0);
        self.stats = EngineStats::default();
        self.mix_target = self.dry_target();
        self.mix = self.mix_target;
        if self.params.learn > 0.0 {
            self.learn(self.params.learn);
        }
    }

    fn for_each_noise(&mut self, mut f: impl FnMut(&mut ChannelNoise)) {
        match &mut self.paths {
            Paths::Real(p) => p.chans.iter_mut().for_each(|c| f(&mut c.noise)),
            Paths::Complex(p) => p.chans.iter_mut().for_each(|c| f(&mut c.noise)),
        }
    }
    fn all_noise(&self, f: impl Fn(&ChannelNoise) -> bool) -> bool {
        match &self.paths {
            Paths::Real(p) => p.chans.iter().all(|c| f(&c.noise)),
            Paths::Complex(p) => p.chans.iter().all(|c| f(&c.noise)),
        }
    }

    /// True once every channel uses a learned or given noise profile.
    pub fn has_fixed_profile(&self) -> bool {
        self.all_noise(|n| n.mode == NoiseMode::Fixed)
    }

    /// Uses a fixed per-bin noise power profile (see [`learn_profile`]) for every channel.
    /// Copies into preallocated buffers: no allocation.
    pub fn set_noise_profile(&mut self, profile: &[f32]) -> Result<(), EngineError> {
        if profile.len() != self.bins() {
            return Err(EngineError::ProfileBins {
                expected: self.bins(),
                got: profile.len(),
            });
        }
        self.for_each_noise(|n| {
            n.profile.copy_from_slice(profile);
            n.mode = NoiseMode::Fixed;
            n.touch();
        });
        Ok(())
    }

    /// Goes back to blind tracking.
    pub fn clear_noise_profile(&mut self) {
        self.for_each_noise(|n| {
            n.mode = NoiseMode::Track;
            n.touch();
        });
    }

    /// Learns a new profile from the next `seconds` of input (blind tracking meanwhile), then
    /// uses it. Each channel learns its own. No allocation: callable from a real-time thread.
    pub fn learn(&mut self, seconds: f64) {
        let frames = ((seconds * self.rate as f64 / self.cfg.hop as f64).ceil() as u64).max(1);
        self.for_each_noise(|n| {
            n.learn.reset();
            n.touch();
            n.mode = NoiseMode::Learning {
                until: n.frames.max(n.warmup) + frames,
            };
        });
    }

    /// Changes the gain parameters (threshold, reduction, rule, smoothing, band, bypass) on the
    /// fly. Geometry keys (frame, hop, FFT size, window) and the tracker's time constants need
    /// a new engine and are ignored here. Gains move through the decision-directed recursion
    /// (and the attack/release smoothing, if set) and bypass crossfades over 10 ms, so changes
    /// are click-free. Allocation-free.
    pub fn update_params(&mut self, p: &Params) {
        let old = self.params;
        self.params = Params {
            frame_ms: old.frame_ms,
            overlap: old.overlap,
            frame: old.frame,
            hop: old.hop,
            fft_size: old.fft_size,
            window: old.window,
            latency_ms: old.latency_ms,
            smoothing_s: old.smoothing_s,
            window_s: old.window_s,
            noise_tau_s: old.noise_tau_s,
            presence_ratio: old.presence_ratio,
            tone_protect_db: old.tone_protect_db,
            learn: old.learn,
            ..*p
        };
        self.gain_params = gain_params(
            &self.params,
            &self.cfg,
            self.rate,
            self.kind == SignalKind::Complex,
            self.overlap_corr,
        );
        self.mix_target = self.dry_target();
    }

    fn dry_target(&self) -> f32 {
        if self.params.bypass || self.gain_params.is_open() {
            1.0
        } else {
            0.0
        }
    }

    /// Toggles bypass with a 10 ms crossfade. (An open gate, `reduction_db = 0`, is always
    /// bypassed: its output is the input, delayed.)
    pub fn set_bypass(&mut self, on: bool) {
        self.params.bypass = on;
        self.mix_target = self.dry_target();
    }

    /// Processes interleaved samples. `input.len()` must equal `output.len()` and be a multiple
    /// of `channels`. Non-finite and absurd input samples (beyond ±[`ABSURD_LEVEL`]; for I/Q,
    /// the whole complex sample) are replaced by zero and counted in [`EngineStats`].
    pub fn process(&mut self, input: &[f32], output: &mut [f32]) {
        self.process_with_mask(input, output, |_, _| {});
    }

    /// [`Engine::process`], and `on_mask(channel, gains)` once per analysed frame with the
    /// per-bin amplitude gains just applied (channel = STFT channel: a real channel, or an I/Q
    /// pair). For visualising what the gate removes; generic, so `process` pays nothing for it.
    pub fn process_with_mask<M: FnMut(usize, &[f32])>(
        &mut self,
        input: &[f32],
        output: &mut [f32],
        mut on_mask: M,
    ) {
        self.process_with_frames(input, output, |v| on_mask(v.channel, v.mask));
    }

    /// [`Engine::process`], and `on_frame` once per analysed frame with what the gate saw
    /// ([`FrameView`]: the frame's power spectrum, its noise floor and the gains applied), in
    /// stream order per channel. Bins are in FFT order (I/Q: `N/2..N` are the negative
    /// frequencies). For detectors and measurements; generic, so `process` pays nothing for it.
    pub fn process_with_frames<F: FnMut(&FrameView)>(
        &mut self,
        input: &[f32],
        output: &mut [f32],
        on_frame: F,
    ) {
        assert_eq!(input.len(), output.len(), "input and output lengths differ");
        assert_eq!(
            input.len() % self.channels,
            0,
            "chunk is not a whole number of frames"
        );
        #[cfg(all(target_arch = "x86_64", specgate_avx512))]
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked just above; the check is a cached load).
            return unsafe { self.process_blocks_avx512(input, output, on_frame) };
        }
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above; the check is a cached load).
            return unsafe { self.process_blocks_avx2(input, output, on_frame) };
        }
        self.process_blocks(input, output, on_frame)
    }

    /// [`Engine::process_blocks`] compiled for AVX-512 (16 lanes), like
    /// [`Engine::process_blocks_avx2`]: the same operations in the same order, the same output.
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    #[cfg(all(target_arch = "x86_64", specgate_avx512))]
    #[target_feature(enable = "avx512f")]
    unsafe fn process_blocks_avx512<F: FnMut(&FrameView)>(
        &mut self,
        input: &[f32],
        output: &mut [f32],
        on_frame: F,
    ) {
        self.process_blocks(input, output, on_frame)
    }

    /// [`Engine::process_blocks`] compiled for AVX2: the per-sample and per-bin loops inlined
    /// into it (de-interleaving, windowing, overlap-add, the power spectrum and the mask) run
    /// on 8 lanes instead of 4. The same operations in the same order (Rust never contracts
    /// into FMA, and the energy sums keep their explicit 8-lane order), so the same output, bit
    /// for bit.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn process_blocks_avx2<F: FnMut(&FrameView)>(
        &mut self,
        input: &[f32],
        output: &mut [f32],
        on_frame: F,
    ) {
        self.process_blocks(input, output, on_frame)
    }

    /// The body of [`Engine::process_with_frames`] (arguments already checked).
    #[inline(always)]
    fn process_blocks<F: FnMut(&FrameView)>(
        &mut self,
        input: &[f32],
        output: &mut [f32],
        mut on_frame: F,
    ) {
        let nch = self.channels;
        let frames = input.len() / nch;
        let mut f0 = 0;
        while f0 < frames {
            let n = (frames - f0).min(BLOCK);
            let (mix0, target, step) = (self.mix, self.mix_target, self.mix_step);
            // Steadily processed (no bypass, no crossfade): `blend` returns the wet sample
            // everywhere, so the delay line only has to remember the input.
            let need_dry = !(mix0 == target && mix0 <= 0.0);
            // While bypassed the filter keeps running (noise floor, gains), so that leaving
            // bypass gives exactly what an uninterrupted filter would: A/B listening is fair.
            let mut ctx = FrameCtx {
                gp: &self.gain_params,
                scratch: &mut self.scratch,
                stats: &mut self.stats,
            };
            let inp = &input[f0 * nch..(f0 + n) * nch];
            let out = &mut output[f0 * nch..(f0 + n) * nch];
            match &mut self.paths {
                Paths::Real(path) => {
                    let Path {
                        stft,
                        chans,
                        x,
                        wet,
                        dry,
                    } = path;
                    for (c, ch) in chans.iter_mut().enumerate() {
                        let (nonfinite, absurd) = if nch == 1 {
                            // Mono: contiguous, so the loop vectorises (`step_by` keeps it scalar).
                            sanitize(&mut x[..n], inp.iter())
                        } else {
                            sanitize(&mut x[..n], inp[c..].iter().step_by(nch))
                        };
                        ctx.stats.nonfinite += nonfinite;
                        ctx.stats.absurd += absurd - nonfinite;
                        run_channel(
                            stft,
                            ch,
                            &mut ctx,
                            &x[..n],
                            &mut wet[..n],
                            need_dry.then_some(&mut dry[..n]),
                            &mut |power, floor, mask| {
                                on_frame(&FrameView {
                                    channel: c,
                                    mask,
                                    power,
                                    floor,
                                })
                            },
                        );
                        if mix0 == target && nch == 1 {
                            // Steady state, mono: a straight copy of one path.
                            out.copy_from_slice(if mix0 >= 1.0 { &dry[..n] } else { &wet[..n] });
                        } else {
                            let mut mix = mix0;
                            for (o, (w, d)) in out[c..]
                                .iter_mut()
                                .step_by(nch)
                                .zip(wet[..n].iter().zip(&dry[..n]))
                            {
                                mix = ramp(mix, target, step);
                                *o = blend(*w, *d, mix);
                            }
                        }
                    }
                }
                Paths::Complex(path) => {
                    let Path {
                        stft,
                        chans,
                        x,
                        wet,
                        dry,
                    } = path;
                    // Usually every sample is sane: then the de-interleave is a plain copy.
                    let all_sane = inp
                        .iter()
                        .fold(true, |ok, v| ok & (v.abs() <= ABSURD_LEVEL));
                    for (c, ch) in chans.iter_mut().enumerate() {
                        if all_sane && nch == 2 {
                            // One I/Q pair (the usual case): a plain copy, vectorised.
                            for (xi, fr) in x[..n].iter_mut().zip(inp.chunks_exact(2)) {
                                *xi = Complex32::new(fr[0], fr[1]);
                            }
                        } else if all_sane {
                            for (xi, fr) in x[..n].iter_mut().zip(inp.chunks_exact(nch)) {
                                *xi = Complex32::new(fr[2 * c], fr[2 * c + 1]);
                            }
                        } else {
                            for (xi, fr) in x[..n].iter_mut().zip(inp.chunks_exact(nch)) {
                                let (i, q) = (fr[2 * c], fr[2 * c + 1]);
                                if !(i.abs() <= ABSURD_LEVEL && q.abs() <= ABSURD_LEVEL) {
                                    // One bad component spoils the complex sample: both are zeroed.
                                    if i.is_finite() && q.is_finite() {
                                        ctx.stats.absurd += 1;
                                    } else {
                                        ctx.stats.nonfinite += 1;
                                    }
                                    *xi = Complex32::new(0.0, 0.0);
                                } else {
                                    *xi = Complex32::new(i, q);
                                }
                            }
                        }
                        run_channel(
                            stft,
                            ch,
                            &mut ctx,
                            &x[..n],
                            &mut wet[..n],
                            need_dry.then_some(&mut dry[..n]),
                            &mut |power, floor, mask| {
                                on_frame(&FrameView {
                                    channel: c,
                                    mask,
                                    power,
                                    floor,
                                })
                            },
                        );
                        if mix0 == target && (mix0 <= 0.0 || mix0 >= 1.0) {
                            // Steady state: one path, copied (what `blend` returns there).
                            let src = if mix0 >= 1.0 { &dry[..n] } else { &wet[..n] };
                            if nch == 2 {
                                for (fr, v) in out.chunks_exact_mut(2).zip(src) {
                                    fr[0] = v.re;
                                    fr[1] = v.im;
                                }
                            } else {
                                for (fr, v) in out.chunks_exact_mut(nch).zip(src) {
                                    fr[2 * c] = v.re;
                                    fr[2 * c + 1] = v.im;
                                }
                            }
                        } else {
                            let mut mix = mix0;
                            for (fr, (w, d)) in out
                                .chunks_exact_mut(nch)
                                .zip(wet[..n].iter().zip(&dry[..n]))
                            {
                                mix = ramp(mix, target, step);
                                let v = blend(*w, *d, mix);
                                fr[2 * c] = v.re;
                                fr[2 * c + 1] = v.im;
                            }
                        }
                    }
                }
            }
            // Advance the shared ramp by the frames processed.
            if self.mix != target {
                let d = step * n as f32;
                self.mix = if target > self.mix {
                    (self.mix + d).min(target)
                } else {
                    (self.mix - d).max(target)
                };
            }
            f0 += n;
        }
    }
}

/// Copies `input` into `x` with every sample beyond ±[`ABSURD_LEVEL`] (and NaN, ±Inf) replaced by
/// zero; returns how many were non-finite and how many were out of range (non-finite included).
#[inline(always)]
fn sanitize<'a>(x: &mut [f32], input: impl Iterator<Item = &'a f32>) -> (u64, u64) {
    let (mut nonfinite, mut absurd) = (0u64, 0u64);
    for (xi, v) in x.iter_mut().zip(input) {
        let ok = v.abs() <= ABSURD_LEVEL;
        *xi = if ok { *v } else { 0.0 };
        nonfinite += u64::from(!v.is_finite());
        absurd += u64::from(!ok);
    }
    (nonfinite, absurd)
}

/// Crossfade between the masked (`wet`) and the bit-exact delayed (`dry`) sample.
#[inline(always)]
fn blend<S: TimeSample>(wet: S, dry: S, mix: f32) -> S {
    if mix <= 0.0 {
        wet
    } else if mix >= 1.0 {
        dry
    } else {
        wet.scale(1.0 - mix).add(dry.scale(mix))
    }
}

#[inline(always)]
fn ramp(m: f32, target: f32, step: f32) -> f32 {
    if m < target {
        (m + step).min(target)
    } else if m > target {
        (m - step).max(target)
    } else {
        m
    }
}

struct FrameCtx<'a> {
    gp: &'a GainParams,
    scratch: &'a mut FrameScratch,
    stats: &'a mut EngineStats,
}

/// Runs one channel's sub-block through its STFT (masked, into `wet`) and its delay line (into
/// `dry`; with `None` the delay line only takes the input).
#[inline(always)]
fn run_channel<T: Transform>(
    stft: &mut Stft<T>,
    ch: &mut ChannelDsp<T::Sample>,
    ctx: &mut FrameCtx,
    x: &[T::Sample],
    wet: &mut [T::Sample],
    dry: Option<&mut [T::Sample]>,
    on_frame: &mut impl FnMut(&[f32], &[f32], &[f32]),
) {
    let ChannelDsp {
        stream,
        noise,
        gain,
        delay,
    } = ch;
    match dry {
        Some(dry) => delay.process(x, dry),
        None => delay.feed(x),
    }
    let FrameCtx { gp, scratch, stats } = ctx;
    let mut on_spec = |spec: &mut [Complex32]| {
        let (power, floor, mask) = mask_frame(spec, gp, noise, scratch, stats, gain);
        on_frame(power, floor, mask)
    };
    stream.process_block(stft, x, wet, &mut on_spec);
}

/// Masks one frame; returns its power spectrum, the noise floor used and the gains applied.
#[inline(always)]
fn mask_frame<'a>(
    spec: &mut [Complex32],
    gp: &GainParams,
    noise: &'a mut ChannelNoise,
    scratch: &'a mut FrameScratch,
    stats: &mut EngineStats,
    gain: &mut GainState,
) -> (&'a [f32], &'a [f32], &'a [f32]) {
    stats.frames += 1;
    let FrameScratch {
        power,
        gain: gains,
        ratio,
        floor: raised,
    } = scratch;
    // Energies are summed in 8 lanes (a reassociated sum, so the loop vectorises).
    // (Whole chunks of 8 first, then the tail into the first lanes: the same sums as
    // `chunks(8)`, but the lanes stay in registers.)
    let mut lanes = [0.0f32; 8];
    let mut pc = power.chunks_exact_mut(8);
    let mut xc = spec.chunks_exact(8);
    for (p8, x8) in (&mut pc).zip(&mut xc) {
        for ((p, x), l) in p8.iter_mut().zip(x8).zip(lanes.iter_mut()) {
            *p = x.norm_sqr();
            *l += *p;
        }
    }
    for ((p, x), l) in pc
        .into_remainder()
        .iter_mut()
        .zip(xc.remainder())
        .zip(lanes.iter_mut())
    {
        *p = x.norm_sqr();
        *l += *p;
    }
    let ein: f32 = lanes.iter().sum();
    stats.energy_in += ein as f64;
    if gp.is_open() {
        // Still learn and track, so that closing the gate later starts from a settled floor.
        let (floor, _) = noise.update(power);
        stats.energy_out += ein as f64;
        gains.fill(1.0);
        return (power, floor, gains);
    }
    // Not in the stream's first frames, while the floor is still being found.
    let settled = noise.frames >= noise.warmup;
    let (mut floor, generation) = noise.update(power);
    if settled && burst_guard(gp.burst_ratio, gp.burst_bands, power, floor, ratio, raised) {
        floor = raised;
        gain.compute_for_floor(gp, power, floor, None, gains);
    } else {
        gain.compute_for_floor(gp, power, floor, Some(generation), gains);
    }
    let mut lanes = [0.0f32; 8];
    let mut xc = spec.chunks_exact_mut(8);
    let mut gc = gains.chunks_exact(8);
    let mut pc = power.chunks_exact(8);
    for ((x8, g8), p8) in (&mut xc).zip(&mut gc).zip(&mut pc) {
        for (((x, g), p), l) in x8.iter_mut().zip(g8).zip(p8).zip(lanes.iter_mut()) {
            *x = x.scale(*g);
            *l += *p * *g * *g;
        }
    }
    for (((x, g), p), l) in xc
        .into_remainder()
        .iter_mut()
        .zip(gc.remainder())
        .zip(pc.remainder())
        .zip(lanes.iter_mut())
    {
        *x = x.scale(*g);
        *l += *p * *g * *g;
    }
    let eout: f32 = lanes.iter().sum();
    stats.energy_out += eout as f64;
    (power, floor, gains)
}

/// The burst guard's quantile: the level of a band is the 10th percentile over its bins of
/// power over floor. A signal (tones, speech harmonics, a voice channel, a fricative that leaves
/// some of the band alone) must lift nine bins in ten to move it; a click, a lightning crash or
/// the floor rising in a fade lifts every bin.
const BURST_QUANTILE: f32 = 0.1;

/// Where that quantile and the median lie for noise alone (exponentially distributed power, in
/// units of its mean): `−ln(0.9)` and `ln 2`.
const NOISE_Q10: f32 = 0.105_360_5;
const NOISE_MEDIAN: f32 = std::f32::consts::LN_2;

/// A burst lifts a band's bins alike (its median over its 10th percentile stays near noise's);
/// a signal lifts some bins far more than others. Bands whose median stands more than this many
/// times over their (normalised) 10th percentile are signal, not burst.
const BURST_SPREAD: f32 = 3.0;

/// Fewest bins in one band of the burst guard (the 10th percentile of fewer is too noisy).
const BURST_MIN_BAND: usize = 32;

/// The burst guard: splits the bins into `bands` equal bands (fewer if a band would hold less
/// than [`BURST_MIN_BAND`] bins) and, in every band whose level (see [`BURST_QUANTILE`]) stands
/// more than `ratio_limit` over noise alone with a burst's flat excess (see [`BURST_SPREAD`]),
/// writes the floor raised by that excess into `raised` (other bands: the floor as it is).
/// Returns whether any band was raised. `ratio` (as long as `power`) is overwritten. O(bins), no
/// allocation.
#[inline]
fn burst_guard(
    ratio_limit: f32,
    bands: usize,
    power: &[f32],
    floor: &[f32],
    ratio: &mut [f32],
    raised: &mut [f32],
) -> bool {
    let k = power.len();
    if ratio_limit <= 0.0 || k < BURST_MIN_BAND {
        return false;
    }
    let nb = bands.clamp(1, k / BURST_MIN_BAND).min(64);
    let band = |b: usize| (b * k / nb, (b + 1) * k / nb);
    let quantile_index = |len: usize| (len as f32 * BURST_QUANTILE) as usize;
    // A band's 10th percentile of power over floor exceeds `t` only if at least `len − q` of its
    // bins do: counted first (multiplications and comparisons, no division; it vectorises), so
    // the selection runs only in the rare frames where a band may be a burst. The margin keeps
    // rounding from hiding a band the selection would raise.
    let t = ratio_limit * NOISE_Q10 * 0.999;
    let mut candidates = 0u64;
    for b in 0..nb {
        let (lo, hi) = band(b);
        let above = power[lo..hi]
            .iter()
            .zip(&floor[lo..hi])
            .filter(|(p, f)| **p > t * fmax(**f, 1e-30))
            .count();
        if above >= (hi - lo) - quantile_index(hi - lo) {
            candidates |= 1 << b;
        }
    }
    if candidates == 0 {
        return false;
    }
    let mut any = false;
    for b in 0..nb {
        let (lo, hi) = band(b);
        let mut s = 1.0;
        if candidates & (1 << b) != 0 {
            let seg = &mut ratio[lo..hi];
            for ((r, p), f) in seg.iter_mut().zip(&power[lo..hi]).zip(&floor[lo..hi]) {
                *r = p / fmax(*f, 1e-30);
            }
            let (m, q) = (seg.len() / 2, quantile_index(seg.len()));
            let (lower, median, _) = seg.select_nth_unstable_by(m, |a, b| a.total_cmp(b));
            let s50 = *median / NOISE_MEDIAN;
            let (_, v, _) = lower.select_nth_unstable_by(q, |a, b| a.total_cmp(b));
            let s10 = *v / NOISE_Q10;
            if s10 > ratio_limit && s50 < BURST_SPREAD * s10 {
                any = true;
                s = s10;
            }
        }
        for (r, f) in raised[lo..hi].iter_mut().zip(&floor[lo..hi]) {
            *r = f * s;
        }
    }
    any
}

/// Gain parameters in frame units.
/// `overlap_corr`: [`overlap_corr`] of `cfg` (computed once per engine: it builds the windows,
/// and this runs on the worker's loop when parameters change).
pub fn gain_params(
    p: &Params,
    cfg: &StftConfig,
    rate: u32,
    complex: bool,
    overlap_corr: f64,
) -> GainParams {
    let hop_ms = cfg.hop as f64 * 1000.0 / rate as f64;
    let coef = |ms: f64| {
        if ms <= 0.0 {
            0.0
        } else {
            (-hop_ms / ms).exp() as f32
        }
    };
    let bin_hz = rate as f64 / cfg.fft_len as f64;
    let nyq_bin = cfg.fft_len / 2;
    let low_bin = if p.low_hz > 0.0 {
        (p.low_hz / bin_hz).ceil() as usize
    } else {
        0
    };
    let high_bin = if p.high_hz > 0.0 {
        ((p.high_hz / bin_hz).floor() as usize).min(nyq_bin)
    } else {
        nyq_bin
    };
    GainParams {
        rule: p.rule,
        threshold_db: p.threshold_db as f32,
        knee_db: p.knee_db as f32,
        reduction_db: p.reduction_db as f32,
        // dd_alpha is specified per 10 ms of hop, so the smoothing does not depend on the hop.
        dd_alpha: p.dd_alpha.powf(hop_ms / 10.0) as f32,
        attack_coef: coef(p.attack_ms),
        release_coef: coef(p.release_ms),
        freq_smooth_bins: (p.freq_smooth_hz / bin_hz / 2.0).round() as usize,
        low_bin,
        high_bin,
        two_sided: complex,
        burst_ratio: if p.burst_db > 0.0 {
            10f64.powf(p.burst_db / 10.0) as f32
        } else {
            0.0
        },
        burst_bands: p.burst_bands as usize,
        keep_floor: if p.keep_floor_db < 0.0 {
            10f64.powf(p.keep_floor_db / 20.0) as f32
        } else {
            0.0
        },
        keep_coef: (1.0 - (-hop_ms / (1000.0 * p.keep_s)).exp()) as f32,
        keep_margin: keep_margin(overlap_corr, p.keep_s, hop_ms),
    }
}

/// Standard deviations of the weak-signal keep's long-term average (see
/// [`crate::dsp::gain::GainState`]) that noise alone must not reach: at 3, about one noise-only
/// bin in 700 is lifted at all, and then only slightly (the lift grows from 0 above the margin).
const KEEP_Z: f64 = 3.0;

/// The margin of the weak-signal keep: [`KEEP_Z`] standard deviations of a one-pole average (time
/// constant `keep_s`) of a bin's power over floor under noise alone. Each frame's value is
/// exponential (mean 1, variance 1); overlapping frames are correlated, which inflates the
/// average's variance by `1 + 2·Σ ρ_k²` (ρ_k: the analysis window's correlation at a lag of k hops).
fn keep_margin(corr: f64, keep_s: f64, hop_ms: f64) -> f32 {
    let a = 1.0 - (-hop_ms / (1000.0 * keep_s)).exp();
    (KEEP_Z * (a / (2.0 - a) * corr).sqrt()) as f32
}

/// How much frame overlap inflates the variance of an average of a bin's noise power over frames
/// in the geometry `cfg` ([`crate::dsp::windows::overlap_noise_corr`] of its analysis window).
pub fn overlap_corr(cfg: &StftConfig) -> f64 {
    let (w, _) = cfg.windows();
    crate::dsp::windows::overlap_noise_corr(&w, cfg.hop)
}

/// Mean noise power per bin of a noise clip, analysed with the geometry `params` gives at
/// `rate` (all channels pooled). The result feeds [`Engine::set_noise_profile`].
pub fn learn_profile(
    params: &Params,
    rate: u32,
    channels: usize,
    kind: SignalKind,
    clip: &[f32],
) -> Result<Vec<f32>, EngineError> {
    let mut p = *params;
    p.bypass = false;
    p.learn = 0.0;
    let mut e = Engine::new(&p, rate, channels, kind)?;
    e.learn(1e12); // never completes: everything is accumulated
    let mut out = vec![0.0; clip.len() - clip.len() % channels];
    e.process(&clip[..out.len()], &mut out);
    let mut prof = vec![0.0f32; e.bins()];
    let mut n = 0usize;
    e.for_each_noise(|c| {
        if c.learn.add_mean_to(&mut prof) {
            n += 1;
        }
    });
    if n == 0 {
        return Err(EngineError::Param(crate::params::ParamError::Parse(
            format!(
                "noise clip is too short: it needs at least {} samples per channel",
                e.cfg.frame_len
            ),
        )));
    }
    prof.iter_mut()
        .for_each(|v| *v = (*v / n as f32).max(1e-30));
    Ok(prof)
}

#[cfg(test)]
mod fft_len_tests {
    use super::fast_fft_len;

    #[test]
    fn the_zero_padded_fft_length_is_the_smallest_even_2_3_5_smooth_length() {
        assert_eq!(fast_fft_len(1824), 1920); // 10 ms voice at 48 kHz: not 1875 (odd)
        assert_eq!(fast_fft_len(1), 2);
        assert_eq!(fast_fft_len(3), 4);
        assert_eq!(fast_fft_len(1024), 1024);
        for n in 1..5000 {
            let m = fast_fft_len(n);
            assert!(m >= n && m % 2 == 0, "{n} -> {m}");
            let mut k = m;
            for p in [2, 3, 5] {
                while k % p == 0 {
                    k /= p;
                }
            }
            assert_eq!(k, 1, "{n} -> {m} has a factor above 5");
            // Nothing smaller qualifies.
            assert!((n..m).all(|c| {
                let mut k = c;
                for p in [2, 3, 5] {
                    while k % p == 0 {
                        k /= p;
                    }
                }
                c % 2 == 1 || k != 1
            }));
        }
    }
}

#[cfg(test)]
mod reuse_tests {
    use super::*;
    use crate::params::{resolve, ParamsPatch};

    fn noise(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..n)
            .map(|i| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let tone = if (i / 4000) % 2 == 0 { 0.3 } else { 0.0 };
                0.05 * (((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0)
                    + tone * (i as f32 * 0.07).sin()
            })
            .collect()
    }

    /// The gain keeps the reciprocals of a fixed floor between frames; a profile given while
    /// the gate is open (no gain computed) must still be the one used once it closes. Engine B
    /// gives it again just before, which forces new reciprocals: both outputs agree bit for bit.
    #[test]
    fn a_profile_given_while_the_gate_is_open_is_used_once_it_closes() {
        let p = resolve("voice", None, &ParamsPatch::default()).unwrap();
        let mut open = p;
        open.reduction_db = 0.0;
        let x = noise(3 * 9600, 7);
        let run = |again: bool| {
            let mut e = Engine::new(&p, 48_000, 1, SignalKind::Real).unwrap();
            let bins = e.bins();
            let p1: Vec<f32> = (0..bins).map(|k| 1e-3 * (1.0 + k as f32 * 0.01)).collect();
            let p2: Vec<f32> = (0..bins).map(|k| 4e-2 / (1.0 + k as f32 * 0.01)).collect();
            let mut y = vec![0.0; x.len()];
            e.set_noise_profile(&p1).unwrap();
            e.process(&x[..9600], &mut y[..9600]);
            e.update_params(&open);
            e.set_noise_profile(&p2).unwrap();
            e.process(&x[9600..19200], &mut y[9600..19200]);
            e.update_params(&p);
            if again {
                e.clear_noise_profile();
                e.set_noise_profile(&p2).unwrap();
            }
            e.process(&x[19200..], &mut y[19200..]);
            y
        };
        let (a, b) = (run(false), run(true));
        assert!(a[19200..].iter().any(|v| *v != 0.0));
        let bits = |v: &[f32]| v.iter().map(|s| s.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a), bits(&b));
    }

    /// Feeding the delay line (no output) leaves it where processing would.
    #[test]
    fn a_fed_delay_line_continues_exactly_like_a_processed_one() {
        for len in [0usize, 1, 5, 479, 4095] {
            for chunks in [[3usize, 700, 1, 5000], [4096, 4096, 2, 9]] {
                let (mut a, mut b) = (DelayLine::<f32>::new(len), DelayLine::<f32>::new(len));
                let mut t = 0.0f32;
                for (i, c) in chunks.iter().enumerate() {
                    let x: Vec<f32> = (0..*c)
                        .map(|_| {
                            t += 1.0;
                            t
                        })
                        .collect();
                    let (mut ya, mut yb) = (vec![0.0; *c], vec![0.0; *c]);
                    a.process(&x, &mut ya);
                    if i % 2 == 0 {
                        b.feed(&x);
                    } else {
                        b.process(&x, &mut yb);
                        assert_eq!(ya, yb, "len {len}, chunk {i}");
                    }
                }
            }
        }
    }

    /// Exponentially distributed powers with mean `mean[k]` (noise alone), reproducibly.
    fn exp_powers(mean: &[f32], seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        mean.iter()
            .map(|m| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let u = ((s >> 40) as f32 + 0.5) / (1u64 << 24) as f32;
                -u.ln() * m
            })
            .collect()
    }

    #[test]
    fn the_burst_guard_leaves_noise_and_signals_alone_and_raises_a_burst_by_its_excess() {
        let k = 961;
        // A coloured floor: the guard works on power over floor, whatever the colour.
        let floor: Vec<f32> = (0..k).map(|i| 1e-6 * (1.0 + i as f32 / 50.0)).collect();
        let (mut ratio, mut raised) = (vec![0.0; k], vec![0.0; k]);
        let limit = 10f32.powf(0.6); // 6 dB
        for seed in 1..50 {
            // Noise alone: never raised.
            let p = exp_powers(&floor, seed);
            assert!(
                !burst_guard(limit, 1, &p, &floor, &mut ratio, &mut raised),
                "seed {seed}"
            );
            // Speech-like: 60 % of the bins 20 dB up (harmonics, a fricative's band), the rest
            // noise: a signal, not a burst.
            let mut q = p.clone();
            q.iter_mut().take(k * 6 / 10).for_each(|v| *v *= 100.0);
            assert!(
                !burst_guard(limit, 1, &q, &floor, &mut ratio, &mut raised),
                "seed {seed}"
            );
            // A click: every bin 12 dB up: raised by about 12 dB.
            let c: Vec<f32> = p.iter().map(|v| v * 16.0).collect();
            assert!(
                burst_guard(limit, 1, &c, &floor, &mut ratio, &mut raised),
                "seed {seed}"
            );
            for (r, f) in raised.iter().zip(&floor) {
                let x = r / f;
                assert!((10.0..26.0).contains(&x), "seed {seed}: raised ×{x}");
            }
        }
    }

    #[test]
    fn the_burst_guard_judges_bands_apart_and_raises_only_the_burst_s_band() {
        let k = 1024;
        let floor = vec![1.0f32; k];
        let (mut ratio, mut raised) = (vec![0.0; k], vec![0.0; k]);
        let mut p = exp_powers(&floor, 7);
        // A tone in band 0 (a CW signal) and a burst over band 5 only (of 8).
        p[40] = 1e4;
        p[41] = 1e4;
        p[5 * 128..6 * 128].iter_mut().for_each(|v| *v *= 30.0);
        let limit = 2.0; // 3 dB
        assert!(burst_guard(limit, 8, &p, &floor, &mut ratio, &mut raised));
        for (i, r) in raised.iter().enumerate() {
            if (5 * 128..6 * 128).contains(&i) {
                assert!(*r > 15.0 && *r < 60.0, "bin {i}: {r}");
            } else {
                assert_eq!(*r, 1.0, "bin {i} outside the burst's band was raised");
            }
        }
        // Judged as one band, the same frame is not a burst (most bins are noise).
        assert!(!burst_guard(limit, 1, &p, &floor, &mut ratio, &mut raised));
    }

    #[test]
    fn clicks_and_a_fast_fade_are_gated_with_the_burst_guard_and_a_tone_is_kept() {
        // 48 kHz: white noise whose level jumps 10 dB for 1.5 s (a fast fade), clicks every
        // 0.37 s (0.5 ms decay, 30× the noise RMS), and a steady 1 kHz tone from 2 s to 8 s.
        let rate = 48_000u32;
        let n = 10 * rate as usize;
        let mut x = vec![0.0f32; n];
        let mut s = 0x1234_5678_9abc_def1u64;
        let mut white = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        };
        for (i, v) in x.iter_mut().enumerate() {
            let t = i as f32 / rate as f32;
            let level = if (5.0..6.5).contains(&t) {
                0.05 * 3.16
            } else {
                0.05
            };
            *v = level * white();
        }
        let rms = 0.05 / 3f32.sqrt();
        let mut c = (0.2 * rate as f32) as usize;
        while c + 400 < n {
            for j in 0..400 {
                x[c + j] += 30.0 * rms * (-(j as f32) / 24.0).exp();
            }
            c += (0.37 * rate as f32) as usize;
        }
        let tone: Vec<f32> = (0..n)
            .map(|i| {
                let t = i as f32 / rate as f32;
                if (2.0..8.0).contains(&t) {
                    0.1 * (2.0 * std::f32::consts::PI * 1000.0 * t).sin()
                } else {
                    0.0
                }
            })
            .collect();
        let input: Vec<f32> = x.iter().zip(&tone).map(|(a, b)| a + b).collect();
        let run = |burst_db: f64| {
            let mut p = Params::default();
            crate::params::preset("cw").unwrap().apply_to(&mut p);
            p.burst_db = burst_db;
            let mut e = Engine::new(&p, rate, 1, SignalKind::Real).unwrap();
            let lat = e.latency_samples();
            let mut out = vec![0.0f32; n + lat];
            let mut padded = input.clone();
            padded.resize(n + lat, 0.0);
            e.process(&padded, &mut out);
            out.drain(..lat);
            out
        };
        let energy = |y: &[f32], keep: &dyn Fn(usize) -> bool| -> f64 {
            y.iter()
                .enumerate()
                .filter(|(i, _)| keep(*i))
                .map(|(_, v)| (*v as f64).powi(2))
                .sum()
        };
        let sec = |i: usize| i as f32 / rate as f32;
        // Noise-only stretches (before the tone and after it), clicks and the fade included.
        let noise_only = |i: usize| sec(i) > 1.0 && (sec(i) < 1.9 || sec(i) > 8.1);
        let fade = |i: usize| (5.1..6.4).contains(&sec(i));
        let (off, on) = (run(0.0), run(3.0));
        let (n_off, n_on) = (energy(&off, &noise_only), energy(&on, &noise_only));
        assert!(
            n_on < n_off / 10.0,
            "clicks in noise: {:.1} dB less with the guard (want ≥ 10)",
            10.0 * (n_off / n_on).log10()
        );
        // In the fade the tone stays and the rest is noise: residual = output − tone.
        let resid = |y: &[f32]| -> Vec<f32> { y.iter().zip(&tone).map(|(a, b)| a - b).collect() };
        let (r_off, r_on) = (energy(&resid(&off), &fade), energy(&resid(&on), &fade));
        assert!(
            r_on < r_off / 2.0,
            "fade: residual only {:.1} dB lower with the guard",
            10.0 * (r_off / r_on).log10()
        );
        // The tone is kept: in steady stretches away from clicks its level moves < 0.5 dB.
        let steady = |i: usize| (2.5..4.9).contains(&sec(i));
        let t_in = energy(&tone, &steady);
        let t_on = energy(&on, &steady);
        let t_off = energy(&off, &steady);
        let db = |a: f64, b: f64| 10.0 * (a / b).log10();
        assert!(db(t_on, t_in).abs() < 0.5, "tone {:.2} dB", db(t_on, t_in));
        assert!(
            db(t_on, t_off).abs() < 0.5,
            "tone vs off {:.2} dB",
            db(t_on, t_off)
        );
    }
}
