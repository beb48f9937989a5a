#!/usr/bin/env python3
"""Writes one second of a G.711 µ-law tone, headerless, for SIPp's rtp_stream.

    bench/tone.py OUT.ulaw FREQ_HZ

8000 samples (50 packets of 20 ms) of a sine at FREQ_HZ, peak amplitude 10 000 as in
tests/src/pcap.rs. With a whole number of periods in the second, SIPp looping the file
(`rtp_stream="OUT.ulaw,-1,0"`) plays one continuous tone: any silence in a recording of it is
audio the server did not deliver (bench/wav_gaps.py).
"""
import math
import sys

BIAS, CLIP = 0x84, 32635


def ulaw(sample):
    """G.711 µ-law encoding of a 16-bit sample."""
    sign = 0x80 if sample < 0 else 0
    sample = min(abs(sample), CLIP) + BIAS
    exponent = 7
    mask = 0x4000
    while exponent > 0 and not sample & mask:
        exponent -= 1
        mask >>= 1
    mantissa = (sample >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def main():
    out, freq = sys.argv[1], float(sys.argv[2])
    if freq != int(freq):
        sys.exit("FREQ_HZ must be a whole number: the file loops every second")
    with open(out, "wb") as fh:
        fh.write(bytes(ulaw(int(round(10000 * math.sin(2 * math.pi * freq * i / 8000)))) for i in range(8000)))


if __name__ == "__main__":
    main()
