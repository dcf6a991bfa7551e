"""The Python package against the CLI and itself: equality with `specgate filter`, streaming
equality under any chunking, complex I/Q, reading recordings, and bad input.

The CLI binary is $SPECGATE_BIN, else target/debug/specgate or target/release/specgate of this
checkout (`./dev.sh test` builds it first)."""

import json
import os
import pathlib
import subprocess
import wave

import numpy as np
import pytest

import specgate

ROOT = pathlib.Path(__file__).resolve().parents[2]


def cli():
    env = os.environ.get("SPECGATE_BIN")
    if env:
        return env
    for p in (ROOT / "target" / "debug" / "specgate", ROOT / "target" / "release" / "specgate"):
        if p.exists():
            return str(p)
    pytest.fail("no specgate binary: run `cargo build` or set SPECGATE_BIN")


def noisy_tone(n, rate, seed=1, channels=1):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / rate
    cols = []
    for c in range(channels):
        s = 0.3 * np.sin(2 * np.pi * (700 + 300 * c) * t) * (np.sin(2 * np.pi * 1.5 * t) > 0)
        cols.append(s + 0.05 * rng.standard_normal(n))
    x = np.stack(cols, axis=1).astype(np.float32)
    return x[:, 0].copy() if channels == 1 else x


def run_cli(tmp_path, x, rate, fmt, extra=(), channels=1):
    src, dst = tmp_path / "in.raw", tmp_path / "out.raw"
    x.tofile(src)
    args = [cli(), "filter", str(src), "-o", str(dst), "-f", fmt, "-r", str(rate), "-q"]
    if fmt != "cf32le":
        args += ["-c", str(channels)]
    subprocess.run(args + list(extra), check=True)
    return np.fromfile(dst, dtype=np.complex64 if fmt == "cf32le" else np.float32)


def test_presets_are_the_cli_presets():
    names = set(specgate.presets())
    out = subprocess.run([cli(), "presets"], check=True, capture_output=True, text=True).stdout
    listed = {line.split()[0] for line in out.splitlines() if line and not line.startswith(" ")}
    assert names == listed
    assert {"voice", "cw", "iq"} <= names
    assert all(isinstance(d, str) and d for d in specgate.presets().values())


@pytest.mark.parametrize("preset,overrides,flags", [
    ("voice", {}, []),
    ("cw", {"reduction_db": 12, "rule": "wiener"}, ["--reduction-db", "12", "--rule", "wiener"]),
])
def test_filter_of_a_mono_signal_equals_the_cli(tmp_path, preset, overrides, flags):
    rate = 16000
    x = noisy_tone(3 * rate, rate)
    y = specgate.filter(x, rate, preset=preset, **overrides)
    assert y.dtype == np.float32 and y.shape == x.shape
    want = run_cli(tmp_path, x, rate, "f32le", ["-p", preset, "--out-format", "f32le"] + flags)
    np.testing.assert_array_equal(y, want)
    assert not np.array_equal(y, x)


def test_filter_of_a_stereo_float64_signal_equals_the_cli(tmp_path):
    rate = 8000
    x = noisy_tone(2 * rate, rate, channels=2).astype(np.float64)
    y = specgate.filter(x, rate)
    assert y.shape == x.shape and y.dtype == np.float32
    want = run_cli(tmp_path, x.astype(np.float32), rate, "f32le", ["--out-format", "f32le"], channels=2)
    np.testing.assert_array_equal(y.reshape(-1), want)


def test_filter_of_complex_iq_equals_the_cli_on_the_same_cf32_stream(tmp_path):
    rate = 48000
    rng = np.random.default_rng(3)
    n = 2 * rate
    t = np.arange(n) / rate
    iq = (0.2 * np.exp(2j * np.pi * 5000 * t) * (t > 0.5)
          + 0.02 * (rng.standard_normal(n) + 1j * rng.standard_normal(n))).astype(np.complex64)
    y = specgate.filter(iq, rate)
    assert y.dtype == np.complex64 and y.shape == iq.shape
    src, dst = tmp_path / "in.cf32", tmp_path / "out.cf32"
    iq.tofile(src)
    with open(src, "rb") as f:
        subprocess.run([cli(), "filter", "-", "-o", str(dst), "-f", "cf32le", "-r", str(rate), "-q"],
                       stdin=f, check=True)
    np.testing.assert_array_equal(y, np.fromfile(dst, dtype=np.complex64))
    # The carrier survives, the noise around it does not.
    spec_in = np.abs(np.fft.fft(iq[rate:])) ** 2
    spec_out = np.abs(np.fft.fft(y[rate:])) ** 2
    far = np.r_[0:2000, 12000:20000]
    assert spec_out[far].sum() < 0.1 * spec_in[far].sum()


@pytest.mark.parametrize("channels,iq", [(1, False), (2, False), (1, True), (2, True)])
def test_streaming_gives_the_same_output_under_any_chunking(channels, iq):
    rate = 8000
    n = 2 * rate
    rng = np.random.default_rng(channels + 10 * iq)
    if iq:
        x = (rng.standard_normal((n, channels)) + 1j * rng.standard_normal((n, channels))).astype(np.complex64) * 0.1
    else:
        x = noisy_tone(n, rate, channels=channels)
    if channels == 1:
        x = x.reshape(n)
    whole = specgate.Engine(rate, channels, iq=iq)
    want = whole.process(x)
    assert want.shape == x.shape
    for trial in range(4):
        e = specgate.Engine(rate, channels, iq=iq)
        cuts = np.sort(rng.integers(0, n, size=[3, 30, 200, 1][trial]))
        if trial == 3:
            cuts = np.arange(1, 200)  # one-frame blocks at the start, then the rest
        got = np.concatenate([e.process(b) for b in np.split(x, cuts)])
        np.testing.assert_array_equal(got, want, err_msg=f"chunking {trial}")
    # process() output is filter()'s, delayed by the latency.
    if not iq:
        lat = whole.latency_samples
        assert lat > 0
        np.testing.assert_array_equal(want[lat:], specgate.filter(x, rate)[: n - lat])


def test_reset_makes_an_engine_equal_to_a_new_one():
    rate = 8000
    x = noisy_tone(rate, rate)
    e = specgate.Engine(rate, preset="cw")
    first = e.process(x)
    e.process(noisy_tone(rate, rate, seed=9))
    e.reset()
    np.testing.assert_array_equal(e.process(x), first)


def write_wav16(path, x, rate):
    pcm = np.clip(np.round(x * 32768), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1 if x.ndim == 1 else x.shape[1])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return pcm


def test_read_gives_the_samples_and_description_of_a_wav(tmp_path):
    x = noisy_tone(4000, 8000, channels=2)
    pcm = write_wav16(tmp_path / "a.wav", x, 8000)
    s, info = specgate.read(tmp_path / "a.wav")
    np.testing.assert_array_equal(s, pcm.astype(np.float32) / 32768)
    assert info["rate"] == 8000 and info["channels"] == 2 and not info["iq"]
    assert info["center_hz"] is None


def test_read_recognises_an_sdruno_iq_wav_with_its_centre_frequency(tmp_path):
    iq = np.stack([np.linspace(-0.5, 0.5, 1000), np.linspace(0.5, -0.5, 1000)], axis=1)
    pcm = write_wav16(tmp_path / "SDRuno_20220309_140138Z_7150kHz.wav", iq, 62500)
    s, info = specgate.read(tmp_path / "SDRuno_20220309_140138Z_7150kHz.wav")
    assert info["iq"] and info["rate"] == 62500 and info["center_hz"] == 7150e3
    assert s.dtype == np.complex64 and s.shape == (1000,)
    np.testing.assert_array_equal(s.real, pcm[:, 0] / 32768)
    np.testing.assert_array_equal(s.imag, pcm[:, 1] / 32768)


def test_read_opens_sigmf_and_raw_iq(tmp_path):
    iq = (np.arange(64) / 64 + 1j * (1 - np.arange(64) / 64)).astype(np.complex64)
    iq.tofile(tmp_path / "rec.sigmf-data")
    meta = {"global": {"core:datatype": "cf32_le", "core:sample_rate": 250000, "core:version": "1.0.0"},
            "captures": [{"core:sample_start": 0, "core:frequency": 433.92e6}], "annotations": []}
    (tmp_path / "rec.sigmf-meta").write_text(json.dumps(meta))
    s, info = specgate.read(tmp_path / "rec.sigmf-meta")
    np.testing.assert_array_equal(s, iq)
    assert info["iq"] and info["rate"] == 250000 and info["center_hz"] == 433.92e6
    iq.tofile(tmp_path / "capture.cf32")
    s, info = specgate.read(tmp_path / "capture.cf32")
    np.testing.assert_array_equal(s, iq)
    assert info["iq"] and info["rate"] is None


def test_a_filtered_recording_round_trip_from_read():
    # read() output feeds filter() directly (complex64 in, complex64 out).
    iq = (0.1 * np.exp(2j * np.pi * np.arange(20000) * 0.01)).astype(np.complex64)
    assert specgate.filter(iq, 20000).shape == iq.shape


@pytest.mark.parametrize("bad,exc,words", [
    (np.zeros(100, dtype=np.int16), TypeError, ["int16", "32768"]),
    (np.array(["a", "b"]), TypeError, ["dtype"]),
    (np.array([0.0, np.nan, 0.0]), ValueError, ["NaN", "index 1"]),
    (np.array([0.0, np.inf]), ValueError, ["infinite"]),
    (np.zeros(0, dtype=np.float32), ValueError, ["empty"]),
    (np.zeros((0, 2), dtype=np.float32), ValueError, ["empty"]),
    (np.zeros((4, 4, 4), dtype=np.float32), ValueError, ["shape"]),
])
def test_bad_input_raises_a_clear_python_exception(bad, exc, words):
    with pytest.raises(exc) as e:
        specgate.filter(bad, 8000)
    for w in words:
        assert w in str(e.value), str(e.value)


def test_bad_parameters_name_the_problem():
    x = np.zeros(1000, dtype=np.float32)
    with pytest.raises(ValueError, match="reducton_db"):
        specgate.filter(x, 8000, reducton_db=3)
    with pytest.raises(ValueError, match="reduction_db.*500"):
        specgate.filter(x, 8000, reduction_db=500)
    with pytest.raises(ValueError, match="unknown preset 'loud'"):
        specgate.filter(x, 8000, preset="loud")
    with pytest.raises(ValueError, match="positive"):
        specgate.filter(x, 0)
    with pytest.raises(TypeError, match="rate"):
        specgate.filter(x, 8000.5)
    e = specgate.Engine(8000, channels=2)
    with pytest.raises(ValueError, match="3 channel.*engine has 2"):
        e.process(np.zeros((10, 3), dtype=np.float32))
    with pytest.raises(TypeError, match="real"):
        e.process(np.zeros((10, 2), dtype=np.complex64))
    with pytest.raises(ValueError, match="NaN"):
        e.process(np.full((10, 2), np.nan))
    with pytest.raises(OSError, match="nope.wav"):
        specgate.read("/nonexistent/nope.wav")
