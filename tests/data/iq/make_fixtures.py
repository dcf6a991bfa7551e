#!/usr/bin/env python3
"""Writes the small IQ fixtures in this directory, independently of specgate's code.
Run: python3 make_fixtures.py (numpy only). Layouts: shared/notes/sdr-formats.md."""
import json, struct
import numpy as np

rng = np.random.default_rng(2026)

def systemtime(y, mo, dow, d, h, mi, s, ms=0):
    return struct.pack("<8H", y, mo, dow, d, h, mi, s, ms)

def chunk(cid, payload):
    return cid + struct.pack("<I", len(payload)) + payload + (b"\0" if len(payload) % 2 else b"")

def riff(chunks, riff_size=None):
    body = b"WAVE" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body) if riff_size is None else riff_size) + body

def fmt_pcm(tag, ch, rate, bits):
    ba = ch * bits // 8
    return struct.pack("<HHIIHH", tag, ch, rate, rate * ba, ba, bits)

def fmt_ext(ch, rate, bits, valid, subtag):
    ba = ch * bits // 8
    guid = struct.pack("<H", subtag) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    return struct.pack("<HHIIHHHHI", 0xFFFE, ch, rate, rate * ba, ba, bits, 22, valid, 3) + guid

n = 1000
iq = (0.1 * rng.standard_normal((n, 2))).clip(-1, 1)

# 1. SDRuno: 16-bit, 164-byte auxi, centre 7150 kHz, 2022-03-09 (Wed) 14:01:38 → 14:02:00.
auxi = systemtime(2022, 3, 3, 9, 14, 1, 38) + systemtime(2022, 3, 3, 9, 14, 2, 0)
auxi += struct.pack("<9I", 7_150_000, 0, 0, 0, 0, 0xE49B72A9, 0, 0, 0) + b"\0" * 96
assert len(auxi) == 164
s16 = np.round(iq * 32768).clip(-32768, 32767).astype("<i2").tobytes()
open("SDRuno_20220309_140138Z_7150kHz.wav", "wb").write(
    riff([chunk(b"fmt ", fmt_pcm(1, 2, 62500, 16)), chunk(b"auxi", auxi), chunk(b"data", s16)]))

# 2. SDR Console style: UTF-16LE XML auxi, 24-bit WAVE_FORMAT_EXTENSIBLE, LIST after data.
xml = ('<?xml version="1.0" encoding="UTF-16"?><SDR-XML-Root><Definition CurrentTimeUTC="" '
       'RadioCenterFreq="14074000" SampleRate="48000" BitsPerSample="24" '
       'UTCSeconds="1700000000"/></SDR-XML-Root>').encode("utf-16-le")
s24 = b"".join(int(v).to_bytes(4, "little", signed=True)[:3]
               for v in np.round(iq.ravel() * 8388608).clip(-8388608, 8388607).astype(np.int64))
open("sdrconsole_xml_auxi_24bit_ext.wav", "wb").write(
    riff([chunk(b"fmt ", fmt_ext(2, 48000, 24, 24, 1)), chunk(b"auxi", xml),
          chunk(b"data", s24), chunk(b"LIST", b"INFOISFT\x0b\0\0\0SDRConsole\0\0")]))

# 3. 8-bit unsigned IQ with a streaming writer's bogus sizes (0xFFFFFFFF) and a 68-byte auxi.
u8 = np.round(iq * 128 + 128).clip(0, 255).astype(np.uint8).tobytes()
auxi68 = auxi[:68]
body = chunk(b"fmt ", fmt_pcm(1, 2, 250000, 8)) + chunk(b"auxi", auxi68)
body += b"data" + struct.pack("<I", 0xFFFFFFFF) + u8
open("broken_size_u8.wav", "wb").write(b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVE" + body)

# 4. rtl_sdr raw cu8: (x − 127.5)/127.5.
open("rtl_sdr_capture.cu8", "wb").write(
    np.round(iq * 127.5 + 127.5).clip(0, 255).astype(np.uint8).tobytes())

# 5. SigMF ci16_le, 2 MS/s at 100.9 MHz.
open("capture.sigmf-data", "wb").write(s16)
json.dump({"global": {"core:datatype": "ci16_le", "core:sample_rate": 2000000,
                      "core:version": "1.0.0", "core:recorder": "fixture"},
           "captures": [{"core:sample_start": 0, "core:frequency": 100900000,
                         "core:datetime": "2024-03-27T11:06:12Z"}],
           "annotations": []}, open("capture.sigmf-meta", "w"), indent=1)
