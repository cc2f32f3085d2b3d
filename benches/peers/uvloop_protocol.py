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
import signal

import uvloop


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
    host, port = server.sockets[0].getsockname()[:2]
    host = f"[{host}]" if ":" in host else host
    print(f"listening tcp {host}:{port}", flush=True)

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()  # open connections are dropped when the loop shuts down


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--backlog", type=int, default=4096)
    return p.parse_args()


if __name__ == "__main__":
    uvloop.run(main(parse_args()))
