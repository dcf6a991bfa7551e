//! UDP audio input (GQRX / SDR++ "UDP audio": raw PCM datagrams, s16le mono 48 kHz by default).
//!
//! Gaps (squelch closed, lost packets) are silence, not the end of the stream: when nothing has
//! arrived for 30 ms and the pipeline has run dry, silence is pushed in 10 ms steps, so the
//! output keeps playing at the fixed latency and picks the signal up again when packets return.

use crate::live::core::{monotonic_ns, InputEnd};
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Receives datagrams on `sock` until `stop`, decoding each with `decode(bytes, samples)`.
pub fn spawn_source(
    sock: UdpSocket,
    mut inp: InputEnd,
    decode: impl Fn(&[u8], &mut Vec<f32>) + Send + 'static,
    rate: u32,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let _ = sock.set_read_timeout(Some(Duration::from_millis(10)));
        let mut buf = vec![0u8; 65536];
        let mut samples = Vec::new();
        let silence = vec![0.0f32; rate as usize / 100];
        let mut last = Instant::now();
        while !stop.load(Relaxed) {
            match sock.recv(&mut buf) {
                Ok(n) => {
                    decode(&buf[..n], &mut samples);
                    inp.push(&samples, monotonic_ns());
                    last = Instant::now();
                }
                Err(_) => {
                    while last.elapsed() > Duration::from_millis(30)
                        && inp.queued_frames() < silence.len()
                    {
                        inp.push(&silence, monotonic_ns());
                        last += Duration::from_millis(10);
                    }
                }
            }
        }
    })
}
