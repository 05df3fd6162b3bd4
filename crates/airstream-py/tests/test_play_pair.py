"""play_url and pairing against the in-repo fake Apple TV (airstream-testkit)."""

import asyncio

import pytest

import airstream

REMOTE_URL = "http://127.0.0.1:9/video.mp4"


def test_play_url_follows_the_playback_to_the_end(rig):
    address = rig.apple_tv()

    async def play():
        handle = await airstream.play_url(address, REMOTE_URL, poll_interval=0.01)
        states = [update.state async for update in handle.events()]
        return handle, states, await handle.wait()

    handle, states, end = asyncio.run(play())
    assert end == "finished"
    assert handle.media_url == REMOTE_URL and handle.warnings == []
    # The fake loads, plays 0 s then 5 s of a 10 s clip, and stops.
    assert states[-1] == "finished" and "playing" in states, states
    assert (handle.status.position, handle.status.duration) == (5.0, 10.0)
    assert rig.apple_tv_state()["plays"] == [REMOTE_URL]


def test_pyatv_pair_flow_gives_credentials_that_play(rig):
    address = rig.apple_tv(pin="4711", require_pair_verify=True)

    async def pair_and_play():
        pairing = await airstream.pair(address)
        assert pairing.kind == "legacy" and not pairing.has_paired
        await pairing.begin()
        shown = rig.apple_tv_state()["shown_pin"]
        pairing.pin(int(shown))
        await pairing.finish()
        credentials = pairing.credentials
        assert pairing.has_paired and credentials is not None
        assert "4711" not in repr(pairing) and credentials not in repr(pairing)
        handle = await airstream.play_url(
            address, REMOTE_URL, credentials=credentials, poll_interval=0.01
        )
        return shown, credentials, await handle.wait()

    shown, credentials, end = asyncio.run(pair_and_play())
    assert shown == "4711"
    # Legacy credentials as pyatv writes them: 16 hex digits of identifier, 64 of key.
    identifier, key = credentials.split(":")
    assert len(identifier) == 16 and len(key) == 64
    int(identifier, 16), int(key, 16)
    assert end == "finished"
    state = rig.apple_tv_state()
    assert state["paired_clients"] == 1 and state["plays"] == [REMOTE_URL]


def test_a_wrong_pin_raises_bad_pin(rig):
    address = rig.apple_tv(pin="4711")

    async def pair():
        pairing = await airstream.pair(address)
        await pairing.begin()
        pairing.pin("1234")
        await pairing.finish()

    with pytest.raises(airstream.BadPin) as raised:
        asyncio.run(pair())
    assert "1234" not in str(raised.value) and "4711" not in str(raised.value)
    assert rig.apple_tv_state()["paired_clients"] == 0


def test_pin_must_be_digits(rig):
    address = rig.apple_tv(pin="4711")

    async def pair():
        pairing = await airstream.pair(address)
        with pytest.raises(airstream.InvalidInput, match="1 to 8 digits"):
            pairing.pin("12a4")
        with pytest.raises(airstream.InvalidInput, match="call begin"):
            pairing.pin(1234)
            await pairing.finish()
        await pairing.close()

    asyncio.run(pair())
