"""CPU time and peak RSS of a Python process streaming through the airstream package, next
to pyatv 0.13.0 (``atvremote stream_file``) streaming the same file, in one run: each streams
SECONDS of generated music (WAV) to a fresh shairport-sync 3.3.8, one after the other.

Run inside airstream-py-rig (it serves the receivers), with this Python holding the package:
``cargo run -p airstream-py-rig -- PYTHON bench/python_cpu.py ATVREMOTE [SECONDS]``, where
ATVREMOTE is pyatv's command (``bench/run`` installs pyatv into its virtualenv). A benchmark:
it prints figures and asserts nothing.
"""

import json
import os
import socket
import subprocess
import sys
import time

# pyatv's manual RAOP service for shairport-sync, as bench/bench.py gives it.
PYATV_PROPERTIES = (
    ":txtvers=1:ch=2:cn=0,1:et=0,1:ek=1:md=0,1,2:pw=false:sr=44100:ss=16:tp=UDP"
    ":vn=65537:vs=105.1:am=ShairportSync:sf=0x4:da=true:sv=false"
)
AIRSTREAM = "import asyncio, sys, airstream; asyncio.run(airstream.stream_file(sys.argv[1], sys.argv[2]))"


def rig_call(rig, **request):
    rig.write(json.dumps(request) + "\n")
    rig.flush()
    answer = json.loads(rig.readline())
    if "error" in answer:
        raise SystemExit(f"rig: {answer['error']}")
    return answer


def measure(cmd):
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - started
    return {
        "exit": os.waitstatus_to_exitcode(status),
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "max_rss_mib": usage.ru_maxrss / 1024,
    }


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    atvremote = sys.argv[1]
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(os.environ["AIRSTREAM_TEST_RIG"])
    rig = sock.makefile("rw", encoding="utf-8")
    wav = rig_call(rig, cmd="write_wav", seconds=seconds)["path"]
    results = {}
    receiver = rig_call(rig, cmd="shairport")
    results["airstream (Python package)"] = measure(
        [sys.executable, "-c", AIRSTREAM, receiver["address"], wav]
    )
    receiver = rig_call(rig, cmd="shairport")
    port = receiver["address"].rsplit(":", 1)[1]
    results["pyatv 0.13.0 (atvremote)"] = measure(
        [
            atvremote, "--manual", "--address", "127.0.0.1", "--port", port,
            "--protocol", "raop", "--id", "AA:BB:CC:DD:EE:FF",
            "--service-properties", PYATV_PROPERTIES, f"stream_file={wav}",
        ]
    )
    print(f"{seconds:.0f} s of WAV to shairport-sync 3.3.8, one run each:")
    for name, r in results.items():
        print(
            f"  {name:28} exit {r['exit']}, wall {r['wall_s']:.1f} s, CPU {r['cpu_s']:.2f} s "
            f"({100 * r['cpu_s'] / seconds:.2f} % of the audio's length), "
            f"peak RSS {r['max_rss_mib']:.1f} MiB"
        )


main()
