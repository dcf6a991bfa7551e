"""The scipy workflow: load an SDRuno I/Q WAV, gate it, compare scipy.signal.stft before/after.

    python python/examples/scipy_workflow.py [SDRuno_..._7150kHz.wav]

Without an argument it first writes a 10 s test recording in the SDRuno naming (16-bit I/Q at
250 kS/s, centre 7.15 MHz, two carriers in complex noise) to the current directory.
"""

import sys
import wave

import numpy as np
import scipy.signal

import specgate


def make_recording(path, rate=250_000, seconds=10.0):
    n = int(rate * seconds)
    t = np.arange(n) / rate
    rng = np.random.default_rng(1)
    x = 0.05 * np.exp(2j * np.pi * 31_250 * t) + 0.02 * np.exp(-2j * np.pi * 60_000 * t)
    x += 0.01 * (rng.standard_normal(n) + 1j * rng.standard_normal(n))
    pcm = np.empty((n, 2), dtype="<i2")
    pcm[:, 0] = np.round(x.real * 32767)
    pcm[:, 1] = np.round(x.imag * 32767)
    with wave.open(path, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path


path = sys.argv[1] if len(sys.argv) > 1 else make_recording("SDRuno_20240101_000000Z_7150kHz.wav")
x, info = specgate.read(path)  # complex64 I/Q, plus rate / centre frequency
fs = info["rate"]
print(f"{path}: {len(x) / fs:.1f} s of I/Q at {fs} S/s, centre {info['center_hz'] / 1e6:.3f} MHz")

y = specgate.filter(x, fs)  # the "iq" preset; time-aligned, same shape

kw = dict(fs=fs, nperseg=4096, return_onesided=False)
f, t, X = scipy.signal.stft(x, **kw)
_, _, Y = scipy.signal.stft(y, **kw)
px, py = np.abs(X) ** 2, np.abs(Y) ** 2
floor_in = 10 * np.log10(np.median(px))
floor_out = 10 * np.log10(np.median(py))
peak = np.argmax(px.mean(axis=1))
carrier = 10 * np.log10(py[peak].mean() / px[peak].mean())
print(f"noise floor (median STFT bin): {floor_in:.1f} dB -> {floor_out:.1f} dB "
      f"({floor_in - floor_out:.1f} dB lower)")
print(f"strongest carrier ({info['center_hz'] + f[peak]:.0f} Hz): {carrier:+.2f} dB")
