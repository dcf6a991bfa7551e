//! The STFT's even-length real FFT: realfft's algorithm (one complex FFT of half the length
//! through rustfft, then a twiddle pass that separates the two real halves), with the twiddle
//! pass vectorised.
//!
//! realfft's twiddle pass is scalar; at the voice preset's 1920 points (960-point complex FFT)
//! it cost more than the complex FFT itself (forward and inverse together about a fifth of a file
//! run, `perf record` on `specgate filter --preset voice`). Here it runs four bin pairs at a time
//! with AVX2 when the CPU has it, as the same operations in the same order — no FMA, the same
//! twiddles — so every output is bit for bit what [`realfft`] gives (tested against it below).
//! Odd lengths (a real transform computed as a full complex one) stay with realfft.

use num_complex::Complex32;
use rustfft::{Fft, FftPlanner};
use std::sync::Arc;

/// Forward and inverse real FFT of one even length `n` (`n/2 + 1` bins).
pub struct EvenRealFft {
    n: usize,
    fwd: Arc<dyn Fft<f32>>,
    inv: Arc<dyn Fft<f32>>,
    /// Forward twiddles `w(i)/2` for the bin pairs `(i, m − i)`, `i = 1..=pairs` (`m = n/2`).
    fwd_tw: Vec<Complex32>,
    /// Inverse twiddles `conj(w(i))`.
    inv_tw: Vec<Complex32>,
    scratch: Vec<Complex32>,
}

/// realfft's twiddle `e^{−2πi·index/len}`, computed in f64 and rounded to f32 the same way.
fn twiddle(index: usize, len: usize) -> Complex32 {
    let constant = -2f64 * std::f64::consts::PI / len as f64;
    let angle = constant * index as f64;
    Complex32::new(angle.cos() as f32, angle.sin() as f32)
}

impl EvenRealFft {
    /// # Panics
    /// If `n` is odd or zero.
    pub fn new(n: usize) -> Self {
        assert!(
            n >= 2 && n % 2 == 0,
            "EvenRealFft needs an even length, got {n}"
        );
        let m = n / 2;
        let mut planner = FftPlanner::<f32>::new();
        let fwd = planner.plan_fft_forward(m);
        let inv = planner.plan_fft_inverse(m);
        let pairs = (m - 1) / 2;
        let fwd_tw = (1..=pairs).map(|i| twiddle(i, n) * 0.5).collect();
        let inv_tw = (1..=pairs).map(|i| twiddle(i, n).conj()).collect();
        let s = fwd
            .get_outofplace_scratch_len()
            .max(inv.get_outofplace_scratch_len());
        EvenRealFft {
            n,
            fwd,
            inv,
            fwd_tw,
            inv_tw,
            scratch: vec![Complex32::default(); s],
        }
    }

    pub fn len(&self) -> usize {
        self.n
    }
    pub fn is_empty(&self) -> bool {
        false
    }
    /// Bins of the spectrum: `n/2 + 1`.
    pub fn complex_len(&self) -> usize {
        self.n / 2 + 1
    }

    /// `time` (length `n`, clobbered) → `spec` (length `n/2 + 1`), unnormalised.
    ///
    /// # Panics
    /// On other lengths.
    pub fn forward(&mut self, time: &mut [f32], spec: &mut [Complex32]) {
        assert!(time.len() == self.n && spec.len() == self.complex_len());
        let m = self.n / 2;
        // SAFETY: Complex32 is two f32 (repr(C)), so n f32 are exactly m complex values with
        // the same alignment; `time` is borrowed mutably for the slice's whole life.
        let buf = unsafe { std::slice::from_raw_parts_mut(time.as_mut_ptr() as *mut Complex32, m) };
        self.fwd
            .process_outofplace_with_scratch(buf, &mut spec[..m], &mut self.scratch);
        let first = spec[0];
        spec[0] = Complex32::new(first.re + first.im, 0.0);
        spec[m] = Complex32::new(first.re - first.im, 0.0);
        twiddle_pass(spec, &self.fwd_tw, Pass::Forward);
        if m % 2 == 0 {
            spec[m / 2].im = -spec[m / 2].im;
        }
    }

    /// `spec` (length `n/2 + 1`, clobbered; the imaginary parts of its first and last bins are
    /// taken as zero) → `time` (length `n`), unnormalised: forward then inverse multiplies by `n`.
    ///
    /// # Panics
    /// On other lengths.
    pub fn inverse(&mut self, spec: &mut [Complex32], time: &mut [f32]) {
        assert!(time.len() == self.n && spec.len() == self.complex_len());
        let m = self.n / 2;
        spec[0].im = 0.0;
        spec[m].im = 0.0;
        let (a, b) = (spec[0], spec[m]);
        let (sum, diff) = (a + b, a - b);
        spec[0] = Complex32::new(sum.re - sum.im, diff.re - diff.im);
        twiddle_pass(spec, &self.inv_tw, Pass::Inverse);
        if m % 2 == 0 {
            let c = spec[m / 2];
            spec[m / 2] = (c + c).conj();
        }
        // SAFETY: as in `forward`.
        let out = unsafe { std::slice::from_raw_parts_mut(time.as_mut_ptr() as *mut Complex32, m) };
        self.inv
            .process_outofplace_with_scratch(&mut spec[..m], out, &mut self.scratch);
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    Forward,
    Inverse,
}

/// The twiddle pass over the bin pairs `(i, m − i)`, `i = 1..=tw.len()` of `spec` (length
/// `m + 1`).
fn twiddle_pass(spec: &mut [Complex32], tw: &[Complex32], pass: Pass) {
    #[cfg(all(target_arch = "x86_64", specgate_avx512))]
    if std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512dq")
    {
        // SAFETY: the CPU has AVX-512F and DQ (checked just above; the checks are cached loads).
        let done = unsafe { twiddle_pass_avx512(spec, tw, pass) };
        return twiddle_pass_scalar(spec, tw, pass, done);
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above; the check is a cached load).
        let done = unsafe { twiddle_pass_avx2(spec, tw, pass) };
        return twiddle_pass_scalar(spec, tw, pass, done);
    }
    twiddle_pass_scalar(spec, tw, pass, 0)
}

/// Pairs `from + 1..=tw.len()`, one at a time: realfft's loop bodies, operation for operation.
fn twiddle_pass_scalar(spec: &mut [Complex32], tw: &[Complex32], pass: Pass, from: usize) {
    let m = spec.len() - 1;
    for (j, t) in tw.iter().enumerate().skip(from) {
        let i = j + 1;
        let (a, b) = (spec[i], spec[m - i]);
        let sum = a + b;
        let diff = a - b;
        let twiddled_re_sum = sum * t.re;
        let twiddled_im_sum = sum * t.im;
        let twiddled_re_diff = diff * t.re;
        let twiddled_im_diff = diff * t.im;
        let otr = twiddled_re_sum.im + twiddled_im_diff.re;
        let oti = twiddled_im_sum.im - twiddled_re_diff.re;
        match pass {
            Pass::Forward => {
                let half_sum_re = 0.5 * sum.re;
                let half_diff_im = 0.5 * diff.im;
                spec[i] = Complex32::new(half_sum_re + otr, half_diff_im + oti);
                spec[m - i] = Complex32::new(half_sum_re - otr, oti - half_diff_im);
            }
            Pass::Inverse => {
                spec[i] = Complex32::new(sum.re - otr, diff.im - oti);
                spec[m - i] = Complex32::new(sum.re + otr, -oti - diff.im);
            }
        }
    }
}

/// Four pairs at a time; returns how many pairs it did (a multiple of 4), the rest is left to
/// the scalar loop.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn twiddle_pass_avx2(spec: &mut [Complex32], tw: &[Complex32], pass: Pass) -> usize {
    use std::arch::x86_64::*;
    let m = spec.len() - 1;
    let pairs = tw.len();
    let p = spec.as_mut_ptr() as *mut f32;
    let t = tw.as_ptr() as *const f32;
    // Lanes hold (re, im) of four bins; 0b1010_1010 selects the imaginary lanes.
    const IM: i32 = 0b1010_1010;
    let half = _mm256_set1_ps(0.5);
    let sign = _mm256_set1_ps(-0.0);
    // Reverses the order of the four complex values (64-bit lanes).
    let rev = |v: __m256| _mm256_castpd_ps(_mm256_permute4x64_pd::<0x1B>(_mm256_castps_pd(v)));
    let mut j = 0;
    while j + 4 <= pairs {
        let i = j + 1;
        // SAFETY: i..i + 4 and m − i − 3..=m − i are inside spec (i + 3 ≤ pairs ≤ (m − 1)/2 <
        // m − i − 3 + 1, so the two ranges do not overlap either); j + 4 ≤ tw.len().
        unsafe {
            let a = _mm256_loadu_ps(p.add(2 * i));
            let b = rev(_mm256_loadu_ps(p.add(2 * (m - i - 3))));
            let w = _mm256_loadu_ps(t.add(2 * j)); // (re, im) of the four twiddles
            let w_swapped = _mm256_permute_ps::<0b1011_0001>(w); // (im, re)
            let sum = _mm256_add_ps(a, b);
            let diff = _mm256_sub_ps(a, b);
            // (sum.im·w.re, sum.im·w.im) and (diff.re·w.im, diff.re·w.re)
            let ps = _mm256_mul_ps(_mm256_movehdup_ps(sum), w);
            let qd = _mm256_mul_ps(_mm256_moveldup_ps(diff), w_swapped);
            // (otr, oti) = (sum.im·w.re + diff.re·w.im, sum.im·w.im − diff.re·w.re)
            let r = _mm256_blend_ps::<IM>(_mm256_add_ps(ps, qd), _mm256_sub_ps(ps, qd));
            let (lo, hi) = match pass {
                Pass::Forward => {
                    // (sum.re/2, diff.im/2)
                    let h = _mm256_mul_ps(half, _mm256_blend_ps::<IM>(sum, diff));
                    (
                        _mm256_add_ps(h, r),
                        _mm256_blend_ps::<IM>(_mm256_sub_ps(h, r), _mm256_sub_ps(r, h)),
                    )
                }
                Pass::Inverse => {
                    // (sum.re, diff.im)
                    let s = _mm256_blend_ps::<IM>(sum, diff);
                    let neg_r = _mm256_xor_ps(r, sign);
                    (
                        _mm256_sub_ps(s, r),
                        _mm256_blend_ps::<IM>(_mm256_add_ps(s, r), _mm256_sub_ps(neg_r, s)),
                    )
                }
            };
            _mm256_storeu_ps(p.add(2 * i), lo);
            _mm256_storeu_ps(p.add(2 * (m - i - 3)), rev(hi));
        }
        j += 4;
    }
    j
}

/// [`twiddle_pass_avx2`] eight pairs at a time (the same operations per lane); returns how
/// many pairs it did (a multiple of 8), the rest is left to the scalar loop.
///
/// # Safety
/// The CPU must support AVX-512F and AVX-512DQ.
///
/// Built only by compilers with the AVX-512 intrinsics (Rust 1.89 on, `specgate_avx512` from
/// build.rs), so the MSRV's compilers never see them.
#[cfg(all(target_arch = "x86_64", specgate_avx512))]
#[target_feature(enable = "avx512f,avx512dq")]
#[allow(clippy::incompatible_msrv)]
unsafe fn twiddle_pass_avx512(spec: &mut [Complex32], tw: &[Complex32], pass: Pass) -> usize {
    use std::arch::x86_64::*;
    let m = spec.len() - 1;
    let pairs = tw.len();
    let p = spec.as_mut_ptr() as *mut f32;
    let t = tw.as_ptr() as *const f32;
    // Lanes hold (re, im) of eight bins; set bits of IM select the imaginary lanes.
    const IM: __mmask16 = 0b1010_1010_1010_1010;
    let half = _mm512_set1_ps(0.5);
    let sign = _mm512_set1_ps(-0.0);
    // Reverses the order of the eight complex values (64-bit lanes).
    let order = _mm512_set_epi64(0, 1, 2, 3, 4, 5, 6, 7);
    let rev = |v: __m512| _mm512_castpd_ps(_mm512_permutexvar_pd(order, _mm512_castps_pd(v)));
    let mut j = 0;
    while j + 8 <= pairs {
        let i = j + 1;
        // SAFETY: i..i + 8 and m − i − 7..=m − i are inside spec (i + 7 ≤ pairs ≤ (m − 1)/2 <
        // m − i − 7 + 1, so the two ranges do not overlap either); j + 8 ≤ tw.len().
        unsafe {
            let a = _mm512_loadu_ps(p.add(2 * i));
            let b = rev(_mm512_loadu_ps(p.add(2 * (m - i - 7))));
            let w = _mm512_loadu_ps(t.add(2 * j)); // (re, im) of the eight twiddles
            let w_swapped = _mm512_permute_ps::<0b1011_0001>(w); // (im, re)
            let sum = _mm512_add_ps(a, b);
            let diff = _mm512_sub_ps(a, b);
            // (sum.im·w.re, sum.im·w.im) and (diff.re·w.im, diff.re·w.re)
            let ps = _mm512_mul_ps(_mm512_movehdup_ps(sum), w);
            let qd = _mm512_mul_ps(_mm512_moveldup_ps(diff), w_swapped);
            // (otr, oti) = (sum.im·w.re + diff.re·w.im, sum.im·w.im − diff.re·w.re)
            let r = _mm512_mask_blend_ps(IM, _mm512_add_ps(ps, qd), _mm512_sub_ps(ps, qd));
            let (lo, hi) = match pass {
                Pass::Forward => {
                    // (sum.re/2, diff.im/2)
                    let h = _mm512_mul_ps(half, _mm512_mask_blend_ps(IM, sum, diff));
                    (
                        _mm512_add_ps(h, r),
                        _mm512_mask_blend_ps(IM, _mm512_sub_ps(h, r), _mm512_sub_ps(r, h)),
                    )
                }
                Pass::Inverse => {
                    // (sum.re, diff.im)
                    let s = _mm512_mask_blend_ps(IM, sum, diff);
                    let neg_r = _mm512_xor_ps(r, sign);
                    (
                        _mm512_sub_ps(s, r),
                        _mm512_mask_blend_ps(IM, _mm512_add_ps(s, r), _mm512_sub_ps(neg_r, s)),
                    )
                }
            };
            _mm512_storeu_ps(p.add(2 * i), lo);
            _mm512_storeu_ps(p.add(2 * (m - i - 7)), rev(hi));
        }
        j += 8;
    }
    j
}

#[cfg(test)]
mod tests {
    use super::*;
    use realfft::RealFftPlanner;

    fn noise(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// Every even length from 2 to 64 (both parities of n/2, pair counts on and off the
    /// vector width) and the presets' sizes: forward and inverse equal realfft's bit for bit.
    #[test]
    fn forward_and_inverse_equal_realfft_bit_for_bit() {
        let mut planner = RealFftPlanner::<f32>::new();
        let lens = (1..=32)
            .map(|k| 2 * k)
            .chain([160, 480, 1920, 1922, 2048, 4096]);
        for n in lens {
            let mut ours = EvenRealFft::new(n);
            let fwd = planner.plan_fft_forward(n);
            let inv = planner.plan_fft_inverse(n);
            for seed in 0..3 {
                let x = noise(n, seed + n as u64);
                let (mut a, mut b) = (x.clone(), x.clone());
                let mut sa = vec![Complex32::default(); n / 2 + 1];
                let mut sb = sa.clone();
                ours.forward(&mut a, &mut sa);
                fwd.process(&mut b, &mut sb).unwrap();
                for (k, (u, v)) in sa.iter().zip(&sb).enumerate() {
                    assert_eq!(
                        (u.re.to_bits(), u.im.to_bits()),
                        (v.re.to_bits(), v.im.to_bits()),
                        "forward n {n} bin {k}: {u} vs {v}"
                    );
                }
                // A masked spectrum back (realfft refuses non-zero DC/Nyquist imaginary parts:
                // give it the cleared ones we take).
                let g = noise(n / 2 + 1, seed + 99);
                for (s, g) in sa.iter_mut().zip(&g) {
                    *s *= g.abs();
                }
                sa[0].im = 0.0;
                sa[n / 2].im = 0.0;
                let mut sb = sa.clone();
                let (mut ya, mut yb) = (vec![0.0f32; n], vec![0.0f32; n]);
                ours.inverse(&mut sa, &mut ya);
                inv.process(&mut sb, &mut yb).unwrap();
                for (k, (u, v)) in ya.iter().zip(&yb).enumerate() {
                    assert_eq!(
                        u.to_bits(),
                        v.to_bits(),
                        "inverse n {n} sample {k}: {u} vs {v}"
                    );
                }
            }
        }
    }

    /// The scalar loop alone (the path of CPUs without AVX2) also equals realfft.
    #[test]
    fn the_scalar_twiddle_pass_equals_the_vector_one_bit_for_bit() {
        for n in [10usize, 18, 34, 64, 66, 1920, 1922] {
            let m = n / 2;
            let tw: Vec<Complex32> = (1..=(m - 1) / 2).map(|i| twiddle(i, n)).collect();
            for pass in [Pass::Forward, Pass::Inverse] {
                let x = noise(2 * (m + 1), n as u64);
                let spec: Vec<Complex32> =
                    x.chunks(2).map(|c| Complex32::new(c[0], c[1])).collect();
                let mut a = spec.clone();
                let mut b = spec.clone();
                twiddle_pass_scalar(&mut a, &tw, pass, 0);
                twiddle_pass(&mut b, &tw, pass);
                assert_eq!(a, b, "n {n}");
                // The AVX2 pass too, where the dispatch above took the AVX-512 one.
                #[cfg(target_arch = "x86_64")]
                if std::arch::is_x86_feature_detected!("avx2") {
                    let mut c = spec.clone();
                    // SAFETY: AVX2 is present (checked just above).
                    let done = unsafe { twiddle_pass_avx2(&mut c, &tw, pass) };
                    twiddle_pass_scalar(&mut c, &tw, pass, done);
                    let bits = |v: &[Complex32]| -> Vec<(u32, u32)> {
                        v.iter().map(|c| (c.re.to_bits(), c.im.to_bits())).collect()
                    };
                    assert_eq!(bits(&a), bits(&c), "AVX2, n {n}");
                }
                // Bit patterns too (equality of floats would let −0 and +0 pass).
                let bits = |v: &[Complex32]| -> Vec<(u32, u32)> {
                    v.iter().map(|c| (c.re.to_bits(), c.im.to_bits())).collect()
                };
                assert_eq!(bits(&a), bits(&b), "n {n}");
            }
        }
    }
}
