"""Stream audio to AirPlay receivers, play URLs on Apple TVs and pair, from asyncio.

pyatv's Stream interface on airstream's Rust core::

    import asyncio, airstream

    async def main():
        devices = await airstream.scan(timeout=3)
        await airstream.stream_file(devices[0], "song.flac")

    asyncio.run(main())

Every coroutine runs on a runtime owned by the package; the event loop only waits for its
result, so it stays responsive while audio is decoded and sent.

A *target* is a :class:`Device` from :func:`scan`, a device name or id (found with mDNS), an
address string ``"host:port"`` (used directly), or a list of these: a group playing in sync.

A *source* is a path, an ``http(s)://`` URL, ``bytes``/``bytearray``/``memoryview`` holding a
whole file, any binary file-like object, seekable or not (``io.BytesIO``, an open file,
``sys.stdin.buffer``, a pipe), or an ``asyncio.StreamReader``. MP3, WAV, AIFF, FLAC, Ogg
Vorbis, MP4/M4A (AAC, ALAC), CAF and ADTS are detected from the content.

Every error is an :class:`AirstreamError`; its subclass says what kind it is.
"""

from typing import Any, Optional

from . import _airstream
from ._airstream import (
    AirstreamError,
    BadPassword,
    BadPin,
    Device,
    DeviceBusy,
    Events,
    InvalidInput,
    NetworkError,
    NotFound,
    Pairing,
    PairingRequired,
    PlaybackEvents,
    PlaybackHandle,
    PlaybackUpdate,
    Progress,
    ProtocolError,
    StreamHandle,
    Timeout,
    Unsupported,
)

__all__ = [
    "AirstreamError",
    "BadPassword",
    "BadPin",
    "Device",
    "DeviceBusy",
    "Events",
    "InvalidInput",
    "NetworkError",
    "NotFound",
    "Pairing",
    "PairingRequired",
    "PlaybackEvents",
    "PlaybackHandle",
    "PlaybackUpdate",
    "Progress",
    "ProtocolError",
    "StreamHandle",
    "Timeout",
    "Unsupported",
    "pair",
    "play_url",
    "scan",
    "start_stream",
    "stream_file",
]


async def scan(timeout: float = 3.0) -> "list[Device]":
    """Looks for AirPlay devices with mDNS for ``timeout`` seconds; returns those found."""
    return await _airstream.scan(timeout)


async def stream_file(
    target: Any,
    source: Any,
    *,
    password: Optional[str] = None,
    credentials: Optional[str] = None,
    volume: Optional[float] = None,
    metadata: Any = None,
    latency: Optional[float] = None,
    discovery_timeout: float = 5.0,
) -> "dict[str, Any]":
    """Streams ``source`` to ``target`` and returns once the receivers played all of it.

    ``password`` is for receivers that ask for one; ``credentials`` are legacy ``ID:KEY``
    pairing credentials (from :func:`pair`); ``volume`` is 0 to 100; ``metadata`` is a
    mapping or an object with ``title``, ``artist``, ``album``, ``artwork`` (JPEG/PNG bytes)
    and ``duration`` (pyatv's ``MediaMetadata`` works); ``latency`` is in seconds (0.25 to
    10, default 2). Returns the stream's report (frames sent, warnings...); raises an
    :class:`AirstreamError` subclass on failure. Cancelling the task stops the stream.
    """
    return await _airstream.stream_file(
        target,
        source,
        password=password,
        credentials=credentials,
        volume=volume,
        metadata=metadata,
        latency=latency,
        discovery_timeout=discovery_timeout,
    )


async def start_stream(
    target: Any,
    source: Any,
    *,
    password: Optional[str] = None,
    credentials: Optional[str] = None,
    volume: Optional[float] = None,
    metadata: Any = None,
    latency: Optional[float] = None,
    discovery_timeout: float = 5.0,
) -> StreamHandle:
    """Connects and starts streaming ``source``; returns a :class:`StreamHandle` at once.

    Takes what :func:`stream_file` takes. The handle pauses, resumes, stops, sets volume and
    tags, queues more sources (gapless), iterates progress events, and ``await
    handle.wait()`` returns the report when the stream ends.
    """
    return await _airstream.start_stream(
        target,
        source,
        password=password,
        credentials=credentials,
        volume=volume,
        metadata=metadata,
        latency=latency,
        discovery_timeout=discovery_timeout,
    )


async def play_url(
    target: Any,
    url: str,
    *,
    credentials: Optional[str] = None,
    start: float = 0.0,
    discovery_timeout: float = 5.0,
    poll_interval: float = 1.0,
) -> PlaybackHandle:
    """Makes an Apple TV play ``url`` (``http(s)://``, fetched by the device) or a local file
    (served to it by airstream for as long as it plays); returns a :class:`PlaybackHandle`.

    ``credentials`` are those :func:`pair` gave (legacy ``ID:KEY`` or AirPlay 2
    ``LTPK:LTSK:DEVICE_ID:CLIENT_ID``); ``start`` is the position to start at, in seconds;
    ``poll_interval`` is how often the device is asked how far it got.
    """
    return await _airstream.play_url(
        target,
        url,
        credentials=credentials,
        start=start,
        discovery_timeout=discovery_timeout,
        poll_interval=poll_interval,
    )


async def pair(target: Any, *, discovery_timeout: float = 5.0) -> Pairing:
    """Prepares to pair with ``target``, in pyatv's steps::

        pairing = await airstream.pair(device)
        await pairing.begin()        # the device shows a PIN
        pairing.pin(1234)
        await pairing.finish()
        credentials = pairing.credentials

    Keep the credentials like a password; pass them to :func:`stream_file` or
    :func:`play_url` as ``credentials=``.
    """
    return await _airstream.pair(target, discovery_timeout=discovery_timeout)
