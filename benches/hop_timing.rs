//! Per-hop compute time of the live worker's processing against the hop deadline.
//!
//! Not a criterion bench: the question is the tail (p99.9, max), not the mean. For each preset,
//! and for the voice preset in the low-delay modes (`--latency-ms` 1, 2, 3, 5; hops of 0.5–2.5 ms,
//! where the budget is tightest), the engine processes 20 s of noisy audio one hop at a time;
//! each hop is timed, and the percentiles are printed with the deadline (hop / rate), the load
//! (p50 / deadline) and the tail (p99.9 / deadline; the budget is 5 %).
//! Run: `cargo bench --bench hop_timing`.

use specgate::engine::{Engine, SignalKind};
use specgate::params::{resolve, ParamsPatch, PRESETS};
use std::time::Instant;

fn main() {
    let rate = 48_000u32;
    println!(
        "{:<14} {:>6} {:>10} {:>10} {:>10} {:>10} {:>10} {:>7} {:>7}",
        "preset", "hop", "deadline", "p50", "p99", "p99.9", "max", "load", "tail"
    );
    let mut cases: Vec<(String, f64)> =
        PRESETS.iter().map(|(n, _)| (n.to_string(), -1.0)).collect();
    for ms in [1.0, 2.0, 3.0, 5.0] {
        cases.push((format!("voice@{ms}ms"), ms));
    }
    for (name, latency_ms) in cases {
        let preset = name.split('@').next().unwrap_or(&name);
        let mut p = resolve(preset, None, &ParamsPatch::default()).expect("preset");
        if latency_ms >= 0.0 {
            p.latency_ms = latency_ms;
        }
        let mut e = Engine::new(&p, rate, 1, SignalKind::Real).expect("engine");
        let hop = e.stft_config().hop;
        let hops = 20 * rate as usize / hop;
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        let input: Vec<f32> = (0..hop * hops)
            .map(|i| {
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
        let mut out = vec![0.0f32; hop];
        let mut ns: Vec<u64> = Vec::with_capacity(hops);
        for chunk in input.chunks_exact(hop) {
            let t = Instant::now();
            e.process(chunk, &mut out);
            ns.push(t.elapsed().as_nanos() as u64);
            std::hint::black_box(&out);
        }
        ns.sort_unstable();
        let q = |f: f64| ns[((ns.len() - 1) as f64 * f).round() as usize] as f64 / 1e3;
        let deadline = hop as f64 / rate as f64 * 1e6;
        println!(
            "{name:<14} {hop:>6} {:>8.0}µs {:>8.1}µs {:>8.1}µs {:>8.1}µs {:>8.1}µs {:>6.2}% {:>6.2}%",
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
