"""Stream an audio file (or an http(s) URL) to a receiver.

    python stream_file.py "Kitchen" song.flac
    python stream_file.py 192.168.1.20:5000 song.mp3 --volume 40
"""

import argparse
import asyncio

import airstream


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("target", help='a device name, id or "host:port"')
    parser.add_argument("source", help="a file or an http(s) URL")
    parser.add_argument("--password")
    parser.add_argument("--volume", type=float)
    args = parser.parse_args()
    try:
        report = await airstream.stream_file(
            args.target, args.source, password=args.password, volume=args.volume
        )
    except airstream.AirstreamError as error:
        raise SystemExit(f"{type(error).__name__}: {error}")
    print(f"played {report['frames_sent'] / 44100:.1f} s to {report['receiver']}")


asyncio.run(main())
