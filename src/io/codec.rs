//! The one sample codec: bytes ↔ full-scale `f32` (and the lossless left-justified `i32` path)
//! for every encoding specgate reads or writes — raw streams, WAV data chunks, I/Q files.
//!
//! Everything works on slices in bulk, written as straight loops over `chunks_exact` with
//! `from_le_bytes` and branch-free rounding so the compiler vectorises them (baseline x86-64
//! SSE2 included: no `round()` libm call in the integer encoders); on CPUs with AVX2 the same
//! loops are compiled a second time for it and chosen at run time.
//!
//! Scaling: an integer of `b` bits maps to `v / 2^(b-1)` (unsigned 8-bit WAV/raw `u8` is offset
//! by 128); `cu8` (rtl_sdr I/Q) is offset by 127.5 and scaled by 1/127.5; floats are taken as
//! they are. Encoding rounds half away from zero and clips to the integer range; the number of
//! clipped samples (NaN included, written as zero) is returned.
//!
//! I/Q encodings are two interleaved reals per complex sample: `cs8` = [`Encoding::S8`],
//! `cs16le` = [`Encoding::S16Le`], `cf32le` = [`Encoding::F32Le`], and `cu8` = [`Encoding::Cu8`].

use super::RawFormat;

/// One real sample's encoding in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// Unsigned 8-bit, zero at 128 (8-bit WAV, raw `u8`).
    U8,
    /// Signed 8-bit (`s8`, `cs8`).
    S8,
    S16Le,
    S16Be,
    S24Le,
    S32Le,
    F32Le,
    F32Be,
    F64Le,
    /// Unsigned 8-bit I/Q components of rtl_sdr, zero at 127.5: x = (b − 127.5) / 127.5.
    Cu8,
}

impl Encoding {
    /// Bytes per real sample.
    pub const fn bytes(self) -> usize {
        match self {
            Encoding::U8 | Encoding::S8 | Encoding::Cu8 => 1,
            Encoding::S16Le | Encoding::S16Be => 2,
            Encoding::S24Le => 3,
            Encoding::S32Le | Encoding::F32Le | Encoding::F32Be => 4,
            Encoding::F64Le => 8,
        }
    }

    pub const fn is_float(self) -> bool {
        matches!(self, Encoding::F32Le | Encoding::F32Be | Encoding::F64Le)
    }

    /// Significant bits (integers) or the float width.
    pub const fn bits(self) -> u32 {
        8 * self.bytes() as u32
    }

    /// Decodes `min(out.len(), bytes.len() / self.bytes())` samples; returns that count.
    pub fn decode(self, bytes: &[u8], out: &mut [f32]) -> usize {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above; the check is a cached load).
            return unsafe { self.decode_avx2(bytes, out) };
        }
        self.decode_body(bytes, out)
    }

    /// [`Encoding::decode`] compiled for AVX2 (8 lanes; the same operations, the same values).
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn decode_avx2(self, bytes: &[u8], out: &mut [f32]) -> usize {
        self.decode_body(bytes, out)
    }

    #[inline(always)]
    fn decode_body(self, bytes: &[u8], out: &mut [f32]) -> usize {
        let n = out.len().min(bytes.len() / self.bytes());
        let (bytes, out) = (&bytes[..n * self.bytes()], &mut out[..n]);
        match self {
            Encoding::U8 => each1(bytes, out, |b| (b as f32 - 128.0) * (1.0 / 128.0)),
            Encoding::S8 => each1(bytes, out, |b| (b as i8) as f32 * (1.0 / 128.0)),
            Encoding::Cu8 => each1(bytes, out, |b| (b as f32 - 127.5) * (1.0 / 127.5)),
            Encoding::S16Le => each::<2, _>(bytes, out, |b| {
                i16::from_le_bytes(b) as f32 * (1.0 / 32768.0)
            }),
            Encoding::S16Be => each::<2, _>(bytes, out, |b| {
                i16::from_be_bytes(b) as f32 * (1.0 / 32768.0)
            }),
            Encoding::S24Le => each::<3, _>(bytes, out, |b| {
                (i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8) as f32 * (1.0 / 8_388_608.0)
            }),
            // `v as f32` rounds once (to nearest); the power-of-two scale is exact.
            Encoding::S32Le => each::<4, _>(bytes, out, |b| {
                i32::from_le_bytes(b) as f32 * (1.0 / 2_147_483_648.0)
            }),
            Encoding::F32Le => each::<4, _>(bytes, out, f32::from_le_bytes),
            Encoding::F32Be => each::<4, _>(bytes, out, f32::from_be_bytes),
            Encoding::F64Le => each::<8, _>(bytes, out, |b| f64::from_le_bytes(b) as f32),
        }
        n
    }

    /// Encodes `min(x.len(), out.len() / self.bytes())` samples (rounded half away from zero,
    /// clipped, NaN → zero); returns how many were clipped.
    pub fn encode(self, x: &[f32], out: &mut [u8]) -> u64 {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above; the check is a cached load).
            return unsafe { self.encode_avx2(x, out) };
        }
        self.encode_body(x, out)
    }

    /// [`Encoding::encode`] compiled for AVX2 (8 lanes; the same operations, the same bytes).
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn encode_avx2(self, x: &[f32], out: &mut [u8]) -> u64 {
        self.encode_body(x, out)
    }

    #[inline(always)]
    fn encode_body(self, x: &[f32], out: &mut [u8]) -> u64 {
        let n = x.len().min(out.len() / self.bytes());
        let (x, out) = (&x[..n], &mut out[..n * self.bytes()]);
        match self {
            Encoding::U8 => enc::<1>(x, out, 128.0, 8, |q| [(q + 128) as u8]),
            Encoding::S8 => enc::<1>(x, out, 128.0, 8, |q| [q as i8 as u8]),
            Encoding::S16Le => enc::<2>(x, out, 32768.0, 16, |q| (q as i16).to_le_bytes()),
            Encoding::S16Be => enc::<2>(x, out, 32768.0, 16, |q| (q as i16).to_be_bytes()),
            Encoding::S24Le => enc::<3>(x, out, 8_388_608.0, 24, |q| {
                let b = q.to_le_bytes();
                [b[0], b[1], b[2]]
            }),
            Encoding::S32Le => {
                let mut clipped = 0u64;
                for (o, &v) in out.chunks_exact_mut(4).zip(x) {
                    let (q, c) = round_clip_i64(v as f64 * 2_147_483_648.0, 31);
                    clipped += c as u64;
                    o.copy_from_slice(&(q as i32).to_le_bytes());
                }
                clipped
            }
            // max/min on a NaN-free value: `clamp` is equivalent, but its NaN semantics keep
            // the loop from vectorising.
            #[allow(clippy::manual_clamp)]
            Encoding::Cu8 => {
                let mut clipped = 0u32;
                for (o, &v) in out.iter_mut().zip(x) {
                    let v = v * 127.5 + 127.5;
                    let nan = v.is_nan();
                    let r = round_half_away_small(if nan { 0.0 } else { v.max(-1e3).min(1e3) });
                    clipped += (nan | !(0..=255).contains(&r)) as u32;
                    // NaN → 127 (the nearest code to zero).
                    *o = if nan { 127 } else { r.clamp(0, 255) as u8 };
                }
                clipped as u64
            }
            Encoding::F32Le => put::<4, _>(x, out, f32::to_le_bytes),
            Encoding::F32Be => put::<4, _>(x, out, f32::to_be_bytes),
            Encoding::F64Le => put::<8, _>(x, out, |v| (v as f64).to_le_bytes()),
        }
    }

    /// Appends the encoding of `x` to `out`; returns how many samples were clipped.
    pub fn encode_append(self, x: &[f32], out: &mut Vec<u8>) -> u64 {
        let start = out.len();
        out.resize(start + x.len() * self.bytes(), 0);
        self.encode(x, &mut out[start..])
    }

    /// Decodes integer samples left-justified to 32 bits (`s16` value `v` becomes `v << 16`;
    /// `u8`/`cu8` byte `b` becomes `(b − 128) << 24`): lossless for every integer width.
    /// Returns the count, or `None` for a float encoding.
    pub fn decode_i32(self, bytes: &[u8], out: &mut [i32]) -> Option<usize> {
        let n = out.len().min(bytes.len() / self.bytes());
        let (bytes, out) = (&bytes[..n * self.bytes()], &mut out[..n]);
        match self {
            Encoding::U8 | Encoding::Cu8 => each1(bytes, out, |b| (b as i32 - 128) << 24),
            Encoding::S8 => each1(bytes, out, |b| (b as i8 as i32) << 24),
            Encoding::S16Le => each::<2, _>(bytes, out, |b| (i16::from_le_bytes(b) as i32) << 16),
            Encoding::S16Be => each::<2, _>(bytes, out, |b| (i16::from_be_bytes(b) as i32) << 16),
            Encoding::S24Le => {
                each::<3, _>(bytes, out, |b| i32::from_le_bytes([0, b[0], b[1], b[2]]))
            }
            Encoding::S32Le => each::<4, _>(bytes, out, i32::from_le_bytes),
            Encoding::F32Le | Encoding::F32Be | Encoding::F64Le => return None,
        }
        Some(n)
    }

    /// Encodes left-justified `i32` samples (see [`decode_i32`](Self::decode_i32)), truncated
    /// to the encoding's width. Returns the count, or `None` for a float encoding.
    pub fn encode_i32(self, x: &[i32], out: &mut [u8]) -> Option<usize> {
        let n = x.len().min(out.len() / self.bytes());
        let (x, out) = (&x[..n], &mut out[..n * self.bytes()]);
        match self {
            Encoding::U8 | Encoding::Cu8 => {
                put::<1, _>(x, out, |v| [((v >> 24) + 128) as u8]);
            }
            Encoding::S8 => {
                put::<1, _>(x, out, |v| [(v >> 24) as u8]);
            }
            Encoding::S16Le => {
                put::<2, _>(x, out, |v| ((v >> 16) as i16).to_le_bytes());
            }
            Encoding::S16Be => {
                put::<2, _>(x, out, |v| ((v >> 16) as i16).to_be_bytes());
            }
            Encoding::S24Le => {
                put::<3, _>(x, out, |v| {
                    let b = v.to_le_bytes();
                    [b[1], b[2], b[3]]
                });
            }
            Encoding::S32Le => {
                put::<4, _>(x, out, i32::to_le_bytes);
            }
            Encoding::F32Le | Encoding::F32Be | Encoding::F64Le => return None,
        }
        Some(n)
    }
}

impl From<RawFormat> for Encoding {
    fn from(f: RawFormat) -> Self {
        match f {
            RawFormat::U8 => Encoding::U8,
            RawFormat::S8 => Encoding::S8,
            RawFormat::S16Le => Encoding::S16Le,
            RawFormat::S16Be => Encoding::S16Be,
            RawFormat::S24Le => Encoding::S24Le,
            RawFormat::S32Le => Encoding::S32Le,
            RawFormat::F32Le => Encoding::F32Le,
            RawFormat::F32Be => Encoding::F32Be,
            RawFormat::F64Le => Encoding::F64Le,
        }
    }
}

impl From<super::iq::RawIq> for Encoding {
    fn from(f: super::iq::RawIq) -> Self {
        use super::iq::RawIq;
        match f {
            RawIq::Cu8 => Encoding::Cu8,
            RawIq::Cs8 => Encoding::S8,
            RawIq::Cs16le => Encoding::S16Le,
            RawIq::Cf32le => Encoding::F32Le,
        }
    }
}

impl From<super::riff::SampleFormat> for Encoding {
    fn from(f: super::riff::SampleFormat) -> Self {
        use super::riff::SampleFormat as S;
        match f {
            S::U8 => Encoding::U8,
            S::I16 => Encoding::S16Le,
            S::I24 => Encoding::S24Le,
            S::I32 => Encoding::S32Le,
            S::F32 => Encoding::F32Le,
            S::F64 => Encoding::F64Le,
        }
    }
}

#[inline(always)]
fn each1<T>(bytes: &[u8], out: &mut [T], f: impl Fn(u8) -> T) {
    for (o, &b) in out.iter_mut().zip(bytes) {
        *o = f(b);
    }
}

#[inline(always)]
fn each<const N: usize, T>(bytes: &[u8], out: &mut [T], f: impl Fn([u8; N]) -> T) {
    for (o, b) in out.iter_mut().zip(bytes.chunks_exact(N)) {
        *o = f(b.try_into().expect("chunks_exact gives N bytes"));
    }
}

#[inline(always)]
fn put<const N: usize, T: Copy>(x: &[T], out: &mut [u8], f: impl Fn(T) -> [u8; N]) -> u64 {
    for (o, &v) in out.chunks_exact_mut(N).zip(x) {
        o.copy_from_slice(&f(v));
    }
    0
}

/// Rounds half away from zero without a libm call: truncate, then step by the fraction.
/// Exact for |v| < 2^24; larger values are already integers (fraction 0). `v` must be within
/// ±2^31 (callers clamp first); NaN gives 0.
#[inline(always)]
fn round_half_away(v: f32) -> i32 {
    let t = v as i32;
    let f = v - t as f32;
    t + (f >= 0.5) as i32 - (f <= -0.5) as i32
}

/// Rounds half away from zero for |v| ≤ 2^22 with bit arithmetic only (no float → int
/// conversion, whose saturation x86 cannot vectorise): adding 1.5·2^23 rounds to nearest-even
/// into the low mantissa bits; exact ties are then moved away from zero.
#[inline(always)]
fn round_half_away_small(v: f32) -> i32 {
    const MAGIC: f32 = 12_582_912.0;
    let rn = (v + MAGIC).to_bits() as i32 - MAGIC.to_bits() as i32;
    let d = v - rn as f32;
    rn + ((d == 0.5) & (v > 0.0)) as i32 - ((d == -0.5) & (v < 0.0)) as i32
}

/// Quantises `x * scale` to a signed `bits`-bit integer (round half away, clip); the block
/// loop of every 8/16/24-bit encoder. Returns the clip count.
#[inline(always)]
// max/min on a NaN-free value: `clamp` would not vectorise.
#[allow(clippy::manual_clamp)]
fn enc<const N: usize>(
    x: &[f32],
    out: &mut [u8],
    scale: f32,
    bits: u32,
    f: impl Fn(i32) -> [u8; N],
) -> u64 {
    let hi = (1i32 << (bits - 1)) - 1;
    let lo = -(1i32 << (bits - 1));
    let mut clipped = 0u32;
    if bits <= 16 {
        // The hot path (16-bit WAV and I/Q): every step vectorises. NaN → 0, counted.
        for (o, &v) in out.chunks_exact_mut(N).zip(x) {
            let s = v * scale;
            let nan = s.is_nan();
            let s = if nan { 0.0 } else { s };
            let r = round_half_away_small(s.max(-65_536.0).min(65_536.0));
            clipped += (nan | (r < lo) | (r > hi)) as u32;
            o.copy_from_slice(&f(r.clamp(lo, hi)));
        }
        return clipped as u64;
    }
    for (o, &v) in out.chunks_exact_mut(N).zip(x) {
        let s = v * scale;
        let nan = s.is_nan();
        // ±2^30 keeps `round_half_away` in range and is far outside every 24-bit range.
        let r = round_half_away(s.clamp(-1_073_741_824.0, 1_073_741_824.0));
        clipped += (nan | (r < lo) | (r > hi)) as u32;
        o.copy_from_slice(&f(r.clamp(lo, hi)));
    }
    clipped as u64
}

/// Round half away from zero and clip to a signed `bits`-bit range, in f64 (32-bit integers).
#[inline(always)]
fn round_clip_i64(v: f64, bits: u32) -> (i64, bool) {
    let hi = (1i64 << bits) - 1;
    let lo = -(1i64 << bits);
    if v.is_nan() {
        return (0, true);
    }
    let c = v.clamp(-1e15, 1e15);
    let t = c as i64;
    let f = c - t as f64;
    let r = t + (f >= 0.5) as i64 - (f <= -0.5) as i64;
    (r.clamp(lo, hi), r < lo || r > hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Encoding; 10] = [
        Encoding::U8,
        Encoding::S8,
        Encoding::S16Le,
        Encoding::S16Be,
        Encoding::S24Le,
        Encoding::S32Le,
        Encoding::F32Le,
        Encoding::F32Be,
        Encoding::F64Le,
        Encoding::Cu8,
    ];

    /// The reference quantiser, written the slow obvious way in f64.
    fn reference(x: f32, bits: u32) -> (i64, bool) {
        let scale = (1u64 << (bits - 1)) as f64;
        let v = (x as f64 * scale).round();
        if v.is_nan() {
            (0, true)
        } else {
            (
                v.clamp(-scale, scale - 1.0) as i64,
                v < -scale || v > scale - 1.0,
            )
        }
    }

    #[test]
    fn integer_encoders_match_the_f64_reference_at_every_rounding_edge() {
        let mut xs = vec![
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            3e38,
            -3e38,
            0.0,
            -0.0,
        ];
        for bits in [8u32, 16, 24, 32] {
            let s = (1u64 << (bits - 1)) as f32;
            for k in [-s - 2.0, -s - 1.0, -s, -1.0, 0.0, 1.0, s - 2.0, s - 1.0, s] {
                for d in [-0.5f32, -0.25, 0.0, 0.25, 0.5, 0.75] {
                    let v = (k + d) / s;
                    xs.extend([
                        v,
                        f32::from_bits(v.to_bits() + 1),
                        f32::from_bits(v.to_bits().wrapping_sub(1)),
                    ]);
                }
            }
        }
        for enc in [
            Encoding::U8,
            Encoding::S8,
            Encoding::S16Le,
            Encoding::S16Be,
            Encoding::S24Le,
            Encoding::S32Le,
        ] {
            let mut bytes = vec![0u8; xs.len() * enc.bytes()];
            let clipped = enc.encode(&xs, &mut bytes);
            let mut back = vec![0i32; xs.len()];
            enc.decode_i32(&bytes, &mut back).unwrap();
            let shift = 32 - enc.bits();
            let mut want_clipped = 0;
            for (i, &x) in xs.iter().enumerate() {
                let (q, c) = reference(x, enc.bits());
                want_clipped += c as u64;
                assert_eq!((back[i] >> shift) as i64, q, "{enc:?} x={x:e}");
            }
            assert_eq!(clipped, want_clipped, "{enc:?}");
        }
    }

    #[test]
    fn every_encoding_round_trips_its_own_bytes() {
        for enc in ALL {
            let n = 512;
            let bytes: Vec<u8> = if enc.is_float() {
                let x: Vec<f32> = (0..n).map(|i| (i as f32 - 256.0) / 37.0).collect();
                let mut b = vec![0; n * enc.bytes()];
                assert_eq!(enc.encode(&x, &mut b), 0);
                b
            } else {
                (0..n * enc.bytes())
                    .map(|i| (i * 37 + i / 5) as u8)
                    .collect()
            };
            let mut x = vec![0f32; n];
            assert_eq!(enc.decode(&bytes, &mut x), n);
            let mut back = vec![0u8; bytes.len()];
            assert_eq!(enc.encode(&x, &mut back), 0, "{enc:?}");
            // f32 carries up to 24 bits exactly; 32-bit integers use the i32 path.
            if enc != Encoding::S32Le {
                assert_eq!(back, bytes, "{enc:?} via f32");
            }
            let mut i = vec![0i32; n];
            let mut back = vec![0u8; bytes.len()];
            if enc.decode_i32(&bytes, &mut i).is_some() {
                enc.encode_i32(&i, &mut back).unwrap();
                assert_eq!(back, bytes, "{enc:?} via i32");
            } else {
                assert!(enc.is_float());
            }
        }
    }

    #[test]
    fn known_byte_patterns_decode_to_their_values() {
        let mut o = [0f32; 2];
        Encoding::S16Le.decode(&[0x00, 0x80, 0x00, 0x40], &mut o);
        assert_eq!(o, [-1.0, 0.5]);
        Encoding::S16Be.decode(&[0x80, 0x00, 0x40, 0x00], &mut o);
        assert_eq!(o, [-1.0, 0.5]);
        Encoding::U8.decode(&[0, 192], &mut o);
        assert_eq!(o, [-1.0, 0.5]);
        Encoding::S8.decode(&[0x80, 0x40], &mut o);
        assert_eq!(o, [-1.0, 0.5]);
        Encoding::S24Le.decode(&[0, 0, 0x80, 0, 0, 0x40], &mut o);
        assert_eq!(o, [-1.0, 0.5]);
        Encoding::S32Le.decode(&[0, 0, 0, 0x80, 0, 0, 0, 0x40], &mut o);
        assert_eq!(o, [-1.0, 0.5]);
        Encoding::F32Be.decode(&[0x3f, 0, 0, 0, 0xbf, 0x80, 0, 0], &mut o);
        assert_eq!(o, [0.5, -1.0]);
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&0.5f64.to_le_bytes());
        b[8..].copy_from_slice(&(-1.0f64).to_le_bytes());
        Encoding::F64Le.decode(&b, &mut o);
        assert_eq!(o, [0.5, -1.0]);
        Encoding::Cu8.decode(&[0, 255], &mut o);
        assert_eq!(o, [-1.0, 1.0]);
        let mut c = [0u8; 3];
        assert_eq!(Encoding::Cu8.encode(&[f32::NAN, 2.0, -1.0], &mut c), 2);
        assert_eq!(c, [127, 255, 0]);
    }

    #[test]
    fn short_buffers_process_only_whole_samples_present() {
        let mut o = [9f32; 4];
        assert_eq!(Encoding::S16Le.decode(&[0, 0x40, 0], &mut o), 1);
        assert_eq!(o, [0.5, 9.0, 9.0, 9.0]);
        let mut b = [0u8; 5];
        Encoding::S16Le.encode(&[0.5, 0.5, 0.5], &mut b);
        assert_eq!(b, [0, 0x40, 0, 0x40, 0]);
    }
}
