#!/usr/bin/env python3
"""Checks the stereo recordings of bench/bridged.sh: playable, stereo, and the longest gap.

    bench/wav_gaps.py [--limit-ms 40] [--left-hz 1000] [--right-hz 400] [--list] DIR|WAV...

Both parties played a continuous tone for the whole call (bench/tone.py): the citizen
on the left, the agent on the right. The server's stereo recorder places each packet by its
RTP timestamp and writes silence (zeros) where a side's audio did not arrive in time (a lost
packet, one dropped in a queue, one later than the recorder's 300 ms delay, or a stream
re-anchored to its arrival time after running more than 100 ms late). So, per
channel, between its first and its last audible sample (before: the party had not started
talking; after: it had hung up), a run of near-silent samples (|x| < 200, where the tone
is never that quiet for two samples in a row: amplitude 10 000, 8 or 20 samples a period)
is a gap in the audio the server delivered; the longest such run is the channel's gap.
Each channel's frequency (zero crossings) must be its party's tone: left the citizen, right
the agent.

Prints one line per file with a problem (or every file with --list), then a summary line
of key=value pairs that bench/bridged.sh reads. Needs numpy.
"""
import argparse
import os
import sys
import time
import wave

import numpy as np

QUIET = 200


def runs(mask):
    """(start, length) of every run of True in a boolean array."""
    d = np.diff(np.concatenate(([0], mask.view(np.int8), [0])))
    starts = np.flatnonzero(d == 1)
    ends = np.flatnonzero(d == -1)
    return starts, ends - starts


def channel(x, rate):
    """Lead and tail silence, longest inner gap (ms), gaps over 20 ms, frequency (Hz)."""
    loud = np.abs(x.astype(np.int32)) >= QUIET
    idx = np.flatnonzero(loud)
    if idx.size == 0:
        return None
    first, last = idx[0], idx[-1]
    inner = ~loud[first:last + 1]
    starts, lengths = runs(inner)
    gap = int(lengths.max()) if lengths.size else 0
    gap_at = (first + int(starts[lengths.argmax()])) / rate if lengths.size else 0.0
    frames = int(np.count_nonzero(lengths >= rate // 50))  # whole 20 ms frames missing
    body = x[first:last + 1]
    pos = body > 0
    crossings = np.count_nonzero(pos[1:] != pos[:-1])
    # The audible part only: without the runs of silence (a tone's own zero crossings are
    # single samples).
    secs = max((body.size - int(lengths[lengths >= 8].sum())) / rate, 1e-9)
    return {
        "lead_ms": first * 1000 / rate,
        "tail_ms": (x.size - 1 - last) * 1000 / rate,
        "gap_ms": gap * 1000 / rate,
        "gap_at": gap_at,
        "gaps20": frames,
        "hz": crossings / 2 / secs,
    }


def check(path, args):
    try:
        with wave.open(path, "rb") as w:
            ch, width, rate, n = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
            data = w.readframes(n)
    except (wave.Error, EOFError, OSError) as e:
        return {"playable": False, "error": str(e)}
    r = {"playable": True, "channels": ch, "rate": rate, "width": width, "secs": n / rate if rate else 0,
         "mtime": os.path.getmtime(path)}
    expected = os.path.getsize(path) - 44
    r["size_ok"] = len(data) == n * ch * width and expected >= len(data)
    if ch != 2 or width != 2 or rate != 8000 or n == 0:
        r["stereo"] = False
        return r
    r["stereo"] = True
    a = np.frombuffer(data, dtype="<i2").reshape(-1, 2)
    r["left"] = channel(a[:, 0], rate)
    r["right"] = channel(a[:, 1], rate)

    def near(c, hz):
        return c is not None and abs(c["hz"] - hz) <= hz * 0.05

    r["sides_ok"] = near(r["left"], args.left_hz) and near(r["right"], args.right_hz)
    return r


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--limit-ms", type=float, default=40.0)
    p.add_argument("--left-hz", type=float, default=1000.0)
    p.add_argument("--right-hz", type=float, default=400.0)
    p.add_argument("--list", action="store_true", help="a line for every file")
    p.add_argument("paths", nargs="+")
    args = p.parse_args()
    files = []
    for path in args.paths:
        if os.path.isdir(path):
            for d, _, names in os.walk(path):
                files += [os.path.join(d, f) for f in names if f.endswith("-conversation.wav")]
        else:
            files.append(path)
    files.sort()
    s = {"files": len(files), "playable": 0, "stereo": 0, "sides_ok": 0, "over_limit": 0,
         "silent_channels": 0, "max_gap_ms": 0.0, "gaps20": 0, "max_lead_ms": 0.0, "max_tail_ms": 0.0}
    secs = []
    worst = ""
    for f in files:
        r = check(f, args)
        bad = []
        if not r["playable"]:
            bad.append("not playable: " + r["error"])
        else:
            s["playable"] += 1
            if not r.get("size_ok", True):
                bad.append("header and size disagree")
            if not r["stereo"]:
                bad.append("not 8 kHz 16-bit stereo: %s ch %s Hz %s bytes, %.1f s"
                           % (r["channels"], r["rate"], r["width"], r["secs"]))
        if r.get("stereo"):
            s["stereo"] += 1
            secs.append(r["secs"])
            gaps = []
            for side in ("left", "right"):
                c = r[side]
                if c is None:
                    s["silent_channels"] += 1
                    bad.append(side + " channel silent")
                    continue
                gaps.append(c["gap_ms"])
                s["gaps20"] += c["gaps20"]
                s["max_lead_ms"] = max(s["max_lead_ms"], c["lead_ms"])
                s["max_tail_ms"] = max(s["max_tail_ms"], c["tail_ms"])
                if c["gap_ms"] > s["max_gap_ms"]:
                    s["max_gap_ms"] = c["gap_ms"]
                    worst = "%s (%s)" % (os.path.basename(f), side)
            if gaps and max(gaps) > args.limit_ms:
                s["over_limit"] += 1
                c = max((r[side] for side in ("left", "right") if r[side]), key=lambda c: c["gap_ms"])
                # The file was finalized as the call ended: when the gap began, about.
                t = r["mtime"] - r["secs"] + c["gap_at"]
                at = time.strftime("%H:%M:%S", time.gmtime(t)) + ".%03d" % (t % 1 * 1000)
                bad.append("gap %.1f ms at %.2f s (about %s UTC)" % (c["gap_ms"], c["gap_at"], at))
            if r["sides_ok"]:
                s["sides_ok"] += 1
            else:
                bad.append("channels: left %s Hz, right %s Hz" % (
                    "%.0f" % r["left"]["hz"] if r["left"] else "-",
                    "%.0f" % r["right"]["hz"] if r["right"] else "-"))
        if bad or args.list:
            detail = ""
            if r.get("stereo"):
                detail = " %.1f s" % r["secs"] + "".join(
                    " %s: lead %.0f ms, gap %.1f ms, %d frame gaps, %.0f Hz, tail %.0f ms" % (
                        side, c["lead_ms"], c["gap_ms"], c["gaps20"], c["hz"], c["tail_ms"])
                    for side, c in (("left", r["left"]), ("right", r["right"])) if c)
            print("%s:%s %s" % (os.path.basename(f), detail, "; ".join(bad)))
    secs.sort()
    s["secs_min"] = secs[0] if secs else 0
    s["secs_median"] = secs[len(secs) // 2] if secs else 0
    print("summary " + " ".join(
        "%s=%s" % (k, ("%.1f" % v) if isinstance(v, float) else v) for k, v in s.items())
        + (" worst=" + worst if worst else ""))


if __name__ == "__main__":
    sys.exit(main())
