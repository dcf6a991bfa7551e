//! Filtering IQ recordings as one complex signal, streamed in constant memory.
//!
//! Noise floor (why not the engine's blind tracker): a wide IQ recording holds steady carriers
//! that last longer than any minimum-search window, a DC spike at the centre and the anti-alias
//! roll-off at both band edges. Blind per-bin tracking would learn steady carriers as noise. The
//! floor here is estimated once from the long-term mean power per bin (Welch average over
//! segments spread across the file), made robust across frequency: each bin's floor is the
//! smaller of its own mean and the median of its neighbours within ±1/32 of the band, with the DC
//! bins excluded from every median. Narrow carriers, bursty emitters and the DC spike do not lift
//! the floor; the roll-off is followed because a bin's own (low) mean wins there. The DC spike
//! itself is treated as signal and left in the output (it is part of the recording).
//!
//! Sub-band (`--band -50k:+120k`, relative to the centre): bins outside get a floor of ~0
//! (gate open: passed through) or a huge floor (closed: attenuated by the full `reduction_db`).
//!
//! Output timing: files and pipes come back time-aligned with the input and of the same length
//! (the engine's latency is trimmed at the start and flushed with zeros at the end).
//! With `bypass = true` the sample bytes are copied unchanged.

use super::iq::{probe, Container, IqMeta, Probe, RawIq};
use super::riff::{self, RiffWriter, SampleFormat, WavFmt};
use super::sigmf::{self, DataType};
use crate::engine::{Engine, SignalKind};
use crate::params::Params;
use anyhow::{bail, Context};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// What to do outside `--band`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Outside {
    /// Leave it as it is.
    #[default]
    Pass,
    /// Attenuate it by the full reduction.
    Blank,
}

/// A frequency range relative to the centre, Hz (lo < hi).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band {
    pub lo_hz: f64,
    pub hi_hz: f64,
}

impl std::str::FromStr for Band {
    type Err = String;
    /// `-50k:+120k`, `-1.2M:0`, `100:3000` (Hz, k, M suffixes).
    fn from_str(s: &str) -> Result<Band, String> {
        let (a, b) = s
            .split_once(':')
            .ok_or_else(|| format!("band '{s}': expected LOW:HIGH, e.g. -50k:+120k"))?;
        let f = |t: &str| -> Result<f64, String> {
            let t = t.trim();
            let (num, mul) = match t.chars().last() {
                Some('k' | 'K') => (&t[..t.len() - 1], 1e3),
                Some('M' | 'm') => (&t[..t.len() - 1], 1e6),
                _ => (t, 1.0),
            };
            num.trim_start_matches('+')
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .map(|v| v * mul)
                .ok_or_else(|| format!("band '{s}': '{t}' is not a frequency"))
        };
        let (lo, hi) = (f(a)?, f(b)?);
        if lo >= hi {
            return Err(format!("band '{s}': low edge must be below the high edge"));
        }
        Ok(Band {
            lo_hz: lo,
            hi_hz: hi,
        })
    }
}

/// IQ-specific options (the filter parameters come from [`Params`]).
#[derive(Debug, Clone)]
pub struct IqOptions {
    /// `--iq` / `--no-iq`; `None` = detect. Filtering a file that is not IQ is an error here.
    pub force_iq: Option<bool>,
    /// Gate only this sub-band.
    pub band: Option<Band>,
    pub outside: Outside,
    /// Raw input format and rate when the file has no header.
    pub raw_format: Option<RawIq>,
    pub raw_rate: Option<u32>,
    /// Always write RF64 (otherwise only above 4 GiB).
    pub force_rf64: bool,
    /// Seconds of input (spread over the file) analysed for the noise floor; 0 = blind tracking.
    pub profile_s: f64,
    /// Half-width around 0 Hz excluded from the floor estimate, Hz (at least 2 bins).
    pub dc_hz: f64,
}

impl Default for IqOptions {
    fn default() -> Self {
        IqOptions {
            force_iq: None,
            band: None,
            outside: Outside::Pass,
            raw_format: None,
            raw_rate: None,
            force_rf64: false,
            profile_s: 1.0,
            dc_hz: 1000.0,
        }
    }
}

/// The IQ flags of `specgate filter`, ready to `#[command(flatten)]`.
#[cfg(feature = "cli")]
#[derive(Debug, Clone, Default, clap::Args)]
pub struct IqFlags {
    /// Treat the input as IQ (I/Q pairs → one complex signal) whatever the detection says.
    #[arg(long, conflicts_with = "no_iq", help_heading = "IQ recordings")]
    pub iq: bool,
    /// Treat the input as audio even if it looks like an IQ recording.
    #[arg(long, help_heading = "IQ recordings")]
    pub no_iq: bool,
    /// Gate only this band relative to the centre, e.g. -50k:+120k.
    #[arg(long, allow_hyphen_values = true, help_heading = "IQ recordings")]
    pub band: Option<Band>,
    /// Outside --band: pass (unchanged) or blank (full reduction).
    #[arg(long, default_value = "pass", value_parser = ["pass", "blank"], help_heading = "IQ recordings")]
    pub outside: String,
    /// Always write RF64 (otherwise only when the data exceeds 4 GiB).
    #[arg(long, help_heading = "IQ recordings")]
    pub rf64: bool,
    /// Seconds of the recording analysed for the noise floor (0 = blind tracking).
    #[arg(long, default_value_t = 1.0, help_heading = "IQ recordings")]
    pub profile_s: f64,
}

#[cfg(feature = "cli")]
impl IqFlags {
    /// `Some(true)` for --iq, `Some(false)` for --no-iq.
    pub fn force(&self) -> Option<bool> {
        match (self.iq, self.no_iq) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        }
    }
    /// The options for [`filter_iq_file`] / [`filter_iq_stream`].
    pub fn to_options(&self) -> IqOptions {
        IqOptions {
            force_iq: self.force(),
            band: self.band,
            outside: if self.outside == "blank" {
                Outside::Blank
            } else {
                Outside::Pass
            },
            force_rf64: self.rf64,
            profile_s: self.profile_s.clamp(0.0, 60.0),
            ..IqOptions::default()
        }
    }
}

/// What was done.
#[derive(Debug, Clone)]
pub struct IqSummary {
    pub format: String,
    pub rate: u32,
    /// Complex samples (per I/Q pair) written.
    pub frames: u64,
    pub latency_samples: usize,
    pub attenuation_db: f64,
    pub rf64: bool,
    pub meta: IqMeta,
    pub warnings: Vec<String>,
}

/// Sample codec of a container.
#[derive(Debug, Clone, Copy)]
enum Codec {
    Wav(SampleFormat),
    Raw(RawIq),
    Sigmf(DataType),
}

impl Codec {
    fn bytes(self) -> usize {
        match self {
            Codec::Wav(s) => s.bytes(),
            Codec::Raw(r) => r.bytes(),
            Codec::Sigmf(d) => d.bytes(),
        }
    }
    fn decode(self, b: &[u8], out: &mut [f32]) {
        match self {
            Codec::Wav(s) => s.decode(b, out),
            Codec::Raw(r) => r.decode(b, out),
            Codec::Sigmf(d) => d.decode(b, out),
        }
    }
    fn encode(self, x: &[f32], b: &mut [u8]) {
        match self {
            Codec::Wav(s) => s.encode(x, b),
            Codec::Raw(r) => r.encode(x, b),
            Codec::Sigmf(d) => d.encode(x, b),
        }
    }
}

/// A byte range of a file holding interleaved samples.
struct DataSpec {
    path: PathBuf,
    offset: u64,
    len: u64,
    codec: Codec,
    channels: usize,
}

impl DataSpec {
    fn frame_bytes(&self) -> usize {
        self.codec.bytes() * self.channels
    }
    fn frames(&self) -> u64 {
        self.len / self.frame_bytes() as u64
    }
    /// Reads `n` frames starting at frame `start` (for the floor estimate).
    fn read_frames(&self, start: u64, n: usize) -> io::Result<Vec<f32>> {
        let mut f = File::open(&self.path)?;
        f.seek(SeekFrom::Start(
            self.offset + start * self.frame_bytes() as u64,
        ))?;
        let mut b = vec![0u8; n * self.frame_bytes()];
        let got = read_full(&mut f, &mut b)?;
        let whole = got - got % self.frame_bytes();
        let mut x = vec![0.0; whole / self.codec.bytes()];
        self.codec.decode(&b[..whole], &mut x);
        Ok(x)
    }
}

fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Mean power per bin → robust noise floor (see the module doc). `mean` is in FFT order.
pub fn robust_floor(mean: &[f32], rate: u32, dc_hz: f64) -> Vec<f32> {
    let n = mean.len();
    if n < 8 {
        return mean.to_vec();
    }
    let bin_hz = rate as f64 / n as f64;
    let dc_bins = ((dc_hz / bin_hz).ceil() as usize).max(2);
    let freq_bin = |b: usize| {
        if b < n.div_ceil(2) {
            b as isize
        } else {
            b as isize - n as isize
        }
    };
    // Shifted order: position p holds bin (p + ⌈n/2⌉) mod n, i.e. −fs/2 … +fs/2.
    let shift = n / 2;
    let bin_of = |p: usize| (p + shift) % n;
    let vals: Vec<f32> = (0..n).map(|p| mean[bin_of(p)]).collect();
    let is_dc: Vec<bool> = (0..n)
        .map(|p| freq_bin(bin_of(p)).unsigned_abs() <= dc_bins)
        .collect();
    let w = (n / 32).max(4);
    let mut scratch = Vec::with_capacity(2 * w + 1);
    let mut out = vec![0.0f32; n];
    for p in 0..n {
        scratch.clear();
        let lo = p.saturating_sub(w);
        let hi = (p + w).min(n - 1);
        scratch.extend((lo..=hi).filter(|&q| !is_dc[q]).map(|q| vals[q]));
        let med = if scratch.is_empty() {
            vals[p]
        } else {
            let m = scratch.len() / 2;
            *scratch.select_nth_unstable_by(m, |a, b| a.total_cmp(b)).1
        };
        let own = vals[p];
        let floor = if is_dc[p] { med } else { own.min(med) };
        out[bin_of(p)] = floor.max(1e-30);
    }
    out
}

/// Applies a sub-band to a floor: outside bins get ~0 (pass) or a huge floor (blank).
pub fn apply_band(floor: &mut [f32], rate: u32, band: Band, outside: Outside) {
    let n = floor.len();
    let bin_hz = rate as f64 / n as f64;
    for (b, v) in floor.iter_mut().enumerate() {
        let f = if b < n.div_ceil(2) {
            b as f64
        } else {
            b as f64 - n as f64
        } * bin_hz;
        if f < band.lo_hz || f > band.hi_hz {
            *v = match outside {
                Outside::Pass => 1e-30,
                Outside::Blank => 1e30,
            };
        }
    }
}

/// Mean power per bin (FFT order) of interleaved I/Q clips, analysed exactly as the engine
/// analyses a frame (its geometry, analysis window and unnormalised forward FFT, so the units
/// match [`Engine::set_noise_profile`]), frames hopping by the engine's hop, all I/Q pairs pooled.
/// Forward transforms only: about a third of the cost of running the engine. `None` when no clip
/// holds a whole frame.
pub fn welch_mean(
    params: &Params,
    rate: u32,
    channels: usize,
    segments: &[Vec<f32>],
) -> anyhow::Result<Option<Vec<f32>>> {
    use crate::dsp::stft::{ComplexStft, ComplexTransform, Transform};
    use num_complex::Complex32;
    let cfg = crate::engine::stft_config(params, rate);
    cfg.validate()?;
    let win = ComplexStft::new_complex(cfg)?.analysis_window().to_vec();
    let mut fft = ComplexTransform::new(cfg.fft_len);
    let mut time = vec![Complex32::default(); cfg.fft_len];
    let mut spec = vec![Complex32::default(); cfg.fft_len];
    let mut acc = vec![0.0f64; cfg.fft_len];
    let mut frames = 0u64;
    let pairs = channels / 2;
    for s in segments {
        let n = s.len() / channels;
        let mut start = 0;
        while start + cfg.frame_len <= n {
            for c in 0..pairs {
                for (k, t) in time[..cfg.frame_len].iter_mut().enumerate() {
                    let i = (start + k) * channels + 2 * c;
                    let (re, im) = (s[i], s[i + 1]);
                    let ok = |v: f32| v.abs() <= crate::engine::ABSURD_LEVEL;
                    let (re, im) = if ok(re) && ok(im) {
                        (re, im)
                    } else {
                        (0.0, 0.0)
                    };
                    *t = Complex32::new(re, im) * win[k];
                }
                time[cfg.frame_len..].fill(Complex32::default());
                fft.forward(&mut time, &mut spec);
                for (a, x) in acc.iter_mut().zip(&spec) {
                    *a += x.norm_sqr() as f64;
                }
                frames += 1;
            }
            start += cfg.hop;
        }
    }
    Ok((frames > 0).then(|| acc.iter().map(|a| (a / frames as f64) as f32).collect()))
}

/// The gate's noise floor for a recording, from `segments` clips (interleaved I/Q): the Welch
/// mean made robust across frequency ([`robust_floor`]).
pub fn estimate_floor(
    params: &Params,
    rate: u32,
    channels: usize,
    segments: &[Vec<f32>],
    dc_hz: f64,
) -> anyhow::Result<Option<Vec<f32>>> {
    Ok(welch_mean(params, rate, channels, segments)?.map(|m| robust_floor(&m, rate, dc_hz)))
}

/// Builds the complex engine with the IQ floor.
fn build_engine(
    params: &Params,
    rate: u32,
    channels: usize,
    floor: Option<Vec<f32>>,
    opts: &IqOptions,
    warnings: &mut Vec<String>,
) -> anyhow::Result<Engine> {
    let mut e = Engine::new(params, rate, channels, SignalKind::Complex)?;
    match floor {
        Some(mut f) => {
            if let Some(b) = opts.band {
                apply_band(&mut f, rate, b, opts.outside);
            }
            e.set_noise_profile(&f)?;
        }
        None => {
            if opts.band.is_some() {
                warnings.push("--band needs a noise-floor estimate (profile); ignored".into());
            }
        }
    }
    Ok(e)
}

/// Pre-roll length in frames: long enough for the gain smoothing to settle from its start state
/// (gain 1, i.e. open) and for a few frames of history; at most 0.25 s.
fn preroll_frames(engine: &Engine) -> usize {
    let cfg = engine.stft_config();
    let release = engine.params().release_ms.max(engine.params().attack_ms) / 1000.0;
    let settle = (5.0 * release * engine.rate() as f64) as usize;
    (4 * cfg.frame_len + settle).min(engine.rate() as usize / 4)
}

/// The first frames of `x` (interleaved I/Q pairs) mirrored in time and conjugated: the
/// continuation of the signal backwards in time that keeps every carrier at its frequency and
/// phase-continuous into sample 0. Fed before the real input, it lets the engine start in its
/// steady state instead of passing the first ~release time of noise unattenuated.
fn mirrored_preroll(x: &[f32], channels: usize, frames: usize) -> Vec<f32> {
    let k = frames.min(x.len() / channels);
    let mut p = Vec::with_capacity(k * channels);
    for t in (0..k).rev() {
        let f = &x[t * channels..(t + 1) * channels];
        for pair in f.chunks_exact(2) {
            p.push(pair[0]);
            p.push(-pair[1]);
        }
    }
    p
}

/// Streams `preroll` (output discarded), then `src` → engine → `sink`, time-aligned (output as
/// long as the input). `src` fills a buffer with interleaved samples and returns how many (0 =
/// end).
fn run_aligned(
    engine: &mut Engine,
    preroll: &[f32],
    mut src: impl FnMut(&mut [f32]) -> io::Result<usize>,
    mut sink: impl FnMut(&[f32]) -> io::Result<()>,
) -> io::Result<u64> {
    let ch = engine.channels();
    let block = 65536 * ch;
    let mut inb = vec![0.0f32; block];
    let mut outb = vec![0.0f32; block];
    let mut skip = engine.latency_samples() * ch + preroll.len();
    let mut total = 0u64;
    let mut emit = |out: &[f32], skip: &mut usize| -> io::Result<()> {
        if *skip >= out.len() {
            *skip -= out.len();
            Ok(())
        } else {
            let r = sink(&out[*skip..]);
            *skip = 0;
            r
        }
    };
    for p in preroll.chunks(block) {
        engine.process(p, &mut outb[..p.len()]);
        skip -= p.len();
    }
    // The preroll is a warm-up: its samples are counted (replaced, attenuation) in the pass.
    engine.reset_stats();
    loop {
        let n = src(&mut inb)?;
        if n == 0 {
            break;
        }
        let n = n - n % ch;
        engine.process(&inb[..n], &mut outb[..n]);
        emit(&outb[..n], &mut skip)?;
        total += n as u64;
    }
    // Flush the latency with zeros; `skip` makes the output exactly as long as the input.
    let mut skip_left = skip;
    inb.fill(0.0);
    let mut flushed = 0u64;
    let lat = (engine.latency_samples() * ch) as u64;
    while flushed < lat {
        let n = ((lat - flushed) as usize).min(block);
        engine.process(&inb[..n], &mut outb[..n]);
        emit(&outb[..n], &mut skip_left)?;
        flushed += n as u64;
    }
    Ok(total / ch as u64)
}

/// The end-of-run warning for input samples the engine replaced by zeros.
fn replaced_warning(s: &crate::engine::EngineStats) -> Option<String> {
    (s.replaced() > 0).then(|| {
        format!(
            "{} NaN/Inf and {} absurd (beyond ±{}) I/Q samples were replaced by zeros",
            s.nonfinite,
            s.absurd,
            crate::engine::ABSURD_LEVEL
        )
    })
}

/// A temporary file next to `target`, renamed over it on success.
struct TempOut {
    tmp: PathBuf,
    target: PathBuf,
    done: bool,
}

impl TempOut {
    fn new(target: &Path) -> TempOut {
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "out".into());
        let tmp = target.with_file_name(format!(".{name}.specgate-{}.tmp", std::process::id()));
        crate::cancel::TempRegistry::global().register(&tmp);
        TempOut {
            tmp,
            target: target.to_path_buf(),
            done: false,
        }
    }
    fn commit(mut self) -> io::Result<()> {
        crate::cancel::TempRegistry::global()
            .settle(&self.tmp, || std::fs::rename(&self.tmp, &self.target))?;
        self.done = true;
        Ok(())
    }
}

impl Drop for TempOut {
    fn drop(&mut self) {
        if !self.done {
            crate::cancel::TempRegistry::global()
                .settle(&self.tmp, || std::fs::remove_file(&self.tmp).ok());
        }
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

fn is_sigmf(p: &Path) -> bool {
    let s = p.to_string_lossy();
    s.ends_with(".sigmf-meta") || s.ends_with(".sigmf-data") || s.ends_with(".sigmf")
}

/// Filters an IQ recording file to `output` in constant memory. The output container follows
/// the input's (WAV/RF64 with every chunk kept, SigMF with a processing record, or raw with the
/// same format); an output name ending in `.sigmf-meta`/`.sigmf-data` on a non-SigMF input writes
/// SigMF instead.
pub fn filter_iq_file(
    input: &Path,
    output: &Path,
    params: &Params,
    opts: &IqOptions,
) -> anyhow::Result<IqSummary> {
    let mut pr: Probe = match probe(input, opts.force_iq) {
        Ok(p) => p,
        Err(e) => match opts.raw_format {
            Some(r) => raw_probe(input, r)?,
            None => return Err(e),
        },
    };
    if let (Container::Raw(_), Some(r)) = (&pr.container, opts.raw_format) {
        pr.container = Container::Raw(r);
    }
    if !pr.detection.is_iq {
        bail!(
            "{} is not treated as IQ ({}); use --iq to force it",
            input.display(),
            pr.detection.reason
        );
    }
    let rate = opts
        .raw_rate
        .filter(|_| matches!(pr.container, Container::Raw(_)))
        .or(pr.rate)
        .ok_or_else(|| anyhow::anyhow!("{}: unknown sample rate (use --rate)", input.display()))?;
    let out_sigmf = is_sigmf(output);
    let (out_meta, out_data) = if out_sigmf {
        sigmf::pair(output)
    } else {
        (PathBuf::new(), output.to_path_buf())
    };
    let spec = match &pr.container {
        Container::Wav(l) => DataSpec {
            path: input.to_path_buf(),
            offset: l.data_offset,
            len: l.data_len,
            codec: Codec::Wav(l.fmt.sample),
            channels: l.fmt.channels as usize,
        },
        Container::Sigmf(s) => DataSpec {
            path: s.data_path.clone(),
            offset: 0,
            len: s.data_len,
            codec: Codec::Sigmf(s.datatype),
            channels: 2,
        },
        Container::Raw(r) => DataSpec {
            path: input.to_path_buf(),
            offset: 0,
            len: std::fs::metadata(input)?.len() / (2 * r.bytes() as u64) * (2 * r.bytes() as u64),
            codec: Codec::Raw(*r),
            channels: 2,
        },
    };
    for o in [&out_data, &out_meta] {
        if !o.as_os_str().is_empty()
            && (same_file(&spec.path, o)
                || same_file(input, o)
                || matches!(&pr.container, Container::Sigmf(s) if same_file(&s.meta_path, o)))
        {
            bail!("output {} would overwrite the input", o.display());
        }
    }
    if spec.channels % 2 != 0 {
        bail!(
            "IQ needs an even channel count (I/Q pairs); {} has {}",
            input.display(),
            spec.channels
        );
    }
    let mut warnings = pr.warnings.clone();
    // Output codec: same as the input, except SigMF output from another container.
    let out_codec = if out_sigmf && !matches!(pr.container, Container::Sigmf(_)) {
        Codec::Sigmf(sigmf_type_for(spec.codec))
    } else {
        spec.codec
    };
    let frames = spec.frames();
    let mut engine = if params.bypass {
        None
    } else {
        // Floor from up to 8 segments spread over the file.
        let floor = if opts.profile_s > 0.0 {
            let k = 8u64;
            let seg = ((opts.profile_s * rate as f64) as u64 / k)
                .max(1)
                .min(frames / k.max(1));
            let seg = if seg == 0 { frames } else { seg };
            let mut segs = Vec::new();
            for i in 0..k {
                let start = if k > 1 {
                    i * (frames - seg.min(frames)) / (k - 1)
                } else {
                    0
                };
                segs.push(spec.read_frames(start, seg as usize)?);
                if seg == frames {
                    break;
                }
            }
            estimate_floor(params, rate, spec.channels, &segs, opts.dc_hz)?
        } else {
            None
        };
        Some(build_engine(
            params,
            rate,
            spec.channels,
            floor,
            opts,
            &mut warnings,
        )?)
    };

    let data_tmp = TempOut::new(&out_data);
    let file = File::create(&data_tmp.tmp)
        .with_context(|| format!("cannot create {}", data_tmp.tmp.display()))?;
    let mut rf64 = false;
    let out_len = frames * (out_codec.bytes() * spec.channels) as u64;
    // Data writer: WAV (header + chunks) or headerless.
    enum Out {
        Wav(Box<RiffWriter<BufWriter<File>>>),
        Plain(BufWriter<File>),
    }
    let mut out = match (&pr.container, out_codec) {
        (Container::Wav(l), Codec::Wav(_)) => {
            let w = RiffWriter::new(
                BufWriter::with_capacity(1 << 20, file),
                &l.before_data,
                &l.after_data,
                spec.frame_bytes(),
                out_len,
                opts.force_rf64,
            )?;
            rf64 = w.form() == riff::Form::Rf64;
            Out::Wav(Box::new(w))
        }
        (_, Codec::Wav(sf)) => {
            let fmt = WavFmt {
                tag: 1,
                channels: spec.channels as u16,
                rate,
                bits: sf.bytes() as u16 * 8,
                block_align: (sf.bytes() * spec.channels) as u16,
                sample: sf,
            };
            let w = RiffWriter::new(
                BufWriter::with_capacity(1 << 20, file),
                &[fmt.to_chunk()],
                &[],
                spec.frame_bytes(),
                out_len,
                opts.force_rf64,
            )?;
            rf64 = w.form() == riff::Form::Rf64;
            Out::Wav(Box::new(w))
        }
        _ => Out::Plain(BufWriter::with_capacity(1 << 20, file)),
    };
    let mut write_bytes = |b: &[u8]| -> io::Result<()> {
        match &mut out {
            Out::Wav(w) => w.write_data(b),
            Out::Plain(w) => w.write_all(b),
        }
    };

    let mut inf = BufReader::with_capacity(1 << 20, File::open(&spec.path)?);
    inf.seek(SeekFrom::Start(spec.offset))?;
    let mut remaining = spec.len;
    let in_bytes = spec.codec.bytes();
    let mut raw = Vec::new();
    let mut enc = Vec::new();
    let attenuation_db;
    let latency;
    let written;
    if let Some(engine) = engine.as_mut() {
        latency = engine.latency_samples();
        let k = preroll_frames(engine);
        let pre = mirrored_preroll(&spec.read_frames(0, k)?, spec.channels, k);
        written = run_aligned(
            engine,
            &pre,
            |buf: &mut [f32]| {
                let want = ((buf.len() * in_bytes) as u64).min(remaining) as usize;
                raw.resize(want, 0);
                let got = read_full(&mut inf, &mut raw)?;
                remaining = if got < want {
                    0
                } else {
                    remaining - got as u64
                };
                let n = got / in_bytes;
                spec.codec.decode(&raw[..n * in_bytes], &mut buf[..n]);
                Ok(n)
            },
            |x: &[f32]| {
                enc.resize(x.len() * out_codec.bytes(), 0);
                out_codec.encode(x, &mut enc);
                write_bytes(&enc)
            },
        )?;
        attenuation_db = engine.stats().attenuation_db();
        warnings.extend(replaced_warning(&engine.stats()));
    } else {
        // Bypass: the bytes themselves (re-encoded only when the codec changes).
        latency = 0;
        attenuation_db = 0.0;
        let mut buf = vec![0u8; 1 << 20];
        let mut x = Vec::new();
        while remaining > 0 {
            let want = (buf.len() as u64).min(remaining) as usize;
            let got = read_full(&mut inf, &mut buf[..want])?;
            if got == 0 {
                break;
            }
            remaining -= got as u64;
            let got = got - got % in_bytes;
            if std::mem::discriminant(&spec.codec) == std::mem::discriminant(&out_codec)
                && spec.codec.bytes() == out_codec.bytes()
            {
                write_bytes(&buf[..got])?;
            } else {
                x.resize(got / in_bytes, 0.0);
                spec.codec.decode(&buf[..got], &mut x);
                enc.resize(x.len() * out_codec.bytes(), 0);
                out_codec.encode(&x, &mut enc);
                write_bytes(&enc)?;
            }
        }
        written = frames;
    }
    match out {
        Out::Wav(w) => {
            w.finish()?.flush()?;
        }
        Out::Plain(mut w) => w.flush()?,
    }
    let meta_tmp = if out_sigmf {
        let original = match &pr.container {
            Container::Sigmf(s) => s.meta.clone(),
            _ => new_sigmf_meta(out_codec, rate, &pr.detection.meta),
        };
        let record = serde_json::json!({
            "tool": format!("specgate {}", env!("CARGO_PKG_VERSION")),
            "input": input.file_name().map(|n| n.to_string_lossy().into_owned()),
            "signal": "complex",
            "time_aligned": true,
            "latency_samples": latency,
            "params": serde_json::to_value(params)?,
            "band": opts.band.map(|b| [b.lo_hz, b.hi_hz]),
            "outside_band": format!("{:?}", opts.outside).to_lowercase(),
        });
        let m = sigmf::processed_meta(&original, record);
        let t = TempOut::new(&out_meta);
        std::fs::write(&t.tmp, serde_json::to_string_pretty(&m)? + "\n")?;
        Some(t)
    } else {
        None
    };
    data_tmp.commit()?;
    if let Some(t) = meta_tmp {
        t.commit()?;
    }
    Ok(IqSummary {
        format: pr.format.clone(),
        rate,
        frames: written,
        latency_samples: latency,
        attenuation_db,
        rf64,
        meta: pr.detection.meta.clone(),
        warnings,
    })
}

fn raw_probe(input: &Path, r: RawIq) -> anyhow::Result<Probe> {
    let len = std::fs::metadata(input)
        .with_context(|| format!("cannot open {}", input.display()))?
        .len();
    Ok(Probe {
        container: Container::Raw(r),
        format: format!("raw IQ {}", r.name()),
        rate: None,
        channels: 2,
        frames: Some(len / (2 * r.bytes() as u64)),
        detection: super::iq::IqDetection {
            is_iq: true,
            reason: "--format".into(),
            meta: IqMeta::default(),
        },
        warnings: Vec::new(),
    })
}

fn sigmf_type_for(c: Codec) -> DataType {
    let s = match c {
        Codec::Wav(SampleFormat::U8) | Codec::Raw(RawIq::Cu8) => "cu8",
        Codec::Raw(RawIq::Cs8) => "ci8",
        Codec::Wav(SampleFormat::I16) | Codec::Raw(RawIq::Cs16le) => "ci16_le",
        Codec::Wav(SampleFormat::I24 | SampleFormat::I32) => "ci32_le",
        Codec::Wav(SampleFormat::F64) => "cf64_le",
        _ => "cf32_le",
    };
    DataType::parse(s).expect("valid datatype")
}

fn new_sigmf_meta(c: Codec, rate: u32, meta: &IqMeta) -> serde_json::Value {
    let dt = match c {
        Codec::Sigmf(d) => d.to_string(),
        _ => "cf32_le".into(),
    };
    let mut cap = serde_json::json!({"core:sample_start": 0});
    if let Some(f) = meta.center_hz {
        cap["core:frequency"] = f.into();
    }
    if let Some(t) = meta.start {
        cap["core:datetime"] = t.to_string().into();
    }
    serde_json::json!({
        "global": {"core:datatype": dt, "core:sample_rate": rate, "core:version": "1.0.0"},
        "captures": [cap],
        "annotations": []
    })
}

/// Filters a raw IQ stream (pipes): `format` in and out, time-aligned, constant memory.
/// The floor is estimated from the first `opts.profile_s` seconds, which are buffered (bounded)
/// before any output is produced.
pub fn filter_iq_stream<R: Read, W: Write>(
    mut input: R,
    mut output: W,
    format: RawIq,
    rate: u32,
    params: &Params,
    opts: &IqOptions,
) -> anyhow::Result<IqSummary> {
    let bytes = format.bytes();
    let unit = 2 * bytes;
    let read_samples =
        |r: &mut R, buf: &mut [f32], raw: &mut Vec<u8>, carry: &mut Vec<u8>| -> io::Result<usize> {
            // Whole I/Q pairs; a partial pair is carried to the next read.
            raw.clear();
            raw.extend_from_slice(carry);
            carry.clear();
            let want = buf.len() / 2 * unit;
            let start = raw.len();
            raw.resize(want.max(start), 0);
            let got = read_full(r, &mut raw[start..])? + start;
            let whole = got - got % unit;
            carry.extend_from_slice(&raw[whole..got]);
            format.decode(&raw[..whole], &mut buf[..whole / bytes]);
            Ok(whole / bytes)
        };
    let mut raw = Vec::new();
    let mut carry = Vec::new();
    let mut warnings = Vec::new();
    if params.bypass {
        let n = io::copy(&mut input, &mut output)?;
        output.flush()?;
        return Ok(IqSummary {
            format: format!("raw IQ {}", format.name()),
            rate,
            frames: n / unit as u64,
            latency_samples: 0,
            attenuation_db: 0.0,
            rf64: false,
            meta: IqMeta::default(),
            warnings,
        });
    }
    // Buffer the profile clip.
    // (at least the longest pre-roll, 0.25 s)
    let head_len = ((opts.profile_s * rate as f64) as usize)
        .max(rate as usize / 4)
        .min(1 << 26)
        * 2;
    let mut head = vec![0.0f32; head_len];
    let mut have = 0;
    while have < head_len {
        let n = read_samples(&mut input, &mut head[have..], &mut raw, &mut carry)?;
        if n == 0 {
            break;
        }
        have += n;
    }
    head.truncate(have);
    let floor = if opts.profile_s > 0.0 && !head.is_empty() {
        let prof_len = (((opts.profile_s * rate as f64) as usize) * 2).min(head.len());
        estimate_floor(params, rate, 2, &[head[..prof_len].to_vec()], opts.dc_hz)?
    } else {
        None
    };
    let mut engine = build_engine(params, rate, 2, floor, opts, &mut warnings)?;
    let mut head_pos = 0;
    let mut enc = Vec::new();
    let pre = mirrored_preroll(&head, 2, preroll_frames(&engine));
    let frames = run_aligned(
        &mut engine,
        &pre,
        |buf: &mut [f32]| {
            if head_pos < head.len() {
                let n = (head.len() - head_pos).min(buf.len());
                buf[..n].copy_from_slice(&head[head_pos..head_pos + n]);
                head_pos += n;
                return Ok(n);
            }
            read_samples(&mut input, buf, &mut raw, &mut carry)
        },
        |x: &[f32]| {
            enc.resize(x.len() * bytes, 0);
            format.encode(x, &mut enc);
            output.write_all(&enc)?;
            output.flush()
        },
    )?;
    warnings.extend(replaced_warning(&engine.stats()));
    Ok(IqSummary {
        format: format!("raw IQ {}", format.name()),
        rate,
        frames,
        latency_samples: engine.latency_samples(),
        attenuation_db: engine.stats().attenuation_db(),
        rf64: false,
        meta: IqMeta::default(),
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dc_spike_carriers_and_edge_rolloff_do_not_lift_the_floor() {
        // Shifted spectrum −fs/2…+fs/2 of 1024 bins at 1.024 MS/s (1 kHz bins): flat noise 1.0,
        // a raised-cosine roll-off to 0.01 over the outer 64 bins at each edge, a DC spike of 1e4
        // over ±2 bins, carriers of 1e3 at +100 and −200 bins, a 20-bin burst of 50 at +300.
        let n = 1024usize;
        let mut shifted = vec![1.0f32; n];
        for p in 0..64 {
            let r = 0.01 + 0.99 * (0.5 - 0.5 * (std::f32::consts::PI * p as f32 / 64.0).cos());
            shifted[p] = r;
            shifted[n - 1 - p] = r;
        }
        let c = n / 2; // 0 Hz
        for d in 0..=2 {
            shifted[c + d] = 1e4;
            shifted[c - d] = 1e4;
        }
        shifted[c + 100] = 1e3;
        shifted[c - 200] = 1e3;
        shifted[c + 300..c + 320].fill(50.0);
        // To FFT order: bin b holds shifted[(b + n/2) % n].
        let mean: Vec<f32> = (0..n).map(|b| shifted[(b + n / 2) % n]).collect();
        let floor = robust_floor(&mean, 1_024_000, 1000.0);
        let at = |hz_bins: isize| floor[hz_bins.rem_euclid(n as isize) as usize];
        for b in [-3isize, -1, 0, 1, 3, 100, -200, 305, 310] {
            assert!((at(b) - 1.0).abs() < 1e-6, "bin {b}: floor {}", at(b));
        }
        // Edges follow the roll-off (the bin's own lower mean wins).
        assert_eq!(at(-(n as isize) / 2), 0.01);
        assert!((at(n as isize / 2 - 1) - shifted[n - 1]).abs() < 1e-6);
    }

    #[test]
    fn welch_mean_matches_the_engines_learned_profile() {
        // The engine's own learn_profile is the reference for units and window.
        let p = Params {
            frame: 256,
            ..Params::default()
        };
        let mut s = 1u32;
        let x: Vec<f32> = (0..2 * 20_000)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (s >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            })
            .collect();
        let w = welch_mean(&p, 48_000, 2, std::slice::from_ref(&x))
            .unwrap()
            .unwrap();
        let e = crate::engine::learn_profile(&p, 48_000, 2, SignalKind::Complex, &x).unwrap();
        let worst = w
            .iter()
            .zip(&e)
            .map(|(a, b)| ((a - b) / b).abs())
            .fold(0.0f32, f32::max);
        // The engine's first frame includes the zero history before the signal: allow 2 %.
        assert!(worst < 0.02, "relative difference {worst}");
    }

    #[test]
    fn iq_flags_parse_a_negative_band_and_blank() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            iq: IqFlags,
        }
        let c = Cli::try_parse_from(["x", "--iq", "--band", "-50k:+120k", "--outside", "blank"])
            .unwrap();
        let o = c.iq.to_options();
        assert_eq!(o.force_iq, Some(true));
        assert_eq!(
            o.band,
            Some(Band {
                lo_hz: -50e3,
                hi_hz: 120e3
            })
        );
        assert_eq!(o.outside, Outside::Blank);
        assert!(Cli::try_parse_from(["x", "--iq", "--no-iq"]).is_err());
        assert!(Cli::try_parse_from(["x", "--band", "5k:1k"]).is_err());
    }

    #[test]
    fn band_parses_relative_offsets_and_marks_outside_bins() {
        let b: Band = "-50k:+120k".parse().unwrap();
        assert_eq!((b.lo_hz, b.hi_hz), (-50_000.0, 120_000.0));
        assert!("1k:-1k".parse::<Band>().is_err());
        assert!("abc".parse::<Band>().is_err());
        let mut f = vec![1.0f32; 1000]; // 1 kHz bins at 1 MS/s
        apply_band(&mut f, 1_000_000, b, Outside::Pass);
        assert_eq!(f[0], 1.0);
        assert_eq!(f[120], 1.0);
        assert_eq!(f[121], 1e-30);
        assert_eq!(f[1000 - 50], 1.0);
        assert_eq!(f[1000 - 51], 1e-30);
    }
}
