#!/usr/bin/env python3
"""Generates the scipy reference fixtures for tests/scipy_reference.rs.

Requires: pip install scipy numpy   (generated with scipy 1.17, numpy 2.x)
Run from the repository root:  python3 tools/gen_scipy_reference.py

Each case is one JSON file in tests/data/scipy/ holding the input signal, the call's parameters
and scipy's outputs (frequency vector, time vector, and the complex STFT or the real
spectrogram, frequency-major: rows are frequencies, columns are times). Inputs are rounded to 9
significant digits *before* scipy sees them, so Rust and scipy transform exactly the same
numbers; outputs are written with 8 significant digits (far below the 1e-5 test tolerance).
The tests read these files; Python is not needed at test time.
"""
import json
import os
import warnings

import numpy as np
import scipy
import scipy.signal as ss

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "scipy")


def r9(a):
    return np.array([float("%.9g" % v) for v in np.asarray(a).ravel()]).reshape(np.shape(a))


def fmt(a):
    return [float("%.8g" % v) for v in np.asarray(a, dtype=float).ravel()]


def signal(n, seed, complex_=False, fs=1.0):
    """A tone + chirp + noise mix: broadband content in every bin, deterministic."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fs
    x = (np.cos(2 * np.pi * 0.11 * fs * t + 0.3)
         + 0.5 * np.cos(2 * np.pi * (0.02 * fs + 0.3 * fs * t / t[-1]) * t)
         + 0.1 * rng.standard_normal(n) + 0.25)
    if complex_:
        x = x + 1j * (0.7 * np.sin(2 * np.pi * -0.23 * fs * t) + 0.1 * rng.standard_normal(n))
        return r9(x.real) + 1j * r9(x.imag)
    return r9(x)


def window_arg(name, n):
    """scipy window argument for our window names (sqrt-hann has no scipy name: pass the array)."""
    if name == "sqrt-hann":
        return np.sqrt(ss.get_window("hann", n))
    if name == "tukey":
        return ("tukey", 0.25)
    return {"hann": "hann", "hamming": "hamming", "blackman-harris": "blackmanharris",
            "rectangular": "boxcar"}[name]


def write(name, case):
    case["scipy_version"] = scipy.__version__
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(case, f, separators=(",", ":"))


def stft_case(name, n, seed, window="hann", nperseg=64, noverlap=None, nfft=None,
              scaling="spectrum", fs=1.0, complex_=False, detrend=False):
    x = signal(n, seed, complex_, fs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # complex input switches to two-sided; short input
        f, t, z = ss.stft(x, fs=fs, window=window_arg(window, min(nperseg, n)), nperseg=nperseg,
                          noverlap=noverlap, nfft=nfft, scaling=scaling, detrend=detrend)
    write(name, {
        "func": "stft", "window": window, "nperseg": nperseg, "noverlap": noverlap,
        "nfft": nfft, "scaling": scaling, "fs": fs, "detrend": "constant" if detrend else "none",
        "x_re": fmt(np.real(x)), "x_im": fmt(np.imag(x)) if complex_ else None,
        "f": fmt(f), "t": fmt(t), "shape": list(z.shape),
        "z_re": fmt(z.real), "z_im": fmt(z.imag),
    })


def spectrogram_case(name, n, seed, window="tukey", nperseg=64, noverlap=None, nfft=None,
                     scaling="density", fs=1.0, complex_=False):
    x = signal(n, seed, complex_, fs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f, t, s = ss.spectrogram(x, fs=fs, window=window_arg(window, nperseg), nperseg=nperseg,
                                 noverlap=noverlap, nfft=nfft, scaling=scaling)
    write(name, {
        "func": "spectrogram", "window": window, "nperseg": nperseg, "noverlap": noverlap,
        "nfft": nfft, "scaling": scaling, "fs": fs, "detrend": "constant",
        "x_re": fmt(np.real(x)), "x_im": fmt(np.imag(x)) if complex_ else None,
        "f": fmt(f), "t": fmt(t), "shape": list(s.shape), "s": fmt(s),
    })


def main():
    os.makedirs(OUT, exist_ok=True)
    for old in os.listdir(OUT):
        if old.endswith(".json"):
            os.remove(os.path.join(OUT, old))
    stft_case("stft_hann_64_even_len", 400, 1)
    stft_case("stft_hann_100_odd_len_psd", 251, 2, nperseg=100, noverlap=75, scaling="psd", fs=8000.0)
    stft_case("stft_hann_64_nfft_100", 301, 3, noverlap=16, nfft=100)
    stft_case("stft_complex_two_sided", 160, 4, nperseg=64, noverlap=40, nfft=80, fs=2e6, complex_=True)
    stft_case("stft_complex_psd_odd_nfft", 161, 5, nperseg=64, nfft=77, scaling="psd", complex_=True)
    stft_case("stft_hamming_100_nfft_128_psd", 250, 6, window="hamming", nperseg=100, nfft=128, scaling="psd")
    stft_case("stft_blackman_harris_odd_nfft", 257, 7, window="blackman-harris", noverlap=48, nfft=65)
    stft_case("stft_sqrt_hann", 201, 8, window="sqrt-hann", noverlap=48)
    stft_case("stft_rectangular_no_overlap", 320, 9, window="rectangular", noverlap=0)
    stft_case("stft_short_input_clamps_nperseg", 50, 10, nperseg=64)
    stft_case("stft_detrend_constant", 300, 11, nperseg=100, noverlap=60, detrend="constant")
    spectrogram_case("spectrogram_tukey_default_density", 400, 12, fs=1000.0)
    spectrogram_case("spectrogram_hann_100_spectrum", 401, 13, window="hann", nperseg=100, noverlap=50, nfft=128, scaling="spectrum")
    spectrogram_case("spectrogram_complex_tukey_density", 300, 14, complex_=True, fs=2e6)
    spectrogram_case("spectrogram_odd_nfft_density", 333, 15, window="hann", nfft=101)
    spectrogram_case("spectrogram_even_nfft_spectrum_hamming", 256, 16, window="hamming", nperseg=64, nfft=64, scaling="spectrum", noverlap=32)


if __name__ == "__main__":
    main()
