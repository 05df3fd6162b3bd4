"""stream_file and start_stream against shairport-sync 3.3.8: every source kind pyatv
accepts plays bit for bit, errors arrive as their own exception classes, and the handle
pauses, resumes, stops and queues without losing a frame."""

import asyncio
import io
import os
import threading
import wave

import pytest

import airstream
from conftest import DATA, assert_bit_exact


def run(coroutine):
    return asyncio.run(coroutine)


def test_wav_by_path(rig):
    receiver = rig.shairport()
    report = run(airstream.stream_file(receiver.address, str(DATA / "music.wav")))
    comparison = receiver.compare(DATA / "music.wav")
    assert_bit_exact(comparison)
    assert report["frames_sent"] == comparison["source_frames"]
    assert report["warnings"] == [] and not report["stopped"], report
    assert receiver.state()["log_errors"] == []


def test_mp3_from_bytesio(rig):
    receiver = rig.shairport()
    source = io.BytesIO((DATA / "music.mp3").read_bytes())
    run(airstream.stream_file(receiver.address, source))
    assert_bit_exact(receiver.compare(DATA / "music.mp3"))


def test_mp3_from_an_asyncio_stream_reader(rig):
    receiver = rig.shairport()
    data = (DATA / "music.mp3").read_bytes()

    async def stream():
        reader = asyncio.StreamReader()

        async def feed():
            for start in range(0, len(data), 4096):
                reader.feed_data(data[start : start + 4096])
                await asyncio.sleep(0)
            reader.feed_eof()

        feeder = asyncio.create_task(feed())
        await airstream.stream_file(receiver.address, reader)
        await feeder

    run(stream())
    assert_bit_exact(receiver.compare(DATA / "music.mp3"))


def test_ogg_from_a_pipe(rig):
    receiver = rig.shairport()
    read_end, write_end = os.pipe()
    data = (DATA / "music.ogg").read_bytes()

    def feed():
        with open(write_end, "wb") as pipe:
            pipe.write(data)

    feeder = threading.Thread(target=feed)
    feeder.start()
    with open(read_end, "rb") as pipe:
        assert not pipe.seekable()
        run(airstream.stream_file(receiver.address, pipe))
    feeder.join()
    assert_bit_exact(receiver.compare(DATA / "music.ogg"))


def test_flac_from_bytes_and_other_buffers(rig):
    receiver = rig.shairport()
    data = (DATA / "music.flac").read_bytes()
    run(airstream.stream_file(receiver.address, data))
    assert_bit_exact(receiver.compare(DATA / "music.flac"))
    for buffer in (bytearray(data), memoryview(data)):
        receiver = rig.shairport()
        run(airstream.stream_file(receiver.address, buffer))
        assert_bit_exact(receiver.compare(DATA / "music.flac"))


def test_a_device_found_by_scan_and_by_name(rig):
    receiver = rig.shairport(name="Kitchen Speaker")
    devices = run(airstream.scan(timeout=3))
    found = [d for d in devices if d.name == "Kitchen Speaker"]
    assert len(found) == 1, devices
    device = found[0]
    assert device.address == receiver.address.replace("127.0.0.1", device.addresses[0])
    assert device.pairing == "not-needed"
    assert device.password_required is False
    assert "raop" in device.capabilities
    run(airstream.stream_file(device, str(DATA / "music.wav")))
    assert_bit_exact(receiver.compare(DATA / "music.wav"))
    receiver = rig.shairport(name="Kitchen Speaker")
    run(airstream.stream_file("kitchen SPEAKER", str(DATA / "music.wav"), discovery_timeout=10))
    assert_bit_exact(receiver.compare(DATA / "music.wav"))


def test_a_list_of_targets_is_a_group(rig):
    kitchen = rig.shairport(name="Kitchen")
    lounge = rig.shairport(name="Lounge", beside=True)
    report = run(airstream.stream_file([kitchen.address, lounge.address], str(DATA / "music.wav")))
    assert [r["receiver"] for r in report["receivers"]] == [kitchen.address, lounge.address]
    assert all(r["failure"] is None for r in report["receivers"]), report
    for receiver in (kitchen, lounge):
        assert_bit_exact(receiver.compare(DATA / "music.wav"))


def test_a_wrong_password_raises_bad_password(rig):
    receiver = rig.shairport(password="s3cret")
    with pytest.raises(airstream.BadPassword) as raised:
        run(airstream.stream_file(receiver.address, str(DATA / "music.wav"), password="nope"))
    assert f"wrong password for {receiver.address}" in str(raised.value)
    assert "nope" not in str(raised.value) and "nope" not in repr(raised.value)
    with pytest.raises(airstream.BadPassword) as raised:
        run(airstream.stream_file(receiver.address, str(DATA / "music.wav")))
    assert "pass it with password=" in str(raised.value)
    run(airstream.stream_file(receiver.address, str(DATA / "music.wav"), password="s3cret"))
    assert_bit_exact(receiver.compare(DATA / "music.wav"))


def test_pause_and_resume_through_the_handle_lose_nothing(rig):
    # What shairport-sync's stdout backend wrote ahead before the FLUSH (0.1 s) plays twice
    # in the capture; a real output device drops it.
    receiver = rig.shairport(output_buffer_seconds=0.1)
    path = rig.write_wav(5)

    async def stream():
        handle = await airstream.start_stream(receiver.address, path)
        states = []
        async for progress in handle.events():
            states.append(progress.state)
            # At least a second has been heard (the position is what the receiver plays).
            if "paused" not in states and progress.position >= 1.0:
                handle.pause()
            elif progress.state == "paused" and states.count("paused") == 1:
                handle.resume()
        return states, await handle.wait()

    states, report = run(stream())
    assert "paused" in states and states[-1] == "finished", states
    assert not report["stopped"] and report["warnings"] == [], report
    pause = receiver.compare_pause(path, max_overlap=44_100 // 10 + 4 * 352)
    assert pause["lossless"], pause
    assert 0 < pause["cut"] < pause["source_frames"], pause
    assert receiver.state()["log_errors"] == []


def test_stop_volume_and_tags_through_the_handle(rig):
    receiver = rig.shairport()
    path = rig.write_wav(30)

    async def stream():
        handle = await airstream.start_stream(receiver.address, path, volume=40)
        async for progress in handle.events():
            if progress.state == "streaming":
                handle.set_volume(70)
                handle.set_metadata({"title": "Song", "artist": "Band", "album": "Record"})
                handle.stop()
        return await handle.wait()

    report = run(stream())
    # A request the receiver refused would be a warning.
    assert report["stopped"] and report["warnings"] == [], report
    assert report["frames_sent"] < 30 * 44_100
    assert receiver.state()["running"]


def test_enqueued_inputs_play_back_to_back(rig, tmp_path):
    receiver = rig.shairport()
    second = rig.write_wav(1)
    # The reference: both inputs one after the other.
    joined = tmp_path / "joined.wav"
    with wave.open(str(DATA / "music.wav"), "rb") as a, wave.open(second, "rb") as b:
        assert a.getparams()[:3] == b.getparams()[:3] == (2, 2, 44_100)
        with wave.open(str(joined), "wb") as out:
            out.setparams(a.getparams())
            out.writeframes(a.readframes(a.getnframes()))
            out.writeframes(b.readframes(b.getnframes()))
    read_end, write_end = os.pipe()
    first = (DATA / "music.wav").read_bytes()
    queued = threading.Event()

    def feed():
        # All but the end of the first input, until the second is queued: the stream
        # cannot have read all its input before enqueue().
        with open(write_end, "wb") as pipe:
            pipe.write(first[:-65536])
            pipe.flush()
            queued.wait()
            pipe.write(first[-65536:])

    feeder = threading.Thread(target=feed)
    feeder.start()

    async def stream():
        with open(read_end, "rb") as pipe:
            handle = await airstream.start_stream(receiver.address, pipe)
            handle.enqueue(second)
            queued.set()
            report = await handle.wait()
        with pytest.raises(airstream.InvalidInput, match="enqueue earlier"):
            handle.enqueue(second)
        return report

    try:
        report = run(stream())
    finally:
        queued.set()
        feeder.join()
    assert report["warnings"] == [], report
    assert_bit_exact(receiver.compare(joined))


def test_skip_plays_the_next_input_whole_and_seek_moves_within_the_input_playing(rig):
    receiver = rig.shairport(output_buffer_seconds=0.1)
    first, second = rig.write_wav(8), rig.write_wav(3)

    async def stream():
        handle = await airstream.start_stream(receiver.address, first)
        handle.enqueue(second)
        async for progress in handle.events():
            if progress.position >= 1.0:
                break
        # Back to the start of the input playing, then on to the next one.
        await handle.seek(0.0)
        assert handle.progress.position == 0.0
        async for progress in handle.events():
            if progress.position >= 0.5:
                break
        await handle.skip()
        with pytest.raises(airstream.InvalidInput, match="position"):
            await handle.seek(-1.0)
        return await handle.wait()

    report = run(stream())
    assert not report["stopped"] and report["warnings"] == [], report
    # The second input, whole, after the first one was cut short.
    last = receiver.compare_last(second)
    assert last["bit_exact"] and last["frames_compared"] == last["source_frames"], last
    assert report["frames_sent"] < (8 + 3) * 44_100
    assert receiver.state()["log_errors"] == []
