"""RFC 862 echo server as an `asyncio.Protocol` on uvloop.

A peer for benches/echo-vs-peers.sh: the callback-style server uvloop's own
benchmarks use, `data_received` writes the bytes straight back and
`eof_received` returns False so the transport closes once its buffer is
written.  Idiomatic, not hand-optimised.

    python3 uvloop_protocol.py [--host 127.0.0.1] [--port 0] [--backlog 4096]

Once bound it prints `listening tcp HOST:PORT` (the real port) on stdout; it
exits cleanly on SIGTERM or SIGINT.
"""

import argparse
import asyncio

import uvloop

from serving import parse_args, serve_until_signal


class EchoProtocol(asyncio.Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)

    def eof_received(self) -> bool:
        return False  # let the transport close after flushing what it holds


async def main(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(EchoProtocol, args.host, args.port, backlog=args.backlog)
    await serve_until_signal(server)  # the ready line, then until SIGTERM
    # Open connections are dropped when the loop shuts down.


if __name__ == "__main__":
    uvloop.run(main(parse_args(__doc__.splitlines()[0])))
