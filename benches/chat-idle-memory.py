#!/usr/bin/env python3
"""Server memory per idle registered IRC client of `netkit chat serve`.

    benches/chat-idle-memory.py [--clients 10000] [--netkit target/release/netkit] [--tls]

Starts `NETKIT chat serve --db :memory: --http off` on a free port (plain IRC,
or TLS with the test certificate in tests/data), reads its VmRSS, connects and
registers CLIENTS clients (NICK/USER, up to the end of the MOTD), leaves them
idle for two seconds, reads VmRSS again and prints the difference divided by
CLIENTS. Local addresses rotate through 127.0.0.1-127.0.0.64 so that ports never
run out. Build the release binary first (`cargo build --release`); pass another
binary with --netkit to compare builds. All traffic goes to 127.0.0.1; every
wait is bounded; the server is stopped however the script exits.
"""

import argparse
import asyncio
import os
import re
import select
import ssl
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data")
PATIENCE = 60  # seconds, for any one wait


def vm_rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


async def register(i, port, tls, clients):
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, local_addr=(f"127.0.0.{1 + i % 64}", 0),
        ssl=tls, server_hostname="localhost" if tls else None)
    writer.write(f"NICK idle{i}\r\nUSER idle{i} 0 * :idle client {i}\r\n".encode())
    while True:
        line = await reader.readline()
        if not line:
            raise RuntimeError(f"client {i}: the server closed the connection")
        if line.split(b" ")[1:2] in ([b"376"], [b"422"]):
            clients.append((reader, writer))
            return


async def measure(args, port, pid, tls):
    before = vm_rss_kib(pid)
    clients, slots = [], asyncio.Semaphore(200)

    async def one(i):
        async with slots:
            await asyncio.wait_for(register(i, port, tls, clients), PATIENCE)

    await asyncio.gather(*(one(i) for i in range(args.clients)))
    await asyncio.sleep(2)
    after = vm_rss_kib(pid)
    per_client = (after - before) * 1024 / args.clients
    kind = "TLS" if tls else "plain"
    print(f"{args.clients} idle {kind} clients: VmRSS {before} KiB -> {after} KiB, "
          f"{per_client:.0f} bytes per client")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10000)
    parser.add_argument("--netkit", default=os.path.join(ROOT, "target/release/netkit"))
    parser.add_argument("--tls", action="store_true", help="measure --ircs clients")
    args = parser.parse_args()

    listen = ["--irc", "127.0.0.1:0"]
    tls = None
    if args.tls:
        listen = ["--ircs", "127.0.0.1:0",
                  "--tls-cert", os.path.join(DATA, "localhost.pem"),
                  "--tls-key", os.path.join(DATA, "localhost.key")]
        tls = ssl.create_default_context(cafile=os.path.join(DATA, "ca.pem"))
    server = subprocess.Popen(
        [args.netkit, "chat", "serve", "--db", ":memory:", "--http", "off", *listen,
         "--max-clients", str(args.clients + 100), "--ping-interval", "1h"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        if not select.select([server.stdout], [], [], PATIENCE)[0]:
            sys.exit(f"no ready line within {PATIENCE}s")
        ready = server.stdout.readline()
        found = re.match(r"listening ircs? 127\.0\.0\.1:(\d+)", ready)
        if not found:
            sys.exit(f"unexpected ready line: {ready!r}")
        asyncio.run(measure(args, int(found.group(1)), server.pid, tls))
    finally:
        server.terminate()
        try:
            server.wait(timeout=PATIENCE)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    main()
