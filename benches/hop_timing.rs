//! Per-hop compute time of the live worker's processing against the hop deadline.
//!
//! Not a criterion bench: the question is the tail (p99.9, max), not the mean. For each preset
//! the engine processes 20 s of noisy audio one hop at a time; each hop is timed, and the
//! percentiles are printed with the deadline (hop / rate) and the load (p50 / deadline).
//! Run: `cargo bench --bench hop_timing`.

use specgate::engine::{Engine, SignalKind};
use specgate::params::{resolve, ParamsPatch, PRESETS};
use std::time::Instant;

fn main() {
    let rate = 48_000u32;
    println!(
        "{:<8} {:>6} {:>10} {:>10} {:>10} {:>10} {:>10} {:>7}",
        "preset", "hop", "deadline", "p50", "p99", "p99.9", "max", "load"
    );
    for (name, _) in PRESETS {
        let p = resolve(name, None, &ParamsPatch::default()).expect("preset");
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
            "{name:<8} {hop:>6} {:>8.0}µs {:>8.1}µs {:>8.1}µs {:>8.1}µs {:>8.1}µs {:>6.2}%",
            deadline,
            q(0.5),
            q(0.99),
            q(0.999),
            q(1.0),
            q(0.5) / deadline * 100.0
        );
    }
}
