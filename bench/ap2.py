#!/usr/bin/env python3
"""AirPlay 2 next to AirPlay 1 in one run (issue 16): airstream streams the same WAV to
shairport-sync 4.3.7 over AirPlay 2 (PTP master, sealed ALAC) and to Debian's shairport-sync
3.3.8 over AirPlay 1 (RAOP, NTP), alternating within every repetition: CPU per audio minute,
peak RSS and launch -> first audio packet, each measured as bench.py measures it.

    bench/ap2.py --airstream TARGET/release/airstream \\
        --bench-ap2-receiver TARGET/release/examples/bench_ap2_receiver \\
        --bench-wav TARGET/release/examples/bench_wav [--reps 3] [--seconds 60] [--codec alac]

Both receivers run in the testkit's AirPlay 2 rig (`bench_ap2_receiver`): the sender in a
network namespace of its own, the receiver behind a veth on the sender namespace's bridge,
so both protocols cross the same links. The first audio packet is the first UDP datagram to
the receiver carrying RTP payload type 96 (AirPlay 1 audio and AirPlay 2 realtime audio
alike), timestamped by a packet socket on that bridge. Needs root and the AirPlay 2 peer
(`AIRSTREAM_AP2_PEER_BIN`, which bench/run sets).
"""

from __future__ import annotations

import argparse
import ipaddress
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import time
import wave
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402

PROTOCOLS = {"airplay2": "airplay2", "airplay1": "classic"}


class Rig:
    """One bench_ap2_receiver process; it drops its rig when its stdin closes."""

    def __init__(self, binary: Path, peer: str, workdir: Path):
        workdir.mkdir(parents=True, exist_ok=True)
        self.err = open(workdir / "bench_ap2_receiver.err", "wb")
        self.proc = subprocess.Popen(
            [str(binary), peer], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err, text=True
        )
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
        if not {"ns", "address", "interface", "capture", "log"} <= fields.keys():
            self.stop()
            raise bench.BenchError(
                f"bench_ap2_receiver did not start: {(workdir / 'bench_ap2_receiver.err').read_text(errors='replace')}"
            )
        self.ns = fields["ns"]
        self.address = fields["address"]
        self.interface = fields["interface"]
        self.capture = Path(fields["capture"])
        self.log = Path(fields["log"])

    def stop(self) -> None:
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.err.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class FirstAudioPacketTo(bench.FirstAudioPacket):
    """bench.FirstAudioPacket on the rig's bridge: RTP payload type 96 to the receiver's
    address, on whichever UDP port it gave (AirPlay 2 announces its ports in SETUP)."""

    def __init__(self, interface: str, receiver: str):
        super().__init__()
        self.sock.close()
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(bench.ETH_P_ALL))
        self.sock.bind((interface, 0))
        self.sock.setsockopt(socket.SOL_SOCKET, bench.SO_TIMESTAMPNS, 1)
        self.sock.settimeout(0.2)
        self.receiver = ipaddress.IPv4Address(receiver).packed

    def is_audio(self, frame: bytes) -> bool:
        if len(frame) < 14 + 20 + 8 + 12 or frame[12:14] != b"\x08\x00":
            return False
        ip = frame[14:]
        if ip[9] != 17 or ip[16:20] != self.receiver:
            return False
        rtp = ip[(ip[0] & 0x0F) * 4 + 8 :]
        return len(rtp) >= 12 and rtp[0] & 0xC0 == 0x80 and rtp[1] & 0x7F == bench.RTP_AUDIO


@dataclass
class Result:
    protocol: str
    rep: int
    status: str
    cpu_per_audio_min: float = float("nan")
    peak_rss_mib: float = float("nan")
    first_packet_ms: float = float("nan")
    audible_s: float = float("nan")
    detail: str = ""


def one_run(args, protocol: str, rep: int, source: Path, audio_s: float) -> Result:
    workdir = args.workdir / f"{protocol}-{rep}"
    shutil.rmtree(workdir, ignore_errors=True)
    result = Result(protocol, rep, "failed")
    with Rig(args.bench_ap2_receiver, PROTOCOLS[protocol], workdir) as rig, bench.Namespace(rig.ns):
        packets = FirstAudioPacketTo(rig.interface, rig.address.rsplit(":", 1)[0])
        capture = bench.CaptureWatch(rig.capture)
        packets.start()
        capture.start()
        cmd = [str(args.airstream), "stream", "--json", "--address", rig.address, "--codec", args.codec,
               "--protocol", "airplay2" if protocol == "airplay2" else "raop", str(source)]
        try:
            launched = bench.launch_timed(cmd, workdir, audio_s + 30)
        finally:
            packets.stop()
            capture.stop()
        if launched.returncode != 0:
            tail = " | ".join(launched.stderr.splitlines()[-3:])
            result.detail = f"exit {launched.returncode}: {tail}"
            return result
        log = rig.log.read_text(errors="replace")
        wanted = "AP2 Realtime Audio Stream" if protocol == "airplay2" else 'type "ANNOUNCE"'
        result.cpu_per_audio_min = (launched.usage.ru_utime + launched.usage.ru_stime) / (audio_s / 60)
        result.peak_rss_mib = launched.peak_rss_mib()
        if packets.stamp_ns is not None:
            result.first_packet_ms = (packets.stamp_ns - launched.launch_ns) / 1e6
        result.audible_s = capture.audible_frames() / 44_100
        problems = []
        if wanted not in log:
            problems.append(f"the receiver's log does not show {wanted!r}")
        if packets.stamp_ns is None:
            problems.append("no RTP audio packet seen")
        if result.audible_s < 0.9 * audio_s:
            problems.append(f"only {result.audible_s:.2f} s of {audio_s:.2f} s audible")
        if problems:
            result.detail = "; ".join(problems)
            return result
        result.status = "ok"
        return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--airstream", type=Path, required=True)
    p.add_argument("--bench-ap2-receiver", type=Path, required=True)
    p.add_argument("--bench-wav", type=Path, required=True)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--seconds", type=int, default=60)
    p.add_argument("--codec", default="alac", choices=["alac", "alac-raw"],
                   help="both protocols carry ALAC; compressed by default (what AirPlay 2 devices get)")
    p.add_argument("--smoke", action="store_true", help="2 s, 1 repetition: proves it works, measures nothing")
    args = p.parse_args()
    if args.smoke:
        args.reps, args.seconds = 1, 2
    args.out = bench.RESULTS / ("ap2-smoke" if args.smoke else "ap2")
    args.workdir = args.out / "runs"
    args.out.mkdir(parents=True, exist_ok=True)
    source = args.out / f"music-{args.seconds}s.wav"
    subprocess.run([str(args.bench_wav), str(args.seconds), str(source)], check=True)
    with wave.open(str(source)) as w:
        audio_s = w.getnframes() / w.getframerate()
    results: list[Result] = []
    for rep in range(1, args.reps + 1):
        for protocol in PROTOCOLS:
            r = one_run(args, protocol, rep, source, audio_s)
            bench.log(f"rep {rep} {protocol}: {r.status} cpu/min {r.cpu_per_audio_min:.3f} "
                      f"rss {r.peak_rss_mib:.1f} MiB first packet {r.first_packet_ms:.0f} ms {r.detail}")
            results.append(r)
            time.sleep(0.5)

    def cell(values: list[float], spec: str) -> str:
        if not values:
            return "failed"
        med = spec.format(statistics.median(values))
        return f"{med} ({spec.format(min(values))}–{spec.format(max(values))})"

    medians = {}
    print(f"\n{args.seconds} s WAV, --codec {args.codec}, {args.reps} repetitions, median (min–max)\n")
    if args.smoke:
        print("**Smoke run: 2 s, one repetition. These figures only show that the bench works; "
              "they measure nothing.**\n")
    print("| protocol | CPU s / audio min | peak RSS MiB | launch -> first audio packet ms |")
    print("|---|---|---|---|")
    for protocol in PROTOCOLS:
        ok = [r for r in results if r.protocol == protocol and r.status == "ok"]
        cpu = [r.cpu_per_audio_min for r in ok]
        rss = [r.peak_rss_mib for r in ok]
        medians[protocol] = (statistics.median(cpu) if cpu else None, max(rss) if rss else None)
        print(f"| {protocol} | {cell(cpu, '{:.3f}')} | {cell(rss, '{:.1f}')} | "
              f"{cell([r.first_packet_ms for r in ok], '{:.0f}')} |")
    (ap2_cpu, ap2_rss), (ap1_cpu, _) = medians["airplay2"], medians["airplay1"]
    if ap2_cpu is not None and ap1_cpu:
        print(f"\nAirPlay 2 / AirPlay 1 CPU: {ap2_cpu / ap1_cpu:.2f} (target <= 1.5); "
              f"AirPlay 2 peak RSS {ap2_rss:.1f} MiB (target <= 12)")
    failed = [r for r in results if r.status != "ok"]
    for r in failed:
        print(f"FAILED: {r.protocol} #{r.rep}: {r.detail}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except bench.BenchError as e:
        print(f"bench/ap2.py: {e}", file=sys.stderr)
        sys.exit(1)
