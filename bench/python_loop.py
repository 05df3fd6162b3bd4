"""Event-loop responsiveness of the airstream Python package while it streams.

A task sleeps 10 ms in a loop while ``stream_file`` plays generated music to shairport-sync
3.3.8 (started through airstream-py-rig, as the package's tests do); every wake-up later than
10 ms is lateness. The same is measured first for as long without streaming: on a loaded
machine the operating system's scheduling makes some lateness of its own. Prints the worst, the 99th percentile and the mean lateness, and how many
wake-ups were more than 5 ms late. A benchmark, not a test: it asserts nothing.

Run it with ``bench/python_loop.sh`` (as root), or inside the rig by hand:
``cargo run -p airstream-py-rig -- python bench/python_loop.py [SECONDS]``.
"""

import asyncio
import json
import os
import socket
import statistics
import sys
import time

import airstream


def rig_call(rig, **request):
    rig.write(json.dumps(request) + "\n")
    rig.flush()
    answer = json.loads(rig.readline())
    if "error" in answer:
        raise SystemExit(f"rig: {answer['error']}")
    return answer


async def ticker(stop, lateness):
    period = 0.010
    while not stop.is_set():
        before = time.perf_counter()
        await asyncio.sleep(period)
        lateness.append(time.perf_counter() - before - period)


async def main(seconds):
    path = os.environ.get("AIRSTREAM_TEST_RIG")
    if not path:
        raise SystemExit("run it inside airstream-py-rig (see bench/python_loop.sh)")
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(path)
    rig = sock.makefile("rw", encoding="utf-8")
    receiver = rig_call(rig, cmd="shairport")
    wav = rig_call(rig, cmd="write_wav", seconds=seconds)["path"]

    idle = []
    stop = asyncio.Event()
    task = asyncio.create_task(ticker(stop, idle))
    await asyncio.sleep(seconds)
    stop.set()
    await task

    streaming = []
    stop = asyncio.Event()
    task = asyncio.create_task(ticker(stop, streaming))
    started = time.perf_counter()
    await airstream.stream_file(receiver["address"], wav)
    elapsed = time.perf_counter() - started
    stop.set()
    await task
    for name, samples in ((f"idle ({seconds:.0f} s)", idle), (f"streaming ({elapsed:.1f} s)", streaming)):
        ms = sorted(x * 1000 for x in samples)
        p99 = ms[int(len(ms) * 0.99) - 1]
        over = sum(1 for x in ms if x > 5)
        print(
            f"{name}: {len(ms)} wake-ups, lateness worst {ms[-1]:.2f} ms, p99 {p99:.2f} ms, "
            f"mean {statistics.mean(ms):.2f} ms, {over} over 5 ms"
        )


asyncio.run(main(float(sys.argv[1]) if len(sys.argv) > 1 else 20.0))
