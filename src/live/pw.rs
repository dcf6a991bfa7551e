//! PipeWire streams for the live core, without cpal's stream layer: the process callbacks run
//! on PipeWire's own real-time data thread (`PW_STREAM_FLAG_RT_PROCESS`), the way JACK clients
//! run, instead of on a main-loop thread that the data thread wakes once a cycle.
//!
//! Why: cpal's PipeWire streams call back from their main loop. The data thread then hands the
//! stream the buffer filled in the *previous* cycle and asks the main loop for the next one; if
//! the main loop is not scheduled within one quantum, PipeWire plays silence (no xrun reaches
//! the application). With both cores busy that left 0.65–2.2 % of the output silent
//! (`tests/live_load.rs`). Here the callback runs inside the graph cycle on a SCHED_FIFO thread
//! (module-rt in the client's context; specgate promotes it itself if not), fills the buffer
//! for this very cycle, and is never late behind ordinary processes.
//!
//! Devices are still found, listed and configured through cpal (`live::device`); only the
//! stream is ours. Both streams of a session share one node group, so they run in one graph
//! cycle, as cpal's did (`device::one_clock`). The callbacks only move samples between the
//! buffers and a [`Capture`]/[`Playback`] — the live core's `InputEnd`/`OutputEnd`, or
//! `specgate latency`'s recorder — with no allocation and no lock.
//!
//! Each stream has two listeners, each with its own callbacks box: `process` on the data thread,
//! `state_changed` on the stream's main loop. (pipewire-rs passes a listener's whole box as
//! `&mut` to every callback; one box for both would be borrowed mutably from two threads.)

use crate::live::core::monotonic_ns;
use crate::live::device::{Capture, DeviceError, DeviceStatus, Opened, Playback};
use pipewire as pw;
use pw::spa;
use pw::spa::param::audio::{AudioFormat, AudioInfoRaw};
use pw::spa::pod::{serialize::PodSerializer, Object, Pod, Value};
use pw::stream::{StreamFlags, StreamState};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

/// A running PipeWire stream: its thread runs the stream's main loop (events, state); the
/// samples move on PipeWire's data thread. Dropping it disconnects the stream.
pub struct Stream {
    stop: pw::channel::Sender<()>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Stream {
    fn drop(&mut self) {
        let _ = self.stop.send(());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Where a stream of `o` connects: cpal's PipeWire device ids are node names, except its
/// default devices (`sink_default`, `input_default`, `output_default`), which mean "let the
/// session manager choose". Capturing a sink (cpal lists sinks as duplex) records its monitor.
fn target(o: &Opened, input: bool) -> (Option<String>, bool) {
    use cpal::traits::DeviceTrait;
    let node = o.id.strip_prefix("pipewire:").unwrap_or(&o.id).to_string();
    let capture_sink = input && o.device.supports_output();
    match node.as_str() {
        "sink_default" | "input_default" | "output_default" => (None, capture_sink),
        _ => (Some(node), capture_sink),
    }
}

/// The one format we ask for: f32 at the device configuration's rate and channel count
/// (PipeWire converts whatever the node has).
fn format_pod(rate: u32, channels: u32) -> Vec<u8> {
    let mut info = AudioInfoRaw::new();
    info.set_format(AudioFormat::F32LE);
    info.set_rate(rate);
    info.set_channels(channels);
    let obj = Object {
        type_: spa::utils::SpaTypes::ObjectParamFormat.as_raw(),
        id: spa::param::ParamType::EnumFormat.as_raw(),
        properties: info.into(),
    };
    PodSerializer::serialize(std::io::Cursor::new(Vec::new()), &Value::Object(obj))
        .expect("a format pod serialises")
        .0
        .into_inner()
}

/// The sample slice of a mapped buffer (`bytes` is the mapped memory, f32 samples).
fn as_f32(bytes: &mut [u8]) -> &mut [f32] {
    // SAFETY: PipeWire maps buffers page- or 16-byte-aligned; `align_to_mut` checks anyway and
    // an unaligned head simply yields no samples.
    let (head, samples, _) = unsafe { bytes.align_to_mut::<f32>() };
    if head.is_empty() {
        samples
    } else {
        &mut []
    }
}

enum End {
    In(Box<dyn Capture>),
    Out(Box<dyn Playback>),
}

/// Starts capturing from `o` into `end`.
pub fn start_input(
    o: &Opened,
    end: Box<dyn Capture>,
    status: Arc<DeviceStatus>,
) -> Result<Stream, DeviceError> {
    start(o, End::In(end), status)
}

/// Starts playing from `end` into `o`.
pub fn start_output(
    o: &Opened,
    end: Box<dyn Playback>,
    status: Arc<DeviceStatus>,
) -> Result<Stream, DeviceError> {
    start(o, End::Out(end), status)
}

fn start(o: &Opened, end: End, status: Arc<DeviceStatus>) -> Result<Stream, DeviceError> {
    let input = matches!(end, End::In(_));
    let (node, capture_sink) = target(o, input);
    let rate = o.config.sample_rate;
    let channels = o.config.channels as u32;
    let latency = o.period_frames().map(|n| format!("{n}/{rate}"));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
    let (stop_tx, stop_rx) = pw::channel::channel::<()>();
    let thread = std::thread::Builder::new()
        .name(
            if input {
                "specgate-pw-in"
            } else {
                "specgate-pw-out"
            }
            .into(),
        )
        .spawn(move || {
            let run = || -> Result<(), String> {
                let e = |what: &str| {
                    let what = what.to_string();
                    move |err: pw::Error| format!("PipeWire: {what}: {err}")
                };
                let mainloop = pw::main_loop::MainLoopRc::new(None).map_err(e("main loop"))?;
                // client-rt.conf loads module-rt, which makes the data thread real-time
                // (directly, or through rtkit on a desktop). PipeWire 1.x folded it into the
                // default client.conf: then the plain context does the same.
                let rt_conf = pw::properties::properties! { "config.name" => "client-rt.conf" };
                let context = pw::context::ContextRc::new(&mainloop, Some(rt_conf))
                    .or_else(|_| pw::context::ContextRc::new(&mainloop, None))
                    .map_err(e("context"))?;
                let core = context.connect_rc(None).map_err(e("connect"))?;
                let mut props = pw::properties::properties! {
                    *pw::keys::MEDIA_TYPE => "Audio",
                    *pw::keys::MEDIA_CATEGORY => if input { "Capture" } else { "Playback" },
                    *pw::keys::MEDIA_ROLE => "Production",
                    *pw::keys::APP_NAME => "specgate",
                    // One group: both streams run in the same graph cycle (lock-step).
                    "node.group" => format!("specgate-{}", std::process::id()),
                };
                if let Some(n) = &node {
                    props.insert(*pw::keys::TARGET_OBJECT, n.as_str());
                }
                if capture_sink {
                    props.insert(*pw::keys::STREAM_CAPTURE_SINK, "true");
                }
                if let Some(l) = &latency {
                    props.insert(*pw::keys::NODE_LATENCY, l.as_str());
                }
                let stream = pw::stream::StreamRc::new(
                    core.clone(),
                    if input {
                        "specgate capture"
                    } else {
                        "specgate playback"
                    },
                    props,
                )
                .map_err(e("stream"))?;
                let ch = channels as usize;
                let st = status.clone();
                let mut end = end;
                // First callback: make sure the data thread is real-time.
                let mut promote = true;
                // Main loop only: state changes.
                let state_listener = stream
                    .add_local_listener_with_user_data(())
                    .state_changed({
                        let st = status.clone();
                        let mut connected = false;
                        move |_s, _, _old, new| match new {
                            StreamState::Streaming => connected = true,
                            StreamState::Error(_) => lost(&st, input),
                            StreamState::Unconnected if connected => lost(&st, input),
                            _ => {}
                        }
                    })
                    .register()
                    .map_err(e("listener"))?;
                // Data thread only: the samples.
                let process_listener = stream
                    .add_local_listener_with_user_data(())
                    .process(move |s, _| {
                        crate::live::device::promote_once(&mut promote, &st);
                        let now = monotonic_ns();
                        let delay_ns = s.time().ok().and_then(|t| {
                            let d = t.rate().denom as i64;
                            (d > 0).then(|| (t.delay().max(0) * 1_000_000_000 / d) as u64)
                        });
                        let Some(mut buf) = s.dequeue_buffer() else {
                            return;
                        };
                        let requested = buf.requested() as usize;
                        let Some(d) = buf.datas_mut().first_mut() else {
                            return;
                        };
                        let stride = 4 * ch;
                        match &mut end {
                            End::In(end) => {
                                let (off, size) =
                                    (d.chunk().offset() as usize, d.chunk().size() as usize);
                                if let Some(bytes) = d.data() {
                                    let end_b = (off + size).min(bytes.len());
                                    let x = as_f32(&mut bytes[off.min(end_b)..end_b]);
                                    let x = &x[..x.len() / ch * ch];
                                    let block = (x.len() / ch) as u64 * 1_000_000_000 / rate as u64;
                                    if let Some(dl) = delay_ns {
                                        st.in_latency_ns.store(dl.saturating_sub(block), Relaxed);
                                    }
                                    end.push(x, now);
                                }
                            }
                            End::Out(end) => {
                                let max = d.as_raw().maxsize as usize / stride;
                                let frames = if requested == 0 {
                                    max
                                } else {
                                    requested.min(max)
                                };
                                if let Some(dl) = delay_ns {
                                    st.out_latency_ns.store(dl, Relaxed);
                                }
                                let mut frames = frames;
                                if let Some(bytes) = d.data() {
                                    // Never past the mapped buffer (a callback must not panic).
                                    frames = frames.min(bytes.len() / stride);
                                    let y = as_f32(&mut bytes[..frames * stride]);
                                    end.pull(y, now);
                                }
                                let c = d.chunk_mut();
                                *c.offset_mut() = 0;
                                *c.stride_mut() = stride as i32;
                                *c.size_mut() = (frames * stride) as u32;
                            }
                        }
                    })
                    .register()
                    .map_err(e("listener"))?;
                let fmt = format_pod(rate, channels);
                let mut params = [Pod::from_bytes(&fmt).expect("a serialised pod")];
                let mut flags =
                    StreamFlags::AUTOCONNECT | StreamFlags::MAP_BUFFERS | StreamFlags::RT_PROCESS;
                if node.is_some() {
                    flags |= StreamFlags::DONT_RECONNECT;
                }
                stream
                    .connect(
                        if input {
                            spa::utils::Direction::Input
                        } else {
                            spa::utils::Direction::Output
                        },
                        None,
                        flags,
                        &mut params,
                    )
                    .map_err(e("connect stream"))?;
                let core_err = core
                    .add_listener_local()
                    .error({
                        let st = status.clone();
                        move |id, _seq, _res, _msg| {
                            if id == pw::core::PW_ID_CORE {
                                lost(&st, input);
                            }
                        }
                    })
                    .register();
                let _stop = stop_rx.attach(mainloop.loop_(), {
                    let (ml, s) = (mainloop.clone(), stream.clone());
                    move |()| {
                        let _ = s.disconnect();
                        ml.quit();
                    }
                });
                let _ = ready_tx.send(Ok(()));
                mainloop.run();
                drop(core_err);
                drop(process_listener);
                drop(state_listener);
                Ok(())
            };
            if let Err(msg) = run() {
                let _ = ready_tx.send(Err(msg));
            }
        })
        .map_err(|e| DeviceError::Backend(format!("cannot start a PipeWire thread: {e}")))?;
    match ready_rx.recv_timeout(std::time::Duration::from_secs(3)) {
        Ok(Ok(())) => Ok(Stream {
            stop: stop_tx,
            thread: Some(thread),
        }),
        Ok(Err(msg)) => {
            let _ = thread.join();
            Err(DeviceError::Backend(msg))
        }
        Err(_) => {
            let _ = stop_tx.send(());
            Err(DeviceError::Backend(
                "PipeWire did not answer within 3 s".into(),
            ))
        }
    }
}

fn lost(st: &DeviceStatus, input: bool) {
    if !st.lost.swap(true, Relaxed) {
        st.lost_input.store(input, Relaxed);
    }
}
