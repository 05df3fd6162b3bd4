"""Stream whatever arrives on stdin (any format airstream detects), with live progress.

    ffmpeg -i input.mkv -f wav - | python stream_stdin.py "Kitchen"
    cat song.flac | python stream_stdin.py 192.168.1.20:5000
"""

import asyncio
import sys

import airstream


async def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    # stdin is read by airstream's decoder thread: the event loop never waits on it.
    handle = await airstream.start_stream(sys.argv[1], sys.stdin.buffer)
    async for progress in handle.events():
        print(f"\r{progress.state:>9} {progress.position:7.1f} s", end="", file=sys.stderr)
    print(file=sys.stderr)
    await handle.wait()


try:
    asyncio.run(main())
except airstream.AirstreamError as error:
    raise SystemExit(f"{type(error).__name__}: {error}")
