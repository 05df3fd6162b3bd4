"""The rig the tests run in: ``airstream-py-rig`` (a Rust helper, run by ``scripts/test``)
starts pytest inside a network namespace and serves the testkit over a Unix socket: it starts
shairport-sync 3.3.8 there and compares what it played with airstream's own decode of the
source, frame for frame, as the Rust end-to-end tests do."""

import json
import os
import socket
from pathlib import Path

import pytest

#: The audio fixtures committed with airstream-audio.
DATA = Path(__file__).resolve().parents[2] / "airstream-audio" / "tests" / "data"


class Receiver:
    """One shairport-sync started by the rig."""

    def __init__(self, rig, answer):
        self._rig = rig
        self.id = answer["id"]
        self.address = answer["address"]
        self.name = answer["name"]

    def compare(self, reference):
        """How the capture lines up with the decode of ``reference``."""
        return self._rig.call(cmd="compare", id=self.id, reference=str(reference))

    def compare_pause(self, reference, max_overlap):
        """The capture of a paused and resumed stream against ``reference``."""
        return self._rig.call(
            cmd="compare_pause", id=self.id, reference=str(reference), max_overlap=max_overlap
        )

    def compare_last(self, reference):
        """The capture from the last place it holds the start of ``reference`` (an input
        played after a skip) against its decode."""
        return self._rig.call(cmd="compare_last", id=self.id, reference=str(reference))

    def state(self):
        """Whether it still runs, and the trouble lines of its log."""
        return self._rig.call(cmd="receiver", id=self.id)


class Rig:
    def __init__(self, path):
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._socket.connect(path)
        self._file = self._socket.makefile("rw", encoding="utf-8")

    def call(self, **request):
        self._file.write(json.dumps(request) + "\n")
        self._file.flush()
        answer = json.loads(self._file.readline())
        if "error" in answer:
            raise RuntimeError(f"rig: {request['cmd']}: {answer['error']}")
        return answer

    def shairport(self, **config):
        """Starts a fresh shairport-sync (stopping the previous one)."""
        return Receiver(self, self.call(cmd="shairport", **config))

    def apple_tv(self, pin=None, require_pair_verify=False):
        """Starts the in-repo fake Apple TV; returns its address."""
        answer = self.call(cmd="apple_tv", pin=pin, require_pair_verify=require_pair_verify)
        return answer["address"]

    def apple_tv_state(self):
        """The URLs the fake Apple TV was asked to play, the PIN it showed, its paired clients."""
        return self.call(cmd="apple_tv_state")

    def write_wav(self, seconds):
        """Generated music as a 44.1 kHz stereo WAV file; returns its path."""
        return self.call(cmd="write_wav", seconds=seconds)["path"]


@pytest.fixture(scope="session")
def rig():
    path = os.environ.get("AIRSTREAM_TEST_RIG")
    if not path:
        pytest.fail(
            "these tests run inside airstream-py-rig (it starts shairport-sync in a network "
            "namespace): run ./scripts/test, or `cargo run -p airstream-py-rig -- python -m "
            "pytest crates/airstream-py/tests` as root"
        )
    return Rig(path)


def assert_bit_exact(comparison):
    assert comparison["bit_exact"], comparison
    assert comparison["frames_compared"] == comparison["source_frames"], comparison
