//! The cpal adapter: the only module that touches an audio API. It lists devices, resolves a
//! device query (see `live::select`), picks a stream configuration, and runs the live core's
//! [`InputEnd`]/[`OutputEnd`] inside cpal callbacks, converting any sample format to f32 at the
//! boundary into preallocated buffers.

use crate::live::core::{monotonic_ns, InputEnd, OutputEnd, Shared, MAX_CALLBACK_FRAMES};
use crate::live::select::{select, Candidate, SelectError, Selection};
use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, SampleFormat, SizedSample};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// Why a device could not be found, opened, started or measured.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// `--host` names no host this build has.
    #[error("unknown audio host '{name}'; available: {available}")]
    UnknownHost { name: String, available: String },
    /// The device query matches no device, or several.
    #[error(transparent)]
    Select(#[from] SelectError),
    /// `default` was asked of a host that has none.
    #[error("host {host} has no default {kind} device")]
    NoDefault { host: String, kind: &'static str },
    /// The device offers no configuration we can open.
    #[error("{kind} device {id} (\"{name}\") has no usable configuration: {reason}")]
    NoConfig {
        kind: &'static str,
        id: String,
        name: String,
        reason: String,
    },
    #[error("sample format {0} is not supported")]
    UnsupportedFormat(String),
    /// The audio API failed (the host went away, the device is busy, a stream would not start).
    #[error("{0}")]
    Backend(String),
    /// The round-trip measurement could not be made (see [`play_and_record`]).
    #[error("{0}")]
    RoundTrip(String),
}

impl DeviceError {
    /// The request itself is wrong (an unknown host or device name): retrying cannot help.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            DeviceError::UnknownHost { .. } | DeviceError::Select(_)
        )
    }
}

fn backend(e: impl std::fmt::Display) -> DeviceError {
    DeviceError::Backend(e.to_string())
}

/// Flags the error and data callbacks set (atomics only).
#[derive(Debug, Default)]
pub struct DeviceStatus {
    /// Xruns the host reported.
    pub xruns: AtomicU64,
    /// The device went away (or the stream was invalidated).
    pub lost: AtomicBool,
    /// Which end went away first: set with `lost` (true = input).
    pub lost_input: AtomicBool,
    /// A callback thread asked for real-time priority and did not get it.
    pub rt_refused: AtomicBool,
    /// Capture → callback and callback → playback delays the host reports, ns.
    pub in_latency_ns: AtomicU64,
    pub out_latency_ns: AtomicU64,
}

/// A resolved device with the configuration we will open it with.
pub struct Opened {
    /// The audio host the device belongs to.
    pub host: cpal::HostId,
    pub device: cpal::Device,
    pub id: String,
    pub name: String,
    pub config: cpal::StreamConfig,
    pub format: SampleFormat,
}

impl Opened {
    /// Requested frames per callback (the host may differ), if fixed.
    pub fn period_frames(&self) -> Option<u32> {
        match self.config.buffer_size {
            cpal::BufferSize::Fixed(n) => Some(n),
            _ => None,
        }
    }
}

/// Hosts `run` and `devices` prefer, when none is named, over ALSA (which always exists on
/// Linux and reaches PipeWire or PulseAudio through their ALSA plugins): a running JACK server,
/// then a running PipeWire server. PipeWire's native host is the cheapest and fastest (about
/// 3 % of a core and 17 ms above the algorithmic latency on a quiet rig, against ALSA's 16 % and
/// 41 ms through PulseAudio's plugin), and with specgate's own streams (`live::pw`: callbacks on
/// PipeWire's real-time data thread) it holds up with both cores busy (`tests/live_load.rs`).
/// Not cpal's native PulseAudio client: with a fixed buffer size it asks for a target length of
/// two periods with ADJUST_LATENCY, which leaves the sink no latency of its own (the server clamps
/// it to 0.5 ms), and its client thread then wakes about 830 times a second (strace: 3,310
/// epoll_wait, 7,630 recvfrom and 19,179 futex calls in 4 s), zeroing a 1 MiB read buffer on
/// every read; on the rig `run` through it took 59 % of a core plus 26 % in the server at 10 ms
/// periods (ALSA through the `pulse` plugin: 16 % + 5 %); with the default size it buffers 2 s.
/// Elsewhere: the platform's default host.
fn preferred_hosts() -> &'static [cpal::HostId] {
    &[
        #[cfg(all(
            feature = "jack",
            any(target_os = "linux", target_os = "windows", target_os = "macos")
        ))]
        cpal::HostId::Jack,
        #[cfg(all(feature = "pipewire", target_os = "linux"))]
        cpal::HostId::PipeWire,
    ]
}

/// Whether `id`'s server is running: a JACK server accepts a client; cpal's PipeWire host
/// connects to the server when it is made (it fails when none runs) and lists its nodes.
fn running(id: cpal::HostId, host: &cpal::Host) -> bool {
    match id {
        #[cfg(all(
            feature = "jack",
            any(target_os = "linux", target_os = "windows", target_os = "macos")
        ))]
        cpal::HostId::Jack => host.default_output_device().is_some(),
        #[cfg(all(feature = "pipewire", target_os = "linux"))]
        cpal::HostId::PipeWire => host.devices().is_ok_and(|mut d| d.next().is_some()),
        _ => {
            let _ = host;
            true
        }
    }
}

/// The preferred host that is running (see [`preferred_hosts`]); else ALSA on Linux, the
/// platform's default elsewhere.
pub fn best_host() -> cpal::Host {
    let available = cpal::available_hosts();
    for &id in preferred_hosts() {
        if !available.contains(&id) {
            continue;
        }
        if let Ok(h) = cpal::host_from_id(id) {
            if running(id, &h) {
                return h;
            }
        }
    }
    // ALSA on Linux (cpal's own default would pick its PulseAudio client first).
    #[cfg(target_os = "linux")]
    if let Ok(h) = cpal::host_from_id(cpal::HostId::Alsa) {
        return h;
    }
    cpal::default_host()
}

fn pick_host(host: Option<&str>) -> Result<cpal::Host, DeviceError> {
    let ids = cpal::available_hosts();
    match host {
        None => Ok(best_host()),
        Some(h) => {
            let id = ids
                .iter()
                .find(|id| {
                    id.name().eq_ignore_ascii_case(h) || id.to_string().eq_ignore_ascii_case(h)
                })
                .ok_or_else(|| DeviceError::UnknownHost {
                    name: h.to_string(),
                    available: ids.iter().map(|i| i.name()).collect::<Vec<_>>().join(", "),
                })?;
            cpal::host_from_id(*id).map_err(|e| {
                DeviceError::Backend(format!("audio host {} is not running: {e}", id.name()))
            })
        }
    }
}

/// Whether two opened devices run in lock-step on one clock: both on PipeWire (cpal puts a
/// process's streams in one node group, driven by one driver; PipeWire itself resamples devices
/// on other clocks) or both on JACK. Their callbacks then come in the same graph cycle, so
/// nothing drifts and one period of cushion covers the delivery.
pub fn one_clock(a: &Opened, b: &Opened) -> bool {
    let graph = |h: cpal::HostId| match h {
        #[cfg(all(feature = "pipewire", target_os = "linux"))]
        cpal::HostId::PipeWire => true,
        #[cfg(all(
            feature = "jack",
            any(target_os = "linux", target_os = "windows", target_os = "macos")
        ))]
        cpal::HostId::Jack => true,
        _ => false,
    };
    a.host == b.host && graph(a.host)
}

fn device_name(d: &cpal::Device) -> String {
    d.description()
        .map(|x| x.name().to_string())
        .unwrap_or_else(|_| d.to_string())
}

fn device_id(d: &cpal::Device) -> String {
    d.id().map(|i| i.to_string()).unwrap_or_default()
}

/// While alive, file descriptor 2 points at /dev/null: audio libraries (ALSA's plugin probes,
/// JACK's "cannot connect to server") print to stderr while devices are enumerated, and none of
/// that is ours to show unless asked (`--verbose`). Unix only; elsewhere it does nothing.
pub struct QuietStderr {
    #[cfg(unix)]
    saved: Option<i32>,
}

impl QuietStderr {
    pub fn new(on: bool) -> QuietStderr {
        #[cfg(unix)]
        {
            if !on {
                return QuietStderr { saved: None };
            }
            use std::io::Write;
            let _ = std::io::stderr().flush();
            // SAFETY: dup/open/dup2 on valid descriptors; the saved one is restored in drop.
            unsafe {
                let saved = libc::dup(2);
                let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY);
                if saved < 0 || null < 0 {
                    if saved >= 0 {
                        libc::close(saved);
                    }
                    if null >= 0 {
                        libc::close(null);
                    }
                    return QuietStderr { saved: None };
                }
                libc::dup2(null, 2);
                libc::close(null);
                QuietStderr { saved: Some(saved) }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = on;
            QuietStderr {}
        }
    }
}

impl Drop for QuietStderr {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(fd) = self.saved.take() {
            // SAFETY: restores the descriptor saved in `new`.
            unsafe {
                libc::dup2(fd, 2);
                libc::close(fd);
            }
        }
    }
}

/// One direction's configurations in a few words: `1–2 ch 8000–192000 Hz f32/i16`.
fn summarise(cfgs: &[cpal::SupportedStreamConfigRange]) -> String {
    if cfgs.is_empty() {
        return "-".into();
    }
    let c0 = cfgs.iter().map(|c| c.channels()).min().unwrap_or(0);
    let c1 = cfgs.iter().map(|c| c.channels()).max().unwrap_or(0);
    let r0 = cfgs.iter().map(|c| c.min_sample_rate()).min().unwrap_or(0);
    let r1 = cfgs.iter().map(|c| c.max_sample_rate()).max().unwrap_or(0);
    let mut fmts: Vec<String> = vec![];
    for c in cfgs {
        let f = format!("{:?}", c.sample_format()).to_lowercase();
        if !fmts.contains(&f) {
            fmts.push(f);
        }
    }
    let range = |a: u32, b: u32, unit: &str| {
        if a == b {
            format!("{a}{unit}")
        } else {
            format!("{a}–{b}{unit}")
        }
    };
    format!(
        "{} ch {} {}",
        range(c0 as u32, c1 as u32, ""),
        range(r0, r1, " Hz"),
        fmts.join("/")
    )
}

/// `specgate devices`: one line per device of every host (id, name, default marks, what it
/// can capture and play, summarised), the default host named first. Library noise on stderr
/// is suppressed unless `verbose`.
pub fn print_devices(verbose: bool) -> Result<(), DeviceError> {
    let mut lines = vec![];
    {
        let _quiet = QuietStderr::new(!verbose);
        let default_host = best_host().id();
        let mut ids = cpal::available_hosts();
        ids.sort_by_key(|h| *h != default_host);
        for hid in ids {
            let host = match cpal::host_from_id(hid) {
                Ok(h) => h,
                Err(e) => {
                    lines.push(format!("host {}: unavailable ({e})", hid.name()));
                    continue;
                }
            };
            let mark = if hid == default_host {
                " (default)"
            } else {
                ""
            };
            lines.push(format!("host {}{mark}:", hid.name()));
            let def_in = host.default_input_device().map(|d| device_id(&d));
            let def_out = host.default_output_device().map(|d| device_id(&d));
            let devices = match host.devices() {
                Ok(d) => d,
                Err(e) => {
                    lines.push(format!("  cannot list devices: {e}"));
                    continue;
                }
            };
            for d in devices {
                let id = device_id(&d);
                let mut marks = vec![];
                if def_in.as_deref() == Some(id.as_str()) {
                    marks.push("default input");
                }
                if def_out.as_deref() == Some(id.as_str()) {
                    marks.push("default output");
                }
                let marks = if marks.is_empty() {
                    String::new()
                } else {
                    format!("  [{}]", marks.join(", "))
                };
                let ins: Vec<_> = d
                    .supported_input_configs()
                    .map(|c| c.collect())
                    .unwrap_or_default();
                let outs: Vec<_> = d
                    .supported_output_configs()
                    .map(|c| c.collect())
                    .unwrap_or_default();
                lines.push(format!(
                    "  {id}  \"{}\"  in: {}  out: {}{marks}",
                    device_name(&d),
                    summarise(&ins),
                    summarise(&outs)
                ));
            }
        }
    }
    for l in lines {
        println!("{l}");
    }
    Ok(())
}

/// Resolves `query` (id, exact name, unique substring, or `default`) on `host` (or the default
/// host) to a device that can capture (`input`) or play.
pub fn find(
    host: Option<&str>,
    query: &str,
    input: bool,
) -> Result<(cpal::HostId, cpal::Device, String, String), DeviceError> {
    let kind = if input { "input" } else { "output" };
    // A full cpal id names its own host.
    if host.is_none() {
        if let Ok(id) = query.parse::<cpal::DeviceId>() {
            if let Ok(h) = cpal::host_from_id(id.host()) {
                if let Some(d) = h.device_by_id(&id) {
                    return Ok((id.host(), d.clone(), device_id(&d), device_name(&d)));
                }
            }
        }
    }
    let h = pick_host(host)?;
    let devs: Vec<cpal::Device> = if input {
        h.input_devices().map_err(backend)?.collect()
    } else {
        h.output_devices().map_err(backend)?.collect()
    };
    let cands: Vec<Candidate> = devs
        .iter()
        .map(|d| Candidate {
            id: device_id(d),
            name: device_name(d),
        })
        .collect();
    let d = match select(query, &cands, kind)? {
        Selection::Index(i) => devs[i].clone(),
        Selection::Default => if input {
            h.default_input_device()
        } else {
            h.default_output_device()
        }
        .ok_or_else(|| DeviceError::NoDefault {
            host: h.id().name().to_string(),
            kind,
        })?,
    };
    Ok((h.id(), d.clone(), device_id(&d), device_name(&d)))
}

/// Opens `query` with a configuration: the device's default rate and channel count unless
/// `rate` is given and supported; f32 when the device offers it at that rate, else its default
/// format; callbacks of about 10 ms when the host accepts a fixed size.
pub fn open(
    host: Option<&str>,
    query: &str,
    input: bool,
    rate: Option<u32>,
) -> Result<Opened, DeviceError> {
    open_with_period(host, query, input, rate, 10.0)
}

/// [`open`] with callbacks of about `period_ms` (where the host accepts a fixed size).
pub fn open_with_period(
    host: Option<&str>,
    query: &str,
    input: bool,
    rate: Option<u32>,
    period_ms: f64,
) -> Result<Opened, DeviceError> {
    let (host_id, device, id, name) = find(host, query, input)?;
    let kind = if input { "input" } else { "output" };
    let def = if input {
        device.default_input_config()
    } else {
        device.default_output_config()
    }
    .map_err(|e| DeviceError::NoConfig {
        kind,
        id: id.clone(),
        name: name.clone(),
        reason: e.to_string(),
    })?;
    let ranges: Vec<cpal::SupportedStreamConfigRange> = if input {
        device.supported_input_configs().map_err(backend)?.collect()
    } else {
        device
            .supported_output_configs()
            .map_err(backend)?
            .collect()
    };
    let channels = def.channels();
    let mut sr = def.sample_rate();
    if let Some(r) = rate {
        if ranges.iter().any(|c| {
            c.channels() == channels && c.min_sample_rate() <= r && r <= c.max_sample_rate()
        }) {
            sr = r;
        }
    }
    let fits = |c: &&cpal::SupportedStreamConfigRange| {
        c.channels() == channels && c.min_sample_rate() <= sr && sr <= c.max_sample_rate()
    };
    let chosen = ranges
        .iter()
        .filter(fits)
        .find(|c| c.sample_format() == SampleFormat::F32)
        .or_else(|| {
            ranges
                .iter()
                .filter(fits)
                .find(|c| c.sample_format() == def.sample_format())
        });
    let (format, buffer) = match chosen {
        Some(c) => {
            let want = ((sr as f64 * period_ms / 1000.0).round() as u32).max(32);
            let buf = match c.buffer_size() {
                cpal::SupportedBufferSize::Range { min, max } if *min <= want && want <= *max => {
                    cpal::BufferSize::Fixed(want)
                }
                _ => cpal::BufferSize::Default,
            };
            (c.sample_format(), buf)
        }
        None => (def.sample_format(), cpal::BufferSize::Default),
    };
    Ok(Opened {
        host: host_id,
        device,
        id,
        name,
        config: cpal::StreamConfig {
            channels,
            sample_rate: sr,
            buffer_size: buffer,
        },
        format,
    })
}

/// Whether the callbacks of `host` run on a thread of ordinary priority that specgate promotes
/// to real-time itself (from the first callback): cpal's PipeWire host runs them on its own
/// main-loop thread. (JACK's are real-time already; ALSA's thread polls the `pulse` plugin about
/// 1,000 times a second, which must not run real-time.)
fn promote_callbacks(host: cpal::HostId) -> bool {
    match host {
        #[cfg(all(feature = "pipewire", target_os = "linux"))]
        cpal::HostId::PipeWire => true,
        _ => false,
    }
}

/// Called at the top of every callback: promotes the thread on the first one (a syscall; no
/// allocation), records a refusal for the session to report.
#[inline]
pub(crate) fn promote_once(pending: &mut bool, status: &DeviceStatus) {
    if *pending {
        *pending = false;
        if !crate::live::core::promote_current_thread() {
            status.rt_refused.store(true, Relaxed);
        }
    }
}

fn on_error(
    status: Arc<DeviceStatus>,
    shared: Option<Arc<Shared>>,
    input: bool,
) -> impl FnMut(cpal::Error) + Send + 'static {
    move |e: cpal::Error| match e.kind() {
        cpal::ErrorKind::Xrun => {
            status.xruns.fetch_add(1, Relaxed);
            // The drift loop re-aligns after a host xrun (it shifts the latency by a step).
            match &shared {
                Some(s) if input => s.host_in_xruns.fetch_add(1, Relaxed),
                Some(s) => s.host_out_xruns.fetch_add(1, Relaxed),
                None => 0,
            };
        }
        cpal::ErrorKind::DeviceNotAvailable | cpal::ErrorKind::StreamInvalidated
            if !status.lost.swap(true, Relaxed) =>
        {
            status.lost_input.store(input, Relaxed);
        }
        _ => {}
    }
}

macro_rules! by_format {
    ($fmt:expr, $f:ident, $($arg:expr),*) => {
        match $fmt {
            SampleFormat::F32 => $f::<f32, _>($($arg),*),
            SampleFormat::F64 => $f::<f64, _>($($arg),*),
            SampleFormat::I8 => $f::<i8, _>($($arg),*),
            SampleFormat::I16 => $f::<i16, _>($($arg),*),
            SampleFormat::I32 => $f::<i32, _>($($arg),*),
            SampleFormat::I64 => $f::<i64, _>($($arg),*),
            SampleFormat::U8 => $f::<u8, _>($($arg),*),
            SampleFormat::U16 => $f::<u16, _>($($arg),*),
            SampleFormat::U32 => $f::<u32, _>($($arg),*),
            SampleFormat::U64 => $f::<u64, _>($($arg),*),
            SampleFormat::I24 => $f::<cpal::I24, _>($($arg),*),
            SampleFormat::U24 => $f::<cpal::U24, _>($($arg),*),
            other => Err(DeviceError::UnsupportedFormat(format!("{other:?}"))),
        }
    };
}

/// Where a capture stream delivers its samples: interleaved f32 device frames, stamped with
/// the callback time (monotonic ns). The live core's [`InputEnd`] is one; the round-trip
/// recorder of [`play_and_record`] is the other, so `specgate latency` measures the very stream
/// layer `run` uses (cpal's callbacks, or specgate's own PipeWire streams). Called in the audio
/// callback: real-time rules apply (no allocation, lock, blocking call or I/O).
pub trait Capture: Send + 'static {
    fn push(&mut self, data: &[f32], now_ns: u64);
    /// The live core's counters, for the host xruns its drift loop reacts to (none elsewhere).
    fn shared(&self) -> Option<Arc<Shared>> {
        None
    }
}

/// Where a playback stream takes its samples from (see [`Capture`]): fills interleaved f32
/// device frames that start playing at about `now_ns`.
pub trait Playback: Send + 'static {
    fn pull(&mut self, out: &mut [f32], now_ns: u64);
    fn shared(&self) -> Option<Arc<Shared>> {
        None
    }
}

impl Capture for InputEnd {
    fn push(&mut self, data: &[f32], now_ns: u64) {
        InputEnd::push(self, data, now_ns)
    }
    fn shared(&self) -> Option<Arc<Shared>> {
        Some(InputEnd::shared(self))
    }
}

impl Playback for OutputEnd {
    fn pull(&mut self, out: &mut [f32], now_ns: u64) {
        OutputEnd::pull(self, out, now_ns)
    }
    fn shared(&self) -> Option<Arc<Shared>> {
        Some(OutputEnd::shared(self))
    }
}

/// A running device stream; dropping it stops the stream.
pub enum Stream {
    Cpal(cpal::Stream),
    /// specgate's own PipeWire stream (callbacks on PipeWire's real-time data thread).
    #[cfg(all(feature = "pipewire", target_os = "linux"))]
    PipeWire(crate::live::pw::Stream),
}

/// Whether `o`'s streams are specgate's own PipeWire streams (see `live::pw`) rather than
/// cpal's. `SPECGATE_PW_STREAMS=cpal` keeps cpal's (for comparison).
fn own_pipewire(o: &Opened) -> bool {
    #[cfg(all(feature = "pipewire", target_os = "linux"))]
    {
        o.host == cpal::HostId::PipeWire
            && std::env::var("SPECGATE_PW_STREAMS").map_or(true, |v| v != "cpal")
    }
    #[cfg(not(all(feature = "pipewire", target_os = "linux")))]
    {
        let _ = o;
        false
    }
}

/// Which stream layer [`start_input`]/[`start_output`] use for `o`, in words: `specgate's own
/// PipeWire streams` or `cpal's <host> streams`. `specgate latency` reports it.
pub fn stream_layer(o: &Opened) -> String {
    if own_pipewire(o) {
        "specgate's own PipeWire streams".into()
    } else {
        format!("cpal's {} streams", o.host.name())
    }
}

/// Starts capturing into `end` (the live core's [`InputEnd`], or a recorder).
pub fn start_input<C: Capture>(
    o: &Opened,
    end: C,
    status: Arc<DeviceStatus>,
) -> Result<Stream, DeviceError> {
    #[cfg(all(feature = "pipewire", target_os = "linux"))]
    if own_pipewire(o) {
        return crate::live::pw::start_input(o, Box::new(end), status).map(Stream::PipeWire);
    }
    by_format!(o.format, build_input, o, end, status).map(Stream::Cpal)
}

fn build_input<T, C: Capture>(
    o: &Opened,
    mut end: C,
    status: Arc<DeviceStatus>,
) -> Result<cpal::Stream, DeviceError>
where
    T: SizedSample + Send + 'static,
    f32: FromSample<T>,
{
    let ch = o.config.channels as usize;
    let mut buf = vec![0.0f32; MAX_CALLBACK_FRAMES * ch];
    let rate = o.config.sample_rate as u64;
    let st = status.clone();
    let shared = end.shared();
    let mut promote = promote_callbacks(o.host);
    let s = o
        .device
        .build_input_stream::<T, _, _>(
            o.config,
            move |data: &[T], info: &cpal::InputCallbackInfo| {
                promote_once(&mut promote, &st);
                // Stamp with the callback time. (The host-reported capture time would be free
                // of callback lateness, but after a host xrun cpal keeps it monotonic by clamping
                // and it stops tracking reality; lateness only biases the drift loop slightly.)
                let now = monotonic_ns();
                // Delay from the capture of the block's last frame to this callback.
                let block = (data.len() / ch) as u64 * 1_000_000_000 / rate;
                st.in_latency_ns
                    .store(capture_delay_ns(info, block), Relaxed);
                for block in data.chunks(buf.len()) {
                    for (y, x) in buf.iter_mut().zip(block) {
                        *y = x.to_sample::<f32>();
                    }
                    end.push(&buf[..block.len()], now);
                }
            },
            on_error(status, shared, true),
            None,
        )
        .map_err(backend)?;
    s.play().map_err(backend)?;
    Ok(s)
}

/// Starts playing from `end` (the live core's [`OutputEnd`], or a player).
pub fn start_output<P: Playback>(
    o: &Opened,
    end: P,
    status: Arc<DeviceStatus>,
) -> Result<Stream, DeviceError> {
    #[cfg(all(feature = "pipewire", target_os = "linux"))]
    if own_pipewire(o) {
        return crate::live::pw::start_output(o, Box::new(end), status).map(Stream::PipeWire);
    }
    by_format!(o.format, build_output, o, end, status).map(Stream::Cpal)
}

fn build_output<T, P: Playback>(
    o: &Opened,
    mut end: P,
    status: Arc<DeviceStatus>,
) -> Result<cpal::Stream, DeviceError>
where
    T: SizedSample + FromSample<f32> + Send + 'static,
{
    let ch = o.config.channels as usize;
    let mut buf = vec![0.0f32; MAX_CALLBACK_FRAMES * ch];
    let rate = o.config.sample_rate as u64;
    let st = status.clone();
    let shared = end.shared();
    let mut promote = promote_callbacks(o.host);
    let s = o
        .device
        .build_output_stream::<T, _, _>(
            o.config,
            move |data: &mut [T], info: &cpal::OutputCallbackInfo| {
                promote_once(&mut promote, &st);
                let now = monotonic_ns();
                st.out_latency_ns.store(playback_delay_ns(info), Relaxed);
                // Stamp with the callback time (see the input side); the host-reported delay
                // to playback goes into the latency budget.
                let mut t = now;
                for block in data.chunks_mut(buf.len()) {
                    end.pull(&mut buf[..block.len()], t);
                    for (y, x) in block.iter_mut().zip(&buf) {
                        *y = T::from_sample(*x);
                    }
                    t += (block.len() / ch) as u64 * 1_000_000_000 / rate;
                }
            },
            on_error(status, shared, false),
            None,
        )
        .map_err(backend)?;
    s.play().map_err(backend)?;
    Ok(s)
}

/// What [`play_and_record`] captured: the input (channels averaged to mono) from the first
/// input callback on, where the stimulus went out, and each callback's frame count and time,
/// so both streams can be put on one clock afterwards.
#[derive(Debug, Clone)]
pub struct Recording {
    /// Mono input, frame 0 = the first captured frame.
    pub input: Vec<f32>,
    /// Output frame (counted from the first output callback) at which `play[0]` went out.
    pub play_start_frame: u64,
    /// Per input callback: (frames captured up to the end of this block, callback time ns).
    pub in_callbacks: Vec<(u64, u64)>,
    /// Per output callback: (first frame of this block, callback time ns).
    pub out_callbacks: Vec<(u64, u64)>,
    /// Host-reported capture → callback delay, ns (last callback; 0 if the host gives none).
    pub host_capture_ns: u64,
    /// Host-reported callback → playback delay, ns (last callback; 0 if the host gives none).
    pub host_playback_ns: u64,
    pub xruns: u64,
}

/// [`play_and_record`]'s capture side: the input averaged to mono into a preallocated ring,
/// one (frames so far, callback time) entry per delivery.
struct Recorder {
    ch: usize,
    rec: ringbuf::HeapProd<f32>,
    callbacks: ringbuf::HeapProd<(u64, u64)>,
    total: u64,
    frames: Arc<AtomicU64>,
}

impl Capture for Recorder {
    fn push(&mut self, data: &[f32], now_ns: u64) {
        use ringbuf::traits::Producer;
        let k = 1.0 / self.ch as f32;
        for f in data.chunks_exact(self.ch) {
            let _ = self.rec.try_push(f.iter().sum::<f32>() * k);
        }
        self.total += (data.len() / self.ch) as u64;
        let _ = self.callbacks.try_push((self.total, now_ns));
        self.frames.store(self.total, Relaxed);
    }
}

/// [`play_and_record`]'s playback side: silence until `go`, then `play` once (on every
/// channel), noting the output frame it started at; one (first frame, callback time) entry per
/// request.
struct Player {
    ch: usize,
    play: Vec<f32>,
    /// Next index into `play`; `usize::MAX` = not started.
    next: usize,
    pos: u64,
    go: Arc<AtomicBool>,
    start: Arc<AtomicU64>,
    callbacks: ringbuf::HeapProd<(u64, u64)>,
}

impl Playback for Player {
    fn pull(&mut self, out: &mut [f32], now_ns: u64) {
        use ringbuf::traits::Producer;
        let _ = self.callbacks.try_push((self.pos, now_ns));
        if self.next == usize::MAX && self.go.load(Relaxed) {
            self.next = 0;
            self.start.store(self.pos, Relaxed);
        }
        for f in out.chunks_exact_mut(self.ch) {
            let v = match self.play.get(self.next) {
                Some(&v) => {
                    self.next += 1;
                    v
                }
                None => 0.0,
            };
            f.fill(v);
        }
        self.pos += (out.len() / self.ch) as u64;
    }
}

/// Plays `play` (mono, copied to every output channel) once the input is delivering audio,
/// and records the input until `after_s` seconds past the start of `play`. Both devices must
/// run at the same rate. The streams are the ones `run` opens ([`start_input`],
/// [`start_output`]: cpal's callbacks, or specgate's own PipeWire streams), so what is measured
/// is what `run` gets; the callbacks only copy into preallocated rings and set atomics.
pub fn play_and_record(
    input: &Opened,
    output: &Opened,
    play: Vec<f32>,
    after_s: f64,
) -> Result<Recording, DeviceError> {
    use ringbuf::traits::{Consumer, Split};
    use ringbuf::HeapRb;
    use std::time::{Duration, Instant};

    let rate = input.config.sample_rate;
    if output.config.sample_rate != rate {
        return Err(DeviceError::RoundTrip(format!(
            "the devices run at different rates (input {} Hz, output {} Hz); pass --rate one of them supports",
            rate, output.config.sample_rate
        )));
    }
    let play_s = play.len() as f64 / rate as f64;
    let cap_s = 3.0 + after_s + play_s;
    let cap = (cap_s * rate as f64) as usize;
    let (rec_p, mut rec_c) = HeapRb::<f32>::new(cap).split();
    let (icb_p, mut icb_c) = HeapRb::<(u64, u64)>::new(16_384).split();
    let (ocb_p, mut ocb_c) = HeapRb::<(u64, u64)>::new(16_384).split();
    let in_frames = Arc::new(AtomicU64::new(0));
    let go = Arc::new(AtomicBool::new(false));
    // u64::MAX until the output has started the stimulus.
    let start_frame = Arc::new(AtomicU64::new(u64::MAX));
    let status = Arc::new(DeviceStatus::default());

    let ins = start_input(
        input,
        Recorder {
            ch: input.config.channels as usize,
            rec: rec_p,
            callbacks: icb_p,
            total: 0,
            frames: in_frames.clone(),
        },
        status.clone(),
    )?;
    let outs = start_output(
        output,
        Player {
            ch: output.config.channels as usize,
            play,
            next: usize::MAX,
            pos: 0,
            go: go.clone(),
            start: start_frame.clone(),
            callbacks: ocb_p,
        },
        status.clone(),
    )?;

    let wait_until = |cond: &dyn Fn() -> bool, limit: Duration, what: &str| {
        let t0 = Instant::now();
        while !cond() {
            if status.lost.load(Relaxed) {
                return Err(DeviceError::RoundTrip(
                    "a device went away during the round trip".into(),
                ));
            }
            if t0.elapsed() > limit {
                return Err(DeviceError::RoundTrip(what.to_string()));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    };
    // Let both streams settle (null sinks may deliver their first data late).
    let settle = (0.2 * rate as f64) as u64;
    wait_until(
        &|| in_frames.load(Relaxed) >= settle,
        Duration::from_secs(3),
        "the input device delivered no audio within 3 s",
    )?;
    go.store(true, Relaxed);
    wait_until(
        &|| start_frame.load(Relaxed) != u64::MAX,
        Duration::from_secs(2),
        "the output device did not ask for audio within 2 s",
    )?;
    let need = in_frames.load(Relaxed) + ((play_s + after_s) * rate as f64) as u64;
    wait_until(
        &|| in_frames.load(Relaxed) >= need,
        Duration::from_secs_f64(after_s + 3.0),
        "the input device stopped delivering audio",
    )?;
    drop(outs);
    drop(ins);
    Ok(Recording {
        input: rec_c.pop_iter().collect(),
        play_start_frame: start_frame.load(Relaxed),
        in_callbacks: icb_c.pop_iter().collect(),
        out_callbacks: ocb_c.pop_iter().collect(),
        host_capture_ns: status.in_latency_ns.load(Relaxed),
        host_playback_ns: status.out_latency_ns.load(Relaxed),
        xruns: status.xruns.load(Relaxed),
    })
}

/// Host-reported delay from the capture of a block's last frame to its input callback, ns
/// (`block_ns` is the block's own duration; 0 when the host reports nothing usable).
fn capture_delay_ns(info: &cpal::InputCallbackInfo, block_ns: u64) -> u64 {
    let ts = info.timestamp();
    ts.callback
        .checked_duration_since(ts.capture)
        .map_or(0, |d| d.as_nanos() as u64)
        .saturating_sub(block_ns)
}

/// Host-reported delay from an output callback to the playback of its first frame, ns.
fn playback_delay_ns(info: &cpal::OutputCallbackInfo) -> u64 {
    let ts = info.timestamp();
    ts.playback
        .checked_duration_since(ts.callback)
        .map_or(0, |d| d.as_nanos() as u64)
}
