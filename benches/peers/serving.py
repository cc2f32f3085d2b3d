"""What every server peer of benches/*-vs-peers.sh does around its own code.

The scripts start a peer with `--host 127.0.0.1 --port 0`, read the real
address from its ready line, `listening tcp HOST:PORT` on stdout, and stop it
with SIGTERM; these two helpers are that contract, so that each peer file
shows only what a user would write.
"""

import argparse
import asyncio
import signal


def parse_args(description: str, *, uvloop_flag: bool = False) -> argparse.Namespace:
    """--host (127.0.0.1), --port (0: any free one), --backlog (4096), and
    --uvloop if the peer can run on either event loop."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--backlog", type=int, default=4096)
    if uvloop_flag:
        p.add_argument("--uvloop", action="store_true", help="run on uvloop's event loop")
    return p.parse_args()


async def serve_until_signal(server: asyncio.Server) -> None:
    """Print the ready line, wait for SIGTERM or SIGINT, then close the server
    (it stops listening; open connections are the caller's to end)."""
    host, port = server.sockets[0].getsockname()[:2]
    host = f"[{host}]" if ":" in host else host
    print(f"listening tcp {host}:{port}", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
