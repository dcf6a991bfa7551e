//! Per-hop compute time of the live worker's processing against the hop deadline.
//!
//! Not a criterion bench: the question is the tail (p99.9, max), not the mean. For each preset
//! at its usual rate (audio presets at 48 kHz, `nfm` at rtl_fm's 24 kHz, `iq` on 2 MS/s complex
//! I/Q), and for the voice preset in the low-delay modes (`--latency-ms` 1, 2, 3, 5; hops of
//! 0.5–2.5 ms, where the budget is tightest), the engine processes 20 s of noisy input one hop at
//! a time (4 s for `iq`); each hop is timed, and the percentiles are printed with the deadline
//! (hop / rate), the load (p50 / deadline) and the tail (p99.9 / deadline; the budget is 5 %).
//! Run: `cargo bench --bench hop_timing`. On a shared machine run it under `chrt -f 10` (the
//! tail is the scheduler's otherwise).

use specgate::engine::{Engine, SignalKind};
use specgate::params::{resolve, ParamsPatch, PRESETS};
use std::time::Instant;

fn main() {
    println!(
        "{:<14} {:>8} {:>6} {:>10} {:>10} {:>10} {:>10} {:>10} {:>7} {:>7}",
        "preset", "rate", "hop", "deadline", "p50", "p99", "p99.9", "max", "load", "tail"
    );
    // (name, latency override or −1, rate, kind)
    let mut cases: Vec<(String, f64, u32, SignalKind)> = PRESETS
        .iter()
        .map(|(n, _)| match *n {
            "iq" => (n.to_string(), -1.0, 2_000_000, SignalKind::Complex),
            "nfm" => (n.to_string(), -1.0, 24_000, SignalKind::Real),
            _ => (n.to_string(), -1.0, 48_000, SignalKind::Real),
        })
        .collect();
    for ms in [1.0, 2.0, 3.0, 5.0] {
        cases.push((format!("voice@{ms}ms"), ms, 48_000, SignalKind::Real));
    }
    for (name, latency_ms, rate, kind) in cases {
        let preset = name.split('@').next().unwrap_or(&name);
        let mut p = resolve(preset, None, &ParamsPatch::default()).expect("preset");
        if latency_ms >= 0.0 {
            p.latency_ms = latency_ms;
        }
        // One real channel, or one I/Q pair (two interleaved values per sample).
        let width = if kind == SignalKind::Complex { 2 } else { 1 };
        let mut e = Engine::new(&p, rate, width, kind).expect("engine");
        let hop = e.stft_config().hop;
        let seconds = if kind == SignalKind::Complex { 4 } else { 20 };
        let hops = seconds * rate as usize / hop;
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        let input: Vec<f32> = (0..hop * hops * width)
            .map(|i| {
                let i = i / width;
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let n = ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.02;
                n + if (i / rate as usize) % 2 == 0 {
                    0.2 * (i as f32 * 0.06).sin()
                } else {
                    0.0
                }
            })
            .collect();
        let mut out = vec![0.0f32; hop * width];
        let mut ns: Vec<u64> = Vec::with_capacity(hops);
        for chunk in input.chunks_exact(hop * width) {
            let t = Instant::now();
            e.process(chunk, &mut out);
            ns.push(t.elapsed().as_nanos() as u64);
            std::hint::black_box(&out);
        }
        ns.sort_unstable();
        let q = |f: f64| ns[((ns.len() - 1) as f64 * f).round() as usize] as f64 / 1e3;
        let deadline = hop as f64 / rate as f64 * 1e6;
        println!(
            "{name:<14} {rate:>8} {hop:>6} {:>8.0}µs {:>8.1}µs {:>8.1}µs {:>8.1}µs {:>8.1}µs {:>6.2}% {:>6.2}%",
            deadline,
            q(0.5),
            q(0.99),
            q(0.999),
            q(1.0),
            q(0.5) / deadline * 100.0,
            q(0.999) / deadline * 100.0
        );
    }
}
