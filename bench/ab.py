#!/usr/bin/env python3
"""Two or more airstream builds on the same receiver, interleaved in one run: CPU per audio
minute, peak RSS and time to the first packet, per input format (a regression check between
commits, or between build settings: `--candidate NAME=PATH` as often as needed).

    bench/ab.py --baseline OLD/airstream --candidate NEW/airstream \
        --bench-receiver TARGET/release/examples/bench_receiver \
        --bench-wav TARGET/release/examples/bench_wav [--reps 3] [--formats wav,mp3]

Each run is bench.py's own (`one_run`: a fresh shairport-sync in a namespace, the sender under
GNU time, the first RTP packet seen on the wire). Needs root and what `bench/run` installs.
"""

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--baseline", type=Path, required=True)
    p.add_argument("--candidate", action="append", required=True,
                   help="PATH, or NAME=PATH; repeat to compare several builds with the baseline")
    p.add_argument("--bench-receiver", type=Path, required=True)
    p.add_argument("--bench-wav", type=Path, required=True)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--seconds", type=int, default=60)
    p.add_argument("--formats", default="wav,mp3")
    p.add_argument("--codec", default="alac-raw", choices=["alac", "alac-raw", "pcm"])
    args = p.parse_args()
    args.airstream_latency = None
    args.airstream_codec = args.codec
    args.out = bench.RESULTS / "ab"
    args.out.mkdir(parents=True, exist_ok=True)
    args.workdir = args.out / "runs"
    formats = [f for f in args.formats.split(",") if f]
    inputs = bench.make_inputs(args, args.seconds)
    with bench.wave.open(str(inputs["wav"])) as w:
        audio_s = w.getnframes() / w.getframerate()
    builds = {"baseline": args.baseline}
    for i, candidate in enumerate(args.candidate):
        name, sep, path = candidate.partition("=")
        if not sep:
            name, path = ("candidate" if i == 0 else f"candidate{i + 1}"), candidate
        builds[name] = Path(path)
    results: dict[tuple[str, str], list] = {}
    for rep in range(1, args.reps + 1):
        for fmt in formats:
            for name, binary in builds.items():
                args.airstream = binary
                run = bench.one_run(args, "airstream", fmt, rep, inputs[fmt], audio_s)
                bench.log(f"rep {rep} {fmt} {name}: {run.status} cpu/min {run.cpu_per_audio_min:.3f} "
                          f"rss {run.peak_rss_mib:.1f} MiB first packet {run.first_packet_ms:.0f} ms {run.detail}")
                results.setdefault((fmt, name), []).append(run)
    print("\n| format | build | CPU s / audio min | peak RSS MiB | first RTP ms |")
    print("|---|---|---|---|---|")
    for fmt in formats:
        for name in builds:
            runs = [r for r in results[(fmt, name)] if r.status == "ok"]
            if not runs:
                print(f"| {fmt} | {name} | failed | | |")
                continue

            def cell(values):
                return f"{statistics.median(values):.3f} ({min(values):.3f}–{max(values):.3f})"

            print(f"| {fmt} | {name} | {cell([r.cpu_per_audio_min for r in runs])} | "
                  f"{cell([r.peak_rss_mib for r in runs])} | {cell([r.first_packet_ms for r in runs])} |")

        def median(name: str, key: str) -> float | None:
            values = [getattr(r, key) for r in results[(fmt, name)] if r.status == "ok"]
            return statistics.median(values) if values else None

        for name in list(builds)[1:]:
            ratios = []
            for key in ("cpu_per_audio_min", "peak_rss_mib"):
                base, cand = median("baseline", key), median(name, key)
                ratios.append(f"{cand / base:.3f}" if base and cand else "–")
            print(f"| {fmt} | {name} / baseline | {ratios[0]} | {ratios[1]} | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
