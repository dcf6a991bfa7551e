"""specgate: streaming spectral-gate noise filter for SDR audio and I/Q, from numpy.

    import specgate
    y = specgate.filter(x, 48000)                      # time-aligned, same shape as x
    y = specgate.filter(iq, 2_000_000)                 # complex I/Q: the "iq" preset
    e = specgate.Engine(48000, channels=2, preset="voice", reduction_db=12)
    out = e.process(block)                             # streaming; delayed by e.latency_samples
    x, info = specgate.read("SDRuno_20220309_140138Z_7150kHz.wav")

Arrays: real input is float32/float64 of shape (frames,) or (frames, channels), full scale
±1.0; complex input is complex64/complex128 (one I/Q signal per column). Results are float32 or
complex64 of the input's shape. Keyword overrides are the parameter keys of `specgate presets`
and the CLI flags (reduction_db, threshold_db, rule, frame_ms, ...).
"""

import json
import math
import numbers

import numpy as np

from . import _specgate

__version__ = _specgate.__version__
__all__ = ["Engine", "filter", "presets", "read"]


def presets():
    """{name: description} of the shipped presets."""
    return dict(_specgate.presets())


def _overrides(kw):
    """Keyword overrides as a TOML table for the library's parameter parser."""
    lines = []
    for key, v in kw.items():
        if not key.replace("_", "").isalnum():
            raise ValueError(f"specgate: bad parameter name {key!r}")
        if isinstance(v, (bool, np.bool_)):
            text = "true" if v else "false"
        elif isinstance(v, numbers.Integral):
            text = str(int(v))
        elif isinstance(v, numbers.Real):
            if not math.isfinite(float(v)):
                raise ValueError(f"specgate: {key} must be finite, got {v!r}")
            text = repr(float(v))
        elif isinstance(v, str):
            text = json.dumps(v)
        else:
            raise TypeError(f"specgate: {key} must be a number, bool or string, got {type(v).__name__}")
        lines.append(f"{key} = {text}")
    return "\n".join(lines)


def _rate(rate):
    if isinstance(rate, bool) or not isinstance(rate, numbers.Integral):
        raise TypeError(f"specgate: rate must be an integer number of Hz, got {rate!r}")
    if not 0 < int(rate) < 2**32:
        raise ValueError(f"specgate: rate must be positive, got {rate}")
    return int(rate)


def _array(x, what="x"):
    """`x` as an ndarray of a float or complex dtype, finite; clear errors otherwise."""
    a = np.asarray(x)
    if a.dtype.kind not in "fc":
        hint = " (scale integer PCM to ±1.0 first, e.g. x / 32768)" if a.dtype.kind in "iu" else ""
        raise TypeError(
            f"specgate: {what} must be a float32/float64 or complex64/complex128 array, "
            f"got dtype {a.dtype}{hint}"
        )
    if a.ndim not in (1, 2):
        raise ValueError(f"specgate: {what} must be 1-D (frames,) or 2-D (frames, channels), got shape {a.shape}")
    if a.ndim == 2 and a.shape[1] == 0:
        raise ValueError(f"specgate: {what} has no channels (shape {a.shape})")
    if not np.isfinite(a).all():
        bad = int(np.flatnonzero(~np.isfinite(a.reshape(-1)))[0])
        raise ValueError(f"specgate: {what} contains NaN or infinite values (first at flat index {bad})")
    return a


def _interleave(a):
    """Flat interleaved float32: columns are channels; complex values become (I, Q) pairs."""
    if a.dtype.kind == "c":
        return np.ascontiguousarray(a, dtype=np.complex64).reshape(-1).view(np.float32)
    return np.ascontiguousarray(a, dtype=np.float32).reshape(-1)


def _restore(flat, shape, complex_):
    if complex_:
        return flat.view(np.complex64).reshape(shape)
    return flat.reshape(shape)


def filter(x, rate, preset=None, **overrides):
    """Filters a whole signal and returns it time-aligned (latency removed), same shape.

    Real arrays get the "voice" preset by default and equal `specgate filter` on the same
    samples; a 1-D complex array is one I/Q signal, gets the "iq" preset by default and equals
    `specgate filter` on the same raw cf32le stream (noise-floor estimate from the first second,
    pre-roll). Overrides: parameter keys, e.g. reduction_db=12, rule="wiener".
    """
    rate = _rate(rate)
    a = _array(x)
    if a.size == 0:
        raise ValueError("specgate: x is empty: nothing to filter")
    ov = _overrides(overrides)
    if a.dtype.kind == "c":
        if a.ndim != 1 and a.shape[1] != 1:
            raise ValueError(
                "specgate: filter() takes one complex I/Q signal (shape (frames,)); "
                "use Engine(rate, channels, iq=True) for several"
            )
        y = _specgate.filter_iq(_interleave(a), rate, preset or "iq", ov)
        return _restore(y, a.shape, True)
    channels = 1 if a.ndim == 1 else a.shape[1]
    y = _specgate.filter_real(_interleave(a), rate, channels, preset or "voice", ov)
    return _restore(y, a.shape, False)


class Engine:
    """A streaming filter: blocks of any length in, the same length out, delayed by
    `latency_samples`. Any chunking of a signal gives the same output.

    Engine(rate, channels=1, preset=None, iq=False, **overrides). With iq=True each channel is
    one complex I/Q signal and blocks are complex arrays.
    """

    def __init__(self, rate, channels=1, preset=None, iq=False, **overrides):
        if isinstance(channels, bool) or not isinstance(channels, numbers.Integral) or channels < 1:
            raise ValueError(f"specgate: channels must be a positive integer, got {channels!r}")
        self.channels = int(channels)
        self.iq = bool(iq)
        self.preset = preset or ("iq" if self.iq else "voice")
        self._e = _specgate.Engine(_rate(rate), self.channels, self.preset, self.iq, _overrides(overrides))

    @property
    def rate(self):
        return self._e.rate

    @property
    def latency_samples(self):
        """Output sample t is input sample t - latency_samples (per channel)."""
        return self._e.latency_samples

    def process(self, block):
        """Filters the next block: shape (frames,) for one channel or (frames, channels); complex
        when the engine is iq. Returns float32 (complex64) of the same shape."""
        a = _array(block, "block")
        if (a.dtype.kind == "c") != self.iq:
            want = "complex (iq=True)" if self.iq else "real (iq=False)"
            raise TypeError(f"specgate: this engine takes {want} blocks, got dtype {a.dtype}")
        cols = 1 if a.ndim == 1 else a.shape[1]
        if cols != self.channels:
            raise ValueError(f"specgate: block has {cols} channel(s); the engine has {self.channels}")
        y = self._e.process(_interleave(a))
        return _restore(y, a.shape, self.iq)

    def reset(self):
        """Forgets everything: the next block is filtered as by a new engine."""
        self._e.reset()


def read(path, iq=None):
    """Reads a WAV/RF64, SigMF or raw IQ (.cu8/.cs8/.cs16/.cf32) recording.

    Returns (samples, info): samples are float32 (frames,) or (frames, channels) for audio and
    complex64 (frames,) for I/Q; info is a dict with rate (None for a raw file whose name does
    not give it), iq, center_hz (None if unknown), channels and format. `iq` forces the
    detection (True/False), as --iq/--no-iq do.
    """
    flat, channels, rate, is_iq, center, fmt = _specgate.read(str(path), iq)
    if is_iq:
        samples = flat.reshape(-1, channels)[:, :2].copy().view(np.complex64).reshape(-1)
    elif channels == 1:
        samples = flat
    else:
        samples = flat.reshape(-1, channels)
    info = {"rate": rate, "iq": is_iq, "center_hz": center, "channels": channels, "format": fmt}
    return samples, info
