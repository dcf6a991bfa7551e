"""Writes the small WAV/raw fixtures for tests/io_formats.rs with Python's own `wave` and
`struct` modules (independent of hound and of specgate). Run from this directory:
    python3 make_fixtures.py
Each file's samples follow a formula that the Rust test recomputes."""
import struct
import wave


def pcm(name, width, channels, rate, ints):
    with wave.open(name, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        if width == 1:
            data = bytes(ints)  # WAV 8-bit is unsigned
        else:
            data = b"".join(v.to_bytes(width, "little", signed=True) for v in ints)
        w.writeframes(data)


# u8 mono: every byte value once, 0..255.
pcm("py_u8_mono.wav", 1, 1, 8000, list(range(256)))
# s16 stereo: v_i = (i * 7919) mod 65536 - 32768, 300 samples.
pcm("py_s16_stereo.wav", 2, 2, 11025, [(i * 7919) % 65536 - 32768 for i in range(300)])
# s24 mono: v_i = (i * 104729) mod 2^24 - 2^23, 200 samples.
pcm("py_s24_mono.wav", 3, 1, 24000, [(i * 104729) % (1 << 24) - (1 << 23) for i in range(200)])
# s32 stereo: v_i = (i * 2654435761) mod 2^32 - 2^31, 100 samples.
pcm("py_s32_stereo.wav", 4, 2, 48000, [(i * 2654435761) % (1 << 32) - (1 << 31) for i in range(100)])

# f32 3 channels, WAVE_FORMAT_IEEE_FLOAT (3): x_i = (i - 60) / 64, 120 samples.
vals = [(i - 60) / 64 for i in range(120)]
data = struct.pack("<120f", *vals)
ch, rate = 3, 22050
fmt = struct.pack("<HHIIHH", 3, ch, rate, rate * ch * 4, ch * 4, 32)
body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
open("py_f32_3ch.wav", "wb").write(b"RIFF" + struct.pack("<I", len(body)) + body)

# Raw s16 big-endian: v_i = i * 300 - 30000, 200 samples.
open("py_s16be.raw", "wb").write(struct.pack(">200h", *[i * 300 - 30000 for i in range(200)]))
# Raw f32 little-endian: x_i = sin-free exact values (i - 50) / 32, 100 samples.
open("py_f32le.raw", "wb").write(struct.pack("<100f", *[(i - 50) / 32 for i in range(100)]))
