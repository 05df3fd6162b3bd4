"""Awaits calls running on airstream's runtime (see ``bridge.rs``).

The runtime writes one byte to a socket when a call is done; the event loop waits for it
like for any other socket, then takes the result on its own thread.
"""

import asyncio
import socket


async def wait_for(pending):
    loop = asyncio.get_running_loop()
    sock = socket.socket(fileno=pending.take_fd())
    try:
        sock.setblocking(False)
        await loop.sock_recv(sock, 1)
    except BaseException:
        pending.cancel()
        raise
    finally:
        sock.close()
    return pending.result()
