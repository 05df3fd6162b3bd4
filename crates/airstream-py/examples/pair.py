"""Pair with an Apple TV that shows a PIN; prints the credentials to keep.

    python pair.py "Living Room" > tv.credentials
"""

import asyncio
import sys

import airstream


async def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    pairing = await airstream.pair(sys.argv[1])
    await pairing.begin()
    # input() blocks, so ask in a thread: the event loop keeps running meanwhile.
    pin = await asyncio.to_thread(input, "PIN shown on the device: ")
    pairing.pin(pin)
    await pairing.finish()
    print(pairing.credentials)


try:
    asyncio.run(main())
except airstream.AirstreamError as error:
    raise SystemExit(f"{type(error).__name__}: {error}")
