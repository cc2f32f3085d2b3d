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

from serving import parse_args, serve_until_signal


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
    await serve_until_signal(server)  # the ready line, then until SIGTERM
    # Close what is still open: the handlers see EOF and return, rather than
    # being cancelled at loop shutdown (which Python 3.11 logs as an error).
    for writer in connections.values():
        writer.close()
    if connections:
        await asyncio.wait(list(connections), timeout=2)


if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0], uvloop_flag=True)
    if args.uvloop:
        import uvloop

        uvloop.run(main(args))
    else:
        asyncio.run(main(args))
