"""specgate: streaming spectral-gate noise filter for SDR audio and I/Q, from numpy.

    import specgate
    y = specgate.filter(x, 48000)                      # time-aligned, same shape as x
    y = specgate.filter(iq, 2_000_000)                 # complex I/Q: the "iq" preset
    e = specgate.Engine(48000, channels=2, preset="voice", reduction_db=12)
    out = e.process(block)                             # streaming; delayed by e.latency_samples
    x, info = specgate.read("SDRuno_20220309_140138Z_7150kHz.wav")
    t = specgate.emissions(iq, 2_000_000)             # one row per detected emission
    t = specgate.emissions("SDRuno_20220309_140138Z_7150kHz.wav")
    s = specgate.segments(x, 48000, 1.0)               # one row per 1 s segment (MFCCs, ...)

Arrays: real input is float32/float64 of shape (frames,) or (frames, channels), full scale
±1.0; complex input is complex64/complex128 (one I/Q signal per column). Results are float32 or
complex64 of the input's shape. Keyword overrides are the parameter keys of `specgate presets`
and the CLI flags (reduction_db, threshold_db, rule, frame_ms, ...).

Tables: emissions() and segments() return numpy structured arrays whose field names, order and
units are exactly the columns `specgate features` (`--segments`) writes, one row per emission
(segment): t["center_hz"], t[t["kind"] == "cw"], t[0]. Floats are float64, counts int64, text
columns numpy strings. Invalid input raises InvalidInput (a ValueError, and a TypeError for a
wrong dtype).
"""

import json
import math
import numbers
import os
import warnings

import numpy as np

from . import _specgate

__version__ = _specgate.__version__
__all__ = ["Engine", "InvalidInput", "emissions", "filter", "presets", "read", "resolution", "segments"]


class InvalidInput(ValueError, TypeError):
    """An array or argument specgate cannot take (wrong dtype or shape, NaN/Inf, empty): a
    ValueError, and also a TypeError so `except TypeError` keeps working for a wrong dtype."""


def presets():
    """{name: description} of the shipped presets."""
    return dict(_specgate.presets())


def _overrides(kw):
    """Keyword overrides as a TOML table for the library's parameter parser."""
    lines = []
    for key, v in kw.items():
        if not key.replace("_", "").isalnum():
            raise InvalidInput(f"specgate: bad parameter name {key!r}")
        if isinstance(v, (bool, np.bool_)):
            text = "true" if v else "false"
        elif isinstance(v, numbers.Integral):
            text = str(int(v))
        elif isinstance(v, numbers.Real):
            if not math.isfinite(float(v)):
                raise InvalidInput(f"specgate: {key} must be finite, got {v!r}")
            text = repr(float(v))
        elif isinstance(v, str):
            text = json.dumps(v)
        else:
            raise InvalidInput(f"specgate: {key} must be a number, bool or string, got {type(v).__name__}")
        lines.append(f"{key} = {text}")
    return "\n".join(lines)


def _rate(rate):
    if isinstance(rate, bool) or not isinstance(rate, numbers.Integral):
        raise InvalidInput(f"specgate: rate must be an integer number of Hz, got {rate!r}")
    if not 0 < int(rate) < 2**32:
        raise InvalidInput(f"specgate: rate must be positive, got {rate}")
    return int(rate)


def _array(x, what="x"):
    """`x` as an ndarray of a float or complex dtype, finite; clear errors otherwise."""
    a = np.asarray(x)
    if a.dtype.kind not in "fc":
        hint = " (scale integer PCM to ±1.0 first, e.g. x / 32768)" if a.dtype.kind in "iu" else ""
        raise InvalidInput(
            f"specgate: {what} must be a float32/float64 or complex64/complex128 array, "
            f"got dtype {a.dtype}{hint}"
        )
    if a.ndim not in (1, 2):
        raise InvalidInput(f"specgate: {what} must be 1-D (frames,) or 2-D (frames, channels), got shape {a.shape}")
    if a.ndim == 2 and a.shape[1] == 0:
        raise InvalidInput(f"specgate: {what} has no channels (shape {a.shape})")
    if not np.isfinite(a).all():
        bad = int(np.flatnonzero(~np.isfinite(a.reshape(-1)))[0])
        raise InvalidInput(f"specgate: {what} contains NaN or infinite values (first at flat index {bad})")
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
        raise InvalidInput("specgate: x is empty: nothing to filter")
    ov = _overrides(overrides)
    if a.dtype.kind == "c":
        if a.ndim != 1 and a.shape[1] != 1:
            raise InvalidInput(
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
            raise InvalidInput(f"specgate: channels must be a positive integer, got {channels!r}")
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
            raise InvalidInput(f"specgate: this engine takes {want} blocks, got dtype {a.dtype}")
        cols = 1 if a.ndim == 1 else a.shape[1]
        if cols != self.channels:
            raise InvalidInput(f"specgate: block has {cols} channel(s); the engine has {self.channels}")
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


# --- features: the tables of `specgate features` -------------------------------------------


def _table(t):
    """(names, type codes, columns) from the extension → a numpy structured array. The names and
    their order are the library's table header, the one `specgate features` prints."""
    names, types, cells = t
    fields = []
    for name, ty, col in zip(names, types, cells):
        if ty == "f":
            fields.append((name, "<f8"))
        elif ty == "i":
            fields.append((name, "<i8"))
        elif ty == "U":
            fields.append((name, f"<U{max([len(v) for v in col] + [1])}"))
        else:
            raise RuntimeError(f"specgate: unknown column type {ty!r} of {name}")
    rows = len(cells[0]) if cells else 0
    out = np.zeros(rows, dtype=fields)
    for (name, _), col in zip(fields, cells):
        out[name] = col
    return out


def _is_path(x):
    return isinstance(x, (str, bytes, os.PathLike))


def _feature_input(x, rate, iq, what):
    """An array → (flat float32, rate, channels, iq); checked like filter()'s input."""
    rate = _rate(rate)
    a = _array(x)
    if a.size == 0:
        raise InvalidInput(f"specgate: x is empty: no samples to {what}")
    complex_ = a.dtype.kind == "c"
    if iq is not None and bool(iq) != complex_:
        raise InvalidInput(
            f"specgate: iq={iq} but x has dtype {a.dtype}: I/Q samples are a complex array "
            "(complex64/complex128), audio a real one"
        )
    channels = 1 if a.ndim == 1 else a.shape[1]
    return _interleave(a), rate, channels, complex_


def _opt_number(v, name):
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise InvalidInput(f"specgate: {name} must be a number, got {v!r}")
    return float(v)


def _opt_count(v, name):
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0:
        raise InvalidInput(f"specgate: {name} must be a non-negative integer, got {v!r}")
    return int(v)


def _path_rate(rate):
    return None if rate is None else _rate(rate)


def emissions(x, rate=None, *, iq=None, preset=None, center_hz=None, min_duration_ms=None,
              min_bandwidth_hz=None, hold_ms=None, max_open=None, profile_s=None, **overrides):
    """The emissions `specgate features` finds, as a numpy structured array (one row each).

    x: a signal — complex64/complex128 I/Q (frames,) or real float32/float64 audio (frames,)
    or (frames, channels) — with its sample `rate`; or the path of a recording (WAV/RF64, SigMF,
    raw I/Q; `rate` then only for a raw file whose name does not give it, `iq` forces the
    detection like --iq/--no-iq). Samples in memory are analysed exactly as `specgate features`
    analyses a raw file of the same samples (e.g. `-f cf32le`); `center_hz` (arrays only) makes
    centre frequencies absolute (freq_ref "rf").

    Fields (the CLI's columns, same order and units): channel, start_s, end_s, duration_s,
    center_hz, freq_ref, bandwidth_hz (99 % power), bandwidth_3db_hz, peak_dbfs, snr_db,
    duty_cycle, on_off_count, freq_drift_hz_per_s, spectral_flatness, freq_spread_hz,
    frame_width_hz, level_cv, kind (carrier, cw, burst, voice, wideband, unknown), kind_rule.
    Rows come in the order emissions close (one hold time after their end).

    Detector settings (None: the CLI's defaults): min_duration_ms (5), min_bandwidth_hz (0),
    hold_ms (2000: gaps shorter than this are bridged), max_open (0: from the FFT size),
    profile_s (1: I/Q seconds analysed for the noise floor, 0 = blind). The gate is `preset`
    (default "iq" for I/Q, else "voice") with keyword overrides, as in filter(). Times are
    measured in hops and frequencies in bins of resolution(). Warnings of the run (regions
    closed early at max_open, replaced samples) are issued as RuntimeWarning.
    """
    det = (
        _opt_number(min_duration_ms, "min_duration_ms"),
        _opt_number(min_bandwidth_hz, "min_bandwidth_hz"),
        _opt_number(hold_ms, "hold_ms"),
        _opt_count(max_open, "max_open"),
        _opt_number(profile_s, "profile_s"),
    )
    ov = _overrides(overrides)
    if _is_path(x):
        if center_hz is not None:
            raise InvalidInput("specgate: center_hz is for arrays; a recording gives its own")
        t, warns = _specgate.emissions_of_path(os.fsdecode(x), iq, _path_rate(rate), preset, ov, *det)
    else:
        flat, rate, channels, complex_ = _feature_input(x, rate, iq, "analyse")
        c = _opt_number(center_hz, "center_hz")
        if c is not None and not math.isfinite(c):
            raise InvalidInput(f"specgate: center_hz must be finite, got {center_hz!r}")
        t, warns = _specgate.emissions_of_samples(flat, rate, channels, complex_, c, preset, ov, *det)
    for w in warns:
        warnings.warn(f"specgate: {w}", RuntimeWarning, stacklevel=2)
    return _table(t)


def segments(x, rate=None, seconds=1.0, *, iq=None, preset=None, profile_s=None, **overrides):
    """One row per fixed segment of `seconds`, as `specgate features --segments SECONDS`
    writes it: a numpy structured array with its columns (start_s, end_s, then per frame
    feature the mean and std over the segment: band energies, centroid_hz, bandwidth_hz,
    flatness, rolloff_hz, rms, zcr, mfcc0..mfcc12 — librosa's definitions; I/Q has two-sided
    bands and no zcr/MFCC columns).

    x and rate as in emissions(). The features are of the gated signal (preset and overrides
    as in filter()); reduction_db=0 gives the input's own features.
    """
    sec = _opt_number(seconds, "seconds")
    if sec is None or not (math.isfinite(sec) and sec > 0):
        raise InvalidInput(f"specgate: seconds must be a positive number, got {seconds!r}")
    pr = _opt_number(profile_s, "profile_s")
    ov = _overrides(overrides)
    if _is_path(x):
        t = _specgate.segments_of_path(os.fsdecode(x), iq, _path_rate(rate), sec, preset, ov, pr)
    else:
        flat, rate, channels, complex_ = _feature_input(x, rate, iq, "describe")
        t = _specgate.segments_of_samples(flat, rate, channels, complex_, sec, preset, ov, pr)
    return _table(t)


def resolution(rate, iq=False, preset=None, **overrides):
    """{"bin_hz", "hop_s"}: the frequency bin and the hop the detector of emissions() measures
    with, for this gate at this rate (a centre frequency is good to about a bin, a start or end
    to about a hop)."""
    bin_hz, hop_s = _specgate.resolution(_rate(rate), bool(iq), preset, _overrides(overrides))
    return {"bin_hz": bin_hz, "hop_s": hop_s}
