"""From a recording to a feature matrix: one row per detected emission, numeric columns only,
with the detector's `kind` guess as a provisional label (e.g. for scikit-learn).

    python python/examples/emission_features.py [RECORDING]

Without an argument it builds 6 s of I/Q at 250 kS/s in numpy: a steady carrier, a keyed CW
signal and a short burst in complex noise.
"""

import sys

import numpy as np

import specgate


def make_scene(rate=250_000, seconds=6.0):
    n = int(rate * seconds)
    t = np.arange(n) / rate
    rng = np.random.default_rng(7)
    x = 0.07 * (rng.standard_normal(n) + 1j * rng.standard_normal(n))
    x += 0.02 * np.exp(2j * np.pi * 31_000 * t) * ((t > 0.5) & (t < 5.0))          # carrier
    keyed = (np.floor((t - 1.0) / 0.06) % 4 < 2) & (t > 1.0) & (t < 4.0)         # 60 ms dits
    x += 0.02 * np.exp(-2j * np.pi * 47_000 * t) * keyed                           # CW
    x += 0.05 * np.exp(2j * np.pi * 80_000 * t) * ((t > 2.0) & (t < 2.06))          # burst
    return x.astype(np.complex64), rate


if len(sys.argv) > 1:
    table = specgate.emissions(sys.argv[1])  # WAV/RF64, SigMF or raw I/Q, audio or I/Q
else:
    x, rate = make_scene()
    table = specgate.emissions(x, rate, hold_ms=500)

# The table is a numpy structured array with the columns of `specgate features`.
print(f"{len(table)} emissions; columns: {', '.join(table.dtype.names)}")
for r in table[:10]:
    print(f"  {r['start_s']:7.3f}-{r['end_s']:7.3f} s  {r['center_hz']:+12.1f} Hz ({r['freq_ref']})"
          f"  {r['bandwidth_hz']:8.1f} Hz  {r['snr_db']:5.1f} dB  {r['kind']}")

# Feature matrix: every numeric column except the bookkeeping ones (channel, times).
skip = {"channel", "start_s", "end_s"}
names = [n for n in table.dtype.names if table.dtype[n].kind in "fi" and n not in skip]
X = np.column_stack([table[n].astype(np.float64) for n in names]) if len(table) else np.empty((0, len(names)))
y = table["kind"]
print(f"X: {X.shape} over {names}")
print("labels:", {str(k): int((y == k).sum()) for k in np.unique(y)})

try:  # optional: the usual next step, if scikit-learn is installed
    from sklearn.preprocessing import StandardScaler
except ImportError:
    pass
else:
    Z = StandardScaler().fit_transform(X) if len(X) else X
    print(f"standardised for a classifier: mean {Z.mean():.2f}, std {Z.std():.2f}")
