"""What needs no receiver: the exception classes, argument checks, and that no message or
repr carries a secret."""

import asyncio

import pytest

import airstream

KINDS = [
    "BadPassword",
    "PairingRequired",
    "BadPin",
    "DeviceBusy",
    "Unsupported",
    "Timeout",
    "NetworkError",
    "ProtocolError",
    "InvalidInput",
    "NotFound",
]


def test_one_base_class_and_one_subclass_per_kind():
    assert issubclass(airstream.AirstreamError, Exception)
    for name in KINDS:
        kind = getattr(airstream, name)
        assert issubclass(kind, airstream.AirstreamError), name
        assert kind is not airstream.AirstreamError
        assert kind.__module__ == "airstream"
    assert len({getattr(airstream, n) for n in KINDS}) == len(KINDS)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (5, "cannot play a int"),
        (b"just some text, not audio", "not audio"),
        ("/nonexistent/song.flac", "/nonexistent/song.flac"),
    ],
)
def test_unusable_sources_raise_invalid_input(source, message):
    with pytest.raises(airstream.InvalidInput, match=message):
        asyncio.run(airstream.stream_file("127.0.0.1:9", source))


def test_text_streams_are_refused_by_name(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("x")
    with open(path) as text, pytest.raises(airstream.InvalidInput, match="binary mode"):
        asyncio.run(airstream.stream_file("127.0.0.1:9", text))


def test_bad_arguments_raise_invalid_input_without_echoing_secrets():
    key = "ab" * 31 + "zz"
    with pytest.raises(airstream.InvalidInput) as raised:
        asyncio.run(
            airstream.stream_file("127.0.0.1:9", b"x", credentials=f"0011223344556677:{key}")
        )
    assert key not in str(raised.value) and key not in repr(raised.value)
    for kwargs, message in [
        ({"volume": 101}, "volume must be 0 to 100"),
        ({"latency": 0.1}, "latency must be 0.25 to 10 seconds"),
        ({"metadata": {"artwork": b"not an image"}}, "JPEG or PNG"),
    ]:
        with pytest.raises(airstream.InvalidInput, match=message):
            asyncio.run(airstream.stream_file("127.0.0.1:9", b"x", **kwargs))
    with pytest.raises(airstream.InvalidInput, match="group is empty"):
        asyncio.run(airstream.stream_file([], b"x"))


def test_a_refused_connection_is_a_network_error_and_the_password_stays_out():
    # Port 9 (discard) on loopback inside the test namespace: nothing listens.
    with pytest.raises(airstream.NetworkError) as raised:
        asyncio.run(
            airstream.stream_file(
                "127.0.0.1:9", str(_fixture("music.wav")), password="hunter2"
            )
        )
    assert "127.0.0.1:9" in str(raised.value)
    assert "hunter2" not in str(raised.value) and "hunter2" not in repr(raised.value)


def _fixture(name):
    from conftest import DATA

    return DATA / name
