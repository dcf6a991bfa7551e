//! The whole `specgate features` path on 2 MS/s I/Q: probe-free scene source → engine (iq
//! preset, floor primed from the recording) → detector. Throughput in samples per second; real
//! time is 2 MS/s, the target ≥ 10× (20 MS/s) on one core.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use specgate::features::scene::{Scene, SceneConfig};
use specgate::features::{self, DetectorConfig};
use specgate::params::{self, ParamsPatch};
use specgate::stream::filter::FilterOptions;
use specgate::stream::source::SliceSource;
use specgate::SignalKind;

fn bench(c: &mut Criterion) {
    let rate = 2_000_000;
    let seconds = 2.0;
    let scene = Scene::generate(SceneConfig::new(rate, seconds, 42));
    // Rendered once: the bench measures detection, not the scene generator.
    let mut x = vec![0f32; 2 * scene.frames() as usize];
    scene.render(0, &mut x);
    let p = params::resolve("iq", None, &ParamsPatch::default()).unwrap();
    let mut g = c.benchmark_group("features");
    g.sample_size(10);
    g.throughput(Throughput::Elements(scene.frames()));
    g.bench_function("iq_2MSps_2s_whole_path", |b| {
        b.iter(|| {
            let mut src = SliceSource::new(&x, rate, 2, SignalKind::Complex);
            let (found, _) = features::detect_all(
                &mut src,
                &p,
                &FilterOptions::default(),
                &DetectorConfig::default(),
            )
            .unwrap();
            std::hint::black_box(found.len())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
