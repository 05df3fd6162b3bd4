#!/usr/bin/env python3
"""Writes the PCM sources of the test fixtures (stdlib only, deterministic).

  gen_pcm.py music OUT.wav RATE FORMAT CHANNELS SECONDS
  gen_pcm.py sine  OUT.wav RATE FORMAT FREQ_HZ SECONDS LEVEL_DBFS

FORMAT is u8, s16, s24, s32, f32 or f64. "music" is a few chords of harmonic notes with
an attack/decay envelope, panned differently per note so left and right differ.
Integer formats are quantised with TPDF dither from a fixed seed.
"""
import math
import random
import struct
import sys

# (start s, length s, frequencies Hz): four chords and a melody line over 1.5 s.
CHORDS = [
    (0.000, 0.40, [261.63, 329.63, 392.00]),  # C major
    (0.375, 0.40, [220.00, 261.63, 329.63]),  # A minor
    (0.750, 0.40, [174.61, 220.00, 261.63]),  # F major
    (1.125, 0.40, [196.00, 246.94, 293.66]),  # G major
]
MELODY = [(0.0, 0.2, 523.25), (0.2, 0.2, 587.33), (0.4, 0.35, 659.25), (0.75, 0.2, 698.46),
          (0.95, 0.2, 783.99), (1.15, 0.35, 880.00)]
HARMONICS = [1.0, 0.5, 0.33, 0.25, 0.2, 0.12]


def notes(seconds):
    """(start, length, freq, pan -1..1, gain), repeated to fill `seconds`."""
    out = []
    offset = 0.0
    while offset < seconds:
        for start, length, freqs in CHORDS:
            for i, f in enumerate(freqs):
                out.append((offset + start, length, f, (i - 1) * 0.6, 0.22))
        for start, length, f in MELODY:
            out.append((offset + start, length, f, 0.45, 0.18))
        offset += 1.5
    return [n for n in out if n[0] < seconds]


def envelope(t, length):
    if t < 0 or t > length:
        return 0.0
    attack = min(1.0, t / 0.008)
    release = min(1.0, (length - t) / 0.02)
    return attack * release * math.exp(-t / 0.3)


def music(rate, channels, seconds):
    n = int(rate * seconds)
    frames = [[0.0] * channels for _ in range(n)]
    for start, length, freq, pan, gain in notes(seconds):
        first = int(start * rate)
        last = min(n, int((start + length) * rate) + 1)
        left = gain * math.sqrt((1 - pan) / 2)
        right = gain * math.sqrt((1 + pan) / 2)
        parts = [(h + 1, a) for h, a in enumerate(HARMONICS) if freq * (h + 1) < rate / 2 * 0.9]
        for i in range(first, last):
            t = i / rate - start
            env = envelope(t, length)
            if env == 0.0:
                continue
            s = env * sum(a * math.sin(2 * math.pi * freq * k * (1 + 0.0004 * k) * t) for k, a in parts)
            if channels == 1:
                frames[i][0] += s * (left + right) / 2
            else:
                frames[i][0] += s * left
                frames[i][1] += s * right
                # extra channels (surround): decorrelated copies at lower level
                for c in range(2, channels):
                    frames[i][c] += s * (0.3 if c % 2 else 0.25) * (right if c % 2 else left)
    peak = max(abs(v) for f in frames for v in f) or 1.0
    scale = 0.7 / peak
    return [[v * scale for v in f] for f in frames]


def sine(rate, freq, seconds, level_dbfs):
    amp = 10 ** (level_dbfs / 20)
    return [[amp * math.sin(2 * math.pi * freq * i / rate)] for i in range(int(rate * seconds))]


def write_wav(path, rate, fmt, frames):
    channels = len(frames[0])
    rng = random.Random(12345)
    bits = {"u8": 8, "s16": 16, "s24": 24, "s32": 32, "f32": 32, "f64": 64}[fmt]
    data = bytearray()
    for frame in frames:
        for v in frame:
            if fmt == "f32":
                data += struct.pack("<f", v)
            elif fmt == "f64":
                data += struct.pack("<d", v)
            else:
                full = 2 ** (bits - 1)
                dither = rng.random() - rng.random()
                q = max(-full, min(full - 1, math.floor(v * full + dither + 0.5)))
                if fmt == "u8":
                    data += struct.pack("<B", q + 128)
                elif fmt == "s16":
                    data += struct.pack("<h", q)
                elif fmt == "s24":
                    data += struct.pack("<i", q)[:3]
                else:
                    data += struct.pack("<i", q)
    tag = 3 if fmt.startswith("f") else 1
    block = channels * bits // 8
    fmt_chunk = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    with open(path, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt_chunk) + 8 + len(data)) + b"WAVE")
        f.write(b"fmt " + struct.pack("<I", len(fmt_chunk)) + fmt_chunk)
        f.write(b"data" + struct.pack("<I", len(data)) + data)


def main(argv):
    kind, out, rate, fmt = argv[1], argv[2], int(argv[3]), argv[4]
    if kind == "music":
        frames = music(rate, int(argv[5]), float(argv[6]))
    elif kind == "sine":
        frames = sine(rate, float(argv[5]), float(argv[6]), float(argv[7]))
    else:
        raise SystemExit(__doc__)
    write_wav(out, rate, fmt, frames)


if __name__ == "__main__":
    main(sys.argv)
