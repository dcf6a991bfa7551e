//! The streaming processor: interleaved chunks in, the same number of samples out.
//!
//! One [`Engine`] per stream. It owns one STFT geometry, and for every channel the stream state,
//! the noise tracker and the gain state. Chunks may have any length (a multiple of the frame
//! width: `channels` samples, or 2 per complex channel); output sample `t` is input sample
//! `t − latency_samples()` after masking, whatever the chunking.
//!
//! Real time: [`Engine::process`] never allocates, locks or blocks. Everything is sized in
//! [`Engine::new`].

use crate::dsp::gain::{GainParams, GainState};
use crate::dsp::noise::{McraTracker, NoiseProfile, TrackerParams};
use crate::dsp::stft::{
    ComplexStft, RealStft, Stft, StftChannel, StftConfig, StftError, TimeSample, Transform,
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
    #[error("channel count must be at least 1 (got {0})")]
    Channels(usize),
    #[error("complex (I/Q) input needs an even channel count (got {0})")]
    OddIq(usize),
    #[error("noise profile has {got} bins; this configuration needs {expected}")]
    ProfileBins { expected: usize, got: usize },
    #[error(transparent)]
    Param(#[from] crate::params::ParamError),
}

/// Geometry derived from the parameters at a given rate.
pub fn stft_config(p: &Params, rate: u32) -> StftConfig {
    let frame = if p.frame > 0 {
        p.frame as usize
    } else {
        ((p.frame_ms * rate as f64 / 1000.0).round() as usize).max(2)
    };
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
        hop,
        fft_len,
        window: p.window,
    }
}

/// Running totals since construction (or the last [`Engine::reset_stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EngineStats {
    /// Frames analysed (summed over channels).
    pub frames: u64,
    /// Σ|X|² before and after the mask, over all frames and channels.
    pub energy_in: f64,
    pub energy_out: f64,
    /// Non-finite input samples that were replaced by zero.
    pub nonfinite: u64,
}

impl EngineStats {
    /// Mean attenuation in dB (positive = removed energy).
    pub fn attenuation_db(&self) -> f64 {
        if self.energy_in <= 0.0 || self.energy_out <= 0.0 {
            0.0
        } else {
            10.0 * (self.energy_in / self.energy_out).log10()
        }
    }
}

/// Where the noise floor comes from.
enum NoiseSource {
    /// Blind tracking.
    Track,
    /// The fixed profile in `Engine::profile` (per bin, shared by all channels).
    Fixed,
    /// Tracking while learning a profile over the next `remaining` frames per channel; then fixed.
    Learning { remaining: u64 },
}

struct ChannelDsp<S> {
    stream: StftChannel<S>,
    tracker: McraTracker,
    gain: GainState,
    learn: NoiseProfile,
    delay: DelayLine<S>,
}

struct Path<T: Transform> {
    stft: Stft<T>,
    chans: Vec<ChannelDsp<T::Sample>>,
}

enum Paths {
    Real(Path<crate::dsp::stft::RealTransform>),
    Complex(Path<crate::dsp::stft::ComplexTransform>),
}

/// Fixed delay of `len` samples (the bypass path: bit-exact).
struct DelayLine<S> {
    buf: Vec<S>,
    pos: usize,
}
impl<S: TimeSample> DelayLine<S> {
    fn new(len: usize) -> Self {
        DelayLine {
            buf: vec![S::default(); len.max(1)],
            pos: 0,
        }
    }
    #[inline(always)]
    fn push(&mut self, x: S, len: usize) -> S {
        if len == 0 {
            return x;
        }
        let y = self.buf[self.pos];
        self.buf[self.pos] = x;
        self.pos += 1;
        if self.pos == len {
            self.pos = 0;
        }
        y
    }
}

/// Per-frame shared scratch (power and gain vectors).
struct FrameScratch {
    power: Vec<f32>,
    gain: Vec<f32>,
}

/// The streaming spectral-gate processor.
pub struct Engine {
    params: Params,
    rate: u32,
    channels: usize,
    kind: SignalKind,
    cfg: StftConfig,
    gain_params: GainParams,
    noise: NoiseSource,
    /// The fixed noise profile (learned or given); allocated once so that switching to it, or
    /// learning a new one, never allocates.
    profile: Vec<f32>,
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
        if rate == 0 {
            return Err(EngineError::Rate(rate));
        }
        if channels == 0 {
            return Err(EngineError::Channels(channels));
        }
        if kind == SignalKind::Complex && channels % 2 != 0 {
            return Err(EngineError::OddIq(channels));
        }
        let cfg = stft_config(params, rate);
        cfg.validate()?;
        let latency = cfg.latency_samples();
        let hop_s = cfg.hop as f32 / rate as f32;
        let tp = TrackerParams {
            hop_s,
            smoothing_s: params.smoothing_s as f32,
            window_s: params.window_s as f32,
            noise_tau_s: params.noise_tau_s as f32,
            presence_ratio: params.presence_ratio as f32,
            decision_delay: cfg.frame_len.div_ceil(cfg.hop).saturating_sub(1).max(1),
        };
        let complex = kind == SignalKind::Complex;
        let bins = cfg.bins(complex);
        fn chans<S: TimeSample, T: Transform<Sample = S>>(
            stft: &Stft<T>,
            n: usize,
            bins: usize,
            tp: TrackerParams,
            latency: usize,
        ) -> Vec<ChannelDsp<S>> {
            (0..n)
                .map(|_| ChannelDsp {
                    stream: stft.channel(),
                    tracker: McraTracker::new(bins, tp),
                    gain: GainState::new(bins),
                    learn: NoiseProfile::new(bins),
                    delay: DelayLine::new(latency),
                })
                .collect()
        }
        let paths = if complex {
            let stft = ComplexStft::new_complex(cfg)?;
            let c = chans(&stft, channels / 2, bins, tp, latency);
            Paths::Complex(Path { stft, chans: c })
        } else {
            let stft = RealStft::new_real(cfg)?;
            let c = chans(&stft, channels, bins, tp, latency);
            Paths::Real(Path { stft, chans: c })
        };
        let stft_channels = if complex { channels / 2 } else { channels } as u64;
        let noise = if params.learn > 0.0 {
            NoiseSource::Learning {
                remaining: ((params.learn * rate as f64 / cfg.hop as f64).ceil() as u64).max(1)
                    * stft_channels,
            }
        } else {
            NoiseSource::Track
        };
        let bypass = if params.bypass { 1.0 } else { 0.0 };
        let mut e = Engine {
            params: params.clone(),
            rate,
            channels,
            kind,
            cfg,
            gain_params: gain_params(params, &cfg, rate, complex),
            noise,
            profile: vec![0.0; bins],
            paths,
            scratch: FrameScratch {
                power: vec![0.0; bins],
                gain: vec![1.0; bins],
            },
            stats: EngineStats::default(),
            mix: bypass,
            mix_target: bypass,
            mix_step: 1.0 / (0.01 * rate as f32).max(1.0),
        };
        e.gain_params = gain_params(&e.params, &e.cfg, rate, complex);
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
    /// True once a learned or given noise profile is in use.
    pub fn has_fixed_profile(&self) -> bool {
        matches!(self.noise, NoiseSource::Fixed)
    }

    /// Uses a fixed per-bin noise power profile (see [`learn_profile`]) for every channel.
    pub fn set_noise_profile(&mut self, profile: &[f32]) -> Result<(), EngineError> {
        if profile.len() != self.bins() {
            return Err(EngineError::ProfileBins {
                expected: self.bins(),
                got: profile.len(),
            });
        }
        self.profile.copy_from_slice(profile);
        self.noise = NoiseSource::Fixed;
        Ok(())
    }

    /// Goes back to blind tracking.
    pub fn clear_noise_profile(&mut self) {
        self.noise = NoiseSource::Track;
    }

    /// Learns a new profile from the next `seconds` of input (blind tracking meanwhile).
    /// Not real-time safe only in that it may be called from the control side; no allocation.
    pub fn learn(&mut self, seconds: f64) {
        match &mut self.paths {
            Paths::Real(p) => p
                .chans
                .iter_mut()
                .for_each(|c| c.learn.reset()),
            Paths::Complex(p) => p
                .chans
                .iter_mut()
                .for_each(|c| c.learn.reset()),
        }
        let stft_channels = match &self.paths {
            Paths::Real(p) => p.chans.len(),
            Paths::Complex(p) => p.chans.len(),
        } as u64;
        self.noise = NoiseSource::Learning {
            remaining: ((seconds * self.rate as f64 / self.cfg.hop as f64).ceil() as u64).max(1)
                * stft_channels,
        };
    }

    /// Changes the gain parameters (threshold, reduction, rule, smoothing, band, bypass) on the
    /// fly. Geometry keys (frame, hop, FFT size, window) need a new engine and are ignored here.
    /// Gains move through the attack/release smoothing and bypass crossfades over 10 ms, so the
    /// change is click-free. Allocation-free.
    pub fn update_params(&mut self, p: &Params) {
        let geometry = (
            self.params.frame_ms,
            self.params.overlap,
            self.params.frame,
            self.params.hop,
            self.params.fft_size,
            self.params.window,
        );
        self.params = p.clone();
        (
            self.params.frame_ms,
            self.params.overlap,
            self.params.frame,
            self.params.hop,
            self.params.fft_size,
            self.params.window,
        ) = geometry;
        self.gain_params = gain_params(
            &self.params,
            &self.cfg,
            self.rate,
            self.kind == SignalKind::Complex,
        );
        self.mix_target = if p.bypass { 1.0 } else { 0.0 };
    }

    /// Toggles bypass with a 10 ms crossfade.
    pub fn set_bypass(&mut self, on: bool) {
        self.params.bypass = on;
        self.mix_target = if on { 1.0 } else { 0.0 };
    }

    /// Processes interleaved samples. `input.len()` must equal `output.len()` and be a multiple
    /// of `channels`. Non-finite input samples are replaced by zero and counted.
    pub fn process(&mut self, input: &[f32], output: &mut [f32]) {
        assert_eq!(input.len(), output.len(), "input and output lengths differ");
        assert_eq!(
            input.len() % self.channels,
            0,
            "chunk is not a whole number of frames"
        );
        let nch = self.channels;
        let frames = input.len() / nch;
        let mut nonfinite = 0u64;
        // The bypass mix is a per-sample ramp shared by all channels: run channels over the same
        // sub-range so they see the same ramp values.
        let (mix0, target, step) = (self.mix, self.mix_target, self.mix_step);
        let ctx = FrameCtx {
            gp: &self.gain_params,
            noise: &mut self.noise,
            profile: &self.profile,
            scratch: &mut self.scratch,
            stats: &mut self.stats,
        };
        let mut ctx = ctx;
        match &mut self.paths {
            Paths::Real(path) => {
                for (c, ch) in path.chans.iter_mut().enumerate() {
                    let inp = input[c..].iter().step_by(nch).map(|x| {
                        if x.is_finite() {
                            *x
                        } else {
                            nonfinite += 1;
                            0.0
                        }
                    });
                    let mut out_idx = c;
                    let mut mix = mix0;
                    run_channel(&mut path.stft, ch, &mut ctx, inp, |wet: f32, dry: f32| {
                        mix = ramp(mix, target, step);
                        output[out_idx] = if mix >= 1.0 {
                            dry
                        } else if mix <= 0.0 {
                            wet
                        } else {
                            wet + (dry - wet) * mix
                        };
                        out_idx += nch;
                    });
                }
            }
            Paths::Complex(path) => {
                for (c, ch) in path.chans.iter_mut().enumerate() {
                    let base = 2 * c;
                    let inp = (0..frames).map(|f| {
                        let (i, q) = (input[f * nch + base], input[f * nch + base + 1]);
                        if i.is_finite() && q.is_finite() {
                            Complex32::new(i, q)
                        } else {
                            nonfinite += 1;
                            Complex32::new(
                                if i.is_finite() { i } else { 0.0 },
                                if q.is_finite() { q } else { 0.0 },
                            )
                        }
                    });
                    let mut out_idx = base;
                    let mut mix = mix0;
                    run_channel(
                        &mut path.stft,
                        ch,
                        &mut ctx,
                        inp,
                        |wet: Complex32, dry: Complex32| {
                            mix = ramp(mix, target, step);
                            let v = if mix >= 1.0 {
                                dry
                            } else if mix <= 0.0 {
                                wet
                            } else {
                                wet + (dry - wet) * mix
                            };
                            output[out_idx] = v.re;
                            output[out_idx + 1] = v.im;
                            out_idx += nch;
                        },
                    );
                }
            }
        }
        // Advance the shared ramp by the frames processed.
        let mut m = self.mix;
        if m != target {
            let d = step * frames as f32;
            m = if target > m {
                (m + d).min(target)
            } else {
                (m - d).max(target)
            };
        }
        self.mix = m;
        self.stats.nonfinite += nonfinite;
        // Learning bookkeeping is per frame of channel 0 (all channels see the same frames).
        if let NoiseSource::Learning { remaining: 0 } = self.noise {
            self.finish_learning();
        }
    }

    /// Averages the channels' learned spectra into the fixed profile (in place, no allocation).
    fn finish_learning(&mut self) {
        self.profile.fill(0.0);
        let profile = &mut self.profile;
        let n = match &self.paths {
            Paths::Real(p) => p.chans.iter().filter(|c| c.learn.add_mean_to(profile)).count(),
            Paths::Complex(p) => p.chans.iter().filter(|c| c.learn.add_mean_to(profile)).count(),
        };
        if n > 0 {
            let inv = 1.0 / n as f32;
            self.profile.iter_mut().for_each(|v| *v = (*v * inv).max(1e-30));
            self.noise = NoiseSource::Fixed;
        } else {
            self.noise = NoiseSource::Track;
        }
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
    noise: &'a mut NoiseSource,
    profile: &'a [f32],
    scratch: &'a mut FrameScratch,
    stats: &'a mut EngineStats,
}

/// Runs one channel's samples through its STFT; `emit(wet, dry)` receives each output sample
/// of the masked path and of the bit-exact delay line.
#[inline]
fn run_channel<T, I, E>(
    stft: &mut Stft<T>,
    ch: &mut ChannelDsp<T::Sample>,
    ctx: &mut FrameCtx,
    input: I,
    mut emit: E,
) where
    T: Transform,
    I: Iterator<Item = T::Sample>,
    E: FnMut(T::Sample, T::Sample),
{
    let latency = stft.latency_samples();
    let FrameCtx {
        gp,
        noise,
        profile,
        scratch,
        stats,
    } = ctx;
    let ChannelDsp {
        stream,
        tracker,
        gain,
        learn,
        delay,
    } = ch;
    let mut on_frame =
        |spec: &mut [Complex32]| mask_frame(spec, gp, noise, profile, scratch, stats, tracker, gain, learn);
    for x in input {
        let dry = delay.push(x, latency);
        let wet = stream.push(stft, x, &mut on_frame);
        emit(wet, dry);
    }
}

#[allow(clippy::too_many_arguments)]
#[inline]
fn mask_frame(
    spec: &mut [Complex32],
    gp: &GainParams,
    noise: &mut NoiseSource,
    profile: &[f32],
    scratch: &mut FrameScratch,
    stats: &mut EngineStats,
    tracker: &mut McraTracker,
    gain: &mut GainState,
    learn: &mut NoiseProfile,
) {
    stats.frames += 1;
    let power = &mut scratch.power;
    let mut ein = 0.0f64;
    for (p, x) in power.iter_mut().zip(spec.iter()) {
        *p = x.norm_sqr();
        ein += *p as f64;
    }
    stats.energy_in += ein;
    if gp.is_open() {
        stats.energy_out += ein;
        return;
    }
    let floor: &[f32] = match noise {
        NoiseSource::Track => {
            tracker.update(power);
            tracker.noise()
        }
        NoiseSource::Fixed => profile,
        NoiseSource::Learning { remaining } => {
            tracker.update(power);
            learn.accumulate(power);
            // Counted per channel frame; the last channel to finish decrements to zero.
            *remaining = remaining.saturating_sub(1);
            tracker.noise()
        }
    };
    gain.compute(gp, power, floor, &mut scratch.gain);
    let mut eout = 0.0f64;
    for ((x, g), p) in spec.iter_mut().zip(&scratch.gain).zip(power.iter()) {
        *x = x.scale(*g);
        eout += (*p * *g * *g) as f64;
    }
    stats.energy_out += eout;
}

/// Gain parameters in frame units.
pub fn gain_params(p: &Params, cfg: &StftConfig, rate: u32, complex: bool) -> GainParams {
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
    }
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
    let mut p = params.clone();
    p.learn = 1e9 / rate as f64; // learn everything
    p.learn = p.learn.min(3600.0);
    p.bypass = false;
    if p.reduction_db <= 0.0 {
        p.reduction_db = 1.0; // an open gate skips analysis
    }
    let mut e = Engine::new(&p, rate, channels, kind)?;
    let mut out = vec![0.0; clip.len() - clip.len() % channels];
    e.process(&clip[..out.len()], &mut out);
    let mut prof = vec![0.0f32; e.bins()];
    let mut n = 0usize;
    let mut add = |l: &NoiseProfile| {
        if l.frames() > 0 {
            prof.iter_mut().zip(l.mean()).for_each(|(a, b)| *a += b);
            n += 1;
        }
    };
    match &e.paths {
        Paths::Real(p) => p.chans.iter().for_each(|c| add(&c.learn)),
        Paths::Complex(p) => p.chans.iter().for_each(|c| add(&c.learn)),
    }
    if n == 0 {
        return Err(EngineError::Param(crate::params::ParamError::Parse(
            format!(
                "noise clip is too short: it needs at least {} samples per channel",
                e.cfg.hop
            ),
        )));
    }
    prof.iter_mut().for_each(|v| *v /= n as f32);
    Ok(prof)
}

/// Runs a whole signal through an engine and returns the output time-aligned with the input
/// (latency removed, same length): the file convention.
pub fn process_aligned(engine: &mut Engine, input: &[f32]) -> Vec<f32> {
    let nch = engine.channels();
    let lat = engine.latency_samples() * nch;
    let mut out = vec![0.0; input.len() + lat];
    engine.process(input, &mut out[..input.len()]);
    let tail = vec![0.0; lat];
    engine.process(&tail, &mut out[input.len()..]);
    out.drain(..lat);
    out
}
