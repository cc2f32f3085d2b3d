"""RFC 862 echo server written the way the asyncio tutorials teach it.

A peer for benches/echo-vs-peers.sh: `asyncio.start_server` with a handler
that reads up to 64 KiB, writes it back and awaits `drain()`, until EOF.
Deliberately idiomatic, not hand-optimised: it stands for what a user would
otherwise pick.

    python3 asyncio_streams.py [--host 127.0.0.1] [--port 0] [--backlog 4096] [--uvloop]

`--uvloop` runs the very same code on uvloop's event loop.  Once bound it
prints `listening tcp HOST:PORT` (the real port) on stdout; it exits cleanly
on SIGTERM or SIGINT.
"""

import argparse
import asyncio
import signal


# Open connections, so that a shutdown can end them the way a client would.
connections: dict[asyncio.Task, asyncio.StreamWriter] = {}


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    connections[asyncio.current_task()] = writer
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        writer.close()
        await writer.wait_closed()
    except ConnectionError:
        writer.close()
    finally:
        del connections[asyncio.current_task()]


async def main(args: argparse.Namespace) -> None:
    server = await asyncio.start_server(handle, args.host, args.port, backlog=args.backlog)
    host, port = server.sockets[0].getsockname()[:2]
    host = f"[{host}]" if ":" in host else host
    print(f"listening tcp {host}:{port}", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
    # Close what is still open: the handlers see EOF and return, rather than
    # being cancelled at loop shutdown (which Python 3.11 logs as an error).
    for writer in connections.values():
        writer.close()
    if connections:
        await asyncio.wait(list(connections), timeout=2)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--backlog", type=int, default=4096)
    p.add_argument("--uvloop", action="store_true", help="run on uvloop's event loop")
    return p.parse_args()


if __name__ == "__main__":
    args = parse_args()
    if args.uvloop:
        import uvloop

        uvloop.run(main(args))
    else:
        asyncio.run(main(args))
