#!/usr/bin/env python3
"""airstream vs pyatv 0.13.0 on the same shairport-sync receiver: the driver behind bench/run.

Each run starts a fresh receiver (shairport-sync + avahi + a private D-Bus in a network
namespace holding only `lo`, via the testkit's `bench_receiver` example), joins that
namespace, launches one sender on one input file and measures, from outside the sender and
identically for both programs:

- CPU (user+sys): wait4() rusage of the sender (nothing sampled, no tracer attached). The
  sender runs under GNU time, whose own ~1 ms is included;
- peak RSS: GNU time's %M, the ru_maxrss of the sender that time forked. Not our own
  wait4(): Linux carries the parent's RSS high-water mark into a child across fork/vfork
  and exec, so a child of this (much larger) Python process would report our RSS, not its
  own, whenever it is smaller;
- launch -> first RTP audio packet: a packet socket on the namespace's `lo` takes the
  kernel's receive timestamp of the first UDP datagram carrying RTP payload type 96 (audio)
  to the receiver's UDP ports; the socket is closed right after, so it costs the sender
  nothing measurable;
- launch -> first audible sample: a poller reads shairport-sync's stdout capture as it grows
  and timestamps the first frame with |sample| > 2 (its own silence carries +-1 dither).

Launch is the wall-clock time just before the sender is spawned, once the receiver listens
and has registered with avahi. Programs alternate (airstream, pyatv, airstream, pyatv, ...)
within every repetition.
"""

from __future__ import annotations

import argparse
import array
import csv
import ctypes
import datetime as dt
import os
import platform
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results"

FORMATS = ["wav", "flac", "mp3", "ogg"]
PROGRAMS = ["airstream", "pyatv"]
# shairport-sync's UDP ports in the namespace (testkit: udp_port_base = 6001, range 10).
RECEIVER_UDP = range(6001, 6012)
RTP_AUDIO = 96
# pyatv's reference command line (see shared receiver notes): a manual RAOP service.
PYATV_PROPERTIES = (
    ":txtvers=1:ch=2:cn=0,1:et=0,1:ek=1:md=0,1,2:pw=false:sr=44100:ss=16:tp=UDP"
    ":vn=65537:vs=105.1:am=ShairportSync:sf=0x4:da=true:sv=false"
)
# airstream's exit code for unusable input: the format is not supported (yet).
EXIT_UNUSABLE_INPUT = 18
CLONE_NEWNET = 0x40000000
SO_TIMESTAMPNS = 35
ETH_P_ALL = 0x0003


class BenchError(Exception):
    pass


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- network namespace

_libc = ctypes.CDLL(None, use_errno=True)


def setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise BenchError(f"setns failed: {os.strerror(err)}")


class Namespace:
    """Joins a named network namespace for the `with` block (this thread and the children
    it spawns), then returns to the one we came from."""

    def __init__(self, name: str):
        self.name = name
        self.home = -1

    def __enter__(self):
        self.home = os.open("/proc/self/ns/net", os.O_RDONLY)
        target = os.open(f"/run/netns/{self.name}", os.O_RDONLY)
        try:
            setns(target)
        finally:
            os.close(target)
        return self

    def __exit__(self, *exc):
        setns(self.home)
        os.close(self.home)


# ---------------------------------------------------------------- receiver


class Receiver:
    """One bench_receiver process: a fresh shairport-sync in its own namespace. It stops
    (and deletes the namespace) when its stdin closes, so it never outlives this driver."""

    def __init__(self, binary: Path, workdir: Path, count: int = 1):
        workdir.mkdir(parents=True, exist_ok=True)
        self.err = open(workdir / "bench_receiver.err", "wb")
        self.proc = subprocess.Popen(
            [str(binary), str(workdir), str(count)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.err,
            text=True,
        )
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
        if not {"ns", "port", "capture", "log", "ports", "captures"} <= fields.keys():
            self.stop()
            raise BenchError(
                f"bench_receiver did not start: {(workdir / 'bench_receiver.err').read_text(errors='replace')}"
            )
        self.ns = fields["ns"]
        self.port = int(fields["port"])
        self.capture = Path(fields["capture"])
        self.log = Path(fields["log"])
        # Every instance, the first one included (several for group streaming).
        self.ports = [int(p) for p in fields["ports"].split(",")]
        self.captures = [Path(c) for c in fields["captures"].split(",")]

    def stop(self) -> None:
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# ---------------------------------------------------------------- observers


class FirstAudioPacket(threading.Thread):
    """Kernel timestamp (ns, wall clock) of the first RTP audio datagram to the receiver."""

    def __init__(self):
        super().__init__(daemon=True)
        # Made by the caller's thread, which is inside the namespace.
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.sock.bind(("lo", 0))
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.settimeout(0.2)
        self.stamp_ns: int | None = None
        self.stopping = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopping.is_set() and self.stamp_ns is None:
                try:
                    data, anc, _flags, _addr = self.sock.recvmsg(2048, 64)
                except socket.timeout:
                    continue
                if self.is_audio(data):
                    for level, kind, payload in anc:
                        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                            sec, nsec = struct.unpack("qq", payload[:16])
                            self.stamp_ns = sec * 1_000_000_000 + nsec
                    if self.stamp_ns is None:
                        self.stamp_ns = time.time_ns()
        finally:
            self.sock.close()

    @staticmethod
    def is_audio(frame: bytes) -> bool:
        # lo frames carry a 14-byte Ethernet header.
        if len(frame) < 14 + 20 + 8 + 12 or frame[12:14] != b"\x08\x00":
            return False
        ip = frame[14:]
        if ip[9] != 17:  # UDP
            return False
        udp = ip[(ip[0] & 0x0F) * 4 :]
        dport = struct.unpack("!H", udp[2:4])[0]
        rtp = udp[8:]
        return (
            dport in RECEIVER_UDP
            and len(rtp) >= 12
            and rtp[0] & 0xC0 == 0x80
            and rtp[1] & 0x7F == RTP_AUDIO
        )

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=2)


class CaptureWatch(threading.Thread):
    """Follows shairport-sync's capture: when the first audible frame showed up, and the
    audible span (first to last frame with |sample| > 2) at the end."""

    THRESHOLD = 2
    POLL_S = 0.002

    def __init__(self, path: Path):
        super().__init__(daemon=True)
        self.path = path
        self.first_audible_ns: int | None = None
        self.stopping = threading.Event()

    def run(self) -> None:
        offset = 0
        while not self.stopping.is_set() and self.first_audible_ns is None:
            try:
                with open(self.path, "rb") as f:
                    f.seek(offset)
                    chunk = f.read()
            except FileNotFoundError:
                chunk = b""
            now = time.time_ns()
            usable = len(chunk) - len(chunk) % 4
            if usable:
                samples = array.array("h", chunk[:usable])
                if sys.byteorder != "little":
                    samples.byteswap()
                if any(abs(s) > self.THRESHOLD for s in samples):
                    self.first_audible_ns = now
                    break
                offset += usable
            time.sleep(self.POLL_S)

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=2)

    def audible_frames(self) -> int:
        """Frames from the first to the last audible one in the whole capture."""
        data = self.path.read_bytes()
        samples = array.array("h", data[: len(data) - len(data) % 4])
        if sys.byteorder != "little":
            samples.byteswap()
        loud = [i for i, s in enumerate(samples) if abs(s) > self.THRESHOLD]
        if not loud:
            return 0
        return loud[-1] // 2 - loud[0] // 2 + 1


# ---------------------------------------------------------------- one run


@dataclass
class Run:
    program: str
    fmt: str
    rep: int
    status: str  # "ok", "unsupported" or "failed"
    cpu_s: float = float("nan")
    cpu_per_audio_min: float = float("nan")
    peak_rss_mib: float = float("nan")
    first_packet_ms: float = float("nan")
    first_audible_ms: float = float("nan")
    wall_s: float = float("nan")
    audible_s: float = float("nan")
    detail: str = ""


def sender_command(program: str, args, port: int | list[int], path: Path) -> list[str]:
    ports = port if isinstance(port, list) else [port]
    if program == "airstream":
        cmd = [str(args.airstream), "stream", "--json"]
        for p in ports:
            cmd += ["--address", f"127.0.0.1:{p}"]
        if args.airstream_latency:
            cmd += ["--latency", str(args.airstream_latency)]
        if args.airstream_codec:
            cmd += ["--codec", args.airstream_codec]
        return cmd + [str(path)]
    return [
        str(args.atvremote),
        "--manual",
        "--address",
        "127.0.0.1",
        "--port",
        str(ports[0]),
        "--protocol",
        "raop",
        "--id",
        "AA:BB:CC:DD:EE:FF",
        "--service-properties",
        PYATV_PROPERTIES,
        f"stream_file={path}",
    ]


def kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@dataclass
class Launched:
    """A sender run to its end under GNU time: what wait4() and time reported."""

    launch_ns: int
    end_ns: int
    returncode: int
    usage: object  # resource.struct_rusage
    stderr: str
    rss_file: Path

    def peak_rss_mib(self) -> float:
        return int(self.rss_file.read_text().split()[-1]) / 1024  # KiB -> MiB


def launch_timed(cmd: list[str], workdir: Path, timeout_s: float) -> Launched:
    out = open(workdir / "sender.out", "wb")
    err = open(workdir / "sender.err", "wb")
    rss_file = workdir / "sender.maxrss"
    # GNU time forks the sender from its own small process; see "peak RSS" above.
    timed = ["/usr/bin/time", "-f", "%M", "-o", str(rss_file), "--"]
    launch_ns = time.time_ns()
    # A session of its own, so a timeout or an error here kills time and sender together.
    proc = subprocess.Popen(
        timed + cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True
    )
    watchdog = threading.Timer(timeout_s, kill_group, (proc,))
    watchdog.start()
    try:
        _pid, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    except BaseException:
        kill_group(proc)
        proc.wait()
        raise
    finally:
        watchdog.cancel()
        out.close()
        err.close()
    return Launched(
        launch_ns=launch_ns,
        end_ns=time.time_ns(),
        returncode=proc.returncode,
        usage=usage,
        stderr=(workdir / "sender.err").read_text(errors="replace").strip(),
        rss_file=rss_file,
    )


def one_run(args, program: str, fmt: str, rep: int, source: Path, audio_s: float) -> Run:
    workdir = args.workdir / f"{program}-{fmt}-{rep}"
    shutil.rmtree(workdir, ignore_errors=True)
    run = Run(program, fmt, rep, "failed")
    with Receiver(args.bench_receiver, workdir) as receiver, Namespace(receiver.ns):
        packets = FirstAudioPacket()
        capture = CaptureWatch(receiver.capture)
        packets.start()
        capture.start()
        try:
            cmd = sender_command(program, args, receiver.port, source)
            launched = launch_timed(cmd, workdir, audio_s + 30)
        finally:
            packets.stop()
            capture.stop()
        launch_ns = launched.launch_ns
        run.wall_s = (launched.end_ns - launch_ns) / 1e9
        stderr_text = launched.stderr
        # WAV is airstream's own format: rejecting it is a failure, not "unsupported".
        if program == "airstream" and fmt != "wav" and launched.returncode == EXIT_UNUSABLE_INPUT:
            run.status = "unsupported"
            run.detail = stderr_text.splitlines()[-1] if stderr_text else ""
            return run
        if launched.returncode != 0:
            tail = " | ".join(stderr_text.splitlines()[-3:])
            run.detail = f"exit {launched.returncode} after {run.wall_s:.1f} s: {tail}"
            return run
        run.cpu_s = launched.usage.ru_utime + launched.usage.ru_stime
        run.cpu_per_audio_min = run.cpu_s / (audio_s / 60)
        run.peak_rss_mib = launched.peak_rss_mib()
        if packets.stamp_ns is not None:
            run.first_packet_ms = (packets.stamp_ns - launch_ns) / 1e6
        if capture.first_audible_ns is not None:
            run.first_audible_ms = (capture.first_audible_ns - launch_ns) / 1e6
        run.audible_s = capture.audible_frames() / 44_100
        problems = []
        if packets.stamp_ns is None:
            problems.append("no RTP audio packet seen")
        if capture.first_audible_ns is None:
            problems.append("nothing audible in the capture")
        # pyatv 0.13 loses its first 3168 frames; anything much shorter is a broken run.
        if run.audible_s < 0.9 * audio_s:
            problems.append(f"only {run.audible_s:.2f} s of {audio_s:.2f} s audible")
        if problems:
            run.detail = "; ".join(problems)
            return run
        run.status = "ok"
        return run


@dataclass
class GroupRun:
    """airstream streaming the WAV to several receivers at once (multi-room)."""

    receivers: int
    rep: int
    status: str
    cpu_per_audio_min: float = float("nan")
    peak_rss_mib: float = float("nan")
    shortest_audible_s: float = float("nan")
    detail: str = ""


def group_run(args, receivers: int, rep: int, source: Path, audio_s: float) -> GroupRun:
    workdir = args.workdir / f"group-{receivers}-{rep}"
    shutil.rmtree(workdir, ignore_errors=True)
    run = GroupRun(receivers, rep, "failed")
    with Receiver(args.bench_receiver, workdir, receivers) as receiver, Namespace(receiver.ns):
        cmd = sender_command("airstream", args, receiver.ports, source)
        launched = launch_timed(cmd, workdir, audio_s + 30)
        if launched.returncode != 0:
            tail = " | ".join(launched.stderr.splitlines()[-3:])
            run.detail = f"exit {launched.returncode}: {tail}"
            return run
        run.cpu_per_audio_min = (launched.usage.ru_utime + launched.usage.ru_stime) / (audio_s / 60)
        run.peak_rss_mib = launched.peak_rss_mib()
        # A member that drops out does not fail the stream: every capture must hold it all.
        audible = [CaptureWatch(c).audible_frames() / 44_100 for c in receiver.captures]
        run.shortest_audible_s = min(audible)
        if run.shortest_audible_s < 0.9 * audio_s:
            run.detail = f"a receiver played only {run.shortest_audible_s:.2f} s of {audio_s:.2f} s"
            return run
        run.status = "ok"
        return run


def group_table(runs: list[GroupRun]) -> list[tuple[str, ...]]:
    """Rows: receivers, CPU per audio minute, ratio to one receiver, peak RSS."""
    cells = {}
    for n in sorted({r.receivers for r in runs}):
        mine = [r for r in runs if r.receivers == n]
        ok = [r for r in mine if r.status == "ok"]
        cells[n] = (Cell([r.cpu_per_audio_min for r in ok]), Cell([r.peak_rss_mib for r in ok]))
    rows = []
    base = cells.get(1, (Cell(), Cell()))[0]
    for n, (cpu, rss) in cells.items():
        scale = f"{cpu.median() / base.median():.2f}×" if cpu.values and base.values else "–"
        rows.append((str(n), cpu.text("{:.3f}"), scale, rss.text("{:.1f}")))
    return rows


# ---------------------------------------------------------------- inputs


def make_inputs(args, seconds: int) -> dict[str, Path]:
    folder = RESULTS / f"inputs-{seconds}s"
    folder.mkdir(parents=True, exist_ok=True)
    wav = folder / "music.wav"
    files = {
        "wav": wav,
        "flac": folder / "music.flac",
        "mp3": folder / "music.mp3",
        "ogg": folder / "music.ogg",
    }
    steps = {
        "wav": [str(args.bench_wav), str(seconds), str(wav)],
        "flac": ["flac", "--silent", "--force", "-5", "-o", str(files["flac"]), str(wav)],
        "mp3": ["lame", "--silent", "--cbr", "-b", "320", str(wav), str(files["mp3"])],
        "ogg": ["oggenc", "--quiet", "-q", "6", "-o", str(files["ogg"]), str(wav)],
    }
    for fmt in FORMATS:
        subprocess.run(steps[fmt], check=True)
    with wave.open(str(wav)) as w:
        if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (44_100, 2, 2):
            raise BenchError(f"{wav}: not 44.1 kHz/16-bit/stereo")
    return files


# ---------------------------------------------------------------- statistics and output

METRICS = [
    ("cpu_per_audio_min", "CPU s per audio minute", "{:.3f}"),
    ("peak_rss_mib", "peak RSS MiB", "{:.1f}"),
    ("first_packet_ms", "launch -> first RTP packet ms", "{:.0f}"),
    ("first_audible_ms", "launch -> first audible ms", "{:.0f}"),
]


@dataclass
class Cell:
    values: list[float] = field(default_factory=list)
    status: str = "ok"

    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")

    def text(self, spec: str) -> str:
        if self.status != "ok":
            return self.status
        if not self.values:
            return "-"
        med = spec.format(self.median())
        return f"{med} ({spec.format(min(self.values))}–{spec.format(max(self.values))})"


def summarize(runs: list[Run]) -> dict:
    table: dict = {}
    for fmt in FORMATS:
        for program in PROGRAMS:
            mine = [r for r in runs if r.fmt == fmt and r.program == program]
            for key, _label, _spec in METRICS:
                cell = Cell()
                if mine and all(r.status == "unsupported" for r in mine):
                    cell.status = "unsupported"
                elif not mine:
                    cell.status = "not run"
                else:
                    cell.values = [getattr(r, key) for r in mine if r.status == "ok"]
                    cell.values = [v for v in cell.values if v == v]  # drop NaN
                table[(fmt, program, key)] = cell
    return table


def ratio(table, fmt, key) -> str:
    a = table[(fmt, "airstream", key)]
    b = table[(fmt, "pyatv", key)]
    if a.status != "ok" or b.status != "ok" or not a.values or not b.values:
        return "–"
    bm = b.median()
    return f"{a.median() / bm:.3f}" if bm else "–"


def first_line(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    lines = (out.stdout or out.stderr).strip().splitlines()
    return lines[0] if lines else "unknown"


def machine_summary() -> dict[str, str]:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    try:
        from importlib.metadata import version

        pyatv = version("pyatv")
    except Exception:  # noqa: BLE001 - only a label in the report
        pyatv = "unknown"
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": model,
        "cores": str(os.cpu_count()),
        "kernel": platform.release(),
        "os": first_line(["sh", "-c", ". /etc/os-release && echo \"$PRETTY_NAME\""]),
        # `-V` appends the build options: "3.3.8-libdaemon-OpenSSL-…".
        "shairport-sync": first_line(["shairport-sync", "-V"]).split("-")[0],
        "pyatv": pyatv,
        "python": platform.python_version(),
        "airstream": first_line(["git", "-C", str(ROOT), "describe", "--always", "--dirty"]),
        # Other work on the machine shows up as noise: say how busy it was.
        "load": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
    }


# ---------------------------------------------------------------- airstream-only figures


def divan_figures(args) -> str:
    """Runs the audio crate's divan bench when it exists (decode + convert throughput)."""
    benches = ROOT / "crates" / "airstream-audio" / "benches"
    if not benches.is_dir() or not any(benches.glob("*.rs")):
        return "not yet measured: crates/airstream-audio has no benches yet"
    cmd = ["cargo", "bench", "-p", "airstream-audio"]
    if args.smoke:
        cmd += ["--", "--test"]  # divan: run every bench once, fail on error
    log(" ".join(cmd))
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    (args.out / "divan.txt").write_text(out.stdout + out.stderr)
    if out.returncode != 0:
        raise BenchError(f"cargo bench -p airstream-audio failed:\n{out.stderr[-2000:]}")
    return out.stdout.strip() or "(no output)"


# ---------------------------------------------------------------- output


def repo_relative(text: str) -> str:
    """Paths in results name files inside the repository, never this machine's layout."""
    return text.replace(f"{ROOT}/", "")


GROUP_HEADER = ("receivers", "CPU s per audio minute", "vs 1 receiver", "peak RSS MiB")


def render(table, runs: list[Run], machine: dict, args, divan: str, groups: list[GroupRun]) -> str:
    lines = [
        f"# airstream vs pyatv {machine['pyatv']} on shairport-sync",
        "",
        f"- date: {machine['date']}",
        f"- machine: {machine['cpu']}, {machine['cores']} cores, kernel {machine['kernel']}, {machine['os']}; "
        f"load average at start {machine['load']}",
        f"- receiver: shairport-sync {machine['shairport-sync']} (stdout backend, in a network namespace)",
        f"- airstream {machine['airstream']} ({args.build} build, codec "
        f"{args.airstream_codec}); pyatv {machine['pyatv']} "
        f"on Python {machine['python']} (uncompressed ALAC)",
        f"- input: {args.seconds} s of music-like audio (airstream_testkit::signal::music) as WAV, "
        "FLAC (-5), MP3 (CBR 320k), OGG Vorbis (q6)",
        f"- {args.reps} repetition(s), programs interleaved; cells are median (min–max); "
        "ratio = airstream median / pyatv median",
        "",
        "| format | metric | airstream | pyatv | ratio |",
        "|---|---|---|---|---|",
    ]
    for fmt in FORMATS:
        for key, label, spec in METRICS:
            a = table[(fmt, "airstream", key)].text(spec)
            b = table[(fmt, "pyatv", key)].text(spec)
            lines.append(f"| {fmt.upper()} | {label} | {a} | {b} | {ratio(table, fmt, key)} |")
    if groups:
        lines += [
            "",
            "## Group streaming: airstream alone, the WAV to N shairport-sync instances at once",
            "",
            "pyatv streams to one receiver only. Same receivers, codec and repetitions as above.",
            "",
            "| " + " | ".join(GROUP_HEADER) + " |",
            "|---|---|---|---|",
        ]
        lines += ["| " + " | ".join(row) + " |" for row in group_table(groups)]
    lines += ["", "## Targets", ""]
    lines += targets(table)
    lines += ["", "## Decode + convert throughput (airstream-audio, divan)", "", "```", divan, "```"]
    failed = [r for r in runs if r.status == "failed"]
    unsupported = sorted({(r.fmt, r.detail) for r in runs if r.status == "unsupported"})
    if unsupported:
        lines += ["", "## Unsupported by airstream (as reported by `airstream stream`)", ""]
        lines += [f"- {fmt.upper()}: {detail}" for fmt, detail in unsupported]
    failed_groups = [r for r in groups if r.status == "failed"]
    if failed or failed_groups:
        lines += ["", "## Failed runs", ""]
        lines += [f"- {r.program} {r.fmt} #{r.rep}: {r.detail}" for r in failed]
        lines += [f"- airstream to {r.receivers} receivers #{r.rep}: {r.detail}" for r in failed_groups]
    lines += [
        "",
        "## How it is measured",
        "",
        "- CPU: wait4() rusage (user+sys) of the sender, launched under GNU time (its ~1 ms",
        "  included). CPU per audio minute = CPU seconds / (input seconds / 60).",
        "- Peak RSS: GNU time's %M (ru_maxrss of the sender it forked). The driver's own wait4()",
        "  would not do: Linux carries a parent's RSS high-water mark into the child through",
        "  fork/vfork + exec, so a small sender would report the Python driver's RSS.",
        "- Launch = wall clock just before the sender is spawned (inside the receiver's namespace).",
        "- First RTP packet: kernel receive timestamp, on the namespace's `lo`, of the first UDP",
        "  datagram to the receiver's ports carrying RTP payload type 96 (audio).",
        "- First audible sample: the capture (shairport-sync's stdout backend) is polled every",
        "  2 ms; the first frame with |sample| > 2 is timestamped when it appears.",
        "- A fresh shairport-sync per run, same configuration for both programs.",
    ]
    return repo_relative("\n".join(lines) + "\n")


def targets(table) -> list[str]:
    out = []
    cpu = []
    for fmt in FORMATS:
        r = ratio(table, fmt, "cpu_per_audio_min")
        if r == "–":
            cpu.append(f"{fmt.upper()}: not measurable ({table[(fmt, 'airstream', 'cpu_per_audio_min')].status})")
        else:
            verdict = "met" if float(r) <= 0.05 else "NOT met"
            cpu.append(f"{fmt.upper()}: {float(r):.3f} ({verdict})")
    out.append("- CPU per audio minute ≤ 1/20 (0.050) of pyatv's: " + "; ".join(cpu))
    rss_fmt = "flac" if table[("flac", "airstream", "peak_rss_mib")].values else "wav"
    rss = table[(rss_fmt, "airstream", "peak_rss_mib")]
    if rss.values:
        verdict = "met" if max(rss.values) * 2**20 <= 12e6 else "NOT met"  # MiB vs MB
        out.append(
            f"- Peak RSS ≤ 12 MB streaming {rss_fmt.upper()}"
            + (" (FLAC not supported yet)" if rss_fmt == "wav" else "")
            + f": max {max(rss.values):.1f} MiB ({verdict})"
        )
    fp = [v for fmt in FORMATS for v in table[(fmt, "airstream", "first_packet_ms")].values]
    if fp:
        verdict = "met" if max(fp) <= 150 else "NOT met"
        out.append(
            f"- Launch → first RTP packet ≤ 150 ms: median {statistics.median(fp):.0f} ms, "
            f"max {max(fp):.0f} ms ({verdict})"
        )
    aud = []
    for fmt in FORMATS:
        a = table[(fmt, "airstream", "first_audible_ms")]
        b = table[(fmt, "pyatv", "first_audible_ms")]
        if a.values and b.values:
            verdict = "met" if a.median() <= b.median() else "NOT met"
            aud.append(f"{fmt.upper()}: {a.median():.0f} vs {b.median():.0f} ms ({verdict})")
    if aud:
        out.append("- Launch → first audible sample no later than pyatv's: " + "; ".join(aud))
    out.append("- Decode + convert ≥ 400× realtime (FLAC, MP3): see the divan section")
    return out


def write_csv(path: Path, runs: list[Run], table) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["format", "metric", "program", "median", "min", "max", "n", "status", "ratio"])
        for fmt in FORMATS:
            for key, _label, _spec in METRICS:
                for program in PROGRAMS:
                    c = table[(fmt, program, key)]
                    vals = c.values
                    w.writerow([
                        fmt, key, program,
                        f"{c.median():.4f}" if vals else "",
                        f"{min(vals):.4f}" if vals else "",
                        f"{max(vals):.4f}" if vals else "",
                        len(vals), c.status, ratio(table, fmt, key) if program == "airstream" else "",
                    ])
    with open(path.with_name(path.stem + "-runs.csv"), "w", newline="") as f:
        w = csv.writer(f)
        names = list(Run.__dataclass_fields__)
        w.writerow(names)
        for r in runs:
            w.writerow([repo_relative(str(getattr(r, n))) for n in names])


def plot(path: Path, table, machine: dict, args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    width = 0.38
    colors = {"airstream": "#d9480f", "pyatv": "#1c7ed6"}
    for ax, (key, label, spec) in zip(axes, METRICS[:2]):
        for i, program in enumerate(PROGRAMS):
            xs, meds, lo, hi, notes = [], [], [], [], []
            for j, fmt in enumerate(FORMATS):
                c = table[(fmt, program, key)]
                x = j + (i - 0.5) * width
                if c.values:
                    m = c.median()
                    xs.append(x)
                    meds.append(m)
                    lo.append(m - min(c.values))
                    hi.append(max(c.values) - m)
                else:
                    notes.append((x, c.status))
            ax.bar(xs, meds, width, yerr=[lo, hi], capsize=3, color=colors[program], label=program)
            # The median's label sits above the error bar, where it cannot collide with it.
            for x, m, up in zip(xs, meds, hi):
                ax.annotate(spec.format(m), (x, m + up), ha="center", va="bottom", fontsize=8,
                            xytext=(0, 3), textcoords="offset points")
            # x in data, y in axes coordinates: the note stands on the baseline at any scale.
            for x, note in notes:
                ax.text(x, 0.02, note, ha="center", va="bottom", rotation=90, fontsize=8,
                        color=colors[program], transform=ax.get_xaxis_transform())
        ax.set_xticks(range(len(FORMATS)), [f.upper() for f in FORMATS])
        ax.set_title(label)
        ax.set_ylim(0, ax.get_ylim()[1] * 1.12)  # headroom for the labels
        ax.grid(axis="y", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper right", ncol=2, fontsize=9)
    fig.suptitle(
        f"airstream vs pyatv {machine['pyatv']}: {args.seconds} s input, median of {args.reps} "
        f"(bars: min–max)\n{machine['cpu']}, {machine['cores']} cores · {machine['date']}",
        fontsize=9, x=0.02, ha="left",
    )
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def print_table(table, groups: list[GroupRun]) -> None:
    rows = [("format", "metric", "airstream", "pyatv", "ratio")]
    for fmt in FORMATS:
        for key, label, spec in METRICS:
            rows.append((fmt.upper(), label, table[(fmt, "airstream", key)].text(spec),
                         table[(fmt, "pyatv", key)].text(spec), ratio(table, fmt, key)))
    print_rows(rows)
    if groups:
        print()
        print_rows([GROUP_HEADER, *group_table(groups)])


def print_rows(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for n, r in enumerate(rows):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


# ---------------------------------------------------------------- profile


def perf_report(data: Path, *options: str) -> str:
    out = subprocess.run(
        ["perf", "report", "-i", str(data), "--stdio", "-g", "none", *options],
        capture_output=True, text=True, check=True,
    ).stdout
    # perf pads every row to the terminal width; comments and blank lines are noise here.
    return "\n".join(
        line.rstrip() for line in out.splitlines() if line.strip() and not line.startswith("#")
    )


def profile(args, source: Path) -> None:
    """perf with the software cpu-clock event (works in VMs without a PMU) and DWARF call
    graphs (release builds have no frame pointers) on airstream streaming one input to a fresh
    receiver. Writes results/profile/profile.txt and prints it."""
    folder = RESULTS / "profile"
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "perf.data"
    workdir = folder / "run"
    shutil.rmtree(workdir, ignore_errors=True)
    with Receiver(args.bench_receiver, workdir) as receiver, Namespace(receiver.ns):
        cmd = ["perf", "record", "-q", "-e", "cpu-clock", "-F", "2000",
               "--call-graph", "dwarf,16384", "-o", str(data), "--"]
        cmd += sender_command("airstream", args, receiver.port, source)
        log("profiling: " + " ".join(cmd))
        with open(workdir / "perf.err", "wb") as err:
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=err)
    sections = [
        ("CPU by thread and object", perf_report(data, "--no-children", "--sort", "comm,dso")),
        ("Self time by function (>= 0.5 %)",
         perf_report(data, "--no-children", "--sort", "comm,symbol", "--percent-limit", "0.5")),
        ("Time including callees (>= 3 %)",
         perf_report(data, "--children", "--sort", "symbol", "--percent-limit", "3")),
    ]
    text = "\n\n".join(f"## {title}\n{body}" for title, body in sections) + "\n"
    (folder / "profile.txt").write_text(text)
    print(text)
    log(f"written: {folder / 'profile.txt'} (perf report -i {data} for more)")


# ---------------------------------------------------------------- main


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="2 s inputs, 1 repetition (CI)")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--formats", default=",".join(FORMATS))
    p.add_argument("--programs", default=",".join(PROGRAMS),
                   help="e.g. airstream alone while working on its speed (no ratios then)")
    p.add_argument("--profile", action="store_true",
                   help="only perf-profile airstream streaming the first of --formats (60 s)")
    p.add_argument("--airstream-latency", type=int, help="--latency for airstream (default: its own)")
    p.add_argument("--airstream-codec", choices=["alac", "alac-raw", "pcm"], default="alac-raw",
                   help="--codec for airstream (default alac-raw: pyatv 0.13.0 sends uncompressed "
                   "ALAC, so that is the like-for-like comparison; alac adds ALAC encoding)")
    p.add_argument("--airstream", type=Path, required=True)
    p.add_argument("--atvremote", type=Path, required=True)
    p.add_argument("--bench-receiver", type=Path, required=True)
    p.add_argument("--bench-wav", type=Path, required=True)
    p.add_argument("--build", default="release", help="cargo profile of the binaries (a label)")
    p.add_argument("--groups", help="receiver counts for group streaming (default 1,5,10; "
                   "1,2 with --smoke; empty to skip)")
    args = p.parse_args()
    if args.smoke:
        args.reps = 1
    if args.reps < 1:
        p.error("--reps must be at least 1")
    args.seconds = 2 if args.smoke else 60
    formats = [f for f in args.formats.split(",") if f]
    if not formats or any(f not in FORMATS for f in formats):
        p.error(f"--formats takes a comma-separated subset of {','.join(FORMATS)}")
    programs = [x for x in args.programs.split(",") if x]
    if not programs or any(x not in PROGRAMS for x in programs):
        p.error(f"--programs takes a comma-separated subset of {','.join(PROGRAMS)}")
    # Only a full comparison replaces latest/ and the committed results/README.md.
    full = not args.smoke and formats == FORMATS and programs == PROGRAMS
    args.out = RESULTS / ("smoke" if args.smoke else "latest" if full else "partial")
    args.out.mkdir(parents=True, exist_ok=True)
    args.workdir = args.out / "runs"

    if args.profile:
        profile(args, make_inputs(args, 60)[formats[0]])
        return 0

    machine = machine_summary()
    log(f"generating {args.seconds} s inputs")
    inputs = make_inputs(args, args.seconds)
    with wave.open(str(inputs["wav"])) as w:
        audio_s = w.getnframes() / w.getframerate()

    runs: list[Run] = []
    skip: set[tuple[str, str]] = set()
    for rep in range(1, args.reps + 1):
        for fmt in formats:
            for program in programs:
                if (program, fmt) in skip:
                    continue
                log(f"rep {rep}/{args.reps}: {program} {fmt}")
                run = one_run(args, program, fmt, rep, inputs[fmt], audio_s)
                log(f"  -> {run.status}: cpu {run.cpu_s:.3f} s, rss {run.peak_rss_mib:.1f} MiB, "
                    f"first packet {run.first_packet_ms:.0f} ms, first audible {run.first_audible_ms:.0f} ms, "
                    f"wall {run.wall_s:.1f} s {run.detail}")
                runs.append(run)
                if run.status == "unsupported":
                    skip.add((program, fmt))

    group_sizes = args.groups if args.groups is not None else "1,2" if args.smoke else "1,5,10"
    groups: list[GroupRun] = []
    if "airstream" in programs:
        for rep in range(1, args.reps + 1):
            for n in [int(x) for x in group_sizes.split(",") if x]:
                log(f"rep {rep}/{args.reps}: airstream wav to {n} receivers")
                group = group_run(args, n, rep, inputs["wav"], audio_s)
                log(f"  -> {group.status}: {group.cpu_per_audio_min:.3f} s CPU per audio minute, "
                    f"rss {group.peak_rss_mib:.1f} MiB {group.detail}")
                groups.append(group)

    divan = divan_figures(args)
    table = summarize(runs)
    markdown = render(table, runs, machine, args, divan, groups)
    (args.out / "results.md").write_text(markdown)
    write_csv(args.out / "results.csv", runs, table)
    plot(args.out / "results.png", table, machine, args)
    if full:
        committed = RESULTS / "README.md"
        committed.write_text(
            markdown.replace(
                "\n## Targets",
                "\n![CPU per audio minute and peak RSS](latest/results.png)\n\n"
                "(The PNG and CSV are written next to this file under `latest/`; only this "
                "README is committed.)\n\n## Targets",
                1,
            )
        )
    if args.smoke:
        markdown = markdown.replace(
            "\n| format",
            "\n**Smoke run: 2 s inputs, one repetition, dev build. These figures only show that "
            "the bench works; they measure nothing.**\n\n| format",
            1,
        )
        (args.out / "results.md").write_text(markdown)
    print()
    print(markdown.split("\n| format")[0].strip())
    print()
    print_table(table, groups)
    print()
    print("\n".join(targets(table)))
    print(f"\nwritten: {args.out / 'results.md'}, {args.out / 'results.csv'}, {args.out / 'results.png'}")

    failed = [r for r in runs if r.status == "failed"]
    for r in failed:
        print(f"FAILED: {r.program} {r.fmt} #{r.rep}: {r.detail}", file=sys.stderr)
    failed_groups = [g for g in groups if g.status == "failed"]
    for g in failed_groups:
        print(f"FAILED: airstream to {g.receivers} receivers #{g.rep}: {g.detail}", file=sys.stderr)
    if failed or failed_groups:
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"bench: {e}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        # Everything started was stopped on the way out (with blocks, killed sessions).
        print("bench: interrupted", file=sys.stderr)
        sys.exit(130)
