//! Streaming short-time Fourier transform with weighted overlap-add (WOLA) resynthesis.
//!
//! # The model
//! Every `hop` input samples, the last `frame_len` samples are multiplied by the analysis window,
//! zero-padded to `fft_len`, transformed, handed to a callback that may modify the spectrum (the
//! gain mask), transformed back, multiplied by the synthesis window and overlap-added. The
//! synthesis window covers the last `synth_len` samples of the frame (all of it in the usual
//! symmetric mode, `synth_len == frame_len`). The overlap-added sum is divided by
//! `Σ_m w_a(n − mH)·w_s(n − mH)`, so any window/hop pair whose sum is non-zero everywhere (the
//! NOLA condition) reconstructs exactly: with an untouched spectrum the output equals the input
//! delayed by [`StftConfig::latency_samples`] = `synth_len − 1` samples, up to f32 rounding.
//!
//! # Why the latency is exactly `synth_len − 1`
//! Call `t` the newest input sample of a frame; the frame is computed the moment `t` arrives, and
//! its synthesis window is non-zero only on input times `t − synth_len + 1 ..= t`. The next frame
//! (computed at `t + H`) reaches back only to `t + H − synth_len + 1`, so after this frame the
//! samples up to `t − synth_len + H` are complete: the `H` samples `t − synth_len + 1 ..
//! t − synth_len + H`. They are emitted one per input sample during the next hop — the first at
//! time `t`, the last at `t + H − 1` — each exactly `synth_len − 1` samples after it came in.
//! Output is emitted sample by sample in step with input, so the delay is constant and
//! independent of how the input is chunked — one sample at a time, or a whole file at once,
//! gives bit-identical output. (A shorter delay is impossible with this hop: the sample emitted
//! at `t + H − 1` must already be complete at `t`.)
//!
//! # Low delay: asymmetric windows
//! With `synth_len < frame_len` the analysis window stays long (frequency resolution of the whole
//! frame) and the synthesis window is short (the delay): the pair of
//! [`low_delay_pair`](super::windows::low_delay_pair) (Mauler & Martin 2007). The hop is at most
//! `synth_len`; `synth_len/2` makes the windows' product overlap-add to a constant.
//!
//! # Normalisation and units
//! The spectrum passed to the callback is the unnormalised DFT of the windowed frame
//! (`X[k] = Σ_n w_a[n]·x[n]·e^{−2πikn/M}`), the same as `numpy.fft.rfft(w*x, M)`. Real signals give
//! `fft_len/2 + 1` bins (DC … Nyquist); complex signals give `fft_len` bins in FFT order (DC,
//! positive frequencies, then negative frequencies from −fs/2 upwards).
//!
//! # Real time
//! All buffers and FFT scratch are allocated in the constructors; [`StftChannel::process`] never
//! allocates.

use super::rfft::EvenRealFft;
use super::windows::WindowKind;
use num_complex::Complex32;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use rustfft::{Fft, FftPlanner};
use std::sync::Arc;

/// Frame geometry of the STFT, in samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StftConfig {
    /// Window (frame) length N: the analysis window's length.
    pub frame_len: usize,
    /// Length S ≤ N of the synthesis window, which covers the last S samples of each frame.
    /// S = N is the symmetric STFT (both windows are `window`); S < N is the low-delay STFT with
    /// the asymmetric sqrt-Hann pair. The latency is S − 1 samples.
    pub synth_len: usize,
    /// Hop H between frames (1 ≤ H ≤ N).
    pub hop: usize,
    /// FFT length M ≥ N; M > N zero-pads for finer bin spacing.
    pub fft_len: usize,
    /// Analysis and synthesis window (symmetric mode; must be sqrt-Hann when S < N).
    pub window: WindowKind,
}

/// Largest [`StftConfig::stream_slack`], samples.
pub const MAX_SLACK: usize = 1 << 16;

/// Why a configuration cannot run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StftError {
    #[error("frame length must be at least 2 samples (got {0})")]
    FrameTooShort(usize),
    #[error("hop must be between 1 and the frame length {frame_len} (got {hop})")]
    BadHop { hop: usize, frame_len: usize },
    #[error(
        "synthesis window length {synth_len} must be between 2 and the frame length {frame_len}, \
         and at least the hop {hop}"
    )]
    BadSynthLen {
        synth_len: usize,
        frame_len: usize,
        hop: usize,
    },
    #[error(
        "a low-delay STFT (synthesis window {synth_len} < frame {frame_len}) uses the asymmetric \
         sqrt-hann pair; window '{window}' cannot be used with it"
    )]
    AsymmetricWindow {
        window: WindowKind,
        frame_len: usize,
        synth_len: usize,
    },
    #[error("FFT size {fft_len} is smaller than the frame length {frame_len}")]
    FftTooSmall { fft_len: usize, frame_len: usize },
    #[error(
        "window '{window}' with frame {frame_len} (synthesis {synth_len}) and hop {hop} cannot \
         reconstruct (NOLA violated): \
         the overlap-added window product is {min_sum:.3e} at offset {offset} of each hop; \
         use a hop of at most {suggested_hop}"
    )]
    Nola {
        window: WindowKind,
        frame_len: usize,
        synth_len: usize,
        hop: usize,
        offset: usize,
        min_sum: f64,
        suggested_hop: usize,
    },
}

impl StftConfig {
    /// Checks the geometry and the NOLA condition.
    pub fn validate(&self) -> Result<(), StftError> {
        if self.frame_len < 2 {
            return Err(StftError::FrameTooShort(self.frame_len));
        }
        if self.hop == 0 || self.hop > self.frame_len {
            return Err(StftError::BadHop {
                hop: self.hop,
                frame_len: self.frame_len,
            });
        }
        if self.synth_len < 2 || self.synth_len > self.frame_len || self.hop > self.synth_len {
            return Err(StftError::BadSynthLen {
                synth_len: self.synth_len,
                frame_len: self.frame_len,
                hop: self.hop,
            });
        }
        if self.is_low_delay() && self.window != WindowKind::SqrtHann {
            return Err(StftError::AsymmetricWindow {
                window: self.window,
                frame_len: self.frame_len,
                synth_len: self.synth_len,
            });
        }
        if self.fft_len < self.frame_len {
            return Err(StftError::FftTooSmall {
                fft_len: self.fft_len,
                frame_len: self.frame_len,
            });
        }
        let (a, s) = self.windows();
        let sums = overlap_sums(&a, &s, self.hop);
        let max = sums.iter().cloned().fold(0.0, f64::max);
        let (offset, min_sum) =
            sums.iter()
                .cloned()
                .enumerate()
                .fold(
                    (0, f64::INFINITY),
                    |a, (i, s)| if s < a.1 { (i, s) } else { a },
                );
        // Relative test: a window product that falls below 1e-4 of its peak would amplify
        // rounding noise by 80 dB at those samples.
        // Written so that a NaN sum is refused too.
        if min_sum.is_nan() || min_sum <= 1e-4 * max {
            return Err(StftError::Nola {
                window: self.window,
                frame_len: self.frame_len,
                synth_len: self.synth_len,
                hop: self.hop,
                offset,
                min_sum,
                suggested_hop: self.synth_len / 2,
            });
        }
        Ok(())
    }

    /// Algorithmic latency: output sample `t` equals input sample `t − latency_samples()`;
    /// `synth_len − 1` (see the module documentation).
    pub fn latency_samples(&self) -> usize {
        self.synth_len - 1
    }

    /// True for the asymmetric low-delay STFT (synthesis window shorter than the frame).
    pub fn is_low_delay(&self) -> bool {
        self.synth_len < self.frame_len
    }

    /// The analysis and synthesis windows (both `frame_len` long; the synthesis window is zero
    /// before its last `synth_len` samples), before the WOLA normalisation.
    pub fn windows(&self) -> (Vec<f32>, Vec<f32>) {
        if self.is_low_delay() {
            super::windows::low_delay_pair(
                self.frame_len,
                self.synth_len,
                super::windows::low_delay_fall(self.synth_len),
            )
        } else {
            let w = self.window.build(self.frame_len);
            (w.clone(), w)
        }
    }

    /// Smallest over largest overlap-added window product: how well conditioned the
    /// reconstruction is (1 = constant overlap-add; `validate` refuses ≤ 1e-4).
    pub fn nola_ratio(&self) -> f64 {
        let (a, s) = self.windows();
        let sums = overlap_sums(&a, &s, self.hop);
        sums.iter().cloned().fold(f64::INFINITY, f64::min)
            / sums.iter().cloned().fold(0.0, f64::max)
    }

    /// Extra room, in samples, of a channel's input and overlap-add buffers (see
    /// [`StftChannel`]): a whole number of hops covering the frame, so that the buffers slide
    /// once every `⌈frame/hop⌉ + 1` hops instead of every hop. Frames of more than
    /// [`MAX_SLACK`] samples get none (they slide every hop: next to their FFT the copy is
    /// negligible, and the memory is not).
    pub fn stream_slack(&self) -> usize {
        let slack = self.hop.max(1) * self.frame_len.div_ceil(self.hop.max(1));
        if slack <= MAX_SLACK {
            slack
        } else {
            0
        }
    }

    /// Number of spectrum bins for a real (`fft_len/2+1`) or complex (`fft_len`) signal.
    pub fn bins(&self, complex: bool) -> usize {
        if complex {
            self.fft_len
        } else {
            self.fft_len / 2 + 1
        }
    }
}

/// `Σ_m a[j + mH]·s[j + mH]` for each offset `j` in `0..H`, in f64.
pub fn overlap_sums(a: &[f32], s: &[f32], hop: usize) -> Vec<f64> {
    let mut sums = vec![0.0f64; hop];
    for (i, (x, y)) in a.iter().zip(s).enumerate() {
        sums[i % hop] += *x as f64 * *y as f64;
    }
    sums
}

/// A time-domain sample type the STFT can carry: `f32` (real audio) or `Complex32` (I/Q).
pub trait TimeSample: Copy + Default + Send + Sync + 'static + std::fmt::Debug {
    /// f32 components per sample (1 or 2).
    const LANES: usize;
    fn scale(self, k: f32) -> Self;
    fn add(self, o: Self) -> Self;
    /// The samples as their f32 components, in order (re, im for complex).
    fn flat(s: &[Self]) -> &[f32];
    fn flat_mut(s: &mut [Self]) -> &mut [f32];
}
impl TimeSample for f32 {
    const LANES: usize = 1;
    #[inline(always)]
    fn flat(s: &[f32]) -> &[f32] {
        s
    }
    #[inline(always)]
    fn flat_mut(s: &mut [f32]) -> &mut [f32] {
        s
    }
    #[inline(always)]
    fn scale(self, k: f32) -> Self {
        self * k
    }
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        self + o
    }
}
impl TimeSample for Complex32 {
    const LANES: usize = 2;
    #[inline(always)]
    fn flat(s: &[Complex32]) -> &[f32] {
        // SAFETY: Complex32 is `#[repr(C)] { re: f32, im: f32 }`: 2·len f32 with its alignment.
        unsafe { std::slice::from_raw_parts(s.as_ptr() as *const f32, 2 * s.len()) }
    }
    #[inline(always)]
    fn flat_mut(s: &mut [Complex32]) -> &mut [f32] {
        // SAFETY: as in `flat`; the borrow is exclusive for the result's life.
        unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr() as *mut f32, 2 * s.len()) }
    }
    #[inline(always)]
    fn scale(self, k: f32) -> Self {
        Complex32::new(self.re * k, self.im * k)
    }
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        self + o
    }
}

/// Forward and inverse FFT with their scratch, for one sample type.
pub trait Transform: Send {
    type Sample: TimeSample;
    /// Number of bins the forward transform produces.
    fn bins(&self) -> usize;
    /// `time` (length `fft_len`, clobbered) → `spec` (length `bins`). Unnormalised.
    fn forward(&mut self, time: &mut [Self::Sample], spec: &mut [Complex32]);
    /// `spec` (clobbered) → `time`. Unnormalised: forward∘inverse multiplies by `fft_len`.
    fn inverse(&mut self, spec: &mut [Complex32], time: &mut [Self::Sample]);
}

/// Real-signal transform, `fft_len/2 + 1` bins: [`EvenRealFft`] for even lengths (realfft's
/// algorithm with a vectorised twiddle pass, the same values), realfft for odd ones.
pub enum RealTransform {
    Even(EvenRealFft),
    Odd {
        fwd: Arc<dyn RealToComplex<f32>>,
        inv: Arc<dyn ComplexToReal<f32>>,
        scratch: Vec<Complex32>,
    },
}

impl RealTransform {
    pub fn new(fft_len: usize) -> Self {
        if fft_len % 2 == 0 {
            return RealTransform::Even(EvenRealFft::new(fft_len));
        }
        let mut p = RealFftPlanner::<f32>::new();
        let fwd = p.plan_fft_forward(fft_len);
        let inv = p.plan_fft_inverse(fft_len);
        let n = fwd.get_scratch_len().max(inv.get_scratch_len());
        RealTransform::Odd {
            fwd,
            inv,
            scratch: vec![Complex32::default(); n],
        }
    }
}

impl Transform for RealTransform {
    type Sample = f32;
    fn bins(&self) -> usize {
        match self {
            RealTransform::Even(f) => f.complex_len(),
            RealTransform::Odd { fwd, .. } => fwd.complex_len(),
        }
    }
    fn forward(&mut self, time: &mut [f32], spec: &mut [Complex32]) {
        match self {
            RealTransform::Even(f) => f.forward(time, spec),
            RealTransform::Odd { fwd, scratch, .. } => {
                // Only length mismatches can fail, and the lengths are fixed at construction.
                let _ = fwd.process_with_scratch(time, spec, scratch);
            }
        }
    }
    fn inverse(&mut self, spec: &mut [Complex32], time: &mut [f32]) {
        match self {
            // Takes the DC and Nyquist bins as real (a real-valued mask keeps them so, up to
            // rounding residue).
            RealTransform::Even(f) => f.inverse(spec, time),
            RealTransform::Odd { inv, scratch, .. } => {
                // DC is real; clear rounding residue so realfft does not complain.
                spec[0].im = 0.0;
                let _ = inv.process_with_scratch(spec, time, scratch);
            }
        }
    }
}

/// Complex-signal transform (rustfft), `fft_len` bins, two-sided.
pub struct ComplexTransform {
    fwd: Arc<dyn Fft<f32>>,
    inv: Arc<dyn Fft<f32>>,
    scratch: Vec<Complex32>,
}

impl ComplexTransform {
    pub fn new(fft_len: usize) -> Self {
        let mut p = FftPlanner::<f32>::new();
        let fwd = p.plan_fft_forward(fft_len);
        let inv = p.plan_fft_inverse(fft_len);
        let n = fwd
            .get_outofplace_scratch_len()
            .max(inv.get_outofplace_scratch_len());
        ComplexTransform {
            fwd,
            inv,
            scratch: vec![Complex32::default(); n],
        }
    }
}

impl Transform for ComplexTransform {
    type Sample = Complex32;
    fn bins(&self) -> usize {
        self.fwd.len()
    }
    // Out of place (the input is clobbered, as the trait allows): no copy of the frame in or
    // out; the same butterflies as in place, so the same values.
    fn forward(&mut self, time: &mut [Complex32], spec: &mut [Complex32]) {
        self.fwd
            .process_outofplace_with_scratch(time, spec, &mut self.scratch);
    }
    fn inverse(&mut self, spec: &mut [Complex32], time: &mut [Complex32]) {
        self.inv
            .process_outofplace_with_scratch(spec, time, &mut self.scratch);
    }
}

/// The shared half of a streaming STFT: windows, FFT plans and the per-frame scratch.
/// One `Stft` serves any number of [`StftChannel`]s of the same geometry.
pub struct Stft<T: Transform> {
    cfg: StftConfig,
    transform: T,
    analysis: Vec<f32>,
    /// `analysis` with each value repeated per component (`TimeSample::LANES`): windowing is
    /// then one multiply per f32, with no shuffles for complex samples. Same products.
    analysis_lanes: Vec<f32>,
    /// The last `synth_len` samples of the synthesis window, with the WOLA normalisation and the
    /// 1/fft_len folded in, each value repeated per component like `analysis_lanes`.
    synthesis: Vec<f32>,
    time: Vec<T::Sample>,
    spec: Vec<Complex32>,
}

pub type RealStft = Stft<RealTransform>;
pub type ComplexStft = Stft<ComplexTransform>;

impl RealStft {
    pub fn new_real(cfg: StftConfig) -> Result<Self, StftError> {
        Self::with_transform(cfg, RealTransform::new(cfg.fft_len))
    }
}
impl ComplexStft {
    pub fn new_complex(cfg: StftConfig) -> Result<Self, StftError> {
        Self::with_transform(cfg, ComplexTransform::new(cfg.fft_len))
    }
}

impl<T: Transform> Stft<T> {
    pub fn with_transform(cfg: StftConfig, transform: T) -> Result<Self, StftError> {
        cfg.validate()?;
        let (analysis, synthesis) = cfg.windows();
        let sums = overlap_sums(&analysis, &synthesis, cfg.hop);
        let m = cfg.fft_len as f64;
        let tail = cfg.frame_len - cfg.synth_len;
        let lanes = <T::Sample as TimeSample>::LANES;
        let repeat = |w: &[f32]| -> Vec<f32> {
            w.iter()
                .flat_map(|v| std::iter::repeat_n(*v, lanes))
                .collect()
        };
        let synthesis: Vec<f32> = synthesis
            .iter()
            .enumerate()
            .skip(tail)
            .map(|(i, w)| (*w as f64 / (sums[i % cfg.hop] * m)) as f32)
            .collect();
        let bins = transform.bins();
        Ok(Stft {
            cfg,
            transform,
            analysis_lanes: repeat(&analysis),
            analysis,
            synthesis: repeat(&synthesis),
            time: vec![T::Sample::default(); cfg.fft_len],
            spec: vec![Complex32::default(); bins],
        })
    }

    pub fn config(&self) -> &StftConfig {
        &self.cfg
    }
    pub fn bins(&self) -> usize {
        self.spec.len()
    }
    pub fn latency_samples(&self) -> usize {
        self.cfg.latency_samples()
    }
    /// The analysis window (for callers that need its energy, e.g. to scale a noise profile).
    pub fn analysis_window(&self) -> &[f32] {
        &self.analysis
    }

    /// A fresh stream state for one channel.
    pub fn channel(&self) -> StftChannel<T::Sample> {
        self.channel_with_slack(self.cfg.stream_slack())
    }

    fn channel_with_slack(&self, slack: usize) -> StftChannel<T::Sample> {
        StftChannel {
            inp: vec![T::Sample::default(); self.cfg.frame_len + slack],
            off: 0,
            acc: vec![T::Sample::default(); self.cfg.synth_len + slack],
            acc_off: 0,
            ready: vec![T::Sample::default(); self.cfg.hop],
            pos: 0,
        }
    }

    /// Analyse the channel's current frame, let `on_frame` modify the spectrum, resynthesise.
    #[inline(always)]
    fn run_frame<F: FnMut(&mut [Complex32])>(
        &mut self,
        ch: &mut StftChannel<T::Sample>,
        on_frame: &mut F,
    ) {
        let n = self.cfg.frame_len;
        let h = self.cfg.hop;
        let s = self.cfg.synth_len;
        // Component by component (`x.scale(w)` for each sample, the same products).
        let frame = T::Sample::flat(&ch.inp[ch.off..ch.off + n]);
        let time = T::Sample::flat_mut(&mut self.time[..n]);
        for ((t, x), w) in time.iter_mut().zip(frame).zip(&self.analysis_lanes) {
            *t = x * w;
        }
        self.time[n..].fill(T::Sample::default());
        self.transform.forward(&mut self.time, &mut self.spec);
        on_frame(&mut self.spec);
        self.transform.inverse(&mut self.spec, &mut self.time);
        let a0 = ch.acc_off;
        // `a.add(t.scale(w))` component by component.
        let acc = T::Sample::flat_mut(&mut ch.acc[a0..a0 + s]);
        let time = T::Sample::flat(&self.time[n - s..n]);
        for ((a, t), w) in acc.iter_mut().zip(time).zip(&self.synthesis) {
            *a += t * w;
        }
        ch.ready.copy_from_slice(&ch.acc[a0..a0 + h]);
        ch.advance(n, h, s);
    }
}

/// Per-channel stream state: the input history (the current frame is `inp[off..off + frame_len]`),
/// the overlap-add accumulator (the next frame adds into `acc[acc_off..acc_off + synth_len]`;
/// everything after that is zero) and the samples completed by the last frame.
///
/// Both buffers have room for about one frame more than they hold
/// ([`StftConfig::stream_slack`]), so that moving on by a hop moves an offset; their contents
/// slide back to the start once per filled slack (every `⌈frame/hop⌉ + 1` hops) instead of
/// every hop. Same values as sliding every hop.
#[derive(Clone)]
pub struct StftChannel<S> {
    inp: Vec<S>,
    off: usize,
    acc: Vec<S>,
    acc_off: usize,
    ready: Vec<S>,
    pos: usize,
}

impl<S: TimeSample> StftChannel<S> {
    /// Moves both windows on by one hop (after a frame): the next frame starts `h` samples
    /// later in `inp` and adds `h` samples later into `acc`.
    #[inline(always)]
    fn advance(&mut self, n: usize, h: usize, s: usize) {
        self.off += h;
        if self.off + n > self.inp.len() {
            // The next frame's first n − h samples are known; its last h are still to come.
            self.inp.copy_within(self.off..self.off + n - h, 0);
            self.off = 0;
        }
        self.acc_off += h;
        if self.acc_off + s > self.acc.len() {
            // Partial sums of the next s − h samples; zero from there on.
            self.acc.copy_within(self.acc_off..self.acc_off + s - h, 0);
            self.acc[s - h..].fill(S::default());
            self.acc_off = 0;
        }
    }

    /// Streams samples through: for every input sample, exactly one output sample is produced
    /// (the input `latency_samples()` earlier, masked). `on_frame` is called once per completed
    /// hop with the frame's spectrum.
    #[inline]
    pub fn process<T, I, O, F>(
        &mut self,
        stft: &mut Stft<T>,
        input: I,
        mut output: O,
        mut on_frame: F,
    ) where
        T: Transform<Sample = S>,
        I: IntoIterator<Item = S>,
        O: FnMut(S),
        F: FnMut(&mut [Complex32]),
    {
        for x in input {
            output(self.push(stft, x, &mut on_frame));
        }
    }

    /// One sample in, one sample out; see [`StftChannel::process`].
    #[inline(always)]
    pub fn push<T, F>(&mut self, stft: &mut Stft<T>, x: S, on_frame: &mut F) -> S
    where
        T: Transform<Sample = S>,
        F: FnMut(&mut [Complex32]),
    {
        let n = stft.cfg.frame_len;
        let h = stft.cfg.hop;
        self.inp[self.off + n - h + self.pos] = x;
        self.pos += 1;
        if self.pos == h {
            self.pos = 0;
            stft.run_frame(self, on_frame);
        }
        self.ready[self.pos]
    }

    /// Block form of [`StftChannel::push`]: `output[i]` is what `push(input[i])` would return,
    /// bit for bit, but samples move by slice copies up to each hop boundary instead of one at a
    /// time (the per-sample bookkeeping costs as much as the windowing at audio hops).
    ///
    /// # Panics
    /// If `input` and `output` differ in length.
    #[inline(always)]
    pub fn process_block<T, F>(
        &mut self,
        stft: &mut Stft<T>,
        input: &[S],
        output: &mut [S],
        on_frame: &mut F,
    ) where
        T: Transform<Sample = S>,
        F: FnMut(&mut [Complex32]),
    {
        assert_eq!(input.len(), output.len(), "input and output lengths differ");
        let n = stft.cfg.frame_len;
        let h = stft.cfg.hop;
        let mut i = 0;
        while i < input.len() {
            let p = self.pos;
            let take = (h - p).min(input.len() - i);
            let at = self.off + n - h + p;
            self.inp[at..at + take].copy_from_slice(&input[i..i + take]);
            if p + take < h {
                output[i..i + take].copy_from_slice(&self.ready[p + 1..p + take + 1]);
                self.pos = p + take;
            } else {
                // The last sample of the hop completes a frame and returns its first output.
                output[i..i + take - 1].copy_from_slice(&self.ready[p + 1..h]);
                self.pos = 0;
                stft.run_frame(self, on_frame);
                output[i + take - 1] = self.ready[0];
            }
            i += take;
        }
    }

    /// Forget all history (as if newly created).
    pub fn reset(&mut self) {
        self.inp.fill(S::default());
        self.off = 0;
        self.acc.fill(S::default());
        self.acc_off = 0;
        self.ready.fill(S::default());
        self.pos = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The buffers' slack only changes when they slide: with none (sliding every hop, as
    /// frames above `MAX_SLACK` do) and with the default, a masked stream is the same bit for
    /// bit, real and complex, symmetric and low-delay, in chunks of every size.
    #[test]
    fn sliding_every_hop_or_once_per_slack_gives_the_same_output() {
        let configs = [
            cfg(64, 32, 64, WindowKind::Hann),
            cfg(100, 7, 128, WindowKind::SqrtHann),
            StftConfig {
                frame_len: 96,
                synth_len: 32,
                hop: 16,
                fft_len: 128,
                window: WindowKind::SqrtHann,
            },
        ];
        for c in configs {
            let mask = |spec: &mut [Complex32]| {
                for (k, x) in spec.iter_mut().enumerate() {
                    *x = x.scale(0.2 + (k % 5) as f32 * 0.2);
                }
            };
            let x = noise(3000, 5);
            for chunk in [1usize, 13, 64, 3000] {
                let mut real = RealStft::new_real(c).unwrap();
                let (mut a, mut b) = (real.channel(), real.channel_with_slack(0));
                let (mut ya, mut yb) = (vec![0.0f32; x.len()], vec![0.0f32; x.len()]);
                for ((xc, ac), bc) in x
                    .chunks(chunk)
                    .zip(ya.chunks_mut(chunk))
                    .zip(yb.chunks_mut(chunk))
                {
                    a.process_block(&mut real, xc, ac, &mut { mask });
                    b.process_block(&mut real, xc, bc, &mut { mask });
                }
                let bits = |v: &[f32]| v.iter().map(|s| s.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&ya), bits(&yb), "real {c:?}, chunk {chunk}");
                let z: Vec<Complex32> = x.chunks(2).map(|p| Complex32::new(p[0], p[1])).collect();
                let mut cx = ComplexStft::new_complex(c).unwrap();
                let (mut a, mut b) = (cx.channel(), cx.channel_with_slack(0));
                let (mut za, mut zb) = (
                    vec![Complex32::default(); z.len()],
                    vec![Complex32::default(); z.len()],
                );
                for ((zc, ac), bc) in z
                    .chunks(chunk)
                    .zip(za.chunks_mut(chunk))
                    .zip(zb.chunks_mut(chunk))
                {
                    a.process_block(&mut cx, zc, ac, &mut { mask });
                    b.process_block(&mut cx, zc, bc, &mut { mask });
                }
                let cbits = |v: &[Complex32]| {
                    v.iter()
                        .map(|s| (s.re.to_bits(), s.im.to_bits()))
                        .collect::<Vec<_>>()
                };
                assert_eq!(cbits(&za), cbits(&zb), "complex {c:?}, chunk {chunk}");
            }
        }
    }

    #[test]
    fn frames_above_the_slack_limit_get_none() {
        let small = cfg(4096, 2048, 4096, WindowKind::Hann);
        assert_eq!(small.stream_slack(), 4096);
        let big = cfg(1 << 17, 1 << 16, 1 << 17, WindowKind::Hann);
        assert_eq!(big.stream_slack(), 0);
    }

    fn noise(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    fn cfg(n: usize, h: usize, m: usize, w: WindowKind) -> StftConfig {
        StftConfig {
            frame_len: n,
            synth_len: n,
            hop: h,
            fft_len: m,
            window: w,
        }
    }

    #[test]
    fn identity_mask_reconstructs_real_input_delayed_by_latency() {
        for w in [
            WindowKind::SqrtHann,
            WindowKind::Hann,
            WindowKind::Hamming,
            WindowKind::BlackmanHarris,
        ] {
            for (n, h, m) in [(64, 32, 64), (64, 16, 128), (100, 25, 100), (37, 9, 40)] {
                let c = cfg(n, h, m, w);
                if c.validate().is_err() {
                    continue;
                }
                let mut stft = RealStft::new_real(c).unwrap();
                let mut ch = stft.channel();
                let x = noise(2000, 1);
                let mut y = Vec::new();
                ch.process(&mut stft, x.iter().copied(), |v| y.push(v), |_| {});
                let l = c.latency_samples();
                assert!(y[..l].iter().all(|v| v.abs() < 1e-6));
                let err = x[..x.len() - l]
                    .iter()
                    .zip(&y[l..])
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f32::max);
                assert!(err < 1e-5, "{w} {n}/{h}/{m}: {err}");
            }
        }
    }

    #[test]
    fn identity_mask_reconstructs_complex_input_delayed_by_latency() {
        let c = cfg(48, 12, 64, WindowKind::Hann);
        let mut stft = ComplexStft::new_complex(c).unwrap();
        let mut ch = stft.channel();
        let re = noise(1000, 2);
        let im = noise(1000, 3);
        let x: Vec<Complex32> = re
            .iter()
            .zip(&im)
            .map(|(a, b)| Complex32::new(*a, *b))
            .collect();
        let mut y = Vec::new();
        ch.process(&mut stft, x.iter().copied(), |v| y.push(v), |_| {});
        let l = c.latency_samples();
        for (a, b) in x.iter().zip(&y[l..]) {
            assert!((a - b).norm() < 1e-5);
        }
    }

    #[test]
    fn nola_violation_is_refused_with_the_numbers() {
        let e = cfg(64, 64, 64, WindowKind::SqrtHann)
            .validate()
            .unwrap_err();
        let msg = e.to_string();
        assert!(
            matches!(
                e,
                StftError::Nola {
                    hop: 64,
                    frame_len: 64,
                    ..
                }
            ),
            "{msg}"
        );
        assert!(msg.contains("frame 64") && msg.contains("hop 64"), "{msg}");
        assert!(cfg(64, 65, 64, WindowKind::Hann).validate().is_err());
        assert!(cfg(64, 32, 32, WindowKind::Hann).validate().is_err());
    }

    #[test]
    fn block_processing_is_bit_identical_to_sample_by_sample() {
        for (n, h, m) in [(64, 32, 64), (37, 9, 40), (100, 100, 128), (2, 1, 2)] {
            let c = cfg(n, h, m, WindowKind::Hamming);
            let mut stft = RealStft::new_real(c).unwrap();
            // A mask that changes every frame, so frame timing matters.
            let mask = |frame: &mut u32| {
                *frame += 1;
                let g = 1.0 / *frame as f32;
                move |s: &mut [Complex32]| s.iter_mut().for_each(|v| *v = v.scale(g))
            };
            let x = noise(1500, 5);
            let mut one = stft.channel();
            let mut frames = 0u32;
            let mut y1 = Vec::new();
            for v in &x {
                let mut f = |s: &mut [Complex32]| mask(&mut frames)(s);
                y1.push(one.push(&mut stft, *v, &mut f));
            }
            let mut blk = stft.channel();
            let mut frames = 0u32;
            let mut y2 = vec![f32::NAN; x.len()];
            let mut f = |s: &mut [Complex32]| mask(&mut frames)(s);
            let (mut i, mut size) = (0, 0);
            while i < x.len() {
                size = size % 97 + 1; // 1, 2, … 97, 1, 2, …: every phase of every hop
                let e = (i + size).min(x.len());
                blk.process_block(&mut stft, &x[i..e], &mut y2[i..e], &mut f);
                i = e;
            }
            let same = y1.iter().zip(&y2).all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "{n}/{h}/{m}");
        }
    }

    fn low_delay(n: usize, s: usize, h: usize, m: usize) -> StftConfig {
        StftConfig {
            synth_len: s,
            ..cfg(n, h, m, WindowKind::SqrtHann)
        }
    }

    #[test]
    fn asymmetric_windows_reconstruct_delayed_by_the_synthesis_length_minus_one() {
        for (n, s, h, m) in [
            (960, 144, 72, 960),
            (960, 480, 240, 1024),
            (160, 24, 12, 160),
            (441, 97, 31, 512),
            (300, 40, 10, 300),
            (64, 2, 1, 64),
        ] {
            let c = low_delay(n, s, h, m);
            c.validate().unwrap();
            assert_eq!(c.latency_samples(), s - 1);
            let mut stft = RealStft::new_real(c).unwrap();
            let mut ch = stft.channel();
            let x = noise(4000, 9);
            let mut y = Vec::new();
            ch.process(&mut stft, x.iter().copied(), |v| y.push(v), |_| {});
            let l = s - 1;
            assert!(y[..l].iter().all(|v| v.abs() < 1e-6), "{n}/{s}/{h}");
            let err = x[..x.len() - l]
                .iter()
                .zip(&y[l..])
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(err < 1e-5, "{n}/{s}/{h}/{m}: {err}");
        }
    }

    #[test]
    fn asymmetric_geometries_that_cannot_work_are_refused() {
        // Hop longer than the synthesis window: gaps in the output.
        assert!(matches!(
            low_delay(960, 100, 120, 960).validate(),
            Err(StftError::BadSynthLen { .. })
        ));
        // A synthesis window longer than the frame, or of one sample.
        assert!(low_delay(64, 65, 8, 64).validate().is_err());
        assert!(low_delay(64, 1, 1, 64).validate().is_err());
        // Only the sqrt-Hann pair is defined for asymmetric windows.
        let c = StftConfig {
            window: WindowKind::Hann,
            ..low_delay(960, 144, 72, 960)
        };
        let msg = c.validate().unwrap_err().to_string();
        assert!(msg.contains("hann") && msg.contains("144"), "{msg}");
        // Hop = synthesis length: the product window is zero at each hop's first sample.
        assert!(matches!(
            low_delay(960, 144, 144, 960).validate(),
            Err(StftError::Nola { .. })
        ));
    }

    #[test]
    fn asymmetric_block_processing_is_bit_identical_to_sample_by_sample() {
        let c = low_delay(300, 48, 24, 320);
        let mut stft = RealStft::new_real(c).unwrap();
        let x = noise(3000, 6);
        let mut frame = 0u32;
        let mut f = |s: &mut [Complex32]| {
            frame += 1;
            let g = 1.0 / (1 + frame % 7) as f32;
            s.iter_mut().for_each(|v| *v = v.scale(g));
        };
        let mut one = stft.channel();
        let y1: Vec<f32> = x.iter().map(|v| one.push(&mut stft, *v, &mut f)).collect();
        frame = 0;
        let mut f = |s: &mut [Complex32]| {
            frame += 1;
            let g = 1.0 / (1 + frame % 7) as f32;
            s.iter_mut().for_each(|v| *v = v.scale(g));
        };
        let mut blk = stft.channel();
        let mut y2 = vec![f32::NAN; x.len()];
        let (mut i, mut size) = (0, 0);
        while i < x.len() {
            size = size % 53 + 1;
            let e = (i + size).min(x.len());
            blk.process_block(&mut stft, &x[i..e], &mut y2[i..e], &mut f);
            i = e;
        }
        assert!(y1.iter().zip(&y2).all(|(a, b)| a.to_bits() == b.to_bits()));
    }

    #[test]
    fn zero_mask_gives_silence() {
        let c = cfg(64, 16, 64, WindowKind::Hann);
        let mut stft = RealStft::new_real(c).unwrap();
        let mut ch = stft.channel();
        let x = noise(1000, 4);
        let mut y = Vec::new();
        ch.process(
            &mut stft,
            x.iter().copied(),
            |v| y.push(v),
            |s| s.fill(Complex32::default()),
        );
        assert!(y.iter().all(|v| *v == 0.0));
    }
}
