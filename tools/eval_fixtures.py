#!/usr/bin/env python3
"""Independent numpy reference values for tests/eval_metrics.rs.

Re-implements the metric definitions of src/eval/metrics.rs from their written spec (not from
the Rust code) on deterministic signals that the Rust test rebuilds from the same formulas, and
prints the expected values. Run: python3 tools/eval_fixtures.py
"""
import numpy as np

RATE = 8000
N = 4000


def lcg_noise(n, seed=12345):
    """u_i in [-0.5, 0.5): x <- (1664525 x + 1013904223) mod 2^32 (Numerical Recipes)."""
    out = np.empty(n)
    x = seed
    for i in range(n):
        x = (1664525 * x + 1013904223) % (1 << 32)
        out[i] = x / 2.0**32 - 0.5
    return out


def signals():
    i = np.arange(N, dtype=np.float64)
    t = i / RATE
    ref = (np.sin(2 * np.pi * 440 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
           + 0.3 * np.sin(2 * np.pi * 1250 * t + 0.7) + 0.1)
    u = lcg_noise(N)
    est = 0.7 * ref + 0.2 * np.sin(2 * np.pi * 2100 * t + 1.1) + 0.05 * np.cos(2 * np.pi * 60 * t) + 0.3 * u
    return ref.astype(np.float32).astype(np.float64), est.astype(np.float32).astype(np.float64), u


def si_sdr(s, e):
    s = s - s.mean()
    e = e - e.mean()
    a = np.dot(e, s) / np.dot(s, s)
    t = a * s
    return 10 * np.log10(np.sum(t**2) / np.sum((e - t) ** 2))


def seg_snr(s, e, rate):
    f = int(round(0.02 * rate))
    m = len(s) // f
    v = []
    for k in range(m):
        a = s[k * f:(k + 1) * f]
        d = e[k * f:(k + 1) * f] - a
        v.append(np.clip(10 * np.log10(np.sum(a**2) / np.sum(d**2)), -10, 35))
    return float(np.mean(v))


def stft_pow(x, frame):
    hop = frame // 2
    w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(frame) / frame)  # periodic Hann
    n = (len(x) - frame) // hop + 1
    return np.array([np.abs(np.fft.rfft(x[k * hop:k * hop + frame] * w)) ** 2 for k in range(n)])


def lsd(s, e, rate):
    frame = int(round(0.032 * rate))
    ps, pe = stft_pow(s, frame), stft_pow(e, frame)
    floor = ps.max() * 1e-6
    en = ps.sum(1)
    act = en >= en.max() * 1e-5
    d = 10 * np.log10(np.maximum(ps, floor) / np.maximum(pe, floor))
    return float(np.mean(np.sqrt(np.mean(d**2, axis=1))[act])), ps


def lkr(c, x, y, rate):
    frame = int(round(0.032 * rate))
    pc, pn, pr = stft_pow(c, frame), stft_pow(x - c, frame), stft_pow(y - c, frame)
    sel = (pn.sum(1) > 0) & (pc.sum(1) <= 1e-4 * pn.sum(1))
    pn, pr = pn[sel], pr[sel]
    mn, mr = pn.mean(0), pr.mean(0)
    keep = (mn > 1e-6 * mn.max()) & (mr > 0)

    def k(p, m):
        q = p[:, keep] / m[keep]
        q = q / q.mean(1, keepdims=True)
        return np.mean(q**4) / np.mean(q**2) ** 2

    return float(np.log(k(pr, mr) / k(pn, mn))), int(sel.sum())


def lkr_signals():
    i = np.arange(N, dtype=np.float64)
    t = i / RATE
    u = lcg_noise(N, seed=777)
    clean = np.where((t >= 0.1) & (t < 0.2), 0.5 * np.sin(2 * np.pi * 500 * t), 0.0)
    noisy = clean + 0.1 * u
    # A residual with level changes and a tonal "musical" component that comes and goes.
    g = 0.05 + 0.03 * np.sin(2 * np.pi * 2 * t)
    burst = (np.sin(2 * np.pi * 7 * t) > 0.6).astype(np.float64)
    enh = clean + g * u + 0.02 * burst * np.sin(2 * np.pi * 1777 * t)
    f = lambda a: a.astype(np.float32).astype(np.float64)
    return f(clean), f(noisy), f(enh)


if __name__ == "__main__":
    ref, est, _ = signals()
    print("si_sdr", repr(si_sdr(ref, est)))
    print("seg_snr", repr(seg_snr(ref, est, RATE)))
    v, ps = lsd(ref, est, RATE)
    print("lsd", repr(v))
    # For the analytic LSD case (estimate = 2 * reference) no bin of the reference may be floored.
    print("lsd_ref_min_over_peak", ps.min() / ps.max())
    c, x, y = lkr_signals()
    print("lkr", lkr(c, x, y, RATE))


def stoi_signals(rate, seconds=3.0):
    """A voiced-like harmonic signal with on/off envelope (gaps), and a noisy copy."""
    n = int(rate * seconds)
    i = np.arange(n, dtype=np.float64)
    t = i / rate
    env = np.clip(np.sin(2 * np.pi * 2.5 * t), 0, None) ** 2
    f0 = 120 + 20 * np.sin(2 * np.pi * 0.5 * t)
    ph = 2 * np.pi * np.cumsum(f0) / rate
    x = env * sum(np.sin(k * ph) / k for k in range(1, 20) if 120 * k < 0.45 * rate)
    y = x + 0.3 * lcg_noise(n, seed=4242) + 0.5 * np.sin(2 * np.pi * 1000 * t) * (t > 1.5)
    f = lambda a: a.astype(np.float32).astype(np.float64)  # noqa: E731
    return f(x), f(y)


if __name__ == "__main__":
    from pystoi import stoi
    for rate in (10000, 16000):
        x, y = stoi_signals(rate)
        print("stoi", rate, repr(stoi(x, y, rate)))
