"""Make an Apple TV play a URL (or a local file, which airstream serves to it).

    python play_url.py "Living Room" https://example.com/video.mp4
    python play_url.py "Living Room" movie.mp4 --credentials "$(cat tv.credentials)"
"""

import argparse
import asyncio

import airstream


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("target", help='a device name, id or "host:port"')
    parser.add_argument("url", help="an http(s) URL or a local file")
    parser.add_argument("--credentials", help="what pair.py printed")
    args = parser.parse_args()
    handle = await airstream.play_url(args.target, args.url, credentials=args.credentials)
    async for status in handle.events():
        print(status.state, status.position, status.duration)
    print("ended:", await handle.wait())


try:
    asyncio.run(main())
except airstream.AirstreamError as error:
    raise SystemExit(f"{type(error).__name__}: {error}")
