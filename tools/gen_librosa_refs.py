#!/usr/bin/env python3
"""Generates the librosa reference vectors for tests/features_segments.rs.

Requires librosa (generated with librosa 0.11, numpy 2.x, scipy 1.17). Into a venv under target/:
    python3 -m venv target/librosa-venv
    target/librosa-venv/bin/pip install librosa
    target/librosa-venv/bin/python tools/gen_librosa_refs.py
The tests read the files written here; librosa is not needed at test time.

For each case (a few hundred ms of a chirp, noise or a tone mix at 16 / 22.05 / 48 kHz, and two
I/Q scenes) it writes to tests/data/librosa/:
  CASE.x.npy     the input, float32 (1 x n; for I/Q 2 x n: I and Q rows) - exactly what Rust reads
  CASE.json      the configuration, the frame columns, and the reference features per frame and
                 per segment (mean and population std of the frames whose centre falls in it)
Features are librosa's own functions on the float64 copy of the float32 input:
  spectral_centroid, spectral_bandwidth (p=2), spectral_flatness, spectral_rolloff, rms,
  zero_crossing_rate, mfcc (Slaney mel, norm='slaney', power_to_db ref=1 amin=1e-10, DCT-II
  ortho); band energies are numpy sums over abs(librosa.stft)**2.
MFCCs: librosa clips the dB mel spectrogram at (max over the whole input - top_db); the streaming
extractor clips at (running max so far - top_db). "mfcc" is librosa.feature.mfcc(S=...) on the
dB mel spectrogram clipped with the running maximum (the extractor's documented rule);
"mfcc_direct" is plain librosa.feature.mfcc(y=...), and "mfcc_direct_same" says whether the two
rules give the same clip on every frame of the case (then the test compares with it too).
"mfcc_wrong_norm" uses a mel bank without Slaney normalisation (norm=None): the test checks its
comparison rejects it, so a wrong mel norm cannot pass.
I/Q cases: two-sided numpy STFT (fftshift order, signed frequencies), then librosa's centroid,
bandwidth and roll-off with freq=..., flatness on the power; no zcr/MFCC (undefined for I/Q).
"""
import json
import os

import librosa
import numpy as np
import scipy

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "librosa")
AMIN = 1e-10
EDGES = [0.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0, 24000.0]


def edge_name(v):
    s = str(int(v)) if float(v).is_integer() else repr(float(v))
    return s.replace("-", "m").replace(".", "p")


def signal(kind, sr, dur, seed):
    rng = np.random.default_rng(seed)
    n = int(round(sr * dur))
    t = np.arange(n) / sr
    if kind == "chirp":
        f0, f1 = 100.0, 0.45 * sr
        x = 0.6 * np.sin(2 * np.pi * (f0 * t + (f1 - f0) / (2 * t[-1]) * t * t))
    elif kind == "noise":
        x = 0.2 * rng.standard_normal(n)
    elif kind == "tones":
        # A decaying tone mix over a little noise: loud first, quiet later.
        env = np.exp(-t / 0.15)
        x = env * (0.5 * np.sin(2 * np.pi * 440 * t) + 0.25 * np.sin(2 * np.pi * 1870 * t + 1)
                   + 0.1 * np.sin(2 * np.pi * 5100 * t + 2)) + 0.003 * rng.standard_normal(n)
    elif kind == "rising":
        # Quiet first, loud later, no noise: the streaming clip differs from librosa's global one.
        env = 1e-3 * np.exp(t / 0.03)
        x = np.minimum(env, 0.8) * np.sin(2 * np.pi * 700 * t)
    else:
        raise ValueError(kind)
    return x.astype(np.float32)


def iq_signal(sr, dur, seed):
    rng = np.random.default_rng(seed)
    n = int(round(sr * dur))
    t = np.arange(n) / sr
    z = (0.5 * np.exp(2j * np.pi * 0.06 * sr * t) + 0.3 * np.exp(-2j * np.pi * 0.21 * sr * t + 1j)
         + 0.2 * np.exp(2j * np.pi * (-0.4 * sr * t + 0.35 * sr * t * t / t[-1]))
         + 0.05 * (rng.standard_normal(n) + 1j * rng.standard_normal(n)))
    return z.real.astype(np.float32), z.imag.astype(np.float32)


def frame_centres(nframes, cfg):
    off = 0 if cfg["center"] else cfg["n_fft"] // 2
    return np.arange(nframes) * cfg["hop"] + off


def segments(frames, cfg, n, sr):
    """Mean and population std of the frames per segment (the extractor's rule)."""
    seg_len = int(np.floor(cfg["segment_s"] * sr + 0.5))
    c = frame_centres(frames.shape[0], cfg)
    seg = np.where(c >= n, (n - 1) // seg_len, c // seg_len)
    rows = []
    for s in np.unique(seg):
        f = frames[seg == s]
        vals = np.empty(2 * f.shape[1])
        vals[0::2] = f.mean(axis=0)
        vals[1::2] = f.std(axis=0)
        rows.append([s * seg_len / sr, min((s + 1) * seg_len, n) / sr] + vals.tolist())
    return rows


def bands(power, freqs, two_sided):
    defs = []
    if two_sided:
        defs += [(-hi, -lo, False) for lo, hi in reversed(list(zip(EDGES[:-1], EDGES[1:])))]
    defs += [(lo, hi, i == len(EDGES) - 2) for i, (lo, hi) in enumerate(zip(EDGES[:-1], EDGES[1:]))]
    names, rows = [], []
    for lo, hi, top in defs:
        sel = (freqs >= lo) & ((freqs <= hi) if top else (freqs < hi))
        names.append("band_%s_%s_db" % (edge_name(lo), edge_name(hi)))
        rows.append(10 * np.log10(np.maximum(AMIN, power[sel].sum(axis=0))))
    return names, rows


def running_clip(db, top_db):
    if top_db is None:
        return db
    run = np.maximum.accumulate(db.max(axis=0))
    return np.maximum(db, run[None, :] - top_db)


def real_case(name, kind, sr, dur, seed, **over):
    cfg = dict(n_fft=2048, hop=512, n_mels=128, n_mfcc=13, center=True, segment_s=0.1,
               top_db=80.0, roll_percent=0.85)
    cfg.update(over)
    x = signal(kind, sr, dur, seed)
    y = x.astype(np.float64)
    kw = dict(n_fft=cfg["n_fft"], hop_length=cfg["hop"], center=cfg["center"])
    D = librosa.stft(y, window="hann", **kw)
    S, P = np.abs(D), np.abs(D) ** 2
    freqs = librosa.fft_frequencies(sr=sr, n_fft=cfg["n_fft"])
    names, rows = bands(P, freqs, False)
    rows += [
        librosa.feature.spectral_centroid(y=y, sr=sr, **kw)[0],
        librosa.feature.spectral_bandwidth(y=y, sr=sr, **kw)[0],
        librosa.feature.spectral_flatness(y=y, **kw)[0],
        librosa.feature.spectral_rolloff(y=y, sr=sr, roll_percent=cfg["roll_percent"], **kw)[0],
        librosa.feature.rms(y=y, frame_length=cfg["n_fft"], hop_length=cfg["hop"],
                            center=cfg["center"])[0],
        librosa.feature.zero_crossing_rate(y, frame_length=cfg["n_fft"], hop_length=cfg["hop"],
                                           center=cfg["center"])[0],
    ]
    names += ["centroid_hz", "bandwidth_hz", "flatness", "rolloff_hz", "rms", "zcr"]
    mel = librosa.feature.melspectrogram(y=y, sr=sr, n_mels=cfg["n_mels"], **kw)
    db = librosa.power_to_db(mel, ref=1.0, amin=AMIN, top_db=None)
    clipped = running_clip(db, cfg["top_db"])
    mfcc = librosa.feature.mfcc(S=clipped, n_mfcc=cfg["n_mfcc"])
    rows += list(mfcc)
    names += ["mfcc%d" % i for i in range(cfg["n_mfcc"])]
    frames = np.stack(rows, axis=1)
    nframes = frames.shape[0]
    assert all(r.shape == (nframes,) for r in rows)

    direct = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=cfg["n_mfcc"], n_mels=cfg["n_mels"], **kw)
    if cfg["top_db"] is None:
        direct_same = False  # librosa's mfcc(y=...) always clips at 80 dB
    else:
        glob = np.maximum(db, db.max() - cfg["top_db"])
        direct_same = bool(np.array_equal(glob, clipped))
    wrong_mel = librosa.feature.melspectrogram(y=y, sr=sr, n_mels=cfg["n_mels"], norm=None, **kw)
    wrong = librosa.feature.mfcc(
        S=running_clip(librosa.power_to_db(wrong_mel, amin=AMIN, top_db=None), cfg["top_db"]),
        n_mfcc=cfg["n_mfcc"])
    write(name, [x], sr, cfg, False, names, frames, segments(frames, cfg, len(x), sr),
          mfcc_direct=direct.T.tolist(), mfcc_direct_same=direct_same,
          mfcc_wrong_norm=wrong.T.tolist())


def iq_case(name, sr, dur, seed, **over):
    cfg = dict(n_fft=1024, hop=256, n_mels=128, n_mfcc=13, center=True, segment_s=0.05,
               top_db=80.0, roll_percent=0.85)
    cfg.update(over)
    i, q = iq_signal(sr, dur, seed)
    z = i.astype(np.float64) + 1j * q.astype(np.float64)
    n_fft, hop = cfg["n_fft"], cfg["hop"]
    zp = np.pad(z, n_fft // 2) if cfg["center"] else z
    win = scipy.signal.get_window("hann", n_fft, fftbins=True)
    nframes = 1 + (len(zp) - n_fft) // hop
    fr = np.stack([zp[t * hop:t * hop + n_fft] for t in range(nframes)], axis=1)
    D = np.fft.fftshift(np.fft.fft(fr * win[:, None], axis=0), axes=0)
    freqs = np.fft.fftshift(np.fft.fftfreq(n_fft, 1.0 / sr))
    S, P = np.abs(D), np.abs(D) ** 2
    names, rows = bands(P, freqs, True)
    rows += [
        librosa.feature.spectral_centroid(S=S, freq=freqs)[0],
        librosa.feature.spectral_bandwidth(S=S, freq=freqs)[0],
        librosa.feature.spectral_flatness(S=P, power=1.0)[0],
        librosa.feature.spectral_rolloff(S=S, freq=freqs, roll_percent=cfg["roll_percent"])[0],
        np.sqrt(np.mean(np.abs(fr) ** 2, axis=0)),
    ]
    names += ["centroid_hz", "bandwidth_hz", "flatness", "rolloff_hz", "rms"]
    frames = np.stack(rows, axis=1)
    write(name, [i, q], sr, cfg, True, names, frames, segments(frames, cfg, len(i), sr))


def write(name, chans, sr, cfg, complex_, names, frames, segs, **extra):
    x = np.stack(chans).astype("<f4")
    np.save(os.path.join(OUT, name + ".x.npy"), x)
    case = dict(rate=sr, complex=complex_, config=cfg, band_edges_hz=EDGES, columns=names,
                frames=frames.tolist(), segments=segs, librosa_version=librosa.__version__,
                numpy_version=np.__version__, **extra)
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(case, f, separators=(",", ":"))
    print(name, "frames", frames.shape, "segments", len(segs), {k: v for k, v in extra.items()
                                                                  if k == "mfcc_direct_same"})


def main():
    os.makedirs(OUT, exist_ok=True)
    real_case("chirp_16k", "chirp", 16000, 0.3, 1)
    real_case("chirp_48k", "chirp", 48000, 0.25, 2)
    real_case("noise_22k", "noise", 22050, 0.3, 3)
    real_case("noise_48k_uncentred", "noise", 48000, 0.25, 4, center=False)
    real_case("tones_16k", "tones", 16000, 0.3, 5)
    real_case("tones_22k_short_fft", "tones", 22050, 0.3, 6, n_fft=1024, hop=256, n_mels=64,
              segment_s=0.05)
    real_case("tones_48k_no_top_db", "tones", 48000, 0.25, 7, top_db=None)
    real_case("rising_16k", "rising", 16000, 0.3, 10)
    iq_case("iq_48k", 48000, 0.15, 8)
    iq_case("iq_250k_uncentred", 250000, 0.02, 9, center=False, segment_s=0.005)


if __name__ == "__main__":
    main()
