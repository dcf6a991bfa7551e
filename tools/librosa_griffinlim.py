#!/usr/bin/env python3
"""Reference timing and quality of librosa's fast Griffin-Lim, to compare with `specgate invert`.

Requires: pip install librosa numpy scipy soundfile
Usage:    python3 tools/librosa_griffinlim.py speech16k.wav [--n-fft 512] [--hop 128] [--iterations 32]

Prints the spectral convergence SC = 20·log10(‖|STFT(x̂)| − S‖_F / ‖S‖_F) of the result and the
wall time per second of audio (best of 3 runs, after a warm-up for numba/FFT planning).
Also writes S as float32 .npy (frequency × time) next to the input, for `specgate invert S.npy`.
"""
import argparse
import time

import librosa
import numpy as np
import soundfile as sf


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("wav")
    ap.add_argument("--n-fft", type=int, default=512)
    ap.add_argument("--hop", type=int, default=128)
    ap.add_argument("--iterations", type=int, default=32)
    a = ap.parse_args()
    x, sr = sf.read(a.wav, dtype="float32")
    if x.ndim > 1:
        x = x.mean(axis=1)
    S = np.abs(librosa.stft(x, n_fft=a.n_fft, hop_length=a.hop, center=True, pad_mode="constant"))
    np.save(a.wav.rsplit(".", 1)[0] + "_mag.npy", S.astype(np.float32))
    gl = lambda: librosa.griffinlim(S, n_iter=a.iterations, hop_length=a.hop, n_fft=a.n_fft,
                                    momentum=0.99, init="random", random_state=0, length=len(x))
    gl()
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        y = gl()
        best = min(best, time.perf_counter() - t)
    Y = np.abs(librosa.stft(y, n_fft=a.n_fft, hop_length=a.hop, center=True, pad_mode="constant"))
    sc = 20 * np.log10(np.linalg.norm(Y - S) / np.linalg.norm(S))
    dur = len(x) / sr
    print(f"librosa {librosa.__version__}: {dur:.2f} s of audio, {a.iterations} iterations: "
          f"{best:.3f} s ({best / dur:.4f} s per second of audio), SC {sc:.2f} dB")


if __name__ == "__main__":
    main()
