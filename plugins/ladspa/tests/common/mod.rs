//! Helpers shared by the plugin's tests: the built `.so`, an in-process host over the C ABI,
//! WAV files and the FFT cross-correlation that locates a marker.
#![allow(dead_code, clippy::needless_range_loop)]

use specgate_ladspa::{abi, label, ladspa_descriptor};
use std::path::PathBuf;

/// `target/<profile>/libspecgate_ladspa.so`, built with this test (cdylib + rlib in one step).
pub fn so_path() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let so = dir.join("libspecgate_ladspa.so");
    assert!(so.exists(), "{} not built", so.display());
    so
}

pub fn descriptor(lbl: &str) -> &'static abi::Descriptor {
    (0..)
        .map(|i| ladspa_descriptor(i))
        .take_while(|d| !d.is_null())
        .map(|d| unsafe { &*d })
        .find(|d| label(d) == lbl)
        .unwrap_or_else(|| panic!("no plugin {lbl}"))
}

pub fn labels() -> Vec<String> {
    (0..)
        .map(|i| ladspa_descriptor(i))
        .take_while(|d| !d.is_null())
        .map(|d| label(unsafe { &*d }).to_string())
        .collect()
}

/// One instance driven the way a host drives it: ports connected to our own buffers.
pub struct Host {
    pub desc: &'static abi::Descriptor,
    pub handle: abi::Handle,
    pub channels: usize,
    /// Reduction, threshold, bypass (1 = on), latency (output).
    pub controls: Box<[f32; 4]>,
    pub inputs: Vec<Vec<f32>>,
    pub outputs: Vec<Vec<f32>>,
}

impl Host {
    pub fn new(lbl: &str, rate: u64, max_block: usize) -> Host {
        let desc = descriptor(lbl);
        let channels = (desc.port_count as usize - 4) / 2;
        let handle = unsafe { desc.instantiate.unwrap()(desc, rate as _) };
        assert!(!handle.is_null(), "instantiate failed");
        let mut h = Host {
            desc,
            handle,
            channels,
            controls: Box::new([0.0; 4]),
            inputs: vec![vec![0.0; max_block]; channels],
            outputs: vec![vec![0.0; max_block]; channels],
        };
        // Defaults: the preset's values (LADSPA "middle" of the port range), bypass off.
        for k in 0..2 {
            let hint = unsafe { *desc.port_range_hints.add(2 * channels + k) };
            h.controls[k] = 0.5 * (hint.lower_bound + hint.upper_bound);
        }
        h.connect();
        h
    }
    pub fn connect(&mut self) {
        let c = self.channels;
        let cp = self.desc.connect_port.unwrap();
        unsafe {
            for i in 0..c {
                cp(self.handle, i as _, self.inputs[i].as_mut_ptr());
                cp(self.handle, (c + i) as _, self.outputs[i].as_mut_ptr());
            }
            for k in 0..4 {
                cp(self.handle, (2 * c + k) as _, &mut self.controls[k]);
            }
        }
    }
    /// Connects each output to its input's buffer (in-place processing).
    pub fn connect_in_place(&mut self) {
        let c = self.channels;
        let cp = self.desc.connect_port.unwrap();
        unsafe {
            for i in 0..c {
                cp(self.handle, (c + i) as _, self.inputs[i].as_mut_ptr());
            }
        }
    }
    pub fn activate(&mut self) {
        unsafe { self.desc.activate.unwrap()(self.handle) }
    }
    pub fn run(&mut self, n: usize) {
        unsafe { self.desc.run.unwrap()(self.handle, n as _) }
    }
    pub fn latency(&self) -> usize {
        self.controls[3] as usize
    }
    /// Runs planar `input` (one Vec per channel) through in blocks of the given sizes (cycled).
    pub fn process(&mut self, input: &[Vec<f32>], blocks: &[usize]) -> Vec<Vec<f32>> {
        let n = input[0].len();
        let mut out = vec![Vec::with_capacity(n); self.channels];
        let (mut i, mut b) = (0, 0);
        while i < n {
            let k = blocks[b % blocks.len()].min(n - i);
            b += 1;
            for c in 0..self.channels {
                self.inputs[c][..k].copy_from_slice(&input[c][i..i + k]);
            }
            self.run(k);
            for c in 0..self.channels {
                out[c].extend_from_slice(&self.outputs[c][..k]);
            }
            i += k;
        }
        out
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        unsafe { self.desc.cleanup.unwrap()(self.handle) }
    }
}

/// Deterministic uniform noise in ±amp (xorshift).
pub fn noise(n: usize, amp: f32, seed: u64) -> Vec<f32> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) as f32 * amp
        })
        .collect()
}

/// Writes interleaved 16-bit PCM.
pub fn write_wav16(path: &std::path::Path, rate: u32, channels: u16, interleaved: &[f32]) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for v in interleaved {
        w.write_sample((v * 32768.0).round().clamp(-32768.0, 32767.0) as i16)
            .unwrap();
    }
    w.finalize().unwrap();
}

/// Reads 16-bit PCM as (interleaved samples as i16, channels, rate).
pub fn read_wav16(path: &std::path::Path) -> (Vec<i16>, u16, u32) {
    let mut r = hound::WavReader::open(path).unwrap();
    let spec = r.spec();
    let s = r.samples::<i16>().map(|v| v.unwrap()).collect();
    (s, spec.channels, spec.sample_rate)
}

/// Index of the best match of `pat` in `sig` (FFT cross-correlation, |peak|).
pub fn locate(sig: &[f32], pat: &[f32]) -> usize {
    use rustfft::{num_complex::Complex, FftPlanner};
    let n = (sig.len() + pat.len()).next_power_of_two();
    let mut p = FftPlanner::<f64>::new();
    let (f, inv) = (p.plan_fft_forward(n), p.plan_fft_inverse(n));
    let load = |x: &[f32]| -> Vec<Complex<f64>> {
        (0..n)
            .map(|i| Complex::new(*x.get(i).unwrap_or(&0.0) as f64, 0.0))
            .collect()
    };
    let (mut a, mut b) = (load(sig), load(pat));
    f.process(&mut a);
    f.process(&mut b);
    let mut c: Vec<Complex<f64>> = a.iter().zip(&b).map(|(x, y)| x * y.conj()).collect();
    inv.process(&mut c);
    (0..sig.len())
        .max_by(|&i, &j| c[i].norm().total_cmp(&c[j].norm()))
        .unwrap()
}

/// A linear chirp from `f0` to `f1` Hz over `n` samples at amplitude `amp`.
pub fn chirp(rate: u32, n: usize, f0: f64, f1: f64, amp: f32) -> Vec<f32> {
    let dur = n as f64 / rate as f64;
    (0..n)
        .map(|i| {
            let t = i as f64 / rate as f64;
            let ph = std::f64::consts::TAU * (f0 * t + 0.5 * (f1 - f0) / dur * t * t);
            amp * ph.sin() as f32
        })
        .collect()
}
